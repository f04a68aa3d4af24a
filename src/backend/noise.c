/* pmhmc_log_phat_noise and pmhmc_choose_n_importance (backend.h). */
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

pmhmc_status pmhmc_choose_n_importance(pmhmc_backend *backend, const pmhmc_model *model, const double *theta,
                                       double target, size_t n_max, size_t reps, uint64_t seed, pmhmc_model **chosen,
                                       pmhmc_noise *noise, pmhmc_error *err)
{
    if (!chosen)
        return PMHMC_ERR_ARG;
    *chosen = NULL;
    if (!backend || !model || !theta || !noise || !(target > 0.0))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "choosing N: backend, model, theta, noise and a positive target are "
                                              "required");
    if (n_max < PMHMC_AUTO_N_MIN || n_max > PMHMC_AUTO_N_MAX || (n_max & (n_max - 1)) != 0)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "choosing N: the largest N must be a power of two from %d to %d; got %zu",
                          PMHMC_AUTO_N_MIN, PMHMC_AUTO_N_MAX, n_max);
    for (size_t n = PMHMC_AUTO_N_MIN;; n *= 2) {
        pmhmc_model *m = NULL;
        pmhmc_status st = pmhmc_model_with_n_importance(model, n, &m, err);
        if (st == PMHMC_OK)
            st = pmhmc_log_phat_noise(backend, m, theta, reps, seed, noise, err);
        if (st != PMHMC_OK) {
            pmhmc_model_free(m);
            return st;
        }
        if (noise->sd_log_phat <= target || n == n_max) {
            *chosen = m;
            return PMHMC_OK;
        }
        pmhmc_model_free(m);
    }
}
