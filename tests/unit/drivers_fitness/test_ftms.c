/* test_ftms.c - Fitness Machine Service 1.0: the six data characteristics
 * round-tripped over every flag combination through a test-only encoder
 * built from the spec's field lists (written here independently of the
 * driver's tables), truncation/over-length, sentinels, the energy-rate rule,
 * the shared indoor bike vector, the record assembler, feature, training
 * status and machine status. */
#include <math.h>

#include "fitdrivers/fitness.h"
#include "fitdrivers/gatt.h"
#include "fit_test.h"

/* How the test turns a raw field into the expected reading value. */
enum { X_MUL, X_PACE_KMMIN, X_PACE_500M, X_NONE, X_RATE_HOUR, X_RATE_MIN };

typedef struct tfield {
    uint8_t bytes;
    bool is_signed;
    int how;
    fp_quantity q;
    double mul;
    int32_t lo, hi; /* raw values the round trip draws from (in range, no sentinel) */
} tfield;

typedef struct tgroup {
    uint8_t bit;
    uint8_t n;
    tfield f[3];
} tgroup;

typedef struct tchar {
    const char *name;
    uint16_t uuid;
    fp_kind kind;
    uint8_t flag_bytes;
    uint8_t nbits; /* flag bits the spec defines; the rest are reserved */
    uint8_t ngroups;
    tgroup g[16];
} tchar;

#define KMH (1 / 3.6 / 100)
#define U16(q, m, lo, hi)                                                                          \
    {                                                                                              \
        2, false, X_MUL, q, m, lo, hi                                                              \
    }
#define U8(q, m, lo, hi)                                                                           \
    {                                                                                              \
        1, false, X_MUL, q, m, lo, hi                                                              \
    }
#define U24(q)                                                                                     \
    {                                                                                              \
        3, false, X_MUL, q, 1, 0, 0xFFFFFF                                                         \
    }
#define S16(q, m, lim)                                                                             \
    {                                                                                              \
        2, true, X_MUL, q, m, -(lim), lim                                                          \
    }
#define SKIP16                                                                                     \
    {                                                                                              \
        2, false, X_NONE, 0, 0, 0, 0xFFFF                                                          \
    }
#define SKIPS16                                                                                    \
    {                                                                                              \
        2, true, X_NONE, 0, 0, -32768, 32767                                                       \
    }
#define ENERGY_G(b)                                                                                \
    {                                                                                              \
        b, 3,                                                                                      \
        {                                                                                          \
            U16(FP_Q_ENERGY, 4184, 0, 0xFFFE),                                                     \
                {2, false, X_RATE_HOUR, FP_Q_ENERGY_RATE, 4184 / 3600.0, 0, 0xFFFE},               \
            {                                                                                      \
                1, false, X_RATE_MIN, FP_Q_ENERGY_RATE, 4184 / 60.0, 0, 0xFE                       \
            }                                                                                      \
        }                                                                                          \
    }
#define HR_G(b)                                                                                    \
    {                                                                                              \
        b, 1,                                                                                      \
        {                                                                                          \
            U8(FP_Q_HEART_RATE, 1, 1, 255)                                                         \
        }                                                                                          \
    }
#define MET_G(b)                                                                                   \
    {                                                                                              \
        b, 1,                                                                                      \
        {                                                                                          \
            U8(FP_Q_MET, 0.1, 0, 255)                                                              \
        }                                                                                          \
    }
#define TIME_G(b)                                                                                  \
    {                                                                                              \
        b, 1,                                                                                      \
        {                                                                                          \
            U16(FP_Q_ELAPSED, 1, 0, 0xFFFF)                                                        \
        }                                                                                          \
    }
#define LEFT_G(b)                                                                                  \
    {                                                                                              \
        b, 1,                                                                                      \
        {                                                                                          \
            U16(FP_Q_REMAINING, 1, 0, 0xFFFF)                                                      \
        }                                                                                          \
    }

