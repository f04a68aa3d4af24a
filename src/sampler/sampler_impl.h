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
#include "sampler/algorithm.h"
#include "sampler/integrator.h"
#include "sampler/nuts.h"

enum { VEC_U, VEC_P, VEC_U_START, VEC_GRAD_U, N_FIXED_VECTORS };

/* What every chain has, whatever its algorithm; the algorithm's own state is
 * behind algo (sampler/algorithm.h). */
struct pmhmc_sampler {
    const pmhmc_model *model;
    pmhmc_backend *backend;
    pmhmc_workspace *ws;
    pmhmc_sampler_config config;
    const pmhmc_algorithm_ops *ops;
    void *algo;          /* the algorithm's private state */
    pmhmc_integrator integ;
    size_t dim;
    size_t iteration;
    double step_size;    /* h of the next transition */
    double *theta;       /* [dim] current state */
    double *theta_start; /* [dim] */
    double *rho;         /* [dim] */
    double *inv_mass;    /* [dim] diagonal of M^-1 (adapted in place) */
    double *sqrt_mass;   /* [dim] */
    double *scratch;     /* [2 dim] integrator gradients */
    double log_prior, log_phat;
    pmhmc_adapt adapt;   /* when config.adapt.engaged */
    double *adapt_mean;  /* [dim] */
    double *adapt_m2;    /* [dim] */
    double n_searches;   /* step-size searches so far: keys their streams */
};

/* sampler->rho <- rho ~ N(0, M) from stream (seed, chain, step). */
void pmhmc_sampler_draw_rho(pmhmc_sampler *sampler, uint64_t step);
/* rho' M^-1 rho / 2 for rho [dim]. */
double pmhmc_sampler_kinetic(const pmhmc_sampler *sampler, const double *rho);
/* log_prior and log_phat at the current (theta, VEC_U), no gradient: the
 * evaluate of the algorithms that keep nothing else of the current state. */
pmhmc_status pmhmc_sampler_evaluate_value(pmhmc_sampler *sampler, const char *where, pmhmc_error *err);
/* PMHMC_ERR_NUMERIC, saying `where`, unless log_prior + log_phat is finite. */
pmhmc_status pmhmc_sampler_require_finite(pmhmc_sampler *sampler, const char *where, pmhmc_error *err);

/* PM-HMC's transition (hmc.c) with `steps` steps of the current step size;
 * with proposal and velocity [dim] not NULL, the trajectory's end point
 * theta' and M^-1 rho' there (before the accept step): ChEES-HMC's. */
pmhmc_status pmhmc_hmc_move(pmhmc_sampler *sampler, size_t steps, pmhmc_draw *draw, double *proposal,
                            double *velocity);

/* ---- PM-NUTS's tree on (theta, u) (pmnuts.c): PM-NUTS's state, and
 * HNN-PM-NUTS's for its cooldown ---- */
typedef struct pmhmc_pmnuts {
    pmhmc_nuts *tree;
    double *grad; /* [dim] d/dtheta [log p + log phat] at the current state (VEC_GRAD_U: d/du) */
} pmhmc_pmnuts;
/* The NUTS settings (max_depth, max_delta_h, uturn), for both NUTS algorithms. */
pmhmc_status pmhmc_nuts_check_settings(const pmhmc_sampler_config *config, pmhmc_error *err);
int pmhmc_pmnuts_vectors(const pmhmc_sampler_config *config);
pmhmc_status pmhmc_pmnuts_init(pmhmc_sampler *sampler, pmhmc_pmnuts *nuts);
void pmhmc_pmnuts_release(pmhmc_pmnuts *nuts);
/* The estimate and both gradients at the current state (no finiteness check). */
pmhmc_status pmhmc_pmnuts_evaluate(pmhmc_sampler *sampler, pmhmc_pmnuts *nuts);
pmhmc_status pmhmc_pmnuts_run(pmhmc_sampler *sampler, pmhmc_pmnuts *nuts, pmhmc_draw *draw);
void pmhmc_pmnuts_parts(pmhmc_sampler *sampler, pmhmc_pmnuts *nuts, struct pmhmc_sampler_state_parts *parts);

/* ---- an HNN surrogate (hnn_hmc.c): HNN-HMC's state, and part of
 * HNN-PM-NUTS's ---- */
typedef struct pmhmc_surrogate {
    struct pmhmc_mlp_work *work; /* batch 1 */
    double *x;    /* [n_in] the network's input */
    double *y;    /* [n_out] its outputs */
    double *grad; /* [n_in] dS/dx */
    double lp;    /* surrogate mode: -H~(theta, 0) at theta, the draws' lp__ */
} pmhmc_surrogate;
/* The settings of both HNN algorithms. */
pmhmc_status pmhmc_surrogate_check(const pmhmc_sampler_config *config, size_t dim, pmhmc_error *err);
pmhmc_status pmhmc_surrogate_init(pmhmc_sampler *sampler, pmhmc_surrogate *net);
void pmhmc_surrogate_release(pmhmc_surrogate *net);
/* After the estimate at the current state: net->lp there, which must be
 * finite. */
pmhmc_status pmhmc_surrogate_start(pmhmc_sampler *sampler, pmhmc_surrogate *net, const char *where,
                                   pmhmc_error *err);
/* The draw's lp__: the surrogate's in surrogate mode, else log p + log phat. */
double pmhmc_surrogate_draw_lp(const pmhmc_sampler *sampler, const pmhmc_surrogate *net);
/* -H~(theta, 0), the surrogate's log density at theta [dim]; */
pmhmc_status pmhmc_hnn_surrogate_lp(pmhmc_sampler *sampler, pmhmc_surrogate *net, const double *theta, double *lp);
/* H~(theta, rho), and U~(theta) for the potential kind (NaN for latent); */
pmhmc_status pmhmc_hnn_energy(pmhmc_sampler *sampler, pmhmc_surrogate *net, const double *theta, const double *rho,
                              double *H, double *U);
/* `steps` leapfrog steps of signed size h on H~, (theta, rho) in place; */
pmhmc_status pmhmc_hnn_leapfrog(pmhmc_sampler *sampler, pmhmc_surrogate *net, double *theta, double *rho, double h,
                                size_t steps);
/* exact mode's second test of theta* (in sampler->theta, the state's own
 * theta the transition's start, U0 = U~ there, U1 = U~(theta*)): u moved by
 * Crank-Nicolson, one estimator evaluation, the delayed-acceptance ratio;
 * on acceptance log_prior and log_phat are theta*'s, on rejection u is put
 * back (theta is the caller's to restore). */
pmhmc_status pmhmc_hnn_exact_test(pmhmc_sampler *sampler, uint64_t it, double U0, double U1, int *accepted);

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
struct pmhmc_sampler_state_parts {
    pmhmc_state_host_part host[PMHMC_STATE_MAX_PARTS];
    size_t n_host;
    int vectors[PMHMC_STATE_MAX_PARTS];
    size_t n_vectors;
};
typedef struct pmhmc_sampler_state_parts pmhmc_sampler_state_parts;

/* Every part: the chain's, then its algorithm's. */
void pmhmc_sampler_state_parts_of(pmhmc_sampler *sampler, pmhmc_sampler_state_parts *parts);
void pmhmc_state_parts_add(pmhmc_sampler_state_parts *parts, const char *name, void *data, size_t bytes);
void pmhmc_state_parts_add_vector(pmhmc_sampler_state_parts *parts, int vector);

#endif
