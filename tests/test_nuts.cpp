// PM-NUTS (src/sampler/nuts.c) and warm-up adaptation (src/sampler/adapt.c).
//
// Independent answers:
//  - the tree: a literal transcription of Stan's base_nuts.hpp written here
//    (recursive, explicit momentum vectors, the criterion on summed vectors
//    rather than the library's sums of dot products) over closed-form
//    kick-drift-kick steps of a 1-D Gaussian with u ~ N(a, I), driven by the
//    same fixed directions and the same uniforms: the same leaves (theta,
//    rho, weight), depth, leapfrog count, termination reason and choice;
//  - sampling: Gaussian targets with known moments (standard normals in 1,
//    10 and 100 dimensions, a correlated 2-D one): means and variances within
//    4 Monte Carlo standard errors (ESS by Geyer's initial monotone sequence,
//    test_support.h), adapted acceptance statistic within 0.05 of delta, and
//    the adapted inverse metric within 20% of the true variances;
//  - PM-HMC's step-size adaptation reaching delta the same way;
//  - the same on the CUDA backend where a GPU exists (skipped otherwise).
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "math/philox.h"
#include "math/streams.h"
#include "models/gaussian.h"
#include "sampler/nuts.h"
#include "test_support.h"

using namespace pmhmc_test;

namespace {

// ---- the reference: Stan's base_nuts on a 1-D Gaussian extended space -------

struct RefPoint {
    double theta, rho;
    std::vector<double> u, p;
};

struct RefTree {
    double mu = 0, var = 1, mass = 1, a = 0, h = 0, max_delta_h = 0;
    uint64_t seed = 0, subtree_step = 0;
    uint32_t chain = 0, uniforms = 0;
    int sign = 1;
    bool extended = true;
    bool divergent = false;
    int n_leapfrog = 0;
    double sum_metro_prob = 0.0, H0 = 0.0;
    RefPoint z;
    std::vector<RefPoint> leaves;
    std::vector<double> log_weights;

    double grad(double th) const { return -(th - mu) / var; }
    double H(const RefPoint &x) const
    {
        double e = 0.5 * (x.theta - mu) * (x.theta - mu) / var + 0.5 * x.rho * x.rho / mass;
        for (size_t j = 0; j < x.u.size(); ++j)
            e += 0.5 * x.u[j] * x.u[j] + 0.5 * x.p[j] * x.p[j] - (a * x.u[j] - 0.5 * a * a);
        return e;
    }
    void evolve(RefPoint &x, double eps) const
    {
        x.rho += 0.5 * eps * grad(x.theta);
        for (double &pj : x.p)
            pj += 0.5 * eps * a;
        x.theta += eps * x.rho / mass;
        const double c = std::cos(eps), s = std::sin(eps);
        for (size_t j = 0; j < x.u.size(); ++j) {
            double u0 = x.u[j], p0 = x.p[j];
            x.u[j] = u0 * c + p0 * s;
            x.p[j] = p0 * c - u0 * s;
        }
        x.rho += 0.5 * eps * grad(x.theta);
        for (double &pj : x.p)
            pj += 0.5 * eps * a;
    }
    // momenta as one vector: (rho, p...) or (rho) only
    std::vector<double> mom(const RefPoint &x) const
    {
        std::vector<double> v{x.rho};
        if (extended)
            v.insert(v.end(), x.p.begin(), x.p.end());
        return v;
    }
    std::vector<double> sharp(const RefPoint &x) const
    {
        std::vector<double> v = mom(x);
        v[0] /= mass;
        return v;
    }
    static double dot(const std::vector<double> &x, const std::vector<double> &y)
    {
        double s = 0;
        for (size_t i = 0; i < x.size(); ++i)
            s += x[i] * y[i];
        return s;
    }
    static std::vector<double> add(const std::vector<double> &x, const std::vector<double> &y)
    {
        std::vector<double> s(x);
        for (size_t i = 0; i < s.size(); ++i)
            s[i] += y[i];
        return s;
    }
    static bool criterion(const std::vector<double> &minus, const std::vector<double> &plus,
                          const std::vector<double> &rho)
    {
        return dot(plus, rho) > 0 && dot(minus, rho) > 0;
    }
    static double lse(double x, double y)
    {
        if (x == -INFINITY)
            return y;
        double m = std::max(x, y);
        return m + std::log(std::exp(x - m) + std::exp(y - m));
    }
    double uniform() { return pmhmc_stream_uniform(seed, chain, subtree_step, uniforms++); }

