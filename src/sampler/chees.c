/* ChEES-HMC (Hoffman, Radul, Sountsov, "An adaptive-MCMC scheme for setting
 * trajectory lengths in Hamiltonian Monte Carlo", AISTATS 2021) on the
 * pseudo-marginal extended space: every transition is PM-HMC's (hmc.c) with
 * L = ceil(u_t T / h) steps, u_t the t-th point of the base-2 Halton (van
 * der Corput) sequence, so trajectory lengths are jittered over (0, T] the
 * same way in every chain; h and T are shared by all chains and adapted
 * across them in warm-up, after each round of transitions (the run moves
 * the chains in lock step, include/pmhmc/run.h):
 *
 *   h: dual averaging (adapt.c's, with adapt.gamma, kappa, t0) towards the
 *      harmonic mean over chains of the acceptance probabilities reaching
 *      chees_delta (0.651); during warm-up the iterate, after it the
 *      moving average of log h with weights t^-1/2;
 *   T: Adam (chees_learning_rate, 0.9, 0.999) ascending the ChEES criterion
 *      E[(|theta' - E theta'|^2 - |theta - E theta|^2)^2] / 4 in log T, by
 *      its per-chain gradient estimate
 *        u_t T (|theta'_k - mean'|^2 - |theta_k - mean|^2) (theta'_k - mean') . M^-1 rho'_k
 *      averaged with weights the acceptance probabilities (the proposals'
 *      mean weighted the same way), steps clipped to 0.35 in log T; T is
 *      the moving average of log T, within [h, 1024 h];
 *   the metric (adapt.metric): the diagonal of M^-1 for theta is the
 *      regularized variance of the chains' current theta across chains.
 * The ChEES criterion and the metric look at theta only; u keeps unit mass.
 * The shared adaptation is copied into every chain's state, so a checkpoint
 * of any chain holds it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "math/portable_math.h"
#include "sampler/sampler_impl.h"

enum { CHEES_MAX_STEPS = 1024 };
#define CHEES_LOG_STEP_CLIP 0.35

/* The adaptation, the same in every chain. */
typedef struct chees_shared {
    pmhmc_dual_averaging da;
    double log_h_ma, log_T, log_T_ma;
    double adam_m, adam_v;
    double rounds;     /* warm-up rounds adapted */
    double iteration;  /* the transitions the last update accounted for */
    double started;    /* set up (from the chains' searched step sizes) */
} chees_shared;

typedef struct chees_state {
    double T; /* trajectory length of the next transition */
    chees_shared shared;
    /* the last transition's, for the round's adaptation */
    double *proposal; /* [dim] theta' before the accept step */
    double *velocity; /* [dim] M^-1 rho' there */
    double accept, jitter;
    int divergent;
} chees_state;

/* The t-th point (t >= 1) of the base-2 van der Corput sequence, in (0, 1). */
static double halton(uint64_t t)
{
    double x = 0.0, f = 0.5;
    for (; t; t >>= 1, f *= 0.5)
        if (t & 1u)
            x += f;
    return x;
}

static pmhmc_status transition(pmhmc_sampler *s, pmhmc_draw *draw)
{
    chees_state *c = s->algo;
    c->jitter = halton(s->iteration + 1);
    double L = ceil(c->jitter * c->T / s->step_size);
    L = L < 1.0 ? 1.0 : L > CHEES_MAX_STEPS ? CHEES_MAX_STEPS : L;
    pmhmc_status st = pmhmc_hmc_move(s, (size_t)L, draw, c->proposal, c->velocity);
    c->accept = draw->accept_stat;
    c->divergent = draw->divergent;
    return st;
}

/* Every chain takes the shared step size, trajectory length, adaptation and
 * (when learned) metric. */
