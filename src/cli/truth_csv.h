/* The `name,value` files that `pmhmc simulate` writes (truth.csv): read so
 * `pmhmc sample --truth` can print the true values beside the posterior. */
#ifndef PMHMC_CLI_TRUTH_CSV_H
#define PMHMC_CLI_TRUTH_CSV_H

#include <stddef.h>

#include "pmhmc/status.h"

/* For each of the n names, values[i] gets the file's value or NaN when the
 * file does not name it. Errors name the file and line. */
pmhmc_status cli_truth_read(const char *path, size_t n, const char *const *names, double *values,
                            pmhmc_error *err);

#endif
