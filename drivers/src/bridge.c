/* bridge.c - OpenMQTTGateway / Theengs Gateway JSON -> readings.
 *
 * Field names are the ones Theengs Decoder publishes (both bridges embed it):
 *   raw:      "servicedata" (hex, without the uuid), "servicedatauuid"
 *             ("181b", "0x181b" or the 128-bit form), "manufacturerdata"
 *             (hex, starting with the company id little-endian: "5701..."),
 *             "name"
 *   scales:   "weight" in "unit" ("kg", "lb"; older releases "lbs"; "jin"),
 *             "impedance" (ohm), "weighing_mode" ("person" / "object")
 *   Mi Band:  "act_bpm" (activity heart rate; "hr" accepted too), "steps"
 *   any:      "batt" (battery percent)
 * "id" (the MAC, with ':') must match the topic when it is a MAC; on macOS
 * Theengs Gateway puts a CoreBluetooth UUID there instead, which is ignored.
 *
 * Raw data wins over decoded fields: it is what the decoded fields were
 * made from, and adv_decode() applies our own rules (a stabilized weighing
 * only, and so on). Decoded fields are used when there is no raw data we
 * know, e.g. a bridge configured to publish decoded values only.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fitdrivers/adv.h"
#include "fitdrivers/bridge.h"

#define LB_KG 0.45359237

/* The fields we read; every other key is ignored. */
typedef struct fields {
    const cJSON *id, *name, *model_id;
    const cJSON *svc, *svc_uuid, *mfg;
    const cJSON *weight, *unit, *impedance, *mode;
    const cJSON *hr, *steps, *batt;
} fields;

static const struct field_spec {
    const char *key;
    size_t slot; /* offsetof(fields, ...) */
    int type;    /* cJSON_String or cJSON_Number */
} specs[] = {
    {"id", offsetof(fields, id), cJSON_String},
    {"name", offsetof(fields, name), cJSON_String},
    {"model_id", offsetof(fields, model_id), cJSON_String},
    {"servicedata", offsetof(fields, svc), cJSON_String},
    {"servicedatauuid", offsetof(fields, svc_uuid), cJSON_String},
    {"manufacturerdata", offsetof(fields, mfg), cJSON_String},
    {"weight", offsetof(fields, weight), cJSON_Number},
    {"unit", offsetof(fields, unit), cJSON_String},
    {"impedance", offsetof(fields, impedance), cJSON_Number},
    {"weighing_mode", offsetof(fields, mode), cJSON_String},
    /* Two names, one slot: both present is a duplicate. */
    {"hr", offsetof(fields, hr), cJSON_Number},
    {"act_bpm", offsetof(fields, hr), cJSON_Number},
    {"steps", offsetof(fields, steps), cJSON_Number},
    {"batt", offsetof(fields, batt), cJSON_Number},
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "AABBCCDDEEFF", "AA:BB:CC:DD:EE:FF" or "aa-bb-cc-dd-ee-ff" (s[0..len)). */
static bool mac_parse(const char *s, size_t len, char mac[BRIDGE_MAC_LEN + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    bool sep = len == 17;
    if (len != 12 && !sep)
        return false;
    char sepc = sep ? s[2] : 0;
    if (sep && sepc != ':' && sepc != '-')
        return false;
    size_t at = 0;
    for (int i = 0; i < 6; i++) {
        if (sep && i > 0 && s[at++] != sepc)
            return false;
        int hi = hexval(s[at]), lo = hexval(s[at + 1]);
        if (hi < 0 || lo < 0)
            return false;
        at += 2;
        mac[i * 3] = hex[hi];
        mac[i * 3 + 1] = hex[lo];
        mac[i * 3 + 2] = i < 5 ? ':' : '\0';
    }
    return true;
}

fp_status bridge_topic_mac(const char *topic, char mac[BRIDGE_MAC_LEN + 1])
{
    if (topic == NULL || strpbrk(topic, "+#") != NULL)
        return FP_ERR_SYNTAX;
    /* Levels: <prefix>.. / <gateway> / BTtoMQTT / <MAC>, none empty. */
    const char *prev = NULL, *last = NULL; /* starts of the last two levels */
    size_t count = 0;
    for (const char *p = topic;; p++) {
        const char *start = p;
        p += strcspn(p, "/");
        if (p == start)
            return FP_ERR_SYNTAX;
        prev = last;
        last = start;
        count++;
        if (*p == '\0')
            break;
    }
    if (count < 4 || strncmp(prev, "BTtoMQTT/", 9) != 0)
        return FP_ERR_SYNTAX;
    if (!mac_parse(last, strlen(last), mac))
        return FP_ERR_RANGE;
    return FP_OK;
}

/* Every field we read, type-checked, each at most once. */
static fp_status collect(const cJSON *obj, fields *f)
{
    memset(f, 0, sizeof(*f));
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            if (c->string == NULL || strcmp(c->string, specs[i].key) != 0)
                continue;
            const cJSON **slot = (const cJSON **)((char *)f + specs[i].slot);
            if (*slot != NULL)
                return FP_ERR_DUPLICATE;
            if ((c->type & 0xFF) != specs[i].type)
                return FP_ERR_TYPE;
            *slot = c;
            break;
        }
    }
    return FP_OK;
}

