// The importance-sampling estimators on the CPU backend (DESIGN §2, §7):
// log phat and every gradient, the fused kick + rotation, ragged and
// interleaved data, and convergence of log phat to the exact log-likelihood.
//
// Independent answers:
//  - a plain evaluation written here in linear space (products of Bernoulli
//    probabilities and Gaussian densities, mean over draws, log at the end),
//    in long double, on problems small enough that nothing underflows;
//  - central finite differences of log phat for all gradients;
//  - the exact GLMM log-likelihood by adaptive Simpson quadrature over each
//    random effect, and the closed-form normal_re likelihood
//    y_i ~ N(mu 1, I + tau^2 11').
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "test_support.h"

#include "../bench/glmm_quadrature.h"

using namespace pmhmc_test;

namespace {

enum { V_U = 0, V_GRAD = 1, V_P = 2, V_COUNT = 3 };

// One model over one dataset with a workspace, driven through the public
// backend API only.
struct Estimator {
    Backend backend;
    Dataset data;
    Model model;
    Workspace ws;
    size_t len = 0, dim = 0;

    Estimator(const GroupedData &d, const char *name, size_t n_imp, double s = 3.0)
    {
        backend = cpu_backend();
        data = make_dataset(d);
        if (!data)
            return;
        model = make_model(name, data.get(), n_imp, s);
        if (!model)
            return;
        ws = make_workspace(backend.get(), model.get(), V_COUNT);
        if (!ws)
            return;
        len = pmhmc_workspace_length(ws.get());
        dim = pmhmc_model_dim(model.get());
    }
    bool ok() const { return backend && data && model && ws; }

    std::vector<double> normals(uint64_t seed)
    {
        std::vector<double> u(len);
        EXPECT_EQ(pmhmc_ws_normal(ws.get(), V_U, seed, 0, 0), PMHMC_OK);
        EXPECT_EQ(pmhmc_ws_download(ws.get(), V_U, u.data()), PMHMC_OK);
        return u;
    }

