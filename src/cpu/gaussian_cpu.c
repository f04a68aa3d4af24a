/* CPU reference of the gaussian estimator (design in src/models/gaussian.c).
 * Per group g, draws k in order:
 *   log phat_g = sum_k (a u_k - a^2 / 2) [+ the theta part when g = 0],
 *   d/du_k = a; p_k += kick a, then (u_k, p_k) <- R(angle)(u_k, p_k).
 * The theta part and its gradient (src/math/gaussian_math.h) go to group 0
 * only; the other groups' gradient rows are zero. No scratch. */
#include "cpu/estimators.h"
#include "math/gaussian_math.h"
#include "math/rotation.h"
#include "models/gaussian_impl.h"

size_t pmhmc_gaussian_cpu_scratch(const pmhmc_model *model)
{
    (void)model;
    return 0;
}

static double theta_part(const pmhmc_gaussian_model *g, const double *theta, double *grad)
{
    const int dim = (int)g->base.dim;
    const double v = g->base.settings.prior_var;
    double sum = 0.0;
    for (int i = 0; i < dim; ++i) {
        double gi;
        sum += pmhmc_gaussian_theta_term(dim, g->prec, g->mean, theta, v, i, &gi);
        if (grad)
            grad[i] = gi;
    }
    return g->log_const + sum;
}

void pmhmc_gaussian_cpu_estimate(const pmhmc_model *model, const pmhmc_cpu_estimate_args *args)
{
    const pmhmc_gaussian_model *g = pmhmc_gaussian_of(model);
    const size_t n_groups = model->data->n_groups;
    const size_t n_draws = model->settings.n_importance;
    const size_t dim = model->dim;
    const double a = g->shift_a;

#pragma omp parallel for schedule(static) if (pmhmc_model_terms(model) >= PMHMC_CPU_PARALLEL_MIN_WORK)
    for (size_t grp = 0; grp < n_groups; ++grp) {
        double *u = args->u + grp * n_draws;
        double *gu = args->grad_u ? args->grad_u + grp * n_draws : NULL;
        double *pk = args->p ? args->p + grp * n_draws : NULL;
        double ll = 0.0;
        for (size_t k = 0; k < n_draws; ++k) {
            ll += pmhmc_gaussian_aux_term(a, u[k]);
            if (gu)
                gu[k] = a;
            if (pk) {
                pk[k] += args->kick * a;
                pmhmc_rotate_pair(&u[k], &pk[k], args->cos_a, args->sin_a);
            }
        }
        double *grad = args->group_grad ? args->group_grad + grp * dim : NULL;
        if (grp == 0) {
            ll += theta_part(g, args->theta, grad);
        } else if (grad) {
            for (size_t i = 0; i < dim; ++i)
                grad[i] = 0.0;
        }
        args->group_ll[grp] = ll;
    }
}
