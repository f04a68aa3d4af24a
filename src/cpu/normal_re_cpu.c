/* normal_re's likelihood for the CPU's random-effect estimator
 * (src/cpu/re_estimator.c, models/re_model.h). Group g's rows y_j ~ N(X, 1)
 * depend on the data through (n, sum y, sum y^2), the group's context:
 *   log L(X) = -(syy - 2 X sy + n X^2) / 2 - n log sqrt(2 pi),
 *   L' = sy - n X,  L'' = -n,  L''' = 0, and no theta in L.
 * The random effect X ~ N(mu, tau^2): one component with mu = theta[0] and
 * log lambda = -2 log tau = -2 theta[1]. */
#include <math.h>
#include <string.h>

#include "cpu/estimators.h"
#include "math/normal_re_math.h"
#include "math/portable_math.h"
#include "models/re_model.h"

static void normal_re_density(const pmhmc_model *m, const double *theta, pmhmc_re_density *out)
{
    (void)m;
    out->n = 1;
    out->c[0] = (pmhmc_re_component){.mu = theta[0],
                                     .lambda = pmhmc_exp(-2.0 * theta[1]),
                                     .log_w = 0.0,
                                     .mu_index = 0,
                                     .loglam_index = 1,
                                     .dloglam = -2.0,
                                     .logw_index = -1,
                                     .dlogw = 0.0};
}

static size_t normal_re_ctx_size(const pmhmc_model *m)
{
    (void)m;
    return 3;
}

static size_t normal_re_terms_scratch(const pmhmc_model *m)
{
    (void)m;
    return 0;
}

static void normal_re_group_begin(const pmhmc_model *m, const double *theta, size_t g, double *ctx)
{
    (void)theta;
    const pmhmc_dataset *d = m->data;
    double sy = 0.0, syy = 0.0;
    for (size_t r = d->group_start[g]; r < d->group_start[g + 1]; ++r) {
        sy += d->y[r];
        syy += d->y[r] * d->y[r];
    }
    ctx[0] = (double)(d->group_start[g + 1] - d->group_start[g]);
    ctx[1] = sy;
    ctx[2] = syy;
}

static void normal_re_at(const pmhmc_model *m, size_t g, const double *ctx, double x, double out[3])
{
    (void)m;
    (void)g;
    out[0] = ctx[1] - ctx[0] * x;
    out[1] = -ctx[0];
    out[2] = 0.0;
}

static double normal_re_slope_bound(const pmhmc_model *m, size_t g, const double *ctx)
{
    (void)m, (void)g, (void)ctx;
    return INFINITY; /* L' = sy - n X is unbounded; h is quadratic: Newton lands in one step */
}

static void normal_re_mixed(const pmhmc_model *m, size_t g, const double *ctx, double x, double *d1, double *d2)
{
    (void)m, (void)g, (void)ctx, (void)x, (void)d1, (void)d2; /* L has no theta */
}

static void normal_re_terms(const pmhmc_model *m, size_t g, const double *ctx, const double *restrict x, size_t N,
                            double *restrict ll, double *restrict dll, double *scratch)
{
    (void)m, (void)g, (void)scratch;
    const double n = ctx[0], sy = ctx[1], syy = ctx[2];
#pragma omp simd
    for (size_t k = 0; k < N; ++k)
        ll[k] = pmhmc_normal_re_logw(n, sy, syy, x[k], &dll[k]);
}

static void normal_re_grad_terms(const pmhmc_model *m, size_t g, const double *ctx, const double *w, size_t N,
                                 const double *scratch, double *grad)
{
    (void)m, (void)g, (void)ctx, (void)w, (void)N, (void)scratch, (void)grad; /* L has no theta */
}

const pmhmc_re_likelihood_ops pmhmc_normal_re_likelihood = {
    .density = normal_re_density,
    .ctx_size = normal_re_ctx_size,
    .terms_scratch_per_draw = normal_re_terms_scratch,
    .group_begin = normal_re_group_begin,
    .at = normal_re_at,
    .slope_bound = normal_re_slope_bound,
    .mixed = normal_re_mixed,
    .terms = normal_re_terms,
    .grad_terms = normal_re_grad_terms,
};
