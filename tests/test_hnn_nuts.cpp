// HNN-PM-NUTS through the public sampler API (DESIGN §5, issue 7): exact mode
// samples the true posterior with a deliberately poor network, surrogate mode
// with the same network visibly does not, a poor network watched by the true
// monitor falls back and runs exactly hnn.cooldown PM-NUTS transitions before
// returning, and a network trained on the exact gradient never falls back.
//
// Independent answers: the normal_re posterior by quadrature
// (sampler_support.h); the gaussian model's N(mean, cov) in closed form.
#include <cmath>
#include <vector>

#include "cli_support.h"
#include "hnn/mlp_io.h"
#include "hnn/mlp_train.h"
#include "hnn_sampler_support.h"
#include "models/gaussian.h"
#include "test_support.h"
#include "xml_check.h"

using namespace pmhmc_test;
using namespace pmhmc_cli_test;

namespace {

pmhmc_sampler_config hnn_nuts_config(const pmhmc_mlp *net, pmhmc_hnn_accept accept, size_t warmup,
                                     size_t iterations, uint64_t seed)
{
    pmhmc_sampler_config cfg = nuts_test_config(warmup, iterations, stream_seed(seed));
    cfg.algorithm = PMHMC_ALGORITHM_HNN_NUTS;
    cfg.hnn = net;
    cfg.hnn_accept = accept;
    cfg.cn_angle = 0.5;
    cfg.max_depth = 6;
    return cfg;
}

struct NutsRun {
    std::vector<double> x[2];
    size_t fallbacks = 0, cooldown = 0, moved = 0, estimates = 0, gradients = 0;
    std::vector<int> surrogate, fallback; // per saved draw
};

NutsRun run_hnn_nuts(const pmhmc_model *model, const pmhmc_sampler_config &cfg, pmhmc_backend *on = nullptr)
{
    NutsRun out;
    Backend cpu = on ? nullptr : cpu_backend();
    pmhmc_sampler *raw = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_sampler_create(model, on ? on : cpu.get(), &cfg, nullptr, &raw, &err), PMHMC_OK) << err.message;
    Sampler s(raw);
    if (!s)
        return out;
    for (size_t it = 0; it < cfg.warmup + cfg.iterations; ++it) {
        pmhmc_draw draw{};
        EXPECT_EQ(pmhmc_sampler_step(s.get(), &draw), PMHMC_OK);
        if (draw.warmup)
            continue;
        EXPECT_TRUE(std::isfinite(draw.lp));
        EXPECT_LE(draw.n_gradients, draw.n_estimates);
        for (int k = 0; k < 2; ++k)
            out.x[k].push_back(draw.theta[k]);
        out.surrogate.push_back(draw.surrogate_used);
        out.fallback.push_back(draw.fallback);
        out.fallbacks += draw.fallback;
        out.cooldown += !draw.surrogate_used;
        out.moved += draw.accepted;
        out.estimates += draw.n_estimates;
        out.gradients += draw.n_gradients;
    }
    return out;
}

// A potential network fitted to the exact gradient -Sigma^-1 (theta - mean)
// of a 2-D Gaussian on draws from N(mean, 4 Sigma) (wider than the target,
// so the tails the sampler visits are covered).
Mlp trained_gaussian_network(const double *mean, const double *cov)
{
    Mlp net = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 2, 1, {32, 32}, PMHMC_ACT_SIN), 7);
    const double det = cov[0] * cov[3] - cov[1] * cov[2];
    const double inv[4] = {cov[3] / det, -cov[1] / det, -cov[2] / det, cov[0] / det};
    const double l00 = std::sqrt(cov[0]), l10 = cov[2] / l00, l11 = std::sqrt(cov[3] - l10 * l10);
    const size_t n = 3000;
    std::vector<double> x(2 * n), t(2 * n);
    TestRng rng(21);
    for (size_t r = 0; r < n; ++r) {
        double z0 = 2.0 * rng.normal(), z1 = 2.0 * rng.normal();
        double d0 = l00 * z0, d1 = l10 * z0 + l11 * z1;
        x[2 * r] = mean[0] + d0;
        x[2 * r + 1] = mean[1] + d1;
        t[2 * r] = inv[0] * d0 + inv[1] * d1; // dU/dtheta = Sigma^-1 (theta - mean)
        t[2 * r + 1] = inv[2] * d0 + inv[3] * d1;
    }
    pmhmc_mlp_train_options o;
    pmhmc_mlp_train_defaults(&o);
    o.seed = 3;
    o.max_epochs = 300;
    o.learning_rate = 1e-2;
    o.lr_decay = 0.5;
    o.lr_decay_every = 60;
    pmhmc_mlp_data data{n, x.data(), t.data()};
    pmhmc_mlp_train_result res{};
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_mlp_train(net.get(), &data, &o, &res, &err), PMHMC_OK) << err.message;
    EXPECT_LT(res.val_grad_error, 0.02);
    return net;
}

} // namespace

