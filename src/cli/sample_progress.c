/* pmhmc sample's progress lines (cli/sample_run.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/sample_run.h"

double sample_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(char *buf, size_t len, double seconds)
{
    if (!isfinite(seconds) || seconds < 0.0) {
        snprintf(buf, len, "?");
        return;
    }
    unsigned long long s = (unsigned long long)(seconds + 0.5);
    if (s < 60)
        snprintf(buf, len, "%llus", s);
    else if (s < 3600)
        snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
    else
        snprintf(buf, len, "%lluh%02llum", s / 3600, (s % 3600) / 60);
}

/* The figures both progress forms end with: rate, time left, acceptance,
 * divergent transitions so far and, for PM-NUTS (max_depth != SIZE_MAX),
 * transitions that reached the maximum tree depth. */
static void fmt_figures(char *buf, size_t len, size_t done, size_t total, size_t accepted, size_t divergent,
                        size_t max_depth, double elapsed)
{
    double rate = elapsed > 0.0 ? (double)done / elapsed : NAN;
    char eta[32];
    fmt_duration(eta, sizeof eta, done == total ? 0.0 : (double)(total - done) / rate);
    int n = snprintf(buf, len, "%.3g/s  ETA %s  accept %.2f  divergent %zu", isfinite(rate) ? rate : 0.0, eta,
                     done ? (double)accepted / (double)done : 0.0, divergent);
    if (max_depth != SIZE_MAX && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "  max depth %zu", max_depth);
}

static size_t max_depth_figure(const run_state *r, size_t hits)
{
    return sample_algorithm(&r->cfg)->builds_trees ? hits : SIZE_MAX;
}

/* Not a terminal: every output.refresh transitions (and the first and the
 * last) one whole line per chain, under the lock so chains' lines never
 * interleave; "Chain [k] " before each line when there are several, as
 * CmdStan does. */
void sample_progress_line(chain_state *c, size_t done, size_t total, int warmup)
{
    run_state *r = c->run;
    uint64_t refresh = r->cfg.output.refresh;
    if (r->quiet || r->live || (done % refresh != 0 && done != total && done != 1))
        return;
    char prefix[32] = "", figures[160];
    if (r->n_chains > 1)
        snprintf(prefix, sizeof prefix, "Chain [%u] ", c->index + 1);
    fmt_figures(figures, sizeof figures, done, total, atomic_load(&c->accepted), atomic_load(&c->divergent),
                max_depth_figure(r, atomic_load(&c->max_depth)), sample_now() - c->start_time);
    pthread_mutex_lock(&r->print_lock);
    fprintf(stderr, "%sIteration: %*zu / %zu [%3d%%]  (%s)  %s\n", prefix, (int)snprintf(NULL, 0, "%zu", total), done,
            total, (int)(100.0 * (double)done / (double)total), warmup ? "Warmup" : "Sampling", figures);
    fflush(stderr);
    pthread_mutex_unlock(&r->print_lock);
}

/* A terminal: the main thread redraws one line for all chains, in place. */
void sample_live_line(const run_state *r, int last)
{
    size_t warmup = (size_t)r->cfg.sampler.warmup, per = warmup + (size_t)r->cfg.sampler.iterations;
    size_t done = 0, accepted = 0, divergent = 0, max_depth = 0, in_warmup = 0;
    for (size_t k = 0; k < r->n_chains; ++k) {
        const chain_state *c = &r->chains[k];
        size_t d = atomic_load(&c->done);
        done += d;
        accepted += atomic_load(&c->accepted);
        divergent += atomic_load(&c->divergent);
        max_depth += atomic_load(&c->max_depth);
        in_warmup += d < warmup;
    }
    size_t total = per * r->n_chains;
    char phase[96], figures[160];
    if (r->n_chains == 1)
        snprintf(phase, sizeof phase, "%s", in_warmup ? "Warmup" : "Sampling");
    else if (in_warmup == 0 || in_warmup == r->n_chains)
        snprintf(phase, sizeof phase, "%zu chains, %s", r->n_chains, in_warmup ? "Warmup" : "Sampling");
    else
        snprintf(phase, sizeof phase, "%zu chains: %zu Warmup, %zu Sampling", r->n_chains, in_warmup,
                 r->n_chains - in_warmup);
    fmt_figures(figures, sizeof figures, done, total, accepted, divergent, max_depth_figure(r, max_depth),
                sample_now() - r->start_time);
    /* \033[K clears what a longer previous line left. */
    fprintf(stderr, "\rIteration: %*zu / %zu [%3d%%]  (%s)  %s\033[K%s", (int)snprintf(NULL, 0, "%zu", total), done,
            total, (int)(100.0 * (double)done / (double)total), phase, figures, last ? "\n" : "");
    fflush(stderr);
}
