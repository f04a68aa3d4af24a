/* The MLP's description: spec checks, weight layout, Glorot initialization
 * from the project's Philox streams, and input standardization. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hnn/mlp.h"
#include "math/philox.h"

static const char *kind_name(pmhmc_mlp_kind kind)
{
    return kind == PMHMC_MLP_LATENT ? "latent" : "potential";
}

static pmhmc_status check_spec(const pmhmc_mlp_spec *s, pmhmc_error *err)
{
    if (s->kind != PMHMC_MLP_LATENT && s->kind != PMHMC_MLP_POTENTIAL)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp: kind %d is neither latent (0) nor potential (1)",
                          (int)s->kind);
    if (s->n_in < 1 || s->n_in > PMHMC_MLP_MAX_WIDTH)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp: n_in = %zu, expected 1..%d", s->n_in,
                          PMHMC_MLP_MAX_WIDTH);
    if (s->n_out < 1 || s->n_out > PMHMC_MLP_MAX_WIDTH)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp: n_out = %zu, expected 1..%d", s->n_out,
                          PMHMC_MLP_MAX_WIDTH);
    if (s->kind == PMHMC_MLP_LATENT && s->n_in % 2 != 0)
        return pmhmc_fail(err, PMHMC_ERR_ARG,
                          "mlp: a latent network's input is (theta, rho), so n_in must be even, not %zu",
                          s->n_in);
    if (s->kind == PMHMC_MLP_POTENTIAL && s->n_out != 1)
        return pmhmc_fail(err, PMHMC_ERR_ARG,
                          "mlp: a potential network has one output (U~), not n_out = %zu", s->n_out);
    if (s->n_hidden < 1 || s->n_hidden > PMHMC_MLP_MAX_HIDDEN)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp: n_hidden = %zu, expected 1..%d", s->n_hidden,
                          PMHMC_MLP_MAX_HIDDEN);
    for (size_t l = 0; l < s->n_hidden; l++) {
        if (s->width[l] < 1 || s->width[l] > PMHMC_MLP_MAX_WIDTH)
            return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp: width[%zu] = %zu, expected 1..%d", l,
                              s->width[l], PMHMC_MLP_MAX_WIDTH);
        if ((int)s->act[l] < 0 || s->act[l] >= PMHMC_ACT_COUNT)
            return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp: act[%zu] = %d is not an activation", l,
                              (int)s->act[l]);
    }
    return PMHMC_OK;
}

pmhmc_status pmhmc_mlp_create(const pmhmc_mlp_spec *spec, pmhmc_mlp **out, pmhmc_error *err)
{
    if (!out)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp: NULL output handle");
    *out = NULL;
    if (!spec)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp: NULL spec");
    pmhmc_status st = check_spec(spec, err);
    if (st != PMHMC_OK)
        return st;

    pmhmc_mlp *m = calloc(1, sizeof *m);
    if (!m)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "mlp: out of memory");
    m->spec = *spec;
    size_t H = spec->n_hidden;
    m->dims[0] = spec->n_in;
    for (size_t l = 1; l <= H; l++)
        m->dims[l] = spec->width[l - 1];
    m->dims[H + 1] = spec->n_out;
    /* Each dim <= 2^16 and at most 9 layers: the sum stays below 2^36. */
    size_t off = 0;
    for (size_t l = 0; l <= H; l++) {
        m->w_off[l] = off;
        off += m->dims[l + 1] * m->dims[l];
        m->b_off[l] = off;
        off += m->dims[l + 1];
    }
    m->n_weights = off;
    m->weights = calloc(off, sizeof(double));
    m->in_mean = calloc(spec->n_in, sizeof(double));
    m->in_sd = malloc(spec->n_in * sizeof(double));
    if (!m->weights || !m->in_mean || !m->in_sd) {
        pmhmc_mlp_free(m);
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "mlp: out of memory for %zu weights (%s kind)",
                          off, kind_name(spec->kind));
    }
    for (size_t j = 0; j < spec->n_in; j++)
        m->in_sd[j] = 1.0;
    *out = m;
    return PMHMC_OK;
}

void pmhmc_mlp_free(pmhmc_mlp *mlp)
{
    if (!mlp)
        return;
    free(mlp->weights);
    free(mlp->in_mean);
    free(mlp->in_sd);
    free(mlp);
}

pmhmc_status pmhmc_mlp_init_random(pmhmc_mlp *mlp, uint64_t seed)
{
    if (!mlp)
        return PMHMC_ERR_ARG;
    for (size_t l = 0; l <= mlp->spec.n_hidden; l++) {
        size_t fan_in = mlp->dims[l], fan_out = mlp->dims[l + 1];
        double *W = mlp->weights + mlp->w_off[l];
        double scale = sqrt(2.0 / (double)(fan_in + fan_out));
        pmhmc_stream_normals(seed, 0, (uint64_t)l, fan_in * fan_out, W);
        for (size_t i = 0; i < fan_in * fan_out; i++)
            W[i] *= scale;
        memset(mlp->weights + mlp->b_off[l], 0, fan_out * sizeof(double));
    }
    return PMHMC_OK;
}

pmhmc_status pmhmc_mlp_set_standardization(pmhmc_mlp *mlp, size_t n_rows, const double *x,
                                           pmhmc_error *err)
{
    if (!mlp || !x || n_rows == 0)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp standardization: no rows");
    size_t n_in = mlp->spec.n_in;
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < n_in; j++)
            if (!isfinite(x[r * n_in + j]))
                return pmhmc_fail(err, PMHMC_ERR_DATA,
                                  "mlp standardization: input row %zu, column %zu is not finite", r, j);
    /* Two passes (mean, then squared deviations): the one-pass formula loses
     * the variance of inputs far from zero. */
    for (size_t j = 0; j < n_in; j++) {
        double sum = 0.0;
        for (size_t r = 0; r < n_rows; r++)
            sum += x[r * n_in + j];
        double mean = sum / (double)n_rows;
        double ss = 0.0;
        for (size_t r = 0; r < n_rows; r++) {
            double d = x[r * n_in + j] - mean;
            ss += d * d;
        }
        double sd = sqrt(ss / (double)n_rows);
        /* A constant column carries nothing to scale; dividing by ~0 would
         * only amplify rounding noise. */
        mlp->in_mean[j] = mean;
        mlp->in_sd[j] = sd > 1e-12 * fmax(1.0, fabs(mean)) ? sd : 1.0;
    }
    return PMHMC_OK;
}
