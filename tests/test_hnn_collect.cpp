// HNN training data: the sampler's step observer, the file format
// (src/io/hnn_data.c) and `pmhmc sample` with hnn.collect.
//
// Independent answers: on the gaussian model every observed gradient is
// -Sigma^-1 (theta - mu) (its log p + log phat, DESIGN §5's target), and
// the number of observations is L per PM-HMC transition and n_leapfrog per
// PM-NUTS one; a file round-trips bit for bit; damaged files are refused.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli_support.h"
#include "hnn/mlp.h"
#include "hnn/mlp_io.h"
#include "hnn_support.h"
#include "io/hnn_data.h"
#include "models/gaussian.h"
#include "test_support.h"
#include "xml_check.h"

using namespace pmhmc_test;
using namespace pmhmc_cli_test;

namespace {

struct Seen {
    size_t n = 0;
    double worst = 0.0; // largest |grad - closed form| / (1 + |closed form|)
    double worst_sharp = 0.0;
    std::vector<double> inv_cov, mean;
};

void observe(void *ctx, const double *theta, const double *rho, const double *grad, const double *inv_mass)
{
    Seen *s = static_cast<Seen *>(ctx);
    s->n++;
    for (size_t i = 0; i < 2; ++i) {
        double want = 0.0;
        for (size_t j = 0; j < 2; ++j)
            want -= s->inv_cov[i * 2 + j] * (theta[j] - s->mean[j]);
        // relative: the step-size search's trial steps reach |theta| ~ 1e8
        s->worst = std::max(s->worst, std::fabs(grad[i] - want) / (1.0 + std::fabs(want)));
    }
    // the metric in use is positive (adaptation changes it during warm-up)
    for (size_t i = 0; i < 2; ++i)
        s->worst_sharp = std::max(s->worst_sharp, inv_mass[i] > 0.0 && std::isfinite(rho[i]) ? 0.0 : 1.0);
}

TEST(HnnCollect, ObserverSeesEveryGradientEvaluation)
{
    ThreadCountGuard guard;
    set_threads(1);
    const std::vector<double> mean = {1.0, -1.0}, cov = {2.0, 0.6, 0.6, 1.0};
    Model model = gaussian_model(2, mean, cov, 2, 4, 0.5);
    ASSERT_TRUE(model);
    Backend backend = cpu_backend();
    const double det = 2.0 * 1.0 - 0.6 * 0.6;
    for (pmhmc_algorithm algorithm : {PMHMC_ALGORITHM_PMHMC, PMHMC_ALGORITHM_PMNUTS}) {
        SCOPED_TRACE(algorithm == PMHMC_ALGORITHM_PMHMC ? "pmhmc" : "pmnuts");
        Seen seen;
        seen.mean = mean;
        seen.inv_cov = {1.0 / det, -0.6 / det, -0.6 / det, 2.0 / det};
        pmhmc_sampler_config cfg = nuts_test_config(50, 100, 3);
        cfg.algorithm = algorithm;
        cfg.steps = 7;
        cfg.step_size = 0.2;
        pmhmc_sampler *s_raw = nullptr;
        pmhmc_error err{};
        ASSERT_EQ(pmhmc_sampler_create(model.get(), backend.get(), &cfg, nullptr, &s_raw, &err), PMHMC_OK) << err.message;
        Sampler s(s_raw);
        pmhmc_sampler_set_observer(s.get(), observe, &seen);
        size_t expected = 0, searches = 0;
        for (size_t it = 0; it < cfg.warmup + cfg.iterations; ++it) {
            pmhmc_draw d{};
            const size_t before = seen.n;
            ASSERT_EQ(pmhmc_sampler_step(s.get(), &d), PMHMC_OK);
            expected += d.n_leapfrog;
            searches += seen.n - before != d.n_leapfrog; // a metric window's step-size search
        }
        EXPECT_GE(seen.n, expected);
        EXPECT_LE(searches, 5u) << "only the transitions that end a metric window add search steps";
        if (algorithm == PMHMC_ALGORITHM_PMHMC && !cfg.adapt.engaged) {
            EXPECT_EQ(seen.n, expected);
        }
        EXPECT_LT(seen.worst, 1e-12) << "the observed gradient is log p + log phat's";
        EXPECT_EQ(seen.worst_sharp, 0.0);
    }
}

TEST(HnnData, RoundTripAndRefusals)
{
    const std::string dir = ::testing::TempDir() + "hnn_data_" + std::to_string(getpid());
    ASSERT_EQ(system(("mkdir -p " + dir).c_str()), 0);
    const std::string path = dir + "/d.bin";
    const char *names[2] = {"a", "bee"};
    const double theta[2] = {0.5, -1.25}, rho[2] = {2.0, 3.0}, grad[2] = {-0.1, 7.0}, inv_mass[2] = {0.5, 4.0};
    {
        FILE *f = fopen(path.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        ASSERT_EQ(pmhmc_hnn_data_write_header(f, 2, names), 0);
        for (int k = 0; k < 3; ++k)
            ASSERT_EQ(pmhmc_hnn_data_write_record(f, 2, theta, rho, grad, inv_mass), 0);
        fclose(f);
    }
    pmhmc_hnn_data *d = nullptr;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_hnn_data_read(path.c_str(), &d, &err), PMHMC_OK) << err.message;
    EXPECT_EQ(d->dim, 2u);
    EXPECT_EQ(d->n, 3u);
    EXPECT_STREQ(d->names[1], "bee");
    for (size_t k = 0; k < 3; ++k)
        for (size_t i = 0; i < 2; ++i) {
            EXPECT_EQ(d->theta[k * 2 + i], theta[i]);
            EXPECT_EQ(d->rho[k * 2 + i], rho[i]);
            EXPECT_EQ(d->grad[k * 2 + i], grad[i]);
            EXPECT_EQ(d->rho_sharp[k * 2 + i], inv_mass[i] * rho[i]);
        }
    pmhmc_hnn_data_free(d);

    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto refused = [&](const std::string &image, const char *why) {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << image;
        pmhmc_hnn_data *bad = nullptr;
        pmhmc_error e{};
        EXPECT_NE(pmhmc_hnn_data_read(path.c_str(), &bad, &e), PMHMC_OK) << why;
        EXPECT_EQ(bad, nullptr);
        EXPECT_NE(std::string(e.message).find(path), std::string::npos) << e.message;
        EXPECT_NE(std::string(e.message).find(why), std::string::npos) << e.message;
    };
    refused("", "PMHNNDAT");
    refused("not a data file at all", "PMHNNDAT");
    refused(bytes.substr(0, 14), "truncated");
    refused(bytes.substr(0, bytes.size() - 5), "last record is truncated");
    std::string v = bytes;
    v[8] = 9;
    refused(v, "version 9");
    std::string header_only = bytes.substr(0, bytes.size() - 3 * 64);
    refused(header_only, "no records");
    std::string nan = bytes;
    const double bad_value = NAN;
    std::memcpy(&nan[header_only.size() + 8], &bad_value, sizeof bad_value);
    refused(nan, "non-finite");
    const size_t record = 4 * 2 * sizeof(double);
    for (size_t cut = 0; cut < bytes.size(); ++cut) { // never a crash; refused unless whole records remain
        std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, cut);
        pmhmc_hnn_data *got = nullptr;
        pmhmc_error e{};
        const bool whole = cut > header_only.size() && (cut - header_only.size()) % record == 0;
        EXPECT_EQ(pmhmc_hnn_data_read(path.c_str(), &got, &e) == PMHMC_OK, whole) << cut << ": " << e.message;
        if (got) {
            EXPECT_EQ(got->n, (cut - header_only.size()) / record);
        }
        pmhmc_hnn_data_free(got);
    }
}

