// Checkpoint and resume: a chain's state saved and loaded through the
// library (the loaded sampler steps exactly as the saved one), and
// `pmhmc sample` interrupted at several points (in-process SIGTERM/SIGINT
// through the test hook PMHMC_TEST_STOP_AT_ITERATION, and a real SIGTERM
// from outside), resumed, and compared byte for byte with an uninterrupted
// run; damaged and foreign checkpoints refused.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "cli_support.h"
#include "test_support.h"

extern "C" {
#include "io/checkpoint.h"
}

using namespace pmhmc_test;
using namespace pmhmc_cli_test;

namespace {

// ---- the library: save, load, step on ------------------------------------------

struct Step {
    double lp, accept_stat, energy;
    int accepted;
    std::vector<double> theta;
};

Step step(pmhmc_sampler *s, size_t dim)
{
    pmhmc_draw d;
    EXPECT_EQ(pmhmc_sampler_step(s, &d), PMHMC_OK);
    return {d.lp, d.accept_stat, d.energy, d.accepted, std::vector<double>(d.theta, d.theta + dim)};
}

Dataset glmm_data(size_t T, uint64_t seed)
{
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.T = T;
    sim.p = 2;
    sim.seed = seed;
    pmhmc_dataset *raw = nullptr;
    EXPECT_EQ(pmhmc_simulate_glmm(&sim, &raw, nullptr), PMHMC_OK);
    return Dataset(raw);
}

Sampler make_sampler(const pmhmc_model *m, pmhmc_backend *b, uint64_t seed)
{
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.warmup = 5;
    cfg.iterations = 20;
    cfg.steps = 4;
    cfg.step_size = 0.05;
    cfg.seed = seed;
    cfg.chain = 1;
    pmhmc_sampler *s = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_sampler_create(m, b, &cfg, nullptr, &s, &err), PMHMC_OK) << err.message;
    return Sampler(s);
}

TEST(SamplerState, LoadedSamplerStepsBitForBitAsTheSavedOne)
{
    Dataset data = glmm_data(30, 3);
    Model model = make_model("glmm", data.get(), 16);
    Backend backend = cpu_backend();
    const size_t dim = pmhmc_model_dim(model.get());
    Sampler a = make_sampler(model.get(), backend.get(), 21);
    for (int i = 0; i < 7; ++i)
        step(a.get(), dim);
    size_t bytes = pmhmc_sampler_state_size(a.get());
    ASSERT_GT(bytes, pmhmc_model_aux_size(model.get()) * sizeof(double));
    std::vector<unsigned char> blob(bytes);
    pmhmc_error err{};
    ASSERT_PMHMC_OK(pmhmc_sampler_save_state(a.get(), blob.data(), blob.size(), &err));

    Sampler b = make_sampler(model.get(), backend.get(), 21); // fresh: at iteration 0
    ASSERT_EQ(pmhmc_sampler_iteration(b.get()), 0u);
    ASSERT_PMHMC_OK(pmhmc_sampler_load_state(b.get(), blob.data(), blob.size(), &err));
    EXPECT_EQ(pmhmc_sampler_iteration(b.get()), 7u);
    int accepted = 0;
    for (int i = 0; i < 15; ++i) {
        Step x = step(a.get(), dim), y = step(b.get(), dim);
        accepted += x.accepted;
        ASSERT_EQ(0, std::memcmp(&x.lp, &y.lp, sizeof x.lp)) << "step " << i;
        ASSERT_EQ(0, std::memcmp(&x.energy, &y.energy, sizeof x.energy)) << "step " << i;
        ASSERT_EQ(0, std::memcmp(&x.accept_stat, &y.accept_stat, sizeof x.accept_stat)) << "step " << i;
        ASSERT_EQ(x.accepted, y.accepted);
        ASSERT_EQ(0, std::memcmp(x.theta.data(), y.theta.data(), dim * sizeof(double))) << "step " << i;
    }
    EXPECT_GT(accepted, 0); // the chain moves, so the comparison means something
}

