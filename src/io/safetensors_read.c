/* Reading safetensors files: nothing in a file is trusted until checked.
 *
 * The 8-byte length is checked against the file's size and the reference
 * implementation's limit before anything it asks for is allocated; the
 * header must be UTF-8 JSON (cJSON) holding exactly the fields the format
 * defines; each tensor's byte range must match its dtype and shape; and the
 * ranges, in order, must tile the data buffer with no gap or overlap, which
 * is how a truncated or padded file shows up. The first problem found is
 * reported, naming the file, the tensor or field, and what was wrong. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "io/safetensors_impl.h"

/* Dtypes of the format this module does not read: refused as unsupported
 * rather than as malformed, so the message says what the file is. */
static const char *const OTHER_DTYPES[] = {"BOOL", "U8",  "I8",  "I16", "U16",     "I32",     "U32",
                                           "I64",  "U64", "F16", "BF16", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                                           "F6_E2M3", "F6_E3M2", "F4", "C64"};

/* A tensor entry as checked, before it moves into the handle. */
typedef struct entry {
    const char *name; /* owned by the cJSON tree */
    size_t json_index;
    pmhmc_st_dtype dtype;
    size_t ndim;
    size_t *shape; /* owned until moved */
    size_t numel, nbytes;
    size_t begin, end;
} entry;

typedef struct ctx {
    const char *path;
    pmhmc_error *err;
    size_t buffer_len;
} ctx;

static uint64_t load_u64_le(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

static const char *json_kind(const cJSON *item)
{
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsArray(item))
        return "an array";
    if (cJSON_IsObject(item))
        return "an object";
    if (cJSON_IsBool(item))
        return "a boolean";
    return "null";
}

/* ---- the frame and the header's bytes ------------------------------------ */

/* The length prefix against the file's size: what can be said from its
 * first 8 bytes and its size alone, before reading the rest. */
static pmhmc_status check_prefix(const char *path, const unsigned char *first8, size_t len, uint64_t *header_len,
                                 pmhmc_error *err)
{
    if (len < 8)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "%s: truncated: %zu bytes, fewer than the 8 of a safetensors header length", path, len);
    uint64_t n = load_u64_le(first8);
    if (n > PMHMC_ST_MAX_HEADER)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "%s: header length %llu exceeds the limit of %u bytes (not a safetensors file, or corrupted)",
                          path, (unsigned long long)n, PMHMC_ST_MAX_HEADER);
    if (n > len - 8)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "%s: truncated: the header length is %llu bytes but only %zu bytes follow it", path,
                          (unsigned long long)n, len - 8);
    *header_len = n;
    return PMHMC_OK;
}

/* Whether the byte at p (in a header starting at h) ends a backslash escape
 * run of odd length, i.e. is itself escaped. */
static bool escaped(const char *h, const char *p)
{
    size_t run = 0;
    while (p > h && p[-1] == '\\') {
        ++run;
        --p;
    }
    return run % 2 == 1;
}

/* Bytes JSON never allows raw (control characters, NUL included), invalid
 * UTF-8, and the escape \u0000, which cJSON would silently cut a name at. */
static pmhmc_status check_header_bytes(const char *path, const char *h, size_t n, pmhmc_error *err)
{
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)h[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: the header has the control byte 0x%02x at its byte %zu",
                              path, c, i);
    }
    size_t bad = 0;
    if (!pmhmc_st_utf8_valid(h, n, &bad))
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: the header is not valid UTF-8 (byte 0x%02x at its byte %zu)",
                          path, (unsigned char)h[bad], bad);
    for (size_t i = 0; i + 6 <= n; ++i)
        if (h[i] == '\\' && h[i + 1] == 'u' && memcmp(h + i + 2, "0000", 4) == 0 && !escaped(h, h + i))
            return pmhmc_fail(err, PMHMC_ERR_PARSE,
                              "%s: the header has the escape \\u0000 at its byte %zu (a NUL in a name or value)", path, i);
    return PMHMC_OK;
}

/* ---- one tensor entry ------------------------------------------------------ */

/* A JSON number that is a non-negative integer a double holds exactly. */
static bool json_size(const cJSON *item, size_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > PMHMC_ST_MAX_INT || v != floor(v) || v > (double)SIZE_MAX)
        return false;
    *out = (size_t)v;
    return true;
}

