// The normal_re posterior known by quadrature, and a chain run through the
// public sampler API: the independent answer and the harness the sampler
// tests (PM-HMC, PM-NUTS, HNN-HMC) check their moments with.
//
// The posterior of (mu, log_tau) comes from tensor Gauss-Legendre quadrature
// of the closed-form marginal likelihood.
#ifndef PMHMC_TESTS_SAMPLER_SUPPORT_H
#define PMHMC_TESTS_SAMPLER_SUPPORT_H

#include <cmath>
#include <string>
#include <vector>

#include "io/dataset.h"
#include "test_support.h"

namespace pmhmc_test {


inline GroupedData grouped_from(const pmhmc_dataset *data)
{
    GroupedData d;
    d.p = data->n_cov;
    d.start.assign(data->group_start, data->group_start + data->n_groups + 1);
    d.y.assign(data->y, data->y + data->n_rows);
    d.z.assign(data->z, data->z + data->n_rows * data->n_cov);
    return d;
}

// Per-group sufficient statistics of normal_re data: n, sum y, sum y^2.
struct GroupStats {
    double n, sy, syy;
};

inline std::vector<GroupStats> group_stats(const GroupedData &d)
{
    std::vector<GroupStats> out;
    for (size_t g = 0; g < d.n_groups(); ++g) {
        GroupStats st{(double)d.rows(g), 0.0, 0.0};
        for (size_t r = d.start[g]; r < d.start[g + 1]; ++r) {
            st.sy += d.y[r];
            st.syy += d.y[r] * d.y[r];
        }
        out.push_back(st);
    }
    return out;
}

// log p(y | mu, tau) of normal_re: y_i ~ N(mu 1, I + tau^2 11'), so
// log p(y_i) = -n/2 log 2 pi - 1/2 log(1 + n tau^2)
//              - 1/2 [S - tau^2 D^2 / (1 + n tau^2)],
// S = sum (y - mu)^2 = syy - 2 mu sy + n mu^2, D = sum (y - mu) = sy - n mu.
inline double normal_re_loglik(const std::vector<GroupStats> &stats, double mu, double tau)
{
    double total = 0.0, t2 = tau * tau;
    for (const GroupStats &g : stats) {
        double S = g.syy - 2.0 * mu * g.sy + g.n * mu * mu, D = g.sy - g.n * mu;
        total += -0.5 * g.n * std::log(2 * M_PI) - 0.5 * std::log1p(g.n * t2) - 0.5 * (S - t2 * D * D / (1.0 + g.n * t2));
    }
    return total;
}

struct Moments2 {
    double mean[2], var[2];
};

// Unnormalized posterior sums (mass, first and second moments) of
// theta = (mu, log_tau) under independent N(0, prior_var) priors, by a
// composite tensor Gauss-Legendre rule: `panels` equal panels per axis with
// `order` nodes each over [lo0, hi0] x [lo1, hi1]; densities are taken
// relative to exp(log_ref). Sums from disjoint boxes add.
struct PosteriorSums {
    long double z = 0, m[2] = {0, 0}, s[2] = {0, 0};

