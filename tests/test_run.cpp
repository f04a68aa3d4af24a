// The library's run loop (include/pmhmc/run.h) driven directly, as a Python
// binding or an MPI driver would: chain k's draws against a sampler stepped
// alone on the same streams (bit-identical), what the callbacks are told and
// when, model.N = auto's choices, the stop flag, a callback's failure, a start
// that cannot be evaluated, and configs it refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "pmhmc/run.h"
#include "sampler_support.h"
#include "test_support.h"

using namespace pmhmc_test;

namespace {

// What the callbacks saw of one chain.
struct Seen {
    std::vector<double> rows;    // per saved draw: lp, then theta
    size_t transitions = 0, warmup_ends = 0, finishes = 0, starts = 0;
    std::vector<size_t> points;  // done, for every point
    int last_point_leaving = 0;
    pmhmc_run_start start{};
    pmhmc_run_warmup_end end{};
    std::vector<size_t> n_after_warmup; // the chain's model N at each saved draw
    double seconds[2] = {-1.0, -1.0};
};

struct Ctx {
    size_t dim = 0;
    std::atomic<size_t> total_transitions{0};
    size_t stop_after = SIZE_MAX;       // stop_requested once this many transitions ran in all
    size_t fail_chain = SIZE_MAX, fail_at = 0; // transition callback of fail_chain fails at fail_at
};

Ctx *ctx_of(void *p) { return static_cast<Ctx *>(p); }

pmhmc_status started(void *, const pmhmc_run_chain *chain, pmhmc_run_start *start, pmhmc_error *)
{
    Seen *s = static_cast<Seen *>(chain->user);
    s->starts++;
    s->start = *start;
    return PMHMC_OK;
}

pmhmc_status transition(void *p, const pmhmc_run_chain *chain, size_t it, const pmhmc_draw *draw, pmhmc_error *err)
{
    Ctx *c = ctx_of(p);
    Seen *s = static_cast<Seen *>(chain->user);
    if (chain->index == c->fail_chain && it == c->fail_at) {
        snprintf(err->message, sizeof err->message, "disk full at %zu", it);
        return PMHMC_ERR_IO;
    }
    s->transitions++;
    c->total_transitions++;
    if (!draw->warmup) {
        s->rows.push_back(draw->lp);
        s->rows.insert(s->rows.end(), draw->theta, draw->theta + c->dim);
        s->n_after_warmup.push_back(pmhmc_model_n_importance(chain->model));
    }
    return PMHMC_OK;
}

pmhmc_status warmup_done(void *, const pmhmc_run_chain *chain, const pmhmc_run_warmup_end *end, pmhmc_error *)
{
    Seen *s = static_cast<Seen *>(chain->user);
    s->warmup_ends++;
    s->end = *end;
    s->end.inv_metric = nullptr; // valid during the call only
    return PMHMC_OK;
}

pmhmc_status point(void *, const pmhmc_run_chain *chain, size_t done, int leaving, pmhmc_error *)
{
    Seen *s = static_cast<Seen *>(chain->user);
    s->points.push_back(done);
    s->last_point_leaving = leaving;
    return PMHMC_OK;
}

pmhmc_status finished(void *, const pmhmc_run_chain *chain, double w, double sm, pmhmc_error *)
{
    Seen *s = static_cast<Seen *>(chain->user);
    s->finishes++;
    s->seconds[0] = w;
    s->seconds[1] = sm;
    return PMHMC_OK;
}

int stop_requested(void *p)
{
    Ctx *c = ctx_of(p);
    return c->total_transitions.load() >= c->stop_after;
}

struct RunFixture : ::testing::Test {
    SmallGlmm glmm;
    Model model;
    Backend backend = cpu_backend();
    size_t dim = 0;
    Ctx ctx;

    void SetUp() override
    {
        glmm.make(12, 6, stream_seed(7));
        model = make_model("glmm", glmm.data.get(), 8, 3.0, 4.0, PMHMC_PROPOSAL_LAPLACE);
        dim = pmhmc_model_dim(model.get());
        ctx.dim = dim;
    }

