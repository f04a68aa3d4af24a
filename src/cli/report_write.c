#include "cli/report_write.h"

#include <math.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/draws_read.h"
#include "cli/out_file.h"
#include "cli/report_html.h"
#include "cli/truth_csv.h"
#include "pmhmc/diagnostics.h"

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

int cli_report_write(const char *cmd, size_t n_paths, char *const *paths, const char *truth_path,
                     const char *out_path)
{
    table t;
    int rc = cli_draws_read(cmd, n_paths, paths, &t);
    pmhmc_summary_stats *stats = NULL;
    double *truth = NULL;
    if (rc == 0) {
        stats = calloc(t.n_cols, sizeof *stats);
        if (!stats || summarize(&t, stats) != 0)
            rc = cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
    }
    if (rc == 0 && truth_path) {
        pmhmc_error err = {0};
        truth = malloc(t.n_cols * sizeof *truth);
        if (!truth)
            rc = cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
        else {
            pmhmc_status st = cli_truth_read(truth_path, t.n_cols, (const char *const *)t.names, truth, &err);
            if (st != PMHMC_OK)
                rc = cli_fail(CLI_EXIT_USAGE, "%s: %s", cmd, err.message[0] ? err.message : pmhmc_status_str(st));
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
            rc = cli_fail(CLI_EXIT_RUNTIME, "%s: out of memory", cmd);
        } else if ((st = cli_out_commit(&out, &err)) != PMHMC_OK) {
            rc = cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
        }
    }
    free(truth);
    free(stats);
    cli_draws_free(&t);
    return rc;
}
