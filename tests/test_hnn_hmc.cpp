// HNN-HMC through the public sampler API (DESIGN §5, issue 6): exact mode
// samples the true posterior even with a deliberately poor (untrained,
// random) network, surrogate mode with the same network visibly does not,
// and the surrogate integrator's energy error shrinks at its order.
//
// Independent answer: the normal_re posterior by quadrature
// (sampler_support.h); MCSE from Geyer's ESS (test_support.h).
#include <cmath>
#include <fstream>
#include <vector>

#include "cli_support.h"
#include "hnn/mlp_io.h"
#include "hnn_sampler_support.h"
#include "hnn_support.h"
#include "sampler_support.h"
#include "test_support.h"
#include "xml_check.h"

using namespace pmhmc_test;
using namespace pmhmc_cli_test;

namespace {

// Unit-free step: M = diag(1 / posterior variance), so a momentum draw moves
// theta by about h L posterior sd (one here) whatever the network says.
pmhmc_sampler_config hnn_config(const pmhmc_mlp *net, pmhmc_hnn_accept accept, const std::vector<double> &mass,
                                size_t warmup, size_t iterations)
{
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.algorithm = PMHMC_ALGORITHM_HNN_HMC;
    cfg.hnn = net;
    cfg.hnn_accept = accept;
    cfg.cn_angle = 0.5;
    cfg.step_size = 0.25;
    cfg.steps = 4;
    cfg.mass_diag = mass.data();
    cfg.warmup = warmup;
    cfg.iterations = iterations;
    cfg.seed = stream_seed(7);
    return cfg;
}

} // namespace

// The network is made poor where it matters: U~ varies by several units
// (gain 4) over features half a posterior sd wide, so the surrogate test
// alone would favour its random valleys; only the exact test's U~(theta*) -
// U~(theta) term removes that preference (without it this test fails).
namespace {

void exact_mode_with_an_untrained_network_matches_quadrature(pmhmc_backend *backend)
{
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Mlp net = poor_network(c, 4.0);
    ASSERT_TRUE(net);
    std::vector<double> mass = {1.0 / c.exact.var[0], 1.0 / c.exact.var[1]};
    // Four chains of 20000: one chain's ESS has a long lower tail with this
    // network (one chain of 80000: ESS of mu ~670, but 133 once in 20
    // streams); four chains' sum a short one. They start at the posterior
    // mean, inside the surrogate's walls (8 of its input sds, here 4
    // posterior sds, from the centre): from the model's default start, 7
    // posterior sds off, the exact test weighs every move inwards by
    // exp(-W) of the start and one chain in 20 took thousands of transitions
    // to get in (the pipeline starts from the pilot's draws).
    std::vector<std::vector<double>> x[2];
    size_t accepted = 0, draws = 0;
    for (uint32_t chain = 0; chain < 4; ++chain) {
        pmhmc_sampler_config cfg = hnn_config(net.get(), PMHMC_HNN_ACCEPT_EXACT, mass, 500, 20000);
        cfg.chain = chain;
        pmhmc_sampler *raw = nullptr;
        pmhmc_error err{};
        ASSERT_EQ(pmhmc_sampler_create(c.model.get(), backend, &cfg, c.exact.mean, &raw, &err), PMHMC_OK)
            << err.message;
        Sampler s(raw);
        std::vector<double> chain_x[2];
        for (size_t it = 0; it < cfg.warmup + cfg.iterations; ++it) {
            pmhmc_draw draw{};
            ASSERT_PMHMC_OK(pmhmc_sampler_step(s.get(), &draw));
            if (draw.warmup)
                continue;
            // One estimator evaluation at most (when the proposal reached
            // the exact test), and a move only through it.
            ASSERT_LE(draw.n_estimates, 1u);
            if (draw.accepted) {
                ASSERT_EQ(draw.n_estimates, 1u);
            }
            accepted += draw.accepted;
            ++draws;
            ASSERT_TRUE(std::isfinite(draw.lp));
            for (int k = 0; k < 2; ++k)
                chain_x[k].push_back(draw.theta[k]);
        }
        for (int k = 0; k < 2; ++k) {
            ::testing::Test::RecordProperty("chain" + std::to_string(chain) + "_" + std::to_string(k),
                                            sci(mean_of(chain_x[k])) + " var " + sci(variance_of(chain_x[k])) +
                                                " min " + sci(*std::min_element(chain_x[k].begin(), chain_x[k].end())) +
                                                " max " + sci(*std::max_element(chain_x[k].begin(), chain_x[k].end())));
            x[k].push_back(chain_x[k]);
        }
    }
    // The random network still proposes moves the exact test takes often
    // enough for the moments below to mean something.
    EXPECT_GT((double)accepted / (double)draws, 0.1);
    const char *names[2] = {"mu", "log_tau"};
    for (int k = 0; k < 2; ++k) {
        // 5% of an sd (an ESS of 400): precise enough that a wrong target
        // would show.
        double ess = expect_pooled_moments(x[k], c.exact.mean[k], c.exact.var[k], names[k], 0.05);
        ::testing::Test::RecordProperty(std::string(names[k]) + "_ess", sci(ess));
    }
}

} // namespace

