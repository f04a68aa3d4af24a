// The random-effect estimators (models/proposal.h, src/cpu/re_estimator.c):
// every proposal's phat unbiased against quadrature, the quadrature
// estimator against an independent adaptive-Gauss-Hermite code (the
// reference posterior's, bench/glmm_quadrature.h) and a closed form, its
// gradient against finite differences, the laplace proposal exact where
// the posterior of X is Gaussian, and the settings that cannot work refused.
// The importance proposals' gradients against finite differences are
// CliLogProb's (test_cli.cpp), through pmhmc log_prob.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../bench/glmm_quadrature.h"
#include "models/model_impl.h"
#include "sampler_support.h"
#include "test_support.h"

using namespace pmhmc_test;

namespace {

// log phat and the theta-gradient of a model at theta with the u of stream
// (seed, chain 0, step); quadrature ignores u.
double estimate(const pmhmc_model *model, const std::vector<double> &theta, uint64_t seed, uint64_t step,
                std::vector<double> *grad = nullptr)
{
    Backend backend = cpu_backend();
    Workspace ws = make_workspace(backend.get(), model, 1);
    EXPECT_TRUE(ws);
    if (!ws)
        return NAN;
    EXPECT_EQ(pmhmc_ws_normal(ws.get(), 0, seed, 0, step), PMHMC_OK);
    pmhmc_estimate_request req{};
    req.theta = theta.data();
    req.u = 0;
    req.p = -1;
    req.grad_u = -1;
    double lp = NAN;
    if (grad)
        grad->assign(pmhmc_model_dim(model), NAN);
    EXPECT_EQ(pmhmc_ws_estimate(ws.get(), &req, &lp, grad ? grad->data() : nullptr), PMHMC_OK);
    return lp;
}

Model quadrature_model(const pmhmc_dataset *data, const char *name, size_t nodes)
{
    return make_model(name, data, nodes, 3.0, 100.0, -1, PMHMC_ESTIMATOR_QUADRATURE);
}

} // namespace

// E[phat] = p(y | theta) for every proposal: the mean of phat / p over R
// fresh u within 3 of its standard errors of 1, at the truth and where a
// component is wide (log_lambda2 = -2, the case that fooled plain Newton
// steps). T = 5 groups keep the fixed proposal's weights tame enough for R =
// 600 to pin the mean to a few percent (the laplace proposal's to 1e-4); a missing -log N, a wrong log q or
// a mode in the wrong place moves it by far more.
TEST(Proposals, PhatIsUnbiasedForEveryProposal)
{
    SmallGlmm g;
    ASSERT_NO_FATAL_FAILURE(g.make(5, 6, 3));
    std::vector<double> wide = g.truth;
    wide[2 + 3] = -2.0;
    Model exact_model = quadrature_model(g.data.get(), "glmm", 64);
    ASSERT_TRUE(exact_model);
    for (const auto &theta : {g.truth, wide}) {
        const double exact = estimate(exact_model.get(), theta, 0, 0);
        ASSERT_TRUE(std::isfinite(exact));
        for (pmhmc_proposal_kind p : {PMHMC_PROPOSAL_FIXED, PMHMC_PROPOSAL_PRIOR, PMHMC_PROPOSAL_LAPLACE}) {
            SCOPED_TRACE(std::string(pmhmc_proposal_name(p)) + (theta == wide ? ", wide" : ", truth"));
            // N = 128 for fixed: at 32 its weights' tail made the SE itself
            // unreliable on some streams.
            Model m = make_model("glmm", g.data.get(), p == PMHMC_PROPOSAL_FIXED ? 128 : 32, 3.0, 100.0, p);
            ASSERT_TRUE(m);
            const size_t R = 600;
            std::vector<double> ratio(R);
            for (size_t r = 0; r < R; ++r)
                ratio[r] = std::exp(estimate(m.get(), theta, stream_seed(71), r) - exact);
            const double mean = mean_of(ratio), se = std::sqrt(variance_of(ratio) / (double)R);
            EXPECT_LT(std::fabs(mean - 1.0), 3.0 * se) << "mean of phat / p " << mean << ", SE " << se;
            EXPECT_LT(se, 0.05) << "the check must mean something";
            RecordProperty(std::string(pmhmc_proposal_name(p)) + (theta == wide ? "_wide" : "_truth"),
                           sci(mean) + " se " + sci(se));
        }
    }
}

