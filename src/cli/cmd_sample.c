/* pmhmc sample: run sampler.chains chains from an INI config through the
 * library's run loop (include/pmhmc/run.h), one sampler each over one
 * shared backend and model, write each chain's draws as a CmdStan-style CSV
 * (all files or none), then print a posterior summary pooled over the
 * chains. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/model_setup.h"
#include "cli/path_guard.h"
#include "cli/sample_run.h"
#include "io/config.h"
#include "math/philox.h"
#include "math/streams.h"
#include "pmhmc/pmhmc.h"

static const char HELP[] =
    "usage: pmhmc sample CONFIG.ini [section.key=value ...] [--truth TRUTH.csv] [--print-config]\n"
    "                    [--quiet] [--resume CHECKPOINT]\n"
    "\n"
    "Runs sampler.chains chains (4 by default, at most 4096) in parallel (one\n"
    "thread each up to 64; beyond that a pool of workers, one per core on the CPU\n"
    "backend, each running one chain at a time), with the settings in CONFIG.ini,\n"
    "and writes each chain's saved draws in CmdStan's CSV layout: with K > 1 chains, output.file out.csv becomes out_1.csv .. out_K.csv\n"
    "(the suffix goes before the extension); with one chain it is out.csv itself.\n"
    "Each file has a '#' header echoing every setting, its chain_id (1..K) and its\n"
    "initial values, the columns lp__,accept_stat__,stepsize__,int_time__,energy__,\n"
    "the parameters, the generated quantities, and the elapsed times at the end.\n"
    "The files appear only when every chain completes; when any chain fails, none\n"
    "is written. Chain k (chain_id k+1) uses Philox chain k and starts from the\n"
    "model's documented start plus sampler.init_jitter * N(0, 1) per parameter; its\n"
    "draws depend only on the seed and the config, not on the number of chains or of\n"
    "threads. On the CPU backend the OpenMP threads are divided among the chains.\n"
    "At the end prints each chain's acceptance rate and, for every parameter, the\n"
    "diagnostics pmhmc summary prints (Mean, MCSE, StdDev, 5%, 50%, 95%, ESS_bulk,\n"
    "ESS_tail, R_hat over all chains), with a warning when an R_hat exceeds 1.01;\n"
    "when keeping the draws in memory for that would take more than 1 GiB, the\n"
    "mean and sd only (run pmhmc summary on the files for the rest).\n"
    "With output.report = true (the default) it then writes the HTML page of\n"
    "pmhmc report beside the draws (output.file out.csv: out.html; with --truth, the\n"
    "true values are on it) and prints its path; output.report = false skips it.\n"
    "\n"
    "CONFIG.ini holds [section] headers and 'key = value' lines; '#' or ';' at the\n"
    "start of a line or after a blank starts a comment. section.key=value arguments\n"
    "override the file. Relative paths in the file are relative to the file's\n"
    "directory; on the command line, to the working directory. An unknown section\n"
    "or key is an error that suggests the nearest known one.\n"
    "\n"
    "--truth TRUTH.csv  print the true values (a name,value file such as the\n"
    "                   truth.csv of pmhmc simulate) beside the posterior means.\n"
    "--print-config     print the effective configuration (the file with the\n"
    "                   overrides applied; every key, defaults marked '(Default)')\n"
    "                   as an INI file on stdout and exit without sampling.\n"
    "--quiet            no progress output.\n"
    "--resume FILE      continue the run a checkpoint FILE (output.checkpoint)\n"
    "                   saved; CONFIG.ini and the overrides must give the same\n"
    "                   settings (the [output] keys other than output.file may\n"
    "                   differ) and the same data. The draws files come out\n"
    "                   byte-identical to an uninterrupted run's, apart from the\n"
    "                   elapsed times; the '#' header is the first run's.\n"
    "\n"
    "Checkpoints: with output.checkpoint = FILE, every output.checkpoint_every\n"
    "transitions of each chain, FILE is rewritten atomically with every chain's\n"
    "state (format version, checksum; refused on resume when damaged or from\n"
    "another config). SIGINT, SIGTERM or SIGHUP make each chain finish its\n"
    "transition; then FILE is written, the draws so far are kept in their\n"
    "temporary files (out_k.csv.tmp.PID, recorded in FILE) and pmhmc exits with\n"
    "128 + the signal (130, 143, 129). Without output.checkpoint a signal stops\n"
    "the run the same way and leaves no files. A second signal ends it at once.\n"
    "A completed run removes its checkpoint.\n"
    "\n"
    "Progress goes to stderr. On a terminal it is one line for all chains, rewritten\n"
    "in place: transitions done of all, warm-up or sampling, transitions per second,\n"
    "the time left, the acceptance rate so far and the number of divergent\n"
    "transitions (PM-HMC: proposals whose energy was not finite; PM-NUTS: a step\n"
    "whose energy rose by more than nuts.max_delta_h; both signal a step size too\n"
    "large for where the chain is), and for PM-NUTS the transitions whose tree\n"
    "reached nuts.max_depth (trajectories cut short). Otherwise every output.refresh\n"
    "transitions each chain prints a line 'Chain [k] Iteration: i / n [ p%]\n"
    "(Warmup|Sampling)' followed by the same figures for that chain.\n"
    "output.refresh = 0 silences progress as --quiet does.\n"
    "\n"
    "keys (default in parentheses):\n";

static const char EXIT_CODES[] =
    "\n"
    "exit codes: 0 success; 1 bad command line, config or input file (nothing was\n"
    "run); 2 a failure while sampling or writing the draws or the report (when\n"
    "only the report failed, the draws files are complete and stay); 130, 143,\n"
    "129 stopped by SIGINT, SIGTERM, SIGHUP.\n";

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

static void free_run(run_state *r)
{
    for (size_t k = 0; r->chains && k < r->n_chains; ++k) {
        chain_state *c = &r->chains[k];
        cli_out_abort(&c->out);
        cli_collect_abort(&c->collect);
        cli_summary_free(&c->summary);
        free(c->path);
        free(c->theta0);
        free(c->values);
    }
    free(r->chains);
    free(r->results);
    ckpt_run_free(r->ckpt);
    if (r->lock_ready)
        pthread_mutex_destroy(&r->print_lock);
    cli_summary_free(&r->summary);
    free(r->names);
    free(r->draws);
    pmhmc_backend_free(r->backend);
    pmhmc_mlp_free(r->hnn);
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
        if (strcmp(argv[i], "--resume") == 0) {
            if (i + 1 == argc)
                return cli_fail(CLI_EXIT_USAGE, "sample: --resume needs a checkpoint file");
            r->resume_path = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--print-config") == 0) {
            r->print_config = 1;
            continue;
        }
        if (strcmp(argv[i], "--quiet") == 0) {
            r->quiet = 1;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] == '-')
            return cli_fail(CLI_EXIT_USAGE, "sample: unknown option '%s' (see pmhmc sample --help)", argv[i]);
        st = pmhmc_config_override(cfg, argv[i], &err);
    }
    if (st == PMHMC_OK)
        st = pmhmc_config_check_required(cfg, &err);
    if (st != PMHMC_OK)
        return fail_config(st, &err);
    /* Interrupted runs resume from checkpoints; the training data of the
     * transitions before one would be lost, so the two do not mix (yet). */
    if (cfg->hnn.collect && cfg->hnn.collect[0] && (r->resume_path || (cfg->output.checkpoint && cfg->output.checkpoint[0])))
        return fail_config(pmhmc_config_key_error(cfg, "hnn.collect", &err,
                                                  "cannot be combined with output.checkpoint or --resume"),
                           &err);
    const uint64_t S = cfg->sampler.superchains, K = cfg->sampler.chains;
    if (sample_algorithm(cfg)->lockstep && K < 2)
        return fail_config(pmhmc_config_key_error(cfg, "sampler.chains", &err,
                                                  "%s adapts across chains: it needs at least 2 (16 or more serve it "
                                                  "better)",
                                                  sample_algorithm(cfg)->name),
                           &err);
    if (S != 0 && (S < 2 || S > K || K % S != 0))
        return fail_config(pmhmc_config_key_error(cfg, "sampler.superchains", &err,
                                                  "%llu superchains cannot be made of sampler.chains = %llu chains: "
                                                  "0, or a number from 2 up that divides sampler.chains",
                                                  (unsigned long long)S, (unsigned long long)K),
                           &err);
    return CLI_EXIT_OK;
}

