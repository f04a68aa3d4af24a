/* The config layer: one table of keys (below) drives defaults, parsing,
 * validation, overrides, --help and the header echo. */
#define _POSIX_C_SOURCE 200809L /* getline, strdup */

#include "io/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pmhmc/run.h"
#include "pmhmc/sampler.h"

/* KEY_INT_OR_AUTO: KEY_INT, or "auto" (stored as 0, below every such
 * key's range: model.N); KEY_POSITIVE: a finite number > 0; KEY_POSITIVE_LIST: a comma-separated
 * list of them; KEY_FRACTION: a number strictly between 0 and 1
 * (adapt.delta); KEY_NONNEGATIVE: a finite number >= 0 (sampler.init_jitter,
 * where 0 means "no jitter"); KEY_BOOL: true or false, CmdStan's spelling, into
 * an int. */
typedef enum key_type {
    KEY_INT,
    KEY_INT_OR_AUTO,
    KEY_POSITIVE,
    KEY_POSITIVE_LIST,
    KEY_NONNEGATIVE,
    KEY_FRACTION,
    KEY_CHOICE,
    KEY_PATH,
    KEY_BOOL
} key_type;

typedef struct key_spec {
    const char *section;
    const char *name;
    key_type type;
    const char *default_text; /* NULL: required */
    uint64_t int_lo, int_hi;    /* KEY_INT(_OR_AUTO): the inclusive range */
    const char *const *choices; /* KEY_CHOICE: NULL-terminated, or */
    const char *(*choice_at)(size_t i); /* the i-th of a registry's names, NULL past the last */
    size_t offset;              /* of the typed field in pmhmc_config */
    const char *doc;
} key_spec;

static const char *choice(const key_spec *k, size_t i) { return k->choice_at ? k->choice_at(i) : k->choices[i]; }

static const char *const MODEL_NAMES[] = {"glmm", "normal_re", NULL};
static const char *const ESTIMATORS[] = {"importance", "quadrature", NULL};
static const char *const PROPOSALS[] = {"laplace", "prior", "fixed", NULL};
static const char *const UTURNS[] = {"auto", "extended", "theta", NULL};
static const char *const ENGAGED[] = {"auto", "true", "false", NULL};
static const char *const HNN_KINDS[] = {"potential", "latent", NULL};
static const char *const HNN_ACCEPTS[] = {"exact", "surrogate", NULL};
static const char *const HNN_MONITORS[] = {"surrogate", "true", NULL};
static const char *const ACTIVATIONS[] = {"softplus", "sin", "tanh", NULL};
static const char *const BACKENDS[] = {"cpu", "auto", "cuda", NULL};
static const char *const PRECISIONS[] = {"auto", "double", "float", NULL};

/* sampler.algorithm: the library's registry of algorithms. */
static const char *algorithm_name(size_t i)
{
    const pmhmc_algorithm_info *a = pmhmc_algorithm_at(i);
    return a ? a->name : NULL;
}

#define INT_KEY(sec, key, def, lo, hi, field, doc) \
    {sec, key, KEY_INT, def, lo, hi, NULL, NULL, offsetof(pmhmc_config, field), doc}
#define POSITIVE_KEY(sec, key, type, def, field, doc) \
    {sec, key, type, def, 0, 0, NULL, NULL, offsetof(pmhmc_config, field), doc}
#define CHOICE_KEY(sec, key, def, choices, field, doc) \
    {sec, key, KEY_CHOICE, def, 0, 0, choices, NULL, offsetof(pmhmc_config, field), doc}
#define REGISTRY_KEY(sec, key, def, choice_at, field, doc) \
    {sec, key, KEY_CHOICE, def, 0, 0, NULL, choice_at, offsetof(pmhmc_config, field), doc}
#define PATH_KEY(sec, key, def, field, doc) \
    {sec, key, KEY_PATH, def, 0, 0, NULL, NULL, offsetof(pmhmc_config, field), doc}
#define BOOL_KEY(sec, key, def, field, doc) \
    {sec, key, KEY_BOOL, def, 0, 0, NULL, NULL, offsetof(pmhmc_config, field), doc}

