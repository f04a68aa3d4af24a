/* Synthetic data sets with known parameters, for the main job and the tests. */
#ifndef PMHMC_SIMULATE_H
#define PMHMC_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/io.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The GLMM of DESIGN §2: T groups of n rows, p covariates z ~ N(0, I),
 * beta ~ N(0, I), X_i from the two-component mixture, y ~ Bernoulli. */
typedef struct pmhmc_glmm_sim {
    size_t T, n, p;
    double mu1, mu2, lambda1, lambda2, w1;
    uint64_t seed;
} pmhmc_glmm_sim;

/* The paper's set-up: T = 500, n = 6, p = 8, mu = (0, 3), lambda = (10, 3),
 * w1 = 0.8, seed 1. */
void pmhmc_glmm_sim_default(pmhmc_glmm_sim *sim);

/* Simulates a data set; theta_true [p + 5] receives the unconstrained truth
 * in the model's parameter order. */
pmhmc_status pmhmc_simulate_glmm(const pmhmc_glmm_sim *sim, pmhmc_dataset **out, double *theta_true);

/* normal_re: T groups of n rows, X_i ~ N(mu, tau^2), y ~ N(X_i, 1). */
pmhmc_status pmhmc_simulate_normal_re(size_t T, size_t n, double mu, double tau, uint64_t seed,
                                      pmhmc_dataset **out);

#ifdef __cplusplus
}
#endif
#endif
