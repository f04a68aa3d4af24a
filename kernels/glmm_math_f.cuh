/* Per-element GLMM formulas for the estimator kernel, as a policy per
 * storage type.
 *
 *   GlmmMath<double>  calls the shared formulas of src/math/glmm_math.h
 *                     (pmhmc_mixture_logpdf, pmhmc_bernoulli_logit,
 *                     pmhmc_proposal_logpdf, pmhmc_mixture_grad_accumulate),
 *                     so the double path computes what the CPU computes, in
 *                     the same order.
 *   GlmmMath<float>   float twins written for the special-function units:
 *                     __expf (ex2.approx), __fdividef (rcp.approx) and one
 *                     __logf (lg2.approx) per draw instead of one log1p per
 *                     term. For a term, softplus(eta) = max(eta, 0) +
 *                     log(1 + e), e = exp(-|eta|); the log(1 + e_j) of a draw's
 *                     rows and the mixture's log(1 + e_mix) are folded into
 *                     one logarithm of the running product
 *                         carry = prod_j (1 + e_j) / (1 + e_mix),
 *                     which stays in [1/2, 2^R] for R rows (no overflow), and
 *                     finish() subtracts log(carry). A term then costs one
 *                     exp and one reciprocal: two MUFU operations.
 *
 * Interface (T = float or double)
 *   prior(m, u, x, log_s, &r1, &dlogf, &carry) -> log f(x) - log q(x) (float:
 *       without the log(1 + e_mix) part, which goes into carry)
 *   term(y, eta, &g, &carry)  -> y eta - softplus(eta) (float: without
 *       log(1 + e)); g = y - sigmoid(eta)
 *   finish(lw, carry)         -> lw with the folded logarithms applied
 *   mixture_grad(m, x, r1, w, acc[5]) adds w-weighted mixture gradients
 *   rotate(u, p, c, s)        (u, p) <- (u c + p s, p c - u s), uncontracted
 *                             (rotation_rn.cuh): the CPU's bits in double */
#ifndef PMHMC_KERNELS_GLMM_MATH_F_CUH
#define PMHMC_KERNELS_GLMM_MATH_F_CUH

#include "math/glmm_math.h"
#include "rotation_rn.cuh"

namespace pmhmc_cuda {

template <typename T>
struct GlmmMath;

template <>
struct GlmmMath<double> {
    typedef pmhmc_mixture Mix;

    __device__ static Mix mixture(const pmhmc_mixture &m) { return m; }

    __device__ static double prior(const Mix &m, double u, double x, double log_s, double *r1,
                                   double *dlogf, double *carry)
    {
        *carry = 1.0;
        const pmhmc_mixture_eval f = pmhmc_mixture_logpdf(&m, x);
        *r1 = f.r1;
        *dlogf = f.dlogf_dx;
        return f.logf - pmhmc_proposal_logpdf(u, log_s);
    }

    __device__ static double term(double y, double eta, double *g, double *carry)
    {
        (void)carry;
        const pmhmc_bernoulli_eval b = pmhmc_bernoulli_logit(y, eta);
        *g = b.g;
        return b.term;
    }

    __device__ static double finish(double lw, double carry)
    {
        (void)carry;
        return lw;
    }

    __device__ static double exp_(double x) { return exp(x); }

    __device__ static void mixture_grad(const Mix &m, double x, double r1, double w, double *acc)
    {
        pmhmc_mixture_grad_accumulate(&m, x, r1, w, acc);
    }

    __device__ static void rotate(double *u, double *p, double c, double s) { rotate_rn(u, p, c, s); }
};

struct MixtureF {
    float mu0, mu1, lam0, lam1, log_norm0, log_norm1, w1;
};

template <>
struct GlmmMath<float> {
    typedef MixtureF Mix;

    __device__ static Mix mixture(const pmhmc_mixture &m)
    {
        Mix f;
        f.mu0 = (float)m.mu[0];
        f.mu1 = (float)m.mu[1];
        f.lam0 = (float)m.lambda[0];
        f.lam1 = (float)m.lambda[1];
        f.log_norm0 = (float)m.log_norm[0];
        f.log_norm1 = (float)m.log_norm[1];
        f.w1 = (float)m.w1;
        return f;
    }

    /* log f(x) - log q(x) - log(1 + e_mix); carry = 1 / (1 + e_mix). The
     * selects (not fmaxf/fminf) keep a NaN component NaN, as on the CPU. */
    __device__ static float prior(const Mix &m, float u, float x, float log_s, float *r1, float *dlogf,
                                  float *carry)
    {
        const float d0 = x - m.mu0, d1 = x - m.mu1;
        const float l0 = m.log_norm0 - 0.5f * m.lam0 * d0 * d0;
        const float l1 = m.log_norm1 - 0.5f * m.lam1 * d1 * d1;
        const bool first = l0 >= l1;
        const float hi = first ? l0 : l1, lo = first ? l1 : l0;
        const float e = __expf(lo - hi);
        const float inv = __fdividef(1.0f, 1.0f + e);
        const float r = first ? inv : e * inv;
        *r1 = r;
        *dlogf = -(r * m.lam0 * d0 + (1.0f - r) * m.lam1 * d1);
        *carry = inv;
        return hi + 0.5f * u * u + (log_s + (float)PMHMC_LOG_SQRT_2PI);
    }

    __device__ static float term(float y, float eta, float *g, float *carry)
    {
        const float e = __expf(-fabsf(eta));
        const float ope = 1.0f + e;
        const float inv = __fdividef(1.0f, ope);
        const float sig = eta >= 0.0f ? inv : e * inv;
        *g = y - sig;
        *carry *= ope;
        return fmaf(y, eta, -fmaxf(eta, 0.0f));
    }

    __device__ static float finish(float lw, float carry) { return lw - __logf(carry); }

    __device__ static float exp_(float x) { return __expf(x); }

    __device__ static void mixture_grad(const Mix &m, float x, float r1, float w, float *acc)
    {
        const float d0 = x - m.mu0, d1 = x - m.mu1;
        const float wr0 = w * r1, wr1 = w * (1.0f - r1);
        acc[0] += wr0 * m.lam0 * d0;
        acc[1] += wr1 * m.lam1 * d1;
        acc[2] += wr0 * (0.5f - 0.5f * m.lam0 * d0 * d0);
        acc[3] += wr1 * (0.5f - 0.5f * m.lam1 * d1 * d1);
        acc[4] += w * (r1 - m.w1);
    }

    __device__ static void rotate(float *u, float *p, float c, float s) { rotate_rn(u, p, c, s); }
};

} // namespace pmhmc_cuda

#endif
