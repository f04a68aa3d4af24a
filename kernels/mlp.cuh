/* Elementwise and column kernels of the device MLP (mlp_device.cu runs the
 * GEMMs with cuBLAS and these between them; src/hnn/mlp_grad.c is the CPU
 * reference whose notation and loops they follow).
 *
 * Shapes: B rows; a layer of n units holds [B, n] row-major doubles; a bias
 * or a column statistic is [n]; input scaling mean, sd are [n_in].
 *
 *   standardize   z0 [B, n_in] = (x - mean) / sd, per column.
 *   activate      a = z + b (z holds z_{l-1} W_l^T from the GEMM), then
 *                 z = f(a), and when d1 is not NULL d1 = f'(a), d2 = f''(a):
 *                 pmhmc_act_eval / pmhmc_act_value of src/math/activations.h,
 *                 the CPU's own formulas.
 *   add_bias      y [B, n] += b [n].
 *   col_sum       out [n] = sum over r < rows of a [rows, n], each column
 *                 summed by one thread from 0.0 in row order: the CPU's loop
 *                 and so its bits, run to run and whatever the grid.
 *   replicate     rows 1..rows-1 of a [rows, n] <- row 0.
 *   mul           out [B, n] = g * d, g [B, n], or g [n] broadcast over the
 *                 rows when g_bcast (g_H of the input-gradient pass).
 *   div_cols      a [B, n] /= sd [n], per column.
 *   loss          with G, T [B, n_in], e = G - T, c_j = w_rho for columns
 *                 j >= rho_from, else w_theta: gbar0 = (2/B) c_j e / sd_j and
 *                 sum c_j e^2 into rr.result[0]. Fixed shape, LOSS_BLOCKS
 *                 blocks of LOSS_THREADS whatever B or the device; each thread
 *                 sums its grid-stride elements in order, block_sum and
 *                 finish_rows (block_reduce.cuh) finish in a fixed order: the
 *                 same bits every run.
 *   sweep1        abar = dbar * g * d2 and gbar = dbar * d1, g as in mul.
 *   sweep2        abar += zbar * d1.
 *   gather        x, t [B, n_in] <- rows rows[0..B) of src_x, src_t
 *                 [n_rows, n_in] (the caller checked every index).
 *
 * Elementwise kernels use grid-stride loops over blocks of
 * ELEMENTWISE_THREADS; none of their results depend on the grid. All run on
 * the given stream, unsynchronized; failures to launch come back as
 * PMHMC_ERR_DEVICE with the detail in err. */
#ifndef PMHMC_KERNELS_MLP_CUH
#define PMHMC_KERNELS_MLP_CUH

#include "block_reduce.cuh"
#include "cuda_common.cuh"

namespace pmhmc_cuda {

constexpr int LOSS_BLOCKS = 64; /* <= CHUNK_ROWS: one chunk of partials */
constexpr int LOSS_THREADS = 256;

struct MlpLaunch {
    cudaStream_t stream;
    int sm_count;
    pmhmc_error *err;
};

pmhmc_status mlp_standardize(const MlpLaunch &k, double *z0, const double *x, const double *mean,
                             const double *sd, size_t B, size_t n_in);
pmhmc_status mlp_activate(const MlpLaunch &k, double *z, double *d1, double *d2, const double *b, int act,
                          size_t B, size_t n);
pmhmc_status mlp_add_bias(const MlpLaunch &k, double *y, const double *b, size_t B, size_t n);
pmhmc_status mlp_col_sum(const MlpLaunch &k, double *out, const double *a, size_t rows, size_t n);
pmhmc_status mlp_replicate(const MlpLaunch &k, double *a, size_t rows, size_t n);
pmhmc_status mlp_mul(const MlpLaunch &k, double *out, const double *g, int g_bcast, const double *d, size_t B,
                     size_t n);
pmhmc_status mlp_div_cols(const MlpLaunch &k, double *a, const double *sd, size_t B, size_t n);
/* rr: partials [LOSS_BLOCKS], chunk_sums [1], counters [2] (zero), result
 * [1]; rr.n_rows and rr.D are set here. */
pmhmc_status mlp_loss(const MlpLaunch &k, double *gbar0, const double *G, const double *T, const double *sd,
                      size_t B, size_t n_in, size_t rho_from, double w_theta, double w_rho, RowReduce rr);
pmhmc_status mlp_sweep1(const MlpLaunch &k, double *abar, double *gbar, const double *dbar, const double *g,
                        int g_bcast, const double *d1, const double *d2, size_t B, size_t n);
pmhmc_status mlp_sweep2(const MlpLaunch &k, double *abar, const double *zbar, const double *d1, size_t count);
pmhmc_status mlp_gather(const MlpLaunch &k, double *x, double *t, const double *src_x, const double *src_t,
                        const uint32_t *rows, size_t B, size_t n_in);

} // namespace pmhmc_cuda

#endif
