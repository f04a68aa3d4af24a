// The dataset layer: CSV reading (good files and every rejection), the
// atomic writer, construction, and the synthetic data generators.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/dataset.h"
#include "pmhmc/io.h"
#include "pmhmc/simulate.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using pmhmc_test::TempDir;

struct DatasetPtr {
    pmhmc_dataset *p = nullptr;
    ~DatasetPtr() { pmhmc_dataset_free(p); }
};

std::vector<double> rows_of(const pmhmc_dataset *d, size_t g)
{
    return std::vector<double>(d->y + d->group_start[g], d->y + d->group_start[g + 1]);
}

bool same_bits(const double *a, const double *b, size_t n)
{
    return n == 0 || std::memcmp(a, b, n * sizeof(double)) == 0;
}

// Everything observable about two data sets is equal, values bit for bit.
void expect_identical(const pmhmc_dataset *a, const pmhmc_dataset *b)
{
    ASSERT_EQ(a->n_groups, b->n_groups);
    ASSERT_EQ(a->n_rows, b->n_rows);
    ASSERT_EQ(a->n_cov, b->n_cov);
    EXPECT_EQ(a->max_group_rows, b->max_group_rows);
    for (size_t g = 0; g <= a->n_groups; ++g)
        EXPECT_EQ(a->group_start[g], b->group_start[g]);
    for (size_t g = 0; g < a->n_groups; ++g)
        EXPECT_STREQ(a->group_ids[g], b->group_ids[g]);
    for (size_t k = 0; k < a->n_cov; ++k)
        EXPECT_STREQ(a->cov_names[k], b->cov_names[k]);
    EXPECT_TRUE(same_bits(a->y, b->y, a->n_rows));
    EXPECT_TRUE(same_bits(a->z, b->z, a->n_rows * a->n_cov));
}

} // namespace

// ---- reading good files -------------------------------------------------------

TEST(DataCsv, ReadsRaggedInterleavedGroupsInFirstAppearanceOrder)
{
    TempDir dir;
    std::string path = dir.write("data.csv",
                                 "id,y,age,income\n"
                                 "b,1,0.5,-1\n"
                                 "a,0,1.5,2e3\n"
                                 " b ,0,2,3\n"
                                 "c,1,-0.25,0\n"
                                 "a,1,1,1\n"
                                 "b,1,7, 8 \n");
    DatasetPtr d;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_dataset_read_csv(path.c_str(), PMHMC_RESPONSE_BINARY, &d.p, &err), PMHMC_OK) << err.message;
    ASSERT_EQ(pmhmc_dataset_n_groups(d.p), 3u);
    EXPECT_EQ(pmhmc_dataset_n_rows(d.p), 6u);
    ASSERT_EQ(pmhmc_dataset_n_covariates(d.p), 2u);
    EXPECT_STREQ(pmhmc_dataset_covariate_name(d.p, 0), "age");
    EXPECT_STREQ(pmhmc_dataset_covariate_name(d.p, 1), "income");
    EXPECT_EQ(pmhmc_dataset_covariate_name(d.p, 2), nullptr);
    EXPECT_STREQ(pmhmc_dataset_group_id(d.p, 0), "b");
    EXPECT_STREQ(pmhmc_dataset_group_id(d.p, 1), "a");
    EXPECT_STREQ(pmhmc_dataset_group_id(d.p, 2), "c");
    EXPECT_EQ(pmhmc_dataset_group_id(d.p, 3), nullptr);

    const size_t starts[] = {0, 3, 5, 6};
    for (size_t g = 0; g <= 3; ++g)
        EXPECT_EQ(d.p->group_start[g], starts[g]);
    EXPECT_EQ(d.p->max_group_rows, 3u);
    EXPECT_EQ(rows_of(d.p, 0), (std::vector<double>{1, 0, 1}));
    EXPECT_EQ(rows_of(d.p, 1), (std::vector<double>{0, 1}));
    EXPECT_EQ(rows_of(d.p, 2), (std::vector<double>{1}));
    const double z[] = {0.5, -1, 2, 3, 7, 8, 1.5, 2000, 1, 1, -0.25, 0};
    for (size_t e = 0; e < 12; ++e)
        EXPECT_EQ(d.p->z[e], z[e]) << "element " << e;
}