    pmhmc_run_config config(size_t chains, std::vector<Seen> &seen, std::vector<void *> &users)
    {
        pmhmc_run_config c;
        pmhmc_run_config_default(&c);
        c.sampler = nuts_test_config(30, 20, stream_seed(11));
        c.chains = chains;
        seen.assign(chains, Seen{});
        users.resize(chains);
        for (size_t k = 0; k < chains; ++k)
            users[k] = &seen[k];
        c.chain_user = users.data();
        c.callbacks = {&ctx, started, transition, warmup_done, point, finished, nullptr, stop_requested};
        return c;
    }
};

// The saved draws of chain k of a sampler made and stepped alone from the
// model's start for (seed, k): what pmhmc_run must reproduce bit for bit.
std::vector<double> alone(const pmhmc_model *model, pmhmc_backend *backend, pmhmc_sampler_config sc, uint32_t k)
{
    sc.chain = k;
    pmhmc_sampler *raw = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_sampler_create(model, backend, &sc, nullptr, &raw, &err), PMHMC_OK) << err.message;
    Sampler s(raw);
    std::vector<double> rows;
    const size_t dim = pmhmc_model_dim(model);
    for (size_t it = 0; s && it < sc.warmup + sc.iterations; ++it) {
        pmhmc_draw d;
        EXPECT_EQ(pmhmc_sampler_step(s.get(), &d), PMHMC_OK);
        if (!d.warmup) {
            rows.push_back(d.lp);
            rows.insert(rows.end(), d.theta, d.theta + dim);
        }
    }
    return rows;
}

TEST_F(RunFixture, ChainsDrawWhatTheirSamplersDrawAloneWhateverTheNumberOfChains)
{
    std::vector<Seen> seen3, seen1;
    std::vector<void *> users3, users1;
    pmhmc_run_config c3 = config(3, seen3, users3);
    std::vector<pmhmc_run_chain_result> results(3);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_run(model.get(), backend.get(), &c3, results.data(), &err), PMHMC_OK) << err.message;
    pmhmc_run_config c1 = config(1, seen1, users1);
    ASSERT_EQ(pmhmc_run(model.get(), backend.get(), &c1, results.data(), &err), PMHMC_OK) << err.message;
    for (uint32_t k = 0; k < 3; ++k) {
        const std::vector<double> expected = alone(model.get(), backend.get(), c3.sampler, k);
        ASSERT_EQ(expected.size(), 20 * (dim + 1));
        ASSERT_EQ(seen3[k].rows.size(), expected.size()) << "chain " << k;
        EXPECT_EQ(std::memcmp(seen3[k].rows.data(), expected.data(), expected.size() * sizeof(double)), 0)
            << "chain " << k;
        if (k == 0) {
            ASSERT_EQ(seen1[0].rows.size(), expected.size());
            EXPECT_EQ(std::memcmp(seen1[0].rows.data(), expected.data(), expected.size() * sizeof(double)), 0);
        }
    }
    EXPECT_NE(seen3[0].rows, seen3[1].rows); // the chains are not one chain three times
}

// More chains than workers: each worker runs one chain at a time, and which
// worker runs which chain changes nothing.
TEST_F(RunFixture, ManyChainsOnFewWorkersDrawWhatEachDrawsAlone)
{
    const size_t K = 40;
    std::vector<Seen> pooled, serial;
    std::vector<void *> users_pooled, users_serial;
    pmhmc_run_config cp = config(K, pooled, users_pooled);
    cp.sampler.warmup = 10;
    cp.sampler.iterations = 10;
    cp.workers = 3;
    pmhmc_run_config cs = config(K, serial, users_serial);
    cs.sampler = cp.sampler;
    cs.workers = 1;
    EXPECT_EQ(pmhmc_run_workers(&cp), 3u);
    std::vector<pmhmc_run_chain_result> results(K);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_run(model.get(), backend.get(), &cp, results.data(), &err), PMHMC_OK) << err.message;
    ASSERT_EQ(pmhmc_run(model.get(), backend.get(), &cs, results.data(), &err), PMHMC_OK) << err.message;
    for (size_t k = 0; k < K; ++k) {
        ASSERT_EQ(pooled[k].rows.size(), 10 * (dim + 1)) << k;
        EXPECT_EQ(std::memcmp(pooled[k].rows.data(), serial[k].rows.data(), pooled[k].rows.size() * sizeof(double)), 0)
            << "chain " << k;
        EXPECT_EQ(pooled[k].finishes, 1u);
    }
    const std::vector<double> expected = alone(model.get(), backend.get(), cp.sampler, (uint32_t)(K - 3));
    ASSERT_EQ(expected.size(), pooled[K - 3].rows.size());
    EXPECT_EQ(std::memcmp(pooled[K - 3].rows.data(), expected.data(), expected.size() * sizeof(double)), 0);
}

