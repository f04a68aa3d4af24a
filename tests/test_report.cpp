// `pmhmc report`: the HTML page is well-formed XML (XHTML-compatible), holds
// one trace plot per parameter with one line per chain, marks the truth,
// fetches nothing, shows pmhmc summary's numbers, and bad input leaves no
// file behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.h"
#include "xml_check.h"

namespace fs = std::filesystem;
using namespace pmhmc_cli_test;
using pmhmc_xml_check::xml_problem;

namespace {

const fs::path FIXTURES = fs::path(PMHMC_SOURCE_DIR) / "tests" / "fixtures" / "summary";

void write_text(const fs::path &path, const std::string &text)
{
    std::ofstream(path, std::ios::binary) << text;
}

size_t count_of(const std::string &s, const std::string &needle)
{
    size_t n = 0;
    for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + needle.size()))
        ++n;
    return n;
}

// The <svg> elements with class cls, each as its text.
std::vector<std::string> svgs(const std::string &html, const std::string &cls)
{
    std::vector<std::string> out;
    const std::string open = "class=\"" + cls + "\"";
    for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) {
        size_t end = html.find("</svg>", at);
        size_t tag_end = html.find('>', at);
        if (end == std::string::npos)
            break;
        if (html.substr(at, tag_end - at).find(open) != std::string::npos)
            out.push_back(html.substr(at, end - at));
    }
    return out;
}

// The points of each polyline in svg.
std::vector<size_t> polyline_points(const std::string &svg)
{
    std::vector<size_t> out;
    for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) {
        size_t p = svg.find("points=\"", at) + 8;
        size_t end = svg.find('"', p);
        std::string pts = svg.substr(p, end - p);
        out.push_back(pts.empty() ? 0 : count_of(pts, " ") + 1);
    }
    return out;
}

void expect_no_urls(const std::string &html)
{
    for (size_t at = html.find("http"); at != std::string::npos; at = html.find("http", at + 1)) {
        bool ns = html.compare(at, 26, "http://www.w3.org/2000/svg") == 0 ||
                  html.compare(at, 28, "http://www.w3.org/1999/xhtml") == 0;
        EXPECT_TRUE(ns) << html.substr(at, 60);
    }
    EXPECT_FALSE(contains(html, "<script"));
    EXPECT_FALSE(contains(html, "src=\""));
    EXPECT_FALSE(contains(html, "href="));
}

