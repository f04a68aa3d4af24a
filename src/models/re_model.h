/* Random-effect models, the way their estimators see them (DESIGN §2): per
 * group g a scalar random effect X with a Gaussian-mixture density
 * f_theta(X) = sum_c w_c N(X; mu_c, 1/lambda_c), and the likelihood
 * L_g(X; theta) of the group's rows given X. The estimator integrates
 * L_g f_theta over X, by importance sampling with one of the proposals of
 * models/proposal.h or by quadrature; one skeleton per backend does it for
 * every such model (src/cpu/re_estimator.c), so a model brings only these
 * pieces:
 *   density     the mixture's components as functions of theta, with the
 *               derivatives the gradient needs
 *   group_begin what a group's evaluations share (GLMM: z_j'beta per row)
 *   at          the first three X-derivatives of log L at one X (the
 *               Laplace proposal's mode search and curvature)
 *   mixed       d/dtheta of L'(X) and L''(X) (the mode's and the
 *               curvature's own theta-derivatives, by implicit
 *               differentiation)
 *   terms       log L and L' at every draw of the group: the hot loop
 *   grad_terms  sum_k W_k d log L(X_k) / d theta, from what terms kept */
#ifndef PMHMC_MODELS_RE_MODEL_H
#define PMHMC_MODELS_RE_MODEL_H

#include <stddef.h>

#include "models/model_impl.h"

#define PMHMC_RE_MAX_COMPONENTS 2

/* One mixture component and where its parameters sit in theta:
 * mu = theta[mu_index] (or fixed, index -1), log lambda depends on
 * theta[loglam_index] with slope dloglam, log w on theta[logw_index] with
 * slope dlogw (index -1: constant). */
typedef struct pmhmc_re_component {
    double mu, lambda, log_w;
    int mu_index;
    int loglam_index;
    double dloglam;
    int logw_index;
    double dlogw;
} pmhmc_re_component;

typedef struct pmhmc_re_density {
    int n;
    pmhmc_re_component c[PMHMC_RE_MAX_COMPONENTS];
} pmhmc_re_density;

typedef struct pmhmc_re_likelihood_ops {
    void (*density)(const pmhmc_model *m, const double *theta, pmhmc_re_density *out);
    /* doubles of a group's context; of terms' scratch per draw */
    size_t (*ctx_size)(const pmhmc_model *m);
    size_t (*terms_scratch_per_draw)(const pmhmc_model *m);
    void (*group_begin)(const pmhmc_model *m, const double *theta, size_t g, double *ctx);
    /* out = {L', L'', L'''} at x (L = log L_g) */
    void (*at)(const pmhmc_model *m, size_t g, const double *ctx, double x, double out[3]);
    /* A bound on |L'| over all x (GLMM: the group's rows), or INFINITY:
     * with it the mode search starts from a bracket instead of finding one */
    double (*slope_bound)(const pmhmc_model *m, size_t g, const double *ctx);
    /* d1 [dim] += dL'(x)/dtheta, d2 [dim] += dL''(x)/dtheta */
    void (*mixed)(const pmhmc_model *m, size_t g, const double *ctx, double x, double *d1, double *d2);
    /* ll[k] = log L(x[k]), dll[k] = L'(x[k]), k < n; scratch [n * per draw] */
    void (*terms)(const pmhmc_model *m, size_t g, const double *ctx, const double *x, size_t n, double *ll,
                  double *dll, double *scratch);
    /* grad [dim] += sum_k w[k] d log L(x[k]) / dtheta, from terms' scratch */
    void (*grad_terms)(const pmhmc_model *m, size_t g, const double *ctx, const double *w, size_t n,
                       const double *scratch, double *grad);
} pmhmc_re_likelihood_ops;

#endif
