/* Adam (Kingma and Ba 2015) with bias correction, on one flat parameter
 * vector such as an mlp's weights. */
#ifndef PMHMC_HNN_ADAM_H
#define PMHMC_HNN_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pmhmc_adam {
    size_t n;
    double beta1, beta2, eps;
    uint64_t t;       /* steps taken */
    double *m, *v;    /* [n] first and second moment estimates */
} pmhmc_adam;

/* Moments zero, t = 0. beta1, beta2 in [0, 1), eps > 0. */
pmhmc_status pmhmc_adam_create(size_t n, double beta1, double beta2, double eps, pmhmc_adam **out);
void pmhmc_adam_free(pmhmc_adam *adam);
/* Moments and t back to zero (a fresh run on the same parameters). */
void pmhmc_adam_reset(pmhmc_adam *adam);
/* One step: m <- b1 m + (1-b1) g, v <- b2 v + (1-b2) g^2, t <- t + 1,
 * w <- w - lr mhat / (sqrt(vhat) + eps), mhat = m / (1 - b1^t),
 * vhat = v / (1 - b2^t). */
void pmhmc_adam_step(pmhmc_adam *adam, double *w, const double *grad, double lr);

#ifdef __cplusplus
}
#endif
#endif