    bool build(int depth, RefPoint &propose, std::vector<double> &ps_beg, std::vector<double> &ps_end,
               std::vector<double> &rho, std::vector<double> &p_beg, std::vector<double> &p_end, double &lsw)
    {
        if (depth == 0) {
            evolve(z, sign * h);
            ++n_leapfrog;
            double hh = H(z);
            if (std::isnan(hh))
                hh = INFINITY;
            if (hh - H0 > max_delta_h)
                divergent = true;
            lsw = lse(lsw, H0 - hh);
            sum_metro_prob += H0 - hh > 0 ? 1 : std::exp(H0 - hh);
            leaves.push_back(z);
            log_weights.push_back(H0 - hh);
            propose = z;
            ps_beg = sharp(z);
            ps_end = ps_beg;
            rho = add(rho, mom(z));
            p_beg = mom(z);
            p_end = p_beg;
            return !divergent;
        }
        double lsw_init = -INFINITY;
        std::vector<double> p_init_end, ps_init_end, rho_init(rho.size(), 0.0);
        if (!build(depth - 1, propose, ps_beg, ps_init_end, rho_init, p_beg, p_init_end, lsw_init))
            return false;
        RefPoint propose_final = z;
        double lsw_final = -INFINITY;
        std::vector<double> p_final_beg, ps_final_beg, rho_final(rho.size(), 0.0);
        if (!build(depth - 1, propose_final, ps_final_beg, ps_end, rho_final, p_final_beg, p_end, lsw_final))
            return false;
        double lsw_subtree = lse(lsw_init, lsw_final);
        lsw = lse(lsw, lsw_subtree);
        if (lsw_final > lsw_subtree || uniform() < std::exp(lsw_final - lsw_subtree))
            propose = propose_final;
        std::vector<double> rho_subtree = add(rho_init, rho_final);
        rho = add(rho, rho_subtree);
        bool persist = criterion(ps_beg, ps_end, rho_subtree);
        persist &= criterion(ps_beg, ps_final_beg, add(rho_init, p_final_beg));
        persist &= criterion(ps_init_end, ps_end, add(rho_final, p_init_end));
        return persist;
    }

