/* The device MLP engine of src/hnn/mlp_device.h: buffers, cuBLAS GEMMs and
 * the passes, step for step those of src/hnn/mlp_grad.c (its header comment
 * has the notation and the derivation), with mlp.cuh's kernels for the
 * elementwise work.
 *
 * Row-major GEMMs on column-major cuBLAS: a row-major X [r, c] read as
 * column-major is X^T [c, r], so C = A' B' (row-major) is computed as
 * C^T = B'^T A'^T, the operands swapped and each keeping its own transpose
 * flag.
 *
 * Determinism: the handle runs on the engine's own non-blocking stream with a
 * workspace of its own (cublasSetWorkspace), which the cuBLAS documentation
 * names as the condition for bit-wise identical results run to run on one GPU
 * model; the kernels' reductions are fixed order (mlp.cuh). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>

#include "hnn/mlp_device.h"
#include "mlp.cuh"

using namespace pmhmc_cuda;

/* cuBLAS's recommendation for Hopper (4 MiB suffices before it). */
static const size_t BLAS_WORKSPACE_BYTES = (size_t)32 << 20;

struct pmhmc_mlp_device {
    size_t n_hidden, n_weights, max_batch;
    size_t dims[PMHMC_MLP_MAX_HIDDEN + 2];
    size_t w_off[PMHMC_MLP_MAX_HIDDEN + 1], b_off[PMHMC_MLP_MAX_HIDDEN + 1];
    int act[PMHMC_MLP_MAX_HIDDEN];
    size_t rho_from; /* first column weighted by w_rho: n_in / 2 (latent) or n_in */
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    int sm_count;
    double *block; /* every double buffer below, one allocation */
    double *w, *gw;                         /* [n_weights] */
    double *mean, *sd;                      /* [n_in] */
    double *x, *t, *gx;                     /* [B, n_in]: batch inputs, targets, G */
    double *y;                              /* [B, n_out] */
    double *tmp_a, *tmp_b;                  /* [B, max dim] ping-pong adjoints */
    double *z[PMHMC_MLP_MAX_HIDDEN + 1];     /* z_0 [B, n_in]; z_l [B, n_l] */
    double *d1[PMHMC_MLP_MAX_HIDDEN + 1];    /* f_l'(a_l), l >= 1 */
    double *d2[PMHMC_MLP_MAX_HIDDEN + 1];    /* f_l''(a_l), l >= 1 */
    double *g[PMHMC_MLP_MAX_HIDDEN + 1];     /* g_l [B, n_l], l < H; g_H [n_H] */
    double *delta[PMHMC_MLP_MAX_HIDDEN + 1]; /* delta_l, l >= 1 */
    double *abar[PMHMC_MLP_MAX_HIDDEN + 1];  /* abar_l, l >= 1 */
    double *partials, *chunk_sums, *result;  /* the loss reduction: [LOSS_BLOCKS], [1], [1] */
    unsigned *counters;                      /* [2] */
    uint32_t *rows;                          /* [B] row indices of loss_grad_rows */
    double *data_x, *data_t;                 /* [n_rows, n_in], set_data */
    size_t n_rows;
    pmhmc_error err;
};

static pmhmc_status blas_fail(pmhmc_error *err, cublasStatus_t code, const char *call, const char *file, int line)
{
    const char *base = strrchr(file, '/');
    return pmhmc_fail(err, PMHMC_ERR_DEVICE, "%s:%d: %s failed: %s (%s)", base ? base + 1 : file, line, call,
                      cublasGetStatusName(code), cublasGetStatusString(code));
}

