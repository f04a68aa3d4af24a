// Every backend op on every backend against the CPU double-precision
// reference (DESIGN §7): one parameterised suite over
//   cpu_double   the CPU backend run with 3 OpenMP threads, against itself
//                run with 1 thread: must agree bit for bit (fixed-order
//                reductions make the thread count invisible);
//   cuda_double  the CUDA backend in double: normal draws, copy, scale,
//                rotate and transfers bit for bit; dot and the estimators to
//                rtol 1e-12 of the magnitudes below;
//   cuda_float   the CUDA backend with float storage and fast intrinsics:
//                draws and transfers exactly the CPU's values rounded to
//                float once; estimators to rtol 1e-5 of the magnitudes below.
// CUDA instances skip (with the probe's reason) when there is no usable GPU,
// and fail instead when PMHMC_REQUIRE_GPU=1.
//
// For the float instance every input that the backend stores as float (u, p,
// the covariates z) is rounded to float first and the CPU reference runs on
// the rounded values, so the comparison measures the float arithmetic, not
// the input rounding.
//
// Tolerances: |got - want| <= rtol * A (+ a denormal floor for per-draw
// values), with A a magnitude bound for the rounding the quantity can carry,
// computed here in double from the inputs (never from the backend output):
//   per draw k of group i, E_ik = 1 + |l_1| + |l_2| + |log f| + |log q|
//     + sum_j (|eta_ijk| + |z_ij'beta| + |x_ik| + |term_ijk| + 1)
//   is the sum of the magnitudes of the operands that round into log w_ik
//   (each rounding costs <= eps of its operand), and Ebar_i = sum_k W_ik E_ik
//   is what reaches log phat_i (d log phat_i / d log w_ik = W_ik). Then
//     log phat:    A = sum_i (Ebar_i + |log phat_i| + 1)
//     beta_c:      A = sum_i (3 Ebar_i + 1) sum_j |z_ijc|      (|g| <= 1; W and g errors)
//     mixture:     A = sum_ik W_ik (E_ik + Ebar_i + 2) |term magnitude|
//     grad_u_ik:   A = W_ik s C_ik (E_ik + Ebar_i + 2), C the operands of the
//                  bracket (n_i + |sum g| + |dlogf| + lambda_c |x - mu_c| + |x| / s^2 + 1)
//     u', p':      A = |cos||u| + |sin|(|p| + |kick d|) (and the mirror),
//                  plus |sin kick| (resp. |cos kick|) times grad_u's tolerance.
// Summing magnitudes over groups is what "a tolerance scaled by the sum of
// absolute group contributions" means: a sum over many groups of float-level
// errors is bounded by the sum of their magnitudes, not by the result's.
// With rtol = 1e-12 (double, eps = 1.1e-16: ~1e4 ulps of headroom for libm
// differences between host and device and for different summation orders)
// and rtol = 1e-5 (float, eps = 6e-8: ~170 ulps for __expf/__logf/rcp.approx
// and float accumulation over up to N / 256 draws per thread). Per-draw
// values add a floor (1e-300 double, 1e-30 float) for weights that underflow
// differently (float flushes exp(-88) to zero; the CPU keeps a denormal).
// Explicit checks: a finite reference must come back finite, a NaN theta
// must give a NaN log phat, and ops that must not touch u leave it bit-equal.
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

using namespace pmhmc_test;

namespace {

struct BackendCase {
    const char *name;
    pmhmc_backend_kind kind;
    pmhmc_precision precision;
};

// Printed by gtest (and in ctest's test names) as the instance name.
void PrintTo(const BackendCase &c, std::ostream *os) { *os << c.name; }

const BackendCase kBackends[] = {
    {"cpu_double", PMHMC_BACKEND_CPU, PMHMC_PRECISION_DOUBLE},
    {"cuda_double", PMHMC_BACKEND_CUDA, PMHMC_PRECISION_DOUBLE},
    {"cuda_float", PMHMC_BACKEND_CUDA, PMHMC_PRECISION_FLOAT},
};

bool same_bits(double a, double b)
{
    if (std::isnan(a) && std::isnan(b))
        return true;
    return std::memcmp(&a, &b, sizeof a) == 0;
}

double log_sum_exp2(double a, double b)
{
    double hi = std::max(a, b);
    return hi + std::log(std::exp(a - hi) + std::exp(b - hi));
}

double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }

const double kLogSqrt2Pi = 0.91893853320467274178;

// ---- requests and their outputs --------------------------------------------------

enum class Mode { Value, Gradients, Fused };

const char *mode_name(Mode m)
{
    return m == Mode::Value ? "value" : m == Mode::Gradients ? "gradients" : "fused";
}

struct Outputs {
    double lp = 0.0;
    std::vector<double> grad, gu, u, p;
};

constexpr double kKick = 0.37;
constexpr double kAngle = 0.2;

