/* Durable renames: a file renamed into place survives a crash only once its
 * directory entry is on disk too. */
#ifndef PMHMC_IO_SYNC_DIR_H
#define PMHMC_IO_SYNC_DIR_H

/* fsync()s the directory that holds `path` ("." for a bare name). File
 * systems that cannot fsync a directory say EINVAL or EBADF; that counts as
 * done. Returns 0, or -1 with errno set. */
int pmhmc_sync_parent_dir(const char *path);

#endif