    // Stan's transition with the directions given; returns the sample.
    RefPoint transition(const RefPoint &start, const std::vector<int> &dirs, int max_depth, int *depth_out,
                        pmhmc_nuts_stop *stop)
    {
        z = start;
        H0 = H(z);
        RefPoint z_fwd = z, z_bck = z, z_sample = z, z_propose = z;
        std::vector<double> p_ff = mom(z), ps_ff = sharp(z), p_fb = p_ff, ps_fb = ps_ff, p_bf = p_ff, ps_bf = ps_ff,
                            p_bb = p_ff, ps_bb = ps_ff, rho = mom(z);
        double lsw = 0;
        int depth = 0;
        *stop = PMHMC_NUTS_STOP_MAX_DEPTH;
        while (depth < max_depth) {
            std::vector<double> rho_fwd(rho.size(), 0.0), rho_bck(rho.size(), 0.0);
            double lsw_subtree = -INFINITY;
            bool valid;
            if (dirs[depth]) {
                z = z_fwd;
                rho_bck = rho;
                p_bf = p_ff;
                ps_bf = ps_ff;
                sign = 1;
                valid = build(depth, z_propose, ps_fb, ps_ff, rho_fwd, p_fb, p_ff, lsw_subtree);
                z_fwd = z;
            } else {
                z = z_bck;
                rho_fwd = rho;
                p_fb = p_bb;
                ps_fb = ps_bb;
                sign = -1;
                valid = build(depth, z_propose, ps_bf, ps_bb, rho_bck, p_bf, p_bb, lsw_subtree);
                z_bck = z;
            }
            if (!valid) {
                *stop = divergent ? PMHMC_NUTS_STOP_DIVERGENCE : PMHMC_NUTS_STOP_UTURN;
                break;
            }
            ++depth;
            if (lsw_subtree > lsw || uniform() < std::exp(lsw_subtree - lsw))
                z_sample = z_propose;
            lsw = lse(lsw, lsw_subtree);
            rho = add(rho_bck, rho_fwd);
            bool persist = criterion(ps_bb, ps_ff, rho);
            persist &= criterion(ps_bb, ps_fb, add(rho_bck, p_fb));
            persist &= criterion(ps_bf, ps_ff, add(rho_fwd, p_bf));
            if (!persist) {
                *stop = PMHMC_NUTS_STOP_UTURN;
                break;
            }
        }
        *depth_out = depth;
        return z_sample;
    }
};

// ---- the library's tree on the same problem ----------------------------------

struct Leaves {
    std::vector<double> theta, rho, log_weight;
    std::vector<int> forward;
};

void record_leaf(void *ctx, const pmhmc_nuts_leaf *leaf)
{
    Leaves *l = static_cast<Leaves *>(ctx);
    l->theta.push_back(leaf->theta[0]);
    l->rho.push_back(leaf->rho[0]);
    l->log_weight.push_back(leaf->log_weight);
    l->forward.push_back(leaf->forward);
}

struct TreeCase {
    const char *name;
    pmhmc_uturn uturn;
    double h, max_delta_h;
    int max_depth;
    std::vector<int> dirs;
    pmhmc_nuts_stop expect_stop; // what the hand analysis below predicts
};

// One transition from theta = 0.7, rho = 0.9, u = (0.3, -1.1), p = (0.5, 0.2)
// on N(0.4, 1.5) x N(u; 0.5, I), m = 2. Hand analysis: theta oscillates with
// period 2 pi sqrt(m var) = 10.9 and u with period 2 pi, so at h = 0.3 the
// theta-only criterion allows about 18 steps (depth 4-5, a U-turn) while the
// extended one turns around with u after about 10 (depth 3-4); h = 0.05 with
// max depth 3 ends at the depth limit; max_delta_h = 1e-6 makes the first
// leaf whose energy rises (every one after the first few) a divergence.
const TreeCase kTreeCases[] = {
    {"theta_uturn", PMHMC_UTURN_THETA, 0.3, 1000, 10, {1, 0, 1, 1, 0, 1, 0, 0, 1, 1}, PMHMC_NUTS_STOP_UTURN},
    {"extended_uturn", PMHMC_UTURN_EXTENDED, 0.3, 1000, 10, {0, 1, 1, 0, 1, 0, 1, 1, 0, 0}, PMHMC_NUTS_STOP_UTURN},
    {"max_depth", PMHMC_UTURN_EXTENDED, 0.05, 1000, 3, {1, 1, 0}, PMHMC_NUTS_STOP_MAX_DEPTH},
    {"divergence", PMHMC_UTURN_THETA, 0.3, 1e-6, 10, {1, 0, 1, 1, 0, 1, 0, 0, 1, 1}, PMHMC_NUTS_STOP_DIVERGENCE},
};

class NutsTree : public ::testing::TestWithParam<TreeCase> {};

TEST_P(NutsTree, FixedDirectionsReproduceStansTree)
{
    const TreeCase &tc = GetParam();
    const double mu = 0.4, var = 1.5, mass = 2.0, a = 0.5;
    Model model = gaussian_model(1, {mu}, {var}, 1, 2, a);
    ASSERT_TRUE(model);
    Backend backend = cpu_backend();
    const int first = 2;
    Workspace ws = make_workspace(backend.get(), model.get(), first + pmhmc_nuts_vectors(tc.max_depth, tc.uturn));
    ASSERT_TRUE(ws);
    double inv_mass = 1.0 / mass, sqrt_mass = std::sqrt(mass), scratch[2];
    pmhmc_integrator integ{model.get(), ws.get(), &inv_mass, &scratch[0], &scratch[1], nullptr, nullptr};
    pmhmc_nuts *raw = nullptr;
    ASSERT_PMHMC_OK(pmhmc_nuts_create(&integ, &sqrt_mass, tc.max_depth, tc.max_delta_h, tc.uturn, first, &raw));
    std::unique_ptr<pmhmc_nuts, void (*)(pmhmc_nuts *)> nuts(raw, pmhmc_nuts_free);

    // The start: u in vector 0; its momenta come from the transition's streams.
    const uint64_t seed = 5, iteration = 3;
    const uint32_t chain = 1;
    double theta = 0.7, grad;
    std::vector<double> u0 = {0.3, -1.1};
    ASSERT_PMHMC_OK(pmhmc_ws_upload(ws.get(), 0, u0.data()));
    pmhmc_kdk_point x{};
    x.z.theta = &theta;
    x.z.u = 0;
    x.grad = &grad;
    x.grad_u = 1;
    ASSERT_PMHMC_OK(pmhmc_kdk_evaluate(&integ, &x));
    EXPECT_NEAR(grad, -(theta - mu) / var, 1e-14);
    pmhmc_nuts_state cur{&theta, &grad, x.z.log_prior, x.z.log_phat, 0, 1};

    RefPoint start;
    start.theta = theta;
    pmhmc_stream_normals(seed, chain, pmhmc_stream_step(iteration, PMHMC_DRAW_RHO), 1, &start.rho);
    start.rho *= sqrt_mass;
    start.u = u0;
    start.p.resize(2);
    pmhmc_stream_normals(seed, chain, pmhmc_stream_step(iteration, PMHMC_DRAW_P), 2, start.p.data());

    RefTree ref;
    ref.mu = mu;
    ref.var = var;
    ref.mass = mass;
    ref.a = a;
    ref.h = tc.h;
    ref.max_delta_h = tc.max_delta_h;
    ref.seed = seed;
    ref.subtree_step = pmhmc_stream_step(iteration, PMHMC_DRAW_NUTS_SUBTREE);
    ref.chain = chain;
    ref.extended = tc.uturn == PMHMC_UTURN_EXTENDED;
    int ref_depth;
    pmhmc_nuts_stop ref_stop;
    RefPoint sample = ref.transition(start, tc.dirs, tc.max_depth, &ref_depth, &ref_stop);

    Leaves got;
    pmhmc_nuts_set_directions(nuts.get(), tc.dirs.data());
    pmhmc_nuts_set_leaf_fn(nuts.get(), record_leaf, &got);
    pmhmc_nuts_result r{};
    ASSERT_PMHMC_OK(pmhmc_nuts_transition(nuts.get(), &cur, tc.h, seed, chain, iteration, &r));

    EXPECT_EQ(r.stop, tc.expect_stop);
    EXPECT_EQ(r.stop, ref_stop);
    EXPECT_EQ((int)r.depth, ref_depth);
    EXPECT_EQ((int)r.n_leapfrog, ref.n_leapfrog);
    EXPECT_EQ(r.divergent != 0, ref.divergent);
    ASSERT_EQ(got.theta.size(), ref.leaves.size());
    for (size_t i = 0; i < ref.leaves.size(); ++i) {
        // Rounding differs only in how the gradient is summed (log phat's and
        // the prior's separately here): a few ulps per step.
        EXPECT_NEAR(got.theta[i], ref.leaves[i].theta, 1e-11) << "leaf " << i;
        EXPECT_NEAR(got.rho[i], ref.leaves[i].rho, 1e-11) << "leaf " << i;
        EXPECT_NEAR(got.log_weight[i], ref.log_weights[i], 1e-10) << "leaf " << i;
    }
    EXPECT_NEAR(theta, sample.theta, 1e-11) << "the chosen state";
    EXPECT_NEAR(r.accept_stat, ref.sum_metro_prob / ref.n_leapfrog, 1e-12);

    // The hand analysis: leaf directions follow the fixed bits, doubling d
    // adding 2^d leaves.
    size_t i = 0;
    for (int d = 0; d < ref_depth; ++d)
        for (int k = 0; k < (1 << d); ++k, ++i)
            EXPECT_EQ(got.forward[i], tc.dirs[d]) << "leaf " << i;
    if (tc.expect_stop == PMHMC_NUTS_STOP_MAX_DEPTH) {
        EXPECT_EQ((int)r.depth, tc.max_depth);
        EXPECT_EQ((int)r.n_leapfrog, (1 << tc.max_depth) - 1);
    }
    if (tc.expect_stop == PMHMC_NUTS_STOP_DIVERGENCE) {
        // The tree ends at the first leaf whose energy rose by more than
        // max_delta_h, and keeps nothing of the subtree that holds it.
        size_t first = 0;
        while (first < got.log_weight.size() && -got.log_weight[first] <= tc.max_delta_h)
            ++first;
        EXPECT_EQ(first + 1, r.n_leapfrog);
        EXPECT_GE(r.n_leapfrog, (size_t)1 << r.depth) << "the divergent leaf is in doubling `depth`";
        EXPECT_LT(r.n_leapfrog, (size_t)2 << r.depth);
    }
    RecordProperty("depth", ref_depth);
    RecordProperty("n_leapfrog", ref.n_leapfrog);
}

INSTANTIATE_TEST_SUITE_P(Nuts, NutsTree, ::testing::ValuesIn(kTreeCases),
                         [](const ::testing::TestParamInfo<TreeCase> &info) { return std::string(info.param.name); });

// ---- sampling Gaussians --------------------------------------------------------

struct NutsRun {
    std::vector<std::vector<double>> theta; // [draw][dim]
    double mean_accept_stat = 0.0;  // over the saved draws
    double terminal_accept_stat = 0.0; // over warm-up's terminal buffer
    std::vector<double> inv_metric;
    size_t divergent = 0;
};

NutsRun run_nuts(const pmhmc_model *model, pmhmc_backend *backend, size_t warmup, size_t iterations, uint64_t seed,
             pmhmc_uturn uturn = PMHMC_UTURN_EXTENDED)
{
    pmhmc_sampler_config cfg = nuts_test_config(warmup, iterations, seed);
    cfg.uturn = uturn;
    NutsRun out;
    pmhmc_sampler *raw = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_sampler_create(model, backend, &cfg, nullptr, &raw, &err), PMHMC_OK) << err.message;
    Sampler s(raw);
    if (!s)
        return out;
    const size_t dim = pmhmc_model_dim(model);
    for (size_t it = 0; it < warmup + iterations; ++it) {
        pmhmc_draw d{};
        EXPECT_EQ(pmhmc_sampler_step(s.get(), &d), PMHMC_OK);
        if (d.warmup) {
            if (it + cfg.adapt.term_buffer >= warmup)
                out.terminal_accept_stat += d.accept_stat / (double)cfg.adapt.term_buffer;
            continue;
        }
        out.theta.emplace_back(d.theta, d.theta + dim);
        out.mean_accept_stat += d.accept_stat / (double)iterations;
        out.divergent += d.divergent != 0;
        EXPECT_GE(d.treedepth, 1u);
        EXPECT_EQ(d.stepsize, pmhmc_sampler_step_size(s.get())) << "the step size is fixed after warm-up";
    }
    out.inv_metric.resize(dim);
    pmhmc_sampler_inv_metric(s.get(), out.inv_metric.data());
    return out;
}

