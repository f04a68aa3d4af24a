// Convergence diagnostics (include/pmhmc/diagnostics.h) against ArviZ's
// answers for the fixture draws in tests/fixtures/summary (see its
// README.md), and `pmhmc summary` run on those files.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.h"
#include "pmhmc/diagnostics.h"

namespace fs = std::filesystem;
using namespace pmhmc_cli_test;

namespace {

const fs::path FIXTURES = fs::path(PMHMC_SOURCE_DIR) / "tests" / "fixtures" / "summary";

std::vector<std::string> split_csv(const std::string &s)
{
    std::vector<std::string> parts;
    std::stringstream ss(s);
    for (std::string part; std::getline(ss, part, ',');)
        parts.push_back(part);
    return parts;
}

// One case's draws: column name -> chain-major values, and the shape.
struct Draws {
    std::vector<std::string> names;
    std::map<std::string, std::vector<double>> values;
    size_t chains = 0, draws = 0;
};

Draws read_case(const std::string &name)
{
    Draws d;
    for (size_t chain = 1;; ++chain) {
        fs::path path = FIXTURES / name / ("chain" + std::to_string(chain) + ".csv");
        if (!fs::exists(path))
            break;
        std::ifstream in(path);
        std::vector<std::string> header;
        size_t rows = 0;
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line[0] == '#')
                continue;
            auto fields = split_csv(line);
            if (header.empty()) {
                header = fields;
                if (d.names.empty())
                    d.names = header;
                continue;
            }
            EXPECT_EQ(fields.size(), header.size()) << path;
            for (size_t j = 0; j < fields.size() && j < header.size(); ++j)
                d.values[header[j]].push_back(std::strtod(fields[j].c_str(), nullptr));
            ++rows;
        }
        if (chain == 1)
            d.draws = rows;
        EXPECT_EQ(rows, d.draws) << path;
        d.chains = chain;
    }
    return d;
}

// expected.csv: column name -> quantity -> ArviZ's value.
std::map<std::string, std::map<std::string, double>> read_expected(const std::string &name)
{
    std::map<std::string, std::map<std::string, double>> out;
    std::ifstream in(FIXTURES / name / "expected.csv");
    std::vector<std::string> header;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#')
            continue;
        auto fields = split_csv(line);
        if (header.empty()) {
            header = fields;
            continue;
        }
        for (size_t j = 1; j < fields.size() && j < header.size(); ++j)
            out[fields[0]][header[j]] = std::strtod(fields[j].c_str(), nullptr); // "nan" parses as NaN
    }
    return out;
}

// Relative agreement to 1e-6; an absolute floor of 1e-12 times the
// parameter's scale covers sums that are zero up to rounding (the sd of a
// constant column written with %.9g).
void expect_close(double got, double want, double scale, const std::string &what)
{
    if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << what << ": ArviZ gives NaN, got " << got;
        return;
    }
    EXPECT_NEAR(got, want, 1e-6 * std::fabs(want) + 1e-12 * scale) << what;
}

class ArvizAgreement : public ::testing::TestWithParam<const char *> {};

