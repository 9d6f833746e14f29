/* test_gatt.c - Heart Rate Measurement and Battery Level decoders against
 * shared/vectors/ble-gatt.json, round trips, and every error path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "test_util.h"

#include "fitdrivers/gatt.h"

#define TS 1732530000123LL

static cJSON *vectors;

static int load_vectors(void **state)
{
    (void)state;
    FILE *f = fopen(FITGATE_VECTORS_DIR "/ble-gatt.json", "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", FITGATE_VECTORS_DIR "/ble-gatt.json");
        return -1;
    }
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

static const cJSON *vector_list(const char *name)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(vectors, name);
    assert_true(cJSON_IsArray(list));
    assert_true(cJSON_GetArraySize(list) >= 4);
    return list;
}

static bool has(const cJSON *v, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(v, key) != NULL;
}

static const cJSON *field(const cJSON *v, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(v, key);
}

/* The RR values of a reading, in order. */
static int reading_rr(const fp_reading *r, double *out)
{
    int n = 0;
    for (int i = 0; i < r->nvalues; i++) {
        if (r->values[i].q == FP_Q_RR_INTERVAL)
            out[n++] = r->values[i].v;
    }
    return n;
}

static void test_hrs_vectors(void **state)
{
    (void)state;
    const cJSON *v;
    int valid = 0, invalid = 0;
    cJSON_ArrayForEach(v, vector_list("heart_rate_measurement_2a37"))
    {
        uint8_t buf[64], again[64];
        size_t len = test_unhex(field(v, "hex")->valuestring, buf, sizeof(buf));
        hrs_measurement m;
        fp_reading r;
        fp_status rc = hrs_decode(buf, len, &m);
        fp_status grc = gatt_decode(0x2A37, buf, len, "sim-0001", TS, &r);
        if (cJSON_IsTrue(field(v, "invalid"))) {
            assert_int_not_equal(rc, FP_OK);
            assert_int_not_equal(grc, FP_OK);
            invalid++;
            continue;
        }
        assert_int_equal(rc, FP_OK);
        assert_int_equal(grc, FP_OK);
        valid++;

        /* Every field the vector lists must match. */
        int hr = field(v, "hr_bpm")->valueint;
        assert_int_equal(m.hr_bpm, hr);
        if (has(v, "sensor_contact")) {
            const cJSON *c = field(v, "sensor_contact");
            int want = cJSON_IsNull(c) ? -1 : cJSON_IsTrue(c) ? 1 : 0;
            assert_int_equal(m.contact, want);
        }
        if (has(v, "energy_kj")) {
            const cJSON *e = field(v, "energy_kj");
            assert_int_equal(m.energy_kj, cJSON_IsNull(e) ? -1 : e->valueint);
        }
        if (has(v, "rr_raw")) {
            const cJSON *rr = field(v, "rr_raw");
            assert_int_equal(m.rr_count, cJSON_GetArraySize(rr));
            for (int i = 0; i < m.rr_count; i++)
                assert_int_equal(m.rr_raw[i], cJSON_GetArrayItem(rr, i)->valueint);
        }

        /* The reading carries the same facts in SI units. */
        double d, rr_s[16];
        assert_string_equal(r.device, "sim-0001");
        assert_int_equal(r.kind, FP_KIND_HEART_RATE);
        assert_int_equal(r.ts_ms, TS);
        assert_true(fp_reading_get(&r, FP_Q_HEART_RATE, &d));
        assert_true(d == hr);
        assert_int_equal(fp_reading_get(&r, FP_Q_SENSOR_CONTACT, &d), m.contact >= 0);
        if (m.contact >= 0)
            assert_true(d == m.contact);
        assert_int_equal(fp_reading_get(&r, FP_Q_ENERGY, &d), m.energy_kj >= 0);
        if (m.energy_kj >= 0)
            assert_true(d == m.energy_kj * 1000.0);
        assert_int_equal(reading_rr(&r, rr_s), m.rr_count);
        for (int i = 0; i < m.rr_count; i++)
            assert_true(rr_s[i] == m.rr_raw[i] / 1024.0);
        assert_int_equal(fp_reading_validate(&r), FP_OK);

        /* And encoding gives back the very bytes. */
        assert_int_equal(hrs_encode(&m, again, sizeof(again)), len);
        assert_memory_equal(again, buf, len);
    }
    assert_true(valid >= 4);
    assert_true(invalid >= 1);
}

