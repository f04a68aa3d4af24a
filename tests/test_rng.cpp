// Philox4x32-10 and the normal transform of src/math/philox.h.
//
// Independent answers used here:
//  - Random123's published known-answer vectors (tests/kat_vectors of
//    DEShawResearch/random123, the three "philox4x32 10" lines). The expected
//    words below were also reproduced by a separate Python implementation
//    written from the SC11 paper with the upstream key schedule (the key is
//    bumped *before* rounds 2..10, not after each round as in philox.h):
//        M = 0xffffffff
//        def philox(c, k, R=10):
//            for r in range(R):
//                if r: k = [(k[0] + 0x9E3779B9) & M, (k[1] + 0xBB67AE85) & M]
//                p0 = 0xD2511F53 * c[0]; p1 = 0xCD9E8D57 * c[2]
//                c = [((p1 >> 32) ^ c[1] ^ k[0]) & M, p1 & M,
//                     ((p0 >> 32) ^ c[3] ^ k[1]) & M, p0 & M]
//            return c
//    which prints exactly the three expected outputs. The same algorithm is
//    ref_philox() below, used for the counter layout and random inputs.
//  - libm in long double (logl, sinl, cosl: 64-bit significands, so the
//    reference's own error is ~2^-11 ulp of a double) for pmhmc_log_rn and
//    pmhmc_sincos_2pi_rn.
//  - Moments of the standard normal (E x = 0, E x^2 = 1, E x^4 = 3) and the
//    Kolmogorov-Smirnov distance to Phi for the normal draws.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "math/philox.h"
#include "test_support.h"

using namespace pmhmc_test;

