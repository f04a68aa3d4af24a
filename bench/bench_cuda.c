/* CUDA estimator throughput and integrator-step latency (DESIGN §8).
 *
 *   bench_cuda [--reps R] [--quick] [--chains-only]
 *
 * --chains-only runs section 4 alone.
 *
 * 1. Throughput of the estimator with all gradients, fused with the p kick
 *    and the (u, p) rotation (the integrator's B step: one pmhmc_ws_estimate
 *    with p and grad_theta requested), in terms per second, terms = N * sum_i
 *    n_i, over a grid of sizes from the paper's (T = 500, N = 128, n = 6,
 *    p = 8) to T = 20000, N = 4096: float storage once per GLMM kernel
 *    variant (PMHMC_CUDA_GLMM_VARIANT: base, fast, fast128, fast_occ4; see
 *    kernels/glmm_estimator.cuh), then double storage.
 * 2. Time per integrator step at the paper's size, host loop included, for
 *    each trajectory mode (PMHMC_CUDA_TRAJECTORY): host (the sampler's loop,
 *    one estimate call and round trip per step), device (the backend's
 *    integrate op: L + 1 launches back to back, theta and rho updated on the
 *    device), graph (the same captured once into a CUDA graph and replayed):
 *    pmhmc_integrate with L = 20, h = 0.025, M = 10 I, time / L.
 * 3. Whole PM-HMC transitions per second at the paper's size (the report's
 *    settings: h = 0.025, L = 20, m = 10) per trajectory mode: what a user
 *    sees. The target is 2500 transitions/s per chain (20 us per
 *    step with L = 20).
 * 4. K chains on one GPU (K = 1, 2, 4, 8), float, default trajectory mode,
 *    L = 20, m = 10, at the paper's size and at T = 20000, N = 1024:
 *    aggregate PM-HMC transitions per second (all chains together) of
 *      stream per chain  K pthreads, each driving its own pmhmc_sampler
 *                        (chain k, own workspace, so own CUDA stream and
 *                        graph) on one shared backend and model;
 *      chain-dim proxy   the alternative, a chain dimension in the kernels,
 *                        by its cost proxy: one sampler on a data set of
 *                        K T groups (one launch covers K chains' groups: the
 *                        same blocks and launches as a fused K-chain kernel,
 *                        whose per-chain theta would differ only in a few
 *                        registers and per-chain reduction slots), its
 *                        transitions/s times K. It leaves out what a real
 *                        chain dimension adds (K result rows, per-chain
 *                        stop flags, K accept decisions on the host), so it
 *                        is an upper bound for that option.
 *    Each thread runs 3 untimed transitions (the graph is captured on the
 *    second), then all start together and run for a fixed time (at least 5
 *    transitions); aggregate = sum over threads of transitions / own elapsed
 *    time. h = 0.025 sqrt(500 / G) for a data set of G groups (the report's
 *    h at the paper's size; smaller for more groups, so that trajectories
 *    stay finite and every launch does its full work), theta starts at the
 *    simulation's truth.
 *
 * Timing: host clock around each call (every estimate, trajectory and
 * transition returns only after the stream is synchronized and its result is
 * on the host), after warm-up calls; repeats until R calls or 0.5 s (at least
 * 5), median reported. In 1. a tiny kick and angle keep u near N(0, I) over
 * the repeats; in 2. theta and rho are reset before each trajectory.
 *
 * Prints tables; when the environment variable OUT is set, also writes
 * $OUT/bench_cuda.csv (columns what, variant, precision, T, N, n, p, terms,
 * reps, median_s, min_s, per_s: terms/s, steps/s or transitions/s; for
 * section 4, what = chains_stream or chains_dim_proxy, variant = K<k>, reps =
 * transitions timed in all, median_s / min_s = the longest / shortest
 * thread's timed seconds, per_s = aggregate transitions/s). In a
 * build without CUDA it says so and exits 0; with no usable GPU it prints the
 * reason and exits 0 (1 when PMHMC_REQUIRE_GPU=1). */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pmhmc/pmhmc.h"

#ifndef PMHMC_HAVE_CUDA

int main(void)
{
    printf("bench_cuda: the CUDA backend is not built (configure with -DPMHMC_CUDA=ON); nothing to time\n");
    return 0;
}

#else

#include "sampler/integrator.h"

