/* The training loop of mlp_train.h. Randomness comes from Philox streams of
 * the options' seed: chain 0 step 0 splits the rows, chain 1 step e orders
 * epoch e's mini-batches; nothing depends on threads or timing. The passes
 * run on a CPU work or, with use_device, on a device engine that holds the
 * training rows and receives the weights before each pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hnn/adam.h"
#include "hnn/mlp_device.h"
#include "hnn/mlp_train.h"
#include "math/philox.h"

void pmhmc_mlp_train_defaults(pmhmc_mlp_train_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->seed = 1;
    opt->batch_size = 64;
    opt->max_epochs = 500;
    opt->learning_rate = 1e-3;
    opt->lr_decay = 0.5;
    opt->lr_decay_every = 100;
    opt->validation_fraction = 0.2;
    opt->patience = 50;
    opt->min_improvement = 1e-4;
    opt->set_standardization = 1;
    opt->w_theta = 1.0;
    opt->w_rho = 1.0;
    opt->adam_beta1 = 0.9;
    opt->adam_beta2 = 0.999;
    opt->adam_eps = 1e-8;
}

/* Fisher-Yates on idx[0..n) with uniforms of stream (seed, chain, step). */
static void shuffle(size_t *idx, size_t n, uint64_t seed, uint32_t chain, uint64_t step)
{
    for (size_t i = n; i > 1; i--) {
        double u = pmhmc_stream_uniform(seed, chain, step, (uint32_t)(i - 1));
        size_t j = (size_t)(u * (double)i);
        if (j >= i) /* u < 1, but guard the product's rounding */
            j = i - 1;
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

static pmhmc_status check_options(const pmhmc_mlp_train_options *o, pmhmc_error *err)
{
    if (o->batch_size < 1 || o->batch_size > PMHMC_MLP_MAX_BATCH)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp training: batch_size = %zu, expected 1..%d",
                          o->batch_size, PMHMC_MLP_MAX_BATCH);
    if (o->max_epochs < 1)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp training: max_epochs must be at least 1");
    if (!(o->learning_rate > 0.0) || !isfinite(o->learning_rate))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp training: learning_rate = %g, expected > 0",
                          o->learning_rate);
    if (o->lr_decay_every > 0 && !(o->lr_decay > 0.0 && o->lr_decay <= 1.0))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp training: lr_decay = %g, expected in (0, 1]",
                          o->lr_decay);
    if (!(o->validation_fraction > 0.0 && o->validation_fraction < 1.0))
        return pmhmc_fail(err, PMHMC_ERR_ARG,
                          "mlp training: validation_fraction = %g, expected in (0, 1)",
                          o->validation_fraction);
    if (!(o->min_improvement >= 0.0 && o->min_improvement < 1.0))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp training: min_improvement = %g, expected in [0, 1)",
                          o->min_improvement);
    if (!(o->w_theta >= 0.0 && o->w_rho >= 0.0) || !isfinite(o->w_theta) || !isfinite(o->w_rho))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp training: loss weights must be finite and >= 0");
    if (!(o->adam_beta1 >= 0.0 && o->adam_beta1 < 1.0) || !(o->adam_beta2 >= 0.0 && o->adam_beta2 < 1.0) ||
        !(o->adam_eps > 0.0))
        return pmhmc_fail(err, PMHMC_ERR_ARG,
                          "mlp training: Adam needs beta1, beta2 in [0, 1) and eps > 0");
    return PMHMC_OK;
}

/* Rows idx[0..n) of data, copied into x [n, n_in] and t [n, n_in]. */
static void gather(const pmhmc_mlp_data *d, size_t n_in, const size_t *idx, size_t n, double *x,
                   double *t)
{
    for (size_t r = 0; r < n; r++) {
        memcpy(x + r * n_in, d->x + idx[r] * n_in, n_in * sizeof(double));
        memcpy(t + r * n_in, d->target + idx[r] * n_in, n_in * sizeof(double));
    }
}

