/* The CUDA backend's host side: device probe, backend and workspace
 * lifetime, and the ops table. Contract and memory layout in
 * cuda_backend.cuh; kernels in vector_ops.cu and the estimator families. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mutex>

#include "cuda_backend.cuh"
#include "gaussian_estimator.cuh"
#include "glmm_estimator.cuh"
#include "vector_ops.cuh"
#include "math/portable_math.h"

using namespace pmhmc_cuda;

pmhmc_status pmhmc_cuda_fail(pmhmc_error *err, cudaError_t code, const char *call, const char *file, int line)
{
    const char *base = strrchr(file, '/');
    return pmhmc_fail(err, PMHMC_ERR_DEVICE, "%s:%d: %s failed: %s (%s)", base ? base + 1 : file, line, call,
                      cudaGetErrorName(code), cudaGetErrorString(code));
}

/* ---- the process-wide API lock ----------------------------------------------

   Serializes the calls that must not overlap another thread's stream capture
   or that change state shared by all workspaces: backend init (kernel
   loading), workspace create/free (cudaMalloc, cudaFree and cudaFreeHost may
   synchronize the whole device, which invalidates a capture in progress on
   any stream; cudaFuncSetAttribute is a read-modify-write shared by every
   workspace using that kernel) and each graph capture (begin, enqueue, end,
   instantiate: tens of microseconds, once per trajectory key). Ordinary ops
   never take it. A function-local static: initialized on first use,
   thread-safely (C++11). */
/* The rotation's cos and sin are taken on the host, with the CPU backend's
 * portable functions: the same bits whichever CPU drives the GPU. */
static double host_cos(double angle)
{
    double s, c;
    pmhmc_sincos(angle, &s, &c);
    return c;
}

static double host_sin(double angle)
{
    double s, c;
    pmhmc_sincos(angle, &s, &c);
    return s;
}

static std::mutex &api_mutex()
{
    static std::mutex m;
    return m;
}

/* ---- estimator table ------------------------------------------------------ */

static const pmhmc_cuda_estimator ESTIMATORS[] = {
    {&pmhmc_glmm_ops, PMHMC_PROPOSAL_FIXED, pmhmc_cuda_glmm_setup, pmhmc_cuda_glmm_launch, pmhmc_cuda_glmm_derive,
     pmhmc_cuda_glmm_preload},
    {&pmhmc_normal_re_ops, PMHMC_PROPOSAL_PRIOR, pmhmc_cuda_normal_re_setup, pmhmc_cuda_normal_re_launch,
     pmhmc_cuda_normal_re_derive, pmhmc_cuda_normal_re_preload},
    {&pmhmc_gaussian_ops, PMHMC_PROPOSAL_FIXED, pmhmc_cuda_gaussian_setup, pmhmc_cuda_gaussian_launch,
     pmhmc_cuda_gaussian_derive, pmhmc_cuda_gaussian_preload},
};

static const char *proposal_name(pmhmc_proposal_kind k)
{
    return k == PMHMC_PROPOSAL_LAPLACE ? "laplace" : k == PMHMC_PROPOSAL_PRIOR ? "prior" : "fixed";
}

static const pmhmc_cuda_estimator *find_estimator(const pmhmc_model *model, char *reason, size_t reason_len)
{
    for (size_t i = 0; i < sizeof ESTIMATORS / sizeof ESTIMATORS[0]; ++i) {
        const pmhmc_cuda_estimator *e = &ESTIMATORS[i];
        if (e->model != model->ops)
            continue;
        if (model->settings.estimator == PMHMC_ESTIMATOR_IMPORTANCE && model->settings.proposal == e->proposal)
            return e;
        snprintf(reason, reason_len,
                 "the CUDA backend runs model %s with model.estimator = importance and model.proposal = %s only; "
                 "%s runs on the CPU backend",
                 model->ops->name, proposal_name(e->proposal),
                 model->settings.estimator == PMHMC_ESTIMATOR_QUADRATURE
                     ? "model.estimator = quadrature"
                     : (model->settings.proposal == PMHMC_PROPOSAL_LAPLACE ? "model.proposal = laplace"
                                                                           : "model.proposal = prior"));
        return NULL;
    }
    snprintf(reason, reason_len, "the CUDA backend has no estimator for model '%s'", model->ops->name);
    return NULL;
}

extern "C" int pmhmc_cuda_supports(const pmhmc_model *model, char *reason, size_t reason_len)
{
    char why[256];
    const int ok = find_estimator(model, why, sizeof why) != NULL;
    if (!ok && reason && reason_len)
        snprintf(reason, reason_len, "%s", why);
    return ok;
}

