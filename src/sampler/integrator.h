/* The PM-HMC integrator (DESIGN §3): Strang splitting with the harmonic part
 * of u solved exactly.
 *
 *   A(h/2): theta += (h/2) M^-1 rho ; (u, p) <- R(h/2)(u, p)
 *   B(h)  : rho += h grad_theta[log p(theta) + log phat] ; p += h grad_u log phat
 *   A(h/2)
 *
 * Consecutive A half steps merge, and each B step runs as one fused backend
 * pass with the rotation that follows it, so L steps cost L gradient passes
 * plus one value-only pass at the end (for the energy). theta and rho live on
 * the host; u and p are workspace vectors. */
#ifndef PMHMC_SAMPLER_INTEGRATOR_H
#define PMHMC_SAMPLER_INTEGRATOR_H

#include <stddef.h>

#include "pmhmc/backend.h"
#include "pmhmc/model.h"
#include "pmhmc/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pmhmc_phase_point {
    double *theta;   /* [dim] */
    double *rho;     /* [dim] */
    int u, p;        /* workspace vectors */
    double log_prior;
    double log_phat; /* at (theta, u) */
} pmhmc_phase_point;

typedef struct pmhmc_integrator {
    const pmhmc_model *model;
    pmhmc_workspace *ws;
    const double *inv_mass; /* [dim] diagonal of M^-1 */
    double *grad;           /* [dim] scratch: d log phat / d theta */
    double *prior_grad;     /* [dim] scratch: d log p(theta) / d theta */
    pmhmc_step_observer observe; /* optional (pmhmc_sampler_set_observer) */
    void *observe_ctx;
} pmhmc_integrator;

/* Runs `steps` Strang steps of size h from z in place, leaving log_prior and
 * log_phat at the end point. A non-finite log phat along the way stops the
 * trajectory early with PMHMC_OK and a non-finite z->log_phat. */
pmhmc_status pmhmc_integrate(const pmhmc_integrator *integ, pmhmc_phase_point *z, double h, size_t steps);

/* The same splitting in the other order, kick-drift-kick, for NUTS:
 *
 *   B(h/2) A(h) B(h/2)
 *
 * Equally symmetric, reversible and volume-preserving (Strang splitting with
 * the roles swapped), and h may be negative (the time-reversed step, for
 * building a tree backwards). It evaluates the estimator once per step, at
 * the step's end point, which is also where NUTS needs the energy; the A-B-A
 * order needs a second, value-only pass there. The point carries its
 * gradients so the next step's first kick needs no pass either. */
typedef struct pmhmc_kdk_point {
    pmhmc_phase_point z;
    double *grad; /* [dim] d/dtheta [log p(theta) + log phat] at (theta, u) */
    int grad_u;   /* workspace vector: d log phat / du at (theta, u) */
} pmhmc_kdk_point;

/* Evaluates log phat, log p(theta) and both gradients at (theta, u). */
pmhmc_status pmhmc_kdk_evaluate(const pmhmc_integrator *integ, pmhmc_kdk_point *x);

/* One step of size h (either sign) in place. A non-finite log phat at the
 * end point returns PMHMC_OK with a non-finite x->z.log_phat and the rest of
 * the point unusable (the caller stops there: a divergence). */
pmhmc_status pmhmc_kdk_step(const pmhmc_integrator *integ, pmhmc_kdk_point *x, double h);

/* H(theta, rho, u, p) = -log p(theta) - log phat + rho'M^-1 rho/2 + u'u/2 + p'p/2. */
pmhmc_status pmhmc_hamiltonian(const pmhmc_integrator *integ, const pmhmc_phase_point *z, double *H);

#ifdef __cplusplus
}
#endif
#endif