    void add_box(const std::vector<GroupStats> &d, double prior_var, const double lo[2], const double hi[2], const int panels[2],
                 int order, double log_ref)
    {
        std::vector<double> x, w;
        gauss_legendre(order, x, w);
        std::vector<double> node[2], weight[2];
        for (int k = 0; k < 2; ++k)
            for (int pn = 0; pn < panels[k]; ++pn) {
                double width = (hi[k] - lo[k]) / panels[k], a = lo[k] + pn * width;
                for (int i = 0; i < order; ++i) {
                    node[k].push_back(a + 0.5 * width * (1.0 + x[i]));
                    weight[k].push_back(0.5 * width * w[i]);
                }
            }
        for (size_t i = 0; i < node[0].size(); ++i)
            for (size_t j = 0; j < node[1].size(); ++j) {
                double a = node[0][i], b = node[1][j];
                double lp = normal_re_loglik(d, a, std::exp(b)) - 0.5 * (a * a + b * b) / prior_var;
                long double dens = weight[0][i] * weight[1][j] * expl((long double)(lp - log_ref));
                z += dens;
                m[0] += dens * a;
                m[1] += dens * b;
                s[0] += dens * a * a;
                s[1] += dens * b * b;
            }
    }
    PosteriorSums operator+(const PosteriorSums &o) const
    {
        PosteriorSums r = *this;
        r.z += o.z;
        for (int k = 0; k < 2; ++k) {
            r.m[k] += o.m[k];
            r.s[k] += o.s[k];
        }
        return r;
    }
    Moments2 moments() const
    {
        Moments2 out;
        for (int k = 0; k < 2; ++k) {
            out.mean[k] = (double)(m[k] / z);
            out.var[k] = (double)(s[k] / z - (m[k] / z) * (m[k] / z));
        }
        return out;
    }
};

// Runs a chain and returns the saved draws, [iterations][dim], and the
// acceptance rate and lp of each saved draw.
struct Chain {
    std::vector<std::vector<double>> theta;
    std::vector<double> lp;
    double accept_rate = 0.0;
};

inline Chain run_chain(const pmhmc_model *model, pmhmc_backend *backend, const pmhmc_sampler_config &cfg,
                const double *theta0)
{
    Chain out;
    pmhmc_sampler *raw = nullptr;
    pmhmc_error err{};
    pmhmc_status st = pmhmc_sampler_create(model, backend, &cfg, theta0, &raw, &err);
    EXPECT_EQ(st, PMHMC_OK) << err.message;
    Sampler s(raw);
    if (!s)
        return out;
    const size_t dim = pmhmc_model_dim(model);
    size_t accepted = 0;
    for (size_t it = 0; it < cfg.warmup + cfg.iterations; ++it) {
        pmhmc_draw draw{};
        st = pmhmc_sampler_step(s.get(), &draw);
        EXPECT_EQ(st, PMHMC_OK);
        if (st != PMHMC_OK)
            break;
        EXPECT_EQ(draw.warmup, it < cfg.warmup ? 1 : 0);
        if (draw.warmup)
            continue;
        out.theta.emplace_back(draw.theta, draw.theta + dim);
        out.lp.push_back(draw.lp);
        accepted += draw.accepted;
        // PM-HMC: a finite proposal energy is no divergence. (A PM-NUTS
        // transition can diverge late in its tree and still move.)
        if (cfg.algorithm == PMHMC_ALGORITHM_PMHMC && draw.accept_stat > 0.0) {
            EXPECT_EQ(draw.divergent, 0);
        }
    }
    EXPECT_EQ(pmhmc_sampler_iteration(s.get()), cfg.warmup + cfg.iterations);
    out.accept_rate = out.theta.empty() ? 0.0 : (double)accepted / out.theta.size();
    return out;
}

inline std::vector<double> column(const Chain &c, size_t i)
{
    std::vector<double> v;
    for (const auto &t : c.theta)
        v.push_back(t[i]);
    return v;
}

// The posterior moments of (mu, log tau) by tensor Gauss-Legendre
// quadrature over a box around the mass plus the log tau tail, checked
// against a finer rule.
inline Moments2 normal_re_exact_moments(const std::vector<GroupStats> &d, double prior_var)
{
    // Locate: reference log density from the best node of a coarse rule,
    // then rough moments over the wide box.
    const double lo_w[2] = {-10.0, -6.0}, hi_w[2] = {10.0, 4.0};
    double log_ref = -INFINITY;
    {
        std::vector<double> x, w;
        gauss_legendre(80, x, w);
        for (double a : x)
            for (double b : x) {
                double mu = 0.5 * (lo_w[0] + hi_w[0]) + 0.5 * (hi_w[0] - lo_w[0]) * a;
                double lt = 0.5 * (lo_w[1] + hi_w[1]) + 0.5 * (hi_w[1] - lo_w[1]) * b;
                log_ref = std::max(log_ref, normal_re_loglik(d, mu, std::exp(lt)) - 0.5 * (mu * mu + lt * lt) / prior_var);
            }
    }
    PosteriorSums wide;
    const int wide_panels[2] = {40, 40};
    wide.add_box(d, prior_var, lo_w, hi_w, wide_panels, 10, log_ref);
    Moments2 rough = wide.moments();
    double lo[2], hi[2];
    for (int k = 0; k < 2; ++k) {
        lo[k] = rough.mean[k] - 12.0 * std::sqrt(rough.var[k]);
        hi[k] = rough.mean[k] + 12.0 * std::sqrt(rough.var[k]);
    }
    const double tail_lo[2] = {lo[0], -100.0}, tail_hi[2] = {hi[0], lo[1]};
    auto posterior = [&](double refine, PosteriorSums *tail_out) {
        PosteriorSums main_box, tail_box;
        const int main_panels[2] = {(int)(8 * refine), (int)(8 * refine)};
        const int tail_panels[2] = {(int)(8 * refine), (int)(40 * refine)};
        main_box.add_box(d, prior_var, lo, hi, main_panels, 16, log_ref);
        tail_box.add_box(d, prior_var, tail_lo, tail_hi, tail_panels, 16, log_ref);
        if (tail_out)
            *tail_out = tail_box;
        return main_box + tail_box;
    };
    PosteriorSums tail;
    PosteriorSums all = posterior(1.0, &tail);
    Moments2 exact = all.moments();
    Moments2 check = posterior(1.5, nullptr).moments();
    for (int k = 0; k < 2; ++k) {
        EXPECT_LT(std::fabs(exact.mean[k] - check.mean[k]), 1e-9 * std::max(1.0, std::fabs(check.mean[k])));
        EXPECT_LT(std::fabs(exact.var[k] - check.var[k]), 1e-9 * check.var[k]);
        // The wide-box rule agrees to what its coarser resolution allows.
        EXPECT_NEAR(rough.mean[k], exact.mean[k], 1e-3 * std::sqrt(exact.var[k]));
    }
    double tail_mass = (double)(tail.z / all.z);
    EXPECT_LT(tail_mass, 1e-4);
    ::testing::Test::RecordProperty("log_tau_tail_mass", sci(tail_mass));
    ::testing::Test::RecordProperty("exact_moments", sci(exact.mean[0]) + " " + sci(exact.var[0]) + " " + sci(exact.mean[1]) + " " +
                                        sci(exact.var[1]));

    return exact;
}


} // namespace pmhmc_test

#endif
