/* The page `pmhmc train` writes beside the weights: the training curves of
 * an HNN surrogate (log10 of the training and validation losses, and the
 * validation gradient error per epoch) as inline SVG, in the report's
 * XHTML-compatible style. */
#ifndef PMHMC_CLI_TRAIN_PAGE_H
#define PMHMC_CLI_TRAIN_PAGE_H

#include <stddef.h>
#include <stdio.h>

/* One row per epoch run. */
typedef struct train_curve {
    size_t n;
    double *train_loss, *val_loss, *grad_error; /* [n] each */
} train_curve;

/* title: one line of text (escaped here); best_epoch is 1-based. Returns -1
 * on a write error. */
int train_page_write(FILE *f, const char *title, const train_curve *curve, size_t best_epoch);

#endif