typedef struct bench_size {
    size_t T, N, n, p;
} bench_size;

typedef struct bench_result {
    double median_s, min_s, per_s;
    int reps;
} bench_result;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarize(double *times, int reps, double work, bench_result *res)
{
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    res->reps = reps;
    res->median_s = times[reps / 2];
    res->min_s = times[0];
    res->per_s = work / res->median_s;
}

/* A CUDA backend created with the environment variable `var` set to value
 * (NULL: unset), restored afterwards. */
static pmhmc_status make_backend(pmhmc_precision precision, const char *var, const char *value,
                                 pmhmc_backend **out, pmhmc_error *err)
{
    const char *old = getenv(var);
    char saved[64] = {0};
    if (old)
        snprintf(saved, sizeof saved, "%s", old);
    if (value)
        setenv(var, value, 1);
    else
        unsetenv(var);
    pmhmc_status st = pmhmc_backend_create(PMHMC_BACKEND_CUDA, precision, out, err);
    if (old)
        setenv(var, saved, 1);
    else
        unsetenv(var);
    return st;
}

/* Data, model and a 2-vector workspace (u = 0, p = 1, both N(0, I)) for one size. */
typedef struct bench_problem {
    pmhmc_dataset *data;
    pmhmc_model *model;
    pmhmc_workspace *ws;
    double *theta; /* [dim] the simulation's truth */
    size_t dim;
} bench_problem;

static void problem_free(bench_problem *pr)
{
    pmhmc_workspace_free(pr->ws);
    pmhmc_model_free(pr->model);
    pmhmc_dataset_free(pr->data);
    free(pr->theta);
    memset(pr, 0, sizeof *pr);
}

static int problem_make(pmhmc_backend *backend, const bench_size *sz, bench_problem *pr, char *why, size_t why_len)
{
    memset(pr, 0, sizeof *pr);
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.T = sz->T;
    sim.n = sz->n;
    sim.p = sz->p;
    pmhmc_model_settings ms;
    pmhmc_model_settings_default(&ms);
    ms.n_importance = sz->N;
    ms.proposal = PMHMC_PROPOSAL_FIXED; /* the CUDA kernels' (and the CPU rows beside them) */
    pmhmc_error err;
    memset(&err, 0, sizeof err);
    pmhmc_status st;
    pr->dim = sz->p + 5;
    pr->theta = calloc(pr->dim, sizeof *pr->theta);
    if (!pr->theta) {
        snprintf(why, why_len, "out of memory");
        return 1;
    }
    if ((st = pmhmc_simulate_glmm(&sim, &pr->data, pr->theta)) != PMHMC_OK) {
        snprintf(why, why_len, "simulate: %s", pmhmc_status_str(st));
        return 1;
    }
    if ((st = pmhmc_model_create(&ms, pr->data, &pr->model, &err)) != PMHMC_OK ||
        (st = pmhmc_workspace_create(backend, pr->model, 2, &pr->ws, &err)) != PMHMC_OK) {
        snprintf(why, why_len, "%s: %s", pmhmc_status_str(st), err.message);
        return 1;
    }
    if ((st = pmhmc_ws_normal(pr->ws, 0, 7, 0, 0)) != PMHMC_OK || (st = pmhmc_ws_normal(pr->ws, 1, 7, 0, 1)) != PMHMC_OK) {
        snprintf(why, why_len, "normal draws: %s", pmhmc_status_str(st));
        return 1;
    }
    return 0;
}

enum call_kind { CALL_FUSED, CALL_VALUE };