/* Hex string -> bytes; FP_ERR_SYNTAX for odd length or a non-hex digit. */
static fp_status hex_bytes(const char *s, uint8_t *out, size_t cap, size_t *n)
{
    size_t len = strlen(s);
    if (len % 2)
        return FP_ERR_SYNTAX;
    if (len / 2 > cap)
        return FP_ERR_LIMIT;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return FP_ERR_SYNTAX;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = len / 2;
    return FP_OK;
}

/* Raw advertisement data through adv_decode(); FP_ERR_UNKNOWN when there is
 * none or none we know. */
static fp_status raw_readings(const fields *f, const char *mac, int64_t ts_ms, fp_reading *out,
                              size_t max, size_t *n)
{
    uint8_t mbuf[ADV_DATA_MAX + 2], sbuf[ADV_DATA_MAX];
    adv_data mfg, svc;
    adv_input in = {.name = f->name ? f->name->valuestring : NULL};
    size_t len;
    fp_status rc;

    if (f->mfg) {
        if ((rc = hex_bytes(f->mfg->valuestring, mbuf, sizeof(mbuf), &len)))
            return rc;
        if (len < 2)
            return FP_ERR_LENGTH; /* not even a company id */
        mfg =
            (adv_data){.id = (uint16_t)(mbuf[0] | mbuf[1] << 8), .data = mbuf + 2, .len = len - 2};
        in.mfg = &mfg;
        in.nmfg = 1;
    }
    if (f->svc) {
        if (f->svc_uuid == NULL)
            return FP_ERR_MISSING;
        if ((rc = hex_bytes(f->svc->valuestring, sbuf, sizeof(sbuf), &len)))
            return rc;
        const char *u = f->svc_uuid->valuestring;
        /* A 128-bit vendor uuid is simply not a service we know. */
        if (adv_uuid16_parse(u, strlen(u), &svc.id) == FP_OK) {
            svc.data = sbuf;
            svc.len = len;
            in.svc = &svc;
            in.nsvc = 1;
        }
    }
    if (in.nmfg == 0 && in.nsvc == 0)
        return FP_ERR_UNKNOWN;
    return adv_decode(&in, mac, ts_ms, out, max, n);
}

static bool is_body_scale(const fields *f)
{
    const char *name = f->name ? f->name->valuestring : "";
    const char *model = f->model_id ? f->model_id->valuestring : "";
    return strncmp(name, "MIBCS", 5) == 0 || strncmp(name, "MIBFS", 5) == 0 ||
           strstr(model, "XMTZC02HM") != NULL || strstr(model, "XMTZC05HM") != NULL;
}

/* Output cursor for the decoded-field path. */
typedef struct sink {
    fp_reading *out;
    size_t max, n;
    const char *mac;
    int64_t ts_ms;
} sink;

static fp_status add_one(sink *s, fp_kind kind, fp_quantity q, double v, fp_reading **r)
{
    if (s->n >= s->max)
        return FP_ERR_LIMIT;
    *r = &s->out[s->n];
    fp_status rc = fp_reading_init(*r, s->mac, kind, s->ts_ms);
    if (rc == FP_OK)
        rc = fp_reading_add(*r, q, v);
    if (rc == FP_OK)
        s->n++;
    return rc;
}

