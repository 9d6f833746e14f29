/* fwfile.h - process helpers shared by fitgate-fw commands (provision,
 * update): running a helper tool (mtools, fw_setenv, grub-editenv) without a
 * shell.
 */
#ifndef FITGATE_FWFILE_H
#define FITGATE_FWFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Power-safe file replacement: fitcommon/fileio.h (file_write_atomic). */

/* Run argv[0] (PATH search, no shell). When out is not NULL, its stdout is
 * captured there (NUL-terminated, cap bytes at most) and stderr is kept;
 * otherwise quiet sends stdout and stderr to /dev/null, and !quiet sends
 * stdout to our stderr (our stdout may be --json). Returns the exit status,
 * or -1 when it could not run or died of a signal. */
int fw_spawn(char *const argv[], char *out, size_t cap, int quiet);

#endif
