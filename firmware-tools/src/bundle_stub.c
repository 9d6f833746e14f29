/* bundle_stub.c - placeholder until the bundle commands land. */
#include <stdio.h>

#include "fw.h"

int fw_cmd_bundle(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("fitgate-fw: not implemented yet\n", stderr);
    return FW_EXIT_USAGE;
}
