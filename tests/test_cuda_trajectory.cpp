// The CUDA backend's device-side trajectories (the optional backend op
// `integrate`, kernels/traj_device.cuh) against the host loop of
// src/sampler/integrator.c, which stays the reference:
//   * CUDA double, modes `device` and `graph`, against the CPU backend's host
//     loop: theta, rho, log phat, u and p after each of three consecutive
//     trajectories (the second is captured into a graph, the third replays
//     it, a fourth with another step size runs uncaptured), to 1e-11 of
//     max(1, |value|);
//   * the same against the CUDA backend's own host loop
//     (PMHMC_CUDA_TRAJECTORY=host): the same kernels, so to 1e-13 (only the
//     mixture/tau of later steps is derived on the device instead of the
//     host: an ulp of exp or log1p);
//   * CUDA float, device and graph, against the CUDA float host loop, to
//     2e-6 relative (same kernels, float storage);
//   * a step size so large that log phat turns non-finite (on the CPU too):
//     the trajectory stops where the CUDA host loop stops (same theta, rho,
//     u, p, a non-finite log phat) and the workspace then runs ordinary
//     trajectories that match the CPU's;
//   * a bad PMHMC_CUDA_TRAJECTORY or PMHMC_CUDA_GLMM_VARIANT value fails
//     backend creation with PMHMC_ERR_CONFIG.
// The models: the GLMM (T = 30, n = 6, p = 3, N = 64) and normal_re (T = 20,
// n = 5, N = 32). Each case skips without a usable GPU and fails instead when
// PMHMC_REQUIRE_GPU=1.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" {
#include "sampler/integrator.h"
}

#include "test_support.h"

using namespace pmhmc_test;

namespace {

struct Problem {
    Dataset data;
    Model model;
    size_t dim = 0;
};

Problem glmm_problem()
{
    Problem pr;
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.T = 30;
    sim.n = 6;
    sim.p = 3;
    sim.seed = 4;
    pmhmc_dataset *raw = nullptr;
    EXPECT_EQ(pmhmc_simulate_glmm(&sim, &raw, nullptr), PMHMC_OK);
    pr.data.reset(raw);
    pr.model = make_model("glmm", pr.data.get(), 64);
    pr.dim = pmhmc_model_dim(pr.model.get());
    return pr;
}

Problem normal_re_problem()
{
    Problem pr;
    pmhmc_dataset *raw = nullptr;
    EXPECT_EQ(pmhmc_simulate_normal_re(20, 5, 1.0, 0.8, 9, &raw), PMHMC_OK);
    pr.data.reset(raw);
    pr.model = make_model("normal_re", pr.data.get(), 32);
    pr.dim = pmhmc_model_dim(pr.model.get());
    return pr;
}

// One chain of trajectories on one backend: theta, rho on the host, u and p
// (vectors 0 and 1) drawn from fixed streams.
struct Chain {
    Workspace ws;
    std::vector<double> theta, rho, inv_mass, grad, prior_grad, u, p;
    double log_phat = 0.0, log_prior = 0.0;

    Chain(pmhmc_backend *b, const Problem &pr)
    {
        ws = make_workspace(b, pr.model.get(), 2);
        reset(pr);
    }

    // The fixed start: theta, rho, u, p, and no log phat yet.
    void reset(const Problem &pr)
    {
        rho.clear();
        inv_mass.clear();
        log_phat = log_prior = 0.0;
        theta.assign(pr.dim, 0.0);
        pmhmc_model_initial(pr.model.get(), 3, 0, theta.data());
        TestRng rng(77);
        for (size_t i = 0; i < pr.dim; ++i) {
            rho.push_back(0.7 * rng.normal());
            inv_mass.push_back(0.05 + 0.01 * (double)i);
        }
        grad.assign(pr.dim, 0.0);
        prior_grad.assign(pr.dim, 0.0);
        EXPECT_EQ(pmhmc_ws_normal(ws.get(), 0, 5, 0, 1), PMHMC_OK);
        EXPECT_EQ(pmhmc_ws_normal(ws.get(), 1, 5, 0, 2), PMHMC_OK);
    }