/* ---- probe ------------------------------------------------------------------ */

extern "C" int pmhmc_cuda_probe(char *reason, size_t reason_len)
{
    char sink[8];
    if (!reason || !reason_len) {
        reason = sink;
        reason_len = sizeof sink;
    }
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess) {
        int driver = 0, runtime = 0;
        cudaDriverGetVersion(&driver);
        cudaRuntimeGetVersion(&runtime);
        if (rc == cudaErrorNoDevice)
            snprintf(reason, reason_len, "no CUDA device found");
        else if (rc == cudaErrorInsufficientDriver && driver == 0)
            snprintf(reason, reason_len, "no CUDA driver found (libcuda could not be loaded)");
        else if (rc == cudaErrorInsufficientDriver)
            snprintf(reason, reason_len, "CUDA driver too old: it supports CUDA %d.%d, this build needs %d.%d",
                     driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
        else
            snprintf(reason, reason_len, "CUDA unavailable: %s (%s)", cudaGetErrorName(rc), cudaGetErrorString(rc));
        return 0;
    }
    if (count < 1) {
        snprintf(reason, reason_len, "no CUDA device found");
        return 0;
    }
    if ((rc = cudaSetDevice(0)) != cudaSuccess) {
        snprintf(reason, reason_len, "CUDA device 0 unusable: %s (%s)", cudaGetErrorName(rc), cudaGetErrorString(rc));
        return 0;
    }
    if ((rc = kernel_image_check()) != cudaSuccess) {
        cudaDeviceProp prop;
        int major = 0, minor = 0;
        if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
            major = prop.major;
            minor = prop.minor;
        }
        snprintf(reason, reason_len,
                 "CUDA device 0 (compute capability %d.%d) cannot run this build's kernels: %s; "
                 "rebuild with CMAKE_CUDA_ARCHITECTURES including %d%d",
                 major, minor, cudaGetErrorName(rc), major, minor);
        cudaGetLastError(); /* clear the non-sticky error */
        return 0;
    }
    if (reason_len)
        reason[0] = '\0';
    return 1;
}

/* ---- workspace --------------------------------------------------------------- */

static void *vec(pmhmc_workspace *ws, int v)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    return (char *)cw->vectors + (size_t)v * ws->length * cw->elem;
}

/* Frees everything cw owns; the caller holds api_mutex. */
static void workspace_release(pmhmc_workspace *ws)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    if (!cw)
        return;
    if (cw->stream)
        cudaStreamSynchronize(cw->stream);
    cudaFree(cw->vectors);
    cudaFree(cw->group_start);
    cudaFree(cw->y);
    cudaFree(cw->z);
    cudaFree(cw->zb);
    cudaFree(cw->partials);
    cudaFree(cw->chunk_sums);
    cudaFree(cw->counters);
    cudaFree(cw->dot_partials);
    cudaFree(cw->dot_chunk_sums);
    cudaFree(cw->dot_counters);
    cudaFree(cw->staging);
    cudaFree(cw->theta_dev);
    cudaFreeHost(cw->theta_pinned);
    cudaFree(cw->result_buf);
    cudaFreeHost(cw->host_result);
    if (cw->graph)
        cudaGraphExecDestroy(cw->graph);
    cudaFree(cw->traj_state);
    cudaFreeHost(cw->traj_in);
    cudaFreeHost(cw->traj_out_host);
    cudaFree(cw->traj_out_buf);
    cudaFree((void *)cw->args.group_stats);
    cudaFree(cw->args.stash);
    if (cw->stream)
        cudaStreamDestroy(cw->stream);
    free(cw);
    ws->impl = NULL;
}

static void cuda_workspace_free(pmhmc_workspace *ws)
{
    std::lock_guard<std::mutex> lock(api_mutex());
    workspace_release(ws);
}

