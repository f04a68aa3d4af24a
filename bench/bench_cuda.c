/* CUDA estimator throughput and integrator-step latency (DESIGN §8).
 *
 *   bench_cuda [--reps R] [--quick]
 *
 * 1. Throughput of the estimator with all gradients, fused with the p kick
 *    and the (u, p) rotation (the integrator's B step: one pmhmc_ws_estimate
 *    with p and grad_theta requested), in terms per second, terms = N * sum_i
 *    n_i, over a grid of sizes from the paper's (T = 500, N = 128, n = 6,
 *    p = 8) to T = 20000, N = 4096, in float and double storage.
 * 2. Time per fused integrator step at the paper's size: the same call, which
 *    includes the launch, the kernel, and the round trip of dim + 1 doubles to
 *    the host; and, for comparison, the value-only call the integrator makes
 *    once per trajectory.
 *
 * Timing: host clock around each call (every estimate returns only after the
 * stream is synchronized and the result is on the host), after 3 warm-up
 * calls; repeats until R calls or 0.5 s (at least 5), median reported. A
 * tiny kick and angle keep u near N(0, I) over the repeats.
 *
 * Prints a table; when the environment variable OUT is set, also writes
 * $OUT/bench_cuda.csv. In a build without CUDA it says so and exits 0; with
 * no usable GPU it prints the reason and exits 0 (1 when PMHMC_REQUIRE_GPU=1). */
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

typedef struct bench_size {
    size_t T, N, n, p;
} bench_size;

