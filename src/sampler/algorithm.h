/* One table of operations per sampling algorithm, each over its own private
 * state (sampler->algo), as Stan gives each sampler its own class behind one
 * interface. sampler.c keeps what every chain has (theta and u, the metric,
 * the iteration, warm-up adaptation and its step-size search) and calls the
 * algorithm through these; nothing there switches on the algorithm.
 *
 * Adding an algorithm: its own file with its info (include/pmhmc/sampler.h)
 * and ops, and one line in the registry (algorithms.c). */
#ifndef PMHMC_SAMPLER_ALGORITHM_H
#define PMHMC_SAMPLER_ALGORITHM_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/sampler.h"

struct pmhmc_sampler_state_parts;

typedef struct pmhmc_algorithm_ops {
    const pmhmc_algorithm_info *info;
    /* Checks the settings only this algorithm reads (the common ones are
     * checked already). NULL: none. */
    pmhmc_status (*check)(const pmhmc_sampler_config *config, size_t dim, pmhmc_error *err);
    /* Workspace vectors it needs beyond the chain's N_FIXED_VECTORS. */
    int (*workspace_vectors)(const pmhmc_sampler_config *config);
    /* Its private state into *state, for a sampler whose common state and
     * workspace are made (theta not yet set); free is NULL-safe. */
    pmhmc_status (*create)(pmhmc_sampler *sampler, void **state);
    void (*free)(void *state);
    /* The estimate at the current (theta, u) into log_prior and log_phat,
     * with whatever else the algorithm keeps of the current state; fails
     * with PMHMC_ERR_NUMERIC, and a message saying `where`, when what it
     * needs is not finite there. */
    pmhmc_status (*evaluate)(pmhmc_sampler *sampler, const char *where, pmhmc_error *err);
    /* One transition from the current state; fills every field of the draw
     * it is about (lp included) except stepsize, warmup and theta. */
    pmhmc_status (*transition)(pmhmc_sampler *sampler, pmhmc_draw *draw);
    /* One step of size h from the current state with momenta from the given
     * streams: *delta_H = H0 - H (-inf when H is not finite), the energy the
     * algorithm's acceptance sees. The state is left as it was. */
    pmhmc_status (*trial_step)(pmhmc_sampler *sampler, double h, uint64_t rho_step, uint64_t p_step,
                               double *delta_H);
    /* Appends the parts of its state a checkpoint must hold. */
    void (*state_parts)(pmhmc_sampler *sampler, struct pmhmc_sampler_state_parts *parts);
    /* Lockstep algorithms (info->lockstep): after every chain has made the
     * same transition, the run calls this with all of them, in chain
     * order, to adapt across chains. NULL for the others. */
    pmhmc_status (*after_round)(pmhmc_sampler *const *samplers, size_t n);
} pmhmc_algorithm_ops;

/* The lockstep hook of a sampler's algorithm (NULL: none), for the run. */
pmhmc_status pmhmc_sampler_after_round(pmhmc_sampler *const *samplers, size_t n);
int pmhmc_algorithm_is_lockstep(pmhmc_algorithm id);

/* The registry's entry for id; NULL when there is none. */
const pmhmc_algorithm_ops *pmhmc_algorithm_ops_of(pmhmc_algorithm id);

extern const pmhmc_algorithm_ops pmhmc_pmhmc_ops;    /* hmc.c */
extern const pmhmc_algorithm_ops pmhmc_pmnuts_ops;   /* pmnuts.c */
extern const pmhmc_algorithm_ops pmhmc_hnn_hmc_ops;  /* hnn_hmc.c */
extern const pmhmc_algorithm_ops pmhmc_hnn_nuts_ops; /* hnn_nuts.c */
extern const pmhmc_algorithm_ops pmhmc_chees_ops;    /* chees.c */

/* The draw columns the algorithms share, as initializers of their column
 * tables (the readers are in algorithms.c). */
#define PMHMC_DRAW_COLUMN_READERS(X, FLAG)                                                                      \
    X(lp) X(accept_stat) X(stepsize) X(int_time) X(energy) X(treedepth) X(n_leapfrog) X(surrogate_error)       \
        X(n_estimates) X(n_gradients) FLAG(divergent) FLAG(accepted) FLAG(surrogate_used) FLAG(fallback)
#define PMHMC_DECLARE_COLUMN_READER(field) double pmhmc_draw_column_##field(const pmhmc_draw *draw);
PMHMC_DRAW_COLUMN_READERS(PMHMC_DECLARE_COLUMN_READER, PMHMC_DECLARE_COLUMN_READER)
#undef PMHMC_DECLARE_COLUMN_READER

#define PMHMC_COLUMN_LP {"lp__", 0, pmhmc_draw_column_lp}
#define PMHMC_COLUMN_ACCEPT_STAT {"accept_stat__", 0, pmhmc_draw_column_accept_stat}
#define PMHMC_COLUMN_STEPSIZE {"stepsize__", 0, pmhmc_draw_column_stepsize}
#define PMHMC_COLUMN_INT_TIME {"int_time__", 0, pmhmc_draw_column_int_time}
#define PMHMC_COLUMN_ENERGY {"energy__", 0, pmhmc_draw_column_energy}
#define PMHMC_COLUMN_TREEDEPTH {"treedepth__", 1, pmhmc_draw_column_treedepth}
#define PMHMC_COLUMN_N_LEAPFROG {"n_leapfrog__", 1, pmhmc_draw_column_n_leapfrog}
#define PMHMC_COLUMN_DIVERGENT {"divergent__", 1, pmhmc_draw_column_divergent}
#define PMHMC_COLUMN_SURROGATE_ERROR {"surrogate_error__", 0, pmhmc_draw_column_surrogate_error}
#define PMHMC_COLUMN_MONITOR_ERROR {"monitor_error__", 0, pmhmc_draw_column_surrogate_error}
#define PMHMC_COLUMN_N_ESTIMATOR {"n_estimator__", 1, pmhmc_draw_column_n_estimates}
#define PMHMC_COLUMN_N_GRADIENT {"n_gradient__", 1, pmhmc_draw_column_n_gradients}
#define PMHMC_COLUMN_ACCEPTED {"accepted__", 1, pmhmc_draw_column_accepted}
#define PMHMC_COLUMN_SURROGATE {"surrogate__", 1, pmhmc_draw_column_surrogate_used}
#define PMHMC_COLUMN_FALLBACK {"fallback__", 1, pmhmc_draw_column_fallback}
/* CmdStan's static HMC columns and its NUTS columns, in its order. */
#define PMHMC_STATIC_HMC_COLUMNS                                                                                   \
    PMHMC_COLUMN_LP, PMHMC_COLUMN_ACCEPT_STAT, PMHMC_COLUMN_STEPSIZE, PMHMC_COLUMN_INT_TIME, PMHMC_COLUMN_ENERGY
#define PMHMC_NUTS_COLUMNS                                                                                         \
    PMHMC_COLUMN_LP, PMHMC_COLUMN_ACCEPT_STAT, PMHMC_COLUMN_STEPSIZE, PMHMC_COLUMN_TREEDEPTH,                      \
        PMHMC_COLUMN_N_LEAPFROG, PMHMC_COLUMN_DIVERGENT, PMHMC_COLUMN_ENERGY

#endif