/* Times one kind of estimate call on a fresh data set and workspace. */
static int time_calls(pmhmc_backend *backend, const bench_size *sz, enum call_kind kind, int max_reps,
                      bench_result *res, char *why, size_t why_len)
{
    bench_problem pr;
    double *grad = calloc(sz->p + 5, sizeof *grad);
    double *times = calloc((size_t)max_reps, sizeof *times);
    int rc = 1;
    pmhmc_status st;
    if (!grad || !times) {
        snprintf(why, why_len, "out of memory");
        memset(&pr, 0, sizeof pr);
        goto done;
    }
    if (problem_make(backend, sz, &pr, why, why_len))
        goto done;

    pmhmc_estimate_request req;
    memset(&req, 0, sizeof req);
    req.theta = pr.theta;
    req.u = 0;
    req.p = kind == CALL_FUSED ? 1 : -1;
    req.grad_u = -1;
    req.kick = 1e-6;
    req.angle = 1e-6;
    double *want_grad = kind == CALL_FUSED ? grad : NULL;
    double log_phat = 0.0;
    for (int w = 0; w < 3; ++w)
        if ((st = pmhmc_ws_estimate(pr.ws, &req, &log_phat, want_grad)) != PMHMC_OK) {
            snprintf(why, why_len, "estimate: %s", pmhmc_status_str(st));
            goto done;
        }
    int reps = 0;
    const double t_start = now_seconds();
    while (reps < max_reps && (reps < 5 || now_seconds() - t_start < 0.5)) {
        double t0 = now_seconds();
        if ((st = pmhmc_ws_estimate(pr.ws, &req, &log_phat, want_grad)) != PMHMC_OK) {
            snprintf(why, why_len, "estimate: %s", pmhmc_status_str(st));
            goto done;
        }
        times[reps++] = now_seconds() - t0;
    }
    summarize(times, reps, pmhmc_model_terms(pr.model), res);
    if (!(log_phat == log_phat)) {
        snprintf(why, why_len, "log phat is NaN");
        goto done;
    }
    rc = 0;
done:
    problem_free(&pr);
    free(grad);
    free(times);
    return rc;
}

/* Times pmhmc_integrate (L steps of size h, M = 10 I) at one size: per-step
 * seconds in res (median over trajectories / L). */
static int time_trajectories(pmhmc_backend *backend, const bench_size *sz, size_t L, double h, int max_reps,
                             bench_result *res, char *why, size_t why_len)
{
    bench_problem pr;
    const size_t dim = sz->p + 5;
    double *buf = calloc(6 * dim, sizeof *buf);
    double *times = calloc((size_t)max_reps, sizeof *times);
    int rc = 1;
    if (!buf || !times) {
        snprintf(why, why_len, "out of memory");
        memset(&pr, 0, sizeof pr);
        goto done;
    }
    if (problem_make(backend, sz, &pr, why, why_len))
        goto done;
    double *theta = buf, *rho = buf + dim, *inv_mass = buf + 2 * dim, *grad = buf + 3 * dim,
           *prior_grad = buf + 4 * dim, *rho0 = buf + 5 * dim;
    for (size_t i = 0; i < dim; ++i) {
        inv_mass[i] = 0.1;
        rho0[i] = (i % 2 ? 1.0 : -1.0) * 0.5 * sqrt(10.0);
    }
    pmhmc_integrator integ = {.model = pr.model, .ws = pr.ws, .inv_mass = inv_mass, .grad = grad, .prior_grad = prior_grad};
    int reps = 0, stopped = 0;
    double t_start = 0.0;
    for (int it = -3; reps < max_reps && (reps < 5 || now_seconds() - t_start < 0.5); ++it) {
        memcpy(theta, pr.theta, dim * sizeof *theta);
        memcpy(rho, rho0, dim * sizeof *rho);
        pmhmc_phase_point z = {theta, rho, 0, 1, 0.0, 0.0};
        if (it == 0)
            t_start = now_seconds();
        const double t0 = now_seconds();
        pmhmc_status st = pmhmc_integrate(&integ, &z, h, L);
        const double t1 = now_seconds();
        if (st != PMHMC_OK) {
            snprintf(why, why_len, "integrate: %s", pmhmc_status_str(st));
            goto done;
        }
        if (!isfinite(z.log_phat))
            stopped = 1;
        if (it >= 0)
            times[reps++] = (t1 - t0) / (double)L;
    }
    summarize(times, reps, 1.0, res);
    if (stopped) {
        snprintf(why, why_len, "a trajectory stopped early (non-finite log phat): timing not comparable");
        goto done;
    }
    rc = 0;
done:
    problem_free(&pr);
    free(buf);
    free(times);
    return rc;
}

