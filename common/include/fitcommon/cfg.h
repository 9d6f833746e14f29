/* fitcommon/cfg.h - read a `key = value` configuration file.
 *
 * One setting per line; '#' starts a comment; blank lines are ignored; keys
 * are [a-z0-9_.-]; values run to the end of the line with surrounding blanks
 * removed. The same keys are accepted as --key=value flags, and flags win.
 */
#ifndef FITCOMMON_CFG_H
#define FITCOMMON_CFG_H

#include <stdint.h>

/* Called for each setting; return 0 to go on, -1 to reject (the loader then
 * reports file:line). */
typedef int (*cfg_fn)(void *ctx, const char *key, const char *value);

/* Load path; returns 0, or -1 after logging the offending line. */
int cfg_load_file(const char *path, cfg_fn fn, void *ctx);
/* Apply --key=value / --key value flags from argv[first..argc). Unknown keys
 * are rejected by fn. Returns 0, -1 on error, 1 if --help was given. */
int cfg_load_args(int argc, char **argv, cfg_fn fn, void *ctx);

/* The usual start-up: a --config FILE (if given) first, then the flags over
 * it. Returns like cfg_load_args(). */
int cfg_load(int argc, char **argv, cfg_fn fn, void *ctx);

/* Helpers for fn implementations: 0 on success, -1 if not a valid number. */
int cfg_parse_int(const char *value, int64_t min, int64_t max, int64_t *out);

#endif
