/* The data and the model a config describes, shared by the commands that
 * evaluate it (sample, noise). */
#ifndef PMHMC_CLI_MODEL_SETUP_H
#define PMHMC_CLI_MODEL_SETUP_H

#include "io/config.h"
#include "pmhmc/pmhmc.h"

/* Reads model.data and makes the model of the [model] keys (model.N =
 * auto: at PMHMC_AUTO_N_MAX, the most it may choose). Returns a CLI
 * exit code after printing the error (naming the key or file); the caller
 * frees *data and *model either way. */
int cli_model_from_config(const pmhmc_config *cfg, pmhmc_dataset **data, pmhmc_model **model);

#endif
