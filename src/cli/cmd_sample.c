/* pmhmc sample: run one chain from an INI config and write its draws as a
 * CmdStan-style CSV, then print a posterior summary. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/out_file.h"
#include "cli/summary.h"
#include "io/config.h"
#include "io/draws_csv.h"
#include "pmhmc/pmhmc.h"

static const char HELP[] =
    "usage: pmhmc sample CONFIG.ini [section.key=value ...] [--truth TRUTH.csv]\n"
    "\n"
    "Runs the sampler with the settings in CONFIG.ini and writes the saved draws to\n"
    "output.file in CmdStan's CSV layout (a '#' header echoing every setting, the\n"
    "columns lp__,accept_stat__,stepsize__,int_time__,energy__, the parameters, the\n"
    "generated quantities, and the elapsed times at the end). The file appears only\n"
    "when the run completes. At the end prints the posterior mean and sd of every\n"
    "parameter and the acceptance rate.\n"
    "\n"
    "CONFIG.ini holds [section] headers and 'key = value' lines; '#' or ';' at the\n"
    "start of a line or after a blank starts a comment. section.key=value arguments\n"
    "override the file. Relative paths in the file are relative to the file's\n"
    "directory; on the command line, to the working directory.\n"
    "\n"
    "--truth TRUTH.csv  print the true values (a name,value file such as the\n"
    "                   truth.csv of pmhmc simulate) beside the posterior means.\n"
    "\n"
    "keys (default in parentheses):\n";

static const char EXIT_CODES[] =
    "\n"
    "exit codes: 0 success; 1 bad command line, config or input file (nothing was\n"
    "run); 2 a failure while sampling or writing the draws.\n";

static void print_help(void)
{
    fputs(HELP, stdout);
    for (size_t i = 0; i < pmhmc_config_key_count(); ++i) {
        pmhmc_config_key_info k;
        pmhmc_config_key_describe(i, &k);
        printf("  %s.%s (%s): %s; %s\n", k.section, k.name, k.default_text ? k.default_text : "required", k.doc,
               k.expected);
    }
    fputs(EXIT_CODES, stdout);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct run_state {
    pmhmc_config cfg;
    pmhmc_dataset *data;
    pmhmc_model *model;
    pmhmc_backend *backend;
    pmhmc_precision precision;
    pmhmc_sampler *sampler;
    cli_out out;
    cli_summary summary;
    const char *truth_path; /* --truth, or NULL */
    const char **names;
    double *values; /* [dim + n_generated] of one draw */
} run_state;

static void free_run(run_state *r)
{
    cli_out_abort(&r->out);
    cli_summary_free(&r->summary);
    free(r->names);
    free(r->values);
    pmhmc_sampler_free(r->sampler);
    pmhmc_backend_free(r->backend);
    pmhmc_model_free(r->model);
    pmhmc_dataset_free(r->data);
    pmhmc_config_free(&r->cfg);
}

static int fail_config(pmhmc_status st, const pmhmc_error *err) { return cli_fail_status(CLI_EXIT_USAGE, st, err); }

static int load_config(run_state *r, int argc, char **argv)
{
    pmhmc_config *cfg = &r->cfg;
    if (argc < 2)
        return cli_fail(CLI_EXIT_USAGE, "sample: no config file given (usage: pmhmc sample CONFIG.ini [section.key=value ...])");
    pmhmc_error err = {{0}};
    pmhmc_status st = pmhmc_config_init(cfg);
    if (st == PMHMC_OK)
        st = pmhmc_config_load_file(cfg, argv[1], &err);
    for (int i = 2; i < argc && st == PMHMC_OK; ++i) {
        if (strcmp(argv[i], "--truth") == 0) {
            if (i + 1 == argc)
                return cli_fail(CLI_EXIT_USAGE, "sample: --truth needs a file name");
            r->truth_path = argv[++i];
            continue;
        }
        st = pmhmc_config_override(cfg, argv[i], &err);
    }
    if (st == PMHMC_OK)
        st = pmhmc_config_check_required(cfg, &err);
    return st == PMHMC_OK ? CLI_EXIT_OK : fail_config(st, &err);
}

