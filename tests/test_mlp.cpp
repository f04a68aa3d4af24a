// The HNN surrogates' MLP on the CPU (src/hnn): input-gradients and the
// double-backprop weight-gradients against central finite differences for
// every activation and both kinds, input standardization, Adam, training on a
// known Hamiltonian, and determinism.
#include "test_support.h"

#include <cblas.h>

#include "hnn/adam.h"
#include "hnn/mlp.h"
#include "hnn/mlp_train.h"
#include "hnn_support.h"

using namespace pmhmc_test;

namespace {

Work make_work(const pmhmc_mlp *m, size_t batch)
{
    pmhmc_mlp_work *w = nullptr;
    EXPECT_EQ(pmhmc_mlp_work_create(m, batch, &w), PMHMC_OK);
    return Work(w);
}

const char *act_name(pmhmc_activation a)
{
    switch (a) {
    case PMHMC_ACT_TANH: return "tanh";
    case PMHMC_ACT_SIN: return "sin";
    default: return "softplus";
    }
}

// ---- finite-difference checks -------------------------------------------------

// A small net of each kind with non-trivial biases and input scaling, so
// every term of the passes (including the 1/sd of the chain rule) is live:
// potential in = 3, latent in = 4 with 3 latent outputs, widths {8, 8}.
struct FdCase {
    pmhmc_mlp_kind kind;
    pmhmc_activation act;
};

class MlpFd : public ::testing::TestWithParam<FdCase> {
protected:
    static constexpr size_t B = 5;

    void SetUp() override
    {
        FdCase c = GetParam();
        size_t n_in = c.kind == PMHMC_MLP_LATENT ? 4 : 3;
        size_t n_out = c.kind == PMHMC_MLP_LATENT ? 3 : 1;
        mlp = make_random_mlp(make_spec(c.kind, n_in, n_out, {8, 8}, c.act), 11);
        ASSERT_TRUE(mlp);
        work = make_work(mlp.get(), B);
        TestRng rng(2024 + (uint64_t)c.act * 10 + (uint64_t)c.kind);
        randomize_biases_and_scaling(mlp.get(), rng);
        x.resize(B * n_in);
        target.resize(B * n_in);
        for (auto &v : x)
            v = rng.normal();
        for (auto &v : target)
            v = rng.normal();
    }

    double sum_output(const std::vector<double> &xs, size_t row)
    {
        std::vector<double> y(B * mlp->spec.n_out);
        EXPECT_EQ(pmhmc_mlp_forward(mlp.get(), work.get(), B, xs.data(), y.data()), PMHMC_OK);
        double s = 0.0;
        for (size_t m = 0; m < mlp->spec.n_out; ++m)
            s += y[row * mlp->spec.n_out + m];
        return s;
    }

    double loss(double w_theta, double w_rho)
    {
        double l = 0.0;
        EXPECT_EQ(pmhmc_mlp_loss_grad(mlp.get(), work.get(), B, x.data(), target.data(), w_theta,
                                      w_rho, &l, nullptr),
                  PMHMC_OK);
        return l;
    }

