/* A chain: the state, the transition of the configured algorithm (hmc.c,
 * nuts.c) and warm-up adaptation (adapt.c) around it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hnn/mlp.h"
#include "math/philox.h"
#include "math/streams.h"
#include "pmhmc/sampler.h"
#include "sampler/sampler_impl.h"

void pmhmc_sampler_state_parts_of(pmhmc_sampler *s, pmhmc_sampler_state_parts *parts)
{
    memset(parts, 0, sizeof *parts);
#define HOST_PART(field, count)                                                                   \
    parts->host[parts->n_host++] = (pmhmc_state_host_part){#field, (void *)(field), (count) * sizeof *(field)}
    HOST_PART(&s->iteration, 1);
    HOST_PART(s->theta, s->dim);
    HOST_PART(&s->log_prior, 1);
    HOST_PART(&s->log_phat, 1);
    HOST_PART(&s->step_size, 1);
    HOST_PART(s->inv_mass, s->dim);
    HOST_PART(s->sqrt_mass, s->dim);
    if (s->config.adapt.engaged) {
        HOST_PART(&s->adapt.settings, 1);
        HOST_PART(&s->adapt.da, 1);
        HOST_PART(&s->adapt.window_counter, 1);
        HOST_PART(&s->adapt.window_size, 1);
        HOST_PART(&s->adapt.next_window, 1);
        HOST_PART(&s->adapt.n_samples, 1);
        HOST_PART(s->adapt_mean, s->dim);
        HOST_PART(s->adapt_m2, s->dim);
        HOST_PART(&s->n_searches, 1);
    }
    parts->vectors[parts->n_vectors++] = VEC_U;
    if (s->nuts) {
        HOST_PART(s->grad, s->dim);
        parts->vectors[parts->n_vectors++] = VEC_GRAD_U;
    }
    if (s->hnn_work)
        HOST_PART(&s->hnn_lp, 1);
    if (s->hnn_tree) {
        HOST_PART(&s->cooldown_left, 1);
        HOST_PART(&s->log_phat_stale, 1);
    }
#undef HOST_PART
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
}

static pmhmc_status check_config(const pmhmc_sampler_config *c, size_t dim, pmhmc_error *err)
{
    if (c->algorithm != PMHMC_ALGORITHM_PMHMC && c->algorithm != PMHMC_ALGORITHM_PMNUTS &&
        c->algorithm != PMHMC_ALGORITHM_HNN_HMC && c->algorithm != PMHMC_ALGORITHM_HNN_NUTS)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown sampler algorithm %d", (int)c->algorithm);
    const int hnn = c->algorithm == PMHMC_ALGORITHM_HNN_HMC || c->algorithm == PMHMC_ALGORITHM_HNN_NUTS;
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
    if (c->algorithm == PMHMC_ALGORITHM_PMNUTS || c->algorithm == PMHMC_ALGORITHM_HNN_NUTS) {
        if (c->max_depth < 1 || c->max_depth > 30)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "nuts.max_depth must be in [1, 30]");
        if (!(c->max_delta_h > 0.0))
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "nuts.max_delta_h must be positive");
        if (c->uturn != PMHMC_UTURN_EXTENDED && c->uturn != PMHMC_UTURN_THETA)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown nuts.uturn %d", (int)c->uturn);
    }
    if (hnn) {
        const pmhmc_mlp *net = c->hnn;
        if (!net)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s needs a network (hnn.weights)",
                              c->algorithm == PMHMC_ALGORITHM_HNN_HMC ? "hnn_hmc" : "hnn_nuts");
        const int latent = net->spec.kind == PMHMC_MLP_LATENT;
        if (net->spec.n_in != (latent ? 2 * dim : dim))
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "the %s network takes %zu inputs; this model needs %zu",
                              latent ? "latent" : "potential", net->spec.n_in, latent ? 2 * dim : dim);
        if (c->hnn_accept != PMHMC_HNN_ACCEPT_SURROGATE && c->hnn_accept != PMHMC_HNN_ACCEPT_EXACT)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown hnn.accept %d", (int)c->hnn_accept);
        if (c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT && latent)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                              "hnn.accept = exact needs a potential network: a latent one's H~(theta, rho) "
                              "defines no density of theta to correct against");
        if (!(c->cn_angle > 0.0 && c->cn_angle <= 2.0 * atan(1.0)))
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "hnn.cn_angle must be in (0, pi/2]");
    }
    if (c->algorithm == PMHMC_ALGORITHM_HNN_NUTS) {
        if (c->monitor != PMHMC_HNN_MONITOR_SURROGATE && c->monitor != PMHMC_HNN_MONITOR_TRUE)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown hnn.monitor %d", (int)c->monitor);
        if (!(c->max_error > 0.0))
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "hnn.max_error must be positive");
        if (c->hnn_accept == PMHMC_HNN_ACCEPT_EXACT && c->monitor == PMHMC_HNN_MONITOR_TRUE)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                              "hnn.monitor = true cannot be used with hnn.accept = exact: a tree that stops on "
                              "the chain's u is no longer a reversible move of theta, which the exact test needs");
    }
    const pmhmc_adapt_config *a = &c->adapt;
    if (a->engaged && (!(a->delta > 0.0 && a->delta < 1.0) || !(a->gamma > 0.0) || !(a->kappa > 0.0) ||
                       !(a->t0 >= 0.0) || a->window < 1))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "adapt: delta must be in (0, 1), gamma and kappa positive, t0 >= 0, window >= 1");
    return PMHMC_OK;
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

static pmhmc_nuts_state current_state(pmhmc_sampler *s)
{
    return (pmhmc_nuts_state){s->theta, s->grad, s->log_prior, s->log_phat, VEC_U, VEC_GRAD_U};
}

/* Stan's init_stepsize (base_hmc.hpp): from the current state, one step with
 * fresh momenta; double h while the energy change stays above log 0.8, or
 * halve it while it is below, and stop at the first crossing. */
