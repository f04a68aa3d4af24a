/* The GLMM's exact log-likelihood log p(y | theta) by adaptive Gauss-Hermite
 * quadrature over each random effect: the likelihood of the reference
 * posterior in bench/glmm_exact_posterior.c, checked against adaptive Simpson
 * in tests/test_estimator.cpp.
 *
 * Per group i (rows j, zb_j = z_ij'beta) and mixture component c:
 *   log p_ic = log int N(X; mu_c, 1/lambda_c) prod_j Bernoulli(y_ij | sigmoid(X + zb_j)) dX,
 *   log p(y_i | theta) = logsumexp_c(log w_c + log p_ic).
 * The integrand's log h(X) is strictly concave (a Gaussian times log-concave
 * sigmoids), so it has one mode m, found by Newton's method kept inside a
 * bracket; with s = (-h''(m))^(-1/2) the K-node rule is
 *   p_ic ~= s sum_k W_k exp(t_k^2 / 2 + h(m + s t_k))
 * over the probabilists' Gauss-Hermite nodes t_k and weights W_k (which sum
 * to sqrt(2 pi)). Centring on the mode makes the rule exact as the integrand
 * becomes Gaussian, so a spike (lambda_c -> infinity) costs nothing extra.
 * The rule is weakest for a wide component (small lambda_c) in a group whose
 * answers are all 0 or all 1: the integrand is then a broad Gaussian cut on
 * one side by a sigmoid, with tails wider than the curvature at the mode
 * says. 32 nodes are within 1e-8 per group of a fine trapezoid rule for
 * mixed answers at any lambda, but 5e-6 (log lambda = -3), 3e-4 (-4) and
 * 3e-3 (-5) for an all-1 group; on the paper's data the total
 * log-likelihood agrees with composite Gauss-Legendre to 1e-6 for
 * log lambda_c >= -2 and to 1e-2 near -3.5. The reference sampler watches
 * this by re-evaluating draws with twice the nodes.
 *
 * The mode searches start where the caller's cache says, so the value at a
 * theta depends on the evaluations before it, by ~1e-11 (reproducible run
 * to run, since the sequence of evaluations is).
 *
 * Header-only so the test suite compiles the same code. */
#ifndef PMHMC_BENCH_GLMM_QUADRATURE_H
#define PMHMC_BENCH_GLMM_QUADRATURE_H

#include <math.h>
#include <stddef.h>

#include "io/dataset.h"
#include "math/gauss_hermite.h"
#include "math/glmm_math.h"

#define GLMM_QUADRATURE_MAX_NODES PMHMC_GH_MAX_NODES

/* The node loops vectorize where OpenMP's simd is on (the benchmark); the
 * test suite's C++ compiles them as plain loops. */
#ifdef _OPENMP
#define GLMM_SIMD _Pragma("omp simd")
#else
#define GLMM_SIMD
#endif

/* A K-node rule: nodes t and log(W_k) + t_k^2 / 2, the term each node adds. */
typedef struct glmm_gh_rule {
    int K;
    double t[GLMM_QUADRATURE_MAX_NODES];
    double log_w[GLMM_QUADRATURE_MAX_NODES];
} glmm_gh_rule;

/* The library's K-node rule (src/math/gauss_hermite.h); -1 as it. */
static inline int glmm_gauss_hermite(int K, glmm_gh_rule *rule, double *W)
{
    if (pmhmc_gauss_hermite(K, rule->t, rule->log_w, W) != 0)
        return -1;
    rule->K = K;
    return 0;
}

/* h'(X) of h(X) = log N(X; mu, 1/lambda) + sum_j [y_j eta_j - softplus(eta_j)],
 * eta_j = X + zb_j, and h''(X) into *curv. */
static inline double glmm_component_slope(const double *y, const double *zb, size_t n_rows, double mu,
                                          double lambda, double x, double *curv)
{
    double g = -lambda * (x - mu), c = -lambda;
    for (size_t j = 0; j < n_rows; ++j) {
        double sig = 1.0 / (1.0 + exp(-(x + zb[j])));
        g += y[j] - sig;
        c -= sig * (1.0 - sig);
    }
    *curv = c;
    return g;
}

/* log p_ic for one group and one component (see the top of the file).
 * *mode is where Newton's method starts (NAN: at mu) and receives the mode,
 * so a caller moving theta a little can start the next search there. */
