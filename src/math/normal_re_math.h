/* Per-draw formulas of the normal_re estimator, shared by CPU and CUDA.
 * With X = mu + tau u and a group's sufficient statistics (n, sum y,
 * sum y^2): log w = -(syy - 2 X sy + n X^2) / 2 - n log sqrt(2 pi), and
 * d log w / dX = sy - n X. */
#ifndef PMHMC_MATH_NORMAL_RE_MATH_H
#define PMHMC_MATH_NORMAL_RE_MATH_H

#include "hd.h"

PMHMC_HD double pmhmc_normal_re_logw(double n, double sy, double syy, double x, double *dlogw_dx)
{
    *dlogw_dx = sy - n * x;
    return -0.5 * (syy - 2.0 * x * sy + n * x * x) - n * PMHMC_LOG_SQRT_2PI;
}

#endif