    // log phat at (theta, u); gradients when asked.
    double log_phat(const std::vector<double> &theta, const std::vector<double> &u,
                    std::vector<double> *grad_theta = nullptr, std::vector<double> *grad_u = nullptr)
    {
        EXPECT_EQ(pmhmc_ws_upload(ws.get(), V_U, u.data()), PMHMC_OK);
        pmhmc_estimate_request req{};
        req.theta = theta.data();
        req.u = V_U;
        req.p = -1;
        req.grad_u = grad_u ? V_GRAD : -1;
        if (grad_theta)
            grad_theta->assign(dim, NAN);
        if (grad_u) { // poison the output so stale values from an earlier pass cannot pass
            std::vector<double> nan(len, NAN);
            EXPECT_EQ(pmhmc_ws_upload(ws.get(), V_GRAD, nan.data()), PMHMC_OK);
        }
        double lp = NAN;
        EXPECT_EQ(pmhmc_ws_estimate(ws.get(), &req, &lp, grad_theta ? grad_theta->data() : nullptr), PMHMC_OK);
        if (grad_u) {
            grad_u->assign(len, 0.0);
            EXPECT_EQ(pmhmc_ws_download(ws.get(), V_GRAD, grad_u->data()), PMHMC_OK);
        }
        // The estimate without p must leave u alone.
        std::vector<double> back(len);
        EXPECT_EQ(pmhmc_ws_download(ws.get(), V_U, back.data()), PMHMC_OK);
        EXPECT_EQ(0, std::memcmp(back.data(), u.data(), len * sizeof(double)));
        return lp;
    }
};

// ---- the GLMM, written out plainly ---------------------------------------------------

// Mixture density f(x) = w1 N(x; mu1, 1/lambda1) + (1 - w1) N(x; mu2, 1/lambda2).
long double mixture_pdf(const GlmmTheta &t, long double x)
{
    const long double two_pi = 6.283185307179586476925286766559005768L;
    long double l1 = expl(t.log_lambda1), l2 = expl(t.log_lambda2);
    long double w1 = 1.0L / (1.0L + expl(-(long double)t.logit_w1));
    long double d1 = x - t.mu1, d2 = x - t.mu2;
    return w1 * sqrtl(l1 / two_pi) * expl(-0.5L * l1 * d1 * d1) +
           (1.0L - w1) * sqrtl(l2 / two_pi) * expl(-0.5L * l2 * d2 * d2);
}

// prod_j sigmoid(eta)^y (1 - sigmoid(eta))^(1 - y), eta = x + z'beta.
long double bernoulli_product(const GroupedData &d, size_t g, const GlmmTheta &t, long double x)
{
    long double prod = 1.0L;
    for (size_t r = d.start[g]; r < d.start[g + 1]; ++r) {
        long double eta = x + (long double)d.zb(r, t.beta.data());
        long double sig = 1.0L / (1.0L + expl(-eta));
        prod *= d.y[r] == 1.0 ? sig : 1.0L - sig;
    }
    return prod;
}

// Linear-space importance weights w_ik = prod_j Bernoulli * f(X)/q(X),
// X = s u, q = N(0, s^2).
std::vector<std::vector<long double>> glmm_weights(const GroupedData &d, const GlmmTheta &t,
                                                   const std::vector<double> &u, size_t n_imp, double s)
{
    const long double two_pi = 6.283185307179586476925286766559005768L;
    std::vector<std::vector<long double>> w(d.n_groups(), std::vector<long double>(n_imp));
    for (size_t g = 0; g < d.n_groups(); ++g)
        for (size_t k = 0; k < n_imp; ++k) {
            long double x = (long double)s * u[g * n_imp + k];
            long double q = expl(-x * x / (2.0L * s * s)) / ((long double)s * sqrtl(two_pi));
            w[g][k] = bernoulli_product(d, g, t, x) * mixture_pdf(t, x) / q;
        }
    return w;
}

// normal_re: w_ik = prod_j N(y_ij; mu + tau u_ik, 1).
std::vector<std::vector<long double>> normal_re_weights(const GroupedData &d, double mu, double log_tau,
                                                        const std::vector<double> &u, size_t n_imp)
{
    const long double two_pi = 6.283185307179586476925286766559005768L;
    std::vector<std::vector<long double>> w(d.n_groups(), std::vector<long double>(n_imp));
    for (size_t g = 0; g < d.n_groups(); ++g)
        for (size_t k = 0; k < n_imp; ++k) {
            long double x = (long double)mu + expl(log_tau) * u[g * n_imp + k];
            long double prod = 1.0L;
            for (size_t r = d.start[g]; r < d.start[g + 1]; ++r) {
                long double e = d.y[r] - x;
                prod *= expl(-0.5L * e * e) / sqrtl(two_pi);
            }
            w[g][k] = prod;
        }
    return w;
}

// sum_i log mean_k w_ik, and the delta-method variance of log phat,
// sum_i Var_k(w_ik) / (N mean_k(w_ik)^2).
struct WeightSummary {
    long double log_phat = 0.0L;
    double var_log_phat = 0.0;
};

WeightSummary summarize(const std::vector<std::vector<long double>> &w)
{
    WeightSummary s;
    for (const auto &wg : w) {
        const size_t n = wg.size();
        long double m = 0.0L;
        for (long double v : wg)
            m += v;
        m /= n;
        long double var = 0.0L;
        for (long double v : wg)
            var += (v - m) * (v - m);
        var /= (n > 1 ? n - 1 : 1);
        s.log_phat += logl(m);
        s.var_log_phat += (double)(var / (n * m * m));
    }
    return s;
}

// theta for the small GLMM checks: away from every default, both components
// visible on the proposal's range.
GlmmTheta test_glmm_theta()
{
    return GlmmTheta{{0.5, -0.3}, -0.2, 2.5, std::log(4.0), std::log(1.5), 0.7};
}

// Ragged group sizes, including the 1, 2, 7 of the brief.
const std::vector<size_t> kRaggedSizes = {1, 2, 7, 3, 6, 1};

} // namespace

// ---- log phat against the plain evaluation ---------------------------------------------

// Both sides are sums of T group terms log(mean_k w_ik); the library works in
// log space in double (each term within a few ulp of |log w|, ~20 here), the
// reference in long double. 1e-12 relative leaves three orders of magnitude
// above that rounding and is far below any formula error.
TEST(GlmmEstimator, MatchesPlainLinearSpaceEvaluation)
{
    TestRng rng(101);
    GlmmTheta truth = test_glmm_theta();
    GroupedData d = simulate_glmm(rng, kRaggedSizes, truth);
    const size_t n_imp = 16;
    double worst = 0.0;
    for (double s : {3.0, 1.7}) {
        Estimator est(d, "glmm", n_imp, s);
        ASSERT_TRUE(est.ok());
        ASSERT_EQ(est.dim, d.p + 5);
        ASSERT_EQ(est.len, d.n_groups() * n_imp);
        // Two theta values and two u draws.
        GlmmTheta other{{-1.1, 0.4}, 0.6, -1.5, std::log(0.7), std::log(9.0), -1.2};
        for (const GlmmTheta &t : {truth, other}) {
            for (uint64_t seed : {1u, 2u}) {
                std::vector<double> u = est.normals(seed);
                double got = est.log_phat(t.vec(), u);
                long double want = summarize(glmm_weights(d, t, u, n_imp, s)).log_phat;
                worst = std::max(worst, rel_err(got, (double)want, 1.0));
                EXPECT_LT(rel_err(got, (double)want, 1.0), 1e-12)
                    << "s = " << s << " seed " << seed << ": " << got << " vs " << (double)want;
            }
        }
    }
    RecordProperty("max_rel_err", sci(worst));
}