static const key_spec KEYS[] = {
    CHOICE_KEY("model", "name", "glmm", MODEL_NAMES, model.name, "the model"),
    PATH_KEY("model", "data", NULL, model.data, "the data CSV (id,y[,covariates...])"),
    {"model", "N", KEY_INT_OR_AUTO, "128", 1, 100000000, NULL, NULL, offsetof(pmhmc_config, model.N),
     "importance draws per group (model.estimator = quadrature: nodes per mixture component, at most 128); auto: "
     "each chain takes the smallest power of two whose sd of log phat is at most model.noise_target: for sampling "
     "up to 1024, chosen where warm-up ends; for warm-up up to 128, chosen where it starts, with a target of at "
     "least 1.5"},
    POSITIVE_KEY("model", "noise_target", KEY_POSITIVE, "0.25", model.noise_target,
                 "model.N = auto: the largest sd of log phat (over 16 fresh u) to accept"),
    CHOICE_KEY("model", "estimator", "importance", ESTIMATORS, model.estimator,
               "importance: importance sampling driven by the auxiliary normals u, with model.proposal; quadrature: "
               "adaptive Gauss-Hermite over each group's random effect (no u; the exact likelihood, so PM-NUTS "
               "becomes NUTS on the exact posterior)"),
    CHOICE_KEY("model", "proposal", "laplace", PROPOSALS, model.proposal,
               "the importance proposal per group: laplace (per mixture component the Laplace approximation of the "
               "group's posterior of the random effect, N/2 draws each: the least noise), prior (the random "
               "effect's own components), fixed (N(0, model.is_scale^2), the source report's X = s u)"),
    POSITIVE_KEY("model", "is_scale", KEY_POSITIVE, "3", model.is_scale,
                 "s, scale of model.proposal = fixed: X = s u"),
    POSITIVE_KEY("model", "prior_var", KEY_POSITIVE, "100", model.prior_var,
                 "sigma0^2 of the N(0, sigma0^2) prior on every parameter"),
    REGISTRY_KEY("sampler", "algorithm", "pmnuts", algorithm_name, sampler.algorithm,
               "pmnuts: pseudo-marginal NUTS with Stan's adaptation (the [nuts] and [adapt] keys); pmhmc: pseudo-marginal HMC with sampler.steps steps of sampler.step_size; hnn_hmc: HMC with sampler.steps steps on the HNN surrogate in hnn.weights, accepted as hnn.accept says; hnn_nuts: NUTS on theta with the surrogate's dynamics, watched by hnn.monitor"),
    INT_KEY("sampler", "iterations", "1000", 1, 1000000000, sampler.iterations,
            "saved draws"),
    INT_KEY("sampler", "warmup", "1000", 0, 1000000000, sampler.warmup,
            "transitions run before the saved ones and not saved"),
    POSITIVE_KEY("sampler", "step_size", KEY_POSITIVE, "0.025", sampler.step_size,
                 "h, the integrator step size; with adaptation, where the step-size search starts"),
    INT_KEY("sampler", "steps", "20", 1, 1000000, sampler.steps,
            "pmhmc: L, integrator steps per transition"),
    POSITIVE_KEY("sampler", "mass", KEY_POSITIVE_LIST, "10", sampler.mass,
                 "mass matrix of theta: one value m (M = m I) or one per parameter (diagonal M)"),
    INT_KEY("sampler", "seed", "1", 0, UINT64_MAX, sampler.seed,
            "random seed; the same seed and config give the same draws"),
    INT_KEY("sampler", "chains", "4", 1, PMHMC_RUN_MAX_CHAINS, sampler.chains,
            "number of chains, run in parallel (one thread each up to 64; beyond that, one per core on the CPU "
            "backend, 64 on the GPU, each running one chain at a time); output.file out.csv becomes out_1.csv .. "
            "out_K.csv when K > 1"),
    INT_KEY("sampler", "superchains", "0", 0, PMHMC_RUN_MAX_CHAINS, sampler.superchains,
            "0: every chain starts from its own point; S: the chains form S superchains of sampler.chains / S "
            "consecutive chains, all the chains of one starting where its first chain would (for nested R-hat, "
            "nR_hat in the table at the end; S must divide sampler.chains, from 2 up)"),
    POSITIVE_KEY("sampler", "init_jitter", KEY_NONNEGATIVE, "1", sampler.init_jitter,
                 "chain k starts at the model's initial values plus init_jitter * N(0, 1) per parameter, drawn from chain k's stream; 0: the documented start"),
    PATH_KEY("sampler", "init", "", sampler.init,
             "start each chain at the last saved draw of this draws file (chain k: the file with _k before the extension when sampler.chains > 1, as output.file names them), plus init_jitter noise; empty: the model's documented start"),
    CHOICE_KEY("sampler", "backend", "auto", BACKENDS, sampler.backend,
               "auto: cuda when a GPU is usable, else cpu with a one-line notice; cpu; cuda (error without a usable GPU)"),
    CHOICE_KEY("sampler", "precision", "auto", PRECISIONS, sampler.precision,
               "auto: double on cpu, float on cuda"),
    INT_KEY("nuts", "max_depth", "10", 1, 30, nuts.max_depth,
            "at most 2^max_depth integrator steps per transition; reaching it is reported"),
    POSITIVE_KEY("nuts", "max_delta_h", KEY_POSITIVE, "1000", nuts.max_delta_h,
                 "a step with H - H0 above this is a divergence and ends the trajectory"),
    CHOICE_KEY("nuts", "uturn", "auto", UTURNS, nuts.uturn,
               "what the U-turn criterion looks at: extended (theta and u) or theta (theta only); auto: extended on the cpu backend, theta on cuda, the faster of the two on each (bench/RESULTS.md)"),
    POSITIVE_KEY("chees", "delta", KEY_FRACTION, "0.651", chees.delta,
                 "chees: the harmonic mean over chains of the acceptance probabilities the shared step size is tuned "
                 "to (0.651: the optimum for HMC, Beskos et al. 2013)"),
    POSITIVE_KEY("chees", "learning_rate", KEY_POSITIVE, "0.025", chees.learning_rate,
                 "chees: Adam's learning rate on the log of the shared trajectory length, which ascends the ChEES "
                 "criterion in warm-up"),
    CHOICE_KEY("adapt", "engaged", "auto", ENGAGED, adapt.engaged,
               "adapt the step size (and metric) during warm-up; auto: true for pmnuts, hnn_hmc, hnn_nuts and chees "
               "(its step size and trajectory length, across chains), false for pmhmc"),
    BOOL_KEY("adapt", "metric", "true", adapt.metric,
             "also learn the diagonal inverse metric of theta from windows of warm-up (u keeps unit mass)"),
    POSITIVE_KEY("adapt", "delta", KEY_FRACTION, "0.8", adapt.delta, "target average acceptance statistic"),
    POSITIVE_KEY("adapt", "gamma", KEY_POSITIVE, "0.05", adapt.gamma, "dual averaging: adaptation regularization scale"),
    POSITIVE_KEY("adapt", "kappa", KEY_POSITIVE, "0.75", adapt.kappa, "dual averaging: relaxation exponent"),
    POSITIVE_KEY("adapt", "t0", KEY_NONNEGATIVE, "10", adapt.t0, "dual averaging: adaptation iteration offset"),
    INT_KEY("adapt", "init_buffer", "75", 0, 1000000000, adapt.init_buffer,
            "warm-up iterations before the first metric window"),
    INT_KEY("adapt", "term_buffer", "50", 0, 1000000000, adapt.term_buffer,
            "warm-up iterations after the last metric window (step size only)"),
    INT_KEY("adapt", "window", "25", 1, 1000000000, adapt.window,
            "the first metric window; each next one is twice as long, the last stretched to the terminal buffer"),
    PATH_KEY("hnn", "collect", "", hnn.collect,
             "record HNN training data (theta, rho, gradient, M^-1 rho at every gradient evaluation of the trajectories) to this file, one per chain like output.file; empty: none"),
    BOOL_KEY("hnn", "collect_warmup", "true", hnn.collect_warmup, "record during warm-up too"),
    INT_KEY("hnn", "collect_every", "1", 1, 1000000000, hnn.collect_every,
            "keep every k-th gradient evaluation"),
    CHOICE_KEY("hnn", "kind", "potential", HNN_KINDS, hnn.kind,
               "pmhmc train: potential (input theta, output U~; H~ = U~ + rho'M^-1 rho/2) or latent (input (theta, rho), outputs summed into H~)"),
    POSITIVE_KEY("hnn", "hidden", KEY_POSITIVE_LIST, "64,64", hnn.hidden,
                 "pmhmc train: the hidden layers' widths (1 to 8 integers)"),
    CHOICE_KEY("hnn", "activation", "softplus", ACTIVATIONS, hnn.activation,
               "pmhmc train: the hidden layers' activation"),
    INT_KEY("hnn", "latent_outputs", "8", 1, 65536, hnn.latent_outputs,
            "pmhmc train: outputs of a latent network (summed into H~)"),
    POSITIVE_KEY("hnn", "outlier_factor", KEY_NONNEGATIVE, "100", hnn.outlier_factor,
                 "pmhmc train: leave out records whose gradient norm is over this times the median (divergent trajectories' leaves); 0: keep every record"),
    INT_KEY("hnn", "epochs", "500", 1, 1000000, hnn.epochs, "pmhmc train: at most this many epochs"),
    INT_KEY("hnn", "batch", "64", 1, 1048576, hnn.batch, "pmhmc train: rows per Adam step"),
    INT_KEY("hnn", "patience", "50", 0, 1000000, hnn.patience,
            "pmhmc train: stop after this many epochs without a better validation loss; 0: never early"),
    POSITIVE_KEY("hnn", "learning_rate", KEY_POSITIVE, "0.001", hnn.learning_rate,
                 "pmhmc train: Adam's initial rate (halved every 100 epochs)"),
    POSITIVE_KEY("hnn", "validation", KEY_FRACTION, "0.2", hnn.validation,
                 "pmhmc train: the fraction of the records held out"),
    PATH_KEY("hnn", "weights", "hnn.safetensors", hnn.weights,
             "pmhmc train: where the trained network goes (safetensors); hnn_hmc: the surrogate it runs on"),
    CHOICE_KEY("hnn", "accept", "exact", HNN_ACCEPTS, hnn.accept,
               "hnn_hmc: exact (potential networks: a second test with u moved by Crank-Nicolson and one estimator evaluation, so the chain targets the posterior) or surrogate (Metropolis on H~ alone: no estimator, the chain targets the surrogate)"),
    POSITIVE_KEY("hnn", "cn_angle", KEY_POSITIVE, "0.1", hnn.cn_angle,
                 "hnn_hmc exact mode: a in u* = u cos a + xi sin a, at most pi/2 (a fresh u); small a keeps log phat correlated between the two states"),
    CHOICE_KEY("hnn", "monitor", "surrogate", HNN_MONITORS, hnn.monitor,
               "hnn_nuts: the error watched along a tree: surrogate (|H~ - H~0|, free) or true (the pseudo-marginal energy at the chain's u, one estimator evaluation per leaf; not with hnn.accept = exact)"),
    POSITIVE_KEY("hnn", "max_error", KEY_POSITIVE, "10", hnn.max_error,
                 "hnn_nuts: past this monitored error, surrogate mode finishes the tree with the true gradient and runs hnn.cooldown PM-NUTS transitions; exact mode ends the tree as a divergence"),
    INT_KEY("hnn", "cooldown", "20", 0, 1000000000, hnn.cooldown,
            "hnn_nuts surrogate mode: PM-NUTS transitions after a fallback, from a fresh u"),
    INT_KEY("hnn", "pilot_warmup", "500", 1, 1000000000, hnn.pilot_warmup,
            "pmhmc pipeline: warm-up transitions of the PM-NUTS run that records the training data"),
    INT_KEY("hnn", "pilot_iterations", "500", 1, 1000000000, hnn.pilot_iterations,
            "pmhmc pipeline: saved transitions of that run (recorded too)"),
    PATH_KEY("hnn", "train_log", "", hnn.train_log,
             "pmhmc train: the per-epoch CSV (epoch, learning rate, losses, gradient error); empty: beside the weights, _log.csv"),
    PATH_KEY("output", "file", "output.csv", output.file, "the draws CSV (CmdStan layout)"),
    INT_KEY("output", "refresh", "100", 0, 1000000000, output.refresh,
            "print progress every this many transitions; 0: never"),
    PATH_KEY("output", "checkpoint", "", output.checkpoint,
             "checkpoint file, rewritten atomically every output.checkpoint_every transitions and on SIGINT/SIGTERM; resume with pmhmc sample CONFIG --resume FILE; empty: none"),
    INT_KEY("output", "checkpoint_every", "100", 1, 1000000000, output.checkpoint_every,
            "transitions of each chain between checkpoints"),
    BOOL_KEY("output", "report", "true", output.report,
             "write the HTML page of pmhmc report beside the draws (out.csv: out.html) when sampling succeeds"),
};
enum { N_KEYS = sizeof KEYS / sizeof KEYS[0] };
_Static_assert(N_KEYS <= PMHMC_CONFIG_MAX_KEYS, "raise PMHMC_CONFIG_MAX_KEYS");