// Dual averaging drives the mean acceptance statistic of the iterations it
// adapts on to delta: over the terminal buffer (the final metric, 50
// iterations) it must be within 0.05 of it (over 20 streams: 0.76 - 0.79).
// Sampling then runs at exp(x_bar), the average of log step sizes, which is
// below the step size whose acceptance is delta (the acceptance statistic is
// concave in log h), so the saved draws accept more often; Stan's runs show
// the same. They must not accept less. NUTS's saved draws accepted 0.90 -
// 0.96 on these targets over 20 streams: above 0.97 the step would be far
// smaller than adaptation found. PM-HMC's fixed-length trajectories accept
// 0.92 - 0.99 at exp(x_bar) on the correlated Gaussian (its acceptance falls
// steeply near the stability limit, which pulls x_bar down): no upper bound
// tells a sound PM-HMC from a broken one there (max_accept 1).
void check_acceptance(const NutsRun &r, const std::string &what, double max_accept = 0.97)
{
    ::testing::Test::RecordProperty(what + " accept_stat", sci(r.mean_accept_stat) + " terminal " +
                                                               sci(r.terminal_accept_stat));
    EXPECT_NEAR(r.terminal_accept_stat, 0.8, 0.05) << what << ": the terminal buffer";
    EXPECT_GT(r.mean_accept_stat, 0.75) << what;
    EXPECT_LE(r.mean_accept_stat, max_accept) << what;
}

