#include "sampler/integrator.h"

#include <math.h>

#include "backend/backend_impl.h"

static void drift(const pmhmc_integrator *integ, pmhmc_phase_point *z, double t)
{
    size_t dim = pmhmc_model_dim(integ->model);
    for (size_t i = 0; i < dim; ++i)
        z->theta[i] += t * integ->inv_mass[i] * z->rho[i];
}

pmhmc_status pmhmc_integrate(const pmhmc_integrator *integ, pmhmc_phase_point *z, double h, size_t steps)
{
    const size_t dim = pmhmc_model_dim(integ->model);
    pmhmc_status st;
    if (steps == 0)
        return PMHMC_OK;

    /* A backend that runs whole trajectories itself (the CUDA backend: no
     * host round trip between steps) gets the same arithmetic as the loop
     * below, which stays the reference. */
    const pmhmc_backend_ops *ops = integ->ws->backend->ops;
    if (ops->integrate && !integ->observe) {
        int stopped = 0;
        pmhmc_integrate_request req = {
            .theta = z->theta, .rho = z->rho, .inv_mass = integ->inv_mass, .u = z->u, .p = z->p,
            .h = h, .steps = steps, .log_phat = &z->log_phat, .stopped = &stopped,
        };
        if ((st = ops->integrate(integ->ws, &req)) != PMHMC_OK)
            return st;
        if (!stopped) /* as below: an early stop leaves log_prior as it was */
            z->log_prior = pmhmc_model_log_prior(integ->model, z->theta, NULL);
        return PMHMC_OK;
    }

    /* First A(h/2). */
    drift(integ, z, 0.5 * h);
    if ((st = pmhmc_ws_rotate(integ->ws, z->u, z->p, 0.5 * h)) != PMHMC_OK)
        return st;

    for (size_t l = 0; l < steps; ++l) {
        int last = l + 1 == steps;
        /* B(h) fused with the rotation that follows it: a full h between
         * steps (two merged halves), h/2 after the last. */
        pmhmc_estimate_request req = {
            .theta = z->theta, .u = z->u, .p = z->p, .grad_u = -1, .kick = h,
            .angle = last ? 0.5 * h : h,
        };
        double log_phat;
        if ((st = pmhmc_ws_estimate(integ->ws, &req, &log_phat, integ->grad)) != PMHMC_OK)
            return st;
        if (!isfinite(log_phat)) {
            z->log_phat = log_phat;
            return PMHMC_OK;
        }
        pmhmc_model_log_prior(integ->model, z->theta, integ->prior_grad);
        if (integ->observe) {
            for (size_t i = 0; i < dim; ++i)
                integ->prior_grad[i] += integ->grad[i]; /* the total, which the kick below sums the same way */
            integ->observe(integ->observe_ctx, z->theta, z->rho, integ->prior_grad, integ->inv_mass);
            for (size_t i = 0; i < dim; ++i)
                z->rho[i] += h * integ->prior_grad[i];
        } else {
            for (size_t i = 0; i < dim; ++i)
                z->rho[i] += h * (integ->grad[i] + integ->prior_grad[i]);
        }
        drift(integ, z, last ? 0.5 * h : h);
    }

    pmhmc_estimate_request req = {.theta = z->theta, .u = z->u, .p = -1, .grad_u = -1};
    if ((st = pmhmc_ws_estimate(integ->ws, &req, &z->log_phat, NULL)) != PMHMC_OK)
        return st;
    z->log_prior = pmhmc_model_log_prior(integ->model, z->theta, NULL);
    return PMHMC_OK;
}

pmhmc_status pmhmc_kdk_evaluate(const pmhmc_integrator *integ, pmhmc_kdk_point *x)
{
    const size_t dim = pmhmc_model_dim(integ->model);
    pmhmc_estimate_request req = {.theta = x->z.theta, .u = x->z.u, .p = -1, .grad_u = x->grad_u};
    pmhmc_status st = pmhmc_ws_estimate(integ->ws, &req, &x->z.log_phat, integ->grad);
    if (st != PMHMC_OK || !isfinite(x->z.log_phat))
        return st;
    x->z.log_prior = pmhmc_model_log_prior(integ->model, x->z.theta, integ->prior_grad);
    for (size_t i = 0; i < dim; ++i)
        x->grad[i] = integ->grad[i] + integ->prior_grad[i];
    return PMHMC_OK;
}

static pmhmc_status kick(const pmhmc_integrator *integ, pmhmc_kdk_point *x, double t)
{
    const size_t dim = pmhmc_model_dim(integ->model);
    for (size_t i = 0; i < dim; ++i)
        x->z.rho[i] += t * x->grad[i];
    return pmhmc_ws_axpy(integ->ws, x->z.p, t, x->grad_u);
}

pmhmc_status pmhmc_kdk_step(const pmhmc_integrator *integ, pmhmc_kdk_point *x, double h)
{
    pmhmc_status st;
    if ((st = kick(integ, x, 0.5 * h)) != PMHMC_OK)
        return st;
    drift(integ, &x->z, h);
    if ((st = pmhmc_ws_rotate(integ->ws, x->z.u, x->z.p, h)) != PMHMC_OK ||
        (st = pmhmc_kdk_evaluate(integ, x)) != PMHMC_OK || !isfinite(x->z.log_phat))
        return st;
    if (integ->observe)
        integ->observe(integ->observe_ctx, x->z.theta, x->z.rho, x->grad, integ->inv_mass);
    return kick(integ, x, 0.5 * h);
}

pmhmc_status pmhmc_hamiltonian(const pmhmc_integrator *integ, const pmhmc_phase_point *z, double *H)
{
    size_t dim = pmhmc_model_dim(integ->model);
    double kinetic = 0.0;
    for (size_t i = 0; i < dim; ++i)
        kinetic += integ->inv_mass[i] * z->rho[i] * z->rho[i];
    const int a[2] = {z->u, z->p};
    double uu_pp[2];
    pmhmc_status st = pmhmc_ws_dots(integ->ws, 2, a, a, uu_pp);
    if (st != PMHMC_OK)
        return st;
    *H = -z->log_prior - z->log_phat + 0.5 * (kinetic + uu_pp[0] + uu_pp[1]);
    return PMHMC_OK;
}
