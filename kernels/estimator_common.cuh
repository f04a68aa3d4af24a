/* What the CUDA backend hands a model's estimator family (glmm_estimator.cu,
 * normal_re_estimator.cu, gaussian_estimator.cu), and what each family provides.
 *
 * Tensor shapes (T = storage type: float or double, per backend precision)
 *   group_start  [G + 1]  size_t   rows of group g: [group_start[g], group_start[g+1])
 *   y            [R]      T        responses
 *   z            [R, p]   T        covariates, row-major
 *   zb           [R]      T        scratch: z_j'beta, rewritten by every call
 *   u, p, grad_u [G, N]   T        workspace vectors (p_u = 1 for every model)
 *   partials     [G, D]   double   per-group log phat_i (column 0) and, when
 *                                  the theta gradient is wanted, its dim
 *                                  components (columns 1..dim); D = dim + 1 or 1
 *   chunk_sums   [ceil(G / CHUNK_ROWS), dim + 1] double
 *   counters     [ceil(G / CHUNK_ROWS) + 1] unsigned, zero between launches
 *   result       [dim + 1] double, device-visible (mapped pinned host memory
 *                when the device allows it), the sum over groups
 *
 * One estimate is ONE kernel launch: a block per group computes the group's
 * row and the last blocks reduce the rows in a fixed order (block_reduce.cuh).
 * The backend then copies (or, when mapped, just reads) dim + 1 doubles. */
#ifndef PMHMC_KERNELS_ESTIMATOR_COMMON_CUH
#define PMHMC_KERNELS_ESTIMATOR_COMMON_CUH

#include "cuda_common.cuh"

/* Largest beta passed by value in the kernel parameters; longer ones go
 * through theta_dev (an asynchronous copy from pinned memory before the
 * launch). */
#define PMHMC_CUDA_INLINE_THETA 64

/* ---- device-side trajectories (the backend op `integrate`) ------------------
 *
 * A trajectory keeps theta and rho on the device in one state buffer
 * (doubles), laid out as
 *   theta [dim] | rho [dim] | inv_mass [dim] | derived [TRAJ_DERIVED] |
 *   log_phat | stopped | result [dim + 1]
 * `derived` holds what the model's kernel needs from theta besides theta
 * itself, computed once per step instead of once per block (GLMM: the
 * mixture, pmhmc_mixture_from_theta; normal_re: mu, tau = exp(theta_1)). The
 * host fills theta..stopped before the first launch (theta after the first
 * half drift, derived by the host's own formula, stopped = 0).
 *
 * An estimator launch with traj.state != NULL reads theta and derived from
 * the state instead of its by-value parameters and reduces into
 * state.result (device memory). When `stopped` is set it returns at once
 * (u and p untouched), as the host loop does after a non-finite log phat.
 * The block that finishes the cross-group reduction (finish_rows returns
 * true) then runs traj_after():
 *   B step (final = 0): finite log phat: rho += h (grad + prior grad),
 *                       theta += drift M^-1 rho (the host loop's expression
 *                       order, no contraction), derived from the new theta;
 *                       non-finite: log_phat = it, stopped = 1.
 *   final  (final = 1): log_phat = result[0]; then the block copies
 *                       theta, rho, log_phat, stopped to traj.out (host
 *                       visible: mapped pinned memory, or a device buffer the
 *                       host copies back). A stopped final launch still does
 *                       this copy, from block 0. */
#define PMHMC_TRAJ_DERIVED 8

typedef struct pmhmc_cuda_traj {
    double *state;    /* device state buffer, or NULL: an ordinary estimate */
    double *out;      /* [2 dim + 2] host-visible copy, written by the final launch */
    int dim;
    int final_;
    double h, drift, prior_var;
} pmhmc_cuda_traj;

inline size_t pmhmc_traj_state_len(size_t dim) { return 3 * dim + PMHMC_TRAJ_DERIVED + 2 + dim + 1; }