/* Copies n host doubles to dst as T (converted on the host, then one copy). */
static pmhmc_status upload_as(void **dst, const double *src, size_t n, int is_float, cudaStream_t stream,
                              pmhmc_error *err)
{
    const size_t elem = is_float ? sizeof(float) : sizeof(double);
    PMHMC_CUDA_TRY(err, cudaMalloc(dst, (n ? n : 1) * elem));
    if (n == 0)
        return PMHMC_OK;
    if (!is_float) {
        PMHMC_CUDA_TRY(err, cudaMemcpyAsync(*dst, src, n * elem, cudaMemcpyHostToDevice, stream));
        PMHMC_CUDA_TRY(err, cudaStreamSynchronize(stream));
        return PMHMC_OK;
    }
    float *tmp = (float *)malloc(n * sizeof *tmp);
    if (!tmp)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "out of memory converting %zu data values to float", n);
    for (size_t i = 0; i < n; ++i)
        tmp[i] = (float)src[i];
    cudaError_t rc = cudaMemcpyAsync(*dst, tmp, n * elem, cudaMemcpyHostToDevice, stream);
    if (rc == cudaSuccess)
        rc = cudaStreamSynchronize(stream);
    free(tmp);
    if (rc != cudaSuccess)
        return pmhmc_cuda_fail(err, rc, "cudaMemcpyAsync(data as float)", __FILE__, __LINE__);
    return PMHMC_OK;
}

static pmhmc_status workspace_setup(pmhmc_workspace *ws, CudaWorkspace *cw, pmhmc_error *err)
{
    const pmhmc_model *model = ws->model;
    const pmhmc_dataset *data = model->data;
    CudaBackend *be = cw->be;
    const size_t G = data->n_groups, dim = model->dim, L = ws->length;
    const size_t n_chunks = (size_t)reduce_chunks((int)G);
    const size_t dot_chunks = (size_t)reduce_chunks(DOT_BLOCKS);

    if (G > (size_t)0x7fffffff)
        return pmhmc_fail(err, PMHMC_ERR_UNSUPPORTED, "the CUDA backend handles at most 2^31 - 1 groups");
    if (model->settings.n_importance > (size_t)0x7fffffff)
        return pmhmc_fail(err, PMHMC_ERR_UNSUPPORTED, "the CUDA backend handles at most 2^31 - 1 draws per group");
    PMHMC_CUDA_TRY(err, cudaSetDevice(be->device));
    PMHMC_CUDA_TRY(err, cudaStreamCreateWithFlags(&cw->stream, cudaStreamNonBlocking));
    cudaStream_t stream = cw->stream;

    const size_t vec_bytes = (size_t)ws->n_vectors * L * cw->elem;
    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->vectors, vec_bytes ? vec_bytes : 1));
    PMHMC_CUDA_TRY(err, cudaMemsetAsync(cw->vectors, 0, vec_bytes, stream));

    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->group_start, (G + 1) * sizeof(size_t)));
    PMHMC_CUDA_TRY(err, cudaMemcpyAsync(cw->group_start, data->group_start, (G + 1) * sizeof(size_t),
                                        cudaMemcpyHostToDevice, stream));
    PMHMC_TRY(upload_as(&cw->y, data->y, data->n_rows, cw->is_float, stream, err));
    PMHMC_TRY(upload_as(&cw->z, data->z, data->n_rows * data->n_cov, cw->is_float, stream, err));
    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->zb, (data->n_rows ? data->n_rows : 1) * cw->elem));

    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->partials, G * (dim + 1) * sizeof(double)));
    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->chunk_sums, n_chunks * (dim + 1) * sizeof(double)));
    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->counters, (n_chunks + 1) * sizeof(unsigned)));
    PMHMC_CUDA_TRY(err, cudaMemsetAsync(cw->counters, 0, (n_chunks + 1) * sizeof(unsigned), stream));
    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->dot_partials, DOT_BLOCKS * MAX_DOTS * sizeof(double)));
    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->dot_chunk_sums, dot_chunks * MAX_DOTS * sizeof(double)));
    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->dot_counters, (dot_chunks + 1) * sizeof(unsigned)));
    PMHMC_CUDA_TRY(err, cudaMemsetAsync(cw->dot_counters, 0, (dot_chunks + 1) * sizeof(unsigned), stream));

    /* [dim + 1] for the estimator, [MAX_DOTS] after it for dot and dots */
    const size_t result_bytes = (dim + 1 + MAX_DOTS) * sizeof(double);
    if (be->can_map_host &&
        cudaHostAlloc((void **)&cw->host_result, result_bytes, cudaHostAllocMapped) == cudaSuccess &&
        cudaHostGetDevicePointer((void **)&cw->dev_result, cw->host_result, 0) == cudaSuccess) {
        cw->result_buf = NULL;
    } else {
        cudaGetLastError(); /* a failed mapped allocation is not sticky: fall back to a copy */
        if (cw->host_result)
            cudaFreeHost(cw->host_result);
        cw->host_result = NULL;
        PMHMC_CUDA_TRY(err, cudaMallocHost((void **)&cw->host_result, result_bytes));
        PMHMC_CUDA_TRY(err, cudaMalloc(&cw->result_buf, result_bytes));
        cw->dev_result = cw->result_buf;
    }

    /* trajectory buffers (small: a few dim doubles) */
    PMHMC_CUDA_TRY(err, cudaMalloc(&cw->traj_state, pmhmc_traj_state_len(dim) * sizeof(double)));
    PMHMC_CUDA_TRY(err, cudaMallocHost((void **)&cw->traj_in, (3 * dim + PMHMC_TRAJ_DERIVED + 2) * sizeof(double)));
    const size_t out_bytes = (2 * dim + 2) * sizeof(double);
    if (be->can_map_host && cudaHostAlloc((void **)&cw->traj_out_host, out_bytes, cudaHostAllocMapped) == cudaSuccess &&
        cudaHostGetDevicePointer((void **)&cw->traj_out_dev, cw->traj_out_host, 0) == cudaSuccess) {
        cw->traj_out_buf = NULL;
    } else {
        cudaGetLastError();
        if (cw->traj_out_host)
            cudaFreeHost(cw->traj_out_host);
        cw->traj_out_host = NULL;
        PMHMC_CUDA_TRY(err, cudaMallocHost((void **)&cw->traj_out_host, out_bytes));
        PMHMC_CUDA_TRY(err, cudaMalloc(&cw->traj_out_buf, out_bytes));
        cw->traj_out_dev = cw->traj_out_buf;
    }

    if (dim > PMHMC_CUDA_INLINE_THETA) {
        PMHMC_CUDA_TRY(err, cudaMalloc(&cw->theta_dev, dim * sizeof(double)));
        PMHMC_CUDA_TRY(err, cudaMallocHost((void **)&cw->theta_pinned, dim * sizeof(double)));
    }
    if (cw->is_float) {
        cw->staging_len = L < ((size_t)1 << 20) ? L : ((size_t)1 << 20);
        PMHMC_CUDA_TRY(err, cudaMalloc(&cw->staging, (cw->staging_len ? cw->staging_len : 1) * sizeof(double)));
    }

    pmhmc_cuda_estimate_args *a = &cw->args;
    a->group_start = cw->group_start;
    a->y = cw->y;
    a->z = cw->z;
    a->zb = cw->zb;
    a->n_groups = G;
    a->n_rows = data->n_rows;
    a->n_cov = data->n_cov;
    a->max_group_rows = data->max_group_rows;
    a->n_draws = model->settings.n_importance;
    a->dim = dim;
    a->is_float = cw->is_float;
    a->sm_count = be->sm_count;
    a->smem_optin = be->smem_optin;
    a->theta_dev = cw->theta_dev;
    a->partials = cw->partials;
    a->chunk_sums = cw->chunk_sums;
    a->counters = cw->counters;
    a->result = cw->dev_result;
    a->stream = stream;
    a->glmm_variant = be->glmm_variant;
    memset(&a->traj, 0, sizeof a->traj);
    PMHMC_TRY(cw->est->setup(model, a, err));
    PMHMC_CUDA_TRY(err, cudaStreamSynchronize(stream));
    return PMHMC_OK;
}