static fp_status scale_reading(const fields *f, sink *s)
{
    if (f->mode) {
        const char *m = f->mode->valuestring;
        if (strcmp(m, "object") == 0)
            return FP_OK; /* small-object mode: not the user's weight */
        if (strcmp(m, "person") != 0)
            return FP_ERR_RANGE;
    }
    fp_kind kind = f->impedance || is_body_scale(f) ? FP_KIND_BODY_COMPOSITION : FP_KIND_WEIGHT;
    fp_reading *r = NULL;
    fp_status rc = FP_OK;
    if (f->weight) {
        if (f->unit == NULL)
            return FP_ERR_MISSING; /* never guess kg vs lb */
        const char *u = f->unit->valuestring;
        double k = strcmp(u, "kg") == 0                            ? 1.0
                   : strcmp(u, "lb") == 0 || strcmp(u, "lbs") == 0 ? LB_KG
                   : strcmp(u, "jin") == 0                         ? 0.5
                                                                   : 0.0;
        if (k == 0.0 || !(f->weight->valuedouble > 0))
            return FP_ERR_RANGE;
        rc = add_one(s, kind, FP_Q_WEIGHT, f->weight->valuedouble * k, &r);
    }
    if (rc == FP_OK && f->impedance) {
        double v = f->impedance->valuedouble;
        rc = r ? fp_reading_add(r, FP_Q_IMPEDANCE, v)
               : add_one(s, FP_KIND_BODY_COMPOSITION, FP_Q_IMPEDANCE, v, &r);
    }
    return rc;
}

static fp_status decoded_readings(const fields *f, sink *s)
{
    fp_reading *r;
    fp_status rc = FP_OK;
    bool ours = f->weight || f->impedance || f->hr || f->steps;
    if (!ours)
        return FP_ERR_UNKNOWN; /* "batt" alone: some other kind of sensor */
    if (f->weight || f->impedance)
        rc = scale_reading(f, s);
    if (rc == FP_OK && f->hr && f->hr->valuedouble != 0) /* 0: no beat yet */
        rc = add_one(s, FP_KIND_HEART_RATE, FP_Q_HEART_RATE, f->hr->valuedouble, &r);
    if (rc == FP_OK && f->steps) {
        double v = f->steps->valuedouble;
        if (v != floor(v))
            return FP_ERR_RANGE; /* a count */
        rc = add_one(s, FP_KIND_ACTIVITY, FP_Q_STEPS, v, &r);
    }
    if (rc == FP_OK && f->batt)
        rc = add_one(s, FP_KIND_BATTERY, FP_Q_BATTERY, f->batt->valuedouble, &r);
    return rc;
}

/* Only JSON whitespace may follow the value. */
static bool only_space(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
    }
    return true;
}

fp_status bridge_decode(const char *topic, const char *json, size_t len, int64_t ts_ms,
                        fp_reading *out, size_t max, size_t *n)
{
    char mac[BRIDGE_MAC_LEN + 1];
    *n = 0;
    if (len > BRIDGE_JSON_MAX)
        return FP_ERR_LIMIT;
    fp_status rc = bridge_topic_mac(topic, mac);
    if (rc)
        return rc;
    if (json == NULL || len == 0)
        return FP_ERR_SYNTAX;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL)
        return FP_ERR_SYNTAX;
    fields f = {0};
    if (!cJSON_IsObject(root) || end == NULL || !only_space(end, json + len))
        rc = FP_ERR_SYNTAX;
    else
        rc = collect(root, &f);

    if (rc == FP_OK && f.id) {
        char idmac[BRIDGE_MAC_LEN + 1];
        const char *id = f.id->valuestring;
        if (mac_parse(id, strlen(id), idmac) && strcmp(idmac, mac) != 0)
            rc = FP_ERR_RANGE; /* the message is about another device */
    }
    if (rc == FP_OK) {
        rc = raw_readings(&f, mac, ts_ms, out, max, n);
        if (rc == FP_ERR_UNKNOWN) {
            sink s = {.out = out, .max = max, .n = 0, .mac = mac, .ts_ms = ts_ms};
            rc = decoded_readings(&f, &s);
            *n = rc == FP_OK ? s.n : 0;
        }
    }
    cJSON_Delete(root);
    if (rc)
        *n = 0;
    return rc;
}
