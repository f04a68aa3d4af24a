/* Saving and loading an MLP as a safetensors weights file (layout and
 * metadata in mlp_io.h). Loading trusts nothing in the file: a network built
 * from a half-checked file would sample with a wrong Hamiltonian without
 * any visible failure, so every field is checked before anything is used. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hnn/mlp_io.h"
#include "io/safetensors.h"
#include "pmhmc/pmhmc.h"

/* Two tensors per layer (hidden layers and the output one), plus the input
 * scaling. */
#define MAX_TENSORS (2 * (PMHMC_MLP_MAX_HIDDEN + 1) + 2)
#define NAME_CAP 40 /* "layers." and ".weight" around any size_t */
/* Longest decimal a size in the metadata may have: the bounds of mlp.h fit
 * in 6 digits, and a cap keeps a hostile value from overflowing. */
#define MAX_DIGITS 9
#define QUOTE_CAP 80

static const char *kind_name(pmhmc_mlp_kind kind)
{
    return kind == PMHMC_MLP_LATENT ? "latent" : "potential";
}

/* Theta's dimension: a latent network reads (theta, rho). */
static size_t theta_dim(const pmhmc_mlp *mlp)
{
    return mlp->spec.kind == PMHMC_MLP_LATENT ? mlp->spec.n_in / 2 : mlp->spec.n_in;
}

/* A string from a file, for a message: in single quotes (as io/safetensors quotes), bounded, control characters
 * and backslashes as \xNN so a hostile file cannot garble a terminal. */
static const char *quote(const char *s, char *dst, size_t cap)
{
    size_t n = 0;
    dst[n++] = '\'';
    for (; *s; ++s) {
        unsigned char c = (unsigned char)*s;
        if (n + 8 >= cap) {
            memcpy(dst + n, "...", 3);
            n += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'')
            n += (size_t)snprintf(dst + n, cap - n, "\\x%02x", c);
        else
            dst[n++] = (char)c;
    }
    dst[n++] = '\'';
    dst[n] = '\0';
    return dst;
}

/* Each tensor's name and shape, in the order they are saved. */
typedef struct layout {
    size_t n;
    char name[MAX_TENSORS][NAME_CAP];
    size_t ndim[MAX_TENSORS];
    size_t shape[MAX_TENSORS][2];
    double *data[MAX_TENSORS];
} layout;

static void add_tensor(layout *t, const char *name, size_t ndim, size_t d0, size_t d1, double *data)
{
    snprintf(t->name[t->n], NAME_CAP, "%s", name);
    t->ndim[t->n] = ndim;
    t->shape[t->n][0] = d0;
    t->shape[t->n][1] = d1;
    t->data[t->n] = data;
    t->n++;
}

static void make_layout(const pmhmc_mlp *m, layout *t)
{
    char name[NAME_CAP];
    size_t H = m->spec.n_hidden;
    t->n = 0;
    for (size_t l = 0; l <= H; ++l) {
        const char *prefix = l < H ? "layers." : "output";
        if (l < H)
            snprintf(name, sizeof name, "%s%zu.weight", prefix, l + 1);
        else
            snprintf(name, sizeof name, "%s.weight", prefix);
        add_tensor(t, name, 2, m->dims[l + 1], m->dims[l], m->weights + m->w_off[l]);
        if (l < H)
            snprintf(name, sizeof name, "%s%zu.bias", prefix, l + 1);
        else
            snprintf(name, sizeof name, "%s.bias", prefix);
        add_tensor(t, name, 1, m->dims[l + 1], 0, m->weights + m->b_off[l]);
    }
    add_tensor(t, "input.mean", 1, m->spec.n_in, 0, m->in_mean);
    add_tensor(t, "input.sd", 1, m->spec.n_in, 0, m->in_sd);
}

static size_t numel(const layout *t, size_t i)
{
    return t->ndim[i] == 2 ? t->shape[i][0] * t->shape[i][1] : t->shape[i][0];
}

/* The first non-finite value, or a non-positive input.sd, as a message
 * (status PMHMC_OK when every value is fine). Shared by save and load so a
 * file this module writes is always one it reads. */
