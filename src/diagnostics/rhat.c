/* Rank-normalized split R-hat (Vehtari et al. 2021, as ArviZ 0.23's
 * rhat(method="rank")): the larger of the R-hats of the rank-normalized
 * split chains and of their folded values |x - median|, rank-normalized. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diagnostics/diag_impl.h"
#include "pmhmc/diagnostics.h"

/* Acklam's rational approximation (relative error 1.15e-9), then one step
 * of Halley's method on erfc, which brings it to full double precision. */
double pmhmc__norm_ppf(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (!(p > 0.0 && p < 1.0)) {
        if (p == 0.0)
            return -INFINITY;
        if (p == 1.0)
            return INFINITY;
        return NAN;
    }
    double x;
    if (p < 0.02425) {
        double q = sqrt(-2.0 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else if (p <= 1.0 - 0.02425) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    } else {
        double q = sqrt(-2.0 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    for (int it = 0; it < 2; ++it) {
        double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
        double u = e * 2.5066282746310002 * exp(x * x / 2.0); /* sqrt(2 pi) */
        x = x - u / (1.0 + x * u / 2.0);
    }
    return x;
}

typedef struct indexed {
    double v;
    size_t i;
} indexed;

static int cmp_indexed(const void *a, const void *b)
{
    const indexed *x = a, *y = b;
    if (x->v != y->v)
        return (x->v > y->v) - (x->v < y->v);
    return (x->i > y->i) - (x->i < y->i);
}

int pmhmc__z_scale(double *x, size_t n)
{
    indexed *s = malloc(n * sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; ++i) {
        s[i].v = x[i];
        s[i].i = i;
    }
    qsort(s, n, sizeof *s, cmp_indexed);
    double denom = (double)n - 2.0 * 0.375 + 1.0;
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && s[b].v == s[a].v)
            ++b;
        double rank = ((double)(a + 1) + (double)b) / 2.0; /* average of ranks a+1..b */
        double z = pmhmc__norm_ppf((rank - 0.375) / denom);
        for (size_t k = a; k < b; ++k)
            x[s[k].i] = z;
        a = b;
    }
    free(s);
    return 0;
}

double pmhmc__median(const double *x, size_t n)
{
    if (n == 0)
        return NAN;
    double *s = malloc(n * sizeof(double));
    if (!s)
        return NAN;
    memcpy(s, x, n * sizeof(double));
    qsort(s, n, sizeof(double), pmhmc__cmp_double);
    double m = pmhmc__median_sorted(s, n);
    free(s);
    return m;
}

double pmhmc__rhat_chains(const double *x, size_t n_chains, size_t n_draws)
{
    if (pmhmc__any_nan(x, n_chains * n_draws) || n_chains < 2 || n_draws < 2)
        return NAN;
    double n = (double)n_draws, K = (double)n_chains;
    double grand = 0.0, within = 0.0;
    double *means = malloc(n_chains * sizeof(double));
    if (!means)
        return NAN;
    for (size_t c = 0; c < n_chains; ++c) {
        const double *xc = x + c * n_draws;
        double m = 0.0;
        for (size_t i = 0; i < n_draws; ++i)
            m += xc[i];
        m /= n;
        double ss = 0.0;
        for (size_t i = 0; i < n_draws; ++i)
            ss += (xc[i] - m) * (xc[i] - m);
        within += ss / (n - 1.0);
        means[c] = m;
        grand += m;
    }
    within /= K;
    grand /= K;
    double ssb = 0.0;
    for (size_t c = 0; c < n_chains; ++c)
        ssb += (means[c] - grand) * (means[c] - grand);
    free(means);
    double between = n * ssb / (K - 1.0);
    return sqrt((between / within + n - 1.0) / n);
}

/* Whether every chain holds one value throughout and they are not all the
 * same: chains stuck apart, whose R-hat is infinite (rank-normalizing them
 * leaves a within-chain variance of rounding error, and the ratio a
 * meaningless 1e15). */
static int stuck_apart(const double *draws, size_t n_chains, size_t n_draws)
{
    int apart = 0;
    for (size_t c = 0; c < n_chains; ++c) {
        const double *xc = draws + c * n_draws;
        for (size_t i = 1; i < n_draws; ++i)
            if (xc[i] != xc[0])
                return 0;
        apart |= xc[0] != draws[0];
    }
    return apart;
}

double pmhmc_rhat_rank(const double *draws, size_t n_chains, size_t n_draws)
{
    if (!draws || n_chains < 1 || n_draws < 4 || pmhmc__any_nan(draws, n_chains * n_draws))
        return NAN;
    if (stuck_apart(draws, n_chains, n_draws))
        return INFINITY;
    size_t half = n_draws / 2, m = 2 * n_chains * half;
    double *s = malloc(m * sizeof(double));
    double *f = malloc(m * sizeof(double));
    if (!s || !f) {
        free(s);
        free(f);
        return NAN;
    }
    pmhmc__split_chains(draws, n_chains, n_draws, s);
    double med = pmhmc__median(s, m);
    for (size_t i = 0; i < m; ++i)
        f[i] = fabs(s[i] - med);
    double r = NAN;
    if (!isnan(med) && pmhmc__z_scale(s, m) == 0 && pmhmc__z_scale(f, m) == 0) {
        double bulk = pmhmc__rhat_chains(s, 2 * n_chains, half);
        double tail = pmhmc__rhat_chains(f, 2 * n_chains, half);
        /* as Python's max(bulk, tail), which ArviZ calls: bulk unless tail > bulk */
        r = tail > bulk ? tail : bulk;
    }
    free(s);
    free(f);
    return r;
}
