/* flash_stub.c - placeholder until the flash commands land. */
#include <stdio.h>

#include "fw.h"

int fw_cmd_flash(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("fitgate-fw: not implemented yet\n", stderr);
    return FW_EXIT_USAGE;
}

int fw_cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("fitgate-fw: not implemented yet\n", stderr);
    return FW_EXIT_USAGE;
}

int fw_cmd_bmap(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("fitgate-fw: not implemented yet\n", stderr);
    return FW_EXIT_USAGE;
}
