// HNN weights files (src/hnn/mlp_io.c): save/load round trips that keep every
// bit of the network, the file's tensors and metadata as PyTorch would read
// them, each refusal of a mismatched, truncated or corrupted file with its
// message, and the check of the stored parameter names against a model's.
#include "test_support.h"

#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "hnn/mlp.h"
#include "hnn/mlp_io.h"
#include "io/safetensors.h"
#include "hnn_support.h"

using namespace pmhmc_test;

namespace {

std::string slurp(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Glorot weights, then nonzero biases and a standardization that is not the
// identity, so that a field lost or swapped on the way shows in the output.
Mlp make_mlp(const pmhmc_mlp_spec &spec, uint64_t seed)
{
    pmhmc_mlp *m = nullptr;
    pmhmc_error err{};
    EXPECT_EQ(pmhmc_mlp_create(&spec, &m, &err), PMHMC_OK) << err.message;
    if (!m)
        return Mlp();
    EXPECT_EQ(pmhmc_mlp_init_random(m, seed), PMHMC_OK);
    TestRng rng(seed ^ 0x5eed);
    for (size_t l = 0; l <= spec.n_hidden; ++l)
        for (size_t i = 0; i < m->dims[l + 1]; ++i)
            m->weights[m->b_off[l] + i] = 0.1 * rng.normal();
    for (size_t j = 0; j < spec.n_in; ++j) {
        m->in_mean[j] = rng.normal();
        m->in_sd[j] = 0.5 + rng.uniform();
    }
    return Mlp(m);
}

std::vector<std::string> theta_names(size_t d)
{
    std::vector<std::string> out;
    for (size_t i = 0; i < d; ++i)
        out.push_back("beta[" + std::to_string(i + 1) + "]");
    return out;
}

std::vector<const char *> c_strs(const std::vector<std::string> &v)
{
    std::vector<const char *> out;
    for (const auto &s : v)
        out.push_back(s.c_str());
    return out;
}

size_t theta_dim(const pmhmc_mlp_spec &s)
{
    return s.kind == PMHMC_MLP_LATENT ? s.n_in / 2 : s.n_in;
}

void save_ok(const pmhmc_mlp *m, const std::string &path, const std::vector<std::string> &names)
{
    auto c = c_strs(names);
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_mlp_save(m, path.c_str(), c.data(), c.size(), &err), PMHMC_OK) << err.message;
}

struct Loaded {
    Mlp mlp;
    std::vector<std::string> names;
    bool had_names = false;
    pmhmc_status status = PMHMC_OK;
    pmhmc_error err{};
};

Loaded load(const std::string &path)
{
    Loaded r;
    pmhmc_mlp *m = nullptr;
    char **names = nullptr;
    size_t n = 123;
    r.status = pmhmc_mlp_load(path.c_str(), &m, &names, &n, &r.err);
    r.mlp.reset(m);
    r.had_names = names != nullptr;
    for (size_t i = 0; names && i < n; ++i)
        r.names.push_back(names[i]);
    if (r.status != PMHMC_OK) {
        EXPECT_EQ(m, nullptr);
        EXPECT_EQ(names, nullptr);
        EXPECT_EQ(n, 0u);
    }
    pmhmc_mlp_free_param_names(names, n);
    return r;
}

std::vector<double> forward(const pmhmc_mlp *m, const std::vector<double> &x, size_t batch)
{
    pmhmc_mlp_work *w = nullptr;
    EXPECT_EQ(pmhmc_mlp_work_create(m, batch, &w), PMHMC_OK);
    Work work(w);
    std::vector<double> y(batch * m->spec.n_out);
    EXPECT_EQ(pmhmc_mlp_forward(m, w, batch, x.data(), y.data()), PMHMC_OK);
    return y;
}

void expect_same_network(const pmhmc_mlp *a, const pmhmc_mlp *b)
{
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->spec.kind, b->spec.kind);
    EXPECT_EQ(a->spec.n_in, b->spec.n_in);
    EXPECT_EQ(a->spec.n_out, b->spec.n_out);
    ASSERT_EQ(a->spec.n_hidden, b->spec.n_hidden);
    for (size_t l = 0; l < a->spec.n_hidden; ++l) {
        EXPECT_EQ(a->spec.width[l], b->spec.width[l]) << l;
        EXPECT_EQ(a->spec.act[l], b->spec.act[l]) << l;
    }
    ASSERT_EQ(a->n_weights, b->n_weights);
    EXPECT_EQ(std::memcmp(a->weights, b->weights, a->n_weights * sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(a->in_mean, b->in_mean, a->spec.n_in * sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(a->in_sd, b->in_sd, a->spec.n_in * sizeof(double)), 0);
}

bool contains(const pmhmc_error &err, const std::string &s)
{
    return std::strstr(err.message, s.c_str()) != nullptr;
}

// ---- a weights file as editable data, for building bad files ---------------------

struct Tensor {
    std::string name;
    std::vector<size_t> shape;
    std::vector<double> data;
};

struct File {
    std::vector<Tensor> tensors;
    std::vector<std::pair<std::string, std::string>> meta;

    Tensor *tensor(const std::string &name)
    {
        for (auto &t : tensors)
            if (t.name == name)
                return &t;
        ADD_FAILURE() << "no tensor " << name;
        return nullptr;
    }
    void set(const std::string &key, const std::string &value)
    {
        for (auto &kv : meta)
            if (kv.first == key) {
                kv.second = value;
                return;
            }
        meta.emplace_back(key, value);
    }
    void erase(const std::string &key)
    {
        for (size_t i = 0; i < meta.size(); ++i)
            if (meta[i].first == key)
                meta.erase(meta.begin() + (long)i);
    }
    void remove_tensor(const std::string &name)
    {
        for (size_t i = 0; i < tensors.size(); ++i)
            if (tensors[i].name == name)
                tensors.erase(tensors.begin() + (long)i);
    }

    static File read(const std::string &path)
    {
        File f;
        pmhmc_safetensors *h = nullptr;
        pmhmc_error err{};
        EXPECT_EQ(pmhmc_safetensors_read(path.c_str(), &h, &err), PMHMC_OK) << err.message;
        St st(h);
        for (size_t i = 0; h && i < pmhmc_safetensors_count(h); ++i) {
            const pmhmc_st_tensor *t = pmhmc_safetensors_tensor_at(h, i);
            Tensor c{t->name, std::vector<size_t>(t->shape, t->shape + t->ndim), std::vector<double>(t->numel)};
            EXPECT_EQ(pmhmc_safetensors_get_f64(h, t->name, t->ndim, t->shape, c.data.data(), &err), PMHMC_OK);
            f.tensors.push_back(std::move(c));
        }
        for (size_t i = 0; h && i < pmhmc_safetensors_meta_count(h); ++i)
            f.meta.emplace_back(pmhmc_safetensors_meta_at(h, i)->key, pmhmc_safetensors_meta_at(h, i)->value);
        return f;
    }

    void write(const std::string &path, pmhmc_st_dtype dtype = PMHMC_ST_F64) const
    {
        std::vector<std::vector<float>> narrow(tensors.size());
        std::vector<pmhmc_st_tensor> t;
        for (size_t i = 0; i < tensors.size(); ++i) {
            const void *data = tensors[i].data.data();
            if (dtype == PMHMC_ST_F32) {
                narrow[i].assign(tensors[i].data.begin(), tensors[i].data.end());
                data = narrow[i].data();
            }
            t.push_back({tensors[i].name.c_str(), dtype, tensors[i].shape.size(), tensors[i].shape.data(), 0, data});
        }
        std::vector<pmhmc_st_meta> m;
        for (const auto &kv : meta)
            m.push_back({kv.first.c_str(), kv.second.c_str()});
        pmhmc_error err{};
        ASSERT_EQ(pmhmc_safetensors_write(path.c_str(), t.data(), t.size(), m.data(), m.size(), &err), PMHMC_OK)
            << err.message;
    }
};

// The reference file of the refusal tests: latent, n_in 6 (theta of 3),
// n_out 2, hidden 5,4 (tanh, softplus).
struct Good {
    TempDir dir;
    pmhmc_mlp_spec spec = make_spec(PMHMC_MLP_LATENT, 6, 2, {5, 4}, {PMHMC_ACT_TANH, PMHMC_ACT_SOFTPLUS});
    Mlp mlp = make_mlp(spec, 17);
    std::string path = dir.file("good.safetensors");
    Good() { save_ok(mlp.get(), path, {"mu", "log_tau", "beta"}); }
    File file() const { return File::read(path); }
    // Writes f as bad.safetensors and loads it: a refusal is expected.
    Loaded refuse(const File &f, pmhmc_status expected = PMHMC_ERR_PARSE)
    {
        std::string bad = dir.file("bad.safetensors");
        f.write(bad);
        Loaded r = load(bad);
        EXPECT_EQ(r.status, expected) << pmhmc_status_str(r.status) << ": " << r.err.message;
        EXPECT_TRUE(contains(r.err, bad)) << r.err.message;
        return r;
    }
};

// ---- round trips -------------------------------------------------------------------

TEST(MlpIo, RoundTripKeepsEveryBitForBothKindsAndEveryActivation)
{
    TempDir dir;
    struct Case {
        pmhmc_mlp_spec spec;
        bool with_names;
    } cases[] = {
        {make_spec(PMHMC_MLP_LATENT, 6, 3, {8, 5}, {PMHMC_ACT_TANH, PMHMC_ACT_SIN}), true},
        {make_spec(PMHMC_MLP_POTENTIAL, 4, 1, {16}, {PMHMC_ACT_SOFTPLUS}), true},
        {make_spec(PMHMC_MLP_LATENT, 2, 1, {3, 4, 5}, {PMHMC_ACT_SIN, PMHMC_ACT_SOFTPLUS, PMHMC_ACT_TANH}), false},
        {make_spec(PMHMC_MLP_POTENTIAL, 3, 1, {7, 7, 7, 7, 7, 7, 7, 7}, {PMHMC_ACT_SIN, PMHMC_ACT_TANH}), true},
        {make_spec(PMHMC_MLP_LATENT, 10, 8, {1}, {PMHMC_ACT_TANH}), false},
    };
    uint64_t seed = 1;
    for (const Case &c : cases) {
        SCOPED_TRACE("case " + std::to_string(seed));
        Mlp m = make_mlp(c.spec, seed);
        ASSERT_TRUE(m);
        std::vector<std::string> names = c.with_names ? theta_names(theta_dim(c.spec)) : std::vector<std::string>{};
        std::string path = dir.file("net" + std::to_string(seed) + ".safetensors");
        save_ok(m.get(), path, names);
        Loaded r = load(path);
        ASSERT_EQ(r.status, PMHMC_OK) << r.err.message;
        expect_same_network(m.get(), r.mlp.get());
        EXPECT_EQ(r.names, names);
        EXPECT_EQ(r.had_names, c.with_names);

        const size_t batch = 5;
        TestRng rng(seed + 100);
        std::vector<double> x(batch * c.spec.n_in);
        for (double &v : x)
            v = 2.0 * rng.normal();
        std::vector<double> y0 = forward(m.get(), x, batch), y1 = forward(r.mlp.get(), x, batch);
        ASSERT_EQ(y0.size(), y1.size());
        EXPECT_EQ(std::memcmp(y0.data(), y1.data(), y0.size() * sizeof(double)), 0);

        // Saving what was loaded gives the same bytes: nothing drifts over
        // repeated save/load cycles.
        std::string again = dir.file("again" + std::to_string(seed) + ".safetensors");
        save_ok(r.mlp.get(), again, r.names);
        EXPECT_EQ(slurp(again), slurp(path));
        ++seed;
    }
}

TEST(MlpIo, FileHoldsPyTorchNamedTensorsAndTheMetadataAsWritten)
{
    TempDir dir;
    pmhmc_mlp_spec spec = make_spec(PMHMC_MLP_LATENT, 4, 3, {6, 5}, {PMHMC_ACT_SIN, PMHMC_ACT_SOFTPLUS});
    Mlp m = make_mlp(spec, 9);
    std::string path = dir.file("w.safetensors");
    save_ok(m.get(), path, {"mu", "log_sigma"});

    pmhmc_safetensors *h = nullptr;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_safetensors_read(path.c_str(), &h, &err), PMHMC_OK) << err.message;
    St st(h);
    const std::vector<std::pair<std::string, std::string>> meta = {
        {"format", "pmhmc-hnn"}, {"format_version", "1"}, {"kind", "latent"},
        {"n_in", "4"},           {"n_out", "3"},          {"hidden", "6,5"},
        {"activations", "sin,softplus"}, {"parameters", "mu,log_sigma"}, {"pmhmc_version", PMHMC_VERSION},
    };
    EXPECT_EQ(pmhmc_safetensors_meta_count(h), meta.size());
    for (const auto &kv : meta) {
        const char *v = pmhmc_safetensors_meta(h, kv.first.c_str());
        ASSERT_NE(v, nullptr) << kv.first;
        EXPECT_EQ(std::string(v), kv.second) << kv.first;
    }

    struct Want {
        const char *name;
        std::vector<size_t> shape;
        const double *data;
    } want[] = {
        {"layers.1.weight", {6, 4}, m->weights + m->w_off[0]}, {"layers.1.bias", {6}, m->weights + m->b_off[0]},
        {"layers.2.weight", {5, 6}, m->weights + m->w_off[1]}, {"layers.2.bias", {5}, m->weights + m->b_off[1]},
        {"output.weight", {3, 5}, m->weights + m->w_off[2]},   {"output.bias", {3}, m->weights + m->b_off[2]},
        {"input.mean", {4}, m->in_mean},                       {"input.sd", {4}, m->in_sd},
    };
    ASSERT_EQ(pmhmc_safetensors_count(h), std::size(want));
    for (size_t i = 0; i < std::size(want); ++i) {
        const pmhmc_st_tensor *t = pmhmc_safetensors_tensor_at(h, i);
        EXPECT_STREQ(t->name, want[i].name);
        EXPECT_EQ(t->dtype, PMHMC_ST_F64) << t->name;
        EXPECT_EQ(std::vector<size_t>(t->shape, t->shape + t->ndim), want[i].shape) << t->name;
        EXPECT_EQ(std::memcmp(t->data, want[i].data, t->numel * sizeof(double)), 0) << t->name;
    }
}

TEST(MlpIo, NamesAreOptionalBothWays)
{
    TempDir dir;
    pmhmc_mlp_spec spec = make_spec(PMHMC_MLP_POTENTIAL, 3, 1, {4}, {PMHMC_ACT_TANH});
    Mlp m = make_mlp(spec, 3);
    std::string path = dir.file("w.safetensors");
    save_ok(m.get(), path, {});
    EXPECT_EQ(slurp(path).find("\"parameters\""), std::string::npos);
    Loaded r = load(path);
    ASSERT_EQ(r.status, PMHMC_OK) << r.err.message;
    EXPECT_FALSE(r.had_names);

    save_ok(m.get(), path, {"a", "b", "c"});
    pmhmc_mlp *out = nullptr;
    pmhmc_error err{};
    ASSERT_EQ(pmhmc_mlp_load(path.c_str(), &out, nullptr, nullptr, &err), PMHMC_OK) << err.message;
    Mlp owned(out);
    expect_same_network(m.get(), out);
}

TEST(MlpIo, LoadsF32TensorsWidenedExactly)
{
    Good g;
    File f = g.file();
    std::string path = g.dir.file("f32.safetensors");
    f.write(path, PMHMC_ST_F32);
    Loaded r = load(path);
    ASSERT_EQ(r.status, PMHMC_OK) << r.err.message;
    for (size_t i = 0; i < g.mlp->n_weights; ++i)
        EXPECT_EQ(r.mlp->weights[i], (double)(float)g.mlp->weights[i]) << i;
}

// ---- refusals ---------------------------------------------------------------------

TEST(MlpIo, RefusesMissingExtraAndMisshapenTensors)
{
    Good g;
    {
        File f = g.file();
        f.remove_tensor("layers.2.bias");
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, "tensor 'layers.2.bias' is missing; expected one of shape [4]")) << r.err.message;
    }
    {
        File f = g.file();
        f.remove_tensor("input.sd");
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, "'input.sd' is missing")) << r.err.message;
    }
    {
        File f = g.file();
        Tensor *t = f.tensor("output.weight"); // [2, 4] stored as its transpose
        t->shape = {4, 2};
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, "'output.weight' has shape [4, 2]; expected [2, 4]")) << r.err.message;
    }
    {
        File f = g.file();
        Tensor *t = f.tensor("layers.1.bias"); // a column vector instead of a vector
        t->shape = {5, 1};
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, "'layers.1.bias' has shape [5, 1]; expected [5]")) << r.err.message;
    }
    {
        File f = g.file();
        f.tensors.push_back({"layers.3.weight", {2, 4}, std::vector<double>(8, 0.5)});
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, "tensor 'layers.3.weight' is not part of a latent network with 2 hidden layers"))
            << r.err.message;
    }
    {
        // PyTorch's own numbering (from 0) is another file, not this one.
        File f = g.file();
        f.tensor("layers.1.weight")->name = "layers.0.weight";
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, "'layers.1.weight' is missing")) << r.err.message;
    }
    {
        // Metadata claiming a wider input than the tensors hold.
        File f = g.file();
        f.set("n_in", "8");
        f.set("parameters", "a,b,c,d");
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, "'layers.1.weight' has shape [5, 6]; expected [5, 8]")) << r.err.message;
    }
}

