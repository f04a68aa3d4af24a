/* The MLP's batched passes on the CPU: the double-precision reference the
 * CUDA (cuBLAS) passes are checked against. In training every matrix product
 * is one cblas_dgemm; the inference passes the samplers call (forward and
 * input-gradient) run their products in a fixed order instead, so that a
 * surrogate gives the same bits on every CPU (gemm_fixed_order). The rest
 * are elementwise loops and column sums in row order.
 *
 * Notation (mlp.h): H hidden layers, n_l = dims[l], B rows; f_l, f_l', f_l''
 * the activation of layer l and its derivatives at a_l; W_o = W_{H+1}.
 *
 * Forward:   z_0 = (x - mean) / sd;  a_l = z_{l-1} W_l^T + b_l;  z_l = f_l(a_l)
 *            y = z_H W_o^T + b_o;    S = sum_m y_m per row.
 * Input-gradient (reverse mode on S):
 *            g_H = 1^T W_o                 [n_H], the same for every row
 *            delta_l = g_l * f_l'(a_l)     [B, n_l]
 *            g_{l-1} = delta_l W_l         [B, n_{l-1}],  l = H..1
 *            G = dS/dx = g_0 / sd          [B, n_in]
 * Weight-gradient of a loss L(G) (double backprop): reverse mode through the
 * two passes above, the input-gradient pass first (it ran last). Bars are
 * adjoints dL/d(.). Start from gbar_0 = dL/dG / sd.
 *   Sweep 1, l = 1..H, undoing g_{l-1} = delta_l W_l and delta_l = g_l f'(a_l):
 *            deltabar_l = gbar_{l-1} W_l^T                 [B, n_l]
 *            Wbar_l    += delta_l^T gbar_{l-1}             [n_l, n_{l-1}]
 *            gbar_l     = deltabar_l * f_l'(a_l)
 *            abar_l     = deltabar_l * g_l * f_l''(a_l)    (a_l's share via f')
 *     then g_H = 1^T W_o gives Wbar_o[m, :] = sum over rows of gbar_H, each m.
 *   Sweep 2, l = H..1, undoing the forward pass; S itself is not in the loss,
 *   so ybar = 0: b_o gets no gradient and zbar_H = 0:
 *            abar_l    += zbar_l * f_l'(a_l)
 *            bbar_l     = sum over rows of abar_l
 *            Wbar_l    += abar_l^T z_{l-1}
 *            zbar_{l-1} = abar_l W_l                       (l > 1)
 * Cost: 1 + 1 + 2 + 2 GEMMs per layer for forward, input-gradient, sweep 1
 * and sweep 2.
 *
 * Threads. Every pass first pins OpenBLAS to one thread (when it is not
 * already). Its threaded GEMM splits the output among threads, and the split
 * decides which tiles take the edge kernels, so the bits depend on the thread
 * count (OpenBLAS 0.3.21: a [128, 512]^T [512, 128] product differs between 1
 * and 3 threads), against DESIGN §6 ("bit-identical whatever the thread
 * count"); its own pthreads would also compete with the sampler's OpenMP
 * threads. At the surrogate's sizes (widths of tens to a few hundred,
 * batches of hundreds) one thread loses little; more throughput, when
 * wanted, comes from several works on several threads over fixed row chunks,
 * summed in chunk order. OpenBLAS has no per-call thread count, so the
 * setting is process-wide: checking at each pass, not once, keeps the
 * guarantee even where the application changed it in between. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cpu/lane_sum.h"
#include "hnn/mlp.h"

struct pmhmc_mlp_work {
    size_t max_batch;
    size_t n_hidden;
    size_t dims[PMHMC_MLP_MAX_HIDDEN + 2]; /* of the mlp it was made for */
    /* l = 0..H: z[0] the standardized input; l >= 1 per hidden layer */
    double *z[PMHMC_MLP_MAX_HIDDEN + 1];     /* [B, n_l] */
    double *d1[PMHMC_MLP_MAX_HIDDEN + 1];    /* f_l'(a_l), l >= 1 */
    double *d2[PMHMC_MLP_MAX_HIDDEN + 1];    /* f_l''(a_l), l >= 1 */
    double *g[PMHMC_MLP_MAX_HIDDEN + 1];     /* g_l [B, n_l], l < H; g_H [n_H] */
    double *delta[PMHMC_MLP_MAX_HIDDEN + 1]; /* delta_l, l >= 1 */
    double *abar[PMHMC_MLP_MAX_HIDDEN + 1];  /* abar_l, l >= 1 */
    double *gx;                              /* G [B, n_in] */
    double *tmp_a, *tmp_b;                   /* [B, max dim] ping-pong adjoints */
    double *block;
};

