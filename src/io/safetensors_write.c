/* Writing safetensors files, laid out as the reference implementation does:
 * the header padded with spaces to a multiple of 8 bytes, so the data buffer
 * starts 8-byte aligned, and the tensors contiguous in the order given. The
 * writer refuses what the reader would refuse, so every file it writes reads
 * back. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "io/sync_dir.h"
#include "io/safetensors_impl.h"

/* ---- checking the arguments ---------------------------------------------- */

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first string of list[0..n) that appears twice, or NULL; sorts a copy. */
static pmhmc_status find_duplicate(const char *const *list, size_t n, const char **dup)
{
    *dup = NULL;
    if (n < 2)
        return PMHMC_OK;
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return PMHMC_ERR_NOMEM;
    memcpy(sorted, list, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_string);
    for (size_t i = 1; i < n && !*dup; ++i)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            *dup = sorted[i];
    free(sorted);
    return PMHMC_OK;
}

static pmhmc_status check_text(const char *path, const char *what, const char *s, pmhmc_error *err)
{
    size_t bad = 0;
    char q[PMHMC_ST_QUOTE_CAP];
    if (!pmhmc_st_utf8_valid(s, strlen(s), &bad))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: %s %s is not valid UTF-8 (at its byte %zu)", path, what,
                          pmhmc_st_quote(s, q, sizeof q), bad);
    return PMHMC_OK;
}

static pmhmc_status check_tensor(const char *path, const pmhmc_st_tensor *t, size_t *nbytes, pmhmc_error *err)
{
    char q[PMHMC_ST_QUOTE_CAP], s[PMHMC_ST_SHAPE_CAP];
    if (!t->name || !t->name[0])
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: a tensor has no name", path);
    pmhmc_st_quote(t->name, q, sizeof q);
    pmhmc_status st = check_text(path, "tensor name", t->name, err);
    if (st != PMHMC_OK)
        return st;
    if (strcmp(t->name, PMHMC_ST_METADATA) == 0)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: a tensor cannot be named '__metadata__'", path);
    size_t size = pmhmc_st_dtype_size(t->dtype);
    if (size == 0)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: tensor %s: dtype %d is neither F64 nor F32", path, q, (int)t->dtype);
    if (t->ndim && !t->shape)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: tensor %s: %zu dimensions but no shape", path, q, t->ndim);
    for (size_t d = 0; d < t->ndim; ++d)
        if ((double)t->shape[d] > PMHMC_ST_MAX_INT)
            return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: tensor %s: dimension %zu is too large", path, q, d);
    size_t numel = 0;
    if (!pmhmc_st_sizes(t->ndim, t->shape, size, &numel, nbytes))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: tensor %s: the size of shape %s overflows", path, q,
                          pmhmc_st_format_shape(t->ndim, t->shape, s, sizeof s));
    if (*nbytes && !t->data)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: tensor %s: shape %s but no data", path, q,
                          pmhmc_st_format_shape(t->ndim, t->shape, s, sizeof s));
    return PMHMC_OK;
}

static pmhmc_status check_args(const char *path, const pmhmc_st_tensor *tensors, size_t n_tensors,
                               const pmhmc_st_meta *meta, size_t n_meta, size_t *buffer_len, pmhmc_error *err)
{
    *buffer_len = 0;
    pmhmc_status st = PMHMC_OK;
    for (size_t i = 0; st == PMHMC_OK && i < n_tensors; ++i) {
        size_t nbytes = 0;
        st = check_tensor(path, &tensors[i], &nbytes, err);
        if (st == PMHMC_OK && nbytes > SIZE_MAX - *buffer_len)
            st = pmhmc_fail(err, PMHMC_ERR_ARG, "%s: the tensors' total size overflows", path);
        *buffer_len += nbytes;
    }
    for (size_t i = 0; st == PMHMC_OK && i < n_meta; ++i) {
        if (!meta[i].key || !meta[i].value)
            return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: metadata entry %zu has no key or no value", path, i);
        st = check_text(path, "metadata key", meta[i].key, err);
        if (st == PMHMC_OK)
            st = check_text(path, "metadata value", meta[i].value, err);
    }
    if (st != PMHMC_OK)
        return st;

    size_t n_strings = n_tensors > n_meta ? n_tensors : n_meta;
    const char **strings = malloc((n_strings ? n_strings : 1) * sizeof *strings);
    if (!strings)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory", path);
    const char *dup = NULL;
    char q[PMHMC_ST_QUOTE_CAP];
    for (size_t i = 0; i < n_tensors; ++i)
        strings[i] = tensors[i].name;
    if (find_duplicate(strings, n_tensors, &dup) != PMHMC_OK)
        st = pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory", path);
    else if (dup)
        st = pmhmc_fail(err, PMHMC_ERR_ARG, "%s: tensor %s appears twice", path, pmhmc_st_quote(dup, q, sizeof q));
    for (size_t i = 0; st == PMHMC_OK && i < n_meta; ++i)
        strings[i] = meta[i].key;
    if (st == PMHMC_OK && find_duplicate(strings, n_meta, &dup) != PMHMC_OK)
        st = pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory", path);
    else if (st == PMHMC_OK && dup)
        st = pmhmc_fail(err, PMHMC_ERR_ARG, "%s: metadata key %s appears twice", path, pmhmc_st_quote(dup, q, sizeof q));
    free(strings);
    return st;
}

/* ---- the header ------------------------------------------------------------- */

/* Integers go in as raw JSON text: cJSON would print them from a double,
 * and large ones in exponent form ("1e+15"), which the reference reader
 * refuses. */
