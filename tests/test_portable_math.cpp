// The CPU backend's own exp, expm1, log, log1p, tanh and sincos
// (src/math/portable_math.h): accuracy against glibc's long double functions
// (64-bit significands, so their own error is ~1/2000 of a double's ulp),
// the IEEE special cases, and the bits themselves, which every seeded chain
// depends on.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#include "math/portable_math.h"
#include "test_support.h"

using namespace pmhmc_test;

namespace {

// |got - ref| in units of the last place of ref's binade (2^-1074 for a
// subnormal ref).
double ulp_error(double got, long double ref)
{
    const double r = (double)ref;
    if (std::isnan(r))
        return std::isnan(got) ? 0.0 : INFINITY;
    if (std::isinf(r) || r == 0.0)
        return got == r ? 0.0 : INFINITY;
    const double a = std::fabs(r);
    const double ulp = a < DBL_MIN ? std::ldexp(1.0, -1074) : std::nextafter(a, INFINITY) - a;
    return (double)(std::fabs((long double)got - ref) / ulp);
}

// A fixed stream of uniforms on [0, 1) (xorshift64*): the same points on
// every run.
struct Points {
    uint64_t s = 0x9E3779B97F4A7C15ull;
    double next()
    {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return (double)((s * 2685821657736338717ull) >> 11) * 0x1p-53;
    }
};

struct Worst {
    double err = 0.0, at = 0.0;
    void see(double e, double x)
    {
        if (e > err) {
            err = e;
            at = x;
        }
    }
};

// The largest error over n points x = draw(points).
Worst sweep(size_t n, const std::function<double(Points &)> &draw, const std::function<double(double)> &f,
            const std::function<long double(long double)> &ref)
{
    Points pts;
    Worst w;
    for (size_t i = 0; i < n; ++i) {
        const double x = draw(pts);
        w.see(ulp_error(f(x), ref((long double)x)), x);
    }
    return w;
}

double sin_of(double x)
{
    double s, c;
    pmhmc_sincos(x, &s, &c);
    return s;
}

double cos_of(double x)
{
    double s, c;
    pmhmc_sincos(x, &s, &c);
    return c;
}

const size_t kPoints = 400000;

} // namespace