// Uploads u (vector 0) and p (vector 1), runs one estimate in `mode` and
// downloads what it wrote.
bool run_estimate(pmhmc_workspace *ws, size_t dim, const std::vector<double> &theta,
                  const std::vector<double> &u, const std::vector<double> &p, Mode mode, Outputs *out)
{
    const size_t L = pmhmc_workspace_length(ws);
    EXPECT_EQ(pmhmc_ws_upload(ws, 0, u.data()), PMHMC_OK);
    EXPECT_EQ(pmhmc_ws_upload(ws, 1, p.data()), PMHMC_OK);
    pmhmc_estimate_request req{};
    req.theta = theta.data();
    req.u = 0;
    req.p = mode == Mode::Fused ? 1 : -1;
    req.grad_u = mode == Mode::Value ? -1 : 2;
    req.kick = kKick;
    req.angle = kAngle;
    out->grad.assign(dim, 0.0);
    pmhmc_status st = pmhmc_ws_estimate(ws, &req, &out->lp, mode == Mode::Value ? nullptr : out->grad.data());
    EXPECT_EQ(st, PMHMC_OK);
    if (st != PMHMC_OK)
        return false;
    out->u.assign(L, 0.0);
    out->p.assign(L, 0.0);
    out->gu.assign(L, 0.0);
    EXPECT_EQ(pmhmc_ws_download(ws, 0, out->u.data()), PMHMC_OK);
    EXPECT_EQ(pmhmc_ws_download(ws, 1, out->p.data()), PMHMC_OK);
    if (mode != Mode::Value) {
        EXPECT_EQ(pmhmc_ws_download(ws, 2, out->gu.data()), PMHMC_OK);
    }
    return true;
}

// ---- magnitudes for the tolerances (see the header comment) ----------------------

struct Tolerance {
    double lp = 0.0;
    std::vector<double> grad, gu, u, p;
};

struct EstimatorCase {
    std::string name;
    std::string model; // "glmm" or "normal_re"
    GroupedData data;
    size_t N = 0;
    double s = 3.0;
    std::vector<double> theta;
    std::vector<double> u, p; // [G * N]
};

// Per-draw quantities of one group that the tolerance needs.
struct DrawMag {
    double lw, E, grad_u_mag, d;
    double mix[5]; // magnitudes of the five mixture-gradient terms (GLMM)
    double nre[2]; // magnitudes of the normal_re gradient terms
};

void finish_tolerance(const EstimatorCase &c, double rtol, double floor, Tolerance *t,
                      const std::function<void(size_t, std::vector<DrawMag> &, double *sum_abs_z)> &group_draws)
{
    const size_t G = c.data.n_groups(), N = c.N, dim = c.theta.size(), p = c.data.p;
    const double ca = std::cos(kAngle), sa = std::sin(kAngle);
    t->lp = 0.0;
    t->grad.assign(dim, 0.0);
    t->gu.assign(G * N, 0.0);
    t->u.assign(G * N, 0.0);
    t->p.assign(G * N, 0.0);
    std::vector<DrawMag> dm(N);
    std::vector<double> sum_abs_z(p + 1, 0.0);
    for (size_t g = 0; g < G; ++g) {
        std::fill(sum_abs_z.begin(), sum_abs_z.end(), 0.0);
        group_draws(g, dm, sum_abs_z.data());
        double M = -INFINITY;
        for (const DrawMag &m : dm)
            M = std::max(M, m.lw);
        double S = 0.0;
        for (const DrawMag &m : dm)
            S += std::exp(m.lw - M);
        const double lp = M + std::log(S) - std::log((double)N);
        double Ebar = 0.0;
        for (const DrawMag &m : dm)
            Ebar += std::exp(m.lw - M) / S * m.E;
        t->lp += Ebar + std::fabs(lp) + 1.0;
        for (size_t cc = 0; cc < p; ++cc)
            t->grad[cc] += (3.0 * Ebar + 1.0) * sum_abs_z[cc];
        for (size_t k = 0; k < N; ++k) {
            const DrawMag &m = dm[k];
            const double W = std::exp(m.lw - M) / S;
            const double F = m.E + Ebar + 2.0;
            if (c.model == "glmm") {
                for (int i = 0; i < 5; ++i)
                    t->grad[p + i] += W * F * m.mix[i];
            } else {
                t->grad[0] += W * F * m.nre[0];
                t->grad[1] += W * F * m.nre[1];
            }
            const size_t e = g * N + k;
            const double d = W * m.d;
            t->gu[e] = rtol * W * m.grad_u_mag * F + floor;
            const double u0 = c.u[e], p0 = c.p[e];
            t->u[e] = rtol * (std::fabs(ca * u0) + std::fabs(sa * p0) + std::fabs(sa * kKick * d)) +
                      std::fabs(sa * kKick) * t->gu[e] + floor;
            t->p[e] = rtol * (std::fabs(ca * p0) + std::fabs(ca * kKick * d) + std::fabs(sa * u0)) +
                      std::fabs(ca * kKick) * t->gu[e] + floor;
        }
    }
    t->lp *= rtol;
    for (double &v : t->grad)
        v *= rtol;
}

