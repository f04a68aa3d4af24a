/* pmhmc train: fit an HNN surrogate (DESIGN §5) to the gradients a sampler
 * recorded with hnn.collect, and write it as safetensors plus a per-epoch
 * CSV log. The same config file as `pmhmc sample` (the pipeline is one
 * config): the [hnn] keys choose the network and the training, and the
 * collected files are found as sample named them (one per chain). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strdup */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/path_guard.h"
#include "cli/out_file.h"
#include "cli/sample_run.h"
#include "cli/train_page.h"
#include "hnn/mlp.h"
#include "hnn/mlp_io.h"
#include "hnn/mlp_train.h"
#include "io/config.h"
#include "io/hnn_data.h"
#include "pmhmc/backend.h"

static const char HELP[] =
    "usage: pmhmc train CONFIG.ini [section.key=value ...]\n"
    "\n"
    "Trains the HNN surrogate of DESIGN §5 on the records `pmhmc sample` wrote with\n"
    "hnn.collect (one file per chain, named like the draws: grads.bin becomes\n"
    "grads_1.bin .. grads_K.bin for sampler.chains = K > 1), and writes:\n"
    "  hnn.weights    the network as safetensors (PyTorch nn.Linear layout; kind,\n"
    "                 widths, activations, input scaling and the parameter names in\n"
    "                 its metadata);\n"
    "  hnn.train_log  one CSV row per epoch: epoch,learning_rate,train_loss,\n"
    "                 val_loss,val_grad_error;\n"
    "  a page         the weights' path with .html: the loss and gradient-error\n"
    "                 curves by epoch (inline SVG, no network needed).\n"
    "Kinds: potential (input theta, output U~, trained so that grad U~ = -grad\n"
    "log pi at every record) or latent (input (theta, rho), outputs summed into\n"
    "H~, trained on grad_theta H = -grad log pi and grad_rho H = M^-1 rho). Adam\n"
    "on mini-batches of hnn.batch records, hnn.validation of them held out, the\n"
    "rate halved every 100 epochs, early stopping after hnn.patience epochs\n"
    "without a better validation loss; the weights of the best epoch are kept.\n"
    "The same config and data give the same bits (sampler.seed keys the split,\n"
    "the order and the initial weights).\n"
    "\n"
    "sampler.backend = cuda trains on the GPU (cuBLAS, double precision; an error\n"
    "without a usable GPU): the records are uploaded once and every pass runs\n"
    "there, while Adam, the split and the batch order stay on the CPU, so the\n"
    "losses agree with a CPU run to rounding and repeat bit for bit on one GPU\n"
    "model. cpu and auto train on the CPU, the reference.\n"
    "\n"
    "exit codes: 0 success; 1 bad command line, config or training data; 2 a\n"
    "failure while training or writing.\n";

typedef struct train_run {
    pmhmc_config cfg;
    pmhmc_hnn_data **parts; /* one per chain file */
    size_t n_parts;
    double *x, *target;     /* [n_rows, n_in] */
    size_t n_rows, n_in;
    pmhmc_mlp *mlp;
    cli_out log;
    char *log_path;
    int log_failed;
    train_curve curve; /* every epoch, for the page */
    size_t curve_cap;
    int on_gpu;        /* sampler.backend = cuda */
    size_t n_outliers; /* records left out by hnn.outlier_factor */
} train_run;

static void free_run(train_run *t)
{
    for (size_t k = 0; k < t->n_parts; ++k)
        pmhmc_hnn_data_free(t->parts[k]);
    free(t->parts);
    free(t->x);
    free(t->target);
    pmhmc_mlp_free(t->mlp);
    cli_out_abort(&t->log);
    free(t->log_path);
    train_curve_free(&t->curve);
    pmhmc_config_free(&t->cfg);
}

static int fail_key(const pmhmc_config *cfg, const char *key, const char *what)
{
    pmhmc_error err = {{0}};
    return cli_fail_status(CLI_EXIT_USAGE, pmhmc_config_key_error(cfg, key, &err, "%s", what), &err);
}