    // Integrates and downloads u and p.
    void integrate(const Problem &pr, double h, size_t steps)
    {
        pmhmc_integrator integ{pr.model.get(), ws.get(), inv_mass.data(), grad.data(), prior_grad.data(), nullptr, nullptr};
        pmhmc_phase_point z{theta.data(), rho.data(), 0, 1, log_prior, log_phat};
        ASSERT_EQ(pmhmc_integrate(&integ, &z, h, steps), PMHMC_OK);
        log_phat = z.log_phat;
        log_prior = z.log_prior;
        const size_t L = pmhmc_workspace_length(ws.get());
        u.assign(L, 0.0);
        p.assign(L, 0.0);
        ASSERT_EQ(pmhmc_ws_download(ws.get(), 0, u.data()), PMHMC_OK);
        ASSERT_EQ(pmhmc_ws_download(ws.get(), 1, p.data()), PMHMC_OK);
    }
};

// |got - want| <= rtol max(1, |want|), element-wise; a non-finite reference
// must be matched exactly (NaN by NaN).
void expect_close(const std::string &what, const std::vector<double> &got, const std::vector<double> &want,
                  double rtol)
{
    ASSERT_EQ(got.size(), want.size()) << what;
    int failures = 0;
    for (size_t i = 0; i < got.size() && failures < 5; ++i) {
        bool ok;
        if (std::isnan(want[i]))
            ok = std::isnan(got[i]);
        else if (!std::isfinite(want[i]))
            ok = got[i] == want[i];
        else
            ok = std::isfinite(got[i]) && std::fabs(got[i] - want[i]) <= rtol * std::max(1.0, std::fabs(want[i]));
        if (!ok) {
            ++failures;
            ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", want " << want[i] << " (|diff| "
                          << std::fabs(got[i] - want[i]) << ", rtol " << rtol << ")";
        }
    }
}

void expect_same_state(const std::string &what, const Chain &got, const Chain &want, double rtol)
{
    expect_close(what + " log_phat", {got.log_phat}, {want.log_phat}, rtol);
    expect_close(what + " log_prior", {got.log_prior}, {want.log_prior}, rtol);
    expect_close(what + " theta", got.theta, want.theta, rtol);
    expect_close(what + " rho", got.rho, want.rho, rtol);
    expect_close(what + " u", got.u, want.u, rtol);
    expect_close(what + " p", got.p, want.p, rtol);
}

// The sequence of trajectories every comparison runs: (h, L) pairs. The
// repeated first pair is captured on its second use and replayed on its
// third; the last differs, so it runs uncaptured after a capture.
struct Leg {
    double h;
    size_t steps;
};

void compare_modes(const Problem &pr, const std::vector<Leg> &legs, pmhmc_precision precision, double rtol_cpu,
                   double rtol_host_loop)
{
    ASSERT_TRUE(pr.model);
    Backend cpu = cpu_backend();
    Backend host_loop = cuda_backend(precision, "host");
    ASSERT_TRUE(cpu && host_loop);
    Chain ref(cpu.get(), pr), loop(host_loop.get(), pr);
    std::vector<Backend> backends;
    std::vector<Chain> runs;
    const char *modes[] = {"device", "graph"};
    for (const char *m : modes) {
        backends.push_back(cuda_backend(precision, m));
        ASSERT_TRUE(backends.back());
    }
    for (size_t i = 0; i < backends.size(); ++i)
        runs.emplace_back(backends[i].get(), pr);
    for (size_t leg = 0; leg < legs.size(); ++leg) {
        const std::string tag = "trajectory " + std::to_string(leg) + " (h " + std::to_string(legs[leg].h) + ")";
        if (precision == PMHMC_PRECISION_DOUBLE) {
            ASSERT_NO_FATAL_FAILURE(ref.integrate(pr, legs[leg].h, legs[leg].steps));
        }
        ASSERT_NO_FATAL_FAILURE(loop.integrate(pr, legs[leg].h, legs[leg].steps));
        for (size_t i = 0; i < runs.size(); ++i) {
            ASSERT_NO_FATAL_FAILURE(runs[i].integrate(pr, legs[leg].h, legs[leg].steps));
            if (precision == PMHMC_PRECISION_DOUBLE) {
                expect_same_state(std::string(modes[i]) + " vs CPU host loop, " + tag, runs[i], ref, rtol_cpu);
            }
            expect_same_state(std::string(modes[i]) + " vs CUDA host loop, " + tag, runs[i], loop, rtol_host_loop);
        }
        if (precision == PMHMC_PRECISION_DOUBLE) {
            expect_same_state("CUDA host loop vs CPU host loop, " + tag, loop, ref, rtol_cpu);
        }
        if (::testing::Test::HasFailure())
            return;
    }
}

const std::vector<Leg> kLegs = {{0.05, 7}, {0.05, 7}, {0.05, 7}, {0.03, 5}, {0.05, 7}};

} // namespace

