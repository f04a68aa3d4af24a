/* The `gaussian` model: a target with a known answer for sampler tests and
 * benchmarks (model and estimator design in src/models/gaussian.c). Not
 * reachable from the config or the CLI: it has no data, so it is built here
 * and freed with pmhmc_model_free. */
#ifndef PMHMC_MODELS_GAUSSIAN_H
#define PMHMC_MODELS_GAUSSIAN_H

#include <stddef.h>

#include "pmhmc/model.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* theta in R^dim with posterior N(mean, cov); auxiliary layout n_groups x N
 * (p_u = 1) with u ~ N(shift_a, I) under the extended target.
 *   mean     [dim], finite
 *   cov      [dim, dim] row-major, symmetric positive definite (Cholesky)
 *   shift_a  finite; 0 gives a u-independent estimator
 * The model's prior is the usual N(0, prior_var I) with prior_var = 100
 * (pmhmc_model_settings_default). Fails with PMHMC_ERR_ARG and a message on
 * bad arguments, PMHMC_ERR_NOMEM when memory runs out. */
pmhmc_status pmhmc_gaussian_model_create(size_t dim, const double *mean, const double *cov, size_t n_groups,
                                         size_t N, double shift_a, pmhmc_model **out, pmhmc_error *err);

#ifdef __cplusplus
}
#endif
#endif