#define PMHMC_CUBLAS_TRY(err, call)                                                            \
    do {                                                                                       \
        cublasStatus_t pmhmc_blas_rc_ = (call);                                                \
        if (pmhmc_blas_rc_ != CUBLAS_STATUS_SUCCESS)                                           \
            return blas_fail((err), pmhmc_blas_rc_, #call, __FILE__, __LINE__);                \
    } while (0)

static MlpLaunch launch(pmhmc_mlp_device *d)
{
    MlpLaunch k;
    k.stream = d->stream;
    k.sm_count = d->sm_count;
    k.err = &d->err;
    return k;
}

/* C [M, N] = A' [M, K] B' [K, N] + beta C, row-major, A' = A or A^T
 * (trans_a), likewise B'; lda, ldb, ldc the row lengths as stored
 * (mlp_grad.c's gemm). Dimensions fit in int (PMHMC_MLP_MAX_WIDTH,
 * PMHMC_MLP_MAX_BATCH). */
static pmhmc_status gemm(pmhmc_mlp_device *d, int trans_a, int trans_b, size_t M, size_t N, size_t K,
                         const double *A, size_t lda, const double *Bm, size_t ldb, double beta, double *C,
                         size_t ldc)
{
    const double one = 1.0;
    PMHMC_CUBLAS_TRY(&d->err, cublasDgemm(d->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                          trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, Bm,
                                          (int)ldb, A, (int)lda, &beta, C, (int)ldc));
    return PMHMC_OK;
}

/* ---- lifetime ------------------------------------------------------------- */

/* Carves the block: shapes in the struct above, B = max_batch. Returns the
 * number of doubles, and sets the pointers when base is not NULL. */
static size_t carve(pmhmc_mlp_device *d, double *base)
{
    const size_t H = d->n_hidden, B = d->max_batch, n_in = d->dims[0], n_out = d->dims[H + 1];
    size_t max_dim = 0;
    for (size_t l = 0; l <= H + 1; l++)
        max_dim = d->dims[l] > max_dim ? d->dims[l] : max_dim;
    size_t at = 0;
    auto take = [&](double **p, size_t n) {
        if (base)
            *p = base + at;
        at += n;
    };
    take(&d->w, d->n_weights);
    take(&d->gw, d->n_weights);
    take(&d->mean, n_in);
    take(&d->sd, n_in);
    take(&d->x, B * n_in);
    take(&d->t, B * n_in);
    take(&d->gx, B * n_in);
    take(&d->z[0], B * n_in);
    take(&d->y, B * n_out);
    take(&d->tmp_a, B * max_dim);
    take(&d->tmp_b, B * max_dim);
    for (size_t l = 1; l <= H; l++) {
        const size_t n = B * d->dims[l];
        take(&d->z[l], n);
        take(&d->d1[l], n);
        take(&d->d2[l], n);
        take(&d->g[l], n); /* g_H uses the first n_H */
        take(&d->delta[l], n);
        take(&d->abar[l], n);
    }
    take(&d->partials, LOSS_BLOCKS);
    take(&d->chunk_sums, 1);
    take(&d->result, 1);
    return at;
}

static pmhmc_status setup(pmhmc_mlp_device *d, const pmhmc_mlp *mlp)
{
    pmhmc_error *err = &d->err;
    PMHMC_CUDA_TRY(err, cudaSetDevice(0));
    PMHMC_CUDA_TRY(err, cudaDeviceGetAttribute(&d->sm_count, cudaDevAttrMultiProcessorCount, 0));
    PMHMC_CUDA_TRY(err, cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking));
    PMHMC_CUBLAS_TRY(err, cublasCreate(&d->blas));
    PMHMC_CUBLAS_TRY(err, cublasSetStream(d->blas, d->stream));
    PMHMC_CUDA_TRY(err, cudaMalloc(&d->blas_ws, BLAS_WORKSPACE_BYTES));
    PMHMC_CUBLAS_TRY(err, cublasSetWorkspace(d->blas, d->blas_ws, BLAS_WORKSPACE_BYTES));

    PMHMC_CUDA_TRY(err, cudaMalloc(&d->block, carve(d, NULL) * sizeof(double)));
    carve(d, d->block);
    PMHMC_CUDA_TRY(err, cudaMalloc(&d->counters, 2 * sizeof(unsigned)));
    PMHMC_CUDA_TRY(err, cudaMalloc(&d->rows, d->max_batch * sizeof(uint32_t)));
    PMHMC_CUDA_TRY(err, cudaMemsetAsync(d->counters, 0, 2 * sizeof(unsigned), d->stream));
    const size_t n_in = d->dims[0];
    PMHMC_CUDA_TRY(err, cudaMemcpyAsync(d->w, mlp->weights, d->n_weights * sizeof(double), cudaMemcpyHostToDevice,
                                        d->stream));
    PMHMC_CUDA_TRY(err, cudaMemcpyAsync(d->mean, mlp->in_mean, n_in * sizeof(double), cudaMemcpyHostToDevice,
                                        d->stream));
    PMHMC_CUDA_TRY(err, cudaMemcpyAsync(d->sd, mlp->in_sd, n_in * sizeof(double), cudaMemcpyHostToDevice,
                                        d->stream));
    PMHMC_CUDA_TRY(err, cudaStreamSynchronize(d->stream));
    return PMHMC_OK;
}