typedef struct train_buffers {
    size_t *idx;          /* [n_rows] split, then [n_train] batch order */
    double *x_tr, *t_tr;  /* [n_train, n_in] */
    double *x_va, *t_va;  /* [n_val, n_in] */
    double *xb, *tb;      /* [batch, n_in] */
    double *grad, *best;  /* [n_weights] */
    double *g;            /* [batch, n_in] */
    uint32_t *rows;       /* [batch] on the GPU */
} train_buffers;

/* The passes of one run: exactly one of work (CPU) and dev (GPU). */
typedef struct train_engine {
    pmhmc_mlp_work *work;
    pmhmc_mlp_device *dev;
} train_engine;

/* A failed pass: a non-finite loss, or (on the GPU) what the device said. */
static pmhmc_status pass_failed(const train_engine *e, pmhmc_status st, const char *what,
                                size_t epoch, double lr, pmhmc_error *err)
{
    if (st == PMHMC_ERR_NUMERIC || !e->dev)
        return pmhmc_fail(err, st, "mlp training: the %s is not finite at epoch %zu "
                          "(learning rate %g too large?)", what, epoch, lr);
    return pmhmc_fail(err, st, "mlp training on the GPU, epoch %zu: %s", epoch,
                      pmhmc_mlp_device_error(e->dev));
}

/* The run's engine, made once the input scaling is set (the device copies
 * it): a CPU work, or a device engine holding the training rows x_tr, t_tr
 * [n_train, n_in]. */
static pmhmc_status engine_create(const pmhmc_mlp *mlp, const pmhmc_mlp_train_options *opt,
                                  size_t B, size_t n_train, const train_buffers *b,
                                  train_engine *e, pmhmc_error *err)
{
    pmhmc_status st;
    if (!opt->use_device) {
        st = pmhmc_mlp_work_create(mlp, B, &e->work);
        return st == PMHMC_OK ? st : pmhmc_fail(err, st, "mlp training: %s", pmhmc_status_str(st));
    }
    if ((st = pmhmc_mlp_device_create(mlp, B, &e->dev, err)) != PMHMC_OK)
        return st;
    st = pmhmc_mlp_device_set_data(e->dev, n_train, b->x_tr, b->t_tr);
    return st == PMHMC_OK ? st
                          : pmhmc_fail(err, st, "mlp training on the GPU: %s",
                                       pmhmc_mlp_device_error(e->dev));
}

/* Validation loss (the training loss's formula over all n rows) and the
 * relative gradient error, in chunks of the engine's batch; the sums run on
 * the host in row order whichever engine gives G. Shapes: x, t [n, n_in],
 * g [chunk, n_in]. */
static pmhmc_status evaluate(const pmhmc_mlp *mlp, const train_engine *eng, size_t chunk,
                             const double *x, const double *t, size_t n, double w_theta,
                             double w_rho, double *g, double *loss, double *grad_error)
{
    size_t n_in = mlp->spec.n_in;
    size_t half = mlp->spec.kind == PMHMC_MLP_LATENT ? n_in / 2 : n_in;
    double sum_loss = 0.0, sum_err = 0.0, sum_ref = 0.0;
    if (eng->dev) {
        pmhmc_status st = pmhmc_mlp_device_set_weights(eng->dev, mlp->weights);
        if (st != PMHMC_OK)
            return st;
    }
    for (size_t r0 = 0; r0 < n; r0 += chunk) {
        size_t b = n - r0 < chunk ? n - r0 : chunk;
        pmhmc_status st =
            eng->dev ? pmhmc_mlp_device_input_grad(eng->dev, b, x + r0 * n_in, NULL, g)
                     : pmhmc_mlp_input_grad(mlp, eng->work, b, x + r0 * n_in, NULL, g);
        if (st != PMHMC_OK)
            return st;
        for (size_t i = 0; i < b * n_in; i++) {
            double e = g[i] - t[r0 * n_in + i];
            double tv = t[r0 * n_in + i];
            sum_loss += (i % n_in < half ? w_theta : w_rho) * e * e;
            sum_err += e * e;
            sum_ref += tv * tv;
        }
    }
    *loss = sum_loss / (double)n;
    *grad_error = sqrt(sum_err / (sum_ref > 0.0 ? sum_ref : 1.0));
    return isfinite(*loss) ? PMHMC_OK : PMHMC_ERR_NUMERIC;
}

