/* Synthetic data sets. Every random number is a Philox draw on the reserved
 * chain SIM_CHAIN, one stream step per purpose, element e of a purpose being
 * normal e % 2 of pair e / 2 (or the uniform of pair e): the data depend only
 * on the settings and the seed, never on the platform or the thread count.
 * The Bernoulli decision compares logits with pmhmc_log_rn rather than libm's
 * exp, for the same reason. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "math/philox.h"
#include "pmhmc/simulate.h"
#include "math/portable_math.h"

#define SIM_CHAIN 0xFFFFFFFFu /* no sampler chain uses it */

enum sim_purpose {
    SIM_BETA = 0,      /* beta ~ N(0, I) */
    SIM_Z = 1,         /* covariates, row-major [T * n, p] */
    SIM_X = 2,         /* random-effect normals, one per group */
    SIM_COMPONENT = 3, /* mixture component uniforms, one per group */
    SIM_BERNOULLI = 4, /* response uniforms, one per row */
    SIM_NOISE = 5      /* normal_re observation noise, one per row */
};

/* Normal number e of a purpose's stream. */
static double sim_normal(uint64_t seed, enum sim_purpose purpose, size_t e)
{
    double n0, n1;
    pmhmc_stream_normal_pair(seed, SIM_CHAIN, (uint64_t)purpose, (uint32_t)(e / 2), &n0, &n1);
    return e % 2 ? n1 : n0;
}

static double sim_uniform(uint64_t seed, enum sim_purpose purpose, size_t e)
{
    return pmhmc_stream_uniform(seed, SIM_CHAIN, (uint64_t)purpose, (uint32_t)e);
}

/* Whether T groups of n rows with p covariates stay inside one stream: at
 * most 2^32 pairs for the normals (two per pair), 2^32 uniforms. */
static bool sizes_fit(size_t T, size_t n, size_t p)
{
    const uint64_t PAIRS = UINT64_C(1) << 32;
    if (T == 0 || n == 0 || n > SIZE_MAX / T)
        return false;
    uint64_t rows = (uint64_t)T * (uint64_t)n;
    if (rows > PAIRS || (p && rows > UINT64_MAX / p))
        return false;
    return rows * p <= 2 * PAIRS && (uint64_t)p <= 2 * PAIRS;
}

/* The CSR offsets of T groups of n rows. */
static size_t *equal_groups(size_t T, size_t n)
{
    size_t *start = malloc((T + 1) * sizeof *start);
    if (start)
        for (size_t g = 0; g <= T; ++g)
            start[g] = g * n;
    return start;
}

void pmhmc_glmm_sim_default(pmhmc_glmm_sim *sim)
{
    sim->T = 500;
    sim->n = 6;
    sim->p = 8;
    sim->mu1 = 0.0;
    sim->mu2 = 3.0;
    sim->lambda1 = 10.0;
    sim->lambda2 = 3.0;
    sim->w1 = 0.8;
    sim->seed = 1;
}

static bool glmm_settings_ok(const pmhmc_glmm_sim *s)
{
    return sizes_fit(s->T, s->n, s->p) && isfinite(s->mu1) && isfinite(s->mu2) && isfinite(s->lambda1) &&
           isfinite(s->lambda2) && s->lambda1 > 0.0 && s->lambda2 > 0.0 && s->w1 > 0.0 && s->w1 < 1.0;
}

/* y = 1 with probability sigmoid(eta): u < sigmoid(eta) exactly when
 * logit(u) < eta. 1 - u is exact for the 53-bit uniforms. */
static double bernoulli(double u, double eta)
{
    if (u == 0.0)
        return 1.0;
    return pmhmc_log_rn(u) - pmhmc_log_rn(1.0 - u) < eta ? 1.0 : 0.0;
}

static void glmm_fill(const pmhmc_glmm_sim *s, double *beta, double *y, double *z)
{
    const size_t T = s->T, n = s->n, p = s->p;
    for (size_t k = 0; k < p; ++k)
        beta[k] = sim_normal(s->seed, SIM_BETA, k);
    for (size_t e = 0; e < T * n * p; ++e)
        z[e] = sim_normal(s->seed, SIM_Z, e);
    for (size_t i = 0; i < T; ++i) {
        bool first = sim_uniform(s->seed, SIM_COMPONENT, i) < s->w1;
        double mu = first ? s->mu1 : s->mu2;
        double lambda = first ? s->lambda1 : s->lambda2;
        double x = mu + sim_normal(s->seed, SIM_X, i) / sqrt(lambda);
        for (size_t j = 0; j < n; ++j) {
            size_t row = i * n + j;
            double eta = x;
            for (size_t k = 0; k < p; ++k)
                eta += z[row * p + k] * beta[k];
            y[row] = bernoulli(sim_uniform(s->seed, SIM_BERNOULLI, row), eta);
        }
    }
}

pmhmc_status pmhmc_simulate_glmm(const pmhmc_glmm_sim *sim, pmhmc_dataset **out, double *theta_true)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (!sim || !glmm_settings_ok(sim))
        return PMHMC_ERR_ARG;
    const size_t T = sim->T, n = sim->n, p = sim->p;
    double *beta = malloc((p ? p : 1) * sizeof *beta);
    double *y = malloc(T * n * sizeof *y);
    double *z = malloc((p ? T * n * p : 1) * sizeof *z);
    size_t *start = equal_groups(T, n);
    pmhmc_status st = PMHMC_ERR_NOMEM;
    if (beta && y && z && start) {
        glmm_fill(sim, beta, y, z);
        st = pmhmc_dataset_create(T, start, y, z, p, NULL, out);
    }
    if (st == PMHMC_OK && theta_true) {
        for (size_t k = 0; k < p; ++k)
            theta_true[k] = beta[k];
        theta_true[p] = sim->mu1;
        theta_true[p + 1] = sim->mu2;
        theta_true[p + 2] = pmhmc_log(sim->lambda1);
        theta_true[p + 3] = pmhmc_log(sim->lambda2);
        theta_true[p + 4] = pmhmc_log(sim->w1) - pmhmc_log1p(-sim->w1);
    }
    free(beta);
    free(y);
    free(z);
    free(start);
    return st;
}

pmhmc_status pmhmc_simulate_normal_re(size_t T, size_t n, double mu, double tau, uint64_t seed,
                                      pmhmc_dataset **out)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (!sizes_fit(T, n, 0) || !isfinite(mu) || !isfinite(tau) || tau < 0.0)
        return PMHMC_ERR_ARG;
    double *y = malloc(T * n * sizeof *y);
    size_t *start = equal_groups(T, n);
    pmhmc_status st = PMHMC_ERR_NOMEM;
    if (y && start) {
        for (size_t i = 0; i < T; ++i) {
            double x = mu + tau * sim_normal(seed, SIM_X, i);
            for (size_t j = 0; j < n; ++j)
                y[i * n + j] = x + sim_normal(seed, SIM_NOISE, i * n + j);
        }
        st = pmhmc_dataset_create(T, start, y, NULL, 0, NULL, out);
    }
    free(y);
    free(start);
    return st;
}