extern "C" pmhmc_status pmhmc_mlp_device_create(const pmhmc_mlp *mlp, size_t max_batch, pmhmc_mlp_device **out,
                                                pmhmc_error *err)
{
    if (!out)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp device: NULL output handle");
    *out = NULL;
    if (!mlp)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp device: NULL mlp");
    if (max_batch < 1 || max_batch > PMHMC_MLP_MAX_BATCH)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp device: max_batch = %zu, expected 1..%d", max_batch,
                          PMHMC_MLP_MAX_BATCH);
    char reason[256];
    if (!pmhmc_cuda_probe(reason, sizeof reason))
        return pmhmc_fail(err, PMHMC_ERR_DEVICE, "no usable GPU: %s", reason);

    pmhmc_mlp_device *d = (pmhmc_mlp_device *)calloc(1, sizeof *d);
    if (!d)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "mlp device: out of memory");
    d->n_hidden = mlp->spec.n_hidden;
    d->n_weights = mlp->n_weights;
    d->max_batch = max_batch;
    memcpy(d->dims, mlp->dims, sizeof d->dims);
    memcpy(d->w_off, mlp->w_off, sizeof d->w_off);
    memcpy(d->b_off, mlp->b_off, sizeof d->b_off);
    for (size_t l = 0; l < d->n_hidden; l++)
        d->act[l] = (int)mlp->spec.act[l];
    d->rho_from = mlp->spec.kind == PMHMC_MLP_LATENT ? mlp->spec.n_in / 2 : mlp->spec.n_in;
    pmhmc_status st = setup(d, mlp);
    if (st != PMHMC_OK) {
        if (err)
            *err = d->err;
        pmhmc_mlp_device_free(d);
        return st;
    }
    *out = d;
    return PMHMC_OK;
}

extern "C" void pmhmc_mlp_device_free(pmhmc_mlp_device *d)
{
    if (!d)
        return;
    if (d->stream)
        cudaStreamSynchronize(d->stream);
    if (d->blas)
        cublasDestroy(d->blas);
    cudaFree(d->blas_ws);
    cudaFree(d->block);
    cudaFree(d->counters);
    cudaFree(d->rows);
    cudaFree(d->data_x);
    cudaFree(d->data_t);
    if (d->stream)
        cudaStreamDestroy(d->stream);
    free(d);
}

extern "C" const char *pmhmc_mlp_device_error(const pmhmc_mlp_device *d) { return d ? d->err.message : ""; }

/* ---- transfers ------------------------------------------------------------- */

static pmhmc_status upload(pmhmc_mlp_device *d, void *dst, const void *src, size_t bytes)
{
    PMHMC_CUDA_TRY(&d->err, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, d->stream));
    return PMHMC_OK;
}

static pmhmc_status download(pmhmc_mlp_device *d, double *dst, const double *src, size_t n)
{
    PMHMC_CUDA_TRY(&d->err, cudaMemcpyAsync(dst, src, n * sizeof(double), cudaMemcpyDeviceToHost, d->stream));
    return PMHMC_OK;
}

static pmhmc_status finish(pmhmc_mlp_device *d)
{
    PMHMC_CUDA_TRY(&d->err, cudaStreamSynchronize(d->stream));
    return PMHMC_OK;
}

extern "C" pmhmc_status pmhmc_mlp_device_set_weights(pmhmc_mlp_device *d, const double *weights)
{
    if (!d || !weights)
        return PMHMC_ERR_ARG;
    PMHMC_TRY(upload(d, d->w, weights, d->n_weights * sizeof(double)));
    return finish(d);
}

/* ---- passes (mlp_grad.c) ------------------------------------------------------ */

