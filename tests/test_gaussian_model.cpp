// The gaussian known-answer model (src/models/gaussian.c): extended target
// N(theta; mu, Sigma) N(u; a 1, I) through the ordinary model interface.
//
// Independent answers, computed here:
//  - log N(theta; mu, Sigma) by Gaussian elimination and an LU determinant
//    (not the model's Cholesky), the prior N(0, 100 I) it divides out, and
//    sum_j (a u_j - a^2/2): log phat to 1e-12 relative; the theta gradient
//    -Sigma^-1 (theta - mu) + theta / 100 and grad_u = a;
//  - 5-point central differences of log phat for every theta and u gradient;
//  - the fused kick + rotation by hand: p' = (p + kick a) cos - u sin,
//    u' = u cos + (p + kick a) sin;
//  - PM-HMC on Sigma = [[1, 0.8], [0.8, 1]]: means, variances and the
//    covariance within 4 Monte Carlo standard errors (ESS from the library's
//    pmhmc_ess_mean), and u's mean a, read back through draw.lp (lp - log
//    N(theta; mu, Sigma) = sum_j (a u_j - a^2/2) exactly for this model);
//  - the CUDA backend (double and float storage, theta inline and through
//    theta_dev, more than one reduction chunk of groups) against the CPU, and
//    PM-HMC chains on CUDA (host loop and device trajectories) against the
//    CPU's; these skip without a GPU.
#include <cmath>
#include <string>
#include <vector>

#include "models/gaussian.h"
#include "test_support.h"

using namespace pmhmc_test;

namespace {

const double kLogSqrt2Pi = 0.91893853320467274178;
const double kPriorVar = 100.0; // pmhmc_model_settings_default

struct Target {
    size_t dim;
    std::vector<double> mean, cov;
};

Model make_gaussian(const Target &t, size_t T, size_t N, double a)
{
    pmhmc_model *m = nullptr;
    pmhmc_error err{};
    pmhmc_status st = pmhmc_gaussian_model_create(t.dim, t.mean.data(), t.cov.data(), T, N, a, &m, &err);
    EXPECT_EQ(st, PMHMC_OK) << err.message;
    return Model(m);
}

// A random SPD matrix B B' + dim I and a random mean.
Target random_target(size_t dim, uint64_t seed)
{
    TestRng rng(seed);
    Target t{dim, std::vector<double>(dim), std::vector<double>(dim * dim, 0.0)};
    std::vector<double> b(dim * dim);
    for (double &x : b)
        x = rng.normal();
    for (size_t i = 0; i < dim; ++i) {
        t.mean[i] = rng.normal();
        for (size_t k = 0; k < dim; ++k) {
            double s = i == k ? (double)dim : 0.0;
            for (size_t r = 0; r < dim; ++r)
                s += b[i * dim + r] * b[k * dim + r];
            t.cov[i * dim + k] = s;
        }
    }
    for (size_t i = 0; i < dim; ++i) // exact symmetry, whatever the rounding above
        for (size_t k = 0; k < i; ++k)
            t.cov[i * dim + k] = t.cov[k * dim + i];
    return t;
}

Target identity_target(size_t dim)
{
    Target t{dim, std::vector<double>(dim, 0.0), std::vector<double>(dim * dim, 0.0)};
    for (size_t i = 0; i < dim; ++i)
        t.cov[i * dim + i] = 1.0;
    return t;
}

// x = A^-1 b by Gaussian elimination with partial pivoting.
std::vector<double> solve(std::vector<double> a, std::vector<double> b, size_t n)
{
    for (size_t c = 0; c < n; ++c) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; ++r)
            if (std::fabs(a[r * n + c]) > std::fabs(a[piv * n + c]))
                piv = r;
        for (size_t k = 0; k < n; ++k)
            std::swap(a[c * n + k], a[piv * n + k]);
        std::swap(b[c], b[piv]);
        for (size_t r = c + 1; r < n; ++r) {
            double f = a[r * n + c] / a[c * n + c];
            for (size_t k = c; k < n; ++k)
                a[r * n + k] -= f * a[c * n + k];
            b[r] -= f * b[c];
        }
    }
    std::vector<double> x(n);
    for (size_t i = n; i-- > 0;) {
        double s = b[i];
        for (size_t k = i + 1; k < n; ++k)
            s -= a[i * n + k] * x[k];
        x[i] = s / a[i * n + i];
    }
    return x;
}

