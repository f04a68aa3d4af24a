/* Reading draws files: see draws_read.h. */
#include "cli/draws_read.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli/cli.h"

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        free(names[i]);
    free(names);
}

static void strip_eol(char *line)
{
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
}

/* Splits line (modified in place) on commas; fields has room for cap. */
static size_t split_fields(char *line, char **fields, size_t cap)
{
    size_t n = 0;
    char *s = line;
    for (;;) {
        char *comma = strchr(s, ',');
        if (n < cap)
            fields[n] = s;
        ++n;
        if (!comma)
            break;
        *comma = '\0';
        s = comma + 1;
    }
    return n;
}

/* "#  Elapsed Time: X seconds (Warm-up)" and "#   Y seconds (Sampling)". */
static void parse_elapsed(const char *line, chain_file *cf)
{
    int sampling = strstr(line, "seconds (Sampling)") != NULL;
    int warmup = strstr(line, "seconds (Warm-up)") != NULL;
    if (!sampling && !warmup)
        return;
    const char *s = line + 1;
    const char *colon = strstr(s, "Elapsed Time:");
    if (colon)
        s = colon + strlen("Elapsed Time:");
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0.0)
        return;
    if (sampling) {
        cf->sampling_s = v;
        cf->has_sampling = 1;
    } else {
        cf->warmup_s = v;
        cf->has_warmup = 1;
    }
}

static int count_fields(const char *line)
{
    int n = 1;
    for (const char *c = line; *c; ++c)
        n += *c == ',';
    return n;
}

/* *out <- the value of a header line "key = value[ (Default)]" when line
 * starts with key and *out is not set yet (an empty value stays NULL).
 * Returns -1 when memory runs out. */
static int header_path(char *line, const char *key, char **out)
{
    size_t n = strlen(key);
    if (*out || strncmp(line, key, n) != 0)
        return 0;
    char *end = strstr(line + n, " (Default)");
    if (end)
        *end = '\0';
    if (line[n] == '\0')
        return 0;
    return (*out = strdup(line + n)) ? 0 : -1;
}

/* Reads one file into cf; the first file sets t->names. Returns 0 or an
 * exit code after printing the error. */
