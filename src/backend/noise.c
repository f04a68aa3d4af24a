/* pmhmc_log_phat_noise (backend.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "pmhmc/pmhmc.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

pmhmc_status pmhmc_log_phat_noise(pmhmc_backend *backend, const pmhmc_model *model, const double *theta, size_t reps,
                                  uint64_t seed, pmhmc_noise *out, pmhmc_error *err)
{
    if (!backend || !model || !theta || !out || reps < 2)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "noise: backend, model, theta and at least 2 repetitions are required");
    pmhmc_workspace *ws = NULL;
    pmhmc_status st = pmhmc_workspace_create(backend, model, 1, &ws, err);
    if (st != PMHMC_OK)
        return st;
    double *values = malloc(reps * sizeof *values);
    if (!values) {
        pmhmc_workspace_free(ws);
        return PMHMC_ERR_NOMEM;
    }
    const double start = now_seconds();
    pmhmc_estimate_request req = {.theta = theta, .u = 0, .p = -1, .grad_u = -1};
    for (size_t r = 0; r < reps && st == PMHMC_OK; ++r) {
        st = pmhmc_ws_normal(ws, 0, seed, UINT32_MAX, (uint64_t)r);
        if (st == PMHMC_OK)
            st = pmhmc_ws_estimate(ws, &req, &values[r], NULL);
    }
    const double elapsed = now_seconds() - start;
    pmhmc_workspace_free(ws);
    if (st == PMHMC_OK) {
        double mean = 0.0, ss = 0.0;
        for (size_t r = 0; r < reps; ++r)
            mean += values[r];
        mean /= (double)reps;
        for (size_t r = 0; r < reps; ++r)
            ss += (values[r] - mean) * (values[r] - mean);
        *out = (pmhmc_noise){reps, mean, sqrt(ss / (double)(reps - 1)), elapsed / (double)reps};
    }
    free(values);
    return st;
}
