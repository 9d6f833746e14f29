/* test_workout.c - known answers for workout metrics and session rules.
 * Every expected number is worked out by hand in the comment beside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "workout.h"

#define NEAR(a, b) assert_true(dabs((a) - (b)) < 1e-6)
static double dabs(double x)
{
    return x < 0 ? -x : x;
}

static void test_zones(void **st)
{
    (void)st;
    /* max 190: 50 % = 95, 60 % = 114, 70 % = 133, 80 % = 152, 90 % = 171 */
    assert_int_equal(wo_hr_zone(94, 190), 0);
    assert_int_equal(wo_hr_zone(95, 190), 1); /* boundary belongs to the upper zone */
    assert_int_equal(wo_hr_zone(113.9, 190), 1);
    assert_int_equal(wo_hr_zone(114, 190), 2);
    assert_int_equal(wo_hr_zone(133, 190), 3);
    assert_int_equal(wo_hr_zone(151.99, 190), 3);
    assert_int_equal(wo_hr_zone(152, 190), 4);
    assert_int_equal(wo_hr_zone(171, 190), 5);
    assert_int_equal(wo_hr_zone(250, 190), 5);
}

static void test_max_hr(void **st)
{
    (void)st;
    wo_source src;
    wo_profile p = {.age_years = 40};
    NEAR(wo_max_hr(&p, &src), 180.0); /* Tanaka: 208 - 0.7 * 40 */
    assert_int_equal(src, WO_SRC_FORMULA);
    p.max_hr = 200;
    NEAR(wo_max_hr(&p, &src), 200.0);
    assert_int_equal(src, WO_SRC_PROFILE);
    NEAR(wo_max_hr(NULL, &src), WO_DEFAULT_MAX_HR);
    assert_int_equal(src, WO_SRC_DEFAULT);
}

static void test_keytel(void **st)
{
    (void)st;
    /* male: -55.0969 + 0.6309*150 + 0.1988*80 + 0.2017*30 = 61.4931 kJ/min */
    NEAR(wo_keytel_kj_per_min(150, 80, 30, WO_SEX_MALE), 61.4931);
    /* female: -20.4022 + 0.4472*150 - 0.1263*60 + 0.074*30 = 41.3198 */
    NEAR(wo_keytel_kj_per_min(150, 60, 30, WO_SEX_FEMALE), 41.3198);
    /* unknown: the mean of both at the same inputs */
    double m = wo_keytel_kj_per_min(150, 60, 30, WO_SEX_MALE);
    NEAR(wo_keytel_kj_per_min(150, 60, 30, WO_SEX_UNKNOWN), (m + 41.3198) / 2);
    /* -55.0969 + 25.236 + 9.94 + 4.034 < 0: never negative */
    NEAR(wo_keytel_kj_per_min(40, 50, 20, WO_SEX_MALE), 0.0);
}

static void test_trimp(void **st)
{
    (void)st;
    /* 30 min at 150, rest 60, max 180: HRr 0.75, 30*0.75*0.64*e^(1.92*0.75) */
    assert_true(dabs(wo_trimp(30, 150, 60, 180, WO_SEX_MALE) - 60.77802) < 1e-4);
    /* female: 30*0.75*0.86*e^(1.67*0.75) = 67.7072 */
    assert_true(dabs(wo_trimp(30, 150, 60, 180, WO_SEX_FEMALE) - 67.7072) < 1e-3);
    NEAR(wo_trimp(30, 50, 60, 180, WO_SEX_MALE), 0.0); /* below rest */
    /* above max clamps HRr to 1: 10*1*0.64*e^1.92 = 43.6541 */
    assert_true(dabs(wo_trimp(10, 200, 60, 180, WO_SEX_MALE) - 43.6541) < 1e-3);
}

static void test_counter(void **st)
{
    (void)st;
    NEAR(wo_counter_delta(100, 150, 65536), 50);
    NEAR(wo_counter_delta(65530, 4, 65536), 10);        /* wrap: 6 + 4 */
    NEAR(wo_counter_delta(65530, 40000, 65536), 40000); /* small drop: reset */
    NEAR(wo_counter_delta(100, 50, 0), 50);             /* no modulus: reset */
}

static void test_rmssd(void **st)
{
    (void)st;
    size_t used;
    double rr[] = {0.8, 0.85, 0.82, 0.9};
    /* diffs 50, -30, 80 ms: sqrt((2500 + 900 + 6400) / 3) */
    assert_true(dabs(wo_rmssd_ms(rr, 4, &used) - 57.1547607) < 1e-6);
    assert_int_equal(used, 4);
    double art[] = {0.8, 0.85, 3.0, 0.82, 0.9};
    /* 3.0 s is an artefact; no difference spans it: sqrt((2500 + 6400) / 2) */
    assert_true(dabs(wo_rmssd_ms(art, 5, &used) - 66.7083203) < 1e-6);
    assert_int_equal(used, 4);
    NEAR(wo_rmssd_ms(rr, 1, &used), 0.0);
}

