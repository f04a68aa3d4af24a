/* The page of `pmhmc report`: one self-contained XHTML-compatible HTML file
 * (inline SVG and CSS, no scripts, no external resources). */
#ifndef PMHMC_CLI_REPORT_HTML_H
#define PMHMC_CLI_REPORT_HTML_H

#include <stdio.h>

#include "cli/draws_read.h"
#include "pmhmc/diagnostics.h"

/* The page stays small whatever the files hold (a 600,000-column file once
 * made a 1.27 GB page): the table lists at most REPORT_MAX_TABLE_ROWS
 * columns, and at most REPORT_MAX_PLOTTED parameters get a trace and a
 * histogram (a few kB each); the page says what it left out. */
enum { REPORT_MAX_TABLE_ROWS = 2000, REPORT_MAX_PLOTTED = 100 };

/* stats[j] summarizes column j of t (as `pmhmc summary` does); truth is
 * NULL without --truth, else truth[j] is column j's true value or NaN.
 * Returns 0, or -1 when memory runs out. Write errors show in ferror(f). */
int report_html_write(FILE *f, const table *t, const pmhmc_summary_stats *stats, const double *truth,
                      const char *truth_path);

/* Chains that get a line, swatch or plot of their own: all of them up to
 * REPORT_MAX_TRACED (one per palette colour), else that many spread evenly
 * from the first to the last; every chain is in the table and the pooled
 * histograms, and the page says which were drawn. */
enum { REPORT_MAX_TRACED = 8 };
typedef struct report_chains {
    size_t total;
    size_t n;
    size_t index[REPORT_MAX_TRACED];
} report_chains;

void report_chains_pick(report_chains *pick, size_t K);
/* out [pick->n x n] <- the picked chains of x [K x n]. */
void report_chains_gather(const report_chains *pick, const double *x, size_t n, double *out);
/* A note naming the traced chains when they are not all of them. */
void report_chains_note(FILE *f, const report_chains *pick);

/* The colour key of the picked chains, one swatch each. */
void report_legend(FILE *f, const report_chains *pick);

#endif