/* --print-config: the effective configuration as an INI file (paths as
 * resolved, relative to the working directory); a value nobody set is
 * marked "# (Default)", a comment, as the draws header marks it. */
static int print_config(const run_state *r)
{
    printf("# effective configuration: %s", r->cfg.path);
    int overridden = 0;
    for (size_t i = 0; i < pmhmc_config_key_count(); ++i)
        overridden |= r->cfg.values[i].origin == PMHMC_CONFIG_COMMAND_LINE;
    printf("%s\n", overridden ? " with the command-line overrides" : "");
    const char *section = "";
    for (size_t i = 0; i < pmhmc_config_key_count(); ++i) {
        pmhmc_config_key_info k;
        pmhmc_config_key_describe(i, &k);
        if (strcmp(section, k.section) != 0)
            printf("%s[%s]\n", i ? "\n" : "", section = k.section);
        const struct pmhmc_config_value *v = &r->cfg.values[i];
        printf("%s = %s%s\n", k.name, v->text ? v->text : "",
               v->origin == PMHMC_CONFIG_DEFAULT ? "  # (Default)" : "");
    }
    return CLI_EXIT_OK; /* output lost on stdout is main.c's to report */
}

static int load_model(run_state *r)
{
    const pmhmc_config *cfg = &r->cfg;
    pmhmc_error err = {{0}}, keyed = {{0}};
    int rc = cli_model_from_config(cfg, &r->data, &r->model);
    if (rc != CLI_EXIT_OK)
        return rc;
    pmhmc_status st;
    size_t dim = pmhmc_model_dim(r->model), n_mass = cfg->sampler.mass.n;
    if (n_mass != 1 && n_mass != dim)
        return fail_config(pmhmc_config_key_error(cfg, "sampler.mass", &keyed,
                                                  "%zu values; expected 1 or %zu (one per parameter of %s)", n_mass,
                                                  dim, pmhmc_model_name(r->model)),
                           &keyed);
    if (sample_algorithm(cfg)->needs_network) {
        st = pmhmc_hnn_load(cfg->hnn.weights, r->model, &r->hnn, &err);
        if (st == PMHMC_ERR_NOMEM)
            return cli_fail_status(CLI_EXIT_RUNTIME, st, NULL);
        if (st != PMHMC_OK)
            return fail_config(pmhmc_config_key_error(cfg, "hnn.weights", &keyed, "%s", err.message), &keyed);
    }
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
        const int cuda = strcmp(cfg->sampler.backend, "cuda") == 0;
        if (!pmhmc_cuda_usable(reason, sizeof reason)) {
            if (cuda)
                return fail_config(pmhmc_config_key_error(cfg, "sampler.backend", &keyed, "no usable GPU: %s", reason),
                                   &keyed);
            fprintf(stderr, "pmhmc: note: sampler.backend = auto: using the CPU backend (%s)\n", reason);
        } else if (!pmhmc_backend_supports(PMHMC_BACKEND_CUDA, r->model, reason, sizeof reason)) {
            if (cuda)
                return fail_config(pmhmc_config_key_error(cfg, "sampler.backend", &keyed, "%s", reason), &keyed);
            fprintf(stderr, "pmhmc: note: sampler.backend = auto: using the CPU backend (%s)\n", reason);
        } else {
            kind = PMHMC_BACKEND_CUDA;
        }
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

/* CmdStan's names: out.csv becomes out_1.csv .. out_K.csv when K > 1 (the
 * suffix goes before the extension of the last path component, or at the
 * end when it has none); K = 1 keeps out.csv. */
char *sample_chain_path(const char *file, size_t n_chains, size_t k)
{
    if (n_chains == 1)
        return strdup(file);
    const size_t stem = cli_path_stem(file), len = strlen(file) + 24;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%.*s_%zu%s", (int)stem, file, k + 1, file + stem);
    return path;
}

/* Chain k starts at the model's documented start for (seed, k), or the last
 * draw of its sampler.init file, plus init_jitter times standard normals of
 * stream (seed, k, INIT_JITTER). noise is [dim] scratch. */
static int chain_start(const run_state *r, uint32_t k, double *theta, double *noise)
{
    size_t dim = pmhmc_model_dim(r->model);
    uint64_t seed = r->cfg.sampler.seed;
    double jitter = r->cfg.sampler.init_jitter;
    if (r->cfg.sampler.init && r->cfg.sampler.init[0]) {
        int rc = sample_init_from_draws(r, k, theta);
        if (rc != CLI_EXIT_OK)
            return rc;
    } else {
        pmhmc_model_initial(r->model, seed, k, theta);
    }
    if (jitter == 0.0)
        return CLI_EXIT_OK;
    pmhmc_stream_normals(seed, k, PMHMC_STREAM_INIT_JITTER, dim, noise);
    for (size_t i = 0; i < dim; ++i)
        theta[i] += jitter * noise[i];
    return CLI_EXIT_OK;
}

/* Above this, the table at the end is the mean and sd only. */

static int prepare_chains(run_state *r)
{
    size_t dim = pmhmc_model_dim(r->model), n_gen = pmhmc_model_n_generated(r->model);
    r->n_chains = (size_t)r->cfg.sampler.chains;
    r->chains = calloc(r->n_chains, sizeof *r->chains);
    r->results = calloc(r->n_chains, sizeof *r->results);
    if (!r->chains || !r->results)
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    for (size_t k = 0; k < r->n_chains; ++k) {
        chain_state *c = &r->chains[k];
        c->run = r;
        c->index = (uint32_t)k;
        c->out.slot = -1;
        c->collect.out.slot = -1;
        c->notes = (ckpt_estimator_notes){0, NAN, 0};
        atomic_init(&c->done, 0);
        atomic_init(&c->accepted, 0);
        atomic_init(&c->divergent, 0);
        atomic_init(&c->max_depth, 0);
        atomic_init(&c->cooldown, 0);
        atomic_init(&c->fallbacks, 0);
        c->path = sample_chain_path(r->cfg.output.file, r->n_chains, k);
        c->theta0 = malloc(dim * sizeof *c->theta0);
        c->values = malloc((dim + n_gen) * sizeof *c->values);
        if (!c->path || !c->theta0 || !c->values || cli_summary_init(&c->summary, dim + n_gen, r->names) != 0)
            return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
        /* superchains: every chain starts where its superchain's first does */
        const size_t M = r->cfg.sampler.superchains ? r->n_chains / (size_t)r->cfg.sampler.superchains : 1;
        int rc = chain_start(r, (uint32_t)(k - k % M), c->theta0, c->values);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    /* The draws for the diagnostics, when they fit in DRAWS_MEMORY_LIMIT. */
    size_t n_iter = (size_t)r->cfg.sampler.iterations;
    r->draws_bytes = (double)r->n_chains * (double)n_iter * (double)(dim + n_gen) * (double)sizeof(double);
    if (r->draws_bytes <= DRAWS_MEMORY_LIMIT)
        r->draws = malloc(r->n_chains * n_iter * (dim + n_gen) * sizeof *r->draws); /* NULL: the fallback too */
    /* Every chain at once up to PMHMC_RUN_MAX_WORKERS threads. On the CPU
     * backend the OpenMP threads are divided among them, so K chains do not
     * oversubscribe the cores, and beyond that many chains one worker per
     * core runs them in turn; the draws depend on neither. */
    r->workers = r->n_chains < PMHMC_RUN_MAX_WORKERS ? r->n_chains : PMHMC_RUN_MAX_WORKERS;
    if (pmhmc_backend_get_kind(r->backend) == PMHMC_BACKEND_CPU) {
        const int cores = omp_get_max_threads();
        if (r->n_chains > PMHMC_RUN_MAX_WORKERS)
            r->workers = cores < 1 ? 1 : cores > PMHMC_RUN_MAX_WORKERS ? PMHMC_RUN_MAX_WORKERS : (size_t)cores;
        int per = cores / (int)r->workers;
        r->omp_threads = per > 1 ? per : 1;
    }
    if (pthread_mutex_init(&r->print_lock, NULL) != 0)
        return cli_fail(CLI_EXIT_RUNTIME, "cannot create a mutex");
    r->lock_ready = 1;
    r->quiet |= r->cfg.output.refresh == 0;
    r->live = !r->quiet && isatty(STDERR_FILENO);
    return CLI_EXIT_OK;
}

static void sampler_config_of(const run_state *r, uint32_t k, pmhmc_sampler_config *out);

/* On the CPU backend every running chain's workspace is host memory (u, p
 * and the NUTS tree's vectors, T x N doubles each; a chain's is freed when
 * it ends, so the workers' count): a run that cannot fit is
 * refused before anything is allocated, with the figure, instead of
 * failing (or being killed) once memory runs out. Three quarters of the
 * machine's memory is the limit. */
static int check_memory(const run_state *r)
{
    if (pmhmc_backend_get_kind(r->backend) != PMHMC_BACKEND_CPU)
        return CLI_EXIT_OK;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0)
        return CLI_EXIT_OK;
    const double machine = (double)pages * (double)page;
    pmhmc_sampler_config sc;
    sampler_config_of(r, 0, &sc);
    const double per_chain = (double)pmhmc_sampler_workspace_bytes(r->model, r->backend, &sc);
    /* a lockstep algorithm's chains all hold their workspace at once */
    const double live = sample_algorithm(&r->cfg)->lockstep ? (double)r->n_chains : (double)r->workers;
    const double need = per_chain * live + (r->draws ? r->draws_bytes : 0.0);
    if (need <= 0.75 * machine)
        return CLI_EXIT_OK;
    pmhmc_error keyed = {{0}};
    return fail_config(pmhmc_config_key_error(&r->cfg, "model.N", &keyed,
                                              "the run would need %.3g GB of memory (%.3g GB per chain for %zu "
                                              "groups x N importance draws%s, times %zu chain%s at once); this machine has "
                                              "%.3g GB. Lower model.N or sampler.chains. Nothing was run",
                                              need / 1e9, per_chain / 1e9, pmhmc_dataset_n_groups(r->data),
                                              r->cfg.model.N == PMHMC_CONFIG_N_AUTO ? " at N = 1024, the most auto "
                                                                                      "may choose"
                                                                                    : "",
                                              (size_t)live, live > 1.0 ? "s" : "", machine / 1e9),
                       &keyed);
}

/* Every file the run reads and writes, checked against each other before
 * anything is read or run (cli/path_guard.h): no output may replace an
 * input or another output, or be a directory. From the config alone. */
static int check_paths(const run_state *r)
{
    const pmhmc_config *cfg = &r->cfg;
    const size_t K = (size_t)cfg->sampler.chains;
    cli_paths p = {0};
    char what[128];
    int rc = CLI_EXIT_OK;
    cli_paths_input(&p, "the config file", cfg->path);
    cli_paths_input(&p, "model.data", cfg->model.data);
    if (sample_algorithm(cfg)->needs_network)
        cli_paths_input(&p, "hnn.weights", cfg->hnn.weights);
    cli_paths_input(&p, "--truth", r->truth_path);
    cli_paths_input(&p, "--resume", r->resume_path);
    for (size_t k = 0; k < K && rc == CLI_EXIT_OK; ++k) {
        char *draws = sample_chain_path(cfg->output.file, K, k);
        char *init = cfg->sampler.init && cfg->sampler.init[0] ? sample_chain_path(cfg->sampler.init, K, k) : NULL;
        char *collect = cfg->hnn.collect && cfg->hnn.collect[0] ? sample_chain_path(cfg->hnn.collect, K, k) : NULL;
        if (!draws || (cfg->sampler.init && cfg->sampler.init[0] && !init) ||
            (cfg->hnn.collect && cfg->hnn.collect[0] && !collect))
            rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
        snprintf(what, sizeof what, K > 1 ? "sampler.init (chain %zu)" : "sampler.init", k + 1);
        cli_paths_input(&p, what, init);
        snprintf(what, sizeof what, K > 1 ? "output.file (chain %zu)" : "output.file", k + 1);
        cli_paths_output(&p, what, draws);
        snprintf(what, sizeof what, K > 1 ? "hnn.collect (chain %zu)" : "hnn.collect", k + 1);
        cli_paths_output(&p, what, collect);
        free(draws);
        free(init);
        free(collect);
    }
    char *report = cfg->output.report ? sample_report_path(cfg->output.file) : NULL;
    char *lock = ckpt_lock_path(cfg->output.checkpoint);
    if ((cfg->output.report && !report) || (cfg->output.checkpoint && cfg->output.checkpoint[0] && !lock))
        rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    cli_paths_output(&p, "the page of output.report", report);
    cli_paths_output_over(&p, "output.checkpoint", cfg->output.checkpoint, "--resume");
    cli_paths_output(&p, "output.checkpoint's lock file", lock);
    if (rc == CLI_EXIT_OK)
        rc = cli_paths_check(&p);
    cli_paths_free(&p);
    free(report);
    free(lock);
    return rc;
}

/* Every chain's draws file (and hnn.collect file) stays open through the
 * run: thousands of chains need more than the usual soft limit of 1024 open
 * files. Raised up to the hard limit; a run that would need more is refused
 * before anything is opened. */
static int open_file_limit(const run_state *r)
{
    const int collect = r->cfg.hnn.collect && r->cfg.hnn.collect[0];
    const rlim_t need = (rlim_t)(r->n_chains * (size_t)(1 + collect) + 64); /* + data, config, checkpoint, std */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= need)
        return CLI_EXIT_OK;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < need) {
        pmhmc_error keyed = {{0}};
        return fail_config(pmhmc_config_key_error(&r->cfg, "sampler.chains", &keyed,
                                                  "%zu chains keep %zu files open while they run (and a few more); "
                                                  "this process may open at most %llu (ulimit -Hn). Run fewer "
                                                  "chains. Nothing was run",
                                                  r->n_chains, r->n_chains * (size_t)(1 + collect),
                                                  (unsigned long long)lim.rlim_max),
                           &keyed);
    }
    lim.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        return cli_fail(CLI_EXIT_RUNTIME, "cannot raise the open-file limit to %llu for %zu chains: %s",
                        (unsigned long long)need, r->n_chains, strerror(errno));
    return CLI_EXIT_OK;
}