static int load_config(train_run *t, int argc, char **argv)
{
    if (argc < 2)
        return cli_fail(CLI_EXIT_USAGE, "train: no config file given (usage: pmhmc train CONFIG.ini [section.key=value ...])");
    pmhmc_error err = {{0}};
    pmhmc_status st = pmhmc_config_init(&t->cfg);
    if (st == PMHMC_OK)
        st = pmhmc_config_load_file(&t->cfg, argv[1], &err);
    for (int i = 2; i < argc && st == PMHMC_OK; ++i) {
        if (argv[i][0] == '-' && argv[i][1] == '-')
            return cli_fail(CLI_EXIT_USAGE, "train: unknown option '%s' (see pmhmc train --help)", argv[i]);
        st = pmhmc_config_override(&t->cfg, argv[i], &err);
    }
    if (st != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_USAGE, st, &err);
    if (!t->cfg.hnn.collect || !t->cfg.hnn.collect[0])
        return fail_key(&t->cfg, "hnn.collect", "is empty: train reads the records `pmhmc sample` wrote there");
    const pmhmc_config_list *hidden = &t->cfg.hnn.hidden;
    if (hidden->n > PMHMC_MLP_MAX_HIDDEN)
        return fail_key(&t->cfg, "hnn.hidden", "has more than 8 widths");
    for (size_t i = 0; i < hidden->n; ++i)
        if (hidden->values[i] != floor(hidden->values[i]) || hidden->values[i] > PMHMC_MLP_MAX_WIDTH)
            return fail_key(&t->cfg, "hnn.hidden", "widths must be whole numbers from 1 to 65536");
    return CLI_EXIT_OK;
}

/* sampler.backend = cuda trains on the GPU, refused up front without one;
 * auto stays on the CPU so that a config trains the same bits everywhere. */
static int choose_device(train_run *t)
{
    t->on_gpu = strcmp(t->cfg.sampler.backend, "cuda") == 0;
    char reason[256] = "no reason given", what[320];
    if (!t->on_gpu || pmhmc_cuda_usable(reason, sizeof reason))
        return CLI_EXIT_OK;
    snprintf(what, sizeof what, "is cuda, but there is no usable GPU to train on: %s", reason);
    return fail_key(&t->cfg, "sampler.backend", what);
}

/* The weights, their training log and page must not replace the config,
 * the data or a records file (cli/path_guard.h). */
static int check_paths(train_run *t)
{
    const pmhmc_config *cfg = &t->cfg;
    const size_t K = (size_t)cfg->sampler.chains;
    cli_paths p = {0};
    char what[64];
    int rc = CLI_EXIT_OK;
    cli_paths_input(&p, "the config file", cfg->path);
    cli_paths_input(&p, "model.data", cfg->model.data);
    for (size_t k = 0; k < K && rc == CLI_EXIT_OK; ++k) {
        char *records = sample_chain_path(cfg->hnn.collect, K, k);
        if (!records)
            rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
        snprintf(what, sizeof what, K > 1 ? "hnn.collect (chain %zu)" : "hnn.collect", k + 1);
        cli_paths_input(&p, what, records);
        free(records);
    }
    char *log = train_log_path(cfg), *page = train_page_path(cfg);
    if (rc == CLI_EXIT_OK && (!log || !page))
        rc = cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    cli_paths_output(&p, "hnn.weights", cfg->hnn.weights);
    cli_paths_output(&p, "the training log (hnn.train_log)", log);
    cli_paths_output(&p, "the training page (hnn.weights with .html)", page);
    if (rc == CLI_EXIT_OK)
        rc = cli_paths_check(&p);
    cli_paths_free(&p);
    free(log);
    free(page);
    return rc;
}

