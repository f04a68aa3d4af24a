/* The transcendental functions of the CPU backend and of the samplers' host
 * code, written in IEEE-754 double arithmetic alone (+ - * / and bit moves,
 * no fma, no tables), so that every x86-64 CPU (and any IEEE machine)
 * computes the same bits for the same argument, whatever vector width the
 * compiler picks and whatever instruction set the CPU has. glibc's vector
 * library (libmvec) and its scalar exp, log, pow, sin, cos, expm1 (and so
 * tanh) choose a code path per CPU (AVX-512, AVX2 + FMA, SSE2), and those
 * paths differ in the last bit: the draws of a seeded chain would then differ
 * from one machine to the next. The build keeps these exact by compiling
 * without contraction (-ffp-contract=off) and without -ffast-math.
 *
 * Branch-free (selections are conditional expressions), so a loop over
 * arrays that calls them vectorizes. Accuracy against long double
 * (tests/test_portable_math.cpp): exp, log, log1p, sin and cos under 1 ulp,
 * expm1 under 1.5, tanh under 3 (glibc's: 2), with the IEEE results for NaN,
 * infinities, signed zeros, underflow and overflow. sin and cos are that accurate for
 * |x| < 2^20 pi/2; beyond, the reduction loses bits (deterministically),
 * and from 2^50 on, where no phase is left, they are NaN.
 *
 *   exp:    x = k ln2 + r, |r| <= ln2/2 (Cody-Waite, ln2 in two parts so
 *           k ln2_hi is exact), expm1(r) = r + r^2 P(r) with P the Taylor
 *           series to r^11 / 13! (truncation < 2^-57 relative), then
 *           exp = (1 + expm1(r)) 2^k as two exact power-of-two factors, so a
 *           subnormal result rounds once.
 *   expm1:  (2^k - 1) + 2^k r + 2^k (expm1(r) - r), r carried in two parts
 *           and the first sum exact (two-sum).
 *   log:    x = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f),
 *           log m = f - f^2/2 + s (f^2/2 + R(s^2)) with fdlibm's minimax R
 *           (Lg1..Lg7, error < 2^-58.45), then + k ln2 in two parts.
 *   log1p:  the same on u = 1 + x, plus the rounding error of that sum,
 *           c / u with c = (1 + x) - u computed exactly.
 *   tanh:   fdlibm's: 1 - 2 / (expm1(2|x|) + 2) for |x| >= 1,
 *           -expm1(-2|x|) / (expm1(-2|x|) + 2) below, with x's sign.
 *   sincos: x = n pi/2 + y, y in double-double by fdlibm's three-part
 *           Cody-Waite reduction (118 bits), then fdlibm's sin and cos
 *           kernels on [-pi/4, pi/4] and the quadrant n mod 4.
 *
 * On the GPU (__CUDA_ARCH__) the functions are CUDA's own: the CUDA backend
 * is checked against the CPU with a tolerance, not bit for bit. */
#ifndef PMHMC_MATH_PORTABLE_MATH_H
#define PMHMC_MATH_PORTABLE_MATH_H

#include <stdint.h>
#include <string.h>

#include "math/hd.h"