double log_normal_density(const Target &t, const std::vector<double> &theta, std::vector<double> *grad)
{
    std::vector<double> r(t.dim);
    for (size_t i = 0; i < t.dim; ++i)
        r[i] = theta[i] - t.mean[i];
    std::vector<double> q = solve(t.cov, r, t.dim);
    double quad = 0.0;
    for (size_t i = 0; i < t.dim; ++i)
        quad += r[i] * q[i];
    if (grad) {
        grad->resize(t.dim);
        for (size_t i = 0; i < t.dim; ++i)
            (*grad)[i] = -q[i];
    }
    return -0.5 * quad - 0.5 * std::log(determinant(t.cov, t.dim)) - (double)t.dim * kLogSqrt2Pi;
}

double log_prior(const std::vector<double> &theta)
{
    double s = 0.0;
    for (double x : theta)
        s += x * x;
    return -0.5 * s / kPriorVar - (double)theta.size() * (0.5 * std::log(kPriorVar) + kLogSqrt2Pi);
}

double aux_part(const std::vector<double> &u, double a)
{
    double s = 0.0;
    for (double x : u)
        s += a * x - 0.5 * a * a;
    return s;
}

// log phat in closed form: the target density over the prior, times the u part.
double closed_log_phat(const Target &t, const std::vector<double> &theta, const std::vector<double> &u, double a,
                       std::vector<double> *grad)
{
    double lp = log_normal_density(t, theta, grad) - log_prior(theta) + aux_part(u, a);
    if (grad)
        for (size_t i = 0; i < t.dim; ++i)
            (*grad)[i] += theta[i] / kPriorVar;
    return lp;
}

enum { V_U = 0, V_P = 1, V_GRAD = 2, V_COUNT = 3 };

struct Outputs {
    double lp = NAN;
    std::vector<double> grad, gu, u, p;
};

// One estimate on ws at (theta, u[, p]); p empty: no kick, no rotation.
Outputs estimate(pmhmc_workspace *ws, size_t dim, const std::vector<double> &theta, const std::vector<double> &u,
                 const std::vector<double> &p, bool want_grad, double kick = 0.0, double angle = 0.0)
{
    const size_t L = pmhmc_workspace_length(ws);
    Outputs o;
    EXPECT_EQ(pmhmc_ws_upload(ws, V_U, u.data()), PMHMC_OK);
    std::vector<double> nan(L, NAN); // stale values must not pass
    EXPECT_EQ(pmhmc_ws_upload(ws, V_GRAD, nan.data()), PMHMC_OK);
    if (!p.empty()) {
        EXPECT_EQ(pmhmc_ws_upload(ws, V_P, p.data()), PMHMC_OK);
    }
    pmhmc_estimate_request req{};
    req.theta = theta.data();
    req.u = V_U;
    req.p = p.empty() ? -1 : V_P;
    req.grad_u = want_grad ? V_GRAD : -1;
    req.kick = kick;
    req.angle = angle;
    o.grad.assign(dim, NAN);
    EXPECT_EQ(pmhmc_ws_estimate(ws, &req, &o.lp, want_grad ? o.grad.data() : nullptr), PMHMC_OK);
    o.gu.resize(L);
    o.u.resize(L);
    o.p.resize(L);
    EXPECT_EQ(pmhmc_ws_download(ws, V_GRAD, o.gu.data()), PMHMC_OK);
    EXPECT_EQ(pmhmc_ws_download(ws, V_U, o.u.data()), PMHMC_OK);
    EXPECT_EQ(pmhmc_ws_download(ws, V_P, o.p.data()), PMHMC_OK);
    return o;
}

std::vector<double> normals(TestRng &rng, size_t n, double shift = 0.0)
{
    std::vector<double> x(n);
    for (double &v : x)
        v = shift + rng.normal();
    return x;
}

} // namespace

