/* The model interface behind pmhmc_model: a table of operations per model
 * kind, and the estimator kernels each backend calls. */
#ifndef PMHMC_MODELS_MODEL_IMPL_H
#define PMHMC_MODELS_MODEL_IMPL_H

#include "io/dataset.h"
#include "pmhmc/model.h"

/* One CPU estimator pass (see pmhmc_ws_estimate). The model writes per-group
 * results; the backend sums them over groups in group order.
 *   theta      [dim]
 *   u, p       [n_groups, N * p_u]; p NULL: no kick, no rotation
 *   grad_u     [n_groups, N * p_u] or NULL
 *   group_ll   [n_groups]              out: log phat_i
 *   group_grad [n_groups, dim] or NULL out: d log phat_i / d theta
 *   scratch    [threads, scratch_per_thread] doubles, one slice per thread */
typedef struct pmhmc_cpu_estimate_args {
    const double *theta;
    double *u;
    double *p;
    double *grad_u;
    double kick;
    double cos_a, sin_a;
    double *group_ll;
    double *group_grad;
    double *scratch;
    size_t scratch_per_thread;
} pmhmc_cpu_estimate_args;

struct pmhmc_cuda_estimate_args; /* kernels/estimator_common.cuh */
struct pmhmc_re_likelihood_ops;  /* models/re_model.h */

typedef struct pmhmc_model_ops {
    const char *name;
    pmhmc_response_kind response;
    size_t p_u; /* auxiliary normals per importance draw */
    const char *const *generated_names;
    size_t n_generated;
    /* Validates the data and fills dim and param_names. */
    pmhmc_status (*init)(pmhmc_model *model, pmhmc_error *err);
    void (*generated)(const pmhmc_model *model, const double *theta, double *out);
    void (*initial)(const pmhmc_model *model, uint64_t seed, uint32_t chain, double *theta);
    /* Per-thread scratch, in doubles, that cpu_estimate needs. */
    size_t (*cpu_scratch)(const pmhmc_model *model);
    void (*cpu_estimate)(const pmhmc_model *model, const pmhmc_cpu_estimate_args *args);
    /* Random-effect models: their pieces for the shared estimators
     * (models/re_model.h); NULL for a model with an estimator of its own. */
    const struct pmhmc_re_likelihood_ops *re;
} pmhmc_model_ops;

struct pmhmc_model {
    const pmhmc_model_ops *ops;
    pmhmc_model_settings settings;
    const pmhmc_dataset *data;
    size_t dim;
    char **param_names; /* [dim] */
    /* model.estimator = quadrature: the N-node Gauss-Hermite rule (nodes,
     * log weight + t^2 / 2) */
    double *quad_t, *quad_logw;
};

extern const pmhmc_model_ops pmhmc_glmm_ops;
extern const pmhmc_model_ops pmhmc_normal_re_ops;

/* For init(): allocates param_names from a list of fixed names. */
pmhmc_status pmhmc_model_set_names(pmhmc_model *model, size_t dim, const char *const *names);

#endif
