/* A chain: the state every algorithm has, the configured algorithm's
 * transition (sampler/algorithm.h) and warm-up adaptation (adapt.c) around
 * it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "math/philox.h"
#include "math/streams.h"
#include "pmhmc/sampler.h"
#include "sampler/sampler_impl.h"

void pmhmc_state_parts_add(pmhmc_sampler_state_parts *parts, const char *name, void *data, size_t bytes)
{
    parts->host[parts->n_host++] = (pmhmc_state_host_part){name, data, bytes};
}

void pmhmc_state_parts_add_vector(pmhmc_sampler_state_parts *parts, int vector)
{
    parts->vectors[parts->n_vectors++] = vector;
}

void pmhmc_sampler_state_parts_of(pmhmc_sampler *s, pmhmc_sampler_state_parts *parts)
{
    memset(parts, 0, sizeof *parts);
#define HOST_PART(name, field, count) pmhmc_state_parts_add(parts, name, (void *)(field), (count) * sizeof *(field))
    HOST_PART("iteration", &s->iteration, 1);
    HOST_PART("theta", s->theta, s->dim);
    HOST_PART("log_prior", &s->log_prior, 1);
    HOST_PART("log_phat", &s->log_phat, 1);
    HOST_PART("step_size", &s->step_size, 1);
    HOST_PART("inv_mass", s->inv_mass, s->dim);
    HOST_PART("sqrt_mass", s->sqrt_mass, s->dim);
    if (s->config.adapt.engaged) {
        HOST_PART("adapt.settings", &s->adapt.settings, 1);
        HOST_PART("adapt.da", &s->adapt.da, 1);
        HOST_PART("adapt.window_counter", &s->adapt.window_counter, 1);
        HOST_PART("adapt.window_size", &s->adapt.window_size, 1);
        HOST_PART("adapt.next_window", &s->adapt.next_window, 1);
        HOST_PART("adapt.n_samples", &s->adapt.n_samples, 1);
        HOST_PART("adapt.mean", s->adapt_mean, s->dim);
        HOST_PART("adapt.m2", s->adapt_m2, s->dim);
        HOST_PART("adapt.n_searches", &s->n_searches, 1);
    }
#undef HOST_PART
    pmhmc_state_parts_add_vector(parts, VEC_U);
    if (s->ops->state_parts)
        s->ops->state_parts(s, parts);
}

void pmhmc_sampler_config_default(pmhmc_sampler_config *config)
{
    memset(config, 0, sizeof *config);
    config->algorithm = PMHMC_ALGORITHM_PMHMC;
    config->warmup = 1000;
    config->iterations = 1000;
    config->step_size = 0.025;
    config->steps = 20;
    config->mass = 10.0;
    config->mass_diag = NULL;
    config->seed = 1;
    config->chain = 0;
    config->max_depth = 10;
    config->max_delta_h = 1000.0;
    config->uturn = PMHMC_UTURN_EXTENDED;
    config->adapt = (pmhmc_adapt_config){
        .engaged = 0, .metric = 1, .delta = 0.8, .gamma = 0.05, .kappa = 0.75, .t0 = 10.0,
        .init_buffer = 75, .term_buffer = 50, .window = 25,
    };
    config->hnn = NULL;
    config->hnn_accept = PMHMC_HNN_ACCEPT_EXACT;
    config->cn_angle = 0.1;
    config->monitor = PMHMC_HNN_MONITOR_SURROGATE;
    config->max_error = 10.0;
    config->cooldown = 20;
    config->chees_delta = 0.651;
    config->chees_learning_rate = 0.025;
}

/* The settings every algorithm reads, then its own. */
static pmhmc_status check_config(const pmhmc_algorithm_ops *ops, const pmhmc_sampler_config *c, size_t dim,
                                 pmhmc_error *err)
{
    if (!(c->step_size > 0.0) || !isfinite(c->step_size))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "sampler.step_size must be positive and finite");
    if (c->steps < 1)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "sampler.steps must be at least 1");
    if (c->mass_diag) {
        for (size_t i = 0; i < dim; ++i)
            if (!(c->mass_diag[i] > 0.0) || !isfinite(c->mass_diag[i]))
                return pmhmc_fail(err, PMHMC_ERR_CONFIG, "sampler.mass: element %zu must be positive", i + 1);
    } else if (!(c->mass > 0.0) || !isfinite(c->mass)) {
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "sampler.mass must be positive and finite");
    }
    const pmhmc_adapt_config *a = &c->adapt;
    if (a->engaged && (!(a->delta > 0.0 && a->delta < 1.0) || !(a->gamma > 0.0) || !(a->kappa > 0.0) ||
                       !(a->t0 >= 0.0) || a->window < 1))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "adapt: delta must be in (0, 1), gamma and kappa positive, t0 >= 0, window >= 1");
    return ops->check ? ops->check(c, dim, err) : PMHMC_OK;
}

