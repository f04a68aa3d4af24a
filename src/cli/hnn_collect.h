/* hnn.collect: one chain's HNN training data file (src/io/hnn_data.h),
 * written through the sampler's step observer and committed with the draws
 * (all files or none). Files are named per chain like the draws:
 * hnn.collect = grads.bin gives grads_1.bin .. grads_K.bin for K > 1. */
#ifndef PMHMC_CLI_HNN_COLLECT_H
#define PMHMC_CLI_HNN_COLLECT_H

#include <stddef.h>

#include "cli/out_file.h"
#include "io/config.h"
#include "pmhmc/pmhmc.h"

typedef struct cli_collect {
    int active;        /* hnn.collect was set */
    cli_out out;
    char *path;
    size_t dim, every;
    int warmup_too;
    int in_warmup;     /* set by the chain before each transition */
    size_t seen, written, skipped; /* evaluations seen; records written; non-finite ones left out */
    int write_failed;
} cli_collect;

/* Opens chain k's file and writes its header; inactive (and OK) when
 * hnn.collect is empty. `path` is owned by the collector. */
pmhmc_status cli_collect_open(cli_collect *c, const pmhmc_config *cfg, char *path, const pmhmc_model *model,
                              pmhmc_error *err);

/* The pmhmc_step_observer; ctx is the cli_collect. */
void cli_collect_observe(void *ctx, const double *theta, const double *rho, const double *grad,
                         const double *inv_mass);

/* Close (checking every write), then commit or abort like cli_out. */
pmhmc_status cli_collect_close(cli_collect *c, pmhmc_error *err);
pmhmc_status cli_collect_commit(cli_collect *c, pmhmc_error *err);
void cli_collect_abort(cli_collect *c);

#endif
