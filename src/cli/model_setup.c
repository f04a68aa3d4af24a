#include "cli/model_setup.h"

#include <string.h>

#include "cli/cli.h"

int cli_model_from_config(const pmhmc_config *cfg, pmhmc_dataset **data, pmhmc_model **model)
{
    pmhmc_error err = {{0}}, keyed = {{0}};
    pmhmc_response_kind kind;
    pmhmc_status st = pmhmc_model_response_kind(cfg->model.name, &kind);
    if (st == PMHMC_OK)
        st = pmhmc_dataset_read_csv(cfg->model.data, kind, data, &err);
    if (st == PMHMC_ERR_IO) /* the file is missing: say which key named it */
        return cli_fail_status(CLI_EXIT_USAGE, pmhmc_config_key_error(cfg, "model.data", &keyed, "%s", err.message),
                               &keyed);
    if (st != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_USAGE, st, &err);
    const int n_auto = cfg->model.N == PMHMC_CONFIG_N_AUTO;
    if (n_auto && strcmp(cfg->model.estimator, "quadrature") == 0)
        return cli_fail_status(CLI_EXIT_USAGE,
                               pmhmc_config_key_error(cfg, "model.N", &keyed,
                                                      "auto chooses the number of importance draws; with "
                                                      "model.estimator = quadrature give the number of nodes "
                                                      "(there is no noise to choose it by)"),
                               &keyed);
    pmhmc_model_settings settings = {
        .name = cfg->model.name,
        .n_importance = n_auto ? PMHMC_AUTO_N_MAX : (size_t)cfg->model.N,
        .is_scale = cfg->model.is_scale,
        .prior_var = cfg->model.prior_var,
        .estimator = (pmhmc_estimator_kind)pmhmc_estimator_from_name(cfg->model.estimator),
        .proposal = (pmhmc_proposal_kind)pmhmc_proposal_from_name(cfg->model.proposal),
    };
    st = pmhmc_model_create(&settings, *data, model, &err);
    if (st != PMHMC_OK)
        return cli_fail(CLI_EXIT_USAGE, "%s: %s", cfg->path, err.message[0] ? err.message : pmhmc_status_str(st));
    return CLI_EXIT_OK;
}
