/* What `pmhmc sample` does for each chain while the library runs it
 * (include/pmhmc/run.h): the callbacks that write its draws file (header,
 * rows, the adaptation and noise blocks, the elapsed times), feed the table
 * at the end, report progress and take its checkpoint snapshots. Each runs
 * on its chain's thread and touches only that chain's state (progress lines
 * take the print lock). A failure sets the chain's exit code. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sample_run.h"
#include "error.h"
#include "io/draws_csv.h"

/* A chain's failure with the exit code it should end the command with. */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static pmhmc_status chain_fail(chain_state *c, int code, pmhmc_status st, pmhmc_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    c->rc = code;
    return st;
}

/* A write error on the chain's draws file. */
static pmhmc_status write_failed(chain_state *c, pmhmc_error *err, const char *what)
{
    const int e = errno;
    return chain_fail(c, CLI_EXIT_RUNTIME, PMHMC_ERR_IO, err, "%s: cannot %s: %s", c->out.tmp, what, strerror(e));
}

/* The '#' header: the program, then every config key by section, CmdStan
 * style, "(Default)" marking values nobody set; then what was resolved and
 * which chain this is, with its start. */
static int write_header(const chain_state *c, const pmhmc_run_start *start)
{
    const run_state *r = c->run;
    FILE *f = c->out.f;
    pmhmc_draws_comment(f, "pmhmc_version = %s", PMHMC_VERSION);
    pmhmc_draws_comment(f, "config_file = %s", r->cfg.path);
    const char *section = "";
    for (size_t i = 0; i < pmhmc_config_key_count(); ++i) {
        pmhmc_config_key_info k;
        pmhmc_config_key_describe(i, &k);
        if (strcmp(section, k.section) != 0)
            pmhmc_draws_comment(f, "%s", section = k.section);
        const struct pmhmc_config_value *v = &r->cfg.values[i];
        pmhmc_draws_comment(f, "  %s = %s%s", k.name, v->text, v->origin == PMHMC_CONFIG_DEFAULT ? " (Default)" : "");
    }
    pmhmc_draws_comment(f, "backend_used = %s", pmhmc_backend_name(r->backend));
    pmhmc_draws_comment(f, "precision_used = %s", r->precision == PMHMC_PRECISION_FLOAT ? "float" : "double");
    pmhmc_draws_comment(f, "chain_id = %u", c->index + 1);
    if (start->n_importance > 0)
        pmhmc_draws_comment(f, CKPT_AUTO_N_COMMENT "%zu %s (sd of log phat %.3g at the start, over %d fresh u; "
                               "target there %g)",
                            start->n_importance,
                            r->cfg.sampler.warmup > 0 ? "until the end of warm-up" : "for the whole run",
                            start->noise.sd_log_phat, PMHMC_RUN_NOISE_REPS, start->target);
    fputs("# init = ", f);
    for (size_t i = 0; i < pmhmc_model_dim(r->model); ++i)
        fprintf(f, "%s%s=%.17g", i ? ", " : "", pmhmc_model_param_name(r->model, i), c->theta0[i]);
    fputc('\n', f);
    return pmhmc_draws_columns(f, r->model, sample_algorithm(&r->cfg)->id);
}

static pmhmc_status started(void *ctx, const pmhmc_run_chain *chain, pmhmc_run_start *start, pmhmc_error *err)
{
    run_state *r = ctx;
    chain_state *c = chain->user;
    if (c->collect.active)
        pmhmc_sampler_set_observer(chain->sampler, cli_collect_observe, &c->collect);
    if (r->resume_path) {
        pmhmc_status st = ckpt_load_chain(r->ckpt, c->index, chain->sampler, err);
        if (st != PMHMC_OK)
            return chain_fail(c, CLI_EXIT_USAGE, st, err, "chain %u: %s", c->index + 1, err->message);
    } else if (write_header(c, start) != 0) {
        return write_failed(c, err, "write the header");
    }
    const size_t first = pmhmc_sampler_iteration(chain->sampler); /* > 0 when resumed */
    c->collect.in_warmup = first < (size_t)r->cfg.sampler.warmup;
    c->start_time = sample_now();
    atomic_store(&c->done, first);
    return PMHMC_OK;
}

/* A saved draw: its row, and its values (as written, %.9g) to the table at
 * the end, as pmhmc summary on the files and a resumed run (which reads them
 * back) see them, so the three agree to the digit. */
static pmhmc_status save_draw(chain_state *c, size_t it, const pmhmc_draw *draw, pmhmc_error *err)
{
    run_state *r = c->run;
    const size_t dim = pmhmc_model_dim(r->model), n_cols = dim + pmhmc_model_n_generated(r->model);
    const size_t warmup = (size_t)r->cfg.sampler.warmup, n_iter = (size_t)r->cfg.sampler.iterations;
    memcpy(c->values, draw->theta, dim * sizeof *c->values);
    pmhmc_model_generated(r->model, draw->theta, c->values + dim);
    if (pmhmc_draws_row(c->out.f, r->model, sample_algorithm(&r->cfg)->id, draw, c->values + dim) != 0) {
        char what[64];
        snprintf(what, sizeof what, "save draw %zu", it + 1 - warmup);
        return write_failed(c, err, what);
    }
    for (size_t j = 0; j < n_cols; ++j) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.9g", c->values[j]);
        c->values[j] = strtod(buf, NULL);
    }
    cli_summary_add(&c->summary, c->values, draw->accepted);
    if (r->draws)
        for (size_t j = 0; j < n_cols; ++j)
            r->draws[(j * r->n_chains + c->index) * n_iter + (it - warmup)] = c->values[j];
    return PMHMC_OK;
}