namespace {

// A network like HnnHmc.ExactModeWithAnUntrainedNetworkMatchesQuadrature's
// (random, U~ rising and falling by a few units on features half a
// posterior sd wide): the exact test makes the chain right anyway. Four
// chains of 10000, whose summed ESS was 340-900 over 20 streams: one chain
// of 40000 had a long lower tail (23 to 500, before the surrogate had its
// walls and the step-size search could run away on its flat tanh plateaus).
void exact_mode_with_a_poor_network_matches_quadrature(pmhmc_backend *backend)
{
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Mlp net = poor_network(c, 3.0);
    std::vector<std::vector<double>> x[2];
    for (uint32_t chain = 0; chain < 4; ++chain) {
        pmhmc_sampler_config cfg = hnn_nuts_config(net.get(), PMHMC_HNN_ACCEPT_EXACT, 500, 10000, 5);
        cfg.chain = chain;
        NutsRun r = run_hnn_nuts(c.model.get(), cfg, backend);
        ASSERT_EQ(r.x[0].size(), cfg.iterations);
        EXPECT_EQ(r.fallbacks, 0u) << "exact mode never leaves the surrogate";
        EXPECT_EQ(r.cooldown, 0u);
        EXPECT_EQ(r.gradients, 0u) << "exact mode evaluates no gradient";
        EXPECT_LE(r.estimates, cfg.iterations) << "one estimator evaluation at most per transition";
        EXPECT_GT((double)r.moved / cfg.iterations, 0.02);
        for (int k = 0; k < 2; ++k)
            x[k].push_back(r.x[k]);
    }
    const char *names[2] = {"mu", "log_tau"};
    for (int k = 0; k < 2; ++k) {
        // 15% of an sd (an ESS of 45): without the exact test's U~ term the
        // means move by over 1 sd.
        double ess = expect_pooled_moments(x[k], c.exact.mean[k], c.exact.var[k], names[k], 0.15);
        ::testing::Test::RecordProperty(std::string(names[k]) + "_ess", sci(ess));
    }
}

} // namespace

TEST(HnnNuts, ExactModeWithAPoorNetworkMatchesQuadrature)
{
    ThreadCountGuard guard;
    set_threads(1);
    exact_mode_with_a_poor_network_matches_quadrature(nullptr);
}

// The same with the estimator on the GPU (the surrogate stays on the host).
TEST(HnnNuts, ExactModeWithAPoorNetworkMatchesQuadratureOnCuda)
{
    SKIP_WITHOUT_GPU();
    for_each_cuda_precision(exact_mode_with_a_poor_network_matches_quadrature);
}

// A correlated 2-D Gaussian whose estimator depends on u (shift_a 0.5), with
// an untrained network: exact mode's moments are the Gaussian's.
TEST(HnnNuts, ExactModeOnAGaussianWithAnUntrainedNetwork)
{
    ThreadCountGuard guard;
    set_threads(1);
    const std::vector<double> mean = {1.0, -1.0}, cov = {2.0, 0.6, 0.6, 1.0};
    Model model = gaussian_model(2, mean, cov, 4, 8, 0.5);
    ASSERT_TRUE(model);
    const double scale[2] = {std::sqrt(cov[0]), std::sqrt(cov[3])};
    Mlp net = random_network(PMHMC_MLP_POTENTIAL, 2, 4, mean.data(), scale, 2.0);
    pmhmc_sampler_config cfg = hnn_nuts_config(net.get(), PMHMC_HNN_ACCEPT_EXACT, 500, 30000, 9);
    NutsRun r = run_hnn_nuts(model.get(), cfg);
    ASSERT_EQ(r.x[0].size(), cfg.iterations);
    for (int k = 0; k < 2; ++k)
        expect_moments(r.x[k], mean[k], cov[3 * k], k ? "theta2" : "theta1", 0.15);
}