static pmhmc_status cuda_workspace_create(pmhmc_backend *backend, pmhmc_workspace *ws, pmhmc_error *err)
{
    char why[256];
    const pmhmc_cuda_estimator *est = find_estimator(ws->model, why, sizeof why);
    if (!est)
        return pmhmc_fail(err, PMHMC_ERR_UNSUPPORTED, "%s", why);
    CudaWorkspace *cw = (CudaWorkspace *)calloc(1, sizeof *cw);
    if (!cw)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "out of memory for the CUDA workspace");
    cw->be = (CudaBackend *)backend->impl;
    cw->is_float = backend->precision == PMHMC_PRECISION_FLOAT;
    cw->elem = cw->is_float ? sizeof(float) : sizeof(double);
    cw->est = est;
    ws->impl = cw;
    std::lock_guard<std::mutex> lock(api_mutex());
    pmhmc_status st = workspace_setup(ws, cw, err);
    if (st != PMHMC_OK)
        workspace_release(ws);
    return st;
}

/* ---- ops ----------------------------------------------------------------------- */

/* Waits for the stream and makes the first n result doubles readable on the host. */
static pmhmc_status fetch_result(CudaWorkspace *cw, size_t offset, size_t n)
{
    cudaStream_t stream = cw->stream;
    if (cw->result_buf)
        PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(cw->host_result + offset, cw->result_buf + offset, n * sizeof(double),
                                             cudaMemcpyDeviceToHost, stream));
    PMHMC_CUDA_TRY(NULL, cudaStreamSynchronize(stream));
    return PMHMC_OK;
}

