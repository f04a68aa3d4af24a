#define _POSIX_C_SOURCE 200809L /* sigaction, open, getpid, mkdir, strdup */

#include "cli/out_file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* Temporary files a signal handler must remove (one per chain of
 * `pmhmc sample`, up to sampler.chains' limit of 64, plus room). Fixed
 * buffers: the handler may not allocate. Registration is not thread-safe:
 * open files from one thread. */
enum { MAX_PENDING = 72, PENDING_PATH = 4096 };
static char pending[MAX_PENDING][PENDING_PATH];
static volatile sig_atomic_t pending_used[MAX_PENDING];
static int handlers_installed;

static void remove_pending(int sig)
{
    for (int i = 0; i < MAX_PENDING; ++i)
        if (pending_used[i])
            unlink(pending[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    if (handlers_installed)
        return;
    handlers_installed = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = remove_pending;
    sigemptyset(&sa.sa_mask);
    const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; ++i)
        sigaction(signals[i], &sa, NULL);
}

static int register_pending(const char *tmp)
{
    if (strlen(tmp) >= PENDING_PATH)
        return -1;
    for (int i = 0; i < MAX_PENDING; ++i)
        if (!pending_used[i]) {
            memcpy(pending[i], tmp, strlen(tmp) + 1);
            pending_used[i] = 1;
            install_handlers();
            return i;
        }
    return -1;
}

static void release(cli_out *out)
{
    if (out->tmp && out->slot >= 0)
        pending_used[out->slot] = 0;
    free(out->path);
    free(out->tmp);
    memset(out, 0, sizeof *out);
    out->slot = -1;
}

pmhmc_status cli_make_dirs(const char *dir, pmhmc_error *err)
{
    char *copy = strdup(dir);
    if (!copy)
        return PMHMC_ERR_NOMEM;
    pmhmc_status st = PMHMC_OK;
    /* Create each prefix ending at a '/', then the whole. */
    for (char *c = copy + 1;; ++c) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
            st = pmhmc_fail(err, PMHMC_ERR_IO, "cannot create the directory '%s': %s", copy, strerror(errno));
            break;
        }
        *c = saved;
        if (!saved)
            break;
    }
    free(copy);
    return st;
}

static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return NULL;
    return strndup(path, (size_t)(slash - path));
}

pmhmc_status cli_out_open(cli_out *out, const char *path, pmhmc_error *err)
{
    memset(out, 0, sizeof *out);
    out->slot = -1;
    char *parent = parent_of(path);
    if (parent) {
        pmhmc_status st = cli_make_dirs(parent, err);
        free(parent);
        if (st != PMHMC_OK)
            return st;
    }
    size_t len = strlen(path) + 32;
    out->path = strdup(path);
    out->tmp = malloc(len);
    if (!out->path || !out->tmp) {
        release(out);
        return PMHMC_ERR_NOMEM;
    }
    snprintf(out->tmp, len, "%s.tmp.%ld", path, (long)getpid());
    /* Register before creating, so a signal in between cannot leave it. */
    out->slot = register_pending(out->tmp);
    int fd = open(out->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        pmhmc_status st =
            pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot create the temporary file '%s': %s", path, out->tmp,
                       strerror(errno));
        release(out);
        return st;
    }
    out->f = fdopen(fd, "w");
    if (!out->f) {
        close(fd);
        unlink(out->tmp);
        release(out);
        return PMHMC_ERR_NOMEM;
    }
    return PMHMC_OK;
}

pmhmc_status cli_out_close(cli_out *out, pmhmc_error *err)
{
    if (!out->f)
        return PMHMC_OK;
    int write_failed = ferror(out->f);
    int close_failed = fclose(out->f) != 0;
    int saved_errno = errno;
    out->f = NULL;
    if (write_failed || close_failed)
        return pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot write the file: %s", out->path,
                          close_failed ? strerror(saved_errno) : "write error");
    return PMHMC_OK;
}

pmhmc_status cli_out_commit(cli_out *out, pmhmc_error *err)
{
    pmhmc_status st = cli_out_close(out, err);
    if (st == PMHMC_OK && rename(out->tmp, out->path) != 0)
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot rename '%s' over it: %s", out->path, out->tmp,
                        strerror(errno));
    if (st != PMHMC_OK)
        unlink(out->tmp);
    release(out);
    return st;
}

void cli_out_abort(cli_out *out)
{
    if (out->f)
        fclose(out->f);
    if (out->tmp) /* only set while the temporary file exists */
        unlink(out->tmp);
    release(out);
}

pmhmc_status cli_out_resume(cli_out *out, const char *path, const char *tmp, long long length, pmhmc_error *err)
{
    memset(out, 0, sizeof *out);
    out->slot = -1;
    out->path = strdup(path);
    out->tmp = strdup(tmp);
    if (!out->path || !out->tmp) {
        release(out);
        return PMHMC_ERR_NOMEM;
    }
    out->slot = register_pending(out->tmp);
    int fd = open(tmp, O_WRONLY);
    struct stat sb;
    pmhmc_status st = PMHMC_OK;
    if (fd < 0)
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot open the draws so far, '%s': %s", path, tmp, strerror(errno));
    else if (fstat(fd, &sb) != 0 || (long long)sb.st_size < length)
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: the draws so far, '%s', have %lld bytes; the checkpoint needs %lld",
                        path, tmp, (long long)sb.st_size, length);
    else if (ftruncate(fd, (off_t)length) != 0 || lseek(fd, 0, SEEK_END) < 0)
        st = pmhmc_fail(err, PMHMC_ERR_IO, "%s: cannot truncate '%s': %s", path, tmp, strerror(errno));
    else if (!(out->f = fdopen(fd, "w")))
        st = PMHMC_ERR_NOMEM;
    if (st != PMHMC_OK) {
        if (fd >= 0)
            close(fd);
        release(out); /* never removes the file: the checkpoint still refers to it */
    }
    return st;
}

int cli_out_keep(cli_out *out)
{
    int rc = 0;
    if (out->f) {
        rc = ferror(out->f) ? -1 : 0;
        if (fclose(out->f) != 0)
            rc = -1;
        out->f = NULL;
    }
    release(out);
    return rc;
}

size_t cli_path_stem(const char *file)
{
    const char *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? (size_t)(dot - file) : strlen(file);
}

char *cli_path_with_suffix(const char *file, const char *suffix)
{
    const size_t stem = cli_path_stem(file), len = stem + strlen(suffix) + 1;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%.*s%s", (int)stem, file, suffix);
    return path;
}