TEST(SamplerState, ForeignOrDamagedStateIsRefusedAndChangesNothing)
{
    Dataset data = glmm_data(30, 3), bigger = glmm_data(31, 3);
    Model model = make_model("glmm", data.get(), 16), other = make_model("glmm", bigger.get(), 16);
    Backend backend = cpu_backend();
    const size_t dim = pmhmc_model_dim(model.get());
    Sampler a = make_sampler(model.get(), backend.get(), 21);
    step(a.get(), dim);
    std::vector<unsigned char> blob(pmhmc_sampler_state_size(a.get()));
    pmhmc_error err{};
    ASSERT_PMHMC_OK(pmhmc_sampler_save_state(a.get(), blob.data(), blob.size(), &err));
    EXPECT_EQ(pmhmc_sampler_save_state(a.get(), blob.data(), blob.size() - 1, &err), PMHMC_ERR_ARG);

    // More groups: the same parts, but u is longer.
    Sampler c = make_sampler(other.get(), backend.get(), 21);
    err = {};
    EXPECT_EQ(pmhmc_sampler_load_state(c.get(), blob.data(), blob.size(), &err), PMHMC_ERR_CONFIG);
    EXPECT_TRUE(contains(err.message, "workspace vector")) << err.message;

    Sampler b = make_sampler(model.get(), backend.get(), 21);
    err = {};
    EXPECT_EQ(pmhmc_sampler_load_state(b.get(), blob.data(), blob.size() - 3, &err), PMHMC_ERR_PARSE);
    EXPECT_TRUE(contains(err.message, "truncated")) << err.message;
    std::vector<unsigned char> bad = blob;
    bad[0] ^= 0x20;
    EXPECT_EQ(pmhmc_sampler_load_state(b.get(), bad.data(), bad.size(), &err), PMHMC_ERR_PARSE);
    bad = blob;
    bad[16 + 4] ^= 0x01; // the first part's name
    err = {};
    EXPECT_EQ(pmhmc_sampler_load_state(b.get(), bad.data(), bad.size(), &err), PMHMC_ERR_CONFIG);
    EXPECT_TRUE(contains(err.message, "part 1")) << err.message;
    // Refused loads left b at its start: it steps as a fresh sampler does.
    EXPECT_EQ(pmhmc_sampler_iteration(b.get()), 0u);
    Sampler fresh = make_sampler(model.get(), backend.get(), 21);
    Step x = step(fresh.get(), dim), y = step(b.get(), dim);
    EXPECT_EQ(0, std::memcmp(x.theta.data(), y.theta.data(), dim * sizeof(double)));
}

// ---- the file format ------------------------------------------------------------

TEST(CheckpointFile, FingerprintComparisonNamesTheKey)
{
    char why[256];
    EXPECT_EQ(pmhmc_checkpoint_compare("a = 1\nb = 2\n", "a = 1\nb = 2\n", why, sizeof why), 0);
    ASSERT_NE(pmhmc_checkpoint_compare("a = 1\nb = 2\n", "a = 1\nb = 3\n", why, sizeof why), 0);
    EXPECT_STREQ(why, "b is '3' in this run but '2' in the checkpoint");
    ASSERT_NE(pmhmc_checkpoint_compare("a = 1\nb = 2\n", "a = 1\n", why, sizeof why), 0);
    EXPECT_STREQ(why, "b is unset in this run but '2' in the checkpoint");
    ASSERT_NE(pmhmc_checkpoint_compare("a = 1\n", "a = 1\nc = x\n", why, sizeof why), 0);
    EXPECT_STREQ(why, "c is 'x' in this run but unset in the checkpoint");
}

// ---- the command ------------------------------------------------------------------

