#include "models/model_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "math/philox.h"
#include "math/gauss_hermite.h"
#include "math/portable_math.h"

static const pmhmc_model_ops *const MODELS[] = {&pmhmc_glmm_ops, &pmhmc_normal_re_ops};

static const pmhmc_model_ops *find_model(const char *name)
{
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; ++i)
        if (name && strcmp(MODELS[i]->name, name) == 0)
            return MODELS[i];
    return NULL;
}

static const char *const ESTIMATOR_NAMES[] = {"importance", "quadrature"};
static const char *const PROPOSAL_NAMES[] = {"laplace", "prior", "fixed"};

static int index_of(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; ++i)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int pmhmc_estimator_from_name(const char *name) { return index_of(ESTIMATOR_NAMES, 2, name); }
int pmhmc_proposal_from_name(const char *name) { return index_of(PROPOSAL_NAMES, 3, name); }

const char *pmhmc_estimator_name(pmhmc_estimator_kind kind)
{
    return (unsigned)kind < 2 ? ESTIMATOR_NAMES[kind] : "unknown";
}

const char *pmhmc_proposal_name(pmhmc_proposal_kind kind)
{
    return (unsigned)kind < 3 ? PROPOSAL_NAMES[kind] : "unknown";
}

void pmhmc_model_settings_default(pmhmc_model_settings *settings)
{
    settings->name = "glmm";
    settings->n_importance = 128;
    settings->is_scale = 3.0;
    settings->prior_var = 100.0;
    settings->estimator = PMHMC_ESTIMATOR_IMPORTANCE;
    settings->proposal = PMHMC_PROPOSAL_LAPLACE;
}

pmhmc_status pmhmc_model_response_kind(const char *name, pmhmc_response_kind *kind)
{
    const pmhmc_model_ops *ops = find_model(name);
    if (!ops)
        return PMHMC_ERR_CONFIG;
    *kind = ops->response;
    return PMHMC_OK;
}

pmhmc_status pmhmc_model_set_names(pmhmc_model *model, size_t dim, const char *const *names)
{
    model->param_names = calloc(dim, sizeof *model->param_names);
    if (!model->param_names)
        return PMHMC_ERR_NOMEM;
    model->dim = dim;
    for (size_t i = 0; i < dim; ++i) {
        model->param_names[i] = strdup(names[i]);
        if (!model->param_names[i])
            return PMHMC_ERR_NOMEM;
    }
    return PMHMC_OK;
}

pmhmc_status pmhmc_model_create(const pmhmc_model_settings *settings, const pmhmc_dataset *data,
                                pmhmc_model **out, pmhmc_error *err)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (!settings || !data)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "model: settings and data are required");
    const pmhmc_model_ops *ops = find_model(settings->name);
    if (!ops)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown model '%s' (expected glmm or normal_re)",
                          settings->name ? settings->name : "(null)");
    if (settings->n_importance < 1)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "model.N must be at least 1");
    if (!(settings->is_scale > 0.0) || !isfinite(settings->is_scale) || !(settings->prior_var > 0.0) ||
        !isfinite(settings->prior_var))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "model.is_scale and model.prior_var must be positive and finite");
    if ((double)data->n_groups * (double)settings->n_importance * (double)ops->p_u > 4.0e9)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "n_groups * N is too large (over 4e9 auxiliary variables)");
    if (settings->estimator != PMHMC_ESTIMATOR_IMPORTANCE && settings->estimator != PMHMC_ESTIMATOR_QUADRATURE)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown model.estimator %d", (int)settings->estimator);
    if (settings->proposal != PMHMC_PROPOSAL_LAPLACE && settings->proposal != PMHMC_PROPOSAL_PRIOR &&
        settings->proposal != PMHMC_PROPOSAL_FIXED)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "unknown model.proposal %d", (int)settings->proposal);
    if (!ops->re && (settings->estimator != PMHMC_ESTIMATOR_IMPORTANCE || settings->proposal != PMHMC_PROPOSAL_FIXED))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "model %s has an estimator of its own: model.estimator = importance and model.proposal "
                          "= fixed only",
                          ops->name);
    if (settings->estimator == PMHMC_ESTIMATOR_QUADRATURE && ops->p_u != 1)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "model.estimator = quadrature needs a scalar random effect; model %s has %zu per group",
                          ops->name, ops->p_u);
    if (settings->estimator == PMHMC_ESTIMATOR_QUADRATURE && settings->n_importance > PMHMC_GH_MAX_NODES)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "model.N = %zu: quadrature takes at most %d nodes (more would not be more accurate: "
                          "the rule's roots collapse)",
                          settings->n_importance, PMHMC_GH_MAX_NODES);
    if (settings->estimator == PMHMC_ESTIMATOR_IMPORTANCE && settings->proposal != PMHMC_PROPOSAL_FIXED &&
        settings->n_importance < 2)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "model.N = 1: model.proposal = %s draws N/2 from each of the random effect's "
                          "components; N must be at least 2",
                          settings->proposal == PMHMC_PROPOSAL_LAPLACE ? "laplace" : "prior");

    pmhmc_model *model = calloc(1, sizeof *model);
    if (!model)
        return PMHMC_ERR_NOMEM;
    model->ops = ops;
    model->settings = *settings;
    model->settings.name = ops->name;
    model->data = data;
    pmhmc_status st = ops->init(model, err);
    if (st == PMHMC_OK && settings->estimator == PMHMC_ESTIMATOR_QUADRATURE) {
        const size_t K = settings->n_importance;
        model->quad_t = malloc(K * sizeof *model->quad_t);
        model->quad_logw = malloc(K * sizeof *model->quad_logw);
        if (!model->quad_t || !model->quad_logw)
            st = PMHMC_ERR_NOMEM;
        else if (pmhmc_gauss_hermite((int)K, model->quad_t, model->quad_logw, NULL) != 0)
            st = pmhmc_fail(err, PMHMC_ERR_CONFIG, "model.N = %zu: no Gauss-Hermite rule of that size", K);
    }
    if (st != PMHMC_OK) {
        pmhmc_model_free(model);
        return st;
    }
    *out = model;
    return PMHMC_OK;
}

