#include "sampler/adapt.h"
#include "math/portable_math.h"

#include <math.h>
#include <string.h>

static void restart_windows(pmhmc_adapt *a)
{
    a->window_counter = 0;
    a->window_size = (double)a->settings.window;
    a->next_window = (double)(a->settings.init_buffer + a->settings.window) - 1.0;
}

void pmhmc_adapt_restart_step_size(pmhmc_adapt *a, double h)
{
    a->da.mu = pmhmc_log(10.0 * h);
    a->da.counter = 0;
    a->da.s_bar = 0;
    a->da.x_bar = 0;
}

void pmhmc_adapt_init(pmhmc_adapt *a, const pmhmc_adapt_config *settings, size_t dim, size_t num_warmup,
                      double h0, double *mean, double *m2)
{
    memset(a, 0, sizeof *a);
    a->settings = *settings;
    a->dim = dim;
    a->num_warmup = num_warmup;
    a->mean = mean;
    a->m2 = m2;
    memset(mean, 0, dim * sizeof *mean);
    memset(m2, 0, dim * sizeof *m2);
    /* Stan's set_window_params: too short a warm-up for the requested
     * buffers gets 15% / 75% / 10%; under 20 iterations, no metric learning. */
    pmhmc_adapt_config *s = &a->settings;
    if (num_warmup < 20) {
        s->metric = 0;
    } else if (s->init_buffer + s->window + s->term_buffer > num_warmup) {
        s->init_buffer = (size_t)(0.15 * (double)num_warmup);
        s->term_buffer = (size_t)(0.1 * (double)num_warmup);
        s->window = num_warmup - (s->init_buffer + s->term_buffer);
    }
    restart_windows(a);
    pmhmc_adapt_restart_step_size(a, h0);
}

double pmhmc_dual_averaging_learn(pmhmc_dual_averaging *da, const pmhmc_adapt_config *s, double accept_stat)
{
    da->counter += 1.0;
    if (accept_stat > 1.0)
        accept_stat = 1.0;
    const double eta = 1.0 / (da->counter + s->t0);
    da->s_bar = (1.0 - eta) * da->s_bar + eta * (s->delta - accept_stat);
    const double x = da->mu - da->s_bar * sqrt(da->counter) / s->gamma;
    const double x_eta = pmhmc_exp(-s->kappa * pmhmc_log(da->counter)); /* counter^-kappa */
    da->x_bar = (1.0 - x_eta) * da->x_bar + x_eta * x;
    return pmhmc_exp(x);
}

static int in_window(const pmhmc_adapt *a)
{
    const double w = (double)a->num_warmup;
    return a->window_counter >= (double)a->settings.init_buffer &&
           a->window_counter < w - (double)a->settings.term_buffer && a->window_counter != w;
}

static int window_ends(const pmhmc_adapt *a)
{
    return a->window_counter == a->next_window && a->window_counter != (double)a->num_warmup;
}

static void compute_next_window(pmhmc_adapt *a)
{
    const double last = (double)a->num_warmup - (double)a->settings.term_buffer - 1.0;
    if (a->next_window == last)
        return;
    a->window_size *= 2.0;
    a->next_window = a->window_counter + a->window_size;
    if (a->next_window != last && a->next_window + 2.0 * a->window_size >= last + 1.0)
        a->next_window = last;
}

int pmhmc_adapt_learn(pmhmc_adapt *a, double accept_stat, const double *theta, double *h, double *inv_metric)
{
    *h = pmhmc_dual_averaging_learn(&a->da, &a->settings, accept_stat);
    if (!a->settings.metric)
        return 0;
    if (in_window(a)) {
        a->n_samples += 1.0;
        for (size_t i = 0; i < a->dim; ++i) {
            const double d = theta[i] - a->mean[i];
            a->mean[i] += d / a->n_samples;
            a->m2[i] += (theta[i] - a->mean[i]) * d;
        }
    }
    if (!window_ends(a)) {
        a->window_counter += 1.0;
        return 0;
    }
    compute_next_window(a);
    /* Regularized towards 1e-3 as Stan does: n / (n + 5) var + 1e-3 * 5 / (n + 5). */
    const double n = a->n_samples;
    for (size_t i = 0; i < a->dim; ++i) {
        const double var = n > 1.0 ? a->m2[i] / (n - 1.0) : 0.0;
        inv_metric[i] = (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0));
    }
    a->n_samples = 0;
    memset(a->mean, 0, a->dim * sizeof *a->mean);
    memset(a->m2, 0, a->dim * sizeof *a->m2);
    a->window_counter += 1.0;
    return 1;
}

double pmhmc_adapt_final_step_size(const pmhmc_adapt *a) { return pmhmc_exp(a->da.x_bar); }
