/* The gaussian model's state, shared by its CPU estimator
 * (src/cpu/gaussian_cpu.c) and its CUDA family (kernels/gaussian_estimator.cu).
 * The model, its placeholder dataset and every array below live in ONE
 * allocation that starts with the pmhmc_model, so pmhmc_model_free's
 * free(model) releases all of it and model.c needs no per-model destructor. */
#ifndef PMHMC_MODELS_GAUSSIAN_IMPL_H
#define PMHMC_MODELS_GAUSSIAN_IMPL_H

#include "models/model_impl.h"

typedef struct pmhmc_gaussian_model {
    pmhmc_model base; /* first: a pmhmc_model * is a pmhmc_gaussian_model * */
    pmhmc_dataset data;
    double shift_a;    /* a: log phat's u part is sum_j (a u_j - a^2 / 2) */
    double log_const;  /* -log det(L) + (dim / 2) log(prior_var) */
    double *mean;      /* [dim] */
    double *prec;      /* [dim, dim] row-major, Sigma^-1 */
    double *chol;      /* [dim, dim] row-major lower factor L, L L' = Sigma */
} pmhmc_gaussian_model;

extern const pmhmc_model_ops pmhmc_gaussian_ops;

/* The CPU estimator (src/cpu/gaussian_cpu.c); it needs no scratch. */
size_t pmhmc_gaussian_cpu_scratch(const pmhmc_model *model);
void pmhmc_gaussian_cpu_estimate(const pmhmc_model *model, const pmhmc_cpu_estimate_args *args);

static inline const pmhmc_gaussian_model *pmhmc_gaussian_of(const pmhmc_model *model)
{
    return (const pmhmc_gaussian_model *)model;
}

#endif
