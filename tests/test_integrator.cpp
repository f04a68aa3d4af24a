// The PM-HMC integrator (src/sampler/integrator.h, DESIGN §3): time
// reversibility, volume preservation and second-order energy error.
//
// Independent answers: the identity (forward L steps, flip momenta, L steps
// back, flip again returns the start), the determinant 1 of a
// finite-difference Jacobian, and the h^2 law of a second-order symmetric
// splitting.
#include <cmath>
#include <vector>

extern "C" {
#include "sampler/integrator.h"
}

#include "test_support.h"

using namespace pmhmc_test;

namespace {

enum { V_U = 0, V_P = 1, V_COUNT = 2 };

// A model, a workspace and an integrator over them, with the full phase
// point (theta, rho, u, p) readable and writable from the host.
struct Flow {
    Backend backend;
    Dataset data;
    Model model;
    Workspace ws;
    size_t dim = 0, len = 0;
    std::vector<double> inv_mass, grad, prior_grad;
    pmhmc_integrator integ{};

    Flow(const GroupedData &d, const char *name, size_t n_imp, const std::vector<double> &mass)
    {
        backend = cpu_backend();
        data = make_dataset(d);
        if (!data)
            return;
        model = make_model(name, data.get(), n_imp);
        if (!model)
            return;
        ws = make_workspace(backend.get(), model.get(), V_COUNT);
        if (!ws)
            return;
        dim = pmhmc_model_dim(model.get());
        len = pmhmc_workspace_length(ws.get());
        inv_mass.resize(dim);
        for (size_t i = 0; i < dim; ++i)
            inv_mass[i] = 1.0 / mass[i % mass.size()];
        grad.resize(dim);
        prior_grad.resize(dim);
        integ.model = model.get();
        integ.ws = ws.get();
        integ.inv_mass = inv_mass.data();
        integ.grad = grad.data();
        integ.prior_grad = prior_grad.data();
    }
    bool ok() const { return backend && data && model && ws; }

    // The full state as one vector: theta, rho, u, p.
    size_t state_size() const { return 2 * dim + 2 * len; }

    // Runs `steps` steps of size h from state x; returns the end state and,
    // when asked, H at the start and at the end.
    std::vector<double> run(const std::vector<double> &x, double h, size_t steps, double *H0 = nullptr,
                            double *H1 = nullptr, double *log_phat_end = nullptr)
    {
        std::vector<double> theta(x.begin(), x.begin() + dim), rho(x.begin() + dim, x.begin() + 2 * dim);
        EXPECT_EQ(pmhmc_ws_upload(ws.get(), V_U, x.data() + 2 * dim), PMHMC_OK);
        EXPECT_EQ(pmhmc_ws_upload(ws.get(), V_P, x.data() + 2 * dim + len), PMHMC_OK);
        pmhmc_phase_point z{};
        z.theta = theta.data();
        z.rho = rho.data();
        z.u = V_U;
        z.p = V_P;
        if (H0) {
            pmhmc_estimate_request req{};
            req.theta = theta.data();
            req.u = V_U;
            req.p = -1;
            req.grad_u = -1;
            EXPECT_EQ(pmhmc_ws_estimate(ws.get(), &req, &z.log_phat, nullptr), PMHMC_OK);
            z.log_prior = pmhmc_model_log_prior(model.get(), theta.data(), nullptr);
            EXPECT_EQ(pmhmc_hamiltonian(&integ, &z, H0), PMHMC_OK);
        }
        EXPECT_EQ(pmhmc_integrate(&integ, &z, h, steps), PMHMC_OK);
        EXPECT_TRUE(std::isfinite(z.log_phat));
        if (H1) {
            EXPECT_EQ(pmhmc_hamiltonian(&integ, &z, H1), PMHMC_OK);
        }
        if (log_phat_end)
            *log_phat_end = z.log_phat;
        std::vector<double> out(state_size());
        std::copy(theta.begin(), theta.end(), out.begin());
        std::copy(rho.begin(), rho.end(), out.begin() + dim);
        EXPECT_EQ(pmhmc_ws_download(ws.get(), V_U, out.data() + 2 * dim), PMHMC_OK);
        EXPECT_EQ(pmhmc_ws_download(ws.get(), V_P, out.data() + 2 * dim + len), PMHMC_OK);
        return out;
    }

