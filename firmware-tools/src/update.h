/* update.h - A/B updates on the gateway: configuration, bootloader
 * environment backends and the updater's state file (update_env.c); the
 * commands live in update.c.
 *
 * Boot selection follows U-Boot's RAUC convention: BOOT_ORDER ("A B": try A
 * first) and BOOT_<slot>_LEFT (boot attempts left). The bootloader takes the
 * first slot in BOOT_ORDER whose LEFT is > 0 and decrements it before booting;
 * `mark-good` resets it. A slot whose attempts run out is skipped, so an
 * update that never reaches mark-good rolls back by itself.
 *
 * Backends: "file" (an env file KEY=VALUE, replaced atomically; used by the
 * tests and by bootloaders that read a file, and what `fitgate-fw update
 * boot` emulates the U-Boot script on), "uboot" (fw_printenv/fw_setenv
 * from libubootenv; fw_setenv -s writes all variables in one go) and "grub"
 * (grub-editenv on bootloader_env, the grubenv block; one `set` call).
 *
 * Ownership: upd_config and upd_env are caller-owned plain structs.
 */
#ifndef FITGATE_UPDATE_H
#define FITGATE_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#define UPD_SLOTS 2 /* A and B */

typedef struct upd_slot {
    char rootfs[1024]; /* device or file the rootfs image goes to */
    char boot[1024];   /* optional: the boot image's target */
} upd_slot;

typedef struct upd_config {
    char compatible[65];
    char keyring[1024];
    char state_dir[1024];
    char bootloader[16];       /* "file", "uboot" or "grub" */
    char bootloader_env[1024]; /* file: the env file; grub: the grubenv file */
    char booted_from[1024];    /* kernel command line with fitgate.slot=X (/proc/cmdline) */
    int64_t attempts;          /* boot attempts for a new slot (3) */
    upd_slot slot[UPD_SLOTS];
} upd_config;

/* Load a slots configuration file (cfg format). 0, or -1 with a reason. */
int upd_config_load(upd_config *c, const char *path, char *err, size_t errlen);

/* The bootloader variables we use. order: slot letters in boot order
 * ("AB", "B", ""); left[i] for slot 'A' + i. */
typedef struct upd_env {
    char order[UPD_SLOTS + 1];
    int64_t left[UPD_SLOTS];
} upd_env;

/* Read/write the variables through the configured backend. A missing
 * environment reads as order "AB" with full attempts (a fresh device).
 * Writes are atomic (file: tmp + fsync + rename + dir fsync). 0 or -1. */
int upd_env_read(const upd_config *c, upd_env *e, char *err, size_t errlen);
int upd_env_write(const upd_config *c, const upd_env *e, char *err, size_t errlen);

/* Per-slot status kept by the updater in state_dir/state.json. */
typedef enum upd_status {
    UPD_EMPTY = 0,  /* never written by us */
    UPD_INSTALLING, /* being written: not bootable */
    UPD_INSTALLED,  /* written and verified, not yet proven by mark-good */
    UPD_GOOD,       /* booted and marked good */
    UPD_BAD,        /* failed to boot (rolled back) */
} upd_status;
const char *upd_status_str(upd_status s);

typedef struct upd_state {
    uint64_t floor; /* anti-rollback: lowest version we accept (raised at mark-good) */
    uint64_t version[UPD_SLOTS];
    upd_status status[UPD_SLOTS];
} upd_state;

/* Missing file = empty state. Writes are atomic. 0 or -1. */
int upd_state_read(const upd_config *c, upd_state *s, char *err, size_t errlen);
int upd_state_write(const upd_config *c, const upd_state *s, char *err, size_t errlen);

/* The slot the running system booted from (0 = A, 1 = B), from
 * "fitgate.slot=X" in booted_from; -1 when not found. */
int upd_booted_slot(const upd_config *c);

/* `fitgate-fw update fetch` (update_fetch.c): download a bundle or a file
 * with size and sha256 checks; argv[0] is "fetch". Returns the exit status. */
int fw_cmd_update_fetch(int argc, char **argv);

#endif