TEST(MlpIo, RefusesBadFormatKindAndSizes)
{
    Good g;
    struct Case {
        const char *key, *value; // value nullptr: the key is removed
        const char *message;
    } cases[] = {
        {"format", "safetensors", "metadata 'format' is 'safetensors'; expected 'pmhmc-hnn'"},
        {"format", nullptr, "metadata 'format' is missing; expected 'pmhmc-hnn'"},
        {"format_version", "2", "metadata 'format_version' is '2'; this build reads version '1'"},
        {"format_version", nullptr, "metadata 'format_version' is missing"},
        {"kind", "hamiltonian", "metadata 'kind' is 'hamiltonian'; expected 'latent' or 'potential'"},
        {"kind", "Latent", "metadata 'kind' is 'Latent'"},
        {"kind", nullptr, "metadata 'kind' is missing"},
        {"n_in", "six", "metadata 'n_in' is 'six'; expected a positive integer"},
        {"n_in", "-6", "metadata 'n_in' is '-6'"},
        {"n_in", " 6", "metadata 'n_in' is ' 6'"},
        {"n_in", "0", "metadata 'n_in' is '0'"},
        {"n_in", "99999999999999999999", "expected a positive integer"},
        {"n_out", nullptr, "metadata 'n_out' is missing"},
        {"n_in", "5", "describe no valid network: mlp: a latent network's input is (theta, rho), so n_in must be even"},
        {"n_in", "100000", "describe no valid network: mlp: n_in = 100000"},
        {"hidden", "5,x", "metadata 'hidden' = '5,x': item 2, 'x', is not a positive integer"},
        {"hidden", "5,,4", "item 2, '', is not a positive integer"},
        {"hidden", "", "metadata 'hidden' = '': item 1"},
        {"hidden", "5,0", "item 2, '0', is not a positive integer"},
        {"hidden", "1,1,1,1,1,1,1,1,1", "metadata 'hidden' lists 9 layers; expected 1 to 8"},
        {"hidden", nullptr, "metadata 'hidden' is missing"},
        {"activations", "tanh,relu", "metadata 'activations' = 'tanh,relu': item 2, 'relu', is not an activation"},
        {"activations", "tanh,Softplus", "item 2, 'Softplus', is not an activation"},
        {"activations", "tanh", "'activations' lists 1 activations but 'hidden' lists 2 layers"},
        {"activations", "tanh,sin,sin", "'activations' lists 3 activations but 'hidden' lists 2 layers"},
        {"activations", nullptr, "metadata 'activations' is missing"},
        {"parameters", "mu,log_tau", "metadata 'parameters' names 2 parameters; the network's theta has 3"},
        {"parameters", "mu,,beta", "metadata 'parameters' = 'mu,,beta': item 2, '', is not a parameter name"},
        {"parameters", "mu,mu,beta", "item 2, 'mu', is not a new name"},
        {"format", "pmhmc-hnn\n\x1b[31m", "'pmhmc-hnn\\x0a\\x1b[31m'"}, // control bytes shown, not sent
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(std::string(c.key) + " = " + (c.value ? c.value : "(absent)"));
        File f = g.file();
        if (c.value)
            f.set(c.key, c.value);
        else
            f.erase(c.key);
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, c.message)) << r.err.message;
    }

    // Not a weights file of this format at all: no metadata.
    File f = g.file();
    f.meta.clear();
    Loaded r = g.refuse(f);
    EXPECT_TRUE(contains(r.err, "metadata 'format' is missing")) << r.err.message;
}

