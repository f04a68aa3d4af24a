/* The CPU backend: the double-precision reference every other backend is
 * checked against. Vectors live in one host array [n_vectors, length].
 *
 * Every reduction runs in a fixed order: dot products sum fixed-size chunks
 * (independent of the thread count, each in lane_sum.h's order) and then the
 * chunk partials in order; the estimator sums per-group results in group
 * order. Same inputs, same bits, whatever OMP_NUM_THREADS is and whatever
 * x86-64 CPU runs it (the transcendental functions are portable_math.h's). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_impl.h"
#include "error.h"
#include "math/philox.h"
#include "math/portable_math.h"
#include "math/rotation.h"
#include "cpu/estimators.h"
#include "cpu/lane_sum.h"
#include "models/model_impl.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define DOT_CHUNK 4096
/* Vectors and each thread's scratch slice start on a 64-byte boundary, so the
 * vectorized loops run on aligned data without a peeled prologue. */
#define ALIGN_DOUBLES 8

static double *alloc_aligned(size_t n)
{
    size_t bytes = ((n ? n : 1) + ALIGN_DOUBLES - 1) / ALIGN_DOUBLES * ALIGN_DOUBLES * sizeof(double);
    double *x = aligned_alloc(ALIGN_DOUBLES * sizeof(double), bytes);
    if (x)
        memset(x, 0, bytes);
    return x;
}

typedef struct cpu_workspace {
    double *vectors;    /* [n_vectors, length] */
    double *group_ll;   /* [n_groups] */
    double *group_grad; /* [n_groups, dim] */
    double *chunk_sums; /* [n_chunks, PMHMC_WS_MAX_DOTS] */
    double *scratch;    /* [threads, scratch_per_thread] */
    size_t scratch_per_thread;
    size_t n_chunks;
    int threads;
} cpu_workspace;

static double *vec(pmhmc_workspace *ws, int v)
{
    cpu_workspace *cw = ws->impl;
    return cw->vectors + (size_t)v * ws->length;
}

static void cpu_workspace_free(pmhmc_workspace *ws)
{
    cpu_workspace *cw = ws->impl;
    if (!cw)
        return;
    free(cw->vectors);
    free(cw->group_ll);
    free(cw->group_grad);
    free(cw->chunk_sums);
    free(cw->scratch);
    free(cw);
    ws->impl = NULL;
}

static pmhmc_status cpu_workspace_create(pmhmc_backend *backend, pmhmc_workspace *ws, pmhmc_error *err)
{
    (void)backend;
    const pmhmc_model *model = ws->model;
    cpu_workspace *cw = calloc(1, sizeof *cw);
    if (!cw)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "out of memory for the CPU workspace");
    ws->impl = cw;
#ifdef _OPENMP
    cw->threads = omp_get_max_threads();
#else
    cw->threads = 1;
#endif
    size_t n_groups = model->data->n_groups;
    cw->scratch_per_thread = (model->ops->cpu_scratch(model) + ALIGN_DOUBLES - 1) / ALIGN_DOUBLES * ALIGN_DOUBLES;
    cw->n_chunks = (ws->length + DOT_CHUNK - 1) / DOT_CHUNK;
    cw->vectors = alloc_aligned((size_t)ws->n_vectors * ws->length);
    cw->group_ll = calloc(n_groups, sizeof *cw->group_ll);
    cw->group_grad = calloc(n_groups * model->dim, sizeof *cw->group_grad);
    cw->chunk_sums = calloc((cw->n_chunks ? cw->n_chunks : 1) * PMHMC_WS_MAX_DOTS, sizeof *cw->chunk_sums);
    cw->scratch = alloc_aligned((size_t)cw->threads * cw->scratch_per_thread);
    if (!cw->vectors || !cw->group_ll || !cw->group_grad || !cw->chunk_sums || !cw->scratch) {
        cpu_workspace_free(ws);
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "out of memory for the CPU workspace (%zu x %zu doubles)",
                          (size_t)ws->n_vectors, ws->length);
    }
    return PMHMC_OK;
}

static pmhmc_status cpu_normal(pmhmc_workspace *ws, int v, uint64_t seed, uint32_t chain, uint64_t step)
{
    double *x = vec(ws, v);
    const size_t n = ws->length;
    const size_t pairs = (n + 1) / 2;
#pragma omp parallel for schedule(static) if (ws->length >= PMHMC_CPU_PARALLEL_MIN_WORK)
    for (size_t b = 0; b < pairs; ++b) {
        double n0, n1;
        pmhmc_stream_normal_pair(seed, chain, step, (uint32_t)b, &n0, &n1);
        x[2 * b] = n0;
        if (2 * b + 1 < n)
            x[2 * b + 1] = n1;
    }
    return PMHMC_OK;
}

static pmhmc_status cpu_copy(pmhmc_workspace *ws, int dst, int src)
{
    memcpy(vec(ws, dst), vec(ws, src), ws->length * sizeof(double));
    return PMHMC_OK;
}

