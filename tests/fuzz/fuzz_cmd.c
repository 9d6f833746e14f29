/* fuzz_cmd.c - cmd_parse() on arbitrary bytes: never crashes, and whatever
 * it accepts satisfies what the handlers rely on. */
#include <stdlib.h>
#include <string.h>

#include "cmd_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cmd c;
    const char *why = NULL;
    cmd_err e = cmd_parse((const char *)data, size, &c, &why);
    if (!why)
        abort();
    if (c.id[0] && !cmd_id_valid(c.id))
        abort();
    if (e != CMD_OK) {
        if (!why[0] || !cmd_err_str(e)[0])
            abort();
        return 0;
    }
    if (!c.id[0] || c.op == CMD_NONE || !cmd_op_str(c.op)[0])
        abort();
    switch (c.op) {
    case CMD_BIND:
    case CMD_UNBIND:
        if (!fp_device_id_valid(c.device, strlen(c.device)))
            abort();
        break;
    case CMD_SET_WHEEL:
        if (!fp_device_id_valid(c.device, strlen(c.device)) || !(c.wheel_m >= 0.5) ||
            !(c.wheel_m <= 4.0))
            abort();
        break;
    case CMD_SESSION_START:
        if (!fp_device_id_valid(c.device, strlen(c.device)) || !cmd_id_valid(c.session) ||
            c.idle_timeout_s < 5 || c.idle_timeout_s > 7200)
            abort();
        break;
    case CMD_SESSION_STOP:
        if (!cmd_id_valid(c.session))
            abort();
        break;
    case CMD_SCAN:
        if (c.seconds < 1 || c.seconds > 120)
            abort();
        break;
    case CMD_UPDATE: { /* the url becomes one argv word of fitgate-fw: printable, no spaces */
        size_t n = strlen(c.url);
        if (n == 0 || n > CMD_URL_MAX || strlen(c.sha256) != 64 || c.size < 1 ||
            (double)c.size > CMD_SIZE_MAX)
            abort();
        for (size_t i = 0; i < n; i++)
            if (c.url[i] <= 0x20 || c.url[i] >= 0x7f)
                abort();
        for (size_t i = 0; i < 64; i++)
            if (!strchr("0123456789abcdef", c.sha256[i]))
                abort();
        break;
    }
    default:
        break;
    }
    return 0;
}
