#include "backend/backend_impl.h"

#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "models/model_impl.h"

#ifdef _OPENMP
#include <omp.h>
#endif

pmhmc_status pmhmc_backend_create(pmhmc_backend_kind kind, pmhmc_precision precision,
                                  pmhmc_backend **out, pmhmc_error *err)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    pmhmc_backend *backend = calloc(1, sizeof *backend);
    if (!backend)
        return PMHMC_ERR_NOMEM;
    backend->kind = kind;
    backend->precision = precision;
    pmhmc_status st = PMHMC_OK;
    switch (kind) {
    case PMHMC_BACKEND_CPU:
        if (precision != PMHMC_PRECISION_DOUBLE)
            st = pmhmc_fail(err, PMHMC_ERR_UNSUPPORTED, "the CPU backend runs in double precision only");
        backend->ops = &pmhmc_cpu_backend_ops;
        break;
    case PMHMC_BACKEND_CUDA:
        st = pmhmc_cuda_backend_init(backend, err);
        break;
    default:
        st = pmhmc_fail(err, PMHMC_ERR_ARG, "unknown backend kind %d", (int)kind);
    }
    if (st != PMHMC_OK) {
        free(backend);
        return st;
    }
    *out = backend;
    return PMHMC_OK;
}

void pmhmc_backend_free(pmhmc_backend *backend)
{
    if (!backend)
        return;
    if (backend->ops && backend->ops->backend_free)
        backend->ops->backend_free(backend);
    free(backend);
}

const char *pmhmc_backend_name(const pmhmc_backend *backend) { return backend->ops->name; }
pmhmc_backend_kind pmhmc_backend_get_kind(const pmhmc_backend *backend) { return backend->kind; }

int pmhmc_cuda_usable(char *reason, size_t reason_len) { return pmhmc_cuda_probe(reason, reason_len); }

int pmhmc_backend_supports(pmhmc_backend_kind kind, const pmhmc_model *model, char *reason, size_t reason_len)
{
    if (kind == PMHMC_BACKEND_CPU)
        return 1;
    return pmhmc_cuda_supports(model, reason, reason_len);
}

pmhmc_status pmhmc_workspace_create(pmhmc_backend *backend, const pmhmc_model *model,
                                    int n_vectors, pmhmc_workspace **out, pmhmc_error *err)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (!backend || !model || n_vectors < 1)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "workspace: backend, model and n_vectors >= 1 required");
    pmhmc_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return PMHMC_ERR_NOMEM;
    ws->backend = backend;
    ws->model = model;
    ws->n_vectors = n_vectors;
    ws->length = pmhmc_model_aux_size(model);
    pmhmc_status st = backend->ops->workspace_create(backend, ws, err);
    if (st != PMHMC_OK) {
        free(ws);
        return st;
    }
    *out = ws;
    return PMHMC_OK;
}

/* a * b, or SIZE_MAX when that overflows. */
static size_t mul_sat(size_t a, size_t b) { return a && b > SIZE_MAX / a ? SIZE_MAX : a * b; }
static size_t add_sat(size_t a, size_t b) { return b > SIZE_MAX - a ? SIZE_MAX : a + b; }

size_t pmhmc_workspace_bytes(const pmhmc_backend *backend, const pmhmc_model *model, int n_vectors)
{
    const size_t length = pmhmc_model_aux_size(model);
    const size_t element = backend->kind == PMHMC_BACKEND_CUDA && backend->precision == PMHMC_PRECISION_FLOAT
                               ? sizeof(float)
                               : sizeof(double);
    size_t bytes = mul_sat(mul_sat((size_t)(n_vectors > 0 ? n_vectors : 0), length), element);
    /* per-group log-likelihoods and gradients */
    bytes = add_sat(bytes, mul_sat(mul_sat(model->data->n_groups, model->dim + 1), sizeof(double)));
    if (backend->kind == PMHMC_BACKEND_CPU) { /* each OpenMP thread's estimator scratch */
#ifdef _OPENMP
        const size_t threads = (size_t)omp_get_max_threads();
#else
        const size_t threads = 1;
#endif
        bytes = add_sat(bytes, mul_sat(mul_sat(threads, model->ops->cpu_scratch(model)), sizeof(double)));
    }
    return bytes;
}

