/* The run loop (include/pmhmc/run.h): a pool of workers, each taking the
 * next chain that has not started and running it to its end: making its
 * sampler, choosing its N (model.N = auto), stepping through warm-up and
 * sampling, measuring the estimator's noise where warm-up ends, and telling
 * the caller of each of these through the callbacks. */
#include "pmhmc/run.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "sampler/algorithm.h"

typedef struct run run;

typedef struct run_chain {
    run *run;
    pmhmc_run_chain pub;
    pmhmc_model *own_model;   /* model.N = auto: the chain's, with the N it chose */
    double *theta0;           /* [dim] its start */
    double *inv_metric;       /* [dim] at the end of warm-up */
    pmhmc_run_chain_result *result;
    size_t first, warmup, total; /* the transitions: from first to total, warm-up before warmup */
    double t0, sampling_start;
    const double *theta;         /* the last draw's theta (the sampler's own array) */
    int ended;                   /* lockstep: failed or cancelled, out of the rounds */
} run_chain;

struct run {
    const pmhmc_model *model;
    pmhmc_backend *backend;
    const pmhmc_run_config *cfg;
    atomic_int failed; /* set by the first chain that fails; the others stop */
    atomic_size_t next; /* the next chain a worker takes */
    atomic_size_t done; /* chains that have ended, one way or another */
    run_chain *chains;
    pmhmc_run_chain_result *results;
};

void pmhmc_run_config_default(pmhmc_run_config *config)
{
    memset(config, 0, sizeof *config);
    pmhmc_sampler_config_default(&config->sampler);
    config->chains = 1;
    config->noise_target = 0.25;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void chain_fail(run_chain *c, pmhmc_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->result->err.message, sizeof c->result->err.message, fmt, ap);
    va_end(ap);
    c->result->status = st;
    atomic_store(&c->run->failed, 1);
}

/* A callback's failure: its message as it wrote it. */
static int callback_failed(run_chain *c, pmhmc_status st, const pmhmc_error *err)
{
    if (st == PMHMC_OK)
        return 0;
    c->result->status = st;
    c->result->from_callback = 1;
    snprintf(c->result->err.message, sizeof c->result->err.message, "%s",
             err->message[0] ? err->message : pmhmc_status_str(st));
    atomic_store(&c->run->failed, 1);
    return -1;
}

static const char *why(pmhmc_status st, const pmhmc_error *err)
{
    return err->message[0] ? err->message : pmhmc_status_str(st);
}

/* The seeds of chain k's noise measurements, apart from its own streams (so
 * its draws are the same with or without them): at its start (model.N =
 * auto) and at the end of warm-up. */
static uint64_t noise_seed(const run_chain *c, int at_start)
{
    return (c->run->cfg->sampler.seed ^ (0x9E3779B97F4A7C15ull * (c->pub.index + 1u))) + (uint64_t)(at_start != 0);
}

/* model.N = auto's target at the start (for warm-up, when there is one) or
 * at the end of warm-up. */
static double auto_target(const pmhmc_run_config *cfg, int for_warmup)
{
    return for_warmup ? fmax(cfg->noise_target, PMHMC_RUN_WARMUP_NOISE_TARGET) : cfg->noise_target;
}

/* model.N = auto: the chain's model for theta, the smallest N whose noise
 * there is at most the target (pmhmc_choose_n_importance), into own_model
 * (the old one freed) and *noise; at the end of warm-up the sampler moves
 * onto it. At the start the target is at least
 * PMHMC_RUN_WARMUP_NOISE_TARGET: where chains start the noise can fall
 * slowly with N (on the paper's GLMM from 1.1 at N = 16 to 0.9 at 128). */
static int choose_n(run_chain *c, const double *theta, int at_start, pmhmc_noise *noise)
{
    const run *r = c->run;
    pmhmc_model *chosen = NULL;
    pmhmc_error err = {{0}};
    const int for_warmup = at_start && r->cfg->sampler.warmup > 0; /* without warm-up, the start's N samples */
    pmhmc_status st = pmhmc_choose_n_importance(r->backend, r->model, theta, auto_target(r->cfg, for_warmup),
                                                for_warmup ? PMHMC_AUTO_N_WARMUP_MAX : PMHMC_AUTO_N_MAX,
                                                PMHMC_RUN_NOISE_REPS, noise_seed(c, at_start), &chosen, noise, &err);
    if (st == PMHMC_OK && !at_start && (st = pmhmc_sampler_set_model(c->pub.sampler, chosen, &err)) != PMHMC_OK)
        pmhmc_model_free(chosen);
    if (st != PMHMC_OK) {
        chain_fail(c, st, "chain %zu: choosing model.N %s: %s", c->pub.index + 1,
                   at_start ? "at its start" : "at the end of warm-up", why(st, &err));
        return -1;
    }
    pmhmc_model_free(c->own_model);
    c->own_model = chosen;
    c->pub.model = chosen;
    return 0;
}