static void blas_single_thread(void)
{
    if (openblas_get_num_threads() != 1)
        openblas_set_num_threads(1);
}

/* C [M, N] = A' B' + beta C, row-major, A' = A or A^T (trans_a), likewise B'.
 * lda, ldb are the row lengths of A and B as stored. Dimensions fit in int
 * (PMHMC_MLP_MAX_WIDTH, PMHMC_MLP_MAX_BATCH). */
static void gemm_blas(int trans_a, int trans_b, size_t M, size_t N, size_t K, const double *A,
                 size_t lda, const double *Bm, size_t ldb, double beta, double *C, size_t ldc)
{
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1.0, A, (int)lda, Bm,
                (int)ldb, beta, C, (int)ldc);
}

/* The same product for the inference passes (forward and input-gradient),
 * in one fixed order: OpenBLAS picks its kernel by the CPU it runs on
 * (SkylakeX, Haswell, Zen, ...), and the kernels sum in different orders, so
 * a surrogate's gradients, and the draws of the samplers that use it, would
 * differ in their last bits from one CPU to the next. Here each C[i, j] is a
 * lane_sum.h dot (A' B'^T, trans_b) or a sum over k in order (A' B), the same
 * bits everywhere. Only the two shapes inference uses (trans_a = 0), beta = 0.
 * Training keeps OpenBLAS (README: its last bits may differ between BLAS
 * builds and CPUs). */
static void gemm_fixed_order(int trans_a, int trans_b, size_t M, size_t N, size_t K, const double *A,
                             size_t lda, const double *Bm, size_t ldb, double beta, double *C, size_t ldc)
{
    (void)trans_a;
    (void)beta;
    for (size_t i = 0; i < M; i++) {
        const double *a = A + i * lda;
        double *c = C + i * ldc;
        if (trans_b) {
            for (size_t j = 0; j < N; j++)
                c[j] = pmhmc_lane_dot(a, Bm + j * ldb, K);
        } else {
            for (size_t j = 0; j < N; j++)
                c[j] = 0.0;
            for (size_t k = 0; k < K; k++) {
                const double aik = a[k], *b = Bm + k * ldb;
                for (size_t j = 0; j < N; j++)
                    c[j] += aik * b[j];
            }
        }
    }
}

typedef void (*gemm_fn)(int trans_a, int trans_b, size_t M, size_t N, size_t K, const double *A,
                        size_t lda, const double *Bm, size_t ldb, double beta, double *C, size_t ldc);

pmhmc_status pmhmc_mlp_work_create(const pmhmc_mlp *mlp, size_t max_batch, pmhmc_mlp_work **out)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (!mlp || max_batch < 1 || max_batch > PMHMC_MLP_MAX_BATCH)
        return PMHMC_ERR_ARG;

    size_t H = mlp->spec.n_hidden, B = max_batch;
    size_t max_dim = 0;
    for (size_t l = 0; l <= H + 1; l++)
        max_dim = mlp->dims[l] > max_dim ? mlp->dims[l] : max_dim;
    size_t total = B * mlp->dims[0] * 2 + 2 * B * max_dim;
    for (size_t l = 1; l <= H; l++)
        total += 6 * B * mlp->dims[l];

    pmhmc_mlp_work *w = calloc(1, sizeof *w);
    if (!w)
        return PMHMC_ERR_NOMEM;
    w->block = calloc(total, sizeof(double));
    if (!w->block) {
        free(w);
        return PMHMC_ERR_NOMEM;
    }
    w->max_batch = B;
    w->n_hidden = H;
    memcpy(w->dims, mlp->dims, sizeof w->dims);
    double *p = w->block;
    w->z[0] = p, p += B * mlp->dims[0];
    w->gx = p, p += B * mlp->dims[0];
    w->tmp_a = p, p += B * max_dim;
    w->tmp_b = p, p += B * max_dim;
    for (size_t l = 1; l <= H; l++) {
        size_t n = B * mlp->dims[l];
        w->z[l] = p, p += n;
        w->d1[l] = p, p += n;
        w->d2[l] = p, p += n;
        w->delta[l] = p, p += n;
        w->abar[l] = p, p += n;
        w->g[l] = p, p += n; /* g_H uses the first n_H */
    }
    /* g_0 is only needed as G's numerator: written straight into gx. */
    *out = w;
    return PMHMC_OK;
}

