/* The dataset's layout, shared by the models and the backends that upload it.
 * Rows are stored grouped: group g owns rows [group_start[g], group_start[g+1]). */
#ifndef PMHMC_IO_DATASET_H
#define PMHMC_IO_DATASET_H

#include "pmhmc/io.h"

struct pmhmc_dataset {
    size_t n_groups;
    size_t n_rows;
    size_t n_cov;
    size_t max_group_rows; /* largest group, for per-thread scratch */
    size_t *group_start;   /* [n_groups + 1] */
    double *y;             /* [n_rows] */
    double *z;             /* [n_rows, n_cov] row-major */
    char **cov_names;      /* [n_cov] */
    char **group_ids;      /* [n_groups] */
};

#endif
