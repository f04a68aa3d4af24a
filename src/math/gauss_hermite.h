/* Probabilists' Gauss-Hermite rules (weight function exp(-t^2 / 2)): the
 * nodes of the quadrature estimator (model.estimator = quadrature) and of
 * bench/glmm_exact_posterior's reference. Host only; computed once per model,
 * with portable_math.h's functions so the nodes, like the draws, are the same
 * bits on every CPU. */
#ifndef PMHMC_MATH_GAUSS_HERMITE_H
#define PMHMC_MATH_GAUSS_HERMITE_H

#include <math.h>

#include "math/portable_math.h"

/* Beyond this many nodes the Newton iterations for the roots collapse onto
 * each other (at 199 in double), so rules stop well short of it. */
#define PMHMC_GH_MAX_NODES 128

/* The K nodes t_k and log(W_k) + t_k^2 / 2 (the term each node adds to an
 * integral written as int g(t) dt = sum_k W_k exp(t_k^2 / 2) g(t_k)), in
 * decreasing order of t, by Newton's method on the orthonormal Hermite
 * recurrence; W, when not NULL, receives the weights themselves (they sum
 * to sqrt(2 pi)). Returns 0, or -1 when K is out of [1, PMHMC_GH_MAX_NODES],
 * a root does not converge, or the roots found are not distinct and
 * decreasing (a starting guess that fell back onto an earlier root). */
static inline int pmhmc_gauss_hermite(int K, double *t, double *log_w, double *W)
{
    if (K < 1 || K > PMHMC_GH_MAX_NODES)
        return -1;
    const double pi_m4 = 0.7511255444649425; /* pi^(-1/4) */
    const double sqrt2 = 1.4142135623730951;
    double z = 0.0, pp = 0.0;
    double x[PMHMC_GH_MAX_NODES];
    for (int i = 0; i < (K + 1) / 2; ++i) {
        /* Initial guesses for the largest roots (Numerical Recipes' gauher),
         * then each from the two before it. */
        if (i == 0)
            z = sqrt(2.0 * K + 1.0) - 1.85575 * pmhmc_exp(-0.16667 * pmhmc_log(2.0 * K + 1.0));
        else if (i == 1)
            z -= 1.14 * pmhmc_exp(0.426 * pmhmc_log((double)K)) / z;
        else if (i == 2)
            z = 1.86 * z - 0.86 * x[0];
        else if (i == 3)
            z = 1.91 * z - 0.91 * x[1];
        else
            z = 2.0 * z - x[i - 2];
        int converged = 0;
        for (int it = 0; it < 100 && !converged; ++it) {
            double p1 = pi_m4, p2 = 0.0;
            for (int j = 1; j <= K; ++j) {
                double p3 = p2;
                p2 = p1;
                p1 = z * sqrt(2.0 / j) * p2 - sqrt((j - 1.0) / j) * p3;
            }
            pp = sqrt(2.0 * K) * p2;
            double step = p1 / pp;
            z -= step;
            converged = fabs(step) <= 1e-14 * (1.0 + fabs(z));
        }
        if (!converged || (i > 0 && !(z < x[i - 1] - 1e-8)) || z < -1e-10)
            return -1;
        x[i] = z;
        /* Physicists' node z and weight 2 / pp^2 -> probabilists' sqrt(2) z and sqrt(2) 2 / pp^2. */
        double w = sqrt2 * 2.0 / (pp * pp), tt = sqrt2 * z;
        t[i] = tt;
        t[K - 1 - i] = -tt;
        log_w[i] = log_w[K - 1 - i] = pmhmc_log(w) + 0.5 * tt * tt;
        if (W)
            W[i] = W[K - 1 - i] = w;
    }
    return 0;
}

#endif
