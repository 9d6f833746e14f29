/* reading.c - the reading model: quantity and kind tables, validation.
 *
 * The tables below are the single source of truth for names, units and
 * ranges; docs/protocol.md copies them (tests/unit/protocol/test_reading.c
 * checks the copy stays in sync).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fitproto/reading.h"

/* Indexed by fp_quantity. */
static const fp_quantity_info quantities[FP_Q__END] = {
    [FP_Q_HEART_RATE] = {"hr", "1/min", 0, 300, false},
    [FP_Q_RR_INTERVAL] = {"rr", "s", 0, 64, true},
    [FP_Q_ENERGY] = {"energy", "J", 0, 1e9, false},
    [FP_Q_SENSOR_CONTACT] = {"contact", "1", 0, 1, false},
    [FP_Q_BATTERY] = {"battery", "%", 0, 100, false},
    [FP_Q_SPEED] = {"speed", "m/s", 0, 100, false},
    [FP_Q_AVG_SPEED] = {"avg_speed", "m/s", 0, 100, false},
    [FP_Q_CADENCE] = {"cadence", "1/min", 0, 1000, false},
    [FP_Q_AVG_CADENCE] = {"avg_cadence", "1/min", 0, 1000, false},
    [FP_Q_DISTANCE] = {"distance", "m", 0, 1e9, false},
    [FP_Q_STRIDE_LENGTH] = {"stride", "m", 0, 10, false},
    [FP_Q_RUNNING] = {"running", "1", 0, 1, false},
    [FP_Q_POWER] = {"power", "W", -32768, 32767, false},
    [FP_Q_AVG_POWER] = {"avg_power", "W", -32768, 32767, false},
    [FP_Q_WHEEL_REVS] = {"wheel_revs", "1", 0, 4294967295.0, false},
    [FP_Q_CRANK_REVS] = {"crank_revs", "1", 0, 65535, false},
    [FP_Q_TORQUE] = {"torque", "N*m", 0, 2048, false},
    [FP_Q_INCLINE] = {"incline", "%", -100, 100, false},
    [FP_Q_RAMP_ANGLE] = {"ramp_angle", "deg", -90, 90, false},
    [FP_Q_ELEVATION_GAIN] = {"elev_gain", "m", 0, 65535, false},
    [FP_Q_ELEVATION_LOSS] = {"elev_loss", "m", 0, 65535, false},
    [FP_Q_PACE] = {"pace", "s/m", 0, 100, false},
    [FP_Q_AVG_PACE] = {"avg_pace", "s/m", 0, 100, false},
    [FP_Q_RESISTANCE] = {"resistance", "1", -3276.8, 3276.7, false},
    [FP_Q_STEPS] = {"steps", "1", 0, 1e9, false},
    [FP_Q_FLOORS] = {"floors", "1", 0, 65535, false},
    [FP_Q_STROKES] = {"strokes", "1", 0, 65535, false},
    [FP_Q_ENERGY_RATE] = {"energy_rate", "W", 0, 1e5, false},
    [FP_Q_MET] = {"met", "1", 0, 25.5, false},
    [FP_Q_ELAPSED] = {"elapsed", "s", 0, 65535, false},
    [FP_Q_REMAINING] = {"remaining", "s", 0, 65535, false},
    [FP_Q_WEIGHT] = {"weight", "kg", 0, 1000, false},
    [FP_Q_HEIGHT] = {"height", "m", 0, 3, false},
    [FP_Q_BMI] = {"bmi", "kg/m2", 0, 200, false},
    [FP_Q_BODY_FAT] = {"body_fat", "%", 0, 100, false},
    [FP_Q_BASAL_METABOLISM] = {"basal_metabolism", "J", 0, 1e8, false},
    [FP_Q_MUSCLE_PCT] = {"muscle_pct", "%", 0, 100, false},
    [FP_Q_MUSCLE_MASS] = {"muscle_mass", "kg", 0, 1000, false},
    [FP_Q_FAT_FREE_MASS] = {"fat_free_mass", "kg", 0, 1000, false},
    [FP_Q_SOFT_LEAN_MASS] = {"soft_lean_mass", "kg", 0, 1000, false},
    [FP_Q_BODY_WATER] = {"body_water", "kg", 0, 1000, false},
    [FP_Q_IMPEDANCE] = {"impedance", "ohm", 0, 10000, false},
    [FP_Q_SPO2] = {"spo2", "%", 0, 100, false},
    [FP_Q_PERFUSION] = {"perfusion", "%", 0, 100, false},
    [FP_Q_SYSTOLIC] = {"systolic", "Pa", 0, 100000, false},
    [FP_Q_DIASTOLIC] = {"diastolic", "Pa", 0, 100000, false},
    [FP_Q_MEAN_PRESSURE] = {"mean_pressure", "Pa", 0, 100000, false},
    [FP_Q_TEMPERATURE] = {"temperature", "Cel", -100, 200, false},
    [FP_Q_USER_INDEX] = {"user", "1", 0, 255, false},
    [FP_Q_DEVICE_TIME] = {"device_time", "s", 0, 4102444800.0, false},
    [FP_Q_STATUS] = {"status", "1", 0, 4294967295.0, false},
    [FP_Q_TYPE] = {"type", "1", 0, 255, false},
    [FP_Q_FEATURES] = {"features", "1", 0, 4294967295.0, false},
    [FP_Q_TARGET_FEATURES] = {"target_features", "1", 0, 4294967295.0, false},
};

