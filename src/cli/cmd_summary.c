/* pmhmc summary: the posterior summary and convergence diagnostics of one
 * or more draws files (one file = one chain), laid out as CmdStan's
 * stansummary (2.36+) lays them out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pmhmc/diagnostics.h"

static const char HELP[] =
    "usage: pmhmc summary FILE... [--csv]\n"
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
    "  --csv   write the table as CSV on stdout (warnings go to stderr)\n";

/* One input file, read whole: its draws row after row. */
typedef struct chain_file {
    const char *path;
    size_t n_rows;
    double *rows; /* n_rows * n_cols */
    double warmup_s, sampling_s;
    int has_warmup, has_sampling;
} chain_file;

typedef struct table {
    size_t n_cols;
    char **names;
    size_t n_chains;
    chain_file *chains;
} table;

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        free(names[i]);
    free(names);
}

static void strip_eol(char *line)
{
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
}

/* Splits line (modified in place) on commas; fields has room for cap. */
static size_t split_fields(char *line, char **fields, size_t cap)
{
    size_t n = 0;
    char *s = line;
    for (;;) {
        char *comma = strchr(s, ',');
        if (n < cap)
            fields[n] = s;
        ++n;
        if (!comma)
            break;
        *comma = '\0';
        s = comma + 1;
    }
    return n;
}

/* "#  Elapsed Time: X seconds (Warm-up)" and "#   Y seconds (Sampling)". */
static void parse_elapsed(const char *line, chain_file *cf)
{
    int sampling = strstr(line, "seconds (Sampling)") != NULL;
    int warmup = strstr(line, "seconds (Warm-up)") != NULL;
    if (!sampling && !warmup)
        return;
    const char *s = line + 1;
    const char *colon = strstr(s, "Elapsed Time:");
    if (colon)
        s = colon + strlen("Elapsed Time:");
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0.0)
        return;
    if (sampling) {
        cf->sampling_s = v;
        cf->has_sampling = 1;
    } else {
        cf->warmup_s = v;
        cf->has_warmup = 1;
    }
}

static int count_fields(const char *line)
{
    int n = 1;
    for (const char *c = line; *c; ++c)
        n += *c == ',';
    return n;
}

/* Reads one file into cf; the first file sets t->names. Returns 0 or an
 * exit code after printing the error. */
static int read_chain(const char *path, table *t, chain_file *cf)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_fail(CLI_EXIT_USAGE, "summary: %s: cannot be opened", path);
    cf->path = path;
    char *line = NULL, **fields = NULL;
    size_t cap = 0, row_cap = 0, line_no = 0, n_cols = 0;
    int rc = 0, have_header = 0;
    for (ssize_t len; (len = getline(&line, &cap, f)) >= 0;) {
        ++line_no;
        strip_eol(line);
        if (line[0] == '#') {
            parse_elapsed(line, cf);
            continue;
        }
        if (line[0] == '\0')
            continue;
        if (!have_header) {
            n_cols = (size_t)count_fields(line);
            fields = malloc(n_cols * sizeof *fields);
            if (!fields) {
                rc = cli_fail(CLI_EXIT_RUNTIME, "summary: out of memory");
                break;
            }
            split_fields(line, fields, n_cols);
            if (!t->names) {
                t->names = calloc(n_cols, sizeof *t->names);
                if (!t->names) {
                    rc = cli_fail(CLI_EXIT_RUNTIME, "summary: out of memory");
                    break;
                }
                t->n_cols = n_cols;
                for (size_t j = 0; j < n_cols && rc == 0; ++j) {
                    if (fields[j][0] == '\0')
                        rc = cli_fail(CLI_EXIT_USAGE, "summary: %s:%zu: column %zu has no name", path, line_no, j + 1);
                    else if (!(t->names[j] = strdup(fields[j])))
                        rc = cli_fail(CLI_EXIT_RUNTIME, "summary: out of memory");
                }
            } else if (n_cols != t->n_cols) {
                rc = cli_fail(CLI_EXIT_USAGE, "summary: %s:%zu: %zu columns, but %s has %zu; every file needs the same columns",
                              path, line_no, n_cols, t->chains[0].path, t->n_cols);
            } else {
                for (size_t j = 0; j < n_cols && rc == 0; ++j)
                    if (strcmp(fields[j], t->names[j]) != 0)
                        rc = cli_fail(CLI_EXIT_USAGE,
                                      "summary: %s:%zu: column %zu is '%s', but '%s' in %s; every file needs the same columns",
                                      path, line_no, j + 1, fields[j], t->names[j], t->chains[0].path);
            }
            if (rc)
                break;
            have_header = 1;
            continue;
        }
        size_t n = split_fields(line, fields, n_cols);
        if (n != n_cols) {
            rc = cli_fail(CLI_EXIT_USAGE, "summary: %s:%zu: %zu values, expected %zu (one per column)", path, line_no, n,
                          n_cols);
            break;
        }
        if (cf->n_rows == row_cap) {
            size_t new_cap = row_cap ? 2 * row_cap : 256;
            double *grown = realloc(cf->rows, new_cap * n_cols * sizeof(double));
            if (!grown) {
                rc = cli_fail(CLI_EXIT_RUNTIME, "summary: out of memory");
                break;
            }
            cf->rows = grown;
            row_cap = new_cap;
        }
        for (size_t j = 0; j < n_cols; ++j) {
            char *end;
            const char *s = fields[j] + strspn(fields[j], " ");
            double v = strtod(s, &end);
            end += strspn(end, " ");
            if (end == s || *end != '\0') {
                rc = cli_fail(CLI_EXIT_USAGE, "summary: %s:%zu: column '%s': '%s' is not a number", path, line_no,
                              t->names[j], fields[j]);
                break;
            }
            cf->rows[cf->n_rows * n_cols + j] = v;
        }
        if (rc)
            break;
        ++cf->n_rows;
    }
    if (rc == 0 && ferror(f))
        rc = cli_fail(CLI_EXIT_USAGE, "summary: %s: read error", path);
    if (rc == 0 && !have_header)
        rc = cli_fail(CLI_EXIT_USAGE, "summary: %s: no header row (is it a draws file?)", path);
    if (rc == 0 && cf->n_rows == 0)
        rc = cli_fail(CLI_EXIT_USAGE, "summary: %s: no draws", path);
    free(fields);
    free(line);
    fclose(f);
    return rc;
}

