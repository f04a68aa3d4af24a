/* The fused gaussian estimator kernel: the known-answer model of
 * src/models/gaussian.c (extended target N(theta; mu, Sigma) N(u; a 1, I)).
 * CPU reference: src/cpu/gaussian_cpu.c; formulas: src/math/gaussian_math.h.
 *
 * Shapes (T = float or double storage; G groups, N draws, d = dim, D = d + 1
 * with the theta gradient, else 1)
 *   in      stats [d + d d] double: mu, then Sigma^-1 row-major (uploaded
 *           once at workspace creation)
 *   in      theta [d] double: by value when d <= PMHMC_CUDA_INLINE_THETA,
 *           else theta_dev; inside a device-side trajectory the state's theta
 *   in/out  u [G, N] T; p [G, N] T (when a kick is requested)
 *   out     grad_u [G, N] T (when requested), partials [G, D], result [D]
 *
 * Launch: grid = G, block = pmhmc_cuda_estimator_threads(N); thread t owns
 * draws t, t + B, ... and, in block 0 only, theta components t, t + B, ...
 * One sweep per block: term_k = a u_k - a^2/2 summed (double, block_sum);
 * grad_u_k = a; p_k += kick a; (u_k, p_k) <- R(angle)(u_k, p_k). Block 0 adds
 * the theta part (pmhmc_gaussian_theta_term per component, a d-long dot
 * product each) and log_const to its row and writes the theta gradient;
 * other blocks write zero gradient columns. finish_rows() then reduces the
 * rows (block_reduce.cuh); inside a trajectory the finishing block runs
 * traj_after() with a derive that has nothing to derive (zeros).
 *
 * Precision: double arithmetic for both storage types (the model is for
 * testing); float storage only rounds u, p and grad_u. The CPU sums draws
 * and theta components sequentially, the kernel in a block tree: results
 * agree to rounding, not bit for bit. */
#ifndef PMHMC_KERNELS_GAUSSIAN_ESTIMATOR_CUH
#define PMHMC_KERNELS_GAUSSIAN_ESTIMATOR_CUH

#include "block_reduce.cuh"
#include "estimator_common.cuh"

extern "C" {
#include "models/gaussian_impl.h" /* the model's state and pmhmc_gaussian_ops (C, no guards) */
}

namespace pmhmc_cuda {

struct GaussianParams {
    const double *stats;     /* [d + d d] */
    const double *theta_dev; /* NULL: theta by value */
    double theta[PMHMC_CUDA_INLINE_THETA];
    void *u, *p, *grad_u;
    RowReduce rr;
    int n_draws, dim;
    int want_grad;
    double a, log_const, prior_var;
    double kick, cos_a, sin_a;
    pmhmc_cuda_traj traj;
};

/* derived (estimator_common.cuh): the gaussian needs nothing besides theta. */
struct GaussianDerive {
    __host__ __device__ void operator()(const double *theta, double *d) const
    {
        (void)theta;
        for (int i = 0; i < PMHMC_TRAJ_DERIVED; ++i)
            d[i] = 0.0;
    }
};

} // namespace pmhmc_cuda

pmhmc_status pmhmc_cuda_gaussian_setup(const pmhmc_model *model, pmhmc_cuda_estimate_args *a, pmhmc_error *err);
pmhmc_status pmhmc_cuda_gaussian_launch(const pmhmc_model *model, const pmhmc_cuda_estimate_args *a,
                                        pmhmc_error *err);
void pmhmc_cuda_gaussian_derive(const pmhmc_model *model, const double *theta, double *derived);
cudaError_t pmhmc_cuda_gaussian_preload(void);

#endif
