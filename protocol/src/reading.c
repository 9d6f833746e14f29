/* reading.c - the reading model: quantity and kind tables, validation.
 *
 * The tables below are the single source of truth for names, units and
 * ranges; docs/protocol.md copies them (tests/unit/protocol/test_reading.c
 * checks the copy stays in sync).
 */
#include <math.h>
#include <string.h>

#include "fitproto/reading.h"

/* Indexed by fp_quantity. */
static const fp_quantity_info quantities[FP_Q__END] = {
    [FP_Q_HEART_RATE] = {"hr", "1/min", 0, 300, false},
    [FP_Q_RR_INTERVAL] = {"rr", "s", 0, 64, true},
    [FP_Q_ENERGY] = {"energy", "J", 0, 1e9, false},
    [FP_Q_SENSOR_CONTACT] = {"contact", "1", 0, 1, false},
    [FP_Q_BATTERY] = {"battery", "%", 0, 100, false},
};

#define QBIT(q) (1u << (q))

/* Which quantities each kind may carry: a battery reading with a heart rate
 * in it is a bug somewhere upstream, so it is rejected, not stored. */
typedef struct kind_info {
    const char *name;
    unsigned allowed; /* QBIT() mask */
} kind_info;

static const kind_info kinds[FP_KIND__END] = {
    [FP_KIND_HEART_RATE] = {"heart_rate", QBIT(FP_Q_HEART_RATE) | QBIT(FP_Q_RR_INTERVAL) |
                                              QBIT(FP_Q_ENERGY) | QBIT(FP_Q_SENSOR_CONTACT)},
    [FP_KIND_BATTERY] = {"battery", QBIT(FP_Q_BATTERY)},
};

/* [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z) in ms. */
#define TS_MIN_MS 946684800000LL
#define TS_MAX_MS 4102444800000LL

const fp_quantity_info *fp_quantity_get(fp_quantity q)
{
    if ((unsigned)q >= FP_Q__END || quantities[q].name == NULL)
        return NULL;
    return &quantities[q];
}

/* Compare a counted name with a NUL-terminated table name. */
static bool name_eq(const char *name, size_t len, const char *table_name)
{
    return strlen(table_name) == len && memcmp(name, table_name, len) == 0;
}

fp_status fp_quantity_by_name(const char *name, size_t len, fp_quantity *out)
{
    for (int q = 1; q < FP_Q__END; q++) {
        if (quantities[q].name && name_eq(name, len, quantities[q].name)) {
            *out = (fp_quantity)q;
            return FP_OK;
        }
    }
    return FP_ERR_UNKNOWN;
}

const char *fp_kind_name(fp_kind k)
{
    if ((unsigned)k >= FP_KIND__END)
        return NULL;
    return kinds[k].name;
}

fp_status fp_kind_by_name(const char *name, size_t len, fp_kind *out)
{
    for (int k = 1; k < FP_KIND__END; k++) {
        if (kinds[k].name && name_eq(name, len, kinds[k].name)) {
            *out = (fp_kind)k;
            return FP_OK;
        }
    }
    return FP_ERR_UNKNOWN;
}

static bool id_char(char c, bool colon_ok)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || (colon_ok && c == ':');
}

/* The id charsets exclude '"', '\\', control characters, '/', '+' and '#',
 * so ids go into JSON without escaping and into MQTT topics as one level. The
 * first character must be a letter or digit: ids also end up in file names,
 * log lines and command lines, where ".", ".." or "-x" would mean something. */
static bool id_valid(const char *s, size_t len, size_t max, bool colon_ok)
{
    if (s == NULL || len == 0 || len > max)
        return false;
    if (!id_char(s[0], false) || s[0] == '.' || s[0] == '_' || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!id_char(s[i], colon_ok))
            return false;
    }
    return true;
}

bool fp_device_id_valid(const char *s, size_t len)
{
    return id_valid(s, len, FP_DEVICE_MAX, true);
}

bool fp_gateway_id_valid(const char *s, size_t len)
{
    return id_valid(s, len, FP_GATEWAY_MAX, false);
}

fp_status fp_reading_init(fp_reading *r, const char *device, fp_kind kind, int64_t ts_ms)
{
    memset(r, 0, sizeof(*r));
    if (device == NULL)
        return FP_ERR_RANGE;
    size_t len = strnlen(device, FP_DEVICE_MAX + 1);
    if (!fp_device_id_valid(device, len))
        return FP_ERR_RANGE;
    if (fp_kind_name(kind) == NULL)
        return FP_ERR_UNKNOWN;
    memcpy(r->device, device, len);
    r->kind = kind;
    r->ts_ms = ts_ms;
    return FP_OK;
}

/* Checks one value against its quantity and the reading's kind. */
static fp_status value_check(fp_kind kind, fp_quantity q, double v)
{
    const fp_quantity_info *qi = fp_quantity_get(q);
    if (qi == NULL)
        return FP_ERR_UNKNOWN;
    if ((unsigned)kind >= FP_KIND__END || !(kinds[kind].allowed & QBIT(q)))
        return FP_ERR_UNKNOWN;
    if (!isfinite(v) || v < qi->min || v > qi->max)
        return FP_ERR_RANGE;
    /* Sensor contact is a flag, not a measurement. */
    if (q == FP_Q_SENSOR_CONTACT && v != 0 && v != 1)
        return FP_ERR_RANGE;
    return FP_OK;
}

fp_status fp_reading_add(fp_reading *r, fp_quantity q, double v)
{
    fp_status rc = value_check(r->kind, q, v);
    if (rc)
        return rc;
    if (!quantities[q].repeatable) {
        for (uint16_t i = 0; i < r->nvalues; i++) {
            if (r->values[i].q == q)
                return FP_ERR_DUPLICATE;
        }
    }
    if (r->nvalues >= FP_VALUES_MAX)
        return FP_ERR_LIMIT;
    /* -0.0 is in range but would print as "-0": store plain zero. */
    r->values[r->nvalues].q = q;
    r->values[r->nvalues].v = v == 0 ? 0.0 : v;
    r->nvalues++;
    return FP_OK;
}

bool fp_reading_get(const fp_reading *r, fp_quantity q, double *out)
{
    for (uint16_t i = 0; i < r->nvalues; i++) {
        if (r->values[i].q == q) {
            if (out)
                *out = r->values[i].v;
            return true;
        }
    }
    return false;
}

fp_status fp_reading_validate(const fp_reading *r)
{
    size_t dlen = strnlen(r->device, sizeof(r->device));
    if (dlen == sizeof(r->device) || !fp_device_id_valid(r->device, dlen))
        return FP_ERR_RANGE;
    if (fp_kind_name(r->kind) == NULL)
        return FP_ERR_UNKNOWN;
    if (r->ts_ms < TS_MIN_MS || r->ts_ms >= TS_MAX_MS)
        return FP_ERR_RANGE;
    if (r->nvalues == 0)
        return FP_ERR_MISSING;
    if (r->nvalues > FP_VALUES_MAX)
        return FP_ERR_LIMIT;
    unsigned seen = 0;
    for (uint16_t i = 0; i < r->nvalues; i++) {
        fp_quantity q = r->values[i].q;
        fp_status rc = value_check(r->kind, q, r->values[i].v);
        if (rc)
            return rc;
        if ((seen & QBIT(q)) && !quantities[q].repeatable)
            return FP_ERR_DUPLICATE;
        seen |= QBIT(q);
    }
    return FP_OK;
}