/* The estimator's N where the chain starts: the one given for a resume, or
 * model.N = auto's choice. */
static int start_n(run_chain *c, pmhmc_run_start *start)
{
    const run *r = c->run;
    if (!r->cfg->auto_n || pmhmc_model_aux_size(r->model) == 0)
        return 0;
    start->target = auto_target(r->cfg, r->cfg->sampler.warmup > 0);
    const size_t given = r->cfg->n_importance ? r->cfg->n_importance[c->pub.index] : 0;
    if (given == 0) {
        if (choose_n(c, c->theta0, 1, &start->noise) != 0)
            return -1;
    } else {
        pmhmc_error err = {{0}};
        pmhmc_status st = pmhmc_model_with_n_importance(r->model, given, &c->own_model, &err);
        if (st != PMHMC_OK) {
            chain_fail(c, st, "chain %zu: %s", c->pub.index + 1, why(st, &err));
            return -1;
        }
        c->pub.model = c->own_model;
    }
    start->n_importance = pmhmc_model_n_importance(c->pub.model);
    return 0;
}

/* After the last warm-up transition: what adaptation learned and the
 * estimator's noise where the chain is, at the N it samples with (model.N
 * = auto chooses that N here). */
static int end_warmup(run_chain *c, const double *theta)
{
    const run *r = c->run;
    const pmhmc_run_callbacks *cb = &r->cfg->callbacks;
    pmhmc_run_warmup_end end = {0};
    end.adapted = r->cfg->sampler.adapt.engaged;
    end.step_size = pmhmc_sampler_step_size(c->pub.sampler);
    pmhmc_sampler_inv_metric(c->pub.sampler, c->inv_metric);
    end.inv_metric = c->inv_metric;
    if (pmhmc_model_aux_size(r->model) > 0) {
        if (r->cfg->auto_n) {
            if (choose_n(c, theta, 0, &end.noise) != 0)
                return -1;
            end.n_chosen = 1;
        } else {
            pmhmc_error err = {{0}};
            pmhmc_status st = pmhmc_log_phat_noise(r->backend, r->model, theta, PMHMC_RUN_NOISE_REPS,
                                                   noise_seed(c, 0), &end.noise, &err);
            if (st != PMHMC_OK) {
                chain_fail(c, st, "chain %zu: measuring the estimator's noise after warm-up: %s", c->pub.index + 1,
                           why(st, &err));
                return -1;
            }
        }
    }
    end.n_importance = pmhmc_model_n_importance(c->pub.model);
    pmhmc_error err = {{0}};
    return cb->warmup_done ? callback_failed(c, cb->warmup_done(cb->ctx, &c->pub, &end, &err), &err) : 0;
}

static int point(run_chain *c, size_t done, int leaving)
{
    const pmhmc_run_callbacks *cb = &c->run->cfg->callbacks;
    pmhmc_error err = {{0}};
    return cb->point ? callback_failed(c, cb->point(cb->ctx, &c->pub, done, leaving, &err), &err) : 0;
}

/* The chain's start: its N (model.N = auto), its sampler, the started
 * callback. 0, or -1 when it ended there (failed, or cancelled). */
static int chain_begin(run_chain *c)
{
    const run *r = c->run;
    const pmhmc_run_config *cfg = r->cfg;
    const pmhmc_run_callbacks *cb = &cfg->callbacks;
    if (atomic_load(&c->run->failed)) {
        c->result->cancelled = 1;
        return -1;
    }
    pmhmc_run_start start = {0};
    if (start_n(c, &start) != 0)
        return -1;
    pmhmc_sampler_config sc = cfg->sampler;
    sc.chain = (uint32_t)c->pub.index;
    pmhmc_error err = {{0}};
    pmhmc_status st = pmhmc_sampler_create(c->pub.model, r->backend, &sc, c->theta0, &c->pub.sampler, &err);
    if (st != PMHMC_OK) {
        if (st == PMHMC_ERR_NUMERIC && cfg->start_note && cfg->start_note[0])
            chain_fail(c, st, "chain %zu: %s (%s)", c->pub.index + 1, why(st, &err), cfg->start_note);
        else
            chain_fail(c, st, "chain %zu: %s", c->pub.index + 1, why(st, &err));
        return -1;
    }
    if (cb->started && callback_failed(c, cb->started(cb->ctx, &c->pub, &start, &err), &err) != 0)
        return -1;
    c->warmup = sc.warmup;
    c->total = sc.warmup + sc.iterations;
    c->first = pmhmc_sampler_iteration(c->pub.sampler); /* > 0 when a state was loaded */
    c->t0 = c->sampling_start = now();
    return 0;
}