TEST(MlpIo, RefusesNonFiniteValuesAndNonPositiveScales)
{
    Good g;
    struct Case {
        const char *tensor;
        size_t index;
        double value;
        const char *message;
    } cases[] = {
        {"layers.1.weight", 1 * 6 + 2, NAN, "tensor 'layers.1.weight' element [1, 2] is nan; expected a finite value"},
        {"layers.2.bias", 3, INFINITY, "tensor 'layers.2.bias' element [3] is inf"},
        {"output.weight", 0, -INFINITY, "tensor 'output.weight' element [0, 0] is -inf"},
        {"input.mean", 5, NAN, "tensor 'input.mean' element [5] is nan"},
        {"input.sd", 2, 0.0, "tensor 'input.sd' element [2] is 0; expected a finite standard deviation > 0"},
        {"input.sd", 0, -1.5, "tensor 'input.sd' element [0] is -1.5"},
        {"input.sd", 4, INFINITY, "tensor 'input.sd' element [4] is inf"},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.tensor);
        File f = g.file();
        f.tensor(c.tensor)->data[c.index] = c.value;
        Loaded r = g.refuse(f);
        EXPECT_TRUE(contains(r.err, c.message)) << r.err.message;
    }
}

TEST(MlpIo, RefusesEveryTruncation)
{
    Good g;
    std::string bytes = slurp(g.path);
    ASSERT_GT(bytes.size(), 200u);
    std::string bad = g.dir.file("cut.safetensors");
    for (size_t len = 0; len < bytes.size(); ++len) {
        g.dir.write("cut.safetensors", bytes.substr(0, len));
        Loaded r = load(bad);
        ASSERT_EQ(r.status, PMHMC_ERR_PARSE) << "length " << len << ": " << r.err.message;
        ASSERT_TRUE(contains(r.err, bad)) << "length " << len << ": " << r.err.message;
    }
}

