/* The CPU's one estimator for random-effect models (models/re_model.h):
 * importance sampling with a proposal of models/proposal.h, or adaptive
 * Gauss-Hermite quadrature, with every gradient, fused with the integrator's
 * p kick and (u, p) rotation. The model brings its likelihood; the proposal
 * its components; this file combines them.
 *
 * Importance sampling with the fixed proposal q = N(0, s^2), per group g,
 * draws k = 1..N:
 *   X_k = s u_k,  log w_k = log L(X_k) + log f(X_k) - log q(X_k)
 *   log phat_g = logsumexp_k(log w_k) - log N;  W_k = softmax_k(log w_k)
 *   d log phat_g / d u_k = W_k D_k s,  D_k = d(log L + log f - log q)/dX
 *   d log phat_g / d theta = sum_k W_k [d log L/dtheta + d log f/dtheta].
 * With prior and laplace, per component of f (by_component_group).
 * Quadrature, per group and component c of f (no u):
 *   p_gc = s_c sum_k W_k e^(t_k^2/2) L(x_ck) N(x_ck; mu_c, 1/lambda_c),
 *   x_ck = m_c + s_c t_k at the K = N probabilists' Gauss-Hermite nodes,
 *   log phat_g = logsumexp_c(log w_c + log p_gc), and its exact gradient
 *   the same way (through m_c and s_c).
 * Mixtures have at most two components; a one-component density or
 * proposal is carried as two, the second with weight zero (log -inf).
 *
 * OpenMP runs over groups; each writes only its own slots, and sums over
 * draws run in lane_sum.h's order, so the result does not depend on the
 * threads or the CPU. A group whose Laplace mode search fails (a
 * non-finite likelihood) gives log phat = -inf: the sampler rejects. */
#include <math.h>
#include <string.h>

#include "cpu/estimators.h"
#include "cpu/lane_sum.h"
#include "math/glmm_math.h"
#include "math/portable_math.h"
#include "math/rotation.h"
#include "models/proposal.h"
#include "models/re_model.h"

/* Scratch per thread, in doubles: the group's context, then per draw x,
 * ll, dll, logw, D, rf (f's component-0 responsibility), then
 * the likelihood's per-draw scratch, then dm, ds [2 dim] each, work
 * [2 dim], and for quadrature two per-component gradients [2 dim]. */
size_t pmhmc_re_cpu_scratch(const pmhmc_model *model)
{
    const pmhmc_re_likelihood_ops *lik = model->ops->re;
    const size_t N = model->settings.n_importance, dim = model->dim;
    return lik->ctx_size(model) + N * (6 + lik->terms_scratch_per_draw(model)) + 8 * dim + 8;
}

typedef struct re_scratch {
    double *ctx, *x, *ll, *dll, *logw, *D, *rf, *terms, *dm, *ds, *work, *gc;
} re_scratch;

static re_scratch carve(const pmhmc_model *model, double *p)
{
    const pmhmc_re_likelihood_ops *lik = model->ops->re;
    const size_t N = model->settings.n_importance, dim = model->dim;
    re_scratch s;
    s.ctx = p, p += lik->ctx_size(model);
    s.x = p, p += N;
    s.ll = p, p += N;
    s.dll = p, p += N;
    s.logw = p, p += N;
    s.D = p, p += N;
    s.rf = p, p += N;
    s.terms = p, p += N * lik->terms_scratch_per_draw(model);
    s.dm = p, p += 2 * dim;
    s.ds = p, p += 2 * dim;
    s.work = p, p += 2 * dim;
    s.gc = p;
    return s;
}

/* f as the mixture math of glmm_math.h evaluates it: mean, precision and
 * log(weight sqrt(lambda / 2 pi)) per component. */
static pmhmc_mixture mixture_of(const pmhmc_re_density *d)
{
    pmhmc_mixture m;
    for (int c = 0; c < 2; ++c) {
        const int on = c < d->n;
        m.mu[c] = on ? d->c[c].mu : 0.0;
        m.lambda[c] = on ? d->c[c].lambda : 1.0;
        m.log_norm[c] = on ? d->c[c].log_w + 0.5 * pmhmc_log(d->c[c].lambda) - PMHMC_LOG_SQRT_2PI : -INFINITY;
    }
    m.w1 = 0.0; /* unused: the theta-gradient here is the generic one */
    return m;
}

