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
#include "pmhmc/hnn.h"
#include "pmhmc/model.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pmhmc_algorithm {
    PMHMC_ALGORITHM_PMHMC = 0, /* pseudo-marginal HMC: L steps of size h */
    PMHMC_ALGORITHM_PMNUTS = 1, /* pseudo-marginal NUTS (Stan's multinomial NUTS on (theta, u)) */
    PMHMC_ALGORITHM_HNN_HMC = 2, /* HMC on an HNN surrogate: L steps of size h on H~ (DESIGN §5) */
    PMHMC_ALGORITHM_HNN_NUTS = 3, /* NUTS on theta with the surrogate's dynamics, with online error
                                    monitoring (DESIGN §5) */
    PMHMC_ALGORITHM_CHEES = 4    /* ChEES-HMC (Hoffman, Radul, Sountsov 2021) on (theta, u): PM-HMC whose
                                    step size and jittered trajectory length are shared by every chain and
                                    adapted across them in warm-up (include/pmhmc/run.h runs them in lock
                                    step) */
} pmhmc_algorithm;

/* What HNN-PM-NUTS watches along a surrogate tree (DESIGN §5). */
typedef enum pmhmc_hnn_monitor {
    PMHMC_HNN_MONITOR_SURROGATE = 0, /* |H~ - H~0|: free */
    PMHMC_HNN_MONITOR_TRUE = 1       /* |H - H0| of the true pseudo-marginal energy at the chain's u:
                                        one estimator evaluation (no gradient) per leaf */
} pmhmc_hnn_monitor;

/* How HNN-HMC accepts the surrogate trajectory's end point (DESIGN §5). */
typedef enum pmhmc_hnn_accept {
    /* Metropolis on H~, as the source report and Dhulipala et al. do: no
     * estimator evaluations, and the chain targets the surrogate's
     * distribution, not the posterior. */
    PMHMC_HNN_ACCEPT_SURROGATE = 0,
    /* Potential networks only: a proposal that passes the surrogate test is
     * tested again (delayed acceptance) with u moved by Crank-Nicolson and
     * one estimator evaluation; the chain targets the exact posterior. */
    PMHMC_HNN_ACCEPT_EXACT = 1
} pmhmc_hnn_accept;

/* What the NUTS U-turn criterion looks at (DESIGN §4): both are valid
 * termination rules. */
typedef enum pmhmc_uturn {
    PMHMC_UTURN_EXTENDED = 0, /* theta and u together, as the source report does */
    PMHMC_UTURN_THETA = 1     /* theta only */
} pmhmc_uturn;

/* Warm-up adaptation as in Stan (DESIGN §4): dual averaging of the step
 * size towards an average acceptance statistic delta, and the diagonal of
 * M^-1 for theta from windows of warm-up (u keeps unit mass). */
typedef struct pmhmc_adapt_config {
    int engaged;        /* adapt during warm-up */
    int metric;         /* learn the diagonal metric too (else the step size only) */
    double delta;       /* target acceptance statistic, in (0, 1) */
    double gamma, kappa, t0;
    size_t init_buffer; /* iterations before the first metric window */
    size_t term_buffer; /* iterations after the last one (step size only) */
    size_t window;      /* the first metric window; each next one doubles */
} pmhmc_adapt_config;

typedef struct pmhmc_sampler_config {
    pmhmc_algorithm algorithm;
    size_t warmup;      /* transitions run first and not saved */
    size_t iterations;  /* saved transitions */
    double step_size;   /* h; with adaptation, where the step-size search starts */
    size_t steps;       /* PM-HMC: L, integrator steps per transition */
    double mass;        /* scalar mass m (M = m I), used when mass_diag is NULL */
    const double *mass_diag; /* [dim] diagonal of M, or NULL; copied at create */
    uint64_t seed;
    uint32_t chain;     /* chain index: selects the Philox stream */
    /* PM-NUTS */
    size_t max_depth;   /* at most 2^max_depth leaves per transition */
    double max_delta_h; /* a leaf with H - H0 above this is a divergence */
    pmhmc_uturn uturn;
    pmhmc_adapt_config adapt;
    /* HNN-HMC (uses step_size, steps and the mass too) */
    const pmhmc_mlp *hnn;        /* the surrogate, borrowed: must outlive the sampler */
    pmhmc_hnn_accept hnn_accept;
    double cn_angle;             /* exact mode: u* = u cos a + xi sin a, a in (0, pi/2] */
    /* HNN-PM-NUTS (uses max_depth, max_delta_h and the adaptation too) */
    pmhmc_hnn_monitor monitor;
    double max_error;  /* a monitored error above this: surrogate mode leaves the surrogate for
                          the rest of the tree and the next `cooldown` transitions; exact mode
                          ends the tree as a divergence */
    size_t cooldown;   /* PM-NUTS transitions after a fallback (surrogate mode) */
    /* ChEES-HMC (uses the step size, the mass and adapt.engaged, gamma, kappa, t0 too) */
    double chees_delta;         /* the acceptance the step size is tuned to (harmonic mean over chains) */
    double chees_learning_rate; /* Adam's on log T, the trajectory length */
} pmhmc_sampler_config;

