/* ftms.c - Fitness Machine Service 1.0: the six machine data characteristics
 * (0x2ACD..0x2AD2), the record assembler, Fitness Machine Feature (0x2ACC),
 * Training Status (0x2AD3) and Fitness Machine Status (0x2ADA).
 *
 * The data characteristics share one shape: flags (2 bytes; cross trainer 3)
 * then, in flag-bit order, the fields each set bit announces. One table per
 * characteristic below says which fields a bit announces, their wire type,
 * scale to SI and quantity, so a single walker decodes them all.
 *
 * Choices where sources disagree (FTMS 1.0 is what we follow):
 *  - treadmill instantaneous/average pace: uint8, 0.1 km/min (the later GATT
 *    Specification Supplement uses other widths); the total length must still
 *    match exactly, so a device that sends another width is rejected, not
 *    misread;
 *  - resistance level in the data characteristics: sint16, 0.1 (the uint8
 *    form belongs to the control point / status "target resistance");
 *  - elevation gain: uint16 m.
 *  - Indoor Bike bit1 = average speed, bit2 = instantaneous cadence (one
 *    common XML copy swaps these names; the order below is the spec's).
 */
#include <string.h>

#include "fitdrivers/fitness.h"
#include "fitness_bytes.h"

typedef enum ftms_type { T_U8 = 1, T_U16 = 2, T_U24 = 3, T_S16 = 4 } ftms_type;

typedef enum ftms_conv {
    C_SCALE,      /* value = raw * scale */
    C_PACE_KMMIN, /* treadmill pace, 0.1 km/min -> s/m; 0 = not moving */
    C_PACE_500M,  /* rower pace, s per 500 m -> s/m; 0 = not moving */
    C_NONE,       /* no quantity: decoded for the length only */
} ftms_conv;

#define NODATA_NONE (-1)

typedef struct ftms_field {
    uint8_t bit; /* 0 is inverted ("More Data") */
    uint8_t type;
    uint8_t conv;
    fp_quantity q;
    double scale;
    int32_t nodata; /* raw bit pattern meaning "no data", or NODATA_NONE */
} ftms_field;

typedef struct ftms_layout {
    uint16_t uuid;
    fp_kind kind;
    uint8_t flag_bytes;
    uint32_t reserved;
    const ftms_field *fields;
    size_t nfields;
} ftms_layout;

#define KMH_001 (1.0 / 360.0) /* 0.01 km/h in m/s */
#define KCAL    4184.0

#define F(bit, type, q, scale)                                                                     \
    {                                                                                              \
        bit, type, C_SCALE, q, scale, NODATA_NONE                                                  \
    }
#define FN(bit, type, q, scale, nd)                                                                \
    {                                                                                              \
        bit, type, C_SCALE, q, scale, nd                                                           \
    }
#define FX(bit, type)                                                                              \
    {                                                                                              \
        bit, type, C_NONE, 0, 0, NODATA_NONE                                                       \
    }
#define FS16(bit, q, scale)                                                                        \
    {                                                                                              \
        bit, T_S16, C_SCALE, q, scale, 0x7FFF                                                      \
    }
#define FPACE(bit, type, conv, q)                                                                  \
    {                                                                                              \
        bit, type, conv, q, 0, NODATA_NONE                                                         \
    }
/* Expended energy: total kcal, kcal/h, kcal/min; the per-minute rate, when
 * present, replaces the per-hour one (see ftms_put()). */
#define ENERGY(bit)                                                                                \
    FN(bit, T_U16, FP_Q_ENERGY, KCAL, 0xFFFF),                                                     \
        FN(bit, T_U16, FP_Q_ENERGY_RATE, KCAL / 3600.0, 0xFFFF),                                   \
        FN(bit, T_U8, FP_Q_ENERGY_RATE, KCAL / 60.0, 0xFF)
#define HEART(bit)   FN(bit, T_U8, FP_Q_HEART_RATE, 1, 0) /* 0: no strap */
#define MET(bit)     F(bit, T_U8, FP_Q_MET, 0.1)
#define ELAPSED(bit) F(bit, T_U16, FP_Q_ELAPSED, 1)
#define REMAIN(bit)  F(bit, T_U16, FP_Q_REMAINING, 1)

