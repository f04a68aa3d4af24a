/* Run configuration of `pmhmc sample`: an INI file (parsed with inih) plus
 * `section.key=value` overrides from the command line.
 *
 * One table in config.c lists every key with its type, default, range and
 * doc string; parsing, validation, defaults, overrides, --help and the echo
 * in the draws CSV header all read that table, so a key is added in one
 * place. Messages name the file, the line (for file keys) and the key, and
 * say what was expected.
 *
 * Paths: a relative path written in the file is relative to the file's
 * directory; one given on the command line is relative to the working
 * directory, as a shell user expects.
 *
 * Internal to the CLI: the library proper does not depend on it. */
#ifndef PMHMC_IO_CONFIG_H
#define PMHMC_IO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/status.h"

/* Room for the per-key bookkeeping; config.c checks its table fits. */
#define PMHMC_CONFIG_MAX_KEYS 64

/* model.N = auto, as the config holds it (every other value is >= 1). */
#define PMHMC_CONFIG_N_AUTO 0

typedef enum pmhmc_config_origin {
    PMHMC_CONFIG_DEFAULT = 0,
    PMHMC_CONFIG_FILE,
    PMHMC_CONFIG_COMMAND_LINE
} pmhmc_config_origin;

typedef struct pmhmc_config_list {
    double *values;
    size_t n;
} pmhmc_config_list;

/* Choice values point at the table's static strings; paths are owned. */
typedef struct pmhmc_config {
    struct {
        const char *name; /* glmm | normal_re */
        char *data;       /* resolved path; NULL until set (required) */
        uint64_t N;          /* 0: auto (PMHMC_CONFIG_N_AUTO) */
        double noise_target; /* model.N = auto */
        const char *estimator; /* importance | quadrature */
        const char *proposal;  /* laplace | prior | fixed */
        double is_scale;
        double prior_var;
    } model;
    struct {
        const char *algorithm; /* pmnuts | pmhmc | hnn_hmc | hnn_nuts */
        uint64_t iterations;
        uint64_t warmup;
        double step_size;
        uint64_t steps;
        pmhmc_config_list mass; /* 1 value (M = m I) or dim values (diagonal) */
        uint64_t seed;
        uint64_t chains;       /* K, run in parallel */
        uint64_t superchains;  /* 0: every chain its own start; S: S groups of K / S chains sharing one */
        double init_jitter;    /* >= 0 */
        char *init;            /* draws file(s) whose last draw starts each chain; NULL: the model's start */
        const char *backend;   /* cpu | auto | cuda */
        const char *precision; /* auto | double | float */
    } sampler;
    struct {
        uint64_t max_depth;
        double max_delta_h;
        const char *uturn; /* auto | extended | theta */
    } nuts;
    struct {
        double delta;
        double learning_rate;
    } chees;
    struct {
        const char *engaged; /* auto | true | false */
        int metric;
        double delta, gamma, kappa, t0;
        uint64_t init_buffer, term_buffer, window;
    } adapt;
    struct {
        char *collect;          /* NULL: no training data recorded */
        int collect_warmup;     /* record during warm-up too */
        uint64_t collect_every; /* keep every k-th gradient evaluation */
        const char *kind;       /* potential | latent */
        pmhmc_config_list hidden; /* widths of the hidden layers */
        const char *activation; /* softplus | sin | tanh */
        uint64_t latent_outputs;
        uint64_t epochs, batch, patience;
        double outlier_factor;  /* pmhmc train: records past it times the median |grad| left out; 0: none */
        double learning_rate, validation;
        char *weights;          /* the trained network (safetensors) */
        const char *accept;     /* exact | surrogate */
        double cn_angle;
        const char *monitor;    /* surrogate | true */
        double max_error;
        uint64_t cooldown;
        uint64_t pilot_warmup, pilot_iterations; /* pmhmc pipeline */
        char *train_log;        /* per-epoch CSV; NULL: beside the weights */
    } hnn;
    struct {
        char *file;
        uint64_t refresh;
        char *checkpoint;          /* NULL: no checkpoints */
        uint64_t checkpoint_every; /* transitions of each chain between them */
        int report; /* write the HTML report beside the draws */
    } output;

    char *path; /* the config file as given on the command line */
    char *dir;  /* its directory, for relative paths in it */
    struct pmhmc_config_value {
        char *text; /* as written (paths: as resolved) */
        pmhmc_config_origin origin;
        int line;   /* for PMHMC_CONFIG_FILE */
    } values[PMHMC_CONFIG_MAX_KEYS];
} pmhmc_config;

/* Sets every key to its default. Fails only when out of memory. */
pmhmc_status pmhmc_config_init(pmhmc_config *cfg);
void pmhmc_config_free(pmhmc_config *cfg);

/* Reads `path`. Unknown sections and keys, keys given twice, malformed lines
 * and bad values are errors naming the file, the line and the key. */
pmhmc_status pmhmc_config_load_file(pmhmc_config *cfg, const char *path, pmhmc_error *err);

/* Applies one `section.key=value` argument; a key given twice on the command
 * line is an error, one given in the file is overridden. */
pmhmc_status pmhmc_config_override(pmhmc_config *cfg, const char *arg, pmhmc_error *err);

/* Checks that required keys (model.data) were given. */
pmhmc_status pmhmc_config_check_required(const pmhmc_config *cfg, pmhmc_error *err);

/* Fills err with "<where> <section>.<key> = '<text>': <message>", where
 * <where> is "FILE:LINE:", "command line:" or "default:", and returns
 * PMHMC_ERR_CONFIG: for checks that need more than the table (the mass list
 * against the model's dimension). `key` is "section.key". */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
pmhmc_status pmhmc_config_key_error(const pmhmc_config *cfg, const char *key, pmhmc_error *err,
                                    const char *fmt, ...);

/* Introspection, for --help and the header echo. */
typedef struct pmhmc_config_key_info {
    const char *section;
    const char *name;
    const char *default_text; /* NULL: required */
    const char *doc;
    char expected[96];        /* e.g. "an integer in [1, 1000000]" */
} pmhmc_config_key_info;

size_t pmhmc_config_key_count(void);
void pmhmc_config_key_describe(size_t i, pmhmc_config_key_info *info);

#endif
