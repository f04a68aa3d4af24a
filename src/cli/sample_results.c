/* The end of pmhmc sample (cli/sample_run.h): the table pooled over the
 * chains, and output.report's page beside the draws. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/report_write.h"
#include "cli/sample_run.h"

/* Beyond this many chains, figures per chain are summarised (least, median,
 * most) instead of listed. */
#define CHAIN_LINES_MAX 16

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* "least L (chain i), median M, most H (chain j) over n chains" of values
 * [K] (NaN: a chain without the figure). */
static void print_spread(const char *what, const double *values, size_t K)
{
    double *sorted = malloc(K * sizeof *sorted);
    size_t n = 0, lo = 0, hi = 0;
    for (size_t k = 0; k < K; ++k) {
        if (isnan(values[k]))
            continue;
        if (n == 0 || values[k] < values[lo])
            lo = k;
        if (n == 0 || values[k] > values[hi])
            hi = k;
        if (sorted)
            sorted[n] = values[k];
        n++;
    }
    if (n == 0 || !sorted) {
        free(sorted);
        return;
    }
    qsort(sorted, n, sizeof *sorted, by_value);
    const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    printf("%s over %zu chains: least %.4g (chain %zu), median %.4g, most %.4g (chain %zu)", what, n, values[lo],
           lo + 1, median, values[hi], hi + 1);
    free(sorted);
}

/* The end-of-warm-up noise of each chain that measured it in this process,
 * and what to do when it is high enough for chains to stick. */
static void print_noise(const run_state *r)
{
    double worst = -1.0;
    size_t measured = 0;
    const int n_auto = r->cfg.model.N == PMHMC_CONFIG_N_AUTO;
    const int listed = r->n_chains <= CHAIN_LINES_MAX;
    double *sd = listed ? NULL : malloc(r->n_chains * sizeof *sd);
    for (size_t k = 0; k < r->n_chains; ++k) {
        const ckpt_estimator_notes *e = &r->chains[k].notes;
        if (sd)
            sd[k] = e->noise_sd;
        if (isnan(e->noise_sd))
            continue;
        worst = fmax(worst, e->noise_sd);
        if (!listed) {
            measured++;
            continue;
        }
        printf("%s%.2g", measured++ ? ", " : "sd of log phat at the end of warm-up: ", e->noise_sd);
        if (n_auto)
            printf(" at N = %zu", e->n_sampling);
        if (r->n_chains > 1)
            printf(" (chain %zu)", k + 1);
    }
    if (sd && measured)
        print_spread("sd of log phat at the end of warm-up", sd, r->n_chains);
    free(sd);
    if (!measured)
        return;
    if (n_auto)
        printf(" (model.N = auto: the smallest N with sd <= model.noise_target = %g, at most %d; model.proposal = "
               "%s)\n",
               r->cfg.model.noise_target, PMHMC_AUTO_N_MAX, r->cfg.model.proposal);
    else
        printf(" (model.N = %zu, model.proposal = %s)\n", pmhmc_model_n_importance(r->model), r->cfg.model.proposal);
    if (worst > NOISE_WARN_SD)
        printf("Warning: the likelihood estimate is noisy (sd of log phat %.2g, above %.1f): pseudo-marginal chains "
               "can stick where a u overestimates it. Use model.proposal = laplace or raise model.N; pmhmc noise "
               "measures it.\n",
               worst, NOISE_WARN_SD);
}