static const tchar machines[] = {
    {"treadmill",
     0x2ACD,
     FP_KIND_TREADMILL,
     2,
     13,
     13,
     {
         {0, 1, {U16(FP_Q_SPEED, KMH, 0, 36000)}},
         {1, 1, {U16(FP_Q_AVG_SPEED, KMH, 0, 36000)}},
         {2, 1, {U24(FP_Q_DISTANCE)}},
         {3, 2, {S16(FP_Q_INCLINE, 0.1, 1000), S16(FP_Q_RAMP_ANGLE, 0.1, 900)}},
         {4, 2, {U16(FP_Q_ELEVATION_GAIN, 1, 0, 0xFFFF), U16(FP_Q_ELEVATION_LOSS, 1, 0, 0xFFFF)}},
         {5, 1, {{1, false, X_PACE_KMMIN, FP_Q_PACE, 0, 1, 255}}},
         {6, 1, {{1, false, X_PACE_KMMIN, FP_Q_AVG_PACE, 0, 1, 255}}},
         ENERGY_G(7),
         HR_G(8),
         MET_G(9),
         TIME_G(10),
         LEFT_G(11),
         {12, 2, {SKIPS16, S16(FP_Q_POWER, 1, 32766)}},
     }},
    {"cross_trainer",
     0x2ACE,
     FP_KIND_CROSS_TRAINER,
     3,
     16,
     15,
     {
         {0, 1, {U16(FP_Q_SPEED, KMH, 0, 36000)}},
         {1, 1, {U16(FP_Q_AVG_SPEED, KMH, 0, 36000)}},
         {2, 1, {U24(FP_Q_DISTANCE)}},
         {3, 2, {U16(FP_Q_CADENCE, 1, 0, 1000), U16(FP_Q_AVG_CADENCE, 1, 0, 1000)}},
         {4, 1, {SKIP16}},
         {5, 2, {U16(FP_Q_ELEVATION_GAIN, 1, 0, 0xFFFF), U16(FP_Q_ELEVATION_LOSS, 1, 0, 0xFFFF)}},
         {6, 2, {S16(FP_Q_INCLINE, 0.1, 1000), S16(FP_Q_RAMP_ANGLE, 0.1, 900)}},
         {7, 1, {S16(FP_Q_RESISTANCE, 0.1, 32766)}},
         {8, 1, {S16(FP_Q_POWER, 1, 32766)}},
         {9, 1, {S16(FP_Q_AVG_POWER, 1, 32766)}},
         ENERGY_G(10),
         HR_G(11),
         MET_G(12),
         TIME_G(13),
         LEFT_G(14),
         /* bit 15: movement direction, no field */
     }},
    {"step_climber",
     0x2ACF,
     FP_KIND_STEP_CLIMBER,
     2,
     9,
     9,
     {
         {0, 2, {U16(FP_Q_FLOORS, 1, 0, 0xFFFF), U16(FP_Q_STEPS, 1, 0, 0xFFFF)}},
         {1, 1, {U16(FP_Q_CADENCE, 1, 0, 1000)}},
         {2, 1, {U16(FP_Q_AVG_CADENCE, 1, 0, 1000)}},
         {3, 1, {U16(FP_Q_ELEVATION_GAIN, 1, 0, 0xFFFF)}},
         ENERGY_G(4),
         HR_G(5),
         MET_G(6),
         TIME_G(7),
         LEFT_G(8),
     }},
    {"stair_climber",
     0x2AD0,
     FP_KIND_STAIR_CLIMBER,
     2,
     10,
     10,
     {
         {0, 1, {U16(FP_Q_FLOORS, 1, 0, 0xFFFF)}},
         {1, 1, {U16(FP_Q_CADENCE, 1, 0, 1000)}},
         {2, 1, {U16(FP_Q_AVG_CADENCE, 1, 0, 1000)}},
         {3, 1, {U16(FP_Q_ELEVATION_GAIN, 1, 0, 0xFFFF)}},
         {4, 1, {SKIP16}},
         ENERGY_G(5),
         HR_G(6),
         MET_G(7),
         TIME_G(8),
         LEFT_G(9),
     }},
    {"rower",
     0x2AD1,
     FP_KIND_ROWER,
     2,
     13,
     13,
     {
         {0, 2, {U8(FP_Q_CADENCE, 0.5, 0, 255), U16(FP_Q_STROKES, 1, 0, 0xFFFF)}},
         {1, 1, {U8(FP_Q_AVG_CADENCE, 0.5, 0, 255)}},
         {2, 1, {U24(FP_Q_DISTANCE)}},
         {3, 1, {{2, false, X_PACE_500M, FP_Q_PACE, 0, 1, 50000}}},
         {4, 1, {{2, false, X_PACE_500M, FP_Q_AVG_PACE, 0, 1, 50000}}},
         {5, 1, {S16(FP_Q_POWER, 1, 32766)}},
         {6, 1, {S16(FP_Q_AVG_POWER, 1, 32766)}},
         {7, 1, {S16(FP_Q_RESISTANCE, 0.1, 32766)}},
         ENERGY_G(8),
         HR_G(9),
         MET_G(10),
         TIME_G(11),
         LEFT_G(12),
     }},
    {"indoor_bike",
     0x2AD2,
     FP_KIND_INDOOR_BIKE,
     2,
     13,
     13,
     {
         {0, 1, {U16(FP_Q_SPEED, KMH, 0, 36000)}},
         {1, 1, {U16(FP_Q_AVG_SPEED, KMH, 0, 36000)}},
         {2, 1, {U16(FP_Q_CADENCE, 0.5, 0, 2000)}},
         {3, 1, {U16(FP_Q_AVG_CADENCE, 0.5, 0, 2000)}},
         {4, 1, {U24(FP_Q_DISTANCE)}},
         {5, 1, {S16(FP_Q_RESISTANCE, 0.1, 32766)}},
         {6, 1, {S16(FP_Q_POWER, 1, 32766)}},
         {7, 1, {S16(FP_Q_AVG_POWER, 1, 32766)}},
         ENERGY_G(8),
         HR_G(9),
         MET_G(10),
         TIME_G(11),
         LEFT_G(12),
     }},
};

