/* The MLP's batched passes on the GPU (issue 6, item 1): the same network,
 * weight layout and math as the CPU reference of mlp.h (mlp_grad.c), in
 * double precision, with every matrix product a cuBLAS DGEMM and the rest
 * small elementwise kernels (kernels/mlp.cuh; engine in
 * kernels/mlp_device.cu).
 *
 * Results agree with the CPU's to rounding (the GEMMs sum in another order),
 * and are bit-identical run to run on one GPU model: the loss is a
 * fixed-order reduction, column sums run in row order, cuBLAS runs on the
 * engine's own stream and workspace.
 *
 * A device engine holds a copy of the mlp's architecture, weights and input
 * scaling, taken at create; set_weights replaces the weights (training
 * updates them on the host). Host pointers in and out; every call returns
 * when its outputs are on the host. One engine is used by one thread at a
 * time.
 *
 * Without CUDA (PMHMC_HAVE_CUDA undefined) create fails with
 * PMHMC_ERR_UNSUPPORTED; with CUDA but no usable GPU it fails with
 * PMHMC_ERR_DEVICE and the probe's reason; err says which. */
#ifndef PMHMC_HNN_MLP_DEVICE_H
#define PMHMC_HNN_MLP_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "hnn/mlp.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pmhmc_mlp_device pmhmc_mlp_device;

/* Device buffers for batches of 1..max_batch rows (max_batch <=
 * PMHMC_MLP_MAX_BATCH), and mlp's weights, in_mean and in_sd copied. */
pmhmc_status pmhmc_mlp_device_create(const pmhmc_mlp *mlp, size_t max_batch, pmhmc_mlp_device **out,
                                     pmhmc_error *err);
void pmhmc_mlp_device_free(pmhmc_mlp_device *dev);

/* Replaces the weights: weights [n_weights] in mlp.h's layout. */
pmhmc_status pmhmc_mlp_device_set_weights(pmhmc_mlp_device *dev, const double *weights);

/* pmhmc_mlp_forward, input_grad and loss_grad on the device: same shapes,
 * semantics and statuses (PMHMC_ERR_ARG for a batch outside 1..max_batch or a
 * NULL buffer, PMHMC_ERR_NUMERIC for a non-finite loss, grad_weights then
 * untouched), plus PMHMC_ERR_DEVICE for a CUDA or cuBLAS failure. */
pmhmc_status pmhmc_mlp_device_forward(pmhmc_mlp_device *dev, size_t batch, const double *x, double *y);
pmhmc_status pmhmc_mlp_device_input_grad(pmhmc_mlp_device *dev, size_t batch, const double *x, double *y,
                                         double *grad);
pmhmc_status pmhmc_mlp_device_loss_grad(pmhmc_mlp_device *dev, size_t batch, const double *x,
                                        const double *target, double w_theta, double w_rho, double *loss,
                                        double *grad_weights);

/* ---- a dataset kept on the device (training) ------------------------------
 * set_data uploads x and target [n_rows, n_in] once (replacing an earlier
 * set), n_rows <= UINT32_MAX; loss_grad_rows is loss_grad on the rows
 * rows[0..batch) of that dataset, gathered on the device: only the batch's
 * row indices cross per call. PMHMC_ERR_ARG when no data is set or an index
 * is not below n_rows. */
pmhmc_status pmhmc_mlp_device_set_data(pmhmc_mlp_device *dev, size_t n_rows, const double *x,
                                       const double *target);
pmhmc_status pmhmc_mlp_device_loss_grad_rows(pmhmc_mlp_device *dev, size_t batch, const uint32_t *rows,
                                             double w_theta, double w_rho, double *loss,
                                             double *grad_weights);

/* What the last failing call of dev reported (the CUDA or cuBLAS call, its
 * file and line, and the error's name); "" when none failed. */
const char *pmhmc_mlp_device_error(const pmhmc_mlp_device *dev);

#ifdef __cplusplus
}
#endif
#endif