static pmhmc_status cpu_scale(pmhmc_workspace *ws, int v, double alpha)
{
    double *x = vec(ws, v);
    for (size_t i = 0; i < ws->length; ++i)
        x[i] *= alpha;
    return PMHMC_OK;
}

static pmhmc_status cpu_axpy(pmhmc_workspace *ws, int y, double alpha, int x)
{
    double *dst = vec(ws, y);
    const double *src = vec(ws, x);
    for (size_t i = 0; i < ws->length; ++i)
        dst[i] += alpha * src[i];
    return PMHMC_OK;
}

static pmhmc_status cpu_dots(pmhmc_workspace *ws, size_t n_dots, const int *a, const int *b, double *out)
{
    cpu_workspace *cw = ws->impl;
    const size_t n = ws->length;
#pragma omp parallel for schedule(static) if (ws->length >= PMHMC_CPU_PARALLEL_MIN_WORK)
    for (size_t c = 0; c < cw->n_chunks; ++c) {
        size_t end = (c + 1) * DOT_CHUNK < n ? (c + 1) * DOT_CHUNK : n;
        for (size_t d = 0; d < n_dots; ++d)
            cw->chunk_sums[c * PMHMC_WS_MAX_DOTS + d] =
                pmhmc_lane_dot(vec(ws, a[d]) + c * DOT_CHUNK, vec(ws, b[d]) + c * DOT_CHUNK, end - c * DOT_CHUNK);
    }
    for (size_t d = 0; d < n_dots; ++d) {
        double total = 0.0;
        for (size_t c = 0; c < cw->n_chunks; ++c)
            total += cw->chunk_sums[c * PMHMC_WS_MAX_DOTS + d];
        out[d] = total;
    }
    return PMHMC_OK;
}

static pmhmc_status cpu_dot(pmhmc_workspace *ws, int a, int b, double *out) { return cpu_dots(ws, 1, &a, &b, out); }

static pmhmc_status cpu_rotate(pmhmc_workspace *ws, int u, int p, double angle)
{
    double *x = vec(ws, u), *m = vec(ws, p);
    double c, s;
    pmhmc_sincos(angle, &s, &c);
    for (size_t i = 0; i < ws->length; ++i)
        pmhmc_rotate_pair(&x[i], &m[i], c, s);
    return PMHMC_OK;
}

static pmhmc_status cpu_upload(pmhmc_workspace *ws, int v, const double *host)
{
    memcpy(vec(ws, v), host, ws->length * sizeof(double));
    return PMHMC_OK;
}

static pmhmc_status cpu_download(pmhmc_workspace *ws, int v, double *host)
{
    memcpy(host, vec(ws, v), ws->length * sizeof(double));
    return PMHMC_OK;
}

static pmhmc_status cpu_estimate(pmhmc_workspace *ws, const pmhmc_estimate_request *req,
                                 double *log_phat, double *grad_theta)
{
    cpu_workspace *cw = ws->impl;
    const pmhmc_model *model = ws->model;
    const size_t n_groups = model->data->n_groups, dim = model->dim;
    double cos_a, sin_a;
    pmhmc_sincos(req->angle, &sin_a, &cos_a);
    pmhmc_cpu_estimate_args args = {
        .theta = req->theta,
        .u = vec(ws, req->u),
        .p = req->p >= 0 ? vec(ws, req->p) : NULL,
        .grad_u = req->grad_u >= 0 ? vec(ws, req->grad_u) : NULL,
        .kick = req->kick,
        .cos_a = cos_a,
        .sin_a = sin_a,
        .group_ll = cw->group_ll,
        .group_grad = grad_theta ? cw->group_grad : NULL,
        .scratch = cw->scratch,
        .scratch_per_thread = cw->scratch_per_thread,
    };
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    if (saved > cw->threads)
        omp_set_num_threads(cw->threads); /* scratch was sized for cw->threads */
#endif
    model->ops->cpu_estimate(model, &args);
#ifdef _OPENMP
    if (saved > cw->threads)
        omp_set_num_threads(saved);
#endif
    double total = 0.0;
    for (size_t g = 0; g < n_groups; ++g)
        total += cw->group_ll[g];
    if (grad_theta) {
        for (size_t i = 0; i < dim; ++i)
            grad_theta[i] = 0.0;
        for (size_t g = 0; g < n_groups; ++g)
            for (size_t i = 0; i < dim; ++i)
                grad_theta[i] += cw->group_grad[g * dim + i];
    }
    *log_phat = total; /* may be non-finite: the sampler rejects such a state */
    return PMHMC_OK;
}

const pmhmc_backend_ops pmhmc_cpu_backend_ops = {
    .name = "cpu",
    .workspace_create = cpu_workspace_create,
    .workspace_free = cpu_workspace_free,
    .backend_free = NULL,
    .normal = cpu_normal,
    .copy = cpu_copy,
    .scale = cpu_scale,
    .axpy = cpu_axpy,
    .dots = cpu_dots,
    .dot = cpu_dot,
    .rotate = cpu_rotate,
    .upload = cpu_upload,
    .download = cpu_download,
    .estimate = cpu_estimate,
    .integrate = NULL, /* the host loop of src/sampler/integrator.c is the reference */
};