/* z_0..z_H for B rows from d->x (and f', f'' when derivs). Shapes: x
 * [B, n_in], z_l [B, n_l], W_l [n_l, n_{l-1}], b_l [n_l]. */
static pmhmc_status forward_hidden(pmhmc_mlp_device *d, size_t B, int derivs)
{
    const MlpLaunch k = launch(d);
    PMHMC_TRY(mlp_standardize(k, d->z[0], d->x, d->mean, d->sd, B, d->dims[0]));
    for (size_t l = 1; l <= d->n_hidden; l++) {
        const size_t n_prev = d->dims[l - 1], n = d->dims[l];
        /* a_l [B, n] = z_{l-1} [B, n_prev] W_l^T [n_prev, n]; f applied in place */
        PMHMC_TRY(gemm(d, 0, 1, B, n, n_prev, d->z[l - 1], n_prev, d->w + d->w_off[l - 1], n_prev, 0.0, d->z[l], n));
        PMHMC_TRY(mlp_activate(k, d->z[l], derivs ? d->d1[l] : NULL, d->d2[l], d->w + d->b_off[l - 1],
                               d->act[l - 1], B, n));
    }
    return PMHMC_OK;
}

/* y [B, n_out] = z_H [B, n_H] W_o^T [n_H, n_out] + b_o */
static pmhmc_status forward_output(pmhmc_mlp_device *d, size_t B)
{
    const size_t H = d->n_hidden, n_h = d->dims[H], n_out = d->dims[H + 1];
    PMHMC_TRY(gemm(d, 0, 1, B, n_out, n_h, d->z[H], n_h, d->w + d->w_off[H], n_h, 0.0, d->y, n_out));
    return mlp_add_bias(launch(d), d->y, d->w + d->b_off[H], B, n_out);
}

/* After forward_hidden with derivs: delta_l, g_l and G = dS/dx into d->gx.
 * Shapes: g_H [n_H]; delta_l [B, n_l]; g_{l-1} [B, n_{l-1}]; gx [B, n_in]. */
static pmhmc_status input_grad_pass(pmhmc_mlp_device *d, size_t B)
{
    const MlpLaunch k = launch(d);
    const size_t H = d->n_hidden, n_h = d->dims[H];
    /* g_H [n_H] = column sums of W_o [n_out, n_H] */
    PMHMC_TRY(mlp_col_sum(k, d->g[H], d->w + d->w_off[H], d->dims[H + 1], n_h));
    for (size_t l = H; l >= 1; l--) {
        const size_t n = d->dims[l], n_prev = d->dims[l - 1];
        PMHMC_TRY(mlp_mul(k, d->delta[l], d->g[l], l == H, d->d1[l], B, n));
        /* g_{l-1} [B, n_prev] = delta_l [B, n] W_l [n, n_prev] */
        PMHMC_TRY(gemm(d, 0, 0, B, n_prev, n, d->delta[l], n, d->w + d->w_off[l - 1], n_prev, 0.0,
                       l == 1 ? d->gx : d->g[l - 1], n_prev));
    }
    return mlp_div_cols(k, d->gx, d->sd, B, d->dims[0]);
}

/* Sweeps 1 and 2 of mlp_grad.c from gbar_0 in tmp_a, into gw.
 * Shapes: gbar_{l-1} [B, n_{l-1}] in tmp_a; deltabar_l [B, n_l] in tmp_b;
 * zbar_{l-1} [B, n_{l-1}] in tmp_b during sweep 2; gw [n_weights]. */