TEST(MlpIo, CorruptedHeaderBytesAreRefusedOrHarmless)
{
    Good g;
    std::string bytes = slurp(g.path);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i)
        n |= (uint64_t)(unsigned char)bytes[i] << (8 * i);
    ASSERT_LT(8 + n, bytes.size());
    std::string bad = g.dir.file("corrupt.safetensors");

    // Targeted: the JSON's first brace, a dtype, a shape digit, the length.
    struct Case {
        std::string from, to;
        pmhmc_status status;
    } cases[] = {
        {"{", "[", PMHMC_ERR_PARSE},
        {"\"F64\"", "\"F65\"", PMHMC_ERR_PARSE},
        {"\"latent\"", "\"latenT\"", PMHMC_ERR_PARSE},
        {"\"layers.1.weight\"", "\"layers.1.weighT\"", PMHMC_ERR_PARSE},
    };
    for (const Case &c : cases) {
        std::string b = bytes;
        size_t at = b.find(c.from, 8);
        ASSERT_LT(at, 8 + n) << c.from;
        b.replace(at, c.from.size(), c.to);
        g.dir.write("corrupt.safetensors", b);
        Loaded r = load(bad);
        EXPECT_NE(r.status, PMHMC_OK) << c.from;
        EXPECT_TRUE(r.status == c.status || r.status == PMHMC_ERR_UNSUPPORTED) << pmhmc_status_str(r.status);
        EXPECT_TRUE(contains(r.err, bad)) << r.err.message;
    }
    {
        std::string b = bytes;
        b[0] = (char)(b[0] + 8);
        g.dir.write("corrupt.safetensors", b);
        Loaded r = load(bad);
        EXPECT_EQ(r.status, PMHMC_ERR_PARSE) << r.err.message;
    }

    // Every byte of the length and the header with one bit flipped: either
    // refused with a message naming the file, or (a flip in a field the
    // loader ignores, or in a name) loaded with every weight intact.
    size_t refused = 0;
    for (size_t at = 0; at < 8 + n; ++at) {
        for (unsigned char bit : {0x01, 0x20, 0x80}) {
            std::string b = bytes;
            b[at] = (char)(b[at] ^ bit);
            g.dir.write("corrupt.safetensors", b);
            Loaded r = load(bad);
            if (r.status == PMHMC_OK) {
                expect_same_network(g.mlp.get(), r.mlp.get());
                if (::testing::Test::HasFailure())
                    FAIL() << "byte " << at << " ^ " << (int)bit << " loaded a different network";
            } else {
                ++refused;
                ASSERT_TRUE(r.status == PMHMC_ERR_PARSE || r.status == PMHMC_ERR_UNSUPPORTED)
                    << "byte " << at << ": " << pmhmc_status_str(r.status);
                ASSERT_TRUE(contains(r.err, bad)) << "byte " << at << ": " << r.err.message;
            }
        }
    }
    EXPECT_GT(refused, 3 * (8 + n) / 2);
}

