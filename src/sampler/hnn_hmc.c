/* HNN-HMC (DESIGN §5, source report §8.1.1): HMC whose trajectories run on a
 * trained surrogate H~(theta, rho) instead of the estimator.
 *
 * One transition: rho ~ N(0, M); L steps of the report's leapfrog
 *     theta += (h/2) dH~/drho;  rho -= h dH~/dtheta;  theta += (h/2) dH~/drho
 * each derivative taken at the point reached so far (for the potential kind,
 * H~ = U~(theta) + rho' M^-1 rho / 2, dH~/drho = M^-1 rho exactly and the
 * step is the symplectic, reversible Strang step of PM-HMC's theta part);
 * then the surrogate test: accept with min(1, exp(H~0 - H~1)).
 *
 * Surrogate mode stops there: the chain targets exp(-H~), not the posterior.
 *
 * Exact mode (potential kind) tests a proposal that passed once more, with u
 * moved by Crank-Nicolson, u* = u cos a + xi sin a, which leaves N(0, I)
 * invariant, and one estimator evaluation at (theta*, u*):
 *     r = [p(theta*) phat(theta*, u*) exp(-U~(theta))]
 *       / [p(theta)  phat(theta, u)   exp(-U~(theta*))]
 * (delayed acceptance, Christen and Fox 2005: the momenta's and u's normal
 * densities cancel, the first test's ratio divides out), so the chain
 * targets pi(theta, u) exactly, however poor the network. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hnn/mlp.h"
#include "math/philox.h"
#include "math/streams.h"
#include "sampler/sampler_impl.h"
#include "math/portable_math.h"

/* The surrogate's walls: W(theta) = sum_i max(0, |z_i| - PMHMC_HNN_WALL)^2 / 2
 * on theta's standardized inputs z_i = (theta_i - in_mean_i) / in_sd_i (the
 * training data's means and sds), added to U~ (or H~) so the surrogate's
 * density exp(-U~ - W) is proper whatever the network does where it was
 * never trained: a tanh network is flat there, a softplus one may fall
 * without end, and a flat or falling surrogate sends the step-size search
 * and dual averaging (which see the surrogate's own energy error) to ever
 * larger steps. Inside the walls, over 8 training sds each way, nothing
 * changes; the exact test keeps the exact target whatever the surrogate is.
 * Returns W; adds dW/dtheta into grad [dim] when grad is not NULL. */
#define PMHMC_HNN_WALL 8.0

static double walls(const pmhmc_sampler *s, const double *theta, double *grad)
{
    const pmhmc_mlp *net = s->config.hnn;
    double w = 0.0;
    for (size_t i = 0; i < s->dim; ++i) {
        const double z = (theta[i] - net->in_mean[i]) / net->in_sd[i];
        const double excess = fabs(z) - PMHMC_HNN_WALL;
        if (excess > 0.0) {
            w += 0.5 * excess * excess;
            if (grad)
                grad[i] += (z > 0.0 ? excess : -excess) / net->in_sd[i];
        }
    }
    return w;
}

/* The latent network's S(theta, rho) [1] and its gradient [2 dim] (theta
 * part first) into net->grad, the walls included. */
static pmhmc_status latent_pass(pmhmc_sampler *s, pmhmc_surrogate *net, const double *theta, const double *rho,
                                double *S)
{
    const size_t d = s->dim;
    memcpy(net->x, theta, d * sizeof *theta);
    memcpy(net->x + d, rho, d * sizeof *rho);
    pmhmc_status st = pmhmc_mlp_input_grad(s->config.hnn, net->work, 1, net->x, net->y, net->grad);
    double sum = 0.0;
    for (size_t m = 0; m < s->config.hnn->spec.n_out; ++m)
        sum += net->y[m];
    *S = sum + walls(s, theta, net->grad);
    return st;
}

/* U~(theta) + W(theta) [1] and, when grad is not NULL, its gradient [dim]. */
static pmhmc_status potential(pmhmc_sampler *s, pmhmc_surrogate *net, const double *theta, double *U, double *grad)
{
    pmhmc_status st = grad ? pmhmc_mlp_input_grad(s->config.hnn, net->work, 1, theta, U, grad)
                           : pmhmc_mlp_forward(s->config.hnn, net->work, 1, theta, U);
    *U += walls(s, theta, grad);
    return st;
}

