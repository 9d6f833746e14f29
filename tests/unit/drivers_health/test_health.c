/* test_health.c - the health family (fitdrivers/health.h): every vector of
 * shared/vectors/ble-gatt.json for 0x2A35, 0x2A1C and 0x2A5F; for each
 * characteristic a round trip through the test encoder over every flag
 * combination, with every truncated and every over-long payload rejected and
 * the reading checked against values computed here; reserved bits and values,
 * out-of-range values, "no data" values, and the Date Time field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "test_util.h"

#include "encode_health.h"
#include "fitdrivers/gatt.h"
#include "fitdrivers/health.h"
#include "fitdrivers/ieee11073.h"

#define TS     1732530000123LL
#define DEV    "aa:bb:cc:dd:ee:ff"
#define MMHG   133.322387415
#define LB     0.45359237
#define INCH   0.0254
#define PASSES 8 /* random payloads per flag combination */

/* ---- helpers ---- */

static cJSON *vectors;

static int load_vectors(void **state)
{
    (void)state;
    FILE *f = fopen(FITGATE_VECTORS_DIR "/ble-gatt.json", "rb");
    if (f == NULL)
        return -1;
    static char text[1 << 18];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    vectors = cJSON_Parse(text);
    return vectors ? 0 : -1;
}

static int free_vectors(void **state)
{
    (void)state;
    cJSON_Delete(vectors);
    return 0;
}

static const cJSON *item(const cJSON *v, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(v, key);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* What a reading should hold: the test's own arithmetic, not the decoder's. */
typedef struct expect {
    int n, measured;
    fp_quantity q[FP_VALUES_MAX];
    double v[FP_VALUES_MAX];
} expect;

static void want(expect *e, fp_quantity q, double v, bool measured)
{
    e->q[e->n] = q;
    e->v[e->n++] = v;
    e->measured += measured;
}

static bool close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b));
}

/* gatt_decode() must give exactly the expected values (or FP_ERR_RANGE when
 * nothing measured is left). */
static void check_reading(uint16_t uuid, const uint8_t *buf, size_t n, const expect *e,
                          fp_kind kind)
{
    fp_reading r;
    fp_status rc = gatt_decode(uuid, buf, n, DEV, TS, &r);
    if (e->measured == 0) {
        assert_int_equal(rc, FP_ERR_RANGE);
        assert_int_equal(r.nvalues, 0);
        return;
    }
    assert_int_equal(rc, FP_OK);
    assert_int_equal(r.kind, kind);
    assert_int_equal(r.ts_ms, TS);
    assert_string_equal(r.device, DEV);
    assert_int_equal(fp_reading_validate(&r), FP_OK);
    if (r.nvalues != e->n) {
        fprintf(stderr, "uuid %04x: %d values, want %d\n", uuid, r.nvalues, e->n);
        fail();
    }
    for (int i = 0; i < e->n; i++) {
        double got;
        assert_true(fp_reading_get(&r, e->q[i], &got));
        if (!close_to(got, e->v[i])) {
            fprintf(stderr, "uuid %04x q %d: got %.17g want %.17g\n", uuid, e->q[i], got, e->v[i]);
            fail();
        }
    }
}

/* Every shorter and one longer payload is FP_ERR_LENGTH, and leaves nothing
 * behind in the reading. */
static void check_lengths(uint16_t uuid, const uint8_t *buf, size_t n)
{
    uint8_t b[80];
    fp_reading r;
    assert_true(n + 1 <= sizeof(b));
    memcpy(b, buf, n);
    for (size_t len = 0; len < n; len++) {
        assert_int_equal(gatt_decode(uuid, b, len, DEV, TS, &r), FP_ERR_LENGTH);
        assert_int_equal(r.nvalues, 0);
    }
    for (unsigned extra = 0; extra < 256; extra += 85) {
        b[n] = (uint8_t)extra;
        assert_int_equal(gatt_decode(uuid, b, n + 1, DEV, TS, &r), FP_ERR_LENGTH);
    }
}

/* A random Date Time: mostly a valid date in 1970..2099 whose Unix time comes
 * from timegm(); sometimes an unknown part, sometimes a valid date outside the
 * device_time range (both give no device_time). */
static void rand_time(gatt_datetime *dt, expect *e)
{
    for (;;) {
        struct tm tm = {0};
        dt->year = (uint16_t)(1970 + rnd() % 130);
        dt->month = (uint8_t)(1 + rnd() % 12);
        dt->day = (uint8_t)(1 + rnd() % 31);
        dt->hours = (uint8_t)(rnd() % 24);
        dt->minutes = (uint8_t)(rnd() % 60);
        dt->seconds = (uint8_t)(rnd() % 60);
        tm.tm_year = dt->year - 1900;
        tm.tm_mon = dt->month - 1;
        tm.tm_mday = dt->day;
        tm.tm_hour = dt->hours;
        tm.tm_min = dt->minutes;
        tm.tm_sec = dt->seconds;
        time_t t = timegm(&tm);
        if (tm.tm_mday != dt->day) /* timegm normalised 31 April: pick again */
            continue;
        switch (rnd() % 8) {
        case 0:
            dt->year = 0;
            return;
        case 1:
            dt->month = 0;
            return;
        case 2:
            dt->day = 0;
            return;
        case 3:
            dt->year = (uint16_t)(1600 + rnd() % 300); /* before 1970 */
            if (dt->month == 2 && dt->day == 29)
                dt->day = 28;
            return;
        default:
            want(e, FP_Q_DEVICE_TIME, (double)t, false);
            return;
        }
    }
}

