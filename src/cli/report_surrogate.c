/* The report's surrogate section: see report_surrogate.h. */
#include "cli/report_surrogate.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

#include "cli/out_file.h"
#include "cli/report_html.h"
#include "cli/report_svg.h"
#include "cli/train_page.h"

/* Column j's sum over chain c, and how many of its rows are 0. */
static double chain_sum(const table *t, long j, size_t c, size_t *zeros)
{
    double s = 0.0;
    size_t z = 0;
    for (size_t i = 0; j >= 0 && i < t->chains[c].n_rows; ++i) {
        double v = t->chains[c].rows[i * t->n_cols + (size_t)j];
        s += v;
        z += v == 0.0;
    }
    if (zeros)
        *zeros = z;
    return s;
}

/* The network and its training curves, read from the training log (the
 * header's hnn.train_log, or the weights' path with _log.csv). */
static int training_section(FILE *f, const chain_file *cf)
{
    fputs("<p>The network: <code>", f);
    report_escape(f, cf->weights);
    fputs("</code>.", f);
    char *log = cf->train_log ? strdup(cf->train_log) : cli_path_with_suffix(cf->weights, "_log.csv");
    if (!log)
        return -1;
    train_curve curve;
    size_t best;
    if (train_curve_read(log, &curve, &best) != 0) {
        fputs(" Its training log <code>", f);
        report_escape(f, log);
        fputs("</code> could not be read, so its training curves are not shown.</p>\n", f);
        free(log);
        return 0;
    }
    fprintf(f, " Its training (from <code>");
    report_escape(f, log);
    fprintf(f, "</code>): %zu epochs, the weights of epoch %zu, the lowest validation loss (dashed).</p>\n", curve.n,
            best);
    int rc = train_page_curves(f, &curve, best, 3);
    train_curve_free(&curve);
    free(log);
    return rc;
}

int report_surrogate_section(FILE *f, const table *t, const report_chains *pick, double *x, double *shown)
{
    const long j_monitor = cli_draws_find_column(t, "monitor_error__");
    const long j_error = j_monitor >= 0 ? j_monitor : cli_draws_find_column(t, "surrogate_error__");
    if (j_error < 0)
        return 0;
    const int nuts = j_monitor >= 0;
    const long j_accepted = cli_draws_find_column(t, "accepted__"), j_est = cli_draws_find_column(t, "n_estimator__");
    const long j_grad = cli_draws_find_column(t, "n_gradient__"), j_fallback = cli_draws_find_column(t, "fallback__");
    const long j_surrogate = cli_draws_find_column(t, "surrogate__");
    const size_t K = t->n_chains, n = t->chains[0].n_rows;

    fputs("<h2>Surrogate</h2>\n", f);
    if (t->chains[0].weights && training_section(f, &t->chains[0]) != 0)
        return -1;
    fputs("<table class=\"summary\">\n<tr><th>chain</th><th>acceptance rate</th><th>estimator evaluations</th>", f);
    if (nuts)
        fputs("<th>with gradients</th><th>fallback events</th><th>cooldown draws</th>", f);
    fputs("</tr>\n", f);
    for (size_t i = 0; i < pick->n; ++i) {
        const size_t c = pick->index[i];
        fprintf(f, "<tr><td>%zu</td><td>%.3f</td><td>%.0f</td>", c + 1, n ? chain_sum(t, j_accepted, c, NULL) / n : NAN,
                chain_sum(t, j_est, c, NULL));
        if (nuts) {
            size_t cooldown = 0;
            chain_sum(t, j_surrogate, c, &cooldown);
            fprintf(f, "<td>%.0f</td><td>%.0f</td><td>%zu</td>", chain_sum(t, j_grad, c, NULL),
                    chain_sum(t, j_fallback, c, NULL), j_surrogate >= 0 ? cooldown : 0);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    fputs(nuts ? "<p class=\"note\">Saved draws only. A fallback event is a tree whose monitored error passed "
                 "hnn.max_error; in surrogate mode the tree then finished on the true gradient and the next "
                 "hnn.cooldown transitions ran real PM-NUTS (cooldown draws).</p>\n"
               : "<p class=\"note\">Saved draws only. In exact mode a proposal costs one estimator evaluation when it "
                 "passes the surrogate&#8217;s test; the acceptance rate is that of both tests.</p>\n",
          f);
    report_chains_note(f, pick);
    report_legend(f, pick);
    cli_draws_column(t, (size_t)j_error, x);
    for (size_t i = 0; i < K * n; ++i)
        if (!isfinite(x[i]))
            x[i] = NAN;
    report_chains_gather(pick, x, n, shown);
    fputs("<div class=\"param\">\n", f);
    report_svg_trace(f, "diag", nuts ? "monitor_error__ (trace, per chain)" : "surrogate_error__ (trace, per chain)",
                     shown, pick->n, n, NAN);
    fputs("</div>\n", f);
    return 0;
}
