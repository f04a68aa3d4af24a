/* PM-NUTS (DESIGN §4): Stan's multinomial NUTS (nuts.c) on the extended
 * space (theta, u), its leaves kick-drift-kick steps with one estimator pass
 * each. Its state beyond the chain's: the tree, and the gradients at the
 * current state (for theta here, for u in the workspace's VEC_GRAD_U), which
 * the first leaf of each transition starts from. HNN-PM-NUTS runs the same
 * tree in its cooldown (hnn_nuts.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sampler/sampler_impl.h"

pmhmc_status pmhmc_nuts_check_settings(const pmhmc_sampler_config *c, pmhmc_error *err)
{
    if (c->max_depth < 1 || c->max_depth > 30)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "nuts.max_depth must be in [1, 30]");
    if (!(c->max_delta_h > 0.0))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "nuts.max_delta_h must be positive");
    if (c->uturn != PMHMC_UTURN_EXTENDED && c->uturn != PMHMC_UTURN_THETA)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown nuts.uturn %d", (int)c->uturn);
    return PMHMC_OK;
}

int pmhmc_pmnuts_vectors(const pmhmc_sampler_config *config)
{
    return pmhmc_nuts_vectors(config->max_depth, config->uturn);
}

pmhmc_status pmhmc_pmnuts_init(pmhmc_sampler *s, pmhmc_pmnuts *p)
{
    const pmhmc_sampler_config *c = &s->config;
    p->grad = calloc(s->dim, sizeof *p->grad);
    if (!p->grad)
        return PMHMC_ERR_NOMEM;
    return pmhmc_nuts_create(&s->integ, s->sqrt_mass, c->max_depth, c->max_delta_h, c->uturn, N_FIXED_VECTORS,
                             &p->tree);
}

void pmhmc_pmnuts_release(pmhmc_pmnuts *p)
{
    pmhmc_nuts_free(p->tree);
    free(p->grad);
}

pmhmc_status pmhmc_pmnuts_evaluate(pmhmc_sampler *s, pmhmc_pmnuts *p)
{
    pmhmc_kdk_point x = {.z = {.theta = s->theta, .u = VEC_U}, .grad = p->grad, .grad_u = VEC_GRAD_U};
    pmhmc_status st = pmhmc_kdk_evaluate(&s->integ, &x);
    s->log_phat = x.z.log_phat;
    s->log_prior = pmhmc_model_log_prior(s->model, s->theta, NULL);
    return st;
}

static pmhmc_nuts_state current_state(pmhmc_sampler *s, pmhmc_pmnuts *p)
{
    return (pmhmc_nuts_state){s->theta, p->grad, s->log_prior, s->log_phat, VEC_U, VEC_GRAD_U};
}

pmhmc_status pmhmc_pmnuts_run(pmhmc_sampler *s, pmhmc_pmnuts *p, pmhmc_draw *draw)
{
    pmhmc_nuts_state cur = current_state(s, p);
    pmhmc_nuts_result r;
    pmhmc_status st = pmhmc_nuts_transition(p->tree, &cur, s->step_size, s->config.seed, s->config.chain,
                                            s->iteration, &r);
    if (st != PMHMC_OK)
        return st;
    s->log_prior = cur.log_prior;
    s->log_phat = cur.log_phat;
    draw->lp = s->log_prior + s->log_phat;
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

void pmhmc_pmnuts_parts(pmhmc_sampler *s, pmhmc_pmnuts *p, pmhmc_sampler_state_parts *parts)
{
    pmhmc_state_parts_add(parts, "pmnuts.grad", p->grad, s->dim * sizeof *p->grad);
    pmhmc_state_parts_add_vector(parts, VEC_GRAD_U);
}

/* ---- PM-NUTS as an algorithm: the tree is its whole state ---- */

static pmhmc_status check(const pmhmc_sampler_config *c, size_t dim, pmhmc_error *err)
{
    (void)dim;
    return pmhmc_nuts_check_settings(c, err);
}

static pmhmc_status create(pmhmc_sampler *s, void **state)
{
    pmhmc_pmnuts *p = calloc(1, sizeof *p);
    if (!p)
        return PMHMC_ERR_NOMEM;
    *state = p;
    return pmhmc_pmnuts_init(s, p);
}

static void release(void *state)
{
    if (state)
        pmhmc_pmnuts_release(state);
    free(state);
}

static pmhmc_status evaluate(pmhmc_sampler *s, const char *where, pmhmc_error *err)
{
    pmhmc_status st = pmhmc_pmnuts_evaluate(s, s->algo);
    return st == PMHMC_OK ? pmhmc_sampler_require_finite(s, where, err) : st;
}

static pmhmc_status transition(pmhmc_sampler *s, pmhmc_draw *draw) { return pmhmc_pmnuts_run(s, s->algo, draw); }

/* The leaf's kick-drift-kick step. */
static pmhmc_status trial_step(pmhmc_sampler *s, double h, uint64_t rho_step, uint64_t p_step, double *delta_H)
{
    pmhmc_pmnuts *p = s->algo;
    pmhmc_nuts_state cur = current_state(s, p);
    return pmhmc_nuts_trial_step(p->tree, &cur, h, s->config.seed, s->config.chain, rho_step, p_step, delta_H);
}

static void state_parts(pmhmc_sampler *s, pmhmc_sampler_state_parts *parts) { pmhmc_pmnuts_parts(s, s->algo, parts); }

static const pmhmc_draw_column COLUMNS[] = {PMHMC_NUTS_COLUMNS};

static const pmhmc_algorithm_info INFO = {
    .id = PMHMC_ALGORITHM_PMNUTS, .name = "pmnuts", .title = "PM-NUTS",
    .builds_trees = 1, .adapts_by_default = 1,
    .columns = COLUMNS, .n_columns = sizeof COLUMNS / sizeof COLUMNS[0],
};

const pmhmc_algorithm_ops pmhmc_pmnuts_ops = {
    .info = &INFO,
    .check = check,
    .workspace_vectors = pmhmc_pmnuts_vectors,
    .create = create,
    .free = release,
    .evaluate = evaluate,
    .transition = transition,
    .trial_step = trial_step,
    .state_parts = state_parts,
};
