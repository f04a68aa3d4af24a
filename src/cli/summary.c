#include "cli/summary.h"
#include "cli/stat_format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/truth_csv.h"
#include "pmhmc/diagnostics.h"

int cli_summary_init(cli_summary *s, size_t n_cols, const char **names)
{
    memset(s, 0, sizeof *s);
    s->n_cols = n_cols;
    s->names = names;
    s->mean = calloc(n_cols ? n_cols : 1, sizeof *s->mean);
    s->m2 = calloc(n_cols ? n_cols : 1, sizeof *s->m2);
    if (!s->mean || !s->m2) {
        cli_summary_free(s);
        return -1;
    }
    return 0;
}

void cli_summary_free(cli_summary *s)
{
    free(s->mean);
    free(s->m2);
    free(s->truth);
    memset(s, 0, sizeof *s);
}

pmhmc_status cli_summary_set_truth(cli_summary *s, const char *path, pmhmc_error *err)
{
    s->truth = calloc(s->n_cols ? s->n_cols : 1, sizeof *s->truth);
    if (!s->truth)
        return PMHMC_ERR_NOMEM;
    return cli_truth_read(path, s->n_cols, s->names, s->truth, err);
}

/* Welford's update: stable for long runs with a large mean. */
void cli_summary_add(cli_summary *s, const double *values, int accepted)
{
    ++s->n_draws;
    s->n_accepted += accepted != 0;
    for (size_t i = 0; i < s->n_cols; ++i) {
        double delta = values[i] - s->mean[i];
        s->mean[i] += delta / (double)s->n_draws;
        s->m2[i] += delta * (values[i] - s->mean[i]);
    }
}

void cli_summary_merge(cli_summary *s, const cli_summary *from)
{
    if (from->n_draws == 0)
        return;
    double na = (double)s->n_draws, nb = (double)from->n_draws, n = na + nb;
    for (size_t i = 0; i < s->n_cols; ++i) {
        double delta = from->mean[i] - s->mean[i];
        s->mean[i] += delta * (nb / n);
        s->m2[i] += from->m2[i] + delta * delta * (na * nb / n);
    }
    s->n_draws += from->n_draws;
    s->n_accepted += from->n_accepted;
}

void cli_summary_print(const cli_summary *s, FILE *f)
{
    int width = 9;
    for (size_t i = 0; i < s->n_cols; ++i)
        if ((int)strlen(s->names[i]) > width)
            width = (int)strlen(s->names[i]);
    fprintf(f, "%-*s %14s %14s", width, "parameter", "mean", "sd");
    if (s->truth)
        fprintf(f, " %14s %10s", "truth", "(mean-truth)/sd");
    fputc('\n', f);
    for (size_t i = 0; i < s->n_cols; ++i) {
        double sd = s->n_draws > 1 ? sqrt(s->m2[i] / (double)(s->n_draws - 1)) : NAN;
        fprintf(f, "%-*s %14.6g %14.6g", width, s->names[i], s->mean[i], sd);
        if (s->truth)
            fprintf(f, " %14.6g %10.2f", s->truth[i], (s->mean[i] - s->truth[i]) / sd);
        fputc('\n', f);
    }
    fprintf(f, "acceptance rate: %.4f (%zu of %zu saved transitions)\n",
            s->n_draws ? (double)s->n_accepted / (double)s->n_draws : NAN, s->n_accepted, s->n_draws);
}

/* 9 statistics, nested R-hat (with superchains), then truth and
 * (mean-truth)/sd (with --truth). */
enum { N_DIAG = 12, DIAG_NESTED = 9, DIAG_TRUTH = 10 };
static const char *const DIAG_HEADERS[N_DIAG] = {"Mean",     "MCSE",     "StdDev", "5%",     "50%",   "95%",
                                                 "ESS_bulk", "ESS_tail", "R_hat",  "nR_hat", "truth", "(mean-truth)/sd"};

static void format_stats(const pmhmc_summary_stats *st, double nested, double truth, char cells[N_DIAG][32])
{
    cli_fmt_sig(cells[0], 32, st->mean);
    cli_fmt_mcse(cells[1], 32, st->mcse_mean);
    cli_fmt_sig(cells[2], 32, st->sd);
    cli_fmt_sig(cells[3], 32, st->q5);
    cli_fmt_sig(cells[4], 32, st->q50);
    cli_fmt_sig(cells[5], 32, st->q95);
    cli_fmt_ess(cells[6], 32, st->ess_bulk);
    cli_fmt_ess(cells[7], 32, st->ess_tail);
    cli_fmt_rhat(cells[8], 32, st->rhat);
    cli_fmt_rhat(cells[9], 32, nested);
    snprintf(cells[10], 32, "%.6g", truth);
    snprintf(cells[11], 32, "%.2f", (st->mean - truth) / st->sd);
}

