/* Vector kernels of the CUDA backend. Contract and shapes in vector_ops.cuh. */
#include <curand_philox4x32_x.h>

#include "cuda_debug.h"
#include "math/philox.h"
#include "rotation_rn.cuh"
#include "vector_ops.cuh"

namespace pmhmc_cuda {

__device__ __forceinline__ void stream_pair(uint2 key, uint32_t chain, uint32_t step_lo, uint32_t step_hi,
                                            uint32_t b, uint4 *raw, double *n0, double *n1)
{
    const uint4 w = curand_Philox4x32_10(make_uint4(b, chain, step_lo, step_hi), key);
    pmhmc_philox_words pw;
    pw.w[0] = w.x;
    pw.w[1] = w.y;
    pw.w[2] = w.z;
    pw.w[3] = w.w;
    pmhmc_normal_pair_from_words(pw, n0, n1);
    if (raw)
        *raw = w;
}

template <typename T>
__global__ void normal_kernel(T *x, size_t n, size_t pairs, uint2 key, uint32_t chain, uint32_t step_lo,
                              uint32_t step_hi)
{
    for (size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x; b < pairs; b += (size_t)gridDim.x * blockDim.x) {
        double n0, n1;
        stream_pair(key, chain, step_lo, step_hi, (uint32_t)b, nullptr, &n0, &n1);
        x[2 * b] = (T)n0;
        if (2 * b + 1 < n)
            x[2 * b + 1] = (T)n1;
    }
}

template <typename T>
__global__ void scale_kernel(T *x, size_t n, double alpha)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = (T)((double)x[i] * alpha);
}

template <typename T>
__global__ void axpy_kernel(T *y, const T *x, size_t n, double alpha)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = (T)__dadd_rn((double)y[i], __dmul_rn(alpha, (double)x[i]));
}

template <typename T>
__global__ void rotate_kernel(T *u, T *p, size_t n, double c, double s)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        double ui = (double)u[i], pi = (double)p[i];
        rotate_rn(&ui, &pi, c, s);
        u[i] = (T)ui;
        p[i] = (T)pi;
    }
}

template <typename T>
__global__ void __launch_bounds__(DOT_THREADS) dot_kernel(const T *a, const T *b, size_t n, RowReduce rr)
{
    __shared__ double total[1];
    const size_t stride = (size_t)DOT_BLOCKS * DOT_THREADS;
    double acc = 0.0;
    for (size_t i = blockIdx.x * (size_t)DOT_THREADS + threadIdx.x; i < n; i += stride)
        acc += (double)a[i] * (double)b[i];
    double v[1] = {acc};
    block_sum<1>(v, total);
    if (threadIdx.x == 0)
        rr.partials[blockIdx.x] = total[0];
    finish_rows(rr, blockIdx.x);
}

/* dot_kernel's arithmetic for every pair at once: the same loop over i per
 * pair, then block_sum over MAX_DOTS columns (unused ones zero). */
template <typename T>
__global__ void __launch_bounds__(DOT_THREADS) dots_kernel(DotPairs pairs, size_t n, RowReduce rr)
{
    __shared__ double total[MAX_DOTS];
    const size_t stride = (size_t)DOT_BLOCKS * DOT_THREADS;
    double acc[MAX_DOTS];
#pragma unroll
    for (int d = 0; d < MAX_DOTS; ++d)
        acc[d] = 0.0;
    for (size_t i = blockIdx.x * (size_t)DOT_THREADS + threadIdx.x; i < n; i += stride) {
#pragma unroll
        for (int d = 0; d < MAX_DOTS; ++d)
            if (d < pairs.n)
                acc[d] += (double)((const T *)pairs.a[d])[i] * (double)((const T *)pairs.b[d])[i];
    }
    block_sum<MAX_DOTS>(acc, total);
    if ((int)threadIdx.x < pairs.n)
        rr.partials[(size_t)blockIdx.x * rr.D + threadIdx.x] = total[threadIdx.x];
    finish_rows(rr, blockIdx.x);
}

template <typename T>
__global__ void to_storage_kernel(T *dst, const double *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = (T)src[i];
}

