/* Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy
 * as 1, 2, 3", SC11) and the normal transform every backend shares.
 *
 * Streams are counter based: a draw is a pure function of
 *   key     = the 64-bit seed,
 *   counter = (pair index, chain, step low, step high),
 * so which thread or block computes an element never changes its value. One
 * Philox block (four 32-bit words) gives two doubles in (0, 1] and [0, 1) and
 * one Box-Muller pair of standard normals: element e of a draw uses normal
 * e % 2 of pair e / 2.
 *
 * The normal transform uses only correctly rounded IEEE operations (+, -, *,
 * /, sqrt, fma, frexp, ldexp), each fma written out, so the CPU and the GPU
 * produce the same bits for the same key; libm's log and sincos would differ
 * in the last place between the two. */
#ifndef PMHMC_MATH_PHILOX_H
#define PMHMC_MATH_PHILOX_H

#include <stddef.h>

#include "hd.h"

typedef struct pmhmc_philox_words {
    uint32_t w[4];
} pmhmc_philox_words;

PMHMC_HD uint32_t pmhmc_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t prod = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(prod >> 32);
    return (uint32_t)prod;
}

/* The raw generator: 10 rounds of the Philox4x32 bijection. */
PMHMC_HD pmhmc_philox_words pmhmc_philox4x32_10(pmhmc_philox_words ctr, uint32_t k0, uint32_t k1)
{
    for (int round = 0; round < 10; ++round) {
        uint32_t hi0, hi1;
        uint32_t lo0 = pmhmc_mulhilo32(0xD2511F53u, ctr.w[0], &hi0);
        uint32_t lo1 = pmhmc_mulhilo32(0xCD9E8D57u, ctr.w[2], &hi1);
        pmhmc_philox_words next;
        next.w[0] = hi1 ^ ctr.w[1] ^ k0;
        next.w[1] = lo1;
        next.w[2] = hi0 ^ ctr.w[3] ^ k1;
        next.w[3] = lo0;
        ctr = next;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return ctr;
}

/* log(x) for finite x > 0 from correctly rounded operations only.
 * x = 2^e m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(f), f = (m-1)/(m+1),
 * |f| <= 0.172, series to f^23 (next term below 1e-19 relative).
 * Accuracy: within 0.55 ulp (tests/test_rng.cpp). The rounding error of f is
 * carried as f_lo, and e ln2 + 2f is summed exactly (fast two-sum) before the
 * small terms are added: without these two steps, the division's error
 * (~1.4 ulp of log m near m = sqrt 2) plus three roundings reached 2.0 ulp at
 * x just below sqrt(1/2). */
PMHMC_HD double pmhmc_log_rn(double x)
{
    int e;
    double m = frexp(x, &e); /* m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m = ldexp(m, 1);
        e -= 1;
    }
    double a = m - 1.0;          /* exact (Sterbenz) */
    double b = m + 1.0;          /* rounded */
    double b_lo = m - (b - 1.0); /* (m + 1) - b, exact */
    double f = a / b;
    /* a / (m + 1) - f: the residual a - f (b + b_lo), with each product in an
     * explicit fma so no compiler contraction (nvcc --fmad) can change it. */
    double f_lo = fma(-f, b_lo, fma(-f, b, a)) / b;
    double f2 = f * f;
    double s = 1.0 / 23.0;
    s = fma(s, f2, 1.0 / 21.0);
    s = fma(s, f2, 1.0 / 19.0);
    s = fma(s, f2, 1.0 / 17.0);
    s = fma(s, f2, 1.0 / 15.0);
    s = fma(s, f2, 1.0 / 13.0);
    s = fma(s, f2, 1.0 / 11.0);
    s = fma(s, f2, 1.0 / 9.0);
    s = fma(s, f2, 1.0 / 7.0);
    s = fma(s, f2, 1.0 / 5.0);
    s = fma(s, f2, 1.0 / 3.0);
    double tail = fma(f * f2, s, f_lo); /* 2 atanh(f) = 2f + 2 (f_lo + f^3 s) */
    /* ln 2 split so e * LN2_HI is exact for |e| < 2^11. */
    const double LN2_HI = 6.93147180369123816490e-01;
    const double LN2_LO = 1.90821492927058770002e-10;
    double de = (double)e;
    double big = de * LN2_HI;        /* exact */
    double two_f = 2.0 * f;          /* exact */
    double hi = big + two_f;         /* |big| > |2f| unless e = 0 (big = 0) */
    double err = two_f - (hi - big); /* fast two-sum: hi + err = big + 2f */
    return hi + fma(2.0, tail, fma(de, LN2_LO, err));
}

/* sin(2 pi t) and cos(2 pi t) for t in [0, 1), correctly rounded operations
 * only. t = q/4 + r with q = round(4t) and |r| <= 1/8 (r is exact by
 * Sterbenz's lemma); x = 2 pi r, |x| <= pi/4; Taylor series to x^19 and x^20
 * (the first omitted terms are below 1e-19 relative). */
PMHMC_HD void pmhmc_sincos_2pi_rn(double t, double *sin_out, double *cos_out)
{
    double q = floor(fma(t, 4.0, 0.5));
    double r = t - q * 0.25;
    const double TWO_PI_HI = 6.28318530717958623200e+00;
    const double TWO_PI_LO = 2.44929359829470635445e-16;
    double x = fma(r, TWO_PI_HI, r * TWO_PI_LO);
    double x2 = x * x;

    double sp = -1.0 / 121645100408832000.0; /* x^19 / 19! */
    sp = fma(sp, x2, 1.0 / 355687428096000.0);
    sp = fma(sp, x2, -1.0 / 1307674368000.0);
    sp = fma(sp, x2, 1.0 / 6227020800.0);
    sp = fma(sp, x2, -1.0 / 39916800.0);
    sp = fma(sp, x2, 1.0 / 362880.0);
    sp = fma(sp, x2, -1.0 / 5040.0);
    sp = fma(sp, x2, 1.0 / 120.0);
    sp = fma(sp, x2, -1.0 / 6.0);
    double s = fma(x * x2, sp, x);

    double cp = 1.0 / 2432902008176640000.0; /* x^20 / 20! */
    cp = fma(cp, x2, -1.0 / 6402373705728000.0);
    cp = fma(cp, x2, 1.0 / 20922789888000.0);
    cp = fma(cp, x2, -1.0 / 87178291200.0);
    cp = fma(cp, x2, 1.0 / 479001600.0);
    cp = fma(cp, x2, -1.0 / 3628800.0);
    cp = fma(cp, x2, 1.0 / 40320.0);
    cp = fma(cp, x2, -1.0 / 720.0);
    cp = fma(cp, x2, 1.0 / 24.0);
    cp = fma(cp, x2, -0.5);
    double c = fma(x2, cp, 1.0);

    switch ((int)q & 3) {
    case 0: *sin_out = s; *cos_out = c; break;
    case 1: *sin_out = c; *cos_out = -s; break;
    case 2: *sin_out = -s; *cos_out = -c; break;
    default: *sin_out = -c; *cos_out = s; break;
    }
}

/* The 53-bit integers in the two halves of a Philox block. */
PMHMC_HD uint64_t pmhmc_philox_bits53(uint32_t hi, uint32_t lo)
{
    return (((uint64_t)hi << 32) | (uint64_t)lo) >> 11;
}

PMHMC_HD pmhmc_philox_words pmhmc_stream_block(uint64_t seed, uint32_t chain, uint64_t step, uint32_t pair)
{
    pmhmc_philox_words ctr;
    ctr.w[0] = pair;
    ctr.w[1] = chain;
    ctr.w[2] = (uint32_t)step;
    ctr.w[3] = (uint32_t)(step >> 32);
    return pmhmc_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Box-Muller pair from one block: radius from u1 in (0, 1], angle from t in
 * [0, 1). Both are exact multiples of 2^-53. */
PMHMC_HD void pmhmc_normal_pair_from_words(pmhmc_philox_words w, double *n0, double *n1)
{
    const double TWO_M53 = 1.1102230246251565404e-16;
    double u1 = (double)(pmhmc_philox_bits53(w.w[0], w.w[1]) + 1u) * TWO_M53;
    double t = (double)pmhmc_philox_bits53(w.w[2], w.w[3]) * TWO_M53;
    double radius = sqrt(-2.0 * pmhmc_log_rn(u1));
    double s, c;
    pmhmc_sincos_2pi_rn(t, &s, &c);
    *n0 = radius * c;
    *n1 = radius * s;
}

/* Standard normals number 2*pair and 2*pair+1 of stream (seed, chain, step). */
PMHMC_HD void pmhmc_stream_normal_pair(uint64_t seed, uint32_t chain, uint64_t step, uint32_t pair,
                                       double *n0, double *n1)
{
    pmhmc_normal_pair_from_words(pmhmc_stream_block(seed, chain, step, pair), n0, n1);
}

/* The first n normals of stream (seed, chain, step) into out[0..n-1], for
 * host-side draws of theta-sized vectors (the backends fill long vectors in
 * parallel with pmhmc_stream_normal_pair directly). */
PMHMC_HD void pmhmc_stream_normals(uint64_t seed, uint32_t chain, uint64_t step, size_t n, double *out)
{
    for (size_t i = 0; i < n; i += 2) {
        double n0, n1;
        pmhmc_stream_normal_pair(seed, chain, step, (uint32_t)(i / 2), &n0, &n1);
        out[i] = n0;
        if (i + 1 < n)
            out[i + 1] = n1;
    }
}

/* A uniform in [0, 1) from pair `pair` of stream (seed, chain, step). */
PMHMC_HD double pmhmc_stream_uniform(uint64_t seed, uint32_t chain, uint64_t step, uint32_t pair)
{
    pmhmc_philox_words w = pmhmc_stream_block(seed, chain, step, pair);
    return (double)pmhmc_philox_bits53(w.w[0], w.w[1]) * 1.1102230246251565404e-16;
}

#endif