static void rand_user(uint8_t *user, expect *e)
{
    *user = (uint8_t)rnd();
    if (rnd() % 8 == 0)
        *user = 0xFF;
    if (*user != 0xFF)
        want(e, FP_Q_USER_INDEX, *user, false);
}

static const uint16_t sfloat_specials[] = {0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801};

/* A random SFLOAT in [0, max] (one decimal at most), or one of the five
 * specials; the value is appended to e unless special. */
static uint16_t rand_sfloat(int max, expect *e, fp_quantity q, double factor)
{
    if (rnd() % 8 == 0)
        return sfloat_specials[rnd() % 5];
    if (rnd() % 2 && max * 10 <= 2047) {
        int m = (int)(rnd() % (unsigned)(max * 10 + 1));
        want(e, q, m / 10.0 * factor, true);
        return ieee11073_sfloat_make(-1, m);
    }
    int m = (int)(rnd() % (unsigned)(max + 1));
    want(e, q, m * factor, true);
    return ieee11073_sfloat_make(0, m);
}

/* ---- vectors ---- */

static void test_vectors_blood_pressure(void **state)
{
    (void)state;
    const cJSON *list = item(vectors, "blood_pressure_measurement_2a35"), *v;
    assert_int_equal(cJSON_GetArraySize(list), 4);
    int valid = 0, invalid = 0;
    cJSON_ArrayForEach(v, list)
    {
        uint8_t buf[64];
        size_t n = test_unhex(item(v, "hex")->valuestring, buf, sizeof(buf));
        fp_reading r;
        fp_status rc = gatt_decode(0x2A35, buf, n, DEV, TS, &r);
        if (cJSON_IsTrue(item(v, "invalid"))) {
            assert_int_equal(rc, FP_ERR_LENGTH);
            assert_int_equal(r.nvalues, 0);
            invalid++;
            continue;
        }
        assert_int_equal(rc, FP_OK);
        assert_int_equal(r.kind, FP_KIND_BLOOD_PRESSURE);
        double f = strcmp(item(v, "unit")->valuestring, "kPa") == 0 ? 1000.0 : MMHG, got;
        assert_true(fp_reading_get(&r, FP_Q_SYSTOLIC, &got));
        assert_true(close_to(got, item(v, "systolic")->valuedouble * f));
        assert_true(fp_reading_get(&r, FP_Q_DIASTOLIC, &got));
        assert_true(close_to(got, item(v, "diastolic")->valuedouble * f));
        assert_true(fp_reading_get(&r, FP_Q_MEAN_PRESSURE, &got));
        assert_true(close_to(got, item(v, "map")->valuedouble * f));
        assert_true(fp_reading_get(&r, FP_Q_HEART_RATE, &got));
        assert_true(got == item(v, "pulse_bpm")->valuedouble);
        assert_true(fp_reading_get(&r, FP_Q_STATUS, &got));
        assert_true(got == item(v, "status")->valuedouble);
        int count = 5;
        if (item(v, "user_id")) {
            assert_true(fp_reading_get(&r, FP_Q_USER_INDEX, &got));
            assert_true(got == item(v, "user_id")->valuedouble);
            count++;
        }
        /* The first vector's timestamp has year 0 (unknown): no device_time,
         * yet the struct keeps the parts. */
        assert_false(fp_reading_get(&r, FP_Q_DEVICE_TIME, NULL));
        const cJSON *ts = item(v, "timestamp");
        if (ts) {
            bps_measurement m;
            assert_int_equal(bps_decode(buf, n, &m), FP_OK);
            assert_int_equal(m.time.year, item(ts, "year")->valueint);
            assert_int_equal(m.time.month, item(ts, "month")->valueint);
            assert_int_equal(m.time.day, item(ts, "day")->valueint);
            assert_int_equal(m.time.hours, item(ts, "hour")->valueint);
            assert_int_equal(m.time.minutes, item(ts, "minute")->valueint);
            assert_int_equal(m.time.seconds, item(ts, "second")->valueint);
        }
        assert_int_equal(r.nvalues, count);
        valid++;
    }
    assert_int_equal(valid, 2);
    assert_int_equal(invalid, 2);
}

static void test_vectors_temperature(void **state)
{
    (void)state;
    const cJSON *list = item(vectors, "temperature_measurement_2a1c"), *v;
    int valid = 0, invalid = 0;
    cJSON_ArrayForEach(v, list)
    {
        uint8_t buf[64];
        size_t n = test_unhex(item(v, "hex")->valuestring, buf, sizeof(buf));
        fp_reading r;
        fp_status rc = gatt_decode(0x2A1C, buf, n, DEV, TS, &r);
        if (cJSON_IsTrue(item(v, "invalid"))) {
            assert_int_equal(rc, FP_ERR_LENGTH);
            invalid++;
            continue;
        }
        assert_int_equal(rc, FP_OK);
        assert_int_equal(r.kind, FP_KIND_TEMPERATURE);
        double got;
        assert_true(fp_reading_get(&r, FP_Q_TEMPERATURE, &got));
        assert_true(got == item(v, "celsius")->valuedouble); /* 3760 / 100: exact */
        assert_true(fp_reading_get(&r, FP_Q_TYPE, &got));
        assert_true(got == item(v, "type")->valuedouble);
        const cJSON *ts = item(v, "timestamp");
        struct tm tm = {.tm_year = item(ts, "year")->valueint - 1900,
                        .tm_mon = item(ts, "month")->valueint - 1,
                        .tm_mday = item(ts, "day")->valueint,
                        .tm_hour = item(ts, "hour")->valueint,
                        .tm_min = item(ts, "minute")->valueint,
                        .tm_sec = item(ts, "second")->valueint};
        assert_true(fp_reading_get(&r, FP_Q_DEVICE_TIME, &got));
        assert_true(got == (double)timegm(&tm));
        assert_true(got == 1354708227.0);
        assert_int_equal(r.nvalues, 3);
        valid++;
    }
    assert_int_equal(valid, 1);
    assert_int_equal(invalid, 1);
}

