/* Elementwise and reduction kernels over workspace vectors.
 *
 * Shapes: every vector is [n] of the storage type T (float or double, chosen
 * by is_float); host-side transfers are [n] doubles.
 *
 *   normal    x[e] = normal e % 2 of pair e / 2 of stream (seed, chain, step).
 *             Thread b computes pair b: cuRAND's device Philox
 *             curand_Philox4x32_10 at counter (b, chain, (uint32)step,
 *             step >> 32) with key ((uint32)seed, seed >> 32), then the shared
 *             pmhmc_normal_pair_from_words (src/math/philox.h: correctly
 *             rounded operations only). In double the result is the CPU's
 *             cpu_normal bit for bit; in float it is that double rounded once.
 *   scale     x <- x alpha, computed in double and rounded to T.
 *   axpy      y <- y + alpha x, in double with separately rounded multiply
 *             and add (no fma), rounded to T: the CPU's bits in double.
 *   rotate    (u, p) <- (u c + p s, p c - u s) with c = cos a, s = sin a from
 *             the host (double, as on the CPU); computed in double without
 *             fma contraction, so the double path matches the CPU bit for bit.
 *   dot       sum_i a_i b_i in double. Fixed shape: DOT_BLOCKS blocks of
 *             DOT_THREADS threads whatever n or the device; thread t of block b
 *             sums i = b DOT_THREADS + t + m DOT_BLOCKS DOT_THREADS in order,
 *             blocks reduce in a fixed tree, and the last blocks combine the
 *             block partials (block_reduce.cuh finish_rows): one launch,
 *             identical bits every run.
 *   dots      up to MAX_DOTS dot products of vector pairs in one launch: each
 *             thread accumulates every pair exactly as dot does its one,
 *             block_sum and finish_rows reduce each pair's column with the
 *             same tree, so pair d gets dot's bits for its vectors.
 *   to_storage / from_storage   [n] doubles <-> [n] T (round to nearest).
 *
 * Elementwise kernels use grid-stride loops over blocks of 256 threads; their
 * results do not depend on the grid. All run on the given stream, unsynchronized. */
#ifndef PMHMC_KERNELS_VECTOR_OPS_CUH
#define PMHMC_KERNELS_VECTOR_OPS_CUH

#include "block_reduce.cuh"
#include "cuda_common.cuh"

namespace pmhmc_cuda {

constexpr int DOT_BLOCKS = 1024;
constexpr int DOT_THREADS = 256;
constexpr int MAX_DOTS = PMHMC_WS_MAX_DOTS;

/* The vectors of up to MAX_DOTS pairs, passed by value to the kernel. */
struct DotPairs {
    const void *a[MAX_DOTS];
    const void *b[MAX_DOTS];
    int n;
};

pmhmc_status normal_fill(void *x, int is_float, size_t n, uint64_t seed, uint32_t chain, uint64_t step,
                         cudaStream_t stream, int sm_count);
pmhmc_status scale(void *x, int is_float, size_t n, double alpha, cudaStream_t stream, int sm_count);
pmhmc_status axpy(void *y, const void *x, int is_float, size_t n, double alpha, cudaStream_t stream,
                  int sm_count);
pmhmc_status rotate(void *u, void *p, int is_float, size_t n, double c, double s, cudaStream_t stream,
                    int sm_count);
/* rr: partials [DOT_BLOCKS], chunk_sums and counters for DOT_BLOCKS rows,
 * result [1]; rr.n_rows and rr.D are set here. */
pmhmc_status dot(const void *a, const void *b, int is_float, size_t n, RowReduce rr, cudaStream_t stream);
/* rr: partials [DOT_BLOCKS, MAX_DOTS], chunk_sums and counters for
 * DOT_BLOCKS rows of MAX_DOTS, result [pairs.n]; rr.n_rows and rr.D are set
 * here. */
pmhmc_status dots(const DotPairs &pairs, int is_float, size_t n, RowReduce rr, cudaStream_t stream);
pmhmc_status to_storage(void *dst, const double *src, int is_float, size_t n, cudaStream_t stream,
                        int sm_count);
pmhmc_status from_storage(double *dst, const void *src, int is_float, size_t n, cudaStream_t stream,
                          int sm_count);

/* cudaSuccess when this build has a kernel image the current device can run. */
cudaError_t kernel_image_check(void);

/* Loads every kernel above (cudaFuncGetAttributes forces a lazily loaded
 * kernel in): backend init calls it so that no load happens while another
 * thread captures a graph. */
cudaError_t vector_ops_preload(void);

} // namespace pmhmc_cuda

#endif