// Bounds: exp, log, log1p, sin and cos under 1 ulp; expm1 under 1.5; tanh
// under 3 (glibc documents 2 for its own tanh). Measured maxima, over 2e7
// points each when written: exp 0.95, log 0.82, log1p 0.84, expm1 1.04, tanh
// 2.34, sin 0.78, cos 0.78 (subnormal exp results: 1.0, the double rounding
// of 2^k1 2^k2, glibc the same).
TEST(PortableMath, AccurateOverTheirRanges)
{
    struct Case {
        const char *name;
        double bound;
        std::function<double(Points &)> draw;
        std::function<double(double)> f;
        std::function<long double(long double)> ref;
    } cases[] = {
        {"exp, |x| < 2", 1.0, [](Points &p) { return 4 * p.next() - 2; }, pmhmc_exp,
         [](long double x) { return std::exp(x); }},
        {"exp, normal results", 1.0, [](Points &p) { return -708.0 + 1417.0 * p.next(); }, pmhmc_exp,
         [](long double x) { return std::exp(x); }},
        {"exp, subnormal results", 1.0, [](Points &p) { return -745.0 + 36.0 * p.next(); }, pmhmc_exp,
         [](long double x) { return std::exp(x); }},
        {"expm1, |x| < 2", 1.5, [](Points &p) { return 4 * p.next() - 2; }, pmhmc_expm1,
         [](long double x) { return std::expm1(x); }},
        {"expm1, tiny", 1.5, [](Points &p) { return std::ldexp(2 * p.next() - 1, -(int)(60 * p.next())); },
         pmhmc_expm1, [](long double x) { return std::expm1(x); }},
        {"expm1, wide", 1.5, [](Points &p) { return -50.0 + 759.0 * p.next(); }, pmhmc_expm1,
         [](long double x) { return std::expm1(x); }},
        {"log, (0, 4)", 1.0, [](Points &p) { return 4 * p.next(); }, pmhmc_log,
         [](long double x) { return std::log(x); }},
        {"log, every binade", 1.0,
         [](Points &p) { return std::ldexp(0.5 + p.next(), (int)(2100 * p.next()) - 1074); }, pmhmc_log,
         [](long double x) { return std::log(x); }},
        {"log1p, (-1, 1)", 1.0, [](Points &p) { return 2 * p.next() - 1; }, pmhmc_log1p,
         [](long double x) { return std::log1p(x); }},
        {"log1p, tiny", 1.0, [](Points &p) { return std::ldexp(2 * p.next() - 1, -(int)(60 * p.next())); },
         pmhmc_log1p, [](long double x) { return std::log1p(x); }},
        {"log1p, wide", 1.0, [](Points &p) { return std::ldexp(p.next(), (int)(1000 * p.next())); }, pmhmc_log1p,
         [](long double x) { return std::log1p(x); }},
        {"tanh, |x| < 3", 3.0, [](Points &p) { return 6 * p.next() - 3; }, pmhmc_tanh,
         [](long double x) { return std::tanh(x); }},
        {"tanh, tiny and wide", 3.0,
         [](Points &p) { return std::ldexp(2 * p.next() - 1, 5 - (int)(60 * p.next())); }, pmhmc_tanh,
         [](long double x) { return std::tanh(x); }},
        {"sin, |x| < 4", 1.0, [](Points &p) { return 8 * p.next() - 4; }, sin_of,
         [](long double x) { return std::sin(x); }},
        {"sin, |x| < 2^20 pi/2", 1.0, [](Points &p) { return (2 * p.next() - 1) * 1.6e6; }, sin_of,
         [](long double x) { return std::sin(x); }},
        {"sin, near multiples of pi/2", 1.0,
         [](Points &p) { return std::floor(1e5 * p.next()) * 1.5707963267948966; }, sin_of,
         [](long double x) { return std::sin(x); }},
        {"cos, |x| < 4", 1.0, [](Points &p) { return 8 * p.next() - 4; }, cos_of,
         [](long double x) { return std::cos(x); }},
        {"cos, |x| < 2^20 pi/2", 1.0, [](Points &p) { return (2 * p.next() - 1) * 1.6e6; }, cos_of,
         [](long double x) { return std::cos(x); }},
        {"cos, near multiples of pi/2", 1.0,
         [](Points &p) { return std::floor(1e5 * p.next()) * 1.5707963267948966; }, cos_of,
         [](long double x) { return std::cos(x); }},
    };
    for (const Case &c : cases) {
        Worst w = sweep(kPoints, c.draw, c.f, c.ref);
        EXPECT_LT(w.err, c.bound) << c.name << ": " << w.err << " ulp at " << std::hexfloat << w.at;
        RecordProperty(c.name, sci(w.err));
    }
}