Tolerance glmm_tolerance(const EstimatorCase &c, double rtol, double floor)
{
    const GroupedData &d = c.data;
    const size_t p = d.p, N = c.N;
    const double *beta = c.theta.data();
    const double mu0 = c.theta[p], mu1 = c.theta[p + 1];
    const double lam0 = std::exp(c.theta[p + 2]), lam1 = std::exp(c.theta[p + 3]);
    const double a = c.theta[p + 4];
    const double log_w1 = -softplus(-a), log_w2 = -softplus(a);
    const double s = c.s;
    Tolerance t;
    finish_tolerance(c, rtol, floor, &t, [&](size_t g, std::vector<DrawMag> &dm, double *sum_abs_z) {
        const size_t r0 = d.start[g], n = d.rows(g);
        std::vector<double> zb(n);
        for (size_t j = 0; j < n; ++j) {
            zb[j] = d.zb(r0 + j, beta);
            for (size_t cc = 0; cc < p; ++cc)
                sum_abs_z[cc] += std::fabs(d.z[(r0 + j) * p + cc]);
        }
        for (size_t k = 0; k < N; ++k) {
            const double uk = c.u[g * N + k], x = s * uk;
            const double d0 = x - mu0, d1 = x - mu1;
            const double l0 = log_w1 + 0.5 * std::log(lam0) - kLogSqrt2Pi - 0.5 * lam0 * d0 * d0;
            const double l1 = log_w2 + 0.5 * std::log(lam1) - kLogSqrt2Pi - 0.5 * lam1 * d1 * d1;
            const double logf = log_sum_exp2(l0, l1);
            const double r1 = std::exp(l0 - logf);
            const double dlogf = -(r1 * lam0 * d0 + (1.0 - r1) * lam1 * d1);
            const double logq = -0.5 * uk * uk - std::log(s) - kLogSqrt2Pi;
            double lw = logf - logq, E = 1.0 + std::fabs(l0) + std::fabs(l1) + std::fabs(logf) + std::fabs(logq);
            double gsum = 0.0;
            for (size_t j = 0; j < n; ++j) {
                const double eta = x + zb[j], y = d.y[r0 + j];
                const double term = y * eta - softplus(eta);
                lw += term;
                gsum += y - stable_sigmoid(eta);
                E += std::fabs(eta) + std::fabs(zb[j]) + std::fabs(x) + std::fabs(term) + 1.0;
            }
            DrawMag &m = dm[k];
            m.lw = lw;
            m.E = E;
            const double C = (double)n + std::fabs(gsum) + std::fabs(dlogf) + lam0 * std::fabs(d0) +
                             lam1 * std::fabs(d1) + std::fabs(x) / (s * s) + 1.0;
            m.grad_u_mag = s * C;
            m.d = s * (gsum + dlogf + x / (s * s));
            m.mix[0] = 1.0 + lam0 * std::fabs(d0);
            m.mix[1] = 1.0 + lam1 * std::fabs(d1);
            m.mix[2] = 1.0 + lam0 * d0 * d0;
            m.mix[3] = 1.0 + lam1 * d1 * d1;
            m.mix[4] = 2.0;
        }
    });
    return t;
}

Tolerance normal_re_tolerance(const EstimatorCase &c, double rtol, double floor)
{
    const GroupedData &d = c.data;
    const size_t N = c.N;
    const double mu = c.theta[0], tau = std::exp(c.theta[1]);
    Tolerance t;
    finish_tolerance(c, rtol, floor, &t, [&](size_t g, std::vector<DrawMag> &dm, double *) {
        const size_t r0 = d.start[g], r1 = d.start[g + 1];
        const double n = (double)(r1 - r0);
        double sy = 0.0, syy = 0.0;
        for (size_t r = r0; r < r1; ++r) {
            sy += d.y[r];
            syy += d.y[r] * d.y[r];
        }
        for (size_t k = 0; k < N; ++k) {
            const double uk = c.u[g * N + k], x = mu + tau * uk;
            const double dl = sy - n * x;
            DrawMag &m = dm[k];
            m.lw = -0.5 * (syy - 2.0 * x * sy + n * x * x) - n * kLogSqrt2Pi;
            m.E = 1.0 + 0.5 * (std::fabs(syy) + 2.0 * std::fabs(x * sy) + n * x * x) + n * kLogSqrt2Pi +
                  std::fabs(mu) + tau * std::fabs(uk);
            const double dl_mag = std::fabs(sy) + n * std::fabs(x) + 1.0;
            m.grad_u_mag = dl_mag * tau;
            m.d = dl * tau;
            m.nre[0] = dl_mag;
            m.nre[1] = dl_mag * tau * std::fabs(uk) + 1e-300;
        }
    });
    return t;
}

// ---- the cases --------------------------------------------------------------------

// Data and u for a GLMM case. rows: n_i per group; z ~ N(0, z_scale^2) plus
// z_shift; y from a coin with the sign of eta so that some terms are large and
// mismatched when |eta| is large.
EstimatorCase glmm_case(const std::string &name, const std::vector<size_t> &rows, size_t p, size_t N, uint64_t seed,
                        double z_scale = 1.0)
{
    TestRng rng(seed);
    EstimatorCase c;
    c.name = name;
    c.model = "glmm";
    c.N = N;
    c.data.p = p;
    for (size_t n : rows) {
        for (size_t j = 0; j < n; ++j) {
            for (size_t cc = 0; cc < p; ++cc)
                c.data.z.push_back(z_scale * rng.normal());
            c.data.y.push_back(rng.uniform() < 0.5 ? 0.0 : 1.0);
        }
        c.data.start.push_back(c.data.start.back() + n);
    }
    c.theta.resize(p + 5);
    for (size_t cc = 0; cc < p; ++cc)
        c.theta[cc] = 0.5 * rng.normal();
    c.theta[p] = 0.0;
    c.theta[p + 1] = 3.0;
    c.theta[p + 2] = std::log(10.0);
    c.theta[p + 3] = std::log(3.0);
    c.theta[p + 4] = std::log(4.0); // w1 = 0.8
    const size_t L = rows.size() * N;
    for (size_t e = 0; e < L; ++e) {
        c.u.push_back(rng.normal());
        c.p.push_back(rng.normal());
    }
    return c;
}

EstimatorCase normal_re_case(const std::string &name, const std::vector<size_t> &rows, size_t N, uint64_t seed,
                             double y_center, double y_scale, double mu, double log_tau)
{
    TestRng rng(seed);
    EstimatorCase c;
    c.name = name;
    c.model = "normal_re";
    c.N = N;
    for (size_t n : rows) {
        const double x = y_center + y_scale * rng.normal();
        for (size_t j = 0; j < n; ++j)
            c.data.y.push_back(x + rng.normal());
        c.data.start.push_back(c.data.start.back() + n);
    }
    c.theta = {mu, log_tau};
    const size_t L = rows.size() * N;
    for (size_t e = 0; e < L; ++e) {
        c.u.push_back(rng.normal());
        c.p.push_back(rng.normal());
    }
    return c;
}