/* The source report's settings: PM-HMC, h = 0.025, L = 20, m = 10, 1000
 * warm-up, 1000 saved, seed 1, chain 0, no adaptation; for PM-NUTS (when
 * the algorithm is changed) Stan's defaults: max_depth 10, max_delta_h 1000,
 * the extended U-turn, and adaptation settings delta 0.8, gamma 0.05,
 * kappa 0.75, t0 10, windows 75 / 25 / 50 with the metric learned; for
 * HNN-HMC no network (set hnn), exact acceptance, cn_angle 0.1; for
 * HNN-PM-NUTS the surrogate monitor, max_error 10, cooldown 20; for
 * ChEES-HMC delta 0.651 (Beskos et al.'s optimum for HMC, as the paper) and
 * learning rate 0.025. */
void pmhmc_sampler_config_default(pmhmc_sampler_config *config);

typedef struct pmhmc_draw {
    double lp;          /* log p(theta) + log phat(y | theta, u) of the kept
                           state; HNN-HMC in surrogate mode: the surrogate's
                           log density, -H~(theta, 0) */
    double accept_stat; /* PM-HMC: min(1, exp(H0 - H1)); PM-NUTS: the mean of
                           that over the trajectory's leaves (Stan's);
                           HNN-HMC: the surrogate test's min(1, exp(H~0 - H~1)),
                           which step-size adaptation targets */
    double stepsize;    /* the h this transition used */
    double int_time;    /* PM-HMC: h L */
    double energy;      /* H of the kept state (with the momenta it had); HNN-HMC: H~ */
    size_t treedepth;   /* PM-NUTS: doublings; PM-HMC: 0 */
    size_t n_leapfrog;  /* integrator steps (PM-HMC, PM-NUTS: estimator passes
                           with gradients; HNN-HMC: surrogate steps) */
    size_t n_estimates; /* estimator evaluations, with or without gradients
                           (HNN-HMC: 1 when the exact test ran, else 0) */
    size_t n_gradients; /* of those, with gradients */
    double surrogate_error; /* HNN-HMC: H~1 - H~0 over the trajectory; HNN-PM-NUTS:
                               the largest monitored error of the tree; else 0 */
    int surrogate_used; /* HNN-PM-NUTS: 1 when the tree started on the surrogate,
                           0 in cooldown (real PM-NUTS) */
    int fallback;       /* HNN-PM-NUTS surrogate mode: the tree left the surrogate */
    int accepted;       /* PM-HMC, HNN-HMC: the proposal was kept; PM-NUTS: the
                           state moved */
    int divergent;      /* PM-HMC: the proposal's energy was not finite (a
                           rejection with accept_stat 0, told apart from an
                           ordinary one); PM-NUTS: a leaf had H - H0 above
                           max_delta_h, which ended the tree */
    int warmup;         /* 1 while in warm-up: do not save */
    const double *theta; /* [dim] */
} pmhmc_draw;

/* ---- what each algorithm is -------------------------------------------------
 * One entry per algorithm in a registry (src/sampler/algorithms.c): the name
 * configs use, what it does that a front end must know about, and the
 * sampler's own columns of its draws, CmdStan's first (lp__, accept_stat__,
 * stepsize__, then int_time__ and energy__ for static HMC or treedepth__,
 * n_leapfrog__, divergent__ and energy__ for NUTS), its own after. */
typedef struct pmhmc_draw_column {
    const char *name;
    int integer; /* a count or a flag: print it as an integer */
    double (*value)(const pmhmc_draw *draw);
} pmhmc_draw_column;

typedef struct pmhmc_algorithm_info {
    pmhmc_algorithm id;
    const char *name;      /* sampler.algorithm's value: "pmhmc", "pmnuts", "hnn_hmc", "hnn_nuts" */
    const char *title;     /* for people: "PM-HMC", ... */
    int builds_trees;      /* NUTS: each transition has a tree depth and may diverge */
    int needs_network;     /* runs on an HNN surrogate (config.hnn) */
    int adapts_by_default; /* nobody can guess its step size beforehand: adapt.engaged = auto adapts */
    int has_cooldown;      /* may run real PM-NUTS transitions (draw.surrogate_used = 0) */
    int lockstep;          /* its chains move in lock step: the run adapts across them between
                              transitions (include/pmhmc/run.h), and needs at least 2 */
    const pmhmc_draw_column *columns;
    size_t n_columns;
} pmhmc_algorithm_info;

