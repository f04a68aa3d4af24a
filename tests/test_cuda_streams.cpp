// The GPU's random streams against the CPU's, bit for bit.
//
// kernels/vector_ops.cu draws with cuRAND's device Philox4x32-10
// (curand_Philox4x32_10) and the shared transform pmhmc_normal_pair_from_words
// of src/math/philox.h, which uses only correctly rounded operations; the CPU
// uses its own pmhmc_philox4x32_10 and the same transform. So both the raw
// words and the normals must agree exactly: a one-ulp difference in a normal
// means an operation that is not correctly rounded on one side (or an fma
// contraction), and the failure message gives the ulp distance.
//
// Keys cover seed halves, chains, steps whose high word is used (> 2^32, and
// the reserved start streams near 2^64), and pair indices up to 2^16.
//
// Without a usable GPU the tests skip with the probe's reason; with
// PMHMC_REQUIRE_GPU=1 in the environment they fail instead.
#ifdef PMHMC_HAVE_CUDA

#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../kernels/cuda_debug.h"
#include "math/philox.h"
#include "math/streams.h"
#include "test_support.h"

using namespace pmhmc_test;

namespace {

// Distance in units in the last place between two finite doubles of the same
// sign (the count of representable doubles between them).
int64_t ulp_distance(double a, double b)
{
    if (a == b)
        return 0;
    int64_t ia, ib;
    std::memcpy(&ia, &a, sizeof ia);
    std::memcpy(&ib, &b, sizeof ib);
    if (ia < 0)
        ia = INT64_MIN - ia;
    if (ib < 0)
        ib = INT64_MIN - ib;
    return ia > ib ? ia - ib : ib - ia;
}

struct StreamKey {
    uint64_t seed;
    uint32_t chain;
    uint64_t step;
};

const StreamKey kKeys[] = {
    {0u, 0u, 0u},
    {1u, 0u, 1u},
    {20240501u, 3u, 17u},
    {UINT64_C(0xDEADBEEFCAFEF00D), 7u, UINT64_C(0x100000000)},       // step high word 1, low 0
    {UINT64_C(0x0123456789ABCDEF), 0xFFFFFFFFu, UINT64_C(0x1FFFFFFFF)}, // both step words
    {42u, 1u, PMHMC_STREAM_INITIAL},                                   // reserved start streams
    {42u, 1u, PMHMC_STREAM_INITIAL_U},
    {UINT64_MAX, 2u, UINT64_MAX},
};

constexpr uint32_t kPairs = 65536 + 3; // crosses 2^16 pair indices, not a multiple of the block size

TEST(CudaStreams, RawPhiloxWordsMatchCpuBitForBit)
{
    SKIP_WITHOUT_GPU();
    std::vector<uint32_t> words(4 * (size_t)kPairs);
    std::vector<double> normals(2 * (size_t)kPairs);
    for (const StreamKey &key : kKeys) {
        ASSERT_EQ(pmhmc_cuda_debug_philox(key.seed, key.chain, key.step, kPairs, words.data(), normals.data()),
                  PMHMC_OK);
        size_t mismatches = 0;
        for (uint32_t b = 0; b < kPairs; ++b) {
            pmhmc_philox_words w = pmhmc_stream_block(key.seed, key.chain, key.step, b);
            for (int i = 0; i < 4; ++i) {
                if (words[4 * (size_t)b + i] != w.w[i] && mismatches++ < 5)
                    ADD_FAILURE() << "seed " << key.seed << " chain " << key.chain << " step " << key.step
                                  << " pair " << b << " word " << i << ": gpu 0x" << std::hex
                                  << words[4 * (size_t)b + i] << " cpu 0x" << w.w[i] << std::dec;
            }
        }
        EXPECT_EQ(mismatches, 0u) << "seed " << key.seed << " step " << key.step;
    }
}

TEST(CudaStreams, NormalsMatchCpuBitForBit)
{
    SKIP_WITHOUT_GPU();
    std::vector<uint32_t> words(4 * (size_t)kPairs);
    std::vector<double> normals(2 * (size_t)kPairs);
    for (const StreamKey &key : kKeys) {
        ASSERT_EQ(pmhmc_cuda_debug_philox(key.seed, key.chain, key.step, kPairs, words.data(), normals.data()),
                  PMHMC_OK);
        size_t mismatches = 0;
        int64_t worst = 0;
        for (uint32_t b = 0; b < kPairs; ++b) {
            double n[2];
            pmhmc_stream_normal_pair(key.seed, key.chain, key.step, b, &n[0], &n[1]);
            for (int i = 0; i < 2; ++i) {
                const double gpu = normals[2 * (size_t)b + i];
                ASSERT_TRUE(std::isfinite(gpu)) << "pair " << b << " normal " << i;
                if (gpu != n[i]) {
                    int64_t d = ulp_distance(gpu, n[i]);
                    worst = std::max(worst, d);
                    if (mismatches++ < 5)
                        ADD_FAILURE() << "seed " << key.seed << " chain " << key.chain << " step " << key.step
                                      << " pair " << b << " normal " << i << ": gpu " << gpu << " cpu " << n[i]
                                      << " (" << d << " ulp apart)";
                }
            }
        }
        EXPECT_EQ(mismatches, 0u) << "seed " << key.seed << " step " << key.step << ": worst " << worst
                                  << " ulp";
    }
}

// The backend's own draw (pmhmc_ws_normal into a double workspace) is the same
// stream, element e = normal e % 2 of pair e / 2, for an odd length.
TEST(CudaStreams, WorkspaceNormalMatchesCpuBackend)
{
    SKIP_WITHOUT_GPU();
    GroupedData d; // normal_re data: 3 groups; N = 37 gives an odd length 111
    d.start = {0, 2, 3, 6};
    d.y = {0.5, -1.0, 2.0, 0.25, 1.5, -0.75};
    Dataset data = make_dataset(d);
    ASSERT_TRUE(data);
    Model model = make_model("normal_re", data.get(), 37);
    ASSERT_TRUE(model);
    pmhmc_backend *raw = nullptr;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_backend_create(PMHMC_BACKEND_CUDA, PMHMC_PRECISION_DOUBLE, &raw, &err), PMHMC_OK)
        << err.message;
    Backend gpu(raw);
    Backend cpu = cpu_backend();
    Workspace wg = make_workspace(gpu.get(), model.get(), 1);
    Workspace wc = make_workspace(cpu.get(), model.get(), 1);
    ASSERT_TRUE(wg && wc);
    const size_t n = pmhmc_workspace_length(wg.get());
    ASSERT_EQ(n % 2, 1u);
    std::vector<double> a(n), b(n);
    for (const StreamKey &key : kKeys) {
        ASSERT_EQ(pmhmc_ws_normal(wg.get(), 0, key.seed, key.chain, key.step), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_normal(wc.get(), 0, key.seed, key.chain, key.step), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(wg.get(), 0, a.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(wc.get(), 0, b.data()), PMHMC_OK);
        for (size_t e = 0; e < n; ++e)
            ASSERT_EQ(a[e], b[e]) << "element " << e << ", " << ulp_distance(a[e], b[e]) << " ulp apart";
    }
}

} // namespace

#endif // PMHMC_HAVE_CUDA
