/* test_adv.c - advertisement decoders, byte-exact.
 *
 * Payloads are built here from the layouts documented in drivers/src/adv_*.c
 * and docs/devices.md, plus real captures quoted by Theengs Decoder and Polar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fitdrivers/adv.h"
#include "fitdrivers/gatt.h"

#define DEV "AA:BB:CC:DD:EE:FF"
#define TS  1732530000123LL

/* CMocka 1.1 has no double compare; eps 0 means exactly equal. */
#define assert_near(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ - b_ <= (eps) && b_ - a_ <= (eps)))                                               \
            fail_msg("%.17g != %.17g", a_, b_);                                                    \
    } while (0)

static fp_reading out[ADV_READINGS_MAX];
static size_t nout;

/* One advertisement with at most one manufacturer and one service entry. */
static fp_status decode(const char *name, int company, const uint8_t *m, size_t mlen, int uuid,
                        const uint8_t *sv, size_t slen)
{
    adv_data mfg = {(uint16_t)company, m, mlen}, svc = {(uint16_t)uuid, sv, slen};
    adv_input in = {.name = name};
    if (company >= 0) {
        in.mfg = &mfg;
        in.nmfg = 1;
    }
    if (uuid >= 0) {
        in.svc = &svc;
        in.nsvc = 1;
    }
    memset(out, 0xAB, sizeof(out));
    nout = 99;
    fp_status rc = adv_decode(&in, DEV, TS, out, ADV_READINGS_MAX, &nout);
    if (rc != FP_OK)
        assert_int_equal(nout, 0);
    for (size_t i = 0; rc == FP_OK && i < nout; i++) {
        assert_int_equal(fp_reading_validate(&out[i]), FP_OK);
        assert_string_equal(out[i].device, DEV);
        assert_int_equal(out[i].ts_ms, TS);
    }
    return rc;
}

static fp_status svc_only(const char *name, int uuid, const uint8_t *p, size_t len)
{
    return decode(name, -1, NULL, 0, uuid, p, len);
}

static fp_status mfg_only(int company, const uint8_t *p, size_t len)
{
    return decode(NULL, company, p, len, -1, NULL, 0);
}

static double get(size_t i, fp_quantity q)
{
    double v;
    assert_true(i < nout);
    assert_true(fp_reading_get(&out[i], q, &v));
    return v;
}

static void absent(size_t i, fp_quantity q)
{
    double v;
    assert_false(fp_reading_get(&out[i], q, &v));
}

/* Value by value: fp_value has padding that memcmp would compare. */
static void same_values(const fp_reading *a, const fp_reading *b)
{
    assert_int_equal(a->nvalues, b->nvalues);
    for (size_t i = 0; i < a->nvalues; i++) {
        assert_int_equal(a->values[i].q, b->values[i].q);
        assert_near(a->values[i].v, b->values[i].v, 0);
    }
}

/* ---- Xiaomi Mi Scale v1 (0x181D, 10 bytes) ---- */

static size_t mi_v1(uint8_t *b, uint8_t ctrl, uint16_t raw, uint16_t year, uint8_t mon, uint8_t day,
                    uint8_t h, uint8_t m, uint8_t s)
{
    uint8_t f[10] = {ctrl, raw & 0xFF, raw >> 8, year & 0xFF, year >> 8, mon, day, h, m, s};
    memcpy(b, f, sizeof(f));
    return sizeof(f);
}

static void test_mi_v1_kg(void **state)
{
    (void)state;
    uint8_t b[16];
    size_t n = mi_v1(b, 0x22, 14600, 2024, 11, 25, 10, 20, 30);
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_WEIGHT);
    assert_int_equal(out[0].nvalues, 2);
    assert_near(get(0, FP_Q_WEIGHT), 73.0, 1e-9);
    assert_near(get(0, FP_Q_DEVICE_TIME), 1732530030.0, 0);
    /* The name alone also says Xiaomi. */
    assert_int_equal(svc_only("MI_SCALE", 0x181D, b, n), FP_OK);
    assert_int_equal(nout, 1);
}