void expect_one_line_error(const Result &r, const std::string &names)
{
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_EQ(r.err.rfind("pmhmc: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(contains(r.err, names)) << r.err;
}

std::vector<std::string> chain_files(const std::string &name, size_t k)
{
    std::vector<std::string> files;
    for (size_t c = 1; c <= k; ++c)
        files.push_back((FIXTURES / name / ("chain" + std::to_string(c) + ".csv")).string());
    return files;
}

class Report : public CliTest {
protected:
    std::vector<std::string> files() const
    {
        std::vector<std::string> names;
        for (const auto &e : fs::directory_iterator(dir_))
            names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
};

} // namespace

TEST(ReportXmlCheck, CatchesMalformedMarkup)
{
    EXPECT_EQ(xml_problem("<!DOCTYPE html>\n<html><p a=\"1\">x &amp; y<br/></p></html>\n"), "");
    EXPECT_NE(xml_problem("<html><p>x</html>"), "");
    EXPECT_NE(xml_problem("<html><br></html>"), "");
    EXPECT_NE(xml_problem("<html>a & b</html>"), "");
    EXPECT_NE(xml_problem("<html><p a=1/></html>"), "");
    EXPECT_NE(xml_problem("<html></html><html></html>"), "");
}

TEST_F(Report, FixtureDrawsWithTruth)
{
    auto args = chain_files("mixed", 4);
    write_text(dir_ / "truth.csv", "name,value\na,0.25\nb,4\nunrelated,9\n");
    std::vector<std::string> cmd = {"report"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    cmd.insert(cmd.end(), {"--truth", "truth.csv", "-o", "out/report.html"});
    Result r = run(cmd);
    ASSERT_EQ(r.rc, 0) << r.err;
    std::string html = read_text(dir_ / "out" / "report.html");
    EXPECT_EQ(xml_problem(html), "");
    expect_no_urls(html);
    EXPECT_EQ(files(), (std::vector<std::string>{"out", "truth.csv"}));

    auto traces = svgs(html, "trace");
    ASSERT_EQ(traces.size(), 3u); // a, b, c; no sampler columns
    const char *names[3] = {"a", "b", "c"};
    for (size_t k = 0; k < 3; ++k) {
        EXPECT_TRUE(contains(traces[k], std::string("<title>") + names[k] + "</title>")) << k;
        EXPECT_EQ(polyline_points(traces[k]), (std::vector<size_t>(4, 100))) << names[k]; // 100 draws, not thinned
        EXPECT_EQ(count_of(traces[k], "class=\"truth\""), k < 2 ? 1u : 0u) << names[k];
        EXPECT_EQ(contains(traces[k], "stroke-dasharray"), k < 2) << names[k]; // no truth for c
    }
    auto hists = svgs(html, "hist");
    ASSERT_EQ(hists.size(), 3u);
    EXPECT_EQ(count_of(hists[0], "class=\"truth\""), 1u);
    EXPECT_EQ(svgs(html, "energy").size(), 4u); // one per chain
    EXPECT_TRUE(contains(html, "accept_stat__ (trace, per chain)"));
    EXPECT_FALSE(contains(html, "thinned"));

    // The table's numbers are pmhmc summary's.
    std::vector<std::string> scmd = {"summary"};
    scmd.insert(scmd.end(), args.begin(), args.end());
    scmd.push_back("--csv");
    Result s = run(scmd);
    ASSERT_EQ(s.rc, 0) << s.err;
    size_t rows = 0;
    for (const auto &line : lines_of(s.out)) {
        if (line.rfind("\"", 0) != 0)
            continue;
        std::string name = line.substr(1, line.find('"', 1) - 1);
        std::vector<double> v;
        std::stringstream ss(line.substr(line.find('"', 1) + 2));
        for (std::string f; std::getline(ss, f, ',');)
            v.push_back(std::strtod(f.c_str(), nullptr));
        ASSERT_GE(v.size(), 9u);
        char mean[64], ess[64];
        std::snprintf(mean, sizeof mean, "%.4g", v[0]);
        std::snprintf(ess, sizeof ess, "%.0f", v[7]);
        size_t row = html.find("<tr><td>" + name + "</td>");
        ASSERT_NE(row, std::string::npos) << name;
        std::string tr = html.substr(row, html.find("</tr>", row) - row);
        EXPECT_TRUE(contains(tr, std::string("<td>") + mean + "</td>")) << name << ": " << tr;
        if (!std::isnan(v[7])) {
            EXPECT_TRUE(contains(tr, ess)) << name << ": " << tr;
        }
        ++rows;
    }
    EXPECT_EQ(rows, 8u);
}

TEST_F(Report, NoTruthNoDashedLine)
{
    std::vector<std::string> cmd = {"report"};
    auto args = chain_files("short5", 4);
    cmd.insert(cmd.end(), args.begin(), args.end());
    cmd.insert(cmd.end(), {"-o", "r.html"});
    Result r = run(cmd);
    ASSERT_EQ(r.rc, 0) << r.err;
    std::string html = read_text(dir_ / "r.html");
    EXPECT_EQ(xml_problem(html), "");
    EXPECT_FALSE(contains(html, "class=\"truth\""));
    EXPECT_FALSE(svgs(html, "trace").empty());
}

TEST_F(Report, EscapesNamesAndThinsLongTraces)
{
    // Column names with markup characters; 2500 draws, thinned to 834 points.
    for (int c = 1; c <= 2; ++c) {
        std::ostringstream s;
        s << "# a <comment> & more\nlp__,accept_stat__,energy__,x<1>,a&b\n";
        for (int i = 0; i < 2500; ++i)
            s << -i * 0.001 << ',' << 0.5 + 0.4 * std::sin(i + c) << ',' << std::cos(0.37 * i * c) << ','
              << std::sin(0.1 * i + c) << ',' << (i % 7) * c << '\n';
        write_text(dir_ / ("c" + std::to_string(c) + ".csv"), s.str());
    }
    write_text(dir_ / "truth.csv", "name,value\nx<1>,0.5\n");
    Result r = run({"report", "c1.csv", "c2.csv", "--truth", "truth.csv", "--output", "r.html"});
    ASSERT_EQ(r.rc, 0) << r.err;
    std::string html = read_text(dir_ / "r.html");
    EXPECT_EQ(xml_problem(html), "");
    EXPECT_FALSE(contains(html, "x<1>"));
    EXPECT_TRUE(contains(html, "<title>x&lt;1&gt;</title>"));
    EXPECT_TRUE(contains(html, "<title>a&amp;b</title>"));
    auto traces = svgs(html, "trace");
    ASSERT_EQ(traces.size(), 2u);
    EXPECT_EQ(polyline_points(traces[0]), (std::vector<size_t>{834, 834}));
    EXPECT_EQ(count_of(traces[0], "class=\"truth\""), 1u);
    EXPECT_EQ(count_of(traces[1], "class=\"truth\""), 0u);
    EXPECT_TRUE(contains(html, "one draw in every 3 (at most 1000 points per chain)"));
}

// However many columns the files hold, the page stays small and says what
// it left out (600,000 columns once made a 1.27 GB page): here 20,000
// columns, 20 draws each, give a page under 2 MB with the first 2000 rows
// of the table and the first 100 parameters plotted.
TEST_F(Report, ManyColumnsKeepThePageSmall)
{
    {
        std::ofstream f(dir_ / "wide.csv");
        f << "lp__";
        for (int j = 0; j < 20000; ++j)
            f << ",p" << j;
        f << "\n";
        for (int i = 0; i < 20; ++i) {
            f << -1 - i;
            for (int j = 0; j < 20000; ++j)
                f << "," << ((i * 7 + j * 13) % 17) * 0.1;
            f << "\n";
        }
    }
    Result r = run({"report", "wide.csv", "-o", "wide.html"});
    ASSERT_EQ(r.rc, 0) << r.err;
    const std::string html = read_text(dir_ / "wide.html");
    EXPECT_LT(html.size(), 2u << 20);
    EXPECT_EQ(pmhmc_xml_check::xml_problem(html), "");
    EXPECT_TRUE(contains(html, "The table lists the first 2000 of the 20001 columns")) << html.substr(0, 2000);
    EXPECT_TRUE(contains(html, "The plots show the first 100 of the 20000 parameters"));
    EXPECT_TRUE(contains(html, "<title>p99</title>"));
    EXPECT_FALSE(contains(html, "<title>p100</title>"));
}

// Many chains: per-chain traces, swatches and energy plots for 8 of them,
// spread evenly from the first to the last, the page saying which; every
// chain still counts in the table and the pooled histogram. 50 chains of 30
// draws give a page far smaller than 50 traces would.
TEST_F(Report, ManyChainsTraceAnEvenSampleOfThem)
{
    std::vector<std::string> args = {"report"};
    for (int c = 1; c <= 50; ++c) {
        std::ostringstream s;
        s << "lp__,accept_stat__,energy__,x\n";
        for (int i = 0; i < 30; ++i)
            s << -i << ',' << 0.8 << ',' << std::sin(0.3 * i * c) << ',' << std::cos(0.7 * i + c) << '\n';
        const std::string name = "c" + std::to_string(c) + ".csv";
        write_text(dir_ / name, s.str());
        args.push_back(name);
    }
    args.insert(args.end(), {"-o", "many.html"});
    Result r = run(args);
    ASSERT_EQ(r.rc, 0) << r.err;
    const std::string html = read_text(dir_ / "many.html");
    EXPECT_EQ(pmhmc_xml_check::xml_problem(html), "");
    EXPECT_TRUE(contains(html, "Per-chain plots show 8 of the 50 chains, spread evenly (chains 1, 8, 15, 22, 29, 36, "
                               "43, 50)"))
        << html.substr(0, 3000);
    EXPECT_TRUE(contains(html, " and 42 more."));
    auto traces = svgs(html, "trace");
    ASSERT_EQ(traces.size(), 1u);
    EXPECT_EQ(polyline_points(traces[0]), std::vector<size_t>(8, 30));
    EXPECT_EQ(svgs(html, "energy").size(), 8u);
    EXPECT_TRUE(contains(html, "E-BFMI over all 50 chains: least "));
    EXPECT_TRUE(contains(html, "50 chains, each with 30 draws; 1500 draws in all."));
    EXPECT_EQ(count_of(html, "class=\"swatch\""), 2u * 8u); // parameters' and sampler's legends
}

TEST_F(Report, SampledRun)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "10", "--n", "3", "--out", "sim"}).rc, 0);
    write_text(dir_ / "run.ini", "[model]\nname = normal_re\ndata = sim/data.csv\nN = 8\n"
                                 "[sampler]\nalgorithm = pmhmc\nwarmup = 20\niterations = 60\nsteps = 5\nchains = 2\nbackend = cpu\n"
                                 "[output]\nfile = draws.csv\nrefresh = 0\n");
    Result s = run({"sample", "run.ini"});
    ASSERT_EQ(s.rc, 0) << s.err;
    Result r = run({"report", "draws_1.csv", "draws_2.csv", "--truth", "sim/truth.csv", "-o", "report.html"});
    ASSERT_EQ(r.rc, 0) << r.err;
    std::string html = read_text(dir_ / "report.html");
    EXPECT_EQ(xml_problem(html), "");
    expect_no_urls(html);
    auto traces = svgs(html, "trace");
    ASSERT_EQ(traces.size(), 3u); // mu, log_tau, tau
    const char *names[3] = {"mu", "log_tau", "tau"};
    for (size_t k = 0; k < 3; ++k) {
        EXPECT_TRUE(contains(traces[k], std::string("<title>") + names[k] + "</title>")) << k;
        EXPECT_EQ(polyline_points(traces[k]).size(), 2u) << names[k];
        EXPECT_EQ(count_of(traces[k], "class=\"truth\""), 1u) << names[k];
    }
}