// The guard for the two tests above: the same poor network in surrogate
// mode, never leaving it (max_error out of reach), samples exp(-U~ - W)
// (the walls keep it within 8 of the network's input sds, here 4 posterior
// sd): some parameter's mean more than 1 posterior sd off, or its variance
// off by a factor over 2. That is well outside what the exact tests accept
// (4 MCSE, with MCSEs under 0.15 sd: at most 0.6 sd).
TEST(HnnNuts, SurrogateModeWithThePoorNetworkIsVisiblyWrong)
{
    ThreadCountGuard guard;
    set_threads(1);
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Mlp net = poor_network(c, 4.0);
    pmhmc_sampler_config cfg = hnn_nuts_config(net.get(), PMHMC_HNN_ACCEPT_SURROGATE, 300, 3000, 5);
    cfg.max_error = 1e300;
    NutsRun r = run_hnn_nuts(c.model.get(), cfg);
    ASSERT_EQ(r.x[0].size(), cfg.iterations);
    EXPECT_EQ(r.fallbacks, 0u);
    EXPECT_EQ(r.estimates, 0u) << "surrogate mode with the surrogate monitor evaluates nothing";
    EXPECT_GT(how_wrong(r.x, c.exact, 1.0, 2.0), 1.0);
}

// A random network watched by the true monitor: trees leave it, and after
// each such tree exactly `cooldown` transitions run as real PM-NUTS (with
// gradients) before the surrogate is used again.
TEST(HnnNuts, APoorNetworkFallsBackForExactlyTheCooldown)
{
    ThreadCountGuard guard;
    set_threads(1);
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Mlp net = random_network(PMHMC_MLP_POTENTIAL, 2, 11);
    pmhmc_sampler_config cfg = hnn_nuts_config(net.get(), PMHMC_HNN_ACCEPT_SURROGATE, 100, 600, 5);
    cfg.monitor = PMHMC_HNN_MONITOR_TRUE;
    cfg.max_error = 2.0;
    cfg.cooldown = 7;
    NutsRun r = run_hnn_nuts(c.model.get(), cfg);
    ASSERT_EQ(r.surrogate.size(), cfg.iterations);
    EXPECT_GT(r.fallbacks, 3u);
    EXPECT_GT(r.gradients, 0u);
    size_t checked = 0;
    for (size_t i = 0; i + cfg.cooldown + 1 < r.surrogate.size(); ++i) {
        if (!r.fallback[i])
            continue;
        ASSERT_EQ(r.surrogate[i], 1) << "a fallback happens in a surrogate tree, draw " << i;
        for (size_t j = 1; j <= cfg.cooldown; ++j)
            ASSERT_EQ(r.surrogate[i + j], 0) << "cooldown draw " << j << " after the fallback at " << i;
        ASSERT_EQ(r.surrogate[i + cfg.cooldown + 1], 1) << "back on the surrogate after " << i;
        ++checked;
    }
    EXPECT_GT(checked, 0u);
    // Every run of cooldown draws follows a fallback and is exactly that long.
    size_t run = 0;
    for (size_t i = 0; i < r.surrogate.size(); ++i) {
        if (!r.surrogate[i]) {
            ++run;
            continue;
        }
        if (run > 0 && i >= run + 1) {
            EXPECT_EQ(run, cfg.cooldown) << "draw " << i;
        }
        run = 0;
    }
}