static void test_mi_v1_units(void **state)
{
    (void)state;
    uint8_t b[16];
    size_t n = mi_v1(b, 0x23, 16094, 2024, 2, 29, 6, 5, 4); /* lb, a leap day */
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
    assert_near(get(0, FP_Q_WEIGHT), 160.94 * 0.45359237, 1e-9);
    assert_near(get(0, FP_Q_DEVICE_TIME), 1709186704.0, 0);

    n = mi_v1(b, 0x32, 14600, 2024, 11, 25, 10, 20, 30); /* jin: 146.00 jin = 73 kg */
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
    assert_near(get(0, FP_Q_WEIGHT), 73.0, 1e-9);

    n = mi_v1(b, 0x33, 16094, 2024, 11, 25, 10, 20, 30); /* lb and jin bits: lb wins */
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
    assert_near(get(0, FP_Q_WEIGHT), 160.94 * 0.45359237, 1e-9);
}

static void test_mi_v1_not_a_weighing(void **state)
{
    (void)state;
    uint8_t b[16];
    size_t n = mi_v1(b, 0x02, 14600, 2024, 11, 25, 10, 20, 30); /* settling */
    assert_int_equal(svc_only("MI_SCALE", 0x181D, b, n), FP_OK);
    assert_int_equal(nout, 0);
    n = mi_v1(b, 0xA2, 14600, 2024, 11, 25, 10, 20, 30); /* stepped off */
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
    assert_int_equal(nout, 0);
    n = mi_v1(b, 0x82, 14600, 2024, 11, 25, 10, 20, 30); /* removed, unstable */
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
    assert_int_equal(nout, 0);
    n = mi_v1(b, 0x22, 0, 2024, 11, 25, 10, 20, 30); /* stabilized at 0 kg */
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_ERR_RANGE);
}

static void test_mi_v1_bad_clock(void **state)
{
    (void)state;
    uint8_t b[16];
    const uint16_t years[] = {0, 1969, 2100, 2023, 2024, 2024, 2024, 2024};
    const uint8_t mons[] = {1, 1, 1, 2, 13, 0, 4, 1};
    const uint8_t days[] = {1, 1, 1, 29, 1, 1, 31, 0};
    for (size_t i = 0; i < sizeof(years) / sizeof(years[0]); i++) {
        size_t n = mi_v1(b, 0x22, 14600, years[i], mons[i], days[i], 0, 0, 0);
        assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
        assert_int_equal(out[0].nvalues, 1);
        absent(0, FP_Q_DEVICE_TIME);
    }
    size_t n = mi_v1(b, 0x22, 14600, 2024, 1, 1, 24, 0, 0);
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
    absent(0, FP_Q_DEVICE_TIME);
    n = mi_v1(b, 0x22, 14600, 2024, 1, 1, 23, 60, 0);
    assert_int_equal(svc_only(NULL, 0x181D, b, n), FP_OK);
    absent(0, FP_Q_DEVICE_TIME);
}

static void test_mi_v1_lengths(void **state)
{
    (void)state;
    uint8_t b[ADV_DATA_MAX];
    memset(b, 0, sizeof(b));
    mi_v1(b, 0x22, 14600, 2024, 11, 25, 10, 20, 30);
    for (size_t len = 1; len <= ADV_DATA_MAX; len++) {
        if (len == 10)
            continue;
        assert_int_equal(svc_only(NULL, 0x181D, b, len), FP_ERR_LENGTH);
        assert_int_equal(svc_only("MI_SCALE", 0x181D, b, len), FP_ERR_LENGTH);
    }
}

/* Without Xiaomi bits or name, 0x181D carries a standard Weight Measurement:
 * whatever the GATT decoder says about it, the advertisement says the same. */
