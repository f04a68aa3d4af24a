/* Checkpoint files of `pmhmc sample`: what a run needs to continue where it
 * stopped, written so that a reader either gets a whole, checked file or a
 * clear refusal.
 *
 * Layout, version 2 (integers little-endian):
 *
 *   "PMHMCCKP"        8 bytes, the magic
 *   u32               format version (PMHMC_CHECKPOINT_VERSION)
 *   u32               0x01020304 in the writer's byte order: the state blobs
 *                     hold host doubles and size_t, readable only by a
 *                     machine of the same byte order
 *   u64               the file's length, checksum included (tells a
 *                     truncated file from a corrupted one)
 *   u32 + bytes       the fingerprint: "key = value\n" lines that must be the
 *                     same for a run to resume from the file
 *   u32               number of chains, then per chain:
 *     u32 + bytes       path of its draws file so far
 *     u64               bytes of that file the state matches (the rest is
 *                       dropped on resume)
 *     u64               FNV-1a 64 of those bytes (a file changed since is
 *                       refused on resume)
 *     u32 + u64s        counters the CLI keeps beside the state
 *     u64 + bytes       the sampler state (pmhmc_sampler_save_state)
 *   u64               FNV-1a 64 of every byte before it
 *
 * Internal to the CLI, like config.h. */
#ifndef PMHMC_IO_CHECKPOINT_H
#define PMHMC_IO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "pmhmc/status.h"

#define PMHMC_CHECKPOINT_VERSION 2u
#define PMHMC_CHECKPOINT_COUNTERS 4

typedef struct pmhmc_checkpoint_chain {
    char *draws_path;
    uint64_t draws_bytes;
    uint64_t draws_hash; /* FNV-1a 64 of the first draws_bytes bytes */
    uint64_t counters[PMHMC_CHECKPOINT_COUNTERS];
    unsigned char *state;
    size_t state_bytes;
} pmhmc_checkpoint_chain;

typedef struct pmhmc_checkpoint {
    char *fingerprint;
    size_t n_chains;
    pmhmc_checkpoint_chain *chains;
} pmhmc_checkpoint;

/* Writes atomically: a temporary file beside path, written, flushed and
 * fsynced, renamed over path, then the directory fsynced; a crash leaves the
 * previous checkpoint or the new one, never a mixture. */
pmhmc_status pmhmc_checkpoint_write(const char *path, const pmhmc_checkpoint *ck, pmhmc_error *err);

/* Reads and checks path into ck (zeroed first; free it either way). A file
 * that is not a checkpoint, of another format version or byte order,
 * truncated or corrupted is refused with a message naming path and the
 * problem (PMHMC_ERR_PARSE; PMHMC_ERR_IO when it cannot be read). */
pmhmc_status pmhmc_checkpoint_read(const char *path, pmhmc_checkpoint *ck, pmhmc_error *err);
void pmhmc_checkpoint_free(pmhmc_checkpoint *ck);

/* 0 when the fingerprints agree; otherwise -1 and `why` names the first
 * key that differs with both values. */
int pmhmc_checkpoint_compare(const char *saved, const char *current, char *why, size_t why_len);

/* FNV-1a 64: start from PMHMC_FNV1A64_INIT, feed data in any pieces. */
#define PMHMC_FNV1A64_INIT 0xcbf29ce484222325ull
uint64_t pmhmc_fnv1a64(uint64_t hash, const void *data, size_t n);

/* FNV-1a 64 and length of a whole file. */
pmhmc_status pmhmc_file_hash(const char *path, uint64_t *hash, uint64_t *bytes, pmhmc_error *err);

#endif
