/* CPU reference of the GLMM estimator with all gradients (DESIGN §2), fused
 * with the p kick and the (u, p) rotation of the integrator.
 *
 * Per group i with rows j = 1..n_i and draws k = 1..N (x_k = s u_ik):
 *   log w_k = sum_j [y_j eta_jk - softplus(eta_jk)] + log f(x_k) - log q(x_k),
 *   eta_jk = x_k + z_j'beta.
 * The j loop is outside, the k loop inside and contiguous, so each term loop
 * vectorizes; g_jk = y_j - sigmoid(eta_jk) is kept in scratch [n_i, N] for the
 * beta gradient once the weights are known. OpenMP runs over groups; each
 * group writes only its own slots, so the result does not depend on threads;
 * sums over draws run in lane_sum.h's fixed order and exp/log/log1p are
 * portable_math.h's, so it does not depend on the CPU either.
 *
 * Scratch per thread: zb [max_rows], then logw, gsum, x, r1, dlogf [N] each,
 * then g [max_rows, N]. */
#include <math.h>
#include <string.h>

#include "cpu/estimators.h"
#include "cpu/lane_sum.h"
#include "math/glmm_math.h"
#include "math/rotation.h"

size_t pmhmc_glmm_cpu_scratch(const pmhmc_model *model)
{
    size_t rows = model->data->max_group_rows;
    size_t n = model->settings.n_importance;
    return rows + 5 * n + rows * n;
}

/* Everything one group's pass needs, set up once per call. */
typedef struct glmm_pass {
    const pmhmc_dataset *data;
    const pmhmc_cpu_estimate_args *args;
    size_t p, dim, n_draws;
    double s, log_s, inv_s2, log_n;
    const double *beta;
    pmhmc_mixture mix;
} glmm_pass;

/* One group, written as a plain function (not inside the OpenMP region) so
 * its loop bounds and constants are locals and the k loops vectorize. */
static void glmm_group(const glmm_pass *ps, size_t grp, double *scratch)
{
    const pmhmc_dataset *data = ps->data;
    const pmhmc_cpu_estimate_args *args = ps->args;
    const size_t p = ps->p, n_draws = ps->n_draws;
    const double s = ps->s, log_s = ps->log_s, inv_s2 = ps->inv_s2;
    const pmhmc_mixture mix = ps->mix;

    double *restrict zb = scratch;
    double *restrict logw = zb + data->max_group_rows;
    double *restrict gsum = logw + n_draws;
    double *restrict x = gsum + n_draws;
    double *restrict r1 = x + n_draws;
    double *restrict dlogf = r1 + n_draws;
    double *restrict g = dlogf + n_draws;

    const size_t r0 = data->group_start[grp];
    const size_t n_rows = data->group_start[grp + 1] - r0;
    const double *y = data->y + r0;
    const double *z = data->z + r0 * p;
    double *restrict u = args->u + grp * n_draws;

    for (size_t j = 0; j < n_rows; ++j) {
        double acc = 0.0;
        for (size_t c = 0; c < p; ++c)
            acc += z[j * p + c] * ps->beta[c];
        zb[j] = acc;
    }
#pragma omp simd
    for (size_t k = 0; k < n_draws; ++k) {
        x[k] = s * u[k];
        pmhmc_mixture_eval f = pmhmc_mixture_logpdf(&mix, x[k]);
        r1[k] = f.r1;
        dlogf[k] = f.dlogf_dx;
        logw[k] = f.logf - pmhmc_proposal_logpdf(u[k], log_s);
        gsum[k] = 0.0;
    }
    for (size_t j = 0; j < n_rows; ++j) {
        const double yj = y[j], zbj = zb[j];
        double *restrict gj = g + j * n_draws;
#pragma omp simd
        for (size_t k = 0; k < n_draws; ++k) {
            pmhmc_bernoulli_eval b = pmhmc_bernoulli_logit(yj, x[k] + zbj);
            logw[k] += b.term;
            gj[k] = b.g;
            gsum[k] += b.g;
        }
    }

    /* log-sum-exp over draws; logw becomes the normalized weights W. */
    double hi = -INFINITY;
    for (size_t k = 0; k < n_draws; ++k)
        hi = fmax(hi, logw[k]);
#pragma omp simd
    for (size_t k = 0; k < n_draws; ++k)
        logw[k] = pmhmc_exp(logw[k] - hi);
    const double sum = pmhmc_lane_sum(logw, n_draws);
    args->group_ll[grp] = hi + pmhmc_log(sum) - ps->log_n;
    const double inv_sum = 1.0 / sum;
#pragma omp simd
    for (size_t k = 0; k < n_draws; ++k)
        logw[k] *= inv_sum;
    const double *restrict w = logw;

    if (args->group_grad) {
        double *gg = args->group_grad + grp * ps->dim;
        memset(gg, 0, ps->dim * sizeof *gg);
        for (size_t j = 0; j < n_rows; ++j) {
            const double a = pmhmc_lane_dot(w, g + j * n_draws, n_draws);
            for (size_t c = 0; c < p; ++c)
                gg[c] += z[j * p + c] * a;
        }
        for (size_t k = 0; k < n_draws; ++k)
            pmhmc_mixture_grad_accumulate(&mix, x[k], r1[k], w[k], gg + p);
    }

    if (args->grad_u || args->p) {
        double *gu = args->grad_u ? args->grad_u + grp * n_draws : NULL;
        double *pk = args->p ? args->p + grp * n_draws : NULL;
        for (size_t k = 0; k < n_draws; ++k) {
            double d = w[k] * s * (gsum[k] + dlogf[k] + x[k] * inv_s2);
            if (gu)
                gu[k] = d;
            if (pk) {
                pk[k] += args->kick * d;
                pmhmc_rotate_pair(&u[k], &pk[k], args->cos_a, args->sin_a);
            }
        }
    }
}

void pmhmc_glmm_cpu_estimate(const pmhmc_model *model, const pmhmc_cpu_estimate_args *args)
{
    const double s = model->settings.is_scale;
    const glmm_pass ps = {
        .data = model->data,
        .args = args,
        .p = model->data->n_cov,
        .dim = model->dim,
        .n_draws = model->settings.n_importance,
        .s = s,
        .log_s = pmhmc_log(s),
        .inv_s2 = 1.0 / (s * s),
        .log_n = pmhmc_log((double)model->settings.n_importance),
        .beta = args->theta,
        .mix = pmhmc_mixture_from_theta(args->theta + model->data->n_cov),
    };
    const size_t n_groups = model->data->n_groups;
#pragma omp parallel if (pmhmc_model_terms(model) >= PMHMC_CPU_PARALLEL_MIN_WORK)
    {
        double *scratch = pmhmc_cpu_thread_scratch(args);
#pragma omp for schedule(dynamic, 4)
        for (size_t grp = 0; grp < n_groups; ++grp)
            glmm_group(&ps, grp, scratch);
    }
}
