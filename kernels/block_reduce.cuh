/* Deterministic reductions: within a block, and across the blocks of one
 * launch.
 *
 * Contract
 *   block_max(v)         the maximum of v over the block (exact, so order free).
 *   block_sum<K>(v, out) out[i] = sum over threads of v[i], for K doubles per
 *                        thread: a shuffle-down tree inside each warp, then the
 *                        warp totals summed in warp order by thread i. The order
 *                        depends only on blockDim, so a launch with the same
 *                        block size gives the same bits every run.
 *   finish_rows(...)     the cross-block step. Every block of a launch owns one
 *                        row of a partials matrix [n_rows, D] (doubles). After
 *                        writing its row a block calls finish_rows; the last
 *                        block to finish within each chunk of CHUNK_ROWS rows
 *                        sums that chunk column-wise into chunk_sums
 *                        [n_chunks, D], and the last chunk to finish sums the
 *                        chunk rows into result [D]. Sums run in a fixed order
 *                        (rows r = l mod 8 in sequence for lane l, then the 8
 *                        lanes in order), whichever blocks happen to finish
 *                        last and whatever the block size, so the result is
 *                        bit-identical run to run. One launch therefore does
 *                        the whole reduction; the host then reads D doubles.
 *                        Returns true (in every thread) in the one block that
 *                        wrote result, after the block has synchronized, so
 *                        that block may go on to use result.
 *
 *   Memory ordering follows the CUDA programming guide's fence-and-counter
 *   example: writers fence (__threadfence) before the block's counter
 *   increment; the last block reads others' rows with ld.global.cg (L2, not a
 *   possibly stale L1). Counters [n_chunks + 1] start at zero and are reset to
 *   zero by the blocks that consume them, so consecutive launches on one
 *   stream can share them.
 *
 * Requirements: blockDim.x a multiple of 32 and at most MAX_THREADS; every
 * thread of the block calls these functions (they contain __syncthreads). */
#ifndef PMHMC_KERNELS_BLOCK_REDUCE_CUH
#define PMHMC_KERNELS_BLOCK_REDUCE_CUH

#include <cuda_runtime.h>

namespace pmhmc_cuda {

constexpr int MAX_THREADS = 256;
constexpr int MAX_WARPS = MAX_THREADS / 32;
constexpr int CHUNK_ROWS = 256; /* rows summed by one chunk's last block */
constexpr int ROW_LANES = 8;    /* independent partial sums per column */
constexpr int ROW_TILE = 32;    /* columns per pass: ROW_LANES * ROW_TILE doubles of shared memory */

inline int reduce_chunks(int n_rows) { return (n_rows + CHUNK_ROWS - 1) / CHUNK_ROWS; }

template <typename V>
__device__ __forceinline__ V warp_max(V v)
{
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
        v = fmax(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

/* Max over the block; every thread gets it. fmax ignores NaN, like the CPU's
 * fmax loop; a NaN weight still poisons the sums that follow. */
template <typename V>
__device__ V block_max(V v)
{
    __shared__ V warp_hi[MAX_WARPS];
    __shared__ V total;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    if (lane == 0)
        warp_hi[warp] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        V hi = warp_hi[0];
        for (int w = 1; w < (int)(blockDim.x >> 5); ++w)
            hi = fmax(hi, warp_hi[w]);
        total = hi;
    }
    __syncthreads();
    V out = total;
    __syncthreads(); /* total may be rewritten by the next call */
    return out;
}

/* out[i] (shared, K doubles) = block sum of v[i]. */
template <int K>
__device__ void block_sum(double (&v)[K], double *out)
{
    __shared__ double warp_sums[MAX_WARPS * K];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int i = 0; i < K; ++i) {
        double x = v[i];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1)
            x += __shfl_down_sync(0xffffffffu, x, off);
        v[i] = x;
    }
    if (lane == 0) {
#pragma unroll
        for (int i = 0; i < K; ++i)
            warp_sums[warp * K + i] = v[i];
    }
    __syncthreads();
    const int n_warps = (int)(blockDim.x >> 5);
    for (int i = threadIdx.x; i < K; i += blockDim.x) {
        double t = warp_sums[i];
        for (int w = 1; w < n_warps; ++w)
            t += warp_sums[w * K + i];
        out[i] = t;
    }
    __syncthreads();
}

/* dst[c] = sum_{r < n_rows} src[r * D + c] in the fixed order described
 * above. src was written by other blocks of this launch: read through L2. */
__device__ inline void sum_rows(const double *src, int n_rows, int D, double *dst)
{
    __shared__ double lanes[ROW_LANES * ROW_TILE];
    for (int c0 = 0; c0 < D; c0 += ROW_TILE) {
        const int width = D - c0 < ROW_TILE ? D - c0 : ROW_TILE;
        for (int item = threadIdx.x; item < ROW_LANES * width; item += blockDim.x) {
            const int l = item / width, c = c0 + item % width;
            double acc = 0.0;
            for (int r = l; r < n_rows; r += ROW_LANES)
                acc += __ldcg(src + (size_t)r * D + c);
            lanes[item] = acc;
        }
        __syncthreads();
        for (int c = threadIdx.x; c < width; c += blockDim.x) {
            double t = lanes[c];
            for (int l = 1; l < ROW_LANES; ++l)
                t += lanes[l * width + c];
            dst[c0 + c] = t;
        }
        __syncthreads();
    }
}

struct RowReduce {
    double *partials;       /* [n_rows, D], written by the blocks of the launch */
    double *chunk_sums;     /* [n_chunks, D] */
    unsigned *counters;     /* [n_chunks + 1], zero between launches */
    double *result;         /* [D], device-visible (may be mapped host memory) */
    int n_rows, D;
};

/* Called by every thread of block `row` once the block's row of partials is
 * written (by any of its threads). */
__device__ inline bool finish_rows(const RowReduce &rr, int row)
{
    __shared__ int is_last;
    const int n_chunks = (rr.n_rows + CHUNK_ROWS - 1) / CHUNK_ROWS;
    const int chunk = row / CHUNK_ROWS;
    const int first = chunk * CHUNK_ROWS;
    const int in_chunk = rr.n_rows - first < CHUNK_ROWS ? rr.n_rows - first : CHUNK_ROWS;

    __threadfence(); /* this thread's partials writes, before the count below */
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned done = atomicAdd(&rr.counters[chunk], 1u);
        is_last = done == (unsigned)(in_chunk - 1);
    }
    __syncthreads();
    if (!is_last)
        return false;
    __threadfence(); /* acquire side of the count: order the reads below after it */
    sum_rows(rr.partials + (size_t)first * rr.D, in_chunk, rr.D, rr.chunk_sums + (size_t)chunk * rr.D);

    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        rr.counters[chunk] = 0u;
        unsigned done = atomicAdd(&rr.counters[n_chunks], 1u);
        is_last = done == (unsigned)(n_chunks - 1);
    }
    __syncthreads();
    if (!is_last)
        return false;
    __threadfence();
    sum_rows(rr.chunk_sums, n_chunks, rr.D, rr.result);
    if (threadIdx.x == 0)
        rr.counters[n_chunks] = 0u;
    __threadfence_system(); /* result may live in mapped host memory */
    return true;
}

} // namespace pmhmc_cuda

#endif
