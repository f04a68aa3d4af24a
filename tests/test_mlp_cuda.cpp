// The device MLP (src/hnn/mlp_device.h, kernels/mlp.cu, kernels/mlp_device.cu)
// against the CPU reference (src/hnn/mlp_grad.c): forward, input-gradient and
// the double-backprop loss gradient for every activation and both kinds,
// training on the device against the same epochs on the CPU, and the clean
// failure of a build or machine without a usable GPU. GPU cases skip with
// the reason when there is none (fail under PMHMC_REQUIRE_GPU=1).
#include "test_support.h"

#include <fstream>

#include "cli_support.h"
#include "hnn/mlp_device.h"
#include "hnn/mlp_io.h"
#include "hnn/mlp_train.h"
#include "hnn_support.h"

using namespace pmhmc_test;
using namespace pmhmc_cli_test;

namespace {

MlpDevice make_device(const pmhmc_mlp *m, size_t max_batch)
{
    pmhmc_mlp_device *d = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_mlp_device_create(m, max_batch, &d, &err), PMHMC_OK) << err.message;
    return MlpDevice(d);
}

// Tolerance of device against CPU. Both compute in double; they differ only
// in the order of the sums inside the GEMMs (cuBLAS tiles K its own way and
// fuses multiply-adds) and of the loss reduction. A sum of K terms in any
// order is within about K eps sum|terms| of the exact one; here K <= 37 rows
// or 24 units and a pass chains at most 2 H + 2 = 6 products, so on these
// well-scaled nets (Glorot weights, unit inputs) the discrepancy is of order
// 6 * 37 * 1.1e-16 ~ 2.5e-14 of a vector's magnitude. 1e-11 of the largest
// component leaves a wide margin while any wrong term (a missing f'', 1/sd or
// transpose) is off by O(1). Measuring against the largest component, not
// each one, keeps components that cancel to near zero from failing on
// rounding alone.
constexpr double kDeviceTol = 1e-11;

// Every |dev_i - cpu_i| <= tol max_j |cpu_j|; records the worst ratio.
void expect_close(const std::vector<double> &dev, const std::vector<double> &cpu, const char *what,
                  double tol = kDeviceTol)
{
    ASSERT_EQ(dev.size(), cpu.size());
    double scale = 0.0;
    for (double v : cpu)
        scale = std::max(scale, std::fabs(v));
    ASSERT_GT(scale, 0.0) << what << " is all zero: the comparison would be empty";
    double worst = 0.0;
    for (size_t i = 0; i < dev.size(); ++i) {
        EXPECT_NEAR(dev[i], cpu[i], tol * scale) << what << " component " << i;
        worst = std::max(worst, std::fabs(dev[i] - cpu[i]) / scale);
    }
    ::testing::Test::RecordProperty(std::string("worst_rel_") + what, sci(worst));
}

const char *act_name(pmhmc_activation a)
{
    switch (a) {
    case PMHMC_ACT_TANH: return "tanh";
    case PMHMC_ACT_SIN: return "sin";
    default: return "softplus";
    }
}

struct DeviceCase {
    pmhmc_mlp_kind kind;
    pmhmc_activation act;
};

// A net of each kind with non-trivial biases and input scaling, so every
// term of the passes is live: potential in = 5, latent in = 6 with 3 latent
// outputs, widths {24, 16}; an odd batch of 37 rows.
class MlpCuda : public ::testing::TestWithParam<DeviceCase> {
protected:
    static constexpr size_t B = 37;

