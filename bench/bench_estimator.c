/* CPU estimator throughput: the fused estimator-with-all-gradients pass (the
 * integrator's B step with its kick and rotation) at the paper's size and at
 * T = 5000, N = 1024, with the fixed and the laplace proposals (laplace also
 * at N = 16, where its per-group mode searches dominate), in terms per
 * second (terms = N * sum_i n_i), for 1 and 2 OpenMP threads.
 *
 *   bench_estimator [--reps R] [--csv FILE]
 *
 * Reports the median of R timed passes after two warm-up passes. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pmhmc/pmhmc.h"

typedef struct bench_size {
    size_t T, N, n, p;
    pmhmc_proposal_kind proposal;
} bench_size;

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

static int run(const bench_size *sz, int threads, int reps, double *terms_per_s, double *median_s)
{
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.T = sz->T;
    sim.n = sz->n;
    sim.p = sz->p;
    pmhmc_dataset *data = NULL;
    double theta[64];
    pmhmc_model_settings ms;
    pmhmc_model_settings_default(&ms);
    ms.n_importance = sz->N;
    ms.proposal = sz->proposal;
    pmhmc_model *model = NULL;
    pmhmc_backend *backend = NULL;
    pmhmc_workspace *ws = NULL;
    pmhmc_error err = {{0}};
    int rc = 1;
    double *times = calloc((size_t)reps, sizeof *times);
    if (!times || pmhmc_simulate_glmm(&sim, &data, theta) != PMHMC_OK ||
        pmhmc_model_create(&ms, data, &model, &err) != PMHMC_OK ||
        pmhmc_backend_create(PMHMC_BACKEND_CPU, PMHMC_PRECISION_DOUBLE, &backend, &err) != PMHMC_OK)
        goto done;
    omp_set_num_threads(threads);
    if (pmhmc_workspace_create(backend, model, 2, &ws, &err) != PMHMC_OK ||
        pmhmc_ws_normal(ws, 0, 7, 0, 0) != PMHMC_OK || pmhmc_ws_normal(ws, 1, 7, 0, 1) != PMHMC_OK)
        goto done;

    double grad[64], log_phat;
    /* A tiny kick and angle keep u near N(0, I) over many passes. */
    pmhmc_estimate_request req = {.theta = theta, .u = 0, .p = 1, .grad_u = -1, .kick = 1e-6, .angle = 1e-6};
    for (int r = -2; r < reps; ++r) {
        double t0 = now_seconds();
        if (pmhmc_ws_estimate(ws, &req, &log_phat, grad) != PMHMC_OK)
            goto done;
        if (r >= 0)
            times[r] = now_seconds() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    *median_s = times[reps / 2];
    *terms_per_s = pmhmc_model_terms(model) / *median_s;
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "bench_estimator: %s\n", err.message[0] ? err.message : "setup failed");
    pmhmc_workspace_free(ws);
    pmhmc_backend_free(backend);
    pmhmc_model_free(model);
    pmhmc_dataset_free(data);
    free(times);
    return rc;
}

int main(int argc, char **argv)
{
    int reps = 15;
    const char *csv_path = NULL;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
            csv_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_estimator [--reps R] [--csv FILE]\n");
            return 1;
        }
    }
    if (reps < 1)
        reps = 1;
    const bench_size sizes[] = {{500, 128, 6, 8, PMHMC_PROPOSAL_FIXED},    {5000, 1024, 6, 8, PMHMC_PROPOSAL_FIXED},
                                {500, 16, 6, 8, PMHMC_PROPOSAL_LAPLACE},   {500, 128, 6, 8, PMHMC_PROPOSAL_LAPLACE},
                                {5000, 1024, 6, 8, PMHMC_PROPOSAL_LAPLACE}};
    FILE *csv = csv_path ? fopen(csv_path, "w") : NULL;
    if (csv)
        fprintf(csv, "backend,precision,proposal,T,N,n,p,threads,median_s,terms_per_s\n");
    printf("%-6s %-6s %-8s %6s %6s %3s %3s %7s %12s %14s\n", "backend", "prec", "proposal", "T", "N", "n", "p",
           "threads", "median_ms", "terms/s");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        for (int threads = 1; threads <= 2; ++threads) {
            double tps, med;
            if (run(&sizes[s], threads, reps, &tps, &med))
                return 2;
            const char *prop = pmhmc_proposal_name(sizes[s].proposal);
            printf("%-7s %-6s %-8s %6zu %6zu %3zu %3zu %7d %12.3f %14.4g\n", "cpu", "double", prop, sizes[s].T,
                   sizes[s].N, sizes[s].n, sizes[s].p, threads, med * 1e3, tps);
            if (csv)
                fprintf(csv, "cpu,double,%s,%zu,%zu,%zu,%zu,%d,%.6g,%.6g\n", prop, sizes[s].T, sizes[s].N,
                        sizes[s].n, sizes[s].p, threads, med, tps);
        }
    }
    if (csv)
        fclose(csv);
    return 0;
}