/* Why a JSON value is not such an integer, for a message. */
static const char *not_size_why(const cJSON *item, char *buf, size_t cap)
{
    if (!cJSON_IsNumber(item))
        snprintf(buf, cap, "%s, not an integer", json_kind(item));
    else if (!isfinite(item->valuedouble) || item->valuedouble > PMHMC_ST_MAX_INT)
        snprintf(buf, cap, "%.17g, too large", item->valuedouble);
    else if (item->valuedouble < 0.0)
        snprintf(buf, cap, "%.17g, negative", item->valuedouble);
    else
        snprintf(buf, cap, "%.17g, not an integer", item->valuedouble);
    return buf;
}

static pmhmc_status parse_dtype(const ctx *c, const char *q, const cJSON *v, entry *e)
{
    if (!cJSON_IsString(v))
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: 'dtype' is %s, not a string", c->path, q,
                          json_kind(v));
    char dq[PMHMC_ST_QUOTE_CAP];
    if (strcmp(v->valuestring, "F64") == 0) {
        e->dtype = PMHMC_ST_F64;
        return PMHMC_OK;
    }
    if (strcmp(v->valuestring, "F32") == 0) {
        e->dtype = PMHMC_ST_F32;
        return PMHMC_OK;
    }
    for (size_t k = 0; k < sizeof OTHER_DTYPES / sizeof OTHER_DTYPES[0]; ++k)
        if (strcmp(v->valuestring, OTHER_DTYPES[k]) == 0)
            return pmhmc_fail(c->err, PMHMC_ERR_UNSUPPORTED,
                              "%s: tensor %s: dtype %s is not supported (this reader takes F64 and F32)", c->path, q,
                              OTHER_DTYPES[k]);
    return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: unknown dtype %s", c->path, q,
                      pmhmc_st_quote(v->valuestring, dq, sizeof dq));
}

static pmhmc_status parse_shape(const ctx *c, const char *q, const cJSON *v, entry *e)
{
    if (!cJSON_IsArray(v))
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: 'shape' is %s, not an array", c->path, q,
                          json_kind(v));
    size_t ndim = 0;
    for (const cJSON *d = v->child; d; d = d->next)
        ++ndim;
    e->shape = malloc((ndim ? ndim : 1) * sizeof *e->shape);
    if (!e->shape)
        return pmhmc_fail(c->err, PMHMC_ERR_NOMEM, "%s: out of memory", c->path);
    e->ndim = ndim;
    size_t k = 0;
    for (const cJSON *d = v->child; d; d = d->next, ++k)
        if (!json_size(d, &e->shape[k])) {
            char why[64];
            return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: 'shape'[%zu] is %s", c->path, q, k,
                              not_size_why(d, why, sizeof why));
        }
    if (!pmhmc_st_sizes(ndim, e->shape, pmhmc_st_dtype_size(e->dtype), &e->numel, &e->nbytes)) {
        char s[PMHMC_ST_SHAPE_CAP];
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: the size of shape %s overflows", c->path, q,
                          pmhmc_st_format_shape(ndim, e->shape, s, sizeof s));
    }
    return PMHMC_OK;
}

static pmhmc_status parse_offsets(const ctx *c, const char *q, const cJSON *v, entry *e)
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: 'data_offsets' is %s, not an array of two integers",
                          c->path, q, cJSON_IsArray(v) ? "an array of another length" : json_kind(v));
    const cJSON *b = v->child, *x = b->next;
    char why[64];
    if (!json_size(b, &e->begin))
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: 'data_offsets'[0] is %s", c->path, q,
                          not_size_why(b, why, sizeof why));
    if (!json_size(x, &e->end))
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: 'data_offsets'[1] is %s", c->path, q,
                          not_size_why(x, why, sizeof why));
    if (e->end < e->begin)
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: 'data_offsets' [%zu, %zu] end before they begin",
                          c->path, q, e->begin, e->end);
    if (e->end - e->begin != e->nbytes) {
        char s[PMHMC_ST_SHAPE_CAP];
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE,
                          "%s: tensor %s: 'data_offsets' [%zu, %zu] span %zu bytes but dtype %s and shape %s need %zu",
                          c->path, q, e->begin, e->end, e->end - e->begin, pmhmc_st_dtype_name(e->dtype),
                          pmhmc_st_format_shape(e->ndim, e->shape, s, sizeof s), e->nbytes);
    }
    if (e->end > c->buffer_len)
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE,
                          "%s: tensor %s: 'data_offsets' [%zu, %zu] run past the end of the %zu-byte data buffer "
                          "(truncated file?)",
                          c->path, q, e->begin, e->end, c->buffer_len);
    return PMHMC_OK;
}

