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

/* The page's two plots with their headings (at level h, 2 or 3), for the
 * page above and the report of a run on the trained network. Returns -1
 * when memory runs out. */
int train_page_curves(FILE *f, const train_curve *curve, size_t best_epoch, int h);

/* Reads the training log pmhmc train writes (epoch,learning_rate,
 * train_loss,val_loss,val_grad_error) into *curve (free with
 * train_curve_free) and its lowest validation loss's epoch into *best
 * (1-based). Returns 0, or -1 when the file cannot be read or is not such a
 * log. */
int train_curve_read(const char *path, train_curve *curve, size_t *best);
void train_curve_free(train_curve *curve);

/* Where pmhmc train writes beside the weights: its log (hnn.train_log, or
 * hnn.weights with _log.csv for its extension) and its page (hnn.weights
 * with .html). New strings; NULL when out of memory. */
struct pmhmc_config;
char *train_log_path(const struct pmhmc_config *cfg);
char *train_page_path(const struct pmhmc_config *cfg);

/* Appends an epoch; *cap is the room the arrays have (0 for an empty
 * curve). Returns -1 when memory runs out. */
int train_curve_append(train_curve *curve, size_t *cap, double train_loss, double val_loss, double grad_error);

#endif
