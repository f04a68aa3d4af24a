/* Writing the page of `pmhmc report` from draws files on disk: shared by
 * `pmhmc report` and the end of `pmhmc sample` (output.report), so the page
 * sample leaves beside its draws is the one `pmhmc report` would write. */
#ifndef PMHMC_CLI_REPORT_WRITE_H
#define PMHMC_CLI_REPORT_WRITE_H

#include <stddef.h>

/* Reads the n_paths draws files (one per chain), summarizes every column as
 * `pmhmc summary` does, reads truth_path (NULL: none) and writes the page to
 * out_path atomically (src/cli/out_file.h): whole or not at all. Returns
 * CLI_EXIT_OK, or an exit code after printing one "pmhmc: <cmd>: ..." line
 * (CLI_EXIT_USAGE for bad input files, CLI_EXIT_RUNTIME otherwise). */
int cli_report_write(const char *cmd, size_t n_paths, char *const *paths, const char *truth_path,
                     const char *out_path);

#endif
