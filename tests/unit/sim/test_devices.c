/* test_devices.c - every kind the simulator plays decodes with gatt_decode()
 * into the expected reading kind with plausible values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices.h"
#include "fitdrivers/fitness.h"
#include "fitdrivers/gatt.h"

#define STEPS 1200 /* 20 simulated minutes at 1 Hz: through warm-up into intervals */

/* What a kind must carry, and the plausible range of each value. */
typedef struct expect {
    fp_quantity q;
    double lo, hi;
} expect;

typedef struct kind_case {
    simd_kind kind;
    fp_kind reading;
    expect want[8];
} kind_case;

static const kind_case cases[] = {
    {SIMD_HR, FP_KIND_HEART_RATE, {{FP_Q_HEART_RATE, 40, 210}}},
    {SIMD_BIKE,
     FP_KIND_INDOOR_BIKE,
     {{FP_Q_SPEED, 3, 15},
      {FP_Q_CADENCE, 50, 110},
      {FP_Q_POWER, 30, 450},
      {FP_Q_HEART_RATE, 40, 210},
      {FP_Q_DISTANCE, 0, 30000},
      {FP_Q_ENERGY, 0, 2e6},
      {FP_Q_ELAPSED, 0, STEPS + 1}}},
    {SIMD_TREADMILL,
     FP_KIND_TREADMILL,
     {{FP_Q_SPEED, 0.8, 7},
      {FP_Q_DISTANCE, 0, 10000},
      {FP_Q_INCLINE, 0, 5},
      {FP_Q_RAMP_ANGLE, 0, 3},
      {FP_Q_HEART_RATE, 40, 210},
      {FP_Q_ELAPSED, 0, STEPS + 1}}},
    {SIMD_ROWER,
     FP_KIND_ROWER,
     {{FP_Q_CADENCE, 15, 35},
      {FP_Q_STROKES, 0, 1000},
      {FP_Q_DISTANCE, 0, 8000},
      {FP_Q_PACE, 0.15, 0.6},
      {FP_Q_POWER, 30, 450},
      {FP_Q_HEART_RATE, 40, 210}}},
    {SIMD_CROSS_TRAINER,
     FP_KIND_CROSS_TRAINER,
     {{FP_Q_SPEED, 1, 6},
      {FP_Q_DISTANCE, 0, 6000},
      {FP_Q_CADENCE, 90, 170},
      {FP_Q_POWER, 30, 400},
      {FP_Q_HEART_RATE, 40, 210}}},
    {SIMD_CSC, FP_KIND_CYCLING, {{FP_Q_WHEEL_REVS, 0, 4294967295.0}, {FP_Q_CRANK_REVS, 0, 65535}}},
    {SIMD_RSC,
     FP_KIND_RUNNING,
     {{FP_Q_SPEED, 0.8, 7},
      {FP_Q_CADENCE, 140, 190},
      {FP_Q_STRIDE_LENGTH, 0.3, 2.5},
      {FP_Q_DISTANCE, 0, 10000},
      {FP_Q_RUNNING, 0, 1}}},
    {SIMD_POWER,
     FP_KIND_CYCLING_POWER,
     {{FP_Q_POWER, 30, 450},
      {FP_Q_WHEEL_REVS, 0, 4294967295.0},
      {FP_Q_CRANK_REVS, 0, 65535},
      {FP_Q_ENERGY, 0, 1e6}}},
    {SIMD_SCALE,
     FP_KIND_WEIGHT,
     {{FP_Q_WEIGHT, 40, 130},
      {FP_Q_HEIGHT, 1.5, 2.0},
      {FP_Q_BMI, 15, 35},
      {FP_Q_USER_INDEX, 1, 1}}},
    {SIMD_BP,
     FP_KIND_BLOOD_PRESSURE,
     {{FP_Q_SYSTOLIC, 95 * 133.322, 180 * 133.322},
      {FP_Q_DIASTOLIC, 55 * 133.322, 95 * 133.322},
      {FP_Q_MEAN_PRESSURE, 65 * 133.322, 130 * 133.322},
      {FP_Q_HEART_RATE, 40, 210},
      {FP_Q_USER_INDEX, 1, 1}}},
    {SIMD_SPO2,
     FP_KIND_SPO2,
     {{FP_Q_SPO2, 94, 100}, {FP_Q_HEART_RATE, 40, 210}, {FP_Q_PERFUSION, 1, 9}}},
    {SIMD_THERMO, FP_KIND_TEMPERATURE, {{FP_Q_TEMPERATURE, 36, 38.5}, {FP_Q_TYPE, 2, 2}}},
};

