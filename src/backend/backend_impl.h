/* The backend interface behind pmhmc_backend and pmhmc_workspace: one table
 * of operations per backend (CPU in src/cpu, CUDA in kernels/). Arguments are
 * checked in backend.c before they reach a table, so implementations may
 * assume valid vector indices and a non-NULL theta. */
#ifndef PMHMC_BACKEND_BACKEND_IMPL_H
#define PMHMC_BACKEND_BACKEND_IMPL_H

#include "pmhmc/backend.h"

/* One whole PM-HMC trajectory (the optional `integrate` op): exactly the
 * arithmetic of the host loop in src/sampler/integrator.c, pmhmc_integrate:
 *   theta += (h/2) M^-1 rho;  (u, p) <- R(h/2)(u, p)
 *   L times: fused estimate at theta with kick h and rotation h (h/2 after the
 *            last); a non-finite log phat stops here (theta, rho as they
 *            are, *log_phat the non-finite value, *stopped = 1); else
 *            rho += h (grad log phat + grad log p(theta)), with the model's
 *            N(0, prior_var) prior, and theta += t M^-1 rho (t = h, h/2 last)
 *   a value-only estimate at the end point: *log_phat.
 * theta and rho are updated in place; vectors u and p in the workspace. */
typedef struct pmhmc_integrate_request {
    double *theta;          /* [dim] in/out */
    double *rho;            /* [dim] in/out */
    const double *inv_mass; /* [dim] */
    int u, p;
    double h;
    size_t steps;           /* >= 1 */
    double *log_phat;       /* out */
    int *stopped;           /* out: 1 when a non-finite log phat ended it early */
} pmhmc_integrate_request;

typedef struct pmhmc_backend_ops {
    const char *name;
    pmhmc_status (*workspace_create)(pmhmc_backend *backend, pmhmc_workspace *ws, pmhmc_error *err);
    void (*workspace_free)(pmhmc_workspace *ws);
    void (*backend_free)(pmhmc_backend *backend);
    pmhmc_status (*normal)(pmhmc_workspace *ws, int v, uint64_t seed, uint32_t chain, uint64_t step);
    pmhmc_status (*copy)(pmhmc_workspace *ws, int dst, int src);
    pmhmc_status (*scale)(pmhmc_workspace *ws, int v, double alpha);
    pmhmc_status (*axpy)(pmhmc_workspace *ws, int y, double alpha, int x);
    pmhmc_status (*dot)(pmhmc_workspace *ws, int a, int b, double *out);
    pmhmc_status (*dots)(pmhmc_workspace *ws, size_t n, const int *a, const int *b, double *out);
    pmhmc_status (*rotate)(pmhmc_workspace *ws, int u, int p, double angle);
    pmhmc_status (*upload)(pmhmc_workspace *ws, int v, const double *host);
    pmhmc_status (*download)(pmhmc_workspace *ws, int v, double *host);
    pmhmc_status (*estimate)(pmhmc_workspace *ws, const pmhmc_estimate_request *req,
                             double *log_phat, double *grad_theta);
    /* OPTIONAL (NULL: the sampler runs the generic host loop of
     * src/sampler/integrator.c over the ops above, which stays the one
     * reference). A whole trajectory without host round trips between steps;
     * must match the host loop on the same backend. */
    pmhmc_status (*integrate)(pmhmc_workspace *ws, const pmhmc_integrate_request *req);
} pmhmc_backend_ops;

struct pmhmc_backend {
    const pmhmc_backend_ops *ops;
    pmhmc_backend_kind kind;
    pmhmc_precision precision;
    void *impl;
};

struct pmhmc_workspace {
    pmhmc_backend *backend;
    const pmhmc_model *model;
    int n_vectors;
    size_t length; /* model aux size */
    void *impl;
};

extern const pmhmc_backend_ops pmhmc_cpu_backend_ops;

/* Provided by the CUDA backend when built (kernels/cuda_backend.cu), and by
 * backend_nocuda.c otherwise. */
pmhmc_status pmhmc_cuda_backend_init(pmhmc_backend *backend, pmhmc_error *err);
int pmhmc_cuda_probe(char *reason, size_t reason_len);
/* Whether the CUDA kernels implement this model's estimator (its
 * model.estimator and model.proposal); else 0 and the reason. */
int pmhmc_cuda_supports(const pmhmc_model *model, char *reason, size_t reason_len);

#endif
