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
    pmhmc_backend *backend;
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
    /* HNN-PM-NUTS only */
    pmhmc_nuts *hnn_tree;  /* NUTS on theta with the surrogate's dynamics (s->nuts: the
                              cooldown's PM-NUTS, surrogate mode only) */
    struct pmhmc_hnn_tree_run {
        double H0, K0, U0;  /* the tree's start: H~, rho'M^-1 rho/2, U~ */
        double H0_true;     /* the true energy there, at the chain's u (NAN: not yet known) */
        int switched;       /* the rest of this tree runs the real dynamics */
        int trial;          /* a step-size search's trial step: never switch */
        double max_error;   /* the largest monitored error in this tree */
        size_t n_estimates, n_gradients;
        double *save;       /* [2 dim] theta and rho before a step, for a fallback's redo */
        double *grad;       /* [dim] the tree's gradient slot of the current state */
        double *theta0;     /* [dim] where the tree started */
    } hnn_run;
    size_t cooldown_left;  /* PM-NUTS transitions still to run */
    int log_phat_stale;    /* surrogate mode: log_prior, log_phat, grad and grad_u are of an
                              earlier theta (the surrogate moved it, u stayed) */
};

/* sampler->rho <- rho ~ N(0, M) from stream (seed, chain, step). */
void pmhmc_sampler_draw_rho(pmhmc_sampler *sampler, uint64_t step);
/* rho' M^-1 rho / 2 for rho [dim]. */
double pmhmc_sampler_kinetic(const pmhmc_sampler *sampler, const double *rho);

/* One PM-HMC transition (hmc.c). */
pmhmc_status pmhmc_hmc_transition(pmhmc_sampler *sampler, pmhmc_draw *draw);
/* One HNN-HMC transition (hnn_hmc.c). */
pmhmc_status pmhmc_hnn_transition(pmhmc_sampler *sampler, pmhmc_draw *draw);
/* HNN-PM-NUTS (hnn_nuts.c): the trees and buffers at create, one
 * transition, and the step-size search's trial step. */
pmhmc_status pmhmc_hnn_nuts_create(pmhmc_sampler *sampler);
void pmhmc_hnn_nuts_free(pmhmc_sampler *sampler);
pmhmc_status pmhmc_hnn_nuts_transition(pmhmc_sampler *sampler, pmhmc_draw *draw);
pmhmc_status pmhmc_hnn_nuts_trial_step(pmhmc_sampler *sampler, double h, uint64_t rho_step, double *delta_H);
/* PM-NUTS's transition (sampler.c), which HNN-PM-NUTS's cooldown runs. */
pmhmc_status pmhmc_pmnuts_transition(pmhmc_sampler *sampler, pmhmc_draw *draw);
/* The surrogate's parts (hnn_hmc.c), shared with HNN-PM-NUTS (hnn_nuts.c):
 * -H~(theta, 0), the surrogate's log density at theta [dim]; */
pmhmc_status pmhmc_hnn_surrogate_lp(pmhmc_sampler *sampler, const double *theta, double *lp);
/* H~(theta, rho), and U~(theta) for the potential kind (NaN for latent); */
pmhmc_status pmhmc_hnn_energy(pmhmc_sampler *sampler, const double *theta, const double *rho, double *H, double *U);
/* `steps` leapfrog steps of signed size h on H~, (theta, rho) in place; */
pmhmc_status pmhmc_hnn_leapfrog(pmhmc_sampler *sampler, double *theta, double *rho, double h, size_t steps);
/* exact mode's second test of theta* (in sampler->theta, the state's own
 * theta the transition's start, U0 = U~ there, U1 = U~(theta*)): u moved by
 * Crank-Nicolson, one estimator evaluation, the delayed-acceptance ratio;
 * on acceptance log_prior and log_phat are theta*'s, on rejection u is put
 * back (theta is the caller's to restore). */
pmhmc_status pmhmc_hnn_exact_test(pmhmc_sampler *sampler, uint64_t it, double U0, double U1, int *accepted);

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
