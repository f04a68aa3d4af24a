/* The fused normal_re estimator kernel: the checking model of
 * src/models/normal_re.c (X_i ~ N(mu, tau^2), y_ij ~ N(X_i, 1), proposal the
 * prior itself: x = mu + tau u). CPU reference: src/cpu/normal_re_cpu.c.
 *
 * Shapes (T = float or double storage; G groups, N draws, D = 3 with the
 * theta gradient (log phat, d/dmu, d/dlog_tau), else 1)
 *   in      stats [G, 4] double: n_i, sum y, sum y^2 (summed on the host in
 *           row order at workspace creation, exactly as the CPU does), 0
 *   in/out  u [G, N] T; p [G, N] T (when a kick is requested)
 *   out     grad_u [G, N] T (when requested), partials [G, D], result [D]
 *
 * Launch: grid = G, block = pmhmc_cuda_estimator_threads(N); thread t owns
 * draws t, t + B, ... Per block, three sweeps over the group's draws (the
 * model has no per-row work, so recomputing lw_k from u_k is cheaper than a
 * stash):
 *   1. lw_k = pmhmc_normal_re_logw(n, sy, syy, mu + tau u_k); block max M.
 *   2. w_k = exp(lw_k - M); block sums (double, fixed order) of w, w S_k and
 *      w S_k tau u_k with S_k = d lw / dx; log phat_i = M + log S - log N.
 *   3. when grad_u or p is requested: d_k = w_k / S S_k tau; grad_u = d;
 *      p += kick d; (u, p) <- R(angle)(u, p).
 * then finish_rows() reduces the group rows (block_reduce.cuh).
 *
 * Precision: the arithmetic is double for both storage types (the model is
 * for checking and its cost is one exp per draw); float storage only rounds
 * u, p and grad_u. */
#ifndef PMHMC_KERNELS_NORMAL_RE_ESTIMATOR_CUH
#define PMHMC_KERNELS_NORMAL_RE_ESTIMATOR_CUH

#include "block_reduce.cuh"
#include "estimator_common.cuh"

namespace pmhmc_cuda {

struct NormalReParams {
    const double *stats;
    void *u, *p, *grad_u;
    RowReduce rr;
    int n_draws;
    int want_grad;
    double mu, tau, log_n;
    double kick, cos_a, sin_a;
    pmhmc_cuda_traj traj;
};

/* derived (estimator_common.cuh) of normal_re: mu, tau = exp(log_tau). */
struct NormalReDerive {
    __host__ __device__ void operator()(const double *theta, double *d) const
    {
        d[0] = theta[0];
        d[1] = exp(theta[1]);
        for (int i = 2; i < PMHMC_TRAJ_DERIVED; ++i)
            d[i] = 0.0;
    }
};

} // namespace pmhmc_cuda

#endif
