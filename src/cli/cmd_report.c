/* pmhmc report: one self-contained HTML page (summary table, trace plots,
 * histograms, acceptance and energy diagnostics) of one or more draws files
 * (one file = one chain). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/draws_read.h"
#include "cli/out_file.h"
#include "cli/report_html.h"
#include "cli/truth_csv.h"
#include "pmhmc/diagnostics.h"

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

/* As pmhmc summary: draws that are all equal show nan diagnostics. */
static int summarize(const table *t, pmhmc_summary_stats *stats)
{
    size_t K = t->n_chains, n = t->chains[0].n_rows;
    double *x = malloc(K * n * sizeof *x);
    if (!x)
        return -1;
    int rc = 0;
    for (size_t j = 0; j < t->n_cols && rc == 0; ++j) {
        for (size_t c = 0; c < K; ++c)
            for (size_t i = 0; i < n; ++i)
                x[c * n + i] = t->chains[c].rows[i * t->n_cols + j];
        pmhmc_summary_stats *s = &stats[j];
        if (pmhmc_summarize(x, K, n, s) != PMHMC_OK) {
            rc = -1;
            break;
        }
        int constant = 1;
        for (size_t i = 1; i < K * n && constant; ++i)
            constant = x[i] == x[0];
        if (constant) {
            s->mcse_mean = s->ess_bulk = s->ess_tail = s->rhat = NAN;
            s->mean = x[0];
            s->sd = s->mad = 0.0;
        }
    }
    free(x);
    return rc;
}

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

    table t;
    int rc = cli_draws_read("report", n_files, paths, &t);
    pmhmc_summary_stats *stats = NULL;
    double *truth = NULL;
    if (rc == 0) {
        stats = calloc(t.n_cols, sizeof *stats);
        if (!stats || summarize(&t, stats) != 0)
            rc = cli_fail(CLI_EXIT_RUNTIME, "report: out of memory");
    }
    if (rc == 0 && truth_path) {
        pmhmc_error err = {0};
        truth = malloc(t.n_cols * sizeof *truth);
        if (!truth)
            rc = cli_fail(CLI_EXIT_RUNTIME, "report: out of memory");
        else {
            pmhmc_status st = cli_truth_read(truth_path, t.n_cols, (const char *const *)t.names, truth, &err);
            if (st != PMHMC_OK) {
                rc = cli_fail(CLI_EXIT_USAGE, "report: %s", err.message[0] ? err.message : pmhmc_status_str(st));
            }
        }
    }
    if (rc == 0) {
        pmhmc_error err = {0};
        cli_out out;
        pmhmc_status st = cli_out_open(&out, out_path, &err);
        if (st != PMHMC_OK) {
            rc = cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
        } else if (report_html_write(out.f, &t, stats, truth, truth_path) != 0) {
            cli_out_abort(&out);
            rc = cli_fail(CLI_EXIT_RUNTIME, "report: out of memory");
        } else if ((st = cli_out_commit(&out, &err)) != PMHMC_OK) {
            rc = cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
        }
    }
    free(truth);
    free(stats);
    cli_draws_free(&t);
    free(paths);
    return rc;
}
