/* pmhmc summary: the posterior summary and convergence diagnostics of one
 * or more draws files (one file = one chain), laid out as CmdStan's
 * stansummary (2.36+) lays them out. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/stat_format.h"
#include "cli/draws_read.h"
#include "pmhmc/diagnostics.h"

static const char HELP[] =
    "usage: pmhmc summary FILE... [--csv] [--superchains S]\n"
    "\n"
    "Summarizes draws files in CmdStan's CSV layout, one file per chain (lines starting\n"
    "with # are comments; every file must have the same columns and the same number of\n"
    "draws). For each column, sampler columns (ending in __) first:\n"
    "  Mean, MCSE (of the mean), StdDev, MAD (median absolute deviation x 1.4826),\n"
    "  5%, 50%, 95% quantiles, ESS_bulk, ESS_tail, ESS_bulk/s (bulk ESS per second of\n"
    "  sampling, summed over chains; shown when every file records its elapsed time)\n"
    "  and R_hat (rank-normalized split R-hat, the larger of bulk and tail).\n"
    "Diagnostics follow Vehtari et al. (2021) as ArviZ computes them; a column whose\n"
    "draws are all equal shows nan for MCSE, ESS and R_hat, as stansummary does.\n"
    "Warns when a parameter's R_hat exceeds 1.01 or its ESS_bulk or ESS_tail is below\n"
    "100 per chain.\n"
    "\n"
    "  --csv            write the table as CSV on stdout (warnings go to stderr)\n"
    "  --superchains S  the files (in the order given) are S superchains of equal\n"
    "                   size, the chains of each started from one point (pmhmc\n"
    "                   sample's sampler.superchains): adds nR_hat, the nested R-hat\n"
    "                   of Margossian et al. (2024) for many short chains, and warns\n"
    "                   above 1.01. S from 2 to the number of files, dividing it.\n";

static int is_sampler_column(const char *name)
{
    return cli_is_sampler_column(name);
}

/* One row of the table. */
typedef struct row {
    const char *name;
    pmhmc_summary_stats s;
    double ess_per_s;
    double rhat_nested; /* NaN without superchains */
} row;

enum { N_STATS = 12, COL_RATE = 9, COL_NESTED = 11 };
static const char *const HEADERS[N_STATS] = {"Mean",     "MCSE",     "StdDev",     "MAD",   "5%",    "50%",
                                             "95%",      "ESS_bulk", "ESS_tail",   "ESS_bulk/s", "R_hat", "nR_hat"};

/* Which optional columns the table has. */
typedef struct shown_columns {
    int rate, nested;
} shown_columns;

static int shown(int k, shown_columns on)
{
    return (k != COL_RATE || on.rate) && (k != COL_NESTED || on.nested);
}

static void format_row(const row *r, char cells[N_STATS][32])
{
    const pmhmc_summary_stats *s = &r->s;
    cli_fmt_sig(cells[0], 32, s->mean);
    cli_fmt_mcse(cells[1], 32, s->mcse_mean);
    cli_fmt_sig(cells[2], 32, s->sd);
    cli_fmt_sig(cells[3], 32, s->mad);
    cli_fmt_sig(cells[4], 32, s->q5);
    cli_fmt_sig(cells[5], 32, s->q50);
    cli_fmt_sig(cells[6], 32, s->q95);
    cli_fmt_ess(cells[7], 32, s->ess_bulk);
    cli_fmt_ess(cells[8], 32, s->ess_tail);
    cli_fmt_ess(cells[9], 32, r->ess_per_s);
    cli_fmt_rhat(cells[10], 32, s->rhat);
    cli_fmt_rhat(cells[11], 32, r->rhat_nested);
}

static void print_times(const table *t, int warmup)
{
    double total = 0.0;
    printf("%s took (", warmup ? "Warmup" : "Sampling");
    for (size_t c = 0; c < t->n_chains; ++c) {
        double v = warmup ? t->chains[c].warmup_s : t->chains[c].sampling_s;
        total += v;
        printf("%s%.2g", c ? ", " : "", v);
    }
    printf(") seconds, %.2g seconds total\n", total);
}