/* Before transition it: 1 when the chain leaves here, cancelled (another
 * failed) or stopped (with its last point); else 0. */
static int chain_leaves(run_chain *c, size_t it)
{
    const pmhmc_run_callbacks *cb = &c->run->cfg->callbacks;
    if (atomic_load_explicit(&c->run->failed, memory_order_relaxed)) {
        c->result->cancelled = 1;
        return 1;
    }
    if (cb->stop_requested && cb->stop_requested(cb->ctx)) {
        c->result->stopped = 1;
        point(c, it, 1);
        return 1;
    }
    return 0;
}

/* Transition it and its callback. 0, or -1 when the chain failed. */
static int chain_transition(run_chain *c, size_t it)
{
    const pmhmc_run_callbacks *cb = &c->run->cfg->callbacks;
    if (it == c->warmup && it > 0)
        c->sampling_start = now();
    pmhmc_draw draw;
    pmhmc_status st = pmhmc_sampler_step(c->pub.sampler, &draw);
    if (st != PMHMC_OK) {
        chain_fail(c, st, "chain %zu: sampling failed at iteration %zu: %s", c->pub.index + 1, it + 1,
                   pmhmc_status_str(st));
        return -1;
    }
    c->theta = draw.theta;
    pmhmc_error err = {{0}};
    if (cb->transition && callback_failed(c, cb->transition(cb->ctx, &c->pub, it, &draw, &err), &err) != 0)
        return -1;
    return 0;
}

/* The chain ran to its end: its last point, its times. */
static void chain_finish(run_chain *c)
{
    const pmhmc_run_callbacks *cb = &c->run->cfg->callbacks;
    if (point(c, c->total, 1) != 0)
        return;
    const double end = now();
    if (c->warmup == c->total)
        c->sampling_start = end;
    pmhmc_error err = {{0}};
    if (cb->finished)
        callback_failed(c, cb->finished(cb->ctx, &c->pub, c->sampling_start - c->t0, end - c->sampling_start, &err),
                        &err);
}

static void run_chain_body(run_chain *c)
{
    if (chain_begin(c) != 0)
        return;
    for (size_t it = c->first; it < c->total; ++it) {
        if (chain_leaves(c, it) || chain_transition(c, it) != 0)
            return;
        if (it + 1 == c->warmup && end_warmup(c, c->theta) != 0)
            return;
        if (point(c, it + 1, 0) != 0)
            return;
    }
    chain_finish(c);
}

/* A worker: chains in order of index, each start to end; its sampler and
 * model are freed as it ends, so only the running chains hold memory. */
static void *worker(void *arg)
{
    run *r = arg;
    if (r->cfg->threads_per_chain > 0)
        omp_set_num_threads(r->cfg->threads_per_chain);
    for (;;) {
        const size_t k = atomic_fetch_add(&r->next, 1);
        if (k >= r->cfg->chains)
            return NULL;
        run_chain *c = &r->chains[k];
        run_chain_body(c);
        pmhmc_sampler_free(c->pub.sampler);
        c->pub.sampler = NULL;
        pmhmc_model_free(c->own_model);
        c->own_model = NULL;
        atomic_fetch_add(&r->done, 1);
    }
}

/* ---- lock step (algorithms whose chains are adapted together) ----
 * Rounds: every chain makes transition it (on the workers), then the
 * algorithm adapts across all of them (pmhmc_sampler_after_round, in chain
 * order on this thread), then, at the end of warm-up, each chain's noise
 * and warmup_done (on the workers), then every chain's point (here), so a
 * checkpoint holds the state after the round's adaptation. */

typedef void (*phase_fn)(run_chain *c, size_t it);

typedef struct phase {
    run *run;
    phase_fn fn;
    size_t it;
    atomic_size_t next;
} phase;

/* Every phase runs on threads of its own (and this one), each with the
 * run's OpenMP threads per chain: a new thread would start with all cores. */