static wo_sample hr_at(int64_t ts, double hr)
{
    wo_sample s = {.ts_ms = ts, .mask = WO_HR, .hr = hr};
    return s;
}

static const wo_profile prof = {
    .max_hr = 200, .rest_hr = 60, .age_years = 30, .weight_kg = 80, .sex = WO_SEX_MALE};

static void check_ramp(const wo_metrics *m)
{
    assert_int_equal(m->samples, 5);
    NEAR(m->duration_s, 4);
    NEAR(m->moving_s, 4); /* heart rate only: always moving */
    NEAR(m->avg_hr, 140);
    NEAR(m->max_hr, 180);
    /* each sample holds 1 s: 100 = 50 % (z1), 120 z2, 140 z3, 160 z4; 180 holds 0 */
    NEAR(m->zone_s[0], 0);
    for (int z = 1; z <= 4; z++)
        NEAR(m->zone_s[z], 1);
    NEAR(m->zone_s[5], 0);
    /* Keytel: sum over hr 100..160 of (-33.1419 + 0.6309 hr) kJ/min * 1/60 min */
    assert_int_equal(m->energy_source, WO_SRC_FORMULA);
    assert_true(dabs(m->energy_j - 3258.34) < 1e-6);
    /* TRIMP: HRr 2/7..5/7, 1/60 min each */
    assert_true(dabs(m->trimp - 0.0639692) < 1e-6);
    assert_false(m->has_distance);
}

static void test_ramp_in_and_out_of_order(void **st)
{
    (void)st;
    wo_sample s[5], r[5];
    for (int i = 0; i < 5; i++)
        s[i] = hr_at(1000 * i, 100 + 20 * i);
    for (int i = 0; i < 5; i++)
        r[i] = s[4 - i];
    wo_metrics m;
    wo_metrics_compute(&prof, s, 5, &m);
    check_ramp(&m);
    wo_metrics_compute(&prof, r, 5, &m); /* late readings land in place */
    check_ramp(&m);
}

static void test_pause_gap(void **st)
{
    (void)st;
    wo_sample s[] = {hr_at(0, 100), hr_at(1000, 100), hr_at(20000, 100), hr_at(21000, 100)};
    wo_metrics m;
    wo_metrics_compute(&prof, s, 4, &m);
    NEAR(m.duration_s, 21);
    NEAR(m.moving_s, 2);  /* the 19 s gap is a pause */
    NEAR(m.zone_s[1], 2); /* 100 = 50 % of 200 */
}

static void test_merge_strap_and_treadmill(void **st)
{
    (void)st;
    /* treadmill (dev 1) at 0,2,4,6 s: 2 m/s, 2 m/s, 2 m/s, stopped; distance
     * 0,4,8,12 m. Strap (dev 0) at 1,3,5,7 s: 100/min. */
    wo_sample s[8];
    for (int i = 0; i < 4; i++) {
        s[2 * i] = (wo_sample){.ts_ms = 2000 * i,
                               .dev = 1,
                               .mask = WO_SPEED | WO_DISTANCE,
                               .speed = i < 3 ? 2.0 : 0.0,
                               .distance_m = 4.0 * i};
        s[2 * i + 1] = hr_at(2000 * i + 1000, 100);
    }
    wo_metrics m;
    wo_metrics_compute(&prof, s, 8, &m);
    NEAR(m.duration_s, 7);
    NEAR(m.moving_s, 6); /* 0..6 s; the treadmill stops at 6 s */
    assert_true(m.has_distance);
    NEAR(m.distance_m, 12);
    NEAR(m.avg_speed, 2);       /* 12 m / 6 s */
    NEAR(m.pace_s_per_km, 500); /* 1000 * 6 / 12 */
    NEAR(m.max_speed, 2);
    NEAR(m.avg_hr, 100);
    NEAR(m.zone_s[1], 6); /* three 2 s holds */
    /* Keytel male 80 kg 30 y at 100/min for 6 s: 29.9481 kJ/min * 0.1 min */
    assert_true(dabs(m.energy_j - 2994.81) < 1e-6);
}