static void share(pmhmc_sampler *const *ss, size_t K, double h, double T, const chees_shared *sh, const double *inv_mass)
{
    for (size_t k = 0; k < K; ++k) {
        pmhmc_sampler *s = ss[k];
        chees_state *c = s->algo;
        s->step_size = h;
        c->T = T;
        c->shared = *sh;
        for (size_t i = 0; inv_mass && i < s->dim; ++i) {
            s->inv_mass[i] = inv_mass[i];
            s->sqrt_mass[i] = sqrt(1.0 / inv_mass[i]);
        }
    }
}

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Before the first round: h0 the median of the chains' searched step sizes,
 * T = h0 (without adaptation, h L as PM-HMC's). */
static pmhmc_status set_up(pmhmc_sampler *const *ss, size_t K)
{
    double *h = malloc(K * sizeof *h);
    if (!h)
        return PMHMC_ERR_NOMEM;
    for (size_t k = 0; k < K; ++k)
        h[k] = ss[k]->step_size;
    qsort(h, K, sizeof *h, by_value);
    const double h0 = K % 2 ? h[K / 2] : 0.5 * (h[K / 2 - 1] + h[K / 2]);
    free(h);
    chees_shared sh = {0};
    sh.da.mu = pmhmc_log(10.0 * h0);
    sh.log_h_ma = sh.log_T = sh.log_T_ma = pmhmc_log(h0);
    sh.iteration = (double)ss[0]->iteration;
    sh.started = 1.0;
    const double T0 = ss[0]->config.adapt.engaged ? h0 : ((chees_state *)ss[0]->algo)->T;
    share(ss, K, h0, T0, &sh, NULL);
    return PMHMC_OK;
}

/* The per-chain gradient estimates of the ChEES criterion in log T,
 * averaged with the acceptance probabilities as weights. */
static double trajectory_gradient(pmhmc_sampler *const *ss, size_t K, double T, double *mean_start, double *mean_prop)
{
    const size_t d = ss[0]->dim;
    double w_sum = 0.0;
    memset(mean_start, 0, d * sizeof *mean_start);
    memset(mean_prop, 0, d * sizeof *mean_prop);
    for (size_t k = 0; k < K; ++k) {
        const chees_state *c = ss[k]->algo;
        const double w = c->divergent ? 0.0 : c->accept;
        for (size_t i = 0; i < d; ++i) {
            mean_start[i] += ss[k]->theta_start[i] / (double)K;
            if (w > 0.0)
                mean_prop[i] += w * c->proposal[i];
        }
        w_sum += w;
    }
    if (!(w_sum > 0.0))
        return 0.0;
    for (size_t i = 0; i < d; ++i)
        mean_prop[i] /= w_sum;
    double g = 0.0;
    for (size_t k = 0; k < K; ++k) {
        const chees_state *c = ss[k]->algo;
        const double w = c->divergent ? 0.0 : c->accept;
        if (!(w > 0.0))
            continue;
        double prop2 = 0.0, start2 = 0.0, along = 0.0;
        for (size_t i = 0; i < d; ++i) {
            const double p = c->proposal[i] - mean_prop[i], q = ss[k]->theta_start[i] - mean_start[i];
            prop2 += p * p;
            start2 += q * q;
            along += p * c->velocity[i];
        }
        const double gk = c->jitter * T * (prop2 - start2) * along;
        if (isfinite(gk))
            g += w * gk;
    }
    return g / w_sum;
}

/* The diagonal of M^-1: the regularized variance of theta across chains. */
static void cross_chain_metric(pmhmc_sampler *const *ss, size_t K, double *mean, double *inv_mass)
{
    const size_t d = ss[0]->dim;
    for (size_t i = 0; i < d; ++i) {
        mean[i] = 0.0;
        for (size_t k = 0; k < K; ++k)
            mean[i] += ss[k]->theta[i] / (double)K;
        double ss2 = 0.0;
        for (size_t k = 0; k < K; ++k)
            ss2 += (ss[k]->theta[i] - mean[i]) * (ss[k]->theta[i] - mean[i]);
        const double n = (double)K;
        inv_mass[i] = n / (n + 5.0) * (ss2 / (n - 1.0)) + 1e-3 * 5.0 / (n + 5.0);
    }
}

static pmhmc_status after_round(pmhmc_sampler *const *ss, size_t K)
{
    pmhmc_sampler *s0 = ss[0];
    const pmhmc_sampler_config *cfg = &s0->config;
    chees_shared sh = ((chees_state *)s0->algo)->shared;
    if (!sh.started)
        return set_up(ss, K);
    const size_t it = s0->iteration;
    if (!cfg->adapt.engaged || (double)it <= sh.iteration || it > cfg->warmup)
        return PMHMC_OK;
    const size_t d = s0->dim;
    double *scratch = malloc(3 * d * sizeof *scratch);
    if (!scratch)
        return PMHMC_ERR_NOMEM;
    sh.iteration = (double)it;
    sh.rounds += 1.0;
    const double weight = 1.0 / sqrt(sh.rounds);

    /* h: dual averaging on the harmonic mean of the acceptance probabilities */
    double inv_sum = 0.0;
    size_t n_ok = 0;
    for (size_t k = 0; k < K; ++k) {
        const chees_state *c = ss[k]->algo;
        if (c->divergent)
            continue;
        n_ok++;
        inv_sum += 1.0 / c->accept;
    }
    const double harmonic = n_ok && isfinite(inv_sum) && inv_sum > 0.0 ? (double)n_ok / inv_sum : 0.0;
    pmhmc_adapt_config da = cfg->adapt;
    da.delta = cfg->chees_delta;
    double h = pmhmc_dual_averaging_learn(&sh.da, &da, harmonic);
    if (!isfinite(h) || !(h > 0.0))
        h = s0->step_size;
    sh.log_h_ma = (1.0 - weight) * sh.log_h_ma + weight * pmhmc_log(h);

    /* T: Adam ascending the ChEES criterion in log T */
    const double g = trajectory_gradient(ss, K, ((chees_state *)s0->algo)->T, scratch, scratch + d);
    sh.adam_m = 0.9 * sh.adam_m + 0.1 * g;
    sh.adam_v = 0.999 * sh.adam_v + 0.001 * g * g;
    const double m_hat = sh.adam_m / (1.0 - pmhmc_exp(sh.rounds * pmhmc_log(0.9)));
    const double v_hat = sh.adam_v / (1.0 - pmhmc_exp(sh.rounds * pmhmc_log(0.999)));
    double step = cfg->chees_learning_rate * m_hat / (sqrt(v_hat) + 1e-8);
    step = step > CHEES_LOG_STEP_CLIP ? CHEES_LOG_STEP_CLIP : step < -CHEES_LOG_STEP_CLIP ? -CHEES_LOG_STEP_CLIP : step;
    if (isfinite(step))
        sh.log_T += step;
    sh.log_T_ma = (1.0 - weight) * sh.log_T_ma + weight * sh.log_T;

    const int last = it == cfg->warmup;
    if (last)
        h = pmhmc_exp(sh.log_h_ma);
    double T = pmhmc_exp(sh.log_T_ma);
    T = T < h ? h : T > CHEES_MAX_STEPS * h ? CHEES_MAX_STEPS * h : T;
    double *inv_mass = NULL;
    if (cfg->adapt.metric) {
        inv_mass = scratch + 2 * d;
        cross_chain_metric(ss, K, scratch, inv_mass);
    }
    share(ss, K, h, T, &sh, inv_mass);
    free(scratch);
    return PMHMC_OK;
}

static pmhmc_status create(pmhmc_sampler *s, void **state)
{
    chees_state *c = calloc(1, sizeof *c);
    if (!c)
        return PMHMC_ERR_NOMEM;
    *state = c;
    c->proposal = calloc(2 * s->dim, sizeof *c->proposal);
    if (!c->proposal)
        return PMHMC_ERR_NOMEM;
    c->velocity = c->proposal + s->dim;
    c->T = s->step_size * (double)s->config.steps; /* without adaptation: h L, as PM-HMC */
    return PMHMC_OK;
}

static void release(void *state)
{
    chees_state *c = state;
    if (c)
        free(c->proposal);
    free(c);
}

static pmhmc_status check(const pmhmc_sampler_config *c, size_t dim, pmhmc_error *err)
{
    (void)dim;
    if (!(c->chees_delta > 0.0 && c->chees_delta < 1.0))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "chees.delta must be in (0, 1)");
    if (!(c->chees_learning_rate > 0.0) || !isfinite(c->chees_learning_rate))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "chees.learning_rate must be positive");
    return PMHMC_OK;
}

