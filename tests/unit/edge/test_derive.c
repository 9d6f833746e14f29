/* test_derive.c - CSC speed/cadence/distance on the edge, per device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>

#include "derive.h"
#include "fitdrivers/gatt.h"

#define TS 1764000000000LL

/* CSC Measurement with wheel (bit0) and crank (bit1) data. */
static size_t csc(uint8_t *b, uint32_t wheel, uint16_t wtime, uint16_t crank, uint16_t ctime)
{
    b[0] = 0x03;
    b[1] = (uint8_t)wheel;
    b[2] = (uint8_t)(wheel >> 8);
    b[3] = (uint8_t)(wheel >> 16);
    b[4] = (uint8_t)(wheel >> 24);
    b[5] = (uint8_t)wtime;
    b[6] = (uint8_t)(wtime >> 8);
    b[7] = (uint8_t)crank;
    b[8] = (uint8_t)(crank >> 8);
    b[9] = (uint8_t)ctime;
    b[10] = (uint8_t)(ctime >> 8);
    return 11;
}

static fp_reading decode_apply(derive *d, const char *dev, const uint8_t *b, size_t n)
{
    fp_reading r;
    assert_int_equal(gatt_decode(0x2A5B, b, n, dev, TS, &r), FP_OK);
    derive_apply(d, 0x2A5B, b, n, &r);
    assert_int_equal(fp_reading_validate(&r), FP_OK);
    return r;
}

static double get(const fp_reading *r, fp_quantity q)
{
    double v = NAN;
    fp_reading_get(r, q, &v);
    return v;
}

static void test_vector_speed_cadence_distance(void **state)
{
    (void)state;
    /* ble-gatt.json csc_derivation: 10 wheel revs of 2.34 m in 1 s, 1 crank rev in 1 s. */
    derive *d = derive_new(4, 2.34);
    assert_non_null(d);
    uint8_t b[16];
    fp_reading r = decode_apply(d, "bike-1", b, csc(b, 10, 0, 10, 0));
    assert_false(fp_reading_get(&r, FP_Q_SPEED, NULL)); /* first sample: nothing to compare */
    assert_true(fabs(get(&r, FP_Q_DISTANCE) - 23.4) < 1e-9);
    r = decode_apply(d, "bike-1", b, csc(b, 20, 1024, 11, 1024));
    assert_true(fabs(get(&r, FP_Q_SPEED) - 23.4) < 1e-9);
    assert_true(fabs(get(&r, FP_Q_CADENCE) - 60.0) < 1e-9);
    assert_true(fabs(get(&r, FP_Q_DISTANCE) - 46.8) < 1e-9);
    derive_free(d);
}

static void test_devices_are_separate_and_wrap(void **state)
{
    (void)state;
    derive *d = derive_new(4, 2.0);
    uint8_t b[16];
    decode_apply(d, "a", b, csc(b, 100, 65000, 5, 65000));
    decode_apply(d, "b", b, csc(b, 7, 10, 1, 10));
    /* a: event time wraps past 65535 (+1560/1024 s), 3 revs */
    fp_reading r = decode_apply(d, "a", b, csc(b, 103, (uint16_t)(65000 + 1560), 6, 24));
    assert_true(fabs(get(&r, FP_Q_SPEED) - 3 * 2.0 / (1560 / 1024.0)) < 1e-9);
    /* b is unaffected by a's samples */
    r = decode_apply(d, "b", b, csc(b, 8, 1034, 2, 1034));
    assert_true(fabs(get(&r, FP_Q_SPEED) - 2.0) < 1e-9);
    derive_free(d);
}

static void test_least_recently_used_is_forgotten(void **state)
{
    (void)state;
    derive *d = derive_new(2, 2.0);
    uint8_t b[16];
    decode_apply(d, "a", b, csc(b, 1, 0, 1, 0));
    decode_apply(d, "b", b, csc(b, 1, 0, 1, 0));
    decode_apply(d, "c", b, csc(b, 1, 0, 1, 0)); /* evicts a */
    fp_reading r = decode_apply(d, "a", b, csc(b, 2, 1024, 2, 1024));
    assert_false(fp_reading_get(&r, FP_Q_SPEED, NULL)); /* a starts over */
    r = decode_apply(d, "c", b, csc(b, 2, 1024, 2, 1024));
    assert_true(fp_reading_get(&r, FP_Q_SPEED, NULL));
    derive_free(d);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(derive_new(0, 2.0));
    assert_null(derive_new(4, 0));
    assert_null(derive_new(4, 11));
    assert_null(derive_new(4, NAN));
    /* Other characteristics pass through untouched; NULL table is a no-op. */
    fp_reading r;
    const uint8_t hr[] = {0x00, 72};
    assert_int_equal(gatt_decode(0x2A37, hr, 2, "s", TS, &r), FP_OK);
    derive_apply(NULL, 0x2A37, hr, 2, &r);
    assert_int_equal(r.nvalues, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_speed_cadence_distance),
        cmocka_unit_test(test_devices_are_separate_and_wrap),
        cmocka_unit_test(test_least_recently_used_is_forgotten),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
