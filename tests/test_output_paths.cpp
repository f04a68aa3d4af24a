// No output may destroy an input (issue 19's data-loss cases): every file a
// command would write is checked, before anything runs, against the files
// it reads and the other files it writes, by any name (a path through ".."
// or a link, a hard link); the command refuses with exit 1, names both keys
// and leaves every file as it was. Also: output lost on stdout is an error,
// a size that cannot fit in memory is refused with the figure, and a name
// that can only be a directory is refused up front.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "cli_support.h"

using namespace pmhmc_cli_test;

namespace {

class OutputPaths : public CliTest {
protected:
    void SetUp() override
    {
        CliTest::SetUp();
        ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "20", "--n", "3", "--out", "sim"}).rc, 0);
        std::ofstream(dir_ / "run.ini") << "[model]\nname = normal_re\ndata = sim/data.csv\nN = 4\n"
                                           "[sampler]\nwarmup = 20\niterations = 20\nchains = 1\nbackend = cpu\n"
                                           "[output]\nfile = out/d.csv\nrefresh = 0\n";
    }

    // Every regular file under dir_ with its contents.
    std::map<std::string, std::string> snapshot() const
    {
        std::map<std::string, std::string> files;
        for (const auto &e : fs::recursive_directory_iterator(dir_))
            if (e.is_regular_file() && e.path().filename().string()[0] != '.')
                files[fs::relative(e.path(), dir_).string()] = read_text(e.path());
        return files;
    }

    // The command is refused with one line naming every needle, and no file
    // changed, appeared or went.
    void expect_refused(const std::vector<std::string> &args, std::initializer_list<const char *> needles)
    {
        const auto before = snapshot();
        Result r = run(args);
        std::string what;
        for (const auto &a : args)
            what += a + " ";
        EXPECT_EQ(r.rc, 1) << what << r.err;
        EXPECT_EQ(r.err.rfind("pmhmc: ", 0), 0u) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        for (const char *n : needles)
            EXPECT_TRUE(contains(r.err, n)) << what << ": missing '" << n << "' in: " << r.err;
        EXPECT_EQ(snapshot(), before) << what;
    }
};

TEST_F(OutputPaths, SampleNeverWritesOverItsInputs)
{
    // output.file on the data, by its name and through a detour.
    expect_refused({"sample", "run.ini", "output.file=sim/data.csv"}, {"output.file", "model.data", "sim/data.csv"});
    expect_refused({"sample", "run.ini", "output.file=sim/../sim/./data.csv"}, {"output.file", "model.data"});
    // Through a symbolic link and a hard link to it.
    fs::create_symlink(fs::absolute(dir_ / "sim/data.csv"), dir_ / "link.csv");
    fs::create_hard_link(dir_ / "sim/data.csv", dir_ / "hard.csv");
    expect_refused({"sample", "run.ini", "output.file=link.csv"}, {"output.file", "model.data"});
    expect_refused({"sample", "run.ini", "output.file=hard.csv"}, {"output.file", "model.data"});
    // Chain 2's file is the data.
    fs::copy_file(dir_ / "sim/data.csv", dir_ / "in_2.csv");
    expect_refused({"sample", "run.ini", "model.data=in_2.csv", "sampler.chains=2", "output.file=in.csv"},
                   {"output.file (chain 2)", "model.data", "in_2.csv"});
    // The report page is the data.
    fs::copy_file(dir_ / "sim/data.csv", dir_ / "x.html");
    expect_refused({"sample", "run.ini", "model.data=x.html", "output.file=x.csv"},
                   {"output.report", "model.data", "x.html"});
    // The config itself, the training records, the checkpoint.
    expect_refused({"sample", "run.ini", "output.file=run.ini"}, {"output.file", "the config file", "run.ini"});
    expect_refused({"sample", "run.ini", "hnn.collect=sim/data.csv"}, {"hnn.collect", "model.data"});
    expect_refused({"sample", "run.ini", "output.checkpoint=sim/data.csv"}, {"output.checkpoint", "model.data"});
    // --truth and sampler.init are inputs too.
    fs::create_directories(dir_ / "out");
    fs::copy_file(dir_ / "sim/truth.csv", dir_ / "out/d.csv");
    expect_refused({"sample", "run.ini", "--truth", "out/d.csv"}, {"output.file", "--truth"});
    ASSERT_EQ(run({"sample", "run.ini", "output.file=prev/d.csv", "output.report=false"}).rc, 0);
    expect_refused({"sample", "run.ini", "sampler.init=prev/d.csv", "output.file=prev/d.csv"},
                   {"output.file", "sampler.init"});
}