// A network trained on the exact gradient of the gaussian model (whose
// estimator ignores u with shift_a = 0, so the true energy is exact) never
// trips either monitor at the default max_error once warm-up has adapted the
// step size, and surrogate mode then samples the Gaussian.
TEST(HnnNuts, AWellTrainedNetworkNeverFallsBack)
{
    ThreadCountGuard guard;
    set_threads(1);
    const std::vector<double> mean = {1.0, -1.0}, cov = {2.0, 0.6, 0.6, 1.0};
    Model model = gaussian_model(2, mean, cov, 2, 4, 0.0);
    ASSERT_TRUE(model);
    Mlp net = trained_gaussian_network(mean.data(), cov.data());
    for (pmhmc_hnn_monitor monitor : {PMHMC_HNN_MONITOR_SURROGATE, PMHMC_HNN_MONITOR_TRUE}) {
        SCOPED_TRACE(monitor == PMHMC_HNN_MONITOR_TRUE ? "true monitor" : "surrogate monitor");
        pmhmc_sampler_config cfg = hnn_nuts_config(net.get(), PMHMC_HNN_ACCEPT_SURROGATE, 300, 4000, 13);
        cfg.monitor = monitor;
        NutsRun r = run_hnn_nuts(model.get(), cfg);
        ASSERT_EQ(r.x[0].size(), cfg.iterations);
        EXPECT_EQ(r.fallbacks, 0u);
        // Warm-up's trial step sizes may trip the monitor (its threshold is
        // far below the divergence one); a cooldown begun then may run into
        // the first saved draws, no further.
        for (size_t i = cfg.cooldown; i < r.surrogate.size(); ++i)
            ASSERT_EQ(r.surrogate[i], 1) << "draw " << i;
        for (int k = 0; k < 2; ++k)
            expect_moments(r.x[k], mean[k], cov[3 * k], k ? "theta2" : "theta1");
    }
}

// Exact mode's stop: a trajectory whose surrogate energies spread over more
// than max_error ends as a divergence, at the first doubling when the bound
// is below any leapfrog error.
TEST(HnnNuts, ExactModeEndsTreesWhoseEnergiesSpreadTooWide)
{
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Backend backend = cpu_backend();
    Mlp net = random_network(PMHMC_MLP_POTENTIAL, 2, 1);
    pmhmc_sampler_config cfg = hnn_nuts_config(net.get(), PMHMC_HNN_ACCEPT_EXACT, 0, 50, 3);
    cfg.adapt.engaged = 0;
    cfg.step_size = 0.05;
    cfg.max_error = 1e-12;
    pmhmc_sampler *raw = nullptr;
    ASSERT_PMHMC_OK(pmhmc_sampler_create(c.model.get(), backend.get(), &cfg, nullptr, &raw, nullptr));
    Sampler s(raw);
    for (int it = 0; it < 50; ++it) {
        pmhmc_draw d{};
        ASSERT_PMHMC_OK(pmhmc_sampler_step(s.get(), &d));
        EXPECT_EQ(d.divergent, 1);
        EXPECT_EQ(d.treedepth, 1u);
        EXPECT_EQ(d.n_leapfrog, 1u);
        EXPECT_GT(d.surrogate_error, 1e-12);
    }
    cfg.max_error = 1e6; // out of reach: trees end on U-turns
    ASSERT_PMHMC_OK(pmhmc_sampler_create(c.model.get(), backend.get(), &cfg, nullptr, &raw, nullptr));
    Sampler wide(raw);
    size_t divergent = 0;
    for (int it = 0; it < 50; ++it) {
        pmhmc_draw d{};
        ASSERT_PMHMC_OK(pmhmc_sampler_step(wide.get(), &d));
        divergent += d.divergent;
    }
    EXPECT_EQ(divergent, 0u);
}