TEST(NormalReEstimator, MatchesPlainLinearSpaceEvaluation)
{
    TestRng rng(202);
    GroupedData d = simulate_normal_re(rng, kRaggedSizes, 0.7, 1.3);
    const size_t n_imp = 16;
    Estimator est(d, "normal_re", n_imp);
    ASSERT_TRUE(est.ok());
    ASSERT_EQ(est.dim, 2u);
    double worst = 0.0;
    for (double mu : {0.7, -0.4})
        for (double log_tau : {std::log(1.3), -0.8}) {
            std::vector<double> u = est.normals(9);
            double got = est.log_phat({mu, log_tau}, u);
            long double want = summarize(normal_re_weights(d, mu, log_tau, u, n_imp)).log_phat;
            worst = std::max(worst, rel_err(got, (double)want, 1.0));
            EXPECT_LT(rel_err(got, (double)want, 1.0), 1e-12) << got << " vs " << (double)want;
        }
    RecordProperty("max_rel_err", sci(worst));
}

// ---- gradients against finite differences ------------------------------------------------

// Every analytic gradient against the fourth-order central difference
//   [8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))] / 12h,  h = 5e-4.
// Error of the difference: truncation h^4 |f^(5)| / 30 ~ 2e-15 |f^(5)|, where
// the fifth u-derivatives reach ~1e4 here (each u-derivative brings a factor
// s times lambda (X - mu) or s^2 lambda), and rounding ~1.5 eps |log phat| / h
// ~ 1e-11 for |log phat| ~ 30: at most ~1e-10 absolute. Relative error 1e-6
// with a floor of 1e-3 (entries with |gradient| < 1e-3, e.g. draws of tiny
// weight, are held to 1e-9 absolute) therefore cannot fail by numerics, while
// any formula slip is O(1) relative. Measured: ~1e-11 (theta), ~1e-8 (u); at
// h = 1e-3 the u error was 16x larger (1.2e-7), the h^4 law of the truncation.
//
// Hundreds of tiny passes: one OpenMP thread, so a loaded machine cannot make
// every pass wait on a descheduled team member (threads are checked elsewhere).
void check_gradients(Estimator &est, const std::vector<double> &theta, const std::vector<double> &u,
                     const std::vector<std::string> &names)
{
    ThreadCountGuard guard;
    set_threads(1);
    const double h = 5e-4, tol = 1e-6, floor = 1e-3;
    std::vector<double> g_theta, g_u;
    est.log_phat(theta, u, &g_theta, &g_u);
    double worst_theta = 0.0, worst_u = 0.0;
    for (size_t i = 0; i < est.dim; ++i) {
        auto f = [&](double v) {
            std::vector<double> t = theta;
            t[i] = v;
            return est.log_phat(t, u);
        };
        double fd = central_diff5(f, theta[i], h);
        worst_theta = std::max(worst_theta, rel_err(g_theta[i], fd, floor));
        EXPECT_LT(rel_err(g_theta[i], fd, floor), tol)
            << names[i] << ": analytic " << g_theta[i] << " finite difference " << fd;
    }
    size_t big = 0;
    for (size_t k = 0; k < est.len; ++k) {
        auto f = [&](double v) {
            std::vector<double> uu = u;
            uu[k] = v;
            return est.log_phat(theta, uu);
        };
        double fd = central_diff5(f, u[k], h);
        worst_u = std::max(worst_u, rel_err(g_u[k], fd, floor));
        EXPECT_LT(rel_err(g_u[k], fd, floor), tol) << "u[" << k << "]: analytic " << g_u[k] << " fd " << fd;
        big += std::fabs(g_u[k]) > floor;
    }
    // The check must exercise entries above the floor, not only tiny ones.
    EXPECT_GT(big, est.len / 4);
    ::testing::Test::RecordProperty("max_rel_err_theta_u", sci(worst_theta) + " " + sci(worst_u));
}

TEST(GlmmEstimator, GradientsMatchFiniteDifferences)
{
    TestRng rng(303);
    GlmmTheta truth = test_glmm_theta();
    GroupedData d = simulate_glmm(rng, kRaggedSizes, truth);
    Estimator est(d, "glmm", 12, 2.5);
    ASSERT_TRUE(est.ok());
    std::vector<std::string> names;
    for (size_t i = 0; i < est.dim; ++i)
        names.push_back(pmhmc_model_param_name(est.model.get(), i));
    std::vector<double> u = est.normals(4);
    check_gradients(est, truth.vec(), u, names);
    // A second point where component 2 is the narrow one and w1 < 1/2.
    GlmmTheta other{{-1.1, 0.4}, 0.6, -1.5, std::log(0.7), std::log(9.0), -1.2};
    check_gradients(est, other.vec(), u, names);
}