static const char *const SECTIONS = "[model], [sampler], [nuts], [chees], [adapt], [hnn] or [output]";

/* ---- the table's expectations, for messages and --help ------------------ */

static void describe_expected(const key_spec *k, char *buf, size_t len)
{
    switch (k->type) {
    case KEY_INT:
    case KEY_INT_OR_AUTO: {
        const char *auto_text = k->type == KEY_INT_OR_AUTO ? "auto or " : "";
        if (k->int_lo == k->int_hi)
            snprintf(buf, len, "%s%llu", auto_text, (unsigned long long)k->int_lo);
        else if (k->int_hi == UINT64_MAX)
            snprintf(buf, len, "%san integer in [%llu, 2^64)", auto_text, (unsigned long long)k->int_lo);
        else
            snprintf(buf, len, "%san integer in [%llu, %llu]", auto_text, (unsigned long long)k->int_lo,
                     (unsigned long long)k->int_hi);
        break;
    }
    case KEY_POSITIVE:
        snprintf(buf, len, "a positive number");
        break;
    case KEY_POSITIVE_LIST:
        snprintf(buf, len, "a positive number or a comma-separated list of them");
        break;
    case KEY_NONNEGATIVE:
        snprintf(buf, len, "a number >= 0");
        break;
    case KEY_FRACTION:
        snprintf(buf, len, "a number between 0 and 1 (exclusive)");
        break;
    case KEY_CHOICE: {
        size_t used = (size_t)snprintf(buf, len, "one of");
        for (size_t i = 0; choice(k, i) && used < len; ++i)
            used += (size_t)snprintf(buf + used, len - used, "%s %s", i ? "," : ":", choice(k, i));
        break;
    }
    case KEY_PATH:
        snprintf(buf, len, k->default_text && !*k->default_text ? "a file path, or nothing for none" : "a file path");
        break;
    case KEY_BOOL:
        snprintf(buf, len, "true or false");
        break;
    }
}

