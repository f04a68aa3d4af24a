/* Safetensors: the dtypes, the helpers the reader and writer share, and the
 * read handle's accessors. Reading is in safetensors_read.c, writing in
 * safetensors_write.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io/safetensors_impl.h"

const char *pmhmc_st_dtype_name(pmhmc_st_dtype dtype)
{
    switch (dtype) {
    case PMHMC_ST_F64:
        return "F64";
    case PMHMC_ST_F32:
        return "F32";
    }
    return NULL;
}

size_t pmhmc_st_dtype_size(pmhmc_st_dtype dtype)
{
    switch (dtype) {
    case PMHMC_ST_F64:
        return 8;
    case PMHMC_ST_F32:
        return 4;
    }
    return 0;
}

/* ---- shared helpers ------------------------------------------------------ */

bool pmhmc_st_utf8_valid(const char *s, size_t len, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t more;
        unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c < 0x80)
            more = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            if (c == 0xf4)
                hi = 0x8f; /* past U+10FFFF */
        } else {
            *bad_at = i;
            return false;
        }
        if (len - i - 1 < more) {
            *bad_at = i;
            return false;
        }
        for (size_t k = 1; k <= more; ++k) {
            unsigned b = p[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) {
                *bad_at = i;
                return false;
            }
        }
        i += more + 1;
    }
    return true;
}

const char *pmhmc_st_quote(const char *s, char *dst, size_t cap)
{
    enum { SHOWN = 64 };
    size_t out = 0, i = 0;
    dst[out++] = '\'';
    for (; s[i] && out + 8 < cap; ++i) {
        unsigned char c = (unsigned char)s[i];
        /* Cut only before the first byte of a character. */
        if (i >= SHOWN && (c & 0xc0) != 0x80)
            break;
        if (c < 0x20 || c == 0x7f || c == '\\')
            out += (size_t)snprintf(dst + out, cap - out, "\\x%02x", c);
        else
            dst[out++] = (char)c;
    }
    dst[out++] = '\'';
    dst[out] = '\0';
    if (s[i] && out + 4 < cap)
        strcpy(dst + out, "...");
    return dst;
}

const char *pmhmc_st_format_shape(size_t ndim, const size_t *shape, char *dst, size_t cap)
{
    size_t out = (size_t)snprintf(dst, cap, "[");
    for (size_t d = 0; d < ndim; ++d) {
        if (out + 28 >= cap) {
            snprintf(dst + out, cap - out, "...]");
            return dst;
        }
        out += (size_t)snprintf(dst + out, cap - out, "%s%zu", d ? ", " : "", shape[d]);
    }
    snprintf(dst + out, cap - out, "]");
    return dst;
}

bool pmhmc_st_sizes(size_t ndim, const size_t *shape, size_t elem_size, size_t *numel, size_t *nbytes)
{
    /* Overflow anywhere counts, even before a zero dimension, as in the
     * reference implementation: such a shape is nonsense either way. */
    size_t n = 1;
    for (size_t d = 0; d < ndim; ++d) {
        if (shape[d] != 0 && n > SIZE_MAX / shape[d])
            return false;
        n *= shape[d];
    }
    if (elem_size != 0 && n > SIZE_MAX / elem_size)
        return false;
    *numel = n;
    *nbytes = n * elem_size;
    return true;
}

bool pmhmc_st_host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

void pmhmc_st_swap_bytes(void *data, size_t elem_size, size_t n)
{
    unsigned char *p = data;
    for (size_t i = 0; i < n; ++i, p += elem_size)
        for (size_t a = 0, b = elem_size - 1; a < b; ++a, --b) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---- the read handle ----------------------------------------------------- */

void pmhmc_safetensors_free(pmhmc_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; st->tensors && i < st->n_tensors; ++i) {
        free((char *)st->tensors[i].name);
        free((size_t *)st->tensors[i].shape);
    }
    for (size_t i = 0; st->meta && i < st->n_meta; ++i) {
        free((char *)st->meta[i].key);
        free((char *)st->meta[i].value);
    }
    free(st->tensors);
    free(st->by_name);
    free(st->meta);
    free(st->storage);
    free(st->path);
    free(st);
}

const char *pmhmc_safetensors_path(const pmhmc_safetensors *st)
{
    return st ? st->path : NULL;
}

size_t pmhmc_safetensors_count(const pmhmc_safetensors *st)
{
    return st ? st->n_tensors : 0;
}

const pmhmc_st_tensor *pmhmc_safetensors_tensor_at(const pmhmc_safetensors *st, size_t i)
{
    return st && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const pmhmc_st_tensor *pmhmc_safetensors_find(const pmhmc_safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    size_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pmhmc_st_tensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0)
            return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

pmhmc_status pmhmc_safetensors_get_f64(const pmhmc_safetensors *st, const char *name, size_t ndim,
                                       const size_t *shape, double *dst, pmhmc_error *err)
{
    if (!st || !name || (ndim && !shape))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "safetensors get_f64: the handle, name and shape are required");
    char q[PMHMC_ST_QUOTE_CAP], have[PMHMC_ST_SHAPE_CAP], want[PMHMC_ST_SHAPE_CAP];
    const pmhmc_st_tensor *t = pmhmc_safetensors_find(st, name);
    if (!t)
        return pmhmc_fail(err, PMHMC_ERR_DATA, "%s: no tensor %s", st->path, pmhmc_st_quote(name, q, sizeof q));
    bool same = t->ndim == ndim;
    for (size_t d = 0; same && d < ndim; ++d)
        same = t->shape[d] == shape[d];
    if (!same)
        return pmhmc_fail(err, PMHMC_ERR_DATA, "%s: tensor %s has shape %s; expected %s", st->path,
                          pmhmc_st_quote(name, q, sizeof q), pmhmc_st_format_shape(t->ndim, t->shape, have, sizeof have),
                          pmhmc_st_format_shape(ndim, shape, want, sizeof want));
    if (t->numel && !dst)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "safetensors get_f64: dst is required");
    if (t->dtype == PMHMC_ST_F64) {
        if (t->numel)
            memcpy(dst, t->data, t->numel * sizeof(double));
    } else {
        const float *src = t->data;
        for (size_t i = 0; i < t->numel; ++i)
            dst[i] = (double)src[i];
    }
    return PMHMC_OK;
}

size_t pmhmc_safetensors_meta_count(const pmhmc_safetensors *st)
{
    return st ? st->n_meta : 0;
}

const pmhmc_st_meta *pmhmc_safetensors_meta_at(const pmhmc_safetensors *st, size_t i)
{
    return st && i < st->n_meta ? &st->meta[i] : NULL;
}

const char *pmhmc_safetensors_meta(const pmhmc_safetensors *st, const char *key)
{
    if (!st || !key)
        return NULL;
    for (size_t i = 0; i < st->n_meta; ++i)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}
