/* The fused GLMM estimator: kernel and host launcher. The contract, shapes
 * and design notes are in glmm_estimator.cuh. */
#include <math.h>
#include <string.h>

#include "glmm_estimator.cuh"
#include "glmm_math_f.cuh"
#include "traj_device.cuh"

namespace pmhmc_cuda {

template <typename T>
struct __align__(2 * sizeof(T)) StashEntry {
    T lw; /* log w_k */
    T c;  /* sum_j g_jk + dlogf/dx + x / s^2 */
};

constexpr int ACC_MIX = 1;  /* acc[1..5]: mixture gradient sums */
constexpr int ACC_ROWS = 6; /* acc[6..6+R): a_j of the register rows */

/* What the draw loop of one block reads. */
template <typename T>
struct DrawCtx {
    const T *y, *zb, *u;
    StashEntry<T> *stash;
    typename GlmmMath<T>::Mix mix;
    T s, inv_s2, log_s;
    int n, N, B, tid;
    bool grad, keep;
};

/* Step 2 of the contract for one thread's draws. NR register rows (NR <= R);
 * GUARD: rows j >= n of the tile are skipped and rows past NR follow in
 * chunks of R from global memory (zb, y). acc and hi are the thread's online
 * log-sum-exp state (acc[0] = sum w, acc[1..5] mixture sums, acc[6 + j] the
 * w-weighted g of register row j). */
template <typename T, int R, int NR, bool GUARD>
__device__ __forceinline__ void draw_loop(const DrawCtx<T> &c, T (&acc)[R + ACC_ROWS], T &hi)
{
    typedef GlmmMath<T> Math;
    T zr[NR], yr[NR];
#pragma unroll
    for (int j = 0; j < NR; ++j) {
        zr[j] = (!GUARD || j < c.n) ? c.zb[j] : T(0);
        yr[j] = (!GUARD || j < c.n) ? c.y[j] : T(0);
    }
    for (int k = c.tid; k < c.N; k += c.B) {
        const T uk = c.u[k];
        const T x = c.s * uk;
        T r1, dlogf, carry;
        T lw = Math::prior(c.mix, uk, x, c.log_s, &r1, &dlogf, &carry);
        T gsum = T(0);
        T g[NR];
#pragma unroll
        for (int j = 0; j < NR; ++j) {
            g[j] = T(0);
            if (!GUARD || j < c.n) {
                T gj;
                lw += Math::term(yr[j], x + zr[j], &gj, &carry);
                g[j] = gj;
                gsum += gj;
            }
        }
        lw = Math::finish(lw, carry);
        if (GUARD) {
            for (int j0 = NR; j0 < c.n; j0 += R) { /* rows past the register tile */
                const int j1 = c.n < j0 + R ? c.n : j0 + R;
                carry = T(1);
                for (int j = j0; j < j1; ++j) {
                    T gj;
                    lw += Math::term(c.y[j], x + c.zb[j], &gj, &carry);
                    gsum += gj;
                }
                lw = Math::finish(lw, carry);
            }
        }
        if (c.keep) {
            StashEntry<T> e;
            e.lw = lw;
            e.c = gsum + dlogf + x * c.inv_s2;
            c.stash[k] = e;
        }
        if (lw > hi) {
            const T sc = Math::exp_(hi - lw);
#pragma unroll
            for (int i = 0; i < NR + ACC_ROWS; ++i)
                acc[i] *= sc;
            hi = lw;
        }
        /* A draw with log w = -inf (an overflowing precision) has weight 0,
         * as on the CPU, even while hi is still -inf; NaN stays NaN. */
        const T w = lw == -(T)INFINITY ? T(0) : Math::exp_(lw - hi);
        acc[0] += w;
        if (c.grad) {
            Math::mixture_grad(c.mix, x, r1, w, &acc[ACC_MIX]);
#pragma unroll
            for (int j = 0; j < NR; ++j)
                acc[ACC_ROWS + j] += w * g[j];
        }
    }
}

/* Float with the 8-row tile fits 80 registers without spilling: ask for
 * three 256-thread blocks per SM (768 threads) instead of the two that the
 * unconstrained 96 registers allow. */
template <typename T, int R>
__global__ void __launch_bounds__(MAX_THREADS, (sizeof(T) == sizeof(float) && R == 8) ? 3 : 1)
    glmm_estimate_kernel(const __grid_constant__ GlmmParams P)
{
    typedef GlmmMath<T> Math;
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ double sums[R + ACC_ROWS];
    __shared__ double row_sums[R];

    if (traj_begin(P.traj))
        return;
    const int grp = blockIdx.x, tid = threadIdx.x, B = blockDim.x;
    const int p = P.n_cov, N = P.n_draws;
    const size_t r0 = P.group_start[grp];
    const int n = (int)(P.group_start[grp + 1] - r0);
    const T *y = (const T *)P.y + r0;
    const T *z = (const T *)P.z + r0 * (size_t)p;
    T *zb = (T *)P.zb + r0;
    T *u = (T *)P.u + (size_t)grp * N;
    const double *beta = P.traj.state ? P.traj.state : P.theta_dev ? P.theta_dev : P.beta;
    const pmhmc_mixture mix =
        P.traj.state ? glmm_mixture_from_derived(traj_view(P.traj).derived) : P.mix;
    double *gbeta = (double *)smem;
    StashEntry<T> *stash = P.stash_global
                               ? (StashEntry<T> *)P.stash_global + (size_t)grp * N
                               : (StashEntry<T> *)(smem + gbeta_bytes(p));
    const bool grad = P.want_grad != 0, keep = P.use_stash != 0;

    /* 1. z'beta per row, in double. */
    for (int j = tid; j < n; j += B) {
        double acc = 0.0;
        for (int c = 0; c < p; ++c)
            acc += (double)z[(size_t)j * p + c] * beta[c];
        zb[j] = (T)acc;
    }
    __syncthreads();
    const DrawCtx<T> ctx = {y, zb, u, stash, Math::mixture(mix), (T)P.s, (T)P.inv_s2, (T)P.log_s,
                            n, N, B, tid, grad, keep};
    const T s = ctx.s;

    /* 2. Draw loop with the per-thread online log-sum-exp; the register tile
     * is sized to the group exactly for n <= 8 (no guards in the unrolled
     * row loop, so its terms interleave), guarded for 8 < n <= R, and rows
     * past R are handled inside the guarded variant. */
    T acc[R + ACC_ROWS];
#pragma unroll
    for (int i = 0; i < R + ACC_ROWS; ++i)
        acc[i] = T(0);
    T hi = -(T)INFINITY;
    switch (n) {
#define PMHMC_GLMM_ROWS_CASE(NR)                                                                   \
    case NR:                                                                                       \
        draw_loop<T, R, (NR < R ? NR : R), false>(ctx, acc, hi);                                   \
        break;
        PMHMC_GLMM_ROWS_CASE(1)
        PMHMC_GLMM_ROWS_CASE(2)
        PMHMC_GLMM_ROWS_CASE(3)
        PMHMC_GLMM_ROWS_CASE(4)
        PMHMC_GLMM_ROWS_CASE(5)
        PMHMC_GLMM_ROWS_CASE(6)
        PMHMC_GLMM_ROWS_CASE(7)
        PMHMC_GLMM_ROWS_CASE(8)
#undef PMHMC_GLMM_ROWS_CASE
    default:
        draw_loop<T, R, R, true>(ctx, acc, hi);
    }

    /* 3. Block log-sum-exp and sums, in double. */
    const double M = block_max((double)hi);
    const double scale = hi == -(T)INFINITY ? 0.0 : exp((double)hi - M);
    double v[R + ACC_ROWS];
#pragma unroll
    for (int i = 0; i < R + ACC_ROWS; ++i)
        v[i] = (double)acc[i] * scale;
    block_sum<R + ACC_ROWS>(v, sums);
    const double S = sums[0];
    const double inv_S = 1.0 / S;
    double *row = P.rr.partials + (size_t)grp * P.rr.D;
    if (tid == 0)
        row[0] = M + log(S) - P.log_n;

    if (grad) {
        const int nr = n < R ? n : R;
        for (int c = tid; c < p; c += B) {
            double gb = 0.0;
            for (int j = 0; j < nr; ++j)
                gb += (double)z[(size_t)j * p + c] * (sums[ACC_ROWS + j] * inv_S);
            gbeta[c] = gb;
        }
        /* 4. Rows past the register tile: recompute g from the stash. */
        if (n > R) {
            const T Mt = (T)M, invS_t = (T)inv_S;
            for (int j0 = R; j0 < n; j0 += R) {
                T a[R];
#pragma unroll
                for (int jj = 0; jj < R; ++jj)
                    a[jj] = T(0);
                for (int k = tid; k < N; k += B) {
                    const T W = Math::exp_(stash[k].lw - Mt) * invS_t;
                    const T x = s * u[k];
#pragma unroll
                    for (int jj = 0; jj < R; ++jj) {
                        const int j = j0 + jj;
                        if (j < n) {
                            T gj, unused = T(1);
                            (void)Math::term(y[j], x + zb[j], &gj, &unused);
                            a[jj] += W * gj;
                        }
                    }
                }
                double va[R];
#pragma unroll
                for (int jj = 0; jj < R; ++jj)
                    va[jj] = (double)a[jj];
                block_sum<R>(va, row_sums);
                const int width = n - j0 < R ? n - j0 : R;
                for (int c = tid; c < p; c += B) {
                    double gb = gbeta[c];
                    for (int jj = 0; jj < width; ++jj)
                        gb += (double)z[(size_t)(j0 + jj) * p + c] * row_sums[jj];
                    gbeta[c] = gb;
                }
            }
        }
        for (int c = tid; c < p; c += B)
            row[1 + c] = gbeta[c];
        if (tid < 5)
            row[1 + p + tid] = sums[ACC_MIX + tid] * inv_S;
    }

    /* 5. u gradient, kick and rotation. */
    if (P.grad_u || P.p) {
        T *gu = P.grad_u ? (T *)P.grad_u + (size_t)grp * N : nullptr;
        T *pv = P.p ? (T *)P.p + (size_t)grp * N : nullptr;
        const T kick = (T)P.kick, ca = (T)P.cos_a, sa = (T)P.sin_a;
        for (int k = tid; k < N; k += B) {
            const StashEntry<T> e = stash[k];
            const T W = Math::exp_(e.lw - (T)M) * (T)inv_S;
            const T d = W * s * e.c;
            if (gu)
                gu[k] = d;
            if (pv) {
                T pk = pv[k] + kick * d;
                T uk = u[k];
                Math::rotate(&uk, &pk, ca, sa);
                u[k] = uk;
                pv[k] = pk;
            }
        }
    }

    /* 6. Cross-group reduction; in a device-side trajectory the block that
     * finished it updates theta and rho. */
    if (finish_rows(P.rr, grp) && P.traj.state)
        traj_after(P.traj, GlmmDerive{p});
}

typedef void (*glmm_kernel_fn)(const GlmmParams);

template <typename T>
static glmm_kernel_fn pick_kernel(size_t max_rows)
{
    return max_rows <= 8 ? glmm_estimate_kernel<T, 8> : glmm_estimate_kernel<T, 16>;
}

static glmm_kernel_fn kernel_for(const pmhmc_cuda_estimate_args *a)
{
    return a->is_float ? pick_kernel<float>(a->max_group_rows) : pick_kernel<double>(a->max_group_rows);
}

static int uses_fast(const pmhmc_cuda_estimate_args *a) { return a->is_float && a->glmm_variant != GLMM_BASE; }

static size_t stash_entry_bytes(const pmhmc_cuda_estimate_args *a)
{
    return a->is_float ? sizeof(StashEntry<float>) : sizeof(StashEntry<double>);
}

/* The stash stays in shared memory up to this many bytes per block (above
 * it, occupancy would fall to one or two blocks per SM). */
constexpr size_t STASH_SMEM_MAX = 96 * 1024;

} // namespace pmhmc_cuda

