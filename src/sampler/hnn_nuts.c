/* HNN-PM-NUTS (DESIGN §5, source report §6.2, issue 7): Stan's NUTS
 * (sampler/nuts.c) on theta alone, its leaves steps of the surrogate's
 * leapfrog (hnn_hmc.c), u held where the chain has it, while a monitor
 * watches the error the surrogate accumulates along the tree:
 *   surrogate monitor: |H~ - H~0| (free);
 *   true monitor:      |H - H0| of the true pseudo-marginal energy
 *                      -log p(theta) - log phat(theta, u) + rho'M^-1 rho/2
 *                      at the chain's u (one estimator pass without
 *                      gradient per leaf).
 *
 * Surrogate mode (approximate): past max_error the tree leaves the
 * surrogate: that leaf is redone, and the rest of the tree is built, with
 * the real gradient of log p + log phat at the chain's u (two estimator
 * passes with gradients per leaf; energies relative to the true start, so
 * the tree's weights and its ordinary divergence threshold keep their
 * meaning), and the next `cooldown` transitions are real PM-NUTS on
 * (theta, u), starting from a fresh u drawn at the current theta.
 *
 * Exact mode (potential networks): a subtree whose surrogate energies spread
 * over more than max_error ends the tree as a divergence (nuts.h's
 * max_spread: a stop that depends on the subtree's states alone, so the tree
 * stays reversible for exp(-U~), which the exact test needs; |H~ - H~0|
 * against the transition's start would not), and there is no cooldown; the
 * tree's proposal, when it moved, is then tested again with u moved by
 * Crank-Nicolson and one estimator evaluation (hnn_hmc.c's delayed
 * acceptance), so the chain targets the posterior. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "math/streams.h"
#include "sampler/sampler_impl.h"

/* HNN-PM-NUTS's state beyond the chain's. */
typedef struct hnn_nuts_state {
    pmhmc_surrogate net;
    pmhmc_nuts *tree;     /* NUTS on theta with the surrogate's dynamics */
    pmhmc_pmnuts pmnuts;  /* surrogate mode: the cooldown's PM-NUTS (tree NULL in exact mode) */
    struct hnn_tree_run {
        double H0, K0, U0;  /* the tree's start: H~, rho'M^-1 rho/2, U~ */
        double H0_true;     /* the true energy there, at the chain's u (NAN: not yet known) */
        int switched;       /* the rest of this tree runs the real dynamics */
        int trial;          /* a step-size search's trial step: never switch */
        double max_error;   /* the largest monitored error in this tree */
        size_t n_estimates, n_gradients;
        double *save;       /* [2 dim] theta and rho before a step, for a fallback's redo */
        double *grad;       /* [dim] the tree's gradient slot of the current state */
        double *theta0;     /* [dim] where the tree started */
    } run;
    size_t cooldown_left;  /* PM-NUTS transitions still to run */
    int log_phat_stale;    /* surrogate mode: log_prior, log_phat and PM-NUTS's gradients are of an
                              earlier theta (the surrogate moved it, u stayed) */
} hnn_nuts_state;

static int surrogate_mode(const pmhmc_sampler_config *c) { return c->hnn_accept == PMHMC_HNN_ACCEPT_SURROGATE; }

/* grad [dim] = d/dtheta [log p + log phat] at (theta, the chain's u), and
 * *lp = log p + log phat there. */
static pmhmc_status true_gradient(pmhmc_sampler *s, const double *theta, double *grad, double *lp)
{
    pmhmc_estimate_request req = {.theta = theta, .u = VEC_U, .p = -1, .grad_u = -1};
    double log_phat;
    pmhmc_status st = pmhmc_ws_estimate(s->ws, &req, &log_phat, grad);
    double *prior_grad = s->scratch;
    const double log_prior = pmhmc_model_log_prior(s->model, theta, prior_grad);
    for (size_t i = 0; i < s->dim; ++i)
        grad[i] += prior_grad[i];
    *lp = log_prior + log_phat;
    hnn_nuts_state *hs = s->algo;
    hs->run.n_estimates++;
    hs->run.n_gradients++;
    return st;
}