void pmhmc_sampler_draw_rho(pmhmc_sampler *s, uint64_t step)
{
    pmhmc_stream_normals(s->config.seed, s->config.chain, step, s->dim, s->rho);
    for (size_t i = 0; i < s->dim; ++i)
        s->rho[i] *= s->sqrt_mass[i];
}

double pmhmc_sampler_kinetic(const pmhmc_sampler *s, const double *rho)
{
    double k = 0.0;
    for (size_t i = 0; i < s->dim; ++i)
        k += rho[i] * rho[i] * s->inv_mass[i];
    return 0.5 * k;
}

static void set_mass(pmhmc_sampler *s, const pmhmc_sampler_config *config)
{
    for (size_t i = 0; i < s->dim; ++i) {
        double m = config->mass_diag ? config->mass_diag[i] : config->mass;
        s->inv_mass[i] = 1.0 / m;
        s->sqrt_mass[i] = sqrt(m);
    }
}

/* Stan's init_stepsize (base_hmc.hpp): from the current state, one step with
 * fresh momenta; double h while the energy change stays above log 0.8, or
 * halve it while it is below, and stop at the first crossing. */
static pmhmc_status search_step_size(pmhmc_sampler *s)
{
    const uint64_t search = (uint64_t)s->n_searches;
    s->n_searches += 1.0;
    double h = s->step_size;
    int direction = 0;
    for (uint64_t attempt = 0;; ++attempt) {
        const uint64_t rho_step = pmhmc_stream_search_step(search, attempt, PMHMC_DRAW_RHO);
        const uint64_t p_step = pmhmc_stream_search_step(search, attempt, PMHMC_DRAW_P);
        double delta_H;
        pmhmc_status st = s->ops->trial_step(s, h, rho_step, p_step, &delta_H);
        if (st != PMHMC_OK)
            return st;
        if (direction == 0) {
            direction = delta_H > log(0.8) ? 1 : -1;
            continue; /* as Stan: the first try only picks the direction */
        }
        if (direction == 1 ? !(delta_H > log(0.8)) : !(delta_H < log(0.8)))
            break;
        h = direction == 1 ? 2.0 * h : 0.5 * h;
        if (h > 1e7 || h == 0.0 || attempt > 2000)
            return PMHMC_ERR_NUMERIC; /* improper posterior, or no step small enough */
    }
    s->step_size = h;
    return PMHMC_OK;
}

pmhmc_status pmhmc_sampler_evaluate_value(pmhmc_sampler *s, const char *where, pmhmc_error *err)
{
    pmhmc_estimate_request req = {.theta = s->theta, .u = VEC_U, .p = -1, .grad_u = -1};
    pmhmc_status st = pmhmc_ws_estimate(s->ws, &req, &s->log_phat, NULL);
    s->log_prior = pmhmc_model_log_prior(s->model, s->theta, NULL);
    return st == PMHMC_OK ? pmhmc_sampler_require_finite(s, where, err) : st;
}

pmhmc_status pmhmc_sampler_require_finite(pmhmc_sampler *s, const char *where, pmhmc_error *err)
{
    if (!isfinite(s->log_phat + s->log_prior))
        return pmhmc_fail(err, PMHMC_ERR_NUMERIC, "the log density is not finite %s", where);
    return PMHMC_OK;
}

/* u from the chain's initial-u stream, and the algorithm's estimate at the
 * current theta, which must be finite (`where` says where that is, for
 * the message). */
static pmhmc_status start_u(pmhmc_sampler *s, const char *where, pmhmc_error *err)
{
    pmhmc_status st = pmhmc_ws_normal(s->ws, VEC_U, s->config.seed, s->config.chain, PMHMC_STREAM_INITIAL_U);
    return st == PMHMC_OK ? s->ops->evaluate(s, where, err) : st;
}

