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
#include <string.h>

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
 * part first) into s->hnn_grad, the walls included. */
static pmhmc_status latent_pass(pmhmc_sampler *s, const double *theta, const double *rho, double *S)
{
    const size_t d = s->dim;
    memcpy(s->hnn_x, theta, d * sizeof *theta);
    memcpy(s->hnn_x + d, rho, d * sizeof *rho);
    pmhmc_status st = pmhmc_mlp_input_grad(s->config.hnn, s->hnn_work, 1, s->hnn_x, s->hnn_y, s->hnn_grad);
    double sum = 0.0;
    for (size_t m = 0; m < s->config.hnn->spec.n_out; ++m)
        sum += s->hnn_y[m];
    *S = sum + walls(s, theta, s->hnn_grad);
    return st;
}

/* U~(theta) + W(theta) [1] and, when grad is not NULL, its gradient [dim]. */
static pmhmc_status potential(pmhmc_sampler *s, const double *theta, double *U, double *grad)
{
    pmhmc_status st = grad ? pmhmc_mlp_input_grad(s->config.hnn, s->hnn_work, 1, theta, U, grad)
                           : pmhmc_mlp_forward(s->config.hnn, s->hnn_work, 1, theta, U);
    *U += walls(s, theta, grad);
    return st;
}

static int is_latent(const pmhmc_sampler *s) { return s->config.hnn->spec.kind == PMHMC_MLP_LATENT; }

/* H~(theta, rho); *U = U~(theta) for the potential kind. */
pmhmc_status pmhmc_hnn_energy(pmhmc_sampler *s, const double *theta, const double *rho, double *H, double *U)
{
    if (is_latent(s)) {
        *U = NAN;
        return latent_pass(s, theta, rho, H);
    }
    pmhmc_status st = potential(s, theta, U, NULL);
    *H = *U + pmhmc_sampler_kinetic(s, rho);
    return st;
}

/* theta += a dH~/drho at (theta, rho). */
static pmhmc_status drift(pmhmc_sampler *s, double *theta, const double *rho, double a)
{
    const size_t d = s->dim;
    if (!is_latent(s)) {
        for (size_t i = 0; i < d; ++i)
            theta[i] += a * s->inv_mass[i] * rho[i];
        return PMHMC_OK;
    }
    double S;
    pmhmc_status st = latent_pass(s, theta, rho, &S);
    for (size_t i = 0; i < d; ++i)
        theta[i] += a * s->hnn_grad[d + i];
    return st;
}

/* rho -= a dH~/dtheta at (theta, rho). */
static pmhmc_status kick(pmhmc_sampler *s, const double *theta, double *rho, double a)
{
    const size_t d = s->dim;
    double S;
    pmhmc_status st = is_latent(s) ? latent_pass(s, theta, rho, &S) : potential(s, theta, &S, s->hnn_grad);
    for (size_t i = 0; i < d; ++i)
        rho[i] -= a * s->hnn_grad[i];
    return st;
}

pmhmc_status pmhmc_hnn_leapfrog(pmhmc_sampler *s, double *theta, double *rho, double h, size_t steps)
{
    pmhmc_status st = PMHMC_OK;
    for (size_t l = 0; l < steps && st == PMHMC_OK; ++l) {
        if ((st = drift(s, theta, rho, 0.5 * h)) == PMHMC_OK && (st = kick(s, theta, rho, h)) == PMHMC_OK)
            st = drift(s, theta, rho, 0.5 * h);
    }
    return st;
}

pmhmc_status pmhmc_hnn_surrogate_lp(pmhmc_sampler *s, const double *theta, double *lp)
{
    double H, U;
    if (is_latent(s)) {
        memset(s->scratch, 0, s->dim * sizeof *s->scratch); /* rho = 0 */
        pmhmc_status st = latent_pass(s, theta, s->scratch, &H);
        *lp = -H;
        return st;
    }
    pmhmc_status st = potential(s, theta, &U, NULL);
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

pmhmc_status pmhmc_hnn_transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    const pmhmc_sampler_config *c = &s->config;
    const uint64_t it = s->iteration;
    const double h = s->step_size;
    pmhmc_sampler_draw_rho(s, pmhmc_stream_step(it, PMHMC_DRAW_RHO));
    double H0, H1, U0, U1;
    pmhmc_status st;
    if ((st = pmhmc_hnn_energy(s, s->theta, s->rho, &H0, &U0)) != PMHMC_OK ||
        (st = pmhmc_hnn_leapfrog(s, s->theta, s->rho, h, c->steps)) != PMHMC_OK ||
        (st = pmhmc_hnn_energy(s, s->theta, s->rho, &H1, &U1)) != PMHMC_OK) {
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
    else if (c->hnn_accept == PMHMC_HNN_ACCEPT_SURROGATE && (st = pmhmc_hnn_surrogate_lp(s, s->theta, &s->hnn_lp)) != PMHMC_OK)
        return st;

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

pmhmc_status pmhmc_hnn_trial_step(pmhmc_sampler *s, double h, uint64_t rho_step, double *delta_H)
{
    pmhmc_sampler_draw_rho(s, rho_step);
    memcpy(s->theta_start, s->theta, s->dim * sizeof *s->theta);
    double H0, H1, U;
    pmhmc_status st = pmhmc_hnn_energy(s, s->theta, s->rho, &H0, &U);
    if (st == PMHMC_OK && (st = pmhmc_hnn_leapfrog(s, s->theta, s->rho, h, 1)) == PMHMC_OK)
        st = pmhmc_hnn_energy(s, s->theta, s->rho, &H1, &U);
    memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
    *delta_H = st == PMHMC_OK && isfinite(H0) && isfinite(H1) ? H0 - H1 : -INFINITY;
    return st;
}