TEST(GaussianModel, DescribesItself)
{
    Target t = random_target(3, 1);
    Model m = make_gaussian(t, 5, 7, 0.5);
    ASSERT_TRUE(m);
    EXPECT_STREQ(pmhmc_model_name(m.get()), "gaussian");
    EXPECT_EQ(pmhmc_model_dim(m.get()), 3u);
    EXPECT_STREQ(pmhmc_model_param_name(m.get(), 0), "theta.1");
    EXPECT_STREQ(pmhmc_model_param_name(m.get(), 2), "theta.3");
    EXPECT_EQ(pmhmc_model_param_name(m.get(), 3), nullptr);
    EXPECT_EQ(pmhmc_model_n_generated(m.get()), 0u);
    EXPECT_EQ(pmhmc_model_aux_size(m.get()), 35u);
    EXPECT_EQ(pmhmc_model_n_groups(m.get()), 5u);
    EXPECT_EQ(pmhmc_model_n_importance(m.get()), 7u);
    EXPECT_EQ(pmhmc_model_terms(m.get()), 35.0);
    std::vector<double> theta0(3, NAN);
    pmhmc_model_initial(m.get(), 1, 0, theta0.data());
    EXPECT_EQ(theta0, t.mean);

    // Not constructible from data: it is not in the config's model table.
    pmhmc_model_settings s;
    pmhmc_model_settings_default(&s);
    s.name = "gaussian";
    GroupedData d;
    d.y = {0.0};
    d.start = {0, 1};
    Dataset data = make_dataset(d);
    pmhmc_model *raw = nullptr;
    pmhmc_error err{};
    EXPECT_NE(pmhmc_model_create(&s, data.get(), &raw, &err), PMHMC_OK);
    EXPECT_EQ(raw, nullptr);
}

TEST(GaussianModel, InvalidArgumentsAreRefused)
{
    const double mean[2] = {0.0, 0.0};
    const double spd[4] = {1.0, 0.5, 0.5, 1.0};
    const double indefinite[4] = {1.0, 2.0, 2.0, 1.0};
    const double asymmetric[4] = {1.0, 0.5, 0.4, 1.0};
    const double singular[4] = {1.0, 1.0, 1.0, 1.0};
    const double nan_cov[4] = {1.0, NAN, NAN, 1.0};
    const double nan_mean[2] = {0.0, NAN};
    struct Case {
        const char *what;
        size_t dim;
        const double *mean, *cov;
        size_t T, N;
        double a;
    } cases[] = {
        {"dim 0", 0, mean, spd, 2, 4, 0.5},
        {"dim too large", 5000, mean, spd, 2, 4, 0.5},
        {"no mean", 2, nullptr, spd, 2, 4, 0.5},
        {"no cov", 2, mean, nullptr, 2, 4, 0.5},
        {"no groups", 2, mean, spd, 0, 4, 0.5},
        {"no draws", 2, mean, spd, 2, 0, 0.5},
        {"too many aux", 2, mean, spd, 100000, 100000, 0.5},
        {"infinite a", 2, mean, spd, 2, 4, INFINITY},
        {"NaN a", 2, mean, spd, 2, 4, NAN},
        {"NaN mean", 2, nan_mean, spd, 2, 4, 0.5},
        {"NaN cov", 2, mean, nan_cov, 2, 4, 0.5},
        {"asymmetric", 2, mean, asymmetric, 2, 4, 0.5},
        {"indefinite", 2, mean, indefinite, 2, 4, 0.5},
        {"singular", 2, mean, singular, 2, 4, 0.5},
    };
    for (const Case &c : cases) {
        pmhmc_model *m = reinterpret_cast<pmhmc_model *>(0x1);
        pmhmc_error err{};
        EXPECT_EQ(pmhmc_gaussian_model_create(c.dim, c.mean, c.cov, c.T, c.N, c.a, &m, &err), PMHMC_ERR_ARG)
            << c.what;
        EXPECT_EQ(m, nullptr) << c.what;
        EXPECT_NE(std::string(err.message), "") << c.what;
        EXPECT_NE(std::string(err.message).find("gaussian"), std::string::npos) << c.what << ": " << err.message;
    }
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_gaussian_model_create(2, mean, spd, 2, 4, 0.5, nullptr, &err), PMHMC_ERR_ARG);
    pmhmc_model *m = nullptr;
    EXPECT_EQ(pmhmc_gaussian_model_create(2, mean, indefinite, 2, 4, 0.5, &m, &err), PMHMC_ERR_ARG);
    EXPECT_NE(std::string(err.message).find("positive definite"), std::string::npos) << err.message;
}