    Mlp mlp;
    Work work;
    std::vector<double> x, target;
};

// Tolerances. central_diff5's truncation error is h^4 |f^(5)| / 30 and its
// rounding error about 1.5 eps |f| / h. For these nets (Glorot weights, unit
// inputs, 1/sd <= 2) the fifth derivatives are O(10-100), so with h = 1e-3
// the truncation is ~1e-12 * 100 / 30 ~ 3e-12 and the rounding ~3e-13 |f|.
// 1e-8 (1 + |g|) is far above both, and far below the O(|g|) error of any
// wrong term in a derivation (a missing f'', sd, or transpose).
constexpr double kFdStep = 1e-3;
constexpr double kFdTol = 1e-8;

TEST_P(MlpFd, InputGradientMatchesFiniteDifferences)
{
    size_t n_in = mlp->spec.n_in, n_out = mlp->spec.n_out;
    std::vector<double> grad(B * n_in), y(B * n_out), y_fwd(B * n_out);
    ASSERT_PMHMC_OK(pmhmc_mlp_input_grad(mlp.get(), work.get(), B, x.data(), y.data(), grad.data()));
    // The forward alone gives the same outputs as the pass that also
    // differentiates.
    ASSERT_PMHMC_OK(pmhmc_mlp_forward(mlp.get(), work.get(), B, x.data(), y_fwd.data()));
    for (size_t i = 0; i < y.size(); ++i)
        EXPECT_EQ(y[i], y_fwd[i]) << i;
    double worst = 0.0;
    for (size_t r = 0; r < B; ++r)
        for (size_t j = 0; j < n_in; ++j) {
            auto f = [&](double v) {
                std::vector<double> xs = x;
                xs[r * n_in + j] = v;
                return sum_output(xs, r);
            };
            double fd = central_diff5(f, x[r * n_in + j], kFdStep);
            double g = grad[r * n_in + j];
            EXPECT_NEAR(g, fd, kFdTol * (1.0 + std::fabs(g))) << "row " << r << " input " << j;
            worst = std::max(worst, std::fabs(g - fd) / (1.0 + std::fabs(g)));
        }
    RecordProperty("worst_scaled_error", sci(worst));
}

TEST_P(MlpFd, WeightGradientOfLossMatchesFiniteDifferences)
{
    // Unequal loss weights so a swapped theta/rho weighting would show.
    const double w_theta = 0.7, w_rho = 1.3;
    std::vector<double> gw(mlp->n_weights);
    double l0 = 0.0;
    ASSERT_PMHMC_OK(pmhmc_mlp_loss_grad(mlp.get(), work.get(), B, x.data(), target.data(), w_theta,
                                        w_rho, &l0, gw.data()));

    // The loss is the documented formula on the input-gradient.
    size_t n_in = mlp->spec.n_in;
    std::vector<double> G(B * n_in);
    ASSERT_PMHMC_OK(pmhmc_mlp_input_grad(mlp.get(), work.get(), B, x.data(), nullptr, G.data()));
    double expect = 0.0;
    for (size_t r = 0; r < B; ++r)
        for (size_t j = 0; j < n_in; ++j) {
            bool rho = mlp->spec.kind == PMHMC_MLP_LATENT && j >= n_in / 2;
            double e = G[r * n_in + j] - target[r * n_in + j];
            expect += (rho ? w_rho : w_theta) * e * e;
        }
    EXPECT_NEAR(l0, expect / B, 1e-14 * expect);

    double worst = 0.0;
    for (size_t i = 0; i < mlp->n_weights; ++i) {
        double w0 = mlp->weights[i];
        auto f = [&](double v) {
            mlp->weights[i] = v;
            double l = loss(w_theta, w_rho);
            mlp->weights[i] = w0;
            return l;
        };
        double fd = central_diff5(f, w0, kFdStep);
        EXPECT_NEAR(gw[i], fd, kFdTol * (1.0 + std::fabs(gw[i]))) << "weight " << i;
        worst = std::max(worst, std::fabs(gw[i] - fd) / (1.0 + std::fabs(gw[i])));
    }
    // The output bias does not move the input-gradient: exactly zero.
    size_t H = mlp->spec.n_hidden;
    for (size_t m = 0; m < mlp->spec.n_out; ++m)
        EXPECT_EQ(gw[mlp->b_off[H] + m], 0.0);
    RecordProperty("worst_scaled_error", sci(worst));
}

std::vector<FdCase> fd_cases()
{
    std::vector<FdCase> v;
    for (pmhmc_mlp_kind k : {PMHMC_MLP_POTENTIAL, PMHMC_MLP_LATENT})
        for (pmhmc_activation a : {PMHMC_ACT_TANH, PMHMC_ACT_SIN, PMHMC_ACT_SOFTPLUS})
            v.push_back({k, a});
    return v;
}

INSTANTIATE_TEST_SUITE_P(AllKindsAndActivations, MlpFd, ::testing::ValuesIn(fd_cases()),
                         [](const ::testing::TestParamInfo<FdCase> &info) {
                             return std::string(info.param.kind == PMHMC_MLP_LATENT ? "latent"
                                                                                    : "potential") +
                                    "_" + act_name(info.param.act);
                         });

// ---- description, activations, standardization ---------------------------------

TEST(Mlp, LayoutFollowsTheDocumentedOrder)
{
    Mlp m = make_random_mlp(make_spec(PMHMC_MLP_LATENT, 4, 3, {8, 5}, PMHMC_ACT_TANH), 1);
    ASSERT_TRUE(m);
    // W1 [8, 4], b1 [8], W2 [5, 8], b2 [5], Wo [3, 5], bo [3]
    EXPECT_EQ(m->w_off[0], 0u);
    EXPECT_EQ(m->b_off[0], 32u);
    EXPECT_EQ(m->w_off[1], 40u);
    EXPECT_EQ(m->b_off[1], 80u);
    EXPECT_EQ(m->w_off[2], 85u);
    EXPECT_EQ(m->b_off[2], 100u);
    EXPECT_EQ(m->n_weights, 103u);

    // With identity scaling, one hidden unit and known weights, the output is
    // the formula of mlp.h: y = Wo tanh(W1 x + b1) + bo, W1 row-major [8, 4].
    std::vector<double> x = {0.3, -0.2, 0.5, 1.0};
    Work w = make_work(m.get(), 1);
    std::vector<double> y(3);
    ASSERT_PMHMC_OK(pmhmc_mlp_forward(m.get(), w.get(), 1, x.data(), y.data()));
    std::vector<double> z1(8), z2(5);
    for (size_t k = 0; k < 8; ++k) {
        double a = m->weights[m->b_off[0] + k];
        for (size_t j = 0; j < 4; ++j)
            a += m->weights[m->w_off[0] + k * 4 + j] * x[j];
        z1[k] = std::tanh(a);
    }
    for (size_t k = 0; k < 5; ++k) {
        double a = m->weights[m->b_off[1] + k];
        for (size_t j = 0; j < 8; ++j)
            a += m->weights[m->w_off[1] + k * 8 + j] * z1[j];
        z2[k] = std::tanh(a);
    }
    for (size_t o = 0; o < 3; ++o) {
        double a = m->weights[m->b_off[2] + o];
        for (size_t j = 0; j < 5; ++j)
            a += m->weights[m->w_off[2] + o * 5 + j] * z2[j];
        EXPECT_NEAR(y[o], a, 1e-14);
    }
}

TEST(Mlp, GlorotInitializationScaleAndSeed)
{
    Mlp a = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 40, 1, {60}, PMHMC_ACT_TANH), 5);
    Mlp b = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 40, 1, {60}, PMHMC_ACT_TANH), 5);
    Mlp c = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 40, 1, {60}, PMHMC_ACT_TANH), 6);
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(0, std::memcmp(a->weights, b->weights, a->n_weights * sizeof(double)));
    EXPECT_NE(0, std::memcmp(a->weights, c->weights, a->n_weights * sizeof(double)));
    // W1 has 2400 entries of variance 2 / 100: the sample variance is within
    // 4 standard errors (sd of a variance estimate: var sqrt(2 / n)).
    double ss = 0.0;
    for (size_t i = 0; i < 2400; ++i)
        ss += a->weights[i] * a->weights[i];
    EXPECT_NEAR(ss / 2400, 0.02, 4 * 0.02 * std::sqrt(2.0 / 2400));
    for (size_t k = 0; k < 60; ++k)
        EXPECT_EQ(a->weights[a->b_off[0] + k], 0.0);
}

