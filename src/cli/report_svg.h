/* The inline SVG plots of `pmhmc report`: trace plots and histograms with
 * axes and a few tick labels, written as XHTML-compatible markup (every tag
 * closed, all text escaped). */
#ifndef PMHMC_CLI_REPORT_SVG_H
#define PMHMC_CLI_REPORT_SVG_H

#include <stddef.h>
#include <stdio.h>

/* At most this many points per chain go into a trace plot; longer chains
 * are thinned to every ceil(n / REPORT_MAX_POINTS)-th draw. */
enum { REPORT_MAX_POINTS = 1000 };

/* The page's CSS, which the plots' classes rely on (an svg's frame and
 * lines are unstyled without it). */
extern const char REPORT_STYLE[];

/* The colour of chain c (0-based), cycling through a fixed palette. */
const char *report_chain_colour(size_t c);

/* Writes text with &, <, >, " and ' escaped. */
void report_escape(FILE *f, const char *text);

/* A trace plot of one column: x[c * n + i] is draw i of chain c; one
 * <polyline> per chain. A finite truth is drawn as a dashed horizontal
 * line (class "truth"). label names the column; cls is the svg's class. */
void report_svg_trace(FILE *f, const char *cls, const char *label, const double *x, size_t n_chains, size_t n,
                      double truth);

/* One series of a histogram. */
typedef struct report_series {
    const double *x;
    size_t n;
    const char *colour;
    const char *name; /* legend text; NULL for none */
} report_series;

/* Histograms of the series on shared bins (40 over the pooled range),
 * overlaid; a finite mark is drawn as a dashed vertical line (class
 * "truth"). */
void report_svg_hist(FILE *f, const char *cls, const char *label, const report_series *s, size_t n_series,
                     double mark);

#endif
