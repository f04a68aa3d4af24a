// RAII owners for the HNN handles (src/hnn, src/io/safetensors.h), shared by
// the HNN test files.
#ifndef PMHMC_TESTS_HNN_SUPPORT_H
#define PMHMC_TESTS_HNN_SUPPORT_H

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "hnn/adam.h"
#include "hnn/mlp.h"
#include "hnn/mlp_device.h"
#include "io/safetensors.h"
#include "test_support.h"

namespace pmhmc_test {

struct HnnFree {
    void operator()(pmhmc_mlp *m) const { pmhmc_mlp_free(m); }
    void operator()(pmhmc_mlp_work *w) const { pmhmc_mlp_work_free(w); }
    void operator()(pmhmc_adam *a) const { pmhmc_adam_free(a); }
    void operator()(pmhmc_safetensors *s) const { pmhmc_safetensors_free(s); }
    void operator()(pmhmc_mlp_device *d) const { pmhmc_mlp_device_free(d); }
};
using Mlp = std::unique_ptr<pmhmc_mlp, HnnFree>;
using Work = std::unique_ptr<pmhmc_mlp_work, HnnFree>;
using Adam = std::unique_ptr<pmhmc_adam, HnnFree>;
using St = std::unique_ptr<pmhmc_safetensors, HnnFree>;
using MlpDevice = std::unique_ptr<pmhmc_mlp_device, HnnFree>;

// A spec with hidden layers of the given widths, activations cycling
// through acts.
inline pmhmc_mlp_spec make_spec(pmhmc_mlp_kind kind, size_t n_in, size_t n_out, std::vector<size_t> widths,
                                std::vector<pmhmc_activation> acts)
{
    pmhmc_mlp_spec s{};
    s.kind = kind;
    s.n_in = n_in;
    s.n_out = n_out;
    s.n_hidden = widths.size();
    for (size_t l = 0; l < widths.size(); ++l) {
        s.width[l] = widths[l];
        s.act[l] = acts[l % acts.size()];
    }
    return s;
}

// One activation for every layer. It is copied as given, not through a
// vector of enums, so that tests may pass an out-of-range value on purpose
// (a vector's copy of one is undefined behaviour, which UBSan reports).
inline pmhmc_mlp_spec make_spec(pmhmc_mlp_kind kind, size_t n_in, size_t n_out, const std::vector<size_t> &widths,
                                pmhmc_activation act)
{
    pmhmc_mlp_spec s = make_spec(kind, n_in, n_out, widths, std::vector<pmhmc_activation>{PMHMC_ACT_TANH});
    for (size_t l = 0; l < widths.size(); ++l)
        s.act[l] = act;
    return s;
}

// Glorot weights keyed by seed (pmhmc_mlp_init_random).
inline Mlp make_random_mlp(const pmhmc_mlp_spec &spec, uint64_t seed)
{
    pmhmc_mlp *m = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_mlp_create(&spec, &m, &err), PMHMC_OK) << err.message;
    if (m) {
        EXPECT_EQ(pmhmc_mlp_init_random(m, seed), PMHMC_OK);
    }
    return Mlp(m);
}

// Nonzero biases (0.3 N(0, 1)) and an input scaling that is not the
// identity, so that every term of a pass is exercised.
inline void randomize_biases_and_scaling(pmhmc_mlp *m, TestRng &rng)
{
    for (size_t l = 0; l <= m->spec.n_hidden; ++l)
        for (size_t k = 0; k < m->dims[l + 1]; ++k)
            m->weights[m->b_off[l] + k] = 0.3 * rng.normal();
    for (size_t j = 0; j < m->spec.n_in; ++j) {
        m->in_mean[j] = 0.5 * rng.normal();
        m->in_sd[j] = 0.5 + 1.5 * rng.uniform();
    }
}

} // namespace pmhmc_test

#endif
