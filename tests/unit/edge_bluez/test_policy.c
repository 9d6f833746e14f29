/* test_policy.c - pure decisions of the BlueZ source (bluez_policy.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "bluez_policy.h"
#include "derive.h"
#include "fitdrivers/gatt.h"

static void test_backoff(void **state)
{
    (void)state;
    /* No jitter: doubling from the base up to the cap. */
    assert_int_equal(bzp_backoff_ms(1, 500, 30000, 0), 500);
    assert_int_equal(bzp_backoff_ms(2, 500, 30000, 0), 1000);
    assert_int_equal(bzp_backoff_ms(3, 500, 30000, 0), 2000);
    assert_int_equal(bzp_backoff_ms(7, 500, 30000, 0), 30000);
    assert_int_equal(bzp_backoff_ms(1000, 500, 30000, 0), 30000); /* no overflow */
    assert_int_equal(bzp_backoff_ms(0, 500, 30000, 0), 500);
    /* Jitter takes off at most a quarter, never below half the base. */
    for (uint32_t j = 0; j < 5000; j += 7) {
        uint64_t d = bzp_backoff_ms(4, 500, 30000, j * 2654435761u);
        assert_true(d >= 3000 && d <= 4000);
        uint64_t e = bzp_backoff_ms(1, 500, 30000, j * 2654435761u);
        assert_true(e >= 375 && e <= 500);
    }
    assert_int_equal(bzp_backoff_ms(3, 0, 100, 5), 0);
    assert_int_equal(bzp_backoff_ms(3, 100, 50, 0), 100); /* max below base: base */
    assert_true(bzp_backoff_ms(1, 1, 1, 0xFFFFFFFF) >= 1);
}

static void test_uuid16(void **state)
{
    (void)state;
    uint16_t u = 0;
    assert_true(bzp_uuid16("0000180d-0000-1000-8000-00805f9b34fb", &u));
    assert_int_equal(u, 0x180D);
    assert_true(bzp_uuid16("00002A37-0000-1000-8000-00805F9B34FB", &u));
    assert_int_equal(u, 0x2A37);
    assert_true(bzp_uuid16("fee0", &u));
    assert_int_equal(u, 0xFEE0);
    assert_false(bzp_uuid16("0001180d-0000-1000-8000-00805f9b34fb", &u)); /* 32-bit */
    assert_false(bzp_uuid16("0000180d-0000-1000-8000-00805f9b34fc", &u)); /* off base */
    assert_false(bzp_uuid16("180", &u));
    assert_false(bzp_uuid16("18g0", &u));
    assert_false(bzp_uuid16(NULL, &u));
}

static void test_paths_and_addresses(void **state)
{
    (void)state;
    const char *c = "/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF/service000c/char000d";
    assert_int_equal(bzp_device_prefix(c), strlen("/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF"));
    assert_int_equal(bzp_device_prefix("/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF"),
                     strlen("/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF"));
    assert_int_equal(bzp_device_prefix("/org/bluez/hci0"), 0);
    assert_true(bzp_address_valid("AA:BB:CC:DD:EE:0f"));
    assert_false(bzp_address_valid("AA:BB:CC:DD:EE"));
    assert_false(bzp_address_valid("AA-BB-CC-DD-EE-FF"));
    assert_false(bzp_address_valid("AA:BB:CC:DD:EE:FG"));
    assert_int_not_equal(bzp_hash("a", 1), bzp_hash("b", 1));
    assert_true(bzp_char_supported(0x2A37));
    assert_true(bzp_char_supported(0x2ACD));
    assert_false(bzp_char_supported(0x2AD9)); /* the control point is written, not decoded */
    assert_true(bzp_filter_uuids_n >= 10);
}

static void test_wheel_rescale(void **state)
{
    (void)state;
    fp_reading r;
    assert_int_equal(fp_reading_init(&r, "d", FP_KIND_CYCLING, 1764000000000LL), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_SPEED, 10.0), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_DISTANCE, 1000.0), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_CADENCE, 90.0), FP_OK);
    bzp_rescale_wheel(&r, 2.0, 0); /* default wheel: unchanged */
    double v;
    assert_true(fp_reading_get(&r, FP_Q_SPEED, &v));
    assert_float_equal(v, 10.0, 1e-12);
    bzp_rescale_wheel(&r, 2.0, 2.2);
    assert_true(fp_reading_get(&r, FP_Q_SPEED, &v));
    assert_float_equal(v, 11.0, 1e-9);
    assert_true(fp_reading_get(&r, FP_Q_DISTANCE, &v));
    assert_float_equal(v, 1100.0, 1e-9);
    assert_true(fp_reading_get(&r, FP_Q_CADENCE, &v)); /* crank cadence has no wheel */
    assert_float_equal(v, 90.0, 1e-12);
    fp_reading t;
    assert_int_equal(fp_reading_init(&t, "d", FP_KIND_TREADMILL, 1764000000000LL), FP_OK);
    assert_int_equal(fp_reading_add(&t, FP_Q_SPEED, 3.0), FP_OK);
    bzp_rescale_wheel(&t, 2.0, 2.2); /* not a wheel sensor */
    assert_true(fp_reading_get(&t, FP_Q_SPEED, &v));
    assert_float_equal(v, 3.0, 1e-12);
}

/* A reconnection is a gap: derive_forget() makes the next CSC sample give
 * counters only, never a speed computed across the gap. */
static void test_reconnect_gap(void **state)
{
    (void)state;
    derive *dv = derive_new(4, 2.0);
    assert_non_null(dv);
    uint8_t a[11] = {0x03, 100, 0, 0, 0, 0x00, 0x04, 10, 0, 0x00, 0x04};
    uint8_t b[11] = {0x03, 102, 0, 0, 0, 0x00, 0x08, 11, 0, 0x00, 0x08};
    uint8_t c[11] = {0x03, 200, 0, 0, 0, 0x00, 0x0C, 40, 0, 0x00, 0x0C};
    fp_reading r;
    double v;
    const uint8_t *seq[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gatt_decode(0x2A5B, seq[i], 11, "csc-1", 1764000000000LL + i, &r), FP_OK);
        if (i == 2)
            derive_forget(dv, "csc-1");
        derive_apply(dv, 0x2A5B, seq[i], 11, &r);
        bool has = fp_reading_get(&r, FP_Q_SPEED, &v);
        if (i == 1) {
            assert_true(has);
            assert_float_equal(v, 4.0, 1e-9); /* 2 revs x 2 m in 1 s */
        } else {
            assert_false(has);
        }
    }
    derive_forget(dv, "never-seen"); /* harmless */
    derive_free(dv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_uuid16),
        cmocka_unit_test(test_paths_and_addresses),
        cmocka_unit_test(test_wheel_rescale),
        cmocka_unit_test(test_reconnect_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
