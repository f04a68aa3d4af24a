/* sampler.init: each chain starts at the last saved draw of a draws file
 * (cli/sample_run.h), the way pmhmc pipeline starts HNN-HMC where its PM-NUTS
 * run ended rather than where that run began. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/draws_read.h"
#include "cli/sample_run.h"

int sample_init_from_draws(const run_state *r, size_t k, double *theta)
{
    const pmhmc_config *cfg = &r->cfg;
    char *path = sample_chain_path(cfg->sampler.init, r->n_chains, k);
    if (!path)
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    table t;
    int rc = cli_draws_read("sample: sampler.init", 1, &path, &t);
    if (rc == CLI_EXIT_OK && t.chains[0].n_rows == 0)
        rc = cli_fail(CLI_EXIT_USAGE, "sample: sampler.init: %s has no saved draws to start chain %zu from", path,
                      k + 1);
    const size_t dim = pmhmc_model_dim(r->model);
    for (size_t i = 0; rc == CLI_EXIT_OK && i < dim; ++i) {
        const char *name = pmhmc_model_param_name(r->model, i);
        size_t j = 0;
        while (j < t.n_cols && strcmp(t.names[j], name) != 0)
            ++j;
        if (j == t.n_cols)
            rc = cli_fail(CLI_EXIT_USAGE, "sample: sampler.init: %s has no column %s (a %s draws file is expected)",
                          path, name, pmhmc_model_name(r->model));
        else
            theta[i] = t.chains[0].rows[(t.chains[0].n_rows - 1) * t.n_cols + j];
    }
    cli_draws_free(&t);
    free(path);
    return rc;
}
