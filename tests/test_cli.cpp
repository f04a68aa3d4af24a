// The pmhmc command-line tool, run as a user runs it: a child process in a
// scratch directory, checked through its exit code, stdout, stderr and the
// files it leaves behind.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.h"
#include "sampler_support.h"
#include "xml_check.h"
#include "pmhmc/pmhmc.h"

namespace fs = std::filesystem;
using namespace pmhmc_cli_test;

namespace {

void write_text(const fs::path &path, const std::string &text)
{
    std::ofstream(path, std::ios::binary) << text;
}

std::vector<std::string> split(const std::string &s, char sep)
{
    std::vector<std::string> parts;
    std::stringstream ss(s);
    for (std::string part; std::getline(ss, part, sep);)
        parts.push_back(part);
    if (!s.empty() && s.back() == sep)
        parts.push_back("");
    return parts;
}

bool parses_as_double(const std::string &s, double *out = nullptr)
{
    if (s.empty())
        return false;
    char *end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (out)
        *out = v;
    return *end == '\0';
}

class Cli : public CliTest {
protected:
    // Files under dir_, relative, sorted.
    std::vector<std::string> files() const
    {
        std::vector<std::string> names;
        for (const auto &e : fs::recursive_directory_iterator(dir_))
            if (e.is_regular_file())
                names.push_back(fs::relative(e.path(), dir_).string());
        std::sort(names.begin(), names.end());
        return names;
    }