static void test_battery_vectors(void **state)
{
    (void)state;
    const cJSON *v;
    int valid = 0, invalid = 0;
    cJSON_ArrayForEach(v, vector_list("battery_level_2a19"))
    {
        uint8_t buf[16], pct = 0xEE;
        size_t len = test_unhex(field(v, "hex")->valuestring, buf, sizeof(buf));
        fp_reading r;
        fp_status rc = battery_decode(buf, len, &pct);
        fp_status grc = gatt_decode(0x2A19, buf, len, "bat-1", TS, &r);
        if (cJSON_IsTrue(field(v, "invalid"))) {
            assert_int_not_equal(rc, FP_OK);
            assert_int_not_equal(grc, FP_OK);
            invalid++;
            continue;
        }
        valid++;
        assert_int_equal(rc, FP_OK);
        assert_int_equal(grc, FP_OK);
        assert_int_equal(pct, field(v, "percent")->valueint);
        double d;
        assert_int_equal(r.kind, FP_KIND_BATTERY);
        assert_int_equal(r.nvalues, 1);
        assert_true(fp_reading_get(&r, FP_Q_BATTERY, &d));
        assert_true(d == pct);
    }
    assert_int_equal(valid, 2);
    assert_int_equal(invalid, 2);
}

static void assert_hrs_equal(const hrs_measurement *a, const hrs_measurement *b)
{
    assert_int_equal(a->hr_bpm, b->hr_bpm);
    assert_int_equal(a->contact, b->contact);
    assert_int_equal(a->energy_kj, b->energy_kj);
    assert_int_equal(a->rr_count, b->rr_count);
    assert_memory_equal(a->rr_raw, b->rr_raw, a->rr_count * sizeof(uint16_t));
}

static void test_hrs_round_trip(void **state)
{
    (void)state;
    const uint16_t hrs[] = {0, 1, 72, 255, 256, 300, 0xFFFF};
    const int32_t energies[] = {-1, 0, 1, 0xFFFF};
    int n = 0;
    for (size_t h = 0; h < sizeof(hrs) / sizeof(hrs[0]); h++) {
        for (int contact = -1; contact <= 1; contact++) {
            for (size_t e = 0; e < sizeof(energies) / sizeof(energies[0]); e++) {
                for (int rr = 0; rr <= 16; rr += 5) {
                    hrs_measurement m = {.hr_bpm = hrs[h],
                                         .contact = (int8_t)contact,
                                         .energy_kj = energies[e],
                                         .rr_count = (uint8_t)rr},
                                    back;
                    for (int i = 0; i < rr; i++)
                        m.rr_raw[i] = (uint16_t)(i * 4099 + h);
                    uint8_t buf[64];
                    size_t len = hrs_encode(&m, buf, sizeof(buf));
                    assert_true(len >= 2);
                    assert_int_equal(hrs_decode(buf, len, &back), FP_OK);
                    assert_hrs_equal(&m, &back);
                    /* Too small a buffer: nothing written, 0 returned. */
                    for (size_t cap = 0; cap < len; cap++)
                        assert_int_equal(hrs_encode(&m, buf, cap), 0);
                    n++;
                }
            }
        }
    }
    assert_int_equal(n, 7 * 3 * 4 * 4);
}

static void test_hrs_encode_invalid(void **state)
{
    (void)state;
    uint8_t buf[64];
    hrs_measurement m = {.hr_bpm = 60, .contact = -1, .energy_kj = -1};
    m.rr_count = 17;
    assert_int_equal(hrs_encode(&m, buf, sizeof(buf)), 0);
    m.rr_count = 0;
    m.energy_kj = 0x10000;
    assert_int_equal(hrs_encode(&m, buf, sizeof(buf)), 0);
    m.energy_kj = -2;
    assert_int_equal(hrs_encode(&m, buf, sizeof(buf)), 0);
    m.energy_kj = -1;
    m.contact = 2;
    assert_int_equal(hrs_encode(&m, buf, sizeof(buf)), 0);
}

static fp_status hrs_rc(const uint8_t *buf, size_t len)
{
    hrs_measurement m;
    return hrs_decode(buf, len, &m);
}

static void test_hrs_errors(void **state)
{
    (void)state;
    uint8_t rr17[1 + 1 + 34] = {0x10, 60};
    assert_int_equal(hrs_rc(NULL, 0), FP_ERR_LENGTH);
    assert_int_equal(hrs_rc((const uint8_t[]){0x00}, 1), FP_ERR_LENGTH);
    assert_int_equal(hrs_rc((const uint8_t[]){0x01, 0x50}, 2), FP_ERR_LENGTH);       /* u16 HR */
    assert_int_equal(hrs_rc((const uint8_t[]){0x08, 0x50, 0x01}, 3), FP_ERR_LENGTH); /* energy */
    assert_int_equal(hrs_rc((const uint8_t[]){0x10, 0x50}, 2), FP_ERR_LENGTH);       /* RR, none */
    assert_int_equal(hrs_rc((const uint8_t[]){0x10, 0x50, 0x01, 0x02, 0x03}, 5),
                     FP_ERR_LENGTH); /* odd trailing byte */
    assert_int_equal(hrs_rc((const uint8_t[]){0x00, 0x50, 0x01}, 3),
                     FP_ERR_LENGTH); /* bytes no flag announces */
    assert_int_equal(hrs_rc((const uint8_t[]){0x20, 0x50}, 2), FP_ERR_RESERVED);
    assert_int_equal(hrs_rc((const uint8_t[]){0x80, 0x50}, 2), FP_ERR_RESERVED);
    assert_int_equal(hrs_rc(rr17, sizeof(rr17) - 2), FP_OK); /* 16 RR */
    assert_int_equal(hrs_rc(rr17, sizeof(rr17)), FP_ERR_LIMIT);

    /* Contact bit1 without the "supported" bit2 means not supported. */
    hrs_measurement m;
    assert_int_equal(hrs_decode((const uint8_t[]){0x02, 0x50}, 2, &m), FP_OK);
    assert_int_equal(m.contact, -1);
    assert_int_equal(m.energy_kj, -1);
    assert_int_equal(m.rr_count, 0);
}