static int is_sampler_column(const char *name)
{
    size_t len = strlen(name);
    return len >= 2 && strcmp(name + len - 2, "__") == 0;
}

/* One row of the table. */
typedef struct row {
    const char *name;
    pmhmc_summary_stats s;
    double ess_per_s;
} row;

/* stansummary's significant-figure style: 2 significant digits, never in
 * exponent form (large values keep all their integer digits). */
static void fmt_sig(char *buf, size_t size, double x)
{
    if (isnan(x)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, size, x > 0 ? "inf" : "-inf");
        return;
    }
    int decimals = 2;
    if (x != 0.0) {
        decimals = 1 - (int)floor(log10(fabs(x)));
        if (decimals < 0)
            decimals = 0;
        if (decimals > 5) { /* below 1e-4: exponent form, as MCSE */
            snprintf(buf, size, "%.1e", x);
            return;
        }
    }
    snprintf(buf, size, "%.*f", decimals, x);
}

enum { N_STATS = 11 };
static const char *const HEADERS[N_STATS] = {"Mean",     "MCSE",     "StdDev",     "MAD",  "5%", "50%",
                                             "95%",      "ESS_bulk", "ESS_tail",   "ESS_bulk/s", "R_hat"};

static void format_row(const row *r, char cells[N_STATS][32])
{
    const pmhmc_summary_stats *s = &r->s;
    fmt_sig(cells[0], 32, s->mean);
    if (isnan(s->mcse_mean))
        snprintf(cells[1], 32, "nan");
    else
        snprintf(cells[1], 32, "%.1e", s->mcse_mean);
    fmt_sig(cells[2], 32, s->sd);
    fmt_sig(cells[3], 32, s->mad);
    fmt_sig(cells[4], 32, s->q5);
    fmt_sig(cells[5], 32, s->q50);
    fmt_sig(cells[6], 32, s->q95);
    const double whole[3] = {s->ess_bulk, s->ess_tail, r->ess_per_s};
    for (int k = 0; k < 3; ++k) {
        if (isnan(whole[k]))
            snprintf(cells[7 + k], 32, "nan");
        else if (whole[k] < 10.0) /* a slow run's ESS_bulk/s: 2 significant digits, not 0 */
            fmt_sig(cells[7 + k], 32, whole[k]);
        else
            snprintf(cells[7 + k], 32, "%.0f", whole[k]);
    }
    if (isnan(s->rhat))
        snprintf(cells[10], 32, "nan");
    else
        snprintf(cells[10], 32, "%.2f", s->rhat);
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

static void print_table(const table *t, const row *rows, size_t n_rows, int show_rate)
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
    printf("%zu chain%s: each with %zu draws; %zu draws in all.\n\n", t->n_chains, t->n_chains == 1 ? "" : "s", draws,
           draws * t->n_chains);
    int all_warmup = 1;
    for (size_t c = 0; c < t->n_chains; ++c)
        all_warmup &= t->chains[c].has_warmup;
    if (all_warmup)
        print_times(t, 1);
    if (show_rate)
        print_times(t, 0);
    if (all_warmup || show_rate)
        printf("\n");

    printf("%-*s", (int)name_w, "");
    for (int k = 0; k < N_STATS; ++k)
        if (k != 9 || show_rate)
            printf("  %*s", (int)w[k], HEADERS[k]);
    printf("\n\n");
    for (size_t i = 0; i < n_rows; ++i) {
        if (i > 0 && is_sampler_column(rows[i - 1].name) && !is_sampler_column(rows[i].name))
            printf("\n");
        printf("%-*s", (int)name_w, rows[i].name);
        for (int k = 0; k < N_STATS; ++k)
            if (k != 9 || show_rate)
                printf("  %*s", (int)w[k], cells[i][k]);
        printf("\n");
    }
    free(cells);
    printf("\nSamples were drawn using pseudo-marginal HMC (pmhmc).\n"
           "For each parameter, ESS_bulk and ESS_tail measure the effective sample size for the entire sample\n"
           "(bulk) and for the .05 and .95 tails (tail), and R_hat measures the potential scale reduction on\n"
           "split chains. At convergence R_hat will be very close to 1.00.\n");
}