/* Times whole PM-HMC transitions (the report's settings) at one size. */
static int time_transitions(pmhmc_backend *backend, const bench_size *sz, int max_reps, bench_result *res,
                            double *accept_rate, char *why, size_t why_len)
{
    bench_problem pr;
    double *times = calloc((size_t)max_reps, sizeof *times);
    pmhmc_sampler *s = NULL;
    int rc = 1;
    if (!times) {
        snprintf(why, why_len, "out of memory");
        memset(&pr, 0, sizeof pr);
        goto done;
    }
    if (problem_make(backend, sz, &pr, why, why_len))
        goto done;
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    pmhmc_error err;
    memset(&err, 0, sizeof err);
    pmhmc_status st = pmhmc_sampler_create(pr.model, backend, &cfg, NULL, &s, &err);
    if (st != PMHMC_OK) {
        snprintf(why, why_len, "sampler: %s: %s", pmhmc_status_str(st), err.message);
        goto done;
    }
    int reps = 0, accepted = 0;
    double t_start = 0.0;
    for (int it = -5; reps < max_reps && (reps < 5 || now_seconds() - t_start < 0.5); ++it) {
        pmhmc_draw d;
        if (it == 0)
            t_start = now_seconds();
        const double t0 = now_seconds();
        st = pmhmc_sampler_step(s, &d);
        const double t1 = now_seconds();
        if (st != PMHMC_OK) {
            snprintf(why, why_len, "sampler step: %s", pmhmc_status_str(st));
            goto done;
        }
        if (it >= 0) {
            times[reps++] = t1 - t0;
            accepted += d.accepted;
        }
    }
    summarize(times, reps, 1.0, res);
    *accept_rate = (double)accepted / reps;
    rc = 0;
done:
    pmhmc_sampler_free(s);
    problem_free(&pr);
    free(times);
    return rc;
}

static FILE *csv;

static void csv_row(const char *what, const char *variant, const char *prec, const bench_size *sz, double terms,
                    const bench_result *r)
{
    if (csv)
        fprintf(csv, "%s,%s,%s,%zu,%zu,%zu,%zu,%.0f,%d,%.6g,%.6g,%.6g\n", what, variant, prec, sz->T, sz->N, sz->n,
                sz->p, terms, r->reps, r->median_s, r->min_s, r->per_s);
}

/* ---- 4. K chains on one GPU ---------------------------------------------------- */

/* One chain's thread: untimed warm-up transitions, the start line, then
 * transitions until `seconds` have passed (and at least min_count). */
typedef struct chain_start {
    atomic_int ready; /* threads done with their warm-up */
    atomic_int go;    /* set by the main thread once all are ready */
} chain_start;

typedef struct chain_job {
    pmhmc_sampler *sampler;
    chain_start *start;
    int warmup, min_count;
    double seconds;
    /* results */
    pmhmc_status st;
    long count, accepted;
    double elapsed;
} chain_job;

static void *chain_thread(void *arg)
{
    chain_job *j = arg;
    pmhmc_draw d;
    j->st = PMHMC_OK;
    for (int w = 0; w < j->warmup && j->st == PMHMC_OK; ++w)
        j->st = pmhmc_sampler_step(j->sampler, &d);
    atomic_fetch_add(&j->start->ready, 1); /* failed or not */
    while (!atomic_load(&j->start->go))
        sched_yield();
    if (j->st != PMHMC_OK)
        return NULL;
    const double t0 = now_seconds();
    double t = t0;
    while (j->count < j->min_count || t - t0 < j->seconds) {
        if ((j->st = pmhmc_sampler_step(j->sampler, &d)) != PMHMC_OK)
            return NULL;
        j->count++;
        j->accepted += d.accepted;
        t = now_seconds();
    }
    j->elapsed = t - t0;
    return NULL;
}

/* Simulated data and model (no workspace) for T groups; theta [p + 5]
 * receives the truth. */
static int model_make(const bench_size *sz, size_t T, pmhmc_dataset **data, pmhmc_model **model, double *theta,
                      char *why, size_t why_len)
{
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.T = T;
    sim.n = sz->n;
    sim.p = sz->p;
    pmhmc_model_settings ms;
    pmhmc_model_settings_default(&ms);
    ms.n_importance = sz->N;
    ms.proposal = PMHMC_PROPOSAL_FIXED; /* the CUDA kernels' (and the CPU rows beside them) */
    pmhmc_error err;
    memset(&err, 0, sizeof err);
    pmhmc_status st;
    *data = NULL;
    *model = NULL;
    if ((st = pmhmc_simulate_glmm(&sim, data, theta)) != PMHMC_OK) {
        snprintf(why, why_len, "simulate: %s", pmhmc_status_str(st));
        return 1;
    }
    if ((st = pmhmc_model_create(&ms, *data, model, &err)) != PMHMC_OK) {
        snprintf(why, why_len, "model: %s: %s", pmhmc_status_str(st), err.message);
        return 1;
    }
    return 0;
}