TEST_F(RunFixture, CallbacksHearOfEveryStepOnce)
{
    std::vector<Seen> seen;
    std::vector<void *> users;
    pmhmc_run_config c = config(2, seen, users);
    std::vector<pmhmc_run_chain_result> results(2);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_run(model.get(), backend.get(), &c, results.data(), &err), PMHMC_OK) << err.message;
    for (size_t k = 0; k < 2; ++k) {
        const Seen &s = seen[k];
        EXPECT_EQ(results[k].status, PMHMC_OK);
        EXPECT_FALSE(results[k].stopped || results[k].cancelled);
        EXPECT_EQ(s.starts, 1u);
        EXPECT_EQ(s.start.n_importance, 0u); // model.N fixed: nothing chosen
        EXPECT_EQ(s.transitions, 50u);
        EXPECT_EQ(s.warmup_ends, 1u);
        EXPECT_EQ(s.end.adapted, 1);
        EXPECT_GT(s.end.step_size, 0.0);
        EXPECT_EQ(s.end.noise.reps, (size_t)PMHMC_RUN_NOISE_REPS);
        EXPECT_TRUE(std::isfinite(s.end.noise.sd_log_phat));
        EXPECT_EQ(s.end.n_importance, 8u);
        EXPECT_EQ(s.end.n_chosen, 0);
        // after each transition (1 .. 50), then once more leaving at 50
        ASSERT_EQ(s.points.size(), 51u);
        for (size_t i = 0; i < 50; ++i)
            EXPECT_EQ(s.points[i], i + 1);
        EXPECT_EQ(s.points[50], 50u);
        EXPECT_EQ(s.last_point_leaving, 1);
        EXPECT_EQ(s.finishes, 1u);
        EXPECT_GE(s.seconds[0], 0.0);
        EXPECT_GE(s.seconds[1], 0.0);
    }
}

// model.N = auto: a power of two for warm-up (at most 128) chosen at the
// start, another chosen where warm-up ends, and the saved draws come from a
// chain running with that one.
TEST_F(RunFixture, AutoNChoosesAtTheStartAndWhereWarmupEnds)
{
    Model most = make_model("glmm", glmm.data.get(), PMHMC_AUTO_N_MAX, 3.0, 4.0, PMHMC_PROPOSAL_LAPLACE);
    std::vector<Seen> seen;
    std::vector<void *> users;
    pmhmc_run_config c = config(2, seen, users);
    c.auto_n = 1;
    c.noise_target = 0.25;
    std::vector<pmhmc_run_chain_result> results(2);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_run(most.get(), backend.get(), &c, results.data(), &err), PMHMC_OK) << err.message;
    auto power_of_two = [](size_t n) { return n >= PMHMC_AUTO_N_MIN && (n & (n - 1)) == 0; };
    for (const Seen &s : seen) {
        EXPECT_TRUE(power_of_two(s.start.n_importance)) << s.start.n_importance;
        EXPECT_LE(s.start.n_importance, (size_t)PMHMC_AUTO_N_WARMUP_MAX);
        EXPECT_EQ(s.start.target, PMHMC_RUN_WARMUP_NOISE_TARGET); // max(0.25, 1.5)
        EXPECT_EQ(s.start.noise.reps, (size_t)PMHMC_RUN_NOISE_REPS);
        EXPECT_EQ(s.end.n_chosen, 1);
        EXPECT_TRUE(power_of_two(s.end.n_importance)) << s.end.n_importance;
        // the choice is the smallest that meets the target, or the most
        EXPECT_TRUE(s.end.noise.sd_log_phat <= 0.25 || s.end.n_importance == PMHMC_AUTO_N_MAX);
        ASSERT_EQ(s.n_after_warmup.size(), 20u);
        for (size_t n : s.n_after_warmup)
            EXPECT_EQ(n, s.end.n_importance);
    }
}