static void *phase_worker(void *arg)
{
    phase *p = arg;
    if (p->run->cfg->threads_per_chain > 0)
        omp_set_num_threads(p->run->cfg->threads_per_chain);
    for (size_t k; (k = atomic_fetch_add(&p->next, 1)) < p->run->cfg->chains;)
        p->fn(&p->run->chains[k], p->it);
    return NULL;
}

/* fn on every chain, on up to W threads (this one too). */
static void parallel(run *r, size_t W, phase_fn fn, size_t it)
{
    phase p = {.run = r, .fn = fn, .it = it};
    atomic_init(&p.next, 0);
    pthread_t threads[PMHMC_RUN_MAX_WORKERS];
    size_t started = 0;
    for (; started + 1 < W; ++started)
        if (pthread_create(&threads[started], NULL, phase_worker, &p) != 0)
            break; /* fewer threads: the work is the same */
    phase_worker(&p);
    for (size_t w = 0; w < started; ++w)
        pthread_join(threads[w], NULL);
}

static void phase_begin(run_chain *c, size_t it)
{
    (void)it;
    c->ended = chain_begin(c) != 0;
}

static void phase_transition(run_chain *c, size_t it)
{
    if (!c->ended && chain_transition(c, it) != 0)
        c->ended = 1;
}

static void phase_end_warmup(run_chain *c, size_t it)
{
    (void)it;
    if (!c->ended && end_warmup(c, c->theta) != 0)
        c->ended = 1;
}

static void phase_finish(run_chain *c, size_t it)
{
    (void)it;
    chain_finish(c);
}

static void run_lockstep(run *r, size_t W)
{
    const pmhmc_run_config *cfg = r->cfg;
    const pmhmc_run_callbacks *cb = &cfg->callbacks;
    const size_t K = cfg->chains;
    pmhmc_sampler **samplers = calloc(K, sizeof *samplers);
    if (!samplers) {
        chain_fail(&r->chains[0], PMHMC_ERR_NOMEM, "chain 1: no memory for the run's rounds");
        return;
    }
    parallel(r, W, phase_begin, 0);
    int ok = !atomic_load(&r->failed);
    for (size_t k = 0; ok && k < K; ++k) {
        samplers[k] = r->chains[k].pub.sampler;
        if (r->chains[k].first != r->chains[0].first) {
            chain_fail(&r->chains[k], PMHMC_ERR_CONFIG,
                       "chain %zu: resumed at iteration %zu, chain 1 at %zu: %s moves its chains in lock step",
                       k + 1, r->chains[k].first, r->chains[0].first, pmhmc_algorithm_by_id(cfg->sampler.algorithm)->title);
            ok = 0;
        }
    }
    pmhmc_status st = ok ? pmhmc_sampler_after_round(samplers, K) : PMHMC_OK;
    if (st != PMHMC_OK) {
        chain_fail(&r->chains[0], st, "chain 1: adapting across chains: %s", pmhmc_status_str(st));
        ok = 0;
    }
    const size_t first = r->chains[0].first, total = r->chains[0].total, warmup = r->chains[0].warmup;
    double last_tick = now();
    size_t it = first;
    for (; ok && it < total; ++it) {
        if (cb->tick && now() - last_tick >= 0.2) {
            cb->tick(cb->ctx);
            last_tick = now();
        }
        if (cb->stop_requested && cb->stop_requested(cb->ctx)) {
            for (size_t k = 0; k < K; ++k) {
                r->chains[k].result->stopped = 1;
                point(&r->chains[k], it, 1);
            }
            break;
        }
        parallel(r, W, phase_transition, it);
        if (atomic_load(&r->failed))
            break;
        if ((st = pmhmc_sampler_after_round(samplers, K)) != PMHMC_OK) {
            chain_fail(&r->chains[0], st, "chain 1: adapting across chains after iteration %zu: %s", it + 1,
                       pmhmc_status_str(st));
            break;
        }
        if (it + 1 == warmup) {
            parallel(r, W, phase_end_warmup, it);
            if (atomic_load(&r->failed))
                break;
        }
        for (size_t k = 0; k < K && !atomic_load(&r->failed); ++k)
            point(&r->chains[k], it + 1, 0);
    }
    if (atomic_load(&r->failed)) {
        for (size_t k = 0; k < K; ++k)
            if (r->results[k].status == PMHMC_OK)
                r->results[k].cancelled = 1;
    } else if (it == total && !r->chains[0].result->stopped) {
        parallel(r, W, phase_finish, total);
    }
    free(samplers);
}