static void *field(pmhmc_config *cfg, const key_spec *k) { return (char *)cfg + k->offset; }

static int find_key(const char *section, const char *name)
{
    for (int i = 0; i < N_KEYS; ++i)
        if (strcmp(KEYS[i].section, section) == 0 && strcmp(KEYS[i].name, name) == 0)
            return i;
    return -1;
}

static int known_section(const char *section)
{
    for (int i = 0; i < N_KEYS; ++i)
        if (strcmp(KEYS[i].section, section) == 0)
            return 1;
    return 0;
}

static void list_keys(const char *section, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_KEYS && used < len; ++i)
        if (strcmp(KEYS[i].section, section) == 0)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", KEYS[i].name);
}

/* ---- "did you mean" -------------------------------------------------------- */

/* Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions), case-insensitive, of strings up to 63 characters;
 * longer ones count as far apart. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63)
        return SIZE_MAX;
    size_t d[64][64];
    for (size_t i = 0; i <= n; ++i)
        d[i][0] = i;
    for (size_t j = 0; j <= m; ++j)
        d[0][j] = j;
    for (size_t i = 1; i <= n; ++i)
        for (size_t j = 1; j <= m; ++j) {
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j - 1] + !same;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

/* The known key nearest to section.name, as " (did you mean S.K?)" in buf,
 * or "" when none is close: within a third of the key's length (at least
 * 2 edits), so a typo or a key put in the wrong section is caught and an
 * unrelated word is not. A bare name that exists in exactly one other
 * section is suggested there too. */
