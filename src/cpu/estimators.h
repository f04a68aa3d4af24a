/* The CPU estimator passes of each model (see pmhmc_cpu_estimate_args). */
#ifndef PMHMC_CPU_ESTIMATORS_H
#define PMHMC_CPU_ESTIMATORS_H

#include "models/model_impl.h"

/* Below this much work (terms, or vector elements) a pass runs on one
 * thread: waking an OpenMP team costs more than the pass, and on a loaded
 * machine a team barrier can stall for milliseconds. Results do not depend on
 * the thread count either way. */
#define PMHMC_CPU_PARALLEL_MIN_WORK 32768

#ifdef _OPENMP
#include <omp.h>
#endif

/* The calling OpenMP thread's slice of the scratch. */
static inline double *pmhmc_cpu_thread_scratch(const pmhmc_cpu_estimate_args *args)
{
#ifdef _OPENMP
    return args->scratch + (size_t)omp_get_thread_num() * args->scratch_per_thread;
#else
    return args->scratch;
#endif
}

/* The random-effect models' estimator (re_estimator.c) and their
 * likelihoods (glmm_cpu.c, normal_re_cpu.c). */
size_t pmhmc_re_cpu_scratch(const pmhmc_model *model);
void pmhmc_re_cpu_estimate(const pmhmc_model *model, const pmhmc_cpu_estimate_args *args);
struct pmhmc_re_likelihood_ops;
extern const struct pmhmc_re_likelihood_ops pmhmc_glmm_likelihood;
extern const struct pmhmc_re_likelihood_ops pmhmc_normal_re_likelihood;

#endif
