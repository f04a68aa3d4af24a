/* CPU reference of the normal_re estimator (see src/models/normal_re.c).
 * Per group: sufficient statistics once, then per draw k
 *   x_k = mu + tau u_k, log w_k and S_k = d log w_k / dx,
 *   d/du_k = W_k S_k tau, d/dmu = sum W_k S_k, d/dlog_tau = sum W_k S_k tau u_k.
 * Scratch per thread: logw [N], dlogw [N]. */
#include <math.h>

#include "cpu/estimators.h"
#include "cpu/lane_sum.h"
#include "math/glmm_math.h"
#include "math/rotation.h"
#include "math/normal_re_math.h"
#include "math/portable_math.h"

size_t pmhmc_normal_re_cpu_scratch(const pmhmc_model *model) { return 2 * model->settings.n_importance; }

void pmhmc_normal_re_cpu_estimate(const pmhmc_model *model, const pmhmc_cpu_estimate_args *args)
{
    const pmhmc_dataset *data = model->data;
    const size_t n_groups = data->n_groups;
    const size_t n_draws = model->settings.n_importance;
    const double mu = args->theta[0];
    const double tau = pmhmc_exp(args->theta[1]);
    const double log_n = pmhmc_log((double)n_draws);

#pragma omp parallel if (pmhmc_model_terms(model) >= PMHMC_CPU_PARALLEL_MIN_WORK)
    {
        double *logw = pmhmc_cpu_thread_scratch(args);
        double *dlogw = logw + n_draws;

#pragma omp for schedule(static)
        for (size_t grp = 0; grp < n_groups; ++grp) {
            const size_t r0 = data->group_start[grp];
            const size_t r1 = data->group_start[grp + 1];
            double n = (double)(r1 - r0), sy = 0.0, syy = 0.0;
            for (size_t r = r0; r < r1; ++r) {
                sy += data->y[r];
                syy += data->y[r] * data->y[r];
            }
            double *u = args->u + grp * n_draws;
            double hi = -INFINITY;
            for (size_t k = 0; k < n_draws; ++k) {
                logw[k] = pmhmc_normal_re_logw(n, sy, syy, mu + tau * u[k], &dlogw[k]);
                hi = fmax(hi, logw[k]);
            }
            for (size_t k = 0; k < n_draws; ++k)
                logw[k] = pmhmc_exp(logw[k] - hi);
            const double sum = pmhmc_lane_sum(logw, n_draws);
            args->group_ll[grp] = hi + pmhmc_log(sum) - log_n;
            double g_mu = 0.0, g_log_tau = 0.0;
            double *gu = args->grad_u ? args->grad_u + grp * n_draws : NULL;
            double *pk = args->p ? args->p + grp * n_draws : NULL;
            for (size_t k = 0; k < n_draws; ++k) {
                double ws = logw[k] / sum * dlogw[k];
                g_mu += ws;
                g_log_tau += ws * tau * u[k];
                double d = ws * tau;
                if (gu)
                    gu[k] = d;
                if (pk) {
                    pk[k] += args->kick * d;
                    pmhmc_rotate_pair(&u[k], &pk[k], args->cos_a, args->sin_a);
                }
            }
            if (args->group_grad) {
                args->group_grad[grp * 2] = g_mu;
                args->group_grad[grp * 2 + 1] = g_log_tau;
            }
        }
    }
}