    // A name,value CSV (log_prob's stdout, truth.csv) as an ordered list.
    static std::vector<std::pair<std::string, double>> name_values(const std::string &text)
    {
        std::vector<std::pair<std::string, double>> rows;
        auto lines = lines_of(text);
        EXPECT_FALSE(lines.empty());
        if (lines.empty())
            return rows;
        EXPECT_EQ(lines[0], "name,value");
        for (size_t i = 1; i < lines.size(); ++i) {
            auto parts = split(lines[i], ',');
            double v = NAN;
            EXPECT_EQ(parts.size(), 2u) << lines[i];
            EXPECT_TRUE(parts.size() == 2 && parses_as_double(parts[1], &v)) << lines[i];
            rows.emplace_back(parts[0], v);
        }
        return rows;
    }
};

void expect_one_line_error(const Result &r, int code)
{
    EXPECT_EQ(r.rc, code) << r.err;
    EXPECT_EQ(r.err.rfind("pmhmc: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// ---- help and usage -----------------------------------------------------------

TEST_F(Cli, HelpVersionAndUsageErrors)
{
    Result r = run({"--version"});
    EXPECT_EQ(r.rc, 0);
    EXPECT_EQ(r.out, std::string("pmhmc ") + PMHMC_VERSION + "\n");

    r = run({"--help"});
    EXPECT_EQ(r.rc, 0);
    EXPECT_TRUE(contains(r.out, "exit codes")) << r.out;

    r = run({"sample", "--help"});
    EXPECT_EQ(r.rc, 0);
    for (const char *key : {"model.name", "model.data", "model.N", "sampler.steps", "sampler.mass",
                            "sampler.backend", "sampler.precision", "output.file"})
        EXPECT_TRUE(contains(r.out, key)) << key;
    for (const char *cmd : {"simulate", "log_prob"}) {
        r = run({cmd, "--help"});
        EXPECT_EQ(r.rc, 0) << cmd;
        EXPECT_TRUE(contains(r.out, "usage: pmhmc " + std::string(cmd))) << r.out;
    }

    expect_one_line_error(run({}), 1);
    expect_one_line_error(run({"frobnicate"}), 1);
    expect_one_line_error(run({"simulate", "--out", "x", "--T", "zero"}), 1);
    expect_one_line_error(run({"simulate", "--out", "x", "--bogus", "1"}), 1);
    expect_one_line_error(run({"sample"}), 1);
    expect_one_line_error(run({"sample", "missing.ini"}), 1);
}

// ---- bad configs --------------------------------------------------------------

struct BadConfig {
    const char *name;
    const char *ini;                     // after a valid [model] block
    std::vector<std::string> overrides;
    std::vector<std::string> expected;  // substrings of the message
    const char *data = "data.csv";      // model.data, on line 3
};

// Lines 1-4; the case's text starts on line 5.
std::string model_block(const char *data)
{
    return std::string("[model]\nname = normal_re\ndata = ") + data + "\nN = 4\n";
}

const BadConfig BAD_CONFIGS[] = {
    {"UnknownSection", "[bogus]\nkey = 1\n", {}, {"bad.ini:6", "[bogus]", "key"}},
    {"UnknownKey", "[sampler]\nstepz = 3\n", {}, {"bad.ini:6", "stepz", "[sampler]"}},
    {"OutOfRange", "[sampler]\nsteps = 0\n", {}, {"bad.ini:6", "sampler.steps", "[1, 1000000]"}},
    {"NegativeCount", "[sampler]\niterations = -5\n", {}, {"bad.ini:6", "sampler.iterations", "integer"}},
    {"NonNumeric", "[sampler]\nstep_size = fast\n", {}, {"bad.ini:6", "sampler.step_size", "positive number"}},
    {"BadChoice", "[sampler]\nbackend = gpu\n", {}, {"bad.ini:6", "sampler.backend", "cpu, auto, cuda"}},
    {"MassOfWrongLength", "[sampler]\nmass = 1,2,3\n", {}, {"bad.ini:6", "sampler.mass", "expected 1 or 2"}},
    {"KeyTwice", "[model]\nN = 8\n", {}, {"bad.ini:6", "model.N", "line 4"}},
    {"MalformedLine", "[sampler]\nsteps 20\n", {}, {"bad.ini:6", "key = value"}},
    {"MissingDataFile", "", {}, {"bad.ini:3", "model.data", "nowhere.csv"}, "nowhere.csv"},
    {"MissingDataFileOverride", "", {"model.data=gone.csv"}, {"bad.ini", "model.data", "gone.csv"}},
    {"OverrideWithoutEquals", "", {"sampler.steps"}, {"bad.ini", "sampler.steps", "section.key=value"}},
    {"OverrideWithoutSection", "", {"steps=3"}, {"bad.ini", "steps=3", "section.key=value"}},
    {"OverrideUnknownKey", "", {"sampler.bogus=1"}, {"bad.ini", "bogus", "[sampler]"}},
    {"OverrideOutOfRange", "", {"sampler.chains=4097"}, {"bad.ini", "sampler.chains", "[1, 4096]"}},
    {"ZeroChains", "[sampler]\nchains = 0\n", {}, {"bad.ini:6", "sampler.chains", "[1, 4096]"}},
    {"NegativeJitter", "[sampler]\ninit_jitter = -0.5\n", {}, {"bad.ini:6", "sampler.init_jitter", ">= 0"}},
    {"DeltaNotAFraction", "[adapt]\ndelta = 1.5\n", {}, {"bad.ini:6", "adapt.delta", "between 0 and 1"}},
    {"BadUturn", "[nuts]\nuturn = u\n", {}, {"bad.ini:6", "nuts.uturn", "extended, theta"}},
    {"DepthTooLarge", "[nuts]\nmax_depth = 31\n", {}, {"bad.ini:6", "nuts.max_depth", "[1, 30]"}},
    {"InfiniteJitter", "", {"sampler.init_jitter=inf"}, {"bad.ini", "sampler.init_jitter", ">= 0"}},
    // "did you mean": the nearest known key or section, in the file and on the command line.
    {"MisspeltKey", "[sampler]\nstepsize = 0.1\n", {}, {"bad.ini:6", "stepsize", "did you mean sampler.step_size?"}},
    {"MisspeltKeyOverride", "", {"sampler.stepsize=0.1"}, {"command-line", "did you mean sampler.step_size?"}},
    {"MisspeltSection", "[sampelr]\nsteps = 5\n", {}, {"bad.ini:6", "[sampelr]", "did you mean sampler.steps?"}},
    {"MisspeltSectionOverride", "", {"outptu.refresh=5"}, {"[outptu]", "did you mean output.refresh?"}},
    {"KeyInTheWrongSection", "[sampler]\nrefresh = 5\n", {}, {"bad.ini:6", "did you mean output.refresh?"}},
    {"MisspeltSectionOnly", "[sampelr]\nzzzzzz = 5\n", {}, {"bad.ini:6", "did you mean [sampler]?"}},
    {"KeyCase", "", {"model.n=8"}, {"command-line", "did you mean model.N?"}},
};

class CliBadConfig : public Cli, public ::testing::WithParamInterface<BadConfig> {};

TEST_P(CliBadConfig, OneLineMessageNamingFileAndKeyAndNoOutput)
{
    const BadConfig &c = GetParam();
    write_text(dir_ / "data.csv", "id,y\na,0.5\na,1.5\nb,-0.2\nb,0.1\n");
    write_text(dir_ / "bad.ini", model_block(c.data) + c.ini + "[output]\nfile = out/draws.csv\n");
    std::vector<std::string> args = {"sample", "bad.ini"};
    args.insert(args.end(), c.overrides.begin(), c.overrides.end());
    Result r = run(args);
    expect_one_line_error(r, 1);
    for (const auto &s : c.expected)
        EXPECT_TRUE(contains(r.err, s)) << "missing '" << s << "' in: " << r.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"bad.ini", "data.csv"}));
}

INSTANTIATE_TEST_SUITE_P(Cli, CliBadConfig, ::testing::ValuesIn(BAD_CONFIGS),
                         [](const auto &info) { return std::string(info.param.name); });

TEST_F(Cli, UnrelatedUnknownKeyGetsNoSuggestion)
{
    write_text(dir_ / "data.csv", "id,y\na,0.5\na,1.5\nb,-0.2\nb,0.1\n");
    write_text(dir_ / "bad.ini", model_block("data.csv") + "[sampler]\ncolour = blue\n");
    Result r = run({"sample", "bad.ini"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "colour")) << r.err;
    EXPECT_FALSE(contains(r.err, "did you mean")) << r.err;
    write_text(dir_ / "good.ini", model_block("data.csv"));
    r = run({"sample", "good.ini", "--bogus"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "--bogus")) << r.err;
}

TEST_F(Cli, PrintConfigShowsEveryKeyAndRunsNothing)
{
    write_text(dir_ / "run.ini", model_block("data.csv") + "[sampler]\nsteps = 7\n[output]\nfile = out/d.csv\n");
    // No data file: nothing is read or run, only the configuration printed.
    Result r = run({"sample", "run.ini", "sampler.seed=9", "--print-config"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    auto lines = lines_of(r.out);
    for (const char *want : {"[model]", "name = normal_re", "data = data.csv", "N = 4", "prior_var = 100  # (Default)",
                             "[sampler]", "steps = 7", "seed = 9", "chains = 4  # (Default)",
                             "iterations = 1000  # (Default)", "[output]", "file = out/d.csv",
                             "refresh = 100  # (Default)"})
        EXPECT_NE(std::find(lines.begin(), lines.end(), want), lines.end()) << want << " in\n" << r.out;
    size_t keys = 0;
    for (const auto &l : lines)
        keys += contains(l, " = ") && l[0] != '#';
    size_t documented = 0; // the keys `sample --help` lists
    for (const auto &l : lines_of(run({"sample", "--help"}).out))
        for (const char *sec : {"  model.", "  sampler.", "  nuts.", "  chees.", "  adapt.", "  hnn.", "  output."})
            documented += l.rfind(sec, 0) == 0;
    EXPECT_EQ(keys, documented);
    EXPECT_GT(keys, 15u);
    EXPECT_EQ(files(), (std::vector<std::string>{"run.ini"}));

    // It reads back as a config to the same configuration.
    write_text(dir_ / "again.ini", r.out);
    Result again = run({"sample", "again.ini", "--print-config"});
    ASSERT_EQ(again.rc, 0) << again.err;
    auto strip_first = [](const std::string &text) { return text.substr(text.find('\n')); };
    std::string expected = strip_first(r.out);
    // Every value is now set in the file, so nothing is marked as a default.
    for (size_t at; (at = expected.find("  # (Default)")) != std::string::npos;)
        expected.erase(at, 13);
    EXPECT_EQ(strip_first(again.out), expected);

    // A bad config is still an error.
    expect_one_line_error(run({"sample", "run.ini", "sampler.stepz=1", "--print-config"}), 1);
}

// ---- simulate -----------------------------------------------------------------

TEST_F(Cli, SimulateGlmmWritesDataAndTruth)
{
    Result r = run({"simulate", "--model", "glmm", "--T", "7", "--n", "3", "--p", "2", "--seed", "5", "--out",
                    "sim/a"});
    ASSERT_EQ(r.rc, 0) << r.err;
    auto data = lines_of(read_text(dir_ / "sim/a/data.csv"));
    ASSERT_EQ(data.size(), 1u + 7 * 3);
    EXPECT_EQ(split(data[0], ',').size(), 4u) << data[0];  // id,y,z1,z2
    for (size_t i = 1; i < data.size(); ++i)
        EXPECT_EQ(split(data[i], ',').size(), 4u) << data[i];

    auto truth = name_values(read_text(dir_ / "sim/a/truth.csv"));
    std::vector<std::string> names;
    std::map<std::string, double> value;
    for (const auto &[n, v] : truth) {
        names.push_back(n);
        value[n] = v;
    }
    EXPECT_EQ(names, (std::vector<std::string>{"beta.1", "beta.2", "mu1", "mu2", "log_lambda1", "log_lambda2",
                                               "logit_w1", "lambda1", "lambda2", "w1"}));
    // The paper's values are the defaults.
    EXPECT_EQ(value["mu1"], 0.0);
    EXPECT_EQ(value["mu2"], 3.0);
    EXPECT_NEAR(value["lambda1"], 10.0, 1e-12);
    EXPECT_NEAR(value["lambda2"], 3.0, 1e-12);
    EXPECT_NEAR(value["w1"], 0.8, 1e-12);
    EXPECT_NEAR(value["log_lambda1"], std::log(10.0), 1e-12);
    EXPECT_NEAR(value["logit_w1"], std::log(4.0), 1e-12);

    // The seed alone decides the data.
    ASSERT_EQ(run({"simulate", "--T", "7", "--n", "3", "--p", "2", "--seed", "5", "--out", "sim/b"}).rc, 0);
    EXPECT_EQ(read_text(dir_ / "sim/a/data.csv"), read_text(dir_ / "sim/b/data.csv"));
    ASSERT_EQ(run({"simulate", "--T", "7", "--n", "3", "--p", "2", "--seed", "6", "--out", "sim/c"}).rc, 0);
    EXPECT_NE(read_text(dir_ / "sim/a/data.csv"), read_text(dir_ / "sim/c/data.csv"));
}

TEST_F(Cli, SimulateNormalReWritesDataAndTruth)
{
    Result r = run({"simulate", "--model", "normal_re", "--T", "4", "--n", "2", "--mu", "1.5", "--tau", "2",
                    "--out", "nr"});
    ASSERT_EQ(r.rc, 0) << r.err;
    auto data = lines_of(read_text(dir_ / "nr/data.csv"));
    ASSERT_EQ(data.size(), 1u + 4 * 2);
    EXPECT_EQ(data[0], "id,y");
    auto truth = name_values(read_text(dir_ / "nr/truth.csv"));
    ASSERT_EQ(truth.size(), 3u);
    EXPECT_EQ(truth[0], std::make_pair(std::string("mu"), 1.5));
    EXPECT_EQ(truth[1].first, "log_tau");
    EXPECT_NEAR(truth[1].second, std::log(2.0), 1e-15);
    EXPECT_EQ(truth[2].first, "tau");
    EXPECT_NEAR(truth[2].second, 2.0, 1e-15);

    expect_one_line_error(run({"simulate", "--model", "normal_re", "--p", "3", "--out", "x"}), 1);
    expect_one_line_error(run({"simulate", "--w1", "1.5", "--out", "x"}), 1);
}

// ---- log_prob -----------------------------------------------------------------

// Writes a [rows, cols] U file of deterministic values in (-2, 2).
void write_u(const fs::path &path, size_t rows, size_t cols, double shift_value = 0.0, size_t shift_at = SIZE_MAX)
{
    std::ostringstream s;
    s.precision(17);
    for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) {
            size_t k = r * cols + c;
            double v = 2.0 * std::sin(1.0 + 0.7 * (double)k) + (k == shift_at ? shift_value : 0.0);
            s << v << (c + 1 < cols ? "," : "\n");
        }
    write_text(path, s.str());
}

std::string join(const std::vector<double> &v)
{
    std::ostringstream s;
    s.precision(17);
    for (size_t i = 0; i < v.size(); ++i)
        s << (i ? "," : "") << v[i];
    return s.str();
}

class CliLogProb : public Cli {
protected:
    std::string proposal_ = "laplace";

    std::vector<std::pair<std::string, double>> eval(const std::string &model, const std::vector<double> &theta,
                                                     const std::string &u, const std::string &grad_u = "")
    {
        std::vector<std::string> args = {"log_prob", "--model", model, "--data", "sim/data.csv",
                                         "--theta", join(theta), "--u", u, "--proposal", proposal_};
        if (!grad_u.empty()) {
            args.push_back("--grad-u");
            args.push_back(grad_u);
        }
        Result r = run(args);
        EXPECT_EQ(r.rc, 0) << r.err;
        return name_values(r.out);
    }

    double lp_at(const std::string &model, const std::vector<double> &theta, const std::string &u)
    {
        auto rows = eval(model, theta, u);
        return rows.empty() ? NAN : rows[0].second;
    }

    // Every proposal: the gradient of log phat(theta, u) is exact for each
    // (through the laplace proposal's mode and curvature too).
    void check(const std::string &model, const std::vector<double> &theta, size_t groups, size_t n_importance)
    {
        for (const char *p : {"laplace", "prior", "fixed"}) {
            SCOPED_TRACE(std::string("model.proposal = ") + p);
            proposal_ = p;
            check_one(model, theta, groups, n_importance);
        }
    }

    // lp, log_lik and d_<param> rows, and the theta gradient against central
    // differences of lp itself: |fd - g| <= 1e-6 max(1, |g|).
    void check_one(const std::string &model, const std::vector<double> &theta, size_t groups, size_t n_importance)
    {
        write_u(dir_ / "u.csv", groups, n_importance);
        auto rows = eval(model, theta, "u.csv", "grad_u.csv");
        ASSERT_EQ(rows.size(), 2 + theta.size());
        EXPECT_EQ(rows[0].first, "lp");
        EXPECT_EQ(rows[1].first, "log_lik");
        EXPECT_TRUE(std::isfinite(rows[0].second));
        auto truth = name_values(read_text(dir_ / "sim/truth.csv"));
        for (size_t i = 0; i < theta.size(); ++i) {
            EXPECT_EQ(rows[2 + i].first, "d_" + truth[i].first);
            double h = 1e-5 * std::max(1.0, std::fabs(theta[i]));
            std::vector<double> up = theta, down = theta;
            up[i] += h;
            down[i] -= h;
            double fd = (lp_at(model, up, "u.csv") - lp_at(model, down, "u.csv")) / (2 * h);
            double g = rows[2 + i].second;
            EXPECT_NEAR(fd, g, 1e-6 * std::max(1.0, std::fabs(g))) << rows[2 + i].first;
        }

        // The u gradient, in U's layout, against differences at a few entries.
        auto grad_u = lines_of(read_text(dir_ / "grad_u.csv"));
        ASSERT_EQ(grad_u.size(), groups);
        for (const auto &line : grad_u)
            ASSERT_EQ(split(line, ',').size(), n_importance);
        for (size_t k : {size_t(0), n_importance + 1, groups * n_importance - 1}) {
            const double h = 1e-5;
            write_u(dir_ / "u_up.csv", groups, n_importance, h, k);
            write_u(dir_ / "u_down.csv", groups, n_importance, -h, k);
            double fd = (lp_at(model, theta, "u_up.csv") - lp_at(model, theta, "u_down.csv")) / (2 * h);
            double g = NAN;
            ASSERT_TRUE(parses_as_double(split(grad_u[k / n_importance], ',')[k % n_importance], &g));
            EXPECT_NEAR(fd, g, 1e-6 * std::max(1.0, std::fabs(g))) << "u entry " << k;
        }
    }
};

TEST_F(CliLogProb, GlmmGradientMatchesFiniteDifferences)
{
    ASSERT_EQ(run({"simulate", "--T", "6", "--n", "3", "--p", "2", "--seed", "3", "--out", "sim"}).rc, 0);
    check("glmm", {0.3, -0.4, 0.2, 2.5, 1.5, 0.8, 1.0}, 6, 5);
}

TEST_F(CliLogProb, NormalReGradientMatchesFiniteDifferences)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "5", "--n", "3", "--out", "sim"}).rc, 0);
    check("normal_re", {0.7, -0.3}, 5, 4);
}

