/* Shared pieces of the diagnostics (src/diagnostics): split chains, rank
 * normalization and the ESS of an array of chains. Internal. */
#ifndef PMHMC_DIAGNOSTICS_DIAG_IMPL_H
#define PMHMC_DIAGNOSTICS_DIAG_IMPL_H

#include <stddef.h>

/* Whether any value is NaN. */
int pmhmc__any_nan(const double *x, size_t n);

/* Splits n_chains chains of n_draws into 2 * n_chains chains of n_draws / 2:
 * the first and the last half of each (the middle draw of an odd chain is
 * dropped, as ArviZ does). out holds n_chains * 2 * (n_draws / 2) values:
 * all first halves, then all second halves (ArviZ's order; R-hat and ESS do
 * not depend on it). */
void pmhmc__split_chains(const double *draws, size_t n_chains, size_t n_draws, double *out);

/* Replaces x[0..n-1] by the normal quantiles of their fractional ranks,
 * Phi^-1((r - 3/8) / (n + 1/4)), ties getting their average rank. Returns 0,
 * or -1 when memory runs out. */
int pmhmc__z_scale(double *x, size_t n);

/* Ascending order of doubles, for qsort. */
static inline int pmhmc__cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of sorted[0..n-1], n > 0. */
static inline double pmhmc__median_sorted(const double *sorted, size_t n)
{
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
}

/* The median of x[0..n-1] (x is left as it was). NaN when memory runs out. */
double pmhmc__median(const double *x, size_t n);

/* ESS of n_chains chains of n_draws (ArviZ's _ess): FFT autocovariances,
 * Geyer's initial positive then monotone sequence. */
double pmhmc__ess_chains(const double *x, size_t n_chains, size_t n_draws);

/* Classic R-hat of n_chains chains of n_draws (ArviZ's _rhat). */
double pmhmc__rhat_chains(const double *x, size_t n_chains, size_t n_draws);

/* The standard normal quantile function, to full double precision. */
double pmhmc__norm_ppf(double p);

#endif