TEST(NormalReEstimator, GradientsMatchFiniteDifferences)
{
    TestRng rng(404);
    GroupedData d = simulate_normal_re(rng, kRaggedSizes, 0.7, 1.3);
    Estimator est(d, "normal_re", 12);
    ASSERT_TRUE(est.ok());
    std::vector<double> u = est.normals(5);
    check_gradients(est, {0.7, std::log(1.3)}, u, {"mu", "log_tau"});
    check_gradients(est, {-0.3, -0.5}, u, {"mu", "log_tau"});
}

// ---- the fused kick + rotation ---------------------------------------------------------

// With p given, one pass must equal: g = grad_u log phat at the incoming u,
// p' = p + kick g, then (u, p') <- (u c + p' s, p' c - u s). Reference: g from
// a separate pass without p, the rotation done here. The two sides differ only
// in the order of a handful of roundings on O(1) numbers: 1e-14 absolute.
void check_fused(Estimator &est, const std::vector<double> &theta)
{
    std::vector<double> u = est.normals(77);
    std::vector<double> p(est.len);
    TestRng rng(5);
    for (double &v : p)
        v = rng.normal();
    std::vector<double> g_theta_ref, g_u;
    double lp_ref = est.log_phat(theta, u, &g_theta_ref, &g_u);

    for (double angle : {0.0, 0.3, -1.1, 2.0}) {
        const double kick = 0.37;
        ASSERT_PMHMC_OK(pmhmc_ws_upload(est.ws.get(), V_U, u.data()));
        ASSERT_PMHMC_OK(pmhmc_ws_upload(est.ws.get(), V_P, p.data()));
        std::vector<double> poison(est.len, NAN);
        ASSERT_PMHMC_OK(pmhmc_ws_upload(est.ws.get(), V_GRAD, poison.data()));
        pmhmc_estimate_request req{};
        req.theta = theta.data();
        req.u = V_U;
        req.p = V_P;
        req.grad_u = V_GRAD;
        req.kick = kick;
        req.angle = angle;
        std::vector<double> g_theta(est.dim, NAN);
        double lp;
        ASSERT_PMHMC_OK(pmhmc_ws_estimate(est.ws.get(), &req, &lp, g_theta.data()));
        std::vector<double> u_out(est.len), p_out(est.len), g_out(est.len);
        ASSERT_PMHMC_OK(pmhmc_ws_download(est.ws.get(), V_U, u_out.data()));
        ASSERT_PMHMC_OK(pmhmc_ws_download(est.ws.get(), V_P, p_out.data()));
        ASSERT_PMHMC_OK(pmhmc_ws_download(est.ws.get(), V_GRAD, g_out.data()));
        // log phat and gradients are those of the incoming u.
        EXPECT_EQ(lp, lp_ref);
        for (size_t i = 0; i < est.dim; ++i)
            EXPECT_EQ(g_theta[i], g_theta_ref[i]);
        const double c = std::cos(angle), s = std::sin(angle);
        for (size_t k = 0; k < est.len; ++k) {
            EXPECT_NEAR(g_out[k], g_u[k], 1e-14 * std::max(1.0, std::fabs(g_u[k])));
            double pk = p[k] + kick * g_u[k];
            EXPECT_NEAR(u_out[k], u[k] * c + pk * s, 1e-14) << "angle " << angle << " k " << k;
            EXPECT_NEAR(p_out[k], pk * c - u[k] * s, 1e-14) << "angle " << angle << " k " << k;
        }
        // Without grad_u the fused pass gives the same (u, p).
        ASSERT_PMHMC_OK(pmhmc_ws_upload(est.ws.get(), V_U, u.data()));
        ASSERT_PMHMC_OK(pmhmc_ws_upload(est.ws.get(), V_P, p.data()));
        req.grad_u = -1;
        ASSERT_PMHMC_OK(pmhmc_ws_estimate(est.ws.get(), &req, &lp, nullptr));
        std::vector<double> u2(est.len), p2(est.len);
        ASSERT_PMHMC_OK(pmhmc_ws_download(est.ws.get(), V_U, u2.data()));
        ASSERT_PMHMC_OK(pmhmc_ws_download(est.ws.get(), V_P, p2.data()));
        EXPECT_EQ(0, std::memcmp(u2.data(), u_out.data(), est.len * sizeof(double)));
        EXPECT_EQ(0, std::memcmp(p2.data(), p_out.data(), est.len * sizeof(double)));
    }
    // pmhmc_ws_rotate alone follows the same convention.
    ASSERT_PMHMC_OK(pmhmc_ws_upload(est.ws.get(), V_U, u.data()));
    ASSERT_PMHMC_OK(pmhmc_ws_upload(est.ws.get(), V_P, p.data()));
    ASSERT_PMHMC_OK(pmhmc_ws_rotate(est.ws.get(), V_U, V_P, 0.8));
    std::vector<double> u_r(est.len), p_r(est.len);
    ASSERT_PMHMC_OK(pmhmc_ws_download(est.ws.get(), V_U, u_r.data()));
    ASSERT_PMHMC_OK(pmhmc_ws_download(est.ws.get(), V_P, p_r.data()));
    for (size_t k = 0; k < est.len; ++k) {
        EXPECT_NEAR(u_r[k], u[k] * std::cos(0.8) + p[k] * std::sin(0.8), 1e-14);
        EXPECT_NEAR(p_r[k], p[k] * std::cos(0.8) - u[k] * std::sin(0.8), 1e-14);
    }
}