static void print_table(const table *t, const row *rows, size_t n_rows, shown_columns on, size_t superchains)
{
    size_t name_w = 0;
    size_t w[N_STATS];
    char(*cells)[N_STATS][32] = malloc((n_rows ? n_rows : 1) * sizeof *cells);
    if (!cells)
        return;
    for (int k = 0; k < N_STATS; ++k)
        w[k] = strlen(HEADERS[k]);
    for (size_t i = 0; i < n_rows; ++i) {
        format_row(&rows[i], cells[i]);
        size_t len = strlen(rows[i].name);
        name_w = len > name_w ? len : name_w;
        for (int k = 0; k < N_STATS; ++k) {
            size_t l = strlen(cells[i][k]);
            w[k] = l > w[k] ? l : w[k];
        }
    }
    size_t draws = t->chains[0].n_rows;
    printf("Inference for pmhmc draws\n");
    printf("%zu chain%s: each with %zu draws; %zu draws in all.\n", t->n_chains, t->n_chains == 1 ? "" : "s", draws,
           draws * t->n_chains);
    if (on.nested)
        printf("%zu superchains of %zu chains each (files in the order given).\n", superchains,
               t->n_chains / superchains);
    printf("\n");
    int all_warmup = 1;
    for (size_t c = 0; c < t->n_chains; ++c)
        all_warmup &= t->chains[c].has_warmup;
    if (all_warmup)
        print_times(t, 1);
    if (on.rate)
        print_times(t, 0);
    if (all_warmup || on.rate)
        printf("\n");

    printf("%-*s", (int)name_w, "");
    for (int k = 0; k < N_STATS; ++k)
        if (shown(k, on))
            printf("  %*s", (int)w[k], HEADERS[k]);
    printf("\n\n");
    for (size_t i = 0; i < n_rows; ++i) {
        if (i > 0 && is_sampler_column(rows[i - 1].name) && !is_sampler_column(rows[i].name))
            printf("\n");
        printf("%-*s", (int)name_w, rows[i].name);
        for (int k = 0; k < N_STATS; ++k)
            if (shown(k, on))
                printf("  %*s", (int)w[k], cells[i][k]);
        printf("\n");
    }
    free(cells);
    printf("\nSamples were drawn using pseudo-marginal HMC (pmhmc).\n"
           "For each parameter, ESS_bulk and ESS_tail measure the effective sample size for the entire sample\n"
           "(bulk) and for the .05 and .95 tails (tail), and R_hat measures the potential scale reduction on\n"
           "split chains. At convergence R_hat will be very close to 1.00.\n");
    if (on.nested)
        printf("nR_hat is nested R_hat (Margossian et al. 2024): whether superchains started apart have forgotten\n"
               "their starts; with many short chains it stays near 1.00 where R_hat cannot.\n");
}

static void print_csv(const row *rows, size_t n_rows, shown_columns on)
{
    printf("name");
    for (int k = 0; k < N_STATS; ++k)
        if (shown(k, on))
            printf(",%s", HEADERS[k]);
    printf("\n");
    for (size_t i = 0; i < n_rows; ++i) {
        const pmhmc_summary_stats *s = &rows[i].s;
        const double v[N_STATS] = {s->mean,     s->mcse_mean, s->sd,   s->mad,
                                   s->q5,       s->q50,       s->q95,  s->ess_bulk,
                                   s->ess_tail, rows[i].ess_per_s, s->rhat, rows[i].rhat_nested};
        printf("\"%s\"", rows[i].name);
        for (int k = 0; k < N_STATS; ++k)
            if (shown(k, on))
                printf(",%.9g", v[k]);
        printf("\n");
    }
}

/* Lists the model parameters (not sampler columns) failing a check, as one
 * warning; returns how many. */
static size_t warn_list(FILE *out, const row *rows, size_t n_rows, int (*fails)(const row *, size_t), size_t n_chains,
                        const char *head, const char *tail)
{
    size_t count = 0;
    for (size_t i = 0; i < n_rows; ++i)
        if (!is_sampler_column(rows[i].name) && fails(&rows[i], n_chains))
            fprintf(out, "%s%s", count++ ? ", " : head, rows[i].name);
    if (count)
        fprintf(out, "\n%s\n", tail);
    return count;
}

static int rhat_fails(const row *r, size_t n_chains)
{
    (void)n_chains;
    return r->s.rhat > 1.01;
}

