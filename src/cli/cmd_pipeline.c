/* pmhmc pipeline: the whole HNN workflow of DESIGN §5 in one command, as
 * three runs of the commands a user could type one by one:
 *   1. pmhmc sample with PM-NUTS (hnn.pilot_warmup + hnn.pilot_iterations
 *      transitions per chain), recording training data to hnn.collect;
 *   2. pmhmc train on those records, writing hnn.weights;
 *   3. pmhmc sample with hnn_hmc or hnn_nuts on the trained network.
 * Each stage gets the config file and the command line's overrides, then the
 * overrides that make it that stage (they win). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/path_guard.h"
#include "cli/out_file.h"
#include "cli/sample_run.h"
#include "cli/train_page.h"
#include "io/config.h"

static const char HELP[] =
    "usage: pmhmc pipeline CONFIG.ini [section.key=value ...] [--truth TRUTH.csv] [--quiet]\n"
    "\n"
    "Runs the HNN surrogate workflow with the settings in CONFIG.ini, in three stages:\n"
    "  1. pmhmc sample with sampler.algorithm = pmnuts, hnn.pilot_warmup warm-up and\n"
    "     hnn.pilot_iterations saved transitions per chain (draws: output.file with\n"
    "     _pilot before the extension; no report), recording training data to\n"
    "     hnn.collect (empty: output.file with _records.bin for its extension);\n"
    "  2. pmhmc train on those records: the network goes to hnn.weights;\n"
    "  3. pmhmc sample with sampler.algorithm (hnn_hmc or hnn_nuts, the only ones\n"
    "     allowed) on that network, as hnn.accept says, each chain starting\n"
    "     exactly where its stage-1 chain ended (sampler.init, no init_jitter),\n"
    "     writing output.file and its report.\n"
    "Every other key means what it means to pmhmc sample and pmhmc train (see their\n"
    "--help); sampler.warmup and sampler.iterations are stage 3's. --truth goes to\n"
    "stage 3, --quiet to every stage. Stops at the first stage that fails, with its\n"
    "exit code; the files of the stages before stay.\n";

/* The arguments of one stage: the command's name, the config, the user's
 * overrides, then the stage's own. */
typedef struct stage_args {
    char *argv[256];
    int argc;
    char *owned[16];
    int n_owned;
} stage_args;

static void stage_init(stage_args *s, const char *command, int argc, char **argv, int with_truth)
{
    memset(s, 0, sizeof *s);
    s->argv[s->argc++] = (char *)command;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--truth") == 0) {
            if (with_truth)
                s->argv[s->argc++] = argv[i], s->argv[s->argc++] = argv[i + 1];
            ++i;
            continue;
        }
        if (strcmp(argv[i], "--quiet") == 0 && strcmp(command, "train") == 0)
            continue; /* train prints one line per epoch block only */
        s->argv[s->argc++] = argv[i];
    }
}

/* Sets "key=value" (value formatted) for the stage: in place of the user's
 * override of the same key, which the stage's wins over, or appended.
 * Returns 0, or -1 out of memory. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int stage_set(stage_args *s, const char *key, const char *fmt, ...)
{
    char value[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    size_t n = strlen(key) + strlen(value) + 2;
    char *arg = malloc(n);
    if (!arg)
        return -1;
    snprintf(arg, n, "%s=%s", key, value);
    s->owned[s->n_owned++] = arg;
    const size_t key_len = strlen(key);
    for (int i = 1; i < s->argc; ++i)
        if (strncmp(s->argv[i], key, key_len) == 0 && s->argv[i][key_len] == '=') {
            s->argv[i] = arg;
            return 0;
        }
    s->argv[s->argc++] = arg;
    return 0;
}

static void stage_free(stage_args *s)
{
    for (int i = 0; i < s->n_owned; ++i)
        free(s->owned[i]);
}

/* The config with the command line's overrides, checked, for the names of
 * the stages' files. */
static int load_config(pmhmc_config *cfg, int argc, char **argv)
{
    pmhmc_error err = {{0}};
    pmhmc_status st = pmhmc_config_init(cfg);
    if (st == PMHMC_OK)
        st = pmhmc_config_load_file(cfg, argv[1], &err);
    for (int i = 2; i < argc && st == PMHMC_OK; ++i) {
        if (strcmp(argv[i], "--truth") == 0) {
            if (i + 1 == argc)
                return cli_fail(CLI_EXIT_USAGE, "pipeline: --truth needs a file name");
            ++i;
            continue;
        }
        if (strcmp(argv[i], "--quiet") == 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1] == '-')
            return cli_fail(CLI_EXIT_USAGE, "pipeline: unknown option '%s' (see pmhmc pipeline --help)", argv[i]);
        st = pmhmc_config_override(cfg, argv[i], &err);
    }
    if (st == PMHMC_OK)
        st = pmhmc_config_check_required(cfg, &err);
    if (st != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_USAGE, st, &err);
    if (argc > 200)
        return cli_fail(CLI_EXIT_USAGE, "pipeline: too many arguments");
    const pmhmc_algorithm_info *algorithm = pmhmc_algorithm_by_name(cfg->sampler.algorithm);
    if (!algorithm || !algorithm->needs_network) {
        pmhmc_error keyed = {{0}};
        return cli_fail_status(CLI_EXIT_USAGE,
                               pmhmc_config_key_error(cfg, "sampler.algorithm", &keyed,
                                                      "must be hnn_hmc or hnn_nuts: the sampler of the "
                                                      "pipeline's last stage"),
                               &keyed);
    }
    return CLI_EXIT_OK;
}