static pmhmc_status check_values(const layout *t, const char *path, pmhmc_status bad, pmhmc_error *err)
{
    for (size_t i = 0; i < t->n; ++i) {
        bool is_sd = i + 1 == t->n;
        for (size_t k = 0; k < numel(t, i); ++k) {
            double v = t->data[i][k];
            if (isfinite(v) && (!is_sd || v > 0.0))
                continue;
            if (t->ndim[i] == 2)
                return pmhmc_fail(err, bad, "%s: tensor '%s' element [%zu, %zu] is %g; expected a finite value",
                                  path, t->name[i], k / t->shape[i][1], k % t->shape[i][1], v);
            if (is_sd)
                return pmhmc_fail(err, bad,
                                  "%s: tensor 'input.sd' element [%zu] is %g; expected a finite standard "
                                  "deviation > 0",
                                  path, k, v);
            return pmhmc_fail(err, bad, "%s: tensor '%s' element [%zu] is %g; expected a finite value", path,
                              t->name[i], k, v);
        }
    }
    return PMHMC_OK;
}

/* ---- saving -------------------------------------------------------------------- */

static pmhmc_status check_names(const char *path, const char *const *names, size_t n, pmhmc_error *err)
{
    for (size_t i = 0; i < n; ++i) {
        char q[QUOTE_CAP];
        if (!names[i] || !names[i][0])
            return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: parameter name %zu is empty", path, i);
        /* The metadata joins the names with commas. */
        if (strchr(names[i], ','))
            return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: parameter name %zu, %s, holds a comma", path, i,
                              quote(names[i], q, sizeof q));
        for (size_t j = 0; j < i; ++j)
            if (strcmp(names[i], names[j]) == 0)
                return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: parameter names %zu and %zu are both %s", path, j, i,
                                  quote(names[i], q, sizeof q));
    }
    return PMHMC_OK;
}

pmhmc_status pmhmc_mlp_save(const pmhmc_mlp *mlp, const char *path, const char *const *param_names,
                            size_t n_params, pmhmc_error *err)
{
    if (!mlp || !path)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp save: the network and the path are required");
    if (n_params && !param_names)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: %zu parameter names announced but none given", path, n_params);
    if (n_params && n_params != theta_dim(mlp))
        return pmhmc_fail(err, PMHMC_ERR_ARG,
                          "%s: %zu parameter names for a %s network of theta dimension %zu (n_in = %zu)", path,
                          n_params, kind_name(mlp->spec.kind), theta_dim(mlp), mlp->spec.n_in);
    pmhmc_status st = check_names(path, param_names, n_params, err);
    if (st != PMHMC_OK)
        return st;

    layout t;
    make_layout(mlp, &t);
    st = check_values(&t, path, PMHMC_ERR_DATA, err);
    if (st != PMHMC_OK)
        return st;
    pmhmc_st_tensor tensors[MAX_TENSORS];
    for (size_t i = 0; i < t.n; ++i)
        tensors[i] = (pmhmc_st_tensor){
            .name = t.name[i], .dtype = PMHMC_ST_F64, .ndim = t.ndim[i], .shape = t.shape[i], .data = t.data[i]};

    const pmhmc_mlp_spec *s = &mlp->spec;
    char n_in[24], n_out[24];
    snprintf(n_in, sizeof n_in, "%zu", s->n_in);
    snprintf(n_out, sizeof n_out, "%zu", s->n_out);
    char hidden[PMHMC_MLP_MAX_HIDDEN * 24], acts[PMHMC_MLP_MAX_HIDDEN * 24];
    size_t hl = 0, al = 0;
    for (size_t l = 0; l < s->n_hidden; ++l) {
        const char *a = pmhmc_act_name((int)s->act[l]);
        if (!a)
            return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: hidden layer %zu's activation %d is not an activation",
                              path, l + 1, (int)s->act[l]);
        hl += (size_t)snprintf(hidden + hl, sizeof hidden - hl, "%s%zu", l ? "," : "", s->width[l]);
        al += (size_t)snprintf(acts + al, sizeof acts - al, "%s%s", l ? "," : "", a);
    }
    char *params = NULL;
    if (n_params) {
        size_t len = 1;
        for (size_t i = 0; i < n_params; ++i)
            len += strlen(param_names[i]) + 1;
        params = malloc(len);
        if (!params)
            return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory for the parameter names", path);
        size_t pl = 0;
        for (size_t i = 0; i < n_params; ++i) {
            size_t k = strlen(param_names[i]);
            if (i)
                params[pl++] = ',';
            memcpy(params + pl, param_names[i], k);
            pl += k;
        }
        params[pl] = '\0';
    }
    pmhmc_st_meta meta[] = {
        {"format", PMHMC_MLP_FORMAT},
        {"format_version", PMHMC_MLP_FORMAT_VERSION},
        {"kind", kind_name(s->kind)},
        {"n_in", n_in},
        {"n_out", n_out},
        {"hidden", hidden},
        {"activations", acts},
        {"pmhmc_version", PMHMC_VERSION},
        {"parameters", params}, /* last: left out when there are none */
    };
    size_t n_meta = sizeof meta / sizeof meta[0] - (params ? 0 : 1);
    st = pmhmc_safetensors_write(path, tensors, t.n, meta, n_meta, err);
    free(params);
    return st;
}