size_t pmhmc_algorithm_count(void);
/* The i-th algorithm, i < pmhmc_algorithm_count(). */
const pmhmc_algorithm_info *pmhmc_algorithm_at(size_t i);
/* NULL when there is none with that id or name. */
const pmhmc_algorithm_info *pmhmc_algorithm_by_id(pmhmc_algorithm id);
const pmhmc_algorithm_info *pmhmc_algorithm_by_name(const char *name);
/* ---- end of what each algorithm is ------------------------------------------ */

typedef struct pmhmc_sampler pmhmc_sampler;

/* Called at every gradient evaluation inside a trajectory (each B step of
 * PM-HMC, each leaf of PM-NUTS, the step-size search's trial steps; HNN-HMC
 * evaluates none) with
 * theta, its momentum rho there, grad = d/dtheta [log p(theta) + log phat]
 * at (theta, u), and the diagonal of M^-1 in use: the training data of an
 * HNN surrogate (DESIGN §5). All [dim]; valid during the call only. */
typedef void (*pmhmc_step_observer)(void *ctx, const double *theta, const double *rho, const double *grad,
                                    const double *inv_mass);

/* theta0 may be NULL for the model's documented start (pmhmc_model_initial).
 * Draws the initial u and evaluates the estimator there; fails with
 * PMHMC_ERR_NUMERIC when log phat is not finite at the start. */
pmhmc_status pmhmc_sampler_create(const pmhmc_model *model, pmhmc_backend *backend,
                                  const pmhmc_sampler_config *config, const double *theta0,
                                  pmhmc_sampler **out, pmhmc_error *err);
void pmhmc_sampler_free(pmhmc_sampler *sampler);

/* Moves the chain onto another model of the same parameters (model.N =
 * auto: the same model with another N) where it stands: theta, the
 * iteration, the step size, the metric and the adaptation are kept; u is
 * drawn afresh, as pmhmc_sampler_create draws it, so the sampler is in the
 * state one created with `model` at this theta would be. The model must
 * outlive the sampler (the old one is no longer used). Fails with
 * PMHMC_ERR_NUMERIC when log phat is not finite there, and then, as on any
 * failure, leaves the sampler as it was. */
pmhmc_status pmhmc_sampler_set_model(pmhmc_sampler *sampler, const pmhmc_model *model, pmhmc_error *err);

/* One transition. Fails only on backend errors; a non-finite proposal is a
 * rejection, not an error. */
pmhmc_status pmhmc_sampler_step(pmhmc_sampler *sampler, pmhmc_draw *draw);

/* Transitions done so far (warm-up included). */
size_t pmhmc_sampler_iteration(const pmhmc_sampler *sampler);

/* The step size the next transition will use: the adapted one after
 * warm-up. */
double pmhmc_sampler_step_size(const pmhmc_sampler *sampler);

/* Watches every gradient evaluation from now on (NULL: none). With an
 * observer the trajectories run in the host loop even on a backend that can
 * integrate on the device, since the gradients must reach the host. */
void pmhmc_sampler_set_observer(pmhmc_sampler *sampler, pmhmc_step_observer fn, void *ctx);

/* The diagonal of M^-1 now (adapted during warm-up when adapt.metric). */
void pmhmc_sampler_inv_metric(const pmhmc_sampler *sampler, double *out /* [dim] */);

/* The backend memory one chain with this config takes (its workspace:
 * pmhmc_workspace_bytes), in bytes; the host's own share (theta, the
 * metric, the tree) is small beside it. */
size_t pmhmc_sampler_workspace_bytes(const pmhmc_model *model, const pmhmc_backend *backend,
                                     const pmhmc_sampler_config *config);

/* ---- saving and restoring a chain's state (checkpoints) ---------------------
 * A chain's whole state (theta, u, the iteration, which keys every random draw
 * that follows, and whatever else the algorithm carries) as a byte string:
 * a sampler created from the same model, data and config that loads it then
 * steps exactly as the saved one would have, bit for bit. The string names
 * each part and its size; loading one from another model or config fails
 * with PMHMC_ERR_CONFIG and a message naming the part, a damaged one with
 * PMHMC_ERR_PARSE, and leaves the sampler unchanged. Part contents are in
 * the host's own representation: read them back on the same kind of machine
 * (pmhmc's checkpoint files check that). */

/* Bytes pmhmc_sampler_save_state writes; fixed for a given sampler. */
size_t pmhmc_sampler_state_size(pmhmc_sampler *sampler);
/* Writes the state into buf (at least pmhmc_sampler_state_size bytes). */
pmhmc_status pmhmc_sampler_save_state(pmhmc_sampler *sampler, void *buf, size_t bytes, pmhmc_error *err);
/* Restores a state pmhmc_sampler_save_state wrote (bytes: its exact size). */
pmhmc_status pmhmc_sampler_load_state(pmhmc_sampler *sampler, const void *buf, size_t bytes, pmhmc_error *err);
/* ---- end of saving and restoring -------------------------------------------- */

#ifdef __cplusplus
}
#endif
#endif
