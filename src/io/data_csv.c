/* Data sets: construction, the long-format CSV reader and the atomic writer.
 *
 * The reader loads the whole file into one buffer (so embedded NULs, missing
 * final newlines and lines of any length need no special cases), walks it
 * line by line and keeps rows in file order together with their group index;
 * a final counting pass regroups them stably into the CSR layout of
 * dataset.h. Numbers go through strtod and printf("%.17g"), which round-trip
 * every double exactly in the C locale; the library never calls setlocale. */
#define _POSIX_C_SOURCE 200809L /* fsync, fileno, getpid */

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "io/dataset.h"

/* ---- small helpers --------------------------------------------------------- */

static void *alloc_array(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    return malloc(bytes ? bytes : 1); /* malloc(0) may legally return NULL */
}

static char *dup_bytes(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

/* The capacity at least `need` reached by doubling from cap (so appends stay
 * amortised O(1) for million-row files); 0 when elements of `size` bytes
 * would overflow. */
static size_t grown_capacity(size_t cap, size_t need, size_t size)
{
    size_t next = cap ? cap : 64;
    while (next < need) {
        if (next > SIZE_MAX / 2)
            return 0;
        next *= 2;
    }
    return next <= SIZE_MAX / size ? next : 0;
}

static bool is_blank_char(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* A field of a line: [s, s + len), not NUL-terminated. */
typedef struct span {
    const char *s;
    size_t len;
} span;

static span trim(span f)
{
    while (f.len && is_blank_char(f.s[0])) {
        ++f.s;
        --f.len;
    }
    while (f.len && is_blank_char(f.s[f.len - 1]))
        --f.len;
    return f;
}

static bool span_equals(span f, const char *text)
{
    return f.len == strlen(text) && memcmp(f.s, text, f.len) == 0;
}

/* Renders a field for an error message: bounded in length, with bytes that
 * would garble a terminal (NUL, control characters) shown as \xNN. */
static const char *quote_field(span f, char *dst, size_t cap)
{
    enum { SHOWN = 40 };
    size_t out = 0;
    dst[out++] = '"';
    for (size_t i = 0; i < f.len && i < SHOWN && out + 6 < cap; ++i) {
        unsigned char c = (unsigned char)f.s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            out += (size_t)snprintf(dst + out, cap - out, "\\x%02x", c);
        else
            dst[out++] = (char)c;
    }
    dst[out++] = '"';
    dst[out] = '\0';
    if (f.len > SHOWN && out + 4 < cap)
        strcpy(dst + out, "...");
    return dst;
}

/* A column name as the reader accepts it and the writer can reproduce:
 * non-empty, no surrounding blanks (the reader trims them), no comma or quote, and no
 * control characters (a lone "\r" line ending would otherwise hide in one). */
static bool name_ok(span name)
{
    if (name.len == 0 || is_blank_char(name.s[0]) || is_blank_char(name.s[name.len - 1]))
        return false;
    for (size_t i = 0; i < name.len; ++i) {
        unsigned char c = (unsigned char)name.s[i];
        if (c < 0x20 || c == 0x7f || c == ',' || c == '"')
            return false;
    }
    return true;
}

/* ---- string interning: an open-addressing hash map ------------------------- */

/* Maps byte strings to dense indices 0, 1, ... in order of first insertion;
 * used for group ids (first-appearance order) and header names (duplicates). */
typedef struct strmap {
    size_t *slots; /* entry index + 1; 0 marks an empty slot */
    size_t n_slots;  /* a power of two, kept at least twice the entry count */
    char **keys;
    uint64_t *hashes;
    size_t n, cap;
} strmap;

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (size_t i = 0; i < len; ++i) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h ^ (h >> 29); /* mix the high bits into the masked low ones */
}

static void strmap_free(strmap *m)
{
    for (size_t i = 0; i < m->n; ++i)
        free(m->keys[i]);
    free(m->keys);
    free(m->hashes);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static void strmap_place(size_t *slots, size_t n_slots, uint64_t hash, size_t index)
{
    size_t i = (size_t)hash & (n_slots - 1);
    while (slots[i])
        i = (i + 1) & (n_slots - 1);
    slots[i] = index + 1;
}

static bool strmap_grow(strmap *m)
{
    size_t n_slots = m->n_slots ? m->n_slots * 2 : 64;
    size_t *slots = n_slots > m->n_slots ? calloc(n_slots, sizeof *slots) : NULL;
    if (!slots)
        return false;
    for (size_t i = 0; i < m->n; ++i)
        strmap_place(slots, n_slots, m->hashes[i], i);
    free(m->slots);
    m->slots = slots;
    m->n_slots = n_slots;
    return true;
}

/* Room for one more key. A failed realloc leaves the old arrays in place. */
static bool strmap_reserve(strmap *m)
{
    if (m->n < m->cap)
        return true;
    size_t cap = grown_capacity(m->cap, m->n + 1, sizeof(char *) + sizeof(uint64_t));
    char **keys = cap ? realloc(m->keys, cap * sizeof *keys) : NULL;
    if (keys)
        m->keys = keys;
    uint64_t *hashes = keys ? realloc(m->hashes, cap * sizeof *hashes) : NULL;
    if (hashes)
        m->hashes = hashes;
    if (!hashes)
        return false;
    m->cap = cap;
    return true;
}

/* Finds key, adding it when absent; *index receives its position and *added
 * whether it was new. The key must contain no NUL byte. */
static pmhmc_status strmap_intern(strmap *m, span key, size_t *index, bool *added)
{
    uint64_t hash = hash_bytes(key.s, key.len);
    if (m->n_slots) {
        for (size_t i = (size_t)hash & (m->n_slots - 1); m->slots[i]; i = (i + 1) & (m->n_slots - 1)) {
            size_t e = m->slots[i] - 1;
            if (m->hashes[e] == hash && strncmp(m->keys[e], key.s, key.len) == 0 && m->keys[e][key.len] == '\0') {
                *index = e;
                *added = false;
                return PMHMC_OK;
            }
        }
    }
    if ((m->n + 1) * 2 > m->n_slots && !strmap_grow(m))
        return PMHMC_ERR_NOMEM;
    if (!strmap_reserve(m))
        return PMHMC_ERR_NOMEM;
    char *copy = dup_bytes(key.s, key.len);
    if (!copy)
        return PMHMC_ERR_NOMEM;
    m->keys[m->n] = copy;
    m->hashes[m->n] = hash;
    strmap_place(m->slots, m->n_slots, hash, m->n);
    *index = m->n++;
    *added = true;
    return PMHMC_OK;
}

/* ---- the dataset object ---------------------------------------------------- */

void pmhmc_dataset_free(pmhmc_dataset *data)
{
    if (!data)
        return;
    if (data->cov_names)
        for (size_t i = 0; i < data->n_cov; ++i)
            free(data->cov_names[i]);
    if (data->group_ids)
        for (size_t g = 0; g < data->n_groups; ++g)
            free(data->group_ids[g]);
    free(data->cov_names);
    free(data->group_ids);
    free(data->group_start);
    free(data->y);
    free(data->z);
    free(data);
}

/* Allocates every array of a dataset of the given shape, name and id slots
 * zeroed so pmhmc_dataset_free can release a half-filled one. */
static pmhmc_dataset *dataset_alloc(size_t n_groups, size_t n_rows, size_t n_cov)
{
    pmhmc_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->n_groups = n_groups;
    d->n_rows = n_rows;
    d->n_cov = n_cov;
    d->group_start = n_groups < SIZE_MAX ? alloc_array(n_groups + 1, sizeof *d->group_start) : NULL;
    d->y = alloc_array(n_rows, sizeof *d->y);
    d->z = (n_cov == 0 || n_rows <= SIZE_MAX / n_cov) ? alloc_array(n_rows * n_cov, sizeof *d->z) : NULL;
    d->cov_names = calloc(n_cov ? n_cov : 1, sizeof *d->cov_names);
    d->group_ids = calloc(n_groups ? n_groups : 1, sizeof *d->group_ids);
    if (!d->group_start || !d->y || !d->z || !d->cov_names || !d->group_ids) {
        pmhmc_dataset_free(d);
        return NULL;
    }
    return d;
}

static void set_max_group_rows(pmhmc_dataset *d)
{
    d->max_group_rows = 0;
    for (size_t g = 0; g < d->n_groups; ++g) {
        size_t rows = d->group_start[g + 1] - d->group_start[g];
        if (rows > d->max_group_rows)
            d->max_group_rows = rows;
    }
}


static pmhmc_status check_cov_names(size_t n_cov, const char *const *cov_names)
{
    if (!cov_names)
        return PMHMC_OK;
    strmap seen = {0};
    span id = {"id", 2}, y = {"y", 1};
    size_t index;
    bool added;
    pmhmc_status st = strmap_intern(&seen, id, &index, &added);
    if (st == PMHMC_OK)
        st = strmap_intern(&seen, y, &index, &added);
    for (size_t i = 0; i < n_cov && st == PMHMC_OK; ++i) {
        span name = {cov_names[i], cov_names[i] ? strlen(cov_names[i]) : 0};
        if (!name_ok(name)) {
            st = PMHMC_ERR_ARG;
            break;
        }
        st = strmap_intern(&seen, name, &index, &added);
        if (st == PMHMC_OK && !added)
            st = PMHMC_ERR_ARG;
    }
    strmap_free(&seen);
    return st;
}

/* Every group owns at least one row, as in any data file, so that a created
 * data set survives write_csv then read_csv with the same groups. */
static pmhmc_status check_layout(size_t n_groups, const size_t *group_start, const double *y,
                                 const double *z, size_t n_cov)
{
    if (n_groups == 0 || !group_start || !y || (n_cov && !z) || group_start[0] != 0)
        return PMHMC_ERR_ARG;
    for (size_t g = 0; g < n_groups; ++g)
        if (group_start[g + 1] <= group_start[g])
            return PMHMC_ERR_ARG;
    size_t n_rows = group_start[n_groups];
    if (n_cov && n_rows > SIZE_MAX / n_cov)
        return PMHMC_ERR_ARG;
    for (size_t r = 0; r < n_rows; ++r)
        if (!isfinite(y[r]))
            return PMHMC_ERR_DATA;
    for (size_t e = 0; e < n_rows * n_cov; ++e)
        if (!isfinite(z[e]))
            return PMHMC_ERR_DATA;
    return PMHMC_OK;
}

static pmhmc_status fill_names(pmhmc_dataset *d, const char *const *cov_names)
{
    char buf[32];
    for (size_t i = 0; i < d->n_cov; ++i) {
        if (!cov_names)
            snprintf(buf, sizeof buf, "z%zu", i + 1);
        const char *name = cov_names ? cov_names[i] : buf;
        if (!(d->cov_names[i] = dup_bytes(name, strlen(name))))
            return PMHMC_ERR_NOMEM;
    }
    for (size_t g = 0; g < d->n_groups; ++g) {
        int len = snprintf(buf, sizeof buf, "%zu", g + 1);
        if (!(d->group_ids[g] = dup_bytes(buf, (size_t)len)))
            return PMHMC_ERR_NOMEM;
    }
    return PMHMC_OK;
}

pmhmc_status pmhmc_dataset_create(size_t n_groups, const size_t *group_start, const double *y,
                                  const double *z, size_t n_cov, const char *const *cov_names,
                                  pmhmc_dataset **out)
{
    if (!out)
        return PMHMC_ERR_ARG;
    *out = NULL;
    pmhmc_status st = check_layout(n_groups, group_start, y, z, n_cov);
    if (st == PMHMC_OK)
        st = check_cov_names(n_cov, cov_names);
    if (st != PMHMC_OK)
        return st;
    size_t n_rows = group_start[n_groups];
    pmhmc_dataset *d = dataset_alloc(n_groups, n_rows, n_cov);
    if (!d)
        return PMHMC_ERR_NOMEM;
    memcpy(d->group_start, group_start, (n_groups + 1) * sizeof *group_start);
    memcpy(d->y, y, n_rows * sizeof *y);
    if (n_cov)
        memcpy(d->z, z, n_rows * n_cov * sizeof *z);
    set_max_group_rows(d);
    st = fill_names(d, cov_names);
    if (st != PMHMC_OK) {
        pmhmc_dataset_free(d);
        return st;
    }
    *out = d;
    return PMHMC_OK;
}

size_t pmhmc_dataset_n_groups(const pmhmc_dataset *data) { return data ? data->n_groups : 0; }
size_t pmhmc_dataset_n_rows(const pmhmc_dataset *data) { return data ? data->n_rows : 0; }
size_t pmhmc_dataset_n_covariates(const pmhmc_dataset *data) { return data ? data->n_cov : 0; }

/* NULL when i is out of range. */
const char *pmhmc_dataset_covariate_name(const pmhmc_dataset *data, size_t i)
{
    return data && i < data->n_cov ? data->cov_names[i] : NULL;
}

/* NULL when g is out of range. */
const char *pmhmc_dataset_group_id(const pmhmc_dataset *data, size_t g)
{
    return data && g < data->n_groups ? data->group_ids[g] : NULL;
}

/* ---- reading --------------------------------------------------------------- */

/* The whole file, plus one spare byte so any field can be NUL-terminated in
 * place for strtod. */
static pmhmc_status slurp(const char *path, char **text, size_t *len, pmhmc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot open the data file: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, used = 0;
    for (;;) {
        size_t next = grown_capacity(cap, used + 65536 + 1, 1);
        char *grown = next ? realloc(buf, next) : NULL;
        if (!grown) {
            free(buf);
            fclose(f);
            return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory reading the data file", path);
        }
        buf = grown;
        cap = next;
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (got == 0)
            break;
    }
    int read_errno = errno;
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot read the data file: %s", path, strerror(read_errno));
    }
    buf[used] = '\0';
    *text = buf;
    *len = used;
    return PMHMC_OK;
}

typedef struct reader {
    const char *path;
    pmhmc_error *err;
    char *pos, *end; /* the unread rest of the file */
    size_t line;     /* 1-based number of the line last returned */
} reader;

/* The next line without its "\n" or "\r\n"; false at the end of the file. */
static bool next_line(reader *r, span *line)
{
    if (r->pos >= r->end)
        return false;
    char *nl = memchr(r->pos, '\n', (size_t)(r->end - r->pos));
    char *stop = nl ? nl : r->end;
    line->s = r->pos;
    line->len = (size_t)(stop - r->pos);
    if (line->len && line->s[line->len - 1] == '\r')
        --line->len;
    r->pos = nl ? nl + 1 : r->end;
    ++r->line;
    return true;
}

static bool is_blank_line(span line)
{
    return trim(line).len == 0;
}

static bool rest_is_blank(const reader *r)
{
    for (const char *c = r->pos; c < r->end; ++c)
        if (*c != '\n' && !is_blank_char(*c))
            return false;
    return true;
}

/* Splits off the field before the next comma; *rest keeps what follows it.
 * Returns false (leaving the whole line as the field) when no comma is left.
 * A field in double quotes (R's write.csv and spreadsheets quote text) is
 * the text between them, commas included: "1" and 1 are the same id. One
 * with a quote inside ("" escapes) is left whole, quotes and all, for the
 * caller to refuse: no name, id or number holds a quote. */
static bool split_field(span *rest, span *field)
{
    const char *s = rest->s, *end = rest->s + rest->len;
    const char *open = s;
    while (open < end && is_blank_char(*open))
        ++open;
    if (open < end && *open == '"') {
        const char *close = memchr(open + 1, '"', (size_t)(end - open - 1));
        const char *after = close ? close + 1 : end;
        while (close && after < end && is_blank_char(*after))
            ++after;
        if (close && (after == end || *after == ',')) {
            field->s = open + 1;
            field->len = (size_t)(close - open - 1);
            if (after == end) {
                rest->s = end;
                rest->len = 0;
                return false;
            }
            rest->s = after + 1;
            rest->len = (size_t)(end - rest->s);
            return true;
        }
    }
    const char *comma = memchr(rest->s, ',', rest->len);
    if (!comma) {
        *field = *rest;
        return false;
    }
    field->s = rest->s;
    field->len = (size_t)(comma - rest->s);
    rest->len -= field->len + 1;
    rest->s = comma + 1;
    return true;
}

static size_t count_commas(span s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; ++i)
        n += s.s[i] == ',';
    return n;
}