static int load_model(run_state *r)
{
    const pmhmc_config *cfg = &r->cfg;
    pmhmc_error err = {{0}}, keyed = {{0}};
    pmhmc_response_kind kind;
    pmhmc_status st = pmhmc_model_response_kind(cfg->model.name, &kind);
    if (st == PMHMC_OK)
        st = pmhmc_dataset_read_csv(cfg->model.data, kind, &r->data, &err);
    if (st == PMHMC_ERR_IO) /* the file is missing: say which key named it */
        return fail_config(pmhmc_config_key_error(cfg, "model.data", &keyed, "%s", err.message), &keyed);
    if (st != PMHMC_OK)
        return fail_config(st, &err);

    pmhmc_model_settings settings = {
        .name = cfg->model.name,
        .n_importance = (size_t)cfg->model.N,
        .is_scale = cfg->model.is_scale,
        .prior_var = cfg->model.prior_var,
    };
    st = pmhmc_model_create(&settings, r->data, &r->model, &err);
    if (st != PMHMC_OK)
        return cli_fail(CLI_EXIT_USAGE, "%s: %s", cfg->model.data, err.message[0] ? err.message : pmhmc_status_str(st));
    size_t dim = pmhmc_model_dim(r->model), n_mass = cfg->sampler.mass.n;
    if (n_mass != 1 && n_mass != dim)
        return fail_config(pmhmc_config_key_error(cfg, "sampler.mass", &keyed,
                                                  "%zu values; expected 1 or %zu (one per parameter of %s)", n_mass,
                                                  dim, pmhmc_model_name(r->model)),
                           &keyed);
    return CLI_EXIT_OK;
}

/* sampler.backend: cpu; cuda (an error without a usable GPU); auto (cuda
 * when usable, else the CPU with a one-line notice). */
static int choose_backend(run_state *r)
{
    const pmhmc_config *cfg = &r->cfg;
    pmhmc_error err = {{0}}, keyed = {{0}};
    pmhmc_backend_kind kind = PMHMC_BACKEND_CPU;
    if (strcmp(cfg->sampler.backend, "cpu") != 0) {
        char reason[256] = "no reason given";
        if (pmhmc_cuda_usable(reason, sizeof reason))
            kind = PMHMC_BACKEND_CUDA;
        else if (strcmp(cfg->sampler.backend, "cuda") == 0)
            return fail_config(pmhmc_config_key_error(cfg, "sampler.backend", &keyed, "no usable GPU: %s", reason),
                               &keyed);
        else
            fprintf(stderr, "pmhmc: note: sampler.backend = auto: using the CPU backend (%s)\n", reason);
    }
    const char *precision = cfg->sampler.precision;
    r->precision = strcmp(precision, "float") == 0 || (strcmp(precision, "auto") == 0 && kind == PMHMC_BACKEND_CUDA)
                       ? PMHMC_PRECISION_FLOAT
                       : PMHMC_PRECISION_DOUBLE;
    pmhmc_status st = pmhmc_backend_create(kind, r->precision, &r->backend, &err);
    if (st == PMHMC_ERR_UNSUPPORTED)
        return fail_config(pmhmc_config_key_error(cfg, "sampler.precision", &keyed, "%s", err.message), &keyed);
    return st == PMHMC_OK ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
}

static int open_output(run_state *r)
{
    pmhmc_error err = {{0}}, keyed = {{0}};
    pmhmc_status st = cli_out_open(&r->out, r->cfg.output.file, &err);
    if (st == PMHMC_ERR_NOMEM)
        return cli_fail_status(CLI_EXIT_RUNTIME, st, NULL);
    if (st != PMHMC_OK)
        return fail_config(pmhmc_config_key_error(&r->cfg, "output.file", &keyed, "%s", err.message), &keyed);
    return CLI_EXIT_OK;
}

static int make_sampler(run_state *r)
{
    const pmhmc_config *cfg = &r->cfg;
    pmhmc_sampler_config sc;
    pmhmc_sampler_config_default(&sc);
    sc.algorithm = PMHMC_ALGORITHM_PMHMC; /* the only sampler.algorithm so far */
    sc.warmup = (size_t)cfg->sampler.warmup;
    sc.iterations = (size_t)cfg->sampler.iterations;
    sc.step_size = cfg->sampler.step_size;
    sc.steps = (size_t)cfg->sampler.steps;
    sc.seed = cfg->sampler.seed;
    sc.chain = 0;
    if (cfg->sampler.mass.n == 1)
        sc.mass = cfg->sampler.mass.values[0];
    else
        sc.mass_diag = cfg->sampler.mass.values;
    pmhmc_error err = {{0}};
    pmhmc_status st = pmhmc_sampler_create(r->model, r->backend, &sc, NULL, &r->sampler, &err);
    return st == PMHMC_OK ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
}

/* The '#' header: the program, then every config key by section, CmdStan
 * style, "(Default)" marking values nobody set; then what was resolved. */
static void write_header(const run_state *r)
{
    FILE *f = r->out.f;
    pmhmc_draws_comment(f, "pmhmc_version = %s", PMHMC_VERSION);
    pmhmc_draws_comment(f, "config_file = %s", r->cfg.path);
    const char *section = "";
    for (size_t i = 0; i < pmhmc_config_key_count(); ++i) {
        pmhmc_config_key_info k;
        pmhmc_config_key_describe(i, &k);
        if (strcmp(section, k.section) != 0)
            pmhmc_draws_comment(f, "%s", section = k.section);
        const struct pmhmc_config_value *v = &r->cfg.values[i];
        pmhmc_draws_comment(f, "  %s = %s%s", k.name, v->text, v->origin == PMHMC_CONFIG_DEFAULT ? " (Default)" : "");
    }
    pmhmc_draws_comment(f, "backend_used = %s", pmhmc_backend_name(r->backend));
    pmhmc_draws_comment(f, "precision_used = %s", r->precision == PMHMC_PRECISION_FLOAT ? "float" : "double");
    pmhmc_draws_columns(f, r->model);
}

