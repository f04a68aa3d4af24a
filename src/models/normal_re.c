/* Normal random effect, the checking model: X_i ~ N(mu, tau^2),
 * y_ij | X_i ~ N(X_i, 1), theta = (mu, log_tau). The importance proposal is
 * the random-effect prior itself (X = mu + tau u), so the auxiliary map
 * depends on theta, unlike the GLMM's; the likelihood is Gaussian in closed
 * form, so posteriors can be checked by quadrature. Data: `id,y`. */
#include <math.h>

#include "cpu/estimators.h"
#include "error.h"
#include "models/model_impl.h"
#include "math/portable_math.h"

static const char *const PARAM_NAMES[] = {"mu", "log_tau"};
static const char *const GENERATED_NAMES[] = {"tau"};

static pmhmc_status normal_re_init(pmhmc_model *model, pmhmc_error *err)
{
    if (model->data->n_cov != 0)
        return pmhmc_fail(err, PMHMC_ERR_DATA,
                          "normal_re: expected the columns id,y only, found %zu covariate column(s)",
                          model->data->n_cov);
    if (model->data->n_groups < 1)
        return pmhmc_fail(err, PMHMC_ERR_DATA, "normal_re: the data have no groups");
    return pmhmc_model_set_names(model, 2, PARAM_NAMES);
}

static void normal_re_generated(const pmhmc_model *model, const double *theta, double *out)
{
    (void)model;
    out[0] = pmhmc_exp(theta[1]);
}

static void normal_re_initial(const pmhmc_model *model, uint64_t seed, uint32_t chain, double *theta)
{
    (void)model;
    (void)seed;
    (void)chain;
    theta[0] = 0.0;
    theta[1] = 0.0;
}

const pmhmc_model_ops pmhmc_normal_re_ops = {
    .name = "normal_re",
    .response = PMHMC_RESPONSE_REAL,
    .p_u = 1,
    .generated_names = GENERATED_NAMES,
    .n_generated = 1,
    .init = normal_re_init,
    .generated = normal_re_generated,
    .initial = normal_re_initial,
    .cpu_scratch = pmhmc_re_cpu_scratch,
    .cpu_estimate = pmhmc_re_cpu_estimate,
    .re = &pmhmc_normal_re_likelihood,
};
