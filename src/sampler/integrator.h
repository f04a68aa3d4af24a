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
} pmhmc_integrator;

/* Runs `steps` Strang steps of size h from z in place, leaving log_prior and
 * log_phat at the end point. A non-finite log phat along the way stops the
 * trajectory early with PMHMC_OK and a non-finite z->log_phat. */
pmhmc_status pmhmc_integrate(const pmhmc_integrator *integ, pmhmc_phase_point *z, double h, size_t steps);

/* H(theta, rho, u, p) = -log p(theta) - log phat + rho'M^-1 rho/2 + u'u/2 + p'p/2. */
pmhmc_status pmhmc_hamiltonian(const pmhmc_integrator *integ, const pmhmc_phase_point *z, double *H);

#endif
