/* cmd_parse.h - the gateway's commands from the cloud (pure: no I/O).
 *
 * The cloud publishes one command per message on fit/v1/gw/<gw>/cmd:
 *   {"v":1,"id":"c-42","op":"bind","args":{"device":"AA:BB:CC:DD:EE:FF"}}
 * and the gateway answers on fit/v1/gw/<gw>/cmd/result:
 *   {"v":1,"id":"c-42","op":"bind","ok":true,"result":{...}}
 *   {"v":1,"id":"c-42","op":"bind","ok":false,"error":"bad_args","message":"..."}
 * docs/protocol.md ("Commands") lists every op and its args.
 *
 * cmd_parse() checks everything a handler relies on (ids, ranges, no unknown
 * or duplicate keys), so the handlers in cmd.c never see a bad argument.
 */
#ifndef FITGATE_CMD_PARSE_H
#define FITGATE_CMD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"

#define CMD_BYTES_MAX 4096 /* a command is small; anything longer is refused */
#define CMD_ID_MAX    64
#define CMD_URL_MAX   1024
#define CMD_SIZE_MAX  9007199254740991.0 /* 2^53 - 1: exact in JSON */

typedef enum cmd_op {
    CMD_NONE = 0,
    CMD_SCAN,
    CMD_BIND,
    CMD_UNBIND,
    CMD_SET_WHEEL,
    CMD_SESSION_START,
    CMD_SESSION_STOP,
    CMD_SNAPSHOT,
    CMD_UPDATE, /* last: the parser's op loop ends here */
} cmd_op;

typedef enum cmd_err {
    CMD_OK = 0,
    CMD_E_MALFORMED, /* not a JSON object, too long, or no usable id */
    CMD_E_VERSION,   /* v is not 1 */
    CMD_E_UNKNOWN_OP,
    CMD_E_BAD_ARGS, /* missing, unknown, duplicate, mistyped or out-of-range argument */
} cmd_err;

typedef struct cmd {
    char id[CMD_ID_MAX + 1]; /* "" when the message had no valid id */
    cmd_op op;
    char device[FP_DEVICE_MAX + 1];
    char session[CMD_ID_MAX + 1];
    double wheel_m;          /* set_wheel: circumference, m */
    uint32_t seconds;        /* scan: how long (default 10) */
    uint32_t idle_timeout_s; /* session_start (default 300) */
    /* update: the bundle's base URL (http(s)://, printable, no spaces) and
     * the size and sha256 (lower-case hex) of its manifest.json. */
    char url[CMD_URL_MAX + 1];
    char sha256[65];
    uint64_t size;
} cmd;

/* Parse buf[0..len). On error *why is a static sentence for the result's
 * message, and out->id/out->op are filled as far as they could be read. */
cmd_err cmd_parse(const char *buf, size_t len, cmd *out, const char **why);

const char *cmd_err_str(cmd_err e); /* "malformed", "version", "unknown_op", "bad_args" */
const char *cmd_op_str(cmd_op op);  /* "scan", ...; "" for CMD_NONE */

/* true for 1..64 chars of [A-Za-z0-9._:-] starting with a letter or digit. */
bool cmd_id_valid(const char *s);

#endif