static int read_chain(const char *cmd, const char *path, table *t, chain_file *cf)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_fail(CLI_EXIT_USAGE, "%s: %s: cannot be opened", cmd, path);
    cf->path = path;
    char *line = NULL, **fields = NULL;
    size_t cap = 0, row_cap = 0, line_no = 0, n_cols = 0;
    int rc = 0, have_header = 0;
    for (ssize_t len; (len = getline(&line, &cap, f)) >= 0;) {
        ++line_no;
        strip_eol(line);
        if (line[0] == '#') {
            parse_elapsed(line, cf);
            /* the [nuts] section's echo, for the tree-depth warning */
            int depth;
            if (sscanf(line, "#   max_depth = %d", &depth) == 1 && depth > 0)
                cf->max_depth = depth;
            /* the [hnn] section's echo: which network an HNN run used */
            if (header_path(line, "#   weights = ", &cf->weights) != 0 ||
                header_path(line, "#   train_log = ", &cf->train_log) != 0) {
                rc = cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
                break;
            }
            continue;
        }
        if (line[0] == '\0')
            continue;
        if (!have_header) {
            n_cols = (size_t)count_fields(line);
            fields = malloc(n_cols * sizeof *fields);
            if (!fields) {
                rc = cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
                break;
            }
            split_fields(line, fields, n_cols);
            if (!t->names) {
                t->names = calloc(n_cols, sizeof *t->names);
                if (!t->names) {
                    rc = cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
                    break;
                }
                t->n_cols = n_cols;
                for (size_t j = 0; j < n_cols && rc == 0; ++j) {
                    if (fields[j][0] == '\0')
                        rc = cli_fail(CLI_EXIT_USAGE, "%s: %s:%zu: column %zu has no name", cmd, path, line_no, j + 1);
                    else if (!(t->names[j] = strdup(fields[j])))
                        rc = cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
                }
            } else if (n_cols != t->n_cols) {
                rc = cli_fail(CLI_EXIT_USAGE, "%s: %s:%zu: %zu columns, but %s has %zu; every file needs the same columns", cmd,
                              path, line_no, n_cols, t->chains[0].path, t->n_cols);
            } else {
                for (size_t j = 0; j < n_cols && rc == 0; ++j)
                    if (strcmp(fields[j], t->names[j]) != 0)
                        rc = cli_fail(CLI_EXIT_USAGE,
                                      "%s: %s:%zu: column %zu is '%s', but '%s' in %s; every file needs the same columns", cmd,
                                      path, line_no, j + 1, fields[j], t->names[j], t->chains[0].path);
            }
            if (rc)
                break;
            have_header = 1;
            continue;
        }
        size_t n = split_fields(line, fields, n_cols);
        if (n != n_cols) {
            rc = cli_fail(CLI_EXIT_USAGE, "%s: %s:%zu: %zu values, expected %zu (one per column)", cmd, path, line_no, n,
                          n_cols);
            break;
        }
        if (cf->n_rows == row_cap) {
            size_t new_cap = row_cap ? 2 * row_cap : 256;
            double *grown = realloc(cf->rows, new_cap * n_cols * sizeof(double));
            if (!grown) {
                rc = cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
                break;
            }
            cf->rows = grown;
            row_cap = new_cap;
        }
        for (size_t j = 0; j < n_cols; ++j) {
            char *end;
            const char *s = fields[j] + strspn(fields[j], " ");
            double v = strtod(s, &end);
            end += strspn(end, " ");
            if (end == s || *end != '\0') {
                rc = cli_fail(CLI_EXIT_USAGE, "%s: %s:%zu: column '%s': '%s' is not a number", cmd, path, line_no,
                              t->names[j], fields[j]);
                break;
            }
            cf->rows[cf->n_rows * n_cols + j] = v;
        }
        if (rc)
            break;
        ++cf->n_rows;
    }
    if (rc == 0 && ferror(f))
        rc = cli_fail(CLI_EXIT_USAGE, "%s: %s: read error", cmd, path);
    if (rc == 0 && !have_header)
        rc = cli_fail(CLI_EXIT_USAGE, "%s: %s: no header row (is it a draws file?)", cmd, path);
    if (rc == 0 && cf->n_rows == 0)
        rc = cli_fail(CLI_EXIT_USAGE, "%s: %s: no draws", cmd, path);
    free(fields);
    free(line);
    fclose(f);
    return rc;
}

int cli_is_sampler_column(const char *name)
{
    size_t len = strlen(name);
    return len >= 2 && strcmp(name + len - 2, "__") == 0;
}

void cli_draws_free(table *t)
{
    for (size_t c = 0; c < t->n_chains; ++c) {
        free(t->chains[c].rows);
        free(t->chains[c].weights);
        free(t->chains[c].train_log);
    }
    free(t->chains);
    free_names(t->names, t->n_cols);
    memset(t, 0, sizeof *t);
}

int cli_draws_read(const char *cmd, size_t n_paths, char *const *paths, table *t)
{
    memset(t, 0, sizeof *t);
    t->chains = calloc(n_paths ? n_paths : 1, sizeof *t->chains);
    if (!t->chains)
        return cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
    int rc = 0;
    for (size_t i = 0; i < n_paths && rc == 0; ++i) {
        rc = read_chain(cmd, paths[i], t, &t->chains[t->n_chains]);
        ++t->n_chains;
        if (rc == 0 && t->chains[t->n_chains - 1].n_rows != t->chains[0].n_rows)
            rc = cli_fail(CLI_EXIT_USAGE, "%s: %s: %zu draws, but %s has %zu; every chain needs the same number", cmd,
                          paths[i], t->chains[t->n_chains - 1].n_rows, t->chains[0].path, t->chains[0].n_rows);
    }
    return rc;
}

long cli_draws_find_column(const table *t, const char *name)
{
    for (size_t j = 0; j < t->n_cols; ++j)
        if (strcmp(t->names[j], name) == 0)
            return (long)j;
    return -1;
}

void cli_draws_column(const table *t, size_t j, double *x)
{
    size_t n = t->chains[0].n_rows;
    for (size_t c = 0; c < t->n_chains; ++c)
        for (size_t i = 0; i < n; ++i)
            x[c * n + i] = t->chains[c].rows[i * t->n_cols + j];
}
