/* The logistic GLMM with a two-component Gaussian-mixture random effect
 * (DESIGN §2): theta = (beta_1..beta_p, mu1, mu2, log_lambda1, log_lambda2,
 * logit_w1), one auxiliary normal per importance draw (X = s u). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/estimators.h"
#include "error.h"
#include "math/philox.h"
#include "math/streams.h"
#include "models/model_impl.h"
#include "math/portable_math.h"

#define GLMM_MIXTURE_PARAMS 5

static const char *const MIXTURE_NAMES[GLMM_MIXTURE_PARAMS] = {"mu1", "mu2", "log_lambda1",
                                                               "log_lambda2", "logit_w1"};
static const char *const GENERATED_NAMES[] = {"lambda1", "lambda2", "w1"};

static pmhmc_status glmm_init(pmhmc_model *model, pmhmc_error *err)
{
    const pmhmc_dataset *data = model->data;
    if (data->n_groups < 1)
        return pmhmc_fail(err, PMHMC_ERR_DATA, "glmm: the data have no groups");
    size_t p = data->n_cov;
    size_t dim = p + GLMM_MIXTURE_PARAMS;
    const char **names = calloc(dim, sizeof *names);
    char (*beta_names)[32] = calloc(p ? p : 1, sizeof *beta_names);
    if (!names || !beta_names) {
        free(names);
        free(beta_names);
        return PMHMC_ERR_NOMEM;
    }
    for (size_t i = 0; i < p; ++i) {
        snprintf(beta_names[i], sizeof beta_names[i], "beta.%zu", i + 1);
        names[i] = beta_names[i];
    }
    for (size_t i = 0; i < GLMM_MIXTURE_PARAMS; ++i)
        names[p + i] = MIXTURE_NAMES[i];
    pmhmc_status st = pmhmc_model_set_names(model, dim, names);
    free(names);
    free(beta_names);
    return st;
}

static void glmm_generated(const pmhmc_model *model, const double *theta, double *out)
{
    const double *tail = theta + model->data->n_cov;
    out[0] = pmhmc_exp(tail[2]);
    out[1] = pmhmc_exp(tail[3]);
    out[2] = 1.0 / (1.0 + pmhmc_exp(-tail[4]));
}

/* The source report's start: beta from N(0, I), mu1 = mu2 = 0,
 * log_lambda1 = 0, log_lambda2 = log 0.1, logit_w1 = 0. */
static void glmm_initial(const pmhmc_model *model, uint64_t seed, uint32_t chain, double *theta)
{
    size_t p = model->data->n_cov;
    pmhmc_stream_normals(seed, chain, PMHMC_STREAM_INITIAL, p, theta);
    double *tail = theta + p;
    tail[0] = 0.0;
    tail[1] = 0.0;
    tail[2] = 0.0;
    tail[3] = pmhmc_log(0.1);
    tail[4] = 0.0;
}

const pmhmc_model_ops pmhmc_glmm_ops = {
    .name = "glmm",
    .response = PMHMC_RESPONSE_BINARY,
    .p_u = 1,
    .generated_names = GENERATED_NAMES,
    .n_generated = 3,
    .init = glmm_init,
    .generated = glmm_generated,
    .initial = glmm_initial,
    .cpu_scratch = pmhmc_re_cpu_scratch,
    .cpu_estimate = pmhmc_re_cpu_estimate,
    .re = &pmhmc_glmm_likelihood,
};