/* The loss and weight-gradient of the training rows idx[0..nb) (into x_tr,
 * t_tr [n_train, n_in]); xb, tb [nb, n_in] and rows [nb] are scratch. */
static pmhmc_status batch_loss_grad(const pmhmc_mlp *mlp, const train_engine *e,
                                    const pmhmc_mlp_train_options *opt, const size_t *idx,
                                    size_t nb, const train_buffers *b, double *loss)
{
    size_t n_in = mlp->spec.n_in;
    if (e->dev) {
        for (size_t r = 0; r < nb; r++)
            b->rows[r] = (uint32_t)idx[r]; /* n_rows <= UINT32_MAX */
        pmhmc_status st = pmhmc_mlp_device_set_weights(e->dev, mlp->weights);
        if (st != PMHMC_OK)
            return st;
        return pmhmc_mlp_device_loss_grad_rows(e->dev, nb, b->rows, opt->w_theta, opt->w_rho,
                                               loss, b->grad);
    }
    for (size_t r = 0; r < nb; r++) {
        memcpy(b->xb + r * n_in, b->x_tr + idx[r] * n_in, n_in * sizeof(double));
        memcpy(b->tb + r * n_in, b->t_tr + idx[r] * n_in, n_in * sizeof(double));
    }
    return pmhmc_mlp_loss_grad(mlp, e->work, nb, b->xb, b->tb, opt->w_theta, opt->w_rho, loss,
                               b->grad);
}

static void free_buffers(train_buffers *b)
{
    free(b->idx);
    free(b->x_tr);
    free(b->t_tr);
    free(b->x_va);
    free(b->t_va);
    free(b->xb);
    free(b->tb);
    free(b->grad);
    free(b->best);
    free(b->g);
    free(b->rows);
}