static int find(const fp_reading *r, fp_quantity q, double *v)
{
    for (uint16_t i = 0; i < r->nvalues; i++) {
        if (r->values[i].q == q) {
            *v = r->values[i].v;
            return 1;
        }
    }
    return 0;
}

static void test_every_kind_decodes(void **state)
{
    (void)state;
    assert_int_equal(sizeof cases / sizeof cases[0], SIMD__COUNT);
    for (size_t c = 0; c < SIMD__COUNT; c++) {
        const kind_case *kc = &cases[c];
        for (uint32_t idx = 0; idx < 4; idx++) {
            simd_device d;
            simd_init(&d, kc->kind, 7, idx);
            int notified = 0;
            for (int step = 0; step < STEPS; step++) {
                uint8_t buf[SIMD_NOTIFY_MAX];
                size_t len = simd_step(&d, 1.0, buf, sizeof buf);
                if (len == 0)
                    continue;
                notified++;
                fp_reading r;
                fp_status st = gatt_decode(simd_uuid(kc->kind), buf, len, "dev-1", 1, &r);
                if (st != FP_OK)
                    fail_msg("%s step %d: %s", simd_kind_name(kc->kind), step, fp_status_str(st));
                assert_int_equal(r.kind, kc->reading);
                for (size_t w = 0; w < 8 && kc->want[w].q; w++) {
                    double v;
                    if (!find(&r, kc->want[w].q, &v))
                        fail_msg("%s: no %s", simd_kind_name(kc->kind),
                                 fp_quantity_get(kc->want[w].q)->name);
                    if (v < kc->want[w].lo || v > kc->want[w].hi)
                        fail_msg("%s step %d: %s = %g", simd_kind_name(kc->kind), step,
                                 fp_quantity_get(kc->want[w].q)->name, v);
                }
            }
            /* Scale and cuff measure every 20-60 s, the others every tick. */
            if (kc->kind == SIMD_SCALE || kc->kind == SIMD_BP)
                assert_true(notified >= STEPS / 60 && notified <= STEPS / 20 + 1);
            else
                assert_int_equal(notified, STEPS);
        }
    }
}

/* The workout curve shows: hard intervals give more power than the rest. */
static void test_follows_workout(void **state)
{
    (void)state;
    simd_device d;
    simd_init(&d, SIMD_BIKE, 3, 0);
    double lo = 1e9, hi = 0;
    for (int step = 0; step < 3600; step++) {
        uint8_t buf[SIMD_NOTIFY_MAX];
        size_t len = simd_step(&d, 1.0, buf, sizeof buf);
        fp_reading r;
        double p = 0;
        assert_int_equal(gatt_decode(0x2AD2, buf, len, "b", 1, &r), FP_OK);
        assert_true(find(&r, FP_Q_POWER, &p));
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
    }
    assert_true(hi - lo > 100);
}

/* CSC: the driver's own speed/cadence derivation over the sim's counters and
 * 16-bit event times (which wrap every 64 s) gives steady, plausible values. */
