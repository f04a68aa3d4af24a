/* pmhmc log_prob: the log density of the extended target's (theta, u) part
 * and its gradients at one point, for checking a model against independent
 * code and for finite-difference tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/aux_csv.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/out_file.h"
#include "pmhmc/pmhmc.h"

static const char HELP[] =
    "usage: pmhmc log_prob --data D.csv --theta \"v1,...,vd\" --u U.csv [options]\n"
    "\n"
    "Evaluates the model at (theta, u) and prints name,value rows (%.17g):\n"
    "  lp          log p(theta) + log phat(y | theta, u)\n"
    "  log_lik     log phat(y | theta, u)\n"
    "  d_<param>   d lp / d theta, for each parameter in theta's order\n"
    "\n"
    "  --data D.csv     the data (id,y[,covariates...])\n"
    "  --theta LIST     d comma-separated unconstrained values, in the draws CSV's order\n"
    "  --u U.csv        auxiliary normals: one row per group (first-appearance order in\n"
    "                   D.csv), N comma-separated values each; N is read from the file\n"
    "  --grad-u OUT.csv write d lp / d u in U.csv's layout. The prior p(theta) does not\n"
    "                   depend on u, so this is d log phat / d u; the N(u; 0, I) factor of\n"
    "                   the extended target is not included\n"
    "  --model M        glmm (default) or normal_re\n"
    "  --N n            check that U.csv has n values per row\n"
    "  --proposal P     laplace (default), prior or fixed: model.proposal\n"
    "  --is-scale s     scale of the fixed proposal (default 3)\n"
    "  --prior-var v    prior variance of every parameter (default 100)\n";

/* Parses "v1,...,vd" into exactly dim finite values. */
static int parse_theta(const char *text, const pmhmc_model *model, double *theta)
{
    size_t dim = pmhmc_model_dim(model), count = 0;
    const char *s = text;
    for (;;) {
        char *end;
        double x = strtod(s, &end);
        const char *after = end + strspn(end, " ");
        if (end == s || (*after != ',' && *after != '\0') || !isfinite(x))
            return cli_fail(CLI_EXIT_USAGE, "log_prob: --theta: value %zu: expected a finite number", count + 1);
        if (count < dim)
            theta[count] = x;
        ++count;
        if (*after == '\0')
            break;
        s = after + 1;
    }
    if (count != dim)
        return cli_fail(CLI_EXIT_USAGE, "log_prob: --theta has %zu values; expected %zu (%s,...,%s)", count, dim,
                        pmhmc_model_param_name(model, 0), pmhmc_model_param_name(model, dim - 1));
    return 0;
}

/* Auxiliary normals per importance draw: the aux size of an N = 1 model. */
static pmhmc_status aux_per_draw(const pmhmc_model_settings *settings, const pmhmc_dataset *data, size_t *p_u,
                                 pmhmc_error *err)
{
    pmhmc_model_settings one = *settings;
    one.n_importance = 1;
    one.proposal = PMHMC_PROPOSAL_FIXED; /* any proposal has the same draws' shape */
    pmhmc_model *model = NULL;
    pmhmc_status st = pmhmc_model_create(&one, data, &model, err);
    if (st == PMHMC_OK)
        *p_u = pmhmc_model_aux_size(model) / pmhmc_model_n_groups(model);
    pmhmc_model_free(model);
    return st;
}

typedef struct inputs {
    const char *data_path, *theta_text, *u_path, *grad_u_path, *proposal_name;
    pmhmc_model_settings settings;
    pmhmc_dataset *data;
    double *u;
    size_t u_rows, u_cols;
    pmhmc_model *model;
    double *theta;
} inputs;

static void free_inputs(inputs *in)
{
    pmhmc_model_free(in->model);
    pmhmc_dataset_free(in->data);
    free(in->u);
    free(in->theta);
}

/* Reads the data, u and theta and builds the model; exit code 1 on errors. */
static int load_inputs(inputs *in, int n_given)
{
    pmhmc_error err = {{0}};
    pmhmc_response_kind kind;
    if (pmhmc_model_response_kind(in->settings.name, &kind) != PMHMC_OK)
        return cli_fail(CLI_EXIT_USAGE, "log_prob: --model '%s': expected glmm or normal_re", in->settings.name);
    pmhmc_status st = pmhmc_dataset_read_csv(in->data_path, kind, &in->data, &err);
    if (st == PMHMC_OK)
        st = cli_aux_read(in->u_path, &in->u, &in->u_rows, &in->u_cols, &err);
    size_t p_u = 1;
    if (st == PMHMC_OK)
        st = aux_per_draw(&in->settings, in->data, &p_u, &err);
    if (st != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_USAGE, st, &err);

    size_t groups = pmhmc_dataset_n_groups(in->data);
    if (in->u_rows != groups)
        return cli_fail(CLI_EXIT_USAGE, "%s: %zu rows; expected %zu, one per group of %s", in->u_path, in->u_rows,
                        groups, in->data_path);
    if (in->u_cols % p_u != 0)
        return cli_fail(CLI_EXIT_USAGE, "%s:1: %zu values; expected a multiple of %zu (N draws of %zu each)",
                        in->u_path, in->u_cols, p_u, p_u);
    size_t n_importance = in->u_cols / p_u;
    if (n_given && n_importance != in->settings.n_importance)
        return cli_fail(CLI_EXIT_USAGE, "%s:1: rows hold N = %zu draws; --N says %zu", in->u_path, n_importance,
                        in->settings.n_importance);
    in->settings.n_importance = n_importance;
    st = pmhmc_model_create(&in->settings, in->data, &in->model, &err);
    if (st != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_USAGE, st, &err);
    in->theta = malloc(pmhmc_model_dim(in->model) * sizeof *in->theta);
    if (!in->theta)
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    return parse_theta(in->theta_text, in->model, in->theta);
}

