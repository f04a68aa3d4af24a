/* Draws CSV in CmdStan's layout, written onto a stream the caller opened:
 *
 *   # comment lines (program version, every config value)
 *   <the algorithm's columns>,<params>,<generated>
 *     (the algorithm's columns are its pmhmc_algorithm_info's: PM-HMC's
 *      lp__,accept_stat__,stepsize__,int_time__,energy__ as CmdStan's static
 *      HMC; PM-NUTS's lp__,accept_stat__,stepsize__,treedepth__,
 *      n_leapfrog__,divergent__,energy__ as its NUTS; the HNN samplers' add
 *      their own after those)
 *   with adaptation, the "# Adaptation terminated" block
 *   one row per saved draw
 *   #
 *   #  Elapsed Time: X seconds (Warm-up)
 *   #                Y seconds (Sampling)
 *   #                Z seconds (Total)
 *   #
 *
 * Numbers are printed with %.9g (counts and flags as integers): enough digits that a double read back
 * differs from the sampler's value by at most about 1e-9 relative.
 * Every function returns 0, or -1 when the stream reported a write error. */
#ifndef PMHMC_IO_DRAWS_CSV_H
#define PMHMC_IO_DRAWS_CSV_H

#include <stdio.h>

#include "pmhmc/model.h"
#include "pmhmc/sampler.h"

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
/* Writes "# " followed by the formatted text and a newline. */
int pmhmc_draws_comment(FILE *f, const char *fmt, ...);

/* The column header: sampler columns, then the model's parameters, then its
 * generated quantities. */
int pmhmc_draws_columns(FILE *f, const pmhmc_model *model, pmhmc_algorithm algorithm);

/* One saved draw; generated has pmhmc_model_n_generated(model) values. */
int pmhmc_draws_row(FILE *f, const pmhmc_model *model, pmhmc_algorithm algorithm, const pmhmc_draw *draw,
                    const double *generated);

/* After warm-up with adaptation, CmdStan's block:
 *   # Adaptation terminated
 *   # Step size = h
 *   # Diagonal elements of inverse mass matrix:
 *   # v1, v2, ...                                                          */
int pmhmc_draws_adaptation(FILE *f, double step_size, const double *inv_metric, size_t dim);

int pmhmc_draws_elapsed(FILE *f, double warmup_seconds, double sampling_seconds);

#endif
