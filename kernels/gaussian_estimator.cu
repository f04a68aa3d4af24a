/* The fused gaussian estimator: kernel and host side. Contract and shapes in
 * gaussian_estimator.cuh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gaussian_estimator.cuh"
#include "math/gaussian_math.h"
#include "rotation_rn.cuh"
#include "traj_device.cuh"

namespace pmhmc_cuda {

template <typename T>
__global__ void __launch_bounds__(MAX_THREADS) gaussian_estimate_kernel(const __grid_constant__ GaussianParams P)
{
    __shared__ double sums[1];
    if (traj_begin(P.traj))
        return;
    const int grp = blockIdx.x, tid = threadIdx.x, B = blockDim.x;
    const int N = P.n_draws, d = P.dim;
    T *u = (T *)P.u + (size_t)grp * N;
    T *gu = P.grad_u ? (T *)P.grad_u + (size_t)grp * N : nullptr;
    T *pv = P.p ? (T *)P.p + (size_t)grp * N : nullptr;
    double *row = P.rr.partials + (size_t)grp * P.rr.D;

    double v[1] = {0.0};
    for (int k = tid; k < N; k += B) {
        double uk = (double)u[k];
        v[0] += pmhmc_gaussian_aux_term(P.a, uk);
        if (gu)
            gu[k] = (T)P.a;
        if (pv) {
            double pk = (double)pv[k] + P.kick * P.a;
            rotate_rn(&uk, &pk, P.cos_a, P.sin_a);
            u[k] = (T)uk;
            pv[k] = (T)pk;
        }
    }
    if (grp == 0) {
        const double *theta = P.traj.state ? P.traj.state : P.theta_dev ? P.theta_dev : P.theta;
        const double *mean = P.stats, *prec = P.stats + d;
        for (int i = tid; i < d; i += B) {
            double gi;
            v[0] += pmhmc_gaussian_theta_term(d, prec, mean, theta, P.prior_var, i, &gi);
            if (P.want_grad)
                row[1 + i] = gi;
        }
    } else if (P.want_grad) {
        for (int i = tid; i < d; i += B)
            row[1 + i] = 0.0;
    }
    block_sum<1>(v, sums);
    if (tid == 0)
        row[0] = grp == 0 ? sums[0] + P.log_const : sums[0];

    if (finish_rows(P.rr, grp) && P.traj.state)
        traj_after(P.traj, GaussianDerive{});
}

} // namespace pmhmc_cuda

using namespace pmhmc_cuda;

pmhmc_status pmhmc_cuda_gaussian_setup(const pmhmc_model *model, pmhmc_cuda_estimate_args *a, pmhmc_error *err)
{
    const pmhmc_gaussian_model *g = pmhmc_gaussian_of(model);
    const size_t d = model->dim;
    double *dev = NULL;
    /* on the backend's (non-blocking) stream, synchronized before returning:
     * a plain cudaMemcpy would run on the legacy stream, which does not order
     * against it. mean and prec are adjacent in the model's allocation. */
    cudaError_t rc = cudaMalloc(&dev, (d + d * d) * sizeof *dev);
    if (rc == cudaSuccess)
        rc = cudaMemcpyAsync(dev, g->mean, d * sizeof *dev, cudaMemcpyHostToDevice, a->stream);
    if (rc == cudaSuccess)
        rc = cudaMemcpyAsync(dev + d, g->prec, d * d * sizeof *dev, cudaMemcpyHostToDevice, a->stream);
    if (rc == cudaSuccess)
        rc = cudaStreamSynchronize(a->stream);
    if (rc != cudaSuccess) {
        cudaFree(dev);
        return pmhmc_cuda_fail(err, rc, "upload of the gaussian mean and precision", __FILE__, __LINE__);
    }
    a->group_stats = dev;
    return PMHMC_OK;
}

pmhmc_status pmhmc_cuda_gaussian_launch(const pmhmc_model *model, const pmhmc_cuda_estimate_args *a,
                                        pmhmc_error *err)
{
    const pmhmc_gaussian_model *g = pmhmc_gaussian_of(model);
    GaussianParams P;
    memset(&P, 0, sizeof P);
    P.stats = a->group_stats;
    if (!a->traj.state) { /* else from the trajectory state */
        if (a->dim <= PMHMC_CUDA_INLINE_THETA)
            memcpy(P.theta, a->theta, a->dim * sizeof *a->theta);
        else
            P.theta_dev = a->theta_dev;
    }
    P.u = a->u;
    P.p = a->p;
    P.grad_u = a->grad_u;
    P.rr.partials = a->partials;
    P.rr.chunk_sums = a->chunk_sums;
    P.rr.counters = a->counters;
    P.rr.result = a->result;
    P.rr.n_rows = (int)a->n_groups;
    P.rr.D = a->want_grad_theta ? (int)a->dim + 1 : 1;
    P.n_draws = (int)a->n_draws;
    P.dim = (int)a->dim;
    P.want_grad = a->want_grad_theta;
    P.a = g->shift_a;
    P.log_const = g->log_const;
    P.prior_var = model->settings.prior_var;
    P.kick = a->kick;
    P.cos_a = a->cos_a;
    P.sin_a = a->sin_a;
    P.traj = a->traj;
    const int threads = pmhmc_cuda_estimator_threads(a->n_draws);
    if (a->is_float)
        gaussian_estimate_kernel<float><<<(unsigned)a->n_groups, threads, 0, a->stream>>>(P);
    else
        gaussian_estimate_kernel<double><<<(unsigned)a->n_groups, threads, 0, a->stream>>>(P);
    PMHMC_CUDA_TRY(err, cudaGetLastError());
    return PMHMC_OK;
}

cudaError_t pmhmc_cuda_gaussian_preload(void)
{
    cudaFuncAttributes attr;
    cudaError_t rc = cudaFuncGetAttributes(&attr, gaussian_estimate_kernel<float>);
    return rc != cudaSuccess ? rc : cudaFuncGetAttributes(&attr, gaussian_estimate_kernel<double>);
}

void pmhmc_cuda_gaussian_derive(const pmhmc_model *model, const double *theta, double *derived)
{
    (void)model;
    GaussianDerive{}(theta, derived);
}
