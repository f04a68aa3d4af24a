/* One parameter's summary as stansummary reports it: mean, MCSE, sd, MAD,
 * 5/50/95% quantiles, bulk and tail ESS, R-hat. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diagnostics/diag_impl.h"
#include "pmhmc/diagnostics.h"

double pmhmc_quantile_sorted(const double *sorted, size_t n, double p)
{
    if (!sorted || n == 0 || isnan(p))
        return NAN;
    if (n == 1)
        return sorted[0];
    /* scipy's mquantiles(alphap=1, betap=1), the formula ArviZ uses */
    double m = 1.0 + p * (1.0 - 1.0 - 1.0);
    double aleph = (double)n * p + m;
    double clipped = aleph < 1.0 ? 1.0 : (aleph > (double)(n - 1) ? (double)(n - 1) : aleph);
    size_t k = (size_t)floor(clipped);
    double gamma = aleph - (double)k;
    gamma = gamma < 0.0 ? 0.0 : (gamma > 1.0 ? 1.0 : gamma);
    return (1.0 - gamma) * sorted[k - 1] + gamma * sorted[k];
}

pmhmc_status pmhmc_summarize(const double *draws, size_t n_chains, size_t n_draws, pmhmc_summary_stats *out)
{
    if (!draws || !out || n_chains == 0 || n_draws == 0)
        return PMHMC_ERR_ARG;
    size_t total = n_chains * n_draws;
    double *sorted = malloc(total * sizeof(double));
    if (!sorted)
        return PMHMC_ERR_NOMEM;
    double mean = 0.0;
    for (size_t i = 0; i < total; ++i)
        mean += draws[i];
    mean /= (double)total;
    double ss = 0.0;
    for (size_t i = 0; i < total; ++i)
        ss += (draws[i] - mean) * (draws[i] - mean);
    out->mean = mean;
    out->sd = total > 1 ? sqrt(ss / (double)(total - 1)) : NAN;

    if (pmhmc__any_nan(draws, total)) {
        out->mad = out->q5 = out->q50 = out->q95 = NAN;
    } else {
        memcpy(sorted, draws, total * sizeof(double));
        qsort(sorted, total, sizeof(double), pmhmc__cmp_double);
        out->q5 = pmhmc_quantile_sorted(sorted, total, 0.05);
        out->q50 = pmhmc_quantile_sorted(sorted, total, 0.5);
        out->q95 = pmhmc_quantile_sorted(sorted, total, 0.95);
        double med = pmhmc__median_sorted(sorted, total);
        for (size_t i = 0; i < total; ++i)
            sorted[i] = fabs(draws[i] - med);
        qsort(sorted, total, sizeof(double), pmhmc__cmp_double);
        out->mad = 1.4826 * pmhmc__median_sorted(sorted, total);
    }
    free(sorted);
    out->mcse_mean = pmhmc_mcse_mean(draws, n_chains, n_draws);
    out->ess_bulk = pmhmc_ess_bulk(draws, n_chains, n_draws);
    out->ess_tail = pmhmc_ess_tail(draws, n_chains, n_draws);
    out->rhat = pmhmc_rhat_rank(draws, n_chains, n_draws);
    return PMHMC_OK;
}