static int is_latent(const pmhmc_sampler *s) { return s->config.hnn->spec.kind == PMHMC_MLP_LATENT; }

/* H~(theta, rho); *U = U~(theta) for the potential kind. */
pmhmc_status pmhmc_hnn_energy(pmhmc_sampler *s, pmhmc_surrogate *net, const double *theta, const double *rho,
                              double *H, double *U)
{
    if (is_latent(s)) {
        *U = NAN;
        return latent_pass(s, net, theta, rho, H);
    }
    pmhmc_status st = potential(s, net, theta, U, NULL);
    *H = *U + pmhmc_sampler_kinetic(s, rho);
    return st;
}

/* theta += a dH~/drho at (theta, rho). */
static pmhmc_status drift(pmhmc_sampler *s, pmhmc_surrogate *net, double *theta, const double *rho, double a)
{
    const size_t d = s->dim;
    if (!is_latent(s)) {
        for (size_t i = 0; i < d; ++i)
            theta[i] += a * s->inv_mass[i] * rho[i];
        return PMHMC_OK;
    }
    double S;
    pmhmc_status st = latent_pass(s, net, theta, rho, &S);
    for (size_t i = 0; i < d; ++i)
        theta[i] += a * net->grad[d + i];
    return st;
}

/* rho -= a dH~/dtheta at (theta, rho). */
static pmhmc_status kick(pmhmc_sampler *s, pmhmc_surrogate *net, const double *theta, double *rho, double a)
{
    const size_t d = s->dim;
    double S;
    pmhmc_status st = is_latent(s) ? latent_pass(s, net, theta, rho, &S) : potential(s, net, theta, &S, net->grad);
    for (size_t i = 0; i < d; ++i)
        rho[i] -= a * net->grad[i];
    return st;
}

pmhmc_status pmhmc_hnn_leapfrog(pmhmc_sampler *s, pmhmc_surrogate *net, double *theta, double *rho, double h,
                                size_t steps)
{
    pmhmc_status st = PMHMC_OK;
    for (size_t l = 0; l < steps && st == PMHMC_OK; ++l) {
        if ((st = drift(s, net, theta, rho, 0.5 * h)) == PMHMC_OK && (st = kick(s, net, theta, rho, h)) == PMHMC_OK)
            st = drift(s, net, theta, rho, 0.5 * h);
    }
    return st;
}

pmhmc_status pmhmc_hnn_surrogate_lp(pmhmc_sampler *s, pmhmc_surrogate *net, const double *theta, double *lp)
{
    double H, U;
    if (is_latent(s)) {
        memset(s->scratch, 0, s->dim * sizeof *s->scratch); /* rho = 0 */
        pmhmc_status st = latent_pass(s, net, theta, s->scratch, &H);
        *lp = -H;
        return st;
    }
    pmhmc_status st = potential(s, net, theta, &U, NULL);
    *lp = -U;
    return st;
}

pmhmc_status pmhmc_hnn_exact_test(pmhmc_sampler *s, uint64_t it, double U0, double U1, int *accepted)
{
    const pmhmc_sampler_config *c = &s->config;
    pmhmc_status st;
    if ((st = pmhmc_ws_copy(s->ws, VEC_U_START, VEC_U)) != PMHMC_OK)
        return st;
    pmhmc_estimate_request req = {.theta = s->theta, .u = VEC_U, .p = -1, .grad_u = -1};
    double log_phat;
    if ((st = pmhmc_ws_normal(s->ws, VEC_P, c->seed, c->chain, pmhmc_stream_step(it, PMHMC_DRAW_CN))) != PMHMC_OK ||
        (st = pmhmc_ws_rotate(s->ws, VEC_U, VEC_P, c->cn_angle)) != PMHMC_OK ||
        (st = pmhmc_ws_estimate(s->ws, &req, &log_phat, NULL)) != PMHMC_OK) {
        /* u back with theta, so a caller that goes on after the error still
         * has a state whose log phat it knows */
        pmhmc_ws_copy(s->ws, VEC_U, VEC_U_START);
        return st;
    }
    const double log_prior = pmhmc_model_log_prior(s->model, s->theta, NULL);
    const double log_r = (log_prior + log_phat) - (s->log_prior + s->log_phat) + (U1 - U0);
    const double a2 = isfinite(log_r) ? fmin(1.0, pmhmc_exp(log_r)) : 0.0;
    *accepted = pmhmc_stream_uniform(c->seed, c->chain, pmhmc_stream_step(it, PMHMC_DRAW_ACCEPT), 1) < a2;
    if (*accepted) {
        s->log_prior = log_prior;
        s->log_phat = log_phat;
        return PMHMC_OK;
    }
    return pmhmc_ws_copy(s->ws, VEC_U, VEC_U_START);
}