TEST_F(Report, BadInputLeavesNoFile)
{
    auto good = chain_files("mixed", 2);
    expect_one_line_error(run({"report", good[0], "missing.csv", "-o", "r.html"}), "missing.csv");
    write_text(dir_ / "other.csv", "lp__,accept_stat__,energy__,z\n1,0.5,2,3\n");
    expect_one_line_error(run({"report", good[0], "other.csv", "-o", "r.html"}), "other.csv");
    write_text(dir_ / "bad_truth.csv", "name,value\na,oops\n");
    expect_one_line_error(run({"report", good[0], good[1], "--truth", "bad_truth.csv", "-o", "r.html"}),
                          "bad_truth.csv:2");
    expect_one_line_error(run({"report", good[0], good[1], "--truth", "nowhere.csv", "-o", "r.html"}), "nowhere.csv");
    expect_one_line_error(run({"report", good[0]}), "-o");
    expect_one_line_error(run({"report", "-o", "r.html"}), "no draws files");
    expect_one_line_error(run({"report", good[0], "--bogus", "-o", "r.html"}), "--bogus");
    EXPECT_EQ(files(), (std::vector<std::string>{"bad_truth.csv", "other.csv"}));
    EXPECT_EQ(run({"report", "--help"}).rc, 0);
}
