/* Device MLP kernels. Contract and shapes in mlp.cuh; every per-element
 * formula is the CPU reference's (src/hnn/mlp_grad.c) in the same operand
 * order. */
#include "math/activations.h"
#include "mlp.cuh"

namespace pmhmc_cuda {

#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ void standardize_kernel(double *z0, const double *x, const double *mean, const double *sd, size_t count,
                                   size_t n_in)
{
    GRID_STRIDE(i, count)
    {
        const size_t j = i % n_in;
        z0[i] = (x[i] - mean[j]) / sd[j];
    }
}

__global__ void activate_kernel(double *z, double *d1, double *d2, const double *b, int act, size_t count, size_t n)
{
    GRID_STRIDE(i, count)
    {
        const double a = z[i] + b[i % n];
        if (d1)
            pmhmc_act_eval(act, a, &z[i], &d1[i], &d2[i]);
        else
            z[i] = pmhmc_act_value(act, a);
    }
}

__global__ void add_bias_kernel(double *y, const double *b, size_t count, size_t n)
{
    GRID_STRIDE(i, count)
    y[i] += b[i % n];
}

/* One thread per column, rows in order: consecutive threads read
 * consecutive addresses of each row. */
__global__ void col_sum_kernel(double *out, const double *a, size_t rows, size_t n)
{
    GRID_STRIDE(k, n)
    {
        double s = 0.0;
        for (size_t r = 0; r < rows; r++)
            s += a[r * n + k];
        out[k] = s;
    }
}

__global__ void replicate_kernel(double *a, size_t count, size_t n)
{
    GRID_STRIDE(i, count)
    a[n + i] = a[i % n];
}

__global__ void mul_kernel(double *out, const double *g, int g_bcast, const double *d, size_t count, size_t n)
{
    GRID_STRIDE(i, count)
    out[i] = (g_bcast ? g[i % n] : g[i]) * d[i];
}

__global__ void div_cols_kernel(double *a, const double *sd, size_t count, size_t n)
{
    GRID_STRIDE(i, count)
    a[i] /= sd[i % n];
}

__global__ void __launch_bounds__(LOSS_THREADS)
    loss_kernel(double *gbar0, const double *G, const double *T, const double *sd, size_t count, size_t n_in,
                size_t rho_from, double w_theta, double w_rho, double inv_b, RowReduce rr)
{
    __shared__ double total[1];
    double acc = 0.0;
    GRID_STRIDE(i, count)
    {
        const size_t j = i % n_in;
        const double cw = j >= rho_from ? w_rho : w_theta;
        const double e = G[i] - T[i];
        acc += cw * e * e;
        gbar0[i] = 2.0 * inv_b * cw * e / sd[j];
    }
    double v[1] = {acc};
    block_sum<1>(v, total);
    if (threadIdx.x == 0)
        rr.partials[blockIdx.x] = total[0];
    finish_rows(rr, blockIdx.x);
}

__global__ void sweep1_kernel(double *abar, double *gbar, const double *dbar, const double *g, int g_bcast,
                              const double *d1, const double *d2, size_t count, size_t n)
{
    GRID_STRIDE(i, count)
    {
        const double gl = g_bcast ? g[i % n] : g[i];
        abar[i] = dbar[i] * gl * d2[i];
        gbar[i] = dbar[i] * d1[i];
    }
}

__global__ void sweep2_kernel(double *abar, const double *zbar, const double *d1, size_t count)
{
    GRID_STRIDE(i, count)
    abar[i] += zbar[i] * d1[i];
}

__global__ void gather_kernel(double *x, double *t, const double *src_x, const double *src_t, const uint32_t *rows,
                              size_t count, size_t n_in)
{
    GRID_STRIDE(i, count)
    {
        const size_t src = (size_t)rows[i / n_in] * n_in + i % n_in;
        x[i] = src_x[src];
        t[i] = src_t[src];
    }
}

#undef GRID_STRIDE

#define LAUNCH(kernel, count, ...)                                                                     \
    do {                                                                                               \
        if ((count) > 0)                                                                               \
            kernel<<<elementwise_blocks((count), k.sm_count), ELEMENTWISE_THREADS, 0, k.stream>>>(     \
                __VA_ARGS__);                                                                          \
        PMHMC_CUDA_TRY(k.err, cudaGetLastError());                                                     \
        return PMHMC_OK;                                                                               \
    } while (0)

pmhmc_status mlp_standardize(const MlpLaunch &k, double *z0, const double *x, const double *mean,
                             const double *sd, size_t B, size_t n_in)
{
    LAUNCH(standardize_kernel, B * n_in, z0, x, mean, sd, B * n_in, n_in);
}

pmhmc_status mlp_activate(const MlpLaunch &k, double *z, double *d1, double *d2, const double *b, int act,
                          size_t B, size_t n)
{
    LAUNCH(activate_kernel, B * n, z, d1, d2, b, act, B * n, n);
}

pmhmc_status mlp_add_bias(const MlpLaunch &k, double *y, const double *b, size_t B, size_t n)
{
    LAUNCH(add_bias_kernel, B * n, y, b, B * n, n);
}

pmhmc_status mlp_col_sum(const MlpLaunch &k, double *out, const double *a, size_t rows, size_t n)
{
    LAUNCH(col_sum_kernel, n, out, a, rows, n);
}

pmhmc_status mlp_replicate(const MlpLaunch &k, double *a, size_t rows, size_t n)
{
    LAUNCH(replicate_kernel, (rows - 1) * n, a, (rows - 1) * n, n);
}

pmhmc_status mlp_mul(const MlpLaunch &k, double *out, const double *g, int g_bcast, const double *d, size_t B,
                     size_t n)
{
    LAUNCH(mul_kernel, B * n, out, g, g_bcast, d, B * n, n);
}

pmhmc_status mlp_div_cols(const MlpLaunch &k, double *a, const double *sd, size_t B, size_t n)
{
    LAUNCH(div_cols_kernel, B * n, a, sd, B * n, n);
}

pmhmc_status mlp_sweep1(const MlpLaunch &k, double *abar, double *gbar, const double *dbar, const double *g,
                        int g_bcast, const double *d1, const double *d2, size_t B, size_t n)
{
    LAUNCH(sweep1_kernel, B * n, abar, gbar, dbar, g, g_bcast, d1, d2, B * n, n);
}

pmhmc_status mlp_sweep2(const MlpLaunch &k, double *abar, const double *zbar, const double *d1, size_t count)
{
    LAUNCH(sweep2_kernel, count, abar, zbar, d1, count);
}

pmhmc_status mlp_gather(const MlpLaunch &k, double *x, double *t, const double *src_x, const double *src_t,
                        const uint32_t *rows, size_t B, size_t n_in)
{
    LAUNCH(gather_kernel, B * n_in, x, t, src_x, src_t, rows, B * n_in, n_in);
}

#undef LAUNCH

pmhmc_status mlp_loss(const MlpLaunch &k, double *gbar0, const double *G, const double *T, const double *sd,
                      size_t B, size_t n_in, size_t rho_from, double w_theta, double w_rho, RowReduce rr)
{
    rr.n_rows = LOSS_BLOCKS;
    rr.D = 1;
    loss_kernel<<<LOSS_BLOCKS, LOSS_THREADS, 0, k.stream>>>(gbar0, G, T, sd, B * n_in, n_in, rho_from, w_theta,
                                                             w_rho, 1.0 / (double)B, rr);
    PMHMC_CUDA_TRY(k.err, cudaGetLastError());
    return PMHMC_OK;
}

} // namespace pmhmc_cuda