static void test_weight_scale_standard(void **state)
{
    (void)state;
    const uint8_t vals[][15] = {
        {0x00, 0x20, 0x39},                                 /* kg */
        {0x01, 0x6E, 0x3E},                                 /* lb */
        {0x02, 0x20, 0x39, 0xE8, 0x07, 11, 25, 10, 20, 30}, /* + time */
        {0x0C, 0x20, 0x39, 3, 0xF5, 0x00, 0xD2, 0x06},      /* user, BMI */
        {0x0E, 0x20, 0x39, 0xE8, 0x07, 11, 25, 10, 20, 30, 3, 0xF5, 0x00, 0xD2, 0x06},
        {0x00, 0x20}, /* short */
    };
    const size_t lens[] = {3, 3, 10, 8, 15, 2};
    /* The plain one, by value: 0x3920 * 0.005 kg. */
    assert_int_equal(svc_only(NULL, 0x181D, vals[0], 3), FP_OK);
    assert_int_equal(out[0].kind, FP_KIND_WEIGHT);
    assert_near(get(0, FP_Q_WEIGHT), 73.12, 1e-9);
    assert_int_equal(svc_only(NULL, 0x181D, vals[5], 2), FP_ERR_LENGTH);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        fp_reading g;
        fp_status grc = gatt_decode(0x2A9D, vals[i], lens[i], DEV, TS, &g);
        fp_status arc = svc_only(NULL, 0x181D, vals[i], lens[i]);
        assert_int_equal(arc, grc);
        if (grc == FP_OK) {
            assert_int_equal(nout, 1);
            assert_int_equal(out[0].kind, g.kind);
            assert_int_equal(out[0].nvalues, g.nvalues);
            same_values(&out[0], &g);
        }
    }
}

/* ---- Xiaomi Mi Body Composition Scale (0x181B, 13 bytes) ---- */

static size_t mi_bc(uint8_t *b, uint8_t c0, uint8_t c1, uint16_t year, uint8_t mon, uint8_t day,
                    uint8_t h, uint8_t m, uint8_t s, uint16_t imp, uint16_t raw)
{
    uint8_t f[13] = {c0, c1, year & 0xFF, year >> 8, mon,        day,     h,
                     m,  s,  imp & 0xFF,  imp >> 8,  raw & 0xFF, raw >> 8};
    memcpy(b, f, sizeof(f));
    return sizeof(f);
}

static void test_mi_body_kg_impedance(void **state)
{
    (void)state;
    uint8_t b[16];
    size_t n = mi_bc(b, 0x02, 0x26, 2024, 11, 25, 10, 20, 30, 503, 14640);
    assert_int_equal(svc_only(NULL, 0x181B, b, n), FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_BODY_COMPOSITION);
    assert_int_equal(out[0].nvalues, 3);
    assert_near(get(0, FP_Q_WEIGHT), 73.2, 1e-9);
    assert_near(get(0, FP_Q_IMPEDANCE), 503, 0);
    assert_near(get(0, FP_Q_DEVICE_TIME), 1732530030.0, 0);
    absent(0, FP_Q_BODY_FAT); /* needs the user's height, age, sex */
}

/* A capture quoted in Theengs Decoder's tests: MIBFS, clock never set. */
static void test_mi_body_theengs_capture(void **state)
{
    (void)state;
    const uint8_t b[] = {0x02, 0x24, 0xb2, 0x07, 0x01, 0x13, 0x10,
                         0x0c, 0x08, 0xfd, 0xff, 0x4a, 0x0b};
    const uint8_t m[] = {0x38, 0x1e, 0xc7, 0x81, 0xc6, 0x3c}; /* the MAC, not Mi Band */
    assert_int_equal(decode("MIBFS", 0x0157, m, sizeof(m), 0x181B, b, sizeof(b)), FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_BODY_COMPOSITION);
    assert_near(get(0, FP_Q_WEIGHT), 14.45, 1e-9);
    absent(0, FP_Q_IMPEDANCE); /* 0xfffd, and the impedance bit is clear */
    assert_near(get(0, FP_Q_DEVICE_TIME), 1613528.0, 0);
}