void sample_print_results(run_state *r, double wall)
{
    const chain_state *chains = r->chains;
    size_t K = r->n_chains;
    double slowest[2] = {0.0, 0.0};
    for (size_t k = 0; k < K; ++k) {
        cli_summary_merge(&r->summary, &chains[k].summary);
        for (int t = 0; t < 2; ++t)
            if (chains[k].times[t] > slowest[t])
                slowest[t] = chains[k].times[t];
    }
    if (K == 1)
        printf("\n%zu saved draws after %llu warm-up; written to %s\n", r->summary.n_draws,
               (unsigned long long)r->cfg.sampler.warmup, chains[0].path);
    else
        printf("\n%zu saved draws (%zu chains x %llu, each after %llu warm-up); written to %s .. %s\n",
               r->summary.n_draws, K, (unsigned long long)r->cfg.sampler.iterations,
               (unsigned long long)r->cfg.sampler.warmup, chains[0].path, chains[K - 1].path);
    if (K > 1 && K <= CHAIN_LINES_MAX)
        for (size_t k = 0; k < K; ++k)
            printf("chain %zu: acceptance rate %.4f (%zu of %zu saved transitions)\n", k + 1,
                   chains[k].summary.n_draws ? (double)chains[k].summary.n_accepted / (double)chains[k].summary.n_draws
                                             : NAN,
                   chains[k].summary.n_accepted, chains[k].summary.n_draws);
    double *rates = K > CHAIN_LINES_MAX ? malloc(K * sizeof *rates) : NULL;
    for (size_t k = 0; rates && k < K; ++k)
        rates[k] = chains[k].summary.n_draws
                       ? (double)chains[k].summary.n_accepted / (double)chains[k].summary.n_draws
                       : NAN;
    if (rates) {
        print_spread("acceptance rate", rates, K);
        printf("\n");
    }
    free(rates);
    print_noise(r);
    if (sample_algorithm(&r->cfg)->has_cooldown) {
        size_t cooldown = 0, fallbacks = 0, done = 0;
        for (size_t k = 0; k < K; ++k) {
            cooldown += atomic_load(&chains[k].cooldown);
            fallbacks += atomic_load(&chains[k].fallbacks);
            done += atomic_load(&chains[k].done);
        }
        printf("surrogate: %zu trees left it (hnn.monitor = %s, hnn.max_error = %g); %zu of %zu transitions "
               "(%.1f%%) ran real PM-NUTS in cooldown (warm-up included)\n",
               fallbacks, r->cfg.hnn.monitor, r->cfg.hnn.max_error, cooldown, done,
               done ? 100.0 * (double)cooldown / (double)done : 0.0);
    }
    if (sample_algorithm(&r->cfg)->builds_trees) {
        size_t divergent = 0, max_depth = 0;
        for (size_t k = 0; k < K; ++k) {
            divergent += atomic_load(&chains[k].divergent);
            max_depth += atomic_load(&chains[k].max_depth);
        }
        printf("divergent transitions: %zu; at the maximum tree depth (nuts.max_depth = %llu): %zu "
               "(warm-up included)\n",
               divergent, (unsigned long long)r->cfg.nuts.max_depth, max_depth);
    }
    if (chains[0].collect.active) {
        size_t written = 0, skipped = 0;
        for (size_t k = 0; k < K; ++k) {
            written += chains[k].collect.written;
            skipped += chains[k].collect.skipped;
        }
        printf("hnn.collect: %zu training records written to %s%s", written, chains[0].collect.path,
               K > 1 ? " .. " : "");
        printf("%s", K > 1 ? chains[K - 1].collect.path : "");
        if (skipped)
            printf(" (%zu non-finite evaluations left out)", skipped);
        printf("\n");
    }
    if (K > 1 && r->cfg.sampler.superchains)
        printf("pooled over the %zu chains (%llu superchains of %llu, each started from one point):\n", K,
               (unsigned long long)r->cfg.sampler.superchains, (unsigned long long)(K / r->cfg.sampler.superchains));
    else if (K > 1)
        printf("pooled over the %zu chains:\n", K);
    if (!r->draws || cli_summary_print_diagnostics(&r->summary, r->draws, K, (size_t)r->cfg.sampler.iterations,
                                                   (size_t)r->cfg.sampler.superchains, stdout) != 0) {
        printf("(mean and sd only: keeping the draws for the diagnostics %s %.3g GB of memory; run pmhmc summary "
               "on the files)\n",
               r->draws_bytes > DRAWS_MEMORY_LIMIT ? "would take" : "failed to get", r->draws_bytes / 1e9);
        cli_summary_print(&r->summary, stdout);
    }
    if (K == 1)
        printf("elapsed: %.3g s warm-up, %.3g s sampling\n", slowest[0], slowest[1]);
    else
        printf("elapsed: %.3g s wall clock for %zu chains in parallel (slowest chain: %.3g s warm-up, %.3g s "
               "sampling)\n",
               wall, K, slowest[0], slowest[1]);
}

/* output.report's page goes beside the draws: output.file with its
 * extension (of the last path component) replaced by .html, or .html
 * appended when it has none; chain suffixes are not part of it. */
char *sample_report_path(const char *file) { return cli_path_with_suffix(file, ".html"); }

/* output.report: the page of `pmhmc report` over the committed files, read
 * back by the same code, so the two commands' pages are the same. A failure
 * here leaves the draws in place (they are complete) but is still exit 2,
 * so scripts that expect the page notice. */
int sample_write_report(const run_state *r)
{
    if (!r->cfg.output.report)
        return CLI_EXIT_OK;
    if (r->draws_bytes > DRAWS_MEMORY_LIMIT) { /* reading the files back would take as much */
        printf("report: not written: the draws would take %.3g GB of memory; run pmhmc report on the files\n",
               r->draws_bytes / 1e9);
        return CLI_EXIT_OK;
    }
    char *path = sample_report_path(r->cfg.output.file);
    char **paths = malloc(r->n_chains * sizeof *paths);
    int rc = CLI_EXIT_OK;
    if (!path || !paths) {
        rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    } else {
        for (size_t k = 0; k < r->n_chains; ++k)
            paths[k] = r->chains[k].path;
        fflush(stdout); /* the table before any error line */
        if (cli_report_write("sample: report", r->n_chains, paths, r->truth_path, path) != CLI_EXIT_OK)
            rc = CLI_EXIT_RUNTIME;
        else
            printf("report: written to %s\n", path);
    }
    free(paths);
    free(path);
    return rc;
}
