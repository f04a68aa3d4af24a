/* The fast float GLMM kernel: variants fast, fast128 and fast_occ4 of
 * glmm_estimator.cuh. Same contract, shapes, launch shape (a block per
 * group, thread t owns draws t, t + B, ...) and stash rules as the base
 * kernel there; float storage only. What differs, and why (PERF_NOTES.md has
 * the numbers):
 *
 *  Base-2 log domain. Every per-draw log quantity (log w_k, the mixture's
 *    l_c, the running max) is kept in log2 units: the mixture constants and
 *    z'beta are pre-scaled by log2(e), so each ex2 takes its argument
 *    without a multiply and lg2 folds the softplus logs directly. Block
 *    results go back to natural units in double (M ln 2).
 *  MUFU intrinsics with .ftz: ex2/lg2/rcp.approx.ftz.f32, one instruction
 *    each; __expf/__logf without -ftz carry a 3-instruction denormal guard
 *    apiece. Results below 2^-126 flush to 0 (a term's e = exp(-|eta|) with
 *    |eta| > 87: 1 + e and sigmoid are unchanged at float precision).
 *  Per-group sums instead of per-term work. With A = sum_j y_j - n/2 and
 *    Bc = sum_j y_j zb_j - sum_j zb_j / 2 (per group, in double):
 *      sum_j [y_j eta_j - max(eta_j, 0)] = x A + Bc - sum_j |eta_j| / 2,
 *    so a term costs one add of |eta| (a free operand modifier) instead of a
 *    product, a max and an add. And g_jk = y_j - sigmoid(eta_jk): the draw
 *    loop sums sigmoids (sum_k w_k sig_jk per register row, and sum_j sig_jk
 *    for the u gradient's bracket), and a_j = y_j - sum_k W_k sig_jk at the
 *    end (sum_k W_k = 1).
 *  Mixture-gradient sums of w r, w r d0, w r d0^2, w (1-r) d1, w (1-r) d1^2;
 *    lambda and w1 applied once per block in double.
 *  Lazy online max. The running reference hi only moves when a log2 weight
 *    exceeds it by more than RESCALE_MARGIN (2^40), so after the first draw
 *    rescales are rare (the base kernel's rescale on every new maximum is
 *    taken by some lane of a warp in most iterations). Weights relative to
 *    hi are then at most 2^40: float sums stay far from overflow.
 *  The stash holds (w_k, c_k) with w_k = 2^(lw_k - hi) (rescaled with the
 *    sums when hi moves), so the u phase gets W_k = w_k 2^(hi - M) / S with
 *    one factor per thread and no exp per draw.
 *  Latency: the next draw's u is loaded one iteration ahead; p is prefetched
 *    into L2 during the draw loop; the u phase keeps 4 draws' loads in
 *    flight per thread before its first store; z'beta and the group sums are
 *    computed by warp 0 while the other warps' first u loads are in flight. */
#include <math.h>

#include "glmm_estimator.cuh"
#include "rotation_rn.cuh"
#include "traj_device.cuh"

