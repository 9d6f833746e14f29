/* fwfile.h - small file and process helpers shared by fitgate-fw commands
 * (provision, update): power-safe file replacement and running a helper
 * tool (mtools, fw_setenv, grub-editenv) without a shell.
 */
#ifndef FITGATE_FWFILE_H
#define FITGATE_FWFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Write data as dir/name: a tmp file (".name.tmp", a stale one removed
 * first) opened O_EXCL | O_NOFOLLOW, fchmod mode, fsync, rename, then the
 * directory fsync'd. After a power cut the file is the old or the new one,
 * never a mix. 0, or -1 with errno. */
int fw_write_atomic_at(int dfd, const char *name, const void *data, size_t len, mode_t mode);
/* The same for a path (its directory is opened for the call). */
int fw_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Run argv[0] (PATH search, no shell). When out is not NULL, its stdout is
 * captured there (NUL-terminated, cap bytes at most) and stderr is kept;
 * otherwise quiet sends stdout and stderr to /dev/null, and !quiet sends
 * stdout to our stderr (our stdout may be --json). Returns the exit status,
 * or -1 when it could not run or died of a signal. */
int fw_spawn(char *const argv[], char *out, size_t cap, int quiet);

#endif