/* log p + log phat at (theta, the chain's u), no gradient. */
static pmhmc_status true_value(pmhmc_sampler *s, const double *theta, double *lp)
{
    pmhmc_estimate_request req = {.theta = theta, .u = VEC_U, .p = -1, .grad_u = -1};
    double log_phat;
    pmhmc_status st = pmhmc_ws_estimate(s->ws, &req, &log_phat, NULL);
    *lp = pmhmc_model_log_prior(s->model, theta, NULL) + log_phat;
    hnn_nuts_state *hs = s->algo;
    hs->run.n_estimates++;
    return st;
}

/* The true energy at the tree's start (theta0 with the start's momentum
 * energy K0), computed the first time it is needed: the chain's log p +
 * log phat unless the surrogate has moved theta since they were taken. */
static pmhmc_status true_start(pmhmc_sampler *s)
{
    hnn_nuts_state *hs = s->algo;
    struct hnn_tree_run *r = &hs->run;
    if (!isnan(r->H0_true))
        return PMHMC_OK;
    double lp = s->log_prior + s->log_phat;
    pmhmc_status st = PMHMC_OK;
    if (hs->log_phat_stale && (st = true_value(s, r->theta0, &lp)) == PMHMC_OK) {
        /* theta0 is the chain's theta: keep what was learnt there */
        s->log_prior = pmhmc_model_log_prior(s->model, r->theta0, NULL);
        s->log_phat = lp - s->log_prior;
        hs->log_phat_stale = 0;
    }
    r->H0_true = -lp + r->K0;
    return st;
}

/* ---- the dynamics the tree calls (sampler/nuts.h) ---- */

static pmhmc_status tree_start(void *ctx, pmhmc_kdk_point *x, double *H)
{
    pmhmc_sampler *s = ctx;
    hnn_nuts_state *hs = s->algo;
    struct hnn_tree_run *r = &hs->run;
    r->switched = 0;
    r->H0_true = NAN;
    r->K0 = pmhmc_sampler_kinetic(s, x->z.rho);
    memcpy(r->theta0, x->z.theta, s->dim * sizeof *r->theta0);
    pmhmc_status st = pmhmc_hnn_energy(s, &hs->net, x->z.theta, x->z.rho, &r->H0, &r->U0);
    *H = r->H0;
    return st;
}

/* The real dynamics at the chain's u: kick-drift-kick with the true
 * gradient (taken afresh at the step's start, since the point may carry the
 * surrogate's), the energy relative to the true start. */
static pmhmc_status real_step(pmhmc_sampler *s, pmhmc_kdk_point *x, double h, double *H)
{
    hnn_nuts_state *hs = s->algo;
    struct hnn_tree_run *r = &hs->run;
    double *theta = x->z.theta, *rho = x->z.rho, *g = x->grad, lp;
    pmhmc_status st;
    if ((st = true_start(s)) != PMHMC_OK || (st = true_gradient(s, theta, g, &lp)) != PMHMC_OK)
        return st;
    for (size_t i = 0; i < s->dim; ++i) {
        rho[i] += 0.5 * h * g[i];
        theta[i] += h * s->inv_mass[i] * rho[i];
    }
    if ((st = true_gradient(s, theta, g, &lp)) != PMHMC_OK)
        return st;
    for (size_t i = 0; i < s->dim; ++i)
        rho[i] += 0.5 * h * g[i];
    const double H_true = -lp + pmhmc_sampler_kinetic(s, rho);
    *H = isfinite(H_true) ? H_true - r->H0_true + r->H0 : INFINITY;
    return PMHMC_OK;
}