/* n_chains threads, each with its own sampler (chain k) on one backend and
 * one model of `groups` groups: aggregate transitions/s in res->per_s. */
static int time_chains(pmhmc_backend *backend, const bench_size *sz, size_t groups, int n_chains, double seconds,
                       bench_result *res, double *accept_rate, char *why, size_t why_len)
{
    pmhmc_dataset *data = NULL;
    pmhmc_model *model = NULL;
    const size_t dim = sz->p + 5;
    double *theta = calloc(dim, sizeof *theta);
    pmhmc_sampler **samplers = calloc((size_t)n_chains, sizeof *samplers);
    chain_job *jobs = calloc((size_t)n_chains, sizeof *jobs);
    pthread_t *threads = calloc((size_t)n_chains, sizeof *threads);
    chain_start start;
    atomic_init(&start.ready, 0);
    atomic_init(&start.go, 0);
    int started = 0, rc = 1;
    if (!theta || !samplers || !jobs || !threads) {
        snprintf(why, why_len, "out of memory");
        goto done;
    }
    if (model_make(sz, groups, &data, &model, theta, why, why_len))
        goto done;
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.step_size = 0.025 * sqrt(500.0 / (double)groups);
    for (int k = 0; k < n_chains; ++k) {
        pmhmc_error err;
        memset(&err, 0, sizeof err);
        cfg.chain = (uint32_t)k;
        pmhmc_status st = pmhmc_sampler_create(model, backend, &cfg, theta, &samplers[k], &err);
        if (st != PMHMC_OK) {
            snprintf(why, why_len, "sampler %d: %s: %s", k, pmhmc_status_str(st), err.message);
            goto done;
        }
    }
    for (int k = 0; k < n_chains; ++k) {
        jobs[k] = (chain_job){.sampler = samplers[k], .start = &start, .warmup = 3, .min_count = 5, .seconds = seconds};
        if (pthread_create(&threads[k], NULL, chain_thread, &jobs[k]) != 0) {
            snprintf(why, why_len, "pthread_create failed for chain %d", k);
            break;
        }
        started++;
    }
    while (atomic_load(&start.ready) < started)
        sched_yield();
    atomic_store(&start.go, 1); /* all warmed up: start the clocks together */
    for (int k = 0; k < started; ++k)
        pthread_join(threads[k], NULL);
    if (started < n_chains)
        goto done;
    long total = 0, accepted = 0;
    double rate = 0.0, longest = 0.0, shortest = INFINITY;
    for (int k = 0; k < n_chains; ++k) {
        if (jobs[k].st != PMHMC_OK) {
            snprintf(why, why_len, "chain %d: sampler step: %s", k, pmhmc_status_str(jobs[k].st));
            goto done;
        }
        total += jobs[k].count;
        accepted += jobs[k].accepted;
        rate += (double)jobs[k].count / jobs[k].elapsed;
        longest = fmax(longest, jobs[k].elapsed);
        shortest = fmin(shortest, jobs[k].elapsed);
    }
    res->reps = (int)total;
    res->median_s = longest;
    res->min_s = shortest;
    res->per_s = rate;
    *accept_rate = (double)accepted / (double)total;
    rc = 0;
done:
    for (int k = 0; samplers && k < n_chains; ++k)
        pmhmc_sampler_free(samplers[k]);
    pmhmc_model_free(model);
    pmhmc_dataset_free(data);
    free(theta);
    free(samplers);
    free(jobs);
    free(threads);
    return rc;
}

