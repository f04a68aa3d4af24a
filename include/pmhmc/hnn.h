/* HNN surrogates (DESIGN §5): a trained network, as `pmhmc train` writes it,
 * loaded for a model so that HNN-HMC (pmhmc_sampler_config.hnn) can run on
 * it.
 *
 * Ownership: the caller owns the network and frees it with pmhmc_mlp_free
 * after every sampler that borrows it. A loaded network is only read, so
 * samplers on several threads may share one. */
#ifndef PMHMC_HNN_H
#define PMHMC_HNN_H

#include "pmhmc/model.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pmhmc_mlp pmhmc_mlp;

/* Reads a safetensors weights file and checks that it fits model: its theta
 * dimension and, when the file names them, its parameters in order. Errors
 * name the file and what was expected: PMHMC_ERR_IO (unreadable),
 * PMHMC_ERR_PARSE (not a valid pmhmc-hnn file), PMHMC_ERR_UNSUPPORTED (a
 * tensor type other than F64/F32), PMHMC_ERR_DATA (another model's network). */
pmhmc_status pmhmc_hnn_load(const char *path, const pmhmc_model *model, pmhmc_mlp **out, pmhmc_error *err);

/* NULL-safe. */
void pmhmc_mlp_free(pmhmc_mlp *mlp);

#ifdef __cplusplus
}
#endif
#endif
