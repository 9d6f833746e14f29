/* fitcommon/fileio.h - files that are whole or absent after a power cut.
 *
 * file_write_atomic_at() writes ".<name>.tmp" next to the target with
 * O_EXCL | O_NOFOLLOW (a stale tmp left by a crash is removed first, never
 * trusted), sets the mode, fsyncs, renames over the target, and fsyncs the
 * directory. On failure nothing of the new content is visible and errno says
 * why. Used for keys, certificates, update state and provisioning files.
 */
#ifndef FITCOMMON_FILEIO_H
#define FITCOMMON_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* name is a plain file name inside the directory dfd. 0 or -1 (errno). */
int file_write_atomic_at(int dfd, const char *name, const void *data, size_t len, mode_t mode);
/* The same for a path ("dir/name"). 0 or -1 (errno). */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif
