/* A chain's state as a self-describing byte string, for checkpoints.
 *
 * Layout (integers little-endian, part contents in the host's own
 * representation, so a blob is only read back on the same kind of machine;
 * the checkpoint file records the byte order to refuse others):
 *
 *   "PMHSTATE"  8 bytes
 *   u32         layout version (STATE_VERSION: 2 since the parts are named
 *               by what they hold, each algorithm's after the chain's)
 *   u32         number of parts
 *   per part:   u32 name length, the name (no terminator), u64 byte count,
 *               the bytes
 *
 * Host parts are named by pmhmc_sampler_state_parts_of; workspace vectors
 * are "workspace vector <index>", each pmhmc_workspace_length doubles, so
 * they round-trip exactly whatever the workspace's storage precision. The
 * names and sizes are written so that a blob from another model or config is
 * refused with the part that differs rather than misread. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pmhmc/sampler.h"
#include "sampler/sampler_impl.h"

static const char STATE_MAGIC[8] = {'P', 'M', 'H', 'S', 'T', 'A', 'T', 'E'};
enum { STATE_VERSION = 2, HEADER_BYTES = 16, NAME_MAX_BYTES = 64 };

typedef struct part_view {
    char name[NAME_MAX_BYTES];
    size_t name_len;
    size_t bytes;
    void *host; /* NULL for a workspace vector */
    int vector;
} part_view;

/* The parts in blob order: host parts, then workspace vectors. */
static size_t list_parts(pmhmc_sampler *s, part_view *out)
{
    pmhmc_sampler_state_parts parts;
    pmhmc_sampler_state_parts_of(s, &parts);
    size_t n = 0, vec_bytes = pmhmc_workspace_length(s->ws) * sizeof(double);
    for (size_t i = 0; i < parts.n_host; ++i, ++n) {
        snprintf(out[n].name, sizeof out[n].name, "%s", parts.host[i].name);
        out[n].name_len = strlen(out[n].name);
        out[n].bytes = parts.host[i].bytes;
        out[n].host = parts.host[i].data;
        out[n].vector = -1;
    }
    for (size_t i = 0; i < parts.n_vectors; ++i, ++n) {
        snprintf(out[n].name, sizeof out[n].name, "workspace vector %d", parts.vectors[i]);
        out[n].name_len = strlen(out[n].name);
        out[n].bytes = vec_bytes;
        out[n].host = NULL;
        out[n].vector = parts.vectors[i];
    }
    return n;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

size_t pmhmc_sampler_state_size(pmhmc_sampler *sampler)
{
    if (!sampler)
        return 0;
    part_view parts[2 * PMHMC_STATE_MAX_PARTS];
    size_t n = list_parts(sampler, parts), size = HEADER_BYTES;
    for (size_t i = 0; i < n; ++i)
        size += 4 + parts[i].name_len + 8 + parts[i].bytes;
    return size;
}

pmhmc_status pmhmc_sampler_save_state(pmhmc_sampler *sampler, void *buf, size_t bytes, pmhmc_error *err)
{
    if (!sampler || !buf)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "sampler state: sampler and buffer are required");
    size_t need = pmhmc_sampler_state_size(sampler);
    if (bytes < need)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "sampler state: buffer of %zu bytes; %zu needed", bytes, need);
    part_view parts[2 * PMHMC_STATE_MAX_PARTS];
    size_t n = list_parts(sampler, parts);
    unsigned char *p = buf;
    memcpy(p, STATE_MAGIC, sizeof STATE_MAGIC);
    put_u32(p + 8, STATE_VERSION);
    put_u32(p + 12, (uint32_t)n);
    p += HEADER_BYTES;
    for (size_t i = 0; i < n; ++i) {
        put_u32(p, (uint32_t)parts[i].name_len);
        memcpy(p + 4, parts[i].name, parts[i].name_len);
        p += 4 + parts[i].name_len;
        put_u64(p, parts[i].bytes);
        p += 8;
        if (parts[i].host) {
            memcpy(p, parts[i].host, parts[i].bytes);
        } else {
            /* Downloaded through an aligned buffer: buf gives no alignment. */
            double *tmp = malloc(parts[i].bytes ? parts[i].bytes : 1);
            if (!tmp)
                return PMHMC_ERR_NOMEM;
            pmhmc_status st = pmhmc_ws_download(sampler->ws, parts[i].vector, tmp);
            if (st == PMHMC_OK)
                memcpy(p, tmp, parts[i].bytes);
            free(tmp);
            if (st != PMHMC_OK)
                return pmhmc_fail(err, st, "sampler state: cannot read %s from the backend", parts[i].name);
        }
        p += parts[i].bytes;
    }
    return PMHMC_OK;
}