/* Every stage's files at once, before stage 1 runs for hours: the stages
 * check their own again, but a clash between stage 3's draws and stage 1's
 * records, say, would otherwise show only at stage 3. */
static int check_paths(const pmhmc_config *cfg, const char *records, const char *pilot, const char *truth)
{
    const size_t K = (size_t)cfg->sampler.chains;
    cli_paths p = {0};
    char what[96];
    int rc = CLI_EXIT_OK;
    cli_paths_input(&p, "the config file", cfg->path);
    cli_paths_input(&p, "model.data", cfg->model.data);
    cli_paths_input(&p, "--truth", truth);
    char *log = train_log_path(cfg), *page = train_page_path(cfg);
    char *report = cfg->output.report ? cli_path_with_suffix(cfg->output.file, ".html") : NULL;
    if (!log || !page || (cfg->output.report && !report))
        rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    for (size_t k = 0; k < K && rc == CLI_EXIT_OK; ++k) {
        char *files[3] = {sample_chain_path(pilot, K, k), sample_chain_path(records, K, k),
                          sample_chain_path(cfg->output.file, K, k)};
        const char *whats[3] = {"stage 1's draws (output.file with _pilot)", "stage 1's records (hnn.collect)",
                                "stage 3's draws (output.file)"};
        for (int f = 0; f < 3; ++f) {
            if (!files[f])
                rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
            snprintf(what, sizeof what, K > 1 ? "%s, chain %zu" : "%s", whats[f], k + 1);
            cli_paths_output(&p, what, files[f]);
            free(files[f]);
        }
    }
    cli_paths_output(&p, "hnn.weights", cfg->hnn.weights);
    cli_paths_output(&p, "the training log (hnn.train_log)", log);
    cli_paths_output(&p, "the training page (hnn.weights with .html)", page);
    cli_paths_output(&p, "the page of output.report", report);
    if (rc == CLI_EXIT_OK)
        rc = cli_paths_check(&p);
    cli_paths_free(&p);
    free(log);
    free(page);
    free(report);
    return rc;
}

static const char *truth_of(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (strcmp(argv[i], "--truth") == 0)
            return argv[i + 1];
    return NULL;
}

static int run_stages(const pmhmc_config *cfg, int argc, char **argv)
{
    char *records = cfg->hnn.collect && cfg->hnn.collect[0] ? strdup(cfg->hnn.collect)
                                                            : cli_path_with_suffix(cfg->output.file, "_records.bin");
    char *pilot = cli_path_with_suffix(cfg->output.file, "_pilot.csv");
    int rc = records && pilot ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    if (rc == CLI_EXIT_OK)
        rc = check_paths(cfg, records, pilot, truth_of(argc, argv));
    stage_args s;

    if (rc == CLI_EXIT_OK) {
        printf("pmhmc pipeline: stage 1 of 3: PM-NUTS, %llu warm-up + %llu transitions per chain, recording "
               "training data to %s\n",
               (unsigned long long)cfg->hnn.pilot_warmup, (unsigned long long)cfg->hnn.pilot_iterations, records);
        fflush(stdout);
        stage_init(&s, "sample", argc, argv, 0);
        if (stage_set(&s, "sampler.algorithm", "pmnuts") || stage_set(&s, "adapt.engaged", "auto") ||
            stage_set(&s, "sampler.warmup", "%llu", (unsigned long long)cfg->hnn.pilot_warmup) ||
            stage_set(&s, "sampler.iterations", "%llu", (unsigned long long)cfg->hnn.pilot_iterations) ||
            stage_set(&s, "output.file", "%s", pilot) || stage_set(&s, "output.report", "false") ||
            stage_set(&s, "output.checkpoint", "%s", "") || stage_set(&s, "hnn.collect", "%s", records))
            rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
        else
            rc = cli_sample(s.argc, s.argv);
        stage_free(&s);
    }
    if (rc == CLI_EXIT_OK) {
        printf("\npmhmc pipeline: stage 2 of 3: training the %s network on %s\n", cfg->hnn.kind, records);
        fflush(stdout);
        stage_init(&s, "train", argc, argv, 0);
        rc = stage_set(&s, "hnn.collect", "%s", records) ? cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL)
                                                         : cli_train(s.argc, s.argv);
        stage_free(&s);
    }
    if (rc == CLI_EXIT_OK) {
        printf("\npmhmc pipeline: stage 3 of 3: %s (hnn.accept = %s) on %s\n",
               pmhmc_algorithm_by_name(cfg->sampler.algorithm)->title, cfg->hnn.accept,
               cfg->hnn.weights);
        fflush(stdout);
        stage_init(&s, "sample", argc, argv, 1);
        if (stage_set(&s, "hnn.collect", "%s", "") ||
            stage_set(&s, "sampler.init", "%s", pilot) || stage_set(&s, "sampler.init_jitter", "0"))
            rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
        else
            rc = cli_sample(s.argc, s.argv);
        stage_free(&s);
    }
    free(records);
    free(pilot);
    return rc;
}

int cli_pipeline(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2)
        return cli_fail(CLI_EXIT_USAGE, "pipeline: no config file given (usage: pmhmc pipeline CONFIG.ini [section.key=value ...])");
    pmhmc_config cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc == CLI_EXIT_OK)
        rc = run_stages(&cfg, argc, argv);
    pmhmc_config_free(&cfg);
    return rc;
}