TEST_F(OutputPaths, SampleOutputsNeedFilesOfTheirOwn)
{
    // The checkpoint and the draws shared a temporary name and lost every draw.
    expect_refused({"sample", "run.ini", "output.checkpoint=out/d.csv"},
                   {"output.file", "output.checkpoint", "same file"});
    expect_refused({"sample", "run.ini", "output.file=out/d.html"}, {"output.report", "same file"});
    expect_refused({"sample", "run.ini", "hnn.collect=out/d.csv"}, {"hnn.collect", "output.file"});
    // A name that can only be a directory's, and a directory in the way.
    expect_refused({"sample", "run.ini", "output.file=out/"}, {"output.file", "directory"});
    fs::create_directories(dir_ / "ckdir");
    expect_refused({"sample", "run.ini", "output.checkpoint=ckdir"}, {"output.checkpoint", "directory"});
    // A checkpoint whose directory cannot be made: refused before sampling,
    // not after (when its failure used to discard every draw).
    std::ofstream(dir_ / "blocker") << "";
    expect_refused({"sample", "run.ini", "output.checkpoint=blocker/run.ckpt"}, {"output.checkpoint"});
    EXPECT_EQ(run({"sample", "run.ini"}).rc, 0);
}

TEST_F(OutputPaths, TrainAndPipelineNeverWriteOverTheirInputs)
{
    std::ofstream(dir_ / "run.ini", std::ios::app) << "[hnn]\ncollect = rec/g.bin\nweights = net/w.safetensors\n"
                                                      "hidden = 8\nepochs = 2\n";
    ASSERT_EQ(run({"sample", "run.ini"}).rc, 0);
    ASSERT_TRUE(fs::exists(dir_ / "rec/g.bin"));
    expect_refused({"train", "run.ini", "hnn.weights=sim/data.csv"}, {"hnn.weights", "model.data"});
    expect_refused({"train", "run.ini", "hnn.weights=rec/g.bin"}, {"hnn.weights", "hnn.collect"});
    expect_refused({"train", "run.ini", "hnn.train_log=sim/data.csv"}, {"train_log", "model.data"});
    expect_refused({"train", "run.ini", "hnn.weights=net/w.html"}, {"hnn.weights", "training page", "same file"});
    EXPECT_EQ(run({"train", "run.ini"}).rc, 0);
    // The pipeline checks all three stages' files before stage 1 runs.
    expect_refused({"pipeline", "run.ini", "sampler.algorithm=hnn_hmc", "hnn.weights=out/d_pilot.csv"},
                   {"hnn.weights", "stage 1's draws"});
    expect_refused({"pipeline", "run.ini", "sampler.algorithm=hnn_hmc", "hnn.collect=sim/data.csv"},
                   {"stage 1's records", "model.data"});
}

TEST_F(OutputPaths, ReportNeverWritesOverItsInputs)
{
    ASSERT_EQ(run({"sample", "run.ini", "output.report=false"}).rc, 0);
    expect_refused({"report", "out/d.csv", "-o", "out/d.csv"}, {"-o", "draws file"});
    expect_refused({"report", "out/d.csv", "--truth", "sim/truth.csv", "-o", "sim/truth.csv"}, {"-o", "--truth"});
    EXPECT_EQ(run({"report", "out/d.csv", "-o", "r.html"}).rc, 0);
}

// Output that never reached its destination is a failure, not exit 0.
TEST_F(OutputPaths, LostStdoutIsAnError)
{
    if (!fs::exists("/dev/full"))
        GTEST_SKIP() << "no /dev/full on this system";
    ASSERT_EQ(run({"sample", "run.ini", "output.report=false"}).rc, 0);
    for (const std::string args : {"summary out/d.csv", "--version"}) {
        const std::string cmd = "cd " + quote(dir_.string()) + " && " + quote(PMHMC_CLI_PATH) + " " + args +
                                " >/dev/full 2>.stderr";
        int status = std::system(cmd.c_str());
        ASSERT_TRUE(WIFEXITED(status)) << args;
        EXPECT_EQ(WEXITSTATUS(status), 2) << args;
        const std::string err = read_text(dir_ / ".stderr");
        EXPECT_TRUE(contains(err, "stdout")) << args << ": " << err;
        EXPECT_TRUE(contains(err, "No space left on device")) << args << ": " << err;
    }
}

// A size that cannot fit is refused before anything is allocated, with
// the figure (it used to grow to gigabytes, or be killed, before failing).
TEST_F(OutputPaths, AWorkspaceThatCannotFitIsRefusedWithTheFigure)
{
    expect_refused({"sample", "run.ini", "model.N=100000000"}, {"model.N", "GB of memory", "this machine has"});
}

} // namespace