TEST_F(CliLogProb, BadUFileNamesFileAndLine)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "3", "--n", "2", "--out", "sim"}).rc, 0);
    write_text(dir_ / "ragged.csv", "0.1,0.2\n0.3\n0.5,0.6\n");
    Result r = run({"log_prob", "--model", "normal_re", "--data", "sim/data.csv", "--theta", "0,0", "--u",
                    "ragged.csv"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "ragged.csv:2")) << r.err;

    write_text(dir_ / "short.csv", "0.1,0.2\n0.3,0.4\n");
    r = run({"log_prob", "--model", "normal_re", "--data", "sim/data.csv", "--theta", "0,0", "--u", "short.csv"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "short.csv")) << r.err;

    write_u(dir_ / "u.csv", 3, 2);
    r = run({"log_prob", "--model", "normal_re", "--data", "sim/data.csv", "--theta", "0,0,0", "--u", "u.csv"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "--theta")) << r.err;
}

// ---- sample -------------------------------------------------------------------

// Draws-file lines without the elapsed-time footer, which varies run to run.
std::vector<std::string> without_timing(const std::string &text)
{
    std::vector<std::string> kept;
    for (const auto &line : lines_of(text))
        if (!(line.rfind("#", 0) == 0 && (contains(line, "seconds") || contains(line, "Elapsed"))))
            kept.push_back(line);
    return kept;
}

// ---- noise ---------------------------------------------------------------------

class CliNoise : public Cli {
protected:
    // normal_re data of T groups of n, and its per-group statistics read
    // back from the file (ids in order of first appearance).
    std::vector<pmhmc_test::GroupStats> make_data(size_t T, size_t n)
    {
        EXPECT_EQ(run({"simulate", "--model", "normal_re", "--T", std::to_string(T), "--n", std::to_string(n),
                       "--seed", "5", "--out", "sim"})
                      .rc,
                  0);
        std::vector<pmhmc_test::GroupStats> stats;
        std::map<std::string, size_t> index;
        auto lines = lines_of(read_text(dir_ / "sim/data.csv"));
        for (size_t i = 1; i < lines.size(); ++i) {
            auto parts = split(lines[i], ',');
            double y = NAN;
            EXPECT_TRUE(parts.size() == 2 && parses_as_double(parts[1], &y)) << lines[i];
            auto it = index.emplace(parts[0], stats.size()).first;
            if (it->second == stats.size())
                stats.push_back({0.0, 0.0, 0.0});
            pmhmc_test::GroupStats &g = stats[it->second];
            g.n += 1.0;
            g.sy += y;
            g.syy += y * y;
        }
        EXPECT_EQ(stats.size(), T);
        return stats;
    }

    std::map<std::string, double> noise(const std::vector<std::string> &extra)
    {
        std::vector<std::string> args = {"noise", "n.ini"};
        args.insert(args.end(), extra.begin(), extra.end());
        Result r = run(args);
        EXPECT_EQ(r.rc, 0) << r.err;
        std::map<std::string, double> out;
        for (auto &[name, value] : name_values(r.out))
            out[name] = value;
        return out;
    }
};