    void SetUp() override
    {
        SKIP_WITHOUT_GPU();
        DeviceCase c = GetParam();
        const size_t n_in = c.kind == PMHMC_MLP_LATENT ? 6 : 5;
        const size_t n_out = c.kind == PMHMC_MLP_LATENT ? 3 : 1;
        mlp = make_random_mlp(make_spec(c.kind, n_in, n_out, {24, 16}, c.act), 21);
        ASSERT_TRUE(mlp);
        TestRng rng(4048 + (uint64_t)c.act * 10 + (uint64_t)c.kind);
        randomize_biases_and_scaling(mlp.get(), rng);
        x.resize(B * n_in);
        target.resize(B * n_in);
        for (auto &v : x)
            v = rng.normal();
        for (auto &v : target)
            v = rng.normal();
        pmhmc_mlp_work *w = nullptr;
        ASSERT_PMHMC_OK(pmhmc_mlp_work_create(mlp.get(), B, &w));
        work.reset(w);
        dev = make_device(mlp.get(), B);
        ASSERT_TRUE(dev);
    }

    // CPU and device loss and weight-gradient at the mlp's current weights.
    void compare_loss_grad(double w_theta, double w_rho)
    {
        std::vector<double> g_cpu(mlp->n_weights), g_dev(mlp->n_weights);
        double l_cpu = 0.0, l_dev = 0.0;
        ASSERT_PMHMC_OK(pmhmc_mlp_loss_grad(mlp.get(), work.get(), B, x.data(), target.data(), w_theta, w_rho,
                                            &l_cpu, g_cpu.data()));
        ASSERT_PMHMC_OK(pmhmc_mlp_device_loss_grad(dev.get(), B, x.data(), target.data(), w_theta, w_rho, &l_dev,
                                                   g_dev.data()));
        EXPECT_NEAR(l_dev, l_cpu, kDeviceTol * l_cpu);
        expect_close(g_dev, g_cpu, "weight_gradient");
        // The output bias does not move the input-gradient: exactly zero.
        const size_t H = mlp->spec.n_hidden;
        for (size_t m = 0; m < mlp->spec.n_out; ++m)
            EXPECT_EQ(g_dev[mlp->b_off[H] + m], 0.0);
    }

    Mlp mlp;
    Work work;
    MlpDevice dev;
    std::vector<double> x, target;
};

TEST_P(MlpCuda, ForwardAndInputGradientMatchTheCpu)
{
    const size_t n_in = mlp->spec.n_in, n_out = mlp->spec.n_out;
    std::vector<double> y_cpu(B * n_out), y_dev(B * n_out), y_dev2(B * n_out);
    ASSERT_PMHMC_OK(pmhmc_mlp_forward(mlp.get(), work.get(), B, x.data(), y_cpu.data()));
    ASSERT_PMHMC_OK(pmhmc_mlp_device_forward(dev.get(), B, x.data(), y_dev.data()));
    expect_close(y_dev, y_cpu, "forward");

    std::vector<double> g_cpu(B * n_in), g_dev(B * n_in), g_dev2(B * n_in);
    ASSERT_PMHMC_OK(pmhmc_mlp_input_grad(mlp.get(), work.get(), B, x.data(), nullptr, g_cpu.data()));
    ASSERT_PMHMC_OK(pmhmc_mlp_device_input_grad(dev.get(), B, x.data(), y_dev2.data(), g_dev.data()));
    expect_close(g_dev, g_cpu, "input_gradient");
    // The differentiating pass's outputs are the forward's (up to how the
    // device compiles f alone and f with f', f''), and asking for them does
    // not change the gradient's bits.
    expect_close(y_dev2, y_cpu, "forward_in_input_grad");
    ASSERT_PMHMC_OK(pmhmc_mlp_device_input_grad(dev.get(), B, x.data(), nullptr, g_dev2.data()));
    EXPECT_EQ(0, std::memcmp(g_dev.data(), g_dev2.data(), g_dev.size() * sizeof(double)));

    // A smaller batch is the first rows of the larger one.
    std::vector<double> g_small(3 * n_in);
    ASSERT_PMHMC_OK(pmhmc_mlp_device_input_grad(dev.get(), 3, x.data(), nullptr, g_small.data()));
    std::vector<double> g_head(g_cpu.begin(), g_cpu.begin() + 3 * n_in);
    expect_close(g_small, g_head, "input_gradient_3_rows");
}

