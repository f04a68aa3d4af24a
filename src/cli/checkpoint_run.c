/* Checkpoint and resume for `pmhmc sample`: the run-time side (snapshots,
 * when to write, signals, resuming). The file format is io/checkpoint.c. */
#define _POSIX_C_SOURCE 200809L /* sigaction, fsync, ftello, getline */

#include "cli/checkpoint_run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "io/checkpoint.h"

/* ---- signals ------------------------------------------------------------------ */

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag is set from a signal handler");
static atomic_int stop_signal;
static volatile sig_atomic_t keep_files_on_kill;
static const int STOP_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
enum { N_STOP_SIGNALS = sizeof STOP_SIGNALS / sizeof STOP_SIGNALS[0] };
static struct sigaction previous[N_STOP_SIGNALS];

/* The first signal asks for a clean stop. A second one means "now": the
 * handler that was there before (out_file.c's, removing the temporary draws
 * files) runs, unless a checkpoint refers to those files. */
static void on_signal(int sig)
{
    int none = 0;
    if (atomic_compare_exchange_strong(&stop_signal, &none, sig))
        return;
    for (int i = 0; i < N_STOP_SIGNALS; ++i)
        if (STOP_SIGNALS[i] == sig && !keep_files_on_kill && previous[i].sa_handler != SIG_DFL &&
            previous[i].sa_handler != SIG_IGN && !(previous[i].sa_flags & SA_SIGINFO))
            previous[i].sa_handler(sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

void ckpt_signals_install(int keep_files)
{
    keep_files_on_kill = keep_files != 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* writes of the draws go on; the chains poll the flag */
    for (int i = 0; i < N_STOP_SIGNALS; ++i)
        sigaction(STOP_SIGNALS[i], &sa, &previous[i]);
}

int ckpt_stop_signal(void) { return atomic_load(&stop_signal); }

/* ---- the run's checkpoint state --------------------------------------------- */

/* A chain's latest snapshot. gen: the multiple of checkpoint_every it was
 * taken at (UINT64_MAX once the chain has finished). */
typedef struct slot {
    int filled;
    unsigned char *state;
    size_t state_bytes, cap;
    char *draws_path;
    uint64_t draws_bytes;
    uint64_t draws_hash;     /* of draws_bytes bytes */
    uint64_t hashed_bytes;   /* the running hash below covers this much of the file */
    uint64_t running_hash;   /* kept by the chain's own thread */
    ckpt_counters counters;
    uint64_t gen;
} slot;

struct ckpt_run {
    char *path; /* NULL: off */
    char *lock_path;
    int lock_fd; /* held while the run lives; -1: none */
    int written; /* this run wrote path */
    const char *resume_path;
    uint64_t every;
    size_t n_chains;
    char *fingerprint;
    pmhmc_checkpoint loaded; /* the --resume file */
    pthread_mutex_t lock;    /* guards slots, written_gen and the file */
    int lock_ready;
    slot *slots;
    uint64_t written_gen;
    size_t test_stop_at; /* PMHMC_TEST_STOP_AT_ITERATION; 0: off */
    int test_signal;
};

int ckpt_enabled(const ckpt_run *ck) { return ck && ck->path; }
const char *ckpt_path(const ckpt_run *ck) { return ck ? ck->path : NULL; }

/* What must be the same for a run to continue another: every config key
 * except the [output] ones that do not touch the draws files (progress,
 * checkpointing, the report), the data's contents rather than its path (and
 * the surrogate's, for hnn_hmc), the backend and precision actually used, and
 * the program version (the sampler's code decides the draws too). */
static int make_fingerprint(const pmhmc_config *cfg, const char *backend_used, const char *precision_used,
                            char **out)
{
    uint64_t hash = 0, bytes = 0;
    pmhmc_error err = {{0}};
    if (pmhmc_file_hash(cfg->model.data, &hash, &bytes, &err) != PMHMC_OK)
        return cli_fail(CLI_EXIT_USAGE, "model.data: %s", err.message);
    size_t cap = 8192, len = 0;
    for (size_t i = 0; i < pmhmc_config_key_count(); ++i)
        cap += 64 + (cfg->values[i].text ? strlen(cfg->values[i].text) : 0);
    char *fp = malloc(cap);
    if (!fp)
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) {
        free(fp);
        return cli_fail(CLI_EXIT_RUNTIME, "cannot read the working directory: %s", strerror(errno));
    }
    /* Relative paths (the draws files, the config's) mean something only
     * there: first, so a resume from elsewhere is told so. */
    len += (size_t)snprintf(fp + len, cap - len, "working directory = %s\n", cwd);
    len += (size_t)snprintf(fp + len, cap - len, "pmhmc_version = %s\n", PMHMC_VERSION);
    len += (size_t)snprintf(fp + len, cap - len, "model.data contents = FNV-1a %016llx, %llu bytes\n",
                            (unsigned long long)hash, (unsigned long long)bytes);
    const pmhmc_algorithm_info *algorithm = pmhmc_algorithm_by_name(cfg->sampler.algorithm);
    if (algorithm && algorithm->needs_network) {
        if (pmhmc_file_hash(cfg->hnn.weights, &hash, &bytes, &err) != PMHMC_OK) {
            free(fp);
            return cli_fail(CLI_EXIT_USAGE, "hnn.weights: %s", err.message);
        }
        len += (size_t)snprintf(fp + len, cap - len, "hnn.weights contents = FNV-1a %016llx, %llu bytes\n",
                                (unsigned long long)hash, (unsigned long long)bytes);
    }
    for (size_t i = 0; i < pmhmc_config_key_count(); ++i) {
        pmhmc_config_key_info k;
        pmhmc_config_key_describe(i, &k);
        int is_output = strcmp(k.section, "output") == 0;
        if ((strcmp(k.section, "model") == 0 && strcmp(k.name, "data") == 0) ||
            (is_output && strcmp(k.name, "file") != 0))
            continue;
        len += (size_t)snprintf(fp + len, cap - len, "%s.%s = %s\n", k.section, k.name,
                                cfg->values[i].text ? cfg->values[i].text : "");
    }
    snprintf(fp + len, cap - len, "backend used = %s\nprecision used = %s\n", backend_used, precision_used);
    *out = fp;
    return CLI_EXIT_OK;
}

static int check_resume(ckpt_run *ck)
{
    pmhmc_error err = {{0}};
    pmhmc_status st = pmhmc_checkpoint_read(ck->resume_path, &ck->loaded, &err);
    if (st == PMHMC_ERR_NOMEM)
        return cli_fail_status(CLI_EXIT_RUNTIME, st, NULL);
    if (st != PMHMC_OK)
        return cli_fail(CLI_EXIT_USAGE, "--resume: %s", err.message);
    /* The working directory first: from another one every relative path
     * differs, and "another run" would mislead. */
    const char *key = "working directory = ";
    const char *saved = strstr(ck->loaded.fingerprint, key), *here = strstr(ck->fingerprint, key);
    if (saved && here) {
        saved += strlen(key);
        here += strlen(key);
        size_t saved_len = strcspn(saved, "\n"), here_len = strcspn(here, "\n");
        if (saved_len != here_len || strncmp(saved, here, saved_len) != 0)
            return cli_fail(CLI_EXIT_USAGE,
                            "--resume: checkpoint %s was written by a run in '%.*s', where its draws files and "
                            "relative paths are: resume from that directory",
                            ck->resume_path, (int)saved_len, saved);
    }
    char why[768];
    if (pmhmc_checkpoint_compare(ck->loaded.fingerprint, ck->fingerprint, why, sizeof why) != 0)
        return cli_fail(CLI_EXIT_USAGE, "--resume: checkpoint %s is from another run: %s", ck->resume_path, why);
    if (ck->loaded.n_chains != ck->n_chains)
        return cli_fail(CLI_EXIT_USAGE, "--resume: checkpoint %s holds %zu chains; this run has %zu",
                        ck->resume_path, ck->loaded.n_chains, ck->n_chains);
    return CLI_EXIT_OK;
}

char *ckpt_lock_path(const char *checkpoint)
{
    if (!checkpoint || !checkpoint[0])
        return NULL;
    size_t n = strlen(checkpoint) + sizeof ".lock";
    char *lock = malloc(n);
    if (lock)
        snprintf(lock, n, "%s.lock", checkpoint);
    return lock;
}

/* The checkpoint belongs to one run at a time: a write lock on
 * `<checkpoint>.lock`, held until the run ends (the kernel drops it when
 * the process dies, however it dies). Creating the lock file also shows,
 * before any sampling, that the checkpoint's directory is writable. */
static int take_lock(ckpt_run *ck)
{
    if (!(ck->lock_path = ckpt_lock_path(ck->path)))
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    ck->lock_fd = open(ck->lock_path, O_RDWR | O_CREAT, 0666);
    if (ck->lock_fd < 0)
        return cli_fail(CLI_EXIT_USAGE, "output.checkpoint: cannot create its lock file '%s': %s", ck->lock_path,
                        strerror(errno));
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(ck->lock_fd, F_SETLK, &fl) != 0) {
        int busy = errno == EACCES || errno == EAGAIN;
        int saved = errno;
        close(ck->lock_fd);
        ck->lock_fd = -1;
        if (busy)
            return cli_fail(CLI_EXIT_USAGE,
                            "output.checkpoint: '%s' belongs to another pmhmc run that is still going (it holds "
                            "'%s'); give this run its own checkpoint. Nothing was run",
                            ck->path, ck->lock_path);
        return cli_fail(CLI_EXIT_USAGE, "output.checkpoint: cannot lock '%s': %s", ck->lock_path, strerror(saved));
    }
    return CLI_EXIT_OK;
}

