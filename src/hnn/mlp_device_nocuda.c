/* Stand-ins for the device MLP (mlp_device.h) in a build without CUDA:
 * create says so; the rest cannot be reached without a handle. */
#ifndef PMHMC_HAVE_CUDA

#include "error.h"
#include "hnn/mlp_device.h"

pmhmc_status pmhmc_mlp_device_create(const pmhmc_mlp *mlp, size_t max_batch, pmhmc_mlp_device **out,
                                     pmhmc_error *err)
{
    (void)mlp;
    (void)max_batch;
    if (out)
        *out = NULL;
    return pmhmc_fail(err, PMHMC_ERR_UNSUPPORTED,
                      "this build has no CUDA: the MLP cannot run on a GPU (configure with -DPMHMC_CUDA=ON)");
}

void pmhmc_mlp_device_free(pmhmc_mlp_device *dev) { (void)dev; }

pmhmc_status pmhmc_mlp_device_set_weights(pmhmc_mlp_device *dev, const double *weights)
{
    (void)dev;
    (void)weights;
    return PMHMC_ERR_UNSUPPORTED;
}

pmhmc_status pmhmc_mlp_device_forward(pmhmc_mlp_device *dev, size_t batch, const double *x, double *y)
{
    (void)dev;
    (void)batch;
    (void)x;
    (void)y;
    return PMHMC_ERR_UNSUPPORTED;
}

pmhmc_status pmhmc_mlp_device_input_grad(pmhmc_mlp_device *dev, size_t batch, const double *x, double *y,
                                         double *grad)
{
    (void)dev;
    (void)batch;
    (void)x;
    (void)y;
    (void)grad;
    return PMHMC_ERR_UNSUPPORTED;
}

pmhmc_status pmhmc_mlp_device_loss_grad(pmhmc_mlp_device *dev, size_t batch, const double *x,
                                        const double *target, double w_theta, double w_rho, double *loss,
                                        double *grad_weights)
{
    (void)dev;
    (void)batch;
    (void)x;
    (void)target;
    (void)w_theta;
    (void)w_rho;
    (void)loss;
    (void)grad_weights;
    return PMHMC_ERR_UNSUPPORTED;
}

pmhmc_status pmhmc_mlp_device_set_data(pmhmc_mlp_device *dev, size_t n_rows, const double *x,
                                       const double *target)
{
    (void)dev;
    (void)n_rows;
    (void)x;
    (void)target;
    return PMHMC_ERR_UNSUPPORTED;
}

pmhmc_status pmhmc_mlp_device_loss_grad_rows(pmhmc_mlp_device *dev, size_t batch, const uint32_t *rows,
                                             double w_theta, double w_rho, double *loss,
                                             double *grad_weights)
{
    (void)dev;
    (void)batch;
    (void)rows;
    (void)w_theta;
    (void)w_rho;
    (void)loss;
    (void)grad_weights;
    return PMHMC_ERR_UNSUPPORTED;
}

const char *pmhmc_mlp_device_error(const pmhmc_mlp_device *dev)
{
    (void)dev;
    return "this build has no CUDA";
}

#else
/* ISO C forbids an empty translation unit. */
typedef int pmhmc_mlp_device_nocuda_unused;
#endif
