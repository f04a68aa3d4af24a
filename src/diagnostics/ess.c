/* Effective sample size (Vehtari et al. 2021, as ArviZ 0.23 computes it):
 * autocovariances by FFT (FFTW), Geyer's initial positive sequence, then
 * his initial monotone sequence; bulk (rank-normalized), tail (quantile
 * indicators) and mean (plain split chains) variants. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>

#include "diagnostics/diag_impl.h"
#include "pmhmc/diagnostics.h"

int pmhmc__any_nan(const double *x, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (isnan(x[i]))
            return 1;
    return 0;
}

void pmhmc__split_chains(const double *draws, size_t n_chains, size_t n_draws, double *out)
{
    size_t half = n_draws / 2;
    for (size_t c = 0; c < n_chains; ++c) {
        memcpy(out + c * half, draws + c * n_draws, half * sizeof(double));
        memcpy(out + (n_chains + c) * half, draws + c * n_draws + (n_draws - half), half * sizeof(double));
    }
}

/* Autocovariances of each chain at lags 0..n-1, biased (divided by n), as
 * ArviZ's autocov: mean-centred, zero-padded to 2n, |FFT|^2, inverse FFT.
 * acov has n_chains * n values. Returns 0, or -1 when memory runs out. */
static int autocov(const double *x, size_t n_chains, size_t n, double *acov)
{
    size_t m = 2 * n, nc = m / 2 + 1;
    double *buf = fftw_alloc_real(m);
    fftw_complex *spec = fftw_alloc_complex(nc);
    if (!buf || !spec) {
        fftw_free(buf);
        fftw_free(spec);
        return -1;
    }
    fftw_plan fwd = fftw_plan_dft_r2c_1d((int)m, buf, spec, FFTW_ESTIMATE);
    fftw_plan bwd = fftw_plan_dft_c2r_1d((int)m, spec, buf, FFTW_ESTIMATE);
    int rc = (fwd && bwd) ? 0 : -1;
    for (size_t c = 0; rc == 0 && c < n_chains; ++c) {
        const double *xc = x + c * n;
        double mean = 0.0;
        for (size_t i = 0; i < n; ++i)
            mean += xc[i];
        mean /= (double)n;
        for (size_t i = 0; i < n; ++i)
            buf[i] = xc[i] - mean;
        for (size_t i = n; i < m; ++i)
            buf[i] = 0.0;
        fftw_execute(fwd);
        for (size_t k = 0; k < nc; ++k) {
            double re = spec[k][0], im = spec[k][1];
            spec[k][0] = re * re + im * im;
            spec[k][1] = 0.0;
        }
        fftw_execute(bwd); /* unnormalized: m times the inverse transform */
        for (size_t t = 0; t < n; ++t)
            acov[c * n + t] = buf[t] / (double)m / (double)n;
    }
    if (fwd)
        fftw_destroy_plan(fwd);
    if (bwd)
        fftw_destroy_plan(bwd);
    fftw_free(buf);
    fftw_free(spec);
    return rc;
}

double pmhmc__ess_chains(const double *x, size_t n_chains, size_t n_draws)
{
    size_t total = n_chains * n_draws;
    if (total == 0 || pmhmc__any_nan(x, total))
        return NAN;
    double lo = x[0], hi = x[0];
    for (size_t i = 1; i < total; ++i) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    if (hi - lo < 1e-15) /* numpy's finfo(float).resolution */
        return (double)total;

    double *acov = malloc(total * sizeof(double));
    double *rho = calloc(n_draws, sizeof(double));
    double *chain_mean = malloc(n_chains * sizeof(double));
    if (!acov || !rho || !chain_mean || autocov(x, n_chains, n_draws, acov) != 0) {
        free(acov);
        free(rho);
        free(chain_mean);
        return NAN;
    }
    double n = (double)n_draws, K = (double)n_chains;

    /* mean over chains of the autocovariance at lag t */
#define ACOV_MEAN(t, out)                                                                                              \
    do {                                                                                                               \
        double s_ = 0.0;                                                                                               \
        for (size_t c_ = 0; c_ < n_chains; ++c_)                                                                       \
            s_ += acov[c_ * n_draws + (t)];                                                                            \
        (out) = s_ / K;                                                                                                \
    } while (0)

    double grand = 0.0;
    for (size_t c = 0; c < n_chains; ++c) {
        double s = 0.0;
        for (size_t i = 0; i < n_draws; ++i)
            s += x[c * n_draws + i];
        chain_mean[c] = s / n;
        grand += chain_mean[c];
    }
    grand /= K;
    double a0, a;
    ACOV_MEAN(0, a0);
    double mean_var = a0 * n / (n - 1.0);
    double var_plus = mean_var * (n - 1.0) / n;
    if (n_chains > 1) {
        double ss = 0.0;
        for (size_t c = 0; c < n_chains; ++c)
            ss += (chain_mean[c] - grand) * (chain_mean[c] - grand);
        var_plus += ss / (K - 1.0);
    }

    rho[0] = 1.0;
    double rho_even = 1.0, rho_odd;
    if (n_draws > 1) {
        ACOV_MEAN(1, a);
        rho_odd = 1.0 - (mean_var - a) / var_plus;
        rho[1] = rho_odd;
    } else {
        rho_odd = NAN;
    }

    /* Geyer's initial positive sequence */
    long t = 1, nd = (long)n_draws;
    while (t < nd - 3 && rho_even + rho_odd > 0.0) {
        ACOV_MEAN((size_t)(t + 1), a);
        rho_even = 1.0 - (mean_var - a) / var_plus;
        ACOV_MEAN((size_t)(t + 2), a);
        rho_odd = 1.0 - (mean_var - a) / var_plus;
        if (rho_even + rho_odd >= 0.0) {
            rho[t + 1] = rho_even;
            rho[t + 2] = rho_odd;
        }
        t += 2;
    }
#undef ACOV_MEAN
    long max_t = t - 2;
    if (rho_even > 0.0)
        rho[max_t + 1] = rho_even;
    /* Geyer's initial monotone sequence */
    for (t = 1; t <= max_t - 2; t += 2) {
        if (rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]) {
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0;
            rho[t + 2] = rho[t + 1];
        }
    }

    double ess = K * n;
    double sum = 0.0;
    for (long i = 0; i <= max_t; ++i)
        sum += rho[i];
    double tau = -1.0 + 2.0 * sum + (max_t + 1 < nd ? rho[max_t + 1] : 0.0);
    double floor_tau = 1.0 / log10(ess);
    if (tau < floor_tau)
        tau = floor_tau;
    int has_nan = pmhmc__any_nan(rho, n_draws);
    ess = ess / tau;
    free(acov);
    free(rho);
    free(chain_mean);
    return has_nan ? NAN : ess;
}

