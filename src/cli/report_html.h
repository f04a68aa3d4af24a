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

/* The colour key of the chains, one swatch each. */
void report_legend(FILE *f, size_t K);

#endif