static pmhmc_status parse_entry(const ctx *c, const cJSON *item, entry *e)
{
    char q[PMHMC_ST_QUOTE_CAP];
    pmhmc_st_quote(item->string, q, sizeof q);
    if (!cJSON_IsObject(item))
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s is %s, not an object", c->path, q, json_kind(item));
    static const char *const FIELDS[3] = {"dtype", "shape", "data_offsets"};
    const cJSON *field[3] = {NULL, NULL, NULL};
    for (const cJSON *f = item->child; f; f = f->next) {
        int k = 0;
        while (k < 3 && strcmp(f->string, FIELDS[k]) != 0)
            ++k;
        char fq[PMHMC_ST_QUOTE_CAP];
        if (k == 3)
            return pmhmc_fail(c->err, PMHMC_ERR_PARSE,
                              "%s: tensor %s: unknown field %s (a tensor has dtype, shape and data_offsets)", c->path,
                              q, pmhmc_st_quote(f->string, fq, sizeof fq));
        if (field[k])
            return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s: field '%s' appears twice", c->path, q,
                              FIELDS[k]);
        field[k] = f;
    }
    for (int k = 0; k < 3; ++k)
        if (!field[k])
            return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensor %s has no '%s'", c->path, q, FIELDS[k]);
    if (item->string[0] == '\0')
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: a tensor has an empty name", c->path);
    pmhmc_status st = parse_dtype(c, q, field[0], e);
    if (st == PMHMC_OK)
        st = parse_shape(c, q, field[1], e);
    if (st == PMHMC_OK)
        st = parse_offsets(c, q, field[2], e);
    e->name = item->string;
    return st;
}

/* ---- metadata ---------------------------------------------------------------- */

typedef struct keyed {
    const char *key;
    size_t index;
} keyed;

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The first key that appears twice, or NULL; keys[] ends up sorted. */
static const char *first_duplicate(keyed *keys, size_t n)
{
    if (n > 1)
        qsort(keys, n, sizeof *keys, by_key);
    for (size_t i = 1; i < n; ++i)
        if (strcmp(keys[i - 1].key, keys[i].key) == 0)
            return keys[i].key;
    return NULL;
}

static pmhmc_status parse_metadata(const ctx *c, const cJSON *md, pmhmc_safetensors *st)
{
    if (!cJSON_IsObject(md))
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: '__metadata__' is %s, not an object of strings", c->path,
                          json_kind(md));
    char q[PMHMC_ST_QUOTE_CAP];
    size_t n = 0;
    for (const cJSON *v = md->child; v; v = v->next, ++n)
        if (!cJSON_IsString(v))
            return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: '__metadata__' value of key %s is %s, not a string",
                              c->path, pmhmc_st_quote(v->string, q, sizeof q), json_kind(v));
    keyed *keys = malloc((n ? n : 1) * sizeof *keys);
    st->meta = calloc(n ? n : 1, sizeof *st->meta);
    if (!keys || !st->meta) {
        free(keys);
        return pmhmc_fail(c->err, PMHMC_ERR_NOMEM, "%s: out of memory", c->path);
    }
    size_t k = 0;
    for (const cJSON *v = md->child; v; v = v->next, ++k)
        keys[k] = (keyed){v->string, k};
    const char *dup = first_duplicate(keys, n);
    free(keys);
    if (dup)
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: '__metadata__' key %s appears twice", c->path,
                          pmhmc_st_quote(dup, q, sizeof q));
    k = 0;
    for (const cJSON *v = md->child; v; v = v->next, ++k) {
        st->meta[k].key = dup_str(v->string);
        st->meta[k].value = dup_str(v->valuestring);
        st->n_meta = k + 1;
        if (!st->meta[k].key || !st->meta[k].value)
            return pmhmc_fail(c->err, PMHMC_ERR_NOMEM, "%s: out of memory", c->path);
    }
    return PMHMC_OK;
}

/* ---- the tensors as a whole -------------------------------------------------- */

static int by_range(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin)
        return (x->begin > y->begin) - (x->begin < y->begin);
    if (x->end != y->end)
        return (x->end > y->end) - (x->end < y->end);
    return (x->json_index > y->json_index) - (x->json_index < y->json_index);
}

/* Sorted by range, the tensors must tile [0, buffer_len) exactly: the
 * format forbids holes, and an overlap would let two tensors share bytes. */
