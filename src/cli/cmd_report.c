/* pmhmc report: one self-contained HTML page (summary table, trace plots,
 * histograms, acceptance and energy diagnostics) of one or more draws files
 * (one file = one chain). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/path_guard.h"
#include "cli/report_write.h"

static const char HELP[] =
    "usage: pmhmc report FILE... [--truth truth.csv] -o report.html\n"
    "\n"
    "Writes one self-contained HTML page (inline SVG, no scripts, nothing fetched) about\n"
    "draws files in CmdStan's CSV layout, one file per chain (the same files as pmhmc\n"
    "summary takes): the summary table of pmhmc summary; per parameter a trace plot with\n"
    "one colour per chain and a histogram of all chains pooled; the accept_stat__ trace\n"
    "and histogram of each chain; the energy__ distribution of each chain beside that of\n"
    "its first differences, with E-BFMI. Traces are thinned to at most 1000 points per\n"
    "chain. The page appears whole or not at all.\n"
    "\n"
    "  -o, --output FILE   the HTML file to write (required)\n"
    "  --truth FILE        true values, 'name,value' rows after a header line (as\n"
    "                      pmhmc simulate writes truth.csv): dashed lines on the plots\n"
    "                      and a column in the table\n";

int cli_report(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    const char *out_path = NULL, *truth_path = NULL;
    char **paths = malloc((size_t)argc * sizeof *paths);
    if (!paths)
        return cli_fail(CLI_EXIT_RUNTIME, "report: out of memory");
    size_t n_files = 0;
    for (int i = 1; i < argc; ++i) {
        const char **dest = NULL;
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0)
            dest = &out_path;
        else if (strcmp(argv[i], "--truth") == 0)
            dest = &truth_path;
        if (dest) {
            if (i + 1 >= argc) {
                free(paths);
                return cli_fail(CLI_EXIT_USAGE, "report: %s needs a file name (see pmhmc report --help)", argv[i]);
            }
            *dest = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            free(paths);
            return cli_fail(CLI_EXIT_USAGE, "report: unknown option '%s' (see pmhmc report --help)", argv[i]);
        } else {
            paths[n_files++] = argv[i];
        }
    }
    if (n_files == 0) {
        free(paths);
        return cli_fail(CLI_EXIT_USAGE, "report: no draws files given (see pmhmc report --help)");
    }
    if (!out_path) {
        free(paths);
        return cli_fail(CLI_EXIT_USAGE, "report: no output file given; use -o report.html (see pmhmc report --help)");
    }

    /* The page must not replace a draws file or the truth it reads. */
    cli_paths guard = {0};
    for (size_t i = 0; i < n_files; ++i)
        cli_paths_input(&guard, "a draws file", paths[i]);
    cli_paths_input(&guard, "--truth", truth_path);
    cli_paths_output(&guard, "-o", out_path);
    int rc = cli_paths_check(&guard);
    cli_paths_free(&guard);
    if (rc == CLI_EXIT_OK)
        rc = cli_report_write("report", n_files, paths, truth_path, out_path);
    free(paths);
    return rc;
}