static pmhmc_status tree_step(void *ctx, pmhmc_kdk_point *x, double h, double *H)
{
    pmhmc_sampler *s = ctx;
    hnn_nuts_state *hs = s->algo;
    struct hnn_tree_run *r = &hs->run;
    const pmhmc_sampler_config *c = &s->config;
    if (r->switched)
        return real_step(s, x, h, H);
    const int may_switch = c->hnn_accept == PMHMC_HNN_ACCEPT_SURROGATE && !r->trial;
    double *theta = x->z.theta, *rho = x->z.rho;
    memcpy(r->save, theta, s->dim * sizeof *theta);
    memcpy(r->save + s->dim, rho, s->dim * sizeof *rho);
    double U, error;
    pmhmc_status st;
    if ((st = pmhmc_hnn_leapfrog(s, &hs->net, theta, rho, h, 1)) != PMHMC_OK || (st = pmhmc_hnn_energy(s, &hs->net, theta, rho, H, &U)) != PMHMC_OK)
        return st;
    if (c->monitor == PMHMC_HNN_MONITOR_TRUE) {
        double lp;
        if ((st = true_start(s)) != PMHMC_OK || (st = true_value(s, theta, &lp)) != PMHMC_OK)
            return st;
        error = fabs(-lp + pmhmc_sampler_kinetic(s, rho) - r->H0_true);
    } else {
        error = fabs(*H - r->H0);
    }
    r->max_error = isnan(error) ? INFINITY : fmax(r->max_error, error);
    if (may_switch && !(error <= c->max_error)) { /* NaN too */
        r->switched = 1;
        memcpy(theta, r->save, s->dim * sizeof *theta);
        memcpy(rho, r->save + s->dim, s->dim * sizeof *rho);
        return real_step(s, x, h, H);
    }
    return PMHMC_OK;
}

/* ---- the sampler's side ---- */

/* A cooldown starts: a fresh u at the current theta, and the state PM-NUTS
 * needs there (log phat, both gradients). */
static pmhmc_status start_cooldown(pmhmc_sampler *s, uint64_t it)
{
    const pmhmc_sampler_config *c = &s->config;
    hnn_nuts_state *hs = s->algo;
    pmhmc_status st;
    if ((st = pmhmc_ws_copy(s->ws, VEC_U_START, VEC_U)) != PMHMC_OK ||
        (st = pmhmc_ws_normal(s->ws, VEC_U, c->seed, c->chain, pmhmc_stream_step(it, PMHMC_DRAW_FRESH_U))) != PMHMC_OK)
        return st;
    pmhmc_kdk_point x = {.z = {.theta = s->theta, .u = VEC_U}, .grad = hs->pmnuts.grad, .grad_u = VEC_GRAD_U};
    for (int attempt = 0; attempt < 2; ++attempt) {
        if ((st = pmhmc_kdk_evaluate(&s->integ, &x)) != PMHMC_OK)
            return st;
        hs->run.n_estimates++;
        hs->run.n_gradients++;
        if (isfinite(x.z.log_phat) && isfinite(x.z.log_prior))
            break;
        /* the fresh u fails at this theta: back to the chain's own u */
        if (attempt == 0 && (st = pmhmc_ws_copy(s->ws, VEC_U, VEC_U_START)) != PMHMC_OK)
            return st;
    }
    s->log_phat = x.z.log_phat;
    s->log_prior = x.z.log_prior;
    /* PM-NUTS needs a finite start; without one the surrogate goes on */
    const int finite = isfinite(s->log_phat + s->log_prior);
    hs->log_phat_stale = !finite;
    hs->cooldown_left = finite ? c->cooldown : 0;
    return PMHMC_OK;
}

static pmhmc_status cooldown_transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    hnn_nuts_state *hs = s->algo;
    pmhmc_status st = pmhmc_pmnuts_run(s, &hs->pmnuts, draw);
    if (st != PMHMC_OK)
        return st;
    hs->cooldown_left--;
    draw->surrogate_used = 0;
    draw->n_estimates += hs->run.n_estimates;
    draw->n_gradients += hs->run.n_gradients;
    if (draw->accepted && (st = pmhmc_hnn_surrogate_lp(s, &hs->net, s->theta, &hs->net.lp)) != PMHMC_OK)
        return st;
    draw->lp = pmhmc_surrogate_draw_lp(s, &hs->net);
    return PMHMC_OK;
}