static const ftms_field treadmill[] = {
    F(0, T_U16, FP_Q_SPEED, KMH_001),
    F(1, T_U16, FP_Q_AVG_SPEED, KMH_001),
    F(2, T_U24, FP_Q_DISTANCE, 1),
    FS16(3, FP_Q_INCLINE, 0.1),
    FS16(3, FP_Q_RAMP_ANGLE, 0.1),
    F(4, T_U16, FP_Q_ELEVATION_GAIN, 1),
    F(4, T_U16, FP_Q_ELEVATION_LOSS, 1),
    FPACE(5, T_U8, C_PACE_KMMIN, FP_Q_PACE),
    FPACE(6, T_U8, C_PACE_KMMIN, FP_Q_AVG_PACE),
    ENERGY(7),
    HEART(8),
    MET(9),
    ELAPSED(10),
    REMAIN(11),
    FX(12, T_S16), /* force on belt, N */
    FS16(12, FP_Q_POWER, 1),
};

static const ftms_field cross_trainer[] = {
    F(0, T_U16, FP_Q_SPEED, KMH_001),
    F(1, T_U16, FP_Q_AVG_SPEED, KMH_001),
    F(2, T_U24, FP_Q_DISTANCE, 1),
    F(3, T_U16, FP_Q_CADENCE, 1), /* steps per minute */
    F(3, T_U16, FP_Q_AVG_CADENCE, 1),
    FX(4, T_U16), /* stride count, 0.1: a count, not a length */
    F(5, T_U16, FP_Q_ELEVATION_GAIN, 1),
    F(5, T_U16, FP_Q_ELEVATION_LOSS, 1),
    FS16(6, FP_Q_INCLINE, 0.1),
    FS16(6, FP_Q_RAMP_ANGLE, 0.1),
    FS16(7, FP_Q_RESISTANCE, 0.1),
    FS16(8, FP_Q_POWER, 1),
    FS16(9, FP_Q_AVG_POWER, 1),
    ENERGY(10),
    HEART(11),
    MET(12),
    ELAPSED(13),
    REMAIN(14),
    /* bit15: movement direction (backward), a flag without a field */
};

static const ftms_field step_climber[] = {
    F(0, T_U16, FP_Q_FLOORS, 1),
    F(0, T_U16, FP_Q_STEPS, 1),
    F(1, T_U16, FP_Q_CADENCE, 1),
    F(2, T_U16, FP_Q_AVG_CADENCE, 1),
    F(3, T_U16, FP_Q_ELEVATION_GAIN, 1),
    ENERGY(4),
    HEART(5),
    MET(6),
    ELAPSED(7),
    REMAIN(8),
};

static const ftms_field stair_climber[] = {
    F(0, T_U16, FP_Q_FLOORS, 1),
    F(1, T_U16, FP_Q_CADENCE, 1),
    F(2, T_U16, FP_Q_AVG_CADENCE, 1),
    F(3, T_U16, FP_Q_ELEVATION_GAIN, 1),
    FX(4, T_U16), /* stride count */
    ENERGY(5),
    HEART(6),
    MET(7),
    ELAPSED(8),
    REMAIN(9),
};

static const ftms_field rower[] = {
    F(0, T_U8, FP_Q_CADENCE, 0.5), /* stroke rate */
    F(0, T_U16, FP_Q_STROKES, 1),
    F(1, T_U8, FP_Q_AVG_CADENCE, 0.5),
    F(2, T_U24, FP_Q_DISTANCE, 1),
    FPACE(3, T_U16, C_PACE_500M, FP_Q_PACE),
    FPACE(4, T_U16, C_PACE_500M, FP_Q_AVG_PACE),
    FS16(5, FP_Q_POWER, 1),
    FS16(6, FP_Q_AVG_POWER, 1),
    FS16(7, FP_Q_RESISTANCE, 0.1),
    ENERGY(8),
    HEART(9),
    MET(10),
    ELAPSED(11),
    REMAIN(12),
};