static pmhmc_status weight_grad_pass(pmhmc_mlp_device *d, size_t B)
{
    const MlpLaunch k = launch(d);
    const size_t H = d->n_hidden;
    double *gbar = d->tmp_a, *dbar = d->tmp_b, *zbar = d->tmp_b;
    PMHMC_CUDA_TRY(&d->err, cudaMemsetAsync(d->gw, 0, d->n_weights * sizeof(double), d->stream));
    for (size_t l = 1; l <= H; l++) {
        const size_t n = d->dims[l], n_prev = d->dims[l - 1];
        const double *W = d->w + d->w_off[l - 1];
        /* deltabar_l [B, n] = gbar_{l-1} [B, n_prev] W_l^T [n_prev, n] */
        PMHMC_TRY(gemm(d, 0, 1, B, n, n_prev, gbar, n_prev, W, n_prev, 0.0, dbar, n));
        /* Wbar_l [n, n_prev] = delta_l^T [n, B] gbar_{l-1} [B, n_prev] */
        PMHMC_TRY(gemm(d, 1, 0, n, n_prev, B, d->delta[l], n, gbar, n_prev, 0.0, d->gw + d->w_off[l - 1], n_prev));
        PMHMC_TRY(mlp_sweep1(k, d->abar[l], gbar, dbar, d->g[l], l == H, d->d1[l], d->d2[l], B, n));
    }
    /* g_H = 1^T W_o: every row of Wbar_o is the column sums of gbar_H */
    const size_t n_h = d->dims[H], n_out = d->dims[H + 1];
    PMHMC_TRY(mlp_col_sum(k, d->gw + d->w_off[H], gbar, B, n_h));
    PMHMC_TRY(mlp_replicate(k, d->gw + d->w_off[H], n_out, n_h));

    for (size_t l = H; l >= 1; l--) {
        const size_t n = d->dims[l], n_prev = d->dims[l - 1];
        if (l < H)
            PMHMC_TRY(mlp_sweep2(k, d->abar[l], zbar, d->d1[l], B * n));
        PMHMC_TRY(mlp_col_sum(k, d->gw + d->b_off[l - 1], d->abar[l], B, n));
        /* Wbar_l [n, n_prev] += abar_l^T [n, B] z_{l-1} [B, n_prev] */
        PMHMC_TRY(gemm(d, 1, 0, n, n_prev, B, d->abar[l], n, d->z[l - 1], n_prev, 1.0, d->gw + d->w_off[l - 1],
                       n_prev));
        /* zbar_{l-1} [B, n_prev] = abar_l [B, n] W_l [n, n_prev] */
        if (l > 1)
            PMHMC_TRY(gemm(d, 0, 0, B, n_prev, n, d->abar[l], n, d->w + d->w_off[l - 1], n_prev, 0.0, zbar, n_prev));
    }
    return PMHMC_OK;
}

/* The loss and its weight-gradient for the B rows in d->x, d->t
 * ([B, n_in] each); grad_weights [n_weights] on the host, or NULL. */
static pmhmc_status loss_grad_pass(pmhmc_mlp_device *d, size_t B, double w_theta, double w_rho, double *loss,
                                   double *grad_weights)
{
    PMHMC_TRY(forward_hidden(d, B, 1));
    PMHMC_TRY(input_grad_pass(d, B));
    RowReduce rr;
    rr.partials = d->partials;
    rr.chunk_sums = d->chunk_sums;
    rr.counters = d->counters;
    rr.result = d->result;
    PMHMC_TRY(mlp_loss(launch(d), d->tmp_a, d->gx, d->t, d->sd, B, d->dims[0], d->rho_from, w_theta, w_rho, rr));
    double sum = 0.0;
    PMHMC_TRY(download(d, &sum, d->result, 1));
    PMHMC_TRY(finish(d));
    /* The CPU's rounding: sum times the rounded 1/B. */
    const double inv_b = 1.0 / (double)B;
    *loss = sum * inv_b;
    if (!isfinite(*loss))
        return pmhmc_fail(&d->err, PMHMC_ERR_NUMERIC, "mlp device: the loss is not finite");
    if (!grad_weights)
        return PMHMC_OK;
    PMHMC_TRY(weight_grad_pass(d, B));
    PMHMC_TRY(download(d, grad_weights, d->gw, d->n_weights));
    return finish(d);
}

/* ---- the public passes ----------------------------------------------------------- */

static pmhmc_status check_batch(pmhmc_mlp_device *d, size_t batch)
{
    if (batch < 1 || batch > d->max_batch)
        return pmhmc_fail(&d->err, PMHMC_ERR_ARG, "mlp device: batch = %zu, expected 1..%zu", batch, d->max_batch);
    return PMHMC_OK;
}

