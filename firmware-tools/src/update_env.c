/* update_env.c - slots configuration, bootloader environment, updater state. */
#include "update.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fitcommon/cfg.h"
#include "fitcommon/fileio.h"
#include "fwfile.h"

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int copy(char *dst, size_t cap, const char *v)
{
    return (size_t)snprintf(dst, cap, "%s", v) < cap ? 0 : -1;
}

static int setting(void *ctx, const char *k, const char *v)
{
    upd_config *c = ctx;
    struct {
        const char *key;
        char *dst;
        size_t cap;
    } strs[] = {
        {"compatible", c->compatible, sizeof c->compatible},
        {"keyring", c->keyring, sizeof c->keyring},
        {"state_dir", c->state_dir, sizeof c->state_dir},
        {"bootloader", c->bootloader, sizeof c->bootloader},
        {"bootloader_env", c->bootloader_env, sizeof c->bootloader_env},
        {"booted_from", c->booted_from, sizeof c->booted_from},
        {"slot.a.rootfs", c->slot[0].rootfs, sizeof c->slot[0].rootfs},
        {"slot.b.rootfs", c->slot[1].rootfs, sizeof c->slot[1].rootfs},
        {"slot.a.boot", c->slot[0].boot, sizeof c->slot[0].boot},
        {"slot.b.boot", c->slot[1].boot, sizeof c->slot[1].boot},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!strcmp(k, strs[i].key))
            return copy(strs[i].dst, strs[i].cap, v);
    if (!strcmp(k, "attempts"))
        return cfg_parse_int(v, 1, 10, &c->attempts);
    return -1; /* an unknown key is an error, never silently ignored */
}

int upd_config_load(upd_config *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->attempts = 3;
    copy(c->bootloader, sizeof c->bootloader, "file");
    copy(c->booted_from, sizeof c->booted_from, "/proc/cmdline");
    if (cfg_load_file(path, setting, c))
        return fail(err, errlen, "slots config %s: unreadable or an unknown/invalid setting", path);
    if (!c->compatible[0] || !c->keyring[0] || !c->state_dir[0] || !c->slot[0].rootfs[0] ||
        !c->slot[1].rootfs[0])
        return fail(err, errlen,
                    "slots config %s needs compatible, keyring, state_dir, slot.a.rootfs and "
                    "slot.b.rootfs",
                    path);
    if (strcmp(c->bootloader, "file") && strcmp(c->bootloader, "uboot") &&
        strcmp(c->bootloader, "grub"))
        return fail(err, errlen, "bootloader must be file, uboot or grub");
    if (strcmp(c->bootloader, "uboot") && !c->bootloader_env[0])
        return fail(err, errlen, "bootloader = %s needs bootloader_env", c->bootloader);
    return 0;
}

static void env_default(const upd_config *c, upd_env *e)
{
    copy(e->order, sizeof e->order, "AB");
    for (int i = 0; i < UPD_SLOTS; i++)
        e->left[i] = c->attempts;
}

/* BOOT_ORDER is "A B" (space-separated slot names, as RAUC writes it). */
static int env_apply(upd_env *e, const char *k, const char *v)
{
    if (!strcmp(k, "BOOT_ORDER")) {
        size_t n = 0;
        for (const char *p = v; *p; p++) {
            if (*p == ' ')
                continue;
            if ((*p != 'A' && *p != 'B') || n >= UPD_SLOTS || (n && e->order[0] == *p))
                return -1;
            e->order[n++] = *p;
        }
        e->order[n] = '\0';
        return 0;
    }
    for (int i = 0; i < UPD_SLOTS; i++) {
        char key[16];
        snprintf(key, sizeof key, "BOOT_%c_LEFT", 'A' + i);
        if (!strcmp(k, key)) {
            char *end = NULL;
            long long n = strtoll(v, &end, 10);
            if (end == v || *end || n < 0 || n > 100)
                return -1;
            e->left[i] = n;
            return 0;
        }
    }
    return 0; /* other bootloader variables are not ours */
}

static int parse_lines(upd_env *e, char *text)
{
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (env_apply(e, line, eq + 1))
            return -1;
    }
    return 0;
}