static pmhmc_status cuda_normal(pmhmc_workspace *ws, int v, uint64_t seed, uint32_t chain, uint64_t step)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    return normal_fill(vec(ws, v), cw->is_float, ws->length, seed, chain, step, cw->stream, cw->be->sm_count);
}

static pmhmc_status cuda_copy(pmhmc_workspace *ws, int dst, int src)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(vec(ws, dst), vec(ws, src), ws->length * cw->elem,
                                         cudaMemcpyDeviceToDevice, cw->stream));
    return PMHMC_OK;
}

static pmhmc_status cuda_scale(pmhmc_workspace *ws, int v, double alpha)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    return scale(vec(ws, v), cw->is_float, ws->length, alpha, cw->stream, cw->be->sm_count);
}

static pmhmc_status cuda_axpy(pmhmc_workspace *ws, int y, double alpha, int x)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    return axpy(vec(ws, y), vec(ws, x), cw->is_float, ws->length, alpha, cw->stream, cw->be->sm_count);
}

static pmhmc_status cuda_dot(pmhmc_workspace *ws, int a, int b, double *out)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    const size_t slot = ws->model->dim + 1;
    RowReduce rr;
    rr.partials = cw->dot_partials;
    rr.chunk_sums = cw->dot_chunk_sums;
    rr.counters = cw->dot_counters;
    rr.result = cw->dev_result + slot;
    rr.n_rows = DOT_BLOCKS;
    rr.D = 1;
    PMHMC_TRY(dot(vec(ws, a), vec(ws, b), cw->is_float, ws->length, rr, cw->stream));
    PMHMC_TRY(fetch_result(cw, slot, 1));
    *out = cw->host_result[slot];
    return PMHMC_OK;
}

/* All pairs in one launch and one synchronization (a NUTS merge needs ten),
 * each with cuda_dot's bits. */
static pmhmc_status cuda_dots(pmhmc_workspace *ws, size_t n, const int *a, const int *b, double *out)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    const size_t slot = ws->model->dim + 1;
    DotPairs pairs;
    pairs.n = (int)n;
    for (size_t i = 0; i < n; ++i) {
        pairs.a[i] = vec(ws, a[i]);
        pairs.b[i] = vec(ws, b[i]);
    }
    RowReduce rr;
    rr.partials = cw->dot_partials;
    rr.chunk_sums = cw->dot_chunk_sums;
    rr.counters = cw->dot_counters;
    rr.result = cw->dev_result + slot;
    PMHMC_TRY(dots(pairs, cw->is_float, ws->length, rr, cw->stream));
    PMHMC_TRY(fetch_result(cw, slot, n));
    memcpy(out, cw->host_result + slot, n * sizeof *out);
    return PMHMC_OK;
}

static pmhmc_status cuda_rotate(pmhmc_workspace *ws, int u, int p, double angle)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    return rotate(vec(ws, u), vec(ws, p), cw->is_float, ws->length, host_cos(angle), host_sin(angle), cw->stream,
                  cw->be->sm_count);
}

static pmhmc_status cuda_upload(pmhmc_workspace *ws, int v, const double *host)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    cudaStream_t stream = cw->stream;
    const size_t n = ws->length;
    if (!cw->is_float) {
        PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(vec(ws, v), host, n * sizeof(double), cudaMemcpyHostToDevice, stream));
    } else {
        float *dst = (float *)vec(ws, v);
        for (size_t off = 0; off < n; off += cw->staging_len) {
            const size_t len = n - off < cw->staging_len ? n - off : cw->staging_len;
            /* stream order keeps the next chunk's copy behind this chunk's conversion */
            PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(cw->staging, host + off, len * sizeof(double),
                                                 cudaMemcpyHostToDevice, stream));
            PMHMC_TRY(to_storage(dst + off, cw->staging, 1, len, stream, cw->be->sm_count));
        }
    }
    PMHMC_CUDA_TRY(NULL, cudaStreamSynchronize(stream)); /* the caller may reuse host */
    return PMHMC_OK;
}

