/* PM-HMC (DESIGN §3): draw rho ~ N(0, M) and p ~ N(0, I), integrate L Strang
 * steps, accept (theta', u') with probability min(1, exp(H - H')); on
 * rejection keep (theta, u); never keep (rho, p). */
#include <math.h>
#include <string.h>

#include "math/philox.h"
#include "math/streams.h"
#include "sampler/sampler_impl.h"
#include "math/portable_math.h"

/* Back to the transition's start after a failure part-way through, so a
 * caller that goes on after a backend error still samples the right target. */
static pmhmc_status restore_start(pmhmc_sampler *s, pmhmc_status st)
{
    memcpy(s->theta, s->theta_start, s->dim * sizeof *s->theta);
    pmhmc_status copied = pmhmc_ws_copy(s->ws, VEC_U, VEC_U_START);
    return st != PMHMC_OK ? st : copied;
}

/* From the current state with momenta from streams rho_step and p_step,
 * L = steps steps of h; *H0 and *H1 the energies at both ends (H1 NaN when
 * log phat went non-finite). Leaves the end point in theta, U. */
static pmhmc_status trajectory(pmhmc_sampler *s, double h, size_t steps, uint64_t rho_step, uint64_t p_step,
                               pmhmc_phase_point *z, double *H0, double *H1)
{
    const pmhmc_sampler_config *c = &s->config;
    pmhmc_status st;
    pmhmc_sampler_draw_rho(s, rho_step);
    if ((st = pmhmc_ws_normal(s->ws, VEC_P, c->seed, c->chain, p_step)) != PMHMC_OK)
        return st;
    if ((st = pmhmc_ws_copy(s->ws, VEC_U_START, VEC_U)) != PMHMC_OK)
        return st;
    memcpy(s->theta_start, s->theta, s->dim * sizeof *s->theta);

    *z = (pmhmc_phase_point){
        .theta = s->theta, .rho = s->rho, .u = VEC_U, .p = VEC_P,
        .log_prior = s->log_prior, .log_phat = s->log_phat,
    };
    *H1 = NAN;
    if ((st = pmhmc_hamiltonian(&s->integ, z, H0)) != PMHMC_OK ||
        (st = pmhmc_integrate(&s->integ, z, h, steps)) != PMHMC_OK ||
        (isfinite(z->log_phat) && (st = pmhmc_hamiltonian(&s->integ, z, H1)) != PMHMC_OK))
        return restore_start(s, st);
    return PMHMC_OK;
}

pmhmc_status pmhmc_hmc_move(pmhmc_sampler *s, size_t steps, pmhmc_draw *draw, double *proposal, double *velocity)
{
    const pmhmc_sampler_config *c = &s->config;
    const uint64_t it = s->iteration;
    const double h = s->step_size;
    pmhmc_phase_point z;
    double H0, H1;
    pmhmc_status st = trajectory(s, h, steps, pmhmc_stream_step(it, PMHMC_DRAW_RHO),
                                 pmhmc_stream_step(it, PMHMC_DRAW_P), &z, &H0, &H1);
    if (st != PMHMC_OK)
        return st;
    if (proposal)
        memcpy(proposal, z.theta, s->dim * sizeof *proposal);
    for (size_t i = 0; velocity && i < s->dim; ++i)
        velocity[i] = s->inv_mass[i] * z.rho[i];

    double accept_stat = isfinite(H1) ? fmin(1.0, pmhmc_exp(H0 - H1)) : 0.0;
    double uniform = pmhmc_stream_uniform(c->seed, c->chain, pmhmc_stream_step(it, PMHMC_DRAW_ACCEPT), 0);
    int accepted = uniform < accept_stat;
    if (accepted) {
        s->log_prior = z.log_prior;
        s->log_phat = z.log_phat;
    } else if ((st = restore_start(s, PMHMC_OK)) != PMHMC_OK) {
        return st;
    }

    draw->lp = s->log_prior + s->log_phat;
    draw->accept_stat = accept_stat;
    draw->int_time = h * (double)steps;
    draw->energy = accepted ? H1 : H0;
    draw->treedepth = 0;
    draw->n_leapfrog = steps;
    draw->n_estimates = steps + 1; /* and the value-only pass at the end point */
    draw->n_gradients = steps;
    draw->accepted = accepted;
    draw->divergent = !isfinite(H1);
    return PMHMC_OK;
}

static pmhmc_status trial_step(pmhmc_sampler *s, double h, uint64_t rho_step, uint64_t p_step, double *delta_H)
{
    pmhmc_phase_point z;
    double H0, H1;
    pmhmc_status st = trajectory(s, h, 1, rho_step, p_step, &z, &H0, &H1);
    if (st != PMHMC_OK)
        return st;
    *delta_H = isfinite(H1) ? H0 - H1 : -INFINITY;
    return restore_start(s, PMHMC_OK);
}

static pmhmc_status transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    return pmhmc_hmc_move(s, s->config.steps, draw, NULL, NULL);
}

/* PM-HMC keeps nothing beyond the chain's own state. */
static pmhmc_status create(pmhmc_sampler *s, void **state)
{
    (void)s;
    *state = NULL;
    return PMHMC_OK;
}

static void release(void *state) { (void)state; }

static const pmhmc_draw_column COLUMNS[] = {PMHMC_STATIC_HMC_COLUMNS};

static const pmhmc_algorithm_info INFO = {
    .id = PMHMC_ALGORITHM_PMHMC, .name = "pmhmc", .title = "PM-HMC",
    .columns = COLUMNS, .n_columns = sizeof COLUMNS / sizeof COLUMNS[0],
};

const pmhmc_algorithm_ops pmhmc_pmhmc_ops = {
    .info = &INFO,
    .create = create,
    .free = release,
    .evaluate = pmhmc_sampler_evaluate_value,
    .transition = transition,
    .trial_step = trial_step,
};