TEST(Mlp, SpecChecks)
{
    pmhmc_mlp *m = nullptr;
    pmhmc_error err{};
    pmhmc_mlp_spec s = make_spec(PMHMC_MLP_LATENT, 3, 2, {8}, PMHMC_ACT_TANH);
    EXPECT_EQ(pmhmc_mlp_create(&s, &m, &err), PMHMC_ERR_ARG);
    EXPECT_NE(std::string(err.message).find("even"), std::string::npos) << err.message;
    s = make_spec(PMHMC_MLP_POTENTIAL, 3, 2, {8}, PMHMC_ACT_TANH);
    EXPECT_EQ(pmhmc_mlp_create(&s, &m, &err), PMHMC_ERR_ARG);
    s = make_spec(PMHMC_MLP_POTENTIAL, 3, 1, {}, PMHMC_ACT_TANH);
    EXPECT_EQ(pmhmc_mlp_create(&s, &m, &err), PMHMC_ERR_ARG);
    s = make_spec(PMHMC_MLP_POTENTIAL, 3, 1, {8, 0}, PMHMC_ACT_TANH);
    EXPECT_EQ(pmhmc_mlp_create(&s, &m, &err), PMHMC_ERR_ARG);
    s = make_spec(PMHMC_MLP_POTENTIAL, 3, 1, {8}, (pmhmc_activation)7);
    EXPECT_EQ(pmhmc_mlp_create(&s, &m, &err), PMHMC_ERR_ARG);
    EXPECT_EQ(m, nullptr);
    pmhmc_mlp_free(nullptr);
    pmhmc_mlp_work_free(nullptr);
    pmhmc_adam_free(nullptr);

    // Batches beyond the work's size are refused, not overrun.
    Mlp ok = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 2, 1, {4}, PMHMC_ACT_SIN), 1);
    Work w = make_work(ok.get(), 2);
    std::vector<double> x(6), y(3);
    EXPECT_EQ(pmhmc_mlp_forward(ok.get(), w.get(), 3, x.data(), y.data()), PMHMC_ERR_ARG);
    EXPECT_EQ(pmhmc_mlp_forward(ok.get(), w.get(), 0, x.data(), y.data()), PMHMC_ERR_ARG);
    // So is a work made for another architecture.
    Mlp wider = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 2, 1, {9}, PMHMC_ACT_SIN), 1);
    EXPECT_EQ(pmhmc_mlp_forward(wider.get(), w.get(), 1, x.data(), y.data()), PMHMC_ERR_ARG);
}