TEST(HnnNuts, ConfigurationsThatCannotWorkAreRefused)
{
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Backend backend = cpu_backend();
    Mlp net = random_network(PMHMC_MLP_POTENTIAL, 2, 1);
    pmhmc_sampler_config cfg = hnn_nuts_config(net.get(), PMHMC_HNN_ACCEPT_EXACT, 0, 1, 1);
    cfg.monitor = PMHMC_HNN_MONITOR_TRUE;
    pmhmc_sampler *raw = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_sampler_create(c.model.get(), backend.get(), &cfg, nullptr, &raw, &err), PMHMC_ERR_CONFIG);
    EXPECT_NE(std::string(err.message).find("hnn.monitor = true"), std::string::npos) << err.message;
    cfg.monitor = PMHMC_HNN_MONITOR_SURROGATE;
    cfg.max_error = 0.0;
    EXPECT_EQ(pmhmc_sampler_create(c.model.get(), backend.get(), &cfg, nullptr, &raw, &err), PMHMC_ERR_CONFIG);
    EXPECT_NE(std::string(err.message).find("hnn.max_error"), std::string::npos) << err.message;
    EXPECT_EQ(raw, nullptr);
}

class HnnNutsCli : public CliTest {};

// pmhmc sample with hnn_nuts: the columns, the end-of-run line on fallbacks
// and cooldown (its counts agree with the draws files' columns), and the
// report's surrogate section.
TEST_F(HnnNutsCli, SampleCountsFallbacksAndTheReportShowsThem)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "30", "--n", "5", "--out", "sim"}).rc, 0);
    Mlp net = random_network(PMHMC_MLP_POTENTIAL, 2, 11);
    const char *names[2] = {"mu", "log_tau"};
    ASSERT_EQ(pmhmc_mlp_save(net.get(), (dir_ / "net.safetensors").c_str(), names, 2, nullptr), PMHMC_OK);
    std::ofstream(dir_ / "run.ini") << ("[model]\nname = normal_re\ndata = sim/data.csv\nN = 8\n"
                                        "[sampler]\nalgorithm = hnn_nuts\nwarmup = 0\niterations = 200\nchains = 1\n"
                                        "step_size = 0.1\nbackend = cpu\n"
                                        "[hnn]\nweights = net.safetensors\naccept = surrogate\nmonitor = true\n"
                                        "max_error = 2\ncooldown = 3\n"
                                        "[output]\nfile = d.csv\nrefresh = 0\n");
    Result r = run({"sample", "run.ini"});
    ASSERT_EQ(r.rc, 0) << r.err;
    const std::string draws = read_text(dir_ / "d.csv");
    EXPECT_NE(draws.find("lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,surrogate__,"
                         "fallback__,monitor_error__,n_estimator__,n_gradient__,accepted__,mu"),
              std::string::npos);
    size_t fallbacks = 0, cooldown = 0, col = 0;
    bool header = false;
    for (const std::string &line : lines_of(draws)) {
        if (line.empty() || line[0] == '#')
            continue;
        std::vector<std::string> cells;
        std::stringstream ss(line);
        for (std::string cell; std::getline(ss, cell, ',');)
            cells.push_back(cell);
        if (!header) {
            header = true;
            while (col < cells.size() && cells[col] != "surrogate__")
                ++col;
            ASSERT_LT(col + 1, cells.size());
            continue;
        }
        cooldown += cells[col] == "0";
        fallbacks += cells[col + 1] == "1";
    }
    EXPECT_GT(fallbacks, 0u);
    const std::string line = "surrogate: " + std::to_string(fallbacks) + " trees left it (hnn.monitor = true, "
                             "hnn.max_error = 2); " + std::to_string(cooldown) + " of 200 transitions";
    EXPECT_NE(r.out.find(line), std::string::npos) << r.out;
    const std::string page = read_text(dir_ / "d.html");
    EXPECT_EQ(pmhmc_xml_check::xml_problem(page), "");
    EXPECT_NE(page.find("<h2>Surrogate</h2>"), std::string::npos);
    EXPECT_NE(page.find("net.safetensors"), std::string::npos);
    EXPECT_NE(page.find("monitor_error__ (trace, per chain)"), std::string::npos);
    EXPECT_NE(page.find("Its training log <code>net_log.csv</code> could not be read"), std::string::npos);

    Result bad = run({"sample", "run.ini", "hnn.accept=exact"});
    EXPECT_NE(bad.rc, 0);
    EXPECT_NE(bad.err.find("hnn.monitor = true cannot be used with hnn.accept = exact"), std::string::npos) << bad.err;
}
