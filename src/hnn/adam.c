/* Adam step; see adam.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnn/adam.h"

pmhmc_status pmhmc_adam_create(size_t n, double beta1, double beta2, double eps, pmhmc_adam **out)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (n == 0 || !(beta1 >= 0.0 && beta1 < 1.0) || !(beta2 >= 0.0 && beta2 < 1.0) || !(eps > 0.0))
        return PMHMC_ERR_ARG;
    pmhmc_adam *a = calloc(1, sizeof *a);
    if (!a)
        return PMHMC_ERR_NOMEM;
    a->m = calloc(n, sizeof(double));
    a->v = calloc(n, sizeof(double));
    if (!a->m || !a->v) {
        pmhmc_adam_free(a);
        return PMHMC_ERR_NOMEM;
    }
    a->n = n;
    a->beta1 = beta1;
    a->beta2 = beta2;
    a->eps = eps;
    *out = a;
    return PMHMC_OK;
}

void pmhmc_adam_free(pmhmc_adam *adam)
{
    if (!adam)
        return;
    free(adam->m);
    free(adam->v);
    free(adam);
}

void pmhmc_adam_reset(pmhmc_adam *adam)
{
    memset(adam->m, 0, adam->n * sizeof(double));
    memset(adam->v, 0, adam->n * sizeof(double));
    adam->t = 0;
}

void pmhmc_adam_step(pmhmc_adam *adam, double *w, const double *grad, double lr)
{
    adam->t++;
    double c1 = 1.0 - pow(adam->beta1, (double)adam->t);
    double c2 = 1.0 - pow(adam->beta2, (double)adam->t);
    double b1 = adam->beta1, b2 = adam->beta2;
    for (size_t i = 0; i < adam->n; i++) {
        double g = grad[i];
        adam->m[i] = b1 * adam->m[i] + (1.0 - b1) * g;
        adam->v[i] = b2 * adam->v[i] + (1.0 - b2) * g * g;
        w[i] -= lr * (adam->m[i] / c1) / (sqrt(adam->v[i] / c2) + adam->eps);
    }
}