TEST(Mlp, ActivationDerivativesMatchFiniteDifferences)
{
    for (int act = 0; act < PMHMC_ACT_COUNT; ++act)
        for (double x : {-30.0, -3.0, -0.7, 0.0, 0.4, 2.5, 30.0}) {
            double f, d1, d2;
            pmhmc_act_eval(act, x, &f, &d1, &d2);
            EXPECT_EQ(f, pmhmc_act_value(act, x));
            auto val = [&](double v) { return pmhmc_act_value(act, v); };
            auto der = [&](double v) {
                double a, b, c;
                pmhmc_act_eval(act, v, &a, &b, &c);
                return b;
            };
            EXPECT_NEAR(d1, central_diff5(val, x, 1e-3), 1e-10) << act << " at " << x;
            EXPECT_NEAR(d2, central_diff5(der, x, 1e-3), 1e-10) << act << " at " << x;
        }
    // softplus stays finite and exact in its tails.
    double f, d1, d2;
    pmhmc_act_eval(PMHMC_ACT_SOFTPLUS, 800.0, &f, &d1, &d2);
    EXPECT_EQ(f, 800.0);
    EXPECT_EQ(d1, 1.0);
    pmhmc_act_eval(PMHMC_ACT_SOFTPLUS, -800.0, &f, &d1, &d2);
    EXPECT_EQ(f, 0.0);
    EXPECT_EQ(d2, 0.0);
}

TEST(Mlp, StandardizationFromData)
{
    Mlp m = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 3, 1, {4}, PMHMC_ACT_TANH), 1);
    // Column 0: 1, 2, 3, 4 (mean 2.5, population sd sqrt(1.25)); column 1
    // constant (sd set to 1); column 2 far from zero (two-pass accuracy).
    std::vector<double> x = {1, 7, 1e8 + 1, 2, 7, 1e8 + 2, 3, 7, 1e8 + 3, 4, 7, 1e8 + 4};
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_mlp_set_standardization(m.get(), 4, x.data(), &err), PMHMC_OK) << err.message;
    EXPECT_DOUBLE_EQ(m->in_mean[0], 2.5);
    EXPECT_DOUBLE_EQ(m->in_sd[0], std::sqrt(1.25));
    EXPECT_EQ(m->in_mean[1], 7.0);
    EXPECT_EQ(m->in_sd[1], 1.0);
    EXPECT_NEAR(m->in_sd[2], std::sqrt(1.25), 1e-7);

    // A network on raw inputs with scaling equals the same weights on inputs
    // standardized by hand with identity scaling.
    Mlp raw = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 3, 1, {4}, PMHMC_ACT_TANH), 1);
    std::vector<double> xs(x.size());
    for (size_t r = 0; r < 4; ++r)
        for (size_t j = 0; j < 3; ++j)
            xs[r * 3 + j] = (x[r * 3 + j] - m->in_mean[j]) / m->in_sd[j];
    Work w = make_work(m.get(), 4);
    std::vector<double> y1(4), y2(4), g1(12), g2(12);
    ASSERT_PMHMC_OK(pmhmc_mlp_input_grad(m.get(), w.get(), 4, x.data(), y1.data(), g1.data()));
    ASSERT_PMHMC_OK(pmhmc_mlp_input_grad(raw.get(), w.get(), 4, xs.data(), y2.data(), g2.data()));
    for (size_t r = 0; r < 4; ++r) {
        EXPECT_NEAR(y1[r], y2[r], 1e-12);
        // chain rule: d/dx = d/dz / sd
        for (size_t j = 0; j < 3; ++j)
            EXPECT_NEAR(g1[r * 3 + j], g2[r * 3 + j] / m->in_sd[j], 1e-12);
    }

    x[4] = NAN;
    EXPECT_EQ(pmhmc_mlp_set_standardization(m.get(), 4, x.data(), &err), PMHMC_ERR_DATA);
    EXPECT_NE(std::string(err.message).find("row 1, column 1"), std::string::npos) << err.message;
}

