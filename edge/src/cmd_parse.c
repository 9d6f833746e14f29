/* cmd_parse.c - commands from the cloud (cmd_parse.h). */
#include "cmd_parse.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

static const char *const op_names[] = {
    [CMD_NONE] = "",
    [CMD_SCAN] = "scan",
    [CMD_BIND] = "bind",
    [CMD_UNBIND] = "unbind",
    [CMD_SET_WHEEL] = "set_wheel",
    [CMD_SESSION_START] = "session_start",
    [CMD_SESSION_STOP] = "session_stop",
    [CMD_SNAPSHOT] = "snapshot",
    [CMD_UPDATE] = "update",
};

const char *cmd_op_str(cmd_op op)
{
    return (unsigned)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : "";
}

const char *cmd_err_str(cmd_err e)
{
    switch (e) {
    case CMD_OK:
        return "ok";
    case CMD_E_MALFORMED:
        return "malformed";
    case CMD_E_VERSION:
        return "version";
    case CMD_E_UNKNOWN_OP:
        return "unknown_op";
    case CMD_E_BAD_ARGS:
        return "bad_args";
    }
    return "malformed";
}

bool cmd_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CMD_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != ':' && c != '-')))
            return false;
    }
    return true;
}

/* Every key of obj is one of allowed (NULL-terminated) and appears once. */
static bool keys_ok(const cJSON *obj, const char *const *allowed)
{
    for (const cJSON *a = obj->child; a; a = a->next) {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            known |= a->string && strcmp(a->string, allowed[i]) == 0;
        if (!known)
            return false;
        for (const cJSON *b = a->next; b; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return false;
    }
    return true;
}

static bool get_int(const cJSON *args, const char *key, double min, double max, uint32_t def,
                    uint32_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (!v) {
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max)
        return false;
    *out = (uint32_t)v->valuedouble;
    return true;
}

static bool get_id(const cJSON *args, const char *key, char *dst, size_t cap, bool device)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (!cJSON_IsString(v))
        return false;
    size_t n = strlen(v->valuestring);
    if (device ? !fp_device_id_valid(v->valuestring, n) : !cmd_id_valid(v->valuestring))
        return false;
    snprintf(dst, cap, "%s", v->valuestring);
    return true;
}

/* update: url, sha256, size - all required. */
static cmd_err parse_update(const cJSON *args, cmd *c, const char **why)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(args, "url");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(args, "sha256");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(args, "size");
    size_t ul = cJSON_IsString(u) ? strlen(u->valuestring) : 0;
    bool url_ok =
        ul > 0 && ul <= CMD_URL_MAX &&
        (strncmp(u->valuestring, "https://", 8) == 0 || strncmp(u->valuestring, "http://", 7) == 0);
    for (size_t i = 0; url_ok && i < ul; i++) /* printable ASCII, no spaces: an argv word */
        url_ok = u->valuestring[i] > 0x20 && u->valuestring[i] < 0x7f;
    if (!url_ok)
        return *why = "url must be an http(s) URL of at most 1024 printable chars", CMD_E_BAD_ARGS;
    bool hex_ok = cJSON_IsString(h) && strlen(h->valuestring) == 64;
    for (size_t i = 0; hex_ok && i < 64; i++) {
        char ch = h->valuestring[i];
        hex_ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
    }
    if (!hex_ok)
        return *why = "sha256 must be 64 lower-case hex digits", CMD_E_BAD_ARGS;
    if (!cJSON_IsNumber(n) || n->valuedouble != floor(n->valuedouble) || n->valuedouble < 1 ||
        n->valuedouble > CMD_SIZE_MAX)
        return *why = "size must be an integer 1..2^53-1", CMD_E_BAD_ARGS;
    memcpy(c->url, u->valuestring, ul + 1);
    memcpy(c->sha256, h->valuestring, 65);
    c->size = (uint64_t)n->valuedouble;
    return CMD_OK;
}