#define NMACHINES (sizeof(machines) / sizeof(machines[0]))

static bool group_present(uint32_t flags, uint8_t bit)
{
    return bit == 0 ? !(flags & 1) : (flags >> bit) & 1;
}

/* What the encoder wrote and what the decoder must give back. */
typedef struct expect {
    int n;
    fp_quantity q[32];
    double v[32];
} expect;

static void expect_set(expect *e, fp_quantity q, double v)
{
    for (int i = 0; i < e->n; i++) {
        if (e->q[i] == q) {
            e->v[i] = v; /* energy rate per minute replaces per hour */
            return;
        }
    }
    e->q[e->n] = q;
    e->v[e->n++] = v;
}

static double expected_value(const tfield *f, int32_t raw)
{
    switch (f->how) {
    case X_PACE_KMMIN:
        return 1.0 / (raw * 0.1 * 1000 / 60); /* km/min -> m/s -> s/m */
    case X_PACE_500M:
        return raw / 500.0;
    default:
        return raw * f->mul;
    }
}

/* Encodes random in-range values for every field the flags announce. */
static size_t ftms_encode(const tchar *c, uint32_t flags, uint8_t *buf, expect *e)
{
    uint8_t *p = c->flag_bytes == 3 ? put24(buf, flags) : put16(buf, flags);
    e->n = 0;
    for (int g = 0; g < c->ngroups; g++) {
        const tgroup *grp = &c->g[g];
        if (!group_present(flags, grp->bit))
            continue;
        for (int i = 0; i < grp->n; i++) {
            const tfield *f = &grp->f[i];
            int32_t raw = (int32_t)rnd_in(f->lo, f->hi);
            if (f->bytes == 1)
                p = put8(p, (uint32_t)raw);
            else if (f->bytes == 2)
                p = put16(p, (uint32_t)raw);
            else
                p = put24(p, (uint32_t)raw);
            if (f->how != X_NONE)
                expect_set(e, f->q, expected_value(f, raw));
        }
    }
    return (size_t)(p - buf);
}