static cJSON *integer_array(const size_t *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; ++i) {
        char text[32];
        snprintf(text, sizeof text, "%zu", v[i]);
        cJSON *item = cJSON_CreateRaw(text);
        if (!item || !cJSON_AddItemToArray(a, item)) {
            cJSON_Delete(item);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static bool add(cJSON *object, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(object, key, item))
        return true;
    cJSON_Delete(item);
    return false;
}

/* The header's JSON text, unpadded; NULL when out of memory. */
static char *header_json(const pmhmc_st_tensor *tensors, size_t n_tensors, const pmhmc_st_meta *meta, size_t n_meta)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && n_meta) {
        cJSON *md = cJSON_CreateObject();
        for (size_t i = 0; md && i < n_meta; ++i)
            if (!add(md, meta[i].key, cJSON_CreateString(meta[i].value))) {
                cJSON_Delete(md);
                md = NULL;
            }
        ok = add(root, PMHMC_ST_METADATA, md);
    }
    size_t offset = 0;
    for (size_t i = 0; ok && i < n_tensors; ++i) {
        const pmhmc_st_tensor *t = &tensors[i];
        size_t numel = 0, nbytes = 0;
        pmhmc_st_sizes(t->ndim, t->shape, pmhmc_st_dtype_size(t->dtype), &numel, &nbytes);
        size_t range[2] = {offset, offset + nbytes};
        offset += nbytes;
        cJSON *entry = cJSON_CreateObject();
        ok = entry && add(entry, "dtype", cJSON_CreateString(pmhmc_st_dtype_name(t->dtype))) &&
             add(entry, "shape", integer_array(t->shape, t->ndim)) &&
             add(entry, "data_offsets", integer_array(range, 2));
        if (!ok)
            cJSON_Delete(entry);
        else
            ok = add(root, t->name, entry);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* ---- writing ------------------------------------------------------------------ */

/* Elements in the format's little-endian order whatever the host's. */
static bool write_elements(FILE *f, const pmhmc_st_tensor *t, size_t nbytes)
{
    if (nbytes == 0)
        return true;
    if (pmhmc_st_host_is_little_endian())
        return fwrite(t->data, 1, nbytes, f) == nbytes;
    size_t size = pmhmc_st_dtype_size(t->dtype);
    unsigned char chunk[4096];
    const unsigned char *p = t->data;
    for (size_t done = 0; done < nbytes;) {
        size_t n = nbytes - done < sizeof chunk ? nbytes - done : sizeof chunk;
        memcpy(chunk, p + done, n);
        pmhmc_st_swap_bytes(chunk, size, n / size);
        if (fwrite(chunk, 1, n, f) != n)
            return false;
        done += n;
    }
    return true;
}

static bool write_file(FILE *f, const char *header, size_t header_len, size_t padded_len,
                       const pmhmc_st_tensor *tensors, size_t n_tensors)
{
    unsigned char len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = (unsigned char)((uint64_t)padded_len >> (8 * i));
    if (fwrite(len, 1, 8, f) != 8 || fwrite(header, 1, header_len, f) != header_len)
        return false;
    for (size_t i = header_len; i < padded_len; ++i)
        if (fputc(' ', f) == EOF)
            return false;
    for (size_t i = 0; i < n_tensors; ++i) {
        size_t numel = 0, nbytes = 0;
        pmhmc_st_sizes(tensors[i].ndim, tensors[i].shape, pmhmc_st_dtype_size(tensors[i].dtype), &numel, &nbytes);
        if (!write_elements(f, &tensors[i], nbytes))
            return false;
    }
    return true;
}

pmhmc_status pmhmc_safetensors_write(const char *path, const pmhmc_st_tensor *tensors, size_t n_tensors,
                                     const pmhmc_st_meta *meta, size_t n_meta, pmhmc_error *err)
{
    if (!path || (n_tensors && !tensors) || (n_meta && !meta))
        return pmhmc_fail(err, PMHMC_ERR_ARG, "safetensors write: path, tensors and metadata are required");
    size_t buffer_len = 0;
    pmhmc_status st = check_args(path, tensors, n_tensors, meta, n_meta, &buffer_len, err);
    if (st != PMHMC_OK)
        return st;
    char *header = header_json(tensors, n_tensors, meta, n_meta);
    if (!header)
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory building the header", path);
    size_t header_len = strlen(header), padded_len = (header_len + 7) / 8 * 8;
    if (padded_len > PMHMC_ST_MAX_HEADER) {
        cJSON_free(header);
        return pmhmc_fail(err, PMHMC_ERR_ARG, "%s: the header would be %zu bytes, past the format's limit of %u", path,
                          padded_len, PMHMC_ST_MAX_HEADER);
    }

    size_t tmp_len = strlen(path) + 32;
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        cJSON_free(header);
        return pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wbx");
    if (!f) {
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot create the temporary file %s: %s", path, tmp, strerror(errno));
    } else {
        errno = 0;
        bool ok = write_file(f, header, header_len, padded_len, tensors, n_tensors) && fflush(f) == 0 &&
                  fsync(fileno(f)) == 0;
        int e = errno;
        if (fclose(f) != 0 && ok) {
            ok = false;
            e = errno;
        }
        if (!ok)
            st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot write %s: %s", path, tmp, e ? strerror(e) : "write error");
        else if (rename(tmp, path) != 0)
            st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        else if (pmhmc_sync_parent_dir(path) != 0)
            st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot sync its directory: %s", path, strerror(errno));
        if (st != PMHMC_OK)
            remove(tmp);
    }
    free(tmp);
    cJSON_free(header);
    return st;
}
