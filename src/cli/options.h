/* "--name value" / "--name=value" options of simulate and log_prob. */
#ifndef PMHMC_CLI_OPTIONS_H
#define PMHMC_CLI_OPTIONS_H

#include <stddef.h>

typedef enum cli_opt_kind {
    CLI_OPT_COUNT,       /* size_t >= min_count */
    CLI_OPT_REAL,        /* double, finite */
    CLI_OPT_POSITIVE,    /* double, finite and > 0 */
    CLI_OPT_PROBABILITY, /* double in (0, 1) */
    CLI_OPT_SEED,        /* uint64_t */
    CLI_OPT_TEXT         /* const char *, pointing into argv */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    cli_opt_kind kind;
    void *target;
    size_t min_count; /* CLI_OPT_COUNT */
    int seen;         /* set by the parser */
} cli_opt;

/* Parses argv[1..argc) into the table. Returns 0, or prints the error
 * (naming the command and the option) and returns CLI_EXIT_USAGE. */
int cli_parse_options(const char *command, int argc, char **argv, cli_opt *opts, size_t n_opts);

/* The table entry of `name`, for checking `seen`. */
const cli_opt *cli_option(const cli_opt *opts, size_t n_opts, const char *name);

#endif