TEST_P(ArvizAgreement, EveryColumnMatchesArviz)
{
    const std::string name = GetParam();
    Draws d = read_case(name);
    auto expected = read_expected(name);
    ASSERT_GT(d.chains, 0u) << "no fixture draws for " << name << " under " << FIXTURES;
    ASSERT_EQ(expected.size(), d.names.size());
    for (const auto &col : d.names) {
        const auto &x = d.values[col];
        ASSERT_EQ(x.size(), d.chains * d.draws);
        const auto &e = expected.at(col);
        pmhmc_summary_stats s;
        ASSERT_EQ(pmhmc_summarize(x.data(), d.chains, d.draws, &s), PMHMC_OK);
        double scale = 1.0 + std::fabs(e.at("mean"));
        std::string where = name + "/" + col + " ";
        expect_close(s.mean, e.at("mean"), scale, where + "mean");
        expect_close(s.sd, e.at("sd"), scale, where + "sd");
        expect_close(s.mcse_mean, e.at("mcse_mean"), scale, where + "mcse_mean");
        expect_close(s.ess_bulk, e.at("ess_bulk"), 1.0, where + "ess_bulk");
        expect_close(s.ess_tail, e.at("ess_tail"), 1.0, where + "ess_tail");
        expect_close(s.rhat, e.at("r_hat"), 1.0, where + "r_hat");
        expect_close(s.q5, e.at("q5"), scale, where + "q5");
        expect_close(s.q50, e.at("q50"), scale, where + "q50");
        expect_close(s.q95, e.at("q95"), scale, where + "q95");
        expect_close(s.mad, e.at("mad"), scale, where + "mad");
        // the single functions give what the summary gives
        expect_close(pmhmc_ess_bulk(x.data(), d.chains, d.draws), s.ess_bulk, 1.0, where + "pmhmc_ess_bulk");
        expect_close(pmhmc_rhat_rank(x.data(), d.chains, d.draws), s.rhat, 1.0, where + "pmhmc_rhat_rank");
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ArvizAgreement,
                         ::testing::Values("mixed", "constant", "short5", "short3", "one_chain", "heavy", "stuck"));

TEST(Diagnostics, FewerThanFourDrawsGiveNaN)
{
    const double x[] = {1.0, 2.0, 3.0, 2.5, 1.5, 0.5};
    EXPECT_TRUE(std::isnan(pmhmc_ess_bulk(x, 2, 3)));
    EXPECT_TRUE(std::isnan(pmhmc_ess_tail(x, 2, 3)));
    EXPECT_TRUE(std::isnan(pmhmc_rhat_rank(x, 2, 3)));
    EXPECT_TRUE(std::isnan(pmhmc_mcse_mean(x, 2, 3)));
}

TEST(Diagnostics, NaNDrawGivesNaN)
{
    std::vector<double> x(40);
    for (size_t i = 0; i < x.size(); ++i)
        x[i] = std::sin(0.7 * double(i));
    x[13] = NAN;
    EXPECT_TRUE(std::isnan(pmhmc_ess_bulk(x.data(), 2, 20)));
    EXPECT_TRUE(std::isnan(pmhmc_ess_tail(x.data(), 2, 20)));
    EXPECT_TRUE(std::isnan(pmhmc_rhat_rank(x.data(), 2, 20)));
}

// Chains each stuck at one value, but not the same one: R-hat is infinite
// (it used to come out as 2.7e15 from the rounding left in the within-chain
// variance). One chain stuck, or all at one value, are not that case.
TEST(Diagnostics, ChainsStuckApartHaveInfiniteRhat)
{
    std::vector<double> x(40, 1.0);
    std::fill(x.begin() + 20, x.end(), 2.0);
    EXPECT_EQ(pmhmc_rhat_rank(x.data(), 2, 20), INFINITY);
    std::fill(x.begin() + 20, x.end(), 1.0);
    EXPECT_TRUE(std::isnan(pmhmc_rhat_rank(x.data(), 2, 20)));
    for (size_t i = 20; i < 40; ++i)
        x[i] = std::sin(0.7 * double(i));
    EXPECT_TRUE(std::isfinite(pmhmc_rhat_rank(x.data(), 2, 20)));
}

TEST(Diagnostics, BadArgumentsAreRefused)
{
    pmhmc_summary_stats s;
    const double x[] = {1.0};
    EXPECT_EQ(pmhmc_summarize(nullptr, 1, 1, &s), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_summarize(x, 1, 1, nullptr), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_summarize(x, 0, 1, &s), PMHMC_ERR_ARG);
}

TEST(Diagnostics, QuantileIsType7)
{
    const double x[] = {1.0, 2.0, 4.0, 8.0};
    EXPECT_DOUBLE_EQ(pmhmc_quantile_sorted(x, 4, 0.0), 1.0);
    EXPECT_DOUBLE_EQ(pmhmc_quantile_sorted(x, 4, 0.5), 3.0);
    EXPECT_DOUBLE_EQ(pmhmc_quantile_sorted(x, 4, 1.0), 8.0);
    EXPECT_DOUBLE_EQ(pmhmc_quantile_sorted(x, 4, 0.25), 1.75);
}

} // namespace