TEST(GlmmEstimator, FusedKickAndRotation)
{
    TestRng rng(505);
    GlmmTheta truth = test_glmm_theta();
    GroupedData d = simulate_glmm(rng, kRaggedSizes, truth);
    Estimator est(d, "glmm", 16);
    ASSERT_TRUE(est.ok());
    check_fused(est, truth.vec());
}

TEST(NormalReEstimator, FusedKickAndRotation)
{
    TestRng rng(606);
    GroupedData d = simulate_normal_re(rng, kRaggedSizes, 0.7, 1.3);
    Estimator est(d, "normal_re", 16);
    ASSERT_TRUE(est.ok());
    check_fused(est, {0.7, std::log(1.3)});
}

// ---- interleaved ids ---------------------------------------------------------------------

// Rows arrive with their ids interleaved (as in a long-format file sorted by
// time, not by individual). The test groups them by first appearance and
// passes the grouped arrays to pmhmc_dataset_create; the reference walks the
// raw rows and picks each group's rows by id. Same tolerance as above.
TEST(GlmmEstimator, InterleavedIdsGroupedByFirstAppearance)
{
    TestRng rng(707);
    const char *ids[] = {"b", "a", "c", "a", "b", "a", "d", "c", "a", "b", "a", "a", "c", "a"};
    const size_t n_rows = sizeof ids / sizeof ids[0];
    const size_t p = 2;
    std::vector<double> y(n_rows), z(n_rows * p);
    for (size_t r = 0; r < n_rows; ++r) {
        y[r] = rng.uniform() < 0.5 ? 1.0 : 0.0;
        for (size_t c = 0; c < p; ++c)
            z[r * p + c] = rng.normal();
    }
    // Grouped order: groups by first appearance (b, a, c, d), rows in file order.
    std::vector<std::string> order;
    for (const char *id : ids)
        if (std::find(order.begin(), order.end(), id) == order.end())
            order.push_back(id);
    GroupedData d;
    d.p = p;
    for (const std::string &id : order) {
        for (size_t r = 0; r < n_rows; ++r)
            if (id == ids[r]) {
                d.y.push_back(y[r]);
                d.z.insert(d.z.end(), z.begin() + r * p, z.begin() + (r + 1) * p);
            }
        d.start.push_back(d.y.size());
    }
    ASSERT_EQ(d.n_groups(), 4u);
    ASSERT_EQ(d.rows(1), 7u); // "a": ragged, 7 rows

    const size_t n_imp = 8;
    const double s = 3.0;
    Estimator est(d, "glmm", n_imp, s);
    ASSERT_TRUE(est.ok());
    EXPECT_EQ(pmhmc_dataset_n_groups(est.data.get()), 4u);
    EXPECT_EQ(pmhmc_dataset_n_rows(est.data.get()), n_rows);
    GlmmTheta t = test_glmm_theta();
    std::vector<double> u = est.normals(3);
    double got = est.log_phat(t.vec(), u);

    // Reference straight from the interleaved rows.
    const long double two_pi = 6.283185307179586476925286766559005768L;
    long double want = 0.0L;
    for (size_t g = 0; g < order.size(); ++g) {
        long double sum = 0.0L;
        for (size_t k = 0; k < n_imp; ++k) {
            long double x = s * u[g * n_imp + k];
            long double w = mixture_pdf(t, x) * ((long double)s * sqrtl(two_pi)) / expl(-x * x / (2.0L * s * s));
            for (size_t r = 0; r < n_rows; ++r) {
                if (order[g] != ids[r])
                    continue;
                long double eta = x + z[r * p] * t.beta[0] + z[r * p + 1] * t.beta[1];
                long double sig = 1.0L / (1.0L + expl(-eta));
                w *= y[r] == 1.0 ? sig : 1.0L - sig;
            }
            sum += w;
        }
        want += logl(sum / n_imp);
    }
    EXPECT_LT(rel_err(got, (double)want, 1.0), 1e-12) << got << " vs " << (double)want;
}

