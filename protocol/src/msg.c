/* msg.c - JSON codec for readings, batches, acks and gateway state.
 *
 * Decoding goes through cJSON and is strict (see msg.h and docs/protocol.md).
 * Encoding never uses cJSON: the edge encodes tens of thousands of readings a
 * second, so readings are written by hand into the caller's buffer. This is
 * safe without escaping because every string we write is validated against a
 * charset that needs none (ids, kind names, state names, sw versions).
 */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fitproto/msg.h"

/* Same window as fp_reading_validate(): [2000-01-01, 2100-01-01) in ms. The
 * state message allows earlier times down to 0: gateways without an RTC boot
 * in 1970 and still announce themselves. */
#define TS_MAX_MS 4102444800000LL

/* ------------------------------------------------------------------------ */
/* Decoding helpers                                                          */

/* Parse exactly json[0..len) as one JSON object; nothing but whitespace may
 * follow it. On FP_OK the caller owns *root. */
static fp_status parse_object(const char *json, size_t len, cJSON **root)
{
    *root = NULL;
    if (json == NULL || len == 0)
        return FP_ERR_SYNTAX;
    if (len > FP_MSG_BYTES_MAX)
        return FP_ERR_LIMIT;
    /* cJSON turns "\u0000" into a NUL that silently truncates the string it
     * is in ("dev":"a\u0000b" would read as "a"). None of our strings may
     * contain it, so refuse the escape outright. */
    if (memmem(json, len, "\\u0000", 6) != NULL)
        return FP_ERR_SYNTAX;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (doc == NULL)
        return FP_ERR_SYNTAX;
    for (const char *p = end; p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(doc);
            return FP_ERR_SYNTAX;
        }
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return FP_ERR_SYNTAX;
    }
    *root = doc;
    return FP_OK;
}

/* Match the members of obj against a fixed list of names. found[i] gets the
 * member called names[i] (or NULL). Returns FP_ERR_UNKNOWN / FP_ERR_DUPLICATE
 * for the first unexpected member, but fills found[] completely first so the
 * caller can check the version before complaining about unknown fields (a
 * newer version may legitimately add fields). */
static fp_status match_fields(const cJSON *obj, const char *const *names, size_t n,
                              const cJSON **found)
{
    fp_status rc = FP_OK;
    for (size_t i = 0; i < n; i++)
        found[i] = NULL;
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        size_t i = 0;
        while (i < n && strcmp(c->string, names[i]) != 0)
            i++;
        if (i == n) {
            if (rc == FP_OK)
                rc = FP_ERR_UNKNOWN;
        } else if (found[i] != NULL) {
            if (rc == FP_OK)
                rc = FP_ERR_DUPLICATE;
        } else {
            found[i] = c;
        }
    }
    return rc;
}

/* An integer-valued JSON number in [min, max]. Bounds must be exactly
 * representable as doubles (all of ours are below 2^53). */
static fp_status get_int(const cJSON *item, int64_t min, int64_t max, int64_t *out)
{
    if (item == NULL)
        return FP_ERR_MISSING;
    if (!cJSON_IsNumber(item))
        return FP_ERR_TYPE;
    double d = item->valuedouble;
    if (!isfinite(d))
        return FP_ERR_RANGE;
    if (d != floor(d))
        return FP_ERR_TYPE;
    if (d < (double)min || d > (double)max)
        return FP_ERR_RANGE;
    *out = (int64_t)d;
    return FP_OK;
}

static fp_status get_u64(const cJSON *item, uint64_t min, uint64_t max, uint64_t *out)
{
    int64_t v;
    fp_status rc = get_int(item, (int64_t)min, (int64_t)max, &v);
    if (rc == FP_OK)
        *out = (uint64_t)v;
    return rc;
}

/* Version first: a message from a newer protocol is FP_ERR_VERSION even when
 * it has fields we do not know. */
static fp_status check_version(const cJSON *v)
{
    int64_t ver;
    fp_status rc = get_int(v, INT32_MIN, INT32_MAX, &ver);
    if (rc == FP_ERR_RANGE || (rc == FP_OK && ver != FP_PROTO_VERSION))
        return FP_ERR_VERSION;
    return rc;
}