// Closed forms and finite differences on the CPU, at d = 3 (dense Sigma) and
// d = 100 (identity: the 100-dimensional standard normal of the sampler tests).
TEST(GaussianModel, LogPhatAndGradientsMatchClosedFormsAndDifferences)
{
    struct Case {
        Target t;
        size_t T, N;
        double a;
        uint64_t seed;
    } cases[] = {{random_target(3, 11), 3, 5, 0.7, 12}, {identity_target(100), 2, 4, 0.5, 13},
                 {random_target(1, 14), 1, 1, -1.3, 15}};
    Backend backend = cpu_backend();
    for (const Case &c : cases) {
        SCOPED_TRACE("dim " + std::to_string(c.t.dim));
        Model m = make_gaussian(c.t, c.T, c.N, c.a);
        ASSERT_TRUE(m);
        Workspace ws = make_workspace(backend.get(), m.get(), V_COUNT);
        ASSERT_TRUE(ws);
        const size_t dim = c.t.dim, L = c.T * c.N;
        TestRng rng(c.seed);
        std::vector<double> theta = normals(rng, dim), u = normals(rng, L);
        for (size_t i = 0; i < dim; ++i)
            theta[i] += c.t.mean[i];

        std::vector<double> want_grad;
        const double want = closed_log_phat(c.t, theta, u, c.a, &want_grad);
        Outputs o = estimate(ws.get(), dim, theta, u, {}, true);
        EXPECT_NEAR(o.lp, want, 1e-12 * std::max(1.0, std::fabs(want)));
        for (size_t i = 0; i < dim; ++i)
            EXPECT_NEAR(o.grad[i], want_grad[i], 1e-12 * std::max(1.0, std::fabs(want_grad[i]))) << "theta " << i;
        for (size_t k = 0; k < L; ++k)
            EXPECT_EQ(o.gu[k], c.a) << "u " << k;
        EXPECT_EQ(o.u, u); // no p: u untouched

        // The extended target: log p + log phat = log N(theta; mu, Sigma) + u part.
        std::vector<double> prior_grad(dim);
        const double lp = pmhmc_model_log_prior(m.get(), theta.data(), prior_grad.data()) + o.lp;
        std::vector<double> target_grad;
        const double target = log_normal_density(c.t, theta, &target_grad) + aux_part(u, c.a);
        EXPECT_NEAR(lp, target, 1e-12 * std::max(1.0, std::fabs(target)));
        for (size_t i = 0; i < dim; ++i)
            EXPECT_NEAR(prior_grad[i] + o.grad[i], target_grad[i], 1e-12 * std::max(1.0, std::fabs(target_grad[i])));

        // Value only: the same log phat.
        Outputs v = estimate(ws.get(), dim, theta, u, {}, false);
        EXPECT_EQ(v.lp, o.lp);

        // 5-point central differences (log phat is quadratic in theta and
        // linear in u, so the rule is exact up to rounding: ~eps |lp| / h).
        const double h = 1e-3, tol = 1e-7 * std::max(1.0, std::fabs(want));
        const size_t n_theta = std::min<size_t>(dim, 5), n_u = std::min<size_t>(L, 5);
        for (size_t i = 0; i < n_theta; ++i) {
            auto f = [&](double x) {
                std::vector<double> th = theta;
                th[i] = x;
                return estimate(ws.get(), dim, th, u, {}, false).lp;
            };
            EXPECT_NEAR(central_diff5(f, theta[i], h), o.grad[i], tol) << "theta " << i;
        }
        for (size_t k = 0; k < n_u; ++k) {
            auto f = [&](double x) {
                std::vector<double> uu = u;
                uu[k] = x;
                return estimate(ws.get(), dim, theta, uu, {}, false).lp;
            };
            EXPECT_NEAR(central_diff5(f, u[k], h), o.gu[k], tol) << "u " << k;
        }
    }
}

TEST(GaussianModel, FusedKickAndRotationMatchHandComputation)
{
    Target t = random_target(2, 21);
    const double a = 0.6, kick = 0.37, angle = 0.2;
    Model m = make_gaussian(t, 3, 4, a);
    ASSERT_TRUE(m);
    Backend backend = cpu_backend();
    Workspace ws = make_workspace(backend.get(), m.get(), V_COUNT);
    ASSERT_TRUE(ws);
    TestRng rng(22);
    std::vector<double> theta = normals(rng, 2), u = normals(rng, 12), p = normals(rng, 12);
    Outputs ref = estimate(ws.get(), 2, theta, u, {}, true);
    Outputs o = estimate(ws.get(), 2, theta, u, p, true, kick, angle);
    EXPECT_EQ(o.lp, ref.lp); // evaluated at the u before the rotation
    EXPECT_EQ(o.grad, ref.grad);
    const double c = std::cos(angle), s = std::sin(angle);
    for (size_t k = 0; k < u.size(); ++k) {
        const double pk = p[k] + kick * a;
        EXPECT_NEAR(o.u[k], u[k] * c + pk * s, 1e-15) << k;
        EXPECT_NEAR(o.p[k], pk * c - u[k] * s, 1e-15) << k;
        EXPECT_EQ(o.gu[k], a);
    }
}