/* Every chain's temporary file is created before any chain starts, so an
 * unwritable output.file is a config error with nothing run or left. */
static int open_outputs(run_state *r)
{
    for (size_t k = 0; k < r->n_chains; ++k) {
        pmhmc_error err = {{0}}, keyed = {{0}};
        pmhmc_status st = cli_out_open(&r->chains[k].out, r->chains[k].path, &err);
        if (st == PMHMC_OK && r->cfg.hnn.collect && r->cfg.hnn.collect[0]) {
            char *collect_path = sample_chain_path(r->cfg.hnn.collect, r->n_chains, k);
            if (!collect_path)
                return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
            st = cli_collect_open(&r->chains[k].collect, &r->cfg, collect_path, r->model, &err);
            if (st != PMHMC_OK && st != PMHMC_ERR_NOMEM)
                return fail_config(pmhmc_config_key_error(&r->cfg, "hnn.collect", &keyed, "%s", err.message), &keyed);
        }
        if (st == PMHMC_ERR_NOMEM)
            return cli_fail_status(CLI_EXIT_RUNTIME, st, NULL);
        if (st != PMHMC_OK)
            return fail_config(pmhmc_config_key_error(&r->cfg, "output.file", &keyed, "%s", err.message), &keyed);
    }
    return CLI_EXIT_OK;
}