static void print_csv(const row *rows, size_t n_rows, int show_rate)
{
    printf("name");
    for (int k = 0; k < N_STATS; ++k)
        if (k != 9 || show_rate)
            printf(",%s", HEADERS[k]);
    printf("\n");
    for (size_t i = 0; i < n_rows; ++i) {
        const pmhmc_summary_stats *s = &rows[i].s;
        const double v[N_STATS] = {s->mean, s->mcse_mean, s->sd,       s->mad,             s->q5,  s->q50,
                                   s->q95,  s->ess_bulk,  s->ess_tail, rows[i].ess_per_s, s->rhat};
        printf("\"%s\"", rows[i].name);
        for (int k = 0; k < N_STATS; ++k)
            if (k != 9 || show_rate)
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

static int ess_fails(const row *r, size_t n_chains)
{
    double min = 100.0 * (double)n_chains;
    return r->s.ess_bulk < min || r->s.ess_tail < min;
}

static void free_table(table *t)
{
    for (size_t c = 0; c < t->n_chains; ++c)
        free(t->chains[c].rows);
    free(t->chains);
    free_names(t->names, t->n_cols);
}

int cli_summarize(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    int csv = 0;
    size_t n_files = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--csv") == 0)
            csv = 1;
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return cli_fail(CLI_EXIT_USAGE, "summary: unknown option '%s' (see pmhmc summary --help)", argv[i]);
        else
            ++n_files;
    }
    if (n_files == 0)
        return cli_fail(CLI_EXIT_USAGE, "summary: no draws files given (see pmhmc summary --help)");

    table t = {0};
    t.chains = calloc(n_files, sizeof *t.chains);
    if (!t.chains)
        return cli_fail(CLI_EXIT_RUNTIME, "summary: out of memory");
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; ++i) {
        if (strcmp(argv[i], "--csv") == 0)
            continue;
        rc = read_chain(argv[i], &t, &t.chains[t.n_chains]);
        ++t.n_chains;
        if (rc == 0 && t.chains[t.n_chains - 1].n_rows != t.chains[0].n_rows)
            rc = cli_fail(CLI_EXIT_USAGE, "summary: %s: %zu draws, but %s has %zu; every chain needs the same number",
                          argv[i], t.chains[t.n_chains - 1].n_rows, t.chains[0].path, t.chains[0].n_rows);
    }
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
        }
    }
    free(x);
    if (rc == 0) {
        if (csv)
            print_csv(rows, n_rows, show_rate);
        else
            print_table(&t, rows, n_rows, show_rate);
        FILE *w = csv ? stderr : stdout;
        if (!csv)
            fputc('\n', w);
        warn_list(w, rows, n_rows, rhat_fails, K, "Warning: R_hat greater than 1.01 for: ",
                  "The chains have not mixed: estimates from them are unreliable. Run longer chains, more of them,\n"
                  "or reparameterize the model.");
        char head[128];
        snprintf(head, sizeof head, "Warning: ESS_bulk or ESS_tail below 100 per chain (%zu in all) for: ", 100 * K);
        warn_list(w, rows, n_rows, ess_fails, K, head,
                  "Too few effective draws for reliable estimates and R_hat. Run longer chains.");
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = cli_fail(CLI_EXIT_RUNTIME, "summary: could not write the table to stdout");
    }
    free(rows);
    free_table(&t);
    return rc;
}