static int workspace_vectors(const pmhmc_algorithm_ops *ops, const pmhmc_sampler_config *config)
{
    return N_FIXED_VECTORS + (ops->workspace_vectors ? ops->workspace_vectors(config) : 0);
}

size_t pmhmc_sampler_workspace_bytes(const pmhmc_model *model, const pmhmc_backend *backend,
                                     const pmhmc_sampler_config *config)
{
    const pmhmc_algorithm_ops *ops = pmhmc_algorithm_ops_of(config->algorithm);
    return ops ? pmhmc_workspace_bytes(backend, model, workspace_vectors(ops, config)) : 0;
}

pmhmc_status pmhmc_sampler_create(const pmhmc_model *model, pmhmc_backend *backend,
                                  const pmhmc_sampler_config *config, const double *theta0,
                                  pmhmc_sampler **out, pmhmc_error *err)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (!model || !backend || !config)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "sampler: model, backend and config are required");
    const pmhmc_algorithm_ops *ops = pmhmc_algorithm_ops_of(config->algorithm);
    if (!ops)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown sampler algorithm %d", (int)config->algorithm);
    size_t dim = pmhmc_model_dim(model);
    pmhmc_status st = check_config(ops, config, dim, err);
    if (st != PMHMC_OK)
        return st;

    pmhmc_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return PMHMC_ERR_NOMEM;
    s->model = model;
    s->backend = backend;
    s->config = *config;
    s->config.mass_diag = NULL;
    s->ops = ops;
    s->dim = dim;
    s->step_size = config->step_size;
    double *block = calloc(9 * dim, sizeof *block);
    if (!block) {
        free(s);
        return PMHMC_ERR_NOMEM;
    }
    s->theta = block;
    s->theta_start = block + dim;
    s->rho = block + 2 * dim;
    s->inv_mass = block + 3 * dim;
    s->sqrt_mass = block + 4 * dim;
    s->scratch = block + 5 * dim; /* 2 dim */
    s->adapt_mean = block + 7 * dim;
    s->adapt_m2 = block + 8 * dim;
    set_mass(s, config);

    st = pmhmc_workspace_create(backend, model, workspace_vectors(ops, config), &s->ws, err);
    if (st != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    s->integ = (pmhmc_integrator){
        .model = model, .ws = s->ws, .inv_mass = s->inv_mass,
        .grad = s->scratch, .prior_grad = s->scratch + dim,
    };
    if ((st = ops->create(s, &s->algo)) != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    if (theta0)
        memcpy(s->theta, theta0, dim * sizeof *s->theta);
    else
        pmhmc_model_initial(model, config->seed, config->chain, s->theta);

    st = start_u(s, "at the initial values", err);
    if (st == PMHMC_OK && config->adapt.engaged && config->warmup > 0) {
        st = search_step_size(s);
        if (st == PMHMC_ERR_NUMERIC)
            pmhmc_fail(err, st, "the step-size search found no acceptable step size from %g (the posterior may be "
                                "improper, or not continuous)", config->step_size);
        pmhmc_adapt_init(&s->adapt, &config->adapt, dim, config->warmup, s->step_size, s->adapt_mean, s->adapt_m2);
    }
    if (st != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    *out = s;
    return PMHMC_OK;
}

/* The host parts of the state into (or back from) one buffer. */
static size_t host_state_bytes(const pmhmc_sampler_state_parts *parts)
{
    size_t bytes = 0;
    for (size_t i = 0; i < parts->n_host; ++i)
        bytes += parts->host[i].bytes;
    return bytes;
}

static void copy_host_state(const pmhmc_sampler_state_parts *parts, unsigned char *buf, int to_buf)
{
    for (size_t i = 0; i < parts->n_host; ++i) {
        if (to_buf)
            memcpy(buf, parts->host[i].data, parts->host[i].bytes);
        else
            memcpy(parts->host[i].data, buf, parts->host[i].bytes);
        buf += parts->host[i].bytes;
    }
}

pmhmc_status pmhmc_sampler_set_model(pmhmc_sampler *s, const pmhmc_model *model, pmhmc_error *err)
{
    if (!s || !model)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "sampler: a sampler and a model are required");
    if (pmhmc_model_dim(model) != s->dim)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "sampler: the new model has %zu parameters; the chain has %zu",
                          pmhmc_model_dim(model), s->dim);
    pmhmc_workspace *ws = NULL;
    pmhmc_status st = pmhmc_workspace_create(s->backend, model, workspace_vectors(s->ops, &s->config), &ws, err);
    if (st != PMHMC_OK)
        return st;
    pmhmc_sampler_state_parts parts;
    pmhmc_sampler_state_parts_of(s, &parts);
    unsigned char *saved = malloc(host_state_bytes(&parts) + 1); /* the old state's, for a failure */
    if (!saved) {
        pmhmc_workspace_free(ws);
        return PMHMC_ERR_NOMEM;
    }
    copy_host_state(&parts, saved, 1);
    pmhmc_workspace *old_ws = s->ws;
    const pmhmc_model *old_model = s->model;
    s->ws = s->integ.ws = ws;
    s->model = s->integ.model = model;
    st = start_u(s, "where the chain is, with the new model", err);
    if (st != PMHMC_OK) {
        s->ws = s->integ.ws = old_ws;
        s->model = s->integ.model = old_model;
        copy_host_state(&parts, saved, 0);
        old_ws = ws;
    }
    pmhmc_workspace_free(old_ws);
    free(saved);
    return st;
}