static int prepare_summary(run_state *r)
{
    size_t dim = pmhmc_model_dim(r->model), n_gen = pmhmc_model_n_generated(r->model);
    r->names = malloc((dim + n_gen) * sizeof *r->names);
    r->values = malloc((dim + n_gen) * sizeof *r->values);
    if (!r->names || !r->values || cli_summary_init(&r->summary, dim + n_gen, r->names) != 0)
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    for (size_t i = 0; i < dim; ++i)
        r->names[i] = pmhmc_model_param_name(r->model, i);
    for (size_t i = 0; i < n_gen; ++i)
        r->names[dim + i] = pmhmc_model_generated_name(r->model, i);
    if (r->truth_path) {
        pmhmc_error err = {{0}};
        pmhmc_status st = cli_summary_set_truth(&r->summary, r->truth_path, &err);
        if (st != PMHMC_OK)
            return cli_fail_status(CLI_EXIT_USAGE, st, &err);
    }
    return CLI_EXIT_OK;
}

static void progress(const run_state *r, size_t done, size_t total, int warmup)
{
    uint64_t refresh = r->cfg.output.refresh;
    if (refresh == 0 || (done % refresh != 0 && done != total && done != 1))
        return;
    printf("Iteration: %*zu / %zu [%3d%%]  (%s)\n", (int)snprintf(NULL, 0, "%zu", total), done, total,
           (int)(100.0 * (double)done / (double)total), warmup ? "Warmup" : "Sampling");
    fflush(stdout);
}

/* Runs warm-up and sampling, writing saved draws; *times gets the warm-up
 * and sampling seconds. */
static int sample_all(run_state *r, double times[2])
{
    size_t dim = pmhmc_model_dim(r->model);
    size_t warmup = (size_t)r->cfg.sampler.warmup, total = warmup + (size_t)r->cfg.sampler.iterations;
    double start = now_seconds(), sampling_start = start;
    for (size_t it = 0; it < total; ++it) {
        if (it == warmup && it > 0)
            sampling_start = now_seconds();
        pmhmc_draw draw;
        pmhmc_status st = pmhmc_sampler_step(r->sampler, &draw);
        if (st != PMHMC_OK)
            return cli_fail(CLI_EXIT_RUNTIME, "sampling failed at iteration %zu: %s", it + 1, pmhmc_status_str(st));
        if (!draw.warmup) {
            memcpy(r->values, draw.theta, dim * sizeof *r->values);
            pmhmc_model_generated(r->model, draw.theta, r->values + dim);
            if (pmhmc_draws_row(r->out.f, r->model, &draw, r->values + dim) != 0)
                return cli_fail(CLI_EXIT_RUNTIME, "%s: write error while saving draw %zu", r->out.tmp, it + 1 - warmup);
            cli_summary_add(&r->summary, r->values, draw.accepted);
        }
        progress(r, it + 1, total, draw.warmup);
    }
    double end = now_seconds();
    if (warmup == total)
        sampling_start = end;
    times[0] = sampling_start - start;
    times[1] = end - sampling_start;
    return CLI_EXIT_OK;
}

int cli_sample(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        print_help();
        return CLI_EXIT_OK;
    }
    run_state r;
    memset(&r, 0, sizeof r);
    int rc = load_config(&r, argc, argv);
    if (rc == CLI_EXIT_OK)
        rc = load_model(&r);
    if (rc == CLI_EXIT_OK)
        rc = choose_backend(&r);
    if (rc == CLI_EXIT_OK)
        rc = prepare_summary(&r);
    if (rc == CLI_EXIT_OK)
        rc = open_output(&r);
    if (rc == CLI_EXIT_OK)
        rc = make_sampler(&r);
    double times[2] = {0.0, 0.0};
    if (rc == CLI_EXIT_OK) {
        write_header(&r);
        rc = sample_all(&r, times);
    }
    if (rc == CLI_EXIT_OK) {
        pmhmc_draws_elapsed(r.out.f, times[0], times[1]);
        pmhmc_error err = {{0}};
        pmhmc_status st = cli_out_commit(&r.out, &err);
        if (st != PMHMC_OK)
            rc = cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    }
    if (rc == CLI_EXIT_OK) {
        printf("\n%zu saved draws after %llu warm-up; written to %s\n", r.summary.n_draws,
               (unsigned long long)r.cfg.sampler.warmup, r.cfg.output.file);
        cli_summary_print(&r.summary, stdout);
        printf("elapsed: %.3g s warm-up, %.3g s sampling\n", times[0], times[1]);
    }
    free_run(&r);
    return rc;
}