static void suggest_key(const char *section, const char *name, char *buf, size_t len)
{
    char given[160];
    snprintf(given, sizeof given, "%s.%s", section, name);
    size_t best = SIZE_MAX;
    int best_i = -1, name_matches = 0, name_i = -1;
    for (int i = 0; i < N_KEYS; ++i) {
        char full[160];
        snprintf(full, sizeof full, "%s.%s", KEYS[i].section, KEYS[i].name);
        size_t d = edit_distance(given, full);
        size_t limit = strlen(full) / 3 > 2 ? strlen(full) / 3 : 2;
        if (d <= limit && d < best) {
            best = d;
            best_i = i;
        }
        if (strcmp(KEYS[i].name, name) == 0) {
            ++name_matches;
            name_i = i;
        }
    }
    if (best_i < 0 && name_matches == 1)
        best_i = name_i;
    if (best_i < 0)
        buf[0] = '\0';
    else
        snprintf(buf, len, " (did you mean %s.%s?)", KEYS[best_i].section, KEYS[best_i].name);
}

/* The known section nearest to an unknown one, as " (did you mean [S]?)". */
static void suggest_section(const char *section, char *buf, size_t len)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (int i = 0; i < N_KEYS; ++i) {
        size_t d = edit_distance(section, KEYS[i].section);
        size_t limit = strlen(KEYS[i].section) / 3 > 2 ? strlen(KEYS[i].section) / 3 : 2;
        if (d <= limit && d < best_d) {
            best_d = d;
            best = KEYS[i].section;
        }
    }
    if (best)
        snprintf(buf, len, " (did you mean [%s]?)", best);
    else
        buf[0] = '\0';
}

/* The hint for an unknown section.name: the nearest key when one is close
 * (covers a misspelt section with a right key), else the nearest section. */
static void suggest(const char *section, const char *name, char *buf, size_t len)
{
    suggest_key(section, name, buf, len);
    if (!buf[0] && !known_section(section))
        suggest_section(section, buf, len);
}

/* ---- parsing one value --------------------------------------------------- */

/* Returns 0 when text is a number in range; otherwise -1 (not a number) or
 * -2 (out of range). */
static int parse_int(const key_spec *k, const char *text, uint64_t *out)
{
    const char *s = text;
    int negative = *s == '-';
    if (*s == '-' || *s == '+')
        ++s;
    if (!*s)
        return -1;
    for (const char *c = s; *c; ++c)
        if (!isdigit((unsigned char)*c))
            return -1;
    if (negative && strspn(s, "0") != strlen(s))
        return -2; /* every range starts at 0 or above */
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v < k->int_lo || v > k->int_hi)
        return -2;
    *out = (uint64_t)v;
    return 0;
}

/* A finite number in the range of a KEY_POSITIVE(_LIST), KEY_NONNEGATIVE or
 * KEY_FRACTION key: 0, or -1 when it is not a number, -2 when out of range. */
static int parse_real(key_type type, const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end)
        return -1;
    const int in_range = type == KEY_NONNEGATIVE ? v >= 0.0 : type == KEY_FRACTION ? v > 0.0 && v < 1.0 : v > 0.0;
    if (!isfinite(v) || !in_range)
        return -2;
    *out = v == 0.0 ? 0.0 : v; /* -0 reads as 0 */
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        ++s;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Parses a comma-separated list; on failure *bad_index is the 1-based
 * position of the offending item. */