std::vector<EstimatorCase> estimator_cases()
{
    std::vector<EstimatorCase> cases;
    // Ragged groups, n_i = 1 and a group past the 16-row register tile; N = 37.
    cases.push_back(glmm_case("glmm_ragged_N37", {1, 3, 6, 20, 2, 9, 5, 8, 17, 16}, 3, 37, 11));
    // The paper's shape (n = 6, p = 8), N = 128.
    {
        std::vector<size_t> rows(40, 6);
        cases.push_back(glmm_case("glmm_paper_N128", rows, 8, 128, 12));
    }
    // N = 2000: 256 threads, ~8 draws per thread; every n_i from 1 to 8.
    cases.push_back(glmm_case("glmm_N2000", {1, 2, 3, 4, 5, 6, 7, 8}, 2, 2000, 13));
    // Large |eta|: z'beta ~ +-40 (z scaled so |z'beta| reaches ~40).
    {
        EstimatorCase c = glmm_case("glmm_large_eta", {4, 7, 1, 12, 6}, 2, 37, 14);
        c.theta[0] = 1.0;
        c.theta[1] = -1.0;
        for (size_t r = 0; r < c.data.y.size(); ++r) {
            const double sign = (r % 2) ? 1.0 : -1.0;
            c.data.z[2 * r] = sign * (20.0 + 0.5 * (double)(r % 3));
            c.data.z[2 * r + 1] = -sign * (20.0 - 0.25 * (double)(r % 5));
        }
        cases.push_back(c);
    }
    // One weight dominating: a narrow component at 12 and one draw per group at
    // u = 4 (x = 12), all others near 0.
    {
        std::vector<size_t> rows(6, 6);
        EstimatorCase c = glmm_case("glmm_dominant_weight", rows, 3, 64, 15);
        c.theta[3] = 12.0;                // mu1
        c.theta[3 + 2] = std::log(20.0);  // lambda1
        c.theta[3 + 4] = 3.0;             // w1 ~ 0.95
        for (size_t g = 0; g < rows.size(); ++g)
            c.u[g * 64 + (g * 7) % 64] = 4.0;
        for (double &y : c.data.y) /* y = 1 everywhere: x = 12 also fits the rows best */
            y = 1.0;
        cases.push_back(c);
    }
    // Extreme precisions: log_lambda = +8 and -8.
    {
        EstimatorCase c = glmm_case("glmm_extreme_lambda", {3, 1, 6, 2, 5}, 2, 37, 16);
        c.theta[2] = 0.5;
        c.theta[3] = -2.0;
        c.theta[4] = 8.0;
        c.theta[5] = -8.0;
        cases.push_back(c);
    }
    // N = 1 (a single draw per group, 32-thread blocks with 31 idle threads).
    cases.push_back(glmm_case("glmm_N1", {2, 5, 1}, 2, 1, 17));
    // 600 groups: three chunks in the cross-group reduction.
    {
        std::vector<size_t> rows(600);
        for (size_t g = 0; g < rows.size(); ++g)
            rows[g] = 1 + g % 7;
        cases.push_back(glmm_case("glmm_600_groups", rows, 2, 40, 18));
    }
    // A covariate count past the inline-theta limit (p = 70 > 64).
    cases.push_back(glmm_case("glmm_p70", {3, 6, 2}, 70, 33, 19, 0.1));

    cases.push_back(normal_re_case("normal_re_ragged_N37", {1, 4, 2, 7, 3}, 37, 21, 0.5, 1.0, 0.3, std::log(1.2)));
    cases.push_back(normal_re_case("normal_re_N2000", {3, 5, 2, 8, 1, 6}, 2000, 22, 0.0, 2.0, -0.2, 0.4));
    cases.push_back(normal_re_case("normal_re_extreme", {5, 9, 2}, 37, 23, 50.0, 3.0, 10.0, 3.0));
    {
        std::vector<size_t> rows(600);
        for (size_t g = 0; g < rows.size(); ++g)
            rows[g] = 1 + g % 4;
        cases.push_back(normal_re_case("normal_re_600_groups", rows, 33, 24, 1.0, 1.0, 0.8, -0.5));
    }
    return cases;
}

// ---- the fixture -------------------------------------------------------------------

class BackendOps : public ::testing::TestWithParam<BackendCase> {
protected:
    void SetUp() override
    {
        const BackendCase &bc = GetParam();
        if (bc.kind == PMHMC_BACKEND_CUDA) {
            char reason[256] = {0};
            if (!pmhmc_cuda_usable(reason, sizeof reason)) {
                if (gpu_required())
                    FAIL() << "PMHMC_REQUIRE_GPU=1 but no usable GPU: " << reason;
                GTEST_SKIP() << "no usable GPU: " << reason;
            }
        }
        is_cpu_ = bc.kind == PMHMC_BACKEND_CPU;
        is_float_ = bc.precision == PMHMC_PRECISION_FLOAT;
        rtol_ = is_cpu_ ? 0.0 : is_float_ ? 1e-5 : 1e-12;
        floor_ = is_cpu_ ? 0.0 : is_float_ ? 1e-30 : 1e-300;
        // The CPU instance runs the backend with several threads and the
        // reference with one.
        test_threads_ = std::max(3, max_threads());
        set_threads(test_threads_);
        pmhmc_backend *b = nullptr;
        pmhmc_error err{};
        ASSERT_EQ(pmhmc_backend_create(bc.kind, bc.precision, &b, &err), PMHMC_OK) << err.message;
        backend_.reset(b);
        ref_ = cpu_backend();
        ASSERT_TRUE(ref_);
    }

