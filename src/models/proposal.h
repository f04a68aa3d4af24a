/* Importance proposals for random-effect models (DESIGN §2, "Proposals"):
 * per group, Gaussians q_c(X) = N(X; m_c, s_c^2), draws first[c] ..
 * first[c+1] - 1 being X = m_c + s_c u. Every policy keeps phat unbiased
 * for any theta; they differ in how close q is to the posterior of X, which
 * is all that sets the estimator's noise.
 *   fixed    one Gaussian N(0, s^2), s = model.is_scale (the source report's
 *            X = s u), for the whole mixture f: w = L f / q. Ignores theta
 *            and the data.
 *   prior    per component c of the random effect, its own N(mu_c,
 *            1/lambda_c), N/2 draws each
 *   laplace  per component c, the mode m_c of
 *            h_c(X) = log L_g(X) + log N(X; mu_c, 1/lambda_c) and
 *            s_c = (-h_c''(m_c))^(-1/2): the Laplace approximation of the
 *            group's posterior of X within that component, N/2 draws each
 * prior and laplace estimate each component's integral p_gc = int L N_c
 * from its own draws and combine them, p_g = sum_c w_c p_gc
 * (src/cpu/re_estimator.c says why not a deterministic mixture).
 * Gradients: m_c and s_c depend on theta (prior, laplace), and the
 * estimator's gradient is the exact derivative of log phat(theta, u) with
 * u held fixed, through them: dm/dtheta and ds/dtheta, for laplace by
 * implicit differentiation of the mode condition h_c'(m_c) = 0. */
#ifndef PMHMC_MODELS_PROPOSAL_H
#define PMHMC_MODELS_PROPOSAL_H

#include <stddef.h>

#include "models/re_model.h"

typedef struct pmhmc_proposal_parts {
    int n;                                   /* components */
    double m[PMHMC_RE_MAX_COMPONENTS];       /* X = m_c + s_c u */
    double s[PMHMC_RE_MAX_COMPONENTS];
    size_t first[PMHMC_RE_MAX_COMPONENTS + 1];
} pmhmc_proposal_parts;

/* One group's proposal for N draws. With derivs (a gradient is wanted and
 * the policy depends on theta), dm and ds [n][dim] receive dm_c/dtheta and
 * ds_c/dtheta; work is [2 dim] scratch. Returns 0, or -1 when a Laplace
 * mode search fails to converge (a non-finite likelihood). */
int pmhmc_proposal_group(const pmhmc_model *model, const pmhmc_re_density *dens, size_t g, const double *ctx,
                         size_t N, int derivs, pmhmc_proposal_parts *out, double *dm, double *ds, double *work);

/* The Laplace component of one density component c: its mode m and scale
 * s, and with dm, ds (not NULL) their theta-derivatives [dim]; work [2 dim].
 * Shared by the laplace proposal and the quadrature estimator. Returns 0 or
 * -1 as above. */
int pmhmc_laplace_component(const pmhmc_model *model, const pmhmc_re_component *comp, size_t g, const double *ctx,
                            double *m, double *s, double *dm, double *ds, double *work);

#endif