/* String item whose content passes `valid`; copied into out (cap bytes). */
static fp_status get_id(const cJSON *item, bool (*valid)(const char *, size_t), char *out,
                        size_t cap)
{
    if (item == NULL)
        return FP_ERR_MISSING;
    if (!cJSON_IsString(item))
        return FP_ERR_TYPE;
    size_t len = strlen(item->valuestring);
    if (len >= cap || !valid(item->valuestring, len))
        return FP_ERR_RANGE;
    memcpy(out, item->valuestring, len + 1);
    return FP_OK;
}

static bool epoch_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return false;
        if (i >= 16)
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    if (i != 16)
        return false;
    *out = v;
    return true;
}

static fp_status get_epoch(const cJSON *item, uint64_t *out)
{
    if (item == NULL)
        return FP_ERR_MISSING;
    if (!cJSON_IsString(item))
        return FP_ERR_TYPE;
    return epoch_parse(item->valuestring, out) ? FP_OK : FP_ERR_RANGE;
}

/* Software version: 0..FP_SW_MAX chars of [A-Za-z0-9._+~-] (semver and
 * Debian versions fit; nothing that needs JSON escaping). */
static bool sw_valid(const char *s, size_t len)
{
    if (len > FP_SW_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '+' || c == '~';
        if (!ok)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Readings                                                                  */

/* One member of a reading's "v" object. Repeatable quantities are always
 * arrays (even of one), the others always plain numbers. */
static fp_status decode_value(const cJSON *item, fp_reading *out)
{
    fp_quantity q;
    if (fp_quantity_by_name(item->string, strlen(item->string), &q))
        return FP_ERR_UNKNOWN;
    const fp_quantity_info *qi = fp_quantity_get(q);
    if (!qi->repeatable) {
        if (!cJSON_IsNumber(item))
            return FP_ERR_TYPE;
        return fp_reading_add(out, q, item->valuedouble);
    }
    if (!cJSON_IsArray(item))
        return FP_ERR_TYPE;
    if (item->child == NULL)
        return FP_ERR_RANGE; /* an empty array says nothing: never encoded */
    for (const cJSON *e = item->child; e != NULL; e = e->next) {
        if (!cJSON_IsNumber(e))
            return FP_ERR_TYPE;
        fp_status rc = fp_reading_add(out, q, e->valuedouble);
        if (rc)
            return rc;
    }
    return FP_OK;
}

static const char *const reading_fields[] = {"dev", "kind", "ts", "v"};
enum { RF_DEV, RF_KIND, RF_TS, RF_V, RF__N };

static fp_status decode_reading_obj(const cJSON *obj, fp_reading *out)
{
    const cJSON *f[RF__N];
    fp_status rc;

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(obj))
        return FP_ERR_TYPE;
    rc = match_fields(obj, reading_fields, RF__N, f);
    if (rc)
        return rc;
    if ((rc = get_id(f[RF_DEV], fp_device_id_valid, out->device, sizeof(out->device))))
        return rc;

    if (f[RF_KIND] == NULL)
        return FP_ERR_MISSING;
    if (!cJSON_IsString(f[RF_KIND]))
        return FP_ERR_TYPE;
    const char *kind = f[RF_KIND]->valuestring;
    if (fp_kind_by_name(kind, strlen(kind), &out->kind))
        return FP_ERR_UNKNOWN;

    if ((rc = get_int(f[RF_TS], -(int64_t)FP_SEQ_MAX, (int64_t)FP_SEQ_MAX, &out->ts_ms)))
        return rc;

    if (f[RF_V] == NULL)
        return FP_ERR_MISSING;
    if (!cJSON_IsObject(f[RF_V]))
        return FP_ERR_TYPE;
    uint64_t seen = 0; /* bit per fp_quantity (< 64) */
    for (const cJSON *c = f[RF_V]->child; c != NULL; c = c->next) {
        fp_quantity q;
        /* Detect repeated keys here: a repeatable quantity given twice as two
         * arrays would otherwise be merged silently. */
        if (fp_quantity_by_name(c->string, strlen(c->string), &q) == FP_OK) {
            if (seen & (UINT64_C(1) << q))
                return FP_ERR_DUPLICATE;
            seen |= UINT64_C(1) << q;
        }
        if ((rc = decode_value(c, out)))
            return rc;
    }
    return fp_reading_validate(out);
}

fp_status fp_reading_decode(const char *json, size_t len, fp_reading *out)
{
    cJSON *root;
    memset(out, 0, sizeof(*out));
    fp_status rc = parse_object(json, len, &root);
    if (rc)
        return rc;
    rc = decode_reading_obj(root, out);
    cJSON_Delete(root);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* Bounded output cursor: writes stop at the first overflow, which is then
 * reported once at the end instead of after every call. */
typedef struct out_buf {
    char *p;
    size_t cap, len;
    bool overflow;
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

/* Decimal digits of v into end-backwards buffer; returns the start. */
static char *u64_digits(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

static void put_i64(out_buf *o, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp);
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *s = u64_digits(mag, end);
    if (v < 0)
        *--s = '-';
    put(o, s, (size_t)(end - s));
}

/* Shortest of %.15g and %.17g that reads back as the same double. Integral
 * values (heart rate, energy, battery, contact) skip printf entirely. */
static void put_double(out_buf *o, double v)
{
    assert(isfinite(v));
    if (v == trunc(v) && fabs(v) < 9007199254740992.0) {
        put_i64(o, (int64_t)v); /* also turns -0.0 into "0" */
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    put(o, tmp, (size_t)n);
}

fp_status fp_reading_encode(const fp_reading *r, char *buf, size_t cap, size_t *len)
{
    /* Validation is what makes the unescaped output below valid JSON (and
     * guarantees that whatever we encode, fp_reading_decode accepts). */
    fp_status rc = fp_reading_validate(r);
    if (rc)
        return rc;
    if (buf == NULL || cap == 0)
        return FP_ERR_LIMIT;

    out_buf o = {buf, cap - 1, 0, false}; /* keep room for the NUL */
    PUT_LIT(&o, "{\"dev\":\"");
    put(&o, r->device, strlen(r->device));
    PUT_LIT(&o, "\",\"kind\":\"");
    const char *kind = fp_kind_name(r->kind);
    put(&o, kind, strlen(kind));
    PUT_LIT(&o, "\",\"ts\":");
    put_i64(&o, r->ts_ms);
    PUT_LIT(&o, ",\"v\":{");

    /* Quantities in order of first appearance; a repeatable quantity gathers
     * all its values into one array at its first appearance. Decoding yields
     * exactly this order back, so encode(decode(encode(r))) is stable. */
    uint64_t done = 0; /* bit per fp_quantity (< 64) */
    bool first = true;
    for (uint16_t i = 0; i < r->nvalues; i++) {
        fp_quantity q = r->values[i].q;
        if (done & (UINT64_C(1) << q))
            continue;
        done |= UINT64_C(1) << q;
        const fp_quantity_info *qi = fp_quantity_get(q);
        if (!first)
            PUT_LIT(&o, ",");
        first = false;
        PUT_LIT(&o, "\"");
        put(&o, qi->name, strlen(qi->name));
        PUT_LIT(&o, "\":");
        if (!qi->repeatable) {
            put_double(&o, r->values[i].v);
            continue;
        }
        PUT_LIT(&o, "[");
        for (uint16_t j = i; j < r->nvalues; j++) {
            if (r->values[j].q != q)
                continue;
            if (j != i)
                PUT_LIT(&o, ",");
            put_double(&o, r->values[j].v);
        }
        PUT_LIT(&o, "]");
    }
    PUT_LIT(&o, "}}");
    if (o.overflow)
        return FP_ERR_LIMIT;
    buf[o.len] = '\0';
    if (len)
        *len = o.len;
    return FP_OK;
}

/* ------------------------------------------------------------------------ */
/* Batches                                                                   */

static const char *const batch_fields[] = {"v", "gw", "epoch", "seq", "floor", "readings"};
enum { BF_V, BF_GW, BF_EPOCH, BF_SEQ, BF_FLOOR, BF_READINGS, BF__N };

/* Envelope checks; fills everything in *out except the readings. */
static fp_status decode_batch_envelope(const cJSON *root, fp_batch *out, const cJSON **readings)
{
    const cJSON *f[BF__N];
    fp_status fields_rc = match_fields(root, batch_fields, BF__N, f);
    fp_status rc = check_version(f[BF_V]);
    if (rc)
        return rc;
    if (fields_rc)
        return fields_rc;
    if ((rc = get_id(f[BF_GW], fp_gateway_id_valid, out->gateway, sizeof(out->gateway))))
        return rc;
    if ((rc = get_epoch(f[BF_EPOCH], &out->epoch)))
        return rc;
    if ((rc = get_u64(f[BF_SEQ], 1, FP_SEQ_MAX, &out->seq)))
        return rc;
    if ((rc = get_u64(f[BF_FLOOR], 1, FP_SEQ_MAX, &out->floor)))
        return rc;
    if (out->floor > out->seq)
        return FP_ERR_RANGE;

    const cJSON *arr = f[BF_READINGS];
    if (arr == NULL)
        return FP_ERR_MISSING;
    if (!cJSON_IsArray(arr))
        return FP_ERR_TYPE;
    size_t n = 0;
    for (const cJSON *e = arr->child; e != NULL; e = e->next) {
        if (++n > FP_BATCH_MAX)
            return FP_ERR_LIMIT;
    }
    if (n == 0)
        return FP_ERR_RANGE;
    if (out->seq > FP_SEQ_MAX - (n - 1))
        return FP_ERR_RANGE; /* the last reading's seq would pass FP_SEQ_MAX */
    out->total = n;
    *readings = arr;
    return FP_OK;
}

fp_status fp_batch_decode(const char *json, size_t len, fp_batch *out)
{
    cJSON *root;
    const cJSON *arr = NULL;
    memset(out, 0, sizeof(*out));
    fp_status rc = parse_object(json, len, &root);
    if (rc)
        return rc;
    rc = decode_batch_envelope(root, out, &arr);
    if (rc)
        goto fail;
    out->readings = calloc(out->total, sizeof(*out->readings));
    if (out->readings == NULL) {
        rc = FP_ERR_NOMEM;
        goto fail;
    }
    /* A bad reading costs only itself; the good ones keep the seq of their
     * position in the array so the gateway's numbering stays intact. */
    size_t i = 0;
    for (const cJSON *e = arr->child; e != NULL; e = e->next, i++) {
        fp_reading *r = &out->readings[out->count];
        fp_status rrc = decode_reading_obj(e, r);
        if (rrc) {
            if (out->rejected++ == 0)
                out->first_error = rrc;
            memset(r, 0, sizeof(*r));
            continue;
        }
        r->seq = out->seq + i;
        out->count++;
    }
    cJSON_Delete(root);
    return FP_OK;

fail:
    cJSON_Delete(root);
    fp_batch_free(out);
    return rc;
}

void fp_batch_free(fp_batch *b)
{
    if (b == NULL)
        return;
    free(b->readings);
    memset(b, 0, sizeof(*b));
}

/* Room kept at the end of the buffer for "]}" and the NUL. */
#define BATCH_TAIL 3

void fp_batch_begin(fp_batch_writer *w, char *buf, size_t cap, const char *gateway, uint64_t epoch,
                    uint64_t seq, uint64_t floor)
{
    memset(w, 0, sizeof(*w));
    w->buf = buf;
    /* Never produce a message the decoder would refuse as oversize. */
    w->cap = cap < FP_MSG_BYTES_MAX + 1 ? cap : FP_MSG_BYTES_MAX + 1;
    if (buf == NULL || w->cap < BATCH_TAIL) {
        w->err = FP_ERR_LIMIT;
        return;
    }
    size_t gwlen = gateway ? strnlen(gateway, FP_GATEWAY_MAX + 1) : 0;
    if (!fp_gateway_id_valid(gateway, gwlen) || seq < 1 || seq > FP_SEQ_MAX || floor < 1 ||
        floor > seq) {
        w->err = FP_ERR_RANGE;
        return;
    }
    int n = snprintf(buf, w->cap - BATCH_TAIL + 1,
                     "{\"v\":%d,\"gw\":\"%s\",\"epoch\":\"%016" PRIx64 "\",\"seq\":%" PRIu64
                     ",\"floor\":%" PRIu64 ",\"readings\":[",
                     FP_PROTO_VERSION, gateway, epoch, seq, floor);
    if (n < 0 || (size_t)n > w->cap - BATCH_TAIL) {
        w->err = FP_ERR_LIMIT;
        return;
    }
    w->len = (size_t)n;
}

void fp_batch_append_raw(fp_batch_writer *w, const char *reading_json, size_t len)
{
    if (w->err)
        return;
    if (w->count >= FP_BATCH_MAX) {
        w->err = FP_ERR_LIMIT;
        return;
    }
    /* Cheap shape check only: the caller promises fp_reading_encode() output. */
    if (reading_json == NULL || len < 2 || reading_json[0] != '{' || reading_json[len - 1] != '}') {
        w->err = FP_ERR_SYNTAX;
        return;
    }
    size_t sep = w->count ? 1 : 0;
    if (sep + len > w->cap - BATCH_TAIL - w->len) {
        w->err = FP_ERR_LIMIT;
        return;
    }
    if (sep)
        w->buf[w->len++] = ',';
    memcpy(w->buf + w->len, reading_json, len);
    w->len += len;
    w->count++;
}

/* The writer struct has no room for seq, so read it back from the header
 * fp_batch_begin() wrote: {"v":1,"gw":"<gw>","epoch":"<16>","seq":<seq>, */
static uint64_t writer_seq(const fp_batch_writer *w)
{
    const char *p = strstr(w->buf, "\",\"seq\":");
    return p ? strtoull(p + 8, NULL, 10) : 0;
}

fp_status fp_batch_end(fp_batch_writer *w, size_t *len)
{
    if (len)
        *len = 0;
    if (w->err)
        return w->err;
    if (w->count == 0)
        return w->err = FP_ERR_RANGE;
    /* The buffer holds only the header and readings, and neither the gateway
     * id nor a reading contains '"' followed by ',"seq":' ahead of the real
     * one, so strstr finds the header's field. Terminate first for strstr. */
    w->buf[w->len] = '\0';
    if (writer_seq(w) > FP_SEQ_MAX - (w->count - 1))
        return w->err = FP_ERR_RANGE;
    memcpy(w->buf + w->len, "]}", 3);
    w->len += 2;
    if (len)
        *len = w->len;
    return FP_OK;
}

/* ------------------------------------------------------------------------ */
/* Acks                                                                      */

static const char *const ack_fields[] = {"v", "gw", "epoch", "seq", "rejected"};
enum { AF_V, AF_GW, AF_EPOCH, AF_SEQ, AF_REJECTED, AF__N };

fp_status fp_ack_encode(const fp_ack *a, char *buf, size_t cap, size_t *len)
{
    size_t gwlen = strnlen(a->gateway, sizeof(a->gateway));
    if (!fp_gateway_id_valid(a->gateway, gwlen) || a->seq < 1 || a->seq > FP_SEQ_MAX ||
        a->rejected > FP_SEQ_MAX)
        return FP_ERR_RANGE;
    if (buf == NULL)
        return FP_ERR_LIMIT;
    int n = snprintf(buf, cap,
                     "{\"v\":%d,\"gw\":\"%s\",\"epoch\":\"%016" PRIx64 "\",\"seq\":%" PRIu64
                     ",\"rejected\":%" PRIu64 "}",
                     FP_PROTO_VERSION, a->gateway, a->epoch, a->seq, a->rejected);
    if (n < 0 || (size_t)n >= cap)
        return FP_ERR_LIMIT;
    if (len)
        *len = (size_t)n;
    return FP_OK;
}

fp_status fp_ack_decode(const char *json, size_t len, fp_ack *out)
{
    cJSON *root;
    const cJSON *f[AF__N];
    memset(out, 0, sizeof(*out));
    fp_status rc = parse_object(json, len, &root);
    if (rc)
        return rc;
    fp_status fields_rc = match_fields(root, ack_fields, AF__N, f);
    if ((rc = check_version(f[AF_V])) || (rc = fields_rc))
        goto done;
    if ((rc = get_id(f[AF_GW], fp_gateway_id_valid, out->gateway, sizeof(out->gateway))))
        goto done;
    if ((rc = get_epoch(f[AF_EPOCH], &out->epoch)))
        goto done;
    if ((rc = get_u64(f[AF_SEQ], 1, FP_SEQ_MAX, &out->seq)))
        goto done;
    rc = get_u64(f[AF_REJECTED], 0, FP_SEQ_MAX, &out->rejected);
done:
    cJSON_Delete(root);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Gateway state (birth / will)                                              */

static const char *const state_fields[] = {"v", "gw", "state", "boot", "ts", "sw"};
enum { SF_V, SF_GW, SF_STATE, SF_BOOT, SF_TS, SF_SW, SF__N };

static const char *state_name(fp_gw_state s)
{
    switch (s) {
    case FP_GW_ONLINE:
        return "online";
    case FP_GW_OFFLINE:
        return "offline";
    }
    return NULL;
}

fp_status fp_state_encode(const fp_state *s, char *buf, size_t cap, size_t *len)
{
    size_t gwlen = strnlen(s->gateway, sizeof(s->gateway));
    size_t swlen = strnlen(s->sw, sizeof(s->sw));
    const char *name = state_name(s->state);
    if (!fp_gateway_id_valid(s->gateway, gwlen) || name == NULL || s->boot < 1 ||
        s->boot > FP_SEQ_MAX || s->ts_ms < 0 || s->ts_ms >= TS_MAX_MS || !sw_valid(s->sw, swlen))
        return FP_ERR_RANGE;
    if (buf == NULL)
        return FP_ERR_LIMIT;
    int n = snprintf(buf, cap,
                     "{\"v\":%d,\"gw\":\"%s\",\"state\":\"%s\",\"boot\":%" PRIu64 ",\"ts\":%" PRId64
                     ",\"sw\":\"%.*s\"}",
                     FP_PROTO_VERSION, s->gateway, name, s->boot, s->ts_ms, (int)swlen, s->sw);
    if (n < 0 || (size_t)n >= cap)
        return FP_ERR_LIMIT;
    if (len)
        *len = (size_t)n;
    return FP_OK;
}

fp_status fp_state_decode(const char *json, size_t len, fp_state *out)
{
    cJSON *root;
    const cJSON *f[SF__N];
    int64_t ts;
    memset(out, 0, sizeof(*out));
    fp_status rc = parse_object(json, len, &root);
    if (rc)
        return rc;
    fp_status fields_rc = match_fields(root, state_fields, SF__N, f);
    if ((rc = check_version(f[SF_V])) || (rc = fields_rc))
        goto done;
    if ((rc = get_id(f[SF_GW], fp_gateway_id_valid, out->gateway, sizeof(out->gateway))))
        goto done;

    rc = FP_ERR_MISSING;
    if (f[SF_STATE] == NULL)
        goto done;
    rc = FP_ERR_TYPE;
    if (!cJSON_IsString(f[SF_STATE]))
        goto done;
    rc = FP_OK;
    if (strcmp(f[SF_STATE]->valuestring, "online") == 0)
        out->state = FP_GW_ONLINE;
    else if (strcmp(f[SF_STATE]->valuestring, "offline") == 0)
        out->state = FP_GW_OFFLINE;
    else {
        rc = FP_ERR_RANGE;
        goto done;
    }

    if ((rc = get_u64(f[SF_BOOT], 1, FP_SEQ_MAX, &out->boot)))
        goto done;
    if ((rc = get_int(f[SF_TS], 0, TS_MAX_MS - 1, &ts)))
        goto done;
    out->ts_ms = ts;

    rc = FP_ERR_MISSING;
    if (f[SF_SW] == NULL)
        goto done;
    rc = FP_ERR_TYPE;
    if (!cJSON_IsString(f[SF_SW]))
        goto done;
    size_t swlen = strlen(f[SF_SW]->valuestring);
    rc = FP_ERR_RANGE;
    if (!sw_valid(f[SF_SW]->valuestring, swlen))
        goto done;
    memcpy(out->sw, f[SF_SW]->valuestring, swlen + 1);
    rc = FP_OK;
done:
    cJSON_Delete(root);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}