static void check_reading(const fp_reading *r, const expect *e)
{
    assert_int_equal(r->nvalues, e->n);
    for (int i = 0; i < e->n; i++) {
        double got = get(r, e->q[i]);
        if (fabs(got - e->v[i]) > 1e-9 * fmax(1, fabs(e->v[i])))
            fail_msg("quantity %d: got %.12g want %.12g", (int)e->q[i], got, e->v[i]);
    }
}

static void test_ftms_every_flag_combination(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMACHINES; m++) {
        const tchar *c = &machines[m];
        for (uint32_t flags = 0; flags < (1u << c->nbits); flags++) {
            uint8_t buf[96];
            expect e;
            size_t n = ftms_encode(c, flags, buf, &e);
            fp_reading r;
            bool more = !(flags & 1);
            assert_int_equal(fp_reading_init(&r, "machine-1", c->kind, TS), FP_OK);
            fp_status rc = ftms_data_decode(c->uuid, buf, n, &r, &more);
            if (rc != FP_OK)
                fail_msg("%s flags 0x%x: %s", c->name, flags, fp_status_str(rc));
            assert_int_equal(more, flags & 1);
            check_reading(&r, &e);

            rc = gatt_decode(c->uuid, buf, n, "machine-1", TS, &r);
            assert_int_equal(rc, e.n ? FP_OK : FP_ERR_RANGE);
            if (e.n) {
                assert_int_equal(r.kind, c->kind);
                check_reading(&r, &e);
                assert_int_equal(fp_reading_validate(&r), FP_OK);
            }
            /* One byte short or long: rejected, reading left empty. */
            assert_int_equal(gatt_decode(c->uuid, buf, n - 1, "machine-1", TS, &r), FP_ERR_LENGTH);
            assert_int_equal(r.nvalues, 0);
            buf[n] = 0;
            assert_int_equal(gatt_decode(c->uuid, buf, n + 1, "machine-1", TS, &r), FP_ERR_LENGTH);
            if (flags == (1u << c->nbits) - 2) { /* everything present: every prefix */
                for (size_t cut = 0; cut < n; cut++)
                    assert_int_equal(gatt_decode(c->uuid, buf, cut, "m", TS, &r), FP_ERR_LENGTH);
            }
        }
        /* Every reserved flag bit. */
        for (unsigned bit = c->nbits; bit < 8u * c->flag_bytes; bit++) {
            uint8_t buf[96];
            expect e;
            size_t n = ftms_encode(c, 1u, buf, &e); /* More Data, no field */
            buf[bit / 8] |= (uint8_t)(1u << (bit % 8));
            fp_reading r;
            assert_int_equal(gatt_decode(c->uuid, buf, n, "m", TS, &r), FP_ERR_RESERVED);
        }
    }
}

static void test_ftms_indoor_bike_vector(void **state)
{
    (void)state;
    const cJSON *v;
    int n = 0;
    cJSON_ArrayForEach(v, vector_list("ftms_indoor_bike_data_2ad2", 1))
    {
        uint8_t buf[64];
        size_t len = test_unhex(field(v, "hex")->valuestring, buf, sizeof(buf));
        assert_int_equal(buf[0] | buf[1] << 8, (int)num(v, "flags"));
        fp_reading r;
        assert_int_equal(gatt_decode(FITNESS_UUID_INDOOR_BIKE, buf, len, "bike-1", TS, &r), FP_OK);
        assert_int_equal(r.kind, FP_KIND_INDOOR_BIKE);
        assert_int_equal(r.nvalues, 4);
        assert_true(fabs(get(&r, FP_Q_SPEED) * 3.6 - num(v, "speed_kmh")) < 1e-9);
        assert_true(get(&r, FP_Q_CADENCE) == num(v, "cadence_rpm"));
        assert_true(get(&r, FP_Q_POWER) == num(v, "power_w"));
        assert_true(get(&r, FP_Q_HEART_RATE) == num(v, "hr_bpm"));
        n++;
    }
    assert_true(n >= 1);
}

