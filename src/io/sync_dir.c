#define _POSIX_C_SOURCE 200809L /* fsync, strndup */
#include "io/sync_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pmhmc_sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? (slash == path ? strdup("/") : strndup(path, (size_t)(slash - path))) : strdup(".");
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd) == 0 || errno == EINVAL || errno == EBADF ? 0 : -1;
    close(fd);
    return rc;
}
