/* The safetensors format (huggingface): how the HNN surrogates' weights are
 * saved, so that the files open in any safetensors reader (Python, Rust).
 *
 * Layout:
 *
 *   u64 little-endian   N, the header's length in bytes
 *   N bytes             UTF-8 JSON object: each tensor's name maps to
 *                         {"dtype": "F64", "shape": [2, 3], "data_offsets": [begin, end]}
 *                       (offsets into the data buffer, end exclusive), plus an
 *                       optional "__metadata__" object of string values
 *   the data buffer     every tensor's elements, little-endian, row-major;
 *                       every byte belongs to exactly one tensor
 *
 * This module reads and writes F64 and F32 tensors; a file holding any other
 * dtype is refused (PMHMC_ERR_UNSUPPORTED) rather than half read.
 *
 * Internal to the library and the CLI, like checkpoint.h. */
#ifndef PMHMC_IO_SAFETENSORS_H
#define PMHMC_IO_SAFETENSORS_H

#include <stddef.h>

#include "pmhmc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pmhmc_st_dtype { PMHMC_ST_F64 = 0, PMHMC_ST_F32 = 1 } pmhmc_st_dtype;

/* "F64" / "F32" as the format spells them; NULL for other values. */
const char *pmhmc_st_dtype_name(pmhmc_st_dtype dtype);
/* Bytes per element; 0 for other values. */
size_t pmhmc_st_dtype_size(pmhmc_st_dtype dtype);

/* One tensor. The writer reads name, dtype, ndim, shape and data (numel is
 * ignored: it follows from shape). The reader fills all of them; its data is
 * aligned for the dtype and in host byte order. shape may be NULL when ndim
 * is 0 (a scalar: one element); data may be NULL when numel is 0. */
typedef struct pmhmc_st_tensor {
    const char *name;
    pmhmc_st_dtype dtype;
    size_t ndim;
    const size_t *shape;
    size_t numel;
    const void *data;
} pmhmc_st_tensor;

typedef struct pmhmc_st_meta {
    const char *key;
    const char *value;
} pmhmc_st_meta;

/* Writes the tensors, laid out contiguously in the order given, and the
 * metadata (no "__metadata__" entry when n_meta is 0). Names and metadata
 * must be valid UTF-8; names non-empty, unique and not "__metadata__";
 * metadata keys unique. Atomic: a temporary file beside path is written,
 * flushed, fsynced and renamed over path, then the directory is fsynced, so
 * a reader sees the old file or the new one, never a part. */
pmhmc_status pmhmc_safetensors_write(const char *path, const pmhmc_st_tensor *tensors, size_t n_tensors,
                                     const pmhmc_st_meta *meta, size_t n_meta, pmhmc_error *err);

typedef struct pmhmc_safetensors pmhmc_safetensors;

/* Reads and checks a whole file into *out (NULL on failure). Anything that
 * is not a well-formed safetensors file of F64/F32 tensors is refused with a
 * message naming path, the tensor or field, and the problem:
 * PMHMC_ERR_IO when it cannot be read, PMHMC_ERR_PARSE when malformed,
 * PMHMC_ERR_UNSUPPORTED for a dtype other than F64 and F32. */
pmhmc_status pmhmc_safetensors_read(const char *path, pmhmc_safetensors **out, pmhmc_error *err);

/* The same checks on bytes in memory (copied); label stands for the path in
 * messages. */
pmhmc_status pmhmc_safetensors_read_memory(const char *label, const void *bytes, size_t len,
                                           pmhmc_safetensors **out, pmhmc_error *err);

void pmhmc_safetensors_free(pmhmc_safetensors *st);

/* The path (or label) it was read from. */
const char *pmhmc_safetensors_path(const pmhmc_safetensors *st);

/* Tensors in the order of their data in the file; NULL past the end. */
size_t pmhmc_safetensors_count(const pmhmc_safetensors *st);
const pmhmc_st_tensor *pmhmc_safetensors_tensor_at(const pmhmc_safetensors *st, size_t i);
/* NULL when there is no tensor of that name. */
const pmhmc_st_tensor *pmhmc_safetensors_find(const pmhmc_safetensors *st, const char *name);

/* Copies tensor `name` into dst as doubles (F32 widened exactly) after
 * checking that its shape is exactly shape[0..ndim); dst holds the product
 * of shape. A missing tensor or another shape is PMHMC_ERR_DATA with a
 * message naming the file, the tensor and both shapes. */
pmhmc_status pmhmc_safetensors_get_f64(const pmhmc_safetensors *st, const char *name, size_t ndim,
                                       const size_t *shape, double *dst, pmhmc_error *err);

/* Metadata in file order; the value of key, or NULL when absent. */
size_t pmhmc_safetensors_meta_count(const pmhmc_safetensors *st);
const pmhmc_st_meta *pmhmc_safetensors_meta_at(const pmhmc_safetensors *st, size_t i);
const char *pmhmc_safetensors_meta(const pmhmc_safetensors *st, const char *key);

#ifdef __cplusplus
}
#endif
#endif