/* --resume: each chain's draws file as the interrupted run left it, cut
 * back to what the checkpoint vouches for, with its saved draws fed to the
 * end-of-run table (as read back from the file: %.9g, as pmhmc summary sees
 * them). */
static int resume_outputs(run_state *r)
{
    size_t n_values = pmhmc_model_dim(r->model) + pmhmc_model_n_generated(r->model);
    for (size_t k = 0; k < r->n_chains; ++k) {
        chain_state *c = &r->chains[k];
        ckpt_counters n = {0, 0, 0, 0};
        int rc = ckpt_resume_chain(r->ckpt, k, &c->out, c->path, n_values, &c->summary, r->draws, r->n_chains,
                                   (size_t)r->cfg.sampler.iterations, &n, &c->notes);
        if (rc != CLI_EXIT_OK)
            return rc;
        atomic_store(&c->accepted, (size_t)n.accepted);
        atomic_store(&c->divergent, (size_t)n.divergent);
        atomic_store(&c->max_depth, (size_t)n.max_depth);
    }
    return CLI_EXIT_OK;
}

/* The draws files stay where they are: a checkpoint refers to them. */
static void keep_outputs(run_state *r)
{
    for (size_t k = 0; r->chains && k < r->n_chains; ++k)
        cli_out_keep(&r->chains[k].out);
}