int upd_env_read(const upd_config *c, upd_env *e, char *err, size_t errlen)
{
    env_default(c, e);
    char buf[4096];
    if (!strcmp(c->bootloader, "uboot")) {
        char *argv[] = {"fw_printenv", "BOOT_ORDER", "BOOT_A_LEFT", "BOOT_B_LEFT", NULL};
        /* fw_printenv fails for unset variables: then the defaults stand. */
        if (fw_spawn(argv, buf, sizeof buf, 0) < 0)
            return fail(err, errlen, "fw_printenv could not run");
        return parse_lines(e, buf) ? fail(err, errlen, "bad BOOT_* values from fw_printenv") : 0;
    }
    if (!strcmp(c->bootloader, "grub")) {
        char *argv[] = {"grub-editenv", (char *)c->bootloader_env, "list", NULL};
        int rc = fw_spawn(argv, buf, sizeof buf, 0);
        if (rc != 0 && access(c->bootloader_env, F_OK) == 0)
            return fail(err, errlen, "grub-editenv %s list failed", c->bootloader_env);
        if (rc != 0)
            buf[0] = '\0'; /* no grubenv yet: the defaults stand */
        return parse_lines(e, buf) ? fail(err, errlen, "bad BOOT_* values in %s", c->bootloader_env)
                                   : 0;
    }
    FILE *f = fopen(c->bootloader_env, "r");
    if (!f)
        return errno == ENOENT ? 0
                               : fail(err, errlen, "%s: %s", c->bootloader_env, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return parse_lines(e, buf) ? fail(err, errlen, "%s: bad BOOT_* values", c->bootloader_env) : 0;
}

int upd_env_write(const upd_config *c, const upd_env *e, char *err, size_t errlen)
{
    char text[256];
    char order[2 * UPD_SLOTS + 1] = "";
    for (size_t i = 0; e->order[i]; i++) {
        size_t l = strlen(order);
        snprintf(order + l, sizeof order - l, "%s%c", i ? " " : "", e->order[i]);
    }
    int n = snprintf(text, sizeof text, "BOOT_ORDER=%s\nBOOT_A_LEFT=%lld\nBOOT_B_LEFT=%lld\n",
                     order, (long long)e->left[0], (long long)e->left[1]);
    if (!strcmp(c->bootloader, "uboot")) {
        /* fw_setenv -s FILE sets all variables in one environment write
         * (libubootenv keeps a redundant copy, so it is power-safe). Its
         * script format is "NAME VALUE" per line. */
        char script[] = "/tmp/fitgate-fwenv-XXXXXX", body[256];
        int fd = mkstemp(script);
        int m = snprintf(body, sizeof body, "BOOT_ORDER %s\nBOOT_A_LEFT %lld\nBOOT_B_LEFT %lld\n",
                         order, (long long)e->left[0], (long long)e->left[1]);
        int ok = fd >= 0 && write(fd, body, (size_t)m) == m;
        if (fd >= 0)
            close(fd);
        char *argv[] = {"fw_setenv", "-s", script, NULL}, out[256];
        int rc = ok ? fw_spawn(argv, out, sizeof out, 0) : -1;
        unlink(script);
        return rc == 0 ? 0 : fail(err, errlen, "fw_setenv failed");
    }
    if (!strcmp(c->bootloader, "grub")) {
        /* One grub-editenv call sets all three (it rewrites the 1 KiB
         * environment block through a new file and a rename). */
        char v_order[32], v_a[32], v_b[32], out[256];
        snprintf(v_order, sizeof v_order, "BOOT_ORDER=%s", order);
        snprintf(v_a, sizeof v_a, "BOOT_A_LEFT=%lld", (long long)e->left[0]);
        snprintf(v_b, sizeof v_b, "BOOT_B_LEFT=%lld", (long long)e->left[1]);
        char *argv[] = {"grub-editenv", (char *)c->bootloader_env, "set", v_order, v_a, v_b, NULL};
        return fw_spawn(argv, out, sizeof out, 0) == 0
                   ? 0
                   : fail(err, errlen, "grub-editenv set failed");
    }
    if (file_write_atomic(c->bootloader_env, text, (size_t)n, 0644))
        return fail(err, errlen, "cannot write %s: %s", c->bootloader_env, strerror(errno));
    return 0;
}

static const char *status_names[] = {"empty", "installing", "installed", "good", "bad"};

const char *upd_status_str(upd_status s)
{
    return (unsigned)s < sizeof status_names / sizeof status_names[0] ? status_names[s] : "?";
}

static void state_path(const upd_config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s/state.json", c->state_dir);
}

int upd_state_read(const upd_config *c, upd_state *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    char path[1100], buf[4096];
    state_path(c, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : fail(err, errlen, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(j, "floor");
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(j, "slots");
    int rc = cJSON_IsNumber(fl) && fl->valuedouble >= 0 && cJSON_IsObject(slots) ? 0 : -1;
    if (!rc)
        s->floor = (uint64_t)fl->valuedouble;
    for (int i = 0; !rc && i < UPD_SLOTS; i++) {
        char name[2] = {(char)('A' + i), 0};
        const cJSON *sl = cJSON_GetObjectItemCaseSensitive(slots, name);
        if (!sl)
            continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(sl, "version");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(sl, "status");
        rc = cJSON_IsNumber(v) && v->valuedouble >= 0 && cJSON_IsString(st) ? 0 : -1;
        if (rc)
            break;
        s->version[i] = (uint64_t)v->valuedouble;
        rc = -1;
        for (size_t k = 0; k < sizeof status_names / sizeof status_names[0]; k++)
            if (!strcmp(st->valuestring, status_names[k])) {
                s->status[i] = (upd_status)k;
                rc = 0;
            }
    }
    cJSON_Delete(j);
    return rc ? fail(err, errlen, "%s is corrupt", path) : 0;
}

int upd_state_write(const upd_config *c, const upd_state *s, char *err, size_t errlen)
{
    char path[1100], text[512];
    state_path(c, path, sizeof path);
    if (mkdir(c->state_dir, 0700) && errno != EEXIST)
        return fail(err, errlen, "mkdir %s: %s", c->state_dir, strerror(errno));
    int n = snprintf(text, sizeof text,
                     "{\"floor\":%llu,\"slots\":{\"A\":{\"version\":%llu,\"status\":\"%s\"},"
                     "\"B\":{\"version\":%llu,\"status\":\"%s\"}}}\n",
                     (unsigned long long)s->floor, (unsigned long long)s->version[0],
                     upd_status_str(s->status[0]), (unsigned long long)s->version[1],
                     upd_status_str(s->status[1]));
    if (file_write_atomic(path, text, (size_t)n, 0600))
        return fail(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int upd_booted_slot(const upd_config *c)
{
    FILE *f = fopen(c->booted_from, "r");
    if (!f)
        return -1;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (char *p = buf; (p = strstr(p, "fitgate.slot=")); p++)
        if ((p == buf || p[-1] == ' ') && (p[13] == 'A' || p[13] == 'B') &&
            (p[14] == '\0' || p[14] == ' ' || p[14] == '\n'))
            return p[13] - 'A';
    return -1;
}
