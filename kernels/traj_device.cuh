/* Device side of the trajectory op (contract and state layout in
 * estimator_common.cuh, "device-side trajectories"). Used by the estimator
 * kernels: traj_begin() at entry, traj_after() in the block that finished the
 * cross-group reduction.
 *
 * Arithmetic: the updates use explicitly rounded double operations
 * (__dadd_rn, __dmul_rn, IEEE division), so nvcc cannot contract them into
 * fma: they are the host loop's expressions of src/sampler/integrator.c,
 *   rho   = rho + h * (grad + (-theta / prior_var))
 *   theta = theta + (drift * inv_mass) * rho,
 * evaluated in the same order (the C build does not contract either). */
#ifndef PMHMC_KERNELS_TRAJ_DEVICE_CUH
#define PMHMC_KERNELS_TRAJ_DEVICE_CUH

#include "estimator_common.cuh"

namespace pmhmc_cuda {

struct TrajView {
    double *theta, *rho, *inv_mass, *derived, *log_phat, *stopped, *result;
};

__device__ __forceinline__ TrajView traj_view(const pmhmc_cuda_traj &t)
{
    TrajView v;
    v.theta = t.state;
    v.rho = v.theta + t.dim;
    v.inv_mass = v.rho + t.dim;
    v.derived = v.inv_mass + t.dim;
    v.log_phat = v.derived + PMHMC_TRAJ_DERIVED;
    v.stopped = v.log_phat + 1;
    v.result = v.stopped + 1;
    return v;
}

/* theta, rho, log_phat, stopped -> t.out; every thread of the block calls it. */
__device__ inline void traj_write_out(const pmhmc_cuda_traj &t)
{
    const TrajView v = traj_view(t);
    const int n = 2 * t.dim + 2;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        double x = i < 2 * t.dim ? __ldcg(v.theta + i) : i == 2 * t.dim ? __ldcg(v.log_phat) : __ldcg(v.stopped);
        t.out[i] = x;
    }
    __threadfence_system(); /* out may be mapped host memory */
}

/* At kernel entry, in every thread. Returns true when the launch must do
 * nothing (the trajectory has stopped); a stopped final launch copies the
 * state out from block 0 first. */
__device__ inline bool traj_begin(const pmhmc_cuda_traj &t)
{
    if (!t.state)
        return false;
    const TrajView v = traj_view(t);
    if (__ldcg(v.stopped) == 0.0)
        return false;
    if (t.final_ && blockIdx.x == 0)
        traj_write_out(t);
    return true;
}

/* In every thread of the block for which finish_rows() returned true.
 * derive(theta, derived) runs in thread 0 after the new theta is written. */
template <class Derive>
__device__ void traj_after(const pmhmc_cuda_traj &t, Derive derive)
{
    const TrajView v = traj_view(t);
    const double lp = v.result[0]; /* written by this block (sum_rows), synchronized */
    if (t.final_) {
        if (threadIdx.x == 0) {
            *v.log_phat = lp;
            __threadfence(); /* to L2: traj_write_out reads with ld.global.cg */
        }
        __syncthreads();
        traj_write_out(t);
        return;
    }
    if (!isfinite(lp)) {
        if (threadIdx.x == 0) {
            *v.log_phat = lp;
            *v.stopped = 1.0;
        }
        return;
    }
    for (int i = threadIdx.x; i < t.dim; i += blockDim.x) {
        const double th = v.theta[i];
        const double prior_grad = -th / t.prior_var;
        const double r = __dadd_rn(v.rho[i], __dmul_rn(t.h, __dadd_rn(v.result[1 + i], prior_grad)));
        v.rho[i] = r;
        v.theta[i] = __dadd_rn(th, __dmul_rn(__dmul_rn(t.drift, v.inv_mass[i]), r));
    }
    __syncthreads();
    if (threadIdx.x == 0)
        derive(v.theta, v.derived);
    __threadfence(); /* the next launch reads the state */
}

} // namespace pmhmc_cuda

#endif