/* The command that continues this run: the config, every override as it
 * was given (a resumed run must repeat them), --truth, then --resume and
 * the checkpoint. A new string, or NULL out of memory. */
static char *resume_command(const run_state *r)
{
    size_t n = 64 + 2 * strlen(ckpt_path(r->ckpt));
    for (int i = 1; i < r->argc; ++i)
        n += strlen(r->argv[i]) + 3;
    char *cmd = malloc(n);
    if (!cmd)
        return NULL;
    size_t len = (size_t)snprintf(cmd, n, "pmhmc sample");
    for (int i = 1; i < r->argc; ++i) {
        const char *a = r->argv[i];
        if (strcmp(a, "--resume") == 0) {
            ++i; /* replaced below */
            continue;
        }
        len += (size_t)snprintf(cmd + len, n - len, " %s", a);
    }
    snprintf(cmd + len, n - len, " --resume %s", ckpt_path(r->ckpt));
    return cmd;
}

/* After a signal: when it stopped any chain, the checkpoint (when
 * output.checkpoint is set) and exit 128 + the signal; without a
 * checkpoint no draws are kept. A signal that came after every chain had
 * finished stops nothing: the run completes as usual. */
static int finish_interrupted(run_state *r)
{
    int sig = ckpt_stop_signal(), stopped = 0;
    for (size_t k = 0; k < r->n_chains; ++k)
        stopped |= r->results[k].stopped;
    if (!stopped)
        return CLI_EXIT_OK;
    const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
    if (!ckpt_enabled(r->ckpt)) {
        cli_fail(128 + sig, "interrupted by %s; no draws were written (set output.checkpoint to be able to resume)",
                 name);
        return 128 + sig;
    }
    int rc = ckpt_write_final(r->ckpt);
    keep_outputs(r); /* even when that failed: the previous checkpoint still matches them */
    if (rc != CLI_EXIT_OK)
        return rc;
    char *again = resume_command(r);
    cli_fail(128 + sig, "interrupted by %s; checkpoint written to %s; continue with: %s", name, ckpt_path(r->ckpt),
             again ? again : "pmhmc sample CONFIG --resume CHECKPOINT");
    free(again);
    return 128 + sig;
}

