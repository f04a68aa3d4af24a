/* The reference posterior of a GLMM dataset, independent of the estimator
 * and of every sampler under test: random-walk Metropolis on the exact
 * marginal posterior p(theta | y), its likelihood from adaptive Gauss-Hermite
 * quadrature over each random effect (bench/glmm_quadrature.h), the prior of
 * the model (N(0, prior_var) on every component of theta).
 *
 *   glmm_exact_posterior DATA.csv OUT_PREFIX [--chains C] [--warmup W]
 *                        [--iterations N] [--thin K] [--seed S]
 *                        [--prior-var V] [--nodes Q] [--relabel]
 *
 * Writes OUT_PREFIX_1.csv .. OUT_PREFIX_C.csv in the draws format `pmhmc
 * summary` and `pmhmc report` read (lp__, accept_stat__, theta, lambda1,
 * lambda2, w1), one chain per file, chains in parallel (one OpenMP thread
 * each; a chain's draws do not depend on the thread count).
 *
 * Each chain starts at the model's documented start (the report's) and
 * adapts during warm-up, in 5 equal windows: a Gaussian proposal whose
 * covariance is the draws' covariance over the previous window (Stan's
 * regularisation towards 1e-3 I; 0.01 I in the first), scaled by
 * 2.38^2 / d and a factor tuned by Robbins-Monro towards acceptance 0.234
 * in every window; the last window only tunes that factor. Sampling keeps the proposal
 * fixed, so the chain is a plain Metropolis chain; one proposal in ten is
 * three times wider, which helps cross the long plateau of log_lambda1,
 * whose likelihood flattens out as the narrow component becomes a point
 * mass. Both are symmetric, so the acceptance ratio is the posterior ratio.
 *
 * The mixture's labels can switch (through the plateaus, where one
 * component is a point mass or has no weight); --relabel writes every draw
 * in the labelling mu1 <= mu2 (see write_row).
 *
 * Every 1000th sampling state is evaluated again with 2Q nodes; the largest
 * difference is printed as the quadrature's own error check. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "glmm_quadrature.h"
#include "math/philox.h"
#include "pmhmc/pmhmc.h"

/* MAX_COUNT bounds every count option, so warm-up + iterations cannot
 * overflow; the quadrature check re-evaluates every CHECK_EVERY-th state. */
enum { WINDOWS = 5, MAX_DIM = 64, CHECK_EVERY = 1000 };
#define MAX_COUNT 1000000000000L

typedef struct reference_options {
    const char *data_path, *out_prefix;
    int chains, thin, nodes, relabel;
    long warmup, iterations;
    uint64_t seed;
    double prior_var;
} reference_options;

/* Everything a chain reads, shared by all chains. */
typedef struct reference_target {
    const pmhmc_dataset *data;
    const pmhmc_model *model;
    const reference_options *opt;
    glmm_gh_rule rule, doubled; /* Q and 2Q nodes */
} reference_target;

typedef struct chain_result {
    int failed;
    double accept_rate, warmup_s, sampling_s, last_lp, quadrature_check;
    char message[256];
} chain_result;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A chain's quadrature scratch: zb [max_group_rows] and the modes of the
 * last evaluation [n_groups, 2], where the next one starts its searches. */
typedef struct chain_scratch {
    double *zb, *modes;
} chain_scratch;

/* log p(theta | y) up to a constant; -inf where the quadrature overflows. */
static double log_posterior(const reference_target *tg, const double *theta, chain_scratch *cs, int doubled)
{
    double ll = glmm_exact_loglik(tg->data, theta, doubled ? &tg->doubled : &tg->rule, cs->zb, cs->modes);
    double lp = ll + pmhmc_model_log_prior(tg->model, theta, NULL);
    return isfinite(lp) ? lp : -INFINITY;
}

/* Lower Cholesky factor of the d x d matrix a (row-major) into l; -1 when a
 * is not positive definite. */
