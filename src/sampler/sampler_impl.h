/* The sampler's insides, shared by the files of src/sampler: the chain state
 * and the list of what a checkpoint must hold to continue it bit-identically.
 *
 * Workspace vectors: U (current u), P (its momentum), U_START (u at the start
 * of a PM-HMC transition, restored on rejection), GRAD_U (d log phat / du at
 * the current state, kept by PM-NUTS), then the NUTS tree's vectors. */
#ifndef PMHMC_SAMPLER_SAMPLER_IMPL_H
#define PMHMC_SAMPLER_SAMPLER_IMPL_H

#include <stddef.h>

#include "pmhmc/sampler.h"
#include "sampler/adapt.h"
#include "sampler/integrator.h"
#include "sampler/nuts.h"

enum { VEC_U, VEC_P, VEC_U_START, VEC_GRAD_U, N_FIXED_VECTORS };

struct pmhmc_sampler {
    const pmhmc_model *model;
    pmhmc_workspace *ws;
    pmhmc_sampler_config config;
    pmhmc_integrator integ;
    size_t dim;
    size_t iteration;
    double step_size;    /* h of the next transition */
    double *theta;       /* [dim] current state */
    double *grad;        /* [dim] PM-NUTS: d/dtheta [log p + log phat] there */
    double *theta_start; /* [dim] */
    double *rho;         /* [dim] */
    double *inv_mass;    /* [dim] diagonal of M^-1 (adapted in place) */
    double *sqrt_mass;   /* [dim] */
    double *scratch;     /* [2 dim] integrator gradients */
    double log_prior, log_phat;
    pmhmc_nuts *nuts;    /* PM-NUTS only */
    pmhmc_adapt adapt;   /* when config.adapt.engaged */
    double *adapt_mean;  /* [dim] */
    double *adapt_m2;    /* [dim] */
    double n_searches;   /* step-size searches so far: keys their streams */
    /* HNN-HMC only */
    struct pmhmc_mlp_work *hnn_work; /* batch 1 */
    double *hnn_x;       /* [n_in] the network's input */
    double *hnn_y;       /* [n_out] its outputs */
    double *hnn_grad;    /* [n_in] dS/dx */
    double hnn_lp;       /* surrogate mode: -H~(theta, 0) at theta, the draws' lp__ */
};

/* One PM-HMC transition (hmc.c). */
pmhmc_status pmhmc_hmc_transition(pmhmc_sampler *sampler, pmhmc_draw *draw);
/* One HNN-HMC transition (hnn_hmc.c). */
pmhmc_status pmhmc_hnn_transition(pmhmc_sampler *sampler, pmhmc_draw *draw);
/* -H~(theta, 0): the surrogate's log density at theta [dim]. */
pmhmc_status pmhmc_hnn_surrogate_lp(pmhmc_sampler *sampler, const double *theta, double *lp);

/* One step of size h from the current state with momenta from the given
 * streams; *delta_H = H0 - H (-inf when H is not finite). The state is left
 * as it was. PM-HMC's (hmc.c) uses its A-B-A step, PM-NUTS's its leaf. */
pmhmc_status pmhmc_hmc_trial_step(pmhmc_sampler *sampler, double h, uint64_t rho_step, uint64_t p_step,
                                  double *delta_H);
/* The same for one surrogate step of HNN-HMC (H~ in place of H). */
pmhmc_status pmhmc_hnn_trial_step(pmhmc_sampler *sampler, double h, uint64_t rho_step, double *delta_H);

/* What a chain's state is made of: host arrays (copied byte for byte) and
 * workspace vectors (downloaded and uploaded as doubles, exact for float
 * storage too). Everything else in the sampler is derived from the config,
 * the model and these. The list depends only on the config and the model, so
 * two samplers made from the same ones have the same parts in the same order
 * with the same sizes. */
typedef struct pmhmc_state_host_part {
    const char *name;
    void *data;
    size_t bytes;
} pmhmc_state_host_part;

#define PMHMC_STATE_MAX_PARTS 32
typedef struct pmhmc_sampler_state_parts {
    pmhmc_state_host_part host[PMHMC_STATE_MAX_PARTS];
    size_t n_host;
    int vectors[PMHMC_STATE_MAX_PARTS];
    size_t n_vectors;
} pmhmc_sampler_state_parts;

void pmhmc_sampler_state_parts_of(pmhmc_sampler *sampler, pmhmc_sampler_state_parts *parts);

#endif