namespace {

struct Kat {
    uint32_t ctr[4];
    uint32_t key[2];
    uint32_t out[4];
};

// Random123 kat_vectors, philox4x32 10: CTR (4 words), KEY (2), EXPECTED (4).
const Kat kPhiloxKat[] = {
    {{0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u}, {0x00000000u, 0x00000000u},
     {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

// Philox4x32-R written from the paper, with the upstream key schedule.
std::array<uint32_t, 4> ref_philox(std::array<uint32_t, 4> c, uint32_t k0, uint32_t k1, int rounds = 10)
{
    for (int r = 0; r < rounds; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
        c = {(uint32_t)(p1 >> 32) ^ c[1] ^ k0, (uint32_t)p1, (uint32_t)(p0 >> 32) ^ c[3] ^ k1, (uint32_t)p0};
    }
    return c;
}

// Error of `got` against a long double reference, in ulps of the reference
// rounded to double.
double ulp_error(double got, long double ref)
{
    double r = (double)ref;
    return (double)(std::fabs((long double)got - ref) / (long double)ulp_of(r));
}

// sin(2 pi t), cos(2 pi t) in long double. t - q/4 with q the nearest integer
// to 4t is exact in long double (t has 53 significant bits, |t - q/4| < 1), so
// the reference reduction adds no error; then sinl/cosl of |x| <= pi/4 and the
// quadrant identities sin(q pi/2 + x), cos(q pi/2 + x).
void ref_sincos_2pi(double t, long double *s, long double *c)
{
    const long double two_pi = 6.283185307179586476925286766559005768L;
    long double q = nearbyintl(4.0L * (long double)t);
    long double r = (long double)t - q / 4.0L;
    long double x = two_pi * r;
    long double sx = sinl(x), cx = cosl(x);
    switch ((long long)q & 3) {
    case 0: *s = sx; *c = cx; break;
    case 1: *s = cx; *c = -sx; break;
    case 2: *s = -sx; *c = -cx; break;
    default: *s = -cx; *c = sx; break;
    }
}

// A double in [2^lo, 2^hi) with random exponent and significand.
double random_double(TestRng &rng, int lo, int hi)
{
    int e = lo + (int)(rng.bits() % (uint64_t)(hi - lo));
    double m = 1.0 + (double)(rng.bits() >> 12) * 0x1.0p-52; // [1, 2)
    return std::ldexp(m, e);
}

} // namespace

TEST(Philox, KnownAnswerVectors)
{
    for (const Kat &k : kPhiloxKat) {
        pmhmc_philox_words ctr;
        for (int i = 0; i < 4; ++i)
            ctr.w[i] = k.ctr[i];
        pmhmc_philox_words out = pmhmc_philox4x32_10(ctr, k.key[0], k.key[1]);
        for (int i = 0; i < 4; ++i)
            EXPECT_EQ(out.w[i], k.out[i]) << "word " << i;
        // The test's own reference must agree with the published vectors too,
        // or the random-input comparison below would prove nothing.
        auto ref = ref_philox({k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}, k.key[0], k.key[1]);
        for (int i = 0; i < 4; ++i)
            EXPECT_EQ(ref[i], k.out[i]) << "reference word " << i;
    }
}

TEST(Philox, MatchesReferenceOnRandomInputsAndStreamLayout)
{
    TestRng rng(20240601);
    for (int trial = 0; trial < 2000; ++trial) {
        pmhmc_philox_words ctr;
        for (int i = 0; i < 4; ++i)
            ctr.w[i] = (uint32_t)rng.bits();
        uint32_t k0 = (uint32_t)rng.bits(), k1 = (uint32_t)rng.bits();
        pmhmc_philox_words got = pmhmc_philox4x32_10(ctr, k0, k1);
        auto want = ref_philox({ctr.w[0], ctr.w[1], ctr.w[2], ctr.w[3]}, k0, k1);
        for (int i = 0; i < 4; ++i)
            ASSERT_EQ(got.w[i], want[i]) << "trial " << trial << " word " << i;
    }
    // Documented stream layout: key = 64-bit seed (low word first),
    // counter = (pair, chain, step low, step high).
    for (int trial = 0; trial < 200; ++trial) {
        uint64_t seed = rng.bits(), step = rng.bits();
        uint32_t chain = (uint32_t)rng.bits(), pair = (uint32_t)rng.bits();
        pmhmc_philox_words got = pmhmc_stream_block(seed, chain, step, pair);
        auto want = ref_philox({pair, chain, (uint32_t)step, (uint32_t)(step >> 32)}, (uint32_t)seed,
                               (uint32_t)(seed >> 32));
        for (int i = 0; i < 4; ++i)
            ASSERT_EQ(got.w[i], want[i]);
    }
}

// pmhmc_log_rn uses only correctly rounded operations. Error budget (ulps of
// the result): m - 1 is exact (Sterbenz), m + 1 is split exactly into
// b + b_lo, and the division's rounding is recovered by an fma residual, so
// f + f_lo is a/(m+1) to ~2^-100 relative; e ln2 + 2f is summed exactly by a
// fast two-sum (e*LN2_HI exact, |e ln2| > |2f| whenever e != 0); the rest
// (f_lo + f^3 s, at most 1% of the result, and e*LN2_LO) carries a few 2^-53
// relative of itself. One final rounding (0.5 ulp) plus < 0.05 ulp: the
// result is within 0.55 ulp, so 1 ulp is a safe bound and stricter than the
// 2 ulp the brief asked for. (Before the fix in philox.h the error reached
// 2.016 ulp at x = 0x1.6a009104621edp-1, just below sqrt(1/2): the rounded f
// alone carried ~1.4 ulp of log m, plus three roundings.) The last point of
// the list below is that input.
TEST(NormalTransform, LogWithinOneUlpOfLibm)
{
    TestRng rng(7);
    std::vector<double> xs;
    // The generator's own inputs: k 2^-53, k in [1, 2^53].
    for (int i = 0; i < 200000; ++i)
        xs.push_back((double)((rng.bits() >> 11) + 1) * 0x1.0p-53);
    // Whole normal range.
    for (int i = 0; i < 100000; ++i)
        xs.push_back(random_double(rng, -1022, 1023));
    // Around 1 (tiny results), sqrt(1/2), sqrt(2) and powers of two (the
    // branch and binade edges).
    const double centres[] = {1.0, 0.70710678118654752440, 1.41421356237309504880, 0.5, 2.0, 0x1.0p-53, 0x1.0p-30};
    for (double c : centres) {
        double lo = c, hi = c;
        for (int i = 0; i < 2000; ++i) {
            xs.push_back(lo);
            xs.push_back(hi);
            lo = std::nextafter(lo, 0.0);
            hi = std::nextafter(hi, INFINITY);
        }
    }
    for (int i = 1; i < 4000; ++i) // 1 +- i 2^-20: small but not tiny |log x|
        xs.push_back(1.0 + (i % 2 ? 1 : -1) * i * 0x1.0p-20);
    for (int i = 0; i < 100000; ++i) // just below sqrt(1/2): e = -1, m near sqrt 2
        xs.push_back(0.70710678118654752440 * (1.0 - 1e-3 * (double)(rng.bits() >> 11) * 0x1.0p-53));
    xs.push_back(0x1.6a009104621edp-1);

    double worst = 0.0, worst_x = 0.0;
    for (double x : xs) {
        if (x == 1.0) {
            EXPECT_EQ(pmhmc_log_rn(x), 0.0);
            continue;
        }
        double e = ulp_error(pmhmc_log_rn(x), logl((long double)x));
        if (e > worst) {
            worst = e;
            worst_x = x;
        }
    }
    EXPECT_LE(worst, 1.0) << "worst at x = " << std::hexfloat << worst_x;
    RecordProperty("log_rn_max_ulp", sci(worst));
}

// pmhmc_sincos_2pi_rn: r = t - q/4 is exact (Sterbenz; the one exception, t
// just below 1/8 where the fma rounds q up, costs one half-ulp rounding of
// r), x = 2 pi r carries ~0.5 ulp, and the Horner-by-fma series add ~0.5 ulp
// at the final fma: sin x = x + x^3 P within 1.5 ulp (the propagation factor
// x cos x / sin x of an argument error is <= 1 on |x| <= pi/4), cos x within
// ~1 ulp. Hence at most 2 ulp for both outputs.
TEST(NormalTransform, SinCos2PiWithinTwoUlpOfLibm)
{
    TestRng rng(11);
    std::vector<double> ts;
    for (int i = 0; i < 200000; ++i)
        ts.push_back((double)(rng.bits() >> 11) * 0x1.0p-53); // the generator's t
    for (int i = 0; i < 50000; ++i)
        ts.push_back(random_double(rng, -1000, 0)); // any double in (0, 1)
    const double edges[] = {0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0};
    for (double c : edges) {
        double lo = c, hi = c;
        for (int i = 0; i < 2000; ++i) {
            if (lo >= 0.0 && lo < 1.0)
                ts.push_back(lo);
            if (hi >= 0.0 && hi < 1.0)
                ts.push_back(hi);
            lo = std::nextafter(lo, -1.0);
            hi = std::nextafter(hi, 2.0);
        }
        for (int i = 1; i < 500; ++i) { // c +- i 2^-40
            double a = c - i * 0x1.0p-40, b = c + i * 0x1.0p-40;
            if (a >= 0.0 && a < 1.0)
                ts.push_back(a);
            if (b >= 0.0 && b < 1.0)
                ts.push_back(b);
        }
    }

    double worst_s = 0.0, worst_c = 0.0, at_s = 0.0, at_c = 0.0;
    for (double t : ts) {
        double s, c;
        pmhmc_sincos_2pi_rn(t, &s, &c);
        long double rs, rc;
        ref_sincos_2pi(t, &rs, &rc);
        double es = ulp_error(s, rs), ec = ulp_error(c, rc);
        if (es > worst_s) {
            worst_s = es;
            at_s = t;
        }
        if (ec > worst_c) {
            worst_c = ec;
            at_c = t;
        }
        // A cruder but fully independent check of the quadrant logic: plain
        // double libm on 2 pi t (argument error <= 2 pi 2^-53 absolute).
        ASSERT_NEAR(s, std::sin(2.0 * M_PI * t), 4e-15) << std::hexfloat << t;
        ASSERT_NEAR(c, std::cos(2.0 * M_PI * t), 4e-15) << std::hexfloat << t;
    }
    EXPECT_LE(worst_s, 2.0) << "sin worst at t = " << std::hexfloat << at_s;
    EXPECT_LE(worst_c, 2.0) << "cos worst at t = " << std::hexfloat << at_c;
    RecordProperty("sin_max_ulp", sci(worst_s));
    RecordProperty("cos_max_ulp", sci(worst_c));
}

// The pair transform written independently: 53-bit integers from the two
// word pairs, u1 in (0, 1], t in [0, 1), Box-Muller in long double. Error of
// the library's pair: log <= 2 ulp becomes <= 1 ulp after the square root
// (+0.5 for its rounding), the trig factor <= 2 ulp, the product 0.5: under
// 4 ulp relative; 6 ulps of the reference allows for the result and its
// factors sitting in different binades.
TEST(NormalTransform, PairMatchesIndependentBoxMuller)
{
    TestRng rng(3);
    double worst = 0.0;
    for (int trial = 0; trial < 100000; ++trial) {
        uint64_t seed = rng.bits(), step = rng.bits() >> 8;
        uint32_t chain = (uint32_t)rng.bits() & 0xff, pair = (uint32_t)rng.bits();
        double n0, n1;
        pmhmc_stream_normal_pair(seed, chain, step, pair, &n0, &n1);
        auto w = ref_philox({pair, chain, (uint32_t)step, (uint32_t)(step >> 32)}, (uint32_t)seed,
                            (uint32_t)(seed >> 32));
        uint64_t a = ((((uint64_t)w[0]) << 32) | w[1]) >> 11;
        uint64_t b = ((((uint64_t)w[2]) << 32) | w[3]) >> 11;
        long double u1 = (long double)(a + 1) * 0x1.0p-53L;
        double t = (double)b * 0x1.0p-53;
        long double radius = sqrtl(-2.0L * logl(u1));
        long double s, c;
        ref_sincos_2pi(t, &s, &c);
        long double r0 = radius * c, r1 = radius * s;
        // Relative accuracy holds even where a result is near zero: log u1
        // near u1 = 1 and sin/cos near their zeros are relative-accurate.
        double e0 = ulp_error(n0, r0), e1 = ulp_error(n1, r1);
        worst = std::max({worst, e0, e1});
        if (trial < 5) {
            // Uniform-from-bits convention of pmhmc_stream_uniform: the first
            // 53 bits times 2^-53.
            EXPECT_EQ(pmhmc_stream_uniform(seed, chain, step, pair), (double)a * 0x1.0p-53);
        }
    }
    EXPECT_LE(worst, 6.0);
    RecordProperty("normal_pair_max_ulp", sci(worst));
}

// 1e6 draws of stream (seed 42, chain 3, step 17). Standard errors of the
// sample moments about the known mean 0: E x -> 1/sqrt(n), E x^2 -> sqrt(2/n),
// E x^4 -> sqrt((105 - 9)/n), E n0 n1 over the n/2 pairs -> 1/sqrt(n/2).
// Each must lie within 5 standard errors (two-sided p ~ 6e-7 per check for a
// correct generator). The Kolmogorov-Smirnov distance sqrt(n) D must be below
// 1.95 (asymptotic p = 0.001): a shape check the moments cannot give.
TEST(NormalTransform, MomentsOfAMillionDraws)
{
    const size_t n = 1000000;
    std::vector<double> x(n);
    long double s1 = 0, s2 = 0, s4 = 0, s01 = 0;
    for (size_t b = 0; b < n / 2; ++b) {
        double n0, n1;
        pmhmc_stream_normal_pair(stream_seed(42), 3, 17, (uint32_t)b, &n0, &n1);
        x[2 * b] = n0;
        x[2 * b + 1] = n1;
        s01 += (long double)n0 * n1;
    }
    for (double v : x) {
        s1 += v;
        s2 += (long double)v * v;
        s4 += (long double)v * v * v * v;
    }
    const double dn = (double)n;
    double mean = (double)(s1 / n), m2 = (double)(s2 / n), m4 = (double)(s4 / n);
    double c01 = (double)(s01 / (n / 2));
    EXPECT_LT(std::fabs(mean), 5.0 / std::sqrt(dn)) << mean;
    EXPECT_LT(std::fabs(m2 - 1.0), 5.0 * std::sqrt(2.0 / dn)) << m2;
    EXPECT_LT(std::fabs(m4 - 3.0), 5.0 * std::sqrt(96.0 / dn)) << m4;
    EXPECT_LT(std::fabs(c01), 5.0 / std::sqrt(dn / 2)) << c01;

    std::sort(x.begin(), x.end());
    double d = 0.0;
    for (size_t i = 0; i < n; ++i) {
        double F = 0.5 * std::erfc(-x[i] / std::sqrt(2.0));
        d = std::max({d, F - (double)i / dn, (double)(i + 1) / dn - F});
    }
    EXPECT_LT(std::sqrt(dn) * d, 1.95) << "KS D = " << d;
}

// pmhmc_ws_normal on the CPU backend fills element e with normal e % 2 of
// pair e / 2 of the stream, whatever the thread count. Workspace lengths are
// odd (the last pair is half used) and span several chunks.
TEST(NormalTransform, WorkspaceNormalMatchesStreamForOneAndTwoThreads)
{
    ThreadCountGuard guard;
    Backend backend = cpu_backend();
    ASSERT_TRUE(backend);
    const size_t groups[] = {7, 1001};
    const size_t n_imp = 5;
    for (size_t T : groups) {
        GroupedData d;
        for (size_t g = 0; g < T; ++g) {
            d.y.push_back(0.1 * (double)g);
            d.start.push_back(d.y.size());
        }
        Dataset data = make_dataset(d);
        ASSERT_TRUE(data);
        Model model = make_model("normal_re", data.get(), n_imp);
        ASSERT_TRUE(model);
        std::vector<std::vector<double>> results;
        for (int threads : {1, 2}) {
            set_threads(threads);
            Workspace ws = make_workspace(backend.get(), model.get(), 2);
            ASSERT_TRUE(ws);
            const size_t len = pmhmc_workspace_length(ws.get());
            ASSERT_EQ(len, T * n_imp);
            ASSERT_EQ(len % 2, 1u);
            ASSERT_PMHMC_OK(pmhmc_ws_normal(ws.get(), 1, 0x0123456789abcdefULL, 5, 0x1122334455ULL));
            std::vector<double> v(len);
            ASSERT_PMHMC_OK(pmhmc_ws_download(ws.get(), 1, v.data()));
            for (size_t e = 0; e < len; ++e) {
                double n0, n1;
                pmhmc_stream_normal_pair(0x0123456789abcdefULL, 5, 0x1122334455ULL, (uint32_t)(e / 2), &n0, &n1);
                ASSERT_EQ(v[e], e % 2 ? n1 : n0) << "element " << e << " threads " << threads;
            }
            results.push_back(v);
        }
        ASSERT_EQ(0, std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(double)));
    }
}