/* The header: names of all columns, `id` and `y` first, non-empty, unique. */
static pmhmc_status read_header(reader *r, strmap *names)
{
    span line;
    if (rest_is_blank(r) || !next_line(r, &line))
        return pmhmc_fail(r->err, PMHMC_ERR_PARSE,
                          "%s: the file is empty; expected a header line \"id,y[,covariate...]\"", r->path);
    char shown[256];
    bool more = true;
    for (size_t col = 1; more; ++col) {
        span field;
        more = split_field(&line, &field);
        field = trim(field);
        const char *required = col == 1 ? "id" : col == 2 ? "y" : NULL;
        if (required && !span_equals(field, required))
            return pmhmc_fail(r->err, PMHMC_ERR_PARSE,
                              "%s:1: column %zu: expected the name \"%s\" (the header begins \"id,y\"), found %s",
                              r->path, col, required, quote_field(field, shown, sizeof shown));
        if (!name_ok(field))
            return pmhmc_fail(r->err, PMHMC_ERR_PARSE,
                              "%s:1: column %zu: expected a column name (non-empty, no control characters), found %s",
                              r->path, col, quote_field(field, shown, sizeof shown));
        size_t first;
        bool added;
        if (strmap_intern(names, field, &first, &added) != PMHMC_OK)
            return pmhmc_fail(r->err, PMHMC_ERR_NOMEM, "%s: out of memory reading the header", r->path);
        if (!added)
            return pmhmc_fail(r->err, PMHMC_ERR_PARSE,
                              "%s:1: column %zu (%s): expected a unique column name, but column %zu has the same name",
                              r->path, col, names->keys[first], first + 1);
        if (!more && col < 2)
            return pmhmc_fail(r->err, PMHMC_ERR_PARSE,
                              "%s:1: column 2: expected the header to begin \"id,y\", found only one column", r->path);
    }
    return PMHMC_OK;
}