static int rhat_nested_fails(const row *r, size_t n_chains)
{
    (void)n_chains;
    return r->rhat_nested > 1.01;
}

static int ess_fails(const row *r, size_t n_chains)
{
    double min = 100.0 * (double)n_chains;
    return r->s.ess_bulk < min || r->s.ess_tail < min;
}

static size_t column_of(const table *t, const char *name)
{
    for (size_t j = 0; j < t->n_cols; ++j)
        if (strcmp(t->names[j], name) == 0)
            return j;
    return SIZE_MAX;
}

/* Columns holding values that are not numbers (nan, inf): their statistics
 * are nan, which says nothing about why. */
static void warn_non_finite(FILE *w, const table *t)
{
    int listed = 0;
    for (size_t j = 0; j < t->n_cols; ++j) {
        size_t bad = 0, first_chain = 0, first_draw = 0;
        for (size_t k = 0; k < t->n_chains; ++k)
            for (size_t i = 0; i < t->chains[k].n_rows; ++i)
                if (!isfinite(t->chains[k].rows[i * t->n_cols + j]) && bad++ == 0) {
                    first_chain = k;
                    first_draw = i;
                }
        if (!bad)
            continue;
        fprintf(w, "%s%s: %zu value%s not finite (first: chain %zu, draw %zu)", listed++ ? "; " : "Warning: ",
                t->names[j], bad, bad > 1 ? "s are" : " is", first_chain + 1, first_draw + 1);
    }
    if (listed)
        fprintf(w, ".\nTheir statistics are nan. A sampler writes such values only when it failed; check how "
                   "the files were made.\n");
}

/* PM-NUTS files: divergences and trees cut at the maximum depth, as
 * CmdStan's diagnose reports them. */
static void warn_nuts(FILE *w, const table *t)
{
    const size_t div = column_of(t, "divergent__"), depth = column_of(t, "treedepth__");
    size_t n = 0, n_div = 0, n_max = 0;
    int max_depth = 0;
    for (size_t k = 0; k < t->n_chains; ++k) {
        const chain_file *cf = &t->chains[k];
        for (size_t i = 0; i < cf->n_rows; ++i, ++n) {
            const double *row = cf->rows + i * t->n_cols;
            n_div += div != SIZE_MAX && row[div] != 0.0;
            n_max += depth != SIZE_MAX && cf->max_depth > 0 && row[depth] >= cf->max_depth;
        }
        if (cf->max_depth > max_depth)
            max_depth = cf->max_depth;
    }
    if (n_div)
        fprintf(w, "Warning: %zu of %zu transitions ended with a divergence (%.1f%%). The posterior is hard for the\n"
                   "integrator where they happen: raise adapt.delta (a smaller step size) or reparameterize.\n",
                n_div, n, 100.0 * (double)n_div / (double)n);
    if (n_max)
        fprintf(w, "Warning: %zu of %zu transitions hit the maximum tree depth (nuts.max_depth = %d): their\n"
                   "trajectories were cut short. Raise nuts.max_depth if this was not intended.\n",
                n_max, n, max_depth);
}

static void free_table(table *t)
{
    cli_draws_free(t);
}