class HnnCollectCli : public CliTest {};

TEST_F(HnnCollectCli, SampleWritesOneFilePerChainWithEveryStep)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "15", "--n", "3", "--out", "sim"}).rc, 0);
    std::ofstream(dir_ / "run.ini") << ("[model]\nname = normal_re\ndata = sim/data.csv\nN = 8\n"
                                 "[sampler]\nalgorithm = pmhmc\nwarmup = 10\niterations = 20\nsteps = 5\n"
                                 "step_size = 0.1\nmass = 2\nchains = 2\nbackend = cpu\n"
                                 "[output]\nfile = out/d.csv\nrefresh = 0\nreport = false\n");
    Result r = run({"sample", "run.ini", "hnn.collect=out/grads.bin"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("hnn.collect: 300 training records written to out/grads_1.bin .. out/grads_2.bin"),
              std::string::npos)
        << r.out;
    for (const char *name : {"out/grads_1.bin", "out/grads_2.bin"}) {
        pmhmc_hnn_data *d = nullptr;
        pmhmc_error err{};
        ASSERT_EQ(pmhmc_hnn_data_read((dir_ / name).c_str(), &d, &err), PMHMC_OK) << err.message;
        EXPECT_EQ(d->n, 30u * 5u) << "L = 5 gradient evaluations per transition, warm-up included";
        EXPECT_EQ(d->dim, 2u);
        EXPECT_STREQ(d->names[0], "mu");
        for (size_t k = 0; k < d->n * d->dim; ++k)
            EXPECT_EQ(d->rho_sharp[k], d->rho[k] / 2.0) << "M = 2 I";
        pmhmc_hnn_data_free(d);
    }
    // sampling only, every other evaluation; the draws do not change
    Result again = run({"sample", "run.ini", "hnn.collect=out/g.bin", "hnn.collect_warmup=false",
                        "hnn.collect_every=2", "output.file=out/e.csv"});
    ASSERT_EQ(again.rc, 0) << again.err;
    pmhmc_hnn_data *d = nullptr;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_hnn_data_read((dir_ / "out/g_1.bin").c_str(), &d, &err), PMHMC_OK) << err.message;
    EXPECT_EQ(d->n, 20u * 5u / 2u);
    pmhmc_hnn_data_free(d);
    auto rows = [&](const char *f) {
        std::string s;
        for (const auto &l : lines_of(read_text(dir_ / f)))
            if (l[0] != '#')
                s += l + "\n";
        return s;
    };
    EXPECT_EQ(rows("out/d_1.csv"), rows("out/e_1.csv")) << "watching does not change the chain";

    Result clash = run({"sample", "run.ini", "hnn.collect=out/d.csv", "sampler.chains=1"});
    EXPECT_EQ(clash.rc, 1);
    EXPECT_NE(clash.err.find("hnn.collect"), std::string::npos) << clash.err;
    Result ckpt = run({"sample", "run.ini", "hnn.collect=out/x.bin", "output.checkpoint=out/c.ckpt"});
    EXPECT_EQ(ckpt.rc, 1);
    EXPECT_NE(ckpt.err.find("cannot be combined with output.checkpoint"), std::string::npos) << ckpt.err;
}

} // namespace