/* Rows in file order, before regrouping. */
typedef struct rows {
    size_t n, cap;
    double *y, *z;
    size_t *group;
    strmap ids;
} rows;

static void rows_free(rows *rw)
{
    free(rw->y);
    free(rw->z);
    free(rw->group);
    strmap_free(&rw->ids);
}

/* Room for one more row. A failed realloc leaves the old arrays in place. */
static bool rows_reserve(rows *rw, size_t n_cov)
{
    if (rw->n < rw->cap)
        return true;
    /* The widest per-row array bounds them all: z, or y when there is no z. */
    size_t row_bytes = (n_cov ? n_cov : 1) * sizeof(double);
    size_t cap = grown_capacity(rw->cap, rw->n + 1, row_bytes);
    double *y = cap ? realloc(rw->y, cap * sizeof *y) : NULL;
    if (y)
        rw->y = y;
    size_t *group = y ? realloc(rw->group, cap * sizeof *group) : NULL;
    if (group)
        rw->group = group;
    double *z = group && n_cov ? realloc(rw->z, cap * row_bytes) : NULL;
    if (z)
        rw->z = z;
    if (!group || (n_cov && !z))
        return false;
    rw->cap = cap;
    return true;
}

/* Parses a number that must fill the whole (trimmed) field. */
static pmhmc_status parse_number(reader *r, span field, size_t col, const char *name, double *value)
{
    char shown[256];
    span t = trim(field);
    /* The field's terminator (',' '\r' '\n' or the spare byte) is no longer
     * needed: the line has been split already. */
    char *term = (char *)t.s + t.len;
    char saved = *term;
    *term = '\0';
    char *stop;
    double v = t.len ? strtod(t.s, &stop) : 0.0;
    *term = saved;
    if (t.len == 0 || stop != term)
        return pmhmc_fail(r->err, PMHMC_ERR_PARSE, "%s:%zu: column %zu (%s): expected a number, found %s", r->path,
                          r->line, col, name, quote_field(t, shown, sizeof shown));
    if (!isfinite(v))
        return pmhmc_fail(r->err, PMHMC_ERR_DATA, "%s:%zu: column %zu (%s): expected a finite number, found %s",
                          r->path, r->line, col, name, quote_field(t, shown, sizeof shown));
    *value = v;
    return PMHMC_OK;
}