static void test_mi_body_units_and_flags(void **state)
{
    (void)state;
    uint8_t b[16];
    size_t n = mi_bc(b, 0x03, 0x26, 2024, 11, 25, 10, 20, 30, 480, 16140); /* lb */
    assert_int_equal(svc_only(NULL, 0x181B, b, n), FP_OK);
    assert_near(get(0, FP_Q_WEIGHT), 161.40 * 0.45359237, 1e-9);
    assert_near(get(0, FP_Q_IMPEDANCE), 480, 0);

    n = mi_bc(b, 0x02, 0x66, 2024, 11, 25, 10, 20, 30, 480, 14640); /* jin: date untrusted */
    assert_int_equal(svc_only(NULL, 0x181B, b, n), FP_OK);
    assert_near(get(0, FP_Q_WEIGHT), 73.2, 1e-9);
    absent(0, FP_Q_DEVICE_TIME);

    n = mi_bc(b, 0x02, 0x24, 2024, 11, 25, 10, 20, 30, 480, 14640); /* no impedance bit */
    assert_int_equal(svc_only(NULL, 0x181B, b, n), FP_OK);
    absent(0, FP_Q_IMPEDANCE);
    assert_int_equal(out[0].nvalues, 2);

    n = mi_bc(b, 0x02, 0x26, 2024, 11, 25, 10, 20, 30, 10001, 14640); /* impedance > model */
    assert_int_equal(svc_only(NULL, 0x181B, b, n), FP_ERR_RANGE);
    n = mi_bc(b, 0x02, 0x26, 2024, 11, 25, 10, 20, 30, 480, 0);
    assert_int_equal(svc_only(NULL, 0x181B, b, n), FP_ERR_RANGE);

    /* Nothing yet: settling, stepped off, small-object mode. */
    const uint8_t c0[] = {0x02, 0x02, 0x02, 0x06};
    const uint8_t c1[] = {0x04, 0xA6, 0x86, 0x26};
    for (size_t i = 0; i < sizeof(c0); i++) {
        n = mi_bc(b, c0[i], c1[i], 2024, 11, 25, 10, 20, 30, 480, 14640);
        assert_int_equal(svc_only("MIBFS", 0x181B, b, n), FP_OK);
        assert_int_equal(nout, 0);
    }
}

static void test_mi_body_lengths(void **state)
{
    (void)state;
    uint8_t b[ADV_DATA_MAX];
    memset(b, 0, sizeof(b));
    mi_bc(b, 0x02, 0x26, 2024, 11, 25, 10, 20, 30, 503, 14640);
    for (size_t len = 0; len <= ADV_DATA_MAX; len++) {
        if (len == 13)
            continue;
        assert_int_equal(svc_only("MIBFS", 0x181B, b, len), FP_ERR_LENGTH);
        assert_int_equal(svc_only("MIBCS", 0x181B, b, len), FP_ERR_LENGTH);
    }
}

/* 0x181B without Xiaomi signs is a standard Body Composition Measurement. */
static void test_body_composition_standard(void **state)
{
    (void)state;
    const uint8_t vals[][20] = {
        {0x00, 0x00, 0xC8, 0x00},                         /* fat 20.0 % */
        {0x00, 0x06, 0xC8, 0x00, 0xF7, 0x13, 0x20, 0x39}, /* + impedance, weight */
        {0x02, 0x04, 0xC8, 0x00, 0xE8, 0x07, 11, 25, 10, 20, 30, 0x20, 0x39}, /* 13 bytes */
        {0x00, 0x20, 0xC8, 0x00}, /* reserved bit 13, 4 bytes */
        {0x00},
    };
    const size_t lens[] = {4, 8, 13, 4, 1};
    /* By value: body fat 200 * 0.1 %, impedance 0x13F7 * 0.1 ohm. */
    assert_int_equal(svc_only(NULL, 0x181B, vals[1], 8), FP_OK);
    assert_int_equal(out[0].kind, FP_KIND_BODY_COMPOSITION);
    assert_near(get(0, FP_Q_BODY_FAT), 20.0, 1e-9);
    assert_near(get(0, FP_Q_IMPEDANCE), 511.1, 1e-9);
    assert_near(get(0, FP_Q_WEIGHT), 73.12, 1e-9);
    assert_int_equal(svc_only(NULL, 0x181B, vals[3], 4), FP_ERR_RESERVED);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        fp_reading g;
        fp_status grc = gatt_decode(0x2A9C, vals[i], lens[i], DEV, TS, &g);
        fp_status arc = svc_only(NULL, 0x181B, vals[i], lens[i]);
        assert_int_equal(arc, grc);
        if (grc == FP_OK) {
            assert_int_equal(nout, 1);
            assert_int_equal(out[0].kind, g.kind);
            assert_int_equal(out[0].nvalues, g.nvalues);
            same_values(&out[0], &g);
        }
    }
}

/* ---- Mi Band / Amazfit ---- */

