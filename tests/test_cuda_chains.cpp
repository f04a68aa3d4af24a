// Several chains on one backend, stepped concurrently from host threads
// (include/pmhmc/backend.h, "Threads"): each chain's draws must be the same,
// bit for bit, as the same chain stepped alone. A data race between chains
// (shared scratch, a shared stream, one thread's graph capture swallowing
// another's launches, a shared reduction counter) shows up as a draw that
// differs or as a failed step.
//
//   CudaChains.*  K = 4 samplers (chains 0..3, one seed) on one CUDA backend,
//                 in double and float, in each trajectory mode (graph, the
//                 default; device; host): first every chain alone, one after
//                 the other; then the 4 chains from 4 std::threads, twice:
//                 round 1 creates each sampler inside its thread (creation
//                 overlaps other threads' steps and graph captures), round 2
//                 creates them first and releases the threads together.
//                 Skips without a usable GPU; fails with PMHMC_REQUIRE_GPU=1.
//   CpuChains.*   the same with 2 std::threads on the CPU backend (runs
//                 everywhere). The data are large enough that every op takes
//                 its OpenMP path, so OpenMP regions run nested inside the
//                 std::threads; the sequential reference runs with 1 OpenMP
//                 thread and the threads with 2 each (the CPU backend's bits
//                 do not depend on the thread count), and round 2 steps
//                 workspaces created on the main thread (1 OpenMP thread)
//                 from threads whose own omp_get_max_threads() may be larger.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

using namespace pmhmc_test;