extern "C" pmhmc_status pmhmc_mlp_device_forward(pmhmc_mlp_device *d, size_t batch, const double *x, double *y)
{
    if (!d || !x || !y)
        return PMHMC_ERR_ARG;
    PMHMC_TRY(check_batch(d, batch));
    PMHMC_TRY(upload(d, d->x, x, batch * d->dims[0] * sizeof(double)));
    PMHMC_TRY(forward_hidden(d, batch, 0));
    PMHMC_TRY(forward_output(d, batch));
    PMHMC_TRY(download(d, y, d->y, batch * d->dims[d->n_hidden + 1]));
    return finish(d);
}

extern "C" pmhmc_status pmhmc_mlp_device_input_grad(pmhmc_mlp_device *d, size_t batch, const double *x, double *y,
                                                    double *grad)
{
    if (!d || !x || !grad)
        return PMHMC_ERR_ARG;
    PMHMC_TRY(check_batch(d, batch));
    PMHMC_TRY(upload(d, d->x, x, batch * d->dims[0] * sizeof(double)));
    PMHMC_TRY(forward_hidden(d, batch, 1));
    if (y)
        PMHMC_TRY(forward_output(d, batch));
    PMHMC_TRY(input_grad_pass(d, batch));
    if (y)
        PMHMC_TRY(download(d, y, d->y, batch * d->dims[d->n_hidden + 1]));
    PMHMC_TRY(download(d, grad, d->gx, batch * d->dims[0]));
    return finish(d);
}

extern "C" pmhmc_status pmhmc_mlp_device_loss_grad(pmhmc_mlp_device *d, size_t batch, const double *x,
                                                   const double *target, double w_theta, double w_rho, double *loss,
                                                   double *grad_weights)
{
    if (!d || !x || !target || !loss)
        return PMHMC_ERR_ARG;
    PMHMC_TRY(check_batch(d, batch));
    const size_t bytes = batch * d->dims[0] * sizeof(double);
    PMHMC_TRY(upload(d, d->x, x, bytes));
    PMHMC_TRY(upload(d, d->t, target, bytes));
    return loss_grad_pass(d, batch, w_theta, w_rho, loss, grad_weights);
}

extern "C" pmhmc_status pmhmc_mlp_device_set_data(pmhmc_mlp_device *d, size_t n_rows, const double *x,
                                                  const double *target)
{
    if (!d || !x || !target)
        return PMHMC_ERR_ARG;
    if (n_rows < 1 || n_rows > UINT32_MAX)
        return pmhmc_fail(&d->err, PMHMC_ERR_ARG, "mlp device: %zu data rows, expected 1..%u", n_rows, UINT32_MAX);
    cudaFree(d->data_x);
    cudaFree(d->data_t);
    d->data_x = d->data_t = NULL;
    d->n_rows = 0;
    const size_t bytes = n_rows * d->dims[0] * sizeof(double);
    PMHMC_CUDA_TRY(&d->err, cudaMalloc(&d->data_x, bytes));
    PMHMC_CUDA_TRY(&d->err, cudaMalloc(&d->data_t, bytes));
    PMHMC_TRY(upload(d, d->data_x, x, bytes));
    PMHMC_TRY(upload(d, d->data_t, target, bytes));
    PMHMC_TRY(finish(d));
    d->n_rows = n_rows;
    return PMHMC_OK;
}

extern "C" pmhmc_status pmhmc_mlp_device_loss_grad_rows(pmhmc_mlp_device *d, size_t batch, const uint32_t *rows,
                                                        double w_theta, double w_rho, double *loss,
                                                        double *grad_weights)
{
    if (!d || !rows || !loss)
        return PMHMC_ERR_ARG;
    PMHMC_TRY(check_batch(d, batch));
    if (d->n_rows == 0)
        return pmhmc_fail(&d->err, PMHMC_ERR_ARG, "mlp device: loss_grad_rows before set_data");
    for (size_t r = 0; r < batch; r++)
        if (rows[r] >= d->n_rows)
            return pmhmc_fail(&d->err, PMHMC_ERR_ARG, "mlp device: row index %u at %zu, the data has %zu rows",
                              rows[r], r, d->n_rows);
    PMHMC_TRY(upload(d, d->rows, rows, batch * sizeof(uint32_t)));
    PMHMC_TRY(mlp_gather(launch(d), d->x, d->t, d->data_x, d->data_t, d->rows, batch, d->dims[0]));
    return loss_grad_pass(d, batch, w_theta, w_rho, loss, grad_weights);
}