TEST_F(RunFixture, AStopRequestStopsEveryChainWithAPointToLeaveFrom)
{
    std::vector<Seen> seen;
    std::vector<void *> users;
    pmhmc_run_config c = config(3, seen, users);
    ctx.stop_after = 10;
    std::vector<pmhmc_run_chain_result> results(3);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_run(model.get(), backend.get(), &c, results.data(), &err), PMHMC_OK) << err.message;
    for (size_t k = 0; k < 3; ++k) {
        EXPECT_EQ(results[k].stopped, 1) << k;
        EXPECT_EQ(seen[k].finishes, 0u);
        ASSERT_FALSE(seen[k].points.empty());
        EXPECT_EQ(seen[k].last_point_leaving, 1);
        EXPECT_EQ(seen[k].points.back(), seen[k].transitions); // where it stopped
        EXPECT_LT(seen[k].transitions, 50u);
    }
}

TEST_F(RunFixture, ACallbackFailureFailsTheRunWithItsMessageAndStopsTheOthers)
{
    std::vector<Seen> seen;
    std::vector<void *> users;
    pmhmc_run_config c = config(3, seen, users);
    ctx.fail_chain = 1;
    ctx.fail_at = 5;
    std::vector<pmhmc_run_chain_result> results(3);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_run(model.get(), backend.get(), &c, results.data(), &err), PMHMC_ERR_IO);
    EXPECT_STREQ(err.message, "disk full at 5");
    EXPECT_EQ(results[1].status, PMHMC_ERR_IO);
    EXPECT_EQ(results[1].from_callback, 1);
    EXPECT_EQ(seen[1].transitions, 5u);
    EXPECT_EQ(seen[1].finishes, 0u);
    for (size_t k : {0u, 2u}) // each either finished before it heard, or was cancelled
        EXPECT_TRUE(results[k].status == PMHMC_OK && (results[k].cancelled || seen[k].finishes == 1)) << k;
}

TEST_F(RunFixture, AStartThatCannotBeEvaluatedNamesTheChainAndTheNote)
{
    std::vector<Seen> seen;
    std::vector<void *> users;
    pmhmc_run_config c = config(2, seen, users);
    std::vector<double> theta0(2 * dim);
    pmhmc_model_initial(model.get(), c.sampler.seed, 0, theta0.data());
    for (size_t i = 0; i < dim; ++i)
        theta0[dim + i] = NAN;
    c.theta0 = theta0.data();
    c.start_note = "its start includes a test's NaN";
    std::vector<pmhmc_run_chain_result> results(2);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_run(model.get(), backend.get(), &c, results.data(), &err), PMHMC_ERR_NUMERIC);
    const std::string msg = err.message;
    EXPECT_EQ(msg.rfind("chain 2: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("not finite"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(its start includes a test's NaN)"), std::string::npos) << msg;
    EXPECT_EQ(results[1].from_callback, 0);
    EXPECT_EQ(seen[1].starts, 0u);
}

TEST_F(RunFixture, RefusesWhatCannotRun)
{
    std::vector<Seen> seen;
    std::vector<void *> users;
    pmhmc_run_config c = config(1, seen, users);
    std::vector<pmhmc_run_chain_result> results(PMHMC_RUN_MAX_CHAINS + 1);
    pmhmc_error err{};
    c.chains = 0;
    EXPECT_EQ(pmhmc_run(model.get(), backend.get(), &c, results.data(), &err), PMHMC_ERR_CONFIG);
    c.chains = PMHMC_RUN_MAX_CHAINS + 1;
    EXPECT_EQ(pmhmc_run(model.get(), backend.get(), &c, results.data(), &err), PMHMC_ERR_CONFIG);
    c.chains = 1;
    c.workers = PMHMC_RUN_MAX_WORKERS + 1;
    EXPECT_EQ(pmhmc_run(model.get(), backend.get(), &c, results.data(), &err), PMHMC_ERR_CONFIG);
    c.workers = 0;
    EXPECT_EQ(pmhmc_run(model.get(), backend.get(), &c, nullptr, &err), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_run(nullptr, backend.get(), &c, results.data(), &err), PMHMC_ERR_ARG);
    c.auto_n = 1;
    c.noise_target = 0.0;
    EXPECT_EQ(pmhmc_run(model.get(), backend.get(), &c, results.data(), &err), PMHMC_ERR_CONFIG);
}

// ---- ChEES-HMC: chains in lock step ---------------------------------------------

// Saved theta of every chain, and what the run told of each.
struct ChainDraws {
    std::vector<double> theta; // iterations x dim
    std::vector<double> bytes; // lp, accept_stat, stepsize, n_leapfrog and theta of every saved draw
};

