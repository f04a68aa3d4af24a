#include "cli/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/truth_csv.h"

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
