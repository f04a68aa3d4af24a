#define _POSIX_C_SOURCE 200809L /* getline */

#include "cli/aux_csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct growing {
    double *v;
    size_t n, cap;
} growing;

static int push(growing *g, double x)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 1024;
        double *v = realloc(g->v, cap * sizeof *v);
        if (!v)
            return -1;
        g->v = v;
        g->cap = cap;
    }
    g->v[g->n++] = x;
    return 0;
}

static int blank(const char *s) { return s[strspn(s, " \t\r\n")] == '\0'; }

/* Parses one line's values onto g; returns the count, or fills err. */
static pmhmc_status parse_row(const char *path, size_t line_no, char *line, growing *g, size_t *count,
                              pmhmc_error *err)
{
    *count = 0;
    char *s = line;
    for (;;) {
        char *end;
        double x = strtod(s, &end);
        char *after = end + strspn(end, " \t\r\n");
        if (end == s || (*after != ',' && *after != '\0'))
            return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s:%zu: value %zu: expected a number", path, line_no,
                              *count + 1);
        if (!isfinite(x))
            return pmhmc_fail(err, PMHMC_ERR_DATA, "%s:%zu: value %zu: expected a finite number", path,
                              line_no, *count + 1);
        if (push(g, x) != 0)
            return PMHMC_ERR_NOMEM;
        ++*count;
        if (*after == '\0')
            return PMHMC_OK;
        s = after + 1;
    }
}

pmhmc_status cli_aux_read(const char *path, double **values, size_t *rows, size_t *cols, pmhmc_error *err)
{
    *values = NULL;
    *rows = *cols = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    growing g = {0};
    char *line = NULL;
    size_t cap = 0, line_no = 0, blank_from = 0;
    pmhmc_status st = PMHMC_OK;
    while (st == PMHMC_OK && getline(&line, &cap, f) >= 0) {
        ++line_no;
        if (blank(line)) {
            if (!blank_from)
                blank_from = line_no;
            continue;
        }
        if (blank_from) {
            st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s:%zu: blank line; expected a row of numbers", path, blank_from);
            break;
        }
        size_t count;
        st = parse_row(path, line_no, line, &g, &count, err);
        if (st == PMHMC_OK && *rows && count != *cols)
            st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s:%zu: %zu values; expected %zu as on line 1", path,
                            line_no, count, *cols);
        *cols = count;
        ++*rows;
    }
    if (st == PMHMC_OK && ferror(f))
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: read error", path);
    if (st == PMHMC_OK && *rows == 0)
        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: no rows; expected one row per group", path);
    free(line);
    fclose(f);
    if (st != PMHMC_OK) {
        free(g.v);
        *rows = *cols = 0;
        return st;
    }
    *values = g.v;
    return PMHMC_OK;
}

int cli_aux_write(FILE *f, const double *values, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c)
            fprintf(f, "%.17g%c", values[r * cols + c], c + 1 < cols ? ',' : '\n');
    return ferror(f) ? -1 : 0;
}