// The quadrature estimator is the exact likelihood: against the reference
// posterior's own adaptive Gauss-Hermite code (bench/glmm_quadrature.h, mode
// found by bracketed Newton, 64 nodes) to 1e-8 relative at several theta,
// and normal_re against its closed form to 1e-10.
TEST(Quadrature, MatchesTheReferenceAndTheClosedForm)
{
    SmallGlmm g;
    ASSERT_NO_FATAL_FAILURE(g.make(40, 6, 9));
    Model m = quadrature_model(g.data.get(), "glmm", 48);
    ASSERT_TRUE(m);
    glmm_gh_rule rule;
    ASSERT_EQ(glmm_gauss_hermite(64, &rule, nullptr), 0);
    std::vector<double> zb(g.data->max_group_rows), modes(2 * g.data->n_groups, NAN);
    std::vector<std::vector<double>> thetas = {g.truth, g.truth, g.truth};
    thetas[1][2 + 2] = 3.5; // a narrow component 1
    thetas[2][2 + 3] = -1.5; // a wide component 2
    for (const auto &theta : thetas) {
        const double ref = glmm_exact_loglik(g.data.get(), theta.data(), &rule, zb.data(), modes.data());
        const double got = estimate(m.get(), theta, 0, 0);
        EXPECT_LT(std::fabs(got - ref), 1e-8 * std::fabs(ref)) << got << " vs " << ref;
    }

    pmhmc_dataset *raw = nullptr;
    ASSERT_PMHMC_OK(pmhmc_simulate_normal_re(30, 5, 1.0, 0.8, 3, &raw));
    Dataset nd(raw);
    Model nq = quadrature_model(nd.get(), "normal_re", 16);
    ASSERT_TRUE(nq);
    const std::vector<GroupStats> stats = group_stats(grouped_from(nd.get()));
    const double mu = 1.0, two_pi = 2.0 * std::acos(-1.0);
    for (double log_tau : {-0.7, 0.0, 0.9}) {
        // y_g ~ N(mu 1, I + tau^2 1 1'): Sherman-Morrison and the matrix
        // determinant lemma give each group's marginal in closed form.
        double exact = 0.0;
        const double tau2 = std::exp(2.0 * log_tau);
        for (const GroupStats &s : stats) {
            const double n = (double)s.n, dev = s.sy - n * mu;
            const double quad = (s.syy - 2.0 * mu * s.sy + n * mu * mu) - tau2 * dev * dev / (1.0 + n * tau2);
            exact += -0.5 * quad - 0.5 * std::log(1.0 + n * tau2) - 0.5 * n * std::log(two_pi);
        }
        const double got = estimate(nq.get(), {mu, log_tau}, 0, 0);
        EXPECT_LT(std::fabs(got - exact), 1e-10 * std::fabs(exact)) << "log_tau " << log_tau;
    }
}

