/* The fused GLMM estimator kernel (DESIGN §2, §3): log phat, its theta
 * gradient, the u gradient, and the integrator's p kick and (u, p) rotation,
 * in ONE launch per call. CPU reference: src/cpu/glmm_cpu.c.
 *
 * Shapes (T = float or double storage; G groups, N draws, R_total rows, p
 * covariates, dim = p + 5, D = dim + 1 with the theta gradient, else 1)
 *   in      group_start [G+1] size_t, y [R_total] T, z [R_total, p] T,
 *           beta [p] (kernel parameter, or theta_dev [dim] when p > 64),
 *           mixture (mu, lambda, log_norm, w1) computed on the host in double
 *   in/out  u [G, N] T; p [G, N] T (when a kick is requested)
 *   out     grad_u [G, N] T (when requested), zb [R_total] T (scratch),
 *           partials [G, D] double, result [D] double (sum over groups)
 *
 * Launch: grid = G (one block per group), block = pmhmc_cuda_estimator_threads(N)
 * (32..256, a multiple of 32); thread t owns draws k = t, t + B, t + 2B, ...
 * so N need not be a multiple of 32 and N > 1024 just loops.
 *
 * Per block (group i, n = n_i rows):
 *  1. zb_j = z_j'beta for the group's rows, in double (rounded to T), into
 *     the global scratch zb; the first rows' zb_j and y_j are then held in
 *     registers by every thread. The tile is R = 8 or 16 rows (a template
 *     parameter chosen from the data's largest group), and a switch on n_i
 *     runs a loop compiled for exactly n_i rows when n_i <= 8 (no per-row
 *     guards, so the rows' independent exp/rcp chains interleave), the
 *     guarded R-row loop otherwise. Ragged panels cost no divergence: n_i is
 *     uniform within a block.
 *  2. Draw loop. For draw k: x = s u_k; lw_k = log f(x) - log q(x) +
 *     sum_j [y_j eta_jk - softplus(eta_jk)], g_jk = y_j - sigmoid(eta_jk),
 *     c_k = sum_j g_jk + dlogf/dx + x/s^2. The g_jk of the first R rows stay
 *     in registers for this draw only; each thread keeps an ONLINE log-sum-exp
 *     state: a running max m_t and, scaled by exp(-m_t), the sums of w, of the
 *     five w-weighted mixture-gradient terms and of w g_jk per register row
 *     (a_j). A new max rescales them (rare after the first draws). (lw_k, c_k)
 *     go to a stash (shared memory; a global [G, N] buffer when 2 N sizeof(T)
 *     exceeds 96 KB) when the u gradient or the extra-rows sweep needs them.
 *     A draw with lw = -inf weighs 0 (as on the CPU); NaN propagates.
 *  3. Block max M of m_t, each thread scales its sums by exp(m_t - M), block
 *     sums (block_reduce.cuh, double, fixed order) give S = sum_k exp(lw_k - M),
 *     log phat_i = M + log S - log N, a_j = sum_k W_k g_jk, the mixture terms.
 *     grad beta_c = sum_j z_jc a_j in double.
 *  4. Groups with n_i > R: the rows past the tile are handled in a second
 *     sweep per chunk of R rows that recomputes sigmoid(eta_jk) from the
 *     stash's lw_k (one exp and one reciprocal more per such term) instead of
 *     holding g_jk for all rows: registers stay bounded for any n_i, and the
 *     common short panels (n_i <= 16) pay nothing for it.
 *  5. When grad_u or p is requested: d_k = W_k s c_k with W_k = exp(lw_k - M)/S;
 *     grad_u_k = d_k; p_k += kick d_k; then (u_k, p_k) <- R(angle)(u_k, p_k),
 *     in place (each element is read and written by the thread that owns it).
 *  6. The block's row [log phat_i, grad_theta_i] goes to partials and
 *     finish_rows() lets the last blocks reduce all rows in a fixed order.
 *
 * Why g_jk in registers and not a second sweep for every row: the sweep
 * would cost two more MUFU operations per term (exp, rcp) on the unit that
 * bounds the kernel; the online log-sum-exp costs one exp per DRAW. With the
 * float path's folded logarithm a term costs 2 MUFU ops and a draw about 5
 * more (mixture exp + rcp, one log, the online weight's exp, the u-phase exp),
 * i.e. ~2.8 per term at n_i = 6.
 *
 * Precision: double storage runs the shared double formulas (validation to
 * ~1e-12 of the CPU). Float storage runs the float twins with fast
 * intrinsics; each thread's sums over its own draws are float (at most
 * N / 256 terms), every block-level and cross-group sum, log phat_i and every
 * gradient partial are double. */
#ifndef PMHMC_KERNELS_GLMM_ESTIMATOR_CUH
#define PMHMC_KERNELS_GLMM_ESTIMATOR_CUH

#include "block_reduce.cuh"
#include "estimator_common.cuh"
#include "math/glmm_math.h"

