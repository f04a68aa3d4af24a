/* HNN training data (DESIGN §5): what a sampler's trajectories saw at every
 * gradient evaluation, for `pmhmc train`.
 *
 * File layout (little-endian, as written on x86-64 and read back only where
 * the byte-order mark matches):
 *   "PMHNNDAT"             8-byte magic
 *   u32 version            PMHMC_HNN_DATA_VERSION
 *   u32 byte-order mark    0x01020304
 *   u32 dim
 *   dim x (u32 length, bytes)   the parameter names, not NUL-terminated
 *   records, to the end of the file: 4 x dim f64 each
 *     theta, rho, grad = d/dtheta [log p + log phat], rho_sharp = M^-1 rho
 * rho_sharp is stored rather than M because warm-up adaptation changes M
 * between records: it is the target of grad_rho H~ for that record. */
#ifndef PMHMC_IO_HNN_DATA_H
#define PMHMC_IO_HNN_DATA_H

#include <stddef.h>
#include <stdio.h>

#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PMHMC_HNN_DATA_VERSION 1u

/* The header; returns -1 on a write error. */
int pmhmc_hnn_data_write_header(FILE *f, size_t dim, const char *const *names);

/* One record; returns -1 on a write error. */
int pmhmc_hnn_data_write_record(FILE *f, size_t dim, const double *theta, const double *rho, const double *grad,
                                const double *inv_mass);

typedef struct pmhmc_hnn_data {
    size_t dim, n; /* n records */
    char **names;  /* [dim] */
    double *theta, *rho, *grad, *rho_sharp; /* [n, dim] each */
} pmhmc_hnn_data;

/* Reads and validates a whole file: magic, version, byte order, names, and
 * a whole number of records of finite values; err names the file and what
 * was wrong. */
pmhmc_status pmhmc_hnn_data_read(const char *path, pmhmc_hnn_data **out, pmhmc_error *err);
void pmhmc_hnn_data_free(pmhmc_hnn_data *data);

#ifdef __cplusplus
}
#endif
#endif
