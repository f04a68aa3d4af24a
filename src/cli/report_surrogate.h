/* The report's section on an HNN run's surrogate (report_surrogate.c). */
#ifndef PMHMC_CLI_REPORT_SURROGATE_H
#define PMHMC_CLI_REPORT_SURROGATE_H

#include <stdio.h>

#include "cli/draws_read.h"
#include "cli/report_html.h"

/* For files of hnn_hmc or hnn_nuts (a surrogate_error__ or monitor_error__
 * column): per picked chain, the acceptance rate, estimator evaluations
 * and, for HNN-PM-NUTS, fallback events and cooldown draws; the trace of
 * the monitored error; the network and its training curves (from its
 * training log, when that can be read). Nothing for other files. x is
 * [n_chains * n_rows] scratch, shown [pick->n * n_rows]. Returns 0, or -1
 * when memory runs out. */
int report_surrogate_section(FILE *f, const table *t, const report_chains *pick, double *x, double *shown);

#endif
