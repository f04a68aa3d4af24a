/* The gaussian model: a target with a known answer, for sampler tests.
 *
 * theta in R^d, auxiliary normals u laid out as T groups x N draws (p_u = 1),
 * and the extended target
 *   pi(theta, u) ∝ p(theta) phat(theta, u) N(u; 0, I) = N(theta; mu, Sigma) N(u; a 1, I),
 * so theta's marginal is exactly N(mu, Sigma) and u is independent of it,
 * N(a, I) per element, with a nontrivial u gradient d log phat / du_j = a.
 *
 * The estimator. E[exp(a u - a^2 / 2)] = 1 for u ~ N(0, 1), so
 *   phat(theta, u) = [N(theta; mu, Sigma) / N(theta; 0, v I)] prod_j exp(a u_j - a^2 / 2)
 * is an unbiased estimator of N(theta; mu, Sigma) / N(theta; 0, v I).
 *
 * Why the prior is divided out of phat instead of switched off: every model
 * has the N(0, v I) prior of pmhmc_model_log_prior (v = prior_var = 100), and
 * that prior is assumed beyond model.c, in the sampler's host integrator and
 * in the CUDA device-side trajectory (traj_device.cuh adds -theta / v to the
 * gradient on the device). A flat-prior flag would need each of those to
 * learn about it; folding N(mu, Sigma) into the prior would need a per-model
 * prior on the device. Dividing the prior out of phat leaves every path
 * unchanged, so the host loop, the device trajectory and both backends run
 * this model exactly as they run the real ones, and log p + log phat is
 * log N(theta; mu, Sigma) + sum_j (a u_j - a^2/2) to rounding.
 *
 * Per group: log phat_g = sum_{j in g} (a u_j - a^2 / 2), and group 0 also
 * carries the whole theta part and theta gradient (the backends sum groups
 * in order, so it is counted once). a is one scalar for every draw.
 *
 * No data: the model owns a placeholder dataset of T groups with one row each
 * (y = 0, unused), so pmhmc_model_terms counts T N, one term per auxiliary
 * draw, and the backends' generic data upload has something to copy. The
 * documented start is theta = mu (seed and chain are ignored). */
#include "models/gaussian.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/estimators.h"
#include "error.h"
#include "models/gaussian_impl.h"
#include "math/portable_math.h"

/* Dense Sigma^-1 is stored and applied per estimate: beyond a few thousand
 * dimensions that is the wrong tool anyway. */
#define GAUSSIAN_MAX_DIM 4096

static pmhmc_status gaussian_init(pmhmc_model *model, pmhmc_error *err)
{
    (void)model;
    return pmhmc_fail(err, PMHMC_ERR_CONFIG, "gaussian: built by pmhmc_gaussian_model_create, not from data");
}

static void gaussian_generated(const pmhmc_model *model, const double *theta, double *out)
{
    (void)model;
    (void)theta;
    (void)out;
}

static void gaussian_initial(const pmhmc_model *model, uint64_t seed, uint32_t chain, double *theta)
{
    (void)seed;
    (void)chain;
    memcpy(theta, pmhmc_gaussian_of(model)->mean, model->dim * sizeof *theta);
}

const pmhmc_model_ops pmhmc_gaussian_ops = {
    .name = "gaussian",
    .response = PMHMC_RESPONSE_REAL,
    .p_u = 1,
    .generated_names = NULL,
    .n_generated = 0,
    .init = gaussian_init,
    .generated = gaussian_generated,
    .initial = gaussian_initial,
    .cpu_scratch = pmhmc_gaussian_cpu_scratch,
    .cpu_estimate = pmhmc_gaussian_cpu_estimate,
};

/* L (lower, row-major) with L L' = a; fails at the first pivot that is not
 * positive and finite. */
static int cholesky(size_t n, const double *a, double *l, size_t *bad_pivot)
{
    memset(l, 0, n * n * sizeof *l);
    for (size_t j = 0; j < n; ++j) {
        double s = a[j * n + j];
        for (size_t k = 0; k < j; ++k)
            s -= l[j * n + k] * l[j * n + k];
        if (!(s > 0.0) || !isfinite(s)) {
            *bad_pivot = j;
            return 0;
        }
        l[j * n + j] = sqrt(s);
        for (size_t i = j + 1; i < n; ++i) {
            double t = a[i * n + j];
            for (size_t k = 0; k < j; ++k)
                t -= l[i * n + k] * l[j * n + k];
            l[i * n + j] = t / l[j * n + j];
        }
    }
    return 1;
}

/* prec = (L L')^-1 = L^-T L^-1, exactly symmetric; work is [n, n]. Returns 0
 * when an entry overflows (Sigma numerically singular). */
static int precision_from_chol(size_t n, const double *l, double *work, double *prec)
{
    double *inv = work; /* L^-1, lower */
    memset(inv, 0, n * n * sizeof *inv);
    for (size_t c = 0; c < n; ++c) {
        inv[c * n + c] = 1.0 / l[c * n + c];
        for (size_t i = c + 1; i < n; ++i) {
            double t = 0.0;
            for (size_t k = c; k < i; ++k)
                t -= l[i * n + k] * inv[k * n + c];
            inv[i * n + c] = t / l[i * n + i];
        }
    }
    for (size_t i = 0; i < n; ++i)
        for (size_t k = i; k < n; ++k) {
            double t = 0.0;
            for (size_t r = k; r < n; ++r)
                t += inv[r * n + i] * inv[r * n + k];
            if (!isfinite(t))
                return 0;
            prec[i * n + k] = prec[k * n + i] = t;
        }
    return 1;
}