/* The split chains of draws in a new array (NULL when memory runs out). */
static double *split_copy(const double *draws, size_t n_chains, size_t n_draws)
{
    double *s = malloc((n_chains * 2 * (n_draws / 2)) * sizeof(double));
    if (s)
        pmhmc__split_chains(draws, n_chains, n_draws, s);
    return s;
}

static int invalid(const double *draws, size_t n_chains, size_t n_draws)
{
    return !draws || n_chains < 1 || n_draws < 4 || pmhmc__any_nan(draws, n_chains * n_draws);
}

double pmhmc_ess_bulk(const double *draws, size_t n_chains, size_t n_draws)
{
    if (invalid(draws, n_chains, n_draws))
        return NAN;
    size_t half = n_draws / 2, m = 2 * n_chains * half;
    double *s = split_copy(draws, n_chains, n_draws);
    if (!s || pmhmc__z_scale(s, m) != 0) {
        free(s);
        return NAN;
    }
    double ess = pmhmc__ess_chains(s, 2 * n_chains, half);
    free(s);
    return ess;
}

double pmhmc_ess_mean(const double *draws, size_t n_chains, size_t n_draws)
{
    if (invalid(draws, n_chains, n_draws))
        return NAN;
    double *s = split_copy(draws, n_chains, n_draws);
    if (!s)
        return NAN;
    double ess = pmhmc__ess_chains(s, 2 * n_chains, n_draws / 2);
    free(s);
    return ess;
}

/* ESS of the indicator I(x <= quantile(x, p)) on split chains. */
static double ess_quantile(const double *draws, size_t n_chains, size_t n_draws, const double *sorted, double p)
{
    size_t total = n_chains * n_draws;
    double q = pmhmc_quantile_sorted(sorted, total, p);
    double *ind = malloc(total * sizeof(double));
    if (!ind)
        return NAN;
    for (size_t i = 0; i < total; ++i)
        ind[i] = draws[i] <= q ? 1.0 : 0.0;
    double *s = split_copy(ind, n_chains, n_draws);
    free(ind);
    if (!s)
        return NAN;
    double ess = pmhmc__ess_chains(s, 2 * n_chains, n_draws / 2);
    free(s);
    return ess;
}

double pmhmc_ess_tail(const double *draws, size_t n_chains, size_t n_draws)
{
    if (invalid(draws, n_chains, n_draws))
        return NAN;
    size_t total = n_chains * n_draws;
    double *sorted = malloc(total * sizeof(double));
    if (!sorted)
        return NAN;
    memcpy(sorted, draws, total * sizeof(double));
    qsort(sorted, total, sizeof(double), pmhmc__cmp_double);
    double lo = ess_quantile(draws, n_chains, n_draws, sorted, 0.05);
    double hi = ess_quantile(draws, n_chains, n_draws, sorted, 0.95);
    free(sorted);
    if (isnan(lo) || isnan(hi))
        return NAN;
    return lo < hi ? lo : hi;
}

double pmhmc_mcse_mean(const double *draws, size_t n_chains, size_t n_draws)
{
    if (invalid(draws, n_chains, n_draws))
        return NAN;
    size_t total = n_chains * n_draws;
    double mean = 0.0;
    for (size_t i = 0; i < total; ++i)
        mean += draws[i];
    mean /= (double)total;
    double ss = 0.0;
    for (size_t i = 0; i < total; ++i)
        ss += (draws[i] - mean) * (draws[i] - mean);
    double sd = sqrt(ss / (double)(total - 1));
    return sd / sqrt(pmhmc_ess_mean(draws, n_chains, n_draws));
}
