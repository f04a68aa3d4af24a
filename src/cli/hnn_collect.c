#include "cli/hnn_collect.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "io/hnn_data.h"

pmhmc_status cli_collect_open(cli_collect *c, const pmhmc_config *cfg, char *path, const pmhmc_model *model,
                              pmhmc_error *err)
{
    c->out.slot = -1;
    c->path = path;
    if (!cfg->hnn.collect || !cfg->hnn.collect[0])
        return PMHMC_OK;
    c->active = 1;
    c->dim = pmhmc_model_dim(model);
    c->every = (size_t)cfg->hnn.collect_every;
    c->warmup_too = cfg->hnn.collect_warmup;
    pmhmc_status st = cli_out_open(&c->out, path, err);
    if (st != PMHMC_OK)
        return st;
    const char **names = malloc(c->dim * sizeof *names);
    if (!names)
        return PMHMC_ERR_NOMEM;
    for (size_t i = 0; i < c->dim; ++i)
        names[i] = pmhmc_model_param_name(model, i);
    int bad = pmhmc_hnn_data_write_header(c->out.f, c->dim, names);
    free(names);
    c->write_failed |= bad != 0;
    return PMHMC_OK;
}

void cli_collect_observe(void *ctx, const double *theta, const double *rho, const double *grad,
                         const double *inv_mass)
{
    cli_collect *c = ctx;
    if (!c->active || (c->in_warmup && !c->warmup_too) || c->seen++ % c->every != 0)
        return;
    /* a training target must be finite; an evaluation that overflowed is left out, not the whole file */
    for (size_t i = 0; i < c->dim; ++i)
        if (!isfinite(theta[i]) || !isfinite(rho[i]) || !isfinite(grad[i])) {
            c->skipped++;
            return;
        }
    if (pmhmc_hnn_data_write_record(c->out.f, c->dim, theta, rho, grad, inv_mass) != 0)
        c->write_failed = 1;
    else
        c->written++;
}

pmhmc_status cli_collect_close(cli_collect *c, pmhmc_error *err)
{
    if (!c->active)
        return PMHMC_OK;
    pmhmc_status st = cli_out_close(&c->out, err);
    if (st == PMHMC_OK && c->write_failed)
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: write error while recording HNN training data", c->out.tmp);
    return st;
}

pmhmc_status cli_collect_commit(cli_collect *c, pmhmc_error *err)
{
    return c->active ? cli_out_commit(&c->out, err) : PMHMC_OK;
}

void cli_collect_abort(cli_collect *c)
{
    if (c->active)
        cli_out_abort(&c->out);
    free(c->path);
    c->path = NULL;
}
