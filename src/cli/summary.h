/* The table `pmhmc sample` prints at the end: posterior mean and sd of each
 * column of the saved draws, and the acceptance rate. */
#ifndef PMHMC_CLI_SUMMARY_H
#define PMHMC_CLI_SUMMARY_H

#include <stddef.h>
#include <stdio.h>

typedef struct cli_summary {
    size_t n_cols;
    const char **names; /* borrowed */
    double *mean, *m2;  /* Welford accumulators, [n_cols] */
    size_t n_draws;
    size_t n_accepted;
} cli_summary;

/* Returns 0, or -1 when out of memory. */
int cli_summary_init(cli_summary *s, size_t n_cols, const char **names);
void cli_summary_free(cli_summary *s);
void cli_summary_add(cli_summary *s, const double *values, int accepted);
void cli_summary_print(const cli_summary *s, FILE *f);

#endif