/* Every chain's file, checked to describe the same parameters. */
static int read_records(train_run *t)
{
    const size_t K = (size_t)t->cfg.sampler.chains;
    t->parts = calloc(K, sizeof *t->parts);
    if (!t->parts)
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    for (size_t k = 0; k < K; ++k, ++t->n_parts) {
        char *path = sample_chain_path(t->cfg.hnn.collect, K, k);
        if (!path)
            return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
        pmhmc_error err = {{0}};
        pmhmc_status st = pmhmc_hnn_data_read(path, &t->parts[k], &err);
        free(path);
        if (st != PMHMC_OK)
            return cli_fail_status(st == PMHMC_ERR_NOMEM ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE, st, &err);
        const pmhmc_hnn_data *a = t->parts[0], *b = t->parts[k];
        int same = a->dim == b->dim;
        for (size_t i = 0; same && i < a->dim; ++i)
            same = strcmp(a->names[i], b->names[i]) == 0;
        if (!same)
            return cli_fail(CLI_EXIT_USAGE, "train: the hnn.collect files of chains 1 and %zu record different parameters",
                            k + 1);
    }
    return CLI_EXIT_OK;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* |grad| of every record, chains in order, into norms [n_rows]; the limit
 * above which a record is left out: hnn.outlier_factor times the median
 * (infinite when the factor is 0). Divergent trajectories record gradients
 * orders of magnitude above the rest, far from where the chain lives; a
 * squared-error loss would spend the network on them. */
static double gradient_limit(const train_run *t, double *norms)
{
    const size_t d = t->parts[0]->dim;
    size_t row = 0;
    for (size_t k = 0; k < t->n_parts; ++k)
        for (size_t r = 0; r < t->parts[k]->n; ++r, ++row) {
            double ss = 0.0;
            for (size_t i = 0; i < d; ++i)
                ss += t->parts[k]->grad[r * d + i] * t->parts[k]->grad[r * d + i];
            norms[row] = sqrt(ss);
        }
    if (t->cfg.hnn.outlier_factor == 0.0 || row == 0)
        return INFINITY;
    double *sorted = malloc(row * sizeof *sorted);
    if (!sorted)
        return NAN;
    memcpy(sorted, norms, row * sizeof *sorted);
    qsort(sorted, row, sizeof *sorted, compare_doubles);
    double median = sorted[row / 2];
    free(sorted);
    return t->cfg.hnn.outlier_factor * median;
}

/* The rows: potential x = theta, target = -grad; latent x = (theta, rho),
 * target = (-grad, M^-1 rho); records past gradient_limit left out. */
static int build_rows(train_run *t)
{
    const int latent = strcmp(t->cfg.hnn.kind, "latent") == 0;
    const size_t d = t->parts[0]->dim;
    t->n_in = latent ? 2 * d : d;
    size_t n_records = 0;
    for (size_t k = 0; k < t->n_parts; ++k)
        n_records += t->parts[k]->n;
    double *norms = malloc((n_records ? n_records : 1) * sizeof *norms);
    t->x = malloc((n_records ? n_records : 1) * t->n_in * sizeof *t->x);
    t->target = malloc((n_records ? n_records : 1) * t->n_in * sizeof *t->target);
    const double limit = norms ? gradient_limit(t, norms) : NAN;
    if (!norms || !t->x || !t->target || isnan(limit)) {
        free(norms);
        return cli_fail(CLI_EXIT_RUNTIME, "train: out of memory for %zu records", n_records);
    }
    size_t record = 0;
    for (size_t k = 0; k < t->n_parts; ++k) {
        const pmhmc_hnn_data *p = t->parts[k];
        for (size_t r = 0; r < p->n; ++r, ++record) {
            if (norms[record] > limit) {
                t->n_outliers++;
                continue;
            }
            double *x = t->x + t->n_rows * t->n_in, *y = t->target + t->n_rows * t->n_in;
            for (size_t i = 0; i < d; ++i) {
                x[i] = p->theta[r * d + i];
                y[i] = -p->grad[r * d + i];
                if (latent) {
                    x[d + i] = p->rho[r * d + i];
                    y[d + i] = p->rho_sharp[r * d + i];
                }
            }
            t->n_rows++;
        }
    }
    free(norms);
    return CLI_EXIT_OK;
}

static int make_network(train_run *t)
{
    const pmhmc_config *cfg = &t->cfg;
    pmhmc_mlp_spec spec;
    memset(&spec, 0, sizeof spec);
    const int latent = strcmp(cfg->hnn.kind, "latent") == 0;
    spec.kind = latent ? PMHMC_MLP_LATENT : PMHMC_MLP_POTENTIAL;
    spec.n_in = t->n_in;
    spec.n_out = latent ? (size_t)cfg->hnn.latent_outputs : 1;
    spec.n_hidden = cfg->hnn.hidden.n;
    for (size_t l = 0; l < spec.n_hidden; ++l) {
        spec.width[l] = (size_t)cfg->hnn.hidden.values[l];
        spec.act[l] = (pmhmc_activation)pmhmc_act_from_name(cfg->hnn.activation); /* a config choice: known */
    }
    pmhmc_error err = {{0}};
    pmhmc_status st = pmhmc_mlp_create(&spec, &t->mlp, &err);
    if (st == PMHMC_OK)
        st = pmhmc_mlp_init_random(t->mlp, cfg->sampler.seed);
    return st == PMHMC_OK ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_USAGE, st, &err);
}

static void log_epoch(const pmhmc_mlp_epoch *e, void *user)
{
    train_run *t = user;
    if (fprintf(t->log.f, "%zu,%.9g,%.9g,%.9g,%.9g\n", e->epoch, e->learning_rate, e->train_loss, e->val_loss,
                e->val_grad_error) < 0)
        t->log_failed = 1;
    if (train_curve_append(&t->curve, &t->curve_cap, e->train_loss, e->val_loss, e->val_grad_error) != 0)
        t->log_failed = 1;
}

