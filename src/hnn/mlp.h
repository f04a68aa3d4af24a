/* The multilayer perceptron behind the HNN surrogates (DESIGN §5, issue 6):
 * its description, weight layout, initialization and input scaling
 * (mlp.c), and the CPU reference passes over a batch of rows (mlp_grad.c):
 * forward, input-gradient, and the weight-gradient of a loss on that
 * input-gradient (double backprop).
 *
 * Network: x [n_in] -> z0 = (x - in_mean) / in_sd
 *          z_l = f_l(z_{l-1} W_l^T + b_l),  l = 1..n_hidden   (W_l [n_l, n_{l-1}])
 *          y   = z_H W_o^T + b_o                               (W_o [n_out, n_H])
 * The surrogate's scalar is S(x) = sum_m y_m: H~(theta, rho) for the
 * `latent` kind (input (theta, rho), any n_out), U~(theta) for the
 * `potential` kind (input theta, n_out = 1).
 *
 * Weight layout (one contiguous double array, n_weights long; the layers in
 * order l = 1..n_hidden, then the output layer):
 *     W_1 [width_1, n_in] row-major, b_1 [width_1],
 *     W_2 [width_2, width_1],        b_2 [width_2], ...
 *     W_o [n_out, width_H],          b_o [n_out]
 * so each layer is (weight, bias) as in PyTorch's nn.Linear, and
 * w_off[l] / b_off[l] (l = 0..n_hidden, the last the output layer) give
 * where each starts. A weight-gradient has the same layout.
 *
 * Thread use: an mlp is only read by the passes, so several threads may
 * share one, each with its own pmhmc_mlp_work. */
#ifndef PMHMC_HNN_MLP_H
#define PMHMC_HNN_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "math/activations.h"
#include "pmhmc/hnn.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PMHMC_MLP_MAX_HIDDEN 8
/* Bounds keeping every GEMM dimension and leading dimension inside CBLAS's
 * int, and n_weights far from overflow. */
#define PMHMC_MLP_MAX_WIDTH 65536
#define PMHMC_MLP_MAX_BATCH 1048576

/* Values are stored in weights files: do not renumber. */
typedef enum pmhmc_mlp_kind {
    PMHMC_MLP_LATENT = 0,    /* input (theta, rho) [2 d], output summed into H~ */
    PMHMC_MLP_POTENTIAL = 1  /* input theta [d], output U~ [1] */
} pmhmc_mlp_kind;

typedef struct pmhmc_mlp_spec {
    pmhmc_mlp_kind kind;
    size_t n_in;     /* latent: 2 d (theta first, then rho); potential: d */
    size_t n_out;    /* potential: 1 */
    size_t n_hidden; /* 1..PMHMC_MLP_MAX_HIDDEN */
    size_t width[PMHMC_MLP_MAX_HIDDEN];
    pmhmc_activation act[PMHMC_MLP_MAX_HIDDEN];
} pmhmc_mlp_spec;

/* pmhmc_mlp is declared opaque in include/pmhmc/hnn.h. */
struct pmhmc_mlp {
    pmhmc_mlp_spec spec;
    /* dims[0] = n_in, dims[l] = width of hidden layer l, dims[n_hidden+1] = n_out */
    size_t dims[PMHMC_MLP_MAX_HIDDEN + 2];
    size_t w_off[PMHMC_MLP_MAX_HIDDEN + 1];
    size_t b_off[PMHMC_MLP_MAX_HIDDEN + 1];
    size_t n_weights;
    double *weights; /* [n_weights], layout above */
    double *in_mean; /* [n_in] */
    double *in_sd;   /* [n_in], > 0 */
};

/* Checks the spec (err names the bad field) and allocates: weights zero,
 * in_mean 0, in_sd 1. */
pmhmc_status pmhmc_mlp_create(const pmhmc_mlp_spec *spec, pmhmc_mlp **out, pmhmc_error *err);
void pmhmc_mlp_free(pmhmc_mlp *mlp);

/* Glorot-normal weights, W_l ~ N(0, 2 / (fan_in + fan_out)), zero biases;
 * layer l draws the normals of Philox stream (seed, chain 0, step l), so the
 * weights depend on the seed and the architecture only. */
pmhmc_status pmhmc_mlp_init_random(pmhmc_mlp *mlp, uint64_t seed);

/* in_mean, in_sd <- column means and (population) standard deviations of
 * x [n_rows, n_in]; a constant column gets sd 1. PMHMC_ERR_DATA for a
 * non-finite value (err names row and column). */
pmhmc_status pmhmc_mlp_set_standardization(pmhmc_mlp *mlp, size_t n_rows, const double *x,
                                           pmhmc_error *err);

/* ---- batched passes (CPU reference, mlp_grad.c) ------------------------------
 * Scratch for batches of up to max_batch rows; one per thread. */
typedef struct pmhmc_mlp_work pmhmc_mlp_work;

pmhmc_status pmhmc_mlp_work_create(const pmhmc_mlp *mlp, size_t max_batch, pmhmc_mlp_work **out);
void pmhmc_mlp_work_free(pmhmc_mlp_work *work);

/* y [batch, n_out] from x [batch, n_in]; 1 <= batch <= the work's max_batch. */
pmhmc_status pmhmc_mlp_forward(const pmhmc_mlp *mlp, pmhmc_mlp_work *work, size_t batch,
                               const double *x, double *y);

/* grad [batch, n_in] = dS/dx per row (S = sum of the outputs); y
 * [batch, n_out] too when not NULL. */
pmhmc_status pmhmc_mlp_input_grad(const pmhmc_mlp *mlp, pmhmc_mlp_work *work, size_t batch,
                                  const double *x, double *y, double *grad);

/* The training loss of the mlp's kind on a batch, with G = dS/dx [batch, n_in]
 * and target [batch, n_in]:
 *   latent:    (1/batch) sum_b [ w_theta ||G_b,theta - t_b,theta||^2
 *                               + w_rho ||G_b,rho - t_b,rho||^2 ]
 *              (theta: the first n_in/2 columns, rho: the rest)
 *   potential: (1/batch) sum_b w_theta ||G_b - t_b||^2     (w_rho unused)
 * into *loss, and when grad_weights is not NULL its gradient with respect to
 * every weight [n_weights] (mlp layout). PMHMC_ERR_NUMERIC when the loss is
 * not finite. */
pmhmc_status pmhmc_mlp_loss_grad(const pmhmc_mlp *mlp, pmhmc_mlp_work *work, size_t batch,
                                 const double *x, const double *target, double w_theta,
                                 double w_rho, double *loss, double *grad_weights);

#ifdef __cplusplus
}
#endif
#endif