struct pmhmc_cuda_estimate_args {
    /* data, uploaded at workspace creation */
    const size_t *group_start;
    const void *y;
    const void *z;
    void *zb;
    const double *group_stats; /* model-specific, owned by the family (may be NULL) */
    void *stash;               /* global fallback for per-draw scratch, or NULL */
    size_t n_groups, n_rows, n_cov, max_group_rows, n_draws, dim;
    int is_float;
    int sm_count;
    size_t smem_optin; /* largest dynamic shared memory a block may opt into */

    /* one call */
    const double *theta;     /* host, [dim] */
    const double *theta_dev; /* device copy of theta, or NULL when it fits inline */
    void *u, *p, *grad_u;    /* p, grad_u may be NULL */
    double kick, cos_a, sin_a;
    int want_grad_theta;
    pmhmc_cuda_traj traj; /* traj.state NULL outside device-side trajectories */
    int glmm_variant;     /* GLMM float kernel variant (glmm_estimator.cuh) */

    /* the reduction */
    double *partials;
    double *chunk_sums;
    unsigned *counters;
    double *result;
    cudaStream_t stream;
};

/* One estimator family. setup runs once per workspace, after the generic
 * data upload, with the backend's API lock held (cuda_backend.cu): it may
 * allocate group_stats or stash (the backend frees them) and raise kernel
 * attributes (never lower them: other workspaces use the same kernels). launch runs one estimate: one kernel on
 * a->stream, nothing synchronized. */
typedef struct pmhmc_cuda_estimator {
    const pmhmc_model_ops *model;
    pmhmc_proposal_kind proposal; /* the one proposal the kernel implements (importance sampling only) */
    pmhmc_status (*setup)(const pmhmc_model *model, pmhmc_cuda_estimate_args *a, pmhmc_error *err);
    pmhmc_status (*launch)(const pmhmc_model *model, const pmhmc_cuda_estimate_args *a, pmhmc_error *err);
    /* derived [PMHMC_TRAJ_DERIVED] from theta on the host (the trajectory's
     * first step; later steps derive on the device with the same formula). */
    void (*derive)(const pmhmc_model *model, const double *theta, double *derived);
    /* Loads every kernel of the family (cudaFuncGetAttributes on each
     * instance), at backend init: see cuda_backend.cuh, threads. */
    cudaError_t (*preload)(void);
} pmhmc_cuda_estimator;

pmhmc_status pmhmc_cuda_glmm_setup(const pmhmc_model *model, pmhmc_cuda_estimate_args *a, pmhmc_error *err);
pmhmc_status pmhmc_cuda_glmm_launch(const pmhmc_model *model, const pmhmc_cuda_estimate_args *a,
                                    pmhmc_error *err);
pmhmc_status pmhmc_cuda_normal_re_setup(const pmhmc_model *model, pmhmc_cuda_estimate_args *a,
                                        pmhmc_error *err);
pmhmc_status pmhmc_cuda_normal_re_launch(const pmhmc_model *model, const pmhmc_cuda_estimate_args *a,
                                         pmhmc_error *err);
void pmhmc_cuda_glmm_derive(const pmhmc_model *model, const double *theta, double *derived);
void pmhmc_cuda_normal_re_derive(const pmhmc_model *model, const double *theta, double *derived);
cudaError_t pmhmc_cuda_glmm_preload(void);
cudaError_t pmhmc_cuda_normal_re_preload(void);

/* Threads per block of the estimators: one thread per draw up to 256, a
 * multiple of 32 (N = 37 gets 64 threads; N >= 256 gets 256 and threads loop
 * over draws k = tid, tid + 256, ...). */
inline int pmhmc_cuda_estimator_threads(size_t n_draws)
{
    size_t t = (n_draws + 31) / 32 * 32;
    if (t < 32)
        t = 32;
    return t > 256 ? 256 : (int)t;
}

#endif
