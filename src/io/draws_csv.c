#include "io/draws_csv.h"

#include <stdarg.h>

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
    const pmhmc_algorithm_info *info = pmhmc_algorithm_by_id(algorithm);
    for (size_t i = 0; info && i < info->n_columns; ++i)
        fprintf(f, "%s%s", i ? "," : "", info->columns[i].name);
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
    const pmhmc_algorithm_info *info = pmhmc_algorithm_by_id(algorithm);
    for (size_t i = 0; info && i < info->n_columns; ++i) {
        const double v = info->columns[i].value(draw);
        /* counts and flags as integers: exact, however large */
        fprintf(f, info->columns[i].integer ? "%s%.0f" : "%s%.9g", i ? "," : "", v);
    }
    for (size_t i = 0; i < pmhmc_model_dim(model); ++i)
        fprintf(f, ",%.9g", draw->theta[i]);
    for (size_t i = 0; i < pmhmc_model_n_generated(model); ++i)
        fprintf(f, ",%.9g", generated[i]);
    fputc('\n', f);
    return status_of(f);
}

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