TEST(DataCsv, ReadsCrlfWithoutFinalNewlineAndTrailingBlankLines)
{
    TempDir dir;
    std::string crlf = dir.write("crlf.csv", "id,y,x\r\n1,0,0.25\r\n2,1,-4\r\n1,1,1e-3");
    DatasetPtr d;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_dataset_read_csv(crlf.c_str(), PMHMC_RESPONSE_BINARY, &d.p, &err), PMHMC_OK) << err.message;
    EXPECT_EQ(d.p->n_groups, 2u);
    EXPECT_STREQ(d.p->cov_names[0], "x");
    EXPECT_STREQ(d.p->group_ids[0], "1");
    EXPECT_EQ(d.p->z[1], 1e-3);
    EXPECT_EQ(d.p->z[2], -4.0);

    std::string trailing = dir.write("trailing.csv", "\xEF\xBB\xBFid,y\n7,2.5\n\n  \r\n\n");
    DatasetPtr r;
    ASSERT_EQ(pmhmc_dataset_read_csv(trailing.c_str(), PMHMC_RESPONSE_REAL, &r.p, &err), PMHMC_OK) << err.message;
    EXPECT_EQ(r.p->n_rows, 1u);
    EXPECT_EQ(r.p->n_cov, 0u);
    EXPECT_EQ(r.p->y[0], 2.5);
}

// Quoted fields, as R's write.csv and spreadsheets write them: "1" and 1 are
// the same id (they used to be two groups), a quoted id may hold a comma
// (written back quoted, read back the same), and a quote inside a field
// (an "" escape) is refused rather than guessed at.
TEST(DataCsv, QuotedFieldsAreTheTextBetweenTheQuotes)
{
    TempDir dir;
    std::string path = dir.write("quoted.csv",
                                 "\"id\",\"y\",\"x\"\n"
                                 "\"1\",1,0.5\n"
                                 "1,0,\"1.5\"\n"
                                 " \"Smith, J\" ,1,2\n"
                                 "2,0,3\n");
    DatasetPtr d;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_dataset_read_csv(path.c_str(), PMHMC_RESPONSE_BINARY, &d.p, &err), PMHMC_OK) << err.message;
    ASSERT_EQ(d.p->n_groups, 3u);
    EXPECT_STREQ(d.p->group_ids[0], "1");
    EXPECT_STREQ(d.p->group_ids[1], "Smith, J");
    EXPECT_STREQ(d.p->group_ids[2], "2");
    EXPECT_EQ(rows_of(d.p, 0), (std::vector<double>{1, 0}));
    EXPECT_STREQ(d.p->cov_names[0], "x");
    EXPECT_EQ(d.p->z[1], 1.5);

    std::string again = dir.file("again.csv");
    ASSERT_EQ(pmhmc_dataset_write_csv(d.p, again.c_str(), &err), PMHMC_OK) << err.message;
    DatasetPtr back;
    ASSERT_EQ(pmhmc_dataset_read_csv(again.c_str(), PMHMC_RESPONSE_BINARY, &back.p, &err), PMHMC_OK) << err.message;
    expect_identical(d.p, back.p);

    std::string escaped = dir.write("escaped.csv", "id,y\n\"a\"\"b\",1\n");
    DatasetPtr bad;
    EXPECT_EQ(pmhmc_dataset_read_csv(escaped.c_str(), PMHMC_RESPONSE_BINARY, &bad.p, &err), PMHMC_ERR_PARSE);
    EXPECT_NE(std::string(err.message).find("column 1 (id): expected an id without quotes inside"), std::string::npos)
        << err.message;
}

TEST(DataCsv, HandlesManyGroups)
{
    TempDir dir;
    std::string text = "id,y,x\n";
    const int groups = 20000;
    for (int rep = 0; rep < 3; ++rep)
        for (int g = 0; g < groups; ++g)
            text += "g" + std::to_string((g * 7919) % groups) + "," + std::to_string((g + rep) % 2) + "," +
                    std::to_string(rep) + "\n";
    std::string path = dir.write("many.csv", text);
    DatasetPtr d;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_dataset_read_csv(path.c_str(), PMHMC_RESPONSE_BINARY, &d.p, &err), PMHMC_OK) << err.message;
    ASSERT_EQ(d.p->n_groups, size_t(groups));
    EXPECT_EQ(d.p->max_group_rows, 3u);
    for (size_t g = 0; g < size_t(groups); g += 997) {
        EXPECT_EQ(std::string(d.p->group_ids[g]), "g" + std::to_string((g * 7919) % groups));
        for (size_t r = 0; r < 3; ++r)
            EXPECT_EQ(d.p->z[d.p->group_start[g] + r], double(r)); // stable within a group
    }
}