TEST(MlpIo, UnreadableFileIsAnIoError)
{
    TempDir dir;
    std::string path = dir.file("absent.safetensors");
    Loaded r = load(path);
    EXPECT_EQ(r.status, PMHMC_ERR_IO);
    EXPECT_TRUE(contains(r.err, path)) << r.err.message;
}

TEST(MlpIo, SaveRefusesWhatLoadWouldRefuse)
{
    TempDir dir;
    std::string path = dir.file("w.safetensors");
    pmhmc_mlp_spec spec = make_spec(PMHMC_MLP_LATENT, 4, 2, {3}, {PMHMC_ACT_TANH});
    Mlp m = make_mlp(spec, 5);
    pmhmc_error err{};
    auto save = [&](std::vector<const char *> names) {
        return pmhmc_mlp_save(m.get(), path.c_str(), names.data(), names.size(), &err);
    };
    EXPECT_EQ(save({"a"}), PMHMC_ERR_ARG);
    EXPECT_TRUE(contains(err, "1 parameter names for a latent network of theta dimension 2")) << err.message;
    EXPECT_EQ(save({"a", "b,c"}), PMHMC_ERR_ARG);
    EXPECT_TRUE(contains(err, "parameter name 1, 'b,c', holds a comma")) << err.message;
    EXPECT_EQ(save({"a", ""}), PMHMC_ERR_ARG);
    EXPECT_TRUE(contains(err, "parameter name 1 is empty")) << err.message;
    EXPECT_EQ(save({"a", "a"}), PMHMC_ERR_ARG);
    EXPECT_TRUE(contains(err, "parameter names 0 and 1 are both 'a'")) << err.message;
    EXPECT_EQ(save({"a", "\xff"}), PMHMC_ERR_ARG); // not UTF-8: the writer refuses
    EXPECT_EQ(pmhmc_mlp_save(m.get(), path.c_str(), nullptr, 2, &err), PMHMC_ERR_ARG);

    m->weights[3] = NAN;
    EXPECT_EQ(save({}), PMHMC_ERR_DATA);
    EXPECT_TRUE(contains(err, "tensor 'layers.1.weight' element [0, 3] is nan")) << err.message;
    m->weights[3] = 0.0;
    m->in_sd[1] = 0.0;
    EXPECT_EQ(save({}), PMHMC_ERR_DATA);
    EXPECT_TRUE(contains(err, "tensor 'input.sd' element [1] is 0")) << err.message;
    EXPECT_TRUE(dir.entries().empty());

    EXPECT_EQ(pmhmc_mlp_save(m.get(), dir.file("no/such/dir.safetensors").c_str(), nullptr, 0, &err),
              PMHMC_ERR_DATA); // in_sd[1] is still 0: values are checked first
    m->in_sd[1] = 1.0;
    EXPECT_EQ(pmhmc_mlp_save(m.get(), dir.file("no/such/dir.safetensors").c_str(), nullptr, 0, &err), PMHMC_ERR_IO);
}