namespace {

// pmhmc train on what sample collected: the weights load back with the
// config's architecture and the parameter names, the log has one row per
// epoch run, and the potential network's gradient is what training saw.
TEST_F(HnnCollectCli, TrainWritesWeightsAndALogFromCollectedRecords)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "15", "--n", "3", "--out", "sim"}).rc, 0);
    std::ofstream(dir_ / "run.ini") << ("[model]\nname = normal_re\ndata = sim/data.csv\nN = 8\n"
                                        "[sampler]\nalgorithm = pmhmc\nwarmup = 20\niterations = 40\nsteps = 5\n"
                                        "step_size = 0.1\nmass = 2\nchains = 2\nbackend = cpu\n"
                                        "[hnn]\ncollect = out/grads.bin\nhidden = 16,16\nepochs = 30\nbatch = 32\n"
                                        "weights = out/net.safetensors\n"
                                        "[output]\nfile = out/d.csv\nrefresh = 0\nreport = false\n");
    Result s = run({"sample", "run.ini"});
    ASSERT_EQ(s.rc, 0) << s.err;
    Result t = run({"train", "run.ini"});
    ASSERT_EQ(t.rc, 0) << t.err;
    EXPECT_NE(t.out.find("600 records from 2 files; potential network"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("weights: written to out/net.safetensors"), std::string::npos) << t.out;

    pmhmc_mlp *raw = nullptr;
    char **names = nullptr;
    size_t n_names = 0;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_mlp_load((dir_ / "out/net.safetensors").c_str(), &raw, &names, &n_names, &err), PMHMC_OK)
        << err.message;
    Mlp mlp(raw);
    EXPECT_EQ(mlp->spec.kind, PMHMC_MLP_POTENTIAL);
    EXPECT_EQ(mlp->spec.n_in, 2u);
    EXPECT_EQ(mlp->spec.n_hidden, 2u);
    EXPECT_EQ(mlp->spec.width[1], 16u);
    ASSERT_EQ(n_names, 2u);
    EXPECT_STREQ(names[0], "mu");
    EXPECT_STREQ(names[1], "log_tau");
    pmhmc_mlp_free_param_names(names, n_names);

    auto log = lines_of(read_text(dir_ / "out/net_log.csv"));
    ASSERT_GE(log.size(), 2u);
    EXPECT_EQ(log[0], "epoch,learning_rate,train_loss,val_loss,val_grad_error");
    EXPECT_LE(log.size() - 1, 30u);
    EXPECT_EQ(log[1].rfind("1,0.001,", 0), 0u) << log[1];

    // The page: well-formed XHTML with the two curves.
    EXPECT_NE(t.out.find("training page: written to out/net.html"), std::string::npos) << t.out;
    const std::string page = read_text(dir_ / "out/net.html");
    EXPECT_EQ(pmhmc_xml_check::xml_problem(page), "");
    size_t svgs = 0;
    for (size_t at = page.find("<svg"); at != std::string::npos; at = page.find("<svg", at + 1))
        ++svgs;
    EXPECT_EQ(svgs, 2u);
    EXPECT_NE(page.find("log10 loss"), std::string::npos);

    // The same config gives the same bits.
    Result again = run({"train", "run.ini", "hnn.weights=out/net2.safetensors"});
    ASSERT_EQ(again.rc, 0) << again.err;
    EXPECT_EQ(read_text(dir_ / "out/net.safetensors"), read_text(dir_ / "out/net2.safetensors"));

    Result none = run({"train", "run.ini", "hnn.collect="});
    EXPECT_EQ(none.rc, 1);
    EXPECT_NE(none.err.find("hnn.collect"), std::string::npos) << none.err;
    Result missing = run({"train", "run.ini", "hnn.collect=out/nothing.bin"});
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.err.find("out/nothing_1.bin"), std::string::npos) << missing.err;
    Result widths = run({"train", "run.ini", "hnn.hidden=16.5"});
    EXPECT_EQ(widths.rc, 1);
    EXPECT_NE(widths.err.find("hnn.hidden"), std::string::npos) << widths.err;
}

} // namespace

