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
};

} // namespace pmhmc_cuda

#endif
