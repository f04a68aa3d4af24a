#include "cli/truth_csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

pmhmc_status cli_truth_read(const char *path, size_t n, const char *const *names, double *values,
                            pmhmc_error *err)
{
    for (size_t i = 0; i < n; ++i)
        values[i] = NAN;
    FILE *f = fopen(path, "r");
    if (!f)
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    pmhmc_status st = PMHMC_OK;
    for (int lineno = 1; st == PMHMC_OK && getline(&line, &cap, f) >= 0; ++lineno) {
        line[strcspn(line, "\r\n")] = '\0';
        if (lineno == 1 && strcmp(line, "name,value") == 0)
            continue;
        if (!*line)
            continue;
        char *comma = strchr(line, ',');
        char *end = NULL;
        double v = comma ? strtod(comma + 1, &end) : NAN;
        if (!comma || end == comma + 1 || *end != '\0' || !isfinite(v)) {
            st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s:%d: expected 'name,value' with a finite number", path, lineno);
            break;
        }
        *comma = '\0';
        for (size_t i = 0; i < n; ++i)
            if (strcmp(line, names[i]) == 0)
                values[i] = v;
    }
    if (st == PMHMC_OK && ferror(f))
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    return st;
}