static pmhmc_status check_args(size_t dim, const double *mean, const double *cov, size_t n_groups, size_t N,
                               double shift_a, pmhmc_error *err)
{
    if (dim < 1 || dim > GAUSSIAN_MAX_DIM)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: dim must be in 1..%d, got %zu", GAUSSIAN_MAX_DIM, dim);
    if (!mean || !cov)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: mean and cov are required");
    if (n_groups < 1 || N < 1)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: n_groups and N must be at least 1");
    if ((double)n_groups * (double)N > 4.0e9)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: n_groups * N is too large (over 4e9 auxiliary variables)");
    if (!isfinite(shift_a))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: shift_a must be finite");
    for (size_t i = 0; i < dim; ++i)
        if (!isfinite(mean[i]))
            return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: mean[%zu] is not finite", i);
    for (size_t i = 0; i < dim; ++i)
        for (size_t k = 0; k < dim; ++k) {
            const double x = cov[i * dim + k], y = cov[k * dim + i];
            if (!isfinite(x))
                return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: cov[%zu][%zu] is not finite", i, k);
            if (fabs(x - y) > 1e-12 * (fabs(x) + fabs(y)))
                return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: cov is not symmetric (cov[%zu][%zu] = %g, cov[%zu][%zu] = %g)",
                                  i, k, x, k, i, y);
        }
    return PMHMC_OK;
}

static pmhmc_status set_names(pmhmc_model *model, size_t dim)
{
    char (*buf)[32] = malloc(dim * sizeof *buf);
    const char **names = malloc(dim * sizeof *names);
    pmhmc_status st = PMHMC_ERR_NOMEM;
    if (buf && names) {
        for (size_t i = 0; i < dim; ++i) {
            snprintf(buf[i], sizeof buf[i], "theta.%zu", i + 1);
            names[i] = buf[i];
        }
        st = pmhmc_model_set_names(model, dim, names);
    }
    free(names);
    free(buf);
    return st;
}

pmhmc_status pmhmc_gaussian_model_create(size_t dim, const double *mean, const double *cov, size_t n_groups,
                                         size_t N, double shift_a, pmhmc_model **out, pmhmc_error *err)
{
    if (!out)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: out is required");
    *out = NULL;
    pmhmc_status st = check_args(dim, mean, cov, n_groups, N, shift_a, err);
    if (st != PMHMC_OK)
        return st;

    const size_t mat = dim * dim;
    const size_t bytes = sizeof(pmhmc_gaussian_model) + (dim + 2 * mat + n_groups) * sizeof(double) +
                         (n_groups + 1) * sizeof(size_t);
    pmhmc_gaussian_model *g = calloc(1, bytes);
    double *work = malloc(mat * sizeof *work);
    if (!g || !work) {
        free(g);
        free(work);
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "gaussian: out of memory (%zu bytes)", bytes);
    }
    g->mean = (double *)(g + 1);
    g->prec = g->mean + dim;
    g->chol = g->prec + mat;
    double *y = g->chol + mat;
    size_t *group_start = (size_t *)(y + n_groups);

    size_t bad = 0;
    if (!cholesky(dim, cov, g->chol, &bad)) {
        st = pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: cov is not positive definite (Cholesky pivot %zu)", bad);
    } else if (!precision_from_chol(dim, g->chol, work, g->prec)) {
        st = pmhmc_fail(err, PMHMC_ERR_ARG, "gaussian: cov is numerically singular (its inverse overflows)");
    }
    free(work);
    if (st != PMHMC_OK) {
        free(g);
        return st;
    }
    memcpy(g->mean, mean, dim * sizeof *mean);
    g->shift_a = shift_a;

    for (size_t i = 0; i <= n_groups; ++i)
        group_start[i] = i;
    g->data.n_groups = n_groups;
    g->data.n_rows = n_groups;
    g->data.max_group_rows = 1;
    g->data.group_start = group_start;
    g->data.y = y;

    pmhmc_model *m = &g->base;
    m->ops = &pmhmc_gaussian_ops;
    pmhmc_model_settings_default(&m->settings);
    m->settings.name = pmhmc_gaussian_ops.name;
    m->settings.n_importance = N;
    m->settings.proposal = PMHMC_PROPOSAL_FIXED; /* its own estimator: a u-shift, no proposal */
    m->data = &g->data;

    double log_det_l = 0.0;
    for (size_t i = 0; i < dim; ++i)
        log_det_l += pmhmc_log(g->chol[i * dim + i]);
    g->log_const = -log_det_l + 0.5 * (double)dim * pmhmc_log(m->settings.prior_var);

    st = set_names(m, dim);
    if (st != PMHMC_OK) {
        pmhmc_model_free(m);
        return pmhmc_fail(err, st, "gaussian: out of memory for %zu parameter names", dim);
    }
    *out = m;
    return PMHMC_OK;
}
