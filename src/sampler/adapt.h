/* Warm-up adaptation as in Stan (stan/mcmc/stepsize_adaptation.hpp,
 * windowed_adaptation.hpp, var_adaptation.hpp, welford_var_estimator.hpp):
 *
 *   step size: dual averaging (Nesterov; Hoffman & Gelman 2014) of
 *     log h towards the average acceptance statistic delta, with shrinkage
 *     target mu = log(10 h0), gamma, t0 and kappa; at the end of warm-up
 *     h = exp(x_bar).
 *   metric: the diagonal of M^-1 for theta (u keeps unit mass) is the
 *     regularized sample variance of theta over windows of warm-up: an
 *     initial buffer (75 iterations) with no metric learning, then windows
 *     of 25, 50, 100, ... (each twice the last; the last one stretched to
 *     the terminal buffer), then a terminal buffer (50) that only tunes the
 *     step size. After each window the metric is updated, the step size is
 *     searched again (the caller's job) and dual averaging restarts with
 *     mu = log(10 h).
 * When warm-up is too short for 75 + 25 + 50, Stan's fallback: buffers of
 * 15% and 10% of warm-up and one window of the rest (none below 20).
 *
 * The state is plain numbers and arrays so a checkpoint can copy it. */
#ifndef PMHMC_SAMPLER_ADAPT_H
#define PMHMC_SAMPLER_ADAPT_H

#include <stddef.h>

#include "pmhmc/sampler.h"

typedef struct pmhmc_dual_averaging {
    double mu, counter, s_bar, x_bar;
} pmhmc_dual_averaging;

typedef struct pmhmc_adapt {
    pmhmc_adapt_config settings; /* as used: short warm-ups shrink the windows */
    size_t dim;
    size_t num_warmup;
    pmhmc_dual_averaging da;
    /* windows (Stan's windowed_adaptation) */
    double window_counter, window_size, next_window; /* doubles: checkpointed as numbers */
    /* Welford accumulators of theta over the current window */
    double n_samples;
    double *mean; /* [dim] */
    double *m2;   /* [dim] */
} pmhmc_adapt;

/* Fills `a` for `num_warmup` iterations from `h0` (mu = log(10 h0): h0 is
 * the step-size search's result, as in Hoffman & Gelman's Algorithm 6 and
 * NumPyro; Stan centres the first window on the user's step size instead).
 * mean and m2 point into the caller's storage [dim] each. */
void pmhmc_adapt_init(pmhmc_adapt *a, const pmhmc_adapt_config *settings, size_t dim, size_t num_warmup,
                      double h0, double *mean, double *m2);

/* Dual averaging restarted around mu = log(10 h). */
void pmhmc_adapt_restart_step_size(pmhmc_adapt *a, double h);

/* One warm-up transition's update. *h becomes the next step size to use.
 * When the metric is learned and a window ended here, writes the new
 * diagonal of M^-1 into inv_metric and returns 1 (the caller searches a new
 * step size and calls pmhmc_adapt_restart_step_size); else returns 0. */
int pmhmc_adapt_learn(pmhmc_adapt *a, double accept_stat, const double *theta, double *h, double *inv_metric);

/* One dual-averaging update towards s->delta from accept_stat (at most 1
 * counts): returns the next step size, exp(x); da->x_bar keeps the
 * average of x. */
double pmhmc_dual_averaging_learn(pmhmc_dual_averaging *da, const pmhmc_adapt_config *s, double accept_stat);

/* The step size for sampling: exp(x_bar). */
double pmhmc_adapt_final_step_size(const pmhmc_adapt *a);

#endif
