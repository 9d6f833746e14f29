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
    FP_KIND_HEART_RATE = 1,        /* heart-rate strap / watch (GATT 0x2A37) */
    FP_KIND_BATTERY = 2,           /* battery level (GATT 0x2A19) */
    FP_KIND_RUNNING = 3,           /* running speed and cadence (0x2A53) */
    FP_KIND_CYCLING = 4,           /* cycling speed and cadence (0x2A5B) */
    FP_KIND_CYCLING_POWER = 5,     /* cycling power (0x2A63, 0x2A64) */
    FP_KIND_TREADMILL = 6,         /* FTMS treadmill data (0x2ACD) */
    FP_KIND_CROSS_TRAINER = 7,     /* FTMS cross trainer data (0x2ACE) */
    FP_KIND_STEP_CLIMBER = 8,      /* FTMS step climber data (0x2ACF) */
    FP_KIND_STAIR_CLIMBER = 9,     /* FTMS stair climber data (0x2AD0) */
    FP_KIND_ROWER = 10,            /* FTMS rower data (0x2AD1) */
    FP_KIND_INDOOR_BIKE = 11,      /* FTMS indoor bike data (0x2AD2) */
    FP_KIND_MACHINE_STATUS = 12,   /* FTMS training status (0x2AD3) / machine status (0x2ADA) */
    FP_KIND_FEATURES = 13,         /* feature characteristics (0x2ACC, 0x2A9E) */
    FP_KIND_WEIGHT = 14,           /* weight scale (0x2A9D), Xiaomi scales */
    FP_KIND_BODY_COMPOSITION = 15, /* body composition (0x2A9C), Mi Body Composition Scale */
    FP_KIND_SPO2 = 16,             /* pulse oximeter (0x2A5E, 0x2A5F) */
    FP_KIND_BLOOD_PRESSURE = 17,   /* blood pressure (0x2A35) and intermediate cuff (0x2A36) */
    FP_KIND_TEMPERATURE = 18,      /* health thermometer (0x2A1C) */
    FP_KIND_ACTIVITY = 19,         /* step counters: Mi Band / Amazfit broadcasts */
    FP_KIND__END
} fp_kind;

/* One quantity, one unit. Stable numbers. */
typedef enum fp_quantity {
    FP_Q_HEART_RATE = 1,     /* "hr":      beats/min (pulse rate too), 0..300 */
    FP_Q_RR_INTERVAL = 2,    /* "rr":      s, 0..64 (repeatable) */
    FP_Q_ENERGY = 3,         /* "energy":  J, cumulative, 0..1e9 */
    FP_Q_SENSOR_CONTACT = 4, /* "contact": 0 or 1 */
    FP_Q_BATTERY = 5,        /* "battery": percent, 0..100 */
    /* Movement. Docs/protocol.md has the full table (units, ranges, kinds). */
    FP_Q_SPEED = 6,           /* "speed":        m/s, instantaneous */
    FP_Q_AVG_SPEED = 7,       /* "avg_speed":    m/s */
    FP_Q_CADENCE = 8,         /* "cadence":      1/min (crank rev, steps, strokes) */
    FP_Q_AVG_CADENCE = 9,     /* "avg_cadence":  1/min */
    FP_Q_DISTANCE = 10,       /* "distance":     m, cumulative */
    FP_Q_STRIDE_LENGTH = 11,  /* "stride":       m */
    FP_Q_RUNNING = 12,        /* "running":      0 walking, 1 running */
    FP_Q_POWER = 13,          /* "power":        W, signed */
    FP_Q_AVG_POWER = 14,      /* "avg_power":    W */
    FP_Q_WHEEL_REVS = 15,     /* "wheel_revs":   cumulative count */
    FP_Q_CRANK_REVS = 16,     /* "crank_revs":   cumulative count */
    FP_Q_TORQUE = 17,         /* "torque":       N*m, accumulated */
    FP_Q_INCLINE = 18,        /* "incline":      percent, signed */
    FP_Q_RAMP_ANGLE = 19,     /* "ramp_angle":   degrees, signed */
    FP_Q_ELEVATION_GAIN = 20, /* "elev_gain":   m, cumulative positive */
    FP_Q_ELEVATION_LOSS = 21, /* "elev_loss":   m, cumulative negative gain as positive */
    FP_Q_PACE = 22,           /* "pace":         s/m, instantaneous */
    FP_Q_AVG_PACE = 23,       /* "avg_pace":     s/m */
    FP_Q_RESISTANCE = 24,     /* "resistance":   level, unitless, signed */
    FP_Q_STEPS = 25,          /* "steps":        cumulative count */
    FP_Q_FLOORS = 26,         /* "floors":       cumulative count */
    FP_Q_STROKES = 27,        /* "strokes":      cumulative count */
    FP_Q_ENERGY_RATE = 28,    /* "energy_rate":  W (energy per time) */
    FP_Q_MET = 29,            /* "met":          metabolic equivalent */
    FP_Q_ELAPSED = 30,        /* "elapsed":      s */
    FP_Q_REMAINING = 31,      /* "remaining":    s */
    /* Body and health. */
    FP_Q_WEIGHT = 32,           /* "weight":       kg */
    FP_Q_HEIGHT = 33,           /* "height":       m */
    FP_Q_BMI = 34,              /* "bmi":          kg/m^2 */
    FP_Q_BODY_FAT = 35,         /* "body_fat":     percent */
    FP_Q_BASAL_METABOLISM = 36, /* "basal_metabolism": J (per day) */
    FP_Q_MUSCLE_PCT = 37,       /* "muscle_pct":   percent */
    FP_Q_MUSCLE_MASS = 38,      /* "muscle_mass":  kg */
    FP_Q_FAT_FREE_MASS = 39,    /* "fat_free_mass": kg */
    FP_Q_SOFT_LEAN_MASS = 40,   /* "soft_lean_mass": kg */
    FP_Q_BODY_WATER = 41,       /* "body_water":   kg */
    FP_Q_IMPEDANCE = 42,        /* "impedance":    ohm */
    FP_Q_SPO2 = 43,             /* "spo2":         percent */
    FP_Q_PERFUSION = 44,        /* "perfusion":    percent (perfusion index) */
    FP_Q_SYSTOLIC = 45,         /* "systolic":     Pa */
    FP_Q_DIASTOLIC = 46,        /* "diastolic":    Pa */
    FP_Q_MEAN_PRESSURE = 47,    /* "mean_pressure": Pa (mean arterial / cuff) */
    FP_Q_TEMPERATURE = 48,      /* "temperature":  degree Celsius (an SI derived unit) */
    /* Context. */
    FP_Q_USER_INDEX = 49,      /* "user":         the device's own user slot, 0..255 */
    FP_Q_DEVICE_TIME = 50,     /* "device_time":  s since the Unix epoch, the device's clock
                                                  read as UTC (GATT Date Time has no zone) */
    FP_Q_STATUS = 51,          /* "status":       device status bits / op code, 0..2^32-1 */
    FP_Q_TYPE = 52,            /* "type":         location / type code, 0..255 */
    FP_Q_FEATURES = 53,        /* "features":     feature bits, 0..2^32-1 */
    FP_Q_TARGET_FEATURES = 54, /* "target_features": FTMS target setting bits */
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