const pmhmc_algorithm_info *sample_algorithm(const pmhmc_config *cfg)
{
    const pmhmc_algorithm_info *info = pmhmc_algorithm_by_name(cfg->sampler.algorithm);
    return info ? info : pmhmc_algorithm_by_id(PMHMC_ALGORITHM_PMNUTS); /* the config checked the name */
}

/* auto: on for the samplers whose step size nobody can guess beforehand
 * (NUTS; HMC on a surrogate whose scale is the network's). */
static int adaptation_engaged(const pmhmc_config *cfg)
{
    return strcmp(cfg->adapt.engaged, "true") == 0 ||
           (strcmp(cfg->adapt.engaged, "auto") == 0 && sample_algorithm(cfg)->adapts_by_default);
}

/* The sampler's configuration for chain k. */
static void sampler_config_of(const run_state *r, uint32_t k, pmhmc_sampler_config *out)
{
    const pmhmc_config *cfg = &r->cfg;
    pmhmc_sampler_config sc;
    pmhmc_sampler_config_default(&sc);
    sc.algorithm = sample_algorithm(cfg)->id;
    sc.max_depth = (size_t)cfg->nuts.max_depth;
    sc.max_delta_h = cfg->nuts.max_delta_h;
    /* auto: the criterion that gave the most ESS per second on each backend
     * (bench/RESULTS.md): on the GPU a leaf is cheap and the extended
     * criterion's dot products over u are not */
    const int on_gpu = pmhmc_backend_get_kind(r->backend) == PMHMC_BACKEND_CUDA;
    sc.uturn = strcmp(cfg->nuts.uturn, "theta") == 0 || (strcmp(cfg->nuts.uturn, "auto") == 0 && on_gpu)
                   ? PMHMC_UTURN_THETA
                   : PMHMC_UTURN_EXTENDED;
    sc.adapt = (pmhmc_adapt_config){
        .engaged = adaptation_engaged(cfg), .metric = cfg->adapt.metric, .delta = cfg->adapt.delta,
        .gamma = cfg->adapt.gamma, .kappa = cfg->adapt.kappa, .t0 = cfg->adapt.t0,
        .init_buffer = (size_t)cfg->adapt.init_buffer, .term_buffer = (size_t)cfg->adapt.term_buffer,
        .window = (size_t)cfg->adapt.window,
    };
    sc.warmup = (size_t)cfg->sampler.warmup;
    sc.iterations = (size_t)cfg->sampler.iterations;
    sc.step_size = cfg->sampler.step_size;
    sc.steps = (size_t)cfg->sampler.steps;
    sc.seed = cfg->sampler.seed;
    sc.chain = k;
    sc.hnn = r->hnn;
    sc.hnn_accept = strcmp(cfg->hnn.accept, "surrogate") == 0 ? PMHMC_HNN_ACCEPT_SURROGATE : PMHMC_HNN_ACCEPT_EXACT;
    sc.cn_angle = cfg->hnn.cn_angle;
    sc.monitor = strcmp(cfg->hnn.monitor, "true") == 0 ? PMHMC_HNN_MONITOR_TRUE : PMHMC_HNN_MONITOR_SURROGATE;
    sc.max_error = cfg->hnn.max_error;
    sc.cooldown = (size_t)cfg->hnn.cooldown;
    sc.chees_delta = cfg->chees.delta;
    sc.chees_learning_rate = cfg->chees.learning_rate;
    if (cfg->sampler.mass.n == 1)
        sc.mass = cfg->sampler.mass.values[0];
    else
        sc.mass_diag = cfg->sampler.mass.values;
    *out = sc;
}

