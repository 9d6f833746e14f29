/* bundle_manifest.c - the bundle manifest: strict parse, validation, JSON.
 * Pure (cJSON only) so the fuzz target can compile it alone. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bundle.h"

/* JSON numbers are doubles: integers above 2^53 lose precision. */
#define JSON_INT_MAX 9007199254740992.0

const char *bundle_err_str(bundle_err e)
{
    static const char *names[] = {"ok",       "io",       "signature", "manifest",  "expired",
                                  "hardware", "rollback", "image",     "extra-file"};
    return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "unknown";
}

const char *bundle_role_str(bundle_role r)
{
    return r == BUNDLE_ROLE_BOOT ? "boot" : "rootfs";
}

int bundle_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > BUNDLE_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-' && c != '+')
            return 0;
    }
    /* The bundle's own files cannot double as images. */
    return strcmp(name, "manifest.json") && strcmp(name, "manifest.sig") &&
           strcmp(name, "signer.pem");
}

int bundle_parse_time(const char *s, time_t *out)
{
    struct tm tm = {0};
    int n = 0;
    if (strlen(s) != 20 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 20)
        return -1;
    for (int i = 0; i < 20; i++) {
        int sep = i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19;
        if (!sep && !isdigit((unsigned char)s[i]))
            return -1;
    }
    if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        return -1;
    int y = tm.tm_year, mo = tm.tm_mon, d = tm.tm_mday;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    /* timegm normalises 31 Feb into March: refuse dates that moved. */
    if (t == (time_t)-1 || tm.tm_year + 1900 != y || tm.tm_mon + 1 != mo || tm.tm_mday != d)
        return -1;
    *out = t;
    return 0;
}

static int fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "manifest: %s", what);
    return -1;
}

/* Every key of obj must be in allowed (NULL-terminated) and appear once. */
static int keys_ok(const cJSON *obj, const char *const *allowed, char *err, size_t errlen)
{
    for (const cJSON *a = obj->child; a; a = a->next) {
        int known = 0;
        for (size_t i = 0; allowed[i]; i++)
            known |= a->string && !strcmp(a->string, allowed[i]);
        if (!known)
            return fail(err, errlen, "unknown key");
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(a->string, b->string))
                return fail(err, errlen, "duplicate key");
    }
    return 0;
}

static int get_uint(const cJSON *obj, const char *key, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > JSON_INT_MAX ||
        (double)(uint64_t)v->valuedouble != v->valuedouble)
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static const char *get_str(const cJSON *obj, const char *key, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) > max)
        return NULL;
    return v->valuestring;
}

static int parse_hex32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1; /* lower case only: one spelling per digest */
            v = v * 16 + (unsigned)d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int parse_image(const cJSON *o, bundle_image *img, char *err, size_t errlen)
{
    static const char *const keys[] = {"name", "role", "size", "sha256", NULL};
    if (!cJSON_IsObject(o))
        return fail(err, errlen, "image is not an object");
    if (keys_ok(o, keys, err, errlen))
        return -1;
    const char *name = get_str(o, "name", BUNDLE_NAME_MAX);
    const char *role = get_str(o, "role", 16);
    const char *hex = get_str(o, "sha256", 64);
    if (!name || !bundle_name_ok(name))
        return fail(err, errlen, "image name missing or not a plain file name");
    if (!role || (strcmp(role, "rootfs") && strcmp(role, "boot")))
        return fail(err, errlen, "image role must be rootfs or boot");
    if (get_uint(o, "size", &img->size))
        return fail(err, errlen, "image size must be a non-negative integer");
    if (!hex || parse_hex32(hex, img->sha256))
        return fail(err, errlen, "image sha256 must be 64 lower-case hex digits");
    memcpy(img->name, name, strlen(name) + 1);
    img->role = strcmp(role, "boot") ? BUNDLE_ROLE_ROOTFS : BUNDLE_ROLE_BOOT;
    return 0;
}