// Means and variances within family_z(2 d) MCSE of the truth (4 for d <= 2,
// 5.0 for d = 100); returns the worst z.
double check_moments(const NutsRun &r, const std::vector<double> &mean, const std::vector<double> &var,
                     const std::string &what)
{
    const double z = family_z(2 * mean.size());
    double worst = 0;
    for (size_t i = 0; i < mean.size(); ++i) {
        std::vector<double> x, sq;
        for (const auto &t : r.theta)
            x.push_back(t[i]);
        const double m = mean_of(x), v = variance_of(x);
        for (double xi : x)
            sq.push_back((xi - m) * (xi - m));
        const double mcse_m = std::sqrt(v / geyer_ess(x)), mcse_v = std::sqrt(variance_of(sq) / geyer_ess(sq));
        EXPECT_LT(std::fabs(m - mean[i]), z * mcse_m) << what << " mean " << i << ": " << m << " vs " << mean[i];
        EXPECT_LT(std::fabs(v - var[i]), z * mcse_v) << what << " var " << i << ": " << v << " vs " << var[i];
        worst = std::max({worst, std::fabs(m - mean[i]) / mcse_m, std::fabs(v - var[i]) / mcse_v});
    }
    return worst;
}

class NutsSampling : public ::testing::TestWithParam<const char *> {
protected:
    Backend make_backend()
    {
        if (std::string(GetParam()) == "cpu")
            return cpu_backend();
        return cuda_backend(std::string(GetParam()) == "cuda_float" ? PMHMC_PRECISION_FLOAT : PMHMC_PRECISION_DOUBLE,
                            "graph");
    }
    void SetUp() override
    {
        if (std::string(GetParam()) != "cpu")
            SKIP_WITHOUT_GPU();
    }
};