/* ---- kernel variants (float storage) -----------------------------------------
 *
 * PMHMC_CUDA_GLMM_VARIANT (read at backend creation) picks the float kernel;
 * double storage always runs the base kernel (the shared double formulas).
 * Every variant computes the same quantities to float accuracy and is tested
 * against the CPU (tests/test_backend_ops.cpp); bench_cuda times each.
 *   base       the first kernel (glmm_estimate_kernel<float, R>), 256-thread
 *              blocks, 3 per SM: kept as the in-run baseline.
 *   fast       glmm_fast.cu: the same contract with a leaner draw loop (base-2
 *              log domain, flush-to-zero MUFU intrinsics without denormal
 *              guards, per-group sums in place of per-term y eta and max(eta, 0),
 *              sigmoid sums in place of g sums, a lazy online max that rescales
 *              only past a margin, the normalized weight stored in the stash so
 *              the u phase needs no exp per draw), the next draw's u loaded one
 *              iteration ahead, p prefetched to L2 during the draw loop, and a
 *              u phase with 4 draws' loads in flight per thread;
 *              256-thread blocks, 3 per SM (80 registers).
 *   fast128    the fast kernel in 128-thread blocks (6 per SM): half the
 *              per-group reduction work per draw, more blocks to overlap one
 *              block's memory-bound u phase with another's draw loop.
 *   fast_occ4  the fast kernel compiled for 4 blocks of 256 per SM (64
 *              registers): more warps to hide latency, if it does not spill.
 * PERF_NOTES.md has the predictions. */
enum GlmmVariant { GLMM_BASE = 0, GLMM_FAST = 1, GLMM_FAST128 = 2, GLMM_FAST_OCC4 = 3, GLMM_N_VARIANTS = 4 };

/* The default when PMHMC_CUDA_GLMM_VARIANT is unset. */
#define PMHMC_GLMM_DEFAULT_VARIANT GLMM_FAST128

namespace pmhmc_cuda {

/* Kernel parameters, passed by value (__grid_constant__). */
struct GlmmParams {
    const size_t *group_start;
    const void *y, *z;
    void *zb;
    void *u, *p, *grad_u;
    void *stash_global; /* [G, N] pairs of T, or NULL: stash in shared memory */
    const double *theta_dev;
    double beta[PMHMC_CUDA_INLINE_THETA];
    pmhmc_mixture mix;
    RowReduce rr;
    int n_cov, n_draws;
    int want_grad;  /* theta gradient: D = dim + 1 */
    int use_stash;  /* lw_k, c_k kept for the u phase or the extra-rows sweep */
    double s, inv_s2, log_s, log_n;
    double kick, cos_a, sin_a;
    /* float copies for the fast kernel: s, s log2(e), 1/s^2,
     * (log s + log sqrt(2 pi)) log2(e) */
    float s_f, s2_f, inv_s2_f, pc_f;
    pmhmc_cuda_traj traj;
};

/* derived (estimator_common.cuh) of the GLMM: the mixture of theta[p..p+5). */
struct GlmmDerive {
    int p;
    __host__ __device__ void operator()(const double *theta, double *d) const
    {
        const pmhmc_mixture m = pmhmc_mixture_from_theta(theta + p);
        d[0] = m.mu[0];
        d[1] = m.mu[1];
        d[2] = m.lambda[0];
        d[3] = m.lambda[1];
        d[4] = m.log_norm[0];
        d[5] = m.log_norm[1];
        d[6] = m.w1;
        d[7] = 0.0;
    }
};

__host__ __device__ inline pmhmc_mixture glmm_mixture_from_derived(const double *d)
{
    pmhmc_mixture m;
    m.mu[0] = d[0];
    m.mu[1] = d[1];
    m.lambda[0] = d[2];
    m.lambda[1] = d[3];
    m.log_norm[0] = d[4];
    m.log_norm[1] = d[5];
    m.w1 = d[6];
    return m;
}

/* Dynamic shared memory of both kernels: gbeta [p] doubles (theta
 * gradient), then the stash [N] entries of two T (when it lives in shared
 * memory). */
__host__ __device__ inline size_t gbeta_bytes(size_t p) { return (p * sizeof(double) + 15) / 16 * 16; }

/* The fast float kernel (glmm_fast.cu): launches one estimate with the
 * parameters, grid and shared memory the base launcher computed. */
cudaError_t glmm_fast_launch(const GlmmParams &P, int variant, size_t max_group_rows, unsigned groups, int threads,
                             size_t smem, cudaStream_t stream);
/* Raises MaxDynamicSharedMemorySize of the fast kernel for (variant, rows)
 * to at least bytes (raise_dynamic_smem). */
cudaError_t glmm_fast_set_smem(int variant, size_t max_group_rows, int bytes);
/* Loads the fast kernels (estimator_common.cuh, preload). */
cudaError_t glmm_fast_preload(void);

} // namespace pmhmc_cuda

#endif
