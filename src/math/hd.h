/* PMHMC_HD marks per-element math shared by the CPU backend and the CUDA
 * kernels: `__host__ __device__` under nvcc, nothing under the C compiler.
 * Headers in src/math/ hold only such static inline functions, so the formula
 * a kernel runs is the formula the CPU tests check. */
#ifndef PMHMC_MATH_HD_H
#define PMHMC_MATH_HD_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define PMHMC_HD static inline __host__ __device__
#else
#define PMHMC_HD static inline
#endif

/* log(sqrt(2 pi)) */
#define PMHMC_LOG_SQRT_2PI 0.91893853320467274178

#endif