TEST(PortableMath, SpecialValues)
{
    const double inf = INFINITY, nan = NAN;
    auto same = [](double got, double want) {
        return (std::isnan(got) && std::isnan(want)) ||
               (got == want && std::signbit(got) == std::signbit(want));
    };
    struct Case {
        const char *what;
        double got, want;
    } cases[] = {
        {"exp(0)", pmhmc_exp(0.0), 1.0},
        {"exp(-0)", pmhmc_exp(-0.0), 1.0},
        {"exp(inf)", pmhmc_exp(inf), inf},
        {"exp(-inf)", pmhmc_exp(-inf), 0.0},
        {"exp(nan)", pmhmc_exp(nan), nan},
        {"exp(709.78) finite", std::isfinite(pmhmc_exp(709.78)) ? 1.0 : 0.0, 1.0},
        {"exp(709.79) overflows", pmhmc_exp(709.79), inf},
        {"exp(-745.2) underflows", pmhmc_exp(-745.2), 0.0},
        {"exp(-745.1) is the least subnormal", pmhmc_exp(-745.1), std::ldexp(1.0, -1074)},
        {"expm1(-0)", pmhmc_expm1(-0.0), -0.0},
        {"expm1(-inf)", pmhmc_expm1(-inf), -1.0},
        {"expm1(inf)", pmhmc_expm1(inf), inf},
        {"expm1(709.5) finite", std::isfinite(pmhmc_expm1(709.5)) ? 1.0 : 0.0, 1.0},
        {"expm1(nan)", pmhmc_expm1(nan), nan},
        {"log(0)", pmhmc_log(0.0), -inf},
        {"log(-0)", pmhmc_log(-0.0), -inf},
        {"log(-1)", pmhmc_log(-1.0), nan},
        {"log(1)", pmhmc_log(1.0), 0.0},
        {"log(inf)", pmhmc_log(inf), inf},
        {"log(nan)", pmhmc_log(nan), nan},
        {"log(least subnormal)", pmhmc_log(std::ldexp(1.0, -1074)), (double)(-1074.0L * std::log(2.0L))},
        {"log1p(-1)", pmhmc_log1p(-1.0), -inf},
        {"log1p(-2)", pmhmc_log1p(-2.0), nan},
        {"log1p(-0)", pmhmc_log1p(-0.0), -0.0},
        {"log1p(inf)", pmhmc_log1p(inf), inf},
        {"log1p(DBL_MAX)", pmhmc_log1p(DBL_MAX), (double)std::log((long double)DBL_MAX)},
        {"tanh(-0)", pmhmc_tanh(-0.0), -0.0},
        {"tanh(inf)", pmhmc_tanh(inf), 1.0},
        {"tanh(-inf)", pmhmc_tanh(-inf), -1.0},
        {"tanh(nan)", pmhmc_tanh(nan), nan},
        {"sin(-0)", sin_of(-0.0), -0.0},
        {"cos(-0)", cos_of(-0.0), 1.0},
        {"sin(inf)", sin_of(inf), nan},
        {"cos(nan)", cos_of(nan), nan},
        {"sin(2^50): no phase left", sin_of(0x1p50), nan},
        {"cos(-2^51)", cos_of(-0x1p51), nan},
    };
    for (const Case &c : cases)
        EXPECT_TRUE(same(c.got, c.want)) << c.what << ": " << std::hexfloat << c.got << ", want " << c.want;
}

// The functions' bits are their definition: every seeded chain on the CPU
// depends on them. This digest of their values on fixed points pins them, so
// a change (a new polynomial, a compiler that fuses a multiply and an add)
// shows here and is made on purpose, with the draws it changes. The value
// was taken when they were written and is the same on every machine and
// build: GCC at -O0 to -O3, -march x86-64-v2 to native with 512-bit vectors,
// and clang, all give it; GCC in its GNU mode, which fuses multiplies and
// adds into FMAs on an FMA machine, does not (hence -ffp-contract=off).
TEST(PortableMath, BitsArePinned)
{
    Points pts;
    uint64_t h = 1469598103934665603ull; // FNV-1a over the result bits
    auto mix = [&h](double v) {
        uint64_t b;
        std::memcpy(&b, &v, sizeof b);
        for (int i = 0; i < 8; ++i) {
            h ^= (b >> (8 * i)) & 0xff;
            h *= 1099511628211ull;
        }
    };
    for (int i = 0; i < 20000; ++i) {
        const double x = 60.0 * pts.next() - 30.0;
        double s, c;
        pmhmc_sincos(x, &s, &c);
        mix(pmhmc_exp(x));
        mix(pmhmc_expm1(x));
        mix(pmhmc_log(std::fabs(x)));
        mix(pmhmc_log1p(std::fabs(x)));
        mix(pmhmc_tanh(x));
        mix(s);
        mix(c);
    }
    EXPECT_EQ(h, 0x703bb97f585164fdull) << "digest " << std::hex << h;
}
