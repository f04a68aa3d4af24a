/* Per-element formulas of the logistic GLMM estimator (DESIGN §2), shared by
 * the CPU backend and the CUDA kernels (double). The CUDA float path has its
 * own twins in kernels/glmm_math_f.cuh, written the same way.
 *
 * Notation: eta = X + z'beta; a Bernoulli term is
 *   y log sigmoid(eta) + (1 - y) log sigmoid(-eta) = y eta - softplus(eta),
 * and its eta-derivative is g = y - sigmoid(eta). Both come from one
 * e = exp(-|eta|), so a term costs one exp, one log1p and one division.
 * exp, log and log1p are portable_math.h's: the same bits on every CPU.
 * Selections are written as conditional expressions rather than fmax: they
 * if-convert to vector blends, where an fmax call would stop the CPU loops
 * from vectorizing. */
#ifndef PMHMC_MATH_GLMM_MATH_H
#define PMHMC_MATH_GLMM_MATH_H

#include "hd.h"
#include "portable_math.h"


/* A Bernoulli term y eta - softplus(eta) and its eta-derivative g. Returned
 * by value (no out-pointers) so the CPU loops over draws vectorize. */
typedef struct pmhmc_bernoulli_eval {
    double term;
    double g;
} pmhmc_bernoulli_eval;

PMHMC_HD pmhmc_bernoulli_eval pmhmc_bernoulli_logit(double y, double eta)
{
    double e = pmhmc_exp(-fabs(eta));
    double one_plus_e = 1.0 + e;
    double inv = 1.0 / one_plus_e;
    double sig = eta >= 0.0 ? inv : e * inv; /* sigmoid(eta) */
    pmhmc_bernoulli_eval r;
    r.term = y * eta - ((eta > 0.0 ? eta : 0.0) + pmhmc_log1p_given_recip(e, one_plus_e, inv));
    r.g = y - sig;
    return r;
}

/* Mixture prior of the random effect, in the form the estimator uses.
 * theta tail: mu1, mu2, log_lambda1, log_lambda2, logit_w1. */
typedef struct pmhmc_mixture {
    double mu[2];
    double lambda[2];
    double log_norm[2]; /* log w_c + log sqrt(lambda_c / 2 pi) */
    double w1;
} pmhmc_mixture;

PMHMC_HD pmhmc_mixture pmhmc_mixture_from_theta(const double *tail)
{
    pmhmc_mixture m;
    m.mu[0] = tail[0];
    m.mu[1] = tail[1];
    m.lambda[0] = pmhmc_exp(tail[2]);
    m.lambda[1] = pmhmc_exp(tail[3]);
    /* log w1 = -softplus(-a), log(1 - w1) = -softplus(a) */
    double a = tail[4];
    double log_w1 = -((a < 0.0 ? -a : 0.0) + pmhmc_log1p(pmhmc_exp(-fabs(a))));
    double log_w2 = -((a > 0.0 ? a : 0.0) + pmhmc_log1p(pmhmc_exp(-fabs(a))));
    m.w1 = pmhmc_exp(log_w1);
    m.log_norm[0] = log_w1 + 0.5 * tail[2] - PMHMC_LOG_SQRT_2PI;
    m.log_norm[1] = log_w2 + 0.5 * tail[3] - PMHMC_LOG_SQRT_2PI;
    return m;
}

/* log f(X) of the mixture, the responsibility r1 of component 1 and
 * d log f / dX. */
typedef struct pmhmc_mixture_eval {
    double logf;
    double r1;
    double dlogf_dx;
} pmhmc_mixture_eval;

PMHMC_HD pmhmc_mixture_eval pmhmc_mixture_logpdf(const pmhmc_mixture *m, double x)
{
    double d0 = x - m->mu[0];
    double d1 = x - m->mu[1];
    double l0 = m->log_norm[0] - 0.5 * m->lambda[0] * d0 * d0;
    double l1 = m->log_norm[1] - 0.5 * m->lambda[1] * d1 * d1;
    double hi = l0 > l1 ? l0 : l1;
    double e0 = pmhmc_exp(l0 - hi);
    double e1 = pmhmc_exp(l1 - hi);
    double s = e0 + e1;
    pmhmc_mixture_eval r;
    r.r1 = e0 / s;
    r.dlogf_dx = -(r.r1 * m->lambda[0] * d0 + (1.0 - r.r1) * m->lambda[1] * d1);
    r.logf = hi + pmhmc_log(s);
    return r;
}

/* The theta-gradient contributions of one importance draw with normalized
 * weight W, added into acc[0..4] (mu1, mu2, log_lambda1, log_lambda2,
 * logit_w1). */
PMHMC_HD void pmhmc_mixture_grad_accumulate(const pmhmc_mixture *m, double x, double r1, double W,
                                            double *acc)
{
    double r[2] = {r1, 1.0 - r1};
    for (int c = 0; c < 2; ++c) {
        double dc = x - m->mu[c];
        double wr = W * r[c];
        acc[c] += wr * m->lambda[c] * dc;
        acc[2 + c] += wr * (0.5 - 0.5 * m->lambda[c] * dc * dc);
    }
    acc[4] += W * (r1 - m->w1);
}

/* log q(X) of the proposal N(0, s^2) at X = s u, as a function of u. */
PMHMC_HD double pmhmc_proposal_logpdf(double u, double log_s)
{
    return -0.5 * u * u - log_s - PMHMC_LOG_SQRT_2PI;
}

#endif