TEST(HnnHmc, ExactModeWithAnUntrainedNetworkMatchesQuadrature)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = cpu_backend();
    exact_mode_with_an_untrained_network_matches_quadrature(backend.get());
}

// The same with the estimator on the GPU (the surrogate stays on the host).
TEST(HnnHmc, ExactModeWithAnUntrainedNetworkMatchesQuadratureOnCuda)
{
    SKIP_WITHOUT_GPU();
    for_each_cuda_precision(exact_mode_with_an_untrained_network_matches_quadrature);
}

// The guard that the test above can tell the modes apart: the same network
// accepted on H~ alone samples exp(-U~), which is nothing like the
// posterior. Far off means more than 5 posterior sd from the quadrature mean
// or a variance off by a factor over 5 for some parameter.
TEST(HnnHmc, SurrogateModeWithTheSameNetworkIsVisiblyWrong)
{
    ThreadCountGuard guard;
    set_threads(1);
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Mlp net = random_network(PMHMC_MLP_POTENTIAL, 2, 11);
    ASSERT_TRUE(net);
    std::vector<double> mass = {1.0 / c.exact.var[0], 1.0 / c.exact.var[1]};
    pmhmc_sampler_config cfg = hnn_config(net.get(), PMHMC_HNN_ACCEPT_SURROGATE, mass, 500, 5000);
    Backend backend = cpu_backend();
    Chain chain = run_chain(c.model.get(), backend.get(), cfg, nullptr);
    ASSERT_EQ(chain.theta.size(), cfg.iterations);
    const std::vector<double> x[2] = {column(chain, 0), column(chain, 1)};
    EXPECT_GT(how_wrong(x, c.exact), 1.0);
}

// A parameter's column in draws files, one chain each.
std::vector<std::vector<double>> column_chains(const std::vector<fs::path> &files, const std::string &name)
{
    std::vector<std::vector<double>> chains;
    for (const fs::path &f : files) {
        long col = -1;
        std::vector<double> chain;
        for (const std::string &line : lines_of(read_text(f))) {
            if (line.empty() || line[0] == '#')
                continue;
            std::vector<std::string> cells;
            std::stringstream ss(line);
            for (std::string cell; std::getline(ss, cell, ',');)
                cells.push_back(cell);
            if (col < 0) {
                for (size_t j = 0; j < cells.size(); ++j)
                    if (cells[j] == name)
                        col = (long)j;
                if (col < 0)
                    return {};
                continue;
            }
            chain.push_back(std::stod(cells[(size_t)col]));
        }
        chains.push_back(chain);
    }
    return chains;
}

