/* Output files that appear whole or not at all: written to a temporary file
 * beside the target (`<path>.tmp.<pid>`, so the final rename stays on one
 * file system) and renamed over it on commit. On an error, and on SIGINT,
 * SIGTERM or SIGHUP, the temporary file is removed. */
#ifndef PMHMC_CLI_OUT_FILE_H
#define PMHMC_CLI_OUT_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "pmhmc/status.h"

typedef struct cli_out {
    FILE *f;
    char *path;
    char *tmp;
    int slot; /* in the signal clean-up list */
} cli_out;

/* Creates missing parent directories of path, then the temporary file. */
pmhmc_status cli_out_open(cli_out *out, const char *path, pmhmc_error *err);

/* Flushes and closes the temporary file, keeping it for cli_out_commit; on a
 * write error reports it (the file stays until commit or abort removes it).
 * Lets a caller with several files check them all before renaming any. */
pmhmc_status cli_out_close(cli_out *out, pmhmc_error *err);

/* Flushes, closes (unless cli_out_close did) and renames; on failure removes
 * the temporary file. Either way `out` is released. */
pmhmc_status cli_out_commit(cli_out *out, pmhmc_error *err);

/* Closes and removes the temporary file; safe on a zeroed or released out
 * and after cli_out_close. */
void cli_out_abort(cli_out *out);

/* For a resumed run (pmhmc sample --resume): takes over the temporary file
 * `tmp` an interrupted run left for `path`, keeps its first `length` bytes
 * (what the checkpoint vouches for) and opens it for appending. Fails when
 * the file is missing or shorter than length. */
pmhmc_status cli_out_resume(cli_out *out, const char *path, const char *tmp, long long length, pmhmc_error *err);

/* Flushes, closes and releases, keeping the temporary file where it is (an
 * interrupted run whose checkpoint refers to it); returns -1 on a write
 * error. */
int cli_out_keep(cli_out *out);

/* The length of file without the extension of its last component (none
 * when that component has no dot, or only a leading one). */
size_t cli_path_stem(const char *file);

/* A new string: file with its extension replaced by suffix (".html",
 * "_log.csv"); NULL when out of memory. */
char *cli_path_with_suffix(const char *file, const char *suffix);

/* mkdir -p. */
pmhmc_status cli_make_dirs(const char *dir, pmhmc_error *err);

#endif
