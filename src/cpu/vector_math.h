/* Lets GCC vectorize exp, log and log1p in the CPU estimator's term loops by
 * declaring glibc's SIMD variants (libmvec, linked with -lmvec). glibc only
 * declares them under -ffast-math, which would also license reassociation
 * and drop NaN checks; this header gives the vector calls alone. libmvec's
 * results are within 4 ulp of libm's and the same on every call, so
 * results stay bit-reproducible run to run and across thread counts. */
#ifndef PMHMC_CPU_VECTOR_MATH_H
#define PMHMC_CPU_VECTOR_MATH_H

#include <math.h>

#if defined(PMHMC_HAVE_LIBMVEC) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__FAST_MATH__)
__attribute__((simd("notinbranch"))) double exp(double);
__attribute__((simd("notinbranch"))) double log(double);
__attribute__((simd("notinbranch"))) double log1p(double);
#endif

#endif