enum { VEC_U, VEC_GRAD_U };

/* Runs one estimator pass on the CPU backend; grad [dim], grad_u [aux] or NULL. */
static pmhmc_status evaluate(const inputs *in, double *log_phat, double *grad, double *grad_u, pmhmc_error *err)
{
    pmhmc_backend *backend = NULL;
    pmhmc_workspace *ws = NULL;
    pmhmc_status st = pmhmc_backend_create(PMHMC_BACKEND_CPU, PMHMC_PRECISION_DOUBLE, &backend, err);
    if (st == PMHMC_OK)
        st = pmhmc_workspace_create(backend, in->model, 2, &ws, err);
    if (st == PMHMC_OK)
        st = pmhmc_ws_upload(ws, VEC_U, in->u);
    pmhmc_estimate_request req = {
        .theta = in->theta, .u = VEC_U, .p = -1, .grad_u = grad_u ? VEC_GRAD_U : -1};
    if (st == PMHMC_OK)
        st = pmhmc_ws_estimate(ws, &req, log_phat, grad);
    if (st == PMHMC_OK && grad_u)
        st = pmhmc_ws_download(ws, VEC_GRAD_U, grad_u);
    pmhmc_workspace_free(ws);
    pmhmc_backend_free(backend);
    return st;
}

static int write_grad_u(const inputs *in, const double *grad_u)
{
    pmhmc_error err = {{0}};
    cli_out out;
    pmhmc_status st = cli_out_open(&out, in->grad_u_path, &err);
    if (st != PMHMC_OK)
        return cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    cli_aux_write(out.f, grad_u, in->u_rows, in->u_cols);
    st = cli_out_commit(&out, &err);
    return st == PMHMC_OK ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
}

static int run(inputs *in)
{
    size_t dim = pmhmc_model_dim(in->model);
    double *grad = malloc(2 * dim * sizeof *grad);
    double *grad_u = in->grad_u_path ? malloc(in->u_rows * in->u_cols * sizeof *grad_u) : NULL;
    if (!grad || (in->grad_u_path && !grad_u)) {
        free(grad);
        free(grad_u);
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    }
    double *prior_grad = grad + dim;
    double log_phat = 0.0;
    pmhmc_error err = {{0}};
    pmhmc_status st = evaluate(in, &log_phat, grad, grad_u, &err);
    int rc = CLI_EXIT_OK;
    if (st != PMHMC_OK) {
        rc = cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
    } else {
        double log_prior = pmhmc_model_log_prior(in->model, in->theta, prior_grad);
        printf("name,value\n");
        printf("lp,%.17g\n", log_prior + log_phat);
        printf("log_lik,%.17g\n", log_phat);
        for (size_t i = 0; i < dim; ++i)
            printf("d_%s,%.17g\n", pmhmc_model_param_name(in->model, i), grad[i] + prior_grad[i]);
        if (grad_u)
            rc = write_grad_u(in, grad_u);
    }
    free(grad);
    free(grad_u);
    return rc;
}

int cli_log_prob(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    inputs in = {0};
    pmhmc_model_settings_default(&in.settings);
    cli_opt opts[] = {
        {"data", CLI_OPT_TEXT, &in.data_path, 0, 0},
        {"theta", CLI_OPT_TEXT, &in.theta_text, 0, 0},
        {"u", CLI_OPT_TEXT, &in.u_path, 0, 0},
        {"grad-u", CLI_OPT_TEXT, &in.grad_u_path, 0, 0},
        {"model", CLI_OPT_TEXT, &in.settings.name, 0, 0},
        {"N", CLI_OPT_COUNT, &in.settings.n_importance, 1, 0},
        {"proposal", CLI_OPT_TEXT, &in.proposal_name, 0, 0},
        {"is-scale", CLI_OPT_POSITIVE, &in.settings.is_scale, 0, 0},
        {"prior-var", CLI_OPT_POSITIVE, &in.settings.prior_var, 0, 0},
    };
    const size_t n_opts = sizeof opts / sizeof opts[0];
    if (cli_parse_options("log_prob", argc, argv, opts, n_opts) != 0)
        return CLI_EXIT_USAGE;
    if (!in.data_path || !in.theta_text || !in.u_path)
        return cli_fail(CLI_EXIT_USAGE, "log_prob: --data, --theta and --u are required (see pmhmc log_prob --help)");
    if (in.proposal_name) {
        int kind = pmhmc_proposal_from_name(in.proposal_name);
        if (kind < 0)
            return cli_fail(CLI_EXIT_USAGE, "log_prob: --proposal '%s': expected laplace, prior or fixed",
                            in.proposal_name);
        in.settings.proposal = (pmhmc_proposal_kind)kind;
    }
    int rc = load_inputs(&in, cli_option(opts, n_opts, "N")->seen);
    if (rc == CLI_EXIT_OK)
        rc = run(&in);
    free_inputs(&in);
    return rc;
}
