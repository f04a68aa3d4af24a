/* Data sets: grouped observations read from long-format CSV.
 *
 * File layout: a header `id,y[,name...]`, then one row per observation. The
 * id is any text without commas; groups are numbered by the first appearance
 * of their id and the rows of one id need not be adjacent. Columns after y
 * are covariates, named by the header.
 *
 * Ownership: pmhmc_dataset_read_csv gives the caller a dataset to release
 * with pmhmc_dataset_free; a model created over it borrows it, so the dataset
 * must outlive every model made from it. */
#ifndef PMHMC_IO_H
#define PMHMC_IO_H

#include <stddef.h>

#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pmhmc_dataset pmhmc_dataset;

typedef enum pmhmc_response_kind {
    PMHMC_RESPONSE_BINARY, /* y must be 0 or 1 */
    PMHMC_RESPONSE_REAL    /* y any finite number */
} pmhmc_response_kind;

/* Reads and validates `path`. On failure err names the file, the line and
 * the column (1-based) and what was expected; *out is left NULL. */
pmhmc_status pmhmc_dataset_read_csv(const char *path, pmhmc_response_kind kind,
                                    pmhmc_dataset **out, pmhmc_error *err);

/* Builds a dataset from arrays already grouped: group g owns rows
 * [group_start[g], group_start[g+1]); y is [n_rows], z is [n_rows, n_cov]
 * row-major, cov_names has n_cov entries (NULL gives z1..zp). Copies all. */
pmhmc_status pmhmc_dataset_create(size_t n_groups, const size_t *group_start, const double *y,
                                  const double *z, size_t n_cov, const char *const *cov_names,
                                  pmhmc_dataset **out);

void pmhmc_dataset_free(pmhmc_dataset *data);

size_t pmhmc_dataset_n_groups(const pmhmc_dataset *data);
size_t pmhmc_dataset_n_rows(const pmhmc_dataset *data);
size_t pmhmc_dataset_n_covariates(const pmhmc_dataset *data);
const char *pmhmc_dataset_covariate_name(const pmhmc_dataset *data, size_t i);
/* The id of group g as written in the file ("1", "2", ... for created sets). */
const char *pmhmc_dataset_group_id(const pmhmc_dataset *data, size_t g);

/* Writes `data` as CSV (the format read above) to `path` atomically: a
 * temporary file beside it is renamed over it only when complete. */
pmhmc_status pmhmc_dataset_write_csv(const pmhmc_dataset *data, const char *path, pmhmc_error *err);

#ifdef __cplusplus
}
#endif
#endif
