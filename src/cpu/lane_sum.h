/* Sums and dot products in one fixed order, whatever the vector width the
 * compiler chose: eight running sums, lane l taking elements l, 8 + l,
 * 16 + l, ..., the tail into lane 0, then the fixed tree
 * ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)). The lanes are a GCC/Clang vector
 * type, whose arithmetic is lane by lane by definition: an AVX2 build does it
 * as two 4-wide halves, an AVX-512 build as one 8-wide vector, SSE as four
 * pairs, with the same bits. (An `omp simd reduction` would instead let each
 * build regroup the sum by its own width; left to itself on eight scalar
 * sums the compiler vectorizes across iterations, with a shuffle per
 * element.) */
#ifndef PMHMC_CPU_LANE_SUM_H
#define PMHMC_CPU_LANE_SUM_H

#include <stddef.h>
#include <string.h>

typedef double pmhmc_lanes8 __attribute__((vector_size(8 * sizeof(double))));

static inline double pmhmc_lanes8_total(pmhmc_lanes8 acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* sum_i x_i over [0, n). */
static inline double pmhmc_lane_sum(const double *x, size_t n)
{
    pmhmc_lanes8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        pmhmc_lanes8 xv;
        memcpy(&xv, x + i, sizeof xv);
        acc += xv;
    }
    for (; i < n; ++i)
        acc[0] += x[i];
    return pmhmc_lanes8_total(acc);
}

/* sum_i x_i y_i over [0, n). */
static inline double pmhmc_lane_dot(const double *x, const double *y, size_t n)
{
    pmhmc_lanes8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        pmhmc_lanes8 xv, yv;
        memcpy(&xv, x + i, sizeof xv);
        memcpy(&yv, y + i, sizeof yv);
        acc += xv * yv;
    }
    for (; i < n; ++i)
        acc[0] += x[i] * y[i];
    return pmhmc_lanes8_total(acc);
}

#endif