static int cholesky(const double *a, size_t d, double *l)
{
    memset(l, 0, d * d * sizeof *l);
    for (size_t i = 0; i < d; ++i)
        for (size_t j = 0; j <= i; ++j) {
            double s = a[i * d + j];
            for (size_t k = 0; k < j; ++k)
                s -= l[i * d + k] * l[j * d + k];
            if (i == j) {
                if (!(s > 0.0))
                    return -1;
                l[i * d + i] = sqrt(s);
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    return 0;
}

/* Welford accumulation of mean [d] and co-moment m2 [d, d]. */
typedef struct running_cov {
    size_t n;
    double mean[MAX_DIM], m2[MAX_DIM * MAX_DIM];
} running_cov;

static void running_cov_add(running_cov *rc, const double *x, size_t d)
{
    double delta[MAX_DIM];
    rc->n++;
    for (size_t i = 0; i < d; ++i) {
        delta[i] = x[i] - rc->mean[i];
        rc->mean[i] += delta[i] / (double)rc->n;
    }
    for (size_t i = 0; i < d; ++i)
        for (size_t j = 0; j < d; ++j)
            rc->m2[i * d + j] += delta[i] * (x[j] - rc->mean[j]);
}

/* The proposal factor from a window's covariance, regularised as Stan
 * regularises its metric: (n / (n + 5)) C + 1e-3 (5 / (n + 5)) I. */
static int proposal_from_window(const running_cov *rc, size_t d, double *chol)
{
    double c[MAX_DIM * MAX_DIM];
    double n = (double)rc->n;
    for (size_t i = 0; i < d; ++i)
        for (size_t j = 0; j < d; ++j)
            c[i * d + j] = (n / (n + 5.0)) * rc->m2[i * d + j] / (n - 1.0) + (i == j ? 1e-3 * 5.0 / (n + 5.0) : 0.0);
    return cholesky(c, d, chol);
}

/* With --relabel, a draw whose mu1 > mu2 is written with its components
 * swapped (mu1 <-> mu2, log_lambda1 <-> log_lambda2, logit_w1 -> -logit_w1):
 * the prior and the likelihood are symmetric under that swap, so the
 * written draws follow the posterior restricted to mu1 <= mu2, the labelling
 * the report's start and the samplers under test keep. */
static void write_row(FILE *f, const reference_target *tg, double lp, double accept, const double *state)
{
    size_t d = pmhmc_model_dim(tg->model), g = pmhmc_model_n_generated(tg->model), p = tg->data->n_cov;
    double theta[MAX_DIM], gen[MAX_DIM];
    memcpy(theta, state, d * sizeof *theta);
    if (tg->opt->relabel && theta[p] > theta[p + 1]) {
        double m = theta[p], l = theta[p + 2];
        theta[p] = theta[p + 1], theta[p + 1] = m;
        theta[p + 2] = theta[p + 3], theta[p + 3] = l;
        theta[p + 4] = -theta[p + 4];
    }
    pmhmc_model_generated(tg->model, theta, gen);
    fprintf(f, "%.10g,%.6g", lp, accept);
    for (size_t i = 0; i < d; ++i)
        fprintf(f, ",%.10g", theta[i]);
    for (size_t i = 0; i < g; ++i)
        fprintf(f, ",%.10g", gen[i]);
    fputc('\n', f);
}

static void run_chain(const reference_target *tg, uint32_t chain, chain_result *res)
{
    const reference_options *opt = tg->opt;
    const size_t d = pmhmc_model_dim(tg->model);
    const double base_scale = 2.38 / sqrt((double)d);
    double theta[MAX_DIM], prop[MAX_DIM], z[MAX_DIM], chol[MAX_DIM * MAX_DIM];
    chain_scratch cs = {malloc((tg->data->max_group_rows + 1) * sizeof(double)),
                        malloc(2 * tg->data->n_groups * sizeof(double))};
    running_cov *window = calloc(1, sizeof *window);
    char path[4096];
    snprintf(path, sizeof path, "%s_%" PRIu32 ".csv", opt->out_prefix, chain + 1);
    FILE *f = (cs.zb && cs.modes && window) ? fopen(path, "w") : NULL;
    if (!f) {
        res->failed = 1;
        snprintf(res->message, sizeof res->message, "%.200s: %s", path,
                 (cs.zb && cs.modes && window) ? "cannot be written" : "out of memory");
        free(cs.zb);
        free(cs.modes);
        free(window);
        return;
    }
    for (size_t i = 0; i < 2 * tg->data->n_groups; ++i)
        cs.modes[i] = NAN;

    pmhmc_model_initial(tg->model, opt->seed, chain, theta);
    double lp = log_posterior(tg, theta, &cs, 0);
    memset(chol, 0, sizeof chol);
    for (size_t i = 0; i < d; ++i)
        chol[i * d + i] = 0.1 / base_scale; /* first window: 0.1 per coordinate */
    double log_scale = 0.0;
    long accepted = 0, window_len = opt->warmup / WINDOWS;

    fprintf(f, "# glmm_exact_posterior: random-walk Metropolis on the exact marginal posterior\n");
    fprintf(f, "# data = %s\n# quadrature = adaptive Gauss-Hermite, %d nodes\n", opt->data_path, opt->nodes);
    fprintf(f, "# relabel = %s\n", opt->relabel ? "mu1 <= mu2" : "no");
    fprintf(f, "# prior_var = %g\n# seed = %llu\n# chain = %" PRIu32 "\n# warmup = %ld\n# iterations = %ld\n# thin = %d\n",
            opt->prior_var, (unsigned long long)opt->seed, chain + 1, opt->warmup, opt->iterations, opt->thin);
    fprintf(f, "lp__,accept_stat__");
    for (size_t i = 0; i < d; ++i)
        fprintf(f, ",%s", pmhmc_model_param_name(tg->model, i));
    for (size_t i = 0; i < pmhmc_model_n_generated(tg->model); ++i)
        fprintf(f, ",%s", pmhmc_model_generated_name(tg->model, i));
    fputc('\n', f);

    double t0 = now_seconds(), t_sampling = t0;
    const long total = opt->warmup + opt->iterations;
    for (long it = 0; it < total; ++it) {
        const int warm = it < opt->warmup;
        if (it == opt->warmup) {
            t_sampling = now_seconds();
            accepted = 0;
        }
        pmhmc_stream_normals(opt->seed, chain, 2 * (uint64_t)it, d, z);
        double widen = pmhmc_stream_uniform(opt->seed, chain, 2 * (uint64_t)it + 1, 0) < 0.1 ? 3.0 : 1.0;
        double scale = base_scale * exp(log_scale) * widen;
        for (size_t i = 0; i < d; ++i) {
            double s = 0.0;
            for (size_t k = 0; k <= i; ++k)
                s += chol[i * d + k] * z[k];
            prop[i] = theta[i] + scale * s;
        }
        double lp_prop = log_posterior(tg, prop, &cs, 0);
        double accept = lp_prop == -INFINITY ? 0.0 : fmin(1.0, exp(lp_prop - lp));
        if (pmhmc_stream_uniform(opt->seed, chain, 2 * (uint64_t)it + 1, 1) < accept) {
            memcpy(theta, prop, d * sizeof *theta);
            lp = lp_prop;
            accepted++;
        }
        if (warm) {
            /* Robbins-Monro on the log scale, restarted in every window. */
            /* iterations past the last full window belong to the last one */
            long window_index = window_len > 0 ? it / window_len : 0;
            if (window_index > WINDOWS - 1)
                window_index = WINDOWS - 1;
            long in_window = it - window_index * window_len;
            log_scale += (accept - 0.234) / pow((double)in_window + 1.0, 0.6);
            running_cov_add(window, theta, d);
            if (window_len > 0 && (it + 1) % window_len == 0 && (it + 1) / window_len < WINDOWS) {
                double fresh[MAX_DIM * MAX_DIM];
                if (window->n > d + 1 && proposal_from_window(window, d, fresh) == 0) {
                    memcpy(chol, fresh, sizeof fresh);
                    log_scale = 0.0;
                }
                memset(window, 0, sizeof *window);
            }
        } else {
            if ((it - opt->warmup) % opt->thin == 0)
                write_row(f, tg, lp, accept, theta);
            if ((it - opt->warmup) % CHECK_EVERY == 0) {
                double diff = fabs(log_posterior(tg, theta, &cs, 1) - lp);
                res->quadrature_check = diff > res->quadrature_check ? diff : res->quadrature_check;
            }
        }
    }
    double t_end = now_seconds();
    res->accept_rate = opt->iterations > 0 ? (double)accepted / (double)opt->iterations : 0.0;
    res->warmup_s = t_sampling - t0;
    res->sampling_s = t_end - t_sampling;
    res->last_lp = lp;
    fprintf(f, "# acceptance = %.4f\n# quadrature check: largest |log posterior with %d nodes - with %d| at every "
               "%dth sampling iteration: %.3g\n",
            res->accept_rate, 2 * opt->nodes, opt->nodes, CHECK_EVERY, res->quadrature_check);
    fprintf(f, "#\n#  Elapsed Time: %.3f seconds (Warm-up)\n#                %.3f seconds (Sampling)\n", res->warmup_s,
            res->sampling_s);
    if (ferror(f) | (fclose(f) != 0)) {
        res->failed = 1;
        snprintf(res->message, sizeof res->message, "%.200s: write failed", path);
    }
    free(cs.zb);
    free(cs.modes);
    free(window);
}

static int parse_long(const char *s, long lo, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < lo || v > MAX_COUNT)
        return -1;
    *out = v;
    return 0;
}

static int parse_positive(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0.0) || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int usage(const char *why)
{
    fprintf(stderr,
            "glmm_exact_posterior: %s\nusage: glmm_exact_posterior DATA.csv OUT_PREFIX [--chains C] [--warmup W] "
            "[--iterations N] [--thin K] [--seed S] [--prior-var V] [--nodes Q] [--relabel]\n",
            why);
    return 2;
}

int main(int argc, char **argv)
{
    reference_options opt = {NULL, NULL, 4, 10, 32, 0, 10000, 100000, 1, 100.0};
    int positional = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') {
            if (!strcmp(a, "--relabel")) {
                opt.relabel = 1;
                continue;
            }
            if (i + 1 >= argc)
                return usage("an option is missing its value");
            const char *v = argv[++i];
            long n;
            if (!strcmp(a, "--chains") && !parse_long(v, 1, &n) && n <= 64)
                opt.chains = (int)n;
            else if (!strcmp(a, "--warmup") && !parse_long(v, 0, &n))
                opt.warmup = n;
            else if (!strcmp(a, "--iterations") && !parse_long(v, 1, &n))
                opt.iterations = n;
            else if (!strcmp(a, "--thin") && !parse_long(v, 1, &n) && n <= 1000000)
                opt.thin = (int)n;
            else if (!strcmp(a, "--seed") && !parse_long(v, 0, &n))
                opt.seed = (uint64_t)n;
            else if (!strcmp(a, "--nodes") && !parse_long(v, 2, &n) && n <= GLMM_QUADRATURE_MAX_NODES / 2)
                opt.nodes = (int)n;
            else if (!strcmp(a, "--prior-var") && parse_positive(v, &opt.prior_var) == 0)
                ;
            else
                return usage("bad option or value");
        } else if (positional == 0) {
            opt.data_path = a, positional++;
        } else if (positional == 1) {
            opt.out_prefix = a, positional++;
        } else {
            return usage("too many arguments");
        }
    }
    if (positional != 2)
        return usage("DATA.csv and OUT_PREFIX are required");

    pmhmc_error err = {{0}};
    pmhmc_dataset *data = NULL;
    pmhmc_model *model = NULL;
    if (pmhmc_dataset_read_csv(opt.data_path, PMHMC_RESPONSE_BINARY, &data, &err) != PMHMC_OK) {
        fprintf(stderr, "glmm_exact_posterior: %s\n", err.message);
        return 1;
    }
    pmhmc_model_settings settings;
    pmhmc_model_settings_default(&settings);
    settings.prior_var = opt.prior_var;
    if (pmhmc_model_create(&settings, data, &model, &err) != PMHMC_OK || pmhmc_model_dim(model) > MAX_DIM) {
        fprintf(stderr, "glmm_exact_posterior: %s\n", model ? "too many parameters" : err.message);
        pmhmc_model_free(model);
        pmhmc_dataset_free(data);
        return 1;
    }
    static reference_target tg;
    tg.data = data;
    tg.model = model;
    tg.opt = &opt;
    chain_result *res = calloc((size_t)opt.chains, sizeof *res);
    int status = 0;
    if (!res || glmm_gauss_hermite(opt.nodes, &tg.rule, NULL) || glmm_gauss_hermite(2 * opt.nodes, &tg.doubled, NULL)) {
        fprintf(stderr, "glmm_exact_posterior: %s\n", res ? "Gauss-Hermite nodes did not converge" : "out of memory");
        opt.chains = 0;
        status = 1;
    }
#pragma omp parallel for schedule(static, 1)
    for (int c = 0; c < opt.chains; ++c)
        run_chain(&tg, (uint32_t)c, &res[c]);

    for (int c = 0; c < opt.chains; ++c) {
        if (res[c].failed) {
            fprintf(stderr, "glmm_exact_posterior: chain %d: %s\n", c + 1, res[c].message);
            status = 1;
            continue;
        }
        printf("chain %d: acceptance %.3f, warm-up %.1f s, sampling %.1f s, last lp %.3f, "
               "quadrature check (largest |2Q - Q nodes|) %.2g\n",
               c + 1, res[c].accept_rate, res[c].warmup_s, res[c].sampling_s, res[c].last_lp,
               res[c].quadrature_check);
    }
    free(res);
    pmhmc_model_free(model);
    pmhmc_dataset_free(data);
    return status;
}
