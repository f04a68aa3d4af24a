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

#include "math/streams.h"
#include "sampler/sampler_impl.h"

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
    s->hnn_run.n_estimates++;
    s->hnn_run.n_gradients++;
    return st;
}

/* log p + log phat at (theta, the chain's u), no gradient. */
static pmhmc_status true_value(pmhmc_sampler *s, const double *theta, double *lp)
{
    pmhmc_estimate_request req = {.theta = theta, .u = VEC_U, .p = -1, .grad_u = -1};
    double log_phat;
    pmhmc_status st = pmhmc_ws_estimate(s->ws, &req, &log_phat, NULL);
    *lp = pmhmc_model_log_prior(s->model, theta, NULL) + log_phat;
    s->hnn_run.n_estimates++;
    return st;
}

/* The true energy at the tree's start (theta0 with the start's momentum
 * energy K0), computed the first time it is needed: the chain's log p +
 * log phat unless the surrogate has moved theta since they were taken. */
static pmhmc_status true_start(pmhmc_sampler *s)
{
    struct pmhmc_hnn_tree_run *r = &s->hnn_run;
    if (!isnan(r->H0_true))
        return PMHMC_OK;
    double lp = s->log_prior + s->log_phat;
    pmhmc_status st = PMHMC_OK;
    if (s->log_phat_stale && (st = true_value(s, r->theta0, &lp)) == PMHMC_OK) {
        /* theta0 is the chain's theta: keep what was learnt there */
        s->log_prior = pmhmc_model_log_prior(s->model, r->theta0, NULL);
        s->log_phat = lp - s->log_prior;
        s->log_phat_stale = 0;
    }
    r->H0_true = -lp + r->K0;
    return st;
}

/* ---- the dynamics the tree calls (sampler/nuts.h) ---- */

static pmhmc_status tree_start(void *ctx, pmhmc_kdk_point *x, double *H)
{
    pmhmc_sampler *s = ctx;
    struct pmhmc_hnn_tree_run *r = &s->hnn_run;
    r->switched = 0;
    r->H0_true = NAN;
    r->K0 = pmhmc_sampler_kinetic(s, x->z.rho);
    memcpy(r->theta0, x->z.theta, s->dim * sizeof *r->theta0);
    pmhmc_status st = pmhmc_hnn_energy(s, x->z.theta, x->z.rho, &r->H0, &r->U0);
    *H = r->H0;
    return st;
}

/* The real dynamics at the chain's u: kick-drift-kick with the true
 * gradient (taken afresh at the step's start, since the point may carry the
 * surrogate's), the energy relative to the true start. */