void pmhmc_mlp_work_free(pmhmc_mlp_work *work)
{
    if (!work)
        return;
    free(work->block);
    free(work);
}

/* Checks a pass's arguments (a work sized for another architecture would be
 * overrun) and pins OpenBLAS's threads. */
static pmhmc_status begin_pass(const pmhmc_mlp *mlp, const pmhmc_mlp_work *work, size_t batch,
                               const double *x)
{
    if (!mlp || !work || !x || batch < 1 || batch > work->max_batch ||
        work->n_hidden != mlp->spec.n_hidden ||
        memcmp(work->dims, mlp->dims, (mlp->spec.n_hidden + 2) * sizeof(size_t)) != 0)
        return PMHMC_ERR_ARG;
    blas_single_thread();
    return PMHMC_OK;
}

/* z_0..z_H for B rows (and f', f'' when derivs). Shapes: x [B, n_in],
 * z_l [B, n_l], W_l [n_l, n_{l-1}], b_l [n_l]. */
static void forward_hidden(const pmhmc_mlp *mlp, pmhmc_mlp_work *w, size_t B, const double *x,
                           int derivs, gemm_fn gemm)
{
    size_t n_in = mlp->dims[0];
    for (size_t r = 0; r < B; r++)
        for (size_t j = 0; j < n_in; j++)
            w->z[0][r * n_in + j] = (x[r * n_in + j] - mlp->in_mean[j]) / mlp->in_sd[j];
    for (size_t l = 1; l <= mlp->spec.n_hidden; l++) {
        size_t n_prev = mlp->dims[l - 1], n = mlp->dims[l];
        const double *W = mlp->weights + mlp->w_off[l - 1];
        const double *b = mlp->weights + mlp->b_off[l - 1];
        int act = (int)mlp->spec.act[l - 1];
        double *z = w->z[l];
        /* a_l [B, n] = z_{l-1} [B, n_prev] W_l^T [n_prev, n]; f applied in place */
        gemm(0, 1, B, n, n_prev, w->z[l - 1], n_prev, W, n_prev, 0.0, z, n);
        for (size_t r = 0; r < B; r++) {
            for (size_t k = 0; k < n; k++) {
                size_t i = r * n + k;
                double a = z[i] + b[k];
                if (derivs)
                    pmhmc_act_eval(act, a, &z[i], &w->d1[l][i], &w->d2[l][i]);
                else
                    z[i] = pmhmc_act_value(act, a);
            }
        }
    }
}

/* y [B, n_out] = z_H [B, n_H] W_o^T [n_H, n_out] + b_o */
static void forward_output(const pmhmc_mlp *mlp, pmhmc_mlp_work *w, size_t B, double *y, gemm_fn gemm)
{
    size_t H = mlp->spec.n_hidden, n_h = mlp->dims[H], n_out = mlp->dims[H + 1];
    const double *W = mlp->weights + mlp->w_off[H];
    const double *b = mlp->weights + mlp->b_off[H];
    gemm(0, 1, B, n_out, n_h, w->z[H], n_h, W, n_h, 0.0, y, n_out);
    for (size_t r = 0; r < B; r++)
        for (size_t m = 0; m < n_out; m++)
            y[r * n_out + m] += b[m];
}

/* After forward_hidden with derivs: delta_l, g_l and G = dS/dx into w->gx.
 * Shapes: g_H [n_H]; delta_l [B, n_l]; g_{l-1} [B, n_{l-1}]; gx [B, n_in]. */
