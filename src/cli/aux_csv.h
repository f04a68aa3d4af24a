/* Auxiliary-variable files of `pmhmc log_prob`: one row per group (in the
 * data's first-appearance order), each with the same number of
 * comma-separated values, no header. */
#ifndef PMHMC_CLI_AUX_CSV_H
#define PMHMC_CLI_AUX_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "pmhmc/status.h"

/* Reads `path` into a [rows, cols] row-major array the caller frees. Blank
 * lines at the end are ignored; a row whose length differs from the first's
 * is an error naming the file and line. */
pmhmc_status cli_aux_read(const char *path, double **values, size_t *rows, size_t *cols, pmhmc_error *err);

/* Writes [rows, cols] values with %.17g, so they read back exactly. */
int cli_aux_write(FILE *f, const double *values, size_t rows, size_t cols);

#endif
