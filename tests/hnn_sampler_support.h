// The HNN samplers' test cases (test_hnn_hmc, test_hnn_nuts): deliberately
// poor networks and the normal_re posterior they are checked on.
#ifndef PMHMC_TESTS_HNN_SAMPLER_SUPPORT_H
#define PMHMC_TESTS_HNN_SAMPLER_SUPPORT_H

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "hnn_support.h"
#include "sampler_support.h"
#include "test_support.h"

namespace pmhmc_test {

// A random network: Glorot weights keyed by seed, so its U~ has nothing to
// do with the posterior. Inputs are scaled by center and scale [n_in] when
// given, and the output layer multiplied by gain, so that U~ can be made to
// rise and fall by several units across the posterior.
inline Mlp random_network(pmhmc_mlp_kind kind, size_t dim, uint64_t seed, const double *center = nullptr,
                   const double *scale = nullptr, double gain = 1.0)
{
    const pmhmc_mlp_spec spec = make_spec(kind, kind == PMHMC_MLP_LATENT ? 2 * dim : dim,
                                          kind == PMHMC_MLP_LATENT ? 4 : 1, {16, 16}, PMHMC_ACT_TANH);
    Mlp net = make_random_mlp(spec, seed);
    if (!net)
        return net;
    for (size_t i = 0; center && i < spec.n_in; ++i) {
        net->in_mean[i] = center[i];
        net->in_sd[i] = scale[i];
    }
    const size_t out = spec.n_hidden;
    for (size_t j = net->w_off[out]; j < net->n_weights; ++j) // W_o then b_o
        net->weights[j] *= gain;
    return net;
}

struct NormalReCase {
    Dataset data;
    Model model;
    Moments2 exact{};

    void make()
    {
        pmhmc_dataset *raw = nullptr;
        ASSERT_PMHMC_OK(pmhmc_simulate_normal_re(30, 5, 1.0, 0.8, 3, &raw));
        data.reset(raw);
        exact = normal_re_exact_moments(group_stats(grouped_from(data.get())), 100.0);
        model = make_model("normal_re", data.get(), 16);
        ASSERT_TRUE(model);
    }
};

// A potential network made poor where it matters: random, its inputs
// scaled so that its features are half a posterior sd wide around the
// posterior mean, its output multiplied by gain (U~ rises and falls by a few
// units across the posterior).
inline Mlp poor_network(const NormalReCase &c, double gain)
{
    const double half_sd[2] = {0.5 * std::sqrt(c.exact.var[0]), 0.5 * std::sqrt(c.exact.var[1])};
    return random_network(PMHMC_MLP_POTENTIAL, 2, 11, c.exact.mean, half_sd, gain);
}

// Mean and variance of draws x within 4 MCSE of the exact ones, and the
// mean's MCSE below `precision` exact sd (so that a wrong target would
// show); returns the ESS.
inline double expect_moments(const std::vector<double> &x, double mean, double var, const char *name,
                             double precision = 0.05)
{
    double m = mean_of(x), v = variance_of(x), ess = geyer_ess(x);
    std::vector<double> sq(x.size());
    for (size_t i = 0; i < sq.size(); ++i)
        sq[i] = (x[i] - m) * (x[i] - m);
    double mcse_mean = std::sqrt(v / ess), mcse_var = std::sqrt(variance_of(sq) / geyer_ess(sq));
    EXPECT_LT(std::fabs(m - mean), 4.0 * mcse_mean) << name << ": mean " << m << " exact " << mean;
    EXPECT_LT(std::fabs(v - var), 4.0 * mcse_var) << name << ": var " << v << " exact " << var;
    EXPECT_LT(mcse_mean, precision * std::sqrt(var)) << name << ": ESS " << ess;
    return ess;
}

// expect_moments for several independent chains of one parameter: the pooled
// mean and variance within z MCSE of the exact ones, the MCSEs from the
// chains' summed ESS; returns that ESS. For samplers whose ESS per chain has
// a long lower tail (a poor surrogate can hold a chain for long stretches),
// several chains make the total ESS, and the test, far steadier than one
// chain of the same length.
inline double expect_pooled_moments(const std::vector<std::vector<double>> &chains, double mean, double var,
                                    const char *name, double precision, double z = 4.0)
{
    std::vector<double> all;
    for (const auto &c : chains)
        all.insert(all.end(), c.begin(), c.end());
    const double m = mean_of(all), v = variance_of(all);
    double ess = 0.0, ess_sq = 0.0;
    std::vector<double> sq_all;
    for (const auto &c : chains) {
        std::vector<double> sq(c.size());
        for (size_t i = 0; i < c.size(); ++i)
            sq[i] = (c[i] - m) * (c[i] - m);
        ess += geyer_ess(c);
        ess_sq += geyer_ess(sq);
        sq_all.insert(sq_all.end(), sq.begin(), sq.end());
    }
    const double mcse_mean = std::sqrt(v / ess), mcse_var = std::sqrt(variance_of(sq_all) / ess_sq);
    EXPECT_LT(std::fabs(m - mean), z * mcse_mean) << name << ": mean " << m << " exact " << mean;
    EXPECT_LT(std::fabs(v - var), z * mcse_var) << name << ": var " << v << " exact " << var;
    EXPECT_LT(mcse_mean, precision * std::sqrt(var)) << name << ": ESS " << ess;
    return ess;
}

// How far draws x[2] of (mu, log_tau) are from the exact posterior, in
// units of "visibly wrong": the largest of |mean - exact| / (sd_far sd),
// var / (var_far var_exact) and var_exact / (var_far var) over the two
// parameters (so above 1 means a mean more than sd_far posterior sd off or a
// variance off by a factor over var_far). Each parameter's figures are
// recorded as test properties.
inline double how_wrong(const std::vector<double> x[2], const Moments2 &exact, double sd_far = 5.0,
                        double var_far = 5.0)
{
    double worst = 0.0;
    for (int k = 0; k < 2; ++k) {
        double off = std::fabs(mean_of(x[k]) - exact.mean[k]) / std::sqrt(exact.var[k]);
        double ratio = variance_of(x[k]) / exact.var[k];
        worst = std::max({worst, off / sd_far, ratio / var_far, 1.0 / (var_far * ratio)});
        ::testing::Test::RecordProperty("sd_off_" + std::to_string(k), sci(off));
        ::testing::Test::RecordProperty("var_ratio_" + std::to_string(k), sci(ratio));
    }
    return worst;
}

} // namespace pmhmc_test

#endif
