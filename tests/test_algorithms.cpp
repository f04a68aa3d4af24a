// The registry of sampling algorithms (include/pmhmc/sampler.h, "what each
// algorithm is") and the draw rows written from it (src/io/draws_csv.c):
// names that round-trip, CmdStan's column names in CmdStan's order, and
// counts written as exact integers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "models/gaussian.h"
#include "pmhmc/sampler.h"

extern "C" {
#include "io/draws_csv.h"
}

namespace {

std::vector<std::string> column_names(const pmhmc_algorithm_info *info)
{
    std::vector<std::string> names;
    for (size_t i = 0; i < info->n_columns; ++i)
        names.push_back(info->columns[i].name);
    return names;
}

TEST(Algorithms, EveryEntryIsFoundByItsIdAndItsName)
{
    const size_t n = pmhmc_algorithm_count();
    ASSERT_EQ(n, 5u); // pmnuts, pmhmc, hnn_hmc, hnn_nuts, chees
    std::set<std::string> names;
    std::set<int> ids;
    for (size_t i = 0; i < n; ++i) {
        const pmhmc_algorithm_info *info = pmhmc_algorithm_at(i);
        ASSERT_NE(info, nullptr);
        EXPECT_EQ(pmhmc_algorithm_by_id(info->id), info);
        EXPECT_EQ(pmhmc_algorithm_by_name(info->name), info);
        names.insert(info->name);
        ids.insert((int)info->id);
        ASSERT_GE(info->n_columns, 5u);
        EXPECT_STREQ(info->columns[0].name, "lp__");
        // a NUTS sampler reports the tree: CmdStan's treedepth__ column
        const std::vector<std::string> cols = column_names(info);
        EXPECT_EQ(info->builds_trees != 0, std::find(cols.begin(), cols.end(), "treedepth__") != cols.end())
            << info->name;
        std::set<std::string> unique(cols.begin(), cols.end());
        EXPECT_EQ(unique.size(), cols.size()) << info->name << ": a column twice";
    }
    EXPECT_EQ(names.size(), n);
    EXPECT_EQ(ids.size(), n);
    EXPECT_EQ(pmhmc_algorithm_at(n), nullptr);
    EXPECT_EQ(pmhmc_algorithm_by_name("nuts"), nullptr);
    EXPECT_EQ(pmhmc_algorithm_by_name(nullptr), nullptr);
    EXPECT_EQ(pmhmc_algorithm_by_id((pmhmc_algorithm)99), nullptr);
}

TEST(Algorithms, ColumnsAreCmdStansWhereItHasThem)
{
    const std::vector<std::string> static_hmc = {"lp__", "accept_stat__", "stepsize__", "int_time__", "energy__"};
    const std::vector<std::string> nuts = {"lp__",         "accept_stat__", "stepsize__", "treedepth__",
                                           "n_leapfrog__", "divergent__",   "energy__"};
    EXPECT_EQ(column_names(pmhmc_algorithm_by_name("pmhmc")), static_hmc);
    EXPECT_EQ(column_names(pmhmc_algorithm_by_name("pmnuts")), nuts);
    std::vector<std::string> hnn_hmc = static_hmc;
    hnn_hmc.insert(hnn_hmc.end(), {"surrogate_error__", "n_estimator__", "accepted__"});
    EXPECT_EQ(column_names(pmhmc_algorithm_by_name("hnn_hmc")), hnn_hmc);
    std::vector<std::string> hnn_nuts = nuts;
    hnn_nuts.insert(hnn_nuts.end(),
                    {"surrogate__", "fallback__", "monitor_error__", "n_estimator__", "n_gradient__", "accepted__"});
    EXPECT_EQ(column_names(pmhmc_algorithm_by_name("hnn_nuts")), hnn_nuts);
    std::vector<std::string> chees = static_hmc;
    chees.insert(chees.end(), {"n_leapfrog__", "divergent__"});
    EXPECT_EQ(column_names(pmhmc_algorithm_by_name("chees")), chees);
}

// A row of each algorithm from one draw: reals with %.9g, counts exactly
// (2^30 - 1 leaves, the most nuts.max_depth = 30 allows, would lose digits
// as %.9g), flags as 0 or 1 whatever int they hold.
TEST(Algorithms, RowsWriteCountsAsExactIntegers)
{
    const double mean[1] = {0.0}, cov[1] = {1.0};
    pmhmc_model *model = nullptr;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_gaussian_model_create(1, mean, cov, 2, 4, 0.5, &model, &err), PMHMC_OK) << err.message;
    const double theta[1] = {0.25};
    pmhmc_draw d{};
    d.lp = -1.5;
    d.accept_stat = 0.875;
    d.stepsize = 0.1;
    d.int_time = 2.0;
    d.energy = 3.25;
    d.treedepth = 30;
    d.n_leapfrog = (1u << 30) - 1;
    d.n_estimates = 7;
    d.n_gradients = 6;
    d.surrogate_error = 0.5;
    d.surrogate_used = 1;
    d.fallback = 0;
    d.accepted = 5; // any non-zero int: kept
    d.divergent = -1;
    d.theta = theta;
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"pmhmc", "-1.5,0.875,0.1,2,3.25,0.25\n"},
        {"pmnuts", "-1.5,0.875,0.1,30,1073741823,1,3.25,0.25\n"},
        {"hnn_hmc", "-1.5,0.875,0.1,2,3.25,0.5,7,1,0.25\n"},
        {"hnn_nuts", "-1.5,0.875,0.1,30,1073741823,1,3.25,1,0,0.5,7,6,1,0.25\n"},
        {"chees", "-1.5,0.875,0.1,2,3.25,1073741823,1,0.25\n"},
    };
    for (const auto &[name, row] : expected) {
        char *buf = nullptr;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        ASSERT_NE(f, nullptr);
        EXPECT_EQ(pmhmc_draws_row(f, model, pmhmc_algorithm_by_name(name.c_str())->id, &d, nullptr), 0);
        fclose(f);
        EXPECT_EQ(std::string(buf, len), row) << name;
        free(buf);
    }
    pmhmc_model_free(model);
}

} // namespace
