/* pmhmc noise: how noisy the likelihood estimate of a config is, at a given
 * theta or at the posterior mean of draws files: log phat over fresh u,
 * its mean and sd, and the time per estimate (pmhmc_log_phat_noise). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/draws_read.h"
#include "cli/model_setup.h"
#include "io/config.h"
#include "pmhmc/pmhmc.h"

static const char HELP[] =
    "usage: pmhmc noise CONFIG.ini [section.key=value ...] (--theta LIST | --draws FILE...)\n"
    "                   [--reps R] [--seed S]\n"
    "\n"
    "Evaluates the config's likelihood estimate log phat(y | theta, u) with R fresh\n"
    "draws of the auxiliary normals u (the model, model.N, model.estimator and\n"
    "model.proposal of CONFIG.ini and the overrides, on sampler.backend) and prints\n"
    "name,value rows:\n"
    "  N                     model.N; with model.N = auto, the N pmhmc sample's rule picks\n"
    "                        at this theta for sampling (the smallest power of two from 2\n"
    "                        to 1024 whose sd is at most model.noise_target), here over\n"
    "                        these R draws and seed (a chain uses 16 and a seed of its\n"
    "                        own), and the rows below are at that N\n"
    "  reps                  R\n"
    "  mean_log_phat         the mean of the R values\n"
    "  sd_log_phat           their standard deviation: what limits a pseudo-marginal\n"
    "                        sampler (it sticks when this is much above 1-2)\n"
    "  seconds_per_estimate  wall-clock time of one estimate\n"
    "\n"
    "  --theta LIST    the unconstrained parameters, comma-separated, in the draws' order\n"
    "  --draws FILE... draws files of the same model: theta is their posterior mean\n"
    "  --reps R        repetitions (default 32, at least 2)\n"
    "  --seed S        the seed of the u streams (default 1)\n";

/* The mean of each parameter column over every draw of the files. */
static int theta_from_draws(const pmhmc_model *model, size_t n_files, char **files, double *theta)
{
    table t;
    int rc = cli_draws_read("noise", n_files, files, &t);
    for (size_t i = 0; rc == CLI_EXIT_OK && i < pmhmc_model_dim(model); ++i) {
        const char *name = pmhmc_model_param_name(model, i);
        long j = cli_draws_find_column(&t, name);
        if (j < 0) {
            rc = cli_fail(CLI_EXIT_USAGE, "noise: %s has no column '%s' of model %s", files[0], name,
                          pmhmc_model_name(model));
            break;
        }
        double sum = 0.0;
        size_t n = 0;
        for (size_t k = 0; k < t.n_chains; ++k)
            for (size_t r = 0; r < t.chains[k].n_rows; ++r, ++n)
                sum += t.chains[k].rows[r * t.n_cols + (size_t)j];
        theta[i] = sum / (double)n;
        if (!isfinite(theta[i]))
            rc = cli_fail(CLI_EXIT_USAGE, "noise: the mean of column '%s' of the draws is not finite", name);
    }
    cli_draws_free(&t);
    return rc;
}

static int theta_from_list(const pmhmc_model *model, const char *text, double *theta)
{
    const size_t dim = pmhmc_model_dim(model);
    size_t count = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || (*end != ',' && *end != '\0'))
            return cli_fail(CLI_EXIT_USAGE, "noise: --theta: value %zu: expected a finite number", count + 1);
        if (count < dim)
            theta[count] = v;
        ++count;
        p = *end == ',' ? end + 1 : end;
    }
    if (count != dim)
        return cli_fail(CLI_EXIT_USAGE, "noise: --theta has %zu values; expected %zu (%s,...,%s)", count, dim,
                        pmhmc_model_param_name(model, 0), pmhmc_model_param_name(model, dim - 1));
    return CLI_EXIT_OK;
}

