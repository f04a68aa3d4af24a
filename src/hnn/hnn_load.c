/* pmhmc_hnn_load (include/pmhmc/hnn.h): a weights file, checked against the
 * model it is to stand in for. */
#include <stdlib.h>

#include "error.h"
#include "hnn/mlp_io.h"
#include "pmhmc/hnn.h"

pmhmc_status pmhmc_hnn_load(const char *path, const pmhmc_model *model, pmhmc_mlp **out, pmhmc_error *err)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    if (!path || !model)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "hnn load: a path and a model are required");
    pmhmc_mlp *mlp = NULL;
    char **stored = NULL;
    size_t n_stored = 0;
    pmhmc_status st = pmhmc_mlp_load(path, &mlp, &stored, &n_stored, err);
    if (st != PMHMC_OK)
        return st;
    const size_t dim = pmhmc_model_dim(model);
    const char **expected = malloc(dim * sizeof *expected);
    if (!expected) {
        st = PMHMC_ERR_NOMEM;
    } else {
        for (size_t i = 0; i < dim; ++i)
            expected[i] = pmhmc_model_param_name(model, i);
        st = pmhmc_mlp_check_params(mlp, path, (const char *const *)stored, n_stored, expected, dim, err);
    }
    free(expected);
    pmhmc_mlp_free_param_names(stored, n_stored);
    if (st != PMHMC_OK) {
        pmhmc_mlp_free(mlp);
        return st;
    }
    *out = mlp;
    return PMHMC_OK;
}
