/* Backends: where the heavy vector work runs, and the per-chain workspace
 * that holds the auxiliary vectors (u, p and copies of them) there.
 *
 * A workspace holds `n_vectors` vectors of the model's aux size; the sampler
 * names them by index. All reductions (log phat, theta gradients, dot
 * products) are summed in double and in a fixed order, so results do not
 * depend on thread count or launch shape. Normal draws are keyed by
 * (seed, chain, step), never by who computes them.
 *
 * Ownership: the backend must outlive its workspaces; a workspace borrows the
 * model (and through it the dataset).
 *
 * Threads: a backend may be shared by several host threads (K chains, each
 * with its own sampler and so its own workspace) as long as each workspace is
 * used by one thread at a time; the model and dataset may be shared too
 * (they are only read). Workspaces may be created and freed on any thread,
 * while other threads run ops. A backend must outlive every thread's use of
 * it. A chain's results never depend on other chains running: same seed and
 * chain, same bits.
 *   CPU:  all scratch lives in the workspace. Each op's OpenMP region runs
 *         on the calling thread's own OpenMP pool, with that thread's
 *         omp_get_max_threads() (a new thread starts from OMP_NUM_THREADS or
 *         the core count, not from another thread's omp_set_num_threads),
 *         capped at the value seen when the workspace was created. K threads
 *         may therefore use K times that many cores: set the count per
 *         thread to avoid oversubscription.
 *   CUDA: each workspace has its own stream, so K threads' work overlaps on
 *         the GPU (kernels/cuda_backend.cuh, "threads"). */
#ifndef PMHMC_BACKEND_H
#define PMHMC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/model.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pmhmc_backend_kind {
    PMHMC_BACKEND_CPU = 0,
    PMHMC_BACKEND_CUDA = 1,
    PMHMC_BACKEND_COUNT
} pmhmc_backend_kind;

typedef enum pmhmc_precision {
    PMHMC_PRECISION_DOUBLE = 0,
    PMHMC_PRECISION_FLOAT = 1
} pmhmc_precision;

typedef struct pmhmc_backend pmhmc_backend;
typedef struct pmhmc_workspace pmhmc_workspace;

/* Fails with PMHMC_ERR_UNSUPPORTED (CUDA not built, or float on the CPU) or
 * PMHMC_ERR_DEVICE (no usable GPU); err says why. */
pmhmc_status pmhmc_backend_create(pmhmc_backend_kind kind, pmhmc_precision precision,
                                  pmhmc_backend **out, pmhmc_error *err);
void pmhmc_backend_free(pmhmc_backend *backend);
const char *pmhmc_backend_name(const pmhmc_backend *backend);
pmhmc_backend_kind pmhmc_backend_get_kind(const pmhmc_backend *backend);

/* 1 when a CUDA backend could be created now; otherwise 0 and `reason`
 * (when not NULL) says why: not built, no driver, no device. */
int pmhmc_cuda_usable(char *reason, size_t reason_len);

pmhmc_status pmhmc_workspace_create(pmhmc_backend *backend, const pmhmc_model *model,
                                    int n_vectors, pmhmc_workspace **out, pmhmc_error *err);
/* Whether a backend of this kind runs the model's estimator (the CUDA
 * kernels implement model.proposal = fixed for the GLMM and prior for
 * normal_re; laplace and quadrature run on the CPU); else 0, with the
 * reason. pmhmc_workspace_create fails with PMHMC_ERR_UNSUPPORTED then. */
int pmhmc_backend_supports(pmhmc_backend_kind kind, const pmhmc_model *model, char *reason, size_t reason_len);
void pmhmc_workspace_free(pmhmc_workspace *ws);
size_t pmhmc_workspace_length(const pmhmc_workspace *ws);
/* The memory pmhmc_workspace_create would take for these arguments, in
 * bytes (SIZE_MAX when that overflows): its vectors, per-group results and,
 * on the CPU, each OpenMP thread's estimator scratch. Host memory on the CPU
 * backend, device memory on CUDA. For refusing, with the figure, a size that
 * cannot fit before anything is allocated. */
size_t pmhmc_workspace_bytes(const pmhmc_backend *backend, const pmhmc_model *model, int n_vectors);

/* Vector v <- standard normals of stream (seed, chain, step). */
pmhmc_status pmhmc_ws_normal(pmhmc_workspace *ws, int v, uint64_t seed, uint32_t chain,
                             uint64_t step);
