/* The table `pmhmc sample` prints at the end: the diagnostics of `pmhmc
 * summary` for each column of the saved draws (pooled over chains), or, when
 * the draws are too many to keep in memory, the mean and sd; and the
 * acceptance rate. */
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

/* The table `pmhmc summary` prints, for s's columns: Mean, MCSE, StdDev, 5%,
 * 50%, 95%, ESS_bulk, ESS_tail, R_hat (pmhmc_summarize), nR_hat with
 * n_superchains (0: none; pmhmc_rhat_nested), the truth columns when s has
 * them, the pooled acceptance rate, and a warning naming the
 * columns whose R_hat exceeds 1.01. draws holds every saved draw, column
 * after column, chain after chain within a column:
 * draws[(j * n_chains + c) * n_draws + i]. Call from one thread (FFTW's
 * planner). Returns 0, or -1 when out of memory (nothing printed). */
int cli_summary_print_diagnostics(const cli_summary *s, const double *draws, size_t n_chains, size_t n_draws,
                                  size_t n_superchains, FILE *f);

#endif