pmhmc_status pmhmc_model_with_n_importance(const pmhmc_model *model, size_t n_importance, pmhmc_model **out,
                                           pmhmc_error *err)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (!model)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "model: a model is required");
    pmhmc_model_settings settings = model->settings;
    settings.n_importance = n_importance;
    return pmhmc_model_create(&settings, model->data, out, err);
}

void pmhmc_model_free(pmhmc_model *model)
{
    if (!model)
        return;
    if (model->param_names)
        for (size_t i = 0; i < model->dim; ++i)
            free(model->param_names[i]);
    free(model->param_names);
    free(model->quad_t);
    free(model->quad_logw);
    free(model);
}

const char *pmhmc_model_name(const pmhmc_model *model) { return model->ops->name; }
size_t pmhmc_model_dim(const pmhmc_model *model) { return model->dim; }

const char *pmhmc_model_param_name(const pmhmc_model *model, size_t i)
{
    return i < model->dim ? model->param_names[i] : NULL;
}

size_t pmhmc_model_n_generated(const pmhmc_model *model) { return model->ops->n_generated; }

const char *pmhmc_model_generated_name(const pmhmc_model *model, size_t i)
{
    return i < model->ops->n_generated ? model->ops->generated_names[i] : NULL;
}

void pmhmc_model_generated(const pmhmc_model *model, const double *theta, double *out)
{
    model->ops->generated(model, theta, out);
}

size_t pmhmc_model_n_groups(const pmhmc_model *model) { return model->data->n_groups; }
size_t pmhmc_model_n_importance(const pmhmc_model *model) { return model->settings.n_importance; }

size_t pmhmc_model_aux_size(const pmhmc_model *model)
{
    if (model->settings.estimator == PMHMC_ESTIMATOR_QUADRATURE)
        return 0;
    return model->data->n_groups * model->settings.n_importance * model->ops->p_u;
}

double pmhmc_model_terms(const pmhmc_model *model)
{
    return (double)model->settings.n_importance * (double)model->data->n_rows;
}

void pmhmc_model_initial(const pmhmc_model *model, uint64_t seed, uint32_t chain, double *theta)
{
    model->ops->initial(model, seed, chain, theta);
}

double pmhmc_model_log_prior(const pmhmc_model *model, const double *theta, double *grad)
{
    double var = model->settings.prior_var;
    double sum_sq = 0.0;
    for (size_t i = 0; i < model->dim; ++i) {
        sum_sq += theta[i] * theta[i];
        if (grad)
            grad[i] = -theta[i] / var;
    }
    return -0.5 * sum_sq / var - (double)model->dim * (0.5 * pmhmc_log(var) + PMHMC_LOG_SQRT_2PI);
}