// The quadrature estimator and the laplace proposal are exact for
// normal_re (the posterior of X is Gaussian): sd 0 and the mean the
// closed-form likelihood, at --theta and at the posterior mean of --draws.
TEST_F(CliNoise, ExactEstimatorsHaveNoNoiseAndTheClosedFormMean)
{
    auto stats = make_data(12, 4);
    write_text(dir_ / "n.ini", "[model]\nname = normal_re\ndata = sim/data.csv\nN = 8\n");
    const double mu = 0.7, log_tau = -0.3;
    const double exact = pmhmc_test::normal_re_loglik(stats, mu, std::exp(log_tau));
    for (const char *setting : {"model.proposal=laplace", "model.estimator=quadrature"}) {
        SCOPED_TRACE(setting);
        auto r = noise({setting, "--theta", "0.7,-0.3", "--reps", "5"});
        EXPECT_EQ(r["N"], 8.0);
        EXPECT_EQ(r["reps"], 5.0);
        EXPECT_NEAR(r["mean_log_phat"], exact, 1e-9 * std::fabs(exact));
        EXPECT_LT(r["sd_log_phat"], 1e-9);
        EXPECT_GT(r["seconds_per_estimate"], 0.0);
    }
    // --draws: theta is the mean over every draw of every file.
    write_text(dir_ / "d1.csv", "# a comment\nlp__,accept_stat__,mu,log_tau\n-1,1,0.5,-0.2\n-1,1,0.9,-0.4\n");
    write_text(dir_ / "d2.csv", "lp__,accept_stat__,mu,log_tau\n-1,1,0.7,-0.3\n-1,1,0.7,-0.3\n");
    auto r = noise({"--draws", "d1.csv", "d2.csv", "--reps", "2"});
    EXPECT_NEAR(r["mean_log_phat"], exact, 1e-9 * std::fabs(exact));
}

// The prior proposal's noise against an independent simulation of the
// same estimator: per group, phat_g = mean over N draws X ~ N(mu, tau^2) of
// N(y_g; X 1, I). The mean and sd of log phat over R = 400 of the CLI's u
// and 4000 of the test's own must agree within 4 standard errors (for the
// sd, se ~ sd / sqrt(2 R): log phat, a sum over groups, is near normal;
// the 4.5 sd bound leaves room for its tails). The fixed proposal, a
// different estimator, is told apart: its sd here is over twice as large.
TEST_F(CliNoise, PriorProposalNoiseMatchesAnIndependentSimulation)
{
    auto stats = make_data(6, 3);
    const size_t N = 4;
    write_text(dir_ / "n.ini", "[model]\nname = normal_re\ndata = sim/data.csv\nN = 4\nproposal = prior\n");
    const double mu = 0.7, tau = std::exp(-0.3);
    // y_g's rows, again: the statistics are not enough for the per-draw density.
    std::vector<std::vector<double>> ys(stats.size());
    {
        std::map<std::string, size_t> index;
        auto lines = lines_of(read_text(dir_ / "sim/data.csv"));
        for (size_t i = 1; i < lines.size(); ++i) {
            auto parts = split(lines[i], ',');
            auto it = index.emplace(parts[0], index.size()).first;
            ys[it->second].push_back(std::stod(parts[1]));
        }
    }
    pmhmc_test::TestRng rng(pmhmc_test::stream_seed(77));
    const size_t R_ref = 4000;
    std::vector<double> ref(R_ref);
    for (double &v : ref) {
        v = 0.0;
        for (const auto &y : ys) {
            double hi = -INFINITY, lw[16];
            for (size_t k = 0; k < N; ++k) {
                const double x = mu + tau * rng.normal();
                lw[k] = 0.0;
                for (double yi : y)
                    lw[k] += -0.5 * std::log(2 * M_PI) - 0.5 * (yi - x) * (yi - x);
                hi = std::max(hi, lw[k]);
            }
            double sum = 0.0;
            for (size_t k = 0; k < N; ++k)
                sum += std::exp(lw[k] - hi);
            v += hi + std::log(sum / (double)N);
        }
    }
    const double ref_mean = pmhmc_test::mean_of(ref), ref_sd = std::sqrt(pmhmc_test::variance_of(ref));
    const double R = 400;
    auto r = noise({"--theta", "0.7,-0.3", "--reps", "400", "--seed", std::to_string(pmhmc_test::stream_seed(3))});
    const double se_mean = std::sqrt(ref_sd * ref_sd / R + ref_sd * ref_sd / (double)R_ref);
    const double se_sd = std::sqrt(ref_sd * ref_sd / (2 * R) + ref_sd * ref_sd / (2.0 * (double)R_ref));
    EXPECT_NEAR(r["mean_log_phat"], ref_mean, 4.0 * se_mean);
    EXPECT_NEAR(r["sd_log_phat"], ref_sd, 4.5 * se_sd);
    EXPECT_GT(ref_sd, 0.2) << "a noise worth measuring";
    RecordProperty("sd", pmhmc_test::sci(r["sd_log_phat"]) + " vs " + pmhmc_test::sci(ref_sd));
    auto fixed = noise({"model.proposal=fixed", "--theta", "0.7,-0.3", "--reps", "400"});
    EXPECT_GT(fixed["sd_log_phat"], 2.0 * ref_sd);
}

// model.N = auto: pmhmc noise reports the N pmhmc sample would choose at
// this theta, and its figures there: the same as asking for that N, at most
// the target, and above it at N / 2 (the same seed). Quadrature has no
// noise to choose by: refused, naming the key; a misspelt auto names what
// the key takes.
TEST_F(CliNoise, AutoReportsTheNItWouldChoose)
{
    make_data(12, 3);
    write_text(dir_ / "n.ini", "[model]\nname = normal_re\ndata = sim/data.csv\nN = auto\nproposal = prior\n");
    const std::string seed = std::to_string(pmhmc_test::stream_seed(4));
    const std::vector<std::string> at = {"--theta", "0.7,-0.3", "--reps", "24", "--seed", seed};
    auto with = [&](std::vector<std::string> extra) {
        extra.insert(extra.end(), at.begin(), at.end());
        return noise(extra);
    };
    auto chosen = with({"model.noise_target=0.2"});
    const double N = chosen["N"];
    ASSERT_GE(N, 4.0) << "a target that needs more than the fewest draws";
    ASSERT_LT(N, PMHMC_AUTO_N_MAX);
    auto same = with({"model.N=" + std::to_string((int)N)});
    EXPECT_EQ(same["sd_log_phat"], chosen["sd_log_phat"]);
    EXPECT_LE(chosen["sd_log_phat"], 0.2);
    EXPECT_GT(with({"model.N=" + std::to_string((int)N / 2)})["sd_log_phat"], 0.2);

    Result r = run({"noise", "n.ini", "model.estimator=quadrature", "--theta", "0.7,-0.3"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "model.N") && contains(r.err, "quadrature")) << r.err;
    r = run({"noise", "n.ini", "model.N=automatic", "--theta", "0.7,-0.3"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "auto or an integer")) << r.err;
}

TEST_F(CliNoise, BadArgumentsAreOneLineErrors)
{
    make_data(3, 2);
    write_text(dir_ / "n.ini", "[model]\nname = normal_re\ndata = sim/data.csv\nN = 4\n");
    expect_one_line_error(run({"noise", "n.ini"}), 1);                                  // neither --theta nor --draws
    expect_one_line_error(run({"noise", "n.ini", "--theta", "0.7"}), 1);                // too few values
    expect_one_line_error(run({"noise", "n.ini", "--theta", "0.7,x"}), 1);              // not a number
    expect_one_line_error(run({"noise", "n.ini", "--theta", "0.7,0", "--reps", "1"}), 1); // sd needs two
    write_text(dir_ / "d.csv", "lp__,mu\n-1,0.5\n");
    expect_one_line_error(run({"noise", "n.ini", "--draws", "d.csv"}), 1); // no log_tau column
    EXPECT_EQ(files(), (std::vector<std::string>{"d.csv", "n.ini", "sim/data.csv", "sim/truth.csv"}));
}

