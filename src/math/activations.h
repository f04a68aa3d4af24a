/* The hidden-layer activations of the HNN surrogates (DESIGN §5) with their
 * first and second derivatives. Training differentiates a loss on the
 * network's input-gradient, and that input-gradient already holds f', so the
 * weight gradient needs f'' too (src/hnn/mlp_grad.c). Shared with the CUDA
 * kernels through PMHMC_HD so both backends run the same formulas, on the
 * CPU with portable_math.h's functions (the same bits on every CPU). */
#ifndef PMHMC_MATH_ACTIVATIONS_H
#define PMHMC_MATH_ACTIVATIONS_H

#include <string.h>

#include "math/hd.h"
#include "math/portable_math.h"

/* Values are stored in weights files (src/hnn): do not renumber. */
typedef enum pmhmc_activation {
    PMHMC_ACT_TANH = 0,
    PMHMC_ACT_SIN = 1,
    PMHMC_ACT_SOFTPLUS = 2,
    PMHMC_ACT_COUNT
} pmhmc_activation;

/* f(x), f'(x) and f''(x) in one call: each activation's three share their
 * expensive part (tanh, sincos, one exp). */
PMHMC_HD void pmhmc_act_eval(int act, double x, double *f, double *d1, double *d2)
{
    switch (act) {
    case PMHMC_ACT_SIN: {
        double s, c;
        pmhmc_sincos(x, &s, &c);
        *f = s;
        *d1 = c;
        *d2 = -s;
        break;
    }
    case PMHMC_ACT_SOFTPLUS: {
        /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|) never overflows; the
         * logistic from the same e^-|x| keeps full relative precision in both
         * tails, which f'' = s (1 - s) needs for large |x|. */
        double e = pmhmc_exp(-fabs(x));
        double s = x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        double one_minus_s = x >= 0.0 ? e / (1.0 + e) : 1.0 / (1.0 + e);
        *f = fmax(x, 0.0) + pmhmc_log1p(e);
        *d1 = s;
        *d2 = s * one_minus_s;
        break;
    }
    default: { /* PMHMC_ACT_TANH */
        double t = pmhmc_tanh(x);
        double u = 1.0 - t * t;
        *f = t;
        *d1 = u;
        *d2 = -2.0 * t * u;
        break;
    }
    }
}

/* f(x) alone, for forward passes that need no derivative. */
PMHMC_HD double pmhmc_act_value(int act, double x)
{
    switch (act) {
    case PMHMC_ACT_SIN: {
        double s, c;
        pmhmc_sincos(x, &s, &c);
        return s;
    }
    case PMHMC_ACT_SOFTPLUS: return fmax(x, 0.0) + pmhmc_log1p(pmhmc_exp(-fabs(x)));
    default: return pmhmc_tanh(x);
    }
}

/* The names weights files and configurations spell (src/hnn/mlp_io.c);
 * host only, as no kernel needs them. NULL for a value that is not an
 * activation. */
static inline const char *pmhmc_act_name(int act)
{
    switch (act) {
    case PMHMC_ACT_TANH: return "tanh";
    case PMHMC_ACT_SIN: return "sin";
    case PMHMC_ACT_SOFTPLUS: return "softplus";
    default: return NULL;
    }
}

/* The activation a name spells (exact, case-sensitive), or -1. */
static inline int pmhmc_act_from_name(const char *name)
{
    for (int a = 0; name && a < PMHMC_ACT_COUNT; ++a)
        if (strcmp(name, pmhmc_act_name(a)) == 0)
            return a;
    return -1;
}

#endif