// The surrogate leapfrog's energy error over a fixed time h L: for the
// potential kind the step is PM-HMC's Strang step on a separable H~, second
// order, so halving h (and doubling L) divides it by 4; the latent kind's
// step (the source report's, derivatives taken where each half step starts)
// is not symmetric for a non-separable H~, but must still converge: at least
// first order, a ratio of 2 or more. The first transition's momentum is the
// same draw for every h (stream keyed by seed and iteration).
TEST(HnnHmc, SurrogateEnergyErrorShrinksWithTheStepSize)
{
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Backend backend = cpu_backend();
    for (pmhmc_mlp_kind kind : {PMHMC_MLP_POTENTIAL, PMHMC_MLP_LATENT}) {
        SCOPED_TRACE(kind == PMHMC_MLP_LATENT ? "latent" : "potential");
        Mlp net = random_network(kind, 2, 5);
        ASSERT_TRUE(net);
        std::vector<double> mass = {1.0, 1.0};
        double err_at[3];
        for (int r = 0; r < 3; ++r) {
            pmhmc_sampler_config cfg = hnn_config(net.get(), PMHMC_HNN_ACCEPT_SURROGATE, mass, 0, 1);
            cfg.step_size = 0.1 / (1 << r);
            cfg.steps = (size_t)10 << r;
            pmhmc_sampler *raw = nullptr;
            pmhmc_error err{};
            ASSERT_EQ(pmhmc_sampler_create(c.model.get(), backend.get(), &cfg, nullptr, &raw, &err), PMHMC_OK)
                << err.message;
            Sampler s(raw);
            pmhmc_draw draw{};
            ASSERT_PMHMC_OK(pmhmc_sampler_step(s.get(), &draw));
            EXPECT_EQ(draw.n_estimates, 0u); // surrogate mode never runs the estimator
            EXPECT_EQ(draw.n_leapfrog, cfg.steps);
            err_at[r] = std::fabs(draw.surrogate_error);
            ASSERT_GT(err_at[r], 0.0);
        }
        for (int r = 0; r < 2; ++r) {
            double ratio = err_at[r] / err_at[r + 1];
            if (kind == PMHMC_MLP_POTENTIAL)
                EXPECT_NEAR(ratio, 4.0, 0.4) << "h = " << 0.1 / (1 << r);
            else
                EXPECT_GT(ratio, 1.8) << "h = " << 0.1 / (1 << r);
        }
    }
}

TEST(HnnHmc, ConfigurationsThatCannotWorkAreRefused)
{
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Backend backend = cpu_backend();
    Mlp potential = random_network(PMHMC_MLP_POTENTIAL, 2, 1);
    Mlp latent = random_network(PMHMC_MLP_LATENT, 2, 1);
    Mlp wrong_size = random_network(PMHMC_MLP_POTENTIAL, 3, 1);
    std::vector<double> mass = {1.0, 1.0};
    struct Case {
        const pmhmc_mlp *net;
        pmhmc_hnn_accept accept;
        double angle;
        const char *what;
    } cases[] = {
        {nullptr, PMHMC_HNN_ACCEPT_EXACT, 0.1, "needs a network"},
        {latent.get(), PMHMC_HNN_ACCEPT_EXACT, 0.1, "needs a potential network"},
        {wrong_size.get(), PMHMC_HNN_ACCEPT_SURROGATE, 0.1, "takes 3 inputs"},
        {potential.get(), PMHMC_HNN_ACCEPT_EXACT, 0.0, "cn_angle"},
        {potential.get(), PMHMC_HNN_ACCEPT_EXACT, 1.6, "cn_angle"},
    };
    for (const Case &k : cases) {
        pmhmc_sampler_config cfg = hnn_config(k.net, k.accept, mass, 0, 1);
        cfg.cn_angle = k.angle;
        pmhmc_sampler *raw = nullptr;
        pmhmc_error err{};
        EXPECT_EQ(pmhmc_sampler_create(c.model.get(), backend.get(), &cfg, nullptr, &raw, &err), PMHMC_ERR_CONFIG)
            << k.what;
        EXPECT_EQ(raw, nullptr);
        EXPECT_NE(std::string(err.message).find(k.what), std::string::npos) << err.message;
    }
}