TEST_P(NutsSampling, StandardNormalsIn1And10And100Dimensions)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = make_backend();
    ASSERT_TRUE(backend);
    for (size_t dim : {1, 10, 100}) {
        std::vector<double> mean(dim, 0.0), cov(dim * dim, 0.0), var(dim, 1.0);
        for (size_t i = 0; i < dim; ++i)
            cov[i * dim + i] = 1.0;
        Model model = gaussian_model(dim, mean, cov, 2, 4, 0.5);
        ASSERT_TRUE(model);
        NutsRun r = run_nuts(model.get(), backend.get(), 500, 2000, stream_seed(11 + dim));
        ASSERT_EQ(r.theta.size(), 2000u);
        const std::string what = "dim " + std::to_string(dim);
        double worst = check_moments(r, mean, var, what);
        check_acceptance(r, what);
        EXPECT_EQ(r.divergent, 0u) << what;
        RecordProperty("worst_z_dim" + std::to_string(dim), sci(worst));
        RecordProperty("accept_stat_dim" + std::to_string(dim), sci(r.mean_accept_stat));
    }
}

TEST_P(NutsSampling, CorrelatedGaussianIn2Dimensions)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = make_backend();
    ASSERT_TRUE(backend);
    const std::vector<double> mean = {1.0, -2.0}, cov = {1.0, 0.9 * 2.0, 0.9 * 2.0, 4.0};
    Model model = gaussian_model(2, mean, cov, 2, 4, 0.5);
    ASSERT_TRUE(model);
    for (pmhmc_uturn uturn : {PMHMC_UTURN_EXTENDED, PMHMC_UTURN_THETA}) {
        NutsRun r = run_nuts(model.get(), backend.get(), 1000, 4000, stream_seed(23), uturn);
        const std::string what = uturn == PMHMC_UTURN_THETA ? "theta U-turn" : "extended U-turn";
        check_moments(r, mean, {1.0, 4.0}, what);
        // the correlation too: E[(x - m1)(y - m2)] = 1.8
        std::vector<double> xy;
        for (const auto &t : r.theta)
            xy.push_back((t[0] - 1.0) * (t[1] + 2.0));
        EXPECT_LT(std::fabs(mean_of(xy) - 1.8), 4 * std::sqrt(variance_of(xy) / geyer_ess(xy))) << what;
        check_acceptance(r, what);
    }
}