TEST(MlpIo, CheckParamsNamesTheFirstMismatch)
{
    Good g;
    Loaded r = load(g.path);
    ASSERT_EQ(r.status, PMHMC_OK) << r.err.message;
    auto stored = c_strs(r.names);
    pmhmc_error err{};
    auto check = [&](std::vector<const char *> stored_names, std::vector<const char *> model) {
        return pmhmc_mlp_check_params(r.mlp.get(), g.path.c_str(), stored_names.data(), stored_names.size(),
                                      model.data(), model.size(), &err);
    };
    EXPECT_EQ(check(stored, {"mu", "log_tau", "beta"}), PMHMC_OK) << err.message;
    EXPECT_EQ(check(stored, {"mu", "log_sigma", "gamma"}), PMHMC_ERR_DATA);
    EXPECT_TRUE(contains(err, g.path + ": the network was trained for another model: its parameter 2 is 'log_tau', "
                                       "this model's is 'log_sigma'"))
        << err.message;
    EXPECT_EQ(check(stored, {"mu", "log_tau"}), PMHMC_ERR_DATA);
    EXPECT_TRUE(contains(err, "the latent network takes 3 parameters (n_in = 6); this model has 2")) << err.message;
    // No stored names: only the dimension can be checked.
    EXPECT_EQ(check({}, {"x", "y", "z"}), PMHMC_OK) << err.message;
    EXPECT_EQ(check({}, {"x", "y", "z", "w"}), PMHMC_ERR_DATA);
}

} // namespace