static void input_grad_pass(const pmhmc_mlp *mlp, pmhmc_mlp_work *w, size_t B, gemm_fn gemm)
{
    size_t H = mlp->spec.n_hidden, n_in = mlp->dims[0];
    size_t n_h = mlp->dims[H], n_out = mlp->dims[H + 1];
    const double *Wo = mlp->weights + mlp->w_off[H];
    double *gH = w->g[H];
    for (size_t k = 0; k < n_h; k++) {
        double s = 0.0;
        for (size_t m = 0; m < n_out; m++)
            s += Wo[m * n_h + k];
        gH[k] = s;
    }
    for (size_t l = H; l >= 1; l--) {
        size_t n = mlp->dims[l], n_prev = mlp->dims[l - 1];
        double *delta = w->delta[l];
        for (size_t r = 0; r < B; r++)
            for (size_t k = 0; k < n; k++) {
                size_t i = r * n + k;
                double gl = l == H ? gH[k] : w->g[l][i];
                delta[i] = gl * w->d1[l][i];
            }
        /* g_{l-1} [B, n_prev] = delta_l [B, n] W_l [n, n_prev] */
        double *g_prev = l == 1 ? w->gx : w->g[l - 1];
        gemm(0, 0, B, n_prev, n, delta, n, mlp->weights + mlp->w_off[l - 1], n_prev, 0.0, g_prev,
             n_prev);
    }
    for (size_t r = 0; r < B; r++)
        for (size_t j = 0; j < n_in; j++)
            w->gx[r * n_in + j] /= mlp->in_sd[j];
}

pmhmc_status pmhmc_mlp_forward(const pmhmc_mlp *mlp, pmhmc_mlp_work *work, size_t batch,
                               const double *x, double *y)
{
    pmhmc_status st = begin_pass(mlp, work, batch, x);
    if (st != PMHMC_OK || !y)
        return st != PMHMC_OK ? st : PMHMC_ERR_ARG;
    forward_hidden(mlp, work, batch, x, 0, gemm_fixed_order);
    forward_output(mlp, work, batch, y, gemm_fixed_order);
    return PMHMC_OK;
}

pmhmc_status pmhmc_mlp_input_grad(const pmhmc_mlp *mlp, pmhmc_mlp_work *work, size_t batch,
                                  const double *x, double *y, double *grad)
{
    pmhmc_status st = begin_pass(mlp, work, batch, x);
    if (st != PMHMC_OK || !grad)
        return st != PMHMC_OK ? st : PMHMC_ERR_ARG;
    forward_hidden(mlp, work, batch, x, 1, gemm_fixed_order);
    if (y)
        forward_output(mlp, work, batch, y, gemm_fixed_order);
    input_grad_pass(mlp, work, batch, gemm_fixed_order);
    memcpy(grad, work->gx, batch * mlp->dims[0] * sizeof(double));
    return PMHMC_OK;
}

/* Column weight of the loss: w_theta on theta's columns, w_rho on rho's
 * (the second half of a latent network's input). */
static double column_weight(const pmhmc_mlp *mlp, size_t j, double w_theta, double w_rho)
{
    if (mlp->spec.kind == PMHMC_MLP_LATENT && j >= mlp->spec.n_in / 2)
        return w_rho;
    return w_theta;
}

/* Sweeps 1 and 2 of the header comment, from gbar_0 in w->tmp_a.
 * Shapes: gbar_{l-1} [B, n_{l-1}] in tmp_a; deltabar_l [B, n_l] in tmp_b;
 * zbar_{l-1} [B, n_{l-1}] in tmp_b during sweep 2; gw [n_weights]. */