static pmhmc_status check_tiling(const ctx *c, const entry *e, size_t n)
{
    char q1[PMHMC_ST_QUOTE_CAP], q2[PMHMC_ST_QUOTE_CAP];
    size_t pos = 0;
    for (size_t i = 0; i < n; ++i) {
        if (e[i].begin > pos)
            return pmhmc_fail(c->err, PMHMC_ERR_PARSE,
                              "%s: bytes [%zu, %zu) of the data buffer belong to no tensor (the next is %s)", c->path,
                              pos, e[i].begin, pmhmc_st_quote(e[i].name, q1, sizeof q1));
        if (e[i].begin < pos)
            return pmhmc_fail(c->err, PMHMC_ERR_PARSE, "%s: tensors %s (bytes [%zu, %zu)) and %s (bytes [%zu, %zu)) overlap",
                              c->path, pmhmc_st_quote(e[i - 1].name, q1, sizeof q1), e[i - 1].begin, e[i - 1].end,
                              pmhmc_st_quote(e[i].name, q2, sizeof q2), e[i].begin, e[i].end);
        pos = e[i].end;
    }
    if (pos != c->buffer_len)
        return pmhmc_fail(c->err, PMHMC_ERR_PARSE,
                          "%s: bytes [%zu, %zu) of the data buffer belong to no tensor (after the last one)", c->path, pos,
                          c->buffer_len);
    return PMHMC_OK;
}


/* Moves the checked entries (sorted by range) into the handle and points the
 * tensors at their data: in place when the host is little-endian and every
 * tensor is aligned for its dtype (as in every file this module writes);
 * otherwise copied, each to an 8-byte boundary, and put in host order. On
 * success the handle owns *file or has freed it, and *file is NULL. */
static pmhmc_status take_tensors(const ctx *c, pmhmc_safetensors *st, entry *e, size_t n, const keyed *names,
                                 unsigned char **file, const unsigned char *buffer)
{
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    st->by_name = malloc((n ? n : 1) * sizeof *st->by_name);
    if (!st->tensors || !st->by_name)
        return pmhmc_fail(c->err, PMHMC_ERR_NOMEM, "%s: out of memory", c->path);
    bool in_place = pmhmc_st_host_is_little_endian() && (uintptr_t)buffer % 8 == 0;
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
        pmhmc_st_tensor *t = &st->tensors[i];
        st->n_tensors = i + 1;
        t->name = dup_str(e[i].name);
        if (!t->name)
            return pmhmc_fail(c->err, PMHMC_ERR_NOMEM, "%s: out of memory", c->path);
        t->dtype = e[i].dtype;
        t->ndim = e[i].ndim;
        t->shape = e[i].shape;
        e[i].shape = NULL;
        t->numel = e[i].numel;
        st->by_name[i] = names[i].index;
        in_place = in_place && e[i].begin % pmhmc_st_dtype_size(e[i].dtype) == 0;
        total += (e[i].nbytes + 7) / 8 * 8;
    }
    if (in_place) {
        for (size_t i = 0; i < n; ++i)
            st->tensors[i].data = buffer + e[i].begin;
        st->storage = *file;
        *file = NULL;
        return PMHMC_OK;
    }
    st->storage = malloc(total ? total : 1);
    if (!st->storage)
        return pmhmc_fail(c->err, PMHMC_ERR_NOMEM, "%s: out of memory", c->path);
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) {
        if (e[i].nbytes)
            memcpy(st->storage + at, buffer + e[i].begin, e[i].nbytes);
        if (!pmhmc_st_host_is_little_endian())
            pmhmc_st_swap_bytes(st->storage + at, pmhmc_st_dtype_size(e[i].dtype), e[i].numel);
        st->tensors[i].data = st->storage + at;
        at += (e[i].nbytes + 7) / 8 * 8;
    }
    free(*file);
    *file = NULL;
    return PMHMC_OK;
}

/* The JSON tree of a header whose bytes passed check_header_bytes. */
static pmhmc_status parse_json(const char *path, const char *h, size_t n, cJSON **root, pmhmc_error *err)
{
    if (n == 0 || h[0] != '{')
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: the header does not begin with '{' (it must be a JSON object)",
                          path);
    /* A NUL-terminated copy, so that no cJSON code path can read past it. */
    char *text = malloc(n + 1);
    if (!text)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory for a %zu-byte header", path, n);
    memcpy(text, h, n);
    text[n] = '\0';
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    pmhmc_status st = PMHMC_OK;
    if (!*root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: the header is not valid JSON (error at its byte %zu of %zu)", path,
                        at, n);
    } else {
        for (const char *p = end; p < text + n; ++p)
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                st = pmhmc_fail(err, PMHMC_ERR_PARSE,
                                "%s: the header has bytes other than padding after its JSON object (at its byte %zu)",
                                path, (size_t)(p - text));
                break;
            }
        if (st == PMHMC_OK && !cJSON_IsObject(*root))
            st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: the header is %s, not a JSON object", path, json_kind(*root));
        if (st != PMHMC_OK) {
            cJSON_Delete(*root);
            *root = NULL;
        }
    }
    free(text);
    return st;
}