/* grad += sum_k W_k d log f(X_k) / dtheta: through each component's mu,
 * log lambda and log w (r_kc = f's responsibilities; rf holds r_k0). */
static void density_grad(const pmhmc_re_density *d, const double *x, const double *W, const double *rf, size_t n,
                         double *grad)
{
    for (int c = 0; c < d->n; ++c) {
        const pmhmc_re_component *rc = &d->c[c];
        double a_mu = 0.0, a_lam = 0.0, a_w = 0.0;
        for (size_t k = 0; k < n; ++k) {
            const double r = c == 0 ? rf[k] : 1.0 - rf[k], wr = W[k] * r, dx = x[k] - rc->mu;
            a_mu += wr * rc->lambda * dx;
            a_lam += wr * (0.5 - 0.5 * rc->lambda * dx * dx);
            a_w += wr;
        }
        if (rc->mu_index >= 0)
            grad[rc->mu_index] += a_mu;
        if (rc->loglam_index >= 0)
            grad[rc->loglam_index] += a_lam * rc->dloglam;
        if (rc->logw_index >= 0)
            grad[rc->logw_index] += a_w * rc->dlogw;
    }
}

typedef struct re_pass {
    const pmhmc_model *model;
    const pmhmc_cpu_estimate_args *args;
    pmhmc_re_density dens;
    pmhmc_mixture f;
    size_t N, dim;
    double log_n;
    int theta_nan;
} re_pass;

/* A group whose estimate cannot be made: log phat = -inf (the sampler
 * rejects the state), no gradient, and the rotation still done so the
 * integrator's map on (u, p) stays the same volume-preserving map. */
static void group_fails(const re_pass *ps, size_t g)
{
    const pmhmc_cpu_estimate_args *args = ps->args;
    args->group_ll[g] = ps->theta_nan ? NAN : -INFINITY; /* NaN in, NaN out: a caller's bug, not a zero */
    if (args->group_grad)
        memset(args->group_grad + g * ps->dim, 0, ps->dim * sizeof(double));
    if (ps->model->settings.estimator == PMHMC_ESTIMATOR_QUADRATURE)
        return;
    for (size_t k = g * ps->N; k < (g + 1) * ps->N; ++k) {
        if (args->grad_u)
            args->grad_u[k] = 0.0;
        if (args->p)
            pmhmc_rotate_pair(&args->u[k], &args->p[k], args->cos_a, args->sin_a);
    }
}

/* v <- softmax(v) in place; *log_sum = logsumexp(v). -1 where no entry
 * is finite (the group's estimate cannot be made). */
static int softmax_in_place(double *restrict v, size_t n, double *log_sum)
{
    double hi = -INFINITY;
    for (size_t k = 0; k < n; ++k)
        hi = fmax(hi, v[k]);
    if (!isfinite(hi))
        return -1;
#pragma omp simd
    for (size_t k = 0; k < n; ++k)
        v[k] = pmhmc_exp(v[k] - hi);
    const double sum = pmhmc_lane_sum(v, n);
    *log_sum = hi + pmhmc_log(sum);
    const double inv_sum = 1.0 / sum;
#pragma omp simd
    for (size_t k = 0; k < n; ++k)
        v[k] *= inv_sum;
    return 0;
}

/* gc += sum_k W_k d log N_c(x_k)/dtheta (through mu_c and log lambda_c)
 *       + A dm_c + B ds_c (through the draws' or nodes' centre and scale). */
static void add_component_grad(const pmhmc_re_component *rc, const double *x, const double *W, size_t n, double A,
                               double B, const double *dm, const double *ds, size_t dim, double *gc)
{
    double a_mu = 0.0, a_lam = 0.0;
    for (size_t k = 0; k < n; ++k) {
        const double dx = x[k] - rc->mu;
        a_mu += W[k] * rc->lambda * dx;
        a_lam += W[k] * (0.5 - 0.5 * rc->lambda * dx * dx);
    }
    if (rc->mu_index >= 0)
        gc[rc->mu_index] += a_mu;
    if (rc->loglam_index >= 0)
        gc[rc->loglam_index] += a_lam * rc->dloglam;
    for (size_t i = 0; i < dim; ++i)
        gc[i] += A * dm[i] + B * ds[i];
}

/* log phat_g = logsumexp_c(log w_c + log p_gc) and its gradient
 * sum_c R_c (d log p_gc + d log w_c), R_c = softmax_c; R out for the
 * u-gradient. */
