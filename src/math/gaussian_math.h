/* Per-element formulas of the gaussian model's estimator (src/models/
 * gaussian.c), shared by the CPU reference and the CUDA kernel.
 *
 * log phat = [log N(theta; mu, Sigma) - log N(theta; 0, v I)]
 *          + sum_j (a u_j - a^2 / 2),
 * with P = Sigma^-1 and v the prior variance. The theta part is summed over
 * components i of pmhmc_gaussian_theta_term plus the constant
 * -log det L + (dim / 2) log v (the two normalizing 2 pi terms cancel). */
#ifndef PMHMC_MATH_GAUSSIAN_MATH_H
#define PMHMC_MATH_GAUSSIAN_MATH_H

#include "hd.h"

/* One auxiliary draw: its log-weight term; d/du of it is a. */
PMHMC_HD double pmhmc_gaussian_aux_term(double a, double u) { return a * u - 0.5 * a * a; }

/* Component i of the theta part: with q_i = (P (theta - mu))_i,
 *   returns   -(theta_i - mu_i) q_i / 2 + theta_i^2 / (2 v)
 *   *grad_i = -q_i + theta_i / v
 * (theta_i / v is the prior's -theta_i / v with the sign flipped, so the two
 * cancel to rounding in the extended target's gradient). */
PMHMC_HD double pmhmc_gaussian_theta_term(int dim, const double *prec, const double *mean, const double *theta,
                                          double prior_var, int i, double *grad_i)
{
    double q = 0.0;
    for (int k = 0; k < dim; ++k)
        q += prec[(size_t)i * dim + k] * (theta[k] - mean[k]);
    const double t = theta[i] / prior_var;
    *grad_i = t - q;
    return 0.5 * (theta[i] * t - (theta[i] - mean[i]) * q);
}

#endif