void pmhmc_workspace_free(pmhmc_workspace *ws)
{
    if (!ws)
        return;
    ws->backend->ops->workspace_free(ws);
    free(ws);
}

size_t pmhmc_workspace_length(const pmhmc_workspace *ws) { return ws->length; }

static int bad_vec(const pmhmc_workspace *ws, int v) { return v < 0 || v >= ws->n_vectors; }

pmhmc_status pmhmc_ws_normal(pmhmc_workspace *ws, int v, uint64_t seed, uint32_t chain, uint64_t step)
{
    if (!ws || bad_vec(ws, v))
        return PMHMC_ERR_ARG;
    return ws->backend->ops->normal(ws, v, seed, chain, step);
}

pmhmc_status pmhmc_ws_copy(pmhmc_workspace *ws, int dst, int src)
{
    if (!ws || bad_vec(ws, dst) || bad_vec(ws, src))
        return PMHMC_ERR_ARG;
    return dst == src ? PMHMC_OK : ws->backend->ops->copy(ws, dst, src);
}

pmhmc_status pmhmc_ws_scale(pmhmc_workspace *ws, int v, double alpha)
{
    if (!ws || bad_vec(ws, v))
        return PMHMC_ERR_ARG;
    return ws->backend->ops->scale(ws, v, alpha);
}

pmhmc_status pmhmc_ws_axpy(pmhmc_workspace *ws, int y, double alpha, int x)
{
    if (!ws || bad_vec(ws, y) || bad_vec(ws, x) || x == y)
        return PMHMC_ERR_ARG;
    return ws->backend->ops->axpy(ws, y, alpha, x);
}

pmhmc_status pmhmc_ws_dot(pmhmc_workspace *ws, int a, int b, double *out)
{
    if (!ws || !out || bad_vec(ws, a) || bad_vec(ws, b))
        return PMHMC_ERR_ARG;
    return ws->backend->ops->dot(ws, a, b, out);
}

pmhmc_status pmhmc_ws_dots(pmhmc_workspace *ws, size_t n, const int *a, const int *b, double *out)
{
    if (!ws || n > PMHMC_WS_MAX_DOTS || (n && (!a || !b || !out)))
        return PMHMC_ERR_ARG;
    for (size_t i = 0; i < n; ++i)
        if (bad_vec(ws, a[i]) || bad_vec(ws, b[i]))
            return PMHMC_ERR_ARG;
    return n ? ws->backend->ops->dots(ws, n, a, b, out) : PMHMC_OK;
}

pmhmc_status pmhmc_ws_rotate(pmhmc_workspace *ws, int u, int p, double angle)
{
    if (!ws || bad_vec(ws, u) || bad_vec(ws, p) || u == p)
        return PMHMC_ERR_ARG;
    return ws->backend->ops->rotate(ws, u, p, angle);
}

pmhmc_status pmhmc_ws_upload(pmhmc_workspace *ws, int v, const double *host)
{
    if (!ws || !host || bad_vec(ws, v))
        return PMHMC_ERR_ARG;
    return ws->backend->ops->upload(ws, v, host);
}

pmhmc_status pmhmc_ws_download(pmhmc_workspace *ws, int v, double *host)
{
    if (!ws || !host || bad_vec(ws, v))
        return PMHMC_ERR_ARG;
    return ws->backend->ops->download(ws, v, host);
}

pmhmc_status pmhmc_ws_estimate(pmhmc_workspace *ws, const pmhmc_estimate_request *req,
                               double *log_phat, double *grad_theta)
{
    if (!ws || !req || !req->theta || !log_phat || bad_vec(ws, req->u))
        return PMHMC_ERR_ARG;
    if (req->p >= 0 && (bad_vec(ws, req->p) || req->p == req->u))
        return PMHMC_ERR_ARG;
    if (req->grad_u >= 0 && (bad_vec(ws, req->grad_u) || req->grad_u == req->u || req->grad_u == req->p))
        return PMHMC_ERR_ARG;
    return ws->backend->ops->estimate(ws, req, log_phat, grad_theta);
}