static cmd_err parse_args(const cJSON *args, cmd *c, const char **why)
{
    static const char *const k_none[] = {NULL};
    static const char *const k_scan[] = {"seconds", NULL};
    static const char *const k_dev[] = {"device", NULL};
    static const char *const k_wheel[] = {"device", "circumference_m", NULL};
    static const char *const k_start[] = {"device", "session", "idle_timeout_s", NULL};
    static const char *const k_stop[] = {"session", NULL};
    static const char *const k_update[] = {"url", "sha256", "size", NULL};
    const char *const *keys = c->op == CMD_UPDATE          ? k_update
                              : c->op == CMD_SCAN          ? k_scan
                              : c->op == CMD_SET_WHEEL     ? k_wheel
                              : c->op == CMD_SESSION_START ? k_start
                              : c->op == CMD_SESSION_STOP  ? k_stop
                              : c->op == CMD_SNAPSHOT      ? k_none
                                                           : k_dev;
    if (!keys_ok(args, keys))
        return *why = "unknown or repeated argument", CMD_E_BAD_ARGS;
    switch (c->op) {
    case CMD_SCAN:
        if (!get_int(args, "seconds", 1, 120, 10, &c->seconds))
            return *why = "seconds must be an integer 1..120", CMD_E_BAD_ARGS;
        return CMD_OK;
    case CMD_SNAPSHOT:
        return CMD_OK;
    case CMD_UPDATE:
        return parse_update(args, c, why);
    case CMD_SESSION_STOP:
        if (!get_id(args, "session", c->session, sizeof c->session, false))
            return *why = "session must be an id of 1..64 [A-Za-z0-9._:-]", CMD_E_BAD_ARGS;
        return CMD_OK;
    default:
        break;
    }
    if (!get_id(args, "device", c->device, sizeof c->device, true))
        return *why = "device must be a device id (e.g. AA:BB:CC:DD:EE:FF)", CMD_E_BAD_ARGS;
    if (c->op == CMD_SET_WHEEL) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(args, "circumference_m");
        /* 0.5 m (a folding bike's 12" wheel) .. 4 m (a fat bike is ~2.4 m). */
        if (!cJSON_IsNumber(w) || !(w->valuedouble >= 0.5 && w->valuedouble <= 4.0))
            return *why = "circumference_m must be a number 0.5..4.0", CMD_E_BAD_ARGS;
        c->wheel_m = w->valuedouble;
    } else if (c->op == CMD_SESSION_START) {
        if (!get_id(args, "session", c->session, sizeof c->session, false))
            return *why = "session must be an id of 1..64 [A-Za-z0-9._:-]", CMD_E_BAD_ARGS;
        if (!get_int(args, "idle_timeout_s", 5, 7200, 300, &c->idle_timeout_s))
            return *why = "idle_timeout_s must be an integer 5..7200", CMD_E_BAD_ARGS;
    }
    return CMD_OK;
}

cmd_err cmd_parse(const char *buf, size_t len, cmd *c, const char **why)
{
    static const char *const k_top[] = {"v", "id", "op", "args", NULL};
    memset(c, 0, sizeof *c);
    *why = "";
    if (len == 0 || len > CMD_BYTES_MAX)
        return *why = "empty or longer than 4096 bytes", CMD_E_MALFORMED;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return *why = "not a JSON object", CMD_E_MALFORMED;
    }
    cmd_err e = CMD_OK;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (cJSON_IsString(id) && cmd_id_valid(id->valuestring))
        snprintf(c->id, sizeof c->id, "%s", id->valuestring);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "args");
    if (cJSON_IsString(op))
        for (int i = CMD_SCAN; i <= CMD_UPDATE; i++)
            if (strcmp(op->valuestring, op_names[i]) == 0)
                c->op = (cmd_op)i;
    if (!c->id[0] || !keys_ok(root, k_top)) {
        e = CMD_E_MALFORMED;
        *why =
            !c->id[0] ? "id must be 1..64 chars of [A-Za-z0-9._:-]" : "unknown or repeated field";
    } else if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        e = CMD_E_VERSION;
        *why = "v must be 1";
    } else if (c->op == CMD_NONE) {
        e = CMD_E_UNKNOWN_OP;
        *why = "op is not one of scan, bind, unbind, set_wheel, session_start, session_stop, "
               "snapshot, update";
    } else if (args && !cJSON_IsObject(args)) {
        e = CMD_E_BAD_ARGS;
        *why = "args must be an object";
    } else {
        cJSON empty = {0};
        empty.type = cJSON_Object;
        e = parse_args(args ? args : &empty, c, why);
    }
    cJSON_Delete(root);
    return e;
}
