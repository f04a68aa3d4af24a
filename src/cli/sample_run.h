/* The state of one `pmhmc sample` run, shared by the files of the sample
 * command: cmd_sample.c (config, chains, outputs), sample_chain.c (what
 * each chain writes while the library runs it, include/pmhmc/run.h),
 * sample_progress.c (the progress lines) and sample_results.c (the
 * end-of-run table and report). */
#ifndef PMHMC_CLI_SAMPLE_RUN_H
#define PMHMC_CLI_SAMPLE_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/checkpoint_run.h"
#include "cli/hnn_collect.h"
#include "cli/out_file.h"
#include "cli/summary.h"
#include "io/config.h"
#include "pmhmc/pmhmc.h"

/* Above this sd of log phat, chains can stick: the warm-up target of
 * model.N = auto (include/pmhmc/run.h) for the same reason. */
#define NOISE_WARN_SD PMHMC_RUN_WARMUP_NOISE_TARGET

/* Beyond this, the saved draws are not kept in memory for the diagnostics
 * (nor read back for the report). */
#define DRAWS_MEMORY_LIMIT (1024.0 * 1024.0 * 1024.0)

typedef struct run_state run_state;

/* One chain's outputs and summary; the library runs its sampler on its own
 * thread and calls sample_chain.c's callbacks there. */
typedef struct chain_state {
    run_state *run;
    uint32_t index;   /* 0-based: the Philox chain id; users see index + 1 */
    cli_out out;
    char *path;       /* this chain's draws file */
    double *theta0;   /* [dim] its start */
    double *values;   /* [dim + n_generated] of one draw */
    cli_summary summary;
    cli_collect collect; /* hnn.collect */
    double times[2];  /* warm-up and sampling seconds */
    ckpt_estimator_notes notes; /* the N of warm-up (auto), the noise at its end and the N after it */
    int rc;           /* set by a callback that failed: the exit code (else a failure is CLI_EXIT_RUNTIME) */
    /* Progress, written by the chain's thread, read by the live line. */
    atomic_size_t done, accepted, divergent, max_depth; /* max_depth: PM-NUTS transitions that hit nuts.max_depth */
    /* HNN-PM-NUTS: transitions run as real PM-NUTS (cooldown), and trees that
     * left the surrogate; counted by this process (not kept in checkpoints) */
    atomic_size_t cooldown, fallbacks;
    double start_time;
} chain_state;

struct run_state {
    pmhmc_config cfg;
    pmhmc_dataset *data;
    pmhmc_model *model; /* model.N = auto: at PMHMC_AUTO_N_MAX, the most a chain may take */
    pmhmc_mlp *hnn;   /* hnn_hmc: the surrogate, shared by the chains */
    pmhmc_backend *backend;
    pmhmc_precision precision;
    size_t n_chains;
    chain_state *chains;
    pmhmc_run_chain_result *results; /* [n_chains] how the library's run left each chain */
    size_t workers;   /* the run's threads, each running one chain at a time */
    int omp_threads;  /* per worker on the CPU backend; 0: leave alone */
    pthread_mutex_t print_lock;
    int lock_ready;
    cli_summary summary; /* pooled */
    const char *truth_path; /* --truth, or NULL */
    const char *resume_path; /* --resume, or NULL */
    ckpt_run *ckpt;
    int print_config;       /* --print-config */
    int quiet;              /* --quiet, or output.refresh = 0 */
    int argc;               /* the command line, for the resume hint */
    char **argv;
    int live;               /* stderr is a terminal: one line rewritten in place */
    double start_time;
    const char **names;
    /* Every saved draw, for the diagnostics at the end (NULL: too many; the
     * mean and sd table instead): draws[(j * n_chains + k) * iterations + i]
     * is column j, chain k, draw i. Each chain writes only its own slots. */
    double *draws;
    double draws_bytes; /* what keeping them takes (or would take) */
};

/* output.file (or hnn.collect) for chain k of n_chains: out.csv becomes
 * out_k.csv (k from 1) for n_chains > 1. */
char *sample_chain_path(const char *file, size_t n_chains, size_t k);

/* theta [dim] <- the last saved draw of chain k's sampler.init file
 * (sample_init.c). Returns 0, or an exit code after printing the error. */
int sample_init_from_draws(const run_state *r, size_t k, double *theta);

/* sampler.algorithm's entry in the library's registry. */
const pmhmc_algorithm_info *sample_algorithm(const pmhmc_config *cfg);

/* The callbacks of sample_chain.c, for pmhmc_run. */
void sample_run_callbacks(run_state *r, pmhmc_run_callbacks *cb);

/* Monotonic seconds. */
double sample_now(void);

/* Progress (sample_progress.c). A chain's line every output.refresh
 * transitions when stderr is not a terminal (the chain's thread calls it);
 * on a terminal the main thread redraws one line for all chains. */
void sample_progress_line(chain_state *c, size_t done, size_t total, int warmup);
void sample_live_line(const run_state *r, int last);

/* The end (sample_results.c): the table pooled over chains; the report's
 * path (output.file with .html, a new string), and the page written after. */
void sample_print_results(run_state *r, double wall);
char *sample_report_path(const char *file);
int sample_write_report(const run_state *r);

#endif
