/* PM-HMC (DESIGN §3): draw rho ~ N(0, M) and p ~ N(0, I), integrate L Strang
 * steps, accept (theta', u') with probability min(1, exp(H - H')); on
 * rejection keep (theta, u); never keep (rho, p). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "math/philox.h"
#include "math/streams.h"
#include "pmhmc/sampler.h"
#include "sampler/integrator.h"
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
#undef HOST_PART
    parts->vectors[parts->n_vectors++] = VEC_U;
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
}

static pmhmc_status check_config(const pmhmc_sampler_config *c, size_t dim, pmhmc_error *err)
{
    if (c->algorithm != PMHMC_ALGORITHM_PMHMC)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown sampler algorithm %d", (int)c->algorithm);
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
    return PMHMC_OK;
}

static pmhmc_status evaluate_current(pmhmc_sampler *s)
{
    pmhmc_estimate_request req = {.theta = s->theta, .u = VEC_U, .p = -1, .grad_u = -1};
    pmhmc_status st = pmhmc_ws_estimate(s->ws, &req, &s->log_phat, NULL);
    s->log_prior = pmhmc_model_log_prior(s->model, s->theta, NULL);
    return st;
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
    s->config = *config;
    s->config.mass_diag = NULL;
    s->dim = dim;
    double *block = calloc(7 * dim, sizeof *block);
    if (!block) {
        free(s);
        return PMHMC_ERR_NOMEM;
    }
    s->theta = block;
    s->theta_start = block + dim;
    s->rho = block + 2 * dim;
    s->inv_mass = block + 3 * dim;
    s->sqrt_mass = block + 4 * dim;
    s->scratch = block + 5 * dim;
    for (size_t i = 0; i < dim; ++i) {
        double m = config->mass_diag ? config->mass_diag[i] : config->mass;
        s->inv_mass[i] = 1.0 / m;
        s->sqrt_mass[i] = sqrt(m);
    }

    st = pmhmc_workspace_create(backend, model, N_VECTORS, &s->ws, err);
    if (st != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    s->integ = (pmhmc_integrator){
        .model = model, .ws = s->ws, .inv_mass = s->inv_mass,
        .grad = s->scratch, .prior_grad = s->scratch + dim,
    };
    if (theta0)
        memcpy(s->theta, theta0, dim * sizeof *s->theta);
    else
        pmhmc_model_initial(model, config->seed, config->chain, s->theta);

    st = pmhmc_ws_normal(s->ws, VEC_U, config->seed, config->chain, PMHMC_STREAM_INITIAL_U);
    if (st == PMHMC_OK)
        st = evaluate_current(s);
    if (st == PMHMC_OK && !isfinite(s->log_phat + s->log_prior))
        st = pmhmc_fail(err, PMHMC_ERR_NUMERIC, "the log density is not finite at the initial values");
    if (st != PMHMC_OK) {
        pmhmc_sampler_free(s);
        return st;
    }
    *out = s;
    return PMHMC_OK;
}

void pmhmc_sampler_free(pmhmc_sampler *s)
{
    if (!s)
        return;
    pmhmc_workspace_free(s->ws);
    free(s->theta);
    free(s);
}

size_t pmhmc_sampler_iteration(const pmhmc_sampler *s) { return s->iteration; }

static void draw_rho(pmhmc_sampler *s, uint64_t step)
{
    pmhmc_stream_normals(s->config.seed, s->config.chain, step, s->dim, s->rho);
    for (size_t i = 0; i < s->dim; ++i)
        s->rho[i] *= s->sqrt_mass[i];
}

/* Back to the transition's start after a failure part-way through, so a
 * caller that goes on after a backend error still samples the right target. */
static pmhmc_status restore_start(pmhmc_sampler *s, pmhmc_status st)
{
    memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
    pmhmc_ws_copy(s->ws, VEC_U, VEC_U_START);
    return st;
}

pmhmc_status pmhmc_sampler_step(pmhmc_sampler *s, pmhmc_draw *draw)
{
    if (!s || !draw)
        return PMHMC_ERR_ARG;
    const pmhmc_sampler_config *c = &s->config;
    const uint64_t it = s->iteration;
    pmhmc_status st;

    draw_rho(s, pmhmc_stream_step(it, PMHMC_DRAW_RHO));
    if ((st = pmhmc_ws_normal(s->ws, VEC_P, c->seed, c->chain, pmhmc_stream_step(it, PMHMC_DRAW_P))) != PMHMC_OK)
        return st;
    if ((st = pmhmc_ws_copy(s->ws, VEC_U_START, VEC_U)) != PMHMC_OK)
        return st;
    memcpy(s->theta_start, s->theta, s->dim * sizeof *s->theta);

    pmhmc_phase_point z = {
        .theta = s->theta, .rho = s->rho, .u = VEC_U, .p = VEC_P,
        .log_prior = s->log_prior, .log_phat = s->log_phat,
    };
    double H0, H1 = NAN;
    if ((st = pmhmc_hamiltonian(&s->integ, &z, &H0)) != PMHMC_OK ||
        (st = pmhmc_integrate(&s->integ, &z, c->step_size, c->steps)) != PMHMC_OK ||
        (isfinite(z.log_phat) && (st = pmhmc_hamiltonian(&s->integ, &z, &H1)) != PMHMC_OK))
        return restore_start(s, st);

    double accept_stat = isfinite(H1) ? fmin(1.0, exp(H0 - H1)) : 0.0;
    double uniform = pmhmc_stream_uniform(c->seed, c->chain, pmhmc_stream_step(it, PMHMC_DRAW_ACCEPT), 0);
    int accepted = uniform < accept_stat;
    if (accepted) {
        s->log_prior = z.log_prior;
        s->log_phat = z.log_phat;
    } else {
        memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
        if ((st = pmhmc_ws_copy(s->ws, VEC_U, VEC_U_START)) != PMHMC_OK)
            return st;
    }

    draw->lp = s->log_prior + s->log_phat;
    draw->accept_stat = accept_stat;
    draw->stepsize = c->step_size;
    draw->int_time = c->step_size * (double)c->steps;
    draw->energy = accepted ? H1 : H0;
    draw->accepted = accepted;
    draw->divergent = !isfinite(H1);
    draw->warmup = it < c->warmup;
    draw->theta = s->theta;
    s->iteration++;
    return PMHMC_OK;
}