int cli_noise(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2)
        return cli_fail(CLI_EXIT_USAGE, "noise: no config file given (see pmhmc noise --help)");
    pmhmc_config cfg;
    pmhmc_error err = {{0}};
    const char *theta_text = NULL;
    char **files = calloc((size_t)argc, sizeof *files);
    size_t n_files = 0, reps = 32;
    uint64_t seed = 1;
    int rc = files ? CLI_EXIT_OK : cli_fail(CLI_EXIT_RUNTIME, "noise: out of memory");
    pmhmc_status st = pmhmc_config_init(&cfg);
    if (st == PMHMC_OK)
        st = pmhmc_config_load_file(&cfg, argv[1], &err);
    int in_draws = 0;
    for (int i = 2; i < argc && st == PMHMC_OK && rc == CLI_EXIT_OK; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "--draws") == 0) {
            in_draws = 1;
            continue;
        }
        if (strcmp(a, "--theta") == 0 || strcmp(a, "--reps") == 0 || strcmp(a, "--seed") == 0) {
            in_draws = 0;
            if (i + 1 == argc) {
                rc = cli_fail(CLI_EXIT_USAGE, "noise: %s needs a value (see pmhmc noise --help)", a);
                break;
            }
            const char *v = argv[++i];
            char *end = NULL;
            if (strcmp(a, "--theta") == 0) {
                theta_text = v;
            } else if (strcmp(a, "--reps") == 0) {
                unsigned long long n = strtoull(v, &end, 10);
                if (*end || n < 2 || n > 1000000 || v[0] == '-')
                    rc = cli_fail(CLI_EXIT_USAGE, "noise: --reps '%s': expected a whole number from 2 to 1000000", v);
                reps = (size_t)n;
            } else {
                unsigned long long n = strtoull(v, &end, 10);
                if (*end || v[0] == '-' || !v[0])
                    rc = cli_fail(CLI_EXIT_USAGE, "noise: --seed '%s': expected a whole number", v);
                seed = n;
            }
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            rc = cli_fail(CLI_EXIT_USAGE, "noise: unknown option '%s' (see pmhmc noise --help)", a);
            break;
        }
        if (in_draws)
            files[n_files++] = argv[i];
        else
            st = pmhmc_config_override(&cfg, a, &err);
    }
    if (rc == CLI_EXIT_OK && st == PMHMC_OK)
        st = pmhmc_config_check_required(&cfg, &err);
    if (rc == CLI_EXIT_OK && st != PMHMC_OK)
        rc = cli_fail_status(CLI_EXIT_USAGE, st, &err);
    if (rc == CLI_EXIT_OK && (theta_text != NULL) == (n_files > 0))
        rc = cli_fail(CLI_EXIT_USAGE, "noise: give either --theta LIST or --draws FILE... (see pmhmc noise --help)");

    pmhmc_dataset *data = NULL;
    pmhmc_model *model = NULL;
    pmhmc_backend *backend = NULL;
    double *theta = NULL;
    if (rc == CLI_EXIT_OK)
        rc = cli_model_from_config(&cfg, &data, &model);
    if (rc == CLI_EXIT_OK && !(theta = calloc(pmhmc_model_dim(model), sizeof *theta)))
        rc = cli_fail(CLI_EXIT_RUNTIME, "noise: out of memory");
    if (rc == CLI_EXIT_OK)
        rc = theta_text ? theta_from_list(model, theta_text, theta) : theta_from_draws(model, n_files, files, theta);
    if (rc == CLI_EXIT_OK) {
        char reason[256] = "";
        pmhmc_backend_kind kind = PMHMC_BACKEND_CPU;
        if (strcmp(cfg.sampler.backend, "cpu") != 0 && pmhmc_cuda_usable(reason, sizeof reason) &&
            pmhmc_backend_supports(PMHMC_BACKEND_CUDA, model, reason, sizeof reason))
            kind = PMHMC_BACKEND_CUDA;
        else if (strcmp(cfg.sampler.backend, "cuda") == 0)
            rc = cli_fail(CLI_EXIT_USAGE, "noise: sampler.backend = cuda: %s", reason);
        const pmhmc_precision precision =
            kind == PMHMC_BACKEND_CUDA && strcmp(cfg.sampler.precision, "double") != 0 ? PMHMC_PRECISION_FLOAT
                                                                                        : PMHMC_PRECISION_DOUBLE;
        if (rc == CLI_EXIT_OK && (st = pmhmc_backend_create(kind, precision, &backend, &err)) != PMHMC_OK)
            rc = cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    }
    pmhmc_noise noise;
    if (rc == CLI_EXIT_OK && cfg.model.N == PMHMC_CONFIG_N_AUTO) { /* N as pmhmc sample would choose it here */
        pmhmc_model *chosen = NULL;
        st = pmhmc_choose_n_importance(backend, model, theta, cfg.model.noise_target, PMHMC_AUTO_N_MAX, reps, seed,
                                       &chosen, &noise, &err);
        pmhmc_model_free(model);
        model = chosen;
    } else if (rc == CLI_EXIT_OK) {
        st = pmhmc_log_phat_noise(backend, model, theta, reps, seed, &noise, &err);
    }
    if (rc == CLI_EXIT_OK && st != PMHMC_OK)
        rc = cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    if (rc == CLI_EXIT_OK)
        printf("name,value\nN,%zu\nreps,%zu\nmean_log_phat,%.17g\nsd_log_phat,%.17g\nseconds_per_estimate,%.6g\n",
               pmhmc_model_n_importance(model), noise.reps, noise.mean_log_phat, noise.sd_log_phat,
               noise.seconds_per_estimate);
    free(theta);
    pmhmc_backend_free(backend);
    pmhmc_model_free(model);
    pmhmc_dataset_free(data);
    pmhmc_config_free(&cfg);
    free(files);
    return rc;
}
