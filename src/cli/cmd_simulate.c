/* pmhmc simulate: a synthetic data set (DIR/data.csv) and the parameters that
 * generated it (DIR/truth.csv), for checking the sampler against the truth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/out_file.h"
#include "pmhmc/pmhmc.h"
#include "math/portable_math.h"

static const char HELP[] =
    "usage: pmhmc simulate [--model glmm|normal_re] --out DIR [options]\n"
    "\n"
    "Writes DIR/data.csv (id,y[,z1..zp]) and DIR/truth.csv (name,value rows: every\n"
    "parameter by its draws-CSV column name, then the model's generated quantities).\n"
    "DIR is created when missing.\n"
    "\n"
    "  --model M      glmm (default) or normal_re\n"
    "  --out DIR      output directory (required)\n"
    "  --seed S       random seed (default 1)\n"
    "  --T T          groups (default glmm 500, normal_re 100)\n"
    "  --n n          rows per group (default glmm 6, normal_re 5)\n"
    "glmm (DESIGN §2; defaults are the paper's set-up):\n"
    "  --p p          covariates (default 8)\n"
    "  --mu1 --mu2    mixture means (default 0, 3)\n"
    "  --lambda1 --lambda2   mixture precisions (default 10, 3)\n"
    "  --w1 w         weight of component 1, in (0, 1) (default 0.8)\n"
    "normal_re (X_i ~ N(mu, tau^2), y_ij ~ N(X_i, 1)):\n"
    "  --mu mu        default 1\n"
    "  --tau tau      default 0.5\n";

static const char *const GLMM_ONLY[] = {"p", "mu1", "mu2", "lambda1", "lambda2", "w1"};
static const char *const NORMAL_RE_ONLY[] = {"mu", "tau"};

/* Writes the `name,value` rows of theta and the generated quantities, using
 * a model over the data for the names so they match the draws CSV. */
static int write_truth(const pmhmc_dataset *data, const char *model_name, const double *theta,
                       const char *path)
{
    pmhmc_model_settings settings;
    pmhmc_model_settings_default(&settings);
    settings.name = model_name;
    pmhmc_model *model = NULL;
    pmhmc_error err = {{0}};
    pmhmc_status st = pmhmc_model_create(&settings, data, &model, &err);
    if (st != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    size_t n_gen = pmhmc_model_n_generated(model);
    double *generated = calloc(n_gen ? n_gen : 1, sizeof *generated);
    cli_out out;
    st = generated ? cli_out_open(&out, path, &err) : PMHMC_ERR_NOMEM;
    if (st != PMHMC_OK) {
        free(generated);
        pmhmc_model_free(model);
        return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    }
    pmhmc_model_generated(model, theta, generated);
    fprintf(out.f, "name,value\n");
    for (size_t i = 0; i < pmhmc_model_dim(model); ++i)
        fprintf(out.f, "%s,%.17g\n", pmhmc_model_param_name(model, i), theta[i]);
    for (size_t i = 0; i < n_gen; ++i)
        fprintf(out.f, "%s,%.17g\n", pmhmc_model_generated_name(model, i), generated[i]);
    free(generated);
    pmhmc_model_free(model);
    st = cli_out_commit(&out, &err);
    return st == PMHMC_OK ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
}

static int reject_foreign(const cli_opt *opts, size_t n_opts, const char *model, const char *const *names,
                          size_t n_names)
{
    for (size_t i = 0; i < n_names; ++i)
        if (cli_option(opts, n_opts, names[i])->seen)
            return cli_fail(CLI_EXIT_USAGE, "simulate: --%s does not apply to --model %s", names[i], model);
    return 0;
}

int cli_simulate(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    const char *model = "glmm", *dir = NULL;
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    size_t T = 0, n = 0;
    double mu = 1.0, tau = 0.5;
    cli_opt opts[] = {
        {"model", CLI_OPT_TEXT, &model, 0, 0},
        {"out", CLI_OPT_TEXT, &dir, 0, 0},
        {"seed", CLI_OPT_SEED, &sim.seed, 0, 0},
        {"T", CLI_OPT_COUNT, &T, 1, 0},
        {"n", CLI_OPT_COUNT, &n, 1, 0},
        {"p", CLI_OPT_COUNT, &sim.p, 0, 0},
        {"mu1", CLI_OPT_REAL, &sim.mu1, 0, 0},
        {"mu2", CLI_OPT_REAL, &sim.mu2, 0, 0},
        {"lambda1", CLI_OPT_POSITIVE, &sim.lambda1, 0, 0},
        {"lambda2", CLI_OPT_POSITIVE, &sim.lambda2, 0, 0},
        {"w1", CLI_OPT_PROBABILITY, &sim.w1, 0, 0},
        {"mu", CLI_OPT_REAL, &mu, 0, 0},
        {"tau", CLI_OPT_POSITIVE, &tau, 0, 0},
    };
    const size_t n_opts = sizeof opts / sizeof opts[0];
    if (cli_parse_options("simulate", argc, argv, opts, n_opts) != 0)
        return CLI_EXIT_USAGE;
    if (!dir)
        return cli_fail(CLI_EXIT_USAGE, "simulate: --out DIR is required");

    int is_glmm = strcmp(model, "glmm") == 0;
    if (!is_glmm && strcmp(model, "normal_re") != 0)
        return cli_fail(CLI_EXIT_USAGE, "simulate: --model '%s': expected glmm or normal_re", model);
    if (is_glmm ? reject_foreign(opts, n_opts, model, NORMAL_RE_ONLY, 2)
                : reject_foreign(opts, n_opts, model, GLMM_ONLY, 6))
        return CLI_EXIT_USAGE;

    pmhmc_dataset *data = NULL;
    double theta[2];
    double *theta_glmm = NULL;
    pmhmc_status st;
    if (is_glmm) {
        sim.T = T ? T : sim.T;
        sim.n = n ? n : sim.n;
        theta_glmm = malloc((sim.p + 5) * sizeof *theta_glmm);
        st = theta_glmm ? pmhmc_simulate_glmm(&sim, &data, theta_glmm) : PMHMC_ERR_NOMEM;
    } else {
        theta[0] = mu;
        theta[1] = pmhmc_log(tau);
        st = pmhmc_simulate_normal_re(T ? T : 100, n ? n : 5, mu, tau, sim.seed, &data);
    }
    if (st == PMHMC_ERR_ARG) {
        free(theta_glmm);
        return cli_fail(CLI_EXIT_USAGE, "simulate: --T, --n and --p are too large (over 2^32 draws)");
    }
    if (st != PMHMC_OK) {
        free(theta_glmm);
        return cli_fail_status(CLI_EXIT_RUNTIME, st, NULL);
    }

    pmhmc_error err = {{0}};
    size_t len = strlen(dir) + sizeof "/truth.csv";
    char *data_path = malloc(len), *truth_path = malloc(len);
    int rc = CLI_EXIT_OK;
    if (!data_path || !truth_path) {
        rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    } else {
        snprintf(data_path, len, "%s/data.csv", dir);
        snprintf(truth_path, len, "%s/truth.csv", dir);
        st = cli_make_dirs(dir, &err);
        if (st == PMHMC_OK)
            st = pmhmc_dataset_write_csv(data, data_path, &err);
        rc = st == PMHMC_OK ? write_truth(data, model, is_glmm ? theta_glmm : theta, truth_path)
                            : cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
        if (st == PMHMC_OK && rc != CLI_EXIT_OK)
            unlink(data_path); /* data without its truth is half an output */
    }
    free(data_path);
    free(truth_path);
    free(theta_glmm);
    pmhmc_dataset_free(data);
    return rc;
}