static void mix_components(const re_pass *ps, size_t g, const double *log_pc, const double *gc_all, double *R)
{
    const pmhmc_cpu_estimate_args *args = ps->args;
    const size_t dim = ps->dim;
    const int n = ps->dens.n;
    double l[PMHMC_RE_MAX_COMPONENTS];
    for (int c = 0; c < n; ++c)
        l[c] = ps->dens.c[c].log_w + log_pc[c];
    double log_total;
    softmax_in_place(l, (size_t)n, &log_total); /* some log p_gc is finite: checked per component */
    args->group_ll[g] = log_total;
    for (int c = 0; c < n; ++c)
        R[c] = l[c];
    if (!args->group_grad)
        return;
    double *gg = args->group_grad + g * dim;
    memset(gg, 0, dim * sizeof *gg);
    for (int c = 0; c < n; ++c) {
        const double *gc = gc_all + (size_t)c * dim;
        for (size_t i = 0; i < dim; ++i)
            gg[i] += R[c] * gc[i];
        if (ps->dens.c[c].logw_index >= 0)
            gg[ps->dens.c[c].logw_index] += R[c] * ps->dens.c[c].dlogw;
    }
}

/* d log phat_g / d u_k = R_c W_k D_k s_c for draw k of proposal component
 * c (R = NULL: 1), then the integrator's kick of p and (u, p) rotation. */
static void u_grad_and_rotate(const re_pass *ps, size_t g, const pmhmc_proposal_parts *q, const double *R,
                              const double *W, const double *D)
{
    const pmhmc_cpu_estimate_args *args = ps->args;
    if (!args->grad_u && !args->p)
        return;
    const size_t N = ps->N;
    double *u = args->u + g * N;
    double *gu = args->grad_u ? args->grad_u + g * N : NULL;
    double *pk = args->p ? args->p + g * N : NULL;
    for (int c = 0; c < q->n; ++c) {
        const double scale = (R ? R[c] : 1.0) * q->s[c];
        for (size_t k = q->first[c]; k < q->first[c + 1]; ++k) {
            const double d = W[k] * D[k] * scale;
            if (gu)
                gu[k] = d;
            if (pk) {
                pk[k] += args->kick * d;
                pmhmc_rotate_pair(&u[k], &pk[k], args->cos_a, args->sin_a);
            }
        }
    }
}

/* prior and laplace proposals: per component c of f, p_gc = int L N_c dX
 * from the N_c draws of q_c alone (X_k = m_c + s_c u_k):
 *   log w_k = log L(X_k) + log N_c(X_k) - log q_c(X_k),
 *   log p_gc = logsumexp_{k in c}(log w_k) - log N_c,
 *   log phat_g = logsumexp_c(log w_c + log p_gc),  R_c its softmax,
 * and the gradient through m_c and s_c:
 *   d log p_gc = sum_k W_ck [d log L/dtheta + d log N_c/dtheta]
 *                + A_c dm_c + B_c ds_c,
 *   A_c = sum_k W_ck (D_k - u_k / s_c),
 *   B_c = sum_k W_ck (D_k u_k - (u_k^2 - 1) / s_c),
 *   D_k = d(log L + log N_c - log q_c)/dX at X_k,
 *   d log phat_g / d u_k = R_c W_ck D_k s_c.
 * A deterministic mixture (q = sum_c q_c / 2 over all draws, f whole in
 * the numerator) is unbiased too but mixes the components' different
 * scales into every weight: on the paper's data at the truth its sd of
 * log phat was 0.11 at N = 128 and 0.34 at N = 16, per component 0.017
 * and 0.037 (bench/RESULTS.md). */
