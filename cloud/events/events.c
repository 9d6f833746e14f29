/* events.c - readings events (see events.h). */
#include "events.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A reading encodes to well under 1 KiB (FP_VALUES_MAX numbers). */
#define READING_JSON_MAX 1024

static void iso_now(char *buf, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

fp_status evt_readings_encode(const char *gateway, uint64_t epoch, const fp_reading *r, size_t n,
                              char **out, size_t *len)
{
    *out = NULL;
    if (n == 0 || n > FP_BATCH_MAX)
        return FP_ERR_LIMIT;
    char head[512], now[64];
    iso_now(now, sizeof now);
    int hl = snprintf(head, sizeof head,
                      "{\"specversion\":\"1.0\",\"id\":\"%s/%016" PRIx64 "/%" PRIu64 "\","
                      "\"source\":\"fitgate-core/ingest\",\"type\":\"" EVT_TYPE_READINGS "\","
                      "\"subject\":\"%s\",\"time\":\"%s\",\"datacontenttype\":"
                      "\"application/json\",\"data\":",
                      gateway, epoch, r[0].seq, gateway, now);
    size_t cap = (size_t)hl + 256 + n * READING_JSON_MAX;
    char *buf = malloc(cap);
    if (!buf)
        return FP_ERR_NOMEM;
    memcpy(buf, head, (size_t)hl);
    fp_batch_writer w;
    fp_batch_begin(&w, buf + hl, cap - (size_t)hl - 2, gateway, epoch, r[0].seq, r[0].seq);
    char one[READING_JSON_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t l = 0;
        fp_status st = fp_reading_encode(&r[i], one, sizeof one, &l);
        if (st != FP_OK || r[i].seq != r[0].seq + i) {
            free(buf);
            return st != FP_OK ? st : FP_ERR_RANGE;
        }
        fp_batch_append_raw(&w, one, l);
    }
    size_t dl = 0;
    fp_status st = fp_batch_end(&w, &dl);
    if (st != FP_OK) {
        free(buf);
        return st;
    }
    size_t total = (size_t)hl + dl;
    buf[total++] = '}';
    buf[total] = '\0';
    *out = buf;
    *len = total;
    return FP_OK;
}

static int str_is(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

fp_status evt_readings_decode(const void *buf, size_t len, fp_batch *b)
{
    memset(b, 0, sizeof *b);
    if (len > 2 * FP_MSG_BYTES_MAX)
        return FP_ERR_LIMIT;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!root)
        return FP_ERR_SYNTAX;
    fp_status st = FP_ERR_SYNTAX;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (!str_is(root, "specversion", "1.0") || !str_is(root, "type", EVT_TYPE_READINGS) ||
        !cJSON_IsObject(data) || !cJSON_IsString(id))
        goto out;
    /* The batch codec owns the data's validation; hand it the data's text. */
    char *text = cJSON_PrintUnformatted(data);
    if (!text) {
        st = FP_ERR_NOMEM;
        goto out;
    }
    st = fp_batch_decode(text, strlen(text), b);
    free(text);
    if (st == FP_OK) {
        char want[160];
        snprintf(want, sizeof want, "%s/%016" PRIx64 "/%" PRIu64, b->gateway, b->epoch, b->seq);
        if (strcmp(want, id->valuestring) != 0) {
            fp_batch_free(b);
            st = FP_ERR_RANGE;
        }
    }
out:
    cJSON_Delete(root);
    return st;
}

/* ---- business events ---- */

int evt_encode(const char *id, const char *type, const char *source, const char *subject,
               const cJSON *data, char **out, size_t *len)
{
    *out = NULL;
    if (!id || !type || !source || !cJSON_IsObject(data))
        return -1;
    char now[64];
    iso_now(now, sizeof now);
    cJSON *o = cJSON_CreateObject();
    cJSON *d = cJSON_Duplicate(data, 1);
    if (!o || !d) {
        cJSON_Delete(o);
        cJSON_Delete(d);
        return -1;
    }
    cJSON_AddStringToObject(o, "specversion", "1.0");
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "source", source);
    cJSON_AddStringToObject(o, "type", type);
    if (subject)
        cJSON_AddStringToObject(o, "subject", subject);
    cJSON_AddStringToObject(o, "time", now);
    cJSON_AddStringToObject(o, "datacontenttype", "application/json");
    cJSON_AddItemToObject(o, "data", d);
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!*out)
        return -1;
    if (len)
        *len = strlen(*out);
    return 0;
}

static int copy_str(const cJSON *o, const char *key, char *dst, size_t cap, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        return required ? -1 : 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return -1;
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

int evt_decode(const void *buf, size_t len, evt *out)
{
    memset(out, 0, sizeof *out);
    if (len > 4 * FP_MSG_BYTES_MAX)
        return -1;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!cJSON_IsObject(root) || !str_is(root, "specversion", "1.0") ||
        copy_str(root, "id", out->id, sizeof out->id, 1) ||
        copy_str(root, "type", out->type, sizeof out->type, 1) ||
        copy_str(root, "source", out->source, sizeof out->source, 1) ||
        copy_str(root, "subject", out->subject, sizeof out->subject, 0) ||
        copy_str(root, "time", out->time, sizeof out->time, 0) || !out->id[0] || !out->type[0]) {
        cJSON_Delete(root);
        return -1;
    }
    cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(root, "data");
    cJSON_Delete(root);
    if (!cJSON_IsObject(data)) {
        cJSON_Delete(data);
        return -1;
    }
    out->data = data;
    return 0;
}

void evt_free(evt *e)
{
    if (e) {
        cJSON_Delete(e->data);
        e->data = NULL;
    }
}