static void test_ftms_sentinels_and_energy_rate(void **state)
{
    (void)state;
    fp_reading r;
    double v;
    /* Indoor bike, More Data set, energy + HR: total 100 kcal, 600 kcal/h, 12 kcal/min, HR 0 */
    uint8_t bike[] = {0x01, 0x03, 100, 0, 0x58, 0x02, 12, 0};
    assert_int_equal(gatt_decode(0x2AD2, bike, sizeof(bike), "m", TS, &r), FP_OK);
    assert_true(get(&r, FP_Q_ENERGY) == 418400);
    assert_true(fabs(get(&r, FP_Q_ENERGY_RATE) - 12 * 4184 / 60.0) < 1e-9); /* per minute */
    assert_false(fp_reading_get(&r, FP_Q_HEART_RATE, &v));                  /* 0: no data */
    assert_int_equal(r.nvalues, 2);

    bike[6] = 0xFF; /* per minute unknown: the per-hour rate is used */
    assert_int_equal(gatt_decode(0x2AD2, bike, sizeof(bike), "m", TS, &r), FP_OK);
    assert_true(fabs(get(&r, FP_Q_ENERGY_RATE) - 600 * 4184 / 3600.0) < 1e-9);

    bike[2] = bike[3] = bike[4] = bike[5] = 0xFF; /* all energy unknown, HR 0 */
    assert_int_equal(gatt_decode(0x2AD2, bike, sizeof(bike), "m", TS, &r), FP_ERR_RANGE);
    assert_int_equal(r.nvalues, 0);

    /* Power and resistance 0x7FFF: no data. Speed present (bit0 clear). */
    uint8_t power[] = {0xE0, 0x00, 0x10, 0x00, 0xFF, 0x7F, 0xFF, 0x7F, 0xFF, 0x7F};
    assert_int_equal(gatt_decode(0x2AD2, power, sizeof(power), "m", TS, &r), FP_OK);
    assert_int_equal(r.nvalues, 1);
    assert_true(fabs(get(&r, FP_Q_SPEED) - 0.16 / 3.6) < 1e-12);
    power[4] = 0xFE; /* 32766 W is a value */
    assert_int_equal(gatt_decode(0x2AD2, power, sizeof(power), "m", TS, &r), FP_OK);
    assert_true(fabs(get(&r, FP_Q_RESISTANCE) - 3276.6) < 1e-9);

    /* Rower and treadmill pace 0: not moving, omitted. */
    uint8_t rower[] = {0x1D, 0x00, 5, 0, 0, 0, 0, 0, 0}; /* distance 5 m */
    assert_int_equal(gatt_decode(0x2AD1, rower, sizeof(rower), "m", TS, &r), FP_OK);
    assert_int_equal(r.nvalues, 1); /* distance only */
    uint8_t tread[] = {0x61, 0x00, 0, 10};
    assert_int_equal(gatt_decode(0x2ACD, tread, sizeof(tread), "m", TS, &r), FP_OK);
    assert_int_equal(r.nvalues, 1);
    assert_true(fabs(get(&r, FP_Q_AVG_PACE) - 0.06) < 1e-12); /* 1 km/min = 1000/60 m/s */

    /* Out of range: speed 0xFFFF = 655 km/h > 100 m/s. */
    uint8_t fast[] = {0x00, 0x00, 0xFF, 0xFF};
    assert_int_equal(gatt_decode(0x2AD2, fast, sizeof(fast), "m", TS, &r), FP_ERR_RANGE);
    assert_int_equal(gatt_decode(0x2AD2, NULL, 0, "m", TS, &r), FP_ERR_LENGTH);
    assert_int_equal(gatt_decode(0x2ACE, fast, 2, "m", TS, &r), FP_ERR_LENGTH); /* 3-byte flags */
}