static pmhmc_status transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    const pmhmc_sampler_config *c = &s->config;
    pmhmc_surrogate *net = s->algo;
    const uint64_t it = s->iteration;
    const double h = s->step_size;
    pmhmc_sampler_draw_rho(s, pmhmc_stream_step(it, PMHMC_DRAW_RHO));
    double H0, H1, U0, U1;
    pmhmc_status st;
    if ((st = pmhmc_hnn_energy(s, net, s->theta, s->rho, &H0, &U0)) != PMHMC_OK ||
        (st = pmhmc_hnn_leapfrog(s, net, s->theta, s->rho, h, c->steps)) != PMHMC_OK ||
        (st = pmhmc_hnn_energy(s, net, s->theta, s->rho, &H1, &U1)) != PMHMC_OK) {
        memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
        return st;
    }
    const int finite = isfinite(H0) && isfinite(H1);
    const double a1 = finite ? fmin(1.0, pmhmc_exp(H0 - H1)) : 0.0;
    int accepted = pmhmc_stream_uniform(c->seed, c->chain, pmhmc_stream_step(it, PMHMC_DRAW_ACCEPT), 0) < a1;
    size_t n_estimates = 0;
    if (accepted && c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT) {
        n_estimates = 1;
        if ((st = pmhmc_hnn_exact_test(s, it, U0, U1, &accepted)) != PMHMC_OK) {
            memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
            return st;
        }
    }
    if (!accepted)
        memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
    else if (c->hnn_accept == PMHMC_HNN_ACCEPT_SURROGATE && (st = pmhmc_hnn_surrogate_lp(s, net, s->theta, &net->lp)) != PMHMC_OK)
        return st;

    draw->lp = pmhmc_surrogate_draw_lp(s, net);
    draw->accept_stat = a1;
    draw->int_time = h * (double)c->steps;
    draw->energy = accepted ? H1 : H0;
    draw->treedepth = 0;
    draw->n_leapfrog = c->steps;
    draw->n_estimates = n_estimates;
    draw->surrogate_error = finite ? H1 - H0 : INFINITY;
    draw->accepted = accepted;
    draw->divergent = !finite;
    return PMHMC_OK;
}

static pmhmc_status trial_step(pmhmc_sampler *s, double h, uint64_t rho_step, uint64_t p_step, double *delta_H)
{
    (void)p_step; /* no u moves */
    pmhmc_surrogate *net = s->algo;
    pmhmc_sampler_draw_rho(s, rho_step);
    memcpy(s->theta_start, s->theta, s->dim * sizeof *s->theta);
    double H0, H1, U;
    pmhmc_status st = pmhmc_hnn_energy(s, net, s->theta, s->rho, &H0, &U);
    if (st == PMHMC_OK && (st = pmhmc_hnn_leapfrog(s, net, s->theta, s->rho, h, 1)) == PMHMC_OK)
        st = pmhmc_hnn_energy(s, net, s->theta, s->rho, &H1, &U);
    memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
    *delta_H = st == PMHMC_OK && isfinite(H0) && isfinite(H1) ? H0 - H1 : -INFINITY;
    return st;
}

/* ---- the surrogate as a part of a chain's state ---- */

pmhmc_status pmhmc_surrogate_check(const pmhmc_sampler_config *c, size_t dim, pmhmc_error *err)
{
    const pmhmc_mlp *net = c->hnn;
    if (!net)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s needs a network (hnn.weights)",
                          pmhmc_algorithm_by_id(c->algorithm)->name);
    const int latent = net->spec.kind == PMHMC_MLP_LATENT;
    if (net->spec.n_in != (latent ? 2 * dim : dim))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "the %s network takes %zu inputs; this model needs %zu",
                          latent ? "latent" : "potential", net->spec.n_in, latent ? 2 * dim : dim);
    if (c->hnn_accept != PMHMC_HNN_ACCEPT_SURROGATE && c->hnn_accept != PMHMC_HNN_ACCEPT_EXACT)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown hnn.accept %d", (int)c->hnn_accept);
    if (c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT && latent)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "hnn.accept = exact needs a potential network: a latent one's H~(theta, rho) "
                          "defines no density of theta to correct against");
    if (!(c->cn_angle > 0.0 && c->cn_angle <= 2.0 * atan(1.0)))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "hnn.cn_angle must be in (0, pi/2]");
    return PMHMC_OK;
}