// Variances 0.04 .. 25 on the diagonal: the adapted inverse metric (the
// regularized variance of the last window, about 500 draws of a nearly
// independent chain: relative sd about sqrt(2 / 500) = 6%) within 20% of them.
TEST_P(NutsSampling, AdaptedMetricMatchesTheVariances)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = make_backend();
    ASSERT_TRUE(backend);
    const std::vector<double> var = {0.04, 0.25, 1.0, 4.0, 25.0};
    std::vector<double> mean(5, 0.5), cov(25, 0.0);
    for (size_t i = 0; i < 5; ++i)
        cov[i * 5 + i] = var[i];
    Model model = gaussian_model(5, mean, cov, 2, 4, 0.5);
    ASSERT_TRUE(model);
    NutsRun r = run_nuts(model.get(), backend.get(), 1000, 1000, stream_seed(31));
    for (size_t i = 0; i < 5; ++i)
        EXPECT_NEAR(r.inv_metric[i] / var[i], 1.0, 0.2) << "component " << i << ": " << r.inv_metric[i];
    check_moments(r, mean, var, "scaled diagonal");
    check_acceptance(r, "scaled diagonal");
}

INSTANTIATE_TEST_SUITE_P(Backends, NutsSampling, ::testing::Values("cpu", "cuda_double", "cuda_float"),
                         [](const ::testing::TestParamInfo<const char *> &info) { return std::string(info.param); });

// The same seed and config give the same draws bit for bit, whatever the
// number of threads.
TEST(Nuts, DrawsAreBitIdenticalAcrossThreadCounts)
{
    ThreadCountGuard guard;
    std::vector<double> mean = {0.0, 1.0}, cov = {1.0, 0.5, 0.5, 2.0};
    Model model = gaussian_model(2, mean, cov, 64, 64, 0.3);
    ASSERT_TRUE(model);
    std::vector<std::vector<std::vector<double>>> runs;
    for (int threads : {1, 2}) {
        set_threads(threads);
        Backend backend = cpu_backend();
        runs.push_back(run_nuts(model.get(), backend.get(), 100, 50, 3).theta);
    }
    ASSERT_EQ(runs[0].size(), 50u);
    for (size_t i = 0; i < runs[0].size(); ++i)
        for (size_t k = 0; k < 2; ++k)
            ASSERT_EQ(std::memcmp(&runs[0][i][k], &runs[1][i][k], sizeof(double)), 0) << "draw " << i;
}

} // namespace

namespace {

// PM-HMC adapts its step size (and metric) the same way when asked: the
// terminal buffer's mean acceptance within 0.05 of delta, and the
// correlated Gaussian's moments still within 4 MCSE.
TEST(Adaptation, PmhmcStepSizeReachesDelta)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = cpu_backend();
    const std::vector<double> mean = {1.0, -2.0}, cov = {1.0, 0.9 * 2.0, 0.9 * 2.0, 4.0};
    Model model = gaussian_model(2, mean, cov, 2, 4, 0.5);
    ASSERT_TRUE(model);
    pmhmc_sampler_config cfg = nuts_test_config(1000, 4000, stream_seed(41));
    cfg.algorithm = PMHMC_ALGORITHM_PMHMC;
    cfg.steps = 10;
    pmhmc_sampler *raw = nullptr;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_sampler_create(model.get(), backend.get(), &cfg, nullptr, &raw, &err), PMHMC_OK) << err.message;
    Sampler s(raw);
    NutsRun r;
    for (size_t it = 0; it < cfg.warmup + cfg.iterations; ++it) {
        pmhmc_draw d{};
        ASSERT_EQ(pmhmc_sampler_step(s.get(), &d), PMHMC_OK);
        if (d.warmup) {
            if (it + cfg.adapt.term_buffer >= cfg.warmup)
                r.terminal_accept_stat += d.accept_stat / (double)cfg.adapt.term_buffer;
            continue;
        }
        r.theta.emplace_back(d.theta, d.theta + 2);
        r.mean_accept_stat += d.accept_stat / (double)cfg.iterations;
        EXPECT_EQ(d.n_leapfrog, 10u);
    }
    check_acceptance(r, "PM-HMC", 1.0);
    check_moments(r, mean, {1.0, 4.0}, "PM-HMC");
    EXPECT_NE(pmhmc_sampler_step_size(s.get()), 1.0) << "the step size was adapted";
}

} // namespace
