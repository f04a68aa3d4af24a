// Nested R-hat (include/pmhmc/diagnostics.h) against its paper's definition
// (Margossian et al. 2024, the variances B and W of section 3) computed here
// in another order, a hand-worked case, its edge cases, and what it says of
// many short chains that have and have not forgotten their starts.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "pmhmc/diagnostics.h"
#include "test_support.h"

using namespace pmhmc_test;

namespace {

// The definition, with every mean kept: chain means, superchain means,
// their mean; B over superchains, W averaged over them.
double nested_rhat_by_definition(const std::vector<double> &x, size_t K, size_t M, size_t N)
{
    std::vector<double> chain_mean(K * M, 0.0), chain_var(K * M, 0.0), super_mean(K, 0.0);
    for (size_t c = 0; c < K * M; ++c) {
        for (size_t i = 0; i < N; ++i)
            chain_mean[c] += x[c * N + i] / (double)N;
        for (size_t i = 0; i < N && N > 1; ++i)
            chain_var[c] += (x[c * N + i] - chain_mean[c]) * (x[c * N + i] - chain_mean[c]) / (double)(N - 1);
    }
    double grand = 0.0;
    for (size_t k = 0; k < K; ++k) {
        for (size_t m = 0; m < M; ++m)
            super_mean[k] += chain_mean[k * M + m] / (double)M;
        grand += super_mean[k] / (double)K;
    }
    double B = 0.0, W = 0.0;
    for (size_t k = 0; k < K; ++k) {
        B += (super_mean[k] - grand) * (super_mean[k] - grand) / (double)(K - 1);
        double between = 0.0, within = 0.0;
        for (size_t m = 0; m < M; ++m) {
            if (M > 1)
                between += (chain_mean[k * M + m] - super_mean[k]) * (chain_mean[k * M + m] - super_mean[k]) /
                           (double)(M - 1);
            within += chain_var[k * M + m] / (double)M;
        }
        W += (between + within) / (double)K;
    }
    return std::sqrt(1.0 + B / W);
}

TEST(RhatNested, HandWorkedCase)
{
    // superchain 1: chains (0, 2) and (2, 4); superchain 2: (4, 6) and (6, 8).
    // Chain variances 2, between-chain variances 2, so W = 4; superchain
    // means 2 and 6, so B = 8: sqrt(1 + 8 / 4).
    const std::vector<double> x = {0, 2, 2, 4, 4, 6, 6, 8};
    EXPECT_NEAR(pmhmc_rhat_nested(x.data(), 4, 2, 2), std::sqrt(3.0), 1e-15);
}

TEST(RhatNested, MatchesTheDefinitionForEveryShape)
{
    TestRng rng(stream_seed(31));
    struct Shape {
        size_t K, M, N;
    };
    for (const Shape &s : {Shape{2, 1, 50}, Shape{4, 8, 1}, Shape{3, 5, 7}, Shape{16, 32, 10}, Shape{64, 2, 3}}) {
        std::vector<double> x(s.K * s.M * s.N);
        for (size_t c = 0; c < s.K * s.M; ++c)
            for (size_t i = 0; i < s.N; ++i)
                x[c * s.N + i] = 10.0 + 0.3 * (double)(c / s.M) + 0.1 * (double)(c % 3) + rng.normal();
        const double expected = nested_rhat_by_definition(x, s.K, s.M, s.N);
        EXPECT_NEAR(pmhmc_rhat_nested(x.data(), s.K * s.M, s.N, s.K), expected, 1e-12 * expected)
            << s.K << " x " << s.M << " x " << s.N;
    }
}

TEST(RhatNested, UndefinedCasesAreNan)
{
    std::vector<double> x(12, 1.0);
    x[3] = 2.0;
    EXPECT_TRUE(std::isnan(pmhmc_rhat_nested(x.data(), 4, 3, 1)));       // one superchain
    EXPECT_TRUE(std::isnan(pmhmc_rhat_nested(x.data(), 4, 3, 3)));       // 4 chains into 3
    EXPECT_TRUE(std::isnan(pmhmc_rhat_nested(x.data(), 4, 0, 2)));       // no draws
    EXPECT_TRUE(std::isnan(pmhmc_rhat_nested(nullptr, 4, 3, 2)));
    std::vector<double> constant(12, 5.0);
    EXPECT_TRUE(std::isnan(pmhmc_rhat_nested(constant.data(), 4, 3, 2))); // W = 0
    x[7] = INFINITY;
    EXPECT_TRUE(std::isnan(pmhmc_rhat_nested(x.data(), 4, 3, 2)));
}

// 16 superchains of 64 chains of 10 draws. Chains that forgot their start
// (every draw N(0, 1)): B is about 1 / 640 against W about 1, so nR-hat is
// about 1.0008; B / (1/640) is chi-square with 15 degrees of freedom over
// 15, below 4 with probability 1 - 1e-6, so nR-hat < 1 + 4 / 1280 < 1.005
// for any seed. Superchains still half a unit apart (each remembers its
// start): B is about 0.25, nR-hat about 1.12, above 1.05 for any seed.
TEST(RhatNested, ManyShortChainsTellForgottenStartsFromRememberedOnes)
{
    const size_t K = 16, M = 64, N = 10;
    TestRng rng(stream_seed(41));
    std::vector<double> mixed(K * M * N), stuck(K * M * N);
    for (size_t c = 0; c < K * M; ++c)
        for (size_t i = 0; i < N; ++i) {
            const double z = rng.normal();
            mixed[c * N + i] = z;
            stuck[c * N + i] = z + ((c / M) % 2 ? 0.5 : -0.5);
        }
    const double good = pmhmc_rhat_nested(mixed.data(), K * M, N, K);
    const double bad = pmhmc_rhat_nested(stuck.data(), K * M, N, K);
    EXPECT_GE(good, 1.0);
    EXPECT_LT(good, 1.005);
    EXPECT_GT(bad, 1.05);
}

} // namespace
