/* cfg.c - `key = value` files and --key=value flags (see fitcommon/cfg.h). */
#include "fitcommon/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/log.h"

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int key_valid(const char *k)
{
    if (!*k)
        return 0;
    for (; *k; k++) {
        if (!(islower((unsigned char)*k) || isdigit((unsigned char)*k) || strchr("_.-", *k)))
            return 0;
    }
    return 1;
}

int cfg_load_file(const char *path, cfg_fn fn, void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("config_open", "cannot open config file", "path", path, "error", strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        char where[64];
        snprintf(where, sizeof where, "%d", lineno);
        if (!eq) {
            log_error("config_syntax", "expected key = value", "path", path, "line", where);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!key_valid(key) || fn(ctx, key, value) != 0) {
            log_error("config_invalid", "invalid setting", "path", path, "line", where, "key", key);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

int cfg_load_args(int argc, char **argv, cfg_fn fn, void *ctx)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strncmp(a, "--", 2) != 0) {
            log_error("args_invalid", "expected --key=value", "arg", a);
            return -1;
        }
        char key[128];
        const char *value;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else if (i + 1 < argc) {
            snprintf(key, sizeof key, "%s", a + 2);
            value = argv[++i];
        } else {
            log_error("args_invalid", "flag needs a value", "arg", a);
            return -1;
        }
        /* Flags use dashes or underscores alike: --spool-path == spool_path. */
        for (char *p = key; *p; p++)
            if (*p == '-')
                *p = '_';
        if (!key_valid(key) || fn(ctx, key, value) != 0) {
            log_error("args_invalid", "invalid flag", "key", key);
            return -1;
        }
    }
    return 0;
}

int cfg_load(int argc, char **argv, cfg_fn fn, void *ctx)
{
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (!strncmp(argv[i], "--config=", 9))
            path = argv[i] + 9;
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            path = argv[i + 1];
        if (path && cfg_load_file(path, fn, ctx))
            return -1;
    }
    return cfg_load_args(argc, argv, fn, ctx);
}

int cfg_parse_int(const char *value, int64_t min, int64_t max, int64_t *out)
{
    errno = 0;
    char *end = NULL;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