static pmhmc_status cuda_download(pmhmc_workspace *ws, int v, double *host)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    cudaStream_t stream = cw->stream;
    const size_t n = ws->length;
    if (!cw->is_float) {
        PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(host, vec(ws, v), n * sizeof(double), cudaMemcpyDeviceToHost, stream));
    } else {
        const float *src = (const float *)vec(ws, v);
        for (size_t off = 0; off < n; off += cw->staging_len) {
            const size_t len = n - off < cw->staging_len ? n - off : cw->staging_len;
            PMHMC_TRY(from_storage(cw->staging, src + off, 1, len, stream, cw->be->sm_count));
            PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(host + off, cw->staging, len * sizeof(double),
                                                 cudaMemcpyDeviceToHost, stream));
        }
    }
    PMHMC_CUDA_TRY(NULL, cudaStreamSynchronize(stream));
    return PMHMC_OK;
}

static pmhmc_status cuda_estimate(pmhmc_workspace *ws, const pmhmc_estimate_request *req, double *log_phat,
                                  double *grad_theta)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    const size_t dim = ws->model->dim;
    pmhmc_cuda_estimate_args a = cw->args;
    a.theta = req->theta;
    if (cw->theta_dev) {
        memcpy(cw->theta_pinned, req->theta, dim * sizeof(double));
        PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(cw->theta_dev, cw->theta_pinned, dim * sizeof(double),
                                             cudaMemcpyHostToDevice, a.stream));
    }
    a.u = vec(ws, req->u);
    a.p = req->p >= 0 ? vec(ws, req->p) : NULL;
    a.grad_u = req->grad_u >= 0 ? vec(ws, req->grad_u) : NULL;
    a.kick = req->kick;
    a.cos_a = host_cos(req->angle);
    a.sin_a = host_sin(req->angle);
    a.want_grad_theta = grad_theta != NULL;
    PMHMC_TRY(cw->est->launch(ws->model, &a, NULL));
    const size_t n = grad_theta ? dim + 1 : 1;
    PMHMC_TRY(fetch_result(cw, 0, n));
    *log_phat = cw->host_result[0]; /* may be non-finite: the sampler rejects such a state */
    if (grad_theta)
        for (size_t i = 0; i < dim; ++i)
            grad_theta[i] = cw->host_result[1 + i];
    return PMHMC_OK;
}

/* ---- device-side trajectories ---------------------------------------------------- */

static bool same_key(const TrajKey &a, const TrajKey &b)
{
    return a.h == b.h && a.steps == b.steps && a.u == b.u && a.p == b.p;
}

/* Enqueues one trajectory (contract in cuda_backend.cuh) from the state in
 * cw->traj_in; nothing synchronized. Capture-safe: only asynchronous copies
 * and kernel launches. */
static pmhmc_status traj_enqueue(pmhmc_workspace *ws, CudaWorkspace *cw, const TrajKey &key)
{
    const size_t dim = ws->model->dim;
    cudaStream_t stream = cw->stream;
    const double h = key.h;
    PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(cw->traj_state, cw->traj_in, (3 * dim + PMHMC_TRAJ_DERIVED + 2) * sizeof(double),
                                         cudaMemcpyHostToDevice, stream));
    /* the first A(h/2)'s rotation, as pmhmc_ws_rotate(u, p, h / 2) */
    PMHMC_TRY(rotate(vec(ws, key.u), vec(ws, key.p), cw->is_float, ws->length, host_cos(0.5 * h), host_sin(0.5 * h), stream,
                     cw->be->sm_count));
    pmhmc_cuda_estimate_args a = cw->args;
    a.theta = cw->traj_in; /* unused: the kernels read theta from the state */
    a.u = vec(ws, key.u);
    a.p = vec(ws, key.p);
    a.grad_u = NULL;
    a.kick = h;
    a.want_grad_theta = 1;
    a.result = cw->traj_state + 3 * dim + PMHMC_TRAJ_DERIVED + 2;
    a.traj.state = cw->traj_state;
    a.traj.out = cw->traj_out_dev;
    a.traj.dim = (int)dim;
    a.traj.final_ = 0;
    a.traj.h = h;
    a.traj.prior_var = ws->model->settings.prior_var;
    for (size_t l = 0; l < key.steps; ++l) {
        const int last = l + 1 == key.steps;
        const double angle = last ? 0.5 * h : h;
        a.cos_a = host_cos(angle);
        a.sin_a = host_sin(angle);
        a.traj.drift = last ? 0.5 * h : h;
        PMHMC_TRY(cw->est->launch(ws->model, &a, NULL));
    }
    a.p = NULL;
    a.kick = 0.0;
    a.cos_a = 1.0;
    a.sin_a = 0.0;
    a.want_grad_theta = 0;
    a.traj.final_ = 1;
    PMHMC_TRY(cw->est->launch(ws->model, &a, NULL));
    if (cw->traj_out_buf)
        PMHMC_CUDA_TRY(NULL, cudaMemcpyAsync(cw->traj_out_host, cw->traj_out_buf, (2 * dim + 2) * sizeof(double),
                                             cudaMemcpyDeviceToHost, stream));
    return PMHMC_OK;
}