namespace {

// Everything a transition reports, for every transition.
struct ChainRun {
    pmhmc_status status = PMHMC_OK;
    std::string error;
    size_t steps_done = 0;
    int omp_threads_seen = 0; // omp_get_max_threads() in the stepping thread, before any change
    std::vector<double> theta, lp, accept_stat, energy;
    std::vector<int> accepted;
};

void record(ChainRun &out, const pmhmc_draw &d, size_t dim)
{
    out.theta.insert(out.theta.end(), d.theta, d.theta + dim);
    out.lp.push_back(d.lp);
    out.accept_stat.push_back(d.accept_stat);
    out.energy.push_back(d.energy);
    out.accepted.push_back(d.accepted);
}

pmhmc_sampler *create_sampler(const pmhmc_model *model, pmhmc_backend *backend, const pmhmc_sampler_config &cfg,
                              ChainRun &out)
{
    pmhmc_sampler *s = nullptr;
    pmhmc_error err{};
    out.status = pmhmc_sampler_create(model, backend, &cfg, nullptr, &s, &err);
    if (out.status != PMHMC_OK)
        out.error = std::string("create: ") + err.message;
    return s;
}

void step_all(pmhmc_sampler *s, const pmhmc_model *model, size_t n, ChainRun &out)
{
    const size_t dim = pmhmc_model_dim(model);
    for (size_t it = 0; it < n; ++it) {
        pmhmc_draw d{};
        out.status = pmhmc_sampler_step(s, &d);
        if (out.status != PMHMC_OK) {
            out.error = "step " + std::to_string(it) + ": " + pmhmc_status_str(out.status);
            return;
        }
        record(out, d, dim);
        out.steps_done++;
    }
}

// A start line for n threads: each waits until all have arrived.
class StartLine {
public:
    explicit StartLine(int n) : n_(n) {}
    void arrive_and_wait()
    {
        arrived_.fetch_add(1);
        while (arrived_.load() < n_)
            std::this_thread::yield();
    }

private:
    int n_;
    std::atomic<int> arrived_{0};
};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Compares two runs of one chain bit for bit; reports the first differences.
void expect_identical(const ChainRun &got, const ChainRun &want, size_t dim, const std::string &what)
{
    ASSERT_EQ(want.status, PMHMC_OK) << what << " (reference): " << want.error;
    ASSERT_EQ(got.status, PMHMC_OK) << what << ": " << got.error;
    ASSERT_EQ(got.steps_done, want.steps_done) << what;
    int reported = 0;
    for (size_t it = 0; it < want.steps_done && reported < 5; ++it) {
        bool same = got.accepted[it] == want.accepted[it] && same_bits(got.lp[it], want.lp[it]) &&
                    same_bits(got.accept_stat[it], want.accept_stat[it]) &&
                    same_bits(got.energy[it], want.energy[it]);
        for (size_t i = 0; i < dim; ++i)
            same = same && same_bits(got.theta[it * dim + i], want.theta[it * dim + i]);
        if (!same) {
            ++reported;
            std::string th;
            for (size_t i = 0; i < dim && i < 3; ++i)
                th += " " + std::to_string(got.theta[it * dim + i]) + "/" + std::to_string(want.theta[it * dim + i]);
            ADD_FAILURE() << what << ": transition " << it << " differs from the chain run alone: lp "
                          << sci(got.lp[it]) << " vs " << sci(want.lp[it]) << ", accepted " << got.accepted[it]
                          << " vs " << want.accepted[it] << ", theta[0..2] (concurrent/alone)" << th;
        }
    }
}

// The K-chain check on one backend: alone, then K threads twice.
void check_chains(const pmhmc_model *model, pmhmc_backend *backend, pmhmc_sampler_config cfg, int K, size_t n,
                  int omp_alone, int omp_threaded)
{
    const size_t dim = pmhmc_model_dim(model);
    std::vector<ChainRun> alone(K);
    if (omp_alone > 0)
        set_threads(omp_alone);
    for (int k = 0; k < K; ++k) {
        cfg.chain = (uint32_t)k;
        pmhmc_sampler *s = create_sampler(model, backend, cfg, alone[k]);
        if (s)
            step_all(s, model, n, alone[k]);
        pmhmc_sampler_free(s);
        ASSERT_EQ(alone[k].status, PMHMC_OK) << "chain " << k << " alone: " << alone[k].error;
    }
    // The comparison means something only if the chains move and differ.
    int accepted = 0;
    for (int k = 0; k < K; ++k)
        for (int a : alone[k].accepted)
            accepted += a;
    EXPECT_GT(accepted, 0) << "no chain moved: the comparison would be weak";
    bool differ = false;
    for (size_t i = 0; i < alone[0].theta.size(); ++i)
        differ = differ || !same_bits(alone[0].theta[i], alone[1].theta[i]);
    EXPECT_TRUE(differ) << "chains 0 and 1 drew the same: the chain index must select the streams";

    for (int round = 1; round <= 2; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        std::vector<ChainRun> got(K);
        std::vector<pmhmc_sampler *> pre(K, nullptr);
        if (round == 2) { // created on this thread, stepped from the others
            for (int k = 0; k < K; ++k) {
                cfg.chain = (uint32_t)k;
                pre[k] = create_sampler(model, backend, cfg, got[k]);
                ASSERT_NE(pre[k], nullptr) << got[k].error;
            }
        }
        StartLine start(K);
        std::vector<std::thread> threads;
        for (int k = 0; k < K; ++k) {
            threads.emplace_back([&, k, round]() {
                got[k].omp_threads_seen = max_threads();
                if (omp_threaded > 0 && round == 1)
                    set_threads(omp_threaded);
                pmhmc_sampler *s = pre[k];
                if (round == 1) {
                    pmhmc_sampler_config c = cfg;
                    c.chain = (uint32_t)k;
                    s = create_sampler(model, backend, c, got[k]);
                }
                if (round == 2)
                    start.arrive_and_wait();
                if (s)
                    step_all(s, model, n, got[k]);
                if (round == 1)
                    pmhmc_sampler_free(s);
            });
        }
        for (std::thread &t : threads)
            t.join();
        for (int k = 0; k < K; ++k) {
            pmhmc_sampler_free(pre[k]);
            expect_identical(got[k], alone[k], dim, "chain " + std::to_string(k));
            const std::string key = "round" + std::to_string(round) + "_chain" + std::to_string(k);
            ::testing::Test::RecordProperty(key + "_omp_max_threads", got[k].omp_threads_seen);
        }
    }
}

Dataset simulated_glmm(size_t T, uint64_t seed)
{
    pmhmc_glmm_sim sim;
    pmhmc_glmm_sim_default(&sim);
    sim.T = T;
    sim.seed = seed;
    pmhmc_dataset *raw = nullptr;
    pmhmc_status st = pmhmc_simulate_glmm(&sim, &raw, nullptr);
    EXPECT_EQ(st, PMHMC_OK) << pmhmc_status_str(st);
    return Dataset(raw);
}

void cuda_case(pmhmc_precision precision)
{
    ThreadCountGuard guard;
    Dataset data = simulated_glmm(50, 21);
    ASSERT_TRUE(data);
    Model model = make_model("glmm", data.get(), 64);
    ASSERT_TRUE(model);
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.warmup = 0;
    cfg.iterations = 25;
    cfg.step_size = 0.02;
    cfg.steps = 10;
    cfg.seed = 8;
    for (const char *mode : {"graph", "device", "host"}) {
        SCOPED_TRACE(std::string("trajectory mode ") + mode);
        Backend b = cuda_backend(precision, mode);
        ASSERT_TRUE(b);
        check_chains(model.get(), b.get(), cfg, 4, cfg.iterations, 0, 0);
    }
}

} // namespace

TEST(CudaChains, FourThreadsMatchChainsAloneDouble)
{
    SKIP_WITHOUT_GPU();
    cuda_case(PMHMC_PRECISION_DOUBLE);
}

TEST(CudaChains, FourThreadsMatchChainsAloneFloat)
{
    SKIP_WITHOUT_GPU();
    cuda_case(PMHMC_PRECISION_FLOAT);
}

// Two workspaces from two std::threads, each opening OpenMP regions.
// T = 100, N = 384: 38400 draws and 230400 terms, both above
// PMHMC_CPU_PARALLEL_MIN_WORK, so normal, dot and the estimator all go parallel.
TEST(CpuChains, TwoThreadsMatchChainsAlone)
{
    ThreadCountGuard guard;
    Dataset data = simulated_glmm(100, 5);
    ASSERT_TRUE(data);
    Model model = make_model("glmm", data.get(), 384);
    ASSERT_TRUE(model);
    Backend cpu = cpu_backend();
    ASSERT_TRUE(cpu);
    pmhmc_sampler_config cfg;
    pmhmc_sampler_config_default(&cfg);
    cfg.warmup = 0;
    cfg.iterations = 8;
    cfg.step_size = 0.02;
    cfg.steps = 5;
    cfg.seed = 3;
    check_chains(model.get(), cpu.get(), cfg, 2, cfg.iterations, 1, 2);
}