namespace pmhmc_cuda {
namespace {

constexpr float LOG2E_F = 1.44269504088896340736f;
constexpr double LOG2E = 1.44269504088896340736;
constexpr double LN2 = 0.69314718055994530942;
constexpr float RESCALE_MARGIN = 40.0f; /* log2 units: weights relative to hi stay <= 2^40 */
constexpr int NACC = 6;                 /* acc[0..5]: w, w r, w r d0, w r d0^2, w(1-r) d1, w(1-r) d1^2 */
constexpr int U_BATCH = 4;              /* u-phase draws in flight per thread */

__device__ __forceinline__ float ex2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float lg2(float x)
{
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float rcp(float x)
{
    float y;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ void prefetch_l2(const void *ptr)
{
    asm volatile("prefetch.global.L2 [%0];" ::"l"(__cvta_generic_to_global(ptr)));
}

/* Per-block constants, computed by warp 0 (shared memory). */
struct FastBlock {
    float mu0, mu1, lam0, lam1; /* natural units */
    float hl0, hl1;             /* lambda_c log2(e) / 2 */
    float ln0, ln1;             /* log_norm_c log2(e) */
    float A, Bc2, ysum;         /* sum y - n/2; (sum y zb - sum zb / 2) log2(e); sum y */
};

struct FastCtx {
    const float *u, *zb;
    const float *pref; /* p, prefetched to L2 for the u phase (u when there is no p: harmless) */
    float2 *stash;
    FastBlock b;
    float s, s2, inv_s2, pc;
    int n, N, B, tid;
    bool grad, keep;
};

/* The thread's draws. NR register rows; GUARD: rows j >= n of the tile are
 * skipped and rows past NR follow in chunks of R (from zb in global memory). */
template <int R, int NR, bool GUARD>
__device__ __forceinline__ void fast_draws(const FastCtx &c, float u_next, float (&acc)[NACC + R], float &hi)
{
    float zr[NR];
#pragma unroll
    for (int j = 0; j < NR; ++j)
        zr[j] = (!GUARD || j < c.n) ? c.zb[j] * LOG2E_F : 0.0f;
    const float half_log2e = 0.5f * LOG2E_F;
    const float *up = c.u + c.tid + c.B, *pp = c.pref + c.tid;
    for (int k = c.tid; k < c.N; k += c.B, up += c.B, pp += c.B) {
        const float uk = u_next;
        if (k + c.B < c.N)
            u_next = *up;
        prefetch_l2(pp);
        const float x = c.s * uk, x2 = c.s2 * uk;

        /* mixture prior, log2 units; carry starts at 1 / (1 + e_mix) */
        const float d0 = x - c.b.mu0, d1 = x - c.b.mu1;
        const float l0 = fmaf(-c.b.hl0 * d0, d0, c.b.ln0);
        const float l1 = fmaf(-c.b.hl1 * d1, d1, c.b.ln1);
        const bool first = l0 >= l1; /* selects, not fminf/fmaxf: a NaN l_c stays NaN */
        const float lhi = first ? l0 : l1, llo = first ? l1 : l0;
        const float em = ex2(llo - lhi);
        const float inv = rcp(1.0f + em);
        const float r = first ? inv : em * inv;
        float carry = inv;
        float lw = lhi + fmaf(half_log2e * uk, uk, c.pc) + fmaf(x2, c.b.A, c.b.Bc2);

        float abssum = 0.0f, sigsum = 0.0f;
        float sg[NR];
#pragma unroll
        for (int j = 0; j < NR; ++j) {
            sg[j] = 0.0f;
            if (!GUARD || j < c.n) {
                const float eta = x2 + zr[j];
                const float e = ex2(-fabsf(eta));
                const float ope = 1.0f + e;
                const float iv = rcp(ope);
                const float sig = eta >= 0.0f ? iv : e * iv;
                carry *= ope;
                abssum += fabsf(eta);
                sigsum += sig;
                sg[j] = sig;
            }
        }
        lw = lw - 0.5f * abssum - lg2(carry);
        if (GUARD) {
            for (int j0 = NR; j0 < c.n; j0 += R) { /* rows past the register tile */
                const int j1 = c.n < j0 + R ? c.n : j0 + R;
                float cr = 1.0f, as = 0.0f;
                for (int j = j0; j < j1; ++j) {
                    const float eta = x2 + c.zb[j] * LOG2E_F;
                    const float e = ex2(-fabsf(eta));
                    const float ope = 1.0f + e;
                    const float iv = rcp(ope);
                    cr *= ope;
                    as += fabsf(eta);
                    sigsum += eta >= 0.0f ? iv : e * iv;
                }
                lw = lw - 0.5f * as - lg2(cr);
            }
        }

        if (lw > hi + RESCALE_MARGIN) { /* hi = -inf: the first finite draw */
            const float sc = ex2(hi - lw);
#pragma unroll
            for (int i = 0; i < NACC + NR; ++i)
                acc[i] *= sc;
            if (c.keep)
                for (int k2 = c.tid; k2 < k; k2 += c.B)
                    c.stash[k2].x *= sc;
            hi = lw;
        }
        /* A draw with log w = -inf weighs 0, as on the CPU; NaN stays NaN. */
        const float w = lw == -INFINITY ? 0.0f : ex2(lw - hi);
        if (c.keep) {
            const float dlogf = -(r * c.b.lam0 * d0 + (1.0f - r) * c.b.lam1 * d1);
            c.stash[k] = make_float2(w, (c.b.ysum - sigsum) + dlogf + x * c.inv_s2);
        }
        acc[0] += w;
        if (c.grad) {
            const float wr = w * r, wr1 = w - wr;
            const float t0 = wr * d0, t1 = wr1 * d1;
            acc[1] += wr;
            acc[2] += t0;
            acc[3] = fmaf(t0, d0, acc[3]);
            acc[4] += t1;
            acc[5] = fmaf(t1, d1, acc[5]);
#pragma unroll
            for (int j = 0; j < NR; ++j)
                acc[NACC + j] = fmaf(w, sg[j], acc[NACC + j]);
        }
    }
}

/* Normalized weight W = w 2^(hi - M) / S, split as (w fb) fa so that a
 * per-thread factor below float's normal range cannot flush W to zero
 * (w <= 2^40). */
struct WeightScale {
    float fa, fb;
};

__device__ __forceinline__ WeightScale weight_scale(double f)
{
    WeightScale ws;
    if (f < 0x1p-60) {
        ws.fa = 0x1p-64f;
        ws.fb = (float)(f * 0x1p64);
    } else {
        ws.fa = 1.0f;
        ws.fb = (float)f;
    }
    return ws;
}

template <int R, int MINB>
__global__ void __launch_bounds__(MAX_THREADS, MINB) glmm_fast_kernel(const __grid_constant__ GlmmParams P)
{
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ double sums[NACC + R];
    __shared__ double row_sums[R];
    __shared__ FastBlock blk;

    if (traj_begin(P.traj))
        return;
    const int grp = blockIdx.x, tid = threadIdx.x, B = blockDim.x;
    const int p = P.n_cov, N = P.n_draws;
    const size_t r0 = P.group_start[grp];
    const int n = (int)(P.group_start[grp + 1] - r0);
    const float *y = (const float *)P.y + r0;
    const float *z = (const float *)P.z + r0 * (size_t)p;
    float *zb = (float *)P.zb + r0;
    float *u = (float *)P.u + (size_t)grp * N;
    float *pv = P.p ? (float *)P.p + (size_t)grp * N : nullptr;
    float *gu = P.grad_u ? (float *)P.grad_u + (size_t)grp * N : nullptr;
    double *gbeta = (double *)smem;
    float2 *stash = P.stash_global ? (float2 *)P.stash_global + (size_t)grp * N
                                   : (float2 *)(smem + gbeta_bytes(p));
    const bool grad = P.want_grad != 0, keep = P.use_stash != 0;

    /* The first draw's u, in flight while warp 0 works. */
    const float u_first = tid < N ? u[tid] : 0.0f;

    /* 1. Warp 0: z'beta per row in double (rounded to float into zb), the
     * group sums in double (lanes, then a fixed xor tree), the constants. */
    if (tid < 32) {
        const double *beta = P.traj.state ? P.traj.state : P.theta_dev ? P.theta_dev : P.beta;
        double ys = 0.0, yz = 0.0, zs = 0.0;
        for (int j = tid; j < n; j += 32) {
            double acc = 0.0;
            for (int cc = 0; cc < p; ++cc)
                acc += (double)z[(size_t)j * p + cc] * beta[cc];
            const float zf = (float)acc;
            zb[j] = zf;
            const double yj = (double)y[j];
            ys += yj;
            yz += yj * (double)zf;
            zs += (double)zf;
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            ys += __shfl_xor_sync(0xffffffffu, ys, off);
            yz += __shfl_xor_sync(0xffffffffu, yz, off);
            zs += __shfl_xor_sync(0xffffffffu, zs, off);
        }
        if (tid == 0) {
            const pmhmc_mixture mix =
                P.traj.state ? glmm_mixture_from_derived(traj_view(P.traj).derived) : P.mix;
            blk.mu0 = (float)mix.mu[0];
            blk.mu1 = (float)mix.mu[1];
            blk.lam0 = (float)mix.lambda[0];
            blk.lam1 = (float)mix.lambda[1];
            blk.hl0 = (float)(0.5 * mix.lambda[0] * LOG2E);
            blk.hl1 = (float)(0.5 * mix.lambda[1] * LOG2E);
            blk.ln0 = (float)(mix.log_norm[0] * LOG2E);
            blk.ln1 = (float)(mix.log_norm[1] * LOG2E);
            blk.A = (float)(ys - 0.5 * n);
            blk.Bc2 = (float)((yz - 0.5 * zs) * LOG2E);
            blk.ysum = (float)ys;
        }
    }
    __syncthreads();

    /* 2. Draw loop. */
    FastCtx ctx;
    ctx.u = u;
    ctx.zb = zb;
    ctx.pref = pv ? pv : u;
    ctx.stash = stash;
    ctx.b = blk;
    ctx.s = P.s_f;
    ctx.s2 = P.s2_f;
    ctx.inv_s2 = P.inv_s2_f;
    ctx.pc = P.pc_f;
    ctx.n = n;
    ctx.N = N;
    ctx.B = B;
    ctx.tid = tid;
    ctx.grad = grad;
    ctx.keep = keep;
    float acc[NACC + R];
#pragma unroll
    for (int i = 0; i < NACC + R; ++i)
        acc[i] = 0.0f;
    float hi = -INFINITY;
    switch (n) {
#define PMHMC_GLMM_FAST_CASE(NR)                                                                   \
    case NR:                                                                                       \
        fast_draws<R, (NR < R ? NR : R), false>(ctx, u_first, acc, hi);                            \
        break;
        PMHMC_GLMM_FAST_CASE(1)
        PMHMC_GLMM_FAST_CASE(2)
        PMHMC_GLMM_FAST_CASE(3)
        PMHMC_GLMM_FAST_CASE(4)
        PMHMC_GLMM_FAST_CASE(5)
        PMHMC_GLMM_FAST_CASE(6)
        PMHMC_GLMM_FAST_CASE(7)
        PMHMC_GLMM_FAST_CASE(8)
#undef PMHMC_GLMM_FAST_CASE
    default:
        fast_draws<R, R, true>(ctx, u_first, acc, hi);
    }

    /* 3. Block sums in double: M2 = block max of hi (log2 units). */
    const double M2 = block_max((double)hi);
    const double scale = hi == -INFINITY ? 0.0 : exp2((double)hi - M2);
    double v[NACC + R];
#pragma unroll
    for (int i = 0; i < NACC + R; ++i)
        v[i] = (double)acc[i] * scale;
    block_sum<NACC + R>(v, sums);
    const double S = sums[0];
    const double inv_S = 1.0 / S;
    const WeightScale wsc = weight_scale(scale * inv_S);
    double *row = P.rr.partials + (size_t)grp * P.rr.D;
    if (tid == 0)
        row[0] = M2 * LN2 + log(S) - P.log_n;

    if (grad) {
        const int nr = n < R ? n : R;
        for (int cc = tid; cc < p; cc += B) {
            double gb = 0.0;
            for (int j = 0; j < nr; ++j)
                gb += (double)z[(size_t)j * p + cc] * ((double)y[j] - sums[NACC + j] * inv_S);
            gbeta[cc] = gb;
        }
        /* 4. Rows past the register tile: sigmoids recomputed from u. */
        if (n > R) {
            for (int j0 = R; j0 < n; j0 += R) {
                float a[R];
#pragma unroll
                for (int jj = 0; jj < R; ++jj)
                    a[jj] = 0.0f;
                for (int k = tid; k < N; k += B) {
                    const float W = (stash[k].x * wsc.fb) * wsc.fa;
                    const float x2 = P.s2_f * u[k];
#pragma unroll
                    for (int jj = 0; jj < R; ++jj) {
                        const int j = j0 + jj;
                        if (j < n) {
                            const float eta = x2 + zb[j] * LOG2E_F;
                            const float e = ex2(-fabsf(eta));
                            const float iv = rcp(1.0f + e);
                            a[jj] = fmaf(W, eta >= 0.0f ? iv : e * iv, a[jj]);
                        }
                    }
                }
                double va[R];
#pragma unroll
                for (int jj = 0; jj < R; ++jj)
                    va[jj] = (double)a[jj];
                block_sum<R>(va, row_sums);
                const int width = n - j0 < R ? n - j0 : R;
                for (int cc = tid; cc < p; cc += B) {
                    double gb = gbeta[cc];
                    for (int jj = 0; jj < width; ++jj)
                        gb += (double)z[(size_t)(j0 + jj) * p + cc] * ((double)y[j0 + jj] - row_sums[jj]);
                    gbeta[cc] = gb;
                }
            }
        }
        for (int cc = tid; cc < p; cc += B)
            row[1 + cc] = gbeta[cc];
        if (tid == 0) {
            const pmhmc_mixture mix =
                P.traj.state ? glmm_mixture_from_derived(traj_view(P.traj).derived) : P.mix;
            const double Wr = sums[1] * inv_S, WrD0 = sums[2] * inv_S, WrD0sq = sums[3] * inv_S;
            const double W1D1 = sums[4] * inv_S, W1D1sq = sums[5] * inv_S;
            row[1 + p] = mix.lambda[0] * WrD0;
            row[2 + p] = mix.lambda[1] * W1D1;
            row[3 + p] = 0.5 * Wr - 0.5 * mix.lambda[0] * WrD0sq;
            row[4 + p] = 0.5 * (1.0 - Wr) - 0.5 * mix.lambda[1] * W1D1sq;
            row[5 + p] = Wr - mix.w1;
        }
    }

    /* 5. u gradient, kick and rotation: U_BATCH draws' loads before any store. */
    if (gu || pv) {
        const float kick = (float)P.kick, ca = (float)P.cos_a, sa = (float)P.sin_a, s = P.s_f;
        for (int k0 = tid; k0 < N; k0 += U_BATCH * B) {
            float2 e[U_BATCH];
            float uk[U_BATCH], pk[U_BATCH];
#pragma unroll
            for (int i = 0; i < U_BATCH; ++i) {
                const int k = k0 + i * B;
                if (k < N) {
                    e[i] = stash[k];
                    uk[i] = u[k];
                    pk[i] = pv ? pv[k] : 0.0f;
                }
            }
#pragma unroll
            for (int i = 0; i < U_BATCH; ++i) {
                const int k = k0 + i * B;
                if (k < N) {
                    const float W = (e[i].x * wsc.fb) * wsc.fa;
                    const float d = W * s * e[i].y;
                    if (gu)
                        gu[k] = d;
                    if (pv) {
                        float pn = pk[i] + kick * d;
                        float un = uk[i];
                        rotate_rn(&un, &pn, ca, sa);
                        u[k] = un;
                        pv[k] = pn;
                    }
                }
            }
        }
    }

    /* 6. Cross-group reduction; in a device-side trajectory the block that
     * finished it updates theta and rho. */
    if (finish_rows(P.rr, grp) && P.traj.state)
        traj_after(P.traj, GlmmDerive{p});
}

typedef void (*fast_fn)(const GlmmParams);

fast_fn fast_kernel(int variant, size_t max_group_rows)
{
    if (max_group_rows > 8)
        return glmm_fast_kernel<16, 2>;
    return variant == GLMM_FAST_OCC4 ? glmm_fast_kernel<8, 4> : glmm_fast_kernel<8, 3>;
}

} // namespace

cudaError_t glmm_fast_launch(const GlmmParams &P, int variant, size_t max_group_rows, unsigned groups, int threads,
                             size_t smem, cudaStream_t stream)
{
    fast_kernel(variant, max_group_rows)<<<groups, threads, smem, stream>>>(P);
    return cudaGetLastError();
}

cudaError_t glmm_fast_set_smem(int variant, size_t max_group_rows, int bytes)
{
    return raise_dynamic_smem(fast_kernel(variant, max_group_rows), bytes);
}

cudaError_t glmm_fast_preload(void)
{
    cudaFuncAttributes attr;
    cudaError_t rc;
    if ((rc = cudaFuncGetAttributes(&attr, glmm_fast_kernel<8, 3>)) != cudaSuccess ||
        (rc = cudaFuncGetAttributes(&attr, glmm_fast_kernel<8, 4>)) != cudaSuccess)
        return rc;
    return cudaFuncGetAttributes(&attr, glmm_fast_kernel<16, 2>);
}

} // namespace pmhmc_cuda