static void test_miband_hr(void **state)
{
    (void)state;
    uint8_t m[ADV_DATA_MAX];
    memset(m, 0x11, sizeof(m));
    m[3] = 72; /* byte 5 of "5701...": the company id is already split off */
    assert_int_equal(mfg_only(0x0157, m, 24), FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_HEART_RATE);
    assert_int_equal(out[0].nvalues, 1);
    assert_near(get(0, FP_Q_HEART_RATE), 72, 0);

    m[3] = 0xFF;
    assert_int_equal(mfg_only(0x0157, m, 24), FP_OK);
    assert_int_equal(nout, 0);
    m[3] = 0;
    assert_int_equal(mfg_only(0x0157, m, 24), FP_OK);
    assert_int_equal(nout, 0);

    /* Any other length under 0x0157 is not this frame (the scales put their
     * MAC there in 6 bytes): not decoded, never a heart rate. */
    m[3] = 72;
    for (size_t len = 0; len <= ADV_DATA_MAX; len++) {
        if (len != 24)
            assert_int_equal(mfg_only(0x0157, m, len), FP_ERR_UNKNOWN);
    }
}

static void test_miband_steps(void **state)
{
    (void)state;
    const uint8_t s[] = {0x70, 0x11, 0x01, 0x00}; /* 70000: more than 16 bits */
    assert_int_equal(svc_only(NULL, 0xFEE0, s, 4), FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_ACTIVITY);
    assert_near(get(0, FP_Q_STEPS), 70000, 0);

    const uint8_t zero[4] = {0};
    assert_int_equal(svc_only(NULL, 0xFEE0, zero, 4), FP_OK);
    assert_near(get(0, FP_Q_STEPS), 0, 0);

    const uint8_t big[] = {0xFF, 0xFF, 0xFF, 0xFF}; /* > 1e9: not a day's steps */
    assert_int_equal(svc_only(NULL, 0xFEE0, big, 4), FP_ERR_RANGE);

    uint8_t b[ADV_DATA_MAX] = {0};
    for (size_t len = 0; len <= ADV_DATA_MAX; len++) {
        if (len != 4)
            assert_int_equal(svc_only(NULL, 0xFEE0, b, len), FP_ERR_LENGTH);
    }
}