static void weight_grad_pass(const pmhmc_mlp *mlp, pmhmc_mlp_work *w, size_t B, double *gw)
{
    size_t H = mlp->spec.n_hidden;
    memset(gw, 0, mlp->n_weights * sizeof(double));
    double *gbar = w->tmp_a, *dbar = w->tmp_b;
    for (size_t l = 1; l <= H; l++) {
        size_t n = mlp->dims[l], n_prev = mlp->dims[l - 1];
        const double *W = mlp->weights + mlp->w_off[l - 1];
        /* deltabar_l [B, n] = gbar_{l-1} [B, n_prev] W_l^T [n_prev, n] */
        gemm_blas(0, 1, B, n, n_prev, gbar, n_prev, W, n_prev, 0.0, dbar, n);
        /* Wbar_l [n, n_prev] = delta_l^T [n, B] gbar_{l-1} [B, n_prev] */
        gemm_blas(1, 0, n, n_prev, B, w->delta[l], n, gbar, n_prev, 0.0, gw + mlp->w_off[l - 1], n_prev);
        for (size_t r = 0; r < B; r++)
            for (size_t k = 0; k < n; k++) {
                size_t i = r * n + k;
                double gl = l == H ? w->g[H][k] : w->g[l][i];
                w->abar[l][i] = dbar[i] * gl * w->d2[l][i];
                gbar[i] = dbar[i] * w->d1[l][i];
            }
    }
    size_t n_h = mlp->dims[H], n_out = mlp->dims[H + 1];
    double *Wo_bar = gw + mlp->w_off[H];
    for (size_t r = 0; r < B; r++)
        for (size_t k = 0; k < n_h; k++)
            Wo_bar[k] += gbar[r * n_h + k];
    for (size_t m = 1; m < n_out; m++)
        memcpy(Wo_bar + m * n_h, Wo_bar, n_h * sizeof(double));

    double *zbar = w->tmp_b;
    for (size_t l = H; l >= 1; l--) {
        size_t n = mlp->dims[l], n_prev = mlp->dims[l - 1];
        double *abar = w->abar[l];
        if (l < H)
            for (size_t i = 0; i < B * n; i++)
                abar[i] += zbar[i] * w->d1[l][i];
        double *bbar = gw + mlp->b_off[l - 1];
        for (size_t r = 0; r < B; r++)
            for (size_t k = 0; k < n; k++)
                bbar[k] += abar[r * n + k];
        /* Wbar_l [n, n_prev] += abar_l^T [n, B] z_{l-1} [B, n_prev] */
        gemm_blas(1, 0, n, n_prev, B, abar, n, w->z[l - 1], n_prev, 1.0, gw + mlp->w_off[l - 1], n_prev);
        /* zbar_{l-1} [B, n_prev] = abar_l [B, n] W_l [n, n_prev] */
        if (l > 1)
            gemm_blas(0, 0, B, n_prev, n, abar, n, mlp->weights + mlp->w_off[l - 1], n_prev, 0.0, zbar,
                 n_prev);
    }
}

pmhmc_status pmhmc_mlp_loss_grad(const pmhmc_mlp *mlp, pmhmc_mlp_work *work, size_t batch,
                                 const double *x, const double *target, double w_theta,
                                 double w_rho, double *loss, double *grad_weights)
{
    pmhmc_status st = begin_pass(mlp, work, batch, x);
    if (st != PMHMC_OK)
        return st;
    if (!target || !loss)
        return PMHMC_ERR_ARG;
    forward_hidden(mlp, work, batch, x, 1, gemm_blas);
    input_grad_pass(mlp, work, batch, gemm_blas);

    /* L = (1/B) sum w_j (G - T)^2, so dL/dG = (2/B) w_j (G - T) and
     * gbar_0 = dL/dG / sd (G = g_0 / sd). */
    size_t n_in = mlp->dims[0];
    double inv_b = 1.0 / (double)batch, sum = 0.0;
    for (size_t r = 0; r < batch; r++)
        for (size_t j = 0; j < n_in; j++) {
            size_t i = r * n_in + j;
            double cw = column_weight(mlp, j, w_theta, w_rho);
            double e = work->gx[i] - target[i];
            sum += cw * e * e;
            work->tmp_a[i] = 2.0 * inv_b * cw * e / mlp->in_sd[j];
        }
    *loss = sum * inv_b;
    if (!isfinite(*loss))
        return PMHMC_ERR_NUMERIC;
    if (grad_weights)
        weight_grad_pass(mlp, work, batch, grad_weights);
    return PMHMC_OK;
}