TEST_P(MlpCuda, LossAndWeightGradientMatchTheCpu)
{
    // Unequal loss weights so a swapped theta/rho weighting would show.
    compare_loss_grad(0.7, 1.3);
    // New weights reach the device through set_weights.
    for (size_t i = 0; i < mlp->n_weights; ++i)
        mlp->weights[i] *= 0.9;
    ASSERT_PMHMC_OK(pmhmc_mlp_device_set_weights(dev.get(), mlp->weights));
    compare_loss_grad(1.0, 0.5);
}

TEST_P(MlpCuda, DeviceResultsRepeatAndGatheredRowsEqualUploadedRows)
{
    const size_t n_in = mlp->spec.n_in;
    std::vector<double> g1(mlp->n_weights), g2(mlp->n_weights), g3(mlp->n_weights);
    double l1 = 0.0, l2 = 0.0, l3 = 0.0, l4 = 0.0;
    ASSERT_PMHMC_OK(pmhmc_mlp_device_loss_grad(dev.get(), B, x.data(), target.data(), 0.7, 1.3, &l1, g1.data()));
    ASSERT_PMHMC_OK(pmhmc_mlp_device_loss_grad(dev.get(), B, x.data(), target.data(), 0.7, 1.3, &l2, g2.data()));
    EXPECT_EQ(l1, l2);
    EXPECT_EQ(0, std::memcmp(g1.data(), g2.data(), g1.size() * sizeof(double)));
    ASSERT_PMHMC_OK(pmhmc_mlp_device_loss_grad(dev.get(), B, x.data(), target.data(), 0.7, 1.3, &l4, nullptr));
    EXPECT_EQ(l1, l4);

    // The batch's rows scattered through a larger dataset in reverse order,
    // then gathered by index on the device: the same inputs, so the same bits.
    const size_t n_rows = 3 * B;
    std::vector<double> data_x(n_rows * n_in, 1e3), data_t(n_rows * n_in, -1e3);
    std::vector<uint32_t> rows(B);
    for (size_t r = 0; r < B; ++r) {
        rows[r] = (uint32_t)(n_rows - 1 - 2 * r);
        std::memcpy(&data_x[rows[r] * n_in], &x[r * n_in], n_in * sizeof(double));
        std::memcpy(&data_t[rows[r] * n_in], &target[r * n_in], n_in * sizeof(double));
    }
    ASSERT_PMHMC_OK(pmhmc_mlp_device_set_data(dev.get(), n_rows, data_x.data(), data_t.data()));
    ASSERT_PMHMC_OK(pmhmc_mlp_device_loss_grad_rows(dev.get(), B, rows.data(), 0.7, 1.3, &l3, g3.data()));
    EXPECT_EQ(l1, l3);
    EXPECT_EQ(0, std::memcmp(g1.data(), g3.data(), g1.size() * sizeof(double)));
}

std::vector<DeviceCase> device_cases()
{
    std::vector<DeviceCase> v;
    for (pmhmc_mlp_kind k : {PMHMC_MLP_POTENTIAL, PMHMC_MLP_LATENT})
        for (pmhmc_activation a : {PMHMC_ACT_TANH, PMHMC_ACT_SIN, PMHMC_ACT_SOFTPLUS})
            v.push_back({k, a});
    return v;
}

INSTANTIATE_TEST_SUITE_P(AllKindsAndActivations, MlpCuda, ::testing::ValuesIn(device_cases()),
                         [](const ::testing::TestParamInfo<DeviceCase> &info) {
                             return std::string(info.param.kind == PMHMC_MLP_LATENT ? "latent" : "potential") +
                                    "_" + act_name(info.param.act);
                         });

