/* The page of `pmhmc report`: see report_html.h. */
#include "cli/report_html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/report_surrogate.h"
#include "cli/report_svg.h"

static void esc(FILE *f, const char *s) { report_escape(f, s); }

static void cell(FILE *f, const char *fmt, double v, int bad)
{
    fputs(bad ? "<td class=\"bad\">" : "<td>", f);
    if (isnan(v))
        fputs("nan", f);
    else
        fprintf(f, fmt, v);
    fputs("</td>", f);
}

static void column(const table *t, size_t j, double *x) { cli_draws_column(t, j, x); }

static long find_column(const table *t, const char *name) { return cli_draws_find_column(t, name); }

static void summary_table(FILE *f, const table *t, const pmhmc_summary_stats *stats, const double *truth)
{
    fputs("<table class=\"summary\">\n<tr><th>name</th><th>Mean</th><th>MCSE</th><th>StdDev</th><th>MAD</th>"
          "<th>5%</th><th>50%</th><th>95%</th><th>ESS_bulk</th><th>ESS_tail</th><th>R_hat</th>",
          f);
    if (truth)
        fputs("<th>truth</th>", f);
    fputs("</tr>\n", f);
    double min_ess = 100.0 * (double)t->n_chains;
    size_t listed = 0;
    for (int pass = 0; pass < 2; ++pass) /* sampler columns first, as pmhmc summary */
        for (size_t j = 0; j < t->n_cols; ++j) {
            int sampler = cli_is_sampler_column(t->names[j]);
            if (sampler != (pass == 0) || listed++ >= REPORT_MAX_TABLE_ROWS)
                continue;
            const pmhmc_summary_stats *s = &stats[j];
            fputs("<tr><td>", f);
            esc(f, t->names[j]);
            fputs("</td>", f);
            cell(f, "%.4g", s->mean, 0);
            cell(f, "%.2g", s->mcse_mean, 0);
            cell(f, "%.3g", s->sd, 0);
            cell(f, "%.3g", s->mad, 0);
            cell(f, "%.4g", s->q5, 0);
            cell(f, "%.4g", s->q50, 0);
            cell(f, "%.4g", s->q95, 0);
            cell(f, "%.0f", s->ess_bulk, !sampler && s->ess_bulk < min_ess);
            cell(f, "%.0f", s->ess_tail, !sampler && s->ess_tail < min_ess);
            cell(f, "%.3f", s->rhat, !sampler && s->rhat > 1.01);
            if (truth) {
                if (isnan(truth[j]))
                    fputs("<td></td>", f);
                else
                    cell(f, "%.4g", truth[j], 0);
            }
            fputs("</tr>\n", f);
        }
    fputs("</table>\n", f);
    if (listed > REPORT_MAX_TABLE_ROWS)
        fprintf(f,
                "<p class=\"note\">The table lists the first %d of the %zu columns, to keep the page small; "
                "<code>pmhmc summary</code> prints them all.</p>\n",
                REPORT_MAX_TABLE_ROWS, listed);
    fprintf(f,
            "<p class=\"note\">The numbers are those of <code>pmhmc summary</code> (rank-normalized split R_hat, bulk and "
            "tail ESS as ArviZ computes them), shown to 3&#8211;4 significant digits. Red: R_hat above 1.01 or ESS below "
            "100 per chain (%.0f here).</p>\n",
            min_ess);
}

void report_chains_pick(report_chains *pick, size_t K)
{
    pick->total = K;
    pick->n = K < REPORT_MAX_TRACED ? K : REPORT_MAX_TRACED;
    for (size_t i = 0; i < pick->n; ++i)
        pick->index[i] = pick->n == K ? i : (i * (K - 1) + (pick->n - 1) / 2) / (pick->n - 1);
}

void report_chains_gather(const report_chains *pick, const double *x, size_t n, double *out)
{
    for (size_t i = 0; i < pick->n; ++i)
        memcpy(out + i * n, x + pick->index[i] * n, n * sizeof *out);
}