// ---- rejections -----------------------------------------------------------------

struct BadFile {
    const char *name;
    std::string text;
    pmhmc_response_kind kind;
    pmhmc_status status;
    std::string where;   // the ":line:" part, or "" for file-level messages
    std::string detail;  // e.g. "column 3 (z1)"
};

class DataCsvReject : public ::testing::TestWithParam<BadFile> {};

TEST_P(DataCsvReject, NamesFileLineAndColumn)
{
    const BadFile &c = GetParam();
    TempDir dir;
    std::string path = dir.write("data.csv", c.text);
    pmhmc_dataset *d = reinterpret_cast<pmhmc_dataset *>(&dir); // must be reset to NULL
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_dataset_read_csv(path.c_str(), c.kind, &d, &err), c.status) << err.message;
    EXPECT_EQ(d, nullptr);
    std::string msg = err.message;
    EXPECT_NE(msg.find(path + c.where), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.detail), std::string::npos) << msg;
}

const BadFile BAD_FILES[] = {
    {"Empty", "", PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":", "empty"},
    {"OnlyBlankLines", "\n \r\n\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":", "empty"},
    {"HeaderOnly", "id,y,z1\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_DATA, ":2:", "expected a data row"},
    {"HeaderOnlyTrailingBlank", "id,y\n\n\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_DATA, ":2:", "expected a data row"},
    {"HeaderFirstNotId", "ID,y\n1,0\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":1:", "column 1: expected the name \"id\""},
    {"HeaderSecondNotY", "id,x,y\n1,0,1\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":1:", "column 2: expected the name \"y\""},
    {"HeaderOneColumn", "id\n1\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":1:", "column 2"},
    {"HeaderBlankFirstLine", "\nid,y\n1,0\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":1:", "column 1"},
    {"HeaderEmptyName", "id,y,a,,b\n1,0,1,2,3\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":1:", "column 4: expected a column name"},
    {"HeaderDuplicate", "id,y,a,b,a\n1,0,1,2,3\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":1:", "column 5 (a): expected a unique column name, but column 3"},
    {"HeaderDuplicateY", "id,y,y\n1,0,1\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":1:", "column 3 (y)"},
    {"HeaderOldMacLineEnds", "id,y,x\r1,0,2\r", PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":1:", "column 3"},
    {"TooFewColumns", "id,y,z1,z2\n1,0,1,2\n1,0,1\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":3:", "column 4 (z2): missing;"
     " expected 4 columns as in the header, found 3"},
    {"TooManyColumns", "id,y,z1\n1,0,1\n2,1,1,5,6\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":3:", "column 4: unexpected extra column;"
     " expected 3 columns as in the header, found 5"},
    {"NonNumeric", "id,y,z1\n1,0,1\n1,1,abc\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":3:", "column 3 (z1): expected a number, found \"abc\""},
    {"TrailingGarbage", "id,y,z1\n1,0,1.5x\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":2:", "column 3 (z1): expected a number, found \"1.5x\""},
    {"EmptyNumber", "id,y,z1\n1,,1\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":2:", "column 2 (y): expected a number, found \"\""},
    {"InnerSpace", "id,y,z1\n1,0,1 2\n",
     PMHMC_RESPONSE_REAL, PMHMC_ERR_PARSE, ":2:", "column 3 (z1): expected a number"},
    {"NaN", "id,y,z1\n1,0,1\n2,0,nan\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_DATA, ":3:", "column 3 (z1): expected a finite number, found \"nan\""},
    {"Inf", "id,y,w\n1,-inf,1\n", PMHMC_RESPONSE_REAL, PMHMC_ERR_DATA, ":2:", "column 2 (y): expected a finite number"},
    {"Overflow", "id,y,w\n1,0,1e999\n",
     PMHMC_RESPONSE_REAL, PMHMC_ERR_DATA, ":2:", "column 3 (w): expected a finite number"},
    {"BinaryTwo", "id,y\n1,0\n1,2\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_DATA, ":3:", "column 2 (y): expected 0 or 1"},
    {"BinaryHalf", "id,y\n1,0.5\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_DATA, ":2:", "column 2 (y): expected 0 or 1"},
    {"EmptyId", "id,y\n1,0\n  ,1\n",
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":3:", "column 1 (id): expected a non-empty id"},
    {"BlankLineInMiddle", "id,y\n1,0\n\n2,1\n", PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":3:", "blank line"},
    {"NulInNumber", std::string("id,y,z1\n1,0,1\0\n", 15),
     PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":2:", "column 3 (z1): expected a number, found \"1\\x00\""},
    {"NulInId", std::string("id,y\na\0b,0\n", 11), PMHMC_RESPONSE_BINARY, PMHMC_ERR_PARSE, ":2:", "column 1 (id)"},
    {"LongField", "id,y\n1,0\n1," + std::string(1 << 20, '7') + "x\n",
     PMHMC_RESPONSE_REAL, PMHMC_ERR_PARSE, ":3:", "column 2 (y): expected a number, found \"777"},
};

INSTANTIATE_TEST_SUITE_P(DataCsv, DataCsvReject, ::testing::ValuesIn(BAD_FILES),
                         [](const ::testing::TestParamInfo<BadFile> &info) { return std::string(info.param.name); });

TEST(DataCsv, RejectsMissingFileAndDirectory)
{
    TempDir dir;
    pmhmc_error err{};
    pmhmc_dataset *d = nullptr;
    std::string missing = dir.file("absent.csv");
    EXPECT_EQ(pmhmc_dataset_read_csv(missing.c_str(), PMHMC_RESPONSE_BINARY, &d, &err), PMHMC_ERR_IO);
    EXPECT_EQ(d, nullptr);
    EXPECT_NE(std::string(err.message).find(missing), std::string::npos) << err.message;
    EXPECT_NE(std::string(err.message).find(std::strerror(ENOENT)), std::string::npos) << err.message;

    EXPECT_EQ(pmhmc_dataset_read_csv(dir.path().c_str(), PMHMC_RESPONSE_BINARY, &d, &err), PMHMC_ERR_IO);
    EXPECT_EQ(d, nullptr);
    EXPECT_NE(std::string(err.message).find(dir.path()), std::string::npos) << err.message;

    EXPECT_EQ(pmhmc_dataset_read_csv(nullptr, PMHMC_RESPONSE_BINARY, &d, &err), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_read_csv(missing.c_str(), PMHMC_RESPONSE_BINARY, nullptr, nullptr), PMHMC_ERR_ARG);
}

// Arbitrary bytes never crash the reader: each file is accepted or rejected
// with a message (run this under the sanitizer build).
TEST(DataCsv, SurvivesRandomBytes)
{
    TempDir dir;
    const std::string alphabet = std::string("id,y,z\n\r 01.e-+nafx\"\t", 22) + std::string(1, '\0');
    std::mt19937 rng(12345);
    for (int trial = 0; trial < 400; ++trial) {
        std::string text = trial % 2 ? "id,y,z\n" : "";
        size_t len = rng() % 200;
        for (size_t i = 0; i < len; ++i)
            text += alphabet[rng() % alphabet.size()];
        std::string path = dir.write("fuzz.csv", text);
        pmhmc_dataset *d = nullptr;
        pmhmc_error err{};
        pmhmc_status st = pmhmc_dataset_read_csv(path.c_str(), pmhmc_response_kind(trial % 3 == 0), &d, &err);
        if (st == PMHMC_OK) {
            ASSERT_NE(d, nullptr);
            EXPECT_GE(d->n_rows, 1u);
            EXPECT_EQ(d->group_start[d->n_groups], d->n_rows);
        } else {
            EXPECT_EQ(d, nullptr);
            EXPECT_NE(std::string(err.message).find(path), std::string::npos) << err.message;
        }
        pmhmc_dataset_free(d);
    }
}

// ---- construction -----------------------------------------------------------------

TEST(DataCsv, CreateCopiesAndNamesDefaults)
{
    const size_t start[] = {0, 2, 3};
    const double y[] = {1, 0, 1};
    const double z[] = {1, 2, 3, 4, 5, 6};
    DatasetPtr d;
    ASSERT_EQ(pmhmc_dataset_create(2, start, y, z, 2, nullptr, &d.p), PMHMC_OK);
    EXPECT_STREQ(pmhmc_dataset_covariate_name(d.p, 0), "z1");
    EXPECT_STREQ(pmhmc_dataset_covariate_name(d.p, 1), "z2");
    EXPECT_STREQ(pmhmc_dataset_group_id(d.p, 0), "1");
    EXPECT_STREQ(pmhmc_dataset_group_id(d.p, 1), "2");
    EXPECT_EQ(d.p->max_group_rows, 2u);
    EXPECT_NE(d.p->y, y);
    EXPECT_TRUE(same_bits(d.p->z, z, 6));

    const char *names[] = {"height", "weight"};
    DatasetPtr named;
    ASSERT_EQ(pmhmc_dataset_create(2, start, y, z, 2, names, &named.p), PMHMC_OK);
    EXPECT_STREQ(named.p->cov_names[1], "weight");
    pmhmc_dataset_free(nullptr);
}

TEST(DataCsv, CreateRejectsBadArguments)
{
    const size_t start[] = {0, 2, 3};
    const size_t empty_group[] = {0, 2, 2};
    const size_t bad_origin[] = {1, 2, 3};
    const double y[] = {1, 0, 1};
    const double z[] = {1, 2, 3};
    const double nan_z[] = {1, NAN, 3};
    const char *dup[] = {"a", "a"};
    const char *comma[] = {"a,b"};
    const char *is_y[] = {"y"};
    const char *blank[] = {" a"};
    pmhmc_dataset *d = nullptr;
    EXPECT_EQ(pmhmc_dataset_create(2, start, y, z, 1, nullptr, nullptr), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_create(0, start, y, z, 1, nullptr, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_create(2, empty_group, y, z, 1, nullptr, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_create(2, bad_origin, y, z, 1, nullptr, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_create(2, start, nullptr, z, 1, nullptr, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_create(2, start, y, nullptr, 1, nullptr, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_create(2, start, y, nan_z, 1, nullptr, &d), PMHMC_ERR_DATA);
    EXPECT_EQ(pmhmc_dataset_create(2, start, y, z, 1, comma, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_create(2, start, y, z, 1, is_y, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_dataset_create(2, start, y, z, 1, blank, &d), PMHMC_ERR_ARG);
    const double z2[] = {1, 2, 3, 4, 5, 6};
    EXPECT_EQ(pmhmc_dataset_create(2, start, y, z2, 2, dup, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(d, nullptr);
    // No covariates need no z.
    DatasetPtr bare;
    EXPECT_EQ(pmhmc_dataset_create(2, start, y, nullptr, 0, nullptr, &bare.p), PMHMC_OK);
}

// ---- writing ---------------------------------------------------------------------

TEST(DataCsv, WriteThenReadIsBitIdentical)
{
    TempDir dir;
    const size_t start[] = {0, 3, 4};
    const double y[] = {-0.0, 0.1, 1.0 / 3.0, -1e-310};
    const double z[] = {DBL_MAX, -DBL_MIN, 5e-324, 123456789.123456789, -2.5, 1e300, 0.0, -0.0};
    DatasetPtr made;
    const char *names[] = {"a b", "x.1"};
    ASSERT_EQ(pmhmc_dataset_create(2, start, y, z, 2, names, &made.p), PMHMC_OK);
    std::string path = dir.file("round.csv");
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_dataset_write_csv(made.p, path.c_str(), &err), PMHMC_OK) << err.message;
    DatasetPtr back;
    ASSERT_EQ(pmhmc_dataset_read_csv(path.c_str(), PMHMC_RESPONSE_REAL, &back.p, &err), PMHMC_OK) << err.message;
    expect_identical(made.p, back.p);

    // A simulated set, and a file with text ids, survive the same way.
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    DatasetPtr simulated, again;
    ASSERT_EQ(pmhmc_simulate_glmm(&sim, &simulated.p, nullptr), PMHMC_OK);
    ASSERT_EQ(pmhmc_dataset_write_csv(simulated.p, path.c_str(), &err), PMHMC_OK) << err.message;
    ASSERT_EQ(pmhmc_dataset_read_csv(path.c_str(), PMHMC_RESPONSE_BINARY, &again.p, &err), PMHMC_OK)
        << err.message;
    expect_identical(simulated.p, again.p);

    std::string text = dir.write("ids.csv", "id,y,q\nzeta,1,0.5\nalpha beta,0,2\nzeta,0,3\n");
    DatasetPtr first, second;
    ASSERT_EQ(pmhmc_dataset_read_csv(text.c_str(), PMHMC_RESPONSE_BINARY, &first.p, &err), PMHMC_OK);
    ASSERT_EQ(pmhmc_dataset_write_csv(first.p, path.c_str(), &err), PMHMC_OK) << err.message;
    ASSERT_EQ(pmhmc_dataset_read_csv(path.c_str(), PMHMC_RESPONSE_BINARY, &second.p, &err), PMHMC_OK);
    expect_identical(first.p, second.p);

    // Only the two data files remain: no temporary left behind.
    EXPECT_EQ(dir.entries().size(), 2u);
}

TEST(DataCsv, WriteFailureLeavesNothingBehind)
{
    TempDir dir;
    const size_t start[] = {0, 1};
    const double y[] = {1};
    DatasetPtr d;
    ASSERT_EQ(pmhmc_dataset_create(1, start, y, nullptr, 0, nullptr, &d.p), PMHMC_OK);
    pmhmc_error err{};

    // The directory does not exist (unwritable even for root).
    std::string nowhere = dir.file("missing/out.csv");
    EXPECT_EQ(pmhmc_dataset_write_csv(d.p, nowhere.c_str(), &err), PMHMC_ERR_IO);
    EXPECT_NE(std::string(err.message).find(nowhere), std::string::npos) << err.message;
    EXPECT_FALSE(fs::exists(nowhere));
    EXPECT_TRUE(dir.entries().empty());

    // The target is a directory: the rename fails after a complete write,
    // and the temporary must be removed.
    std::string target = dir.file("target");
    fs::create_directory(target);
    EXPECT_EQ(pmhmc_dataset_write_csv(d.p, target.c_str(), &err), PMHMC_ERR_IO);
    EXPECT_NE(std::string(err.message).find(target), std::string::npos) << err.message;
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"target"});
    EXPECT_TRUE(fs::is_empty(target));
}

TEST(DataCsv, WriteReplacesAnExistingFile)
{
    TempDir dir;
    std::string path = dir.write("out.csv", "old contents that are longer than the new ones\n");
    const size_t start[] = {0, 1};
    const double y[] = {0};
    DatasetPtr d;
    ASSERT_EQ(pmhmc_dataset_create(1, start, y, nullptr, 0, nullptr, &d.p), PMHMC_OK);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_dataset_write_csv(d.p, path.c_str(), &err), PMHMC_OK) << err.message;
    std::ifstream in(path, std::ios::binary);
    std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(contents, "id,y\n1,0\n");
    EXPECT_EQ(dir.entries().size(), 1u);
}

// ---- simulation --------------------------------------------------------------------

TEST(SimulateGlmm, DefaultsDimensionsAndTruth)
{
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    EXPECT_EQ(sim.T, 500u);
    EXPECT_EQ(sim.n, 6u);
    EXPECT_EQ(sim.p, 8u);
    EXPECT_EQ(sim.seed, 1u);
    DatasetPtr d;
    std::vector<double> theta(sim.p + 5);
    ASSERT_EQ(pmhmc_simulate_glmm(&sim, &d.p, theta.data()), PMHMC_OK);
    EXPECT_EQ(d.p->n_groups, 500u);
    EXPECT_EQ(d.p->n_rows, 3000u);
    EXPECT_EQ(d.p->n_cov, 8u);
    EXPECT_EQ(d.p->max_group_rows, 6u);
    for (size_t g = 0; g <= d.p->n_groups; ++g)
        ASSERT_EQ(d.p->group_start[g], 6 * g);
    double ones = 0.0;
    for (size_t r = 0; r < d.p->n_rows; ++r) {
        ASSERT_TRUE(d.p->y[r] == 0.0 || d.p->y[r] == 1.0);
        ones += d.p->y[r];
    }
    // P(y = 1) = E sigmoid(X + z'beta) lies well inside (0.2, 0.8) for any
    // plausible beta: the linear predictor is centred near 0.6.
    double mean = ones / double(d.p->n_rows);
    EXPECT_GT(mean, 0.2);
    EXPECT_LT(mean, 0.8);
    EXPECT_EQ(theta[8], 0.0);
    EXPECT_EQ(theta[9], 3.0);
    EXPECT_DOUBLE_EQ(theta[10], std::log(10.0));
    EXPECT_DOUBLE_EQ(theta[11], std::log(3.0));
    EXPECT_DOUBLE_EQ(theta[12], std::log(4.0));
    // beta is N(0, I): not all tiny, not absurd.
    double norm2 = 0.0;
    for (size_t k = 0; k < 8; ++k)
        norm2 += theta[k] * theta[k];
    EXPECT_GT(norm2, 0.5);
    EXPECT_LT(norm2, 40.0);
    // The covariates are standard normal: mean and variance of 24000 draws.
    double s = 0.0, s2 = 0.0;
    for (size_t e = 0; e < d.p->n_rows * 8; ++e) {
        s += d.p->z[e];
        s2 += d.p->z[e] * d.p->z[e];
    }
    double m = s / 24000.0, v = s2 / 24000.0 - m * m;
    EXPECT_LT(std::fabs(m), 4.0 / std::sqrt(24000.0));
    EXPECT_LT(std::fabs(v - 1.0), 4.0 * std::sqrt(2.0 / 24000.0));
}

TEST(SimulateGlmm, ReproducibleBySeed)
{
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    DatasetPtr a, b, c;
    std::vector<double> ta(13), tb(13), tc(13);
    ASSERT_EQ(pmhmc_simulate_glmm(&sim, &a.p, ta.data()), PMHMC_OK);
    ASSERT_EQ(pmhmc_simulate_glmm(&sim, &b.p, tb.data()), PMHMC_OK);
    expect_identical(a.p, b.p);
    EXPECT_TRUE(same_bits(ta.data(), tb.data(), 13));
    sim.seed = 2;
    ASSERT_EQ(pmhmc_simulate_glmm(&sim, &c.p, tc.data()), PMHMC_OK);
    EXPECT_FALSE(same_bits(a.p->z, c.p->z, a.p->n_rows * 8));
    EXPECT_FALSE(same_bits(a.p->y, c.p->y, a.p->n_rows));
    EXPECT_FALSE(same_bits(ta.data(), tc.data(), 8));
}

// With no covariates P(y = 1) = E sigmoid(X) under the mixture: compare the
// sample mean with that expectation computed by quadrature, within 4
// standard errors that account for the within-group correlation.
TEST(SimulateGlmm, ResponseMeanMatchesTheMixture)
{
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.p = 0;
    sim.T = 20000;
    sim.n = 4;
    sim.seed = 7;
    DatasetPtr d;
    ASSERT_EQ(pmhmc_simulate_glmm(&sim, &d.p, nullptr), PMHMC_OK);
    // E s, E s^2, E s(1-s) with s = sigmoid(X), X from the mixture.
    double es = 0.0, es2 = 0.0;
    const double h = 1e-3;
    for (double x = -15.0; x <= 18.0; x += h) {
        auto normal = [](double v, double mu, double lambda) {
            return std::sqrt(lambda / (2.0 * std::acos(-1.0))) * std::exp(-0.5 * lambda * (v - mu) * (v - mu));
        };
        double dens = sim.w1 * normal(x, sim.mu1, sim.lambda1) + (1.0 - sim.w1) * normal(x, sim.mu2, sim.lambda2);
        double s = 1.0 / (1.0 + std::exp(-x));
        es += h * dens * s;
        es2 += h * dens * s * s;
    }
    // Var of a group's mean of n Bernoullis: Var(s) + E[s(1 - s)] / n.
    double var_group = (es2 - es * es) + (es - es2) / double(sim.n);
    double se = std::sqrt(var_group / double(sim.T));
    double mean = 0.0;
    for (size_t r = 0; r < d.p->n_rows; ++r)
        mean += d.p->y[r];
    mean /= double(d.p->n_rows);
    EXPECT_LT(std::fabs(mean - es), 4.0 * se) << "mean " << mean << " expected " << es << " se " << se;
}

TEST(SimulateGlmm, RejectsBadSettings)
{
    pmhmc_glmm_sim good;
    pmhmc_glmm_sim_default(&good);
    pmhmc_dataset *d = nullptr;
    auto with = [&](auto change) {
        pmhmc_glmm_sim s = good;
        change(s);
        return pmhmc_simulate_glmm(&s, &d, nullptr);
    };
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.T = 0; }), PMHMC_ERR_ARG);
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.n = 0; }), PMHMC_ERR_ARG);
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.lambda1 = 0.0; }), PMHMC_ERR_ARG);
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.lambda2 = -1.0; }), PMHMC_ERR_ARG);
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.w1 = 0.0; }), PMHMC_ERR_ARG);
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.w1 = 1.0; }), PMHMC_ERR_ARG);
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.w1 = NAN; }), PMHMC_ERR_ARG);
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.mu2 = INFINITY; }), PMHMC_ERR_ARG);
    // Beyond 2^32 Philox pairs per stream, refused before any allocation.
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.T = size_t(1) << 31; s.n = 4; }), PMHMC_ERR_ARG);
    EXPECT_EQ(with([](pmhmc_glmm_sim &s) { s.T = size_t(1) << 30; s.n = 2; s.p = 8; }), PMHMC_ERR_ARG);
    EXPECT_EQ(d, nullptr);
    EXPECT_EQ(pmhmc_simulate_glmm(nullptr, &d, nullptr), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_simulate_glmm(&good, nullptr, nullptr), PMHMC_ERR_ARG);
}

