/* The table `pmhmc sample` prints at the end: posterior mean and sd of each
 * column of the saved draws (pooled over chains), and the acceptance rate. */
#ifndef PMHMC_CLI_SUMMARY_H
#define PMHMC_CLI_SUMMARY_H

#include <stddef.h>
#include <stdio.h>

#include "pmhmc/status.h"

typedef struct cli_summary {
    size_t n_cols;
    const char **names; /* borrowed */
    double *mean, *m2;  /* Welford accumulators, [n_cols] */
    double *truth;      /* [n_cols] true values (NaN: unknown), or NULL */
    size_t n_draws;
    size_t n_accepted;
} cli_summary;

/* Returns 0, or -1 when out of memory. */
int cli_summary_init(cli_summary *s, size_t n_cols, const char **names);
void cli_summary_free(cli_summary *s);
/* Reads true values (a name,value CSV) to print beside the means. */
pmhmc_status cli_summary_set_truth(cli_summary *s, const char *path, pmhmc_error *err);
void cli_summary_add(cli_summary *s, const double *values, int accepted);
/* Adds the draws `from` summarised to `s` (same columns): the pooled mean and
 * sd over both sets of draws, by Chan et al.'s update of the accumulators.
 * Merging chains in a fixed order gives the same bits every run. */
void cli_summary_merge(cli_summary *s, const cli_summary *from);
void cli_summary_print(const cli_summary *s, FILE *f);

#endif
