/* What the safetensors reader, writer and accessors share: the handle's
 * layout, the format's limits, and small helpers. Not for other modules. */
#ifndef PMHMC_IO_SAFETENSORS_IMPL_H
#define PMHMC_IO_SAFETENSORS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"

/* The reference implementation refuses longer headers; so do we, before
 * allocating anything a corrupted length asks for. */
#define PMHMC_ST_MAX_HEADER 100000000u
/* cJSON holds numbers as doubles: integers above 2^53 would not survive. */
#define PMHMC_ST_MAX_INT 9007199254740992.0
#define PMHMC_ST_METADATA "__metadata__"

struct pmhmc_safetensors {
    char *path;
    size_t n_tensors;
    pmhmc_st_tensor *tensors; /* in data order; names and shapes owned */
    size_t *by_name;          /* indices into tensors sorted by name */
    size_t n_meta;
    pmhmc_st_meta *meta;    /* keys and values owned */
    unsigned char *storage; /* holds every tensor's data */
};

/* Whether s[0..len) is UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF); when not, *bad_at is the offset of the first bad byte. */
bool pmhmc_st_utf8_valid(const char *s, size_t len, size_t *bad_at);

/* A name for a message: bounded, control characters and backslashes shown
 * as \xNN so a hostile header cannot garble a terminal. Returns dst. */
const char *pmhmc_st_quote(const char *s, char *dst, size_t cap);
enum { PMHMC_ST_QUOTE_CAP = 200 };

/* "[2, 3]", bounded ("..." when cut). Returns dst. */
const char *pmhmc_st_format_shape(size_t ndim, const size_t *shape, char *dst, size_t cap);
enum { PMHMC_ST_SHAPE_CAP = 96 };

/* Element count and byte size of a shape; false when either overflows
 * size_t (an empty shape is a scalar: one element). */
bool pmhmc_st_sizes(size_t ndim, const size_t *shape, size_t elem_size, size_t *numel, size_t *nbytes);

/* The format is little-endian; these turn it into host order and back. */
bool pmhmc_st_host_is_little_endian(void);
void pmhmc_st_swap_bytes(void *data, size_t elem_size, size_t n);

#endif