namespace {

std::vector<std::string> words_of(const std::string &line)
{
    std::vector<std::string> words;
    std::stringstream ss(line);
    for (std::string w; ss >> w;)
        words.push_back(w);
    return words;
}

std::vector<std::string> chains_of(const std::string &name)
{
    std::vector<std::string> files;
    for (int c = 1; fs::exists(FIXTURES / name / ("chain" + std::to_string(c) + ".csv")); ++c)
        files.push_back((FIXTURES / name / ("chain" + std::to_string(c) + ".csv")).string());
    return files;
}

class SummaryCli : public CliTest {
protected:
    Result run(const std::vector<std::string> &args) const
    {
        std::vector<std::string> full{"summary"};
        full.insert(full.end(), args.begin(), args.end());
        return CliTest::run(full);
    }

    // A one-line "pmhmc: " error naming what.
    static void expect_error(const Result &r, const std::string &what)
    {
        EXPECT_EQ(r.rc, 1);
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(r.err.rfind("pmhmc: ", 0), 0u) << r.err;
        EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
        EXPECT_TRUE(contains(r.err, what)) << r.err;
    }
};

TEST_F(SummaryCli, TableHasStansummaryLayout)
{
    Result r = run(chains_of("mixed"));
    ASSERT_EQ(r.rc, 0) << r.err;
    auto lines = lines_of(r.out);
    const std::vector<std::string> header = {"Mean",     "MCSE",     "StdDev",     "MAD",  "5%", "50%",
                                             "95%",      "ESS_bulk", "ESS_tail", "ESS_bulk/s", "R_hat"};
    size_t h = 0;
    while (h < lines.size() && words_of(lines[h]) != header)
        ++h;
    ASSERT_LT(h, lines.size()) << r.out;
    EXPECT_TRUE(contains(r.out, "4 chains: each with 100 draws"));
    EXPECT_TRUE(contains(r.out, "Sampling took (1.5, 1.2, 1.8, 1.5) seconds, 6 seconds total"));
    // a blank line, the sampler rows, a blank line, the parameters
    ASSERT_GT(lines.size(), h + 11);
    EXPECT_EQ(lines[h + 1], "");
    const std::vector<std::string> order = {"lp__", "accept_stat__", "stepsize__", "int_time__", "energy__",
                                            "",     "a",             "b",          "c"};
    for (size_t i = 0; i < order.size(); ++i) {
        auto w = words_of(lines[h + 2 + i]);
        if (order[i].empty()) {
            EXPECT_TRUE(w.empty()) << lines[h + 2 + i];
            continue;
        }
        ASSERT_EQ(w.size(), header.size() + 1) << lines[h + 2 + i];
        EXPECT_EQ(w[0], order[i]);
    }
    // a fixed step size has no ESS or R-hat, as in stansummary
    auto step = words_of(lines[h + 4]);
    EXPECT_EQ(step[2], "nan");
    EXPECT_EQ(step[8], "nan");
    EXPECT_EQ(step[11], "nan");
    EXPECT_TRUE(contains(r.out, "R_hat measures the potential scale reduction"));
}

TEST_F(SummaryCli, StuckChainWarnsAboutRhat)
{
    Result r = run(chains_of("stuck"));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "Warning: R_hat greater than 1.01 for: a, scale")) << r.out;
    EXPECT_TRUE(contains(r.out, "Warning: ESS_bulk or ESS_tail below 100 per chain (400 in all) for: a")) << r.out;
}

