// PM-HMC end to end on the GPU, through the public sampler API:
//   * double: the first 20 transitions on a small simulated GLMM (T = 50,
//     n = 6, p = 8, N = 32) track the CPU backend's draws (theta, lp, the
//     accept decisions) to 1e-8 relative, in each trajectory mode (host,
//     device, graph). The same seed gives the same normals on both backends
//     (the Philox streams are shared bit for bit), so the chains coincide up
//     to the estimator's rounding differences;
//   * float: on normal_re (T = 30, n = 5, mu = 1, tau = 0.8), the posterior
//     means of mu and log_tau from the CUDA float backend lie within 4
//     combined Monte Carlo standard errors of a CPU double run of the same
//     length (MCSE = sd / sqrt(ESS), Geyer's ESS from test_support.h; the
//     two chains are independent, so the MCSE of the difference is the root
//     of the sum of squares). Settings as in Sampler.NormalRePosterior
//     MomentsMatchQuadrature (N = 16, mass 30, h = 0.45, L = 4) with 8000
//     saved draws: MCSE ~1.1% of the posterior sd, so the band is ~6% of sd.
// Each case skips without a usable GPU and fails instead when
// PMHMC_REQUIRE_GPU=1. A few seconds on a GPU.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "test_support.h"

using namespace pmhmc_test;

namespace {

struct Draws {
    std::vector<std::vector<double>> theta;
    std::vector<double> lp;
    std::vector<int> accepted;
};

Draws run(const pmhmc_model *model, pmhmc_backend *backend, const pmhmc_sampler_config &cfg)
{
    Draws out;
    pmhmc_sampler *raw = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_sampler_create(model, backend, &cfg, nullptr, &raw, &err), PMHMC_OK) << err.message;
    Sampler s(raw);
    if (!s)
        return out;
    const size_t dim = pmhmc_model_dim(model);
    for (size_t it = 0; it < cfg.warmup + cfg.iterations; ++it) {
        pmhmc_draw d{};
        pmhmc_status st = pmhmc_sampler_step(s.get(), &d);
        EXPECT_EQ(st, PMHMC_OK);
        if (st != PMHMC_OK)
            break;
        if (d.warmup)
            continue;
        out.theta.emplace_back(d.theta, d.theta + dim);
        out.lp.push_back(d.lp);
        out.accepted.push_back(d.accepted);
    }
    return out;
}

} // namespace

TEST(CudaSampler, DoubleGlmmTracksCpuDraws)
{
    SKIP_WITHOUT_GPU();
    ThreadCountGuard guard;
    set_threads(1);
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.T = 50;
    sim.seed = 21;
    pmhmc_dataset *raw = nullptr;
    ASSERT_PMHMC_OK(pmhmc_simulate_glmm(&sim, &raw, nullptr));
    Dataset data(raw);
    Model model = make_model("glmm", data.get(), 32);
    ASSERT_TRUE(model);
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.warmup = 0;
    cfg.iterations = 20;
    cfg.step_size = 0.02;
    cfg.steps = 10;
    cfg.seed = 8;
    Backend cpu = cpu_backend();
    Draws want = run(model.get(), cpu.get(), cfg);
    ASSERT_EQ(want.theta.size(), cfg.iterations);
    int accepted = 0;
    for (int a : want.accepted)
        accepted += a;
    EXPECT_GT(accepted, 0) << "the chain must move for the comparison to mean something";
    RecordProperty("cpu_accepted", accepted);
    for (const char *mode : {"host", "device", "graph"}) {
        SCOPED_TRACE(mode);
        Backend b = cuda_backend(PMHMC_PRECISION_DOUBLE, mode);
        ASSERT_TRUE(b);
        Draws got = run(model.get(), b.get(), cfg);
        ASSERT_EQ(got.theta.size(), cfg.iterations);
        for (size_t it = 0; it < cfg.iterations; ++it) {
            ASSERT_EQ(got.accepted[it], want.accepted[it]) << "iteration " << it;
            EXPECT_LE(std::fabs(got.lp[it] - want.lp[it]), 1e-8 * std::max(1.0, std::fabs(want.lp[it])))
                << "iteration " << it << " lp " << got.lp[it] << " vs " << want.lp[it];
            for (size_t i = 0; i < got.theta[it].size(); ++i)
                ASSERT_LE(std::fabs(got.theta[it][i] - want.theta[it][i]),
                          1e-8 * std::max(1.0, std::fabs(want.theta[it][i])))
                    << "iteration " << it << " theta[" << i << "] " << got.theta[it][i] << " vs "
                    << want.theta[it][i];
        }
    }
}

TEST(CudaSampler, FloatNormalRePosteriorMeansMatchCpu)
{
    SKIP_WITHOUT_GPU();
    ThreadCountGuard guard;
    set_threads(1);
    pmhmc_dataset *raw = nullptr;
    ASSERT_PMHMC_OK(pmhmc_simulate_normal_re(30, 5, 1.0, 0.8, 3, &raw));
    Dataset data(raw);
    Model model = make_model("normal_re", data.get(), 16);
    ASSERT_TRUE(model);
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.warmup = 300;
    cfg.iterations = 8000;
    cfg.step_size = 0.45;
    cfg.steps = 4;
    cfg.mass = 30.0;
    Backend cpu = cpu_backend();
    Backend gpu = cuda_backend(PMHMC_PRECISION_FLOAT, nullptr); /* the default trajectory mode */
    ASSERT_TRUE(cpu && gpu);
    cfg.seed = stream_seed(2024);
    Draws want = run(model.get(), cpu.get(), cfg);
    cfg.seed = stream_seed(4048); /* an independent chain */
    Draws got = run(model.get(), gpu.get(), cfg);
    ASSERT_EQ(want.theta.size(), cfg.iterations);
    ASSERT_EQ(got.theta.size(), cfg.iterations);
    const char *names[2] = {"mu", "log_tau"};
    for (int k = 0; k < 2; ++k) {
        std::vector<double> a, b;
        for (size_t it = 0; it < cfg.iterations; ++it) {
            a.push_back(got.theta[it][k]);
            b.push_back(want.theta[it][k]);
        }
        const double ma = mean_of(a), mb = mean_of(b);
        const double sa = std::sqrt(variance_of(a)), sb = std::sqrt(variance_of(b));
        const double mcse_a = sa / std::sqrt(geyer_ess(a)), mcse_b = sb / std::sqrt(geyer_ess(b));
        const double mcse = std::sqrt(mcse_a * mcse_a + mcse_b * mcse_b);
        EXPECT_LT(std::fabs(ma - mb), 4.0 * mcse)
            << names[k] << ": GPU float mean " << ma << ", CPU double mean " << mb << ", combined MCSE " << mcse;
        EXPECT_LT(mcse_a, 0.03 * sb) << names[k] << ": the band must be narrow enough to mean something";
        EXPECT_NEAR(sa, sb, 0.15 * sb) << names[k] << ": posterior sd";
        RecordProperty(std::string(names[k]) + "_z", sci((ma - mb) / mcse));
    }
}