// PM-HMC on the correlated 2-D Gaussian with small aux (T = 2, N = 4):
// ~0.3 s in a Release build.
TEST(GaussianModel, PmhmcRecoversCorrelatedGaussian)
{
    ThreadCountGuard guard;
    set_threads(1); // 8 aux draws: a thread team costs more than the pass
    Target t{2, {1.0, -0.5}, {1.0, 0.8, 0.8, 1.0}};
    const size_t T = 2, N = 4, n_aux = T * N;
    const double a = 0.5;
    Model m = make_gaussian(t, T, N, a);
    ASSERT_TRUE(m);
    Backend backend = cpu_backend();
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.warmup = 200;
    cfg.iterations = 20000;
    // Eigen-sds of Sigma are 1.34 and 0.45: h L = 1.5 is about half a period
    // of the narrow direction and a quarter of u's (2 pi), so neither returns.
    cfg.step_size = 0.25;
    cfg.steps = 6;
    cfg.mass = 1.0;
    cfg.seed = stream_seed(77);
    pmhmc_sampler *raw = nullptr;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_sampler_create(m.get(), backend.get(), &cfg, nullptr, &raw, &err), PMHMC_OK) << err.message;
    Sampler s(raw);

    std::vector<double> x[2], ubar;
    size_t accepted = 0;
    for (size_t it = 0; it < cfg.warmup + cfg.iterations; ++it) {
        pmhmc_draw draw{};
        ASSERT_PMHMC_OK(pmhmc_sampler_step(s.get(), &draw));
        if (draw.warmup)
            continue;
        accepted += draw.accepted;
        std::vector<double> th(draw.theta, draw.theta + 2);
        x[0].push_back(th[0]);
        x[1].push_back(th[1]);
        // lp - log N(theta; mu, Sigma) = sum_j (a u_j - a^2 / 2)
        const double aux = draw.lp - log_normal_density(t, th, nullptr);
        ubar.push_back((aux / a + 0.5 * a * (double)n_aux) / (double)n_aux);
    }
    const size_t n = x[0].size();
    ASSERT_EQ(n, cfg.iterations);
    const double rate = (double)accepted / (double)n;
    EXPECT_GT(rate, 0.8);
    RecordProperty("accept_rate", sci(rate));

    auto check_mean = [&](const std::vector<double> &v, double truth, double sd, const std::string &name) {
        const double mcse = pmhmc_mcse_mean(v.data(), 1, v.size());
        ASSERT_TRUE(std::isfinite(mcse)) << name;
        EXPECT_LT(std::fabs(mean_of(v) - truth), 4.0 * mcse) << name << ": mean " << mean_of(v) << " truth " << truth
                                                           << " mcse " << mcse;
        EXPECT_LT(mcse, 0.05 * sd) << name << ": the band must mean something";
        RecordProperty(name + "_z", sci((mean_of(v) - truth) / mcse));
        RecordProperty(name + "_ess", sci(pmhmc_ess_mean(v.data(), 1, v.size())));
    };
    // variances and the covariance as means of centred products
    std::vector<double> sq0(n), sq1(n), cross(n);
    for (size_t i = 0; i < n; ++i) {
        const double d0 = x[0][i] - t.mean[0], d1 = x[1][i] - t.mean[1];
        sq0[i] = d0 * d0;
        sq1[i] = d1 * d1;
        cross[i] = d0 * d1;
    }
    check_mean(x[0], t.mean[0], 1.0, "mean0");
    check_mean(x[1], t.mean[1], 1.0, "mean1");
    check_mean(sq0, t.cov[0], std::sqrt(2.0), "var0");
    check_mean(sq1, t.cov[3], std::sqrt(2.0), "var1");
    check_mean(cross, t.cov[1], std::sqrt(1.0 + 0.8 * 0.8), "cov01");
    // u ~ N(a, I) independent of theta: the mean of n_aux of them is N(a, 1/n_aux).
    check_mean(ubar, a, 1.0 / std::sqrt((double)n_aux), "u_mean");
    std::vector<double> usq(n);
    for (size_t i = 0; i < n; ++i)
        usq[i] = (ubar[i] - a) * (ubar[i] - a) * (double)n_aux;
    check_mean(usq, 1.0, std::sqrt(2.0), "u_mean_var");
}

