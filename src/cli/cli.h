/* The pmhmc command-line tool: commands, exit codes, error reporting.
 *
 * Exit codes: 0 success; 1 the command line, the config or an input file is
 * wrong (nothing was run); 2 a failure while running or writing results.
 * Every error is one line on stderr starting with "pmhmc: ". */
#ifndef PMHMC_CLI_CLI_H
#define PMHMC_CLI_CLI_H

#include "pmhmc/status.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_USAGE = 1, CLI_EXIT_RUNTIME = 2 };

/* Prints "pmhmc: <message>" as one line on stderr and returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int cli_fail(int code, const char *fmt, ...);

/* Prints the library's message in err, or the status's own when err is
 * empty, and returns code. */
int cli_fail_status(int code, pmhmc_status status, const pmhmc_error *err);

/* Each command takes its own arguments (argv[0] is the command's name) and
 * returns the exit code. */
int cli_simulate(int argc, char **argv);
int cli_sample(int argc, char **argv);
int cli_log_prob(int argc, char **argv);
int cli_summarize(int argc, char **argv); /* the summary command */
int cli_report(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_pipeline(int argc, char **argv); /* sample (collect), train, sample (hnn_hmc) */
int cli_noise(int argc, char **argv);

/* Whether argv holds --help or -h; commands print their help then. */
int cli_wants_help(int argc, char **argv);

#endif
