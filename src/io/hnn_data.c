#include "io/hnn_data.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static const char MAGIC[8] = {'P', 'M', 'H', 'N', 'N', 'D', 'A', 'T'};
static const uint32_t BYTE_ORDER = 0x01020304u;
#define MAX_DIM 4096u
#define MAX_NAME 4096u

static int put_u32(FILE *f, uint32_t v) { return fwrite(&v, sizeof v, 1, f) == 1 ? 0 : -1; }

int pmhmc_hnn_data_write_header(FILE *f, size_t dim, const char *const *names)
{
    if (fwrite(MAGIC, sizeof MAGIC, 1, f) != 1 || put_u32(f, PMHMC_HNN_DATA_VERSION) || put_u32(f, BYTE_ORDER) ||
        put_u32(f, (uint32_t)dim))
        return -1;
    for (size_t i = 0; i < dim; ++i) {
        size_t len = strlen(names[i]);
        if (put_u32(f, (uint32_t)len) || fwrite(names[i], 1, len, f) != len)
            return -1;
    }
    return ferror(f) ? -1 : 0;
}

int pmhmc_hnn_data_write_record(FILE *f, size_t dim, const double *theta, const double *rho, const double *grad,
                                const double *inv_mass)
{
    if (fwrite(theta, sizeof *theta, dim, f) != dim || fwrite(rho, sizeof *rho, dim, f) != dim ||
        fwrite(grad, sizeof *grad, dim, f) != dim)
        return -1;
    for (size_t i = 0; i < dim; ++i) {
        double sharp = inv_mass[i] * rho[i];
        if (fwrite(&sharp, sizeof sharp, 1, f) != 1)
            return -1;
    }
    return 0;
}

void pmhmc_hnn_data_free(pmhmc_hnn_data *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->names && i < d->dim; ++i)
        free(d->names[i]);
    free(d->names);
    free(d->theta);
    free(d);
}

typedef struct reader {
    const unsigned char *p, *end;
} reader;

static int get(reader *r, void *dst, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return -1;
    memcpy(dst, r->p, n);
    r->p += n;
    return 0;
}

static unsigned char *slurp(const char *path, size_t *len, pmhmc_error *err, pmhmc_status *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot open the HNN training data", path);
        return NULL;
    }
    unsigned char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1)) != NULL &&
        fread(buf, 1, (size_t)size, f) == (size_t)size) {
        fclose(f);
        *len = (size_t)size;
        return buf;
    }
    free(buf);
    fclose(f);
    *st = size < 0 ? pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot read the HNN training data", path)
                   : pmhmc_fail(err, PMHMC_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, size);
    return NULL;
}

pmhmc_status pmhmc_hnn_data_read(const char *path, pmhmc_hnn_data **out, pmhmc_error *err)
{
    *out = NULL;
    size_t len = 0;
    pmhmc_status st = PMHMC_OK;
    unsigned char *buf = slurp(path, &len, err, &st);
    if (!buf)
        return st;
    reader r = {buf, buf + len};
    char magic[8];
    uint32_t version = 0, order = 0, dim = 0;
    pmhmc_hnn_data *d = NULL;
    if (get(&r, magic, sizeof magic) || memcmp(magic, MAGIC, sizeof magic) != 0) {
        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: not HNN training data (no PMHNNDAT header)", path);
    } else if (get(&r, &version, 4) || get(&r, &order, 4) || get(&r, &dim, 4)) {
        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: the header is truncated", path);
    } else if (version != PMHMC_HNN_DATA_VERSION) {
        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: format version %u, this pmhmc reads version %u", path, version,
                        PMHMC_HNN_DATA_VERSION);
    } else if (order != BYTE_ORDER) {
        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: written on a machine of the other byte order", path);
    } else if (dim == 0 || dim > MAX_DIM) {
        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: dimension %u, expected 1 to %u", path, dim, MAX_DIM);
    } else if (!(d = calloc(1, sizeof *d)) || !(d->names = calloc(dim, sizeof *d->names))) {
        st = PMHMC_ERR_NOMEM;
    } else {
        d->dim = dim;
        for (uint32_t i = 0; i < dim && st == PMHMC_OK; ++i) {
            uint32_t n;
            if (get(&r, &n, 4) || n == 0 || n > MAX_NAME || (size_t)(r.end - r.p) < n)
                st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: parameter name %u is truncated or malformed", path, i + 1);
            else if (!(d->names[i] = malloc((size_t)n + 1)))
                st = PMHMC_ERR_NOMEM;
            else {
                get(&r, d->names[i], n);
                d->names[i][n] = '\0';
            }
        }
    }
    const size_t record = 4 * (size_t)dim * sizeof(double);
    if (st == PMHMC_OK && (size_t)(r.end - r.p) % record != 0)
        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: the last record is truncated (%zu bytes after %zu whole records)",
                        path, (size_t)(r.end - r.p) % record, (size_t)(r.end - r.p) / record);
    if (st == PMHMC_OK) {
        d->n = (size_t)(r.end - r.p) / record;
        if (d->n == 0)
            st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: no records", path);
        else if (!(d->theta = malloc(4 * d->n * dim * sizeof(double))))
            st = PMHMC_ERR_NOMEM;
    }
    if (st == PMHMC_OK) {
        d->rho = d->theta + d->n * dim;
        d->grad = d->rho + d->n * dim;
        d->rho_sharp = d->grad + d->n * dim;
        double *dst[4] = {d->theta, d->rho, d->grad, d->rho_sharp};
        for (size_t k = 0; k < d->n && st == PMHMC_OK; ++k)
            for (int part = 0; part < 4 && st == PMHMC_OK; ++part) {
                get(&r, dst[part] + k * dim, dim * sizeof(double));
                for (size_t i = 0; i < dim; ++i)
                    if (!isfinite(dst[part][k * dim + i])) {
                        st = pmhmc_fail(err, PMHMC_ERR_PARSE, "%s: record %zu has a non-finite value", path, k + 1);
                        break;
                    }
            }
    }
    free(buf);
    if (st != PMHMC_OK) {
        pmhmc_hnn_data_free(d);
        return st;
    }
    *out = d;
    return PMHMC_OK;
}
