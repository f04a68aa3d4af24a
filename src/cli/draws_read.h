/* Reading draws files in CmdStan's CSV layout, one file per chain, for the
 * commands that look at finished runs (summary, report). */
#ifndef PMHMC_CLI_DRAWS_READ_H
#define PMHMC_CLI_DRAWS_READ_H

#include <stddef.h>

/* One input file, read whole: its draws row after row. */
typedef struct chain_file {
    const char *path;
    size_t n_rows;
    double *rows; /* n_rows * n_cols */
    double warmup_s, sampling_s;
    int has_warmup, has_sampling;
    int max_depth; /* the header's nuts.max_depth (pmhmc's config echo); 0: not given */
    char *weights; /* the header's hnn.weights (the surrogate of an HNN run); NULL: not given */
    char *train_log; /* the header's hnn.train_log; NULL: not given or empty */
} chain_file;

/* All the files: the same columns and the same number of draws in each. */
typedef struct table {
    size_t n_cols;
    char **names;
    size_t n_chains;
    chain_file *chains;
} table;

/* Reads the n_paths files into t (zeroed first; the paths are kept, not
 * copied). Lines starting with # are comments, except that the elapsed
 * times are picked up. Returns 0, or an exit code after printing one
 * "pmhmc: <cmd>: ..." error naming the file; free t with
 * cli_draws_free either way. */
int cli_draws_read(const char *cmd, size_t n_paths, char *const *paths, table *t);

void cli_draws_free(table *t);

/* Whether a column is a sampler column (its name ends in __). */
int cli_is_sampler_column(const char *name);

/* The index of the column called name, or -1. */
long cli_draws_find_column(const table *t, const char *name);

/* x [n_chains * n_rows] <- column j, chain after chain. */
void cli_draws_column(const table *t, size_t j, double *x);

#endif