template <typename T>
__global__ void from_storage_kernel(double *dst, const T *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = (double)src[i];
}

__global__ void debug_philox_kernel(uint2 key, uint32_t chain, uint32_t step_lo, uint32_t step_hi, uint32_t pairs,
                                    uint32_t *words, double *normals)
{
    const uint32_t b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= pairs)
        return;
    uint4 w;
    double n0, n1;
    stream_pair(key, chain, step_lo, step_hi, b, &w, &n0, &n1);
    words[4 * (size_t)b] = w.x;
    words[4 * (size_t)b + 1] = w.y;
    words[4 * (size_t)b + 2] = w.z;
    words[4 * (size_t)b + 3] = w.w;
    normals[2 * (size_t)b] = n0;
    normals[2 * (size_t)b + 1] = n1;
}

static uint2 seed_key(uint64_t seed) { return make_uint2((uint32_t)seed, (uint32_t)(seed >> 32)); }

pmhmc_status normal_fill(void *x, int is_float, size_t n, uint64_t seed, uint32_t chain, uint64_t step,
                         cudaStream_t stream, int sm_count)
{
    if (n == 0)
        return PMHMC_OK;
    const size_t pairs = (n + 1) / 2; /* below 2^32: models cap aux sizes at 4e9 */
    const unsigned blocks = elementwise_blocks(pairs, sm_count);
    const uint2 key = seed_key(seed);
    if (is_float)
        normal_kernel<float><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((float *)x, n, pairs, key, chain,
                                                                         (uint32_t)step, (uint32_t)(step >> 32));
    else
        normal_kernel<double><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((double *)x, n, pairs, key, chain,
                                                                          (uint32_t)step, (uint32_t)(step >> 32));
    PMHMC_CUDA_TRY(NULL, cudaGetLastError());
    return PMHMC_OK;
}

pmhmc_status scale(void *x, int is_float, size_t n, double alpha, cudaStream_t stream, int sm_count)
{
    const unsigned blocks = elementwise_blocks(n, sm_count);
    if (is_float)
        scale_kernel<float><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((float *)x, n, alpha);
    else
        scale_kernel<double><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((double *)x, n, alpha);
    PMHMC_CUDA_TRY(NULL, cudaGetLastError());
    return PMHMC_OK;
}

pmhmc_status axpy(void *y, const void *x, int is_float, size_t n, double alpha, cudaStream_t stream,
                  int sm_count)
{
    const unsigned blocks = elementwise_blocks(n, sm_count);
    if (is_float)
        axpy_kernel<float><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((float *)y, (const float *)x, n, alpha);
    else
        axpy_kernel<double><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((double *)y, (const double *)x, n, alpha);
    PMHMC_CUDA_TRY(NULL, cudaGetLastError());
    return PMHMC_OK;
}

pmhmc_status rotate(void *u, void *p, int is_float, size_t n, double c, double s, cudaStream_t stream,
                    int sm_count)
{
    const unsigned blocks = elementwise_blocks(n, sm_count);
    if (is_float)
        rotate_kernel<float><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((float *)u, (float *)p, n, c, s);
    else
        rotate_kernel<double><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((double *)u, (double *)p, n, c, s);
    PMHMC_CUDA_TRY(NULL, cudaGetLastError());
    return PMHMC_OK;
}

pmhmc_status dot(const void *a, const void *b, int is_float, size_t n, RowReduce rr, cudaStream_t stream)
{
    rr.n_rows = DOT_BLOCKS;
    rr.D = 1;
    if (is_float)
        dot_kernel<float><<<DOT_BLOCKS, DOT_THREADS, 0, stream>>>((const float *)a, (const float *)b, n, rr);
    else
        dot_kernel<double><<<DOT_BLOCKS, DOT_THREADS, 0, stream>>>((const double *)a, (const double *)b, n, rr);
    PMHMC_CUDA_TRY(NULL, cudaGetLastError());
    return PMHMC_OK;
}

