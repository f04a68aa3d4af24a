/* Models: a parameter vector theta, its prior, and an importance-sampling
 * estimator of the likelihood driven by auxiliary normals u.
 *
 * A model is made over a dataset it borrows (the dataset must outlive it).
 * Its auxiliary variables have shape [n_groups, N, p_u]; the estimator itself
 * runs on a backend (see backend.h). Models: "glmm" (logistic GLMM with a
 * two-component Gaussian-mixture random effect, DESIGN §2) and "normal_re"
 * (normal random effect with a closed-form likelihood, for checking). */
#ifndef PMHMC_MODEL_H
#define PMHMC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/io.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pmhmc_model pmhmc_model;

/* How the likelihood of a group is estimated (DESIGN §2, "Proposals"). */
typedef enum pmhmc_estimator_kind {
    PMHMC_ESTIMATOR_IMPORTANCE = 0, /* importance sampling with the proposal below, driven by u */
    PMHMC_ESTIMATOR_QUADRATURE = 1  /* adaptive Gauss-Hermite with N nodes per mixture component, centred on
                                       each component's Laplace mode: no u, the exact likelihood to the rule's
                                       accuracy (scalar random effects only) */
} pmhmc_estimator_kind;

/* The importance proposal per group (models/proposal.h). */
typedef enum pmhmc_proposal_kind {
    PMHMC_PROPOSAL_LAPLACE = 0, /* per mixture component, the Laplace approximation of the group's posterior
                                   of X: N/2 draws each, deterministic-mixture weights */
    PMHMC_PROPOSAL_PRIOR = 1,   /* the random effect's own components */
    PMHMC_PROPOSAL_FIXED = 2    /* N(0, is_scale^2): the source report's X = s u */
} pmhmc_proposal_kind;

typedef struct pmhmc_model_settings {
    const char *name;    /* "glmm" or "normal_re" */
    size_t n_importance; /* N, importance draws (quadrature: nodes) per group */
    double is_scale;     /* s of the fixed proposal (X = s u) */
    double prior_var;    /* sigma0^2 of the N(0, sigma0^2) prior on every theta_i */
    pmhmc_estimator_kind estimator;
    pmhmc_proposal_kind proposal;
} pmhmc_model_settings;

/* The names configs and the command line spell ("importance",
 * "quadrature"; "laplace", "prior", "fixed"); -1 for an unknown name. */
int pmhmc_estimator_from_name(const char *name);
int pmhmc_proposal_from_name(const char *name);
const char *pmhmc_estimator_name(pmhmc_estimator_kind kind);
const char *pmhmc_proposal_name(pmhmc_proposal_kind kind);

/* N = 128, s = 3, sigma0^2 = 100, name "glmm", importance sampling with the
 * laplace proposal. */
void pmhmc_model_settings_default(pmhmc_model_settings *settings);

/* The response kind a model's data must have (binary for glmm); fails with
 * PMHMC_ERR_CONFIG for an unknown model name. */
pmhmc_status pmhmc_model_response_kind(const char *name, pmhmc_response_kind *kind);

pmhmc_status pmhmc_model_create(const pmhmc_model_settings *settings, const pmhmc_dataset *data,
                                pmhmc_model **out, pmhmc_error *err);
void pmhmc_model_free(pmhmc_model *model);
/* A new model like `model` (same settings, over the same data) with N =
 * n_importance; models made by pmhmc_model_create only. */
pmhmc_status pmhmc_model_with_n_importance(const pmhmc_model *model, size_t n_importance, pmhmc_model **out,
                                           pmhmc_error *err);

const char *pmhmc_model_name(const pmhmc_model *model);
size_t pmhmc_model_dim(const pmhmc_model *model);
const char *pmhmc_model_param_name(const pmhmc_model *model, size_t i);
/* Constrained quantities reported beside theta (lambda1, lambda2, w1). */
size_t pmhmc_model_n_generated(const pmhmc_model *model);
const char *pmhmc_model_generated_name(const pmhmc_model *model, size_t i);
void pmhmc_model_generated(const pmhmc_model *model, const double *theta, double *out);
/* Number of auxiliary normals: n_groups * N * p_u (0 for quadrature). */
size_t pmhmc_model_aux_size(const pmhmc_model *model);
size_t pmhmc_model_n_groups(const pmhmc_model *model);
size_t pmhmc_model_n_importance(const pmhmc_model *model);
/* Number of terms one estimator pass evaluates (N * sum_i n_i for the GLMM). */
double pmhmc_model_terms(const pmhmc_model *model);

/* The documented starting point; random parts (the GLMM's beta) are drawn
 * from stream (seed, chain). theta is [dim]. */
void pmhmc_model_initial(const pmhmc_model *model, uint64_t seed, uint32_t chain, double *theta);

/* log p(theta) (normalized) and, when grad is not NULL, its gradient. */
double pmhmc_model_log_prior(const pmhmc_model *model, const double *theta, double *grad);

#ifdef __cplusplus
}
#endif
#endif