static void test_gatt_hr_zero(void **state)
{
    (void)state;
    fp_reading r;
    double d;
    /* HR 0, contact supported but absent, no RR: nothing to store. */
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0x04, 0x00}, 2, "d", TS, &r),
                     FP_ERR_RANGE);
    assert_int_equal(r.nvalues, 0);
    /* HR 0 with RR: the RR interval (and contact) stay, hr does not. */
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0x16, 0x00, 0x00, 0x04}, 4, "d", TS, &r),
                     FP_OK);
    assert_false(fp_reading_get(&r, FP_Q_HEART_RATE, &d));
    assert_true(fp_reading_get(&r, FP_Q_RR_INTERVAL, &d));
    assert_true(d == 1.0);
    assert_true(fp_reading_get(&r, FP_Q_SENSOR_CONTACT, &d));
    assert_true(d == 1);
    assert_int_equal(fp_reading_validate(&r), FP_OK);
    /* hrs_decode itself accepts HR 0. */
    hrs_measurement m;
    assert_int_equal(hrs_decode((const uint8_t[]){0x00, 0x00}, 2, &m), FP_OK);
    assert_int_equal(m.hr_bpm, 0);
}

static void test_gatt_errors(void **state)
{
    (void)state;
    fp_reading r;
    double d;
    /* HR above the reading range (uint16 301). */
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0x01, 0x2D, 0x01}, 3, "d", TS, &r),
                     FP_ERR_RANGE);
    assert_int_equal(r.nvalues, 0);
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0x01, 0x2C, 0x01}, 3, "d", TS, &r),
                     FP_OK); /* 300 */
    /* Saturated energy is a value, not "absent". */
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0x08, 60, 0xFF, 0xFF}, 4, "d", TS, &r),
                     FP_OK);
    assert_true(fp_reading_get(&r, FP_Q_ENERGY, &d));
    assert_true(d == 65535000.0);
    assert_false(fp_reading_get(&r, FP_Q_SENSOR_CONTACT, &d)); /* not supported */

    assert_int_equal(gatt_decode(0x2BFF, (const uint8_t[]){0}, 1, "d", TS, &r), FP_ERR_UNKNOWN);
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0, 60}, 2, "a/b", TS, &r), FP_ERR_RANGE);
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0, 60}, 2, NULL, TS, &r), FP_ERR_RANGE);
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0x20, 60}, 2, "d", TS, &r),
                     FP_ERR_RESERVED);
    assert_int_equal(gatt_decode(0x2A37, (const uint8_t[]){0x10, 60, 1}, 3, "d", TS, &r),
                     FP_ERR_LENGTH);
}

static void test_battery_errors(void **state)
{
    (void)state;
    uint8_t pct = 42;
    fp_reading r;
    assert_int_equal(battery_decode(NULL, 0, &pct), FP_ERR_LENGTH);
    assert_int_equal(battery_decode((const uint8_t[]){50, 0}, 2, &pct), FP_ERR_LENGTH);
    assert_int_equal(battery_decode((const uint8_t[]){101}, 1, &pct), FP_ERR_RANGE);
    assert_int_equal(battery_decode((const uint8_t[]){255}, 1, &pct), FP_ERR_RANGE);
    assert_int_equal(pct, 42); /* untouched on error */
    assert_int_equal(battery_decode((const uint8_t[]){0}, 1, &pct), FP_OK);
    assert_int_equal(pct, 0);
    assert_int_equal(gatt_decode(0x2A19, (const uint8_t[]){0}, 0, "d", TS, &r), FP_ERR_LENGTH);
    assert_int_equal(gatt_decode(0x2A19, (const uint8_t[]){0}, 1, "d", TS, &r), FP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hrs_vectors),    cmocka_unit_test(test_battery_vectors),
        cmocka_unit_test(test_hrs_round_trip), cmocka_unit_test(test_hrs_encode_invalid),
        cmocka_unit_test(test_hrs_errors),     cmocka_unit_test(test_gatt_hr_zero),
        cmocka_unit_test(test_gatt_errors),    cmocka_unit_test(test_battery_errors),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