    // theta given; rho ~ N(0, M), u ~ N(0, I), p ~ N(0, I) from rng.
    std::vector<double> random_state(const std::vector<double> &theta, TestRng &rng) const
    {
        std::vector<double> x(state_size());
        for (size_t i = 0; i < dim; ++i) {
            x[i] = theta[i];
            x[dim + i] = rng.normal() / std::sqrt(inv_mass[i]);
        }
        for (size_t k = 0; k < 2 * len; ++k)
            x[2 * dim + k] = rng.normal();
        return x;
    }

    // (theta, rho, u, p) -> (theta, -rho, u, -p). The p half goes through
    // pmhmc_ws_scale on the workspace, as the brief asks.
    std::vector<double> flip(const std::vector<double> &x)
    {
        std::vector<double> y = x;
        for (size_t i = 0; i < dim; ++i)
            y[dim + i] = -x[dim + i];
        EXPECT_EQ(pmhmc_ws_upload(ws.get(), V_P, x.data() + 2 * dim + len), PMHMC_OK);
        EXPECT_EQ(pmhmc_ws_scale(ws.get(), V_P, -1.0), PMHMC_OK);
        EXPECT_EQ(pmhmc_ws_download(ws.get(), V_P, y.data() + 2 * dim + len), PMHMC_OK);
        return y;
    }
};

GroupedData small_glmm(uint64_t seed, const std::vector<size_t> &sizes, const GlmmTheta &t)
{
    TestRng rng(seed);
    return simulate_glmm(rng, sizes, t);
}

const GlmmTheta kGlmmTruth{{0.7, -0.5}, 0.0, 3.0, std::log(10.0), std::log(3.0), std::log(4.0)};

double max_abs_diff(const std::vector<double> &a, const std::vector<double> &b)
{
    double m = 0.0;
    for (size_t i = 0; i < a.size(); ++i)
        m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

// Forward L steps, flip, L steps, flip. In exact arithmetic the start comes
// back; in double each step's roundings (~1e-16 relative on O(1) numbers) are
// not undone and grow mildly over the 2L steps: 1e-12 absolute on an O(1)
// state leaves room for growth factors of ~100 while any asymmetry in the
// splitting (a misplaced half rotation, a kick at the wrong u) shows at
// O(h^2) or larger, >= 1e-4 here.
void check_reversible(Flow &f, const std::vector<double> &theta, double h, size_t steps, uint64_t seed)
{
    TestRng rng(seed);
    std::vector<double> x0 = f.random_state(theta, rng);
    double lp0 = NAN, lp2 = NAN;
    std::vector<double> x1 = f.run(x0, h, steps);
    // The trajectory went somewhere.
    EXPECT_GT(max_abs_diff(x0, x1), 0.1);
    std::vector<double> x2 = f.flip(f.run(f.flip(x1), h, steps, nullptr, nullptr, &lp2));
    double err_theta = 0, err_rho = 0, err_u = 0, err_p = 0;
    for (size_t i = 0; i < f.dim; ++i) {
        err_theta = std::max(err_theta, std::fabs(x2[i] - x0[i]));
        err_rho = std::max(err_rho, std::fabs(x2[f.dim + i] - x0[f.dim + i]));
    }
    for (size_t k = 0; k < f.len; ++k) {
        err_u = std::max(err_u, std::fabs(x2[2 * f.dim + k] - x0[2 * f.dim + k]));
        err_p = std::max(err_p, std::fabs(x2[2 * f.dim + f.len + k] - x0[2 * f.dim + f.len + k]));
    }
    EXPECT_LT(err_theta, 1e-12);
    EXPECT_LT(err_rho, 1e-12);
    EXPECT_LT(err_u, 1e-12);
    EXPECT_LT(err_p, 1e-12);
    // The back trajectory's end evaluates log phat at the start again.
    std::vector<double> th(x0.begin(), x0.begin() + f.dim);
    {
        std::vector<double> u0(x0.begin() + 2 * f.dim, x0.begin() + 2 * f.dim + f.len);
        EXPECT_EQ(pmhmc_ws_upload(f.ws.get(), V_U, u0.data()), PMHMC_OK);
        pmhmc_estimate_request req{};
        req.theta = th.data();
        req.u = V_U;
        req.p = -1;
        req.grad_u = -1;
        EXPECT_EQ(pmhmc_ws_estimate(f.ws.get(), &req, &lp0, nullptr), PMHMC_OK);
    }
    EXPECT_LT(std::fabs(lp2 - lp0), 1e-10 * std::max(1.0, std::fabs(lp0)));
    ::testing::Test::RecordProperty("reversibility_max_err", sci(std::max({err_theta, err_rho, err_u, err_p})));
}

} // namespace

// All problems here are tiny (a few thousand terms per pass) and make
// hundreds of passes: they run on one OpenMP thread so that a loaded machine
// (other tests, a parallel build) cannot stall every pass at a team barrier.
// Thread independence of the results is checked in test_rng and test_sampler.

TEST(Integrator, ReversibleGlmm)
{
    ThreadCountGuard guard;
    set_threads(1);
    // Ragged groups, p = 2, N = 16, unequal masses.
    GroupedData d = small_glmm(11, {6, 1, 7, 2, 6, 6, 3, 6, 6, 5}, kGlmmTruth);
    Flow f(d, "glmm", 16, {1.0, 2.0, 0.5, 1.5, 3.0, 1.0, 0.7});
    ASSERT_TRUE(f.ok());
    check_reversible(f, kGlmmTruth.vec(), 0.02, 25, 1);
    check_reversible(f, kGlmmTruth.vec(), 0.05, 10, 2);
}

TEST(Integrator, ReversibleNormalRe)
{
    ThreadCountGuard guard;
    set_threads(1);
    TestRng rng(12);
    GroupedData d = simulate_normal_re(rng, {5, 5, 1, 7, 5, 5, 2, 5}, 1.0, 0.8);
    Flow f(d, "normal_re", 16, {1.0, 0.5});
    ASSERT_TRUE(f.ok());
    check_reversible(f, {1.0, std::log(0.8)}, 0.05, 20, 3);
}

namespace {

// det of the Jacobian of 5 integrator steps by fourth-order central
// differences with step 1e-3 on every coordinate of (theta, rho, u, p). Entry
// errors: truncation ~ h^4/30 |F^(5)| ~ 1e-13 |F^(5)|, rounding
// ~ 1.5 * 1e-15 / h ~ 2e-12; over a 12-20 dimensional determinant with O(1)
// cofactors that is ~1e-10, so |det - 1| < 1e-6 cannot fail by numerics while
// any non-symplectic slip (a gradient for the kick taken after p moved the
// rotation, a rescaled p) shows at O(h).
double jacobian_det(Flow &f, const std::vector<double> &x0, double h_step, size_t steps)
{
    const size_t n = f.state_size();
    std::vector<double> J(n * n);
    const double eps = 1e-3;
    for (size_t c = 0; c < n; ++c) {
        auto at = [&](double delta) {
            std::vector<double> x = x0;
            x[c] += delta;
            return f.run(x, h_step, steps);
        };
        std::vector<double> p1 = at(eps), m1 = at(-eps), p2 = at(2 * eps), m2 = at(-2 * eps);
        for (size_t r = 0; r < n; ++r)
            J[r * n + c] = (8.0 * (p1[r] - m1[r]) - (p2[r] - m2[r])) / (12.0 * eps);
    }
    return determinant(J, n);
}

} // namespace

TEST(Integrator, VolumePreservingNormalRe)
{
    // T = 2, N = 2: state (mu, log_tau, rho x2, u x4, p x4), 12 coordinates.
    ThreadCountGuard guard;
    set_threads(1);
    GroupedData d;
    d.y = {0.3, 1.9, 1.1, 2.5, -0.2};
    d.start = {0, 2, 5};
    Flow f(d, "normal_re", 2, {1.0, 0.5});
    ASSERT_TRUE(f.ok());
    ASSERT_EQ(f.state_size(), 12u);
    TestRng rng(21);
    std::vector<double> x0 = f.random_state({0.8, -0.2}, rng);
    double det = jacobian_det(f, x0, 0.1, 5);
    EXPECT_NEAR(det, 1.0, 1e-6);
    RecordProperty("det_minus_one", sci(det - 1.0));
}

TEST(Integrator, VolumePreservingGlmm)
{
    // T = 2, N = 2, p = 1: state (6 theta, 6 rho, 4 u, 4 p), 20 coordinates.
    ThreadCountGuard guard;
    set_threads(1);
    GlmmTheta t{{0.4}, -0.3, 1.5, std::log(2.0), std::log(0.8), 0.5};
    GroupedData d;
    d.p = 1;
    d.y = {1, 0, 1, 1, 0};
    d.z = {0.5, -1.2, 0.3, 2.0, -0.7};
    d.start = {0, 3, 5};
    Flow f(d, "glmm", 2, {1.0, 0.8, 1.2, 0.6, 2.0, 1.0});
    ASSERT_TRUE(f.ok());
    ASSERT_EQ(f.state_size(), 20u);
    TestRng rng(22);
    std::vector<double> x0 = f.random_state(t.vec(), rng);
    double det = jacobian_det(f, x0, 0.1, 5);
    EXPECT_NEAR(det, 1.0, 1e-6);
    RecordProperty("det_minus_one", sci(det - 1.0));
}

// Second order: at fixed integration time the energy error scales as h^2, so
// halving h divides |H_end - H_start| by ~4. Measured as the mean over 8
// momentum draws (one draw can sit near a zero crossing of the oscillating
// error) at h, h/2 and h/4; each successive ratio must be in [3, 5]. A
// first-order slip (e.g. unbalanced half steps) would give ratios near 2.
TEST(Integrator, EnergyErrorIsSecondOrder)
{
    ThreadCountGuard guard;
    set_threads(1);
    GroupedData d = small_glmm(31, std::vector<size_t>(20, 6), kGlmmTruth);
    Flow f(d, "glmm", 16, {1.0});
    ASSERT_TRUE(f.ok());
    const double total_time = 0.8;
    const double hs[] = {0.04, 0.02, 0.01};
    double mean_err[3] = {0, 0, 0};
    const int n_draws = 8;
    for (int r = 0; r < n_draws; ++r) {
        TestRng rng(100 + r);
        std::vector<double> x0 = f.random_state(kGlmmTruth.vec(), rng);
        for (int i = 0; i < 3; ++i) {
            double H0, H1;
            size_t steps = (size_t)std::lround(total_time / hs[i]);
            f.run(x0, hs[i], steps, &H0, &H1);
            mean_err[i] += std::fabs(H1 - H0) / n_draws;
        }
    }
    double r1 = mean_err[0] / mean_err[1], r2 = mean_err[1] / mean_err[2];
    EXPECT_GT(r1, 3.0);
    EXPECT_LT(r1, 5.0);
    EXPECT_GT(r2, 3.0);
    EXPECT_LT(r2, 5.0);
    RecordProperty("energy_errors", sci(mean_err[0]) + " " + sci(mean_err[1]) + " " +
                                        sci(mean_err[2]));
}