static void test_csc_derives(void **state)
{
    (void)state;
    for (uint32_t idx = 0; idx < 6; idx++) {
        simd_device d;
        simd_init(&d, SIMD_CSC, 11, idx);
        csc_state st;
        csc_state_reset(&st);
        int speeds = 0, cadences = 0, crank_wrapped = 0, time_wrapped = 0;
        uint16_t last_crank = 0, last_time = 0;
        for (int step = 0; step < 600; step++) {
            uint8_t buf[SIMD_NOTIFY_MAX];
            size_t len = simd_step(&d, 1.0, buf, sizeof buf);
            csc_measurement m;
            assert_int_equal(csc_decode(buf, len, &m), FP_OK);
            assert_true(m.has_wheel && m.has_crank);
            if (step > 0) {
                crank_wrapped |= m.crank_revs < last_crank;
                time_wrapped |= m.wheel_time < last_time;
            }
            last_crank = m.crank_revs;
            last_time = m.wheel_time;
            csc_derived out;
            assert_int_equal(csc_derive(&st, &m, 2.105, &out), FP_OK);
            if (out.has_speed) {
                speeds++;
                assert_true(out.speed_mps > 3 && out.speed_mps < 15);
            }
            if (out.has_cadence) {
                cadences++;
                assert_true(out.cadence_rpm > 45 && out.cadence_rpm < 110);
            }
        }
        assert_true(speeds > 500 && cadences > 300);
        assert_true(crank_wrapped && time_wrapped);
    }
}

static void test_deterministic_and_names(void **state)
{
    (void)state;
    for (int k = 0; k < SIMD__COUNT; k++) {
        simd_device a, b, other;
        simd_init(&a, (simd_kind)k, 99, 5);
        simd_init(&b, (simd_kind)k, 99, 5);
        simd_init(&other, (simd_kind)k, 100, 5);
        int differ = 0;
        for (int step = 0; step < 300; step++) {
            uint8_t ba[SIMD_NOTIFY_MAX], bb[SIMD_NOTIFY_MAX], bo[SIMD_NOTIFY_MAX];
            size_t la = simd_step(&a, 1.0, ba, sizeof ba);
            size_t lb = simd_step(&b, 1.0, bb, sizeof bb);
            size_t lo = simd_step(&other, 1.0, bo, sizeof bo);
            assert_int_equal(la, lb);
            assert_memory_equal(ba, bb, la);
            differ |= la != lo || memcmp(ba, bo, la) != 0;
        }
        assert_true(differ);
        simd_kind parsed;
        assert_int_equal(simd_kind_parse(simd_kind_name((simd_kind)k), &parsed), 0);
        assert_int_equal(parsed, k);
        assert_int_equal(simd_kind_of(SIMD_MIXED, (uint32_t)k + SIMD__COUNT), k);
        assert_int_equal(simd_kind_of((simd_kind)k, 7), k);
    }
    simd_kind parsed;
    assert_int_equal(simd_kind_parse("mixed", &parsed), 0);
    assert_int_equal(parsed, SIMD_MIXED);
    assert_int_equal(simd_kind_parse("toaster", &parsed), -1);
    assert_int_equal(simd_uuid(SIMD_MIXED), 0);
}

/* The hr kind sends exactly what the HR model alone sends (every existing
 * caller of the simulator is unchanged). */
static void test_hr_unchanged(void **state)
{
    (void)state;
    simd_device d;
    hrm_device h;
    simd_init(&d, SIMD_HR, 1, 3);
    hrm_init(&h, 1, 3);
    for (int step = 0; step < 500; step++) {
        uint8_t a[SIMD_NOTIFY_MAX], b[64];
        hrs_measurement m;
        size_t la = simd_step(&d, 1.0, a, sizeof a);
        hrm_step(&h, 1.0, &m);
        size_t lb = hrs_encode(&m, b, sizeof b);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
    }
}

/* A buffer too small yields 0, never a partial notification. */
static void test_small_buffer(void **state)
{
    (void)state;
    for (int k = 1; k < SIMD__COUNT; k++) {
        simd_device d;
        simd_init(&d, (simd_kind)k, 5, 0);
        uint8_t buf[4];
        for (int step = 0; step < 100; step++)
            assert_int_equal(simd_step(&d, 1.0, buf, sizeof buf), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_decodes), cmocka_unit_test(test_follows_workout),
        cmocka_unit_test(test_csc_derives),        cmocka_unit_test(test_deterministic_and_names),
        cmocka_unit_test(test_hr_unchanged),       cmocka_unit_test(test_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