static int parse_list(const char *text, pmhmc_config_list *out, size_t *bad_index)
{
    char *copy = strdup(text);
    size_t n = 1;
    for (const char *c = text; *c; ++c)
        n += *c == ',';
    double *values = calloc(n, sizeof *values);
    if (!copy || !values) {
        free(copy);
        free(values);
        return -3;
    }
    char *item = copy;
    for (size_t i = 0; i < n; ++i) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        int rc = parse_real(KEY_POSITIVE, trim(item), &values[i]);
        if (rc != 0) {
            *bad_index = i + 1;
            free(copy);
            free(values);
            return rc;
        }
        item = comma + 1;
    }
    free(copy);
    out->values = values;
    out->n = n;
    return 0;
}

static int is_absolute(const char *path) { return path[0] == '/'; }

/* A relative path from the file is joined to the file's directory. */
static char *resolve_path(const pmhmc_config *cfg, const char *text, pmhmc_config_origin origin)
{
    if (origin != PMHMC_CONFIG_FILE || is_absolute(text) || !cfg->dir || strcmp(cfg->dir, ".") == 0)
        return strdup(text);
    size_t len = strlen(cfg->dir) + 1 + strlen(text) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s/%s", cfg->dir, text);
    return out;
}

/* Where a key's value came from, as a message prefix. */
static void describe_origin(const pmhmc_config *cfg, pmhmc_config_origin origin, int line, char *buf,
                            size_t len)
{
    const char *file = cfg->path ? cfg->path : "(no config file)";
    switch (origin) {
    case PMHMC_CONFIG_FILE:
        snprintf(buf, len, "%s:%d:", file, line);
        break;
    case PMHMC_CONFIG_COMMAND_LINE:
        snprintf(buf, len, "%s: command-line override", file);
        break;
    case PMHMC_CONFIG_DEFAULT:
        snprintf(buf, len, "%s: default", file);
        break;
    }
}

/* Parses text into key i and records where it came from. On a bad value the
 * key keeps its previous value. */
static pmhmc_status set_value(pmhmc_config *cfg, int i, const char *text, pmhmc_config_origin origin,
                              int line, pmhmc_error *err)
{
    const key_spec *k = &KEYS[i];
    char where[512], expected[96];
    describe_origin(cfg, origin, line, where, sizeof where);
    describe_expected(k, expected, sizeof expected);

    char *saved_text = strdup(text);
    if (!saved_text)
        return PMHMC_ERR_NOMEM;
    int rc = 0;
    size_t bad_index = 0;
    switch (k->type) {
    case KEY_INT:
        rc = parse_int(k, text, field(cfg, k));
        break;
    case KEY_INT_OR_AUTO:
        if (strcmp(text, "auto") == 0)
            *(uint64_t *)field(cfg, k) = PMHMC_CONFIG_N_AUTO;
        else
            rc = parse_int(k, text, field(cfg, k));
        break;
    case KEY_POSITIVE:
    case KEY_NONNEGATIVE:
    case KEY_FRACTION:
        rc = parse_real(k->type, text, field(cfg, k));
        break;
    case KEY_POSITIVE_LIST: {
        pmhmc_config_list list;
        rc = parse_list(text, &list, &bad_index);
        if (rc == 0) {
            pmhmc_config_list *dst = field(cfg, k);
            free(dst->values);
            *dst = list;
        }
        break;
    }
    case KEY_CHOICE:
        rc = -1;
        for (size_t c = 0; choice(k, c); ++c)
            if (strcmp(text, choice(k, c)) == 0) {
                *(const char **)field(cfg, k) = choice(k, c);
                rc = 0;
            }
        break;
    case KEY_BOOL:
        rc = strcmp(text, "true") == 0 || strcmp(text, "false") == 0 ? 0 : -1;
        if (rc == 0)
            *(int *)field(cfg, k) = text[0] == 't';
        break;
    case KEY_PATH: {
        if (!*text && k->default_text && !*k->default_text) { /* an optional path: "" turns it off */
            char **dst = field(cfg, k);
            free(*dst);
            *dst = NULL;
            break;
        }
        if (!*text) {
            rc = -1;
            break;
        }
        char *resolved = resolve_path(cfg, text, origin);
        if (!resolved) {
            rc = -3;
            break;
        }
        char **dst = field(cfg, k);
        free(*dst);
        *dst = resolved;
        /* The echo shows the path that is used. */
        free(saved_text);
        saved_text = strdup(resolved);
        if (!saved_text)
            rc = -3;
        break;
    }
    }
    if (rc == -3) {
        free(saved_text);
        return PMHMC_ERR_NOMEM;
    }
    if (rc != 0) {
        free(saved_text);
        if (bad_index)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s %s.%s = '%s': item %zu is %s; expected %s", where,
                              k->section, k->name, text, bad_index,
                              rc == -1 ? "not a number" : "out of range", expected);
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s %s.%s = '%s': %sexpected %s", where, k->section,
                          k->name, text, rc == -2 ? "out of range; " : "", expected);
    }
    struct pmhmc_config_value *v = &cfg->values[i];
    free(v->text);
    v->text = saved_text;
    v->origin = origin;
    v->line = line;
    return PMHMC_OK;
}