// ---- convergence to the exact likelihood -------------------------------------------------

// The check of AdaptiveSimpson itself, on integrals known in closed form:
// the mixture density integrates to 1, and int N(x; 0, 1) sigmoid(x) dx = 1/2
// by symmetry (sigmoid(x) + sigmoid(-x) = 1).
TEST(TestSupport, AdaptiveSimpsonOnKnownIntegrals)
{
    GlmmTheta t = test_glmm_theta();
    AdaptiveSimpson mix([&](double x) { return (double)mixture_pdf(t, x); });
    EXPECT_NEAR(mix.integrate(-40.0, 40.0, 1e-14), 1.0, 1e-13);
    AdaptiveSimpson sig([](double x) { return stable_sigmoid(x) * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); });
    EXPECT_NEAR(sig.integrate(-40.0, 40.0, 1e-14), 0.5, 1e-13);
}

namespace {

// sum_i log int prod_j Bernoulli(y_ij | sigmoid(x + z'beta)) f(x) dx, each
// integral by adaptive Simpson to 1e-13 relative (a first pass at 1e-8
// absolute gives the scale). The integrand lies below f, whose components
// have sd <= 1/sqrt(min lambda); the range mu -+ 40 sd loses < e^-800.
double glmm_exact_loglik(const GroupedData &d, const GlmmTheta &t)
{
    double sd = 1.0 / std::sqrt(std::min(std::exp(t.log_lambda1), std::exp(t.log_lambda2)));
    double a = std::min(t.mu1, t.mu2) - 40.0 * sd, b = std::max(t.mu1, t.mu2) + 40.0 * sd;
    double total = 0.0;
    for (size_t g = 0; g < d.n_groups(); ++g) {
        auto f = [&](double x) { return (double)(bernoulli_product(d, g, t, x) * mixture_pdf(t, x)); };
        double rough = AdaptiveSimpson(f).integrate(a, b, 1e-8);
        double fine = AdaptiveSimpson(f).integrate(a, b, 1e-13 * rough);
        total += std::log(fine);
    }
    return total;
}

// log p(y_i) = -n/2 log 2 pi - 1/2 log(1 + n tau^2)
//              - 1/2 [ S - tau^2 D^2 / (1 + n tau^2) ],
// S = sum (y - mu)^2, D = sum (y - mu): y_i ~ N(mu 1, I + tau^2 11').
double normal_re_exact_loglik(const GroupedData &d, double mu, double tau)
{
    double total = 0.0;
    for (size_t g = 0; g < d.n_groups(); ++g) {
        double n = (double)d.rows(g), S = 0.0, D = 0.0;
        for (size_t r = d.start[g]; r < d.start[g + 1]; ++r) {
            S += (d.y[r] - mu) * (d.y[r] - mu);
            D += d.y[r] - mu;
        }
        double t2 = tau * tau;
        total += -0.5 * n * std::log(2 * M_PI) - 0.5 * std::log1p(n * t2) - 0.5 * (S - t2 * D * D / (1.0 + n * t2));
    }
    return total;
}

} // namespace