static void test_counters_wrap_and_reset(void **st)
{
    (void)st;
    wo_sample s[3];
    double d[3] = {16777200, 16777210, 4}; /* uint24 metres wrap: 10 + 10 */
    double k[3] = {100, 110, 5};           /* strokes reset: 10 + 5 */
    for (int i = 0; i < 3; i++)
        s[i] = (wo_sample){.ts_ms = 1000 * i,
                           .mask = WO_DISTANCE | WO_STROKES,
                           .distance_m = d[i],
                           .strokes = k[i]};
    wo_metrics m;
    wo_metrics_compute(&prof, s, 3, &m);
    NEAR(m.distance_m, 20);
    NEAR(m.strokes, 15);
    assert_true(m.has_strokes);
}

static void test_speed_integration_and_device_energy(void **st)
{
    (void)st;
    wo_sample s[] = {
        {.ts_ms = 0, .dev = 0, .mask = WO_SPEED | WO_ENERGY, .speed = 3, .energy_j = 1000},
        {.ts_ms = 1000, .dev = 1, .mask = WO_ENERGY, .energy_j = 2000},
        {.ts_ms = 1000, .dev = 0, .mask = WO_SPEED, .speed = 3},
        {.ts_ms = 2000, .dev = 0, .mask = WO_SPEED | WO_ENERGY, .speed = 3, .energy_j = 5000},
        {.ts_ms = 2000, .dev = 1, .mask = WO_ENERGY | WO_HR, .energy_j = 4000, .hr = 120},
    };
    wo_metrics m;
    wo_metrics_compute(&prof, s, 5, &m);
    NEAR(m.distance_m, 6); /* 3 m/s for two 1 s steps */
    /* two devices measure the same person: the larger total, not the sum */
    NEAR(m.energy_j, 4000);
    assert_int_equal(m.energy_source, WO_SRC_DEVICE);
}

static void test_device_energy_unchanged_falls_back(void **st)
{
    (void)st;
    /* the counter stays at 4184 J: the Keytel estimate over 1 s at 100/min */
    wo_sample s[] = {hr_at(0, 100), hr_at(1000, 100)};
    s[0].mask |= WO_ENERGY;
    s[1].mask |= WO_ENERGY;
    s[0].energy_j = s[1].energy_j = 4184;
    wo_metrics m;
    wo_metrics_compute(&prof, s, 2, &m);
    assert_int_equal(m.energy_source, WO_SRC_FORMULA);
    /* 29.9481 kJ/min * 1/60 min */
    assert_true(dabs(m.energy_j - 499.135) < 1e-6);
}

static void test_rr_in_workout(void **st)
{
    (void)st;
    wo_sample s[2] = {hr_at(0, 70), hr_at(1000, 72)};
    s[0].nrr = 2;
    s[0].rr[0] = 0.8;
    s[0].rr[1] = 0.85;
    s[1].nrr = 2;
    s[1].rr[0] = 0.82;
    s[1].rr[1] = 0.9;
    wo_metrics m;
    wo_metrics_compute(&prof, s, 2, &m);
    assert_int_equal(m.rr_count, 4);
    assert_true(dabs(m.rmssd_ms - 57.1547607) < 1e-6);
}

static void test_skew(void **st)
{
    (void)st;
    bool sk;
    assert_int_equal(wo_skew_clamp(1000 + 400000, 1000, 300000, &sk), 1000);
    assert_true(sk);
    assert_int_equal(wo_skew_clamp(1000 + 300000, 1000, 300000, &sk), 301000);
    assert_false(sk);
    assert_int_equal(wo_skew_clamp(5, 1000, 300000, &sk), 5); /* late is fine */
    assert_false(sk);
}

static void test_session_pick(void **st)
{
    (void)st;
    const int64_t idle = 300;
    wo_span sp[] = {{0, 100, false}, {500, 600, false}};
    wo_pick p = wo_session_pick(sp, 2, 50, idle);
    assert_int_equal(p.kind, WO_PICK_JOIN);
    assert_int_equal(p.a, 0);
    p = wo_session_pick(sp, 2, 550, idle);
    assert_int_equal(p.kind, WO_PICK_JOIN);
    assert_int_equal(p.a, 1);
    p = wo_session_pick(sp, 2, 300, idle); /* within idle of both: one workout */
    assert_int_equal(p.kind, WO_PICK_BRIDGE);
    assert_int_equal(p.a, 0);
    assert_int_equal(p.b, 1);
    p = wo_session_pick(sp, 2, 901, idle); /* idle split */
    assert_int_equal(p.kind, WO_PICK_NEW);
    p = wo_session_pick(sp, 2, 900, idle);
    assert_int_equal(p.kind, WO_PICK_JOIN);
    p = wo_session_pick(sp, 2, -300, idle); /* late, just before the start */
    assert_int_equal(p.kind, WO_PICK_JOIN);
    assert_int_equal(p.a, 0);
    p = wo_session_pick(sp, 2, -301, idle);
    assert_int_equal(p.kind, WO_PICK_NEW);
    sp[0].stopped = true; /* an explicit stop: nothing after its end */
    p = wo_session_pick(sp, 2, 150, idle);
    assert_int_equal(p.kind, WO_PICK_NEW);
    p = wo_session_pick(sp, 2, 300, idle);
    assert_int_equal(p.kind, WO_PICK_JOIN);
    assert_int_equal(p.a, 1);
    p = wo_session_pick(sp, 2, 90, idle); /* late but inside the stopped one */
    assert_int_equal(p.kind, WO_PICK_JOIN);
    assert_int_equal(p.a, 0);
}

