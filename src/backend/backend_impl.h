/* The backend interface behind pmhmc_backend and pmhmc_workspace: one table
 * of operations per backend (CPU in src/cpu, CUDA in kernels/). Arguments are
 * checked in backend.c before they reach a table, so implementations may
 * assume valid vector indices and a non-NULL theta. */
#ifndef PMHMC_BACKEND_BACKEND_IMPL_H
#define PMHMC_BACKEND_BACKEND_IMPL_H

#include "pmhmc/backend.h"

typedef struct pmhmc_backend_ops {
    const char *name;
    pmhmc_status (*workspace_create)(pmhmc_backend *backend, pmhmc_workspace *ws, pmhmc_error *err);
    void (*workspace_free)(pmhmc_workspace *ws);
    void (*backend_free)(pmhmc_backend *backend);
    pmhmc_status (*normal)(pmhmc_workspace *ws, int v, uint64_t seed, uint32_t chain, uint64_t step);
    pmhmc_status (*copy)(pmhmc_workspace *ws, int dst, int src);
    pmhmc_status (*scale)(pmhmc_workspace *ws, int v, double alpha);
    pmhmc_status (*dot)(pmhmc_workspace *ws, int a, int b, double *out);
    pmhmc_status (*rotate)(pmhmc_workspace *ws, int u, int p, double angle);
    pmhmc_status (*upload)(pmhmc_workspace *ws, int v, const double *host);
    pmhmc_status (*download)(pmhmc_workspace *ws, int v, double *host);
    pmhmc_status (*estimate)(pmhmc_workspace *ws, const pmhmc_estimate_request *req,
                             double *log_phat, double *grad_theta);
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

#endif