typedef struct bench_result {
    double median_s, min_s, terms_per_s;
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

enum call_kind { CALL_FUSED, CALL_VALUE };

/* Times one kind of estimate call on a fresh data set and workspace. */
static int time_calls(pmhmc_backend *backend, const bench_size *sz, enum call_kind kind, int max_reps,
                      bench_result *res, char *why, size_t why_len)
{
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.T = sz->T;
    sim.n = sz->n;
    sim.p = sz->p;
    pmhmc_model_settings ms;
    pmhmc_model_settings_default(&ms);
    ms.n_importance = sz->N;
    pmhmc_dataset *data = NULL;
    pmhmc_model *model = NULL;
    pmhmc_workspace *ws = NULL;
    pmhmc_error err;
    memset(&err, 0, sizeof err);
    double *theta = calloc(sz->p + 5, sizeof *theta);
    double *grad = calloc(sz->p + 5, sizeof *grad);
    double *times = calloc((size_t)max_reps, sizeof *times);
    int rc = 1;
    pmhmc_status st;
    if (!theta || !grad || !times) {
        snprintf(why, why_len, "out of memory");
        goto done;
    }
    if ((st = pmhmc_simulate_glmm(&sim, &data, theta)) != PMHMC_OK) {
        snprintf(why, why_len, "simulate: %s", pmhmc_status_str(st));
        goto done;
    }
    if ((st = pmhmc_model_create(&ms, data, &model, &err)) != PMHMC_OK ||
        (st = pmhmc_workspace_create(backend, model, 2, &ws, &err)) != PMHMC_OK) {
        snprintf(why, why_len, "%s: %s", pmhmc_status_str(st), err.message);
        goto done;
    }
    if ((st = pmhmc_ws_normal(ws, 0, 7, 0, 0)) != PMHMC_OK || (st = pmhmc_ws_normal(ws, 1, 7, 0, 1)) != PMHMC_OK) {
        snprintf(why, why_len, "normal draws: %s", pmhmc_status_str(st));
        goto done;
    }

    pmhmc_estimate_request req;
    memset(&req, 0, sizeof req);
    req.theta = theta;
    req.u = 0;
    req.p = kind == CALL_FUSED ? 1 : -1;
    req.grad_u = -1;
    req.kick = 1e-6;
    req.angle = 1e-6;
    double *want_grad = kind == CALL_FUSED ? grad : NULL;
    double log_phat = 0.0;
    for (int w = 0; w < 3; ++w)
        if ((st = pmhmc_ws_estimate(ws, &req, &log_phat, want_grad)) != PMHMC_OK) {
            snprintf(why, why_len, "estimate: %s", pmhmc_status_str(st));
            goto done;
        }
    int reps = 0;
    const double t_start = now_seconds();
    while (reps < max_reps && (reps < 5 || now_seconds() - t_start < 0.5)) {
        double t0 = now_seconds();
        if ((st = pmhmc_ws_estimate(ws, &req, &log_phat, want_grad)) != PMHMC_OK) {
            snprintf(why, why_len, "estimate: %s", pmhmc_status_str(st));
            goto done;
        }
        times[reps++] = now_seconds() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    res->reps = reps;
    res->median_s = times[reps / 2];
    res->min_s = times[0];
    res->terms_per_s = pmhmc_model_terms(model) / res->median_s;
    if (!(log_phat == log_phat)) {
        snprintf(why, why_len, "log phat is NaN");
        goto done;
    }
    rc = 0;
done:
    pmhmc_workspace_free(ws);
    pmhmc_model_free(model);
    pmhmc_dataset_free(data);
    free(theta);
    free(grad);
    free(times);
    return rc;
}

int main(int argc, char **argv)
{
    int max_reps = 200, quick = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            max_reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else {
            fprintf(stderr, "usage: bench_cuda [--reps R] [--quick]\n");
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
    const pmhmc_precision precisions[] = {PMHMC_PRECISION_FLOAT, PMHMC_PRECISION_DOUBLE};
    const char *prec_names[] = {"float", "double"};

    FILE *csv = NULL;
    const char *out_dir = getenv("OUT");
    if (out_dir && out_dir[0]) {
        char path[4096];
        snprintf(path, sizeof path, "%s/bench_cuda.csv", out_dir);
        csv = fopen(path, "w");
        if (!csv)
            fprintf(stderr, "bench_cuda: cannot write %s\n", path);
        else
            fprintf(csv, "what,precision,T,N,n,p,terms,reps,median_s,min_s,terms_per_s\n");
    }

    int failed = 0;
    printf("estimator with all gradients, fused kick + rotation (one pmhmc_ws_estimate call)\n");
    printf("%-7s %6s %5s %2s %2s %11s %5s %11s %11s %12s\n", "prec", "T", "N", "n", "p", "terms", "reps",
           "median_us", "min_us", "terms/s");
    double step_us[2][2] = {{0}};
    for (int pi = 0; pi < 2; ++pi) {
        pmhmc_backend *backend = NULL;
        pmhmc_error err;
        memset(&err, 0, sizeof err);
        if (pmhmc_backend_create(PMHMC_BACKEND_CUDA, precisions[pi], &backend, &err) != PMHMC_OK) {
            printf("bench_cuda: cannot create the CUDA backend: %s\n", err.message);
            failed = 1;
            continue;
        }
        for (size_t s = 0; s < n_grid; ++s) {
            bench_result r;
            char why[600] = {0};
            if (time_calls(backend, &grid[s], CALL_FUSED, max_reps, &r, why, sizeof why)) {
                printf("%-7s %6zu %5zu  failed: %s\n", prec_names[pi], grid[s].T, grid[s].N, why);
                failed = 1;
                continue;
            }
            const double terms = (double)grid[s].T * (double)grid[s].n * (double)grid[s].N;
            printf("%-7s %6zu %5zu %2zu %2zu %11.4g %5d %11.1f %11.1f %12.4g\n", prec_names[pi], grid[s].T,
                   grid[s].N, grid[s].n, grid[s].p, terms, r.reps, r.median_s * 1e6, r.min_s * 1e6, r.terms_per_s);
            fflush(stdout);
            if (csv)
                fprintf(csv, "fused_estimate,%s,%zu,%zu,%zu,%zu,%.0f,%d,%.6g,%.6g,%.6g\n", prec_names[pi], grid[s].T,
                        grid[s].N, grid[s].n, grid[s].p, terms, r.reps, r.median_s, r.min_s, r.terms_per_s);
            if (s == 0)
                step_us[pi][0] = r.median_s * 1e6;
        }
        /* The value-only call at the paper's size. */
        bench_result r;
        char why[600] = {0};
        if (time_calls(backend, &grid[0], CALL_VALUE, max_reps, &r, why, sizeof why) == 0) {
            step_us[pi][1] = r.median_s * 1e6;
            if (csv)
                fprintf(csv, "value_only,%s,%zu,%zu,%zu,%zu,%.0f,%d,%.6g,%.6g,%.6g\n", prec_names[pi], grid[0].T,
                        grid[0].N, grid[0].n, grid[0].p, (double)grid[0].T * grid[0].n * grid[0].N, r.reps,
                        r.median_s, r.min_s, r.terms_per_s);
        } else {
            printf("%-7s value-only call failed: %s\n", prec_names[pi], why);
            failed = 1;
        }
        pmhmc_backend_free(backend);
    }
    printf("\nper call at the paper's size (T=500, N=128, n=6, p=8), host round trip included\n");
    printf("%-7s %16s %16s\n", "prec", "fused_step_us", "value_only_us");
    for (int pi = 0; pi < 2; ++pi)
        printf("%-7s %16.1f %16.1f\n", prec_names[pi], step_us[pi][0], step_us[pi][1]);
    if (csv)
        fclose(csv);
    return failed;
}

#endif