    // x as the backend stores it.
    double stored(double x) const { return is_float_ ? (double)(float)x : x; }
    std::vector<double> stored(std::vector<double> v) const
    {
        for (double &x : v)
            x = stored(x);
        return v;
    }

    // Compares one value; `tol` is ignored for the CPU instance (bit
    // equality). Returns whether it passed (a failure is recorded).
    bool check(const std::string &what, double got, double want, double tol)
    {
        bool ok;
        if (is_cpu_)
            ok = same_bits(got, want);
        else if (std::isnan(want))
            ok = std::isnan(got);
        else if (!std::isfinite(got))
            ok = got == want; /* NaN never passes; inf only where the reference is inf */
        else
            ok = std::isfinite(want) && std::fabs(got - want) <= tol;
        if (!ok) {
            if (is_cpu_)
                ADD_FAILURE() << what << ": " << test_threads_ << " threads gave " << got << ", 1 thread gave "
                              << want << " (not bit-identical)";
            else
                ADD_FAILURE() << what << ": got " << got << ", want " << want << ", |diff| "
                              << std::fabs(got - want) << " > tol " << tol << " (rel "
                              << std::fabs(got - want) / std::max(std::fabs(want), 1e-300) << ")";
        }
        return ok;
    }

    // Compares element-wise, reporting at most five failures.
    void check_vector(const std::string &what, const std::vector<double> &got, const std::vector<double> &want,
                      const std::vector<double> &tol)
    {
        ASSERT_EQ(got.size(), want.size());
        int failures = 0;
        for (size_t i = 0; i < got.size() && failures < 5; ++i)
            if (!check(what + "[" + std::to_string(i) + "]", got[i], want[i], tol.empty() ? 0.0 : tol[i]))
                ++failures;
    }

    void run_case(const EstimatorCase &raw);

    Backend backend_, ref_;
    ThreadCountGuard threads_guard_;
    bool is_cpu_ = false, is_float_ = false;
    double rtol_ = 0.0, floor_ = 0.0;
    int test_threads_ = 1;
};

std::string param_name(const ::testing::TestParamInfo<BackendCase> &info) { return info.param.name; }

// ---- vector ops ------------------------------------------------------------------------

// A workspace of length G * N over normal_re data (the model only sets the length).
struct VectorSetup {
    Dataset data;
    Model model;
    Workspace ws, ref;
};

void make_vectors(pmhmc_backend *b, pmhmc_backend *ref, size_t G, size_t N, int n_vectors, VectorSetup *v)
{
    GroupedData d;
    for (size_t g = 0; g < G; ++g) {
        d.y.push_back(0.1 * (double)g);
        d.start.push_back(g + 1);
    }
    v->data = make_dataset(d);
    ASSERT_TRUE(v->data);
    v->model = make_model("normal_re", v->data.get(), N);
    ASSERT_TRUE(v->model);
    v->ws = make_workspace(b, v->model.get(), n_vectors);
    v->ref = make_workspace(ref, v->model.get(), n_vectors);
    ASSERT_TRUE(v->ws && v->ref);
}

std::vector<double> random_vector(size_t n, uint64_t seed, double scale = 1.0)
{
    TestRng rng(seed);
    std::vector<double> x(n);
    for (double &v : x)
        v = scale * rng.normal();
    return x;
}

TEST_P(BackendOps, NormalDrawsAreTheCpuStream)
{
    VectorSetup v;
    ASSERT_NO_FATAL_FAILURE(make_vectors(backend_.get(), ref_.get(), 7, 37, 2, &v)); // odd length 259
    const size_t n = pmhmc_workspace_length(v.ws.get());
    const struct {
        uint64_t seed;
        uint32_t chain;
        uint64_t step;
    } keys[] = {{1, 0, 0}, {99, 3, 12345}, {UINT64_C(0xFEEDFACE12345678), 1, UINT64_C(0x100000003)}};
    std::vector<double> got(n), want(n);
    for (const auto &k : keys) {
        ASSERT_EQ(pmhmc_ws_normal(v.ws.get(), 1, k.seed, k.chain, k.step), PMHMC_OK);
        {
            ThreadCountGuard g;
            set_threads(1);
            ASSERT_EQ(pmhmc_ws_normal(v.ref.get(), 1, k.seed, k.chain, k.step), PMHMC_OK);
        }
        ASSERT_EQ(pmhmc_ws_download(v.ws.get(), 1, got.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(v.ref.get(), 1, want.data()), PMHMC_OK);
        for (size_t e = 0; e < n; ++e)
            ASSERT_TRUE(same_bits(got[e], stored(want[e])))
                << "element " << e << " of stream (" << k.seed << ", " << k.chain << ", " << k.step << "): got "
                << got[e] << ", want " << stored(want[e]);
    }
}

TEST_P(BackendOps, UploadDownloadRoundTripAndCopy)
{
    // 1100 x 1000 = 1.1e6 elements: past the float path's 2^20 staging chunk.
    VectorSetup v;
    ASSERT_NO_FATAL_FAILURE(make_vectors(backend_.get(), ref_.get(), 1100, 1000, 3, &v));
    const size_t n = pmhmc_workspace_length(v.ws.get());
    std::vector<double> x = random_vector(n, 31, 3.0), back(n, -1.0);
    x[0] = 1e-40;  // float denormal: rounds to a float denormal exactly once
    x[1] = -7e38;  // past float range: becomes -inf in float
    x[2] = 0.1;
    ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), 0, x.data()), PMHMC_OK);
    ASSERT_EQ(pmhmc_ws_download(v.ws.get(), 0, back.data()), PMHMC_OK);
    for (size_t e = 0; e < n; ++e)
        ASSERT_TRUE(same_bits(back[e], stored(x[e]))) << "element " << e << ": " << back[e] << " vs " << x[e];
    std::vector<double> copy(n, -1.0);
    ASSERT_EQ(pmhmc_ws_copy(v.ws.get(), 2, 0), PMHMC_OK);
    ASSERT_EQ(pmhmc_ws_download(v.ws.get(), 2, copy.data()), PMHMC_OK);
    for (size_t e = 0; e < n; ++e)
        ASSERT_TRUE(same_bits(copy[e], back[e])) << "element " << e;
    // A fresh workspace's vectors are zero, as the CPU's are.
    std::vector<double> zero(n, -1.0);
    ASSERT_EQ(pmhmc_ws_download(v.ws.get(), 1, zero.data()), PMHMC_OK);
    for (size_t e = 0; e < n; ++e)
        ASSERT_EQ(zero[e], 0.0) << "element " << e;
}