static pmhmc_status transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    const pmhmc_sampler_config *c = &s->config;
    const uint64_t it = s->iteration;
    hnn_nuts_state *hs = s->algo;
    struct hnn_tree_run *r = &hs->run;
    r->n_estimates = r->n_gradients = 0;
    r->max_error = 0.0;
    if (hs->cooldown_left > 0)
        return cooldown_transition(s, draw);

    pmhmc_nuts_state cur = {s->theta, r->grad, s->log_prior, s->log_phat, VEC_U, VEC_GRAD_U};
    pmhmc_nuts_result res;
    pmhmc_status st = pmhmc_nuts_transition(hs->tree, &cur, s->step_size, c->seed, c->chain, it, &res);
    if (st != PMHMC_OK)
        return st;
    const int moved = memcmp(s->theta_start, s->theta, s->dim * sizeof *s->theta) != 0;
    int accepted = moved;
    if (moved && c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT) {
        double U1, H1;
        if ((st = pmhmc_hnn_energy(s, &hs->net, s->theta, s->rho, &H1, &U1)) != PMHMC_OK ||
            (st = pmhmc_hnn_exact_test(s, it, r->U0, U1, &accepted)) != PMHMC_OK) {
            memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
            return st;
        }
        r->n_estimates++;
        if (!accepted)
            memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
    } else if (moved) {
        hs->log_phat_stale = 1;
        if ((st = pmhmc_hnn_surrogate_lp(s, &hs->net, s->theta, &hs->net.lp)) != PMHMC_OK)
            return st;
    }
    const int fallback = r->switched;
    draw->lp = pmhmc_surrogate_draw_lp(s, &hs->net);
    draw->accept_stat = res.accept_stat;
    draw->int_time = NAN;
    draw->energy = moved && !accepted ? r->H0 : res.energy; /* the kept state's */
    draw->treedepth = res.depth;
    draw->n_leapfrog = res.n_leapfrog;
    draw->accepted = accepted;
    draw->divergent = res.divergent;
    draw->surrogate_used = 1;
    draw->fallback = fallback;
    draw->surrogate_error = r->max_error;
    if (fallback && c->cooldown > 0 && (st = start_cooldown(s, it)) != PMHMC_OK)
        return st;
    draw->n_estimates = r->n_estimates;
    draw->n_gradients = r->n_gradients;
    return PMHMC_OK;
}

/* The surrogate's own step: the search tunes h for the dynamics the chain
 * runs, so no switch to the true gradient here. */
static pmhmc_status trial_step(pmhmc_sampler *s, double h, uint64_t rho_step, uint64_t p_step, double *delta_H)
{
    (void)p_step; /* no u moves */
    hnn_nuts_state *hs = s->algo;
    pmhmc_nuts_state cur = {s->theta, hs->run.grad, s->log_prior, s->log_phat, VEC_U, VEC_GRAD_U};
    hs->run.trial = 1;
    pmhmc_status st = pmhmc_nuts_trial_step(hs->tree, &cur, h, s->config.seed, s->config.chain, rho_step, 0, delta_H);
    hs->run.trial = 0;
    return st;
}

static pmhmc_status check(const pmhmc_sampler_config *c, size_t dim, pmhmc_error *err)
{
    pmhmc_status st = pmhmc_nuts_check_settings(c, err);
    if (st == PMHMC_OK)
        st = pmhmc_surrogate_check(c, dim, err);
    if (st != PMHMC_OK)
        return st;
    if (c->monitor != PMHMC_HNN_MONITOR_SURROGATE && c->monitor != PMHMC_HNN_MONITOR_TRUE)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown hnn.monitor %d", (int)c->monitor);
    if (!(c->max_error > 0.0))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "hnn.max_error must be positive");
    if (c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT && c->monitor == PMHMC_HNN_MONITOR_TRUE)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "hnn.monitor = true cannot be used with hnn.accept = exact: a tree that stops on "
                          "the chain's u is no longer a reversible move of theta, which the exact test needs");
    return PMHMC_OK;
}

static int workspace_vectors(const pmhmc_sampler_config *c)
{
    return surrogate_mode(c) ? pmhmc_pmnuts_vectors(c) : 0;
}

static void release(void *state)
{
    hnn_nuts_state *hs = state;
    if (!hs)
        return;
    pmhmc_surrogate_release(&hs->net);
    pmhmc_pmnuts_release(&hs->pmnuts);
    pmhmc_nuts_free(hs->tree);
    free(hs->run.save);
    free(hs);
}