/* Indoor bike notifications for the assembler. */
static const uint8_t part_power[] = {0x41, 0x00, 0x64, 0x00}; /* More Data, power 100 W */
static const uint8_t part_hr[] = {0x01, 0x02, 0x78};          /* More Data, HR 120 */
static const uint8_t last_speed[] = {0x04, 0x00, 0xE8, 0x03, 0xB4, 0x00}; /* 10 km/h, 90 rpm */

static void test_ftms_record_merges_split_notifications(void **state)
{
    (void)state;
    ftms_record rec;
    fp_reading out[FTMS_RECORD_OUT_MAX];
    size_t n;
    ftms_record_init(&rec);
    assert_int_equal(
        ftms_record_feed(&rec, 0x2AD2, part_power, sizeof(part_power), "bike-1", TS, out, &n),
        FP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(
        ftms_record_feed(&rec, 0x2AD2, part_hr, sizeof(part_hr), "bike-1", TS + 5, out, &n), FP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(
        ftms_record_feed(&rec, 0x2AD2, last_speed, sizeof(last_speed), "bike-1", TS + 10, out, &n),
        FP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, FP_KIND_INDOOR_BIKE);
    assert_int_equal(out[0].ts_ms, TS + 10); /* stamped when the record completed */
    assert_int_equal(out[0].nvalues, 4);
    assert_true(get(&out[0], FP_Q_POWER) == 100);
    assert_true(get(&out[0], FP_Q_HEART_RATE) == 120);
    assert_true(fabs(get(&out[0], FP_Q_SPEED) - 10 / 3.6) < 1e-12);
    assert_true(get(&out[0], FP_Q_CADENCE) == 90);
    assert_int_equal(fp_reading_validate(&out[0]), FP_OK);
    assert_false(ftms_record_flush(&rec, &out[1])); /* nothing left */

    /* A complete record in one notification comes straight out. */
    assert_int_equal(
        ftms_record_feed(&rec, 0x2AD2, last_speed, sizeof(last_speed), "bike-1", TS, out, &n),
        FP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].nvalues, 2);
}

static void test_ftms_record_flush_rules(void **state)
{
    (void)state;
    ftms_record rec;
    fp_reading out[FTMS_RECORD_OUT_MAX];
    size_t n;
    ftms_record_init(&rec);

    /* The closing notification was lost: power again flushes the first part. */
    assert_int_equal(ftms_record_feed(&rec, 0x2AD2, part_power, 4, "bike-1", TS, out, &n), FP_OK);
    assert_int_equal(ftms_record_feed(&rec, 0x2AD2, part_power, 4, "bike-1", TS + 1, out, &n),
                     FP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].ts_ms, TS);
    assert_int_equal(out[0].nvalues, 1);

    /* ... and when that conflicting notification also completes: two records. */
    uint8_t power_speed[] = {0x40, 0x00, 0x10, 0x00, 0x32, 0x00}; /* speed + power 50 W */
    assert_int_equal(
        ftms_record_feed(&rec, 0x2AD2, power_speed, sizeof(power_speed), "bike-1", TS + 2, out, &n),
        FP_OK);
    assert_int_equal(n, 2);
    assert_true(get(&out[0], FP_Q_POWER) == 100);
    assert_true(get(&out[1], FP_Q_POWER) == 50);
    assert_true(get(&out[1], FP_Q_SPEED) > 0);

    /* Another characteristic flushes the pending part. */
    assert_int_equal(ftms_record_feed(&rec, 0x2AD2, part_hr, 3, "bike-1", TS, out, &n), FP_OK);
    uint8_t rower[] = {0x00, 0x00, 40, 0x10, 0x00}; /* 20 strokes/min, 16 strokes */
    assert_int_equal(ftms_record_feed(&rec, 0x2AD1, rower, sizeof(rower), "bike-1", TS, out, &n),
                     FP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].kind, FP_KIND_INDOOR_BIKE);
    assert_true(get(&out[0], FP_Q_HEART_RATE) == 120);
    assert_int_equal(out[1].kind, FP_KIND_ROWER);
    assert_true(get(&out[1], FP_Q_CADENCE) == 20);

    /* A bad notification is dropped; the pending part survives. */
    assert_int_equal(ftms_record_feed(&rec, 0x2AD2, part_hr, 3, "bike-1", TS, out, &n), FP_OK);
    assert_int_equal(ftms_record_feed(&rec, 0x2AD2, part_power, 3, "bike-1", TS, out, &n),
                     FP_ERR_LENGTH);
    assert_int_equal(n, 0);
    assert_int_equal(ftms_record_feed(&rec, 0x2A37, part_power, 4, "bike-1", TS, out, &n),
                     FP_ERR_UNKNOWN);
    assert_int_equal(ftms_record_feed(&rec, 0x2AD2, part_power, 4, "bad/id", TS, out, &n),
                     FP_ERR_RANGE);
    /* Explicit flush (disconnect, timeout). */
    assert_true(ftms_record_flush(&rec, &out[0]));
    assert_int_equal(out[0].nvalues, 1);
    assert_true(get(&out[0], FP_Q_HEART_RATE) == 120);
    assert_false(ftms_record_flush(&rec, &out[0]));

    /* A record of sentinels only is not returned. */
    uint8_t empty[] = {0x01, 0x02, 0x00}; /* More Data, HR 0 */
    assert_int_equal(ftms_record_feed(&rec, 0x2AD2, empty, 3, "bike-1", TS, out, &n), FP_OK);
    assert_false(ftms_record_flush(&rec, &out[0]));
}