/* ---- loading -------------------------------------------------------------------- */

static const char *need_meta(const pmhmc_safetensors *st, const char *key, pmhmc_status *status,
                             pmhmc_error *err)
{
    const char *v = pmhmc_safetensors_meta(st, key);
    if (!v)
        *status = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: metadata '%s' is missing", pmhmc_safetensors_path(st),
                             key);
    return v;
}

/* A decimal without sign, spaces or excess digits, or false. */
static bool parse_size(const char *s, size_t len, size_t *out)
{
    if (len == 0 || len > MAX_DIGITS)
        return false;
    size_t v = 0;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = 10 * v + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static pmhmc_status meta_size(const pmhmc_safetensors *st, const char *key, size_t *out, pmhmc_error *err)
{
    pmhmc_status status = PMHMC_OK;
    const char *v = need_meta(st, key, &status, err);
    if (!v)
        return status;
    char q[QUOTE_CAP];
    if (!parse_size(v, strlen(v), out) || *out == 0)
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: metadata '%s' is %s; expected a positive integer",
                          pmhmc_safetensors_path(st), key, quote(v, q, sizeof q));
    return PMHMC_OK;
}

/* Calls item(i, s, len) for each comma-separated item of list; stops at the
 * first failure. Counts the items into *n; more than max is a failure. */
typedef pmhmc_status (*item_fn)(void *ctx, size_t i, const char *s, size_t len);

static pmhmc_status split(const char *list, size_t max, size_t *n, item_fn item, void *ctx)
{
    size_t i = 0;
    const char *s = list;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (i < max) {
            pmhmc_status st = item(ctx, i, s, len);
            if (st != PMHMC_OK)
                return st;
        }
        ++i;
        if (!comma)
            break;
        s = comma + 1;
    }
    *n = i;
    return PMHMC_OK;
}

typedef struct list_ctx {
    const pmhmc_safetensors *st;
    const char *key, *list;
    pmhmc_mlp_spec *spec;
    char **names;
    pmhmc_error *err;
} list_ctx;

static pmhmc_status bad_item(const list_ctx *c, size_t i, const char *s, size_t len, const char *expected)
{
    char item[QUOTE_CAP], q[QUOTE_CAP], whole[QUOTE_CAP];
    snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item - 1 ? len : sizeof item - 1), s);
    return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: metadata '%s' = %s: item %zu, %s, is not %s",
                      pmhmc_safetensors_path(c->st), c->key, quote(c->list, whole, sizeof whole), i + 1,
                      quote(item, q, sizeof q), expected);
}

static pmhmc_status width_item(void *ctx, size_t i, const char *s, size_t len)
{
    list_ctx *c = ctx;
    if (!parse_size(s, len, &c->spec->width[i]) || c->spec->width[i] == 0)
        return bad_item(c, i, s, len, "a positive integer");
    return PMHMC_OK;
}

static pmhmc_status act_item(void *ctx, size_t i, const char *s, size_t len)
{
    list_ctx *c = ctx;
    char name[16];
    int a = -1;
    if (len < sizeof name) {
        memcpy(name, s, len);
        name[len] = '\0';
        a = pmhmc_act_from_name(name);
    }
    if (a < 0)
        return bad_item(c, i, s, len, "an activation (tanh, sin or softplus)");
    c->spec->act[i] = (pmhmc_activation)a;
    return PMHMC_OK;
}

static pmhmc_status name_item(void *ctx, size_t i, const char *s, size_t len)
{
    list_ctx *c = ctx;
    if (len == 0)
        return bad_item(c, i, s, len, "a parameter name");
    c->names[i] = malloc(len + 1);
    if (!c->names[i])
        return pmhmc_fail(c->err, PMHMC_ERR_NOMEM, "%s: out of memory for the parameter names",
                          pmhmc_safetensors_path(c->st));
    memcpy(c->names[i], s, len);
    c->names[i][len] = '\0';
    for (size_t j = 0; j < i; ++j)
        if (strcmp(c->names[j], c->names[i]) == 0)
            return bad_item(c, i, s, len, "a new name (it repeats an earlier one)");
    return PMHMC_OK;
}

static size_t count_items(const char *list)
{
    size_t n = 1;
    for (; *list; ++list)
        n += *list == ',';
    return n;
}

/* The spec from the metadata, checked field by field before
 * pmhmc_mlp_create checks the whole. */