// The chain's whole state survives save and load: a sampler restored
// mid-run continues bit for bit (surrogate mode's lp__ comes from the saved
// state too).
TEST(HnnHmc, SavedStateContinuesBitIdentically)
{
    NormalReCase c;
    ASSERT_NO_FATAL_FAILURE(c.make());
    Backend backend = cpu_backend();
    Mlp net = random_network(PMHMC_MLP_POTENTIAL, 2, 3);
    std::vector<double> mass = {1.0 / c.exact.var[0], 1.0 / c.exact.var[1]};
    for (pmhmc_hnn_accept accept : {PMHMC_HNN_ACCEPT_EXACT, PMHMC_HNN_ACCEPT_SURROGATE}) {
        pmhmc_sampler_config cfg = hnn_config(net.get(), accept, mass, 30, 30);
        cfg.adapt.engaged = 1;
        pmhmc_sampler *a_raw = nullptr, *b_raw = nullptr;
        ASSERT_PMHMC_OK(pmhmc_sampler_create(c.model.get(), backend.get(), &cfg, nullptr, &a_raw, nullptr));
        ASSERT_PMHMC_OK(pmhmc_sampler_create(c.model.get(), backend.get(), &cfg, nullptr, &b_raw, nullptr));
        Sampler a(a_raw), b(b_raw);
        pmhmc_draw da{}, db{};
        for (int it = 0; it < 20; ++it)
            ASSERT_PMHMC_OK(pmhmc_sampler_step(a.get(), &da));
        std::vector<unsigned char> blob(pmhmc_sampler_state_size(a.get()));
        ASSERT_PMHMC_OK(pmhmc_sampler_save_state(a.get(), blob.data(), blob.size(), nullptr));
        ASSERT_PMHMC_OK(pmhmc_sampler_load_state(b.get(), blob.data(), blob.size(), nullptr));
        for (int it = 20; it < 60; ++it) {
            ASSERT_PMHMC_OK(pmhmc_sampler_step(a.get(), &da));
            ASSERT_PMHMC_OK(pmhmc_sampler_step(b.get(), &db));
            ASSERT_EQ(0, std::memcmp(da.theta, db.theta, 2 * sizeof(double))) << "iteration " << it;
            ASSERT_EQ(0, std::memcmp(&da.lp, &db.lp, sizeof(double))) << "iteration " << it;
            ASSERT_EQ(da.stepsize, db.stepsize);
        }
    }
}

class HnnHmcCli : public CliTest {};