TEST(Mlp, AdamFirstStepIsTheLearningRateAgainstTheGradientSign)
{
    pmhmc_adam *raw = nullptr;
    ASSERT_PMHMC_OK(pmhmc_adam_create(3, 0.9, 0.999, 1e-8, &raw));
    Adam adam(raw);
    std::vector<double> w = {1.0, 2.0, 3.0}, g = {0.5, -4.0, 1e-3};
    pmhmc_adam_step(adam.get(), w.data(), g.data(), 0.1);
    // Bias correction makes mhat = g and vhat = g^2 on the first step.
    EXPECT_NEAR(w[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
    EXPECT_NEAR(w[1], 2.0 + 0.1 * 4.0 / (4.0 + 1e-8), 1e-15);
    EXPECT_NEAR(w[2], 3.0 - 0.1 * 1e-3 / (1e-3 + 1e-8), 1e-15);
    // Minimizes a quadratic.
    pmhmc_adam_reset(adam.get());
    for (int i = 0; i < 2000; ++i) {
        for (size_t k = 0; k < 3; ++k)
            g[k] = 2.0 * (w[k] - (double)k);
        pmhmc_adam_step(adam.get(), w.data(), g.data(), 0.01);
    }
    for (size_t k = 0; k < 3; ++k)
        EXPECT_NEAR(w[k], (double)k, 1e-3);
}

// ---- training on a known Hamiltonian ---------------------------------------------

// H(theta, rho) = theta' S^-1 theta / 2 + rho' rho / 2, S = [[1, 0.6], [0.6, 2]]:
// grad_theta H = -grad log N(theta; 0, S) = S^-1 theta exactly, grad_rho H = rho.
struct Gaussian2 {
    double p00, p01, p11; // S^-1
    double l00 = 1.0, l10 = 0.6, l11 = std::sqrt(2.0 - 0.36); // chol(S)
    Gaussian2()
    {
        double det = 1.0 * 2.0 - 0.36;
        p00 = 2.0 / det;
        p01 = -0.6 / det;
        p11 = 1.0 / det;
    }
    void draw(TestRng &rng, double *theta) const
    {
        double a = rng.normal(), b = rng.normal();
        theta[0] = l00 * a;
        theta[1] = l10 * a + l11 * b;
    }
    void grad_u(const double *theta, double *g) const
    {
        g[0] = p00 * theta[0] + p01 * theta[1];
        g[1] = p01 * theta[0] + p11 * theta[1];
    }
};

// Rows (x, target) for a kind: potential x = theta; latent x = (theta, rho).
void gaussian_rows(pmhmc_mlp_kind kind, size_t n, uint64_t seed, std::vector<double> &x,
                   std::vector<double> &t)
{
    Gaussian2 g;
    TestRng rng(seed);
    size_t n_in = kind == PMHMC_MLP_LATENT ? 4 : 2;
    x.assign(n * n_in, 0.0);
    t.assign(n * n_in, 0.0);
    for (size_t r = 0; r < n; ++r) {
        g.draw(rng, &x[r * n_in]);
        g.grad_u(&x[r * n_in], &t[r * n_in]);
        if (kind == PMHMC_MLP_LATENT)
            for (size_t j = 2; j < 4; ++j) {
                x[r * n_in + j] = rng.normal();
                t[r * n_in + j] = x[r * n_in + j];
            }
    }
}

// Root-mean-square gradient error over root-mean-square gradient, on 1000
// fresh draws from the same distribution as the training rows.
double held_out_error(const pmhmc_mlp *m, pmhmc_mlp_kind kind)
{
    std::vector<double> x, t;
    const size_t n = 1000;
    gaussian_rows(kind, n, 999, x, t);
    size_t n_in = m->spec.n_in;
    Work w = make_work(m, n);
    std::vector<double> G(n * n_in);
    EXPECT_EQ(pmhmc_mlp_input_grad(m, w.get(), n, x.data(), nullptr, G.data()), PMHMC_OK);
    double se = 0.0, ss = 0.0;
    for (size_t i = 0; i < n * n_in; ++i) {
        double e = G[i] - t[i];
        se += e * e;
        ss += t[i] * t[i];
    }
    return std::sqrt(se / ss);
}

pmhmc_mlp_train_options gaussian_options()
{
    pmhmc_mlp_train_options o;
    pmhmc_mlp_train_defaults(&o);
    o.seed = 3;
    o.batch_size = 64;
    o.max_epochs = 400;
    o.learning_rate = 1e-2;
    o.lr_decay = 0.5;
    o.lr_decay_every = 80;
    o.patience = 60;
    return o;
}

// Two hidden layers of 32 on 2000 rows (400 held out for validation): about
// a second per kind. The quadratic's linear gradient field is fitted to the
// 1% of the test by sin and softplus units within the budget (tanh needs
// several times the epochs for the tails of the held-out draws).
Mlp train_gaussian(pmhmc_mlp_kind kind, pmhmc_activation act, size_t n_rows,
                   pmhmc_mlp_train_result *res, const pmhmc_mlp_train_options &o)
{
    size_t n_in = kind == PMHMC_MLP_LATENT ? 4 : 2, n_out = kind == PMHMC_MLP_LATENT ? 4 : 1;
    Mlp m = make_random_mlp(make_spec(kind, n_in, n_out, {32, 32}, act), 7);
    std::vector<double> x, t;
    gaussian_rows(kind, n_rows, 17, x, t);
    pmhmc_mlp_data data{n_rows, x.data(), t.data()};
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_mlp_train(m.get(), &data, &o, res, &err), PMHMC_OK) << err.message;
    return m;
}

TEST(MlpTrain, PotentialLearnsTheGaussianGradient)
{
    pmhmc_mlp_train_result res{};
    Mlp m = train_gaussian(PMHMC_MLP_POTENTIAL, PMHMC_ACT_SIN, 2000, &res, gaussian_options());
    double e = held_out_error(m.get(), PMHMC_MLP_POTENTIAL);
    RecordProperty("held_out_rel_error", sci(e));
    RecordProperty("epochs", (int)res.epochs_run);
    EXPECT_LT(e, 0.01) << "validation error " << res.val_grad_error << " after " << res.epochs_run
                       << " epochs (best " << res.best_epoch << ")";
    EXPECT_LT(res.val_grad_error, 0.01);
}

TEST(MlpTrain, LatentLearnsTheGaussianHamiltonian)
{
    pmhmc_mlp_train_result res{};
    Mlp m = train_gaussian(PMHMC_MLP_LATENT, PMHMC_ACT_SOFTPLUS, 2000, &res, gaussian_options());
    double e = held_out_error(m.get(), PMHMC_MLP_LATENT);
    RecordProperty("held_out_rel_error", sci(e));
    RecordProperty("epochs", (int)res.epochs_run);
    EXPECT_LT(e, 0.01) << "validation error " << res.val_grad_error << " after " << res.epochs_run
                       << " epochs (best " << res.best_epoch << ")";
}

TEST(MlpTrain, SameSeedSameWeightsAndEarlyStoppingKeepsTheBest)
{
    pmhmc_mlp_train_options o = gaussian_options();
    o.max_epochs = 30;
    std::vector<pmhmc_mlp_epoch> log;
    o.on_epoch = [](const pmhmc_mlp_epoch *e, void *user) {
        static_cast<std::vector<pmhmc_mlp_epoch> *>(user)->push_back(*e);
    };
    o.user = &log;
    pmhmc_mlp_train_result r1{}, r2{};
    Mlp a = train_gaussian(PMHMC_MLP_LATENT, PMHMC_ACT_TANH, 500, &r1, o);
    o.user = nullptr;
    o.on_epoch = nullptr;
    Mlp b = train_gaussian(PMHMC_MLP_LATENT, PMHMC_ACT_TANH, 500, &r2, o);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(0, std::memcmp(a->weights, b->weights, a->n_weights * sizeof(double)));
    EXPECT_EQ(0, std::memcmp(a->in_sd, b->in_sd, a->spec.n_in * sizeof(double)));
    EXPECT_EQ(r1.best_val_loss, r2.best_val_loss);

    // The log has one entry per epoch, and the result names the best one.
    ASSERT_EQ(log.size(), r1.epochs_run);
    double best = INFINITY;
    size_t best_epoch = 0;
    for (const auto &e : log) {
        if (e.val_loss < best) {
            best = e.val_loss;
            best_epoch = e.epoch;
        }
    }
    EXPECT_EQ(best_epoch, r1.best_epoch);
    EXPECT_EQ(best, r1.best_val_loss);
    EXPECT_EQ(log[0].learning_rate, o.learning_rate);

    o.seed = 4;
    pmhmc_mlp_train_result r3{};
    Mlp c = train_gaussian(PMHMC_MLP_LATENT, PMHMC_ACT_TANH, 500, &r3, o);
    EXPECT_NE(0, std::memcmp(a->weights, c->weights, a->n_weights * sizeof(double)));

    // Patience: with a rate so small that no epoch improves the validation
    // loss by min_improvement, training stops patience epochs after the first.
    o.learning_rate = 1e-12;
    o.patience = 3;
    o.max_epochs = 100;
    pmhmc_mlp_train_result r4{};
    Mlp d = train_gaussian(PMHMC_MLP_LATENT, PMHMC_ACT_TANH, 500, &r4, o);
    EXPECT_EQ(r4.epochs_run, 4u);
    EXPECT_TRUE(r4.stopped_early);
}

// OpenBLAS threads set by the application do not change a bit: the passes
// pin OpenBLAS to one thread (src/hnn/mlp_grad.c, "Threads"). The batch and
// widths are large enough that threaded OpenBLAS splits the GEMMs.
TEST(Mlp, ResultsDoNotDependOnOpenBlasThreads)
{
    const size_t B = 512;
    Mlp m = make_random_mlp(make_spec(PMHMC_MLP_LATENT, 16, 8, {128, 128}, PMHMC_ACT_TANH), 3);
    Work w = make_work(m.get(), B);
    TestRng rng(5);
    std::vector<double> x(B * 16), t(B * 16);
    for (auto &v : x)
        v = rng.normal();
    for (auto &v : t)
        v = rng.normal();
    auto run = [&](std::vector<double> &g) {
        double loss = 0.0;
        g.assign(m->n_weights, 0.0);
        EXPECT_EQ(pmhmc_mlp_loss_grad(m.get(), w.get(), B, x.data(), t.data(), 1.0, 0.5, &loss,
                                      g.data()),
                  PMHMC_OK);
        return loss;
    };
    std::vector<double> g1, g2;
    double l1 = run(g1);
    // 3 threads: OpenBLAS 0.3.21 gives other bits than 1 thread for an
    // A^T B of these shapes, as measured on a 2-core x86-64.
    openblas_set_num_threads(3);
    double l2 = run(g2);
    EXPECT_EQ(openblas_get_num_threads(), 1);
    EXPECT_EQ(l1, l2);
    EXPECT_EQ(0, std::memcmp(g1.data(), g2.data(), g1.size() * sizeof(double)));
}

TEST(MlpTrain, BadOptionsAndDataAreRefused)
{
    Mlp m = make_random_mlp(make_spec(PMHMC_MLP_POTENTIAL, 2, 1, {4}, PMHMC_ACT_TANH), 1);
    std::vector<double> x, t;
    gaussian_rows(PMHMC_MLP_POTENTIAL, 20, 1, x, t);
    pmhmc_mlp_data data{20, x.data(), t.data()};
    pmhmc_mlp_train_options o;
    pmhmc_mlp_train_defaults(&o);
    pmhmc_error err{};
    o.validation_fraction = 1.0;
    EXPECT_EQ(pmhmc_mlp_train(m.get(), &data, &o, nullptr, &err), PMHMC_ERR_ARG);
    pmhmc_mlp_train_defaults(&o);
    o.learning_rate = -1.0;
    EXPECT_EQ(pmhmc_mlp_train(m.get(), &data, &o, nullptr, &err), PMHMC_ERR_ARG);
    pmhmc_mlp_train_defaults(&o);
    t[7] = INFINITY;
    EXPECT_EQ(pmhmc_mlp_train(m.get(), &data, &o, nullptr, &err), PMHMC_ERR_DATA);
    EXPECT_NE(std::string(err.message).find("targets"), std::string::npos) << err.message;
}

} // namespace