TEST_P(BackendOps, ScaleAndRotate)
{
    VectorSetup v;
    ASSERT_NO_FATAL_FAILURE(make_vectors(backend_.get(), ref_.get(), 13, 41, 2, &v));
    const size_t n = pmhmc_workspace_length(v.ws.get());
    const std::vector<double> a = stored(random_vector(n, 41)), b = stored(random_vector(n, 42, 2.0));
    std::vector<double> got_u(n), got_p(n), want_u(n), want_p(n);
    const double alphas[] = {-0.731, 3.0, 1e-3};
    for (double alpha : alphas) {
        ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), 0, a.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_upload(v.ref.get(), 0, a.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_scale(v.ws.get(), 0, alpha), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_scale(v.ref.get(), 0, alpha), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(v.ws.get(), 0, got_u.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(v.ref.get(), 0, want_u.data()), PMHMC_OK);
        // One product, rounded once to the storage type: exact.
        for (size_t e = 0; e < n; ++e)
            ASSERT_TRUE(same_bits(got_u[e], stored(want_u[e]))) << "scale " << alpha << " element " << e;
    }
    const double angles[] = {0.2, -1.3, 3.0};
    for (double angle : angles) {
        ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), 0, a.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), 1, b.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_upload(v.ref.get(), 0, a.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_upload(v.ref.get(), 1, b.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_rotate(v.ws.get(), 0, 1, angle), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_rotate(v.ref.get(), 0, 1, angle), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(v.ws.get(), 0, got_u.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(v.ws.get(), 1, got_p.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(v.ref.get(), 0, want_u.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(v.ref.get(), 1, want_p.data()), PMHMC_OK);
        // The rotation is computed in double without fma contraction on
        // every backend (kernels/rotation_rn.cuh), then rounded once.
        for (size_t e = 0; e < n; ++e) {
            ASSERT_TRUE(same_bits(got_u[e], stored(want_u[e]))) << "rotate " << angle << " u element " << e;
            ASSERT_TRUE(same_bits(got_p[e], stored(want_p[e]))) << "rotate " << angle << " p element " << e;
        }
    }
}

TEST_P(BackendOps, Axpy)
{
    VectorSetup v;
    ASSERT_NO_FATAL_FAILURE(make_vectors(backend_.get(), ref_.get(), 13, 41, 2, &v));
    const size_t n = pmhmc_workspace_length(v.ws.get());
    const std::vector<double> x = stored(random_vector(n, 43)), y = stored(random_vector(n, 44, 2.0));
    std::vector<double> got(n), want(n);
    const double alphas[] = {-0.731, 0.0125, 3.0};
    for (double alpha : alphas) {
        ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), 0, y.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), 1, x.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_axpy(v.ws.get(), 0, alpha, 1), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(v.ws.get(), 0, got.data()), PMHMC_OK);
        // Independent answer: the same two roundings in double on the host,
        // then once to the storage type.
        for (size_t e = 0; e < n; ++e) {
            volatile double product = alpha * x[e];
            want[e] = stored(y[e] + product);
            ASSERT_TRUE(same_bits(got[e], want[e])) << "axpy " << alpha << " element " << e;
        }
    }
    EXPECT_EQ(pmhmc_ws_axpy(v.ws.get(), 0, 1.0, 0), PMHMC_ERR_ARG) << "x and y must differ";
}

TEST_P(BackendOps, DotsGiveEachDotsBits)
{
    VectorSetup v;
    ASSERT_NO_FATAL_FAILURE(make_vectors(backend_.get(), ref_.get(), 37, 300, 3, &v));
    const size_t n = pmhmc_workspace_length(v.ws.get());
    for (int k = 0; k < 3; ++k) {
        const std::vector<double> x = stored(random_vector(n, 60 + k, 1.0 + k));
        ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), k, x.data()), PMHMC_OK);
    }
    const int a[5] = {0, 0, 1, 2, 2}, b[5] = {0, 1, 2, 2, 0};
    double got[5];
    ASSERT_EQ(pmhmc_ws_dots(v.ws.get(), 5, a, b, got), PMHMC_OK);
    for (int i = 0; i < 5; ++i) {
        double one;
        ASSERT_EQ(pmhmc_ws_dot(v.ws.get(), a[i], b[i], &one), PMHMC_OK);
        EXPECT_TRUE(same_bits(got[i], one)) << "pair " << i << ": " << got[i] << " vs " << one;
    }
    int too_many[PMHMC_WS_MAX_DOTS + 1] = {0};
    double out[PMHMC_WS_MAX_DOTS + 1];
    EXPECT_EQ(pmhmc_ws_dots(v.ws.get(), PMHMC_WS_MAX_DOTS + 1, too_many, too_many, out), PMHMC_ERR_ARG);
    const int bad[1] = {3};
    EXPECT_EQ(pmhmc_ws_dots(v.ws.get(), 1, bad, bad, out), PMHMC_ERR_ARG);
}