static pmhmc_status parse_id(reader *r, span field, rows *rw, size_t *group)
{
    char shown[256];
    span id = trim(field);
    if (id.len == 0 || memchr(id.s, '\0', id.len) || memchr(id.s, '"', id.len))
        return pmhmc_fail(r->err, PMHMC_ERR_PARSE, "%s:%zu: column 1 (id): expected %s, found %s", r->path, r->line,
                          id.len == 0                         ? "a non-empty id"
                          : memchr(id.s, '\0', id.len) != NULL ? "an id without NUL bytes"
                                                              : "an id without quotes inside (\"a\" is the id a)",
                          quote_field(id, shown, sizeof shown));
    bool added;
    if (strmap_intern(&rw->ids, id, group, &added) != PMHMC_OK)
        return pmhmc_fail(r->err, PMHMC_ERR_NOMEM, "%s:%zu: out of memory", r->path, r->line);
    return PMHMC_OK;
}

/* Splits a data line into exactly n_cols fields. */
static pmhmc_status split_row(reader *r, span line, const strmap *names, span *fields)
{
    size_t n_cols = names->n;
    for (size_t c = 0; c < n_cols; ++c) {
        bool comma = split_field(&line, &fields[c]);
        if (!comma && c + 1 < n_cols)
            return pmhmc_fail(r->err, PMHMC_ERR_PARSE,
                              "%s:%zu: column %zu (%s): missing; expected %zu columns as in the header, found %zu",
                              r->path, r->line, c + 2, names->keys[c + 1], n_cols, c + 1);
        if (comma && c + 1 == n_cols)
            return pmhmc_fail(r->err, PMHMC_ERR_PARSE,
                              "%s:%zu: column %zu: unexpected extra column; expected %zu columns as in the header, "
                              "found %zu",
                              r->path, r->line, n_cols + 1, n_cols, n_cols + 1 + count_commas(line));
    }
    return PMHMC_OK;
}