// pmhmc pipeline on normal_re data with a well-identified tau: the three
// stages' files appear, the HNN-HMC draws carry their columns, start where
// the PM-NUTS chains ended and, in exact mode, sample the posterior the
// PM-NUTS pilot sampled: both runs' means and variances within 4.4 MCSE
// (family_z of these 8 checks; Geyer ESS per chain) of the quadrature
// posterior of the same data, with MCSEs under 0.2 sd. The network, trained for 40
// epochs on gradients carrying the estimator's noise, is a rough one: with
// Crank-Nicolson angle 0.1 (the default) u mixed so slowly that one chain in
// 12 streams accepted no proposal at all; at 0.5 the exact test accepts
// 12-17% and the ESS of 2 x 4000 draws was 28-480.
TEST_F(HnnHmcCli, PipelineRecordsTrainsAndSamplesTheSamePosterior)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "100", "--n", "5", "--mu", "1", "--tau", "0.8",
                   "--seed", "3", "--out", "sim"})
                  .rc,
              0);
    std::ofstream(dir_ / "run.ini") << ("[model]\nname = normal_re\ndata = sim/data.csv\nN = 16\n"
                                        "[sampler]\nalgorithm = hnn_hmc\nwarmup = 200\niterations = 4000\nsteps = 5\nchains = 2\n"
                                        "backend = cpu\nseed = " + std::to_string(stream_seed(1)) + "\n"
                                        "[hnn]\npilot_warmup = 150\npilot_iterations = 1500\ncollect_every = 4\n"
                                        "hidden = 32,32\nepochs = 40\nweights = out/net.safetensors\ncn_angle = 0.5\n"
                                        "[output]\nfile = out/d.csv\nrefresh = 0\nreport = false\n");
    Result pmnuts = run({"pipeline", "run.ini", "sampler.algorithm=pmnuts"});
    EXPECT_EQ(pmnuts.rc, 1);
    EXPECT_NE(pmnuts.err.find("sampler.algorithm"), std::string::npos) << pmnuts.err;
    // sampler.warmup on the command line is stage 3's (its value in the
    // config, so the draws are the config's); stage 1 takes
    // hnn.pilot_warmup in its place.
    Result r = run({"pipeline", "run.ini", "--quiet", "sampler.warmup=200"});
    ASSERT_EQ(r.rc, 0) << r.err << r.out;
    EXPECT_NE(read_text(dir_ / "out/d_pilot_1.csv").find("#   warmup = 150\n"), std::string::npos);
    EXPECT_NE(read_text(dir_ / "out/d_1.csv").find("#   warmup = 200\n"), std::string::npos);
    for (const char *stage : {"stage 1 of 3: PM-NUTS", "stage 2 of 3: training the potential network",
                              "stage 3 of 3: HNN-HMC (hnn.accept = exact)"})
        EXPECT_NE(r.out.find(stage), std::string::npos) << r.out;
    for (const char *f : {"out/d_pilot_1.csv", "out/d_pilot_2.csv", "out/d_records_1.bin", "out/d_records_2.bin",
                          "out/net.safetensors", "out/d_1.csv", "out/d_2.csv"})
        EXPECT_TRUE(fs::exists(dir_ / f)) << f;

    const std::string draws = read_text(dir_ / "out/d_1.csv");
    EXPECT_NE(draws.find("lp__,accept_stat__,stepsize__,int_time__,energy__,surrogate_error__,n_estimator__,accepted__,mu"),
              std::string::npos);
    EXPECT_NE(draws.find("  init = out/d_pilot.csv"), std::string::npos);
    // The chain starts at the pilot's last draw (init_jitter 0 in stage 3).
    {
        std::string last;
        for (const std::string &line : lines_of(read_text(dir_ / "out/d_pilot_1.csv")))
            if (!line.empty() && line[0] != '#')
                last = line;
        std::vector<std::string> cells;
        std::stringstream ss(last);
        for (std::string cell; std::getline(ss, cell, ',');)
            cells.push_back(cell);
        ASSERT_GE(cells.size(), 8u);
        EXPECT_NE(draws.find("# init = mu=" + cells[7].substr(0, 6)), std::string::npos)
            << "pilot's last mu " << cells[7];
    }
    // The report of the HNN-HMC draws shows the network's training curves,
    // read from the log beside the weights.
    Result page = run({"report", "out/d_1.csv", "out/d_2.csv", "-o", "out/r.html"});
    ASSERT_EQ(page.rc, 0) << page.err;
    const std::string html = read_text(dir_ / "out/r.html");
    EXPECT_EQ(pmhmc_xml_check::xml_problem(html), "");
    EXPECT_NE(html.find("Its training (from <code>out/net_log.csv</code>): "), std::string::npos);
    EXPECT_NE(html.find("log10 loss"), std::string::npos);
    EXPECT_NE(html.find("surrogate_error__ (trace, per chain)"), std::string::npos);

    size_t moved = 0;
    for (const auto &chain : column_chains({dir_ / "out/d_1.csv", dir_ / "out/d_2.csv"}, "accepted__"))
        for (double a : chain)
            moved += a == 1.0;
    EXPECT_GT(moved, 400u) << "a trained network's proposals pass the exact test (5% of 8000)";
    pmhmc_dataset *raw = nullptr; // the data `pmhmc simulate` wrote above
    ASSERT_PMHMC_OK(pmhmc_simulate_normal_re(100, 5, 1.0, 0.8, 3, &raw));
    Dataset data(raw);
    const Moments2 exact = normal_re_exact_moments(group_stats(grouped_from(data.get())), 100.0);
    const char *names[2] = {"mu", "log_tau"};
    for (int k = 0; k < 2; ++k) {
        for (const char *run : {"d", "d_pilot"}) {
            SCOPED_TRACE(std::string(names[k]) + " in " + run);
            const auto chains = column_chains({dir_ / "out" / (std::string(run) + "_1.csv"),
                                               dir_ / "out" / (std::string(run) + "_2.csv")},
                                              names[k]);
            ASSERT_EQ(chains.size(), 2u);
            ASSERT_EQ(chains[0].size(), std::string(run) == "d" ? 4000u : 1500u);
            const double ess =
                expect_pooled_moments(chains, exact.mean[k], exact.var[k], names[k], 0.2, family_z(8));
            ::testing::Test::RecordProperty(std::string(names[k]) + "_" + run + "_ess", sci(ess));
        }
    }
}

TEST_F(HnnHmcCli, BadSurrogateSettingsAreRefused)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "10", "--n", "3", "--out", "sim"}).rc, 0);
    std::ofstream(dir_ / "run.ini") << ("[model]\nname = normal_re\ndata = sim/data.csv\nN = 4\n"
                                        "[sampler]\nalgorithm = hnn_hmc\nwarmup = 5\niterations = 5\nchains = 1\n"
                                        "backend = cpu\n[hnn]\nweights = net.safetensors\n"
                                        "[output]\nfile = d.csv\nrefresh = 0\nreport = false\n");
    Result missing = run({"sample", "run.ini"});
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.err.find("hnn.weights"), std::string::npos) << missing.err;
    EXPECT_FALSE(fs::exists(dir_ / "d.csv"));

    std::ofstream(dir_ / "net.safetensors") << "not a safetensors file";
    Result garbage = run({"sample", "run.ini"});
    EXPECT_EQ(garbage.rc, 1);
    EXPECT_NE(garbage.err.find("hnn.weights"), std::string::npos) << garbage.err;

    // A network of another model (3 parameters), then a latent one in exact mode.
    Mlp other = random_network(PMHMC_MLP_POTENTIAL, 3, 1);
    ASSERT_EQ(pmhmc_mlp_save(other.get(), (dir_ / "net.safetensors").c_str(), nullptr, 0, nullptr), PMHMC_OK);
    Result wrong = run({"sample", "run.ini"});
    EXPECT_EQ(wrong.rc, 1);
    EXPECT_NE(wrong.err.find("takes 3 parameters"), std::string::npos) << wrong.err;
    Mlp latent = random_network(PMHMC_MLP_LATENT, 2, 1);
    ASSERT_EQ(pmhmc_mlp_save(latent.get(), (dir_ / "net.safetensors").c_str(), nullptr, 0, nullptr), PMHMC_OK);
    Result exact = run({"sample", "run.ini"});
    EXPECT_NE(exact.rc, 0);
    EXPECT_NE(exact.err.find("needs a potential network"), std::string::npos) << exact.err;
    EXPECT_FALSE(fs::exists(dir_ / "d.csv"));
    Result surrogate = run({"sample", "run.ini", "hnn.accept=surrogate"});
    EXPECT_EQ(surrogate.rc, 0) << surrogate.err;

    Result init = run({"sample", "run.ini", "hnn.accept=surrogate", "sampler.init=nowhere.csv"});
    EXPECT_EQ(init.rc, 1);
    EXPECT_NE(init.err.find("sampler.init"), std::string::npos) << init.err;
}
