/* Checkpoint files: encoding, atomic writing, and checked reading. */
#define _POSIX_C_SOURCE 200809L /* fsync, strndup */

#include "io/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "io/sync_dir.h"

static const char MAGIC[8] = {'P', 'M', 'H', 'M', 'C', 'C', 'K', 'P'};
static const uint32_t BYTE_ORDER_MARK = 0x01020304u;
enum { FIXED_HEADER = 24, CHECKSUM_BYTES = 8 };

uint64_t pmhmc_fnv1a64(uint64_t hash, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; ++i) {
        hash ^= p[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

pmhmc_status pmhmc_file_hash(const char *path, uint64_t *hash, uint64_t *bytes, pmhmc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pmhmc_fail(err, PMHMC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    uint64_t h = PMHMC_FNV1A64_INIT, n = 0;
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        h = pmhmc_fnv1a64(h, buf, got);
        n += got;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed)
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: read error", path);
    *hash = h;
    *bytes = n;
    return PMHMC_OK;
}

/* ---- encoding ---------------------------------------------------------------- */

typedef struct writer {
    unsigned char *buf;
    size_t len;
} writer;

static void put(writer *w, const void *data, size_t n)
{
    if (n)
        memcpy(w->buf + w->len, data, n);
    w->len += n;
}

static void put_u32(writer *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; ++i)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 4);
}

static void put_u64(writer *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; ++i)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 8);
}

static size_t encoded_size(const pmhmc_checkpoint *ck)
{
    size_t n = FIXED_HEADER + 4 + strlen(ck->fingerprint) + 4;
    for (size_t k = 0; k < ck->n_chains; ++k)
        n += 4 + strlen(ck->chains[k].draws_path) + 8 + 8 + 4 + 8 * PMHMC_CHECKPOINT_COUNTERS + 8 +
             ck->chains[k].state_bytes;
    return n + CHECKSUM_BYTES;
}

static void encode(const pmhmc_checkpoint *ck, writer *w, size_t total)
{
    put(w, MAGIC, sizeof MAGIC);
    put_u32(w, PMHMC_CHECKPOINT_VERSION);
    put(w, &BYTE_ORDER_MARK, 4);
    put_u64(w, total);
    put_u32(w, (uint32_t)strlen(ck->fingerprint));
    put(w, ck->fingerprint, strlen(ck->fingerprint));
    put_u32(w, (uint32_t)ck->n_chains);
    for (size_t k = 0; k < ck->n_chains; ++k) {
        const pmhmc_checkpoint_chain *c = &ck->chains[k];
        put_u32(w, (uint32_t)strlen(c->draws_path));
        put(w, c->draws_path, strlen(c->draws_path));
        put_u64(w, c->draws_bytes);
        put_u64(w, c->draws_hash);
        put_u32(w, PMHMC_CHECKPOINT_COUNTERS);
        for (int i = 0; i < PMHMC_CHECKPOINT_COUNTERS; ++i)
            put_u64(w, c->counters[i]);
        put_u64(w, c->state_bytes);
        put(w, c->state, c->state_bytes);
    }
    put_u64(w, pmhmc_fnv1a64(PMHMC_FNV1A64_INIT, w->buf, w->len));
}

/* ---- atomic writing -------------------------------------------------------- */

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t got = write(fd, p, n);
        if (got < 0 && errno == EINTR) /* a signal asking us to stop lands here */
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

pmhmc_status pmhmc_checkpoint_write(const char *path, const pmhmc_checkpoint *ck, pmhmc_error *err)
{
    size_t total = encoded_size(ck);
    writer w = {malloc(total), 0};
    size_t tmp_len = strlen(path) + 32;
    char *tmp = malloc(tmp_len);
    if (!w.buf || !tmp) {
        free(w.buf);
        free(tmp);
        return PMHMC_ERR_NOMEM;
    }
    encode(ck, &w, total);
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    pmhmc_status st = PMHMC_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        st = pmhmc_fail(err, PMHMC_ERR_IO, "checkpoint %s: cannot create '%s': %s", path, tmp, strerror(errno));
    } else {
        int failed = write_all(fd, w.buf, w.len) != 0 || fsync(fd) != 0;
        int saved = errno;
        failed |= close(fd) != 0;
        if (failed)
            st = pmhmc_fail(err, PMHMC_ERR_IO, "checkpoint %s: cannot write '%s': %s", path, tmp, strerror(saved));
        else if (rename(tmp, path) != 0)
            st = pmhmc_fail(err, PMHMC_ERR_IO, "checkpoint %s: cannot rename '%s' over it: %s", path, tmp,
                            strerror(errno));
        else if (pmhmc_sync_parent_dir(path) != 0)
            st = pmhmc_fail(err, PMHMC_ERR_IO, "checkpoint %s: cannot sync its directory: %s", path,
                            strerror(errno));
        if (st != PMHMC_OK)
            unlink(tmp);
    }
    free(tmp);
    free(w.buf);
    return st;
}