void report_chains_note(FILE *f, const report_chains *pick)
{
    if (pick->n == pick->total)
        return;
    fprintf(f, "<p class=\"note\">Per-chain plots show %zu of the %zu chains, spread evenly (chains", pick->n,
            pick->total);
    for (size_t i = 0; i < pick->n; ++i)
        fprintf(f, "%s %zu", i ? "," : "", pick->index[i] + 1);
    fputs("), to keep the page small; the table and the pooled histograms use every chain.</p>\n", f);
}

void report_legend(FILE *f, const report_chains *pick)
{
    fputs("<p class=\"legend\">", f);
    for (size_t c = 0; c < pick->n; ++c)
        fprintf(f, "<span><span class=\"swatch\" style=\"background:%s\"></span>chain %zu</span>", report_chain_colour(c),
                pick->index[c] + 1);
    fputs("</p>\n", f);
}

/* accept_stat__ traces and, per chain, the energy__ distribution beside the
 * distribution of its first differences, with E-BFMI. */
static int sampler_section(FILE *f, const table *t, const report_chains *pick, double *x, double *shown)
{
    size_t K = t->n_chains, n = t->chains[0].n_rows, m = pick->n;
    long ja = find_column(t, "accept_stat__"), je = find_column(t, "energy__");
    fputs("<h2>Sampler diagnostics</h2>\n", f);
    if (ja < 0 && je < 0) {
        fputs("<p>The files have no accept_stat__ or energy__ column.</p>\n", f);
        return 0;
    }
    report_legend(f, pick);
    fputs("<div class=\"param\">\n", f);
    if (ja >= 0) {
        column(t, (size_t)ja, x);
        report_chains_gather(pick, x, n, shown);
        report_svg_trace(f, "diag", "accept_stat__ (trace, per chain)", shown, m, n, NAN);
        report_series s[REPORT_MAX_TRACED];
        for (size_t c = 0; c < m; ++c)
            s[c] = (report_series){shown + c * n, n, report_chain_colour(c), NULL};
        report_svg_hist(f, "diag", "accept_stat__ (histogram, per chain)", s, m, NAN);
    }
    fputs("</div>\n", f);
    if (je < 0)
        return 0;
    column(t, (size_t)je, x);
    double *centred = malloc(n * sizeof *centred), *diff = malloc((n > 1 ? n - 1 : 1) * sizeof *diff);
    if (!centred || !diff) {
        free(centred);
        free(diff);
        return -1;
    }
    fputs("<p class=\"note\">Energy: per chain, the distribution of energy__ minus its mean beside the distribution of its "
          "first differences (as ArviZ&#8217;s plot_energy). When the differences are much narrower than the energy "
          "itself (E-BFMI below 0.3) the momentum resampling explores the energy levels slowly.</p>\n<div class=\"param\">\n",
          f);
    size_t low = 0, finite = 0, next_pick = 0;
    double least = INFINITY;
    size_t least_chain = 0;
    for (size_t c = 0; c < K; ++c) {
        const double *e = x + c * n;
        double mean = 0.0;
        for (size_t i = 0; i < n; ++i)
            mean += e[i];
        mean /= (double)n;
        double num = 0.0, den = 0.0;
        for (size_t i = 0; i < n; ++i) {
            centred[i] = e[i] - mean;
            den += centred[i] * centred[i];
            if (i > 0) {
                diff[i - 1] = e[i] - e[i - 1];
                num += diff[i - 1] * diff[i - 1];
            }
        }
        double bfmi = den > 0.0 && n > 1 ? num / den : NAN;
        if (isfinite(bfmi)) {
            finite++;
            low += bfmi < 0.3;
            if (bfmi < least) {
                least = bfmi;
                least_chain = c;
            }
        }
        if (next_pick < pick->n && pick->index[next_pick] == c) {
            next_pick++;
            char label[128];
            snprintf(label, sizeof label, "energy, chain %zu: E-BFMI %.2f", c + 1, bfmi);
            report_series s[2] = {{centred, n, "#4c72b0", "energy - mean"},
                                  {diff, n > 1 ? n - 1 : 0, "#dd8452", "first difference"}};
            report_svg_hist(f, "energy", label, s, 2, NAN);
        }
    }
    fputs("</div>\n", f);
    if (pick->n < K && finite)
        fprintf(f, "<p class=\"note\">E-BFMI over all %zu chains: least %.2f (chain %zu); below 0.3 in %zu.</p>\n", K,
                least, least_chain + 1, low);
    free(centred);
    free(diff);
    return 0;
}