static void by_component_group(const re_pass *ps, size_t g, re_scratch *s, const pmhmc_proposal_parts *q)
{
    const pmhmc_model *model = ps->model;
    const pmhmc_re_likelihood_ops *lik = model->ops->re;
    const pmhmc_cpu_estimate_args *args = ps->args;
    const size_t dim = ps->dim;
    const int want_grad = args->group_grad != NULL;
    const double *restrict u = args->u + g * ps->N;
    double log_pc[PMHMC_RE_MAX_COMPONENTS];
    for (int c = 0; c < q->n; ++c) {
        const pmhmc_re_component *rc = &ps->dens.c[c];
        const size_t k0 = q->first[c], n = q->first[c + 1] - k0;
        const double m = q->m[c], sc = q->s[c], inv_s = 1.0 / sc;
        double *restrict x = s->x + k0, *restrict v = s->logw + k0, *restrict D = s->D + k0;
        const double *restrict uc = u + k0;
#pragma omp simd
        for (size_t k = 0; k < n; ++k)
            x[k] = m + sc * uc[k];
        lik->terms(model, g, s->ctx, x, n, s->ll + k0, s->dll + k0, s->terms);
        const double log_norm = 0.5 * pmhmc_log(rc->lambda) - PMHMC_LOG_SQRT_2PI;
        const double log_q_norm = -pmhmc_log(sc) - PMHMC_LOG_SQRT_2PI;
        const double *restrict ll = s->ll + k0, *restrict dll = s->dll + k0;
#pragma omp simd
        for (size_t k = 0; k < n; ++k) {
            const double dx = x[k] - rc->mu;
            v[k] = ll[k] + log_norm - 0.5 * rc->lambda * dx * dx - (log_q_norm - 0.5 * uc[k] * uc[k]);
            D[k] = dll[k] - rc->lambda * dx + uc[k] * inv_s;
        }
        double log_sum;
        if (softmax_in_place(v, n, &log_sum) != 0) {
            group_fails(ps, g);
            return;
        }
        log_pc[c] = log_sum - pmhmc_log((double)n);
        if (!want_grad)
            continue;
        double *gc = s->gc + (size_t)c * dim;
        memset(gc, 0, dim * sizeof *gc);
        lik->grad_terms(model, g, s->ctx, v, n, s->terms, gc);
        double A = 0.0, B = 0.0;
        for (size_t k = 0; k < n; ++k) {
            A += v[k] * (D[k] - uc[k] * inv_s);
            B += v[k] * (D[k] * uc[k] - (uc[k] * uc[k] - 1.0) * inv_s);
        }
        add_component_grad(rc, x, v, n, A, B, s->dm + (size_t)c * dim, s->ds + (size_t)c * dim, dim, gc);
    }
    double R[PMHMC_RE_MAX_COMPONENTS];
    mix_components(ps, g, log_pc, s->gc, R);
    u_grad_and_rotate(ps, g, q, R, s->logw, s->D);
}

static void importance_group(const re_pass *ps, size_t g, re_scratch *s)
{ /* fixed, or by component */
    const pmhmc_model *model = ps->model;
    const pmhmc_re_likelihood_ops *lik = model->ops->re;
    const pmhmc_cpu_estimate_args *args = ps->args;
    const size_t N = ps->N, dim = ps->dim;
    const int want_grad = args->group_grad != NULL;
    const double *restrict u = args->u + g * N;

    lik->group_begin(model, args->theta, g, s->ctx);
    pmhmc_proposal_parts q;
    if (pmhmc_proposal_group(model, &ps->dens, g, s->ctx, N, want_grad, &q, s->dm, s->ds, s->work) != 0) {
        group_fails(ps, g);
        return;
    }
    if (model->settings.proposal != PMHMC_PROPOSAL_FIXED) {
        by_component_group(ps, g, s, &q);
        return;
    }
    /* The fixed proposal is one Gaussian, X = m + s u: log q(X) =
     * -log s - log sqrt(2 pi) - u^2 / 2 and d log q / dX = -u / s, with no
     * mixture to evaluate. */
    const double m = q.m[0], sc = q.s[0], inv_s = 1.0 / sc, log_q_norm = -pmhmc_log(sc) - PMHMC_LOG_SQRT_2PI;
    double *restrict xw = s->x;
#pragma omp simd
    for (size_t k = 0; k < N; ++k)
        xw[k] = m + sc * u[k];
    lik->terms(model, g, s->ctx, s->x, N, s->ll, s->dll, s->terms);

    const pmhmc_mixture f = ps->f;
    double *restrict W = s->logw, *restrict D = s->D, *restrict rf = s->rf;
    const double *restrict x = s->x, *restrict ll = s->ll, *restrict dll = s->dll;
#pragma omp simd
    for (size_t k = 0; k < N; ++k) {
        pmhmc_mixture_eval fe = pmhmc_mixture_logpdf(&f, x[k]);
        W[k] = ll[k] + fe.logf - (log_q_norm - 0.5 * u[k] * u[k]);
        D[k] = dll[k] + fe.dlogf_dx + u[k] * inv_s;
        rf[k] = fe.r1;
    }
    double log_sum;
    if (softmax_in_place(W, N, &log_sum) != 0) {
        group_fails(ps, g);
        return;
    }
    args->group_ll[g] = log_sum - ps->log_n;
    if (want_grad) {
        double *gg = args->group_grad + g * dim;
        memset(gg, 0, dim * sizeof *gg);
        lik->grad_terms(model, g, s->ctx, W, N, s->terms, gg);
        density_grad(&ps->dens, x, W, rf, N, gg);
    }
    u_grad_and_rotate(ps, g, &q, NULL, W, D);
}

