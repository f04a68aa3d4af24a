/* Stand-ins linked when the CUDA backend is not built: they say so. */
#include <stdio.h>

#include "backend/backend_impl.h"
#include "error.h"

pmhmc_status pmhmc_cuda_backend_init(pmhmc_backend *backend, pmhmc_error *err)
{
    (void)backend;
    return pmhmc_fail(err, PMHMC_ERR_UNSUPPORTED, "CUDA backend not built (configure with -DPMHMC_CUDA=ON)");
}

int pmhmc_cuda_probe(char *reason, size_t reason_len)
{
    if (reason && reason_len)
        snprintf(reason, reason_len, "CUDA backend not built");
    return 0;
}

int pmhmc_cuda_supports(const pmhmc_model *model, char *reason, size_t reason_len)
{
    (void)model;
    if (reason && reason_len)
        snprintf(reason, reason_len, "CUDA backend not built");
    return 0;
}