TEST_F(Cli, SampleWritesCmdStanCsv)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "15", "--n", "3", "--out", "sim"}).rc, 0);
    write_text(dir_ / "run.ini",
               "# a tiny normal_re run\n"
               "[model]\nname = normal_re\ndata = sim/data.csv\nN = 16\n"
               "[sampler]\nalgorithm = pmhmc\nwarmup = 20\niterations = 30\nstep_size = 0.1\nsteps = 10\nmass = 1\nseed = 7\n"
               "chains = 1\n"
               "[output]\nfile = out/draws.csv\n");
    Result r = run({"sample", "run.ini", "output.refresh=0", "sampler.backend=cpu"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_TRUE(contains(r.out, "acceptance rate")) << r.out;
    for (const char *name : {"mu", "log_tau", "tau"})
        EXPECT_TRUE(contains(r.out, name)) << r.out;
    EXPECT_EQ(files(), (std::vector<std::string>{"out/draws.csv", "out/draws.html", "run.ini", "sim/data.csv",
                                                 "sim/truth.csv"}));

    auto lines = lines_of(read_text(dir_ / "out/draws.csv"));
    size_t i = 0;
    std::string header;
    for (; i < lines.size() && lines[i].rfind("#", 0) == 0; ++i)
        header += lines[i] + "\n";
    EXPECT_TRUE(contains(header, std::string("# pmhmc_version = ") + PMHMC_VERSION)) << header;
    EXPECT_TRUE(contains(header, "#   steps = 10\n")) << header;
    EXPECT_TRUE(contains(header, "#   seed = 7\n")) << header;
    EXPECT_TRUE(contains(header, "#   chains = 1\n")) << header;
    EXPECT_TRUE(contains(header, "#   init_jitter = 1 (Default)\n")) << header;
    EXPECT_TRUE(contains(header, "# chain_id = 1\n")) << header;
    EXPECT_TRUE(contains(header, "# init = mu=")) << header;
    EXPECT_TRUE(contains(header, "#   prior_var = 100 (Default)\n")) << header;
    EXPECT_TRUE(contains(header, "#   refresh = 0\n")) << header;

    ASSERT_LT(i, lines.size());
    EXPECT_EQ(lines[i], "lp__,accept_stat__,stepsize__,int_time__,energy__,mu,log_tau,tau");
    // The estimator's noise where warm-up ended, as the adaptation block is
    // written: a comment between the column names and the first draw.
    ASSERT_LT(i + 1, lines.size());
    EXPECT_EQ(lines[i + 1].rfind("# Noise of log phat at the end of warm-up: sd = ", 0), 0u) << lines[i + 1];
    EXPECT_TRUE(contains(lines[i + 1], " over 16 fresh u (model.N = 16, model.proposal = laplace)")) << lines[i + 1];
    EXPECT_TRUE(contains(r.out, "sd of log phat at the end of warm-up: ")) << r.out;
    EXPECT_FALSE(contains(r.out, "noisy")) << r.out; // laplace is exact for normal_re
    ++i;
    size_t rows = 0;
    for (++i; i < lines.size() && lines[i].rfind("#", 0) != 0; ++i, ++rows) {
        auto fields = split(lines[i], ',');
        ASSERT_EQ(fields.size(), 8u) << lines[i];
        std::vector<double> v(fields.size());
        for (size_t k = 0; k < fields.size(); ++k)
            ASSERT_TRUE(parses_as_double(fields[k], &v[k])) << lines[i];
        EXPECT_EQ(v[2], 0.1);                              // stepsize__
        EXPECT_NEAR(v[3], 1.0, 1e-12);                     // int_time__ = h L
        EXPECT_GE(v[1], 0.0);                              // accept_stat__
        EXPECT_LE(v[1], 1.0);
        EXPECT_NEAR(v[7], std::exp(v[6]), 1e-8 * v[7]);    // tau = exp(log_tau), at %.9g
    }
    EXPECT_EQ(rows, 30u);
    std::string footer;
    for (; i < lines.size(); ++i)
        footer += lines[i] + "\n";
    EXPECT_TRUE(contains(footer, "Elapsed Time:")) << footer;
    EXPECT_TRUE(contains(footer, "seconds (Sampling)")) << footer;
    EXPECT_TRUE(contains(footer, "seconds (Total)")) << footer;
}

// A noisy estimator is named at the end with what to do about it (the
// report's fixed proposal with N = 2 on normal_re: sd of log phat ~10).
TEST_F(Cli, SampleWarnsOfANoisyEstimator)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "15", "--n", "3", "--out", "sim"}).rc, 0);
    write_text(dir_ / "run.ini", "[model]\nname = normal_re\ndata = sim/data.csv\nN = 2\nproposal = fixed\n"
                                 "[sampler]\nwarmup = 20\niterations = 10\nchains = 2\nbackend = cpu\n"
                                 "[output]\nfile = draws.csv\nrefresh = 0\nreport = false\n");
    Result r = run({"sample", "run.ini"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(contains(r.out, " (chain 1), ")) << r.out;
    EXPECT_TRUE(contains(r.out, " (chain 2) (model.N = 2, model.proposal = fixed)\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "Warning: the likelihood estimate is noisy")) << r.out;
    EXPECT_TRUE(contains(r.out, "Use model.proposal = laplace or raise model.N")) << r.out;
}

TEST_F(Cli, BackendAutoFallsBackToCpuWithNoticeAndCudaFailsCleanly)
{
    char reason[256] = "";
    if (pmhmc_cuda_usable(reason, sizeof reason))
        GTEST_SKIP() << "a GPU is usable here, so there is no fallback to check";
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "10", "--n", "3", "--out", "sim"}).rc, 0);
    write_text(dir_ / "run.ini",
               "[model]\nname = normal_re\ndata = sim/data.csv\nN = 8\n"
               "[sampler]\nalgorithm = pmhmc\nwarmup = 5\niterations = 5\nstep_size = 0.1\nsteps = 5\nmass = 1\nchains = 1\n"
               "[output]\nfile = draws.csv\nrefresh = 0\n");

    Result automatic = run({"sample", "run.ini"}); // backend defaults to auto
    ASSERT_EQ(automatic.rc, 0) << automatic.err;
    EXPECT_EQ(lines_of(automatic.err).size(), 1u) << automatic.err;
    EXPECT_TRUE(contains(automatic.err, "using the CPU backend")) << automatic.err;
    EXPECT_TRUE(contains(automatic.err, reason)) << automatic.err;
    EXPECT_TRUE(contains(read_text(dir_ / "draws.csv"), "# backend_used = cpu")) ;

    fs::remove(dir_ / "draws.csv");
    Result cuda = run({"sample", "run.ini", "sampler.backend=cuda"});
    EXPECT_EQ(cuda.rc, 1);
    EXPECT_EQ(lines_of(cuda.err).size(), 1u) << cuda.err;
    EXPECT_TRUE(contains(cuda.err, "sampler.backend")) << cuda.err;
    EXPECT_TRUE(contains(cuda.err, reason)) << cuda.err;
    EXPECT_FALSE(fs::exists(dir_ / "draws.csv"));
}

TEST_F(Cli, SampleTruthPrintsTrueValuesBesideTheMeans)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "15", "--n", "3", "--mu", "0.75", "--out", "sim"}).rc, 0);
    write_text(dir_ / "run.ini",
               "[model]\nname = normal_re\ndata = sim/data.csv\nN = 16\n"
               "[sampler]\nalgorithm = pmhmc\nwarmup = 10\niterations = 20\nstep_size = 0.1\nsteps = 10\nmass = 1\n"
               "[output]\nfile = draws.csv\nrefresh = 0\n");
    Result r = run({"sample", "run.ini", "--truth", "sim/truth.csv"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "truth")) << r.out;
    bool found = false;
    for (const std::string &line : lines_of(r.out)) {
        auto cols = split(line, ' ');
        cols.erase(std::remove(cols.begin(), cols.end(), ""), cols.end());
        if (!cols.empty() && cols[0] == "parameter") { // the diagnostics, then the truth
            EXPECT_EQ(cols, (std::vector<std::string>{"parameter", "Mean", "MCSE", "StdDev", "5%", "50%", "95%",
                                                      "ESS_bulk", "ESS_tail", "R_hat", "truth", "(mean-truth)/sd"}));
        }
        if (cols.size() == 12 && cols[0] == "mu") {
            found = true;
            EXPECT_EQ(cols[10], "0.75") << line; // the simulated mu, read back from truth.csv
        }
    }
    EXPECT_TRUE(found) << r.out;

    Result missing = run({"sample", "run.ini", "--truth", "nope.csv"});
    EXPECT_EQ(missing.rc, 1);
    EXPECT_TRUE(contains(missing.err, "nope.csv")) << missing.err;
}