#ifndef __CUDA_ARCH__
static inline uint64_t pmhmc_bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double pmhmc_double_of(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define PMHMC_LN2_HI 0x1.62e42fee00000p-1 /* 32 significant bits: k ln2_hi is exact */
#define PMHMC_LN2_LO 0x1.a39ef35793c76p-33
#define PMHMC_ROUND_SHIFT 0x1.8p52 /* adding it rounds a |v| < 2^51 to an integer */
#endif

#ifndef __CUDA_ARCH__
/* expm1(r) - r for |r| <= ln2/2 (a little more after rounding k). */
static inline double pmhmc_expm1_reduced_tail(double r)
{
    double q = 1.0 / 6227020800.0; /* 1/13! */
    q = 1.0 / 479001600.0 + r * q;
    q = 1.0 / 39916800.0 + r * q;
    q = 1.0 / 3628800.0 + r * q;
    q = 1.0 / 362880.0 + r * q;
    q = 1.0 / 40320.0 + r * q;
    q = 1.0 / 5040.0 + r * q;
    q = 1.0 / 720.0 + r * q;
    q = 1.0 / 120.0 + r * q;
    q = 1.0 / 24.0 + r * q;
    q = 1.0 / 6.0 + r * q;
    q = 0.5 + r * q;
    return (r * r) * q;
}
#endif

PMHMC_HD double pmhmc_exp(double x)
{
#ifdef __CUDA_ARCH__
    return exp(x);
#else
    /* Beyond these every result is 0 or +inf; NaN passes both tests. */
    x = x < -746.0 ? -746.0 : x;
    x = x > 710.0 ? 710.0 : x;
    const double kd_shifted = x * 0x1.71547652b82fep+0 + PMHMC_ROUND_SHIFT; /* x / ln2 */
    const double kd = kd_shifted - PMHMC_ROUND_SHIFT;
    const double r = (x - kd * PMHMC_LN2_HI) - kd * PMHMC_LN2_LO;
    const double poly = 1.0 + (r + pmhmc_expm1_reduced_tail(r));
    /* k + 2046 in [970, 3070] (unsigned arithmetic, so it vectorizes without
     * 64-bit arithmetic shifts): 2^k = 2^k1 2^k2 with k1 = floor(k/2) and
     * k2 = k - k1, both normal, the biased exponents k1 + 1023 and k2 + 1023. */
    const uint64_t k_plus = pmhmc_bits_of(kd_shifted) - pmhmc_bits_of(PMHMC_ROUND_SHIFT) + 2046u;
    const uint64_t e1 = k_plus >> 1;
    const uint64_t e2 = k_plus - e1;
    return (poly * pmhmc_double_of(e1 << 52)) * pmhmc_double_of(e2 << 52);
#endif
}

PMHMC_HD double pmhmc_expm1(double x)
{
#ifdef __CUDA_ARCH__
    return expm1(x);
#else
    /* Below -40 the result rounds to -1; above k = 1000 the -1 is far below
     * exp's last bit, and 2^k alone would overflow before exp does. */
    const double xc = x < -40.0 ? -40.0 : (x > 710.0 ? 710.0 : x);
    const double kd_shifted = xc * 0x1.71547652b82fep+0 + PMHMC_ROUND_SHIFT;
    const double kd = kd_shifted - PMHMC_ROUND_SHIFT;
    /* r + r_lo = x - k ln2 to ~2^-100: the result's leading terms
     * 2^k - 1 + 2^k r are summed exactly (two-sum), so only the small rest
     * rounds before the final sum. */
    const double r_hi = xc - kd * PMHMC_LN2_HI;
    const double lo = kd * PMHMC_LN2_LO;
    const double r = r_hi - lo;
    const double r_lo = (r_hi - r) - lo;
    const uint64_t biased_k = pmhmc_bits_of(kd_shifted) - pmhmc_bits_of(PMHMC_ROUND_SHIFT) + 1023u;
    const double two_k = pmhmc_double_of((kd > 1000.0 ? 1023u : biased_k) << 52);
    const double a = two_k - 1.0, b = two_k * r; /* both exact */
    const double sum = a + b;
    const double bb = sum - a;
    const double sum_err = (a - (sum - bb)) + (b - bb);
    const double rest = two_k * (pmhmc_expm1_reduced_tail(r) + r_lo * (1.0 + r));
    double res = sum + (sum_err + rest);
    res = kd > 1000.0 ? pmhmc_exp(x) : res;
    return x == 0.0 ? x : res; /* keeps the sign of -0 */
#endif
}

#ifndef __CUDA_ARCH__
/* log(2^(k - k_less) m) + c / u for u = 2^k m, m in [sqrt(1/2), sqrt(2)):
 * the shared body of pmhmc_log (c = 0) and pmhmc_log1p. u normal, > 0. */
static inline double pmhmc_log_body(double u, double c_over_u, double k_less)
{
    /* Adding 1 - sqrt(1/2)'s high word to the bits moves the exponent up at
     * m = sqrt(1/2) instead of 1; the mantissa, rebased on that word, is m. */
    const uint64_t iu = pmhmc_bits_of(u) + (0x3ff0000000000000u - 0x3fe6a09e00000000u);
    const uint64_t biased_k = iu >> 52; /* k + 1023, u > 0 */
    const double m = pmhmc_double_of((iu & 0x000fffffffffffffu) + 0x3fe6a09e00000000u);
    /* (double) of a small unsigned integer without a 64-bit conversion
     * instruction (AVX2 has none): its bits under 2^52's exponent. */
    const double dk = (pmhmc_double_of(0x4330000000000000u | biased_k) - 0x1p52) - (1023.0 + k_less);
    const double f = m - 1.0;
    const double hfsq = 0.5 * f * f;
    const double s = f / (2.0 + f);
    const double z = s * s;
    const double w = z * z;
    const double t1 = w * (0x1.999999997fa04p-2 + w * (0x1.c71c51d8e78afp-3 + w * 0x1.39a09d078c69fp-3));
    const double t2 =
        z * (0x1.5555555555593p-1 + w * (0x1.2492494229359p-2 + w * (0x1.7466496cb03dep-3 + w * 0x1.2f112df3e5244p-3)));
    const double R = t2 + t1;
    return s * (hfsq + R) + (dk * PMHMC_LN2_LO + c_over_u) - hfsq + f + dk * PMHMC_LN2_HI;
}
#endif

PMHMC_HD double pmhmc_log(double x)
{
#ifdef __CUDA_ARCH__
    return log(x);
#else
    /* Subnormals are scaled into the normal range first. */
    const int sub = x < 0x1p-1022;
    const double xs = sub ? x * 0x1p54 : x;
    double r = pmhmc_log_body(xs, 0.0, sub ? 54.0 : 0.0);
    r = x == 0.0 ? -HUGE_VAL : r;
    r = x < 0.0 ? NAN : r;
    r = x == HUGE_VAL ? HUGE_VAL : r;
    return x != x ? x : r;
#endif
}

/* log1p(x) given u = 1 + x (as rounded) and inv_u = 1 / u, for a caller
 * that needs 1 / (1 + x) anyway (the logistic): it saves a division. */
PMHMC_HD double pmhmc_log1p_given_recip(double x, double u, double inv_u)
{
#ifdef __CUDA_ARCH__
    (void)u;
    (void)inv_u;
    return log1p(x);
#else
    /* (1 + x) - u exactly: by Sterbenz u - x is exact for x >= 1, u - 1 for
     * x < 1. It is below half an ulp of u, and log(1 + x) = log u + c/u to
     * first order. */
    const double c = x >= 1.0 ? 1.0 - (u - x) : x - (u - 1.0);
    const int normal = u > 0.0; /* keeps the body's bit moves on a normal number */
    double r = pmhmc_log_body(normal ? u : 1.0, normal ? c * inv_u : 0.0, 0.0);
    r = x == 0.0 ? x : r; /* keeps the sign of -0 */
    r = x == -1.0 ? -HUGE_VAL : r;
    r = x < -1.0 ? NAN : r;
    r = x == HUGE_VAL ? HUGE_VAL : r;
    return x != x ? x : r;
#endif
}

PMHMC_HD double pmhmc_log1p(double x)
{
#ifdef __CUDA_ARCH__
    return log1p(x);
#else
    const double u = 1.0 + x;
    return pmhmc_log1p_given_recip(x, u, 1.0 / u);
#endif
}

PMHMC_HD double pmhmc_tanh(double x)
{
#ifdef __CUDA_ARCH__
    return tanh(x);
#else
    /* fdlibm's split: 1 - 2 / (expm1(2|x|) + 2) for |x| >= 1, where the
     * result is near 1, and -expm1(-2|x|) / (expm1(-2|x|) + 2) below, where
     * the subtraction would cancel. */
    const double a = fabs(x);
    const int large = a >= 1.0;
    const double t = pmhmc_expm1(large ? 2.0 * a : -2.0 * a);
    const double r = large ? 1.0 - 2.0 / (t + 2.0) : -t / (t + 2.0);
    return x == 0.0 ? x : (x < 0.0 ? -r : r); /* NaN gives NaN through t */
#endif
}

#ifndef __CUDA_ARCH__
/* fdlibm's kernels: sin(y0 + y1) and cos(y0 + y1) for |y0 + y1| <= pi/4,
 * y1 the tail of the double-double argument. */
static inline double pmhmc_sin_kernel(double x, double y)
{
    const double z = x * x, v = z * x;
    const double r = 0x1.111111110f8a6p-7 +
                     z * (-0x1.a01a019c161d5p-13 +
                          z * (0x1.71de357b1fe7dp-19 + z * (-0x1.ae5e68a2b9cebp-26 + z * 0x1.5d93a5acfd57cp-33)));
    return x - ((z * (0.5 * y - v * r) - y) - v * -0x1.5555555555549p-3);
}

static inline double pmhmc_cos_kernel(double x, double y)
{
    const double z = x * x, w = z * z;
    const double r = z * (0x1.555555555554cp-5 + z * (-0x1.6c16c16c15177p-10 + z * 0x1.a01a019cb1590p-16)) +
                     w * w * (-0x1.27e4f809c52adp-22 + z * (0x1.1ee9ebdb4b1c4p-29 + z * -0x1.8fae9be8838d4p-37));
    const double hz = 0.5 * z, one_minus_hz = 1.0 - hz;
    return one_minus_hz + (((1.0 - one_minus_hz) - hz) + (z * r - x * y));
}
#endif

/* sin(x) and cos(x) together. */
PMHMC_HD void pmhmc_sincos(double x, double *s, double *c)
{
#ifdef __CUDA_ARCH__
    sincos(x, s, c);
#else
    /* n = round(x 2/pi); y = x - n (P1 + P2 + P3 + P3t) with pi/2 in three
     * 33-bit parts and a tail, each n Pi exact for |n| < 2^20: x - n P1 is
     * exact, the next two subtractions keep their rounding errors (two-sum),
     * and y comes out as the double-double y0 + y1. */
    const double fn_shifted = x * 0x1.45f306dc9c883p-1 + PMHMC_ROUND_SHIFT;
    const double fn = fn_shifted - PMHMC_ROUND_SHIFT;
    const double t1 = x - fn * 0x1.921fb54400000p+0;
    const double w2 = fn * 0x1.0b4611a600000p-34;
    const double t2 = t1 - w2;
    const double b2 = t2 - t1;
    const double e2 = (t1 - (t2 - b2)) + (-w2 - b2); /* t1 - w2 = t2 + e2 */
    const double w3 = fn * 0x1.3198a2e000000p-69;
    const double t3 = t2 - w3;
    const double b3 = t3 - t2;
    const double e3 = (t2 - (t3 - b3)) + (-w3 - b3); /* t2 - w3 = t3 + e3 */
    const double tail = fn * 0x1.b839a252049c1p-104 - (e3 + e2);
    const double y0 = t3 - tail;
    const double y1 = (t3 - y0) - tail;
    const double ks = pmhmc_sin_kernel(y0, y1), kc = pmhmc_cos_kernel(y0, y1);
    const uint64_t quadrant = (pmhmc_bits_of(fn_shifted) - pmhmc_bits_of(PMHMC_ROUND_SHIFT)) & 3u;
    double sv = quadrant == 0 ? ks : (quadrant == 1 ? kc : (quadrant == 2 ? -ks : -kc));
    double cv = quadrant == 0 ? kc : (quadrant == 1 ? -ks : (quadrant == 2 ? -kc : ks));
    /* From 2^50 on a double's spacing is a sizeable part of a period and
     * n no longer fits the rounding shift: no phase is left to compute. */
    const int lost = !(fabs(x) < 0x1p50);
    *s = lost ? NAN : (x == 0.0 ? x : sv); /* keeps the sign of -0 */
    *c = lost ? NAN : cv;
#endif
}

#endif
