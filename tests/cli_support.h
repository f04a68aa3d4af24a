// Running the built pmhmc command as a user does, for the CLI suites
// (test_cli, test_summary): a child process in a scratch directory, seen
// through its exit code, stdout and stderr.
#ifndef PMHMC_TESTS_CLI_SUPPORT_H
#define PMHMC_TESTS_CLI_SUPPORT_H

#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pmhmc_cli_test {

namespace fs = std::filesystem;

struct Result {
    int rc;
    std::string out, err;
};

// Single-quoted for sh.
inline std::string quote(const std::string &s)
{
    std::string q = "'";
    for (char c : s)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

inline std::string read_text(const fs::path &path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::vector<std::string> lines_of(const std::string &text)
{
    std::vector<std::string> lines;
    std::stringstream ss(text);
    for (std::string line; std::getline(ss, line);)
        lines.push_back(line);
    return lines;
}

inline bool contains(const std::string &haystack, const std::string &needle)
{
    return haystack.find(needle) != std::string::npos;
}

// A fixture whose every test works in its own scratch directory, the CLI's
// working directory.
class CliTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string pattern = (fs::temp_directory_path() / "pmhmc_cli_XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Runs `pmhmc args...` in dir_ with extra environment assignments.
    Result run(const std::vector<std::string> &args, const std::string &env = "") const
    {
        std::string cmd = "cd " + quote(dir_.string()) + " && " + env + " " + quote(PMHMC_CLI_PATH);
        for (const auto &a : args)
            cmd += " " + quote(a);
        fs::path out = dir_ / ".stdout", err = dir_ / ".stderr";
        cmd += " >" + quote(out.string()) + " 2>" + quote(err.string());
        int status = std::system(cmd.c_str());
        Result r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(out), read_text(err)};
        fs::remove(out);
        fs::remove(err);
        return r;
    }

    fs::path dir_;
};

} // namespace pmhmc_cli_test

#endif