std::vector<std::string> without_timing(const std::string &text)
{
    std::vector<std::string> kept;
    for (const auto &line : lines_of(text))
        if (!(line.rfind("#", 0) == 0 && (contains(line, "seconds") || contains(line, "Elapsed"))))
            kept.push_back(line);
    return kept;
}

// The end-of-run table without the wall times.
std::vector<std::string> table_of(const std::string &out)
{
    std::vector<std::string> kept;
    for (const auto &line : lines_of(out))
        if (line.rfind("elapsed:", 0) != 0)
            kept.push_back(line);
    return kept;
}

std::vector<unsigned char> read_bytes(const fs::path &p)
{
    std::string s = read_text(p);
    return std::vector<unsigned char>(s.begin(), s.end());
}

void write_bytes(const fs::path &p, const std::vector<unsigned char> &b)
{
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char *>(b.data()), (std::streamsize)b.size());
}

void expect_one_line_error(const Result &r, int code, std::initializer_list<const char *> needles)
{
    EXPECT_EQ(r.rc, code) << r.err;
    EXPECT_EQ(r.err.rfind("pmhmc: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const char *n : needles)
        EXPECT_TRUE(contains(r.err, n)) << "missing '" << n << "' in: " << r.err;
}

// Two GLMM chains of 10 warm-up and 20 saved transitions, a checkpoint
// every 3; the uninterrupted run's files and table are the reference.
class Resume : public CliTest {
protected:
    static constexpr const char *ENV = "OMP_NUM_THREADS=1";

    void SetUp() override
    {
        CliTest::SetUp();
        ASSERT_EQ(run({"simulate", "--T", "40", "--n", "3", "--p", "2", "--out", "sim"}).rc, 0);
        write_ini("");
    }

    void write_ini(const std::string &sampler_extra)
    {
        std::ofstream(dir_ / "run.ini") << "[model]\ndata = sim/data.csv\nN = 16\n"
                                           "[sampler]\nwarmup = 10\niterations = 20\nsteps = 5\nseed = 11\n"
                                           "backend = cpu\nchains = 2\n"
                                        << sampler_extra
                                        << "[output]\nfile = out/draws.csv\nrefresh = 0\n"
                                           "checkpoint = ck/run.ckpt\ncheckpoint_every = 3\n";
    }

    Result sample(const std::vector<std::string> &extra = {}, const std::string &env = "") const
    {
        std::vector<std::string> args = {"sample", "run.ini"};
        args.insert(args.end(), extra.begin(), extra.end());
        return run(args, std::string(ENV) + " " + env);
    }

    // Runs to the end uninterrupted; returns the files and moves them away.
    void reference(const std::vector<std::string> &extra = {})
    {
        Result r = sample(extra);
        ASSERT_EQ(r.rc, 0) << r.err;
        ref_table_ = table_of(r.out);
        for (int k = 1; k <= 2; ++k)
            ref_.push_back(without_timing(read_text(dir_ / "out" / ("draws_" + std::to_string(k) + ".csv"))));
        EXPECT_FALSE(fs::exists(dir_ / "ck" / "run.ckpt")); // a finished run's checkpoint is removed
        fs::remove_all(dir_ / "out");
    }

    std::vector<std::string> out_files() const
    {
        std::vector<std::string> names;
        if (fs::exists(dir_ / "out"))
            for (const auto &e : fs::directory_iterator(dir_ / "out"))
                names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }

    void expect_same_as_reference(const Result &last)
    {
        for (int k = 1; k <= 2; ++k)
            EXPECT_EQ(without_timing(read_text(dir_ / "out" / ("draws_" + std::to_string(k) + ".csv"))),
                      ref_[(size_t)k - 1])
                << "chain " << k;
        EXPECT_EQ(table_of(last.out), ref_table_) << last.out;
        for (const auto &name : out_files()) // the temporary draws files became the final ones
            EXPECT_FALSE(contains(name, ".tmp.")) << name;
        EXPECT_FALSE(fs::exists(dir_ / "ck" / "run.ckpt"));
        fs::remove_all(dir_ / "out");
    }

    std::vector<std::vector<std::string>> ref_;
    std::vector<std::string> ref_table_;
};

TEST_F(Resume, InterruptedAtSeveralPointsThenResumedGivesTheSameBytes)
{
    reference();
    // In warm-up, at a checkpoint, between checkpoints, at the end of
    // warm-up, in sampling, one transition before the end.
    for (int at : {1, 6, 8, 10, 17, 29}) {
        SCOPED_TRACE("stopped after transition " + std::to_string(at));
        Result r = sample({}, "PMHMC_TEST_STOP_AT_ITERATION=" + std::to_string(at));
        ASSERT_EQ(r.rc, 143) << r.err;
        expect_one_line_error(r, 143, {"SIGTERM", "ck/run.ckpt", "--resume"});
        ASSERT_TRUE(fs::exists(dir_ / "ck" / "run.ckpt"));
        for (const auto &name : out_files()) // only the temporary draws files
            EXPECT_TRUE(contains(name, ".tmp.")) << name;
        Result resumed = sample({"--resume", "ck/run.ckpt"});
        ASSERT_EQ(resumed.rc, 0) << resumed.err;
        expect_same_as_reference(resumed);
    }
}

TEST_F(Resume, InterruptedThreeTimesWithSigtermAndSigint)
{
    reference();
    Result r = sample({}, "PMHMC_TEST_STOP_AT_ITERATION=4");
    ASSERT_EQ(r.rc, 143) << r.err;
    // Resumed with other progress and checkpoint settings: they do not
    // touch the draws.
    r = sample({"--resume", "ck/run.ckpt", "output.checkpoint_every=5", "output.refresh=7"},
               "PMHMC_TEST_STOP_AT_ITERATION=13");
    ASSERT_EQ(r.rc, 143) << r.err;
    r = sample({"--resume", "ck/run.ckpt"}, "PMHMC_TEST_STOP_AT_ITERATION=22 PMHMC_TEST_STOP_SIGNAL=INT");
    expect_one_line_error(r, 130, {"SIGINT", "ck/run.ckpt"});
    r = sample({"--resume", "ck/run.ckpt", "--quiet"});
    ASSERT_EQ(r.rc, 0) << r.err;
    expect_same_as_reference(r);
}

// model.N = auto: each chain picks its warm-up N where it starts and its
// sampling N where warm-up ends (with the fixed proposal and
// model.noise_target = 0.8 the second is the larger here, 64 to 128 against
// 16, so a resume that took the wrong one could not load the state); runs
// stopped before, at and after that point resume with the N they had and
// end with the reference's bytes.
TEST_F(Resume, AutoNAcrossTheEndOfWarmUpGivesTheSameBytes)
{
    const std::vector<std::string> auto_n = {"model.N=auto", "model.noise_target=0.8", "model.proposal=fixed"};
    reference(auto_n);
    for (size_t k = 0; k < 2; ++k) {
        size_t warmup_n = 0, sampling_n = 0;
        for (const auto &line : ref_[k]) {
            const std::string warm = "# model.N = auto: N = ", noise = "# Noise of log phat at the end of warm-up";
            if (line.rfind(warm, 0) == 0)
                warmup_n = std::stoul(line.substr(warm.size()));
            if (line.rfind(noise, 0) == 0) {
                EXPECT_TRUE(contains(line, "chosen by model.N = auto")) << line;
                sampling_n = std::stoul(line.substr(line.find("(model.N = ") + 11));
            }
        }
        EXPECT_GE(warmup_n, 2u) << "chain " << k + 1;
        EXPECT_GT(sampling_n, warmup_n) << "chain " << k + 1;
        EXPECT_EQ(sampling_n & (sampling_n - 1), 0u) << sampling_n;
    }
    for (int at : {6, 10, 17}) {
        SCOPED_TRACE("stopped after transition " + std::to_string(at));
        Result r = sample(auto_n, "PMHMC_TEST_STOP_AT_ITERATION=" + std::to_string(at));
        ASSERT_EQ(r.rc, 143) << r.err;
        std::vector<std::string> again = {"--resume", "ck/run.ckpt"};
        again.insert(again.end(), auto_n.begin(), auto_n.end());
        Result resumed = sample(again);
        ASSERT_EQ(resumed.rc, 0) << resumed.err;
        expect_same_as_reference(resumed);
    }
}

// ChEES-HMC moves its chains in lock step and adapts them together; its
// checkpoints hold the shared adaptation in every chain's state, so runs
// stopped in warm-up, at its end and in sampling resume to the reference.
TEST_F(Resume, CheesInLockStepGivesTheSameBytes)
{
    const std::vector<std::string> chees = {"sampler.algorithm=chees"};
    reference(chees);
    for (int at : {4, 10, 17}) {
        SCOPED_TRACE("stopped after transition " + std::to_string(at));
        Result r = sample(chees, "PMHMC_TEST_STOP_AT_ITERATION=" + std::to_string(at));
        ASSERT_EQ(r.rc, 143) << r.err;
        std::vector<std::string> again = {"--resume", "ck/run.ckpt"};
        again.insert(again.end(), chees.begin(), chees.end());
        Result resumed = sample(again);
        ASSERT_EQ(resumed.rc, 0) << resumed.err;
        expect_same_as_reference(resumed);
    }
}

TEST_F(Resume, SignalWithoutCheckpointLeavesNothing)
{
    Result r = sample({"output.checkpoint="}, "PMHMC_TEST_STOP_AT_ITERATION=12 PMHMC_TEST_STOP_SIGNAL=INT");
    expect_one_line_error(r, 130, {"SIGINT", "no draws were written", "output.checkpoint"});
    EXPECT_EQ(out_files(), std::vector<std::string>{});
    EXPECT_FALSE(fs::exists(dir_ / "ck" / "run.ckpt"));
    r = sample({"output.checkpoint="}, "PMHMC_TEST_STOP_AT_ITERATION=3");
    expect_one_line_error(r, 143, {"SIGTERM"});
    EXPECT_EQ(out_files(), std::vector<std::string>{});
}

TEST_F(Resume, RealSigtermFromOutside)
{
    // Long enough that the signal lands mid-run: 2 x 1000 transitions, the
    // signal sent once the first checkpoint (after 20) appears.
    write_ini("");
    std::vector<std::string> longer = {"sampler.iterations=990", "output.checkpoint_every=20"};
    Result full = sample(longer);
    ASSERT_EQ(full.rc, 0) << full.err;
    std::vector<std::vector<std::string>> ref;
    for (int k = 1; k <= 2; ++k)
        ref.push_back(without_timing(read_text(dir_ / "out" / ("draws_" + std::to_string(k) + ".csv"))));
    fs::remove_all(dir_ / "out");

    // Everything the child needs is made before fork: it only calls
    // async-signal-safe functions before exec.
    const std::string dir = dir_.string(), out_path = (dir_ / ".stdout").string(),
                      err_path = (dir_ / ".stderr").string();
    const char *argv[] = {"pmhmc", "sample", "run.ini", "sampler.iterations=990", "output.checkpoint_every=20",
                          nullptr};
    const char *envp[] = {"OMP_NUM_THREADS=1", nullptr};
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (chdir(dir.c_str()) != 0 || out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(99);
        execve(PMHMC_CLI_PATH, const_cast<char *const *>(argv), const_cast<char *const *>(envp));
        _exit(98);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!fs::exists(dir_ / "ck" / "run.ckpt") && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    std::string err = read_text(dir_ / ".stderr");
    if (WEXITSTATUS(status) == 0)
        GTEST_SKIP() << "the run finished before the signal arrived";
    ASSERT_EQ(WEXITSTATUS(status), 143) << err;
    EXPECT_TRUE(contains(err, "SIGTERM")) << err;
    Result resumed = sample({"sampler.iterations=990", "--resume", "ck/run.ckpt"});
    ASSERT_EQ(resumed.rc, 0) << resumed.err;
    for (int k = 1; k <= 2; ++k)
        EXPECT_EQ(without_timing(read_text(dir_ / "out" / ("draws_" + std::to_string(k) + ".csv"))),
                  ref[(size_t)k - 1]);
}

TEST_F(Resume, DamagedAndForeignCheckpointsAreRefused)
{
    reference();
    ASSERT_EQ(sample({}, "PMHMC_TEST_STOP_AT_ITERATION=14").rc, 143);
    const fs::path ck = dir_ / "ck" / "run.ckpt";
    const auto good = read_bytes(ck);
    const auto tmp_files = out_files();
    ASSERT_GT(good.size(), 100u);

    auto flipped = good;
    flipped[good.size() / 2] ^= 0x04;
    write_bytes(dir_ / "flipped.ckpt", flipped);
    expect_one_line_error(sample({"--resume", "flipped.ckpt"}), 1, {"flipped.ckpt", "corrupted", "checksum"});

    write_bytes(dir_ / "short.ckpt", std::vector<unsigned char>(good.begin(), good.begin() + (long)good.size() - 9));
    expect_one_line_error(sample({"--resume", "short.ckpt"}), 1, {"short.ckpt", "truncated"});

    auto version = good;
    version[8] = 7; // the format version, little-endian after the 8-byte magic
    write_bytes(dir_ / "version.ckpt", version);
    expect_one_line_error(sample({"--resume", "version.ckpt"}), 1, {"version.ckpt", "format version 7"});

    std::ofstream(dir_ / "text.ckpt") << "not a checkpoint\n";
    expect_one_line_error(sample({"--resume", "text.ckpt"}), 1, {"text.ckpt", "not a pmhmc checkpoint"});
    expect_one_line_error(sample({"--resume", "missing.ckpt"}), 1, {"missing.ckpt", "No such file"});

    expect_one_line_error(sample({"--resume", "ck/run.ckpt", "sampler.seed=12"}), 1,
                          {"ck/run.ckpt", "another run", "sampler.seed", "'12'", "'11'"});
    expect_one_line_error(sample({"--resume", "ck/run.ckpt", "sampler.chains=3"}), 1, {"sampler.chains"});
    // Other data under the same name.
    fs::copy_file(dir_ / "sim" / "data.csv", dir_ / "data.bak");
    std::ofstream(dir_ / "sim" / "data.csv", std::ios::app) << "zz,1,0.5,-0.5\n";
    expect_one_line_error(sample({"--resume", "ck/run.ckpt"}), 1, {"model.data contents"});
    fs::copy_file(dir_ / "data.bak", dir_ / "sim" / "data.csv", fs::copy_options::overwrite_existing);
    expect_one_line_error(run({"sample", "run.ini", "--resume"}), 1, {"--resume"});

    // None of that touched the checkpoint or the draws so far: it resumes.
    EXPECT_EQ(read_bytes(ck), good);
    EXPECT_EQ(out_files(), tmp_files);
    Result r = sample({"--resume", "ck/run.ckpt"});
    ASSERT_EQ(r.rc, 0) << r.err;
    expect_same_as_reference(r);
}

// ---- what a run may delete or replace (issue 19's data-loss cases) -------------

// Whatever sits at output.checkpoint before a run is not the run's: a fresh
// run refuses the path (it would overwrite, then delete, an interrupted
// run's resumable checkpoint, or a user's file), naming --resume; only a
// checkpoint the run wrote itself, or resumed, is removed when it completes.
TEST_F(Resume, OnlyACheckpointTheRunWroteIsEverRemoved)
{
    reference();
    // An interrupted run's checkpoint and draws survive a fresh run on the
    // same path, which is refused before anything runs.
    ASSERT_EQ(sample({}, "PMHMC_TEST_STOP_AT_ITERATION=8").rc, 143);
    const fs::path ck = dir_ / "ck" / "run.ckpt";
    const auto saved = read_bytes(ck);
    const auto tmp_files = out_files();
    expect_one_line_error(sample(), 1, {"output.checkpoint", "ck/run.ckpt", "already exists", "--resume"});
    EXPECT_EQ(read_bytes(ck), saved);
    EXPECT_EQ(out_files(), tmp_files);
    Result r = sample({"--resume", "ck/run.ckpt"});
    ASSERT_EQ(r.rc, 0) << r.err;
    expect_same_as_reference(r);

    // A user's file at output.checkpoint (here the data) is refused, untouched.
    const std::string data = read_text(dir_ / "sim" / "data.csv");
    expect_one_line_error(sample({"output.checkpoint=sim/data.csv"}), 1, {"output.checkpoint", "model.data"});
    std::ofstream(dir_ / "mine.txt") << "keep me\n";
    expect_one_line_error(sample({"output.checkpoint=mine.txt"}), 1, {"mine.txt", "already exists"});
    EXPECT_EQ(read_text(dir_ / "mine.txt"), "keep me\n");
    EXPECT_EQ(read_text(dir_ / "sim" / "data.csv"), data);

    // A run shorter than checkpoint_every writes no checkpoint: it leaves
    // nothing at that path, and its lock file is gone too.
    r = sample({"output.checkpoint=ck/short.ckpt", "output.checkpoint_every=1000"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "ck" / "short.ckpt"));
    EXPECT_FALSE(fs::exists(dir_ / "ck" / "short.ckpt.lock"));
    EXPECT_EQ(read_text(dir_ / "mine.txt"), "keep me\n");
}

// While a run lives it holds a lock on `<checkpoint>.lock`: a second run
// with the same checkpoint is refused instead of overwriting the first's.
// (The test process holds the lock itself, as another run would.)
TEST_F(Resume, ACheckpointInUseIsRefused)
{
    fs::create_directories(dir_ / "ck");
    int fd = open((dir_ / "ck" / "run.ckpt.lock").c_str(), O_RDWR | O_CREAT, 0666);
    ASSERT_GE(fd, 0);
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    ASSERT_EQ(fcntl(fd, F_SETLK, &fl), 0);
    expect_one_line_error(sample(), 1, {"output.checkpoint", "another pmhmc run", "ck/run.ckpt.lock"});
    EXPECT_EQ(out_files(), std::vector<std::string>{});
    close(fd);
    Result r = sample();
    EXPECT_EQ(r.rc, 0) << r.err;
}

// A write failure mid-run (here a file-size limit, as a full disk: EFBIG
// instead of ENOSPC) names the file and the reason, and leaves the last
// checkpoint with the draws files it refers to, so the run continues once
// the cause is gone, to the bytes of an uninterrupted run.
TEST_F(Resume, AFailedWriteLeavesTheCheckpointResumable)
{
    const std::vector<std::string> longer = {"sampler.iterations=400"};
    reference(longer);
    // 64 blocks of 512 bytes: a checkpoint (24 kB) fits, the draws files
    // (52 kB by the end) outgrow it in sampling, after many checkpoints.
    Result r = sample(longer, "; trap '' XFSZ; ulimit -f 64;");
    ASSERT_EQ(r.rc, 2) << r.err << r.out;
    expect_one_line_error(r, 2, {"File too large", "ck/run.ckpt", "--resume"});
    ASSERT_TRUE(fs::exists(dir_ / "ck" / "run.ckpt"));
    for (const auto &name : out_files())
        EXPECT_TRUE(contains(name, ".tmp.")) << name;
    EXPECT_EQ(out_files().size(), 2u);
    Result resumed = sample({"sampler.iterations=400", "--resume", "ck/run.ckpt"});
    ASSERT_EQ(resumed.rc, 0) << resumed.err;
    expect_same_as_reference(resumed);
}

// The command printed on a signal continues the run as given: with its
// overrides (a resumed run must repeat them), whatever directory it ran in.
TEST_F(Resume, TheResumeHintRepeatsTheOverrides)
{
    Result r = sample({"sampler.seed=5", "sampler.iterations=25"}, "PMHMC_TEST_STOP_AT_ITERATION=9");
    ASSERT_EQ(r.rc, 143) << r.err;
    const std::string hint = "pmhmc sample run.ini sampler.seed=5 sampler.iterations=25 --resume ck/run.ckpt";
    ASSERT_TRUE(contains(r.err, hint)) << r.err;
    Result resumed = run({"sample", "run.ini", "sampler.seed=5", "sampler.iterations=25", "--resume", "ck/run.ckpt"},
                         ENV);
    EXPECT_EQ(resumed.rc, 0) << resumed.err;
}

// A draws file changed inside the part the checkpoint vouches for is
// refused on resume (it used to be accepted when its length was right);
// bytes after that part are the run's own leftovers and are dropped.
TEST_F(Resume, DrawsChangedSinceTheCheckpointAreRefused)
{
    reference();
    ASSERT_EQ(sample({}, "PMHMC_TEST_STOP_AT_ITERATION=17").rc, 143);
    const auto tmp = out_files();
    ASSERT_EQ(tmp.size(), 2u);
    const fs::path first = dir_ / "out" / tmp[0];
    auto bytes = read_bytes(first);
    const auto good = bytes;
    // A digit of the first saved draw: the checkpoint (at transition 15,
    // every 3, 10 of them warm-up) vouches for the first 5 draws.
    std::string text(good.begin(), good.end());
    size_t header = text.find("lp__,");
    ASSERT_NE(header, std::string::npos);
    size_t first_draw = text.find('\n', header) + 1;
    size_t digit = text.find_first_of("12345678", first_draw);
    bytes[digit] = (unsigned char)(bytes[digit] + 1);
    write_bytes(first, bytes);
    expect_one_line_error(sample({"--resume", "ck/run.ckpt"}), 1, {"--resume", "changed since the checkpoint"});
    write_bytes(first, good);
    // Extra bytes after the vouched part: dropped, the run continues.
    std::ofstream(first, std::ios::app) << "garbage after the checkpointed part\n";
    Result r = sample({"--resume", "ck/run.ckpt"});
    ASSERT_EQ(r.rc, 0) << r.err;
    expect_same_as_reference(r);
}

// Resumed from another directory, a run is told where to resume from
// (every relative path differs there; "another run" would mislead).
TEST_F(Resume, ResumingFromAnotherDirectorySaysWhere)
{
    ASSERT_EQ(sample({}, "PMHMC_TEST_STOP_AT_ITERATION=5").rc, 143);
    fs::create_directories(dir_ / "elsewhere");
    Result r = run({"sample", "../run.ini", "--resume", "../ck/run.ckpt"}, "cd elsewhere && " + std::string(ENV));
    expect_one_line_error(r, 1, {"--resume", "was written by a run in", "resume from that directory"});
    EXPECT_TRUE(contains(r.err, dir_.filename().string())) << r.err;
    EXPECT_EQ(sample({"--resume", "ck/run.ckpt"}).rc, 0);
}

TEST_F(Resume, HelpAndPrintConfigKnowTheKeys)
{
    Result r = run({"sample", "--help"});
    EXPECT_TRUE(contains(r.out, "output.checkpoint (")) << r.out;
    EXPECT_TRUE(contains(r.out, "output.checkpoint_every (100)")) << r.out;
    EXPECT_TRUE(contains(r.out, "--resume")) << r.out;
    r = sample({"--print-config", "output.checkpoint="});
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "checkpoint_every = 3\n")) << r.out;
}

} // namespace