static pmhmc_status search_step_size(pmhmc_sampler *s)
{
    const pmhmc_sampler_config *c = &s->config;
    const uint64_t search = (uint64_t)s->n_searches;
    s->n_searches += 1.0;
    pmhmc_nuts_state cur = current_state(s);
    double h = s->step_size;
    int direction = 0;
    for (uint64_t attempt = 0;; ++attempt) {
        const uint64_t rho_step = pmhmc_stream_search_step(search, attempt, PMHMC_DRAW_RHO);
        const uint64_t p_step = pmhmc_stream_search_step(search, attempt, PMHMC_DRAW_P);
        double delta_H;
        pmhmc_status st;
        switch (c->algorithm) {
        case PMHMC_ALGORITHM_PMNUTS:
            st = pmhmc_nuts_trial_step(s->nuts, &cur, h, c->seed, c->chain, rho_step, p_step, &delta_H);
            break;
        case PMHMC_ALGORITHM_HNN_HMC: st = pmhmc_hnn_trial_step(s, h, rho_step, &delta_H); break;
        case PMHMC_ALGORITHM_HNN_NUTS: st = pmhmc_hnn_nuts_trial_step(s, h, rho_step, &delta_H); break;
        default: st = pmhmc_hmc_trial_step(s, h, rho_step, p_step, &delta_H); break;
        }
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

/* The network's input, output and input-gradient for one point, and its
 * scratch. */
static pmhmc_status hnn_buffers(pmhmc_sampler *s)
{
    const pmhmc_mlp *net = s->config.hnn;
    s->hnn_x = malloc((2 * net->spec.n_in + net->spec.n_out) * sizeof *s->hnn_x);
    if (!s->hnn_x)
        return PMHMC_ERR_NOMEM;
    s->hnn_grad = s->hnn_x + net->spec.n_in;
    s->hnn_y = s->hnn_grad + net->spec.n_in;
    return pmhmc_mlp_work_create(net, 1, &s->hnn_work);
}

static pmhmc_status evaluate_current(pmhmc_sampler *s)
{
    if (s->nuts) {
        pmhmc_kdk_point x = {.z = {.theta = s->theta, .u = VEC_U}, .grad = s->grad, .grad_u = VEC_GRAD_U};
        pmhmc_status st = pmhmc_kdk_evaluate(&s->integ, &x);
        s->log_phat = x.z.log_phat;
        s->log_prior = pmhmc_model_log_prior(s->model, s->theta, NULL);
        return st;
    }
    pmhmc_estimate_request req = {.theta = s->theta, .u = VEC_U, .p = -1, .grad_u = -1};
    pmhmc_status st = pmhmc_ws_estimate(s->ws, &req, &s->log_phat, NULL);
    s->log_prior = pmhmc_model_log_prior(s->model, s->theta, NULL);
    return st;
}

/* u from the chain's initial-u stream, and the estimate (with PM-NUTS's
 * gradients) at the current theta, which must be finite (`where` says
 * where that is, for the message). */
static pmhmc_status start_u(pmhmc_sampler *s, const char *where, pmhmc_error *err)
{
    pmhmc_status st = pmhmc_ws_normal(s->ws, VEC_U, s->config.seed, s->config.chain, PMHMC_STREAM_INITIAL_U);
    if (st == PMHMC_OK)
        st = evaluate_current(s);
    if (st == PMHMC_OK && !isfinite(s->log_phat + s->log_prior))
        st = pmhmc_fail(err, PMHMC_ERR_NUMERIC, "the log density is not finite %s", where);
    return st;
}

/* PM-NUTS's tree: PM-NUTS, and HNN-PM-NUTS's cooldown in surrogate mode */
static int uses_nuts_tree(const pmhmc_sampler_config *config)
{
    return config->algorithm == PMHMC_ALGORITHM_PMNUTS ||
           (config->algorithm == PMHMC_ALGORITHM_HNN_NUTS && config->hnn_accept == PMHMC_HNN_ACCEPT_SURROGATE);
}

static int workspace_vectors(const pmhmc_sampler_config *config)
{
    return N_FIXED_VECTORS + (uses_nuts_tree(config) ? pmhmc_nuts_vectors(config->max_depth, config->uturn) : 0);
}

size_t pmhmc_sampler_workspace_bytes(const pmhmc_model *model, const pmhmc_backend *backend,
                                     const pmhmc_sampler_config *config)
{
    return pmhmc_workspace_bytes(backend, model, workspace_vectors(config));
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
    size_t dim = pmhmc_model_dim(model);
    pmhmc_status st = check_config(config, dim, err);
    if (st != PMHMC_OK)
        return st;

    pmhmc_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return PMHMC_ERR_NOMEM;
    s->model = model;
    s->backend = backend;
    s->config = *config;
    s->config.mass_diag = NULL;
    s->dim = dim;
    s->step_size = config->step_size;
    double *block = calloc(10 * dim, sizeof *block);
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
    s->grad = block + 7 * dim;
    s->adapt_mean = block + 8 * dim;
    s->adapt_m2 = block + 9 * dim;
    set_mass(s, config);

    const int nuts = uses_nuts_tree(config);
    st = pmhmc_workspace_create(backend, model, workspace_vectors(config), &s->ws, err);
    if (st != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    s->integ = (pmhmc_integrator){
        .model = model, .ws = s->ws, .inv_mass = s->inv_mass,
        .grad = s->scratch, .prior_grad = s->scratch + dim,
    };
    if (nuts && (st = pmhmc_nuts_create(&s->integ, s->sqrt_mass, config->max_depth, config->max_delta_h,
                                        config->uturn, N_FIXED_VECTORS, &s->nuts)) != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    if ((config->algorithm == PMHMC_ALGORITHM_HNN_HMC || config->algorithm == PMHMC_ALGORITHM_HNN_NUTS) &&
        (st = hnn_buffers(s)) != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    if (config->algorithm == PMHMC_ALGORITHM_HNN_NUTS && (st = pmhmc_hnn_nuts_create(s)) != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    if (theta0)
        memcpy(s->theta, theta0, dim * sizeof *s->theta);
    else
        pmhmc_model_initial(model, config->seed, config->chain, s->theta);

    st = start_u(s, "at the initial values", err);
    if (st == PMHMC_OK && s->hnn_work) {
        st = pmhmc_hnn_surrogate_lp(s, s->theta, &s->hnn_lp);
        if (st == PMHMC_OK && !isfinite(s->hnn_lp))
            st = pmhmc_fail(err, PMHMC_ERR_NUMERIC, "the surrogate's log density is not finite at the initial values");
    }
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

pmhmc_status pmhmc_sampler_set_model(pmhmc_sampler *s, const pmhmc_model *model, pmhmc_error *err)
{
    if (!s || !model)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "sampler: a sampler and a model are required");
    if (pmhmc_model_dim(model) != s->dim)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "sampler: the new model has %zu parameters; the chain has %zu",
                          pmhmc_model_dim(model), s->dim);
    pmhmc_workspace *ws = NULL;
    pmhmc_status st = pmhmc_workspace_create(s->backend, model, workspace_vectors(&s->config), &ws, err);
    if (st != PMHMC_OK)
        return st;
    double *grad = malloc(s->dim * sizeof *grad); /* the old state's, for a failure */
    if (!grad) {
        pmhmc_workspace_free(ws);
        return PMHMC_ERR_NOMEM;
    }
    memcpy(grad, s->grad, s->dim * sizeof *grad);
    pmhmc_workspace *old_ws = s->ws;
    const pmhmc_model *old_model = s->model;
    const double old_prior = s->log_prior, old_phat = s->log_phat;
    s->ws = s->integ.ws = ws;
    s->model = s->integ.model = model;
    st = start_u(s, "where the chain is, with the new model", err);
    if (st != PMHMC_OK) {
        s->ws = s->integ.ws = old_ws;
        s->model = s->integ.model = old_model;
        s->log_prior = old_prior;
        s->log_phat = old_phat;
        memcpy(s->grad, grad, s->dim * sizeof *grad);
        old_ws = ws;
    } else {
        s->log_phat_stale = 0;
    }
    pmhmc_workspace_free(old_ws);
    free(grad);
    return st;
}

void pmhmc_sampler_free(pmhmc_sampler *s)
{
    if (!s)
        return;
    pmhmc_nuts_free(s->nuts);
    pmhmc_hnn_nuts_free(s);
    pmhmc_mlp_work_free(s->hnn_work);
    free(s->hnn_x);
    pmhmc_workspace_free(s->ws);
    free(s->theta);
    free(s);
}

size_t pmhmc_sampler_iteration(const pmhmc_sampler *s) { return s->iteration; }

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

pmhmc_status pmhmc_pmnuts_transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    pmhmc_nuts_state cur = current_state(s);
    pmhmc_nuts_result r;
    pmhmc_status st = pmhmc_nuts_transition(s->nuts, &cur, s->step_size, s->config.seed, s->config.chain,
                                            s->iteration, &r);
    if (st != PMHMC_OK)
        return st;
    s->log_prior = cur.log_prior;
    s->log_phat = cur.log_phat;
    draw->accept_stat = r.accept_stat;
    draw->int_time = NAN;
    draw->energy = r.energy;
    draw->treedepth = r.depth;
    draw->n_leapfrog = r.n_leapfrog;
    draw->n_estimates = r.n_leapfrog;
    draw->n_gradients = r.n_leapfrog;
    draw->accepted = r.depth > 0 && memcmp(s->theta_start, s->theta, s->dim * sizeof *s->theta) != 0;
    draw->divergent = r.divergent;
    return PMHMC_OK;
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
    pmhmc_status st;
    switch (s->config.algorithm) {
    case PMHMC_ALGORITHM_PMNUTS: st = pmhmc_pmnuts_transition(s, draw); break;
    case PMHMC_ALGORITHM_HNN_HMC: st = pmhmc_hnn_transition(s, draw); break;
    case PMHMC_ALGORITHM_HNN_NUTS: st = pmhmc_hnn_nuts_transition(s, draw); break;
    default: st = pmhmc_hmc_transition(s, draw); break;
    }
    if (st != PMHMC_OK)
        return st;
    const int warmup = s->iteration < s->config.warmup;
    if (warmup && s->config.adapt.engaged && (st = adapt(s, draw->accept_stat)) != PMHMC_OK)
        return st;
    draw->lp = s->hnn_work && s->config.hnn_accept == PMHMC_HNN_ACCEPT_SURROGATE ? s->hnn_lp
                                                                              : s->log_prior + s->log_phat;
    draw->stepsize = h;
    draw->warmup = warmup;
    draw->theta = s->theta;
    s->iteration++;
    return PMHMC_OK;
}
