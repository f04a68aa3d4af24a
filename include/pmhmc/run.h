/* A run: K chains of one model on one backend, on a pool of worker threads
 * (each runs one chain at a time, start to end, then takes the next that has
 * not started), through warm-up and the saved iterations (DESIGN §6). The library owns the
 * loop: the chains' samplers, model.N = auto (each chain's N where it starts
 * and where warm-up ends), the estimator's noise at the end of warm-up,
 * stopping every chain when one fails or when the caller asks, and the
 * timings. The caller owns everything that is written: it hears of each
 * chain's start, every transition, the end of warm-up, the points where a
 * checkpoint may be taken and the chain's end through callbacks, and does
 * its own writing there (`pmhmc sample` writes CmdStan files and a
 * checkpoint; a Python binding keeps arrays; an MPI driver sends them on).
 *
 * Threads: each chain's callbacks run on the worker running it, in order;
 * different chains' callbacks run concurrently, so a callback touches only
 * its own chain's state or locks what it shares. `tick` and
 * `stop_requested` are the exceptions: tick runs on the thread that called
 * pmhmc_run, stop_requested on any. Chain k's draws are the same whatever
 * K, however many workers and whatever the threads do (pmhmc_sampler's
 * streams are per chain). At most `workers` chains hold a sampler (and its
 * backend memory) at once: a chain's is freed when it ends.
 *
 * Ownership: the model, backend and config (with its arrays) are borrowed
 * for the call; results is the caller's, one entry per chain. */
#ifndef PMHMC_RUN_H
#define PMHMC_RUN_H

#include <stddef.h>

#include "pmhmc/backend.h"
#include "pmhmc/model.h"
#include "pmhmc/sampler.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PMHMC_RUN_MAX_CHAINS 4096
#define PMHMC_RUN_MAX_WORKERS 64   /* threads, each running one chain at a time */
#define PMHMC_RUN_NOISE_REPS 16    /* fresh u per noise measurement */
/* model.N = auto's target for warm-up's N is at least this sd of log phat:
 * warm-up needs a chain that moves, not precision. */
#define PMHMC_RUN_WARMUP_NOISE_TARGET 1.5

/* What a callback is told of its chain. */
typedef struct pmhmc_run_chain {
    size_t index;               /* 0-based; the sampler's config.chain */
    pmhmc_sampler *sampler;
    const pmhmc_model *model;   /* the model it runs now: with model.N = auto, its own N */
    void *user;                 /* config.chain_user[index], or NULL */
} pmhmc_run_chain;

/* A chain's start, after its sampler is made. */
typedef struct pmhmc_run_start {
    size_t first_iteration;     /* 0, or where a `started` callback that loaded a state put it */
    size_t n_importance;        /* model.N = auto: the N chosen here (or given); else 0 */
    pmhmc_noise noise;          /* model.N = auto and chosen here: its noise at the start; reps 0 otherwise */
    double target;              /* model.N = auto: the noise target that chose it */
} pmhmc_run_start;

/* The end of a chain's warm-up (after its last warm-up transition). */
typedef struct pmhmc_run_warmup_end {
    int adapted;                /* adaptation ran: step_size and inv_metric are what it learned */
    double step_size;
    const double *inv_metric;   /* [dim] */
    pmhmc_noise noise;          /* sd of log phat over PMHMC_RUN_NOISE_REPS fresh u where the chain is
                                   (reps 0: the model's estimate has no u) */
    size_t n_importance;        /* the N it samples with from here */
    int n_chosen;               /* model.N = auto chose it here */
} pmhmc_run_warmup_end;

/* Each returns PMHMC_OK, or a status with err filled in, which fails the
 * chain (the message is kept as written) and stops the others. Any may be
 * NULL. */