/* Captures traj_enqueue into cw->graph for key. Under api_mutex: no other
 * thread of this process may, meanwhile, make a call that synchronizes the
 * device (cudaFree in a workspace free), which would invalidate the capture.
 * ThreadLocal mode: other threads' stream-ordered calls stay legal. */
static pmhmc_status traj_capture(pmhmc_workspace *ws, CudaWorkspace *cw, const TrajKey &key)
{
    cudaStream_t stream = cw->stream;
    std::lock_guard<std::mutex> lock(api_mutex());
    if (cw->graph) {
        cudaGraphExecDestroy(cw->graph);
        cw->graph = NULL;
    }
    PMHMC_CUDA_TRY(NULL, cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    pmhmc_status st = traj_enqueue(ws, cw, key);
    cudaGraph_t graph = NULL;
    cudaError_t rc = cudaStreamEndCapture(stream, &graph); /* always: the stream leaves capture mode */
    if (st == PMHMC_OK && rc == cudaSuccess)
        rc = cudaGraphInstantiate(&cw->graph, graph, 0);
    if (graph)
        cudaGraphDestroy(graph);
    if (st != PMHMC_OK)
        return st;
    if (rc != cudaSuccess) {
        cw->graph = NULL;
        return pmhmc_cuda_fail(NULL, rc, "trajectory graph capture", __FILE__, __LINE__);
    }
    cw->graph_key = key;
    return PMHMC_OK;
}

static pmhmc_status cuda_integrate(pmhmc_workspace *ws, const pmhmc_integrate_request *req)
{
    CudaWorkspace *cw = (CudaWorkspace *)ws->impl;
    const size_t dim = ws->model->dim;
    *req->stopped = 0;
    if (req->steps == 0)
        return PMHMC_OK;
    /* the first A(h/2) drift, on the host as in the host loop:
     * theta + (t * inv_mass) * rho, rounded after each operation */
    double *in = cw->traj_in;
    const double t = 0.5 * req->h;
    for (size_t i = 0; i < dim; ++i) {
        volatile double step = t * req->inv_mass[i];
        volatile double move = step * req->rho[i];
        in[i] = req->theta[i] + move;
        in[dim + i] = req->rho[i];
        in[2 * dim + i] = req->inv_mass[i];
    }
    cw->est->derive(ws->model, in, in + 3 * dim);
    in[3 * dim + PMHMC_TRAJ_DERIVED] = 0.0;     /* log_phat */
    in[3 * dim + PMHMC_TRAJ_DERIVED + 1] = 0.0; /* stopped */

    const TrajKey key = {req->h, req->steps, req->u, req->p};
    cudaStream_t stream = cw->stream;
    if (cw->be->traj_mode == TRAJ_GRAPH) {
        if (!(cw->graph && same_key(cw->graph_key, key)) && cw->have_last_key && same_key(cw->last_key, key))
            PMHMC_TRY(traj_capture(ws, cw, key));
        cw->last_key = key;
        cw->have_last_key = 1;
        if (cw->graph && same_key(cw->graph_key, key))
            PMHMC_CUDA_TRY(NULL, cudaGraphLaunch(cw->graph, stream));
        else
            PMHMC_TRY(traj_enqueue(ws, cw, key));
    } else {
        PMHMC_TRY(traj_enqueue(ws, cw, key));
    }
    PMHMC_CUDA_TRY(NULL, cudaStreamSynchronize(stream));
    const double *out = cw->traj_out_host;
    for (size_t i = 0; i < dim; ++i) {
        req->theta[i] = out[i];
        req->rho[i] = out[dim + i];
    }
    *req->log_phat = out[2 * dim];
    *req->stopped = out[2 * dim + 1] != 0.0;
    return PMHMC_OK;
}

static void cuda_backend_free(pmhmc_backend *backend)
{
    CudaBackend *be = (CudaBackend *)backend->impl;
    if (!be)
        return;
    free(be); /* no CUDA objects: streams belong to the workspaces */
    backend->impl = NULL;
}

static const pmhmc_backend_ops CUDA_OPS = {
    "cuda",
    cuda_workspace_create,
    cuda_workspace_free,
    cuda_backend_free,
    cuda_normal,
    cuda_copy,
    cuda_scale,
    cuda_axpy,
    cuda_dot,
    cuda_dots,
    cuda_rotate,
    cuda_upload,
    cuda_download,
    cuda_estimate,
    cuda_integrate,
};

/* PMHMC_CUDA_TRAJECTORY=host: the sampler's host loop drives every step. */
static const pmhmc_backend_ops CUDA_OPS_HOST_LOOP = {
    "cuda",
    cuda_workspace_create,
    cuda_workspace_free,
    cuda_backend_free,
    cuda_normal,
    cuda_copy,
    cuda_scale,
    cuda_axpy,
    cuda_dot,
    cuda_dots,
    cuda_rotate,
    cuda_upload,
    cuda_download,
    cuda_estimate,
    NULL,
};

/* The run-time choices (cuda_backend.cuh): environment, read once per backend. */
static pmhmc_status read_choices(CudaBackend *be, pmhmc_error *err)
{
    const char *v = getenv("PMHMC_CUDA_TRAJECTORY");
    if (!v || !v[0] || strcmp(v, "graph") == 0)
        be->traj_mode = TRAJ_GRAPH;
    else if (strcmp(v, "device") == 0)
        be->traj_mode = TRAJ_DEVICE;
    else if (strcmp(v, "host") == 0)
        be->traj_mode = TRAJ_HOST;
    else
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "PMHMC_CUDA_TRAJECTORY=%s: expected host, device or graph", v);
    static const char *const names[GLMM_N_VARIANTS] = {"base", "fast", "fast128", "fast_occ4"};
    v = getenv("PMHMC_CUDA_GLMM_VARIANT");
    be->glmm_variant = PMHMC_GLMM_DEFAULT_VARIANT;
    if (v && v[0]) {
        int found = -1;
        for (int i = 0; i < GLMM_N_VARIANTS; ++i)
            if (strcmp(v, names[i]) == 0)
                found = i;
        if (found < 0)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                              "PMHMC_CUDA_GLMM_VARIANT=%s: expected base, fast, fast128 or fast_occ4", v);
        be->glmm_variant = found;
    }
    return PMHMC_OK;
}