pmhmc_status dots(const DotPairs &pairs, int is_float, size_t n, RowReduce rr, cudaStream_t stream)
{
    rr.n_rows = DOT_BLOCKS;
    rr.D = pairs.n;
    if (is_float)
        dots_kernel<float><<<DOT_BLOCKS, DOT_THREADS, 0, stream>>>(pairs, n, rr);
    else
        dots_kernel<double><<<DOT_BLOCKS, DOT_THREADS, 0, stream>>>(pairs, n, rr);
    PMHMC_CUDA_TRY(NULL, cudaGetLastError());
    return PMHMC_OK;
}

pmhmc_status to_storage(void *dst, const double *src, int is_float, size_t n, cudaStream_t stream, int sm_count)
{
    const unsigned blocks = elementwise_blocks(n, sm_count);
    if (is_float)
        to_storage_kernel<float><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((float *)dst, src, n);
    else
        to_storage_kernel<double><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>((double *)dst, src, n);
    PMHMC_CUDA_TRY(NULL, cudaGetLastError());
    return PMHMC_OK;
}

pmhmc_status from_storage(double *dst, const void *src, int is_float, size_t n, cudaStream_t stream,
                          int sm_count)
{
    const unsigned blocks = elementwise_blocks(n, sm_count);
    if (is_float)
        from_storage_kernel<float><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>(dst, (const float *)src, n);
    else
        from_storage_kernel<double><<<blocks, ELEMENTWISE_THREADS, 0, stream>>>(dst, (const double *)src, n);
    PMHMC_CUDA_TRY(NULL, cudaGetLastError());
    return PMHMC_OK;
}

cudaError_t kernel_image_check(void)
{
    cudaFuncAttributes attr;
    return cudaFuncGetAttributes(&attr, normal_kernel<double>);
}

template <typename T>
static cudaError_t preload_typed(void)
{
    cudaFuncAttributes attr;
    cudaError_t rc;
    if ((rc = cudaFuncGetAttributes(&attr, normal_kernel<T>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, scale_kernel<T>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, axpy_kernel<T>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, rotate_kernel<T>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, dot_kernel<T>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, dots_kernel<T>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, to_storage_kernel<T>)) != cudaSuccess)
        return rc;
    return cudaFuncGetAttributes(&attr, from_storage_kernel<T>);
}

cudaError_t vector_ops_preload(void)
{
    cudaError_t rc = preload_typed<float>();
    return rc != cudaSuccess ? rc : preload_typed<double>();
}

} // namespace pmhmc_cuda

using namespace pmhmc_cuda;

extern "C" pmhmc_status pmhmc_cuda_debug_philox(uint64_t seed, uint32_t chain, uint64_t step, uint32_t n_pairs,
                                                uint32_t *words, double *normals)
{
    if (!words || !normals)
        return PMHMC_ERR_ARG;
    if (n_pairs == 0)
        return PMHMC_OK;
    uint32_t *d_words = NULL;
    double *d_normals = NULL;
    pmhmc_status st = PMHMC_ERR_DEVICE;
    const unsigned blocks = (n_pairs + 255) / 256;
    if (cudaSetDevice(0) != cudaSuccess)
        return PMHMC_ERR_DEVICE;
    if (cudaMalloc(&d_words, 4 * (size_t)n_pairs * sizeof *d_words) != cudaSuccess ||
        cudaMalloc(&d_normals, 2 * (size_t)n_pairs * sizeof *d_normals) != cudaSuccess)
        goto done;
    debug_philox_kernel<<<blocks, 256>>>(seed_key(seed), chain, (uint32_t)step, (uint32_t)(step >> 32), n_pairs,
                                         d_words, d_normals);
    if (cudaGetLastError() != cudaSuccess)
        goto done;
    if (cudaMemcpy(words, d_words, 4 * (size_t)n_pairs * sizeof *words, cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(normals, d_normals, 2 * (size_t)n_pairs * sizeof *normals, cudaMemcpyDeviceToHost) !=
            cudaSuccess)
        goto done;
    st = PMHMC_OK;
done:
    cudaFree(d_words);
    cudaFree(d_normals);
    return st;
}