// What the table cannot show is said: chains stuck apart print R_hat inf
// (the table stays aligned) and are warned of; a value that is not finite
// names its column, chain and draw; fewer than 4 draws per chain say why
// MCSE, ESS and R_hat are nan.
TEST_F(SummaryCli, DegenerateColumnsAreExplained)
{
    std::ofstream c1(dir_ / "c1.csv"), c2(dir_ / "c2.csv");
    c1 << "lp__,a,b\n";
    c2 << "lp__,a,b\n";
    for (int i = 0; i < 30; ++i) {
        c1 << -1 - 0.01 * i << ",1," << (i == 7 ? "nan" : std::to_string(0.1 * i)) << "\n";
        c2 << -1 - 0.02 * i << ",2," << 0.2 * i << "\n";
    }
    c1.close();
    c2.close();
    Result r = run({"c1.csv", "c2.csv"});
    ASSERT_EQ(r.rc, 0) << r.err;
    bool saw_a = false;
    for (const auto &line : lines_of(r.out)) {
        auto w = words_of(line);
        if (!w.empty() && w[0] == "a") {
            saw_a = true;
            EXPECT_EQ(w.back(), "inf") << line;
            EXPECT_EQ(w.size(), 11u) << line; // name + 10 statistics: nothing spilled over
        }
    }
    EXPECT_TRUE(saw_a) << r.out;
    EXPECT_TRUE(contains(r.out, "Warning: R_hat greater than 1.01 for: a")) << r.out;
    EXPECT_TRUE(contains(r.out, "b: 1 value is not finite (first: chain 1, draw 8)")) << r.out;

    std::ofstream(dir_ / "one.csv") << "lp__,a\n-1,0.5\n";
    r = run({"one.csv"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "Warning: 1 draw per chain: MCSE, ESS and R_hat need at least 4")) << r.out;
}

TEST_F(SummaryCli, CsvMatchesTheLibrary)
{
    Result r = run([] {
        auto f = chains_of("stuck");
        f.push_back("--csv");
        return f;
    }());
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(contains(r.err, "Warning: R_hat greater than 1.01 for: a")) << r.err;
    auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 5u) << r.out;
    EXPECT_EQ(lines[0], "name,Mean,MCSE,StdDev,MAD,5%,50%,95%,ESS_bulk,ESS_tail,ESS_bulk/s,R_hat");
    auto expected = read_expected("stuck");
    const char *names[] = {"lp__", "a", "scale", "ok"};
    for (size_t i = 0; i < 4; ++i) {
        auto f = split_csv(lines[i + 1]);
        ASSERT_EQ(f.size(), 12u);
        EXPECT_EQ(f[0], "\"" + std::string(names[i]) + "\"");
        const auto &e = expected.at(names[i]);
        EXPECT_NEAR(std::stod(f[1]), e.at("mean"), 1e-8 * (1 + std::fabs(e.at("mean"))));
        EXPECT_NEAR(std::stod(f[8]), e.at("ess_bulk"), 1e-6 * e.at("ess_bulk"));
        EXPECT_NEAR(std::stod(f[9]), e.at("ess_tail"), 1e-6 * e.at("ess_tail"));
        EXPECT_NEAR(std::stod(f[10]), e.at("ess_bulk") / 6.0, 1e-6 * e.at("ess_bulk"));
        EXPECT_NEAR(std::stod(f[11]), e.at("r_hat"), 1e-6 * e.at("r_hat"));
    }
}

TEST_F(SummaryCli, OneChainGetsSplitRhat)
{
    Result r = run(chains_of("one_chain"));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "1 chain: each with 151 draws")) << r.out;
}

TEST_F(SummaryCli, DifferentColumnsNameTheFile)
{
    auto mixed = chains_of("mixed"), stuck = chains_of("stuck");
    expect_error(run({mixed[0], stuck[0]}), stuck[0]);
}

TEST_F(SummaryCli, BadNumberNamesFileAndLine)
{
    std::ofstream(dir_ / "bad.csv") << "# comment\nlp__,a\n1,2\n3,x4\n";
    expect_error(run({"bad.csv"}), "bad.csv:4: column 'a': 'x4' is not a number");
}

TEST_F(SummaryCli, BadInputIsRefused)
{
    std::ofstream(dir_ / "short.csv") << "lp__,a\n1,2\n3\n";
    expect_error(run({"short.csv"}), "short.csv:3");
    std::ofstream(dir_ / "empty.csv") << "# nothing\n";
    expect_error(run({"empty.csv"}), "empty.csv: no header row");
    std::ofstream(dir_ / "one.csv") << "lp__,a\n1,2\n";
    std::ofstream(dir_ / "two.csv") << "lp__,a\n1,2\n3,4\n";
    expect_error(run({"one.csv", "two.csv"}), "two.csv: 2 draws, but one.csv has 1");
    expect_error(run({"missing.csv"}), "missing.csv");
    expect_error(run({}), "no draws files");
    expect_error(run({"one.csv", "--bogus"}), "--bogus");
}

} // namespace