pmhmc_status keep_draws(void *ctx, const pmhmc_run_chain *chain, size_t, const pmhmc_draw *draw, pmhmc_error *)
{
    auto *all = static_cast<std::vector<ChainDraws> *>(ctx);
    ChainDraws &c = (*all)[chain->index];
    const size_t dim = pmhmc_model_dim(chain->model);
    if (!draw->warmup) {
        c.theta.insert(c.theta.end(), draw->theta, draw->theta + dim);
        c.bytes.insert(c.bytes.end(), {draw->lp, draw->accept_stat, draw->stepsize, (double)draw->n_leapfrog});
        c.bytes.insert(c.bytes.end(), draw->theta, draw->theta + dim);
    }
    return PMHMC_OK;
}

// K chains of ChEES-HMC from dispersed starts (mean + N(0, sd^2) per
// parameter, from the test's own generator).
std::vector<ChainDraws> run_chees(const pmhmc_model *model, pmhmc_backend *backend, size_t K, size_t warmup,
                                  size_t iterations, uint64_t seed, size_t workers, const std::vector<double> &mean,
                                  const std::vector<double> &sd, pmhmc_status *status = nullptr)
{
    const size_t dim = mean.size();
    pmhmc_run_config c;
    pmhmc_run_config_default(&c);
    c.sampler.algorithm = PMHMC_ALGORITHM_CHEES;
    c.sampler.adapt.engaged = 1;
    c.sampler.warmup = warmup;
    c.sampler.iterations = iterations;
    c.sampler.step_size = 0.5;
    c.sampler.mass = 1.0;
    c.sampler.seed = seed;
    c.chains = K;
    c.workers = workers;
    std::vector<double> theta0(K * dim);
    TestRng rng(seed + 17);
    for (size_t k = 0; k < K; ++k)
        for (size_t i = 0; i < dim; ++i)
            theta0[k * dim + i] = mean[i] + sd[i] * rng.normal();
    c.theta0 = theta0.data();
    std::vector<ChainDraws> all(K);
    c.callbacks.ctx = &all;
    c.callbacks.transition = keep_draws;
    std::vector<pmhmc_run_chain_result> results(K);
    pmhmc_error err{};
    pmhmc_status st = pmhmc_run(model, backend, &c, results.data(), &err);
    if (status)
        *status = st;
    else
        EXPECT_EQ(st, PMHMC_OK) << err.message;
    return all;
}

// Means and variances against the closed form, by batch means over chains:
// the chains are independent given the shared tuning, so the mean over
// chains of each chain's average of x (and of (x - mu)^2) has the standard
// error of K independent values. family_z bounds every check of a run at a
// family-wise 1e-4.
void check_moments_over_chains(const std::vector<ChainDraws> &all, const std::vector<double> &mean,
                               const std::vector<double> &var, const std::string &what)
{
    const size_t dim = mean.size(), K = all.size();
    const double z = family_z(2 * dim);
    for (size_t i = 0; i < dim; ++i) {
        std::vector<double> m(K, 0.0), v(K, 0.0);
        for (size_t k = 0; k < K; ++k) {
            const size_t n = all[k].theta.size() / dim;
            for (size_t t = 0; t < n; ++t) {
                const double x = all[k].theta[t * dim + i];
                m[k] += x / (double)n;
                v[k] += (x - mean[i]) * (x - mean[i]) / (double)n;
            }
        }
        const double se_m = std::sqrt(variance_of(m) / (double)K), se_v = std::sqrt(variance_of(v) / (double)K);
        EXPECT_LT(std::fabs(mean_of(m) - mean[i]), z * se_m) << what << " mean " << i << ": " << mean_of(m);
        EXPECT_LT(std::fabs(mean_of(v) - var[i]), z * se_v) << what << " var " << i << ": " << mean_of(v);
    }
}