int cli_summary_print_diagnostics(const cli_summary *s, const double *draws, size_t n_chains, size_t n_draws,
                                  size_t n_superchains, FILE *f)
{
    size_t n = n_chains * n_draws, n_cols = s->n_cols;
    pmhmc_summary_stats *stats = calloc(n_cols ? n_cols : 1, sizeof *stats);
    double *nested = calloc(n_cols ? n_cols : 1, sizeof *nested);
    char(*cells)[N_DIAG][32] = calloc(n_cols ? n_cols : 1, sizeof *cells);
    if (!stats || !cells || !nested) {
        free(stats);
        free(nested);
        free(cells);
        return -1;
    }
    for (size_t j = 0; j < n_cols; ++j) {
        const double *x = draws + j * n;
        if (pmhmc_summarize(x, n_chains, n_draws, &stats[j]) != PMHMC_OK) {
            free(stats);
            free(nested);
            free(cells);
            return -1;
        }
        nested[j] = n_superchains ? pmhmc_rhat_nested(x, n_chains, n_draws, n_superchains) : NAN;
        int constant = 1;
        for (size_t i = 1; i < n && constant; ++i)
            constant = x[i] == x[0];
        if (constant) { /* as `pmhmc summary` (and stansummary) shows it */
            stats[j].mcse_mean = stats[j].ess_bulk = stats[j].ess_tail = stats[j].rhat = NAN;
            stats[j].mean = x[0];
            stats[j].sd = 0.0;
        }
    }
    int show[N_DIAG];
    for (int k = 0; k < N_DIAG; ++k)
        show[k] = (k != DIAG_NESTED || n_superchains) && (k < DIAG_TRUTH || s->truth);
    size_t w[N_DIAG], name_w = 9;
    for (int k = 0; k < N_DIAG; ++k)
        w[k] = strlen(DIAG_HEADERS[k]);
    for (size_t j = 0; j < n_cols; ++j) {
        format_stats(&stats[j], nested[j], s->truth ? s->truth[j] : NAN, cells[j]);
        size_t len = strlen(s->names[j]);
        name_w = len > name_w ? len : name_w;
        for (int k = 0; k < N_DIAG; ++k) {
            size_t l = strlen(cells[j][k]);
            w[k] = l > w[k] ? l : w[k];
        }
    }
    fprintf(f, "%-*s", (int)name_w, "parameter");
    for (int k = 0; k < N_DIAG; ++k)
        if (show[k])
            fprintf(f, "  %*s", (int)w[k], DIAG_HEADERS[k]);
    fputc('\n', f);
    for (size_t j = 0; j < n_cols; ++j) {
        fprintf(f, "%-*s", (int)name_w, s->names[j]);
        for (int k = 0; k < N_DIAG; ++k)
            if (show[k])
                fprintf(f, "  %*s", (int)w[k], cells[j][k]);
        fputc('\n', f);
    }
    fprintf(f, "acceptance rate: %.4f (%zu of %zu saved transitions)\n",
            s->n_draws ? (double)s->n_accepted / (double)s->n_draws : NAN, s->n_accepted, s->n_draws);
    size_t bad = 0;
    for (size_t j = 0; j < n_cols; ++j)
        if (stats[j].rhat > 1.01)
            fprintf(f, "%s%s", bad++ ? ", " : "Warning: R_hat greater than 1.01 for: ", s->names[j]);
    if (bad)
        fprintf(f, "\nThe chains have not mixed: estimates from them are unreliable. Run longer chains, more of "
                   "them,\nor reparameterize the model.\n");
    bad = 0;
    for (size_t j = 0; j < n_cols; ++j)
        if (nested[j] > 1.01)
            fprintf(f, "%s%s", bad++ ? ", " : "Warning: nR_hat greater than 1.01 for: ", s->names[j]);
    if (bad)
        fprintf(f, "\nThe superchains still remember where they started: run longer warm-up, or more chains.\n");
    free(nested);
    free(stats);
    free(cells);
    return 0;
}
