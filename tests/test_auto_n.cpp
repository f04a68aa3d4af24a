// model.N = auto's parts in the library: pmhmc_choose_n_importance against
// its rule computed here from pmhmc_log_phat_noise at every N, and
// pmhmc_sampler_set_model against a sampler created with the new model.
// The CLI's use of both (header lines, resume across the end of warm-up)
// is Resume.AutoNAcrossTheEndOfWarmUpGivesTheSameBytes (test_checkpoint.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "sampler_support.h"
#include "test_support.h"

using namespace pmhmc_test;

// The rule, computed independently: the sd at N = 2, 4, ..., 1024 with the
// same seed and repetitions, then the first N at or below the target (the
// largest allowed when none is). The fixed proposal's sd falls about as
// 1/sqrt(N) over the whole range, so targets between consecutive values
// pick every N in turn; the chosen model's noise must be that N's to the
// bit (the same estimates).
TEST(ChooseN, TakesTheSmallestPowerOfTwoWhoseNoiseMeetsTheTarget)
{
    SmallGlmm g;
    g.make(30, 4, 3);
    Backend backend = cpu_backend();
    Model like = make_model("glmm", g.data.get(), 7, 3.0, 4.0, PMHMC_PROPOSAL_FIXED);
    ASSERT_TRUE(like);
    const size_t reps = 12;
    const uint64_t seed = stream_seed(5);
    std::vector<size_t> ns;
    std::vector<double> sd;
    for (size_t n = PMHMC_AUTO_N_MIN; n <= PMHMC_AUTO_N_MAX; n *= 2) {
        pmhmc_model *m = nullptr;
        ASSERT_PMHMC_OK(pmhmc_model_with_n_importance(like.get(), n, &m, nullptr));
        Model owned(m);
        EXPECT_EQ(pmhmc_model_n_importance(m), n);
        pmhmc_noise noise;
        ASSERT_PMHMC_OK(pmhmc_log_phat_noise(backend.get(), m, g.truth.data(), reps, seed, &noise, nullptr));
        ns.push_back(n);
        sd.push_back(noise.sd_log_phat);
    }
    ASSERT_GT(sd.front(), 4.0 * sd.back()) << "the fixed proposal's noise should fall with N";

    std::vector<double> targets = {1e-9, 1e9};
    for (double s : sd)
        targets.insert(targets.end(), {s, s * 1.0001, s * 0.9999});
    for (size_t n_max : {size_t(PMHMC_AUTO_N_MAX), size_t(PMHMC_AUTO_N_WARMUP_MAX), size_t(2)}) {
        for (double target : targets) {
            SCOPED_TRACE("target " + std::to_string(target) + ", n_max " + std::to_string(n_max));
            size_t want = n_max, at = 0;
            for (size_t i = 0; i < ns.size() && ns[i] <= n_max; ++i)
                if (sd[i] <= target) {
                    want = ns[i];
                    break;
                }
            while (ns[at] != want)
                ++at;
            pmhmc_model *chosen = nullptr;
            pmhmc_noise noise;
            ASSERT_PMHMC_OK(pmhmc_choose_n_importance(backend.get(), like.get(), g.truth.data(), target, n_max, reps,
                                                      seed, &chosen, &noise, nullptr));
            Model owned(chosen);
            EXPECT_EQ(pmhmc_model_n_importance(chosen), want);
            EXPECT_EQ(noise.sd_log_phat, sd[at]);
            EXPECT_EQ(noise.reps, reps);
        }
    }

    // The largest N must be a power of two in range; the target positive.
    pmhmc_model *chosen = nullptr;
    pmhmc_noise noise;
    pmhmc_error err{};
    for (size_t bad : {size_t(0), size_t(1), size_t(24), size_t(2 * PMHMC_AUTO_N_MAX)}) {
        EXPECT_EQ(pmhmc_choose_n_importance(backend.get(), like.get(), g.truth.data(), 1.0, bad, reps, seed, &chosen,
                                            &noise, &err),
                  PMHMC_ERR_ARG);
        EXPECT_EQ(chosen, nullptr);
        EXPECT_NE(std::string(err.message).find("power of two"), std::string::npos) << err.message;
    }
    EXPECT_EQ(pmhmc_choose_n_importance(backend.get(), like.get(), g.truth.data(), 0.0, 16, reps, seed, &chosen,
                                        &noise, &err),
              PMHMC_ERR_ARG);
}

