/* One rule for every file a command writes: before anything runs, each
 * output path is resolved and refused (exit 1, naming both) when it is, or
 * would replace, one of the command's inputs or another of its outputs, by
 * any name (./x and x, a symbolic or a hard link, a missing parent directory
 * the command would create), or when it names a directory. A command lists
 * its files, then checks them once:
 *
 *     cli_paths p = {0};
 *     cli_paths_input(&p, "model.data", cfg->model.data);
 *     cli_paths_output(&p, "output.file", path);
 *     int rc = cli_paths_check(&p);   (CLI_EXIT_OK, or the error printed)
 *     cli_paths_free(&p);
 *
 * The names ("model.data", "output.file of chain 2", "--truth") are what
 * the message says. */
#ifndef PMHMC_CLI_PATH_GUARD_H
#define PMHMC_CLI_PATH_GUARD_H

#include <stddef.h>
#include <sys/types.h>

typedef struct cli_path_entry {
    char *what;     /* the config key or option that names the file */
    char *path;     /* as given */
    char *resolved; /* absolute, through the existing directories' real paths */
    int is_output;
    int exists;
    int is_dir;
    dev_t dev;
    ino_t ino;
    const char *may_be; /* an output: the `what` of an input it may be (a resumed checkpoint) */
} cli_path_entry;

typedef struct cli_paths {
    cli_path_entry *v;
    size_t n, cap;
    int out_of_memory;
} cli_paths;

/* Add a file; an empty or NULL path is skipped (the key is not set). */
void cli_paths_input(cli_paths *p, const char *what, const char *path);
void cli_paths_output(cli_paths *p, const char *what, const char *path);
/* An output that may be the input named may_be (which must stay valid). */
void cli_paths_output_over(cli_paths *p, const char *what, const char *path, const char *may_be);

/* CLI_EXIT_OK, or the first conflict printed and CLI_EXIT_USAGE
 * (CLI_EXIT_RUNTIME when out of memory). */
int cli_paths_check(const cli_paths *p);
void cli_paths_free(cli_paths *p);

#endif
