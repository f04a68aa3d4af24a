/* The GLMM's likelihood for the CPU's random-effect estimator
 * (src/cpu/re_estimator.c, models/re_model.h).
 *
 * Group g's rows j = 1..n with eta_j = X + z_j'beta (zb_j = z_j'beta, the
 * group's context):
 *   log L(X) = sum_j [y_j eta_j - softplus(eta_j)],  L'(X) = sum_j g_j,
 *   g_j = y_j - sigmoid(eta_j),  L'' = -sum_j v_j,  v_j = sig_j (1 - sig_j),
 *   L''' = -sum_j v_j (1 - 2 sig_j),  d log L / d beta = sum_j z_j g_j,
 *   dL'/dbeta = -sum_j z_j v_j,  dL''/dbeta = -sum_j z_j v_j (1 - 2 sig_j).
 * The term loop has the rows outside and the draws inside and contiguous,
 * so each row's loop vectorizes; g_jk is kept in scratch [n, N] for the beta
 * gradient once the weights are known (reduce over draws first: a_j =
 * sum_k W_k g_jk, then one small product with z). The mixture density and
 * its gradient are generic (re_estimator.c); glmm_density says where the
 * mixture's parameters sit in theta. */
#include <math.h>
#include <string.h>

#include "cpu/estimators.h"
#include "cpu/lane_sum.h"
#include "math/glmm_math.h"
#include "math/portable_math.h"
#include "models/re_model.h"

/* theta tail (after beta): mu1, mu2, log_lambda1, log_lambda2, logit_w1,
 * with log w1 = -softplus(-a), log w2 = -softplus(a), a = logit_w1:
 * d log w1 / da = 1 - w1, d log w2 / da = -w1. */
static void glmm_density(const pmhmc_model *m, const double *theta, pmhmc_re_density *out)
{
    const int p = (int)m->data->n_cov;
    const pmhmc_mixture mix = pmhmc_mixture_from_theta(theta + p);
    const double a = theta[p + 4], soft = pmhmc_log1p(pmhmc_exp(-fabs(a)));
    const double log_w[2] = {-((a < 0.0 ? -a : 0.0) + soft), -((a > 0.0 ? a : 0.0) + soft)};
    out->n = 2;
    for (int c = 0; c < 2; ++c)
        out->c[c] = (pmhmc_re_component){.mu = mix.mu[c],
                                         .lambda = mix.lambda[c],
                                         .log_w = log_w[c],
                                         .mu_index = p + c,
                                         .loglam_index = p + 2 + c,
                                         .dloglam = 1.0,
                                         .logw_index = p + 4,
                                         .dlogw = c == 0 ? 1.0 - mix.w1 : -mix.w1};
}

static size_t glmm_ctx_size(const pmhmc_model *m) { return m->data->max_group_rows; }
static size_t glmm_terms_scratch(const pmhmc_model *m) { return m->data->max_group_rows; }

static void glmm_group_begin(const pmhmc_model *m, const double *theta, size_t g, double *zb)
{
    const pmhmc_dataset *d = m->data;
    const size_t p = d->n_cov, r0 = d->group_start[g], n = d->group_start[g + 1] - r0;
    const double *z = d->z + r0 * p;
    for (size_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (size_t c = 0; c < p; ++c)
            acc += z[j * p + c] * theta[c];
        zb[j] = acc;
    }
}

/* sigmoid(eta) and its complement from one e = exp(-|eta|), full relative
 * precision in both tails. */
static void sigmoid_pair(double eta, double *sig, double *one_minus)
{
    const double e = pmhmc_exp(-fabs(eta)), inv = 1.0 / (1.0 + e);
    *sig = eta >= 0.0 ? inv : e * inv;
    *one_minus = eta >= 0.0 ? e * inv : inv;
}

static void glmm_at(const pmhmc_model *m, size_t g, const double *zb, double x, double out[3])
{
    const pmhmc_dataset *d = m->data;
    const size_t r0 = d->group_start[g], n = d->group_start[g + 1] - r0;
    double d1 = 0.0, d2 = 0.0, d3 = 0.0;
    for (size_t j = 0; j < n; ++j) {
        double sig, om;
        sigmoid_pair(x + zb[j], &sig, &om);
        const double v = sig * om;
        d1 += d->y[r0 + j] - sig;
        d2 -= v;
        d3 -= v * (om - sig);
    }
    out[0] = d1;
    out[1] = d2;
    out[2] = d3;
}

/* |L'| = |sum_j (y_j - sigmoid)| < n */
static double glmm_slope_bound(const pmhmc_model *m, size_t g, const double *zb)
{
    (void)zb;
    return (double)(m->data->group_start[g + 1] - m->data->group_start[g]);
}

static void glmm_mixed(const pmhmc_model *m, size_t g, const double *zb, double x, double *d1, double *d2)
{
    const pmhmc_dataset *d = m->data;
    const size_t p = d->n_cov, r0 = d->group_start[g], n = d->group_start[g + 1] - r0;
    const double *z = d->z + r0 * p;
    for (size_t j = 0; j < n; ++j) {
        double sig, om;
        sigmoid_pair(x + zb[j], &sig, &om);
        const double v = sig * om, v3 = v * (om - sig);
        for (size_t c = 0; c < p; ++c) {
            d1[c] -= v * z[j * p + c];
            d2[c] -= v3 * z[j * p + c];
        }
    }
}

static void glmm_terms(const pmhmc_model *m, size_t g, const double *zb, const double *restrict x, size_t N,
                       double *restrict ll, double *restrict dll, double *restrict gjk)
{
    const pmhmc_dataset *d = m->data;
    const size_t r0 = d->group_start[g], n = d->group_start[g + 1] - r0;
    const double *y = d->y + r0;
#pragma omp simd
    for (size_t k = 0; k < N; ++k) {
        ll[k] = 0.0;
        dll[k] = 0.0;
    }
    for (size_t j = 0; j < n; ++j) {
        const double yj = y[j], zbj = zb[j];
        double *restrict gj = gjk + j * N;
#pragma omp simd
        for (size_t k = 0; k < N; ++k) {
            pmhmc_bernoulli_eval b = pmhmc_bernoulli_logit(yj, x[k] + zbj);
            ll[k] += b.term;
            gj[k] = b.g;
            dll[k] += b.g;
        }
    }
}

static void glmm_grad_terms(const pmhmc_model *m, size_t g, const double *zb, const double *w, size_t N,
                            const double *gjk, double *grad)
{
    (void)zb;
    const pmhmc_dataset *d = m->data;
    const size_t p = d->n_cov, r0 = d->group_start[g], n = d->group_start[g + 1] - r0;
    const double *z = d->z + r0 * p;
    for (size_t j = 0; j < n; ++j) {
        const double a = pmhmc_lane_dot(w, gjk + j * N, N);
        for (size_t c = 0; c < p; ++c)
            grad[c] += z[j * p + c] * a;
    }
}

const pmhmc_re_likelihood_ops pmhmc_glmm_likelihood = {
    .density = glmm_density,
    .ctx_size = glmm_ctx_size,
    .terms_scratch_per_draw = glmm_terms_scratch,
    .group_begin = glmm_group_begin,
    .at = glmm_at,
    .slope_bound = glmm_slope_bound,
    .mixed = glmm_mixed,
    .terms = glmm_terms,
    .grad_terms = glmm_grad_terms,
};