static pmhmc_status transition(void *ctx, const pmhmc_run_chain *chain, size_t it, const pmhmc_draw *draw,
                               pmhmc_error *err)
{
    run_state *r = ctx;
    chain_state *c = chain->user;
    const size_t warmup = (size_t)r->cfg.sampler.warmup, total = warmup + (size_t)r->cfg.sampler.iterations;
    pmhmc_status st = draw->warmup ? PMHMC_OK : save_draw(c, it, draw, err);
    if (st != PMHMC_OK)
        return st;
    c->collect.in_warmup = it + 1 < warmup;
    atomic_fetch_add_explicit(&c->accepted, (size_t)(draw->accepted != 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&c->divergent, (size_t)(draw->divergent != 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&c->max_depth, (size_t)(draw->treedepth == (size_t)r->cfg.nuts.max_depth),
                              memory_order_relaxed);
    if (sample_algorithm(&r->cfg)->has_cooldown) {
        atomic_fetch_add_explicit(&c->cooldown, (size_t)(draw->surrogate_used == 0), memory_order_relaxed);
        atomic_fetch_add_explicit(&c->fallbacks, (size_t)(draw->fallback != 0), memory_order_relaxed);
    }
    atomic_store_explicit(&c->done, it + 1, memory_order_relaxed);
    sample_progress_line(c, it + 1, total, draw->warmup);
    return PMHMC_OK;
}

/* CmdStan's adaptation block, then the estimator's noise there (with the N
 * the chain samples with), which a resume reads back. */
static pmhmc_status warmup_done(void *ctx, const pmhmc_run_chain *chain, const pmhmc_run_warmup_end *end,
                                pmhmc_error *err)
{
    run_state *r = ctx;
    chain_state *c = chain->user;
    if (end->adapted &&
        pmhmc_draws_adaptation(c->out.f, end->step_size, end->inv_metric, pmhmc_model_dim(r->model)) != 0)
        return write_failed(c, err, "write the adaptation after warm-up");
    if (end->noise.reps == 0) /* quadrature, the Gaussian model: no u, no noise */
        return PMHMC_OK;
    c->notes.noise_sd = end->noise.sd_log_phat;
    c->notes.n_sampling = end->n_importance;
    if (pmhmc_draws_comment(c->out.f, CKPT_NOISE_COMMENT "%.3g over %d fresh u " CKPT_NOISE_N "%zu%s, model.proposal = %s)",
                            end->noise.sd_log_phat, PMHMC_RUN_NOISE_REPS, end->n_importance,
                            end->n_chosen ? ", chosen by model.N = auto" : "", r->cfg.model.proposal) != 0)
        return write_failed(c, err, "write the noise after warm-up");
    return PMHMC_OK;
}

/* The checkpoint's snapshot when one is due (cli/checkpoint_run.h). */
static pmhmc_status point(void *ctx, const pmhmc_run_chain *chain, size_t done, int leaving, pmhmc_error *err)
{
    run_state *r = ctx;
    chain_state *c = chain->user;
    ckpt_counters n = {c->summary.n_accepted, atomic_load(&c->accepted), atomic_load(&c->divergent),
                       atomic_load(&c->max_depth)};
    char msg[768];
    if (ckpt_chain_point(r->ckpt, c->index, chain->sampler, c->out.f, c->out.tmp, &n, done, leaving, msg,
                         sizeof msg) == 0)
        return PMHMC_OK;
    return chain_fail(c, CLI_EXIT_RUNTIME, PMHMC_ERR_IO, err, "chain %u: %s", c->index + 1, msg);
}

/* The elapsed times, and the files closed (and checked) on this thread;
 * the renames wait for every chain. */
static pmhmc_status finished(void *ctx, const pmhmc_run_chain *chain, double warmup_seconds, double sampling_seconds,
                             pmhmc_error *err)
{
    (void)ctx;
    chain_state *c = chain->user;
    c->times[0] = warmup_seconds;
    c->times[1] = sampling_seconds;
    pmhmc_draws_elapsed(c->out.f, warmup_seconds, sampling_seconds);
    pmhmc_status st = cli_out_close(&c->out, err);
    if (st == PMHMC_OK)
        st = cli_collect_close(&c->collect, err);
    if (st != PMHMC_OK)
        c->rc = CLI_EXIT_RUNTIME;
    return st;
}

static void tick(void *ctx) { sample_live_line(ctx, 0); }

static int stop_requested(void *ctx)
{
    (void)ctx;
    return ckpt_stop_signal() != 0;
}

void sample_run_callbacks(run_state *r, pmhmc_run_callbacks *cb)
{
    *cb = (pmhmc_run_callbacks){
        .ctx = r,
        .started = started,
        .transition = transition,
        .warmup_done = warmup_done,
        .point = point,
        .finished = finished,
        .tick = r->live ? tick : NULL,
        .stop_requested = stop_requested,
    };
}