TEST(RunChees, GaussiansHaveTheirClosedFormMoments)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = cpu_backend();
    {   // correlated, scales 1 and 2
        const std::vector<double> mean = {1.0, -2.0}, cov = {1.0, 1.8, 1.8, 4.0};
        Model model = gaussian_model(2, mean, cov, 2, 4, 0.5);
        auto all = run_chees(model.get(), backend.get(), 64, 200, 40, stream_seed(5), 2, mean, {1.0, 2.0});
        check_moments_over_chains(all, mean, {1.0, 4.0}, "correlated 2-d");
    }
    {   // 10 independent coordinates, scales 0.2 to 5
        const size_t dim = 10;
        std::vector<double> mean(dim), cov(dim * dim, 0.0), var(dim), sd(dim);
        for (size_t i = 0; i < dim; ++i) {
            mean[i] = (double)i - 4.0;
            sd[i] = 0.2 * std::pow(25.0, (double)i / 9.0);
            var[i] = cov[i * dim + i] = sd[i] * sd[i];
        }
        Model model = gaussian_model(dim, mean, cov, 2, 4, 0.5);
        auto all = run_chees(model.get(), backend.get(), 64, 200, 40, stream_seed(9), 2, mean, sd);
        check_moments_over_chains(all, mean, var, "scaled 10-d");
    }
}

// The chains move together (one shared step size and trajectory length), so
// a chain's draws depend on every chain, but not on how many threads run
// them: 1 and 4 workers give the same bytes.
TEST(RunChees, DrawsDoNotDependOnTheWorkers)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = cpu_backend();
    const std::vector<double> mean = {0.5, 0.0, -1.0}, cov = {1, 0, 0, 0, 2, 0, 0, 0, 0.5};
    Model model = gaussian_model(3, mean, cov, 2, 4, 0.5);
    auto one = run_chees(model.get(), backend.get(), 12, 30, 10, stream_seed(3), 1, mean, {1, 1, 1});
    auto four = run_chees(model.get(), backend.get(), 12, 30, 10, stream_seed(3), 4, mean, {1, 1, 1});
    for (size_t k = 0; k < 12; ++k) {
        ASSERT_EQ(one[k].bytes.size(), 10u * 7u);
        EXPECT_EQ(std::memcmp(one[k].bytes.data(), four[k].bytes.data(), one[k].bytes.size() * sizeof(double)), 0)
            << "chain " << k;
    }
    // one step size for every chain, and jittered trajectories (not all the same length)
    std::vector<double> steps, lengths;
    for (const auto &c : one)
        for (size_t t = 0; t < 10; ++t) {
            steps.push_back(c.bytes[t * 7 + 2]);
            lengths.push_back(c.bytes[t * 7 + 3]);
        }
    EXPECT_EQ(*std::min_element(steps.begin(), steps.end()), *std::max_element(steps.begin(), steps.end()));
    EXPECT_LT(*std::min_element(lengths.begin(), lengths.end()), *std::max_element(lengths.begin(), lengths.end()));
}

// normal_re (30 groups of 5) with the laplace estimator at N = 16: the
// pseudo-marginal chains in lock step have the posterior moments of
// (mu, log_tau) that quadrature of the exact likelihood gives.
TEST(RunChees, NormalReMatchesQuadrature)
{
    ThreadCountGuard guard;
    set_threads(1);
    Backend backend = cpu_backend();
    pmhmc_dataset *raw = nullptr;
    ASSERT_PMHMC_OK(pmhmc_simulate_normal_re(30, 5, 1.0, 0.8, 3, &raw));
    Dataset data(raw);
    const Moments2 exact = normal_re_exact_moments(group_stats(grouped_from(data.get())), 100.0);
    Model model = make_model("normal_re", data.get(), 16, 3.0, 100.0, PMHMC_PROPOSAL_LAPLACE);
    ASSERT_TRUE(model);
    const std::vector<double> mean = {exact.mean[0], exact.mean[1]};
    const std::vector<double> sd = {std::sqrt(exact.var[0]), std::sqrt(exact.var[1])};
    auto all = run_chees(model.get(), backend.get(), 64, 200, 40, stream_seed(13), 2, mean, sd);
    check_moments_over_chains(all, mean, {exact.var[0], exact.var[1]}, "normal_re");
}

TEST(RunChees, OneChainIsRefused)
{
    Backend backend = cpu_backend();
    const std::vector<double> mean = {0.0}, cov = {1.0};
    Model model = gaussian_model(1, mean, cov, 2, 4, 0.5);
    pmhmc_status st = PMHMC_OK;
    run_chees(model.get(), backend.get(), 1, 10, 10, 1, 1, mean, {1.0}, &st);
    EXPECT_EQ(st, PMHMC_ERR_CONFIG);
}

} // namespace