static inline double glmm_component_loglik(const double *y, const double *zb, size_t n_rows, double mu,
                                           double lambda, const glmm_gh_rule *rule, double *mode)
{
    /* h' = -lambda (X - mu) + sum_j (y_j - sigmoid) and the sum lies in
     * (-n, n), so h' > 0 left of mu - n / lambda and < 0 right of
     * mu + n / lambda: the mode lies in that bracket. Newton steps that leave
     * the bracket are replaced by bisection. */
    double lo = mu - (double)n_rows / lambda - 1e-12, hi = mu + (double)n_rows / lambda + 1e-12;
    double x = (*mode > lo && *mode < hi) ? *mode : mu, c;
    for (int it = 0; it < 200; ++it) {
        double g = glmm_component_slope(y, zb, n_rows, mu, lambda, x, &c);
        if (g == 0.0)
            break;
        if (g > 0.0)
            lo = x;
        else
            hi = x;
        double next = x - g / c;
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        double moved = fabs(next - x);
        x = next;
        if (moved <= 1e-12 * (1.0 + fabs(x)) || hi - lo <= 1e-12 * (1.0 + fabs(x)))
            break;
    }
    *mode = x;
    glmm_component_slope(y, zb, n_rows, mu, lambda, x, &c);
    const double s = 1.0 / sqrt(-c), log_norm = 0.5 * log(lambda) - PMHMC_LOG_SQRT_2PI;
    const int K = rule->K;
    double xk[GLMM_QUADRATURE_MAX_NODES], v[GLMM_QUADRATURE_MAX_NODES];
GLMM_SIMD
    for (int k = 0; k < K; ++k) {
        /* X_k - mu formed from (m - mu) + s t_k, not from X_k: for a near
         * point mass s t_k is below X_k's rounding */
        double dk = (x - mu) + s * rule->t[k];
        xk[k] = x + s * rule->t[k];
        v[k] = rule->log_w[k] + log_norm - 0.5 * lambda * dk * dk;
    }
    for (size_t j = 0; j < n_rows; ++j) {
        const double yj = y[j], zbj = zb[j];
GLMM_SIMD
        for (int k = 0; k < K; ++k)
            v[k] += pmhmc_bernoulli_logit(yj, xk[k] + zbj).term;
    }
    double top = -INFINITY;
    for (int k = 0; k < K; ++k)
        top = v[k] > top ? v[k] : top;
    double sum = 0.0;
    for (int k = 0; k < K; ++k)
        sum += exp(v[k] - top);
    return log(s) + top + log(sum);
}

/* log p(y | theta) of the whole dataset; theta = (beta[p], mu1, mu2,
 * log_lambda1, log_lambda2, logit_w1); zb is scratch of max_group_rows;
 * modes [n_groups, 2] holds each search's start and receives the modes
 * (fill it with NAN the first time). */
static inline double glmm_exact_loglik(const pmhmc_dataset *data, const double *theta, const glmm_gh_rule *rule,
                                       double *zb, double *modes)
{
    const size_t p = data->n_cov;
    const pmhmc_mixture mix = pmhmc_mixture_from_theta(theta + p);
    /* log w1 = -softplus(-a), log(1 - w1) = -softplus(a), a = logit_w1 */
    const double a = theta[p + 4], soft = log1p(exp(-fabs(a)));
    const double log_w[2] = {-((a < 0.0 ? -a : 0.0) + soft), -((a > 0.0 ? a : 0.0) + soft)};
    double total = 0.0;
    for (size_t grp = 0; grp < data->n_groups; ++grp) {
        const size_t r0 = data->group_start[grp], n_rows = data->group_start[grp + 1] - r0;
        for (size_t j = 0; j < n_rows; ++j) {
            double acc = 0.0;
            for (size_t c = 0; c < p; ++c)
                acc += data->z[(r0 + j) * p + c] * theta[c];
            zb[j] = acc;
        }
        double l[2];
        for (int c = 0; c < 2; ++c)
            l[c] = log_w[c] + glmm_component_loglik(data->y + r0, zb, n_rows, mix.mu[c], mix.lambda[c], rule,
                                                    &modes[2 * grp + c]);
        double top = l[0] > l[1] ? l[0] : l[1];
        total += top + log(exp(l[0] - top) + exp(l[1] - top));
    }
    return total;
}

#endif
