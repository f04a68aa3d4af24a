#define _POSIX_C_SOURCE 200809L /* strdup, getcwd */
#define _XOPEN_SOURCE 700       /* realpath */

#include "cli/path_guard.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/* dir + "/" + name, as a new string. */
static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
    return s;
}

/* The absolute path through the real paths of the directories that exist:
 * the parent resolved (recursively, for a parent the command would
 * create), then the last component as written ("." dropped, ".." taken
 * lexically once past what exists). */
static char *resolve(const char *path)
{
    char buf[PATH_MAX];
    char *absolute = NULL;
    if (path[0] == '/') {
        absolute = strdup(path);
    } else {
        if (!getcwd(buf, sizeof buf))
            return NULL;
        absolute = join(buf, path);
    }
    if (!absolute)
        return NULL;
    size_t len = strlen(absolute);
    while (len > 1 && absolute[len - 1] == '/')
        absolute[--len] = '\0';
    char *out = NULL;
    if (realpath(absolute, buf)) {
        out = strdup(buf);
    } else {
        char *slash = strrchr(absolute, '/');
        const char *base = slash + 1;
        *slash = '\0';
        char *parent = resolve(slash == absolute ? "/" : absolute);
        if (parent) {
            if (strcmp(base, ".") == 0 || base[0] == '\0') {
                out = parent;
                parent = NULL;
            } else if (strcmp(base, "..") == 0) {
                char *up = strrchr(parent, '/');
                if (up && up != parent)
                    *up = '\0';
                else if (up)
                    up[1] = '\0';
                out = parent;
                parent = NULL;
            } else {
                out = join(parent, base);
            }
            free(parent);
        }
    }
    free(absolute);
    return out;
}

static void add(cli_paths *p, const char *what, const char *path, int is_output, const char *may_be)
{
    if (!path || !path[0] || p->out_of_memory)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        cli_path_entry *grown = realloc(p->v, cap * sizeof *grown);
        if (!grown) {
            p->out_of_memory = 1;
            return;
        }
        p->v = grown;
        p->cap = cap;
    }
    cli_path_entry *e = &p->v[p->n];
    memset(e, 0, sizeof *e);
    e->what = strdup(what);
    e->path = strdup(path);
    e->resolved = resolve(path);
    e->is_output = is_output;
    e->may_be = may_be;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        e->exists = 1;
        e->is_dir = S_ISDIR(sb.st_mode);
        e->dev = sb.st_dev;
        e->ino = sb.st_ino;
    }
    /* A name ending in '/' is a directory's, whether or not one is there. */
    e->is_dir |= path[strlen(path) - 1] == '/';
    if (!e->what || !e->path || !e->resolved) {
        free(e->what);
        free(e->path);
        free(e->resolved);
        p->out_of_memory = 1;
        return;
    }
    p->n++;
}

void cli_paths_input(cli_paths *p, const char *what, const char *path) { add(p, what, path, 0, NULL); }
void cli_paths_output(cli_paths *p, const char *what, const char *path) { add(p, what, path, 1, NULL); }
void cli_paths_output_over(cli_paths *p, const char *what, const char *path, const char *may_be)
{
    add(p, what, path, 1, may_be);
}

static int same_file(const cli_path_entry *a, const cli_path_entry *b)
{
    if (a->exists && b->exists && a->dev == b->dev && a->ino == b->ino)
        return 1;
    return strcmp(a->resolved, b->resolved) == 0;
}

int cli_paths_check(const cli_paths *p)
{
    if (p->out_of_memory)
        return cli_fail(CLI_EXIT_RUNTIME, "out of memory checking the output paths");
    for (size_t i = 0; i < p->n; ++i) {
        const cli_path_entry *o = &p->v[i];
        if (!o->is_output)
            continue;
        if (o->is_dir)
            return cli_fail(CLI_EXIT_USAGE, "%s: '%s' is a directory; expected the name of a file to write", o->what,
                            o->path);
        for (size_t j = 0; j < p->n; ++j) {
            const cli_path_entry *x = &p->v[j];
            if (j == i || !same_file(o, x))
                continue;
            if (!x->is_output) {
                if (o->may_be && strcmp(o->may_be, x->what) == 0)
                    continue;
                return cli_fail(CLI_EXIT_USAGE,
                                "%s: '%s' is the file %s names ('%s'); writing it would replace that input. "
                                "Nothing was run",
                                o->what, o->path, x->what, x->path);
            }
            if (j > i)
                return cli_fail(CLI_EXIT_USAGE,
                                "%s ('%s') and %s ('%s') are the same file; each output needs its own. "
                                "Nothing was run",
                                o->what, o->path, x->what, x->path);
        }
    }
    return CLI_EXIT_OK;
}

void cli_paths_free(cli_paths *p)
{
    for (size_t i = 0; i < p->n; ++i) {
        free(p->v[i].what);
        free(p->v[i].path);
        free(p->v[i].resolved);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}