TEST_F(Cli, SampleSameSeedGivesIdenticalDrawsWhateverTheThreadCount)
{
    ASSERT_EQ(run({"simulate", "--T", "40", "--n", "3", "--p", "2", "--out", "sim"}).rc, 0);
    write_text(dir_ / "run.ini",
               "[model]\ndata = sim/data.csv\nN = 16\n"
               "[sampler]\nalgorithm = pmhmc\nwarmup = 10\niterations = 20\nsteps = 5\nseed = 11\nchains = 1\n"
               "[output]\nfile = draws.csv\nrefresh = 0\n");
    auto draws = [&](const std::string &env, const std::vector<std::string> &extra = {}) {
        std::vector<std::string> args = {"sample", "run.ini"};
        args.insert(args.end(), extra.begin(), extra.end());
        Result r = run(args, env);
        EXPECT_EQ(r.rc, 0) << r.err;
        return without_timing(read_text(dir_ / "draws.csv"));
    };
    auto first = draws("OMP_NUM_THREADS=1");
    ASSERT_GT(first.size(), 20u);
    EXPECT_EQ(draws("OMP_NUM_THREADS=1"), first);
    EXPECT_EQ(draws("OMP_NUM_THREADS=2"), first);
    // Not vacuous: another seed moves the chain.
    auto other = draws("OMP_NUM_THREADS=1", {"sampler.seed=12"});
    other.erase(std::remove(other.begin(), other.end(), "#   seed = 12"), other.end());
    auto same_header = first;
    same_header.erase(std::remove(same_header.begin(), same_header.end(), "#   seed = 11"), same_header.end());
    EXPECT_NE(other, same_header);
}

// ---- several chains -------------------------------------------------------------

// The rows of a draws file (no '#' lines).
std::vector<std::string> rows_of(const std::string &text)
{
    std::vector<std::string> kept;
    for (const auto &line : lines_of(text))
        if (line.rfind("#", 0) != 0)
            kept.push_back(line);
    return kept;
}

// A small GLMM run in its own scratch directory: K chains' files.
class CliChains : public Cli {
protected:
    void SetUp() override
    {
        Cli::SetUp();
        ASSERT_EQ(run({"simulate", "--T", "40", "--n", "3", "--p", "2", "--out", "sim"}).rc, 0);
        write_text(dir_ / "run.ini",
                   "[model]\ndata = sim/data.csv\nN = 16\n"
                   "[sampler]\nalgorithm = pmhmc\nwarmup = 10\niterations = 20\nsteps = 5\nseed = 11\nbackend = cpu\n"
                   "[output]\nfile = out/draws.csv\nrefresh = 0\n");
    }

    // Runs the sample command; returns each chain's file without timing lines.
    std::vector<std::vector<std::string>> chains(size_t K, const std::string &env = "OMP_NUM_THREADS=1",
                                                 const std::vector<std::string> &extra = {}, Result *out = nullptr)
    {
        std::vector<std::string> args = {"sample", "run.ini", "sampler.chains=" + std::to_string(K)};
        args.insert(args.end(), extra.begin(), extra.end());
        Result r = run(args, env);
        EXPECT_EQ(r.rc, 0) << r.err;
        if (out)
            *out = r;
        std::vector<std::vector<std::string>> files;
        for (size_t k = 1; k <= K; ++k) {
            fs::path path = dir_ / "out" / ("draws_" + std::to_string(k) + ".csv");
            EXPECT_TRUE(fs::exists(path)) << path;
            files.push_back(without_timing(read_text(path)));
        }
        return files;
    }
};

TEST_F(CliChains, OneFilePerChainWithDistinctDrawsAndPooledSummary)
{
    Result r;
    auto files = chains(3, "OMP_NUM_THREADS=1", {"output.refresh=10"}, &r);
    EXPECT_EQ(this->files(), (std::vector<std::string>{"out/draws.html", "out/draws_1.csv", "out/draws_2.csv",
                                                       "out/draws_3.csv", "run.ini", "sim/data.csv", "sim/truth.csv"}));
    std::vector<std::string> inits;
    for (size_t k = 0; k < files.size(); ++k) {
        const auto &lines = files[k];
        std::string id = "# chain_id = " + std::to_string(k + 1);
        EXPECT_NE(std::find(lines.begin(), lines.end(), id), lines.end()) << id;
        auto init = std::find_if(lines.begin(), lines.end(), [](const std::string &l) { return l.rfind("# init = ", 0) == 0; });
        ASSERT_NE(init, lines.end());
        inits.push_back(*init);
        EXPECT_EQ(rows_of(read_text(dir_ / "out" / ("draws_" + std::to_string(k + 1) + ".csv"))).size(), 21u);
    }
    // Dispersed starts (init_jitter = 1) and different draws.
    EXPECT_NE(inits[0], inits[1]);
    EXPECT_NE(inits[1], inits[2]);
    EXPECT_NE(rows_of(read_text(dir_ / "out/draws_1.csv")), rows_of(read_text(dir_ / "out/draws_2.csv")));
    EXPECT_NE(rows_of(read_text(dir_ / "out/draws_2.csv")), rows_of(read_text(dir_ / "out/draws_3.csv")));

    // Progress lines (on stderr, which is not a terminal here) carry the
    // chain, one whole line each; the summary reports every chain's
    // acceptance and the pooled one.
    for (const char *s : {"Chain [1] Iteration:", "Chain [2] Iteration:", "Chain [3] Iteration:"})
        EXPECT_TRUE(contains(r.err, s)) << s << " in " << r.err;
    for (const char *s : {"chain 1: acceptance rate", "chain 3: acceptance rate", "60 saved draws"})
        EXPECT_TRUE(contains(r.out, s)) << s << " in " << r.out;
    EXPECT_FALSE(contains(r.out, "Iteration:")) << r.out;
    EXPECT_FALSE(contains(r.err, "\r")) << r.err;
    size_t progress_lines = 0;
    for (const auto &line : lines_of(r.err)) {
        if (contains(line, "Iteration:")) {
            ++progress_lines;
            EXPECT_EQ(line.rfind("Chain [", 0), 0u) << line;
            EXPECT_TRUE(contains(line, "/s  ETA ")) << line;
            EXPECT_TRUE(contains(line, "  accept ")) << line;
            EXPECT_TRUE(contains(line, "  divergent ")) << line;
        }
    }
    // Iterations 1, 10, 20 and 30 of each chain (refresh = 10).
    EXPECT_EQ(progress_lines, 12u) << r.err;
    EXPECT_TRUE(contains(r.out, "of 60 saved transitions")) << r.out;

    // jitter 0: every chain starts at the model's documented start.
    files = chains(2, "OMP_NUM_THREADS=1", {"sampler.init_jitter=0"});
    auto init_of = [](const std::vector<std::string> &lines) {
        for (const auto &l : lines)
            if (l.rfind("# init = ", 0) == 0)
                return l.substr(l.find("mu1="));
        return std::string();
    };
    EXPECT_EQ(init_of(files[0]), "mu1=0, mu2=0, log_lambda1=0, log_lambda2=-2.3025850929940455, logit_w1=0");
    EXPECT_EQ(init_of(files[1]), init_of(files[0]));
}

// The table at the end of `sample` and `pmhmc summary` of its files agree.
TEST_F(CliChains, EndTableHasTheDiagnosticsOfSummary)
{
    Result r;
    chains(3, "OMP_NUM_THREADS=1", {}, &r);
    // Cells of each row by header, for a whitespace-aligned table whose
    // header row starts with `first` (or has no name cell when empty).
    auto table = [](const std::string &text, const std::string &first) {
        std::map<std::string, std::map<std::string, std::string>> rows;
        std::vector<std::string> header;
        for (const auto &line : lines_of(text)) {
            auto cols = split(line, ' ');
            cols.erase(std::remove(cols.begin(), cols.end(), ""), cols.end());
            if (cols.empty())
                continue;
            if (header.empty()) {
                if (cols[0] == (first.empty() ? "Mean" : first)) {
                    header = cols;
                    if (!first.empty())
                        header.erase(header.begin());
                }
                continue;
            }
            if (cols.size() != header.size() + 1)
                continue;
            for (size_t k = 0; k < header.size(); ++k)
                rows[cols[0]][header[k]] = cols[k + 1];
        }
        return rows;
    };
    auto mine = table(r.out, "parameter");
    Result s = run({"summary", "out/draws_1.csv", "out/draws_2.csv", "out/draws_3.csv"});
    ASSERT_EQ(s.rc, 0) << s.err;
    auto theirs = table(s.out, "");
    for (const char *name : {"beta.1", "mu2", "log_lambda1", "logit_w1", "lambda2", "w1"}) {
        ASSERT_EQ(mine[name].size(), 9u) << name << "\n" << r.out;
        for (const char *stat : {"Mean", "MCSE", "StdDev", "5%", "50%", "95%", "ESS_bulk", "ESS_tail", "R_hat"})
            EXPECT_EQ(mine[name][stat], theirs[name][stat]) << name << " " << stat << "\n" << r.out << s.out;
    }
    // 20 draws of 3 chains from dispersed starts have not mixed.
    EXPECT_TRUE(contains(r.out, "Warning: R_hat greater than 1.01 for: ")) << r.out;
    EXPECT_TRUE(contains(r.out, "acceptance rate: ")) << r.out;
}

