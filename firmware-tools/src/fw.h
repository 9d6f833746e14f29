/* fw.h - command entry points of fitgate-fw; src/main.c dispatches to them.
 *
 * Each returns the process exit status (documented in docs/firmware-tools.md):
 *   0 success, 1 the operation failed (verification mismatch, bad signature...),
 *   2 usage error, 3 refused for safety (wrong/in-use/too small target...),
 *   4 I/O error.
 */
#ifndef FITGATE_FW_H
#define FITGATE_FW_H

enum { FW_EXIT_OK = 0, FW_EXIT_FAILED = 1, FW_EXIT_USAGE = 2, FW_EXIT_REFUSED = 3, FW_EXIT_IO = 4 };

/* flash IMAGE TARGET, verify IMAGE TARGET, bmap create IMAGE (flash.c, bmap.c) */
int fw_cmd_flash(int argc, char **argv);
int fw_cmd_verify(int argc, char **argv);
int fw_cmd_bmap(int argc, char **argv);
/* bundle create|sign|verify|inspect (bundle.c) */
int fw_cmd_bundle(int argc, char **argv);
/* provision TARGET ... (provision.c, parttable.c) */
int fw_cmd_provision(int argc, char **argv);
/* update install|mark-good|status|boot (update.c, update_env.c) */
int fw_cmd_update(int argc, char **argv);

#endif