TEST_P(BackendOps, DotIsDoubleAccurateAndDeterministic)
{
    const size_t shapes[][2] = {{3, 5}, {64, 1000}, {700, 3000}}; // 15, 64000, 2.1e6 elements
    for (const auto &sh : shapes) {
        VectorSetup v;
        ASSERT_NO_FATAL_FAILURE(make_vectors(backend_.get(), ref_.get(), sh[0], sh[1], 2, &v));
        const size_t n = pmhmc_workspace_length(v.ws.get());
        const std::vector<double> a = stored(random_vector(n, 51 + n, 2.0));
        std::vector<double> b = stored(random_vector(n, 52 + n));
        b[n / 2] = stored(1e6); // one large product
        ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), 0, a.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_upload(v.ws.get(), 1, b.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_upload(v.ref.get(), 0, a.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_upload(v.ref.get(), 1, b.data()), PMHMC_OK);
        double got = 0.0, again = 0.0, self = 0.0, want = 0.0, want_self = 0.0;
        ASSERT_EQ(pmhmc_ws_dot(v.ws.get(), 0, 1, &got), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_dot(v.ws.get(), 0, 1, &again), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_dot(v.ws.get(), 0, 0, &self), PMHMC_OK);
        {
            ThreadCountGuard g;
            set_threads(1);
            ASSERT_EQ(pmhmc_ws_dot(v.ref.get(), 0, 1, &want), PMHMC_OK);
            ASSERT_EQ(pmhmc_ws_dot(v.ref.get(), 0, 0, &want_self), PMHMC_OK);
        }
        EXPECT_TRUE(same_bits(got, again)) << "dot not deterministic: " << got << " then " << again;
        // Products of stored values are exact in double (float inputs) or
        // carry 0.5 ulp; the sums differ only in order: 1e-13 of sum |a b|.
        double mag = 0.0, mag_self = 0.0;
        for (size_t e = 0; e < n; ++e) {
            mag += std::fabs(a[e] * b[e]);
            mag_self += a[e] * a[e];
        }
        const double rtol = is_cpu_ ? 0.0 : 1e-13;
        check("dot(a, b) n=" + std::to_string(n), got, want, rtol * mag);
        check("dot(a, a) n=" + std::to_string(n), self, want_self, rtol * mag_self);
    }
}

// ---- estimators -----------------------------------------------------------------------------

void BackendOps::run_case(const EstimatorCase &raw)
{
    SCOPED_TRACE(raw.name);
    EstimatorCase c = raw;
    c.data.z = stored(c.data.z);
    c.u = stored(c.u);
    c.p = stored(c.p);
    Dataset data = make_dataset(c.data);
    ASSERT_TRUE(data);
    Model model = make_model(c.model.c_str(), data.get(), c.N, c.s);
    ASSERT_TRUE(model);
    Workspace ws = make_workspace(backend_.get(), model.get(), 3);
    Workspace ref = make_workspace(ref_.get(), model.get(), 3);
    ASSERT_TRUE(ws && ref);
    const size_t dim = pmhmc_model_dim(model.get());
    ASSERT_EQ(dim, c.theta.size());
    ASSERT_EQ(pmhmc_workspace_length(ws.get()), c.u.size());

    const Tolerance tol = c.model == "glmm" ? glmm_tolerance(c, rtol_, floor_) : normal_re_tolerance(c, rtol_, floor_);
    std::vector<double> no_tol;

    for (Mode mode : {Mode::Value, Mode::Gradients, Mode::Fused}) {
        SCOPED_TRACE(mode_name(mode));
        Outputs got, again, want;
        ASSERT_TRUE(run_estimate(ws.get(), dim, c.theta, c.u, c.p, mode, &got));
        ASSERT_TRUE(run_estimate(ws.get(), dim, c.theta, c.u, c.p, mode, &again));
        {
            ThreadCountGuard g;
            set_threads(1);
            ASSERT_TRUE(run_estimate(ref.get(), dim, c.theta, c.u, c.p, mode, &want));
        }
        ASSERT_TRUE(std::isfinite(want.lp)) << "the reference itself is not finite";
        // Run to run: bit-identical on every backend.
        EXPECT_TRUE(same_bits(got.lp, again.lp)) << "log phat " << got.lp << " then " << again.lp;
        for (size_t i = 0; i < dim; ++i)
            EXPECT_TRUE(same_bits(got.grad[i], again.grad[i])) << "grad_theta[" << i << "] not deterministic";
        for (size_t e = 0; e < got.u.size(); ++e) {
            ASSERT_TRUE(same_bits(got.gu[e], again.gu[e])) << "grad_u[" << e << "] not deterministic";
            ASSERT_TRUE(same_bits(got.u[e], again.u[e])) << "u[" << e << "] not deterministic";
            ASSERT_TRUE(same_bits(got.p[e], again.p[e])) << "p[" << e << "] not deterministic";
        }

        check("log_phat", got.lp, want.lp, tol.lp);
        if (mode == Mode::Value || mode == Mode::Gradients) {
            // u and p untouched.
            for (size_t e = 0; e < c.u.size(); ++e) {
                ASSERT_TRUE(same_bits(got.u[e], c.u[e])) << "u[" << e << "] changed by a " << mode_name(mode)
                                                         << " call";
                ASSERT_TRUE(same_bits(got.p[e], c.p[e])) << "p[" << e << "] changed";
            }
        }
        if (mode == Mode::Value)
            continue;
        check_vector("grad_theta", got.grad, want.grad, tol.grad);
        check_vector("grad_u", got.gu, want.gu, tol.gu);
        if (mode == Mode::Fused) {
            check_vector("u after kick+rotation", got.u, want.u, tol.u);
            check_vector("p after kick+rotation", got.p, want.p, tol.p);
        }
    }

    // NaN theta: NaN log phat on every backend, never a crash or a finite value.
    std::vector<double> bad = c.theta;
    bad[0] = NAN;
    Outputs nan_out;
    ASSERT_TRUE(run_estimate(ws.get(), dim, bad, c.u, c.p, Mode::Gradients, &nan_out));
    EXPECT_TRUE(std::isnan(nan_out.lp)) << "NaN theta gave log phat " << nan_out.lp;
}