static void test_ftms_feature(void **state)
{
    (void)state;
    uint8_t buf[9] = {0x8F, 0x54, 0x01, 0x00, 0x0C, 0x60, 0x00, 0x00, 0};
    uint32_t f, t;
    fp_reading r;
    assert_int_equal(ftms_feature_decode(buf, 8, &f, &t), FP_OK);
    assert_int_equal(f, 0x0001548F);
    assert_int_equal(t, 0x0000600C);
    assert_int_equal(gatt_decode(0x2ACC, buf, 8, "m", TS, &r), FP_OK);
    assert_int_equal(r.kind, FP_KIND_FEATURES);
    assert_true(get(&r, FP_Q_FEATURES) == 0x0001548F);
    assert_true(get(&r, FP_Q_TARGET_FEATURES) == 0x600C);
    for (size_t cut = 0; cut < 8; cut++)
        assert_int_equal(ftms_feature_decode(buf, cut, &f, &t), FP_ERR_LENGTH);
    assert_int_equal(ftms_feature_decode(buf, 9, &f, &t), FP_ERR_LENGTH);
    buf[2] = 0x02; /* bit 17 */
    assert_int_equal(ftms_feature_decode(buf, 8, &f, &t), FP_ERR_RESERVED);
    buf[2] = 0x01;
    buf[7] = 0x80; /* target bit 31 */
    assert_int_equal(gatt_decode(0x2ACC, buf, 8, "m", TS, &r), FP_ERR_RESERVED);
}

static void test_ftms_training_status(void **state)
{
    (void)state;
    uint8_t st;
    fp_reading r;
    for (int code = 0; code < 256; code++) {
        uint8_t buf[2] = {0, (uint8_t)code};
        fp_status rc = ftms_training_status_decode(buf, 2, &st);
        assert_int_equal(rc, code <= 0x0F ? FP_OK : FP_ERR_RESERVED);
        if (rc == FP_OK)
            assert_int_equal(st, code);
    }
    uint8_t with_string[] = {0x01, 0x0D, 'Q', 'u', 'i', 'c', 'k'};
    assert_int_equal(gatt_decode(0x2AD3, with_string, sizeof(with_string), "m", TS, &r), FP_OK);
    assert_int_equal(r.kind, FP_KIND_MACHINE_STATUS);
    assert_int_equal(r.nvalues, 1);
    assert_true(get(&r, FP_Q_TYPE) == 0x0D);
    with_string[0] = 0x00; /* no string announced: extra bytes are a length error */
    assert_int_equal(ftms_training_status_decode(with_string, 3, &st), FP_ERR_LENGTH);
    assert_int_equal(ftms_training_status_decode(with_string, 1, &st), FP_ERR_LENGTH);
    assert_int_equal(ftms_training_status_decode(with_string, 0, &st), FP_ERR_LENGTH);
    with_string[0] = 0x04; /* reserved flag bit */
    assert_int_equal(ftms_training_status_decode(with_string, 2, &st), FP_ERR_RESERVED);
}