/* Section 4; returns nonzero when something failed. */
static int run_chains_section(int quick)
{
    const bench_size sizes[2] = {{500, 128, 6, 8}, {20000, 1024, 6, 8}};
    const double seconds[2] = {quick ? 0.2 : 0.6, quick ? 0.3 : 1.0};
    const int ks[4] = {1, 2, 4, 8};
    double stream_rate[2][4] = {{0}}, proxy_rate[2][4] = {{0}}, stream_acc[2][4] = {{0}}, proxy_acc[2][4] = {{0}};
    int failed = 0;
    pmhmc_backend *backend = NULL;
    pmhmc_error err;
    memset(&err, 0, sizeof err);
    if (make_backend(PMHMC_PRECISION_FLOAT, "PMHMC_CUDA_TRAJECTORY", NULL, &backend, &err) != PMHMC_OK) {
        printf("bench_cuda: cannot create the CUDA backend (float, default mode): %s\n", err.message);
        return 1;
    }
    for (int si = 0; si < 2; ++si) {
        const bench_size *sz = &sizes[si];
        const double terms = (double)sz->T * sz->n * sz->N;
        for (int ki = 0; ki < 4; ++ki) {
            const int K = ks[ki];
            char variant[16], why[600] = {0};
            snprintf(variant, sizeof variant, "K%d", K);
            bench_result r;
            double acc = 0.0;
            if (time_chains(backend, sz, sz->T, K, seconds[si], &r, &acc, why, sizeof why) == 0) {
                stream_rate[si][ki] = r.per_s;
                stream_acc[si][ki] = acc;
                csv_row("chains_stream", variant, "float", sz, terms, &r);
            } else {
                printf("stream per chain, T=%zu N=%zu K=%d failed: %s\n", sz->T, sz->N, K, why);
                failed = 1;
            }
            if (time_chains(backend, sz, (size_t)K * sz->T, 1, seconds[si], &r, &acc, why, sizeof why) == 0) {
                proxy_rate[si][ki] = r.per_s * K;
                proxy_acc[si][ki] = acc;
                r.per_s *= K;
                csv_row("chains_dim_proxy", variant, "float", sz, terms, &r);
            } else {
                printf("chain-dim proxy, T=%zu N=%zu K=%d (%zu groups) failed: %s\n", sz->T, sz->N, K,
                       (size_t)K * sz->T, why);
                failed = 1;
            }
        }
    }
    pmhmc_backend_free(backend);

    printf("\n4. K chains on one GPU: aggregate PM-HMC transitions/s (float, default trajectory mode, L=20, m=10,\n"
           "   h=0.025*sqrt(500/groups)). stream/chain: K pthreads, own sampler + workspace + stream each, one\n"
           "   backend. chain-dim proxy: one sampler on K*T groups (one launch covers K chains' groups; same\n"
           "   blocks and launches as a chain-dimension kernel), its transitions/s x K: an upper bound for\n"
           "   that option (it leaves out per-chain reduction rows, stop flags and accept decisions).\n");
    printf("%-16s %2s %14s %14s %8s   (acceptance stream / proxy)\n", "size", "K", "stream/chain", "chain-dim",
           "ratio");
    for (int si = 0; si < 2; ++si) {
        char label[32];
        snprintf(label, sizeof label, "T=%zu N=%zu", sizes[si].T, sizes[si].N);
        for (int ki = 0; ki < 4; ++ki)
            printf("%-16s %2d %14.0f %14.0f %8.2f   (%.2f / %.2f)\n", label, ks[ki], stream_rate[si][ki],
                   proxy_rate[si][ki], proxy_rate[si][ki] > 0 ? stream_rate[si][ki] / proxy_rate[si][ki] : 0.0,
                   stream_acc[si][ki], proxy_acc[si][ki]);
    }
    printf("   ratio = stream/chain over chain-dim; K=1 runs the same thing twice (their ratio is the noise)\n");
    for (int si = 0; si < 2; ++si) {
        /* geometric mean of the ratios over K >= 2 */
        double log_sum = 0.0;
        int n = 0;
        for (int ki = 1; ki < 4; ++ki)
            if (stream_rate[si][ki] > 0 && proxy_rate[si][ki] > 0) {
                log_sum += log(stream_rate[si][ki] / proxy_rate[si][ki]);
                n++;
            }
        const double g = n ? exp(log_sum / n) : 0.0;
        printf("faster K-chain option at T=%zu N=%zu: %s (stream/chain over chain-dim, geometric mean over "
               "K=2,4,8: %.2f%s; K=8: %.0f vs %.0f transitions/s)\n",
               sizes[si].T, sizes[si].N,
               !n ? "unknown (runs failed)" : g >= 1.0 ? "stream per chain" : "chain dimension",
               g, n && g > 0.95 && g < 1.05 ? ", within 5%: a tie" : "", stream_rate[si][3], proxy_rate[si][3]);
    }
    return failed;
}

