/* fitgate-fw - flash, verify and update fitgate gateways. */
#include <stdio.h>
#include <string.h>

#include "fitcommon/log.h"
#include "fw.h"

static const char *usage =
    "usage: fitgate-fw <command> [options]\n"
    "  flash IMAGE TARGET     write an image (raw or .zst, bmap-aware) and verify it\n"
    "  verify IMAGE TARGET    compare a target with an image (mapped blocks)\n"
    "  bmap create IMAGE      print a bmap 2.0 file for a sparse image\n"
    "  bundle create|sign|verify|inspect   signed update bundles\n"
    "  provision TARGET ...   first-boot configuration into an image or directory\n"
    "  update install|mark-good|status|boot   A/B updates on the gateway\n"
    "Run `fitgate-fw <command> --help` for the options of a command.\n";

int main(int argc, char **argv)
{
    log_init("fitgate-fw", LOG_WARN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? FW_EXIT_USAGE : FW_EXIT_OK;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "flash"))
        return fw_cmd_flash(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify"))
        return fw_cmd_verify(argc - 1, argv + 1);
    if (!strcmp(cmd, "bmap"))
        return fw_cmd_bmap(argc - 1, argv + 1);
    if (!strcmp(cmd, "update"))
        return fw_cmd_update(argc - 1, argv + 1);
    if (!strcmp(cmd, "provision"))
        return fw_cmd_provision(argc - 1, argv + 1);
    if (!strcmp(cmd, "bundle"))
        return fw_cmd_bundle(argc - 1, argv + 1);
    fprintf(stderr, "fitgate-fw: unknown command '%s'\n%s", cmd, usage);
    return FW_EXIT_USAGE;
}