TEST(MlpCudaArgs, BadArgumentsAndNonFiniteLossesAreRefused)
{
    SKIP_WITHOUT_GPU();
    Mlp m = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 2, 1, {4}, PMHMC_ACT_TANH), 1);
    ASSERT_TRUE(m);
    pmhmc_mlp_device *raw = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_mlp_device_create(m.get(), 0, &raw, &err), PMHMC_ERR_ARG);
    EXPECT_EQ(raw, nullptr);
    MlpDevice d = make_device(m.get(), 4);
    ASSERT_TRUE(d);
    std::vector<double> x(10, 0.5), t(10, 0.25), y(5), g(m->n_weights, 7.0);
    double loss = 0.0;
    EXPECT_EQ(pmhmc_mlp_device_forward(d.get(), 5, x.data(), y.data()), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_mlp_device_forward(d.get(), 0, x.data(), y.data()), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_mlp_device_forward(d.get(), 1, x.data(), nullptr), PMHMC_ERR_ARG);
    uint32_t rows[2] = {0, 1};
    EXPECT_EQ(pmhmc_mlp_device_loss_grad_rows(d.get(), 2, rows, 1.0, 1.0, &loss, g.data()), PMHMC_ERR_ARG);
    EXPECT_NE(std::string(pmhmc_mlp_device_error(d.get())).find("before set_data"), std::string::npos);
    ASSERT_PMHMC_OK(pmhmc_mlp_device_set_data(d.get(), 2, x.data(), t.data()));
    rows[1] = 2;
    EXPECT_EQ(pmhmc_mlp_device_loss_grad_rows(d.get(), 2, rows, 1.0, 1.0, &loss, g.data()), PMHMC_ERR_ARG);
    EXPECT_NE(std::string(pmhmc_mlp_device_error(d.get())).find("row index 2"), std::string::npos)
        << pmhmc_mlp_device_error(d.get());
    // A non-finite loss is NUMERIC, as on the CPU, and leaves the gradient alone.
    t[1] = INFINITY;
    EXPECT_EQ(pmhmc_mlp_device_loss_grad(d.get(), 2, x.data(), t.data(), 1.0, 1.0, &loss, g.data()),
              PMHMC_ERR_NUMERIC);
    for (double v : g)
        EXPECT_EQ(v, 7.0);
}

// ---- training -----------------------------------------------------------------

// Rows of a latent net for H = theta' diag(1, 2, 3) theta / 2 + rho' rho / 2:
// x = (theta, rho), target = (grad_theta H, rho).
void latent_rows(size_t n, uint64_t seed, std::vector<double> &x, std::vector<double> &t)
{
    TestRng rng(seed);
    x.assign(n * 6, 0.0);
    t.assign(n * 6, 0.0);
    for (size_t r = 0; r < n; ++r)
        for (size_t i = 0; i < 3; ++i) {
            double theta = rng.normal(), rho = rng.normal();
            x[r * 6 + i] = theta;
            t[r * 6 + i] = (double)(i + 1) * theta;
            x[r * 6 + 3 + i] = rho;
            t[r * 6 + 3 + i] = rho;
        }
}

struct TrainRun {
    Mlp mlp;
    std::vector<pmhmc_mlp_epoch> epochs;
    pmhmc_status st = PMHMC_OK;
    std::string message;
};

TrainRun train(int use_device, pmhmc_activation act)
{
    TrainRun run;
    run.mlp = make_random_mlp(make_spec(PMHMC_MLP_LATENT, 6, 4, {32, 32}, act), 9);
    std::vector<double> x, t;
    latent_rows(600, 33, x, t);
    pmhmc_mlp_data data{600, x.data(), t.data()};
    pmhmc_mlp_train_options o;
    pmhmc_mlp_train_defaults(&o);
    o.seed = 5;
    o.batch_size = 64;
    o.max_epochs = 4;
    o.learning_rate = 1e-2;
    o.use_device = use_device;
    o.on_epoch = [](const pmhmc_mlp_epoch *e, void *user) {
        static_cast<std::vector<pmhmc_mlp_epoch> *>(user)->push_back(*e);
    };
    o.user = &run.epochs;
    pmhmc_mlp_train_result res{};
    pmhmc_error err{};
    run.st = pmhmc_mlp_train(run.mlp.get(), &data, &o, &res, &err);
    run.message = err.message;
    return run;
}

