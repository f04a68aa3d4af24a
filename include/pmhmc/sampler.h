/* Samplers over the pseudo-marginal extended target (DESIGN §3):
 *   pi(theta, u) ∝ p(theta) phat(y | theta, u) N(u; 0, I).
 *
 * A sampler is one chain: theta and rho on the host, u and p in a backend
 * workspace. Drive it with pmhmc_sampler_step, one transition per call
 * (warm-up first, then the saved iterations); each call fills a pmhmc_draw.
 *
 * Ownership: the sampler borrows the model and the backend; both must
 * outlive it. The draw's theta pointer is valid until the next call.
 *
 * Threads: samplers sharing one model and one backend may be created, stepped
 * and freed concurrently from different threads, one thread per sampler at a
 * time (include/pmhmc/backend.h, "Threads"); each chain's draws are the same
 * as when it runs alone. */
#ifndef PMHMC_SAMPLER_H
#define PMHMC_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/backend.h"
#include "pmhmc/model.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pmhmc_algorithm {
    PMHMC_ALGORITHM_PMHMC = 0 /* pseudo-marginal HMC, fixed h and L */
} pmhmc_algorithm;

typedef struct pmhmc_sampler_config {
    pmhmc_algorithm algorithm;
    size_t warmup;      /* transitions run first and not saved */
    size_t iterations;  /* saved transitions */
    double step_size;   /* h */
    size_t steps;       /* L, integrator steps per transition */
    double mass;        /* scalar mass m (M = m I), used when mass_diag is NULL */
    const double *mass_diag; /* [dim] diagonal of M, or NULL; copied at create */
    uint64_t seed;
    uint32_t chain;     /* chain index: selects the Philox stream */
} pmhmc_sampler_config;

/* The source report's settings: h = 0.025, L = 20, m = 10, 1000 warm-up,
 * 1000 saved, seed 1, chain 0. */
void pmhmc_sampler_config_default(pmhmc_sampler_config *config);

typedef struct pmhmc_draw {
    double lp;          /* log p(theta) + log phat(y | theta, u) of the kept state */
    double accept_stat; /* min(1, exp(H0 - H1)) of this transition */
    double stepsize;
    double int_time;    /* h L */
    double energy;      /* H of the kept state (with the momenta it ended with) */
    int accepted;
    int divergent;      /* 1 when the proposal's energy H1 was not finite (the
                           integrator diverged or log phat overflowed): a
                           rejection with accept_stat 0, told apart from an
                           ordinary one */
    int warmup;         /* 1 while in warm-up: do not save */
    const double *theta; /* [dim] */
} pmhmc_draw;

typedef struct pmhmc_sampler pmhmc_sampler;

/* theta0 may be NULL for the model's documented start (pmhmc_model_initial).
 * Draws the initial u and evaluates the estimator there; fails with
 * PMHMC_ERR_NUMERIC when log phat is not finite at the start. */
pmhmc_status pmhmc_sampler_create(const pmhmc_model *model, pmhmc_backend *backend,
                                  const pmhmc_sampler_config *config, const double *theta0,
                                  pmhmc_sampler **out, pmhmc_error *err);
void pmhmc_sampler_free(pmhmc_sampler *sampler);

/* One transition. Fails only on backend errors; a non-finite proposal is a
 * rejection, not an error. */
pmhmc_status pmhmc_sampler_step(pmhmc_sampler *sampler, pmhmc_draw *draw);

/* Transitions done so far (warm-up included). */
size_t pmhmc_sampler_iteration(const pmhmc_sampler *sampler);

#ifdef __cplusplus
}
#endif
#endif