// After pmhmc_sampler_set_model the chain is where a sampler created with
// the new model at the same theta would be (u drawn as at creation, the
// estimate and its gradients evaluated there): the two make the same
// transitions, bit for bit, for every algorithm that carries u. A model of
// other parameters is refused and changes nothing.
TEST(SetModel, TheChainContinuesAsASamplerCreatedWithTheNewModel)
{
    SmallGlmm g;
    g.make(25, 4, 9);
    Backend backend = cpu_backend();
    Model small = make_model("glmm", g.data.get(), 4, 3.0, 4.0, PMHMC_PROPOSAL_LAPLACE);
    Model large = make_model("glmm", g.data.get(), 16, 3.0, 4.0, PMHMC_PROPOSAL_LAPLACE);
    ASSERT_TRUE(small && large);
    GroupedData other;
    other.start = {0, 2, 4};
    other.y = {0.3, -0.2, 1.1, 0.8};
    Dataset other_data = make_dataset(other);
    Model normal_re = make_model("normal_re", other_data.get(), 4);
    ASSERT_TRUE(normal_re);

    for (pmhmc_algorithm algorithm : {PMHMC_ALGORITHM_PMHMC, PMHMC_ALGORITHM_PMNUTS}) {
        SCOPED_TRACE(algorithm == PMHMC_ALGORITHM_PMHMC ? "pmhmc" : "pmnuts");
        pmhmc_sampler_config sc;
        pmhmc_sampler_config_default(&sc);
        sc.algorithm = algorithm;
        sc.warmup = 0;
        sc.iterations = 6;
        sc.step_size = 0.05;
        sc.steps = 5;
        sc.mass = 1.0;
        sc.max_depth = 6;
        sc.seed = stream_seed(21);
        pmhmc_sampler *raw = nullptr;
        ASSERT_PMHMC_OK(pmhmc_sampler_create(small.get(), backend.get(), &sc, g.truth.data(), &raw, nullptr));
        Sampler moved(raw);
        ASSERT_PMHMC_OK(pmhmc_sampler_create(large.get(), backend.get(), &sc, g.truth.data(), &raw, nullptr));
        Sampler fresh(raw);

        pmhmc_error err{};
        EXPECT_EQ(pmhmc_sampler_set_model(moved.get(), normal_re.get(), &err), PMHMC_ERR_ARG);
        EXPECT_NE(std::string(err.message).find("parameters"), std::string::npos) << err.message;
        ASSERT_PMHMC_OK(pmhmc_sampler_set_model(moved.get(), large.get(), nullptr));
        EXPECT_EQ(pmhmc_sampler_state_size(moved.get()), pmhmc_sampler_state_size(fresh.get()));

        const size_t dim = pmhmc_model_dim(large.get());
        for (size_t it = 0; it < sc.iterations; ++it) {
            pmhmc_draw a, b;
            ASSERT_PMHMC_OK(pmhmc_sampler_step(moved.get(), &a));
            ASSERT_PMHMC_OK(pmhmc_sampler_step(fresh.get(), &b));
            EXPECT_EQ(std::memcmp(a.theta, b.theta, dim * sizeof(double)), 0) << "transition " << it;
            EXPECT_EQ(a.lp, b.lp) << "transition " << it;
            EXPECT_EQ(a.energy, b.energy) << "transition " << it;
            EXPECT_EQ(a.accept_stat, b.accept_stat) << "transition " << it;
        }
    }
}