typedef struct pmhmc_run_callbacks {
    void *ctx;
    /* The chain's sampler is made (a resume loads its state here, and the
     * run goes on from pmhmc_sampler_iteration). */
    pmhmc_status (*started)(void *ctx, const pmhmc_run_chain *chain, pmhmc_run_start *start, pmhmc_error *err);
    /* After every transition, warm-up included (draw->warmup); iteration
     * is 0-based. */
    pmhmc_status (*transition)(void *ctx, const pmhmc_run_chain *chain, size_t iteration, const pmhmc_draw *draw,
                               pmhmc_error *err);
    pmhmc_status (*warmup_done)(void *ctx, const pmhmc_run_chain *chain, const pmhmc_run_warmup_end *end,
                                pmhmc_error *err);
    /* After `done` transitions: after each one, and once more when the
     * chain leaves (finished, or stopped) with leaving = 1; where a
     * checkpoint may take the sampler's state. */
    pmhmc_status (*point)(void *ctx, const pmhmc_run_chain *chain, size_t done, int leaving, pmhmc_error *err);
    /* The chain ran to its end: seconds of warm-up and of sampling. */
    pmhmc_status (*finished)(void *ctx, const pmhmc_run_chain *chain, double warmup_seconds,
                             double sampling_seconds, pmhmc_error *err);
    /* On the calling thread, about five times a second while chains run. */
    void (*tick)(void *ctx);
    /* Polled before each transition: nonzero stops every chain there. */
    int (*stop_requested)(void *ctx);
} pmhmc_run_callbacks;

typedef struct pmhmc_run_config {
    pmhmc_sampler_config sampler; /* every chain's (config.chain is set per chain) */
    size_t chains;                /* 1 to PMHMC_RUN_MAX_CHAINS */
    size_t workers;               /* threads; 0: min(chains, PMHMC_RUN_MAX_WORKERS) (every chain at once
                                     up to that); at most PMHMC_RUN_MAX_WORKERS */
    const double *theta0;         /* [chains x dim] the starts, or NULL: pmhmc_model_initial's */
    /* model.N = auto: the model passed in has the most N a chain may take;
     * each chain takes the smallest power of two whose noise is at most
     * max(noise_target, PMHMC_RUN_WARMUP_NOISE_TARGET) where it starts (up to
     * PMHMC_AUTO_N_WARMUP_MAX) and at most noise_target where warm-up ends. */
    int auto_n;
    double noise_target;
    const size_t *n_importance;   /* auto_n, resuming: [chains] the N each chain has now (0: choose) */
    int threads_per_chain;        /* OpenMP threads for each chain's backend work; 0: leave alone */
    const char *start_note;       /* appended in parentheses to a failure to start a chain where log
                                     p + log phat is not finite (what the caller did to the start) */
    void **chain_user;            /* [chains] handed to the callbacks, or NULL */
    pmhmc_run_callbacks callbacks;
} pmhmc_run_config;

/* How a chain ended. */
typedef struct pmhmc_run_chain_result {
    pmhmc_status status;  /* PMHMC_OK: finished or stopped */
    pmhmc_error err;      /* the failure, "chain k: ..." unless a callback wrote it */
    int from_callback;    /* the failure was a callback's */
    int cancelled;        /* stopped (or never started) because another chain failed */
    int stopped;          /* stopped by stop_requested */
} pmhmc_run_chain_result;

/* The sampler's defaults, one chain, model.N fixed, noise_target 0.25. */
/* The workers a config runs with (its `workers`, or the default). */
size_t pmhmc_run_workers(const pmhmc_run_config *config);
void pmhmc_run_config_default(pmhmc_run_config *config);

/* Runs every chain until it finishes, fails, is cancelled or is stopped.
 * Returns PMHMC_OK when none failed; otherwise the status of the first
 * chain (in chain order, so the answer does not depend on timing) that
 * failed, with err holding its message. results [chains] says how each
 * ended. */
pmhmc_status pmhmc_run(const pmhmc_model *model, pmhmc_backend *backend, const pmhmc_run_config *config,
                       pmhmc_run_chain_result *results, pmhmc_error *err);

#ifdef __cplusplus
}
#endif
#endif