TEST_P(BackendOps, EstimatorsMatchCpuReference)
{
    for (const EstimatorCase &c : estimator_cases()) {
        run_case(c);
        if (HasFatalFailure())
            return;
    }
}

// Every float kernel variant of the GLMM estimator (PMHMC_CUDA_GLMM_VARIANT,
// kernels/glmm_estimator.cuh: base, fast, fast128, fast_occ4) on every GLMM
// case, with the float tolerances above. The instance above already ran the
// default variant; double storage has one kernel, so only cuda_float runs.
TEST_P(BackendOps, GlmmFloatVariantsMatchCpuReference)
{
    if (GetParam().kind != PMHMC_BACKEND_CUDA || !is_float_)
        GTEST_SKIP() << "kernel variants exist for the CUDA float backend only";
    const char *const variants[] = {"base", "fast", "fast128", "fast_occ4"};
    const char *old = std::getenv("PMHMC_CUDA_GLMM_VARIANT");
    const std::string saved = old ? old : "";
    for (const char *variant : variants) {
        SCOPED_TRACE(std::string("variant ") + variant);
        setenv("PMHMC_CUDA_GLMM_VARIANT", variant, 1);
        pmhmc_backend *b = nullptr;
        pmhmc_error err{};
        const pmhmc_status st = pmhmc_backend_create(GetParam().kind, GetParam().precision, &b, &err);
        if (old)
            setenv("PMHMC_CUDA_GLMM_VARIANT", saved.c_str(), 1);
        else
            unsetenv("PMHMC_CUDA_GLMM_VARIANT");
        ASSERT_EQ(st, PMHMC_OK) << err.message;
        backend_.reset(b);
        for (const EstimatorCase &c : estimator_cases()) {
            if (c.model != "glmm")
                continue;
            run_case(c);
            if (HasFatalFailure())
                return;
        }
    }
}

// The integrator's use: consecutive fused steps on the same workspace keep
// matching (u and p stay on the device between calls).
TEST_P(BackendOps, ConsecutiveFusedStepsTrackTheReference)
{
    EstimatorCase c = glmm_case("glmm_steps", {6, 6, 3, 1, 9}, 4, 100, 61);
    c.data.z = stored(c.data.z);
    c.u = stored(c.u);
    c.p = stored(c.p);
    Dataset data = make_dataset(c.data);
    Model model = make_model("glmm", data.get(), c.N, c.s);
    ASSERT_TRUE(model);
    Workspace ws = make_workspace(backend_.get(), model.get(), 2);
    Workspace ref = make_workspace(ref_.get(), model.get(), 2);
    ASSERT_TRUE(ws && ref);
    const size_t dim = pmhmc_model_dim(model.get()), L = c.u.size();
    ASSERT_EQ(pmhmc_ws_upload(ws.get(), 0, c.u.data()), PMHMC_OK);
    ASSERT_EQ(pmhmc_ws_upload(ws.get(), 1, c.p.data()), PMHMC_OK);
    ASSERT_EQ(pmhmc_ws_upload(ref.get(), 0, c.u.data()), PMHMC_OK);
    ASSERT_EQ(pmhmc_ws_upload(ref.get(), 1, c.p.data()), PMHMC_OK);
    pmhmc_estimate_request req{};
    req.theta = c.theta.data();
    req.u = 0;
    req.p = 1;
    req.grad_u = -1;
    req.kick = 0.05;
    req.angle = 0.05;
    std::vector<double> g(dim), gr(dim), u(L), ur(L);
    // Tolerances from the magnitudes at the start (the state moves little:
    // kick and angle 0.05), ten times wider for five steps of drift.
    const Tolerance tol = glmm_tolerance(c, rtol_, floor_);
    for (int step = 0; step < 5; ++step) {
        double lp = 0.0, lpr = 0.0;
        ASSERT_EQ(pmhmc_ws_estimate(ws.get(), &req, &lp, g.data()), PMHMC_OK);
        {
            ThreadCountGuard tg;
            set_threads(1);
            ASSERT_EQ(pmhmc_ws_estimate(ref.get(), &req, &lpr, gr.data()), PMHMC_OK);
        }
        ASSERT_TRUE(check("step " + std::to_string(step) + " log_phat", lp, lpr, 10.0 * tol.lp));
        for (size_t i = 0; i < dim; ++i)
            check("step " + std::to_string(step) + " grad_theta[" + std::to_string(i) + "]", g[i], gr[i],
                  10.0 * tol.grad[i]);
    }
    ASSERT_EQ(pmhmc_ws_download(ws.get(), 0, u.data()), PMHMC_OK);
    ASSERT_EQ(pmhmc_ws_download(ref.get(), 0, ur.data()), PMHMC_OK);
    int failures = 0;
    for (size_t e = 0; e < L && failures < 5; ++e)
        if (!check("u[" + std::to_string(e) + "] after 5 steps", u[e], ur[e],
                   10.0 * (tol.u[e] + rtol_ * std::fabs(ur[e]))))
            ++failures;
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendOps, ::testing::ValuesIn(kBackends), param_name);

} // namespace