TEST_F(CliChains, ProgressLinesOnStderrAndQuietSilencesThem)
{
    // One chain: no "Chain [k]" prefix; every refresh transitions, the first
    // and the last; the figures after the CmdStan-style part.
    Result r;
    const std::string one = "output.file=out/draws_1.csv"; // where chains() looks
    auto loud = chains(1, "OMP_NUM_THREADS=1", {one, "output.refresh=15"}, &r);
    std::vector<std::string> progress;
    for (const auto &line : lines_of(r.err))
        if (contains(line, "Iteration:"))
            progress.push_back(line);
    ASSERT_EQ(progress.size(), 3u) << r.err; // 1, 15, 30 of 30
    EXPECT_EQ(progress[0].rfind("Iteration:  1 / 30 [  3%]  (Warmup)  ", 0), 0u) << progress[0];
    EXPECT_EQ(progress[1].rfind("Iteration: 15 / 30 [ 50%]  (Sampling)  ", 0), 0u) << progress[1];
    EXPECT_EQ(progress[2].rfind("Iteration: 30 / 30 [100%]  (Sampling)  ", 0), 0u) << progress[2];
    EXPECT_TRUE(contains(progress[2], "ETA 0s")) << progress[2];
    EXPECT_TRUE(contains(progress[2], "divergent 0")) << progress[2];

    // --quiet: nothing on stderr, and the same draws.
    auto quiet = chains(1, "OMP_NUM_THREADS=1", {one, "output.refresh=15", "--quiet"}, &r);
    EXPECT_EQ(r.err, "");
    EXPECT_FALSE(contains(r.out, "Iteration:")) << r.out;
    EXPECT_EQ(quiet, loud);
    // refresh = 0 (run.ini) is as quiet, and the draws do not change either.
    auto silent = chains(1, "OMP_NUM_THREADS=1", {one}, &r);
    EXPECT_EQ(r.err, "");
    ASSERT_EQ(silent.size(), 1u);
    silent[0].erase(std::remove(silent[0].begin(), silent[0].end(), "#   refresh = 0"), silent[0].end());
    loud[0].erase(std::remove(loud[0].begin(), loud[0].end(), "#   refresh = 15"), loud[0].end());
    EXPECT_EQ(silent, loud);
}

TEST_F(CliChains, SameSeedReproducesEveryChainWhateverTheThreadCount)
{
    auto first = chains(3, "OMP_NUM_THREADS=1");
    EXPECT_EQ(chains(3, "OMP_NUM_THREADS=1"), first);
    EXPECT_EQ(chains(3, "OMP_NUM_THREADS=2"), first);
    EXPECT_EQ(chains(3, "OMP_NUM_THREADS=4"), first);
    // Byte for byte, apart from the elapsed times.
    std::string text = read_text(dir_ / "out/draws_2.csv");
    EXPECT_EQ(without_timing(text), first[1]);
}

TEST_F(CliChains, ChainKDoesNotDependOnTheNumberOfChains)
{
    auto four = chains(4, "OMP_NUM_THREADS=2");
    auto two = chains(2, "OMP_NUM_THREADS=1");
    auto one = chains(1, "OMP_NUM_THREADS=2", {"output.file=out/draws_1.csv"});
    for (auto *set : {&four, &two, &one})
        for (auto &lines : *set)
            lines.erase(std::remove_if(lines.begin(), lines.end(),
                                       [](const std::string &l) {
                                           return l.rfind("#   chains = ", 0) == 0 || l.rfind("#   file = ", 0) == 0;
                                       }),
                        lines.end());
    EXPECT_EQ(two[0], four[0]);
    EXPECT_EQ(two[1], four[1]);
    EXPECT_EQ(one[0], four[0]);
}

// More chains than the run has workers (64 at most; on the CPU backend,
// beyond 64 chains, one per core): chain k's file is what a run of fewer
// chains writes for it, and the end of the run summarises the figures per
// chain instead of listing them.
TEST_F(CliChains, MoreChainsThanWorkersDrawWhatFewerChainsDraw)
{
    Result r;
    auto many = chains(70, "OMP_NUM_THREADS=2", {"output.report=false"}, &r);
    auto few = chains(3, "OMP_NUM_THREADS=1", {"output.report=false"});
    for (auto *set : {&many, &few})
        for (auto &lines : *set)
            lines.erase(std::remove_if(lines.begin(), lines.end(),
                                       [](const std::string &l) { return l.rfind("#   chains = ", 0) == 0; }),
                        lines.end());
    EXPECT_EQ(many[2], few[2]);
    EXPECT_NE(many[69], many[2]);
    EXPECT_TRUE(contains(r.out, "(70 chains x 20, each after 10 warm-up)")) << r.out;
    EXPECT_TRUE(contains(r.out, "acceptance rate over 70 chains: least ")) << r.out;
    EXPECT_FALSE(contains(r.out, "chain 70: acceptance rate")) << r.out;
}

// A run that would need more open files than the process may have is
// refused before anything is opened.
TEST_F(CliChains, ChainsBeyondTheOpenFileLimitAreRefusedBeforeRunning)
{
    Result r = run({"sample", "run.ini", "sampler.chains=300"}, "ulimit -n 128 &&");
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "sampler.chains")) << r.err;
    EXPECT_TRUE(contains(r.err, "at most 128 (ulimit -Hn)")) << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "out")) << "nothing may be written";
}

// sampler.superchains = 2 of 6 chains: the chains of a superchain share its
// first chain's start, the two superchains' starts differ; the table at the
// end and pmhmc summary --superchains give nR_hat, the nested R-hat of the
// files' draws (pmhmc_rhat_nested on them, read back here).
TEST_F(CliChains, SuperchainsShareAStartAndGetNestedRhat)
{
    Result r;
    auto files = chains(6, "OMP_NUM_THREADS=1", {"sampler.superchains=2"}, &r);
    std::vector<std::string> inits;
    for (const auto &lines : files)
        inits.push_back(*std::find_if(lines.begin(), lines.end(),
                                      [](const std::string &l) { return l.rfind("# init = ", 0) == 0; }));
    EXPECT_EQ(inits[0], inits[1]);
    EXPECT_EQ(inits[0], inits[2]);
    EXPECT_EQ(inits[3], inits[5]);
    EXPECT_NE(inits[0], inits[3]);
    EXPECT_NE(rows_of(read_text(dir_ / "out/draws_1.csv")), rows_of(read_text(dir_ / "out/draws_2.csv")));
    EXPECT_TRUE(contains(r.out, "(2 superchains of 3, each started from one point)")) << r.out;
    EXPECT_TRUE(contains(r.out, "nR_hat")) << r.out;

    // mu's draws, chain after chain, as the files hold them
    std::vector<double> mu;
    size_t col = SIZE_MAX;
    for (size_t k = 1; k <= 6; ++k) {
        auto rows = rows_of(read_text(dir_ / "out" / ("draws_" + std::to_string(k) + ".csv")));
        std::vector<std::string> names;
        std::stringstream hs(rows[0]);
        for (std::string cell; std::getline(hs, cell, ',');)
            names.push_back(cell);
        col = std::find(names.begin(), names.end(), "mu1") - names.begin();
        ASSERT_LT(col, names.size());
        for (size_t i = 1; i < rows.size(); ++i) {
            std::stringstream ss(rows[i]);
            std::string cell;
            for (size_t j = 0; j <= col; ++j)
                std::getline(ss, cell, ',');
            mu.push_back(std::stod(cell));
        }
    }
    const double expected = pmhmc_rhat_nested(mu.data(), 6, 20, 2);
    ASSERT_TRUE(std::isfinite(expected));
    Result s = run({"summary", "--csv", "--superchains", "2", "out/draws_1.csv", "out/draws_2.csv", "out/draws_3.csv",
                    "out/draws_4.csv", "out/draws_5.csv", "out/draws_6.csv"});
    ASSERT_EQ(s.rc, 0) << s.err;
    auto lines = lines_of(s.out);
    EXPECT_EQ(lines[0].substr(lines[0].rfind(',') + 1), "nR_hat");
    auto mu_line = std::find_if(lines.begin(), lines.end(), [](const std::string &l) { return l.rfind("\"mu1\",", 0) == 0; });
    ASSERT_NE(mu_line, lines.end()) << s.out;
    EXPECT_NEAR(std::stod(mu_line->substr(mu_line->rfind(',') + 1)), expected, 1e-8 * expected);

    Result odd = run({"summary", "--superchains", "4", "out/draws_1.csv", "out/draws_2.csv", "out/draws_3.csv",
                      "out/draws_4.csv", "out/draws_5.csv", "out/draws_6.csv"});
    EXPECT_EQ(odd.rc, 1);
    EXPECT_TRUE(contains(odd.err, "cannot form 4 superchains")) << odd.err;
    Result bad = run({"sample", "run.ini", "sampler.chains=6", "sampler.superchains=4"});
    EXPECT_EQ(bad.rc, 1);
    EXPECT_TRUE(contains(bad.err, "sampler.superchains")) << bad.err;
}