/* PM-HMC's step with the current trajectory length's L. */
static pmhmc_status trial_step(pmhmc_sampler *s, double h, uint64_t rho_step, uint64_t p_step, double *delta_H)
{
    return pmhmc_pmhmc_ops.trial_step(s, h, rho_step, p_step, delta_H);
}

static void state_parts(pmhmc_sampler *s, pmhmc_sampler_state_parts *parts)
{
    chees_state *c = s->algo;
    pmhmc_state_parts_add(parts, "chees.T", &c->T, sizeof c->T);
    pmhmc_state_parts_add(parts, "chees.shared", &c->shared, sizeof c->shared);
}

/* Static HMC's columns, then the steps of this transition's jittered
 * trajectory and whether its energy was not finite. */
static const pmhmc_draw_column COLUMNS[] = {
    PMHMC_STATIC_HMC_COLUMNS,
    PMHMC_COLUMN_N_LEAPFROG,
    PMHMC_COLUMN_DIVERGENT,
};

static const pmhmc_algorithm_info INFO = {
    .id = PMHMC_ALGORITHM_CHEES, .name = "chees", .title = "ChEES-HMC",
    .adapts_by_default = 1, .lockstep = 1,
    .columns = COLUMNS, .n_columns = sizeof COLUMNS / sizeof COLUMNS[0],
};

const pmhmc_algorithm_ops pmhmc_chees_ops = {
    .info = &INFO,
    .check = check,
    .create = create,
    .free = release,
    .evaluate = pmhmc_sampler_evaluate_value,
    .transition = transition,
    .trial_step = trial_step,
    .state_parts = state_parts,
    .after_round = after_round,
};