static pmhmc_status append_row(reader *r, span line, const strmap *names, pmhmc_response_kind kind, span *fields,
                               rows *rw)
{
    pmhmc_status st = split_row(r, line, names, fields);
    if (st != PMHMC_OK)
        return st;
    size_t n_cov = names->n - 2;
    if (!rows_reserve(rw, n_cov))
        return pmhmc_fail(r->err, PMHMC_ERR_NOMEM, "%s:%zu: out of memory", r->path, r->line);
    if ((st = parse_id(r, fields[0], rw, &rw->group[rw->n])) != PMHMC_OK)
        return st;
    double *y = &rw->y[rw->n];
    if ((st = parse_number(r, fields[1], 2, "y", y)) != PMHMC_OK)
        return st;
    if (kind == PMHMC_RESPONSE_BINARY && *y != 0.0 && *y != 1.0) {
        char shown[256];
        return pmhmc_fail(r->err, PMHMC_ERR_DATA, "%s:%zu: column 2 (y): expected 0 or 1 (binary response), found %s",
                          r->path, r->line, quote_field(trim(fields[1]), shown, sizeof shown));
    }
    for (size_t k = 0; k < n_cov; ++k)
        if ((st = parse_number(r, fields[k + 2], k + 3, names->keys[k + 2], &rw->z[rw->n * n_cov + k])) != PMHMC_OK)
            return st;
    ++rw->n;
    return PMHMC_OK;
}