static pmhmc_status real_step(pmhmc_sampler *s, pmhmc_kdk_point *x, double h, double *H)
{
    struct pmhmc_hnn_tree_run *r = &s->hnn_run;
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
    struct pmhmc_hnn_tree_run *r = &s->hnn_run;
    const pmhmc_sampler_config *c = &s->config;
    if (r->switched)
        return real_step(s, x, h, H);
    const int may_switch = c->hnn_accept == PMHMC_HNN_ACCEPT_SURROGATE && !r->trial;
    double *theta = x->z.theta, *rho = x->z.rho;
    memcpy(r->save, theta, s->dim * sizeof *theta);
    memcpy(r->save + s->dim, rho, s->dim * sizeof *rho);
    double U, error;
    pmhmc_status st;
    if ((st = pmhmc_hnn_leapfrog(s, theta, rho, h, 1)) != PMHMC_OK || (st = pmhmc_hnn_energy(s, theta, rho, H, &U)) != PMHMC_OK)
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

pmhmc_status pmhmc_hnn_nuts_create(pmhmc_sampler *s)
{
    const pmhmc_sampler_config *c = &s->config;
    s->hnn_run.save = calloc(4 * s->dim, sizeof *s->hnn_run.save);
    if (!s->hnn_run.save)
        return PMHMC_ERR_NOMEM;
    s->hnn_run.grad = s->hnn_run.save + 2 * s->dim;
    s->hnn_run.theta0 = s->hnn_run.save + 3 * s->dim;
    /* The theta-only tree touches no workspace vector: any first index. */
    pmhmc_status st = pmhmc_nuts_create(&s->integ, s->sqrt_mass, c->max_depth, c->max_delta_h, PMHMC_UTURN_THETA,
                                        0, &s->hnn_tree);
    if (st != PMHMC_OK)
        return st;
    pmhmc_nuts_dynamics dyn = {tree_start, tree_step, s};
    if (c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT)
        pmhmc_nuts_set_max_spread(s->hnn_tree, c->max_error);
    return pmhmc_nuts_set_dynamics(s->hnn_tree, &dyn);
}

void pmhmc_hnn_nuts_free(pmhmc_sampler *s)
{
    pmhmc_nuts_free(s->hnn_tree);
    free(s->hnn_run.save);
}

/* A cooldown starts: a fresh u at the current theta, and the state PM-NUTS
 * needs there (log phat, both gradients). */
static pmhmc_status start_cooldown(pmhmc_sampler *s, uint64_t it)
{
    const pmhmc_sampler_config *c = &s->config;
    pmhmc_status st;
    if ((st = pmhmc_ws_copy(s->ws, VEC_U_START, VEC_U)) != PMHMC_OK ||
        (st = pmhmc_ws_normal(s->ws, VEC_U, c->seed, c->chain, pmhmc_stream_step(it, PMHMC_DRAW_FRESH_U))) != PMHMC_OK)
        return st;
    pmhmc_kdk_point x = {.z = {.theta = s->theta, .u = VEC_U}, .grad = s->grad, .grad_u = VEC_GRAD_U};
    for (int attempt = 0; attempt < 2; ++attempt) {
        if ((st = pmhmc_kdk_evaluate(&s->integ, &x)) != PMHMC_OK)
            return st;
        s->hnn_run.n_estimates++;
        s->hnn_run.n_gradients++;
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
    s->log_phat_stale = !finite;
    s->cooldown_left = finite ? c->cooldown : 0;
    return PMHMC_OK;
}

static pmhmc_status cooldown_transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    pmhmc_status st = pmhmc_pmnuts_transition(s, draw);
    if (st != PMHMC_OK)
        return st;
    s->cooldown_left--;
    draw->surrogate_used = 0;
    draw->n_estimates += s->hnn_run.n_estimates;
    draw->n_gradients += s->hnn_run.n_gradients;
    return draw->accepted ? pmhmc_hnn_surrogate_lp(s, s->theta, &s->hnn_lp) : PMHMC_OK;
}

pmhmc_status pmhmc_hnn_nuts_transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    const pmhmc_sampler_config *c = &s->config;
    const uint64_t it = s->iteration;
    struct pmhmc_hnn_tree_run *r = &s->hnn_run;
    r->n_estimates = r->n_gradients = 0;
    r->max_error = 0.0;
    if (s->cooldown_left > 0)
        return cooldown_transition(s, draw);

    pmhmc_nuts_state cur = {s->theta, r->grad, s->log_prior, s->log_phat, VEC_U, VEC_GRAD_U};
    pmhmc_nuts_result res;
    pmhmc_status st = pmhmc_nuts_transition(s->hnn_tree, &cur, s->step_size, c->seed, c->chain, it, &res);
    if (st != PMHMC_OK)
        return st;
    const int moved = memcmp(s->theta_start, s->theta, s->dim * sizeof *s->theta) != 0;
    int accepted = moved;
    if (moved && c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT) {
        double U1, H1;
        if ((st = pmhmc_hnn_energy(s, s->theta, s->rho, &H1, &U1)) != PMHMC_OK ||
            (st = pmhmc_hnn_exact_test(s, it, r->U0, U1, &accepted)) != PMHMC_OK) {
            memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
            return st;
        }
        r->n_estimates++;
        if (!accepted)
            memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
    } else if (moved) {
        s->log_phat_stale = 1;
        if ((st = pmhmc_hnn_surrogate_lp(s, s->theta, &s->hnn_lp)) != PMHMC_OK)
            return st;
    }
    const int fallback = r->switched;
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
pmhmc_status pmhmc_hnn_nuts_trial_step(pmhmc_sampler *s, double h, uint64_t rho_step, double *delta_H)
{
    pmhmc_nuts_state cur = {s->theta, s->hnn_run.grad, s->log_prior, s->log_phat, VEC_U, VEC_GRAD_U};
    s->hnn_run.trial = 1;
    pmhmc_status st = pmhmc_nuts_trial_step(s->hnn_tree, &cur, h, s->config.seed, s->config.chain, rho_step, 0, delta_H);
    s->hnn_run.trial = 0;
    return st;
}