pmhmc_status pmhmc_mlp_train(pmhmc_mlp *mlp, const pmhmc_mlp_data *data,
                             const pmhmc_mlp_train_options *opt, pmhmc_mlp_train_result *result,
                             pmhmc_error *err)
{
    if (!mlp || !data || !opt || !data->x || !data->target)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp training: NULL argument");
    pmhmc_status st = check_options(opt, err);
    if (st != PMHMC_OK)
        return st;
    size_t n = data->n_rows, n_in = mlp->spec.n_in;
    if (n > UINT32_MAX)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp training: %zu rows, at most %u", n, UINT32_MAX);
    size_t n_val = (size_t)llround(opt->validation_fraction * (double)n);
    if (n_val < 1 || n_val >= n)
        return pmhmc_fail(err, PMHMC_ERR_ARG,
                          "mlp training: %zu rows cannot be split into training and validation "
                          "rows with validation_fraction %g", n, opt->validation_fraction);
    size_t n_train = n - n_val;
    for (size_t i = 0; i < n * n_in; i++)
        if (!isfinite(data->x[i]) || !isfinite(data->target[i]))
            return pmhmc_fail(err, PMHMC_ERR_DATA,
                              "mlp training: row %zu, column %zu of the %s is not finite", i / n_in,
                              i % n_in, isfinite(data->x[i]) ? "targets" : "inputs");

    size_t B = opt->batch_size < n_train ? opt->batch_size : n_train;
    train_buffers b = {0};
    pmhmc_mlp_train_result res = {0};
    size_t since_best = 0;
    double reference = INFINITY; /* validation loss at the last real improvement */
    train_engine engine = {0};
    pmhmc_adam *adam = NULL;
    b.idx = malloc(n * sizeof(size_t));
    b.x_tr = malloc(n_train * n_in * sizeof(double));
    b.t_tr = malloc(n_train * n_in * sizeof(double));
    b.x_va = malloc(n_val * n_in * sizeof(double));
    b.t_va = malloc(n_val * n_in * sizeof(double));
    b.xb = malloc(B * n_in * sizeof(double));
    b.tb = malloc(B * n_in * sizeof(double));
    b.g = malloc(B * n_in * sizeof(double));
    b.grad = malloc(mlp->n_weights * sizeof(double));
    b.best = malloc(mlp->n_weights * sizeof(double));
    b.rows = malloc(B * sizeof(uint32_t));
    if (!b.idx || !b.x_tr || !b.t_tr || !b.x_va || !b.t_va || !b.xb || !b.tb || !b.g || !b.grad ||
        !b.best || !b.rows) {
        st = pmhmc_fail(err, PMHMC_ERR_NOMEM, "mlp training: out of memory for %zu rows", n);
        goto done;
    }
    st = pmhmc_adam_create(mlp->n_weights, opt->adam_beta1, opt->adam_beta2, opt->adam_eps, &adam);
    if (st != PMHMC_OK) {
        st = pmhmc_fail(err, st, "mlp training: %s", pmhmc_status_str(st));
        goto done;
    }

    for (size_t i = 0; i < n; i++)
        b.idx[i] = i;
    shuffle(b.idx, n, opt->seed, 0, 0);
    gather(data, n_in, b.idx, n_train, b.x_tr, b.t_tr);
    gather(data, n_in, b.idx + n_train, n_val, b.x_va, b.t_va);
    if (opt->set_standardization) {
        st = pmhmc_mlp_set_standardization(mlp, n_train, b.x_tr, err);
        if (st != PMHMC_OK)
            goto done;
    }
    st = engine_create(mlp, opt, B, n_train, &b, &engine, err);
    if (st != PMHMC_OK)
        goto done;

    res.best_val_loss = INFINITY;
    memcpy(b.best, mlp->weights, mlp->n_weights * sizeof(double));
    for (size_t epoch = 1; epoch <= opt->max_epochs; epoch++) {
        double lr = opt->learning_rate;
        if (opt->lr_decay_every > 0)
            lr *= pow(opt->lr_decay, (double)((epoch - 1) / opt->lr_decay_every));
        for (size_t i = 0; i < n_train; i++)
            b.idx[i] = i;
        shuffle(b.idx, n_train, opt->seed, 1, epoch);
        double train_sum = 0.0;
        for (size_t r0 = 0; r0 < n_train; r0 += B) {
            size_t nb = n_train - r0 < B ? n_train - r0 : B;
            double loss;
            st = batch_loss_grad(mlp, &engine, opt, b.idx + r0, nb, &b, &loss);
            if (st != PMHMC_OK) {
                st = pass_failed(&engine, st, "loss", epoch, lr, err);
                goto done;
            }
            train_sum += loss * (double)nb;
            pmhmc_adam_step(adam, mlp->weights, b.grad, lr);
        }
        pmhmc_mlp_epoch ep = {epoch, lr, train_sum / (double)n_train, 0.0, 0.0};
        st = evaluate(mlp, &engine, B, b.x_va, b.t_va, n_val, opt->w_theta, opt->w_rho, b.g,
                      &ep.val_loss, &ep.val_grad_error);
        if (st != PMHMC_OK) {
            st = pass_failed(&engine, st, "validation loss", epoch, lr, err);
            goto done;
        }
        res.epochs_run = epoch;
        if (opt->on_epoch)
            opt->on_epoch(&ep, opt->user);
        /* The weights kept are the best seen; patience counts from the last
         * improvement by min_improvement, so a plateau of tiny gains ends. */
        if (ep.val_loss < res.best_val_loss) {
            res.best_val_loss = ep.val_loss;
            res.best_epoch = epoch;
            res.val_grad_error = ep.val_grad_error;
            memcpy(b.best, mlp->weights, mlp->n_weights * sizeof(double));
        }
        if (ep.val_loss < (1.0 - opt->min_improvement) * reference) {
            reference = ep.val_loss;
            since_best = 0;
        } else if (opt->patience > 0 && ++since_best >= opt->patience) {
            res.stopped_early = 1;
            break;
        }
    }
    memcpy(mlp->weights, b.best, mlp->n_weights * sizeof(double));
    if (result)
        *result = res;
    st = PMHMC_OK;
done:
    pmhmc_adam_free(adam);
    pmhmc_mlp_work_free(engine.work);
    pmhmc_mlp_device_free(engine.dev);
    free_buffers(&b);
    return st;
}