int ckpt_run_create(const pmhmc_config *cfg, const char *backend_used, const char *precision_used, size_t n_chains,
                    const char *resume_path, ckpt_run **out)
{
    ckpt_run *ck = calloc(1, sizeof *ck);
    *out = ck;
    if (ck)
        ck->lock_fd = -1;
    if (!ck || !(ck->slots = calloc(n_chains, sizeof *ck->slots)))
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    ck->n_chains = n_chains;
    ck->every = cfg->output.checkpoint_every;
    ck->resume_path = resume_path;
    const char *target = cfg->output.checkpoint ? cfg->output.checkpoint : resume_path;
    if (target && !(ck->path = strdup(target)))
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    if (pthread_mutex_init(&ck->lock, NULL) != 0)
        return cli_fail(CLI_EXIT_RUNTIME, "cannot create a mutex");
    ck->lock_ready = 1;
    const char *stop_at = getenv("PMHMC_TEST_STOP_AT_ITERATION");
    if (stop_at && *stop_at) {
        ck->test_stop_at = (size_t)strtoull(stop_at, NULL, 10);
        const char *sig = getenv("PMHMC_TEST_STOP_SIGNAL");
        ck->test_signal = sig && strcmp(sig, "INT") == 0 ? SIGINT : SIGTERM;
    }
    if (!ck->path)
        return CLI_EXIT_OK;
    int rc = make_fingerprint(cfg, backend_used, precision_used, &ck->fingerprint);
    if (rc == CLI_EXIT_OK && resume_path)
        rc = check_resume(ck);
    if (rc == CLI_EXIT_OK && cfg->output.checkpoint) { /* its directory, before hours of sampling */
        char *dir = strdup(ck->path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        pmhmc_error err = {{0}};
        if (slash && slash != dir) {
            *slash = '\0';
            if (cli_make_dirs(dir, &err) != PMHMC_OK)
                rc = cli_fail(CLI_EXIT_USAGE, "output.checkpoint: %s", err.message);
        }
        free(dir);
    }
    if (rc == CLI_EXIT_OK)
        rc = take_lock(ck);
    /* Only a checkpoint this run resumes may be there already: any other
     * file at that path is an interrupted run's checkpoint (with draws
     * files that need it) or somebody else's file. */
    struct stat sb;
    if (rc == CLI_EXIT_OK && (!resume_path || strcmp(resume_path, ck->path) != 0) && stat(ck->path, &sb) == 0)
        rc = cli_fail(CLI_EXIT_USAGE,
                      "output.checkpoint: '%s' already exists: an interrupted run's checkpoint continues with "
                      "pmhmc sample %s --resume %s; otherwise remove it or choose another path. Nothing was run",
                      ck->path, cfg->path, ck->path);
    return rc;
}

int ckpt_written(const ckpt_run *ck) { return ck && ck->written; }

void ckpt_run_free(ckpt_run *ck)
{
    if (!ck)
        return;
    for (size_t k = 0; ck->slots && k < ck->n_chains; ++k) {
        free(ck->slots[k].state);
        free(ck->slots[k].draws_path);
    }
    free(ck->slots);
    if (ck->lock_ready)
        pthread_mutex_destroy(&ck->lock);
    pmhmc_checkpoint_free(&ck->loaded);
    free(ck->fingerprint);
    if (ck->lock_fd >= 0) {
        unlink(ck->lock_path); /* before the lock goes, so no other run's lock file is removed */
        close(ck->lock_fd);
    }
    free(ck->lock_path);
    free(ck->path);
    free(ck);
}

/* The FNV-1a 64 of file's bytes [*from, to), carried on from *hash. Only
 * what a checkpoint adds is read, so a run reads its draws once in all. */
static int hash_range(const char *file, uint64_t *hash, uint64_t *from, uint64_t to)
{
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        return -1;
    unsigned char buf[1 << 16];
    int rc = 0;
    while (*from < to) {
        size_t want = to - *from < sizeof buf ? (size_t)(to - *from) : sizeof buf;
        ssize_t got = pread(fd, buf, want, (off_t)*from);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = -1;
            break;
        }
        *hash = pmhmc_fnv1a64(*hash, buf, (size_t)got);
        *from += (uint64_t)got;
    }
    close(fd);
    return rc;
}