static int write_page(const train_run *t, const pmhmc_mlp_train_result *res)
{
    char *path = train_page_path(&t->cfg);
    if (!path)
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    char title[256];
    snprintf(title, sizeof title, "%s network, %zu weights, %zu records from %s", t->cfg.hnn.kind,
             t->mlp->n_weights, t->n_rows, t->cfg.hnn.collect);
    cli_out out = {.slot = -1};
    pmhmc_error err = {{0}};
    pmhmc_status st = cli_out_open(&out, path, &err);
    if (st == PMHMC_OK && train_page_write(out.f, title, &t->curve, res->best_epoch) != 0)
        st = pmhmc_config_key_error(&t->cfg, "hnn.weights", &err, "%s: write error in the training page", out.tmp);
    if (st == PMHMC_OK)
        st = cli_out_commit(&out, &err);
    else
        cli_out_abort(&out);
    if (st == PMHMC_OK)
        printf("training page: written to %s\n", path);
    free(path);
    return st == PMHMC_OK ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int train(train_run *t)
{
    const pmhmc_config *cfg = &t->cfg;
    pmhmc_error err = {{0}};
    if (!(t->log_path = train_log_path(cfg)))
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    pmhmc_status st = cli_out_open(&t->log, t->log_path, &err);
    if (st != PMHMC_OK)
        return fail_key(cfg, "hnn.train_log", err.message);
    fputs("epoch,learning_rate,train_loss,val_loss,val_grad_error\n", t->log.f);

    pmhmc_mlp_train_options opt;
    pmhmc_mlp_train_defaults(&opt);
    opt.seed = cfg->sampler.seed;
    opt.batch_size = (size_t)cfg->hnn.batch;
    opt.max_epochs = (size_t)cfg->hnn.epochs;
    opt.learning_rate = cfg->hnn.learning_rate;
    opt.validation_fraction = cfg->hnn.validation;
    opt.patience = (size_t)cfg->hnn.patience;
    opt.use_device = t->on_gpu;
    opt.on_epoch = log_epoch;
    opt.user = t;
    pmhmc_mlp_data data = {t->n_rows, t->x, t->target};
    pmhmc_mlp_train_result res;
    const double start = now_seconds();
    st = pmhmc_mlp_train(t->mlp, &data, &opt, &res, &err);
    const double seconds = now_seconds() - start;
    if (st == PMHMC_ERR_ARG || st == PMHMC_ERR_DATA)
        return cli_fail_status(CLI_EXIT_USAGE, st, &err);
    if (st != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);

    const pmhmc_hnn_data *p = t->parts[0];
    if ((st = pmhmc_mlp_save(t->mlp, cfg->hnn.weights, (const char *const *)p->names, p->dim, &err)) != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    if (t->log_failed)
        return cli_fail(CLI_EXIT_RUNTIME, "train: %s: write error in the training log", t->log.tmp);
    if ((st = cli_out_commit(&t->log, &err)) != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    printf("%zu records from %zu file%s; %s network, %zu weights\n", t->n_rows, t->n_parts, t->n_parts > 1 ? "s" : "",
           cfg->hnn.kind, t->mlp->n_weights);
    if (t->n_outliers)
        printf("%zu records left out: a gradient over hnn.outlier_factor = %g times the median\n", t->n_outliers,
               cfg->hnn.outlier_factor);
    printf("%zu epochs in %.3g s on the %s%s; best epoch %zu: validation loss %.4g, gradient error %.3g%%\n",
           res.epochs_run, seconds, t->on_gpu ? "GPU" : "CPU", res.stopped_early ? " (stopped early)" : "",
           res.best_epoch, res.best_val_loss, 100.0 * res.val_grad_error);
    printf("weights: written to %s\ntraining log: written to %s\n", cfg->hnn.weights, t->log_path);
    return write_page(t, &res);
}

int cli_train(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    train_run t;
    memset(&t, 0, sizeof t);
    t.log.slot = -1;
    int rc = load_config(&t, argc, argv);
    if (rc == CLI_EXIT_OK)
        rc = check_paths(&t);
    if (rc == CLI_EXIT_OK)
        rc = choose_device(&t);
    if (rc == CLI_EXIT_OK)
        rc = read_records(&t);
    if (rc == CLI_EXIT_OK)
        rc = build_rows(&t);
    if (rc == CLI_EXIT_OK)
        rc = make_network(&t);
    if (rc == CLI_EXIT_OK)
        rc = train(&t);
    free_run(&t);
    return rc;
}