int main(int argc, char **argv)
{
    int max_reps = 200, quick = 0, chains_only = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            max_reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--chains-only") == 0)
            chains_only = 1;
        else {
            fprintf(stderr, "usage: bench_cuda [--reps R] [--quick] [--chains-only]\n");
            return 1;
        }
    }
    if (max_reps < 5)
        max_reps = 5;
    const char *req_gpu = getenv("PMHMC_REQUIRE_GPU");
    char reason[256] = {0};
    if (!pmhmc_cuda_usable(reason, sizeof reason)) {
        printf("bench_cuda: no usable GPU: %s\n", reason);
        return req_gpu && strcmp(req_gpu, "1") == 0 ? 1 : 0;
    }

    const bench_size grid[] = {
        {500, 128, 6, 8},    {2000, 512, 6, 8},    {5000, 1024, 6, 8},
        {20000, 1024, 6, 8}, {20000, 4096, 6, 8},
    };
    const size_t n_grid = quick ? 2 : sizeof grid / sizeof grid[0];
    const bench_size *paper = &grid[0];
    const double paper_terms = (double)paper->T * paper->n * paper->N;

    const char *out_dir = getenv("OUT");
    if (out_dir && out_dir[0]) {
        char path[4096];
        snprintf(path, sizeof path, "%s/bench_cuda.csv", out_dir);
        csv = fopen(path, "w");
        if (!csv)
            fprintf(stderr, "bench_cuda: cannot write %s\n", path);
        else
            fprintf(csv, "what,variant,precision,T,N,n,p,terms,reps,median_s,min_s,per_s\n");
    }

    if (chains_only) {
        const int f = run_chains_section(quick);
        if (csv)
            fclose(csv);
        return f;
    }

    /* 1. Throughput: float per kernel variant, then double. */
    struct {
        pmhmc_precision prec;
        const char *prec_name, *variant;
    } runs[] = {
        {PMHMC_PRECISION_FLOAT, "float", "base"},     {PMHMC_PRECISION_FLOAT, "float", "fast"},
        {PMHMC_PRECISION_FLOAT, "float", "fast128"},  {PMHMC_PRECISION_FLOAT, "float", "fast_occ4"},
        {PMHMC_PRECISION_DOUBLE, "double", "base"},
    };
    const size_t n_runs = sizeof runs / sizeof runs[0];
    int failed = 0;
    printf("1. estimator with all gradients, fused kick + rotation (one pmhmc_ws_estimate call)\n");
    printf("%-7s %-9s %6s %5s %2s %2s %11s %5s %11s %11s %12s\n", "prec", "variant", "T", "N", "n", "p", "terms",
           "reps", "median_us", "min_us", "terms/s");
    double best_large = 0.0;
    const char *best_variant = "?";
    for (size_t ri = 0; ri < n_runs; ++ri) {
        pmhmc_backend *backend = NULL;
        pmhmc_error err;
        memset(&err, 0, sizeof err);
        if (make_backend(runs[ri].prec, "PMHMC_CUDA_GLMM_VARIANT", runs[ri].variant, &backend, &err) != PMHMC_OK) {
            printf("bench_cuda: cannot create the CUDA backend (%s %s): %s\n", runs[ri].prec_name, runs[ri].variant,
                   err.message);
            failed = 1;
            continue;
        }
        for (size_t s = 0; s < n_grid; ++s) {
            bench_result r;
            char why[600] = {0};
            if (time_calls(backend, &grid[s], CALL_FUSED, max_reps, &r, why, sizeof why)) {
                printf("%-7s %-9s %6zu %5zu  failed: %s\n", runs[ri].prec_name, runs[ri].variant, grid[s].T,
                       grid[s].N, why);
                failed = 1;
                continue;
            }
            const double terms = (double)grid[s].T * (double)grid[s].n * (double)grid[s].N;
            printf("%-7s %-9s %6zu %5zu %2zu %2zu %11.4g %5d %11.1f %11.1f %12.4g\n", runs[ri].prec_name,
                   runs[ri].variant, grid[s].T, grid[s].N, grid[s].n, grid[s].p, terms, r.reps, r.median_s * 1e6,
                   r.min_s * 1e6, r.per_s);
            fflush(stdout);
            csv_row("fused_estimate", runs[ri].variant, runs[ri].prec_name, &grid[s], terms, &r);
            if (runs[ri].prec == PMHMC_PRECISION_FLOAT && s + 1 == n_grid && r.per_s > best_large) {
                best_large = r.per_s;
                best_variant = runs[ri].variant;
            }
        }
        pmhmc_backend_free(backend);
    }
    printf("fastest float variant at the largest size: %s (%.4g terms/s)\n", best_variant, best_large);

    /* 2. and 3.: step latency and transitions per trajectory mode. */
    const char *modes[] = {"host", "device", "graph"};
    const pmhmc_precision precs[] = {PMHMC_PRECISION_FLOAT, PMHMC_PRECISION_DOUBLE};
    const char *prec_names[] = {"float", "double"};
    double step_us[2][3] = {{0}}, value_us[2] = {0}, fused_us[2] = {0}, trans_per_s[2][3] = {{0}};
    double acc_rate[2][3] = {{0}};
    for (int pi = 0; pi < 2; ++pi) {
        for (int mi = 0; mi < 3; ++mi) {
            pmhmc_backend *backend = NULL;
            pmhmc_error err;
            memset(&err, 0, sizeof err);
            if (make_backend(precs[pi], "PMHMC_CUDA_TRAJECTORY", modes[mi], &backend, &err) != PMHMC_OK) {
                printf("bench_cuda: cannot create the CUDA backend (%s %s): %s\n", prec_names[pi], modes[mi],
                       err.message);
                failed = 1;
                continue;
            }
            bench_result r;
            char why[600] = {0};
            if (mi == 0) { /* the single calls, for reference */
                if (time_calls(backend, paper, CALL_FUSED, max_reps, &r, why, sizeof why) == 0) {
                    fused_us[pi] = r.median_s * 1e6;
                    csv_row("fused_call", "-", prec_names[pi], paper, paper_terms, &r);
                }
                if (time_calls(backend, paper, CALL_VALUE, max_reps, &r, why, sizeof why) == 0) {
                    value_us[pi] = r.median_s * 1e6;
                    csv_row("value_only_call", "-", prec_names[pi], paper, paper_terms, &r);
                }
            }
            if (time_trajectories(backend, paper, 20, 0.025, max_reps, &r, why, sizeof why) == 0) {
                step_us[pi][mi] = r.median_s * 1e6;
                csv_row("integrator_step", modes[mi], prec_names[pi], paper, paper_terms, &r);
            } else {
                printf("%s %s trajectory failed: %s\n", prec_names[pi], modes[mi], why);
                failed = 1;
            }
            double ar = 0.0;
            if (time_transitions(backend, paper, max_reps, &r, &ar, why, sizeof why) == 0) {
                trans_per_s[pi][mi] = r.per_s;
                acc_rate[pi][mi] = ar;
                csv_row("transition", modes[mi], prec_names[pi], paper, paper_terms, &r);
            } else {
                printf("%s %s transitions failed: %s\n", prec_names[pi], modes[mi], why);
                failed = 1;
            }
            pmhmc_backend_free(backend);
        }
    }
    printf("\n2. per call and per integrator step at the paper's size (T=500, N=128, n=6, p=8), host included\n");
    printf("   single calls: fused estimate / value-only; steps: pmhmc_integrate with L=20, time / L\n");
    printf("%-7s %9s %9s %9s %9s %9s\n", "prec", "fused_us", "value_us", "host_us", "device_us", "graph_us");
    for (int pi = 0; pi < 2; ++pi)
        printf("%-7s %9.1f %9.1f %9.1f %9.1f %9.1f\n", prec_names[pi], fused_us[pi], value_us[pi], step_us[pi][0],
               step_us[pi][1], step_us[pi][2]);
    printf("\n3. PM-HMC transitions per second at the paper's size (h=0.025, L=20, m=10; target 2500/s)\n");
    printf("%-7s %12s %12s %12s   (acceptance host/device/graph)\n", "prec", "host", "device", "graph");
    for (int pi = 0; pi < 2; ++pi)
        printf("%-7s %12.0f %12.0f %12.0f   (%.2f %.2f %.2f)\n", prec_names[pi], trans_per_s[pi][0],
               trans_per_s[pi][1], trans_per_s[pi][2], acc_rate[pi][0], acc_rate[pi][1], acc_rate[pi][2]);
    fflush(stdout);

    /* 4. K chains on one GPU. */
    if (run_chains_section(quick))
        failed = 1;
    if (csv)
        fclose(csv);
    return failed;
}

#endif