/* ---- life cycle ------------------------------------------------------------ */

pmhmc_status pmhmc_config_init(pmhmc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_KEYS; ++i) {
        if (!KEYS[i].default_text)
            continue;
        pmhmc_status st = set_value(cfg, i, KEYS[i].default_text, PMHMC_CONFIG_DEFAULT, 0, NULL);
        if (st != PMHMC_OK) {
            pmhmc_config_free(cfg);
            return st;
        }
    }
    return PMHMC_OK;
}

void pmhmc_config_free(pmhmc_config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < N_KEYS; ++i) {
        free(cfg->values[i].text);
        if (KEYS[i].type == KEY_PATH)
            free(*(char **)field(cfg, &KEYS[i]));
        else if (KEYS[i].type == KEY_POSITIVE_LIST)
            free(((pmhmc_config_list *)field(cfg, &KEYS[i]))->values);
    }
    free(cfg->path);
    free(cfg->dir);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- the file -------------------------------------------------------------- */

typedef struct load_ctx {
    pmhmc_config *cfg;
    FILE *file;
    int line;        /* of the line inih is handling */
    char *buf;       /* getline buffer */
    size_t cap;
    int failed;      /* a message is already in err */
    int failed_line;
    pmhmc_status status;
    pmhmc_error *err;
} load_ctx;

/* inih's line reader. It counts lines (the Debian build of inih does not pass
 * line numbers to handlers), rejects lines longer than inih's buffer instead
 * of letting inih split them, and strips leading blanks so an indented key is
 * a key, not a continuation of the previous value. */
static char *read_line(char *str, int num, void *stream)
{
    load_ctx *c = stream;
    if (c->failed)
        return NULL;
    ssize_t n = getline(&c->buf, &c->cap, c->file);
    if (n < 0)
        return NULL;
    c->line++;
    const char *s = c->buf;
    while (*s == ' ' || *s == '\t')
        ++s;
    size_t len = strlen(s);
    size_t content = len;
    while (content && (s[content - 1] == '\n' || s[content - 1] == '\r'))
        --content;
    /* inih needs room for "\r\n\0" after the content. */
    if (content + 3 > (size_t)num) {
        c->failed = 1;
        c->failed_line = c->line;
        c->status = pmhmc_fail(c->err, PMHMC_ERR_CONFIG, "%s:%d: line is longer than %d characters",
                               c->cfg->path, c->line, num - 3);
        return NULL;
    }
    memcpy(str, s, len + 1);
    return str;
}

/* inih strips ';' comments; '#' after a blank is a comment too, as at the
 * start of a line. */
static void strip_hash_comment(char *value)
{
    for (char *c = value; *c; ++c)
        if (*c == '#' && (c == value || isspace((unsigned char)c[-1]))) {
            *c = '\0';
            break;
        }
    trim(value);
}

static int fail_pair(load_ctx *c, pmhmc_status st)
{
    c->failed = 1;
    c->failed_line = c->line;
    c->status = st;
    return 0;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *c = user;
    if (c->failed)
        return 0;
    const char *path = c->cfg->path;
    if (!*section)
        return fail_pair(c, pmhmc_fail(c->err, PMHMC_ERR_CONFIG,
                                       "%s:%d: key '%s' is outside any section; expected it under %s",
                                       path, c->line, name, SECTIONS));
    char hint[192];
    if (!known_section(section)) {
        suggest(section, name, hint, sizeof hint);
        return fail_pair(c, pmhmc_fail(c->err, PMHMC_ERR_CONFIG,
                                       "%s:%d: unknown section [%s] (key '%s')%s; expected %s", path,
                                       c->line, section, name, hint, SECTIONS));
    }
    int i = find_key(section, name);
    if (i < 0) {
        char keys[256];
        list_keys(section, keys, sizeof keys);
        suggest(section, name, hint, sizeof hint);
        return fail_pair(c, pmhmc_fail(c->err, PMHMC_ERR_CONFIG,
                                       "%s:%d: unknown key '%s' in [%s]%s; expected one of: %s", path,
                                       c->line, name, section, hint, keys));
    }
    if (c->cfg->values[i].origin == PMHMC_CONFIG_FILE)
        return fail_pair(c, pmhmc_fail(c->err, PMHMC_ERR_CONFIG,
                                       "%s:%d: %s.%s is set twice (first on line %d)", path, c->line,
                                       section, name, c->cfg->values[i].line));
    char *text = strdup(value);
    if (!text)
        return fail_pair(c, PMHMC_ERR_NOMEM);
    strip_hash_comment(text);
    pmhmc_status st = set_value(c->cfg, i, text, PMHMC_CONFIG_FILE, c->line, c->err);
    free(text);
    return st == PMHMC_OK ? 1 : fail_pair(c, st);
}