// Relative agreement of device and CPU training. Each step's gradients
// differ by ~1e-14 relative (kDeviceTol's argument); Adam's step is about
// the learning rate in size whatever |g|, so a weight's step differs by about
// lr times its gradient's relative difference, and the loss moves by that
// weight's gradient times the difference: second order for the small
// gradients whose relative difference is largest. Over 4 epochs of 8 steps
// the losses stay within ~1e-12; 1e-9 leaves room for the early weights'
// chaotic sensitivity while a wrong batch, order, scaling or weight upload
// changes the losses at the 1e-3 level or more. The weights get 1e-7 of
// their largest: a gradient component near Adam's eps (1e-8) can differ by
// 1e-6 relative, which moves its weight by up to lr 1e-6 = 1e-8 per step,
// and only a few steps of a run meet such components.
constexpr double kTrainTol = 1e-9;
constexpr double kTrainWeightTol = 1e-7;

TEST(MlpCudaTrain, DeviceTrainingFollowsTheCpuEpochByEpoch)
{
    SKIP_WITHOUT_GPU();
    for (pmhmc_activation act : {PMHMC_ACT_TANH, PMHMC_ACT_SOFTPLUS}) {
        TrainRun cpu = train(0, act), gpu = train(1, act), again = train(1, act);
        ASSERT_EQ(cpu.st, PMHMC_OK) << cpu.message;
        ASSERT_EQ(gpu.st, PMHMC_OK) << gpu.message;
        ASSERT_EQ(again.st, PMHMC_OK) << again.message;
        ASSERT_EQ(cpu.epochs.size(), 4u);
        ASSERT_EQ(gpu.epochs.size(), cpu.epochs.size());
        for (size_t e = 0; e < cpu.epochs.size(); ++e) {
            EXPECT_NEAR(gpu.epochs[e].train_loss, cpu.epochs[e].train_loss, kTrainTol * cpu.epochs[e].train_loss)
                << act_name(act) << " epoch " << e + 1;
            EXPECT_NEAR(gpu.epochs[e].val_loss, cpu.epochs[e].val_loss, kTrainTol * cpu.epochs[e].val_loss)
                << act_name(act) << " epoch " << e + 1;
            EXPECT_NEAR(gpu.epochs[e].val_grad_error, cpu.epochs[e].val_grad_error,
                        kTrainTol * cpu.epochs[e].val_grad_error)
                << act_name(act) << " epoch " << e + 1;
        }
        // Training moved the loss (the comparison is not of untrained nets).
        EXPECT_LT(cpu.epochs.back().val_loss, 0.9 * cpu.epochs.front().train_loss);
        // The kept weights agree, and a second device run repeats the bits.
        const size_t n = cpu.mlp->n_weights;
        std::vector<double> wc(cpu.mlp->weights, cpu.mlp->weights + n), wg(gpu.mlp->weights, gpu.mlp->weights + n);
        expect_close(wg, wc, "trained_weights", kTrainWeightTol);
        EXPECT_EQ(0, std::memcmp(gpu.mlp->weights, again.mlp->weights, n * sizeof(double)));
    }
}

// ---- without a usable GPU ----------------------------------------------------