static const ftms_field indoor_bike[] = {
    F(0, T_U16, FP_Q_SPEED, KMH_001),
    F(1, T_U16, FP_Q_AVG_SPEED, KMH_001),
    F(2, T_U16, FP_Q_CADENCE, 0.5),
    F(3, T_U16, FP_Q_AVG_CADENCE, 0.5),
    F(4, T_U24, FP_Q_DISTANCE, 1),
    FS16(5, FP_Q_RESISTANCE, 0.1),
    FS16(6, FP_Q_POWER, 1),
    FS16(7, FP_Q_AVG_POWER, 1),
    ENERGY(8),
    HEART(9),
    MET(10),
    ELAPSED(11),
    REMAIN(12),
};

/* At least the most fields any table above has (cross trainer: 20). */
#define FTMS_FIELDS_MAX 24
#define FITS(tbl)       _Static_assert(sizeof(tbl) / sizeof(tbl[0]) <= FTMS_FIELDS_MAX, #tbl " too long")
FITS(treadmill);
FITS(cross_trainer);
FITS(step_climber);
FITS(stair_climber);
FITS(rower);
FITS(indoor_bike);

#define LAYOUT(u, k, fb, res, tbl)                                                                 \
    {                                                                                              \
        u, k, fb, res, tbl, sizeof(tbl) / sizeof(tbl[0])                                           \
    }

static const ftms_layout layouts[] = {
    LAYOUT(FITNESS_UUID_TREADMILL, FP_KIND_TREADMILL, 2, 0xE000, treadmill),
    LAYOUT(FITNESS_UUID_CROSS_TRAINER, FP_KIND_CROSS_TRAINER, 3, 0xFF0000, cross_trainer),
    LAYOUT(FITNESS_UUID_STEP_CLIMBER, FP_KIND_STEP_CLIMBER, 2, 0xFE00, step_climber),
    LAYOUT(FITNESS_UUID_STAIR_CLIMBER, FP_KIND_STAIR_CLIMBER, 2, 0xFC00, stair_climber),
    LAYOUT(FITNESS_UUID_ROWER, FP_KIND_ROWER, 2, 0xE000, rower),
    LAYOUT(FITNESS_UUID_INDOOR_BIKE, FP_KIND_INDOOR_BIKE, 2, 0xE000, indoor_bike),
};

static const ftms_layout *ftms_layout_of(uint16_t uuid16)
{
    for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
        if (layouts[i].uuid == uuid16)
            return &layouts[i];
    }
    return NULL;
}

fp_kind ftms_kind(uint16_t uuid16)
{
    const ftms_layout *l = ftms_layout_of(uuid16);
    return l ? l->kind : (fp_kind)0;
}

/* Bytes a field of each ftms_type takes on the air, indexed by type. */
static const uint8_t ftms_widths[] = {[T_U8] = 1, [T_U16] = 2, [T_U24] = 3, [T_S16] = 2};

static void ftms_drop(fp_reading *r, fp_quantity q)
{
    for (uint16_t i = 0; i < r->nvalues; i++) {
        if (r->values[i].q == q) {
            memmove(&r->values[i], &r->values[i + 1], (r->nvalues - i - 1) * sizeof(r->values[0]));
            r->nvalues--;
            return;
        }
    }
}

/* Converts one raw field and appends it; "no data" and zero pace add nothing. */
static fp_status ftms_put(fp_reading *r, const ftms_field *f, uint32_t raw)
{
    if (f->conv == C_NONE || (f->nodata != NODATA_NONE && raw == (uint32_t)f->nodata))
        return FP_OK;
    double v;
    switch (f->conv) {
    case C_PACE_KMMIN:
        if (raw == 0)
            return FP_OK;
        v = 0.6 / raw; /* raw * 100 m/min -> 60 / (raw * 100) s/m */
        break;
    case C_PACE_500M:
        if (raw == 0)
            return FP_OK;
        v = raw / 500.0;
        break;
    default:
        v = (f->type == T_S16 ? (double)(int16_t)raw : (double)raw) * f->scale;
        break;
    }
    /* The energy rate per minute follows the per-hour one and is preferred. */
    if (f->q == FP_Q_ENERGY_RATE)
        ftms_drop(r, FP_Q_ENERGY_RATE);
    return fp_reading_add(r, f->q, v);
}