static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    size_t n = (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

pmhmc_status pmhmc_config_load_file(pmhmc_config *cfg, const char *path, pmhmc_error *err)
{
    free(cfg->path);
    free(cfg->dir);
    cfg->path = strdup(path);
    cfg->dir = directory_of(path);
    if (!cfg->path || !cfg->dir)
        return PMHMC_ERR_NOMEM;
    FILE *file = fopen(path, "r");
    if (!file)
        return pmhmc_fail(err, PMHMC_ERR_IO, "cannot open config file '%s': %s", path, strerror(errno));
    load_ctx c = {.cfg = cfg, .file = file, .err = err, .status = PMHMC_OK};
    int rc = ini_parse_stream(read_line, &c, on_pair, &c);
    int read_error = ferror(file);
    fclose(file);
    free(c.buf);
    /* inih reports its own syntax errors by line after parsing on; the
     * earlier of its error and ours is the one to show. */
    if (rc > 0 && (!c.failed || rc < c.failed_line))
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s:%d: expected '[section]' or 'key = value'", path, rc);
    if (c.failed)
        return c.status;
    if (read_error)
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: read error", path);
    if (rc == -2)
        return PMHMC_ERR_NOMEM;
    return PMHMC_OK;
}

/* ---- the command line ------------------------------------------------------ */

pmhmc_status pmhmc_config_override(pmhmc_config *cfg, const char *arg, pmhmc_error *err)
{
    const char *file = cfg->path ? cfg->path : "(no config file)";
    const char *eq = strchr(arg, '=');
    const char *dot = strchr(arg, '.');
    if (!eq || !dot || dot > eq || dot == arg || dot + 1 == eq)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "%s: command-line override '%s': expected section.key=value (e.g. sampler.seed=2)",
                          file, arg);
    char section[64], name[64];
    size_t sec_len = (size_t)(dot - arg), name_len = (size_t)(eq - dot - 1);
    if (sec_len >= sizeof section || name_len >= sizeof name)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s: command-line override '%s': unknown key", file, arg);
    memcpy(section, arg, sec_len);
    section[sec_len] = '\0';
    memcpy(name, dot + 1, name_len);
    name[name_len] = '\0';
    char hint[192];
    if (!known_section(section)) {
        suggest(section, name, hint, sizeof hint);
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "%s: command-line override '%s': unknown section [%s]%s; expected %s", file, arg,
                          section, hint, SECTIONS);
    }
    int i = find_key(section, name);
    if (i < 0) {
        char keys[256];
        list_keys(section, keys, sizeof keys);
        suggest(section, name, hint, sizeof hint);
        return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                          "%s: command-line override '%s': unknown key '%s' in [%s]%s; expected one of: %s",
                          file, arg, name, section, hint, keys);
    }
    if (cfg->values[i].origin == PMHMC_CONFIG_COMMAND_LINE)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s: command-line override '%s': %s.%s is given twice",
                          file, arg, section, name);
    char *text = strdup(eq + 1);
    if (!text)
        return PMHMC_ERR_NOMEM;
    pmhmc_status st = set_value(cfg, i, trim(text), PMHMC_CONFIG_COMMAND_LINE, 0, err);
    free(text);
    return st;
}

pmhmc_status pmhmc_config_check_required(const pmhmc_config *cfg, pmhmc_error *err)
{
    for (int i = 0; i < N_KEYS; ++i)
        if (!KEYS[i].default_text && !cfg->values[i].text)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s: %s.%s is required: %s",
                              cfg->path ? cfg->path : "(no config file)", KEYS[i].section, KEYS[i].name,
                              KEYS[i].doc);
    return PMHMC_OK;
}

pmhmc_status pmhmc_config_key_error(const pmhmc_config *cfg, const char *key, pmhmc_error *err,
                                    const char *fmt, ...)
{
    const char *dot = strchr(key, '.');
    int i = -1;
    if (dot) {
        char section[64];
        size_t n = (size_t)(dot - key);
        if (n < sizeof section) {
            memcpy(section, key, n);
            section[n] = '\0';
            i = find_key(section, dot + 1);
        }
    }
    char where[512] = "", detail[512];
    const char *text = "";
    if (i >= 0) {
        describe_origin(cfg, cfg->values[i].origin, cfg->values[i].line, where, sizeof where);
        text = cfg->values[i].text ? cfg->values[i].text : "";
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return pmhmc_fail(err, PMHMC_ERR_CONFIG, "%s %s = '%s': %s", where, key, text, detail);
}

/* ---- introspection --------------------------------------------------------- */

size_t pmhmc_config_key_count(void) { return N_KEYS; }

void pmhmc_config_key_describe(size_t i, pmhmc_config_key_info *info)
{
    const key_spec *k = &KEYS[i];
    info->section = k->section;
    info->name = k->name;
    info->default_text = k->default_text;
    info->doc = k->doc;
    describe_expected(k, info->expected, sizeof info->expected);
}
