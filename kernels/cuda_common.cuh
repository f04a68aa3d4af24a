/* Shared plumbing of the CUDA backend: checked CUDA calls, the C headers of
 * the library seen from C++, and small launch helpers.
 *
 * Contract
 *   Every CUDA runtime call of the backend goes through PMHMC_CUDA_TRY(err,
 *   call): on failure it writes "file:line: call: cudaErrorName: message"
 *   into err (when err is not NULL) and returns PMHMC_ERR_DEVICE from the
 *   enclosing function. Ops that have no pmhmc_error pass NULL and only the
 *   status comes back. Kernel launches are followed by
 *   PMHMC_CUDA_TRY(err, cudaGetLastError()) to catch bad launch
 *   configurations; faults inside kernels surface at the next synchronizing
 *   call of the same stream. The library never prints and never exits.
 *
 * Everything in kernels/ is compiled by nvcc as C++; the library's internal
 * headers are C without extern "C" guards, so they are included here once,
 * inside one. */
#ifndef PMHMC_KERNELS_CUDA_COMMON_CUH
#define PMHMC_KERNELS_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "backend/backend_impl.h"
#include "error.h"
#include "io/dataset.h"
#include "models/model_impl.h"
}

/* Records the failure of `call` (an expression text) at file:line in err. */
pmhmc_status pmhmc_cuda_fail(pmhmc_error *err, cudaError_t code, const char *call, const char *file,
                             int line);

#define PMHMC_CUDA_TRY(err, call)                                                              \
    do {                                                                                       \
        cudaError_t pmhmc_cuda_rc_ = (call);                                                   \
        if (pmhmc_cuda_rc_ != cudaSuccess)                                                     \
            return pmhmc_cuda_fail((err), pmhmc_cuda_rc_, #call, __FILE__, __LINE__);          \
    } while (0)

/* Propagates a pmhmc_status from a helper. */
#define PMHMC_TRY(expr)                                                                        \
    do {                                                                                       \
        pmhmc_status pmhmc_st_ = (expr);                                                       \
        if (pmhmc_st_ != PMHMC_OK)                                                             \
            return pmhmc_st_;                                                                  \
    } while (0)

namespace pmhmc_cuda {

/* Threads per block of the elementwise kernels. */
constexpr int ELEMENTWISE_THREADS = 256;

/* Blocks for a grid-stride loop over n elements: enough to fill the device
 * (16 blocks of 256 threads per SM), never more than the work needs. Only
 * elementwise kernels, whose results do not depend on the grid, use it. */
inline unsigned elementwise_blocks(size_t n, int sm_count)
{
    size_t need = (n + ELEMENTWISE_THREADS - 1) / ELEMENTWISE_THREADS;
    size_t cap = (size_t)(sm_count > 0 ? sm_count : 1) * 16;
    if (need < 1)
        need = 1;
    return (unsigned)(need < cap ? need : cap);
}

/* Raises fn's MaxDynamicSharedMemorySize to at least `bytes`, never lowers
 * it: workspaces of different sizes launch the same kernel, and a later,
 * smaller workspace must not take away what an earlier one needs. A
 * read-modify-write of per-kernel state shared by all workspaces: call it
 * with the backend's API lock held (workspace setup). */
template <typename F>
inline cudaError_t raise_dynamic_smem(F *fn, int bytes)
{
    cudaFuncAttributes attr;
    cudaError_t rc = cudaFuncGetAttributes(&attr, fn);
    if (rc != cudaSuccess)
        return rc;
    if (attr.maxDynamicSharedSizeBytes >= bytes)
        return cudaSuccess;
    return cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

} // namespace pmhmc_cuda

#endif