static void quadrature_group(const re_pass *ps, size_t g, re_scratch *s)
{
    const pmhmc_model *model = ps->model;
    const pmhmc_re_likelihood_ops *lik = model->ops->re;
    const pmhmc_cpu_estimate_args *args = ps->args;
    const size_t K = ps->N, dim = ps->dim;
    const int want_grad = args->group_grad != NULL;
    const double *t = model->quad_t, *tw = model->quad_logw;

    lik->group_begin(model, args->theta, g, s->ctx);
    double log_pc[PMHMC_RE_MAX_COMPONENTS];
    for (int c = 0; c < ps->dens.n; ++c) {
        const pmhmc_re_component *rc = &ps->dens.c[c];
        double m, sc;
        double *dm = want_grad ? s->dm : NULL, *ds = want_grad ? s->ds : NULL;
        if (pmhmc_laplace_component(model, rc, g, s->ctx, &m, &sc, dm, ds, s->work) != 0) {
            group_fails(ps, g);
            return;
        }
        double *restrict x = s->x, *restrict W = s->logw, *restrict D = s->D;
#pragma omp simd
        for (size_t k = 0; k < K; ++k)
            x[k] = m + sc * t[k];
        lik->terms(model, g, s->ctx, x, K, s->ll, s->dll, s->terms);
        const double log_norm = 0.5 * pmhmc_log(rc->lambda) - PMHMC_LOG_SQRT_2PI;
        const double *restrict ll = s->ll, *restrict dll = s->dll;
#pragma omp simd
        for (size_t k = 0; k < K; ++k) {
            const double dx = x[k] - rc->mu;
            W[k] = tw[k] + ll[k] + log_norm - 0.5 * rc->lambda * dx * dx;
            D[k] = dll[k] - rc->lambda * dx;
        }
        double log_sum;
        if (softmax_in_place(W, K, &log_sum) != 0) {
            group_fails(ps, g);
            return;
        }
        log_pc[c] = pmhmc_log(sc) + log_sum;
        if (!want_grad)
            continue;
        double *gc = s->gc + (size_t)c * dim;
        memset(gc, 0, dim * sizeof *gc);
        lik->grad_terms(model, g, s->ctx, W, K, s->terms, gc);
        double A = 0.0, B = 1.0 / sc; /* d log s_c */
        for (size_t k = 0; k < K; ++k) {
            A += W[k] * D[k];
            B += W[k] * D[k] * t[k];
        }
        add_component_grad(rc, x, W, K, A, B, dm, ds, dim, gc);
    }
    double R[PMHMC_RE_MAX_COMPONENTS];
    mix_components(ps, g, log_pc, s->gc, R);
}

void pmhmc_re_cpu_estimate(const pmhmc_model *model, const pmhmc_cpu_estimate_args *args)
{
    re_pass ps = {.model = model,
                  .args = args,
                  .N = model->settings.n_importance,
                  .dim = model->dim,
                  .log_n = pmhmc_log((double)model->settings.n_importance)};
    for (size_t i = 0; i < model->dim; ++i)
        ps.theta_nan |= isnan(args->theta[i]);
    model->ops->re->density(model, args->theta, &ps.dens);
    ps.f = mixture_of(&ps.dens);
    const int quadrature = model->settings.estimator == PMHMC_ESTIMATOR_QUADRATURE;
    const size_t n_groups = model->data->n_groups;
#pragma omp parallel if (pmhmc_model_terms(model) >= PMHMC_CPU_PARALLEL_MIN_WORK)
    {
        re_scratch s = carve(model, pmhmc_cpu_thread_scratch(args));
#pragma omp for schedule(dynamic, 4)
        for (size_t g = 0; g < n_groups; ++g) {
            if (quadrature)
                quadrature_group(&ps, g, &s);
            else
                importance_group(&ps, g, &s);
        }
    }
}