/* Data lines after the header; blank lines may only trail the last row. */
static pmhmc_status read_rows(reader *r, const strmap *names, pmhmc_response_kind kind, rows *rw)
{
    span *fields = alloc_array(names->n, sizeof *fields);
    if (!fields)
        return pmhmc_fail(r->err, PMHMC_ERR_NOMEM, "%s: out of memory", r->path);
    pmhmc_status st = PMHMC_OK;
    size_t first_blank = 0;
    span line;
    while (st == PMHMC_OK && next_line(r, &line)) {
        if (is_blank_line(line)) {
            if (!first_blank)
                first_blank = r->line;
            continue;
        }
        if (first_blank) {
            st = pmhmc_fail(r->err, PMHMC_ERR_PARSE,
                            "%s:%zu: blank line before the end of the data; expected a row of %zu columns", r->path,
                            first_blank, names->n);
            break;
        }
        st = append_row(r, line, names, kind, fields, rw);
    }
    free(fields);
    if (st == PMHMC_OK && rw->n == 0)
        st = pmhmc_fail(r->err, PMHMC_ERR_DATA, "%s:2: expected a data row after the header, found none", r->path);
    return st;
}

/* Regroups rows stably by group; takes the group ids out of rw. */
static pmhmc_status build_dataset(rows *rw, const strmap *names, pmhmc_dataset **out)
{
    size_t n_cov = names->n - 2;
    pmhmc_dataset *d = dataset_alloc(rw->ids.n, rw->n, n_cov);
    if (!d)
        return PMHMC_ERR_NOMEM;
    for (size_t i = 0; i < n_cov; ++i)
        if (!(d->cov_names[i] = dup_bytes(names->keys[i + 2], strlen(names->keys[i + 2])))) {
            pmhmc_dataset_free(d);
            return PMHMC_ERR_NOMEM;
        }
    memset(d->group_start, 0, (d->n_groups + 1) * sizeof *d->group_start);
    for (size_t r = 0; r < rw->n; ++r)
        ++d->group_start[rw->group[r] + 1];
    for (size_t g = 0; g < d->n_groups; ++g)
        d->group_start[g + 1] += d->group_start[g];
    /* group_start[g] doubles as group g's next free row while scattering;
     * afterwards it holds group g's end, i.e. group g + 1's start. */
    for (size_t r = 0; r < rw->n; ++r) {
        size_t dst = d->group_start[rw->group[r]]++;
        d->y[dst] = rw->y[r];
        if (n_cov)
            memcpy(&d->z[dst * n_cov], &rw->z[r * n_cov], n_cov * sizeof *d->z);
    }
    memmove(d->group_start + 1, d->group_start, d->n_groups * sizeof *d->group_start);
    d->group_start[0] = 0;
    set_max_group_rows(d);
    free(d->group_ids);
    d->group_ids = rw->ids.keys;
    rw->ids.keys = NULL;
    rw->ids.n = 0;
    *out = d;
    return PMHMC_OK;
}