/* Checks the whole blob against this sampler's parts before anything is
 * changed, so a refused blob leaves the sampler as it was. offsets[i]: where
 * part i's bytes start. */
static pmhmc_status check_blob(const unsigned char *b, size_t bytes, const part_view *parts, size_t n,
                               size_t *offsets, pmhmc_error *err)
{
    if (bytes < HEADER_BYTES || memcmp(b, STATE_MAGIC, sizeof STATE_MAGIC) != 0)
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "sampler state: not a pmhmc sampler state");
    uint32_t version = get_u32(b + 8), n_saved = get_u32(b + 12);
    if (version != STATE_VERSION)
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "sampler state: layout version %u; this pmhmc reads version %d",
                          (unsigned)version, STATE_VERSION);
    if (n_saved != n)
        return pmhmc_fail(err, PMHMC_ERR_CONFIG, "sampler state: %u parts saved; this sampler has %zu",
                          (unsigned)n_saved, n);
    size_t at = HEADER_BYTES;
    for (size_t i = 0; i < n; ++i) {
        if (bytes - at < 4)
            return pmhmc_fail(err, PMHMC_ERR_PARSE, "sampler state: truncated before part %zu ('%s')", i + 1,
                              parts[i].name);
        size_t name_len = get_u32(b + at);
        at += 4;
        if (name_len > bytes - at || bytes - at - name_len < 8)
            return pmhmc_fail(err, PMHMC_ERR_PARSE, "sampler state: truncated in part %zu ('%s')", i + 1,
                              parts[i].name);
        if (name_len != parts[i].name_len || memcmp(b + at, parts[i].name, name_len) != 0)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG, "sampler state: part %zu is '%.*s'; this sampler expects '%s'",
                              i + 1, (int)(name_len < NAME_MAX_BYTES ? name_len : NAME_MAX_BYTES),
                              (const char *)(b + at), parts[i].name);
        at += name_len;
        uint64_t size = get_u64(b + at);
        at += 8;
        if (size != parts[i].bytes)
            return pmhmc_fail(err, PMHMC_ERR_CONFIG,
                              "sampler state: part '%s' has %llu bytes; this sampler's has %zu (another model, data "
                              "or config)",
                              parts[i].name, (unsigned long long)size, parts[i].bytes);
        if (size > bytes - at)
            return pmhmc_fail(err, PMHMC_ERR_PARSE, "sampler state: truncated in part '%s'", parts[i].name);
        offsets[i] = at;
        at += (size_t)size;
    }
    if (at != bytes)
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "sampler state: %zu bytes after the last part", bytes - at);
    return PMHMC_OK;
}

pmhmc_status pmhmc_sampler_load_state(pmhmc_sampler *sampler, const void *buf, size_t bytes, pmhmc_error *err)
{
    if (!sampler || !buf)
        return pmhmc_fail(err, PMHMC_ERR_ARG, "sampler state: sampler and buffer are required");
    part_view parts[2 * PMHMC_STATE_MAX_PARTS];
    size_t offsets[2 * PMHMC_STATE_MAX_PARTS];
    size_t n = list_parts(sampler, parts);
    const unsigned char *b = buf;
    pmhmc_status st = check_blob(b, bytes, parts, n, offsets, err);
    if (st != PMHMC_OK)
        return st;
    for (size_t i = 0; i < n; ++i) {
        if (parts[i].host) {
            memcpy(parts[i].host, b + offsets[i], parts[i].bytes);
            continue;
        }
        double *tmp = malloc(parts[i].bytes ? parts[i].bytes : 1);
        if (!tmp)
            return PMHMC_ERR_NOMEM;
        memcpy(tmp, b + offsets[i], parts[i].bytes);
        st = pmhmc_ws_upload(sampler->ws, parts[i].vector, tmp);
        free(tmp);
        if (st != PMHMC_OK)
            return pmhmc_fail(err, st, "sampler state: cannot write %s to the backend", parts[i].name);
    }
    return PMHMC_OK;
}