// The standard normals of the sampler tests (d = 1, 10, 100; T = 2, N = 4):
// theta_1's mean and variance and |theta|^2 / d within 4 MCSE of 0, 1, 1.
TEST(GaussianModel, PmhmcRecoversStandardNormals)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = cpu_backend();
    for (size_t dim : {1, 10, 100}) {
        SCOPED_TRACE("dim " + std::to_string(dim));
        Model m = make_gaussian(identity_target(dim), 2, 4, 0.5);
        ASSERT_TRUE(m);
        pmhmc_sampler_config cfg;
        pmhmc_sampler_config_default(&cfg);
        cfg.warmup = 100;
        cfg.iterations = 4000;
        cfg.step_size = 0.3; // h L = 1.5: a quarter period of every coordinate
        cfg.steps = 5;
        cfg.mass = 1.0;
        cfg.seed = stream_seed(100 + dim);
        pmhmc_sampler *raw = nullptr;
        pmhmc_error err{};
        ASSERT_EQ(pmhmc_sampler_create(m.get(), backend.get(), &cfg, nullptr, &raw, &err), PMHMC_OK)
            << err.message;
        Sampler s(raw);
        std::vector<double> first, first_sq, norm_sq;
        for (size_t it = 0; it < cfg.warmup + cfg.iterations; ++it) {
            pmhmc_draw draw{};
            ASSERT_PMHMC_OK(pmhmc_sampler_step(s.get(), &draw));
            if (draw.warmup)
                continue;
            double ss = 0.0;
            for (size_t i = 0; i < dim; ++i)
                ss += draw.theta[i] * draw.theta[i];
            first.push_back(draw.theta[0]);
            first_sq.push_back(draw.theta[0] * draw.theta[0]);
            norm_sq.push_back(ss / (double)dim);
        }
        ASSERT_EQ(first.size(), cfg.iterations);
        const struct {
            const std::vector<double> *v;
            double truth;
            const char *name;
        } checks[] = {{&first, 0.0, "theta1"}, {&first_sq, 1.0, "theta1^2"}, {&norm_sq, 1.0, "|theta|^2/d"}};
        for (const auto &c : checks) {
            const double mcse = pmhmc_mcse_mean(c.v->data(), 1, c.v->size());
            ASSERT_TRUE(std::isfinite(mcse)) << c.name;
            EXPECT_LT(std::fabs(mean_of(*c.v) - c.truth), 4.0 * mcse)
                << c.name << ": mean " << mean_of(*c.v) << " mcse " << mcse;
            EXPECT_LT(mcse, 0.05) << c.name;
        }
    }
}

// ---- the CUDA backend ----------------------------------------------------------------

namespace {

double scale_of(const std::vector<double> &v)
{
    double s = 1.0;
    for (double x : v)
        s = std::max(s, std::fabs(x));
    return s;
}

float round_f(double x) { return (float)x; }

} // namespace