static pmhmc_status backend_setup(CudaBackend *be, pmhmc_error *err)
{
    be->device = 0;
    PMHMC_CUDA_TRY(err, cudaSetDevice(be->device));
    /* Lazy loading (the default since CUDA 12.2) would load each kernel at
     * its first launch, and a load may synchronize the context, invalidating
     * another thread's capture: load them all now. */
    PMHMC_CUDA_TRY(err, vector_ops_preload());
    for (size_t i = 0; i < sizeof ESTIMATORS / sizeof ESTIMATORS[0]; ++i)
        PMHMC_CUDA_TRY(err, ESTIMATORS[i].preload());
    int v = 0;
    PMHMC_CUDA_TRY(err, cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, be->device));
    be->sm_count = v;
    PMHMC_CUDA_TRY(err, cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, be->device));
    be->smem_optin = (size_t)v;
    PMHMC_CUDA_TRY(err, cudaDeviceGetAttribute(&v, cudaDevAttrCanMapHostMemory, be->device));
    be->can_map_host = v;
    return PMHMC_OK;
}

extern "C" pmhmc_status pmhmc_cuda_backend_init(pmhmc_backend *backend, pmhmc_error *err)
{
    if (backend->precision != PMHMC_PRECISION_DOUBLE && backend->precision != PMHMC_PRECISION_FLOAT)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "unknown precision %d", (int)backend->precision);
    char reason[256];
    if (!pmhmc_cuda_probe(reason, sizeof reason))
        return pmhmc_fail(err, PMHMC_ERR_DEVICE, "%s", reason);
    CudaBackend *be = (CudaBackend *)calloc(1, sizeof *be);
    if (!be)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "out of memory for the CUDA backend");
    pmhmc_status st = read_choices(be, err);
    if (st != PMHMC_OK) {
        free(be);
        return st;
    }
    backend->impl = be;
    backend->ops = be->traj_mode == TRAJ_HOST ? &CUDA_OPS_HOST_LOOP : &CUDA_OPS;
    {
        std::lock_guard<std::mutex> lock(api_mutex());
        st = backend_setup(be, err);
    }
    if (st != PMHMC_OK) {
        cuda_backend_free(backend);
        backend->ops = NULL;
    }
    return st;
}