// The mean of the group means is N(mu, (tau^2 + 1/n) / T); its sample
// variance is near tau^2 + 1/n and the within-group variance near 1.
TEST(SimulateNormalRe, MomentsMatch)
{
    const size_t T = 4000, n = 5;
    const double mu = 1.5, tau = 0.7;
    DatasetPtr d;
    ASSERT_EQ(pmhmc_simulate_normal_re(T, n, mu, tau, 11, &d.p), PMHMC_OK);
    ASSERT_EQ(d.p->n_groups, T);
    ASSERT_EQ(d.p->n_rows, T * n);
    EXPECT_EQ(d.p->n_cov, 0u);
    double sum = 0.0, sum2 = 0.0, within = 0.0;
    for (size_t g = 0; g < T; ++g) {
        std::vector<double> y = rows_of(d.p, g);
        ASSERT_EQ(y.size(), n);
        double m = 0.0;
        for (double v : y)
            m += v;
        m /= double(n);
        for (double v : y)
            within += (v - m) * (v - m);
        sum += m;
        sum2 += m * m;
    }
    double var_mean = tau * tau + 1.0 / double(n);
    double grand = sum / double(T);
    EXPECT_LT(std::fabs(grand - mu), 4.0 * std::sqrt(var_mean / double(T)));
    double sample_var = (sum2 - double(T) * grand * grand) / double(T - 1);
    EXPECT_LT(std::fabs(sample_var - var_mean), 4.0 * var_mean * std::sqrt(2.0 / double(T - 1)));
    double dof = double(T * (n - 1));
    EXPECT_LT(std::fabs(within / dof - 1.0), 4.0 * std::sqrt(2.0 / dof));
}

TEST(SimulateNormalRe, ReproducibleAndValidated)
{
    DatasetPtr a, b, c;
    ASSERT_EQ(pmhmc_simulate_normal_re(50, 3, 0.0, 1.0, 5, &a.p), PMHMC_OK);
    ASSERT_EQ(pmhmc_simulate_normal_re(50, 3, 0.0, 1.0, 5, &b.p), PMHMC_OK);
    ASSERT_EQ(pmhmc_simulate_normal_re(50, 3, 0.0, 1.0, 6, &c.p), PMHMC_OK);
    expect_identical(a.p, b.p);
    EXPECT_FALSE(same_bits(a.p->y, c.p->y, 150));
    pmhmc_dataset *d = nullptr;
    EXPECT_EQ(pmhmc_simulate_normal_re(0, 3, 0.0, 1.0, 5, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_simulate_normal_re(3, 0, 0.0, 1.0, 5, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_simulate_normal_re(3, 3, 0.0, -1.0, 5, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_simulate_normal_re(3, 3, NAN, 1.0, 5, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_simulate_normal_re(size_t(1) << 33, 1, 0.0, 1.0, 5, &d), PMHMC_ERR_ARG);
    EXPECT_EQ(d, nullptr);
}
