#include "io/draws_csv.h"

#include <stdarg.h>

/* CmdStan's sampler columns: static HMC's for PM-HMC, NUTS's for PM-NUTS;
 * HNN-HMC adds the surrogate's energy error, the estimator evaluations and
 * whether the proposal was kept (its mean is the acceptance rate; in exact
 * mode accepted__ / n_estimator__ is the exact test's). */
static const char *const HMC_COLUMNS = "lp__,accept_stat__,stepsize__,int_time__,energy__";
static const char *const NUTS_COLUMNS = "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__";
static const char *const HNN_COLUMNS =
    "lp__,accept_stat__,stepsize__,int_time__,energy__,surrogate_error__,n_estimator__,accepted__";
/* HNN-PM-NUTS: NUTS's, then whether the tree started on the surrogate (0 in
 * cooldown), whether it fell back, the largest monitored error, estimator
 * evaluations (all, and with gradients) and whether the state moved. */
static const char *const HNN_NUTS_COLUMNS =
    "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,"
    "surrogate__,fallback__,monitor_error__,n_estimator__,n_gradient__,accepted__";

static int status_of(FILE *f) { return ferror(f) ? -1 : 0; }

int pmhmc_draws_comment(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    va_end(ap);
    return status_of(f);
}

int pmhmc_draws_columns(FILE *f, const pmhmc_model *model, pmhmc_algorithm algorithm)
{
    fputs(algorithm == PMHMC_ALGORITHM_PMNUTS     ? NUTS_COLUMNS
          : algorithm == PMHMC_ALGORITHM_HNN_HMC  ? HNN_COLUMNS
          : algorithm == PMHMC_ALGORITHM_HNN_NUTS ? HNN_NUTS_COLUMNS
                                                  : HMC_COLUMNS,
          f);
    for (size_t i = 0; i < pmhmc_model_dim(model); ++i)
        fprintf(f, ",%s", pmhmc_model_param_name(model, i));
    for (size_t i = 0; i < pmhmc_model_n_generated(model); ++i)
        fprintf(f, ",%s", pmhmc_model_generated_name(model, i));
    fputc('\n', f);
    return status_of(f);
}

int pmhmc_draws_row(FILE *f, const pmhmc_model *model, pmhmc_algorithm algorithm, const pmhmc_draw *draw,
                    const double *generated)
{
    if (algorithm == PMHMC_ALGORITHM_PMNUTS || algorithm == PMHMC_ALGORITHM_HNN_NUTS)
        fprintf(f, "%.9g,%.9g,%.9g,%zu,%zu,%d,%.9g", draw->lp, draw->accept_stat, draw->stepsize, draw->treedepth,
                draw->n_leapfrog, draw->divergent != 0, draw->energy);
    else
        fprintf(f, "%.9g,%.9g,%.9g,%.9g,%.9g", draw->lp, draw->accept_stat, draw->stepsize, draw->int_time,
                draw->energy);
    if (algorithm == PMHMC_ALGORITHM_HNN_HMC)
        fprintf(f, ",%.9g,%zu,%d", draw->surrogate_error, draw->n_estimates, draw->accepted != 0);
    if (algorithm == PMHMC_ALGORITHM_HNN_NUTS)
        fprintf(f, ",%d,%d,%.9g,%zu,%zu,%d", draw->surrogate_used != 0, draw->fallback != 0, draw->surrogate_error,
                draw->n_estimates, draw->n_gradients, draw->accepted != 0);
    for (size_t i = 0; i < pmhmc_model_dim(model); ++i)
        fprintf(f, ",%.9g", draw->theta[i]);
    for (size_t i = 0; i < pmhmc_model_n_generated(model); ++i)
        fprintf(f, ",%.9g", generated[i]);
    fputc('\n', f);
    return status_of(f);
}

/* CmdStan's exact layout (ArviZ's from_cmdstan reads the step size and the
 * metric from it). */
int pmhmc_draws_adaptation(FILE *f, double step_size, const double *inv_metric, size_t dim)
{
    fprintf(f, "# Adaptation terminated\n# Step size = %g\n# Diagonal elements of inverse mass matrix:\n# ",
            step_size);
    for (size_t i = 0; i < dim; ++i)
        fprintf(f, "%s%g", i ? ", " : "", inv_metric[i]);
    fputc('\n', f);
    return status_of(f);
}

/* CmdStan's exact layout, so tools that parse its footer read ours. */
int pmhmc_draws_elapsed(FILE *f, double warmup_seconds, double sampling_seconds)
{
    fprintf(f, "# \n");
    fprintf(f, "#  Elapsed Time: %g seconds (Warm-up)\n", warmup_seconds);
    fprintf(f, "#                %g seconds (Sampling)\n", sampling_seconds);
    fprintf(f, "#                %g seconds (Total)\n", warmup_seconds + sampling_seconds);
    fprintf(f, "# \n");
    return status_of(f);
}