// The quadrature estimator's gradient (through each component's mode and
// curvature) against central differences of its own value.
TEST(Quadrature, GradientMatchesFiniteDifferences)
{
    SmallGlmm g;
    ASSERT_NO_FATAL_FAILURE(g.make(8, 5, 4));
    Model m = quadrature_model(g.data.get(), "glmm", 24);
    ASSERT_TRUE(m);
    std::vector<double> theta = g.truth;
    theta[2 + 3] = -1.0;
    std::vector<double> grad;
    estimate(m.get(), theta, 0, 0, &grad);
    for (size_t i = 0; i < theta.size(); ++i) {
        const double h = 1e-5;
        std::vector<double> up = theta, down = theta;
        up[i] += h;
        down[i] -= h;
        const double fd = (estimate(m.get(), up, 0, 0) - estimate(m.get(), down, 0, 0)) / (2 * h);
        EXPECT_NEAR(grad[i], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "theta[" << i << "]";
    }
}

// normal_re's posterior of X given a group is Gaussian, so the laplace
// proposal is that posterior and every weight is the same: phat is exact,
// whatever u, and equals quadrature.
TEST(Proposals, LaplaceIsExactWhereThePosteriorOfXIsGaussian)
{
    pmhmc_dataset *raw = nullptr;
    ASSERT_PMHMC_OK(pmhmc_simulate_normal_re(30, 5, 1.0, 0.8, 3, &raw));
    Dataset d(raw);
    Model lap = make_model("normal_re", d.get(), 8, 3.0, 100.0, PMHMC_PROPOSAL_LAPLACE);
    Model quad = quadrature_model(d.get(), "normal_re", 8);
    ASSERT_TRUE(lap && quad);
    const std::vector<double> theta = {0.9, -0.3};
    const double exact = estimate(quad.get(), theta, 0, 0);
    for (uint64_t step = 0; step < 5; ++step)
        EXPECT_NEAR(estimate(lap.get(), theta, 5, step), exact, 1e-9 * std::fabs(exact));
}

TEST(Proposals, SettingsThatCannotWorkAreRefused)
{
    SmallGlmm g;
    ASSERT_NO_FATAL_FAILURE(g.make(5, 3, 1));
    pmhmc_model_settings s;
    pmhmc_model_settings_default(&s);
    EXPECT_EQ(s.proposal, PMHMC_PROPOSAL_LAPLACE) << "the default";
    EXPECT_EQ(s.estimator, PMHMC_ESTIMATOR_IMPORTANCE);
    pmhmc_model *m = nullptr;
    pmhmc_error err{};
    s.n_importance = 1;
    EXPECT_EQ(pmhmc_model_create(&s, g.data.get(), &m, &err), PMHMC_ERR_CONFIG);
    EXPECT_NE(std::string(err.message).find("N must be at least 2"), std::string::npos) << err.message;
    s.proposal = PMHMC_PROPOSAL_FIXED; // one draw is enough for X = s u
    EXPECT_EQ(pmhmc_model_create(&s, g.data.get(), &m, &err), PMHMC_OK) << err.message;
    pmhmc_model_free(m);
    s.estimator = PMHMC_ESTIMATOR_QUADRATURE;
    s.n_importance = 129;
    EXPECT_EQ(pmhmc_model_create(&s, g.data.get(), &m, &err), PMHMC_ERR_CONFIG);
    EXPECT_NE(std::string(err.message).find("at most 128 nodes"), std::string::npos) << err.message;

    // A model with an estimator of its own (the gaussian test model) takes
    // none of these.
    Model gauss = gaussian_model(1, {0.0}, {1.0}, 2, 4, 0.5);
    ASSERT_TRUE(gauss);
    EXPECT_EQ(gauss->settings.proposal, PMHMC_PROPOSAL_FIXED);

    // The CUDA kernels run the fixed proposal (GLMM) only, said before any
    // workspace is made, with or without a GPU; a build without the CUDA
    // backend says that instead.
    Model lap = make_model("glmm", g.data.get(), 8, 3.0, 100.0, PMHMC_PROPOSAL_LAPLACE);
    char reason[256] = "";
    EXPECT_EQ(pmhmc_backend_supports(PMHMC_BACKEND_CUDA, lap.get(), reason, sizeof reason), 0);
#ifdef PMHMC_HAVE_CUDA
    EXPECT_NE(std::string(reason).find("laplace"), std::string::npos) << reason;
#else
    EXPECT_NE(std::string(reason).find("CUDA backend not built"), std::string::npos) << reason;
#endif
    EXPECT_EQ(pmhmc_backend_supports(PMHMC_BACKEND_CPU, lap.get(), reason, sizeof reason), 1);
    EXPECT_EQ(pmhmc_estimator_from_name("quadrature"), (int)PMHMC_ESTIMATOR_QUADRATURE);
    EXPECT_EQ(pmhmc_proposal_from_name("laplacian"), -1);
}