static void test_vectors_plx_continuous(void **state)
{
    (void)state;
    const cJSON *list = item(vectors, "plx_continuous_2a5f"), *v;
    int seen = 0;
    cJSON_ArrayForEach(v, list)
    {
        uint8_t buf[64];
        size_t n = test_unhex(item(v, "hex")->valuestring, buf, sizeof(buf));
        fp_reading r;
        assert_int_equal(gatt_decode(0x2A5F, buf, n, DEV, TS, &r), FP_OK);
        assert_int_equal(r.kind, FP_KIND_SPO2);
        double got;
        assert_true(fp_reading_get(&r, FP_Q_SPO2, &got));
        assert_true(got == item(v, "spo2_pct")->valuedouble);
        assert_true(fp_reading_get(&r, FP_Q_HEART_RATE, &got));
        assert_true(got == item(v, "pulse_bpm")->valuedouble);
        assert_int_equal(r.nvalues, 2);
        check_lengths(0x2A5F, buf, n);
        seen++;
    }
    assert_int_equal(seen, 1);
}

/* ---- Date Time ---- */

static void test_datetime(void **state)
{
    (void)state;
    gatt_datetime dt;
    int64_t s;
    const uint8_t ok[] = {0xDC, 0x07, 12, 5, 11, 50, 27};
    assert_int_equal(gatt_datetime_decode(ok, 7, &dt), FP_OK);
    assert_true(gatt_datetime_unix(&dt, &s));
    assert_int_equal(s, 1354708227);
    assert_int_equal(gatt_datetime_decode(ok, 6, &dt), FP_ERR_LENGTH);
    assert_int_equal(gatt_datetime_decode(ok, 8, &dt), FP_ERR_LENGTH);
    assert_int_equal(gatt_datetime_decode(NULL, 7, &dt), FP_ERR_LENGTH);

    /* Each field one past its maximum, and impossible days. */
    static const struct {
        uint16_t y;
        uint8_t mo, d, h, mi, se;
        fp_status rc;
    } cases[] = {
        {2024, 13, 1, 0, 0, 0, FP_ERR_RANGE}, {2024, 1, 32, 0, 0, 0, FP_ERR_RANGE},
        {2024, 1, 1, 24, 0, 0, FP_ERR_RANGE}, {2024, 1, 1, 0, 60, 0, FP_ERR_RANGE},
        {2024, 1, 1, 0, 0, 60, FP_ERR_RANGE}, {2023, 2, 29, 0, 0, 0, FP_ERR_RANGE},
        {2100, 2, 29, 0, 0, 0, FP_ERR_RANGE}, {2024, 4, 31, 0, 0, 0, FP_ERR_RANGE},
        {1581, 1, 1, 0, 0, 0, FP_ERR_RANGE},  {10000, 1, 1, 0, 0, 0, FP_ERR_RANGE},
        {2024, 2, 29, 23, 59, 59, FP_OK},     {2000, 2, 29, 0, 0, 0, FP_OK},
        {0, 2, 29, 0, 0, 0, FP_OK},           {0, 0, 0, 0, 0, 0, FP_OK},
        {1582, 1, 1, 0, 0, 0, FP_OK},         {9999, 12, 31, 23, 59, 59, FP_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gatt_datetime in = {cases[i].y, cases[i].mo, cases[i].d,
                            cases[i].h, cases[i].mi, cases[i].se};
        uint8_t b[7];
        gatt_datetime_encode(&in, b);
        assert_int_equal(gatt_datetime_decode(b, 7, &dt), cases[i].rc);
        assert_true(memcmp(&in, &dt, sizeof(dt)) == 0);
        assert_int_equal(gatt_datetime_unix(&dt, &s),
                         cases[i].rc == FP_OK && in.year && in.month && in.day);
    }
    /* Unknown parts give no instant. */
    dt = (gatt_datetime){2024, 0, 1, 0, 0, 0};
    assert_false(gatt_datetime_unix(&dt, &s));
    dt = (gatt_datetime){2024, 1, 0, 0, 0, 0};
    assert_false(gatt_datetime_unix(&dt, &s));
    dt = (gatt_datetime){1970, 1, 1, 0, 0, 0};
    assert_true(gatt_datetime_unix(&dt, &s));
    assert_int_equal(s, 0);
    dt = (gatt_datetime){1600, 3, 1, 0, 0, 0};
    assert_true(gatt_datetime_unix(&dt, &s));
    assert_int_equal(s, -11670912000LL);

    /* Against timegm() over every day from 1582 to 2400 at a random time. */
    struct tm tm = {.tm_year = 1582 - 1900, .tm_mon = 0, .tm_mday = 1};
    for (int day = 0; day < 299000; day++) {
        struct tm t = tm;
        t.tm_mday += day;
        t.tm_hour = (int)(rnd() % 24);
        t.tm_min = (int)(rnd() % 60);
        t.tm_sec = (int)(rnd() % 60);
        time_t want_s = timegm(&t);
        dt = (gatt_datetime){
            (uint16_t)(t.tm_year + 1900), (uint8_t)(t.tm_mon + 1), (uint8_t)t.tm_mday,
            (uint8_t)t.tm_hour,           (uint8_t)t.tm_min,       (uint8_t)t.tm_sec};
        if (dt.year > 9999)
            break;
        uint8_t b[7];
        gatt_datetime_encode(&dt, b);
        assert_int_equal(gatt_datetime_decode(b, 7, &dt), FP_OK);
        assert_true(gatt_datetime_unix(&dt, &s));
        if (s != want_s) {
            fprintf(stderr, "%04d-%02d-%02d: %lld want %lld\n", dt.year, dt.month, dt.day,
                    (long long)s, (long long)want_s);
            fail();
        }
    }
}

/* ---- round trips over every flag combination ---- */

static void test_wss_roundtrip(void **state)
{
    (void)state;
    for (unsigned flags = 0; flags < 0x10; flags++) {
        for (int pass = 0; pass < 64; pass++) {
            wss_measurement m, back;
            expect e = {0};
            memset(&m, 0, sizeof(m));
            bool imp = flags & 0x01;
            m.flags = (uint8_t)flags;
            m.weight = rnd() % 8 ? (uint16_t)(rnd() % 0xFFFF) : 0xFFFF;
            if (m.weight != 0xFFFF)
                want(&e, FP_Q_WEIGHT, imp ? m.weight / 100.0 * LB : m.weight / 200.0, true);
            if (flags & 0x02)
                rand_time(&m.time, &e);
            if (flags & 0x04)
                rand_user(&m.user, &e);
            if (flags & 0x08) {
                m.bmi = (uint16_t)(rnd() % 2001);
                m.height = (uint16_t)(imp ? rnd() % 1182 : rnd() % 3001);
                want(&e, FP_Q_BMI, m.bmi / 10.0, true);
                want(&e, FP_Q_HEIGHT, imp ? m.height / 10.0 * INCH : m.height / 1000.0, true);
            }
            uint8_t buf[64];
            size_t n = enc_wss(&m, buf, sizeof(buf));
            assert_int_equal(n, 3 + ((flags & 2) ? 7 : 0) + ((flags & 4) ? 1 : 0) +
                                    ((flags & 8) ? 4 : 0));
            assert_int_equal(wss_decode(buf, n, &back), FP_OK);
            assert_memory_equal(&m, &back, sizeof(m));
            check_lengths(0x2A9D, buf, n);
            check_reading(0x2A9D, buf, n, &e, FP_KIND_WEIGHT);
        }
    }
}

static void test_bcs_roundtrip(void **state)
{
    (void)state;
    for (unsigned flags = 0; flags < 0x2000; flags++) {
        for (int pass = 0; pass < PASSES; pass++) {
            bcs_measurement m, back;
            expect e = {0};
            memset(&m, 0, sizeof(m));
            bool imp = flags & 0x0001;
            double mass = imp ? LB / 100.0 : 1 / 200.0;
            m.flags = (uint16_t)flags;
            m.body_fat = rnd() % 8 ? (uint16_t)(rnd() % 1001) : 0xFFFF;
            if (m.body_fat != 0xFFFF)
                want(&e, FP_Q_BODY_FAT, m.body_fat / 10.0, true);
            if (flags & 0x0002)
                rand_time(&m.time, &e);
            if (flags & 0x0004)
                rand_user(&m.user, &e);
            if (flags & 0x0008) {
                m.basal = (uint16_t)rnd();
                want(&e, FP_Q_BASAL_METABOLISM, m.basal * 1000.0, true);
            }
            if (flags & 0x0010) {
                m.muscle_pct = (uint16_t)(rnd() % 1001);
                want(&e, FP_Q_MUSCLE_PCT, m.muscle_pct / 10.0, true);
            }
            struct {
                unsigned bit;
                uint16_t *field;
                fp_quantity q;
            } masses[] = {{0x0020, &m.muscle_mass, FP_Q_MUSCLE_MASS},
                          {0x0040, &m.fat_free_mass, FP_Q_FAT_FREE_MASS},
                          {0x0080, &m.soft_lean_mass, FP_Q_SOFT_LEAN_MASS},
                          {0x0100, &m.body_water, FP_Q_BODY_WATER},
                          {0x0400, &m.weight, FP_Q_WEIGHT}};
            for (size_t i = 0; i < 5; i++) {
                if (flags & masses[i].bit) {
                    *masses[i].field = (uint16_t)rnd();
                    want(&e, masses[i].q, *masses[i].field * mass, true);
                }
            }
            if (flags & 0x0200) {
                m.impedance = (uint16_t)rnd();
                want(&e, FP_Q_IMPEDANCE, m.impedance / 10.0, true);
            }
            if (flags & 0x0800) {
                m.height = (uint16_t)(imp ? rnd() % 1182 : rnd() % 3001);
                want(&e, FP_Q_HEIGHT, imp ? m.height / 10.0 * INCH : m.height / 1000.0, true);
            }
            uint8_t buf[64];
            size_t n = enc_bcs(&m, buf, sizeof(buf));
            assert_true(n >= 4);
            assert_int_equal(bcs_decode(buf, n, &back), FP_OK);
            assert_memory_equal(&m, &back, sizeof(m));
            check_lengths(0x2A9C, buf, n);
            check_reading(0x2A9C, buf, n, &e, FP_KIND_BODY_COMPOSITION);
        }
    }
}

/* Status packing of the PLX reading: measurement status low, device high. */
static void plx_status(uint16_t *meas, uint32_t *dev, bool has_meas, bool has_dev, expect *e)
{
    if (has_meas)
        *meas = (uint16_t)(rnd() & 0xFFE0);
    if (has_dev)
        *dev = rnd() & 0xFFFF;
    if (has_meas || has_dev)
        want(e, FP_Q_STATUS, (double)*meas + (double)*dev * 65536.0, false);
}

static void test_plx_spot_roundtrip(void **state)
{
    (void)state;
    for (unsigned flags = 0; flags < 0x20; flags++) {
        for (int pass = 0; pass < 256; pass++) {
            plx_spot_check m, back;
            expect e = {0}, ignore = {0};
            memset(&m, 0, sizeof(m));
            m.flags = (uint8_t)flags;
            m.spo2 = rand_sfloat(100, &e, FP_Q_SPO2, 1.0);
            m.pr = rand_sfloat(300, &e, FP_Q_HEART_RATE, 1.0);
            if (flags & 0x01)
                rand_time(&m.time, (flags & 0x10) ? &ignore : &e); /* clock not set */
            plx_status(&m.meas_status, &m.dev_status, flags & 0x02, flags & 0x04, &e);
            if (flags & 0x08)
                m.pai = rand_sfloat(100, &e, FP_Q_PERFUSION, 1.0);
            uint8_t buf[64];
            size_t n = enc_plx_spot(&m, buf, sizeof(buf));
            assert_int_equal(plx_spot_decode(buf, n, &back), FP_OK);
            assert_memory_equal(&m, &back, sizeof(m));
            check_lengths(0x2A5E, buf, n);
            check_reading(0x2A5E, buf, n, &e, FP_KIND_SPO2);
        }
    }
}

static void test_plx_cont_roundtrip(void **state)
{
    (void)state;
    for (unsigned flags = 0; flags < 0x20; flags++) {
        for (int pass = 0; pass < 256; pass++) {
            plx_continuous m, back;
            expect e = {0};
            memset(&m, 0, sizeof(m));
            m.flags = (uint8_t)flags;
            m.spo2 = rand_sfloat(100, &e, FP_Q_SPO2, 1.0);
            m.pr = rand_sfloat(300, &e, FP_Q_HEART_RATE, 1.0);
            /* Fast and slow stay in the struct: any bits, never in the reading. */
            if (flags & 0x01) {
                m.fast_spo2 = (uint16_t)rnd();
                m.fast_pr = (uint16_t)rnd();
            }
            if (flags & 0x02) {
                m.slow_spo2 = (uint16_t)rnd();
                m.slow_pr = (uint16_t)rnd();
            }
            plx_status(&m.meas_status, &m.dev_status, flags & 0x04, flags & 0x08, &e);
            if (flags & 0x10)
                m.pai = rand_sfloat(100, &e, FP_Q_PERFUSION, 1.0);
            uint8_t buf[64];
            size_t n = enc_plx_cont(&m, buf, sizeof(buf));
            assert_int_equal(plx_cont_decode(buf, n, &back), FP_OK);
            assert_memory_equal(&m, &back, sizeof(m));
            check_lengths(0x2A5F, buf, n);
            check_reading(0x2A5F, buf, n, &e, FP_KIND_SPO2);
        }
    }
}

static void bps_roundtrip(uint16_t uuid)
{
    bool cuff = uuid == 0x2A36;
    for (unsigned flags = 0; flags < 0x20; flags++) {
        for (int pass = 0; pass < 256; pass++) {
            bps_measurement m, back;
            expect e = {0}, ignore = {0};
            memset(&m, 0, sizeof(m));
            bool kpa = flags & 0x01;
            int max = kpa ? 99 : 700;
            double f = kpa ? 1000.0 : MMHG;
            m.flags = (uint8_t)flags;
            if (cuff) {
                m.systolic = rand_sfloat(max, &e, FP_Q_MEAN_PRESSURE, f);
                m.diastolic = (uint16_t)rnd(); /* unused in 0x2A36: ignored */
                m.map = (uint16_t)rnd();
            } else {
                m.systolic = rand_sfloat(max, &e, FP_Q_SYSTOLIC, f);
                m.diastolic = rand_sfloat(max, &e, FP_Q_DIASTOLIC, f);
                m.map = rand_sfloat(max, &e, FP_Q_MEAN_PRESSURE, f);
            }
            (void)ignore;
            if (flags & 0x02)
                rand_time(&m.time, &e);
            if (flags & 0x04)
                m.pulse = rand_sfloat(300, &e, FP_Q_HEART_RATE, 1.0);
            if (flags & 0x08)
                rand_user(&m.user, &e);
            if (flags & 0x10) {
                do
                    m.status = (uint16_t)(rnd() & 0x3F);
                while (((m.status >> 3) & 3) == 3);
                want(&e, FP_Q_STATUS, m.status, false);
            }
            uint8_t buf[64];
            size_t n = enc_bps(&m, buf, sizeof(buf));
            assert_int_equal(bps_decode(buf, n, &back), FP_OK);
            assert_memory_equal(&m, &back, sizeof(m));
            check_lengths(uuid, buf, n);
            check_reading(uuid, buf, n, &e, FP_KIND_BLOOD_PRESSURE);
        }
    }
}

static void test_bps_roundtrip(void **state)
{
    (void)state;
    bps_roundtrip(0x2A35);
    bps_roundtrip(0x2A36);
}

static const uint32_t float_specials[] = {0x007FFFFF, 0x00800000, 0x007FFFFE, 0x00800002,
                                          0x00800001};

static void test_hts_roundtrip(void **state)
{
    (void)state;
    for (unsigned flags = 0; flags < 0x08; flags++) {
        for (int pass = 0; pass < 1024; pass++) {
            hts_measurement m, back;
            expect e = {0};
            memset(&m, 0, sizeof(m));
            bool fahrenheit = flags & 0x01;
            m.flags = (uint8_t)flags;
            if (rnd() % 10 == 0) {
                m.temperature = float_specials[rnd() % 5];
            } else {
                /* Tenths of a degree, -100..200 C (-148..392 F), inside. */
                int32_t t =
                    fahrenheit ? -1479 + (int32_t)(rnd() % 5399) : -999 + (int32_t)(rnd() % 2999);
                int exp10 = -1;
                if (rnd() % 2) { /* the same value with more digits */
                    t *= 1000;
                    exp10 = -4;
                }
                m.temperature = ieee11073_float_make(exp10, t);
                double v = t / pow(10, -exp10);
                want(&e, FP_Q_TEMPERATURE, fahrenheit ? (v - 32) / 1.8 : v, true);
            }
            if (flags & 0x02)
                rand_time(&m.time, &e);
            if (flags & 0x04) {
                m.type = (uint8_t)(1 + rnd() % 9);
                want(&e, FP_Q_TYPE, m.type, false);
            }
            uint8_t buf[64];
            size_t n = enc_hts(&m, buf, sizeof(buf));
            assert_int_equal(hts_decode(buf, n, &back), FP_OK);
            assert_memory_equal(&m, &back, sizeof(m));
            check_lengths(0x2A1C, buf, n);
            check_reading(0x2A1C, buf, n, &e, FP_KIND_TEMPERATURE);
        }
    }
}

/* ---- features, reserved values, ranges ---- */

static void test_wss_feature(void **state)
{
    (void)state;
    fp_reading r;
    uint8_t b[5] = {0};
    /* Every defined combination: 3 flag bits, resolutions 0..7 and 0..3. */
    for (uint32_t f = 0; f < 0x400; f++) {
        b[0] = (uint8_t)f;
        b[1] = (uint8_t)(f >> 8);
        bool ok = ((f >> 3) & 0xF) <= 7 && ((f >> 7) & 7) <= 3;
        fp_status rc = gatt_decode(0x2A9E, b, 4, DEV, TS, &r);
        if (!ok) {
            assert_int_equal(rc, FP_ERR_RESERVED);
            continue;
        }
        assert_int_equal(rc, FP_OK);
        assert_int_equal(r.kind, FP_KIND_FEATURES);
        assert_int_equal(r.nvalues, 1);
        assert_true(r.values[0].q == FP_Q_FEATURES && r.values[0].v == (double)f);
        check_lengths(0x2A9E, b, 4);
    }
    for (int bit = 10; bit < 32; bit++) {
        uint32_t f = 1u << bit;
        uint8_t c[4] = {(uint8_t)f, (uint8_t)(f >> 8), (uint8_t)(f >> 16), (uint8_t)(f >> 24)};
        assert_int_equal(gatt_decode(0x2A9E, c, 4, DEV, TS, &r), FP_ERR_RESERVED);
    }
}

/* Each reserved flag bit alone, on the shortest payload of each layout. */
static void test_reserved_flags(void **state)
{
    (void)state;
    static const struct {
        uint16_t uuid;
        unsigned reserved;
        size_t len;
        bool flags16;
    } chars[] = {{0x2A9D, 0xF0, 3, false}, {0x2A9C, 0xE000, 4, true}, {0x2A5E, 0xE0, 5, false},
                 {0x2A5F, 0xE0, 5, false}, {0x2A35, 0xE0, 7, false},  {0x2A36, 0xE0, 7, false},
                 {0x2A1C, 0xF8, 5, false}};
    for (size_t i = 0; i < sizeof(chars) / sizeof(chars[0]); i++) {
        for (int bit = 0; bit < 16; bit++) {
            unsigned f = 1u << bit;
            if (!(chars[i].reserved & f))
                continue;
            uint8_t b[16] = {(uint8_t)f, (uint8_t)(f >> 8), 0x10};
            fp_reading r;
            for (size_t len = chars[i].flags16 ? 2 : 1; len < 16; len++) {
                assert_int_equal(gatt_decode(chars[i].uuid, b, len, DEV, TS, &r), FP_ERR_RESERVED);
                assert_int_equal(r.nvalues, 0);
            }
        }
    }
}

static void test_reserved_values(void **state)
{
    (void)state;
    fp_reading r;
    /* PLX measurement status bits 0-4 and device status bits 16-23. */
    for (int bit = 0; bit < 5; bit++) {
        uint8_t spot[] = {0x02, 0x62, 0x00, 0x48, 0x00, (uint8_t)(1 << bit), 0};
        assert_int_equal(gatt_decode(0x2A5E, spot, sizeof(spot), DEV, TS, &r), FP_ERR_RESERVED);
        uint8_t cont[] = {0x04, 0x62, 0x00, 0x48, 0x00, (uint8_t)(1 << bit), 0};
        assert_int_equal(gatt_decode(0x2A5F, cont, sizeof(cont), DEV, TS, &r), FP_ERR_RESERVED);
    }
    for (int bit = 16; bit < 24; bit++) {
        uint8_t spot[] = {0x04, 0x62, 0x00, 0x48, 0x00, 0, 0, (uint8_t)(1 << (bit - 16))};
        assert_int_equal(gatt_decode(0x2A5E, spot, sizeof(spot), DEV, TS, &r), FP_ERR_RESERVED);
        uint8_t cont[] = {0x08, 0x62, 0x00, 0x48, 0x00, 0, 0, (uint8_t)(1 << (bit - 16))};
        assert_int_equal(gatt_decode(0x2A5F, cont, sizeof(cont), DEV, TS, &r), FP_ERR_RESERVED);
    }
    /* Blood pressure status bits 6-15 and pulse-rate range 3. */
    for (int bit = 6; bit < 16; bit++) {
        uint16_t s = (uint16_t)(1u << bit);
        uint8_t bp[] = {0x10, 0x78, 0, 0x50, 0, 0x5A, 0, (uint8_t)s, (uint8_t)(s >> 8)};
        assert_int_equal(gatt_decode(0x2A35, bp, sizeof(bp), DEV, TS, &r), FP_ERR_RESERVED);
    }
    uint8_t bp3[] = {0x10, 0x78, 0, 0x50, 0, 0x5A, 0, 0x18, 0};
    assert_int_equal(gatt_decode(0x2A35, bp3, sizeof(bp3), DEV, TS, &r), FP_ERR_RESERVED);
    bp3[7] = 0x10; /* range 2: below the lower limit */
    assert_int_equal(gatt_decode(0x2A35, bp3, sizeof(bp3), DEV, TS, &r), FP_OK);
    /* Temperature type 0 and 10..255. */
    for (int type = 0; type < 256; type++) {
        uint8_t t[] = {0x04, 0x72, 0x01, 0x00, 0xFF, (uint8_t)type};
        fp_status want_rc = type >= 1 && type <= 9 ? FP_OK : FP_ERR_RESERVED;
        assert_int_equal(gatt_decode(0x2A1C, t, sizeof(t), DEV, TS, &r), want_rc);
    }
}

static void test_ranges(void **state)
{
    (void)state;
    fp_reading r;
    /* A bad date inside a measurement fails the measurement. */
    uint8_t bp[] = {0x02, 0x78, 0, 0x50, 0, 0x5A, 0, 0xE8, 0x07, 13, 1, 0, 0, 0};
    assert_int_equal(gatt_decode(0x2A35, bp, sizeof(bp), DEV, TS, &r), FP_ERR_RANGE);
    bp[9] = 2;
    bp[10] = 30;
    assert_int_equal(gatt_decode(0x2A35, bp, sizeof(bp), DEV, TS, &r), FP_ERR_RANGE);
    bp[10] = 29; /* 2024 is a leap year */
    assert_int_equal(gatt_decode(0x2A35, bp, sizeof(bp), DEV, TS, &r), FP_OK);
    double got;
    assert_true(fp_reading_get(&r, FP_Q_DEVICE_TIME, &got));
    assert_true(got == 1709164800.0);
    /* Negative pressure (SFLOAT -1), SpO2 101 %, BMI 200.1, 250 C: RANGE. */
    uint8_t neg[] = {0x00, 0xFF, 0x0F, 0x50, 0, 0x5A, 0};
    assert_int_equal(gatt_decode(0x2A35, neg, sizeof(neg), DEV, TS, &r), FP_ERR_RANGE);
    uint8_t spo2[] = {0x00, 0x65, 0x00, 0x48, 0x00};
    assert_int_equal(gatt_decode(0x2A5F, spo2, sizeof(spo2), DEV, TS, &r), FP_ERR_RANGE);
    assert_int_equal(gatt_decode(0x2A5E, spo2, sizeof(spo2), DEV, TS, &r), FP_ERR_RANGE);
    uint8_t bmi[] = {0x08, 0x10, 0x27, 0xD1, 0x07, 0xD0, 0x07};
    assert_int_equal(gatt_decode(0x2A9D, bmi, sizeof(bmi), DEV, TS, &r), FP_ERR_RANGE);
    bmi[3] = 0xD0; /* 200.0 */
    assert_int_equal(gatt_decode(0x2A9D, bmi, sizeof(bmi), DEV, TS, &r), FP_OK);
    uint8_t hot[] = {0x00, 0xC4, 0x09, 0x00, 0xFF}; /* 2500 * 10^-1 */
    assert_int_equal(gatt_decode(0x2A1C, hot, sizeof(hot), DEV, TS, &r), FP_ERR_RANGE);
    uint8_t muscle[] = {0x10, 0x00, 0xC8, 0x00, 0xE9, 0x03}; /* muscle 100.1 % */
    assert_int_equal(gatt_decode(0x2A9C, muscle, sizeof(muscle), DEV, TS, &r), FP_ERR_RANGE);
}

/* Readings without any measured value are FP_ERR_RANGE, values that are not
 * numbers are left out. */
static void test_no_data(void **state)
{
    (void)state;
    fp_reading r;
    double got;
    /* Weight 0xFFFF (unsuccessful) with a user: nothing measured. */
    uint8_t w[] = {0x04, 0xFF, 0xFF, 0x01};
    assert_int_equal(gatt_decode(0x2A9D, w, sizeof(w), DEV, TS, &r), FP_ERR_RANGE);
    assert_int_equal(r.nvalues, 0);
    /* Body fat unsuccessful but a weight: the weight stays. */
    uint8_t bc[] = {0x00, 0x04, 0xFF, 0xFF, 0x20, 0x4E};
    assert_int_equal(gatt_decode(0x2A9C, bc, sizeof(bc), DEV, TS, &r), FP_OK);
    assert_int_equal(r.nvalues, 1);
    assert_true(fp_reading_get(&r, FP_Q_WEIGHT, &got) && got == 100.0);
    /* SpO2 NaN, PR NRes, status present: nothing measured. */
    uint8_t plx[] = {0x02, 0xFF, 0x07, 0x00, 0x08, 0x20, 0x00};
    assert_int_equal(gatt_decode(0x2A5E, plx, sizeof(plx), DEV, TS, &r), FP_ERR_RANGE);
    /* SpO2 +INF, PR 72: only the pulse. */
    uint8_t plx2[] = {0x00, 0xFE, 0x07, 0x48, 0x00};
    assert_int_equal(gatt_decode(0x2A5F, plx2, sizeof(plx2), DEV, TS, &r), FP_OK);
    assert_int_equal(r.nvalues, 1);
    assert_true(fp_reading_get(&r, FP_Q_HEART_RATE, &got) && got == 72.0);
    /* Cuff pressure NaN with a pulse: the pulse is a measurement. */
    uint8_t cuff[] = {0x04, 0xFF, 0x07, 0xFF, 0x07, 0xFF, 0x07, 0x48, 0x00};
    assert_int_equal(gatt_decode(0x2A36, cuff, sizeof(cuff), DEV, TS, &r), FP_OK);
    assert_int_equal(r.nvalues, 1);
    cuff[0] = 0x00;
    assert_int_equal(gatt_decode(0x2A36, cuff, 7, DEV, TS, &r), FP_ERR_RANGE);
    /* Intermediate cuff pressure: 0x2A36's cuff value becomes mean_pressure. */
    uint8_t cuff2[] = {0x01, 0x0C, 0x00, 0xFF, 0x07, 0xFF, 0x07}; /* 12 kPa */
    assert_int_equal(gatt_decode(0x2A36, cuff2, sizeof(cuff2), DEV, TS, &r), FP_OK);
    assert_int_equal(r.nvalues, 1);
    assert_true(fp_reading_get(&r, FP_Q_MEAN_PRESSURE, &got) && got == 12000.0);
    /* Temperature NaN with a type: nothing measured. */
    uint8_t t[] = {0x04, 0xFF, 0xFF, 0x7F, 0x00, 0x02};
    assert_int_equal(gatt_decode(0x2A1C, t, sizeof(t), DEV, TS, &r), FP_ERR_RANGE);
    /* 98.6 F is 37 C. */
    uint8_t f[] = {0x01, 0xDA, 0x03, 0x00, 0xFF};
    assert_int_equal(gatt_decode(0x2A1C, f, sizeof(f), DEV, TS, &r), FP_OK);
    assert_true(fp_reading_get(&r, FP_Q_TEMPERATURE, &got) && close_to(got, 37.0));
}

static void test_dispatch(void **state)
{
    (void)state;
    fp_reading r;
    uint8_t b[] = {0x00, 0x62, 0x00, 0x48, 0x00};
    assert_int_equal(health_gatt_decode(0x2A37, b, 2, DEV, TS, &r), FP_ERR_UNKNOWN);
    assert_int_equal(health_gatt_decode(0x2A19, b, 1, DEV, TS, &r), FP_ERR_UNKNOWN);
    assert_int_equal(health_gatt_decode(0x2A5F, b, sizeof(b), DEV, TS, &r), FP_OK);
    assert_int_equal(health_gatt_decode(0x2A5F, NULL, 0, DEV, TS, &r), FP_ERR_LENGTH);
    assert_int_equal(health_gatt_decode(0x2A5F, b, sizeof(b), "bad/dev", TS, &r), FP_ERR_RANGE);
    static const uint16_t mine[] = {0x2A1C, 0x2A35, 0x2A36, 0x2A5E, 0x2A5F, 0x2A9C, 0x2A9D, 0x2A9E};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
        assert_int_equal(gatt_decode(mine[i], NULL, 0, DEV, TS, &r), FP_ERR_LENGTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_blood_pressure),
        cmocka_unit_test(test_vectors_temperature),
        cmocka_unit_test(test_vectors_plx_continuous),
        cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_wss_roundtrip),
        cmocka_unit_test(test_bcs_roundtrip),
        cmocka_unit_test(test_plx_spot_roundtrip),
        cmocka_unit_test(test_plx_cont_roundtrip),
        cmocka_unit_test(test_bps_roundtrip),
        cmocka_unit_test(test_hts_roundtrip),
        cmocka_unit_test(test_wss_feature),
        cmocka_unit_test(test_reserved_flags),
        cmocka_unit_test(test_reserved_values),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_no_data),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