static pmhmc_status create(pmhmc_sampler *s, void **state)
{
    const pmhmc_sampler_config *c = &s->config;
    hnn_nuts_state *hs = calloc(1, sizeof *hs);
    if (!hs)
        return PMHMC_ERR_NOMEM;
    *state = hs;
    pmhmc_status st;
    if (surrogate_mode(c) && (st = pmhmc_pmnuts_init(s, &hs->pmnuts)) != PMHMC_OK)
        return st;
    if ((st = pmhmc_surrogate_init(s, &hs->net)) != PMHMC_OK)
        return st;
    hs->run.save = calloc(4 * s->dim, sizeof *hs->run.save);
    if (!hs->run.save)
        return PMHMC_ERR_NOMEM;
    hs->run.grad = hs->run.save + 2 * s->dim;
    hs->run.theta0 = hs->run.save + 3 * s->dim;
    /* The theta-only tree touches no workspace vector: any first index. */
    st = pmhmc_nuts_create(&s->integ, s->sqrt_mass, c->max_depth, c->max_delta_h, PMHMC_UTURN_THETA, 0, &hs->tree);
    if (st != PMHMC_OK)
        return st;
    pmhmc_nuts_dynamics dyn = {tree_start, tree_step, s};
    if (c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT)
        pmhmc_nuts_set_max_spread(hs->tree, c->max_error);
    return pmhmc_nuts_set_dynamics(hs->tree, &dyn);
}

/* The estimate where the chain is (with PM-NUTS's gradients in surrogate
 * mode, for a cooldown) and the surrogate's density there: nothing stale. */
static pmhmc_status evaluate(pmhmc_sampler *s, const char *where, pmhmc_error *err)
{
    hnn_nuts_state *hs = s->algo;
    pmhmc_status st = surrogate_mode(&s->config) ? pmhmc_pmnuts_evaluate(s, &hs->pmnuts) : PMHMC_OK;
    if (st == PMHMC_OK)
        st = surrogate_mode(&s->config) ? pmhmc_sampler_require_finite(s, where, err)
                                        : pmhmc_sampler_evaluate_value(s, where, err);
    if (st == PMHMC_OK && (st = pmhmc_surrogate_start(s, &hs->net, where, err)) == PMHMC_OK)
        hs->log_phat_stale = 0;
    return st;
}

static void state_parts(pmhmc_sampler *s, pmhmc_sampler_state_parts *parts)
{
    hnn_nuts_state *hs = s->algo;
    if (surrogate_mode(&s->config))
        pmhmc_pmnuts_parts(s, &hs->pmnuts, parts);
    pmhmc_state_parts_add(parts, "surrogate.lp", &hs->net.lp, sizeof hs->net.lp);
    pmhmc_state_parts_add(parts, "hnn_nuts.cooldown_left", &hs->cooldown_left, sizeof hs->cooldown_left);
    pmhmc_state_parts_add(parts, "hnn_nuts.log_phat_stale", &hs->log_phat_stale, sizeof hs->log_phat_stale);
}

/* NUTS's columns, then whether the tree started on the surrogate (0 in
 * cooldown), whether it fell back, the largest monitored error, estimator
 * evaluations (all, and with gradients) and whether the state moved. */
static const pmhmc_draw_column COLUMNS[] = {
    PMHMC_NUTS_COLUMNS,        PMHMC_COLUMN_SURROGATE,  PMHMC_COLUMN_FALLBACK, PMHMC_COLUMN_MONITOR_ERROR,
    PMHMC_COLUMN_N_ESTIMATOR, PMHMC_COLUMN_N_GRADIENT, PMHMC_COLUMN_ACCEPTED,
};

static const pmhmc_algorithm_info INFO = {
    .id = PMHMC_ALGORITHM_HNN_NUTS, .name = "hnn_nuts", .title = "HNN-PM-NUTS",
    .builds_trees = 1, .needs_network = 1, .adapts_by_default = 1, .has_cooldown = 1,
    .columns = COLUMNS, .n_columns = sizeof COLUMNS / sizeof COLUMNS[0],
};

const pmhmc_algorithm_ops pmhmc_hnn_nuts_ops = {
    .info = &INFO,
    .check = check,
    .workspace_vectors = workspace_vectors,
    .create = create,
    .free = release,
    .evaluate = evaluate,
    .transition = transition,
    .trial_step = trial_step,
    .state_parts = state_parts,
};
