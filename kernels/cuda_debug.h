/* Debug entries into the CUDA kernels, for the tests (C linkage; built only
 * with the CUDA backend, PMHMC_HAVE_CUDA). Not part of the public API. */
#ifndef PMHMC_KERNELS_CUDA_DEBUG_H
#define PMHMC_KERNELS_CUDA_DEBUG_H

#include <stdint.h>

#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* On device 0, for pair b < n_pairs of stream (seed, chain, step): the raw
 * cuRAND Philox4x32-10 block at counter (b, chain, (uint32)step, step >> 32)
 * and key ((uint32)seed, seed >> 32) into words[4b .. 4b+3], and the two
 * normals of pmhmc_normal_pair_from_words into normals[2b], normals[2b+1],
 * exactly as the backend's normal draws compute them. PMHMC_ERR_DEVICE on
 * any CUDA failure (including no device), PMHMC_ERR_ARG on NULL buffers. */
pmhmc_status pmhmc_cuda_debug_philox(uint64_t seed, uint32_t chain, uint64_t step, uint32_t n_pairs,
                                     uint32_t *words, double *normals);

#ifdef __cplusplus
}
#endif
#endif