/* The network's input, output and input-gradient for one point, and its
 * scratch. */
pmhmc_status pmhmc_surrogate_init(pmhmc_sampler *s, pmhmc_surrogate *net)
{
    const pmhmc_mlp *mlp = s->config.hnn;
    net->x = malloc((2 * mlp->spec.n_in + mlp->spec.n_out) * sizeof *net->x);
    if (!net->x)
        return PMHMC_ERR_NOMEM;
    net->grad = net->x + mlp->spec.n_in;
    net->y = net->grad + mlp->spec.n_in;
    return pmhmc_mlp_work_create(mlp, 1, &net->work);
}

void pmhmc_surrogate_release(pmhmc_surrogate *net)
{
    pmhmc_mlp_work_free(net->work);
    free(net->x);
}

pmhmc_status pmhmc_surrogate_start(pmhmc_sampler *s, pmhmc_surrogate *net, const char *where, pmhmc_error *err)
{
    pmhmc_status st = pmhmc_hnn_surrogate_lp(s, net, s->theta, &net->lp);
    if (st == PMHMC_OK && !isfinite(net->lp))
        st = pmhmc_fail(err, PMHMC_ERR_NUMERIC, "the surrogate's log density is not finite %s", where);
    return st;
}

double pmhmc_surrogate_draw_lp(const pmhmc_sampler *s, const pmhmc_surrogate *net)
{
    return s->config.hnn_accept == PMHMC_HNN_ACCEPT_SURROGATE ? net->lp : s->log_prior + s->log_phat;
}

/* ---- HNN-HMC as an algorithm: the surrogate is its whole state ---- */

static pmhmc_status create(pmhmc_sampler *s, void **state)
{
    pmhmc_surrogate *net = calloc(1, sizeof *net);
    if (!net)
        return PMHMC_ERR_NOMEM;
    *state = net;
    return pmhmc_surrogate_init(s, net);
}

static void release(void *state)
{
    if (state)
        pmhmc_surrogate_release(state);
    free(state);
}

static pmhmc_status evaluate(pmhmc_sampler *s, const char *where, pmhmc_error *err)
{
    pmhmc_status st = pmhmc_sampler_evaluate_value(s, where, err);
    return st == PMHMC_OK ? pmhmc_surrogate_start(s, s->algo, where, err) : st;
}

static void state_parts(pmhmc_sampler *s, pmhmc_sampler_state_parts *parts)
{
    pmhmc_surrogate *net = s->algo;
    pmhmc_state_parts_add(parts, "surrogate.lp", &net->lp, sizeof net->lp);
}

/* Static HMC's columns, then the surrogate's energy error, the estimator
 * evaluations and whether the proposal was kept (its mean is the acceptance
 * rate; in exact mode accepted__ / n_estimator__ is the exact test's). */
static const pmhmc_draw_column COLUMNS[] = {
    PMHMC_STATIC_HMC_COLUMNS, PMHMC_COLUMN_SURROGATE_ERROR, PMHMC_COLUMN_N_ESTIMATOR, PMHMC_COLUMN_ACCEPTED,
};

static const pmhmc_algorithm_info INFO = {
    .id = PMHMC_ALGORITHM_HNN_HMC, .name = "hnn_hmc", .title = "HNN-HMC",
    .needs_network = 1, .adapts_by_default = 1,
    .columns = COLUMNS, .n_columns = sizeof COLUMNS / sizeof COLUMNS[0],
};

const pmhmc_algorithm_ops pmhmc_hnn_hmc_ops = {
    .info = &INFO,
    .check = pmhmc_surrogate_check,
    .create = create,
    .free = release,
    .evaluate = evaluate,
    .transition = transition,
    .trial_step = trial_step,
    .state_parts = state_parts,
};