static uint32_t ftms_raw(const uint8_t *p, uint8_t type)
{
    switch (type) {
    case T_U8:
        return p[0];
    case T_U24:
        return fit_le24(p);
    default:
        return fit_le16(p);
    }
}

fp_status ftms_data_decode(uint16_t uuid16, const uint8_t *buf, size_t len, fp_reading *r,
                           bool *more_data)
{
    const ftms_layout *l = ftms_layout_of(uuid16);
    if (l == NULL)
        return FP_ERR_UNKNOWN;
    if (buf == NULL || len < l->flag_bytes)
        return FP_ERR_LENGTH;
    uint32_t flags = l->flag_bytes == 3 ? fit_le24(buf) : fit_le16(buf);
    if (flags & l->reserved)
        return FP_ERR_RESERVED;

    /* Bit 0 ("More Data") is the one inverted flag: with it flipped, a set
     * bit always means "this field is here". The first pass sums the widths
     * and notes which fields are present, so the second one visits only
     * those; the layouts have at most FTMS_FIELDS_MAX fields. */
    uint32_t present = flags ^ 1;
    uint8_t idx[FTMS_FIELDS_MAX];
    size_t n = 0;
    size_t need = l->flag_bytes;
    for (size_t i = 0; i < l->nfields; i++) {
        const ftms_field *f = &l->fields[i];
        if ((present >> f->bit) & 1) {
            need += ftms_widths[f->type];
            idx[n++] = (uint8_t)i;
        }
    }
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + l->flag_bytes;
    for (size_t k = 0; k < n; k++) {
        const ftms_field *f = &l->fields[idx[k]];
        fp_status rc = ftms_put(r, f, ftms_raw(p, f->type));
        if (rc)
            return rc;
        p += ftms_widths[f->type];
    }
    *more_data = (flags & 1) != 0;
    return FP_OK;
}

void ftms_record_init(ftms_record *rec)
{
    memset(rec, 0, sizeof(*rec));
}

bool ftms_record_flush(ftms_record *rec, fp_reading *out)
{
    bool any = rec->pending && rec->r.nvalues > 0;
    if (any)
        *out = rec->r;
    rec->pending = false;
    rec->r.nvalues = 0;
    return any;
}

/* true when cur cannot join the pending part: another characteristic or
 * device, or a quantity the pending part already has. */
static bool ftms_conflicts(const ftms_record *rec, uint16_t uuid16, const fp_reading *cur)
{
    if (rec->uuid != uuid16 || strcmp(rec->r.device, cur->device) != 0)
        return true;
    if (rec->r.nvalues + cur->nvalues > FP_VALUES_MAX)
        return true;
    for (uint16_t i = 0; i < cur->nvalues; i++) {
        if (fp_reading_get(&rec->r, cur->values[i].q, NULL))
            return true;
    }
    return false;
}

fp_status ftms_record_feed(ftms_record *rec, uint16_t uuid16, const uint8_t *buf, size_t len,
                           const char *device, int64_t ts_ms, fp_reading out[FTMS_RECORD_OUT_MAX],
                           size_t *nout)
{
    *nout = 0;
    fp_kind kind = ftms_kind(uuid16);
    if (kind == 0)
        return FP_ERR_UNKNOWN;
    fp_reading cur;
    fp_status rc = fp_reading_init(&cur, device, kind, ts_ms);
    bool more = false;
    if (rc == FP_OK)
        rc = ftms_data_decode(uuid16, buf, len, &cur, &more);
    if (rc)
        return rc;

    if (rec->pending && ftms_conflicts(rec, uuid16, &cur)) {
        if (ftms_record_flush(rec, &out[*nout]))
            (*nout)++;
    }
    if (!rec->pending) {
        rec->uuid = uuid16;
        rec->pending = true;
        rec->r = cur;
    } else {
        /* No conflict: every add succeeds (values were range-checked in cur). */
        for (uint16_t i = 0; i < cur.nvalues; i++)
            fp_reading_add(&rec->r, cur.values[i].q, cur.values[i].v);
        rec->r.ts_ms = ts_ms;
    }
    if (!more && ftms_record_flush(rec, &out[*nout]))
        (*nout)++;
    return FP_OK;
}