static pmhmc_status read_spec(const pmhmc_safetensors *st, pmhmc_mlp_spec *spec, pmhmc_error *err)
{
    const char *path = pmhmc_safetensors_path(st);
    char q[QUOTE_CAP];
    pmhmc_status status = PMHMC_OK;
    const char *v = pmhmc_safetensors_meta(st, "format");
    if (!v)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "%s: metadata 'format' is missing; expected '" PMHMC_MLP_FORMAT
                          "' (is this a pmhmc HNN weights file?)",
                          path);
    if (strcmp(v, PMHMC_MLP_FORMAT) != 0)
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: metadata 'format' is %s; expected '" PMHMC_MLP_FORMAT "'",
                          path, quote(v, q, sizeof q));
    if (!(v = need_meta(st, "format_version", &status, err)))
        return status;
    if (strcmp(v, PMHMC_MLP_FORMAT_VERSION) != 0)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "%s: metadata 'format_version' is %s; this build reads version '" PMHMC_MLP_FORMAT_VERSION
                          "'",
                          path, quote(v, q, sizeof q));
    if (!(v = need_meta(st, "kind", &status, err)))
        return status;
    if (strcmp(v, "latent") == 0)
        spec->kind = PMHMC_MLP_LATENT;
    else if (strcmp(v, "potential") == 0)
        spec->kind = PMHMC_MLP_POTENTIAL;
    else
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: metadata 'kind' is %s; expected 'latent' or 'potential'",
                          path, quote(v, q, sizeof q));
    if ((status = meta_size(st, "n_in", &spec->n_in, err)) != PMHMC_OK ||
        (status = meta_size(st, "n_out", &spec->n_out, err)) != PMHMC_OK)
        return status;

    const char *hidden = need_meta(st, "hidden", &status, err);
    if (!hidden)
        return status;
    list_ctx c = {.st = st, .key = "hidden", .list = hidden, .spec = spec, .err = err};
    size_t n_hidden = 0;
    if ((status = split(hidden, PMHMC_MLP_MAX_HIDDEN, &n_hidden, width_item, &c)) != PMHMC_OK)
        return status;
    if (n_hidden > PMHMC_MLP_MAX_HIDDEN)
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: metadata 'hidden' lists %zu layers; expected 1 to %d", path,
                          n_hidden, PMHMC_MLP_MAX_HIDDEN);
    spec->n_hidden = n_hidden;

    const char *acts = need_meta(st, "activations", &status, err);
    if (!acts)
        return status;
    size_t n_acts = count_items(acts);
    if (n_acts != n_hidden)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "%s: metadata 'activations' lists %zu activations but 'hidden' lists %zu layers; "
                          "expected one activation per hidden layer",
                          path, n_acts, n_hidden);
    c.key = "activations";
    c.list = acts;
    return split(acts, PMHMC_MLP_MAX_HIDDEN, &n_acts, act_item, &c);
}

static pmhmc_status read_names(const pmhmc_safetensors *st, size_t dim, char ***out, size_t *n_out,
                               pmhmc_error *err)
{
    *out = NULL;
    *n_out = 0;
    const char *list = pmhmc_safetensors_meta(st, "parameters");
    if (!list)
        return PMHMC_OK;
    size_t n = count_items(list);
    if (n != dim)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "%s: metadata 'parameters' names %zu parameters; the network's theta has %zu",
                          pmhmc_safetensors_path(st), n, dim);
    char **names = calloc(n, sizeof *names);
    if (!names)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory for the parameter names",
                          pmhmc_safetensors_path(st));
    list_ctx c = {.st = st, .key = "parameters", .list = list, .names = names, .err = err};
    pmhmc_status status = split(list, n, &n, name_item, &c);
    if (status != PMHMC_OK) {
        pmhmc_mlp_free_param_names(names, n);
        return status;
    }
    *out = names;
    *n_out = n;
    return PMHMC_OK;
}