using namespace pmhmc_cuda;

pmhmc_status pmhmc_cuda_glmm_setup(const pmhmc_model *model, pmhmc_cuda_estimate_args *a, pmhmc_error *err)
{
    (void)model;
    const size_t G = a->n_groups, N = a->n_draws;
    const size_t stash_bytes = N * stash_entry_bytes(a);
    const size_t beta_bytes = gbeta_bytes(a->n_cov);
    size_t smem = beta_bytes + stash_bytes;
    if (stash_bytes > STASH_SMEM_MAX || smem > a->smem_optin) {
        PMHMC_CUDA_TRY(err, cudaMalloc(&a->stash, G * N * stash_entry_bytes(a)));
        smem = beta_bytes;
    }
    if (smem > a->smem_optin)
        return pmhmc_fail(err, PMHMC_ERR_UNSUPPORTED,
                          "glmm: %zu covariates need %zu bytes of shared memory per block; the device allows %zu",
                          a->n_cov, smem, a->smem_optin);
    if (smem > 48 * 1024) {
        if (uses_fast(a))
            PMHMC_CUDA_TRY(err, glmm_fast_set_smem(a->glmm_variant, a->max_group_rows, (int)smem));
        else
            PMHMC_CUDA_TRY(err, raise_dynamic_smem(kernel_for(a), (int)smem));
    }
    return PMHMC_OK;
}

