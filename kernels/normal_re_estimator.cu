/* The fused normal_re estimator: kernel and host side. Contract and shapes
 * in normal_re_estimator.cuh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "math/normal_re_math.h"
#include "normal_re_estimator.cuh"
#include "rotation_rn.cuh"
#include "traj_device.cuh"

namespace pmhmc_cuda {

template <typename T>
__global__ void __launch_bounds__(MAX_THREADS) normal_re_estimate_kernel(const __grid_constant__ NormalReParams P)
{
    __shared__ double sums[3];
    if (traj_begin(P.traj))
        return;
    const int grp = blockIdx.x, tid = threadIdx.x, B = blockDim.x;
    const int N = P.n_draws;
    const double n = P.stats[4 * (size_t)grp], sy = P.stats[4 * (size_t)grp + 1],
                 syy = P.stats[4 * (size_t)grp + 2];
    const double *derived = P.traj.state ? traj_view(P.traj).derived : nullptr;
    const double mu = derived ? derived[0] : P.mu, tau = derived ? derived[1] : P.tau;
    T *u = (T *)P.u + (size_t)grp * N;

    double hi = -INFINITY;
    for (int k = tid; k < N; k += B) {
        double dl;
        hi = fmax(hi, pmhmc_normal_re_logw(n, sy, syy, mu + tau * (double)u[k], &dl));
    }
    const double M = block_max(hi);

    double v[3] = {0.0, 0.0, 0.0};
    for (int k = tid; k < N; k += B) {
        const double uk = (double)u[k];
        double dl;
        const double w = exp(pmhmc_normal_re_logw(n, sy, syy, mu + tau * uk, &dl) - M);
        v[0] += w;
        v[1] += w * dl;
        v[2] += w * dl * tau * uk;
    }
    block_sum<3>(v, sums);
    const double S = sums[0];
    double *row = P.rr.partials + (size_t)grp * P.rr.D;
    if (tid == 0) {
        row[0] = M + log(S) - P.log_n;
        if (P.want_grad) {
            row[1] = sums[1] / S;
            row[2] = sums[2] / S;
        }
    }

    if (P.grad_u || P.p) {
        T *gu = P.grad_u ? (T *)P.grad_u + (size_t)grp * N : nullptr;
        T *pv = P.p ? (T *)P.p + (size_t)grp * N : nullptr;
        for (int k = tid; k < N; k += B) {
            double uk = (double)u[k];
            double dl;
            const double w = exp(pmhmc_normal_re_logw(n, sy, syy, mu + tau * uk, &dl) - M);
            const double d = w / S * dl * tau;
            if (gu)
                gu[k] = (T)d;
            if (pv) {
                double pk = (double)pv[k] + P.kick * d;
                rotate_rn(&uk, &pk, P.cos_a, P.sin_a);
                u[k] = (T)uk;
                pv[k] = (T)pk;
            }
        }
    }

    if (finish_rows(P.rr, grp) && P.traj.state)
        traj_after(P.traj, NormalReDerive{});
}

} // namespace pmhmc_cuda

using namespace pmhmc_cuda;

pmhmc_status pmhmc_cuda_normal_re_setup(const pmhmc_model *model, pmhmc_cuda_estimate_args *a,
                                        pmhmc_error *err)
{
    const pmhmc_dataset *data = model->data;
    const size_t G = data->n_groups;
    double *stats = (double *)calloc(4 * G, sizeof *stats);
    if (!stats)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "normal_re: out of memory for %zu group statistics", G);
    for (size_t g = 0; g < G; ++g) {
        const size_t r0 = data->group_start[g], r1 = data->group_start[g + 1];
        double sy = 0.0, syy = 0.0;
        for (size_t r = r0; r < r1; ++r) { /* the CPU's order */
            sy += data->y[r];
            syy += data->y[r] * data->y[r];
        }
        stats[4 * g] = (double)(r1 - r0);
        stats[4 * g + 1] = sy;
        stats[4 * g + 2] = syy;
    }
    double *dev = NULL;
    /* on the backend's (non-blocking) stream, synchronized before the host
     * buffer goes: a plain cudaMemcpy would run on the legacy stream, which
     * does not order against it */
    cudaError_t rc = cudaMalloc(&dev, 4 * G * sizeof *dev);
    if (rc == cudaSuccess)
        rc = cudaMemcpyAsync(dev, stats, 4 * G * sizeof *dev, cudaMemcpyHostToDevice, a->stream);
    if (rc == cudaSuccess)
        rc = cudaStreamSynchronize(a->stream);
    free(stats);
    if (rc != cudaSuccess) {
        cudaFree(dev);
        return pmhmc_cuda_fail(err, rc, "upload of the normal_re group statistics", __FILE__, __LINE__);
    }
    a->group_stats = dev;
    return PMHMC_OK;
}

pmhmc_status pmhmc_cuda_normal_re_launch(const pmhmc_model *model, const pmhmc_cuda_estimate_args *a,
                                         pmhmc_error *err)
{
    (void)model;
    NormalReParams P;
    memset(&P, 0, sizeof P);
    P.stats = a->group_stats;
    P.u = a->u;
    P.p = a->p;
    P.grad_u = a->grad_u;
    P.rr.partials = a->partials;
    P.rr.chunk_sums = a->chunk_sums;
    P.rr.counters = a->counters;
    P.rr.result = a->result;
    P.rr.n_rows = (int)a->n_groups;
    P.rr.D = a->want_grad_theta ? 3 : 1;
    P.n_draws = (int)a->n_draws;
    P.want_grad = a->want_grad_theta;
    if (!a->traj.state) { /* else from the trajectory state */
        P.mu = a->theta[0];
        P.tau = exp(a->theta[1]);
    }
    P.traj = a->traj;
    P.log_n = log((double)a->n_draws);
    P.kick = a->kick;
    P.cos_a = a->cos_a;
    P.sin_a = a->sin_a;
    const int threads = pmhmc_cuda_estimator_threads(a->n_draws);
    if (a->is_float)
        normal_re_estimate_kernel<float><<<(unsigned)a->n_groups, threads, 0, a->stream>>>(P);
    else
        normal_re_estimate_kernel<double><<<(unsigned)a->n_groups, threads, 0, a->stream>>>(P);
    PMHMC_CUDA_TRY(err, cudaGetLastError());
    return PMHMC_OK;
}

cudaError_t pmhmc_cuda_normal_re_preload(void)
{
    cudaFuncAttributes attr;
    cudaError_t rc = cudaFuncGetAttributes(&attr, normal_re_estimate_kernel<float>);
    return rc != cudaSuccess ? rc : cudaFuncGetAttributes(&attr, normal_re_estimate_kernel<double>);
}

void pmhmc_cuda_normal_re_derive(const pmhmc_model *model, const double *theta, double *derived)
{
    (void)model;
    NormalReDerive{}(theta, derived);
}