static pmhmc_status read_tensors(const pmhmc_safetensors *st, pmhmc_mlp *m, pmhmc_error *err)
{
    const char *path = pmhmc_safetensors_path(st);
    layout t;
    make_layout(m, &t);
    for (size_t i = 0; i < t.n; ++i) {
        if (!pmhmc_safetensors_find(st, t.name[i])) {
            char want[48];
            if (t.ndim[i] == 2)
                snprintf(want, sizeof want, "[%zu, %zu]", t.shape[i][0], t.shape[i][1]);
            else
                snprintf(want, sizeof want, "[%zu]", t.shape[i][0]);
            return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: tensor '%s' is missing; expected one of shape %s", path,
                              t.name[i], want);
        }
        pmhmc_error inner = {{0}};
        pmhmc_status status = pmhmc_safetensors_get_f64(st, t.name[i], t.ndim[i], t.shape[i], t.data[i], &inner);
        if (status != PMHMC_OK)
            return pmhmc_fail(err, status == PMHMC_ERR_DATA ? PMHMC_ERR_PARSE : status, "%s", inner.message);
    }
    /* Every expected name is present and names are unique, so any surplus
     * is a tensor this format does not have. */
    for (size_t i = 0; i < pmhmc_safetensors_count(st); ++i) {
        const char *name = pmhmc_safetensors_tensor_at(st, i)->name;
        bool known = false;
        for (size_t k = 0; k < t.n && !known; ++k)
            known = strcmp(name, t.name[k]) == 0;
        if (!known) {
            char q[QUOTE_CAP];
            return pmhmc_fail(err, PMHMC_ERR_PARSE,
                              "%s: tensor %s is not part of a %s network with %zu hidden layers; expected only "
                              "layers.1..%zu.{weight,bias}, output.{weight,bias}, input.{mean,sd}",
                              path, quote(name, q, sizeof q), kind_name(m->spec.kind), m->spec.n_hidden,
                              m->spec.n_hidden);
        }
    }
    return check_values(&t, path, PMHMC_ERR_PARSE, err);
}

pmhmc_status pmhmc_mlp_load(const char *path, pmhmc_mlp **out, char ***param_names, size_t *n_params,
                            pmhmc_error *err)
{
    if (out)
        *out = NULL;
    if (param_names)
        *param_names = NULL;
    if (n_params)
        *n_params = 0;
    if (!path || !out || (param_names && !n_params))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp load: the path and the output handles are required");

    pmhmc_safetensors *st = NULL;
    pmhmc_status status = pmhmc_safetensors_read(path, &st, err);
    if (status != PMHMC_OK)
        return status;
    pmhmc_mlp_spec spec = {0};
    pmhmc_mlp *m = NULL;
    char **names = NULL;
    size_t n_names = 0;
    pmhmc_error inner = {{0}};
    if ((status = read_spec(st, &spec, err)) != PMHMC_OK)
        goto done;
    if ((status = pmhmc_mlp_create(&spec, &m, &inner)) != PMHMC_OK) {
        if (status == PMHMC_ERR_ARG)
            status = PMHMC_ERR_PARSE;
        status = pmhmc_fail(err, status, "%s: the metadata describe no valid network: %s", path, inner.message);
        goto done;
    }
    if ((status = read_names(st, theta_dim(m), &names, &n_names, err)) != PMHMC_OK)
        goto done;
    if ((status = read_tensors(st, m, err)) != PMHMC_OK)
        goto done;
    *out = m;
    m = NULL;
    if (param_names) {
        *param_names = names;
        *n_params = n_names;
        names = NULL;
    }
done:
    pmhmc_mlp_free_param_names(names, n_names);
    pmhmc_mlp_free(m);
    pmhmc_safetensors_free(st);
    return status;
}

void pmhmc_mlp_free_param_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; ++i)
        free(names[i]);
    free(names);
}

pmhmc_status pmhmc_mlp_check_params(const pmhmc_mlp *mlp, const char *path, const char *const *stored,
                                    size_t n_stored, const char *const *expected, size_t n_expected,
                                    pmhmc_error *err)
{
    if (!mlp || !path || (n_stored && !stored) || (n_expected && !expected))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "mlp check_params: the network, path and names are required");
    size_t dim = theta_dim(mlp);
    if (dim != n_expected)
        return pmhmc_fail(err, PMHMC_ERR_DATA,
                          "%s: the %s network takes %zu parameters (n_in = %zu); this model has %zu", path,
                          kind_name(mlp->spec.kind), dim, mlp->spec.n_in, n_expected);
    if (n_stored == 0)
        return PMHMC_OK;
    if (n_stored != n_expected)
        return pmhmc_fail(err, PMHMC_ERR_DATA, "%s: the network was trained for %zu parameters; this model has %zu",
                          path, n_stored, n_expected);
    for (size_t i = 0; i < n_stored; ++i)
        if (strcmp(stored[i], expected[i]) != 0) {
            char a[QUOTE_CAP], b[QUOTE_CAP];
            return pmhmc_fail(err, PMHMC_ERR_DATA,
                              "%s: the network was trained for another model: its parameter %zu is %s, this "
                              "model's is %s",
                              path, i + 1, quote(stored[i], a, sizeof a), quote(expected[i], b, sizeof b));
        }
    return PMHMC_OK;
}