// Value, gradients and the fused step, CUDA against CPU: d = 3 (theta inline)
// and d = 70 (> 64: theta through theta_dev), G = 300 groups (two reduction
// chunks), N = 37 (a partial warp).
TEST(GaussianModel, CudaMatchesCpu)
{
    SKIP_WITHOUT_GPU();
    Backend cpu = cpu_backend();
    for (pmhmc_precision prec : {PMHMC_PRECISION_DOUBLE, PMHMC_PRECISION_FLOAT}) {
        const bool is_float = prec == PMHMC_PRECISION_FLOAT;
        Backend cuda = cuda_backend(prec, "graph");
        ASSERT_TRUE(cuda);
        const double rtol = is_float ? 1e-5 : 1e-12;
        for (size_t dim : {3, 70}) {
            SCOPED_TRACE(std::string(is_float ? "float" : "double") + " dim " + std::to_string(dim));
            Target t = random_target(dim, 30 + dim);
            const size_t T = 300, N = 37, L = T * N;
            Model m = make_gaussian(t, T, N, 0.45);
            ASSERT_TRUE(m);
            Workspace wc = make_workspace(cpu.get(), m.get(), V_COUNT);
            Workspace wg = make_workspace(cuda.get(), m.get(), V_COUNT);
            ASSERT_TRUE(wc && wg);
            TestRng rng(40 + dim);
            std::vector<double> theta = normals(rng, dim), u = normals(rng, L), p = normals(rng, L);
            if (is_float) // the CPU runs on what the GPU stores
                for (size_t k = 0; k < L; ++k) {
                    u[k] = round_f(u[k]);
                    p[k] = round_f(p[k]);
                }
            for (int fused = 0; fused < 2; ++fused) {
                std::vector<double> pp = fused ? p : std::vector<double>{};
                Outputs want = estimate(wc.get(), dim, theta, u, pp, true, 0.37, 0.2);
                Outputs got = estimate(wg.get(), dim, theta, u, pp, true, 0.37, 0.2);
                // the aux sum has L terms of size ~|a u|: its rounding scales with L
                const double lp_scale = std::fabs(want.lp) + 0.45 * (double)L;
                EXPECT_NEAR(got.lp, want.lp, rtol * lp_scale);
                const double gs = scale_of(want.grad) * (double)dim;
                for (size_t i = 0; i < dim; ++i)
                    EXPECT_NEAR(got.grad[i], want.grad[i], rtol * gs) << "theta " << i;
                for (size_t k = 0; k < L; ++k) {
                    ASSERT_NEAR(got.gu[k], want.gu[k], rtol) << k;
                    if (fused) {
                        ASSERT_NEAR(got.u[k], want.u[k], rtol * (std::fabs(u[k]) + std::fabs(p[k]) + 1.0)) << k;
                        ASSERT_NEAR(got.p[k], want.p[k], rtol * (std::fabs(u[k]) + std::fabs(p[k]) + 1.0)) << k;
                    }
                }
            }
            Outputs v = estimate(wg.get(), dim, theta, u, {}, false);
            Outputs w = estimate(wc.get(), dim, theta, u, {}, false);
            EXPECT_NEAR(v.lp, w.lp, rtol * (std::fabs(w.lp) + 0.45 * (double)L));
        }
    }
}

// Whole PM-HMC chains in double: the CUDA host loop and device-side
// trajectories (graph mode) follow the CPU's chain draw for draw.
TEST(GaussianModel, CudaChainsFollowTheCpuChain)
{
    SKIP_WITHOUT_GPU();
    Target t{2, {1.0, -0.5}, {1.0, 0.8, 0.8, 1.0}};
    Model m = make_gaussian(t, 2, 4, 0.5);
    ASSERT_TRUE(m);
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.warmup = 0;
    cfg.iterations = 50;
    cfg.step_size = 0.25;
    cfg.steps = 6;
    cfg.mass = 1.0;
    cfg.seed = 5;
    auto run = [&](pmhmc_backend *b) {
        std::vector<double> out;
        pmhmc_sampler *raw = nullptr;
        pmhmc_error err{};
        EXPECT_EQ(pmhmc_sampler_create(m.get(), b, &cfg, nullptr, &raw, &err), PMHMC_OK) << err.message;
        Sampler s(raw);
        for (size_t it = 0; s && it < cfg.iterations; ++it) {
            pmhmc_draw d{};
            EXPECT_EQ(pmhmc_sampler_step(s.get(), &d), PMHMC_OK);
            out.insert(out.end(), {d.theta[0], d.theta[1], d.lp});
        }
        return out;
    };
    Backend cpu = cpu_backend();
    const std::vector<double> want = run(cpu.get());
    ASSERT_EQ(want.size(), 3 * cfg.iterations);
    for (const char *mode : {"host", "graph"}) {
        Backend cuda = cuda_backend(PMHMC_PRECISION_DOUBLE, mode);
        ASSERT_TRUE(cuda);
        const std::vector<double> got = run(cuda.get());
        ASSERT_EQ(got.size(), want.size()) << mode;
        for (size_t i = 0; i < want.size(); ++i)
            ASSERT_NEAR(got[i], want[i], 1e-9 * std::max(1.0, std::fabs(want[i]))) << mode << " value " << i;
    }
}