/* ---- checked reading ------------------------------------------------------- */

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static int get(reader *r, void *out, size_t n)
{
    if (r->left < n)
        return -1;
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return 0;
}

static int get_u32(reader *r, uint32_t *v)
{
    unsigned char b[4];
    if (get(r, b, 4) != 0)
        return -1;
    *v = 0;
    for (int i = 0; i < 4; ++i)
        *v |= (uint32_t)b[i] << (8 * i);
    return 0;
}

static int get_u64(reader *r, uint64_t *v)
{
    unsigned char b[8];
    if (get(r, b, 8) != 0)
        return -1;
    *v = 0;
    for (int i = 0; i < 8; ++i)
        *v |= (uint64_t)b[i] << (8 * i);
    return 0;
}

static char *get_string(reader *r)
{
    uint32_t n;
    if (get_u32(r, &n) != 0 || n > r->left)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    get(r, s, n);
    s[n] = '\0';
    return s;
}

static unsigned char *read_whole(const char *path, size_t *len, pmhmc_error *err, pmhmc_status *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = pmhmc_fail(err, PMHMC_ERR_IO, "checkpoint %s: cannot open it: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        *st = pmhmc_fail(err, PMHMC_ERR_IO, "checkpoint %s: not a regular file", path);
        return NULL;
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        *st = PMHMC_ERR_NOMEM;
        return NULL;
    }
    size_t got = fread(buf, 1, n, f);
    int failed = ferror(f) || got != n;
    fclose(f);
    if (failed) {
        free(buf);
        *st = pmhmc_fail(err, PMHMC_ERR_IO, "checkpoint %s: read error", path);
        return NULL;
    }
    *len = n;
    return buf;
}

/* The frame: magic, version, byte order, length, checksum; in that order so
 * the message names the most basic problem. */
static pmhmc_status check_frame(const char *path, const unsigned char *b, size_t n, pmhmc_error *err)
{
    if (n < sizeof MAGIC || memcmp(b, MAGIC, sizeof MAGIC) != 0)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          n < sizeof MAGIC && memcmp(b, MAGIC, n) == 0
                              ? "checkpoint %s: truncated (%zu bytes)"
                              : "checkpoint %s: not a pmhmc checkpoint file (%zu bytes, no PMHMCCKP magic)",
                          path, n);
    if (n < FIXED_HEADER + CHECKSUM_BYTES)
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "checkpoint %s: truncated (%zu bytes)", path, n);
    reader r = {b + sizeof MAGIC, n - sizeof MAGIC};
    uint32_t version = 0, mark = 0;
    uint64_t length = 0;
    get_u32(&r, &version);
    get(&r, &mark, 4);
    get_u64(&r, &length);
    if (version != PMHMC_CHECKPOINT_VERSION)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "checkpoint %s: format version %u; this pmhmc reads version %u only", path,
                          (unsigned)version, PMHMC_CHECKPOINT_VERSION);
    if (mark != BYTE_ORDER_MARK)
        return pmhmc_fail(err, PMHMC_ERR_PARSE,
                          "checkpoint %s: written on a machine of another byte order; resume it there", path);
    if (length != n)
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "checkpoint %s: %s (%zu bytes; its header says %llu)", path,
                          n < length ? "truncated" : "has bytes after its end", n, (unsigned long long)length);
    reader tail = {b + n - CHECKSUM_BYTES, CHECKSUM_BYTES};
    uint64_t saved;
    get_u64(&tail, &saved);
    if (saved != pmhmc_fnv1a64(PMHMC_FNV1A64_INIT, b, n - CHECKSUM_BYTES))
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "checkpoint %s: corrupted (its checksum does not match its contents)",
                          path);
    return PMHMC_OK;
}