fp_status ftms_feature_decode(const uint8_t *buf, size_t len, uint32_t *features, uint32_t *targets)
{
    if (buf == NULL || len != 8)
        return FP_ERR_LENGTH;
    uint32_t f = fit_le32(buf), t = fit_le32(buf + 4);
    /* FTMS 1.0 defines bits 0..16 of both words. */
    if ((f | t) & 0xFFFE0000u)
        return FP_ERR_RESERVED;
    *features = f;
    *targets = t;
    return FP_OK;
}

#define TS_F_STRING   0x01
#define TS_F_EXTENDED 0x02
#define TS_LAST_CODE  0x0F /* post-workout */

fp_status ftms_training_status_decode(const uint8_t *buf, size_t len, uint8_t *status)
{
    if (buf == NULL || len < 2)
        return FP_ERR_LENGTH;
    if (buf[0] & ~(TS_F_STRING | TS_F_EXTENDED))
        return FP_ERR_RESERVED;
    /* The string (possibly empty, possibly continued) is not stored. */
    if (!(buf[0] & (TS_F_STRING | TS_F_EXTENDED)) && len != 2)
        return FP_ERR_LENGTH;
    if (buf[1] > TS_LAST_CODE)
        return FP_ERR_RESERVED;
    *status = buf[1];
    return FP_OK;
}

/* Parameter bytes per op code of Fitness Machine Status (FTMS 1.0 4.17);
 * -1 marks a reserved op code. */
static int ftms_status_param_len(uint8_t op)
{
    static const int8_t lens[] = {
        -1, /* 0x00 reserved */
        0,  /* 0x01 reset */
        1,  /* 0x02 stopped or paused by the user: 1 stop, 2 pause */
        0,  /* 0x03 stopped by safety key */
        0,  /* 0x04 started or resumed by the user */
        2,  /* 0x05 target speed, 0.01 km/h */
        2,  /* 0x06 target incline, 0.1 % */
        1,  /* 0x07 target resistance level, uint8 0.1 */
        2,  /* 0x08 target power, W */
        1,  /* 0x09 target heart rate */
        2,  /* 0x0A targeted expended energy */
        2,  /* 0x0B targeted number of steps */
        2,  /* 0x0C targeted number of strides */
        3,  /* 0x0D targeted distance, uint24 m */
        2,  /* 0x0E targeted training time */
        4,  /* 0x0F targeted time in two HR zones */
        6,  /* 0x10 ... three HR zones */
        10, /* 0x11 ... five HR zones */
        6,  /* 0x12 indoor bike simulation: wind s16, grade s16, crr u8, cw u8 */
        2,  /* 0x13 wheel circumference */
        1,  /* 0x14 spin down status: 1..4 */
        2,  /* 0x15 targeted cadence */
    };
    if (op == 0xFF) /* control permission lost */
        return 0;
    if (op >= sizeof(lens))
        return -1;
    return lens[op];
}

fp_status ftms_machine_status_decode(const uint8_t *buf, size_t len, uint8_t *op_code)
{
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    int plen = ftms_status_param_len(buf[0]);
    if (plen < 0)
        return FP_ERR_RESERVED;
    if (len != 1 + (size_t)plen)
        return FP_ERR_LENGTH;
    if (buf[0] == 0x02 && (buf[1] < 1 || buf[1] > 2))
        return FP_ERR_RESERVED;
    if (buf[0] == 0x14 && (buf[1] < 1 || buf[1] > 4))
        return FP_ERR_RESERVED;
    *op_code = buf[0];
    return FP_OK;
}
