/* Nested R-hat (Margossian, Hoffman, Sountsov, Riou-Durand, Vehtari and
 * Gelman 2024, "Nested R-hat: assessing the convergence of Markov chain
 * Monte Carlo when running many short chains", Bayesian Analysis): chains
 * grouped into superchains, the chains of a superchain started from one
 * point. With K superchains of M chains of N draws, chain means xbar_mk,
 * superchain means xbar_k, their mean xbar:
 *   B = sum_k (xbar_k - xbar)^2 / (K - 1)            between superchains
 *   W = (1/K) sum_k [ sum_m (xbar_mk - xbar_k)^2 / (M - 1)   (0 when M = 1)
 *                   + (1/M) sum_m s_mk^2 ]                   (0 when N = 1)
 *   nR-hat = sqrt(1 + B / W)
 * where s_mk^2 is chain mk's variance (N - 1 denominator). Unlike R-hat it
 * needs no long chains: it asks whether superchains started apart have
 * forgotten where they started, which many short chains can tell. Sums in
 * a fixed order, in double. */
#include <math.h>

#include "pmhmc/diagnostics.h"

double pmhmc_rhat_nested(const double *draws, size_t n_chains, size_t n_draws, size_t n_superchains)
{
    if (!draws || n_draws < 1 || n_superchains < 2 || n_chains % n_superchains != 0)
        return NAN;
    const size_t M = n_chains / n_superchains, N = n_draws, K = n_superchains;
    double grand = 0.0, m2 = 0.0, within = 0.0; /* Welford over the superchain means */
    for (size_t k = 0; k < K; ++k) {
        double superchain_sum = 0.0, chain_var_sum = 0.0;
        for (size_t m = 0; m < M; ++m) {
            const double *x = draws + (k * M + m) * N;
            double s = 0.0;
            for (size_t i = 0; i < N; ++i) {
                if (!isfinite(x[i]))
                    return NAN;
                s += x[i];
            }
            const double mean = s / (double)N;
            double ss = 0.0;
            for (size_t i = 0; i < N; ++i)
                ss += (x[i] - mean) * (x[i] - mean);
            chain_var_sum += N > 1 ? ss / (double)(N - 1) : 0.0;
            superchain_sum += mean;
        }
        const double superchain_mean = superchain_sum / (double)M;
        double between_chains = 0.0;
        for (size_t m = 0; M > 1 && m < M; ++m) {
            const double *x = draws + (k * M + m) * N;
            double s = 0.0;
            for (size_t i = 0; i < N; ++i)
                s += x[i];
            const double d = s / (double)N - superchain_mean;
            between_chains += d * d;
        }
        within += (M > 1 ? between_chains / (double)(M - 1) : 0.0) + chain_var_sum / (double)M;
        const double d = superchain_mean - grand;
        grand += d / (double)(k + 1);
        m2 += d * (superchain_mean - grand);
    }
    within /= (double)K;
    const double between = m2 / (double)(K - 1);
    if (!(within > 0.0))
        return NAN;
    return sqrt(1.0 + between / within);
}