pmhmc_status pmhmc_checkpoint_read(const char *path, pmhmc_checkpoint *ck, pmhmc_error *err)
{
    memset(ck, 0, sizeof *ck);
    size_t n = 0;
    pmhmc_status st = PMHMC_OK;
    unsigned char *b = read_whole(path, &n, err, &st);
    if (!b)
        return st;
    st = check_frame(path, b, n, err);
    if (st != PMHMC_OK) {
        free(b);
        return st;
    }
    /* A checksummed file is what a writer wrote; these checks catch a
     * writer's bug, never let a bad length run past the buffer. */
    reader r = {b + FIXED_HEADER, n - FIXED_HEADER - CHECKSUM_BYTES};
    uint32_t n_chains = 0, n_counters = 0;
    int bad = !(ck->fingerprint = get_string(&r)) || get_u32(&r, &n_chains) != 0 || n_chains > r.left;
    if (!bad && !(ck->chains = calloc(n_chains ? n_chains : 1, sizeof *ck->chains)))
        bad = 1;
    for (uint32_t k = 0; !bad && k < n_chains; ++k) {
        pmhmc_checkpoint_chain *c = &ck->chains[k];
        ck->n_chains = k + 1;
        uint64_t state_bytes = 0;
        bad = !(c->draws_path = get_string(&r)) || get_u64(&r, &c->draws_bytes) != 0 ||
              get_u64(&r, &c->draws_hash) != 0 || get_u32(&r, &n_counters) != 0 ||
              n_counters != PMHMC_CHECKPOINT_COUNTERS;
        for (int i = 0; !bad && i < PMHMC_CHECKPOINT_COUNTERS; ++i)
            bad = get_u64(&r, &c->counters[i]) != 0;
        bad = bad || get_u64(&r, &state_bytes) != 0 || state_bytes > r.left;
        if (!bad) {
            c->state_bytes = (size_t)state_bytes;
            bad = !(c->state = malloc(c->state_bytes ? c->state_bytes : 1)) || get(&r, c->state, c->state_bytes) != 0;
        }
    }
    free(b);
    if (bad || r.left != 0) {
        pmhmc_checkpoint_free(ck);
        return pmhmc_fail(err, PMHMC_ERR_PARSE, "checkpoint %s: malformed contents despite a valid checksum", path);
    }
    return PMHMC_OK;
}

void pmhmc_checkpoint_free(pmhmc_checkpoint *ck)
{
    if (!ck)
        return;
    for (size_t k = 0; ck->chains && k < ck->n_chains; ++k) {
        free(ck->chains[k].draws_path);
        free(ck->chains[k].state);
    }
    free(ck->chains);
    free(ck->fingerprint);
    memset(ck, 0, sizeof *ck);
}

/* ---- fingerprints ---------------------------------------------------------- */

/* The value of `key` in "key = value\n" lines, as a pointer to it and its
 * length; NULL when absent. */
static const char *find_line(const char *text, const char *key, size_t key_len, size_t *value_len)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len >= key_len + 3 && strncmp(line, key, key_len) == 0 && strncmp(line + key_len, " = ", 3) == 0) {
            *value_len = len - key_len - 3;
            return line + key_len + 3;
        }
        line += len + (end != NULL);
    }
    return NULL;
}

/* Whether every key of `a` is in `b` with the same value; else the message. */
static int covers(const char *a, const char *b, int a_is_saved, char *why, size_t why_len)
{
    for (const char *line = a; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *eq = strstr(line, " = ");
        if (eq && eq < line + len) {
            size_t key_len = (size_t)(eq - line), a_len = len - key_len - 3, b_len = 0;
            const char *bv = find_line(b, line, key_len, &b_len);
            if (!bv || b_len != a_len || strncmp(bv, eq + 3, a_len) != 0) {
                const char *saved = a_is_saved ? eq + 3 : bv, *current = a_is_saved ? bv : eq + 3;
                int saved_len = (int)(a_is_saved ? a_len : b_len), current_len = (int)(a_is_saved ? b_len : a_len);
                snprintf(why, why_len, "%.*s is %s%.*s%s in this run but %s%.*s%s in the checkpoint", (int)key_len,
                         line, current ? "'" : "", current ? current_len : 5, current ? current : "unset",
                         current ? "'" : "", saved ? "'" : "", saved ? saved_len : 5, saved ? saved : "unset",
                         saved ? "'" : "");
                return 0;
            }
        }
        line += len + (end != NULL);
    }
    return 1;
}

int pmhmc_checkpoint_compare(const char *saved, const char *current, char *why, size_t why_len)
{
    if (covers(current, saved, 0, why, why_len) && covers(saved, current, 1, why, why_len))
        return 0;
    return -1;
}