int cli_summarize(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    int csv = 0;
    size_t n_files = 0, superchains = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--csv") == 0) {
            csv = 1;
        } else if (strcmp(argv[i], "--superchains") == 0) {
            char *end = NULL;
            const char *v = i + 1 < argc ? argv[++i] : "";
            const unsigned long long S = strtoull(v, &end, 10);
            if (!*v || *end || v[0] == '-' || S < 2 || S > 1000000)
                return cli_fail(CLI_EXIT_USAGE, "summary: --superchains needs a whole number of at least 2, not '%s'",
                                v);
            superchains = (size_t)S;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return cli_fail(CLI_EXIT_USAGE, "summary: unknown option '%s' (see pmhmc summary --help)", argv[i]);
        else
            ++n_files;
    }
    if (n_files == 0)
        return cli_fail(CLI_EXIT_USAGE, "summary: no draws files given (see pmhmc summary --help)");

    char **paths = malloc(n_files * sizeof *paths);
    if (!paths)
        return cli_fail(CLI_EXIT_RUNTIME, "summary: out of memory");
    n_files = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--superchains") == 0)
            ++i;
        else if (strcmp(argv[i], "--csv") != 0)
            paths[n_files++] = argv[i];
    }
    if (superchains && (superchains > n_files || n_files % superchains != 0)) {
        free(paths);
        return cli_fail(CLI_EXIT_USAGE,
                        "summary: --superchains %zu: the %zu files cannot form %zu superchains of equal size", superchains,
                        n_files, superchains);
    }
    table t;
    int rc = cli_draws_read("summary", n_files, paths, &t);
    free(paths);
    if (rc) {
        free_table(&t);
        return rc;
    }

    size_t K = t.n_chains, n = t.chains[0].n_rows, n_cols = t.n_cols;
    int show_rate = 1;
    double sampling_total = 0.0;
    for (size_t c = 0; c < K; ++c) {
        show_rate &= t.chains[c].has_sampling;
        sampling_total += t.chains[c].sampling_s;
    }
    show_rate &= sampling_total > 0.0;

    row *rows = calloc(n_cols, sizeof *rows);
    double *x = malloc(K * n * sizeof(double));
    if (!rows || !x) {
        free(rows);
        free(x);
        free_table(&t);
        return cli_fail(CLI_EXIT_RUNTIME, "summary: out of memory");
    }
    size_t n_rows = 0;
    for (int pass = 0; pass < 2 && rc == 0; ++pass) { /* sampler columns first */
        for (size_t j = 0; j < n_cols; ++j) {
            if (is_sampler_column(t.names[j]) != (pass == 0))
                continue;
            for (size_t c = 0; c < K; ++c)
                for (size_t i = 0; i < n; ++i)
                    x[c * n + i] = t.chains[c].rows[i * n_cols + j];
            row *r = &rows[n_rows++];
            r->name = t.names[j];
            if (pmhmc_summarize(x, K, n, &r->s) != PMHMC_OK) {
                rc = cli_fail(CLI_EXIT_RUNTIME, "summary: out of memory");
                break;
            }
            int constant = 1;
            for (size_t i = 1; i < K * n && constant; ++i)
                constant = x[i] == x[0];
            if (constant) { /* as stansummary shows a fixed stepsize__; sd exactly 0, not rounding */
                r->s.mcse_mean = r->s.ess_bulk = r->s.ess_tail = r->s.rhat = NAN;
                r->s.mean = x[0];
                r->s.sd = r->s.mad = 0.0;
            }
            r->ess_per_s = show_rate ? r->s.ess_bulk / sampling_total : NAN;
            r->rhat_nested = superchains ? pmhmc_rhat_nested(x, K, n, superchains) : NAN;
        }
    }
    free(x);
    if (rc == 0) {
        const shown_columns on = {show_rate, superchains > 0};
        if (csv)
            print_csv(rows, n_rows, on);
        else
            print_table(&t, rows, n_rows, on, superchains);
        FILE *w = csv ? stderr : stdout;
        if (!csv)
            fputc('\n', w);
        warn_list(w, rows, n_rows, rhat_fails, K, "Warning: R_hat greater than 1.01 for: ",
                  "The chains have not mixed: estimates from them are unreliable. Run longer chains, more of them,\n"
                  "or reparameterize the model.");
        if (superchains)
            warn_list(w, rows, n_rows, rhat_nested_fails, K, "Warning: nR_hat greater than 1.01 for: ",
                      "The superchains still remember where they started: run longer warm-up, or more chains.");
        char head[128];
        snprintf(head, sizeof head, "Warning: ESS_bulk or ESS_tail below 100 per chain (%zu in all) for: ", 100 * K);
        warn_list(w, rows, n_rows, ess_fails, K, head,
                  "Too few effective draws for reliable estimates and R_hat. Run longer chains.");
        warn_nuts(w, &t); /* a table lost on stdout is main.c's to report */
        warn_non_finite(w, &t);
        if (n < 4)
            fprintf(w, "Warning: %zu draw%s per chain: MCSE, ESS and R_hat need at least 4 (each chain is split in "
                       "two halves of 2 or more); they are nan.\n",
                    n, n == 1 ? "" : "s");
    }
    free(rows);
    free_table(&t);
    return rc;
}