static void test_session_idle(void **st)
{
    (void)st;
    wo_span s = {0, 100, false};
    assert_true(wo_session_idle(&s, 401, 0, 0, 300)); /* a newer reading is past idle */
    assert_false(wo_session_idle(&s, 400, 800, 1100, 300));
    assert_true(wo_session_idle(&s, 100, 800, 1101, 300)); /* wall clock */
    s.stopped = true;
    assert_true(wo_session_idle(&s, 100, 800, 800, 300));
}

static void test_sample_from_reading(void **st)
{
    (void)st;
    fp_reading r;
    assert_int_equal(fp_reading_init(&r, "hr-1", FP_KIND_HEART_RATE, 1732530000123), FP_OK);
    fp_reading_add(&r, FP_Q_HEART_RATE, 72);
    fp_reading_add(&r, FP_Q_RR_INTERVAL, 0.83);
    fp_reading_add(&r, FP_Q_RR_INTERVAL, 0.81);
    wo_sample s;
    assert_true(wo_sample_from_reading(&r, &s));
    assert_int_equal(s.mask, WO_HR);
    assert_int_equal(s.nrr, 2);
    NEAR(s.rr[1], 0.81);
    assert_int_equal(fp_reading_init(&r, "b-1", FP_KIND_BATTERY, 1732530000123), FP_OK);
    fp_reading_add(&r, FP_Q_BATTERY, 50);
    assert_false(wo_sample_from_reading(&r, &s));
}

static void test_pack_roundtrip(void **st)
{
    (void)st;
    wo_sample a;
    memset(&a, 0, sizeof a); /* padding too: compared byte by byte below */
    a.ts_ms = 5;
    a.mask = WO_HR | WO_DISTANCE | WO_SKEWED;
    a.dev = 7;
    a.hr = 123.5;
    a.distance_m = 16777215;
    a.nrr = 2;
    a.rr[0] = 0.812;
    a.rr[1] = 0.79;
    uint8_t buf[WO_PACK_MAX];
    size_t n = wo_sample_pack(&a, buf, sizeof buf);
    assert_int_equal(n, 7 + 2 * 8 + 2 * 8); /* only what is present */
    assert_int_equal(buf[0], 1);
    wo_sample b;
    assert_true(wo_sample_unpack(buf, n, 5, &b));
    assert_memory_equal(&a, &b, sizeof a);
    assert_false(wo_sample_unpack(buf, n - 1, 5, &b)); /* truncated */
    assert_false(wo_sample_unpack(buf, 3, 5, &b));
    buf[0] = 2;
    assert_false(wo_sample_unpack(buf, n, 5, &b)); /* another version */
    buf[0] = 1;
    buf[6] = WO_RR_MAX + 1;
    assert_false(wo_sample_unpack(buf, n, 5, &b));
    assert_int_equal(wo_sample_pack(&a, buf, 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_max_hr),
        cmocka_unit_test(test_keytel),
        cmocka_unit_test(test_trimp),
        cmocka_unit_test(test_counter),
        cmocka_unit_test(test_rmssd),
        cmocka_unit_test(test_ramp_in_and_out_of_order),
        cmocka_unit_test(test_pause_gap),
        cmocka_unit_test(test_merge_strap_and_treadmill),
        cmocka_unit_test(test_counters_wrap_and_reset),
        cmocka_unit_test(test_speed_integration_and_device_energy),
        cmocka_unit_test(test_device_energy_unchanged_falls_back),
        cmocka_unit_test(test_rr_in_workout),
        cmocka_unit_test(test_skew),
        cmocka_unit_test(test_session_pick),
        cmocka_unit_test(test_session_idle),
        cmocka_unit_test(test_sample_from_reading),
        cmocka_unit_test(test_pack_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