// The exact answer first checked two ways: the quadrature at two tolerances
// agrees to 1e-11, and a huge-N plain estimate agrees within its own error.
// Then, for N = 64, 512, 4096 with u ~ N(0, I): log phat within 3 Monte Carlo
// standard errors of the exact value. The standard error is the delta-method
// sd of log phat, sqrt(sum_i Var_k(w_ik) / (N mean_k(w_ik)^2)), estimated from
// the draws' own weights. E[log phat] sits below log p by the Jensen bias,
// about -Var(log phat)/2; we compare against log p - Var/2 (the bias is
// ~0.1 SE at N = 4096 here, so either choice passes, but the shifted centre is
// the right one). SE must also shrink like 1/sqrt(N): SE(64)/SE(4096) ~ 8.
// At the smaller N the delta method is rougher and the band is 4 SE.
TEST(GlmmEstimator, ConvergesToQuadratureLogLikelihood)
{
    TestRng rng(808);
    GlmmTheta truth{{0.7, -0.5}, 0.0, 3.0, std::log(10.0), std::log(3.0), std::log(0.8 / 0.2)};
    GroupedData d = simulate_glmm(rng, std::vector<size_t>(20, 6), truth);
    const double exact = glmm_exact_loglik(d, truth);
    ASSERT_TRUE(std::isfinite(exact));

    std::vector<double> se;
    for (size_t n_imp : {64u, 512u, 4096u}) {
        Estimator est(d, "glmm", n_imp);
        ASSERT_TRUE(est.ok());
        std::vector<double> u = est.normals(stream_seed(1000 + n_imp));
        double got = est.log_phat(truth.vec(), u);
        WeightSummary ws = summarize(glmm_weights(d, truth, u, n_imp, 3.0));
        EXPECT_LT(rel_err(got, (double)ws.log_phat, 1.0), 1e-12); // library = plain evaluation
        double sd = std::sqrt(ws.var_log_phat);
        double centre = exact - 0.5 * ws.var_log_phat;
        EXPECT_LT(std::fabs(got - centre), (n_imp == 4096 ? 3.0 : 4.0) * sd)
            << "N = " << n_imp << ": log phat " << got << ", exact " << exact << ", SE " << sd;
        se.push_back(sd);
        RecordProperty("glmm_N" + std::to_string(n_imp) + "_err_over_se",
                       sci((got - centre) / sd) + " se " + sci(sd));
    }
    EXPECT_GT(se[0] / se[2], 4.0);
    EXPECT_LT(se[0] / se[2], 16.0);
    EXPECT_LT(se[2], 0.5) << "the test would be too weak";
}

TEST(GlmmEstimator, QuadratureIsConverged)
{
    TestRng rng(808);
    GlmmTheta truth{{0.7, -0.5}, 0.0, 3.0, std::log(10.0), std::log(3.0), std::log(0.8 / 0.2)};
    GroupedData d = simulate_glmm(rng, std::vector<size_t>(4, 6), truth);
    double sd = 1.0 / std::sqrt(3.0);
    for (size_t g = 0; g < d.n_groups(); ++g) {
        auto f = [&](double x) { return (double)(bernoulli_product(d, g, truth, x) * mixture_pdf(truth, x)); };
        double lo = -40 * sd, hi = 3 + 40 * sd;
        double rough = AdaptiveSimpson(f).integrate(lo, hi, 1e-8);
        double used = AdaptiveSimpson(f).integrate(lo, hi, 1e-13 * rough); // as in glmm_exact_loglik
        double finer = AdaptiveSimpson(f).integrate(lo, hi, 1e-15 * rough);
        EXPECT_LT(std::fabs(used - finer), 1e-12 * finer);
        // Against a fixed tensor of Gauss-Legendre panels (another rule).
        std::vector<double> gx, gw;
        gauss_legendre(40, gx, gw);
        double gl = 0.0;
        const int panels = 200;
        for (int pnl = 0; pnl < panels; ++pnl) {
            double a = lo + (hi - lo) * pnl / panels, b = a + (hi - lo) / panels;
            for (size_t i = 0; i < gx.size(); ++i)
                gl += 0.5 * (b - a) * gw[i] * f(0.5 * (a + b) + 0.5 * (b - a) * gx[i]);
        }
        EXPECT_LT(std::fabs(gl - finer), 1e-12 * finer);
    }
}

// bench/glmm_exact_posterior's likelihood: adaptive Gauss-Hermite quadrature
// (bench/glmm_quadrature.h). Its rule first: sum_k W_k t_k^m equals the
// standard normal's m-th moment times sqrt(2 pi), exactly for m < 2K: odd
// and even K (an odd rule has a node at 0) up to the largest allowed.
TEST(GlmmExactQuadrature, GaussHermiteRuleIntegratesPolynomials)
{
    for (int K : {1, 7, 8, 33, 64, GLMM_QUADRATURE_MAX_NODES}) {
        glmm_gh_rule rule;
        std::vector<double> W(K);
        ASSERT_EQ(glmm_gauss_hermite(K, &rule, W.data()), 0) << K;
        double moment = 1.0; // (m - 1)!! for even m
        for (int m = 0; m <= std::min(12, 2 * K - 1); ++m) {
            long double sum = 0.0L;
            for (int k = 0; k < K; ++k)
                sum += (long double)W[k] * powl(rule.t[k], m);
            double want = m % 2 ? 0.0 : moment * std::sqrt(2 * M_PI);
            EXPECT_NEAR((double)sum, want, 1e-12 * std::max(1.0, want)) << "K = " << K << ", m = " << m;
            if (m % 2)
                moment *= m;
        }
    }
    glmm_gh_rule rule;
    EXPECT_EQ(glmm_gauss_hermite(0, &rule, nullptr), -1);
    EXPECT_EQ(glmm_gauss_hermite(GLMM_QUADRATURE_MAX_NODES + 1, &rule, nullptr), -1);
}

