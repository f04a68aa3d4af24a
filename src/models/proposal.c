/* The proposals of proposal.h. */
#include "models/proposal.h"

#include <math.h>
#include <string.h>

#include "math/portable_math.h"

/* h'(x) = L'(x) - lambda (x - mu) of the component's log posterior h;
 * f = L', L'', L''' at x. */
static double slope(const pmhmc_model *model, size_t g, const double *ctx, const pmhmc_re_component *c, double x,
                    double f[3])
{
    model->ops->re->at(model, g, ctx, x, f);
    return f[0] - c->lambda * (x - c->mu);
}

/* The mode of h: h is strictly concave (a log-concave likelihood times a
 * Gaussian), so h' falls through zero once. The search brackets the zero,
 * then takes Newton steps kept inside the bracket (bisection where a step
 * would leave it): plain Newton steps overshoot where a wide component
 * leaves h nearly flat. The bracket: with a bound B on |L'| (GLMM: the
 * group's rows), h' = L' - lambda (x - mu) changes sign within mu -+
 * B / lambda; without one, doubling steps of the component's sd from mu. It
 * always starts from mu, so the mode is a function of theta alone (not of
 * the evaluations before), as the estimator's smoothness in theta needs. */
static int find_mode(const pmhmc_model *model, size_t g, const double *ctx, const pmhmc_re_component *c, double *mode,
                     double f[3])
{
    double x = c->mu, d = 1.0 / sqrt(c->lambda);
    double h1 = slope(model, g, ctx, c, x, f);
    if (!isfinite(h1))
        return -1;
    if (h1 == 0.0) {
        *mode = x;
        return 0;
    }
    const double dir = h1 > 0.0 ? 1.0 : -1.0;
    double lo = x, hi = x;
    const double bound = model->ops->re->slope_bound(model, g, ctx);
    if (isfinite(bound)) { /* the zero lies between mu and mu + dir B / lambda */
        const double far = c->mu + dir * (bound / c->lambda) * (1.0 + 1e-12) + dir * 1e-300;
        lo = dir > 0.0 ? c->mu : far;
        hi = dir > 0.0 ? far : c->mu;
    }
    for (int i = 0; !isfinite(bound); ++i) {
        double next = c->mu + dir * d;
        double h = slope(model, g, ctx, c, next, f);
        if (!isfinite(h) || i > 1100)
            return -1;
        if ((h > 0.0) != (dir > 0.0) || h == 0.0) {
            lo = dir > 0.0 ? x : next;
            hi = dir > 0.0 ? next : x;
            break;
        }
        x = next;
        d *= 2.0;
    }
    x = c->mu; /* Newton from mu: the bracket only guards its steps */
    for (int it = 0; it < 200; ++it) {
        double h = slope(model, g, ctx, c, x, f);
        double h2 = f[1] - c->lambda;
        if (!isfinite(h) || !isfinite(h2))
            return -1;
        if (h == 0.0)
            break;
        if (h > 0.0)
            lo = x;
        else
            hi = x;
        double next = x - h / h2;
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        double moved = fabs(next - x);
        x = next;
        if (moved <= 1e-13 * (1.0 + fabs(x)) || hi - lo <= 1e-13 * (1.0 + fabs(x)))
            break;
    }
    slope(model, g, ctx, c, x, f); /* f at the mode, for the curvature */
    *mode = x;
    return 0;
}

int pmhmc_laplace_component(const pmhmc_model *model, const pmhmc_re_component *c, size_t g, const double *ctx,
                            double *m, double *s, double *dm, double *ds, double *work)
{
    double f[3];
    if (find_mode(model, g, ctx, c, m, f) != 0)
        return -1;
    const double h2 = f[1] - c->lambda; /* < 0 */
    *s = 1.0 / sqrt(-h2);
    if (!dm)
        return 0;
    /* Implicit differentiation of h'(m(theta); theta) = 0:
     *   dm = -(dh'/dtheta) / h'',
     *   s = (-h'')^(-1/2)  =>  ds = (s^3 / 2) (h''' dm + dh''/dtheta),
     * with the likelihood's share of dh'/dtheta and dh''/dtheta from
     * `mixed` and the prior component's:
     *   dh'/dmu = lambda, dh'/dlog lambda = -lambda (m - mu),
     *   dh''/dlog lambda = -lambda. */
    const size_t dim = model->dim;
    double *dh1 = work, *dh2 = work + dim;
    memset(dh1, 0, 2 * dim * sizeof *dh1);
    model->ops->re->mixed(model, g, ctx, *m, dh1, dh2);
    if (c->mu_index >= 0)
        dh1[c->mu_index] += c->lambda;
    if (c->loglam_index >= 0) {
        dh1[c->loglam_index] += -c->lambda * (*m - c->mu) * c->dloglam;
        dh2[c->loglam_index] += -c->lambda * c->dloglam;
    }
    const double half_s3 = 0.5 * *s * *s * *s;
    for (size_t i = 0; i < dim; ++i) {
        dm[i] = -dh1[i] / h2;
        ds[i] = half_s3 * (f[2] * dm[i] + dh2[i]);
    }
    return 0;
}

int pmhmc_proposal_group(const pmhmc_model *model, const pmhmc_re_density *dens, size_t g, const double *ctx,
                         size_t N, int derivs, pmhmc_proposal_parts *out, double *dm, double *ds, double *work)
{
    const size_t dim = model->dim;
    const pmhmc_proposal_kind kind = model->settings.proposal;
    out->n = kind == PMHMC_PROPOSAL_FIXED ? 1 : dens->n;
    for (int c = 0; c <= out->n; ++c)
        out->first[c] = (size_t)c * N / (size_t)out->n;
    if (kind == PMHMC_PROPOSAL_FIXED) {
        out->m[0] = 0.0;
        out->s[0] = model->settings.is_scale;
        return 0;
    }
    for (int c = 0; c < out->n; ++c) {
        const pmhmc_re_component *rc = &dens->c[c];
        double *dmc = derivs ? dm + (size_t)c * dim : NULL, *dsc = derivs ? ds + (size_t)c * dim : NULL;
        if (kind == PMHMC_PROPOSAL_LAPLACE) {
            if (pmhmc_laplace_component(model, rc, g, ctx, &out->m[c], &out->s[c], dmc, dsc, work) != 0)
                return -1;
            continue;
        }
        /* prior: m = mu, s = lambda^(-1/2), ds = -(s/2) dlog lambda */
        out->m[c] = rc->mu;
        out->s[c] = 1.0 / sqrt(rc->lambda);
        if (derivs) {
            memset(dmc, 0, dim * sizeof *dmc);
            memset(dsc, 0, dim * sizeof *dsc);
            if (rc->mu_index >= 0)
                dmc[rc->mu_index] = 1.0;
            if (rc->loglam_index >= 0)
                dsc[rc->loglam_index] = -0.5 * out->s[c] * rc->dloglam;
        }
    }
    return 0;
}