TEST_F(CliChains, FailingChainsLeaveNoOutput)
{
    // Every chain's start is moved to ~1e200, where the log density is not
    // finite: the samplers fail on their threads after every chain's
    // temporary file was created.
    Result r = run({"sample", "run.ini", "sampler.chains=3", "sampler.init_jitter=1e200"});
    expect_one_line_error(r, 2);
    EXPECT_TRUE(contains(r.err, "chain 1:")) << r.err;
    EXPECT_TRUE(contains(r.err, "not finite")) << r.err;
    EXPECT_TRUE(contains(r.err, "init_jitter")) << r.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"run.ini", "sim/data.csv", "sim/truth.csv"}));

    // A directory where chain 3's file should go: refused before any chain
    // starts, with nothing written.
    fs::create_directories(dir_ / "out/draws_3.csv");
    r = run({"sample", "run.ini", "sampler.chains=3"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "output.file")) << r.err;
    EXPECT_TRUE(contains(r.err, "draws_3.csv")) << r.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"run.ini", "sim/data.csv", "sim/truth.csv"}));

    // An output directory that cannot be created.
    write_text(dir_ / "blocker", "");
    r = run({"sample", "run.ini", "sampler.chains=2", "output.file=blocker/draws.csv"});
    expect_one_line_error(r, 1);
    EXPECT_TRUE(contains(r.err, "output.file")) << r.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"blocker", "run.ini", "sim/data.csv", "sim/truth.csv"}));
}

TEST_F(CliChains, OutputNamesFollowCmdStan)
{
    // The suffix goes before the last component's extension, or at the end.
    Result r = run({"sample", "run.ini", "sampler.chains=2", "output.file=a.b/noext"});
    ASSERT_EQ(r.rc, 0) << r.err;
    r = run({"sample", "run.ini", "sampler.chains=2", "output.file=x/d.v2.csv"});
    ASSERT_EQ(r.rc, 0) << r.err;
    r = run({"sample", "run.ini", "sampler.chains=1", "output.file=one.csv"});
    ASSERT_EQ(r.rc, 0) << r.err;
    // The report takes output.file's stem, without the chain suffix.
    EXPECT_EQ(files(), (std::vector<std::string>{"a.b/noext.html", "a.b/noext_1", "a.b/noext_2", "one.csv", "one.html",
                                                 "run.ini", "sim/data.csv", "sim/truth.csv", "x/d.v2.html",
                                                 "x/d.v2_1.csv", "x/d.v2_2.csv"}));
}

// output.report (default true): the page of `pmhmc report` beside the draws.
TEST_F(CliChains, SampleWritesTheReportBesideTheDraws)
{
    Result r;
    chains(2, "OMP_NUM_THREADS=1", {"--truth", "sim/truth.csv"}, &r);
    ASSERT_TRUE(fs::exists(dir_ / "out/draws.html")) << r.out;
    EXPECT_TRUE(contains(r.out, "report: written to out/draws.html\n")) << r.out;
    std::string html = read_text(dir_ / "out/draws.html");
    EXPECT_EQ(pmhmc_xml_check::xml_problem(html), "");
    EXPECT_TRUE(contains(html, "<title>logit_w1</title>"));
    EXPECT_TRUE(contains(html, "class=\"truth\"")); // --truth reaches the page
    EXPECT_TRUE(contains(html, "sim/truth.csv"));
    // The same page `pmhmc report` writes from the same files.
    Result rep = run({"report", "out/draws_1.csv", "out/draws_2.csv", "--truth", "sim/truth.csv", "-o", "again.html"});
    ASSERT_EQ(rep.rc, 0) << rep.err;
    EXPECT_EQ(read_text(dir_ / "again.html"), html);
    fs::remove(dir_ / "again.html");

    // output.report = false: no page, no line about it, the same draws.
    auto before = chains(2, "OMP_NUM_THREADS=1");
    fs::remove(dir_ / "out/draws.html");
    auto after = chains(2, "OMP_NUM_THREADS=1", {"output.report=false"}, &r);
    EXPECT_FALSE(fs::exists(dir_ / "out/draws.html"));
    EXPECT_FALSE(contains(r.out, "report:")) << r.out;
    for (auto &lines : after)
        std::replace(lines.begin(), lines.end(), std::string("#   report = false"),
                     std::string("#   report = true (Default)"));
    EXPECT_EQ(after, before);
    EXPECT_TRUE(contains(run({"sample", "--help"}).out, "output.report (true)"));
    expect_one_line_error(run({"sample", "run.ini", "output.report=yes"}), 1);

    // A page that would replace the draws, or a directory in its way, is
    // refused before anything runs.
    Result clash = run({"sample", "run.ini", "sampler.chains=1", "output.file=out/d.html"});
    expect_one_line_error(clash, 1);
    EXPECT_TRUE(contains(clash.err, "output.report")) << clash.err;
    EXPECT_FALSE(fs::exists(dir_ / "out/d.html"));
    EXPECT_EQ(run({"sample", "run.ini", "sampler.chains=1", "output.file=out/d.html", "output.report=false"}).rc, 0);
    fs::create_directories(dir_ / "blocked/d.html");
    Result dir = run({"sample", "run.ini", "sampler.chains=2", "output.file=blocked/d.csv"});
    expect_one_line_error(dir, 1);
    EXPECT_TRUE(contains(dir.err, "blocked/d.html")) << dir.err;
    EXPECT_FALSE(fs::exists(dir_ / "blocked/d_1.csv"));
}

}  // namespace

namespace {

// pmhmc summary on PM-NUTS files counts divergences and trees cut at the
// header's nuts.max_depth, over all chains (hand-made files: 2 + 1
// divergences and 1 + 2 rows at depth 3 of 8 rows).
TEST_F(Cli, SummaryWarnsOfDivergencesAndMaxDepthHits)
{
    const std::string head = "# pmhmc_version = x\n# nuts\n#   max_depth = 3\n"
                             "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,a\n";
    write_text(dir_ / "c1.csv", head + "-1,0.9,0.5,2,3,0,1,0.1\n-1,0.8,0.5,3,7,1,1,0.2\n-1,0.7,0.5,1,1,1,1,0.3\n"
                                       "-1,0.9,0.5,2,3,0,1,0.4\n");
    write_text(dir_ / "c2.csv", head + "-1,0.9,0.5,3,7,0,1,0.5\n-1,0.8,0.5,3,7,0,1,0.1\n-1,0.7,0.5,2,3,1,1,0.2\n"
                                       "-1,0.9,0.5,2,3,0,1,0.3\n");
    Result r = run({"summary", "c1.csv", "c2.csv"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "Warning: 3 of 8 transitions ended with a divergence (37.5%).")) << r.out;
    EXPECT_TRUE(contains(r.out, "Warning: 3 of 8 transitions hit the maximum tree depth (nuts.max_depth = 3)"))
        << r.out;
    // PM-HMC files have neither column: no such warnings
    write_text(dir_ / "h.csv", "lp__,accept_stat__,stepsize__,int_time__,energy__,a\n-1,1,0.1,1,1,0.5\n-1,1,0.1,1,1,0.7\n"
                               "-1,1,0.1,1,1,0.2\n");
    Result h = run({"summary", "h.csv"});
    ASSERT_EQ(h.rc, 0) << h.err;
    EXPECT_FALSE(contains(h.out, "divergence")) << h.out;
    EXPECT_FALSE(contains(h.out, "tree depth")) << h.out;
}

} // namespace