size_t pmhmc_run_workers(const pmhmc_run_config *cfg)
{
    const size_t w = cfg->workers ? cfg->workers : PMHMC_RUN_MAX_WORKERS;
    return w < cfg->chains ? w : cfg->chains;
}

static pmhmc_status check_config(const pmhmc_model *model, pmhmc_backend *backend, const pmhmc_run_config *cfg,
                                 const pmhmc_run_chain_result *results, pmhmc_error *err)
{
    if (!model || !backend || !cfg || !results)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "run: model, backend, config and results are required");
    if (cfg->chains < 1 || cfg->chains > PMHMC_RUN_MAX_CHAINS)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "run: %zu chains; from 1 to %d can run", cfg->chains,
                          PMHMC_RUN_MAX_CHAINS);
    if (pmhmc_algorithm_is_lockstep(cfg->sampler.algorithm) && cfg->chains < 2)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "run: %s adapts across chains: it needs at least 2 (16 or more "
                          "serve it better)", pmhmc_algorithm_by_id(cfg->sampler.algorithm)->title);
    if (cfg->workers > PMHMC_RUN_MAX_WORKERS)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "run: %zu workers; at most %d", cfg->workers,
                          PMHMC_RUN_MAX_WORKERS);
    if (cfg->auto_n && !(cfg->noise_target > 0.0))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "run: model.N = auto needs a positive noise target");
    return PMHMC_OK;
}

pmhmc_status pmhmc_run(const pmhmc_model *model, pmhmc_backend *backend, const pmhmc_run_config *cfg,
                       pmhmc_run_chain_result *results, pmhmc_error *err)
{
    pmhmc_status st = check_config(model, backend, cfg, results, err);
    if (st != PMHMC_OK)
        return st;
    const size_t K = cfg->chains, W = pmhmc_run_workers(cfg), dim = pmhmc_model_dim(model);
    run r = {.model = model, .backend = backend, .cfg = cfg, .results = results};
    atomic_init(&r.failed, 0);
    atomic_init(&r.next, 0);
    atomic_init(&r.done, 0);
    r.chains = calloc(K, sizeof *r.chains);
    pthread_t *threads = calloc(W, sizeof *threads);
    double *block = calloc(2 * K * dim + 1, sizeof *block);
    if (!r.chains || !threads || !block) {
        free(r.chains);
        free(threads);
        free(block);
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "run: no memory for %zu chains", K);
    }
    for (size_t k = 0; k < K; ++k) {
        run_chain *c = &r.chains[k];
        memset(&results[k], 0, sizeof results[k]);
        c->run = &r;
        c->result = &results[k];
        c->pub.index = k;
        c->pub.model = model;
        c->pub.user = cfg->chain_user ? cfg->chain_user[k] : NULL;
        c->theta0 = block + 2 * k * dim;
        c->inv_metric = c->theta0 + dim;
        if (cfg->theta0)
            memcpy(c->theta0, cfg->theta0 + k * dim, dim * sizeof *c->theta0);
        else
            pmhmc_model_initial(model, cfg->sampler.seed, (uint32_t)k, c->theta0);
    }
    st = PMHMC_OK;
    if (pmhmc_algorithm_is_lockstep(cfg->sampler.algorithm)) {
        run_lockstep(&r, W);
        for (size_t k = 0; k < K; ++k) {
            pmhmc_sampler_free(r.chains[k].pub.sampler);
            pmhmc_model_free(r.chains[k].own_model);
        }
    } else {
        size_t started = 0;
        for (; started < W; ++started) {
            int e = pthread_create(&threads[started], NULL, worker, &r);
            if (e != 0) {
                atomic_store(&r.failed, 1);
                st = pmhmc_fail(err, PMHMC_ERR_NOMEM, "run: cannot start worker thread %zu: %s", started + 1,
                                strerror(e));
                break;
            }
        }
        if (cfg->callbacks.tick && st == PMHMC_OK) {
            const struct timespec pause = {0, 200000000};
            while (atomic_load(&r.done) < K) {
                cfg->callbacks.tick(cfg->callbacks.ctx);
                nanosleep(&pause, NULL);
            }
        }
        for (size_t w = 0; w < started; ++w)
            pthread_join(threads[w], NULL);
    }
    for (size_t k = 0; k < K && st == PMHMC_OK; ++k)
        if (results[k].status != PMHMC_OK) {
            st = results[k].status;
            if (err)
                snprintf(err->message, sizeof err->message, "%s", results[k].err.message);
        }
    free(r.chains);
    free(threads);
    free(block);
    return st;
}