namespace {

// Records from a divergent trajectory (gradients a million times the rest)
// are left out of training by hnn.outlier_factor, and kept with 0.
TEST_F(HnnCollectCli, TrainLeavesOutRecordsWithOutlyingGradients)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "10", "--n", "3", "--out", "sim"}).rc, 0);
    {
        FILE *f = std::fopen((dir_ / "rec.bin").c_str(), "wb");
        ASSERT_NE(f, nullptr);
        const char *names[2] = {"mu", "log_tau"};
        ASSERT_EQ(pmhmc_hnn_data_write_header(f, 2, names), 0);
        TestRng rng(5);
        for (int r = 0; r < 200; ++r) {
            double theta[2] = {rng.normal(), rng.normal()}, rho[2] = {rng.normal(), rng.normal()};
            double scale = r % 50 == 7 ? 1e6 : 1.0; // 4 outliers
            double grad[2] = {-scale * theta[0], -scale * theta[1]};
            ASSERT_EQ(pmhmc_hnn_data_write_record(f, 2, theta, rho, grad, rho), 0);
        }
        std::fclose(f);
    }
    std::ofstream(dir_ / "run.ini") << ("[model]\nname = normal_re\ndata = sim/data.csv\n"
                                        "[sampler]\nchains = 1\nbackend = cpu\n"
                                        "[hnn]\ncollect = rec.bin\nhidden = 8\nepochs = 3\nweights = net.safetensors\n");
    Result t = run({"train", "run.ini"});
    ASSERT_EQ(t.rc, 0) << t.err;
    EXPECT_NE(t.out.find("196 records from 1 file"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("4 records left out: a gradient over hnn.outlier_factor = 100 times the median"),
              std::string::npos)
        << t.out;
    Result all = run({"train", "run.ini", "hnn.outlier_factor=0"});
    ASSERT_EQ(all.rc, 0) << all.err;
    EXPECT_NE(all.out.find("200 records from 1 file"), std::string::npos) << all.out;
    EXPECT_EQ(all.out.find("left out"), std::string::npos) << all.out;
}

} // namespace