static void test_miband_hr_and_steps(void **state)
{
    (void)state;
    uint8_t m[24] = {0};
    m[3] = 95;
    const uint8_t s[] = {0xD2, 0x04, 0x00, 0x00};
    assert_int_equal(decode("Mi Smart Band 6", 0x0157, m, 24, 0xFEE0, s, 4), FP_OK);
    assert_int_equal(nout, 2);
    assert_int_equal(out[0].kind, FP_KIND_HEART_RATE); /* manufacturer data first */
    assert_near(get(0, FP_Q_HEART_RATE), 95, 0);
    assert_int_equal(out[1].kind, FP_KIND_ACTIVITY);
    assert_near(get(1, FP_Q_STEPS), 1234, 0);

    /* Room for one reading only: all or nothing. */
    adv_data mfg = {0x0157, m, 24}, svc = {0xFEE0, s, 4};
    adv_input in = {.mfg = &mfg, .nmfg = 1, .svc = &svc, .nsvc = 1};
    size_t n = 7;
    assert_int_equal(adv_decode(&in, DEV, TS, out, 1, &n), FP_ERR_LIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(adv_decode(&in, DEV, TS, out, 0, &n), FP_ERR_LIMIT);
}

/* ---- Polar ---- */

static void test_polar(void **state)
{
    (void)state;
    const uint8_t h7[] = {0x03, 0x00, 70, 72}; /* 4 bytes: slow average at [3] */
    assert_int_equal(mfg_only(0x006B, h7, sizeof(h7)), FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_HEART_RATE);
    assert_near(get(0, FP_Q_HEART_RATE), 72, 0);
    assert_near(get(0, FP_Q_SENSOR_CONTACT), 1, 0);

    const uint8_t old[] = {0x01, 0x00, 65}; /* 3 bytes, no contact */
    assert_int_equal(mfg_only(0x006B, old, sizeof(old)), FP_OK);
    assert_near(get(0, FP_Q_HEART_RATE), 65, 0);
    assert_near(get(0, FP_Q_SENSOR_CONTACT), 0, 0);

    /* Polar OH1 (example in Polar's SDK): a GPB block, then heart rate. */
    const uint8_t oh1[] = {0x72, 0x06, 0x7f, 0x44, 0x37, 0x00, 0x00, 0x00, 0x33, 0x00, 0x3c};
    assert_int_equal(mfg_only(0x006B, oh1, sizeof(oh1)), FP_OK);
    assert_int_equal(nout, 1);
    assert_near(get(0, FP_Q_HEART_RATE), 60, 0);
    assert_near(get(0, FP_Q_SENSOR_CONTACT), 1, 0);

    /* Heart rate block of 4 after GPB: slow average. */
    const uint8_t gpb4[] = {0x40, 0x01, 0xAA, 0x02, 0x00, 80, 81};
    assert_int_equal(mfg_only(0x006B, gpb4, sizeof(gpb4)), FP_OK);
    assert_near(get(0, FP_Q_HEART_RATE), 81, 0);

    const uint8_t zero[] = {0x03, 0x00, 0, 0};
    assert_int_equal(mfg_only(0x006B, zero, sizeof(zero)), FP_OK);
    assert_int_equal(nout, 0);
    const uint8_t gpb_only[] = {0x40, 0x01, 0xAA, 0x41, 0x00};
    assert_int_equal(mfg_only(0x006B, gpb_only, sizeof(gpb_only)), FP_OK);
    assert_int_equal(nout, 0);
}

static void test_polar_malformed(void **state)
{
    (void)state;
    const uint8_t p[] = {0x03, 0x00, 70, 72};
    assert_int_equal(mfg_only(0x006B, p, 0), FP_ERR_LENGTH);
    assert_int_equal(mfg_only(0x006B, p, 1), FP_ERR_LENGTH);
    assert_int_equal(mfg_only(0x006B, p, 2), FP_ERR_LENGTH);
    const uint8_t overrun[] = {0x40, 0x09, 0x00, 0x00, 0x00}; /* GPB says 9 bytes */
    assert_int_equal(mfg_only(0x006B, overrun, sizeof(overrun)), FP_ERR_LENGTH);
    const uint8_t gpb_tail[] = {0x40, 0x01, 0x00, 0x00, 0x40}; /* GPB without length */
    assert_int_equal(mfg_only(0x006B, gpb_tail, sizeof(gpb_tail)), FP_ERR_LENGTH);
    const uint8_t hr_short[] = {0x40, 0x01, 0x00, 0x03, 0x00}; /* 2-byte HR block */
    assert_int_equal(mfg_only(0x006B, hr_short, sizeof(hr_short)), FP_ERR_LENGTH);
}

/* ---- dispatch ---- */

static void test_unknown_and_mixed(void **state)
{
    (void)state;
    const uint8_t x[] = {1, 2, 3};
    assert_int_equal(mfg_only(0x004C, x, 3), FP_ERR_UNKNOWN); /* Apple */
    assert_int_equal(svc_only(NULL, 0xFE95, x, 3), FP_ERR_UNKNOWN);
    assert_int_equal(decode("x", -1, NULL, 0, -1, NULL, 0), FP_ERR_UNKNOWN);

    /* Someone else's entry beside ours: ours is decoded. */
    const uint8_t s[] = {10, 0, 0, 0};
    assert_int_equal(decode(NULL, 0x004C, x, 3, 0xFEE0, s, 4), FP_OK);
    assert_int_equal(nout, 1);

    /* One malformed entry of ours rejects the whole advertisement. */
    uint8_t m[24] = {0};
    m[3] = 80;
    assert_int_equal(decode(NULL, 0x0157, m, 24, 0xFEE0, s, 3), FP_ERR_LENGTH);
}

static void test_limits(void **state)
{
    (void)state;
    uint8_t big[ADV_DATA_MAX + 1] = {0};
    adv_data e[ADV_ENTRIES_MAX + 1];
    for (size_t i = 0; i < ADV_ENTRIES_MAX + 1; i++)
        e[i] = (adv_data){0x004C, big, 1};
    size_t n = 5;
    adv_input in = {.mfg = e, .nmfg = ADV_ENTRIES_MAX + 1};
    assert_int_equal(adv_decode(&in, DEV, TS, out, ADV_READINGS_MAX, &n), FP_ERR_LIMIT);
    assert_int_equal(n, 0);
    in = (adv_input){.svc = e, .nsvc = ADV_ENTRIES_MAX + 1};
    assert_int_equal(adv_decode(&in, DEV, TS, out, ADV_READINGS_MAX, &n), FP_ERR_LIMIT);
    in = (adv_input){.mfg = e, .nmfg = ADV_ENTRIES_MAX};
    assert_int_equal(adv_decode(&in, DEV, TS, out, ADV_READINGS_MAX, &n), FP_ERR_UNKNOWN);

    adv_data huge = {0x0157, big, ADV_DATA_MAX + 1};
    in = (adv_input){.mfg = &huge, .nmfg = 1};
    assert_int_equal(adv_decode(&in, DEV, TS, out, ADV_READINGS_MAX, &n), FP_ERR_LIMIT);
    adv_data nodata = {0x0157, NULL, 24};
    in = (adv_input){.mfg = &nodata, .nmfg = 1};
    assert_int_equal(adv_decode(&in, DEV, TS, out, ADV_READINGS_MAX, &n), FP_ERR_LENGTH);
    in = (adv_input){.mfg = NULL, .nmfg = 1};
    assert_int_equal(adv_decode(&in, DEV, TS, out, ADV_READINGS_MAX, &n), FP_ERR_LIMIT);

    /* The device id is checked like everywhere else. */
    const uint8_t s[] = {10, 0, 0, 0};
    adv_data svc = {0xFEE0, s, 4};
    in = (adv_input){.svc = &svc, .nsvc = 1};
    assert_int_equal(adv_decode(&in, "../etc", TS, out, ADV_READINGS_MAX, &n), FP_ERR_RANGE);
    assert_int_equal(n, 0);
}

static void test_uuid16_parse(void **state)
{
    (void)state;
    const struct {
        const char *s;
        int want; /* -1: syntax error */
    } cases[] = {
        {"181b", 0x181B},
        {"181B", 0x181B},
        {"0x181d", 0x181D},
        {"0XFEE0", 0xFEE0},
        {"0000181b-0000-1000-8000-00805f9b34fb", 0x181B},
        {"0000FEE0-0000-1000-8000-00805F9B34FB", 0xFEE0},
        {"0001181b-0000-1000-8000-00805f9b34fb", -1}, /* 32-bit uuid */
        {"0000181b-0000-1000-8000-00805f9b34fc", -1}, /* off the base */
        {"0000181b_0000-1000-8000-00805f9b34fb", -1},
        {"181", -1},
        {"181bb", -1},
        {"0x18", -1},
        {"18 1b", -1},
        {"", -1},
        {"0x", -1},
        {"g81b", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint16_t u = 0;
        fp_status rc = adv_uuid16_parse(cases[i].s, strlen(cases[i].s), &u);
        if (cases[i].want < 0) {
            assert_int_equal(rc, FP_ERR_SYNTAX);
        } else {
            assert_int_equal(rc, FP_OK);
            assert_int_equal(u, cases[i].want);
        }
    }
    uint16_t u;
    assert_int_equal(adv_uuid16_parse("181bXX", 4, &u), FP_OK); /* length, not NUL */
    assert_int_equal(u, 0x181B);
    assert_int_equal(adv_uuid16_parse(NULL, 0, &u), FP_ERR_SYNTAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mi_v1_kg),
        cmocka_unit_test(test_mi_v1_units),
        cmocka_unit_test(test_mi_v1_not_a_weighing),
        cmocka_unit_test(test_mi_v1_bad_clock),
        cmocka_unit_test(test_mi_v1_lengths),
        cmocka_unit_test(test_weight_scale_standard),
        cmocka_unit_test(test_mi_body_kg_impedance),
        cmocka_unit_test(test_mi_body_theengs_capture),
        cmocka_unit_test(test_mi_body_units_and_flags),
        cmocka_unit_test(test_mi_body_lengths),
        cmocka_unit_test(test_body_composition_standard),
        cmocka_unit_test(test_miband_hr),
        cmocka_unit_test(test_miband_steps),
        cmocka_unit_test(test_miband_hr_and_steps),
        cmocka_unit_test(test_polar),
        cmocka_unit_test(test_polar_malformed),
        cmocka_unit_test(test_unknown_and_mixed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_uuid16_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