static int prepare_summary(run_state *r)
{
    size_t dim = pmhmc_model_dim(r->model), n_gen = pmhmc_model_n_generated(r->model);
    r->names = malloc((dim + n_gen) * sizeof *r->names);
    if (!r->names || cli_summary_init(&r->summary, dim + n_gen, r->names) != 0)
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

/* --resume with model.N = auto: the N each chain's draws file says it runs
 * with now (the one it samples with once warm-up has ended), into n[k]. */
static int resume_n_importance(const run_state *r, size_t *n)
{
    for (size_t k = 0; k < r->n_chains; ++k) {
        const chain_state *c = &r->chains[k];
        n[k] = c->notes.n_sampling ? c->notes.n_sampling : c->notes.n_warmup;
        if (n[k] < PMHMC_AUTO_N_MIN || n[k] > PMHMC_AUTO_N_MAX || (n[k] & (n[k] - 1)) != 0)
            return cli_fail(CLI_EXIT_USAGE,
                            "chain %u: --resume: %s does not say which N model.N = auto chose (a '# %s' line with a "
                            "power of two from %d to %d)",
                            c->index + 1, c->out.tmp, c->notes.n_sampling ? CKPT_NOISE_COMMENT : CKPT_AUTO_N_COMMENT,
                            PMHMC_AUTO_N_MIN, PMHMC_AUTO_N_MAX);
    }
    return CLI_EXIT_OK;
}

/* The library runs the chains (include/pmhmc/run.h) while sample_chain.c's
 * callbacks write them; then the first failed chain (in chain order, so the
 * message does not depend on timing) is reported. */
static int run_chains(run_state *r)
{
    const size_t dim = pmhmc_model_dim(r->model);
    const int n_auto = r->cfg.model.N == PMHMC_CONFIG_N_AUTO && pmhmc_model_aux_size(r->model) > 0;
    double *theta0 = malloc(r->n_chains * dim * sizeof *theta0);
    void **users = malloc(r->n_chains * sizeof *users);
    size_t *n_importance = calloc(r->n_chains, sizeof *n_importance);
    int rc = theta0 && users && n_importance ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    if (rc == CLI_EXIT_OK && n_auto && r->resume_path)
        rc = resume_n_importance(r, n_importance);
    char start_note[96] = "";
    if (r->cfg.sampler.init_jitter > 0.0)
        snprintf(start_note, sizeof start_note, "its start includes sampler.init_jitter = %g", r->cfg.sampler.init_jitter);
    pmhmc_error err = {{0}};
    pmhmc_status st = PMHMC_OK;
    if (rc == CLI_EXIT_OK) {
        for (size_t k = 0; k < r->n_chains; ++k) {
            memcpy(theta0 + k * dim, r->chains[k].theta0, dim * sizeof *theta0);
            users[k] = &r->chains[k];
        }
        pmhmc_run_config rc_cfg;
        pmhmc_run_config_default(&rc_cfg);
        sampler_config_of(r, 0, &rc_cfg.sampler);
        rc_cfg.chains = r->n_chains;
        rc_cfg.theta0 = theta0;
        rc_cfg.auto_n = n_auto;
        rc_cfg.noise_target = r->cfg.model.noise_target;
        rc_cfg.n_importance = n_auto && r->resume_path ? n_importance : NULL;
        rc_cfg.workers = r->workers;
        rc_cfg.threads_per_chain = r->omp_threads;
        rc_cfg.start_note = start_note;
        rc_cfg.chain_user = users;
        sample_run_callbacks(r, &rc_cfg.callbacks);
        st = pmhmc_run(r->model, r->backend, &rc_cfg, r->results, &err);
        if (r->live)
            sample_live_line(r, 1);
    }
    free(theta0);
    free(users);
    free(n_importance);
    if (rc != CLI_EXIT_OK || st == PMHMC_OK)
        return rc;
    size_t n_failed = 0;
    const chain_state *first = NULL;
    const pmhmc_run_chain_result *first_result = NULL;
    for (size_t k = 0; k < r->n_chains; ++k)
        if (r->results[k].status != PMHMC_OK && n_failed++ == 0) {
            first = &r->chains[k];
            first_result = &r->results[k];
        }
    if (!first) /* the run itself failed (a thread that would not start) */
        return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    const int code = first_result->from_callback && first->rc != CLI_EXIT_OK ? first->rc : CLI_EXIT_RUNTIME;
    /* A checkpoint already written still vouches for the draws files up to
     * where it was taken: they stay beside it (cli_sample keeps them). */
    char kept[1024] = "no draws were written";
    if (ckpt_written(r->ckpt)) {
        char *again = resume_command(r);
        snprintf(kept, sizeof kept,
                 "the checkpoint %s and the draws it refers to are kept: once the cause is fixed, continue with: %s",
                 ckpt_path(r->ckpt), again ? again : "pmhmc sample CONFIG --resume CHECKPOINT");
        free(again);
    }
    if (n_failed > 1)
        return cli_fail(code, "%s (and %zu other chain%s failed; %s)", first_result->err.message, n_failed - 1,
                        n_failed > 2 ? "s" : "", kept);
    return cli_fail(code, "%s (%s)", first_result->err.message, kept);
}

/* Renames every chain's file into place, only once every chain succeeded;
 * when a rename fails, the files already renamed are removed again, so a
 * run leaves all its chains' files or none. */
static int commit_outputs(run_state *r)
{
    for (size_t k = 0; k < r->n_chains; ++k) {
        pmhmc_error err = {{0}};
        pmhmc_status st = cli_out_commit(&r->chains[k].out, &err);
        if (st != PMHMC_OK) {
            for (size_t j = 0; j < k; ++j)
                unlink(r->chains[j].path);
            return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
        }
    }
    for (size_t k = 0; k < r->n_chains; ++k) { /* the draws stand on their own if this fails */
        pmhmc_error err = {{0}};
        pmhmc_status st = cli_collect_commit(&r->chains[k].collect, &err);
        if (st != PMHMC_OK)
            return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    }
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
    r.argc = argc;
    r.argv = argv;
    int rc = load_config(&r, argc, argv);
    if (rc == CLI_EXIT_OK && r.print_config) {
        rc = print_config(&r);
        free_run(&r);
        return rc;
    }
    if (rc == CLI_EXIT_OK)
        rc = check_paths(&r);
    if (rc == CLI_EXIT_OK)
        rc = load_model(&r);
    if (rc == CLI_EXIT_OK)
        rc = choose_backend(&r);
    if (rc == CLI_EXIT_OK)
        rc = prepare_summary(&r);
    if (rc == CLI_EXIT_OK)
        rc = prepare_chains(&r);
    if (rc == CLI_EXIT_OK)
        rc = check_memory(&r);
    if (rc == CLI_EXIT_OK)
        rc = ckpt_run_create(&r.cfg, pmhmc_backend_name(r.backend),
                             r.precision == PMHMC_PRECISION_FLOAT ? "float" : "double", r.n_chains, r.resume_path,
                             &r.ckpt);
    if (rc == CLI_EXIT_OK)
        rc = open_file_limit(&r);
    if (rc == CLI_EXIT_OK)
        rc = r.resume_path ? resume_outputs(&r) : open_outputs(&r);
    if (rc == CLI_EXIT_OK)
        ckpt_signals_install(ckpt_enabled(r.ckpt));
    double start = r.start_time = sample_now();
    if (rc == CLI_EXIT_OK)
        rc = run_chains(&r);
    if (rc == CLI_EXIT_OK && ckpt_stop_signal())
        rc = finish_interrupted(&r);
    if (rc == CLI_EXIT_OK)
        rc = commit_outputs(&r);
    if (rc == CLI_EXIT_OK)
        ckpt_run_completed(r.ckpt);
    /* A failed resume, or a run whose checkpoint is on disk, leaves that
     * checkpoint usable: its draws files stay. */
    if (rc != CLI_EXIT_OK && (r.resume_path || ckpt_written(r.ckpt)))
        keep_outputs(&r);
    if (rc == CLI_EXIT_OK)
        sample_print_results(&r, sample_now() - start);
    if (rc == CLI_EXIT_OK)
        rc = sample_write_report(&r);
    free_run(&r); /* removes every temporary file left */
    return rc;
}