static void test_ftms_machine_status(void **state)
{
    (void)state;
    /* Parameter bytes per op code, from FTMS 1.0 table 4.26 (-1 reserved). */
    static const int plen[0x16] = {-1, 0, 1, 0, 0, 2, 2,  1, 2, 1, 2,
                                   2,  2, 3, 2, 4, 6, 10, 6, 2, 1, 2};
    uint8_t buf[16] = {0};
    uint8_t op;
    fp_reading r;
    for (int code = 0; code < 256; code++) {
        int want = code < 0x16 ? plen[code] : code == 0xFF ? 0 : -1;
        buf[0] = (uint8_t)code;
        buf[1] = 1; /* a valid parameter for 0x02 and 0x14 */
        if (want < 0) {
            for (size_t len = 1; len < 12; len++)
                assert_int_equal(ftms_machine_status_decode(buf, len, &op), FP_ERR_RESERVED);
            continue;
        }
        assert_int_equal(ftms_machine_status_decode(buf, 1 + (size_t)want, &op), FP_OK);
        assert_int_equal(op, code);
        assert_int_equal(gatt_decode(0x2ADA, buf, 1 + (size_t)want, "m", TS, &r), FP_OK);
        assert_true(get(&r, FP_Q_STATUS) == code);
        assert_int_equal(ftms_machine_status_decode(buf, 2 + (size_t)want, &op), FP_ERR_LENGTH);
        if (want > 0)
            assert_int_equal(ftms_machine_status_decode(buf, (size_t)want, &op), FP_ERR_LENGTH);
    }
    uint8_t stop[2] = {0x02, 0x03};
    assert_int_equal(ftms_machine_status_decode(stop, 2, &op), FP_ERR_RESERVED);
    uint8_t spin[2] = {0x14, 0x04};
    assert_int_equal(ftms_machine_status_decode(spin, 2, &op), FP_OK);
    spin[1] = 0x05;
    assert_int_equal(ftms_machine_status_decode(spin, 2, &op), FP_ERR_RESERVED);
    assert_int_equal(ftms_machine_status_decode(NULL, 0, &op), FP_ERR_LENGTH);
}

static void test_fitness_unknown_uuid(void **state)
{
    (void)state;
    fp_reading r;
    uint8_t b[4] = {0};
    assert_int_equal(fitness_gatt_decode(0x2A37, b, 2, "m", TS, &r), FP_ERR_UNKNOWN);
    assert_int_equal(fitness_gatt_decode(0x2AD4, b, 2, "m", TS, &r), FP_ERR_UNKNOWN);
    assert_int_equal(ftms_kind(0x2AD9), 0);
    assert_int_equal(fitness_gatt_decode(0x2AD2, b, 4, "", TS, &r), FP_ERR_RANGE); /* bad id */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ftms_every_flag_combination),
        cmocka_unit_test(test_ftms_indoor_bike_vector),
        cmocka_unit_test(test_ftms_sentinels_and_energy_rate),
        cmocka_unit_test(test_ftms_record_merges_split_notifications),
        cmocka_unit_test(test_ftms_record_flush_rules),
        cmocka_unit_test(test_ftms_feature),
        cmocka_unit_test(test_ftms_training_status),
        cmocka_unit_test(test_ftms_machine_status),
        cmocka_unit_test(test_fitness_unknown_uuid),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