void pmhmc_sampler_free(pmhmc_sampler *s)
{
    if (!s)
        return;
    if (s->ops)
        s->ops->free(s->algo);
    pmhmc_workspace_free(s->ws);
    free(s->theta);
    free(s);
}

size_t pmhmc_sampler_iteration(const pmhmc_sampler *s) { return s->iteration; }

pmhmc_status pmhmc_sampler_after_round(pmhmc_sampler *const *samplers, size_t n)
{
    if (n == 0 || !samplers[0]->ops->after_round)
        return PMHMC_OK;
    return samplers[0]->ops->after_round(samplers, n);
}

double pmhmc_sampler_step_size(const pmhmc_sampler *s) { return s->step_size; }

void pmhmc_sampler_set_observer(pmhmc_sampler *s, pmhmc_step_observer fn, void *ctx)
{
    s->integ.observe = fn;
    s->integ.observe_ctx = ctx;
}

void pmhmc_sampler_inv_metric(const pmhmc_sampler *s, double *out)
{
    memcpy(out, s->inv_mass, s->dim * sizeof *out);
}

/* After a warm-up transition: Stan's adapt_*_nuts / adapt_*_static_hmc. */
static pmhmc_status adapt(pmhmc_sampler *s, double accept_stat)
{
    if (pmhmc_adapt_learn(&s->adapt, accept_stat, s->theta, &s->step_size, s->inv_mass)) {
        for (size_t i = 0; i < s->dim; ++i)
            s->sqrt_mass[i] = sqrt(1.0 / s->inv_mass[i]);
        pmhmc_status st = search_step_size(s);
        if (st != PMHMC_OK)
            return st;
        pmhmc_adapt_restart_step_size(&s->adapt, s->step_size);
    }
    if (s->iteration + 1 == s->config.warmup)
        s->step_size = pmhmc_adapt_final_step_size(&s->adapt);
    return PMHMC_OK;
}

pmhmc_status pmhmc_sampler_step(pmhmc_sampler *s, pmhmc_draw *draw)
{
    if (!s || !draw)
        return PMHMC_ERR_ARG;
    const double h = s->step_size;
    memcpy(s->theta_start, s->theta, s->dim * sizeof *s->theta);
    draw->n_estimates = draw->n_gradients = 0;
    draw->surrogate_error = 0.0;
    draw->surrogate_used = draw->fallback = 0;
    pmhmc_status st = s->ops->transition(s, draw);
    if (st != PMHMC_OK)
        return st;
    const int warmup = s->iteration < s->config.warmup;
    /* a lockstep algorithm's chains are adapted together, by the run */
    if (warmup && s->config.adapt.engaged && !s->ops->after_round && (st = adapt(s, draw->accept_stat)) != PMHMC_OK)
        return st;
    draw->stepsize = h;
    draw->warmup = warmup;
    draw->theta = s->theta;
    s->iteration++;
    return PMHMC_OK;
}
