/* MCMC convergence diagnostics: rank-normalized split R-hat, bulk and tail
 * effective sample sizes and the Monte Carlo standard error of the mean, as
 * in Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021), "Rank-
 * normalization, folding, and localization: an improved R-hat for assessing
 * convergence of MCMC", Bayesian Analysis 16(2), computed exactly as ArviZ
 * 0.23 does (arviz.rhat(method="rank"), arviz.ess(method="bulk"/"tail"),
 * arviz.mcse(method="mean")); tests/fixtures/summary holds ArviZ's answers.
 *
 * Every function takes one parameter's draws as n_chains chains of n_draws
 * values each, chain after chain: draws[c * n_draws + i] is draw i of chain
 * c. The autocovariances are computed by FFT (FFTW).
 *
 * As in ArviZ:
 *   - any NaN in the draws gives NaN;
 *   - fewer than 4 draws per chain gives NaN;
 *   - draws that are all equal give ESS = n_chains * n_draws (an even
 *     n_draws; one fewer per chain when odd), MCSE 0 and R-hat NaN;
 *   - ESS is capped at n_chains * n_draws * log10(n_chains * n_draws)
 *     (Stan's and ArviZ's guard against antithetic chains).
 * Unlike ArviZ (which needs 2 chains), R-hat of a single chain is the
 * rank-normalized R-hat of its two halves, as in the paper and in Stan.
 *
 * The functions return NaN also when memory runs out. They plan FFTs, and
 * FFTW's planner is not thread-safe: call them from one thread at a time.
 * The library never prints. */
#ifndef PMHMC_DIAGNOSTICS_H
#define PMHMC_DIAGNOSTICS_H

#include <stddef.h>

#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* max(bulk, folded) rank-normalized split R-hat. */
double pmhmc_rhat_rank(const double *draws, size_t n_chains, size_t n_draws);

/* Nested R-hat (Margossian et al. 2024) for many short chains started in
 * groups: the n_chains chains form n_superchains superchains of equal size,
 * superchain s being chains [s M, (s + 1) M) with M = n_chains /
 * n_superchains, each superchain's chains started from one point.
 * sqrt(1 + B / W) of the between-superchain variance B and the mean
 * within-superchain variance W (between its chains plus within them). At
 * least 1; NaN with fewer than 2 superchains, n_chains not a multiple of
 * n_superchains, a non-finite draw, or W = 0. A single pass in double, no
 * rank normalization and no split (as the paper and the posterior
 * package), fast for thousands of chains. */
double pmhmc_rhat_nested(const double *draws, size_t n_chains, size_t n_draws, size_t n_superchains);
/* Bulk ESS: ESS of the rank-normalized split chains. */
double pmhmc_ess_bulk(const double *draws, size_t n_chains, size_t n_draws);

/* Tail ESS: the smaller ESS of the indicators I(x <= q5%) and I(x <= q95%). */
double pmhmc_ess_tail(const double *draws, size_t n_chains, size_t n_draws);

/* ESS of the mean: ESS of the split chains without rank normalization. */
double pmhmc_ess_mean(const double *draws, size_t n_chains, size_t n_draws);

/* Monte Carlo standard error of the mean: sd / sqrt(ess_mean). */
double pmhmc_mcse_mean(const double *draws, size_t n_chains, size_t n_draws);

/* Quantile of sorted[0..n-1] at probability p, R's type 7 (numpy's and
 * ArviZ's default: linear interpolation between order statistics). */
double pmhmc_quantile_sorted(const double *sorted, size_t n, double p);

/* Everything stansummary reports for one parameter. */
typedef struct pmhmc_summary_stats {
    double mean;      /* over all draws of all chains */
    double mcse_mean; /* pmhmc_mcse_mean */
    double sd;        /* sample standard deviation, n - 1 denominator */
    double mad;       /* 1.4826 * median(|x - median(x)|) */
    double q5, q50, q95;
    double ess_bulk, ess_tail, rhat;
} pmhmc_summary_stats;

/* Fills out for one parameter. PMHMC_ERR_ARG when draws or out is NULL or
 * there are no draws; PMHMC_ERR_NOMEM when memory runs out. */
pmhmc_status pmhmc_summarize(const double *draws, size_t n_chains, size_t n_draws, pmhmc_summary_stats *out);

#ifdef __cplusplus
}
#endif
#endif