pmhmc_status pmhmc_ws_copy(pmhmc_workspace *ws, int dst, int src);
pmhmc_status pmhmc_ws_scale(pmhmc_workspace *ws, int v, double alpha);
/* y <- y + alpha x, each element rounded once from double (no fused
 * multiply-add, so every backend gives the CPU's bits in double). */
pmhmc_status pmhmc_ws_axpy(pmhmc_workspace *ws, int y, double alpha, int x);
pmhmc_status pmhmc_ws_dot(pmhmc_workspace *ws, int a, int b, double *out);
/* out[i] = vector a[i] . vector b[i] for i < n <= PMHMC_WS_MAX_DOTS, each
 * with exactly the bits pmhmc_ws_dot gives, in one pass over memory where the
 * backend can (NUTS needs up to ten at each merge of subtrees). */
#define PMHMC_WS_MAX_DOTS 16
pmhmc_status pmhmc_ws_dots(pmhmc_workspace *ws, size_t n, const int *a, const int *b, double *out);
/* (u, p) <- (u cos a + p sin a, p cos a - u sin a). */
pmhmc_status pmhmc_ws_rotate(pmhmc_workspace *ws, int u, int p, double angle);
/* Host <-> workspace transfers of a whole vector ([length] doubles). */
pmhmc_status pmhmc_ws_upload(pmhmc_workspace *ws, int v, const double *host);
pmhmc_status pmhmc_ws_download(pmhmc_workspace *ws, int v, double *host);

/* One estimator pass at (theta, u = vector `u`):
 *   log_phat  = log phat(y | theta, u)
 *   grad_theta[dim] = d log phat / d theta          (when not NULL)
 *   vector grad_u   = d log phat / d u               (when grad_u >= 0)
 *   when p >= 0: p += kick * d log phat / d u, then (u, p) <- R(angle)(u, p),
 * fused in one pass: this is the B step of the integrator followed by the
 * merged rotations of the two A half steps around it. */
typedef struct pmhmc_estimate_request {
    const double *theta;
    int u;
    int p;      /* -1: no kick, no rotation */
    int grad_u; /* -1: not wanted */
    double kick;
    double angle;
} pmhmc_estimate_request;

pmhmc_status pmhmc_ws_estimate(pmhmc_workspace *ws, const pmhmc_estimate_request *req,
                               double *log_phat, double *grad_theta);

/* The noise of the likelihood estimate at theta: log phat(y | theta, u)
 * over `reps` fresh u (Philox streams (seed, chain 2^32 - 1, step r), apart
 * from every chain's), their mean and sd (n - 1), and the wall-clock seconds
 * per estimate. sd is what limits a pseudo-marginal sampler (Doucet, Pitt,
 * Deligiannidis, Kohn 2015); 0 for model.estimator = quadrature. */
typedef struct pmhmc_noise {
    size_t reps;
    double mean_log_phat, sd_log_phat, seconds_per_estimate;
} pmhmc_noise;

pmhmc_status pmhmc_log_phat_noise(pmhmc_backend *backend, const pmhmc_model *model, const double *theta, size_t reps,
                                  uint64_t seed, pmhmc_noise *out, pmhmc_error *err);

/* model.N = auto's range: powers of two from 2 to 1024 after warm-up; up
 * to 128 (the source report's N) for warm-up, which starts where the
 * estimator may be noisy at any N and leaves within a few transitions: a
 * larger N there would make warm-up slow for a precision it does not
 * need. */
#define PMHMC_AUTO_N_MIN 2
#define PMHMC_AUTO_N_MAX 1024
#define PMHMC_AUTO_N_WARMUP_MAX 128

/* The smallest N = 2^k from PMHMC_AUTO_N_MIN to n_max (a power of two, at
 * most PMHMC_AUTO_N_MAX) whose sd of log phat at theta
 * (pmhmc_log_phat_noise with reps and seed) is at most target, or n_max
 * when none is: *chosen is a new model like `model` with that N
 * (pmhmc_model_with_n_importance; the caller frees it) and *noise its noise
 * there. The search doubles N, so it costs less than two estimates at the
 * chosen N per repetition. */
pmhmc_status pmhmc_choose_n_importance(pmhmc_backend *backend, const pmhmc_model *model, const double *theta,
                                       double target, size_t n_max, size_t reps, uint64_t seed, pmhmc_model **chosen,
                                       pmhmc_noise *noise, pmhmc_error *err);

#ifdef __cplusplus
}
#endif
#endif
