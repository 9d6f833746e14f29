/* fitproto/reading.h - the reading model shared by drivers, edge and cloud.
 *
 * A reading is one measurement from one device at one instant: a kind (what
 * the device measured) and a small set of typed values, each a quantity with a
 * fixed unit. Units are SI, with the minute (accepted for use with the SI) for
 * the rates people count per minute: heart rate in beats/min, cadence in
 * rev/min. docs/protocol.md lists every quantity with its unit and range.
 *
 * Pure data: no I/O, no globals, no heap. Safe to copy with memcpy.
 */
#ifndef FITPROTO_READING_H
#define FITPROTO_READING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fitproto/status.h"

/* Ids start with a letter or digit (never ".", ".." or "-x"). */
#define FP_DEVICE_MAX  64 /* device id: 1..64 chars of [A-Za-z0-9:._-] */
#define FP_GATEWAY_MAX 64 /* gateway id: 1..64 chars of [A-Za-z0-9._-] */
#define FP_VALUES_MAX  32 /* values in one reading (RR intervals count one each) */

/* What a reading measured. Stable numbers: they are stored in spools. */
typedef enum fp_kind {
    FP_KIND_HEART_RATE = 1, /* heart-rate strap / watch (GATT 0x2A37) */
    FP_KIND_BATTERY = 2,    /* battery level (GATT 0x2A19) */
    FP_KIND__END
} fp_kind;

/* One quantity, one unit. Stable numbers. */
typedef enum fp_quantity {
    FP_Q_HEART_RATE = 1,     /* "hr":      beats/min, 0..300 */
    FP_Q_RR_INTERVAL = 2,    /* "rr":      s, 0..64 (repeatable) */
    FP_Q_ENERGY = 3,         /* "energy":  J, cumulative, 0..1e9 */
    FP_Q_SENSOR_CONTACT = 4, /* "contact": 0 or 1 */
    FP_Q_BATTERY = 5,        /* "battery": percent, 0..100 */
    FP_Q__END
} fp_quantity;

typedef struct fp_value {
    fp_quantity q;
    double v;
} fp_value;

typedef struct fp_reading {
    char device[FP_DEVICE_MAX + 1]; /* NUL-terminated */
    fp_kind kind;
    int64_t ts_ms; /* Unix time in ms (UTC), stamped where the reading was taken */
    uint64_t seq;  /* per-gateway sequence; 0 until the edge spools it */
    uint16_t nvalues;
    fp_value values[FP_VALUES_MAX];
} fp_reading;

/* Static facts about a quantity, for validation, JSON names and docs. */
typedef struct fp_quantity_info {
    const char *name; /* JSON key, e.g. "hr" */
    const char *unit; /* e.g. "1/min" */
    double min, max;  /* inclusive valid range */
    bool repeatable;  /* may appear more than once in a reading (RR intervals) */
} fp_quantity_info;

/* NULL for an unknown quantity. */
const fp_quantity_info *fp_quantity_get(fp_quantity q);
/* Look a quantity up by its JSON name; FP_ERR_UNKNOWN when there is none. */
fp_status fp_quantity_by_name(const char *name, size_t len, fp_quantity *out);

/* "heart_rate", "battery"; NULL for an unknown kind. */
const char *fp_kind_name(fp_kind k);
fp_status fp_kind_by_name(const char *name, size_t len, fp_kind *out);

/* Reset *r to an empty reading of the given device/kind/time. FP_ERR_RANGE if
 * the device id is not valid (see FP_DEVICE_MAX). */
fp_status fp_reading_init(fp_reading *r, const char *device, fp_kind kind, int64_t ts_ms);

/* Append one value. FP_ERR_LIMIT when full, FP_ERR_RANGE when v is outside the
 * quantity's range or not finite, FP_ERR_UNKNOWN for an unknown quantity,
 * FP_ERR_DUPLICATE when a non-repeatable quantity is already present. */
fp_status fp_reading_add(fp_reading *r, fp_quantity q, double v);

/* First value of quantity q; false when absent. */
bool fp_reading_get(const fp_reading *r, fp_quantity q, double *out);

/* Full validation of a reading that came from outside: device id syntax,
 * known kind, ts within [2000-01-01, 2100-01-01), every value in range,
 * no duplicate of a non-repeatable quantity, at least one value. */
fp_status fp_reading_validate(const fp_reading *r);

/* true when s[0..len) is a valid device / gateway id. */
bool fp_device_id_valid(const char *s, size_t len);
bool fp_gateway_id_valid(const char *s, size_t len);

#endif
