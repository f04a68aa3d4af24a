/* An HNN surrogate's MLP as a safetensors weights file (issue 6), so that a
 * trained network survives the run that trained it and opens in PyTorch.
 *
 * Tensors (F64, row-major), PyTorch nn.Linear names and layouts with the
 * hidden layers numbered from 1:
 *     layers.<l>.weight [width_l, dims_{l-1}]   layers.<l>.bias [width_l]
 *     output.weight     [n_out, width_H]        output.bias     [n_out]
 *     input.mean        [n_in]                  input.sd        [n_in]
 * Metadata (all strings):
 *     format = "pmhmc-hnn", format_version = "1",
 *     kind = "latent" | "potential", n_in, n_out (decimal),
 *     hidden = the widths, activations = their names (math/activations.h),
 *       both comma-separated, one per hidden layer,
 *     parameters = the model's parameter names, comma-separated (absent
 *       when the network was saved without them),
 *     pmhmc_version = the library that wrote the file (informational).
 * Other metadata keys are ignored on loading; other tensors are not. */
#ifndef PMHMC_HNN_MLP_IO_H
#define PMHMC_HNN_MLP_IO_H

#include <stddef.h>

#include "hnn/mlp.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PMHMC_MLP_FORMAT "pmhmc-hnn"
#define PMHMC_MLP_FORMAT_VERSION "1"

/* Writes mlp to path (atomically, as pmhmc_safetensors_write does).
 * param_names [n_params] names theta's components; n_params is 0 (no names
 * stored) or the network's theta dimension (n_in / 2 for latent, n_in for
 * potential). Names must be non-empty, distinct, valid UTF-8 and free of
 * commas. PMHMC_ERR_ARG for a bad argument, PMHMC_ERR_DATA for a non-finite
 * weight or a non-positive in_sd, PMHMC_ERR_IO when the file cannot be
 * written. */
pmhmc_status pmhmc_mlp_save(const pmhmc_mlp *mlp, const char *path, const char *const *param_names,
                            size_t n_params, pmhmc_error *err);

/* Reads path into a new *out (NULL on failure). When param_names is not
 * NULL, *param_names receives the stored names (NULL when there are none;
 * free with pmhmc_mlp_free_param_names) and *n_params their count; n_params
 * may be NULL only when param_names is. Refuses, with a message naming the
 * file, the field or tensor and what was expected:
 * PMHMC_ERR_IO when the file cannot be read; PMHMC_ERR_PARSE when it is not
 * a well-formed safetensors file or not a valid pmhmc-hnn network (format,
 * version, kind, sizes, widths, activations, parameter names, a missing,
 * extra or misshapen tensor, a non-finite value, a non-positive input.sd);
 * PMHMC_ERR_UNSUPPORTED for a tensor dtype other than F64/F32 (F32 tensors
 * are widened exactly). */
pmhmc_status pmhmc_mlp_load(const char *path, pmhmc_mlp **out, char ***param_names, size_t *n_params,
                            pmhmc_error *err);

void pmhmc_mlp_free_param_names(char **names, size_t n);

/* Whether mlp, trained for parameters stored[n_stored] (as loaded), fits a
 * model whose parameters are expected[n_expected]: its theta dimension is
 * n_expected and, when names were stored (n_stored > 0), they are the same
 * names in the same order. PMHMC_ERR_DATA otherwise, the message naming
 * path and the first mismatch. */
pmhmc_status pmhmc_mlp_check_params(const pmhmc_mlp *mlp, const char *path, const char *const *stored,
                                    size_t n_stored, const char *const *expected, size_t n_expected,
                                    pmhmc_error *err);

#ifdef __cplusplus
}
#endif
#endif
