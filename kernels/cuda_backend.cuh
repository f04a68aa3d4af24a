/* The CUDA backend: pmhmc_backend_ops on one GPU with device-resident
 * vectors (src/backend/backend_impl.h is the interface, src/cpu/cpu_backend.c
 * the reference it must match).
 *
 * Contract
 *   backend init   device 0; loads every kernel of the build (so no lazy
 *                  module load happens later, while another thread may be
 *                  capturing a graph); fails with PMHMC_ERR_DEVICE and the
 *                  probe's one-line reason when no usable device exists.
 *                  The CudaBackend is read-only after init.
 *   workspaces     each owns its non-blocking stream, device vectors and
 *                  scratch (partials, counters, zb, stash, staging), mapped
 *                  result buffers, trajectory state and captured graph:
 *                  nothing an op touches is shared between workspaces.
 *   threads        (include/pmhmc/backend.h) one backend may serve many host
 *                  threads as long as each workspace is used by one thread at
 *                  a time. Calls that may synchronize the whole device or
 *                  that a concurrent stream capture forbids (workspace create
 *                  and free: cudaMalloc/cudaFree/cudaStreamCreate/
 *                  cudaFuncSetAttribute; backend create) and each graph
 *                  capture run under one process-wide mutex (api_mutex in
 *                  cuda_backend.cu); every other op is stream-ordered on the
 *                  workspace's own stream and takes no lock. A chain's
 *                  results do not depend on other chains running: no kernel
 *                  reads another workspace's memory, reductions are fixed
 *                  order per launch.
 *   precision      PMHMC_PRECISION_DOUBLE: everything double (validation
 *                  against the CPU to ~1e-12; normal draws, copy, scale,
 *                  rotate and upload/download bit for bit).
 *                  PMHMC_PRECISION_FLOAT: u, p, grad_u and the data (y, z) are
 *                  stored as float and the GLMM's hot loop uses fast
 *                  intrinsics, but every sum across threads, blocks and groups
 *                  (log phat, theta gradients, dot products) is double.
 *   estimators     chosen by model: model->ops compared against the table in
 *                  cuda_backend.cu (glmm, normal_re, gaussian); another model fails
 *                  workspace creation with PMHMC_ERR_UNSUPPORTED.
 *   one estimate   = (theta copy only when dim > 64) + ONE kernel (a block per
 *                  group plus the in-kernel fixed-order reduction across
 *                  groups) + reading dim + 1 doubles after one stream
 *                  synchronization (mapped pinned memory: no copy call; a
 *                  cudaMemcpyAsync into pinned memory where the device cannot
 *                  map host memory).
 *   ordering       every op is enqueued on the workspace's stream; ops that return values
 *                  (dot, estimate, download, integrate) synchronize; upload
 *                  synchronizes so the caller may reuse its buffer.
 *   integrate      (optional op, backend_impl.h) a whole PM-HMC trajectory
 *                  with theta and rho on the device: one state upload, the
 *                  first rotation, L fused estimator launches whose last
 *                  block updates rho and theta (traj_device.cuh), the final
 *                  value-only launch, which also writes theta, rho and log
 *                  phat to mapped pinned memory; then one synchronization.
 *                  PMHMC_CUDA_TRAJECTORY (read at backend creation) picks:
 *                    host    integrate = NULL: the sampler's host loop, one
 *                            round trip per step (the reference path);
 *                    device  the launches above, enqueued per trajectory;
 *                    graph   (default) the same sequence captured once into
 *                            a CUDA graph per (h, L, u, p) and replayed; a
 *                            key is captured the second time in a row it is
 *                            seen, so a changing step size runs as `device`.
 *   GLMM variant   PMHMC_CUDA_GLMM_VARIANT (read at backend creation): base,
 *                  fast, fast128 or fast_occ4 (glmm_estimator.cuh); float
 *                  storage only.
 *
 * Workspace memory (T = storage type, G groups, N draws, L = G N, R rows, p
 * covariates, dim parameters)
 *   vectors     [n_vectors, L] T, zero-initialized like the CPU's
 *   group_start [G + 1] size_t;  y [R] T;  z [R, p] T;  zb [R] T (scratch)
 *   partials    [G, dim + 1] double;  chunk_sums [ceil(G / 256), dim + 1];
 *   counters    [ceil(G / 256) + 1]; the same three for dot (1024 rows)
 *   result      [dim + 2] double pinned host memory (estimate: 0..dim;
 *               dot: dim + 1), mapped into the device when possible
 *   staging     [min(L, 2^20)] double, float precision only (conversions
 *               for upload/download, in chunks)
 *   theta_dev   [dim] double and a pinned twin, only when dim > 64
 *   plus whatever the estimator's setup allocates (normal_re: group
 *   statistics [G, 4]; gaussian: mean and precision [dim + dim^2]; glmm:
 *   a global stash [G, N] when 2 N sizeof(T) is too large for shared
 *   memory). */
#ifndef PMHMC_KERNELS_CUDA_BACKEND_CUH
#define PMHMC_KERNELS_CUDA_BACKEND_CUH

#include "estimator_common.cuh"

namespace pmhmc_cuda {

/* Read-only after pmhmc_cuda_backend_init: shared by every workspace and
 * thread without a lock. */
struct CudaBackend {
    int device;
    int sm_count;
    size_t smem_optin;
    int can_map_host;
    int traj_mode;    /* TRAJ_HOST, TRAJ_DEVICE, TRAJ_GRAPH */
    int glmm_variant; /* GlmmVariant */
};

enum { TRAJ_HOST = 0, TRAJ_DEVICE = 1, TRAJ_GRAPH = 2 };

struct TrajKey {
    double h;
    size_t steps;
    int u, p;
};

struct CudaWorkspace {
    CudaBackend *be;
    cudaStream_t stream; /* this workspace's own non-blocking stream: every op of it runs here */
    int is_float;
    size_t elem; /* bytes per stored element */
    void *vectors;
    const pmhmc_cuda_estimator *est;
    pmhmc_cuda_estimate_args args; /* data and reduction fields; per-call ones filled per call */

    /* owned device buffers not named in args */
    size_t *group_start;
    void *y, *z, *zb;
    double *partials, *chunk_sums;
    unsigned *counters;
    double *dot_partials, *dot_chunk_sums;
    unsigned *dot_counters;
    double *staging;
    size_t staging_len;
    double *theta_dev, *theta_pinned;

    double *host_result;  /* pinned, [dim + 2] */
    double *dev_result;   /* device view: the mapped alias, or result_buf */
    double *result_buf;   /* device buffer when host memory cannot be mapped */

    /* device-side trajectories (estimator_common.cuh has the state layout) */
    double *traj_state;    /* device [pmhmc_traj_state_len(dim)] */
    double *traj_in;       /* pinned [3 dim + PMHMC_TRAJ_DERIVED + 2]: the state's first part */
    double *traj_out_host; /* pinned [2 dim + 2], mapped when possible */
    double *traj_out_dev;  /* device view of it, or traj_out_buf */
    double *traj_out_buf;  /* device buffer when host memory cannot be mapped */
    cudaGraphExec_t graph; /* captured trajectory for graph_key, or NULL */
    TrajKey graph_key, last_key;
    int have_last_key;
};

} // namespace pmhmc_cuda

#endif