/* Checks the whole image and builds the handle; takes ownership of file. */
static pmhmc_status parse_image(const char *path, unsigned char *file, size_t len, pmhmc_safetensors **out,
                                pmhmc_error *err)
{
    uint64_t n64 = 0;
    pmhmc_status st = check_prefix(path, file, len, &n64, err);
    size_t n = (size_t)n64;
    const char *h = (const char *)file + 8;
    if (st == PMHMC_OK)
        st = check_header_bytes(path, h, n, err);
    cJSON *root = NULL;
    if (st == PMHMC_OK)
        st = parse_json(path, h, n, &root, err);
    if (st != PMHMC_OK) {
        free(file);
        return st;
    }

    ctx c = {path, err, len - 8 - n};
    size_t count = 0;
    for (const cJSON *item = root->child; item; item = item->next)
        ++count;
    entry *e = calloc(count ? count : 1, sizeof *e);
    keyed *names = malloc((count ? count : 1) * sizeof *names);
    pmhmc_safetensors *hd = calloc(1, sizeof *hd);
    if (hd)
        hd->path = dup_str(path);
    size_t ne = 0;
    if (!e || !names || !hd || !hd->path)
        st = pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory", path);
    const cJSON *metadata = NULL;
    for (const cJSON *item = root->child; st == PMHMC_OK && item; item = item->next) {
        if (strcmp(item->string, PMHMC_ST_METADATA) != 0) {
            e[ne].json_index = ne;
            st = parse_entry(&c, item, &e[ne]);
            ++ne; /* counted even on failure, so its shape is freed */
        } else if (metadata) {
            st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: '__metadata__' appears twice", path);
        } else {
            metadata = item;
            st = parse_metadata(&c, item, hd);
        }
    }
    if (st == PMHMC_OK) {
        if (ne > 1)
            qsort(e, ne, sizeof *e, by_range);
        for (size_t i = 0; i < ne; ++i)
            names[i] = (keyed){e[i].name, i};
        const char *dup = first_duplicate(names, ne);
        char q[PMHMC_ST_QUOTE_CAP];
        if (dup)
            st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: tensor %s appears twice", path, pmhmc_st_quote(dup, q, sizeof q));
    }
    if (st == PMHMC_OK)
        st = check_tiling(&c, e, ne);
    if (st == PMHMC_OK)
        st = take_tensors(&c, hd, e, ne, names, &file, (const unsigned char *)h + n);

    for (size_t i = 0; e && i < ne; ++i)
        free(e[i].shape);
    free(e);
    free(names);
    cJSON_Delete(root);
    free(file);
    if (st != PMHMC_OK) {
        pmhmc_safetensors_free(hd);
        return st;
    }
    *out = hd;
    return PMHMC_OK;
}

pmhmc_status pmhmc_safetensors_read_memory(const char *label, const void *bytes, size_t len,
                                           pmhmc_safetensors **out, pmhmc_error *err)
{
    if (out)
        *out = NULL;
    if (!label)
        label = "(memory)";
    if (!out || (len && !bytes))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: safetensors read_memory: bytes and out are required", label);
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory", label);
    if (len)
        memcpy(copy, bytes, len);
    return parse_image(label, copy, len, out, err);
}

pmhmc_status pmhmc_safetensors_read(const char *path, pmhmc_safetensors **out, pmhmc_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "safetensors read: path and out are required");
    FILE *f = fopen(path, "rb");
    if (!f)
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot open the safetensors file: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: not a regular file", path);
    }
    if ((uintmax_t)sb.st_size > SIZE_MAX / 2) {
        fclose(f);
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: too large to read", path);
    }
    size_t len = (size_t)sb.st_size;
    /* The length prefix is checked before reading the rest, so that a large
     * file that is not safetensors is refused without being loaded. */
    unsigned char first[8];
    size_t want = len < 8 ? len : 8;
    uint64_t n = 0;
    if (fread(first, 1, want, f) != want) {
        fclose(f);
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: read error", path);
    }
    pmhmc_status st = check_prefix(path, first, len, &n, err);
    unsigned char *file = st == PMHMC_OK ? malloc(len) : NULL;
    if (st == PMHMC_OK && !file)
        st = pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory for %zu bytes", path, len);
    if (st == PMHMC_OK) {
        memcpy(file, first, 8);
        if (fread(file + 8, 1, len - 8, f) != len - 8 || ferror(f))
            st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: read error (did the file change while being read?)", path);
    }
    fclose(f);
    if (st != PMHMC_OK) {
        free(file);
        return st;
    }
    return parse_image(path, file, len, out, err);
}