TEST(CudaTrajectory, GlmmDoubleMatchesHostLoop)
{
    SKIP_WITHOUT_GPU();
    Problem pr = glmm_problem();
    compare_modes(pr, kLegs, PMHMC_PRECISION_DOUBLE, 1e-11, 1e-13);
}

TEST(CudaTrajectory, NormalReDoubleMatchesHostLoop)
{
    SKIP_WITHOUT_GPU();
    Problem pr = normal_re_problem();
    compare_modes(pr, {{0.2, 6}, {0.2, 6}, {0.2, 6}, {0.1, 3}}, PMHMC_PRECISION_DOUBLE, 1e-11, 1e-13);
}

TEST(CudaTrajectory, GlmmFloatMatchesFloatHostLoop)
{
    SKIP_WITHOUT_GPU();
    Problem pr = glmm_problem();
    compare_modes(pr, kLegs, PMHMC_PRECISION_FLOAT, 0.0, 2e-6);
}

// h = 1e3 leaves the floating-point range within a few steps (as in
// Sampler.NonFiniteProposalIsARejection): the device-side trajectory must
// stop at the same step as the host loop, with the same state.
TEST(CudaTrajectory, NonFiniteStopMatchesHostLoop)
{
    SKIP_WITHOUT_GPU();
    Problem pr = glmm_problem();
    ASSERT_TRUE(pr.model);
    Backend cpu = cpu_backend();
    Chain cpu_ref(cpu.get(), pr);
    ASSERT_NO_FATAL_FAILURE(cpu_ref.integrate(pr, 1e3, 3));
    ASSERT_FALSE(std::isfinite(cpu_ref.log_phat)) << "the test needs a trajectory that turns non-finite";
    // The reference for the stop itself is the CUDA host loop (the same
    // kernels): at |theta| ~ 1e9 the CPU's and the GPU's libm may overflow
    // at different steps, which says nothing about the trajectory op.
    Backend host_loop = cuda_backend(PMHMC_PRECISION_DOUBLE, "host");
    ASSERT_TRUE(host_loop);
    Chain ref(host_loop.get(), pr);
    ASSERT_NO_FATAL_FAILURE(ref.integrate(pr, 1e3, 3));
    EXPECT_FALSE(std::isfinite(ref.log_phat)) << "the CUDA host loop stays finite where the CPU's does not";
    Chain good(cpu.get(), pr);
    ASSERT_NO_FATAL_FAILURE(good.integrate(pr, 0.01, 2));
    for (const char *mode : {"device", "graph"}) {
        Backend b = cuda_backend(PMHMC_PRECISION_DOUBLE, mode);
        ASSERT_TRUE(b);
        Chain run(b.get(), pr);
        for (int rep = 0; rep < 3; ++rep) { /* graph: uncaptured, captured, replayed */
            run.reset(pr);
            ASSERT_NO_FATAL_FAILURE(run.integrate(pr, 1e3, 3));
            EXPECT_FALSE(std::isfinite(run.log_phat)) << mode << " rep " << rep;
            expect_same_state(std::string(mode) + " stop, rep " + std::to_string(rep), run, ref, 1e-11);
        }
        // The same workspace still runs ordinary trajectories after a stop.
        run.reset(pr);
        ASSERT_NO_FATAL_FAILURE(run.integrate(pr, 0.01, 2));
        expect_same_state(std::string(mode) + " after a stop", run, good, 1e-11);
    }
}

TEST(CudaTrajectory, BadEnvironmentChoicesAreConfigErrors)
{
    SKIP_WITHOUT_GPU();
    for (const char *var : {"PMHMC_CUDA_TRAJECTORY", "PMHMC_CUDA_GLMM_VARIANT"}) {
        EnvGuard env(var, "no-such-choice");
        pmhmc_backend *b = nullptr;
        pmhmc_error err{};
        EXPECT_EQ(pmhmc_backend_create(PMHMC_BACKEND_CUDA, PMHMC_PRECISION_FLOAT, &b, &err), PMHMC_ERR_CONFIG) << var;
        EXPECT_NE(std::string(err.message).find(var), std::string::npos) << err.message;
        pmhmc_backend_free(b);
    }
}