#define QBIT(q) (UINT64_C(1) << (q))
/* Quantity sets are 64-bit masks here and in msg.c. */
_Static_assert(FP_Q__END <= 64, "fp_quantity must fit a 64-bit mask");

/* Which quantities each kind may carry: a battery reading with a heart rate
 * in it is a bug somewhere upstream, so it is rejected, not stored. */
typedef struct kind_info {
    const char *name;
    uint64_t allowed; /* QBIT() mask */
} kind_info;

/* Quantities every FTMS machine may report (FTMS 1.0, section 4). */
#define FTMS_COMMON                                                                                \
    (QBIT(FP_Q_ENERGY) | QBIT(FP_Q_ENERGY_RATE) | QBIT(FP_Q_HEART_RATE) | QBIT(FP_Q_MET) |         \
     QBIT(FP_Q_ELAPSED) | QBIT(FP_Q_REMAINING))

static const kind_info kinds[FP_KIND__END] = {
    [FP_KIND_HEART_RATE] = {"heart_rate", QBIT(FP_Q_HEART_RATE) | QBIT(FP_Q_RR_INTERVAL) |
                                              QBIT(FP_Q_ENERGY) | QBIT(FP_Q_SENSOR_CONTACT)},
    [FP_KIND_BATTERY] = {"battery", QBIT(FP_Q_BATTERY)},
    [FP_KIND_RUNNING] = {"running", QBIT(FP_Q_SPEED) | QBIT(FP_Q_CADENCE) |
                                        QBIT(FP_Q_STRIDE_LENGTH) | QBIT(FP_Q_DISTANCE) |
                                        QBIT(FP_Q_RUNNING)},
    [FP_KIND_CYCLING] = {"cycling", QBIT(FP_Q_WHEEL_REVS) | QBIT(FP_Q_CRANK_REVS) |
                                        QBIT(FP_Q_SPEED) | QBIT(FP_Q_CADENCE) |
                                        QBIT(FP_Q_DISTANCE)},
    [FP_KIND_CYCLING_POWER] = {"cycling_power",
                               QBIT(FP_Q_POWER) | QBIT(FP_Q_TORQUE) | QBIT(FP_Q_WHEEL_REVS) |
                                   QBIT(FP_Q_CRANK_REVS) | QBIT(FP_Q_SPEED) | QBIT(FP_Q_CADENCE) |
                                   QBIT(FP_Q_DISTANCE) | QBIT(FP_Q_ENERGY) | QBIT(FP_Q_STATUS)},
    [FP_KIND_TREADMILL] = {"treadmill", FTMS_COMMON | QBIT(FP_Q_SPEED) | QBIT(FP_Q_AVG_SPEED) |
                                            QBIT(FP_Q_DISTANCE) | QBIT(FP_Q_INCLINE) |
                                            QBIT(FP_Q_RAMP_ANGLE) | QBIT(FP_Q_ELEVATION_GAIN) |
                                            QBIT(FP_Q_ELEVATION_LOSS) | QBIT(FP_Q_PACE) |
                                            QBIT(FP_Q_AVG_PACE) | QBIT(FP_Q_POWER) |
                                            QBIT(FP_Q_STEPS)},
    [FP_KIND_CROSS_TRAINER] = {"cross_trainer",
                               FTMS_COMMON | QBIT(FP_Q_SPEED) | QBIT(FP_Q_AVG_SPEED) |
                                   QBIT(FP_Q_DISTANCE) | QBIT(FP_Q_CADENCE) |
                                   QBIT(FP_Q_AVG_CADENCE) | QBIT(FP_Q_STRIDE_LENGTH) |
                                   QBIT(FP_Q_STEPS) | QBIT(FP_Q_ELEVATION_GAIN) |
                                   QBIT(FP_Q_ELEVATION_LOSS) | QBIT(FP_Q_INCLINE) |
                                   QBIT(FP_Q_RAMP_ANGLE) | QBIT(FP_Q_RESISTANCE) |
                                   QBIT(FP_Q_POWER) | QBIT(FP_Q_AVG_POWER) | QBIT(FP_Q_RUNNING)},
    [FP_KIND_STEP_CLIMBER] = {"step_climber", FTMS_COMMON | QBIT(FP_Q_FLOORS) | QBIT(FP_Q_STEPS) |
                                                  QBIT(FP_Q_CADENCE) | QBIT(FP_Q_AVG_CADENCE) |
                                                  QBIT(FP_Q_ELEVATION_GAIN)},
    [FP_KIND_STAIR_CLIMBER] = {"stair_climber", FTMS_COMMON | QBIT(FP_Q_FLOORS) |
                                                    QBIT(FP_Q_CADENCE) | QBIT(FP_Q_AVG_CADENCE) |
                                                    QBIT(FP_Q_ELEVATION_GAIN) |
                                                    QBIT(FP_Q_STRIDE_LENGTH)},
    [FP_KIND_ROWER] = {"rower", FTMS_COMMON | QBIT(FP_Q_CADENCE) | QBIT(FP_Q_AVG_CADENCE) |
                                    QBIT(FP_Q_STROKES) | QBIT(FP_Q_DISTANCE) | QBIT(FP_Q_PACE) |
                                    QBIT(FP_Q_AVG_PACE) | QBIT(FP_Q_POWER) | QBIT(FP_Q_AVG_POWER) |
                                    QBIT(FP_Q_RESISTANCE)},
    [FP_KIND_INDOOR_BIKE] = {"indoor_bike", FTMS_COMMON | QBIT(FP_Q_SPEED) | QBIT(FP_Q_AVG_SPEED) |
                                                QBIT(FP_Q_CADENCE) | QBIT(FP_Q_AVG_CADENCE) |
                                                QBIT(FP_Q_DISTANCE) | QBIT(FP_Q_RESISTANCE) |
                                                QBIT(FP_Q_POWER) | QBIT(FP_Q_AVG_POWER)},
    [FP_KIND_MACHINE_STATUS] = {"machine_status", QBIT(FP_Q_STATUS) | QBIT(FP_Q_TYPE)},
    [FP_KIND_FEATURES] = {"features", QBIT(FP_Q_FEATURES) | QBIT(FP_Q_TARGET_FEATURES)},
    [FP_KIND_WEIGHT] = {"weight", QBIT(FP_Q_WEIGHT) | QBIT(FP_Q_HEIGHT) | QBIT(FP_Q_BMI) |
                                      QBIT(FP_Q_USER_INDEX) | QBIT(FP_Q_DEVICE_TIME) |
                                      QBIT(FP_Q_STATUS)},
    [FP_KIND_BODY_COMPOSITION] = {"body_composition",
                                  QBIT(FP_Q_WEIGHT) | QBIT(FP_Q_HEIGHT) | QBIT(FP_Q_BMI) |
                                      QBIT(FP_Q_BODY_FAT) | QBIT(FP_Q_BASAL_METABOLISM) |
                                      QBIT(FP_Q_MUSCLE_PCT) | QBIT(FP_Q_MUSCLE_MASS) |
                                      QBIT(FP_Q_FAT_FREE_MASS) | QBIT(FP_Q_SOFT_LEAN_MASS) |
                                      QBIT(FP_Q_BODY_WATER) | QBIT(FP_Q_IMPEDANCE) |
                                      QBIT(FP_Q_USER_INDEX) | QBIT(FP_Q_DEVICE_TIME) |
                                      QBIT(FP_Q_STATUS)},
    [FP_KIND_SPO2] = {"spo2", QBIT(FP_Q_SPO2) | QBIT(FP_Q_HEART_RATE) | QBIT(FP_Q_PERFUSION) |
                                  QBIT(FP_Q_DEVICE_TIME) | QBIT(FP_Q_STATUS)},
    [FP_KIND_BLOOD_PRESSURE] = {"blood_pressure",
                                QBIT(FP_Q_SYSTOLIC) | QBIT(FP_Q_DIASTOLIC) |
                                    QBIT(FP_Q_MEAN_PRESSURE) | QBIT(FP_Q_HEART_RATE) |
                                    QBIT(FP_Q_USER_INDEX) | QBIT(FP_Q_DEVICE_TIME) |
                                    QBIT(FP_Q_STATUS)},
    [FP_KIND_TEMPERATURE] = {"temperature",
                             QBIT(FP_Q_TEMPERATURE) | QBIT(FP_Q_TYPE) | QBIT(FP_Q_DEVICE_TIME)},
    [FP_KIND_ACTIVITY] = {"activity", QBIT(FP_Q_STEPS) | QBIT(FP_Q_DISTANCE) | QBIT(FP_Q_ENERGY) |
                                          QBIT(FP_Q_HEART_RATE)},
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

/* Id character classes, one bit each, looked up by byte: a table instead of
 * a chain of range compares keeps the id check at a load and a test per
 * character (fp_reading_init() runs it on every decoded notification). */
#define ID_GATEWAY 0x01 /* [A-Za-z0-9._-] */
#define ID_DEVICE  0x02 /* gateway set plus ':' */
#define ID_FIRST   0x04 /* [A-Za-z0-9]: what an id may start with */
#define ID_ALNUM   (ID_GATEWAY | ID_DEVICE | ID_FIRST)
#define ID_PUNCT   (ID_GATEWAY | ID_DEVICE)

static const uint8_t id_class[256] = {
    ['0'] = ID_ALNUM,  ['1'] = ID_ALNUM, ['2'] = ID_ALNUM, ['3'] = ID_ALNUM, ['4'] = ID_ALNUM,
    ['5'] = ID_ALNUM,  ['6'] = ID_ALNUM, ['7'] = ID_ALNUM, ['8'] = ID_ALNUM, ['9'] = ID_ALNUM,
    ['A'] = ID_ALNUM,  ['B'] = ID_ALNUM, ['C'] = ID_ALNUM, ['D'] = ID_ALNUM, ['E'] = ID_ALNUM,
    ['F'] = ID_ALNUM,  ['G'] = ID_ALNUM, ['H'] = ID_ALNUM, ['I'] = ID_ALNUM, ['J'] = ID_ALNUM,
    ['K'] = ID_ALNUM,  ['L'] = ID_ALNUM, ['M'] = ID_ALNUM, ['N'] = ID_ALNUM, ['O'] = ID_ALNUM,
    ['P'] = ID_ALNUM,  ['Q'] = ID_ALNUM, ['R'] = ID_ALNUM, ['S'] = ID_ALNUM, ['T'] = ID_ALNUM,
    ['U'] = ID_ALNUM,  ['V'] = ID_ALNUM, ['W'] = ID_ALNUM, ['X'] = ID_ALNUM, ['Y'] = ID_ALNUM,
    ['Z'] = ID_ALNUM,  ['a'] = ID_ALNUM, ['b'] = ID_ALNUM, ['c'] = ID_ALNUM, ['d'] = ID_ALNUM,
    ['e'] = ID_ALNUM,  ['f'] = ID_ALNUM, ['g'] = ID_ALNUM, ['h'] = ID_ALNUM, ['i'] = ID_ALNUM,
    ['j'] = ID_ALNUM,  ['k'] = ID_ALNUM, ['l'] = ID_ALNUM, ['m'] = ID_ALNUM, ['n'] = ID_ALNUM,
    ['o'] = ID_ALNUM,  ['p'] = ID_ALNUM, ['q'] = ID_ALNUM, ['r'] = ID_ALNUM, ['s'] = ID_ALNUM,
    ['t'] = ID_ALNUM,  ['u'] = ID_ALNUM, ['v'] = ID_ALNUM, ['w'] = ID_ALNUM, ['x'] = ID_ALNUM,
    ['y'] = ID_ALNUM,  ['z'] = ID_ALNUM, ['.'] = ID_PUNCT, ['_'] = ID_PUNCT, ['-'] = ID_PUNCT,
    [':'] = ID_DEVICE,
};

/* The id charsets exclude '"', '\\', control characters, '/', '+' and '#',
 * so ids go into JSON without escaping and into MQTT topics as one level. The
 * first character must be a letter or digit: ids also end up in file names,
 * log lines and command lines, where ".", ".." or "-x" would mean something. */
static bool id_valid(const char *s, size_t len, size_t max, uint8_t cls)
{
    if (s == NULL || len == 0 || len > max)
        return false;
    if (!(id_class[(unsigned char)s[0]] & ID_FIRST))
        return false;
    for (size_t i = 1; i < len; i++) {
        if (!(id_class[(unsigned char)s[i]] & cls))
            return false;
    }
    return true;
}

bool fp_device_id_valid(const char *s, size_t len)
{
    return id_valid(s, len, FP_DEVICE_MAX, ID_DEVICE);
}

bool fp_gateway_id_valid(const char *s, size_t len)
{
    return id_valid(s, len, FP_GATEWAY_MAX, ID_GATEWAY);
}

fp_status fp_reading_init(fp_reading *r, const char *device, fp_kind kind, int64_t ts_ms)
{
    /* Only the header: values[] past nvalues are never read, and clearing
     * all 600 bytes was most of the cost of a heart-rate decode. Copied from
     * zeros rather than memset(): gcc turns a memset of this size into
     * "rep stos", whose start-up alone took half of fp_reading_init(); a
     * fixed-size copy becomes a few vector moves. */
    static const unsigned char zero_header[offsetof(fp_reading, values)];
    memcpy(r, zero_header, sizeof(zero_header));
    if (device == NULL)
        return FP_ERR_RANGE;
    /* strnlen() is vectorised; the class loop below has no early exit, so
     * it is a load and an AND per character. */
    size_t len = strnlen(device, FP_DEVICE_MAX + 1);
    if (len == 0 || len > FP_DEVICE_MAX)
        return FP_ERR_RANGE;
    const unsigned char *s = (const unsigned char *)device;
    unsigned cls = id_class[s[0]] & ID_FIRST ? ID_DEVICE : 0;
    size_t i = 1;
    for (; i + 4 <= len; i += 4)
        cls &= id_class[s[i]] & id_class[s[i + 1]] & id_class[s[i + 2]] & id_class[s[i + 3]];
    for (; i < len; i++)
        cls &= id_class[s[i]];
    if (!(cls & ID_DEVICE))
        return FP_ERR_RANGE;
    if ((unsigned)kind - 1 >= FP_KIND__END - 1)
        return FP_ERR_UNKNOWN;
    memcpy(r->device, device, len);
    r->kind = kind;
    r->ts_ms = ts_ms;
    return FP_OK;
}

/* Checks one value against its quantity and the reading's kind. The range
 * compare is written so that NaN fails it, and the table ranges are finite,
 * so it rejects infinities as well. Inline: it is most of fp_reading_add(). */
static inline fp_status value_check(fp_kind kind, fp_quantity q, double v)
{
    if ((unsigned)q >= FP_Q__END || (unsigned)kind >= FP_KIND__END ||
        !(kinds[kind].allowed & QBIT(q)))
        return FP_ERR_UNKNOWN;
    const fp_quantity_info *qi = &quantities[q];
    if (qi->name == NULL) /* a kind mask naming a quantity without a row */
        return FP_ERR_UNKNOWN;
    if (!(v >= qi->min && v <= qi->max))
        return FP_ERR_RANGE;
    /* Sensor contact is a flag, not a measurement. */
    if (q == FP_Q_SENSOR_CONTACT)
        return v == 0 || v == 1 ? FP_OK : FP_ERR_RANGE;
    return FP_OK;
}

fp_status fp_reading_add(fp_reading *r, fp_quantity q, double v)
{
    fp_status rc = value_check(r->kind, q, v);
    if (rc)
        return rc;
    uint16_t n = r->nvalues;
    if (!quantities[q].repeatable) {
        /* A reading holds a handful of values: a scan is cheaper than
         * keeping a set that every writer of values[] must maintain. */
        for (uint16_t i = 0; i < n; i++) {
            if (r->values[i].q == q)
                return FP_ERR_DUPLICATE;
        }
    }
    if (n >= FP_VALUES_MAX)
        return FP_ERR_LIMIT;
    /* -0.0 is in range but would print as "-0": adding +0.0 turns it into
     * plain zero (IEEE 754, round to nearest) and leaves every other value. */
    r->values[n].q = q;
    r->values[n].v = v + 0.0;
    r->nvalues = (uint16_t)(n + 1);
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
    uint64_t seen = 0;
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