static pmhmc_status parse_text(reader *r, pmhmc_response_kind kind, pmhmc_dataset **out)
{
    strmap names = {0};
    rows rw = {0};
    pmhmc_status st = read_header(r, &names);
    if (st == PMHMC_OK)
        st = read_rows(r, &names, kind, &rw);
    if (st == PMHMC_OK && (st = build_dataset(&rw, &names, out)) != PMHMC_OK)
        pmhmc_fail(r->err, st, "%s: out of memory building the data set", r->path);
    rows_free(&rw);
    strmap_free(&names);
    return st;
}

pmhmc_status pmhmc_dataset_read_csv(const char *path, pmhmc_response_kind kind, pmhmc_dataset **out,
                                    pmhmc_error *err)
{
    if (!out)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "read_csv: no output pointer");
    *out = NULL;
    if (!path)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "read_csv: no path");
    if (kind != PMHMC_RESPONSE_BINARY && kind != PMHMC_RESPONSE_REAL)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: unknown response kind %d", path, (int)kind);
    char *text = NULL;
    size_t len = 0;
    pmhmc_status st = slurp(path, &text, &len, err);
    if (st != PMHMC_OK)
        return st;
    reader r = {path, err, text, text + len, 0};
    /* Spreadsheet programs often start UTF-8 files with a byte-order mark. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.pos += 3;
    st = parse_text(&r, kind, out);
    free(text);
    return st;
}

/* ---- writing --------------------------------------------------------------- */

static bool write_rows(const pmhmc_dataset *d, FILE *f)
{
    if (fputs("id,y", f) < 0)
        return false;
    for (size_t k = 0; k < d->n_cov; ++k)
        if (fprintf(f, ",%s", d->cov_names[k]) < 0)
            return false;
    if (fputc('\n', f) == EOF)
        return false;
    for (size_t g = 0; g < d->n_groups; ++g)
        for (size_t r = d->group_start[g]; r < d->group_start[g + 1]; ++r) {
            const char *q = strchr(d->group_ids[g], ',') ? "\"" : ""; /* read back as one field */
            if (fprintf(f, "%s%s%s,%.17g", q, d->group_ids[g], q, d->y[r]) < 0)
                return false;
            for (size_t k = 0; k < d->n_cov; ++k)
                if (fprintf(f, ",%.17g", d->z[r * d->n_cov + k]) < 0)
                    return false;
            if (fputc('\n', f) == EOF)
                return false;
        }
    return true;
}

/* Writes to a private temporary beside path and renames it over path only
 * once it is complete and on disk, so readers never see a partial file. */
pmhmc_status pmhmc_dataset_write_csv(const pmhmc_dataset *data, const char *path, pmhmc_error *err)
{
    if (!data || !path)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "write_csv: data and path are required");
    size_t tmp_len = strlen(path) + 32;
    char *tmp = malloc(tmp_len);
    if (!tmp)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wx");
    if (!f) {
        int e = errno;
        pmhmc_status st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot create the temporary file %s: %s", path, tmp,
                                     strerror(e));
        free(tmp);
        return st;
    }
    errno = 0;
    bool ok = write_rows(data, f) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    pmhmc_status st = PMHMC_OK;
    if (!ok) {
        remove(tmp);
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot write the data file: %s", path,
                        e ? strerror(e) : "write error");
    }
    free(tmp);
    return st;
}
