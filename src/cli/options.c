#include "cli/options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int parse_u64(const char *text, unsigned long long *out)
{
    if (!isdigit((unsigned char)text[0]))
        return -1;
    char *end;
    errno = 0;
    *out = strtoull(text, &end, 10);
    return *end || errno == ERANGE ? -1 : 0;
}

static int parse_double(const char *text, double *out)
{
    char *end;
    *out = strtod(text, &end);
    return end == text || *end || !isfinite(*out) ? -1 : 0;
}

static int set_option(const char *command, cli_opt *o, const char *value)
{
    unsigned long long u = 0;
    double x = 0.0;
    switch (o->kind) {
    case CLI_OPT_COUNT:
        if (parse_u64(value, &u) != 0 || u < o->min_count || u > SIZE_MAX)
            return cli_fail(CLI_EXIT_USAGE, "%s: --%s '%s': expected an integer >= %zu", command, o->name,
                            value, o->min_count);
        *(size_t *)o->target = (size_t)u;
        return 0;
    case CLI_OPT_SEED:
        if (parse_u64(value, &u) != 0)
            return cli_fail(CLI_EXIT_USAGE, "%s: --%s '%s': expected an integer in [0, 2^64)", command,
                            o->name, value);
        *(uint64_t *)o->target = (uint64_t)u;
        return 0;
    case CLI_OPT_REAL:
    case CLI_OPT_POSITIVE:
    case CLI_OPT_PROBABILITY: {
        int bad = parse_double(value, &x) != 0 || (o->kind == CLI_OPT_POSITIVE && !(x > 0.0)) ||
                  (o->kind == CLI_OPT_PROBABILITY && !(x > 0.0 && x < 1.0));
        if (bad)
            return cli_fail(CLI_EXIT_USAGE, "%s: --%s '%s': expected %s", command, o->name, value,
                            o->kind == CLI_OPT_REAL       ? "a finite number"
                            : o->kind == CLI_OPT_POSITIVE ? "a positive number"
                                                          : "a number in (0, 1)");
        *(double *)o->target = x;
        return 0;
    }
    case CLI_OPT_TEXT:
        if (!*value)
            return cli_fail(CLI_EXIT_USAGE, "%s: --%s: expected a value, got an empty one", command, o->name);
        *(const char **)o->target = value;
        return 0;
    }
    return 0;
}

int cli_parse_options(const char *command, int argc, char **argv, cli_opt *opts, size_t n_opts)
{
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0)
            return cli_fail(CLI_EXIT_USAGE, "%s: unexpected argument '%s' (see pmhmc %s --help)", command, arg,
                            command);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        cli_opt *o = NULL;
        for (size_t k = 0; k < n_opts; ++k)
            if (strlen(opts[k].name) == name_len && strncmp(opts[k].name, name, name_len) == 0)
                o = &opts[k];
        if (!o)
            return cli_fail(CLI_EXIT_USAGE, "%s: unknown option '%.*s' (see pmhmc %s --help)", command,
                            (int)(name_len + 2), arg, command);
        if (o->seen)
            return cli_fail(CLI_EXIT_USAGE, "%s: --%s is given twice", command, o->name);
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc)
                return cli_fail(CLI_EXIT_USAGE, "%s: --%s needs a value", command, o->name);
            value = argv[++i];
        }
        if (set_option(command, o, value) != 0)
            return CLI_EXIT_USAGE;
        o->seen = 1;
    }
    return 0;
}

const cli_opt *cli_option(const cli_opt *opts, size_t n_opts, const char *name)
{
    for (size_t k = 0; k < n_opts; ++k)
        if (strcmp(opts[k].name, name) == 0)
            return &opts[k];
    return NULL;
}