int report_html_write(FILE *f, const table *t, const pmhmc_summary_stats *stats, const double *truth,
                      const char *truth_path)
{
    size_t K = t->n_chains, n = t->chains[0].n_rows;
    report_chains pick;
    report_chains_pick(&pick, K);
    double *x = malloc(K * n * sizeof *x), *shown = malloc((pick.n ? pick.n : 1) * n * sizeof *shown);
    if (!x || !shown) {
        free(x);
        free(shown);
        return -1;
    }
    fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
          "<title>pmhmc report</title>\n<style>\n",
          f);
    fputs(REPORT_STYLE, f);
    fputs("</style>\n</head>\n<body>\n<h1>pmhmc report</h1>\n<p>", f);
    fprintf(f, "%zu chain%s, each with %zu draws; %zu draws in all. Files:", K, K == 1 ? "" : "s", n, K * n);
    for (size_t i = 0; i < pick.n; ++i) {
        fputs(i ? ", " : " ", f);
        fprintf(f, "<code style=\"color:%s\">", report_chain_colour(i));
        esc(f, t->chains[pick.index[i]].path);
        fputs("</code>", f);
    }
    if (pick.n < K)
        fprintf(f, " and %zu more", K - pick.n);
    fputs(".", f);
    if (truth) {
        fputs(" True values from <code>", f);
        esc(f, truth_path);
        fputs("</code> (dashed black lines).", f);
    }
    fputs("</p>\n", f);
    size_t stride = (n + REPORT_MAX_POINTS - 1) / REPORT_MAX_POINTS;
    if (stride > 1)
        fprintf(f,
                "<p class=\"note\">Trace plots are thinned: they show one draw in every %zu (at most %d points per chain); "
                "the histograms and the table use every draw.</p>\n",
                stride, REPORT_MAX_POINTS);

    fputs("<h2>Summary</h2>\n", f);
    summary_table(f, t, stats, truth);

    fputs("<h2>Parameters</h2>\n<p class=\"note\">Left: trace of each chain; right: histogram of all chains pooled.</p>\n", f);
    report_chains_note(f, &pick);
    report_legend(f, &pick);
    size_t plotted = 0, params = 0;
    for (size_t j = 0; j < t->n_cols; ++j) {
        if (cli_is_sampler_column(t->names[j]) || params++ >= REPORT_MAX_PLOTTED)
            continue;
        ++plotted;
        double tv = truth ? truth[j] : NAN;
        column(t, j, x);
        report_chains_gather(&pick, x, n, shown);
        fputs("<div class=\"param\">\n", f);
        report_svg_trace(f, "trace", t->names[j], shown, pick.n, n, tv);
        report_series s = {x, K * n, "#4c72b0", NULL};
        report_svg_hist(f, "hist", t->names[j], &s, 1, tv);
        fputs("</div>\n", f);
    }
    if (params > plotted)
        fprintf(f,
                "<p class=\"note\">The plots show the first %zu of the %zu parameters, to keep the page small "
                "(a few kB per plot).</p>\n",
                plotted, params);
    int rc = sampler_section(f, t, &pick, x, shown);
    if (rc == 0)
        rc = report_surrogate_section(f, t, &pick, x, shown);
    fputs("</body>\n</html>\n", f);
    free(x);
    free(shown);
    return rc;
}