pmhmc_status pmhmc_cuda_glmm_launch(const pmhmc_model *model, const pmhmc_cuda_estimate_args *a,
                                    pmhmc_error *err)
{
    const size_t p = a->n_cov, N = a->n_draws, G = a->n_groups;
    const double s = model->settings.is_scale;
    GlmmParams P;
    memset(&P, 0, sizeof P);
    P.group_start = a->group_start;
    P.y = a->y;
    P.z = a->z;
    P.zb = a->zb;
    P.u = a->u;
    P.p = a->p;
    P.grad_u = a->grad_u;
    P.stash_global = a->stash;
    if (a->traj.state) {
        P.theta_dev = NULL; /* theta and the mixture come from the trajectory state */
    } else if (p <= PMHMC_CUDA_INLINE_THETA) {
        for (size_t c = 0; c < p; ++c)
            P.beta[c] = a->theta[c];
        P.theta_dev = NULL;
        P.mix = pmhmc_mixture_from_theta(a->theta + p);
    } else {
        P.theta_dev = a->theta_dev;
        P.mix = pmhmc_mixture_from_theta(a->theta + p);
    }
    P.traj = a->traj;
    P.n_cov = (int)p;
    P.n_draws = (int)N;
    P.want_grad = a->want_grad_theta;
    /* R = 16 when the largest group has more than 8 rows, so the extra-rows
     * sweep (which reads the stash) runs only past 16 rows. */
    P.use_stash = (a->grad_u || a->p || (a->want_grad_theta && a->max_group_rows > 16)) ? 1 : 0;
    P.s = s;
    P.inv_s2 = 1.0 / (s * s);
    P.log_s = pmhmc_log(s);
    P.log_n = pmhmc_log((double)N);
    P.s_f = (float)s;
    P.s2_f = (float)(s * 1.4426950408889634074);
    P.inv_s2_f = (float)P.inv_s2;
    P.pc_f = (float)((P.log_s + PMHMC_LOG_SQRT_2PI) * 1.4426950408889634074);
    P.kick = a->kick;
    P.cos_a = a->cos_a;
    P.sin_a = a->sin_a;
    P.rr.partials = a->partials;
    P.rr.chunk_sums = a->chunk_sums;
    P.rr.counters = a->counters;
    P.rr.result = a->result;
    P.rr.n_rows = (int)G;
    P.rr.D = a->want_grad_theta ? (int)a->dim + 1 : 1;

    /* gbeta first, then the stash when it lives in shared memory. */
    size_t smem = gbeta_bytes(p);
    if (P.use_stash && !a->stash)
        smem += N * stash_entry_bytes(a);
    int threads = pmhmc_cuda_estimator_threads(N);
    if (uses_fast(a)) {
        if (a->glmm_variant == GLMM_FAST128 && threads > 128)
            threads = 128;
        PMHMC_CUDA_TRY(err, glmm_fast_launch(P, a->glmm_variant, a->max_group_rows, (unsigned)G, threads, smem,
                                             a->stream));
        return PMHMC_OK;
    }
    kernel_for(a)<<<(unsigned)G, threads, smem, a->stream>>>(P);
    PMHMC_CUDA_TRY(err, cudaGetLastError());
    return PMHMC_OK;
}

cudaError_t pmhmc_cuda_glmm_preload(void)
{
    cudaFuncAttributes attr;
    cudaError_t rc;
    if ((rc = cudaFuncGetAttributes(&attr, glmm_estimate_kernel<float, 8>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, glmm_estimate_kernel<float, 16>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, glmm_estimate_kernel<double, 8>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, glmm_estimate_kernel<double, 16>)) != cudaSuccess)
        return rc;
    return glmm_fast_preload();
}

void pmhmc_cuda_glmm_derive(const pmhmc_model *model, const double *theta, double *derived)
{
    GlmmDerive{(int)model->data->n_cov}(theta, derived);
}
