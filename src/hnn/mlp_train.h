/* Training an mlp on recorded gradients (issue 6, item 1): Adam on
 * mini-batches of pmhmc_mlp_loss_grad, a held-out validation split, a
 * step-decay learning rate and early stopping on the validation loss. Serial
 * and keyed by a seed: the same data, options and initial weights give the
 * same bits. */
#ifndef PMHMC_HNN_MLP_TRAIN_H
#define PMHMC_HNN_MLP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hnn/mlp.h"
#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of (input, wanted input-gradient): x and target are [n_rows, n_in].
 * latent: x = (theta, rho), target = (grad_theta H, M^-1 rho);
 * potential: x = theta, target = -grad_theta log pi_hat. */
typedef struct pmhmc_mlp_data {
    size_t n_rows;
    const double *x;
    const double *target;
} pmhmc_mlp_data;

typedef struct pmhmc_mlp_epoch {
    size_t epoch;          /* 1-based */
    double learning_rate;  /* used in this epoch */
    double train_loss;     /* mean over the epoch's rows, before each step */
    double val_loss;       /* after the epoch */
    double val_grad_error; /* sqrt(sum |G - T|^2 / sum |T|^2) on the validation rows */
} pmhmc_mlp_epoch;

typedef struct pmhmc_mlp_train_options {
    uint64_t seed;              /* validation split and batch order */
    size_t batch_size;
    size_t max_epochs;
    double learning_rate;       /* initial */
    double lr_decay;            /* multiplies the rate every lr_decay_every epochs */
    size_t lr_decay_every;      /* 0: constant rate */
    double validation_fraction; /* of the rows, held out; in (0, 1) */
    size_t patience;            /* stop after this many epochs without a validation
                                   loss below (1 - min_improvement) times the
                                   last such; 0: never stop early */
    double min_improvement;     /* relative, in [0, 1) */
    int set_standardization;    /* 1: input scaling from the training rows first */
    double w_theta, w_rho;      /* loss weights (pmhmc_mlp_loss_grad) */
    double adam_beta1, adam_beta2, adam_eps;
    int use_device;             /* 1: the passes run on the GPU (mlp_device.h)
                                   with the training rows uploaded once; Adam,
                                   the split and the batch order stay on the
                                   host, so the run is the CPU's up to the
                                   GEMMs' rounding (and bit-identical run to
                                   run on one GPU model). 0: the CPU. */
    /* Called after each epoch when not NULL (a training log, say). */
    void (*on_epoch)(const pmhmc_mlp_epoch *epoch, void *user);
    void *user;
} pmhmc_mlp_train_options;

typedef struct pmhmc_mlp_train_result {
    size_t epochs_run;
    size_t best_epoch;     /* whose weights the mlp holds at the end */
    double best_val_loss;
    double val_grad_error; /* at best_epoch */
    int stopped_early;
} pmhmc_mlp_train_result;

/* seed 1, batch 64, 500 epochs, rate 1e-3 halved every 100 epochs, 20%
 * validation, patience 50 with min_improvement 1e-4, standardization on,
 * weights 1, Adam (0.9, 0.999, 1e-8), on the CPU. */
void pmhmc_mlp_train_defaults(pmhmc_mlp_train_options *opt);

/* Trains mlp from its current weights; at the end it holds the weights of the
 * epoch with the lowest validation loss. Errors: PMHMC_ERR_ARG for bad
 * options or too few rows (err says which), PMHMC_ERR_DATA for non-finite
 * data, PMHMC_ERR_NUMERIC when the loss diverges; with use_device,
 * PMHMC_ERR_UNSUPPORTED (no CUDA in the build) or PMHMC_ERR_DEVICE (no usable
 * GPU, or a GPU failure), err saying which. */
pmhmc_status pmhmc_mlp_train(pmhmc_mlp *mlp, const pmhmc_mlp_data *data,
                             const pmhmc_mlp_train_options *opt, pmhmc_mlp_train_result *result,
                             pmhmc_error *err);

#ifdef __cplusplus
}
#endif
#endif