// Against adaptive Simpson (glmm_exact_loglik above) on ragged data, at the
// truth and where the rule is weakest or the mixture degenerate: a wide
// component (sd e), a near point mass (sd 0.08), a negligible component
// (w1 = 0.018). Centring on each integrand's mode makes 32 nodes exact to
// ~1e-12 per group where the integrand is near Gaussian; a wide component's
// integrand is a broad Gaussian cut by sigmoid steps, with tails wider than
// the mode's curvature says (worst in a group whose answers are all equal):
// measured at 9e-7 for sd e here and 3e-4 for sd e^1.75, so the bounds
// there are 1e-5 and 1e-3. Starting the mode searches from a previous
// answer (the sampler's cache) must not change the result beyond rounding.
TEST(GlmmExactQuadrature, MatchesAdaptiveSimpson)
{
    TestRng rng(2024);
    GlmmTheta truth{{0.7, -0.5, 0.3}, 0.0, 3.0, std::log(10.0), std::log(3.0), std::log(0.8 / 0.2)};
    GroupedData d = simulate_glmm(rng, kRaggedSizes, truth);
    Dataset data = make_dataset(d);
    glmm_gh_rule rule;
    ASSERT_EQ(glmm_gauss_hermite(32, &rule, nullptr), 0);
    size_t max_rows = 0;
    for (size_t g = 0; g < d.n_groups(); ++g)
        max_rows = std::max(max_rows, d.rows(g));
    std::vector<double> zb(max_rows), modes(2 * d.n_groups());

    struct Case {
        const char *name;
        GlmmTheta theta;
        double tol;
    } cases[] = {
        {"truth", truth, 1e-9},
        {"wide_component", {truth.beta, 0.5, 2.0, 1.0, -2.0, 0.0}, 1e-5},
        {"very_wide_component", {truth.beta, 0.5, 2.0, 1.0, -3.5, 0.0}, 1e-3},
        {"near_point_mass", {truth.beta, 0.3, 3.5, 5.0, 0.5, 2.0}, 1e-9},
        {"negligible_component", {{-1.0, 0.2, 0.8}, -0.5, 1.0, 0.0, 1.5, -4.0}, 1e-9},
    };
    for (const Case &c : cases) {
        std::vector<double> theta = c.theta.vec();
        std::fill(modes.begin(), modes.end(), NAN);
        double got = glmm_exact_loglik(data.get(), theta.data(), &rule, zb.data(), modes.data());
        double want = glmm_exact_loglik(d, c.theta);
        EXPECT_NEAR(got, want, c.tol) << c.name;
        RecordProperty(std::string("agh32_minus_simpson_") + c.name, sci(got - want));
        // Searches started at the modes just found, then at modes shifted by 1.
        EXPECT_NEAR(glmm_exact_loglik(data.get(), theta.data(), &rule, zb.data(), modes.data()), got, 1e-11) << c.name;
        for (double &m : modes)
            m += 1.0;
        EXPECT_NEAR(glmm_exact_loglik(data.get(), theta.data(), &rule, zb.data(), modes.data()), got, 1e-11) << c.name;
    }
}

TEST(NormalReEstimator, ConvergesToClosedFormLogLikelihood)
{
    TestRng rng(909);
    const double mu = 1.0, tau = 0.8;
    GroupedData d = simulate_normal_re(rng, std::vector<size_t>(20, 6), mu, tau);
    const double exact = normal_re_exact_loglik(d, mu, tau);
    std::vector<double> se;
    for (size_t n_imp : {64u, 512u, 4096u}) {
        Estimator est(d, "normal_re", n_imp);
        ASSERT_TRUE(est.ok());
        std::vector<double> u = est.normals(stream_seed(2000 + n_imp));
        double got = est.log_phat({mu, std::log(tau)}, u);
        WeightSummary ws = summarize(normal_re_weights(d, mu, std::log(tau), u, n_imp));
        EXPECT_LT(rel_err(got, (double)ws.log_phat, 1.0), 1e-12);
        double sd = std::sqrt(ws.var_log_phat);
        EXPECT_LT(std::fabs(got - (exact - 0.5 * ws.var_log_phat)), (n_imp == 4096 ? 3.0 : 4.0) * sd)
            << "N = " << n_imp << ": log phat " << got << ", exact " << exact << ", SE " << sd;
        se.push_back(sd);
        RecordProperty("normal_re_N" + std::to_string(n_imp) + "_err_over_se",
                       sci((got - (exact - 0.5 * ws.var_log_phat)) / sd) + " se " + sci(sd));
    }
    EXPECT_GT(se[0] / se[2], 4.0);
    EXPECT_LT(se[0] / se[2], 16.0);
    EXPECT_LT(se[2], 0.25) << "the test would be too weak";
}