static int parse_images(const cJSON *arr, bundle_manifest *m, char *err, size_t errlen)
{
    if (!cJSON_IsArray(arr))
        return fail(err, errlen, "images must be an array");
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > BUNDLE_MAX_IMAGES)
        return fail(err, errlen, "images: 1 to 8 entries");
    m->n_images = 0;
    for (const cJSON *o = arr->child; o; o = o->next) {
        bundle_image *img = &m->images[m->n_images];
        if (parse_image(o, img, err, errlen))
            return -1;
        for (size_t i = 0; i < m->n_images; i++) {
            if (!strcmp(m->images[i].name, img->name))
                return fail(err, errlen, "duplicate image name");
            if (m->images[i].role == img->role)
                return fail(err, errlen, "duplicate image role");
        }
        m->n_images++;
    }
    return 0;
}

static int compat_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

static int parse_root(const cJSON *root, bundle_manifest *m, char *err, size_t errlen)
{
    static const char *const keys[] = {"format",  "compatible", "version",
                                       "expires", "images",     NULL};
    uint64_t fmt;
    if (!cJSON_IsObject(root))
        return fail(err, errlen, "not a JSON object");
    if (keys_ok(root, keys, err, errlen))
        return -1;
    if (get_uint(root, "format", &fmt) || fmt != BUNDLE_FORMAT)
        return fail(err, errlen, "format must be 1");
    m->format = (int)fmt;
    const char *compat = get_str(root, "compatible", BUNDLE_COMPAT_MAX);
    if (!compat || !compat_ok(compat))
        return fail(err, errlen, "compatible must be 1-64 of [A-Za-z0-9._-]");
    memcpy(m->compatible, compat, strlen(compat) + 1);
    if (get_uint(root, "version", &m->version))
        return fail(err, errlen, "version must be a non-negative integer");
    const char *exp = get_str(root, "expires", 32);
    if (!exp || bundle_parse_time(exp, &m->expires))
        return fail(err, errlen, "expires must be YYYY-MM-DDTHH:MM:SSZ");
    return parse_images(cJSON_GetObjectItemCaseSensitive(root, "images"), m, err, errlen);
}

bundle_err bundle_manifest_parse(const void *buf, size_t len, bundle_manifest *out, char *err,
                                 size_t errlen)
{
    const char *end = NULL;
    if (len == 0 || len > BUNDLE_MANIFEST_MAX || memchr(buf, '\0', len)) {
        fail(err, errlen, "empty, too large or holds a NUL byte");
        return BUNDLE_E_MANIFEST;
    }
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        fail(err, errlen, "not valid JSON");
        return BUNDLE_E_MANIFEST;
    }
    /* Only white space may follow the object. */
    for (const char *p = end; p < (const char *)buf + len; p++)
        if (!isspace((unsigned char)*p)) {
            cJSON_Delete(root);
            fail(err, errlen, "trailing data after the JSON object");
            return BUNDLE_E_MANIFEST;
        }
    memset(out, 0, sizeof(*out));
    int rc = parse_root(root, out, err, errlen);
    cJSON_Delete(root);
    return rc ? BUNDLE_E_MANIFEST : BUNDLE_OK;
}

char *bundle_manifest_json(const bundle_manifest *m)
{
    char expires[32], hex[65];
    struct tm tm;
    cJSON *root = cJSON_CreateObject(), *imgs = NULL;
    char *s = NULL;
    if (!root || !gmtime_r(&m->expires, &tm))
        goto out;
    strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!cJSON_AddNumberToObject(root, "format", m->format) ||
        !cJSON_AddStringToObject(root, "compatible", m->compatible) ||
        !cJSON_AddNumberToObject(root, "version", (double)m->version) ||
        !cJSON_AddStringToObject(root, "expires", expires) ||
        !(imgs = cJSON_AddArrayToObject(root, "images")))
        goto out;
    for (size_t i = 0; i < m->n_images; i++) {
        const bundle_image *img = &m->images[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            goto out;
        if (!cJSON_AddItemToArray(imgs, o)) {
            cJSON_Delete(o);
            goto out;
        }
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", img->sha256[k]);
        if (!cJSON_AddStringToObject(o, "name", img->name) ||
            !cJSON_AddStringToObject(o, "role", bundle_role_str(img->role)) ||
            !cJSON_AddNumberToObject(o, "size", (double)img->size) ||
            !cJSON_AddStringToObject(o, "sha256", hex))
            goto out;
    }
    s = cJSON_Print(root);
out:
    cJSON_Delete(root);
    return s;
}