/* ---- resuming ------------------------------------------------------------------ */

/* Saved draws in the first `limit` bytes of a draws file: the lines after
 * the column header that are not '#' comments. The values are the last
 * n_values columns (parameters, then generated quantities); the sampler's
 * columns before them vary with the algorithm. */
static int read_saved_rows(const char *file, uint64_t limit, size_t n_values, size_t k, cli_summary *summary,
                           double *draws, size_t n_chains, size_t n_iter, double *values, ckpt_estimator_notes *notes,
                           char *why, size_t why_len)
{
    static const char noise_line[] = "# " CKPT_NOISE_COMMENT, auto_line[] = "# " CKPT_AUTO_N_COMMENT;
    size_t n_columns = 0;
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(why, why_len, "cannot read '%s': %s", file, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, rows = 0;
    uint64_t consumed = 0;
    int seen_header = 0, rc = 0;
    ssize_t n;
    while (rc == 0 && consumed < limit && (n = getline(&line, &cap, f)) > 0) {
        consumed += (uint64_t)n;
        if (strncmp(line, auto_line, sizeof auto_line - 1) == 0)
            notes->n_warmup = (size_t)strtoull(line + sizeof auto_line - 1, NULL, 10);
        if (strncmp(line, noise_line, sizeof noise_line - 1) == 0) {
            notes->noise_sd = strtod(line + sizeof noise_line - 1, NULL);
            const char *n_at = strstr(line, CKPT_NOISE_N);
            notes->n_sampling = n_at ? (size_t)strtoull(n_at + sizeof CKPT_NOISE_N - 1, NULL, 10) : 0;
        }
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (!seen_header) {
            seen_header = 1;
            n_columns = 1;
            for (const char *c = line; *c; ++c)
                n_columns += *c == ',';
            if (n_columns < n_values) {
                snprintf(why, why_len, "'%s' has %zu columns; this model has %zu values per draw", file, n_columns,
                         n_values);
                rc = -1;
            }
            continue;
        }
        if (rows == n_iter) {
            snprintf(why, why_len, "'%s' holds more than the %zu saved draws of sampler.iterations", file, n_iter);
            rc = -1;
            break;
        }
        char *p = line;
        const size_t first = n_columns - n_values;
        for (size_t j = 0; rc == 0 && j < n_columns; ++j) {
            char *end;
            double v = strtod(p, &end);
            if (end == p || (*end != ',' && *end != '\n' && *end != '\0')) {
                snprintf(why, why_len, "'%s', saved draw %zu: column %zu is not a number", file, rows + 1, j + 1);
                rc = -1;
            }
            if (j >= first)
                values[j - first] = v;
            p = *end == ',' ? end + 1 : end;
        }
        if (rc != 0)
            break;
        cli_summary_add(summary, values, 0);
        if (draws)
            for (size_t j = 0; j < n_values; ++j)
                draws[(j * n_chains + k) * n_iter + rows] = values[j];
        ++rows;
    }
    free(line);
    fclose(f);
    return rc;
}

int ckpt_resume_chain(ckpt_run *ck, size_t k, cli_out *out, const char *path, size_t n_values, cli_summary *summary,
                      double *draws, size_t n_chains, size_t n_iter, ckpt_counters *counters, ckpt_estimator_notes *notes)
{
    const pmhmc_checkpoint_chain *c = &ck->loaded.chains[k];
    pmhmc_error err = {{0}};
    pmhmc_status st = cli_out_resume(out, path, c->draws_path, (long long)c->draws_bytes, &err);
    if (st == PMHMC_ERR_NOMEM)
        return cli_fail_status(CLI_EXIT_RUNTIME, st, NULL);
    if (st != PMHMC_OK)
        return cli_fail(CLI_EXIT_USAGE, "--resume: checkpoint %s, chain %zu: %s", ck->resume_path, k + 1,
                        err.message);
    double *values = malloc((n_values ? n_values : 1) * sizeof *values);
    char why[512];
    if (!values)
        return cli_fail_status(CLI_EXIT_RUNTIME, PMHMC_ERR_NOMEM, NULL);
    *notes = (ckpt_estimator_notes){0, NAN, 0};
    int bad = read_saved_rows(c->draws_path, c->draws_bytes, n_values, k, summary, draws, n_chains, n_iter, values,
                              notes, why, sizeof why);
    free(values);
    if (bad)
        return cli_fail(CLI_EXIT_USAGE, "--resume: checkpoint %s, chain %zu: %s", ck->resume_path, k + 1, why);
    /* The draws the checkpoint vouches for must be the ones it saw: a file
     * edited since would make the resumed run's files a mixture. */
    slot *s = &ck->slots[k];
    s->running_hash = PMHMC_FNV1A64_INIT;
    s->hashed_bytes = 0;
    if (hash_range(c->draws_path, &s->running_hash, &s->hashed_bytes, c->draws_bytes) != 0 ||
        s->running_hash != c->draws_hash)
        return cli_fail(CLI_EXIT_USAGE,
                        "--resume: checkpoint %s, chain %zu: the draws so far, '%s', changed since the checkpoint "
                        "was written; the run cannot continue from them",
                        ck->resume_path, k + 1, c->draws_path);
    summary->n_accepted = (size_t)c->counters[0];
    counters->saved_accepted = c->counters[0];
    counters->accepted = c->counters[1];
    counters->divergent = c->counters[2];
    counters->max_depth = c->counters[3];
    return CLI_EXIT_OK;
}

pmhmc_status ckpt_load_chain(ckpt_run *ck, size_t k, pmhmc_sampler *sampler, pmhmc_error *err)
{
    const pmhmc_checkpoint_chain *c = &ck->loaded.chains[k];
    pmhmc_error inner = {{0}};
    pmhmc_status st = pmhmc_sampler_load_state(sampler, c->state, c->state_bytes, &inner);
    if (st != PMHMC_OK && err)
        snprintf(err->message, sizeof err->message, "checkpoint %.80s: %.400s", ck->resume_path,
                 inner.message[0] ? inner.message : pmhmc_status_str(st));
    return st;
}

/* ---- snapshots and writing ---------------------------------------------------- */

static pmhmc_status write_file(ckpt_run *ck, pmhmc_error *err)
{
    pmhmc_checkpoint_chain *chains = calloc(ck->n_chains, sizeof *chains);
    if (!chains)
        return PMHMC_ERR_NOMEM;
    for (size_t k = 0; k < ck->n_chains; ++k) {
        const slot *s = &ck->slots[k];
        chains[k] = (pmhmc_checkpoint_chain){
            .draws_path = s->draws_path,
            .draws_bytes = s->draws_bytes,
            .draws_hash = s->draws_hash,
            .counters = {s->counters.saved_accepted, s->counters.accepted, s->counters.divergent,
                         s->counters.max_depth},
            .state = s->state,
            .state_bytes = s->state_bytes,
        };
    }
    pmhmc_checkpoint file = {.fingerprint = ck->fingerprint, .n_chains = ck->n_chains, .chains = chains};
    pmhmc_status st = pmhmc_checkpoint_write(ck->path, &file, err);
    free(chains);
    if (st == PMHMC_OK)
        ck->written = 1;
    return st;
}

/* The draws up to here reach the disk before a checkpoint vouches for them,
 * so a crash after the checkpoint cannot leave them shorter than it says. */
static int sync_draws(FILE *draws, uint64_t *length)
{
    if (fflush(draws) != 0 || fsync(fileno(draws)) != 0)
        return -1;
    off_t at = ftello(draws);
    if (at < 0)
        return -1;
    *length = (uint64_t)at;
    return 0;
}

static int snapshot(ckpt_run *ck, size_t k, pmhmc_sampler *sampler, FILE *draws, const char *draws_path,
                    const ckpt_counters *counters, uint64_t gen, int periodic, char *msg, size_t msg_len)
{
    uint64_t length = 0;
    if (sync_draws(draws, &length) != 0) {
        snprintf(msg, msg_len, "%s: cannot flush the draws for a checkpoint: %s", draws_path, strerror(errno));
        return -1;
    }
    /* Only this chain's thread touches its running hash. */
    slot *mine = &ck->slots[k];
    if (mine->hashed_bytes == 0)
        mine->running_hash = PMHMC_FNV1A64_INIT;
    if (hash_range(draws_path, &mine->running_hash, &mine->hashed_bytes, length) != 0) {
        snprintf(msg, msg_len, "%s: cannot read the draws back for a checkpoint: %s", draws_path, strerror(errno));
        return -1;
    }
    size_t need = pmhmc_sampler_state_size(sampler);
    pmhmc_error err = {{0}};
    pmhmc_status st = PMHMC_OK;
    pthread_mutex_lock(&ck->lock);
    slot *s = &ck->slots[k];
    if (need > s->cap) {
        unsigned char *grown = realloc(s->state, need);
        if (grown) {
            s->state = grown;
            s->cap = need;
        } else {
            st = PMHMC_ERR_NOMEM;
        }
    }
    if (st == PMHMC_OK && (!s->draws_path || strcmp(s->draws_path, draws_path) != 0)) {
        free(s->draws_path);
        if (!(s->draws_path = strdup(draws_path)))
            st = PMHMC_ERR_NOMEM;
    }
    if (st == PMHMC_OK)
        st = pmhmc_sampler_save_state(sampler, s->state, need, &err);
    if (st == PMHMC_OK) {
        s->filled = 1;
        s->state_bytes = need;
        s->draws_bytes = length;
        s->draws_hash = s->running_hash;
        s->counters = *counters;
        s->gen = gen;
    }
    /* The file is due when the slowest chain has passed a new multiple. */
    uint64_t slowest = UINT64_MAX;
    for (size_t j = 0; j < ck->n_chains; ++j)
        if (ck->slots[j].gen < slowest)
            slowest = ck->slots[j].gen;
    if (st == PMHMC_OK && periodic && slowest != UINT64_MAX && slowest > ck->written_gen) {
        st = write_file(ck, &err);
        ck->written_gen = slowest;
    }
    pthread_mutex_unlock(&ck->lock);
    if (st != PMHMC_OK)
        snprintf(msg, msg_len, "checkpoint: %s", err.message[0] ? err.message : pmhmc_status_str(st));
    return st == PMHMC_OK ? 0 : -1;
}

int ckpt_chain_point(ckpt_run *ck, size_t k, pmhmc_sampler *sampler, FILE *draws, const char *draws_path,
                     const ckpt_counters *counters, size_t done, int leaving, char *msg, size_t msg_len)
{
    int rc = 0;
    if (ckpt_enabled(ck) && (leaving || done % ck->every == 0)) {
        uint64_t gen = leaving && !ckpt_stop_signal() ? UINT64_MAX : done / ck->every;
        rc = snapshot(ck, k, sampler, draws, draws_path, counters, gen, !leaving, msg, msg_len);
    }
    if (k == 0 && !leaving && ck->test_stop_at && done == ck->test_stop_at)
        raise(ck->test_signal);
    return rc;
}

int ckpt_write_final(ckpt_run *ck)
{
    for (size_t k = 0; k < ck->n_chains; ++k)
        if (!ck->slots[k].filled)
            return cli_fail(CLI_EXIT_RUNTIME, "checkpoint %s: chain %zu stopped before it could be saved", ck->path,
                            k + 1);
    pmhmc_error err = {{0}};
    pthread_mutex_lock(&ck->lock);
    pmhmc_status st = write_file(ck, &err);
    pthread_mutex_unlock(&ck->lock);
    return st == PMHMC_OK ? CLI_EXIT_OK : cli_fail_status(CLI_EXIT_RUNTIME, st, &err);
}

void ckpt_run_completed(ckpt_run *ck)
{
    if (!ck)
        return;
    /* Only files this run made or took over: the checkpoint it wrote, the
     * one it resumed (now spent). */
    if (ck->path && (ck->written || (ck->resume_path && strcmp(ck->resume_path, ck->path) == 0)))
        unlink(ck->path);
    if (ck->resume_path && (!ck->path || strcmp(ck->resume_path, ck->path) != 0))
        unlink(ck->resume_path);
}
