/* The No-U-Turn sampler on the pseudo-marginal extended space (DESIGN §4),
 * following Stan's base_nuts.hpp: a trajectory doubles in a random direction
 * until the generalized U-turn criterion fails (on the merged trajectory and
 * across the two halves of every merge), a subtree diverges (H - H0 >
 * max_delta_h) or the depth reaches max_depth; states are chosen
 * multinomially within subtrees and by biased progressive sampling at the
 * top. Leaves are kick-drift-kick steps of (theta, rho, u, p)
 * (sampler/integrator.h), one estimator pass each.
 *
 * The U-turn criterion sums momenta over a subtree and compares with the
 * "sharp" momenta M^-1 rho at its ends. With uturn = EXTENDED the sums and
 * dot products run over (theta, u) together, the u part on the backend
 * (vectors of the workspace, dot products there); with THETA, over theta
 * only and no u-sized vector is kept for it.
 *
 * Storage is allocated once: the two trajectory ends (theta, rho, gradient,
 * u, p, d log phat / du), one proposal slot per tree level plus two, and in
 * EXTENDED mode three momentum vectors per level. Subtrees hand storage to
 * each other by swapping indices, never by copying vectors.
 *
 * Random numbers: direction d of transition i is uniform d of stream
 * (seed, chain, step(i, NUTS_DIRECTION)) > 0.5 (forward); the multinomial
 * choices use the uniforms of step(i, NUTS_SUBTREE) in the order they are
 * needed. Tests may fix the directions and watch every leaf. */
#ifndef PMHMC_SAMPLER_NUTS_H
#define PMHMC_SAMPLER_NUTS_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/sampler.h"
#include "sampler/integrator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pmhmc_nuts_stop {
    PMHMC_NUTS_STOP_UTURN = 0,      /* the criterion failed, at the top or inside the new subtree */
    PMHMC_NUTS_STOP_DIVERGENCE = 1, /* a leaf had H - H0 > max_delta_h (or a non-finite H) */
    PMHMC_NUTS_STOP_MAX_DEPTH = 2
} pmhmc_nuts_stop;

/* A state of the chain without momenta: where a transition starts and what
 * it ends at. */
typedef struct pmhmc_nuts_state {
    double *theta;    /* [dim] */
    double *grad;     /* [dim] d/dtheta [log p(theta) + log phat] */
    double log_prior, log_phat;
    int u, grad_u;    /* workspace vectors */
} pmhmc_nuts_state;

typedef struct pmhmc_nuts_result {
    double accept_stat; /* mean over leaves of min(1, exp(H0 - H)) */
    double energy;      /* H at the chosen state, with the momenta it had there */
    size_t depth;       /* doublings completed */
    size_t n_leapfrog;  /* leaves integrated, the rejected subtree's included */
    int divergent;
    pmhmc_nuts_stop stop;
} pmhmc_nuts_result;

/* Test hook: every leaf as it is integrated. */
typedef struct pmhmc_nuts_leaf {
    size_t index;        /* 0, 1, ... within the transition */
    int forward;         /* 1: built forward in time, 0: backward */
    const double *theta; /* [dim] */
    const double *rho;   /* [dim] */
    double H;
    double log_weight;   /* H0 - H */
} pmhmc_nuts_leaf;

typedef void (*pmhmc_nuts_leaf_fn)(void *ctx, const pmhmc_nuts_leaf *leaf);

typedef struct pmhmc_nuts pmhmc_nuts;

/* Workspace vectors a tree needs, starting at index first_vector. */
int pmhmc_nuts_vectors(size_t max_depth, pmhmc_uturn uturn);

/* integ is borrowed (its inv_mass is read at every step, so a metric
 * adapted in place takes effect at once); sqrt_mass [dim] likewise. */
pmhmc_status pmhmc_nuts_create(const pmhmc_integrator *integ, const double *sqrt_mass, size_t max_depth,
                               double max_delta_h, pmhmc_uturn uturn, int first_vector, pmhmc_nuts **out);
void pmhmc_nuts_free(pmhmc_nuts *nuts);

/* One transition from *current with step size h; on success *current is the
 * chosen state. On a backend error *current is unchanged. */
pmhmc_status pmhmc_nuts_transition(pmhmc_nuts *nuts, pmhmc_nuts_state *current, double h, uint64_t seed,
                                   uint32_t chain, uint64_t iteration, pmhmc_nuts_result *result);

/* Other dynamics on theta alone (HNN-PM-NUTS, DESIGN §5): the tree then
 * moves (theta, rho) only, with these functions for its leaves and its
 * starting energy; u stays where the chain has it, no p is drawn and no
 * workspace vector is touched. A point's grad holds what the dynamics keep
 * there (the surrogate's -dU~/dtheta, say); log_prior and log_phat are
 * carried along unchanged unless the dynamics set them. The nuts object must
 * have been created with uturn = THETA. */
typedef struct pmhmc_nuts_dynamics {
    /* *H = the energy at x with its momentum rho; called once per transition,
     * at its start, before any step. */
    pmhmc_status (*start)(void *ctx, pmhmc_kdk_point *x, double *H);
    /* x <- one step of signed size h from x; *H the energy there (+inf ends
     * the tree as a divergence). */
    pmhmc_status (*step)(void *ctx, pmhmc_kdk_point *x, double h, double *H);
    void *ctx;
} pmhmc_nuts_dynamics;

/* NULL: back to the pseudo-marginal dynamics. dyn is copied.
 * PMHMC_ERR_ARG for a tree created with uturn = EXTENDED. */
pmhmc_status pmhmc_nuts_set_dynamics(pmhmc_nuts *nuts, const pmhmc_nuts_dynamics *dyn);

/* > 0: a subtree (or the whole trajectory) whose leaves' energies spread
 * over more than max_spread ends the tree as a divergence: a stop that
 * depends on the states of the subtree only, so the transition stays
 * reversible, which a test against the starting energy (Stan's
 * max_delta_h) is not strictly. 0 (the default): off. */
void pmhmc_nuts_set_max_spread(pmhmc_nuts *nuts, double max_spread);

/* Test hooks: directions[d] (1 forward, 0 backward) for doubling d instead
 * of random ones (NULL: random; the array must hold max_depth entries), and
 * a function called at every leaf (NULL: none). */
void pmhmc_nuts_set_directions(pmhmc_nuts *nuts, const int *directions);
void pmhmc_nuts_set_leaf_fn(pmhmc_nuts *nuts, pmhmc_nuts_leaf_fn fn, void *ctx);

/* For the step-size search: from *current with rho and p drawn from streams
 * (seed, chain, rho_step) and (seed, chain, p_step), one kick-drift-kick
 * step of h; *delta_H = H0 - H (-inf when H is not finite). *current is
 * unchanged. */
pmhmc_status pmhmc_nuts_trial_step(pmhmc_nuts *nuts, const pmhmc_nuts_state *current, double h, uint64_t seed,
                                   uint32_t chain, uint64_t rho_step, uint64_t p_step, double *delta_H);

#ifdef __cplusplus
}
#endif
#endif