TEST(MlpCudaMissing, CreateAndTrainingFailCleanlyWithoutAUsableGpu)
{
    char reason[256] = {0};
    if (pmhmc_cuda_usable(reason, sizeof reason))
        GTEST_SKIP() << "a GPU is usable here: the no-GPU path cannot be reached";
#ifdef PMHMC_HAVE_CUDA
    const pmhmc_status expected = PMHMC_ERR_DEVICE; // built with CUDA, no usable device
    const char *says = "no usable GPU";
#else
    const pmhmc_status expected = PMHMC_ERR_UNSUPPORTED;
    const char *says = "no CUDA";
#endif
    Mlp m = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 2, 1, {4}, PMHMC_ACT_TANH), 1);
    ASSERT_TRUE(m);
    // A non-NULL start shows that create clears the handle on failure.
    pmhmc_mlp_device *d = reinterpret_cast<pmhmc_mlp_device *>(m.get());
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_mlp_device_create(m.get(), 8, &d, &err), expected);
    EXPECT_EQ(d, nullptr);
    EXPECT_NE(std::string(err.message).find(says), std::string::npos) << err.message;
    pmhmc_mlp_device_free(nullptr);

    TrainRun run = train(1, PMHMC_ACT_TANH);
    EXPECT_EQ(run.st, expected);
    EXPECT_NE(run.message.find(says), std::string::npos) << run.message;
    EXPECT_TRUE(run.epochs.empty());
}

// ---- pmhmc train with sampler.backend = cuda ------------------------------------

class MlpCudaCli : public CliTest {};

// Trains on the GPU where one is usable (and says so), and otherwise fails
// before reading any record with a message naming the key and the reason.
TEST_F(MlpCudaCli, TrainUsesTheGpuForTheCudaBackendOrSaysWhyNot)
{
    ASSERT_EQ(run({"simulate", "--model", "normal_re", "--T", "15", "--n", "3", "--out", "sim"}).rc, 0);
    std::ofstream(dir_ / "run.ini") << ("[model]\nname = normal_re\ndata = sim/data.csv\nN = 8\n"
                                        "[sampler]\nalgorithm = pmhmc\nwarmup = 20\niterations = 20\nsteps = 5\n"
                                        "step_size = 0.1\nchains = 1\nbackend = cpu\n"
                                        "[hnn]\ncollect = out/grads.bin\nhidden = 16,16\nepochs = 5\nbatch = 32\n"
                                        "weights = out/net.safetensors\n"
                                        "[output]\nfile = out/d.csv\nrefresh = 0\nreport = false\n");
    Result s = run({"sample", "run.ini"});
    ASSERT_EQ(s.rc, 0) << s.err;
    Result cpu = run({"train", "run.ini"});
    ASSERT_EQ(cpu.rc, 0) << cpu.err;
    EXPECT_TRUE(contains(cpu.out, "on the CPU")) << cpu.out;

    Result t = run({"train", "run.ini", "sampler.backend=cuda", "hnn.weights=out/gpu.safetensors"});
    char reason[256] = {0};
    if (pmhmc_cuda_usable(reason, sizeof reason)) {
        ASSERT_EQ(t.rc, 0) << t.err;
        EXPECT_TRUE(contains(t.out, "on the GPU")) << t.out;
        pmhmc_mlp *raw = nullptr;
        char **names = nullptr;
        size_t n_names = 0;
        pmhmc_error err{};
        ASSERT_EQ(pmhmc_mlp_load((dir_ / "out/gpu.safetensors").c_str(), &raw, &names, &n_names, &err), PMHMC_OK)
            << err.message;
        pmhmc_mlp_free(raw);
        pmhmc_mlp_free_param_names(names, n_names);
    } else {
        EXPECT_EQ(t.rc, 1) << t.out;
        EXPECT_TRUE(contains(t.err, "sampler.backend")) << t.err;
        EXPECT_TRUE(contains(t.err, "no usable GPU")) << t.err;
        EXPECT_TRUE(contains(t.err, reason)) << t.err;
        EXPECT_FALSE(std::filesystem::exists(dir_ / "out/gpu.safetensors"));
    }
}

} // namespace
