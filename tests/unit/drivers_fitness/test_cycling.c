/* test_cycling.c - RSC (0x2A53), CSC (0x2A5B) with csc_derive(), Cycling
 * Power Measurement (0x2A63) and Vector (0x2A64): the shared vectors, a
 * test-only encoder round-tripped over every flag combination, every
 * truncated and over-long payload, reserved bits, wraps and decrements. */
#include <math.h>

#include "fitdrivers/fitness.h"
#include "fitdrivers/gatt.h"
#include "fit_test.h"

/* ---------- RSC ---------- */

static size_t rsc_encode(const rsc_measurement *m, uint8_t *buf)
{
    uint8_t *p = buf;
    p = put8(p, (m->has_stride ? 1 : 0) | (m->has_distance ? 2 : 0) | (m->running ? 4 : 0));
    p = put16(p, m->speed_raw);
    p = put8(p, m->cadence);
    if (m->has_stride)
        p = put16(p, m->stride_cm);
    if (m->has_distance)
        p = put32(p, m->distance_dm);
    return (size_t)(p - buf);
}

static void test_rsc_vectors(void **state)
{
    (void)state;
    const cJSON *v;
    int ok = 0, bad = 0;
    cJSON_ArrayForEach(v, vector_list("rsc_measurement_2a53", 2))
    {
        uint8_t buf[64];
        size_t n = test_unhex(field(v, "hex")->valuestring, buf, sizeof(buf));
        fp_reading r;
        fp_status rc = gatt_decode(FITNESS_UUID_RSC_MEASUREMENT, buf, n, "dev-1", TS, &r);
        if (cJSON_IsTrue(field(v, "invalid"))) {
            assert_int_equal(rc, FP_ERR_LENGTH);
            assert_int_equal(r.nvalues, 0);
            bad++;
            continue;
        }
        assert_int_equal(rc, FP_OK);
        assert_int_equal(r.kind, FP_KIND_RUNNING);
        assert_true(fabs(get(&r, FP_Q_SPEED) - num(v, "speed_mps")) < 1e-9);
        assert_true(get(&r, FP_Q_CADENCE) == num(v, "cadence_spm"));
        assert_true(fabs(get(&r, FP_Q_STRIDE_LENGTH) - num(v, "stride_cm") / 100) < 1e-9);
        assert_true(fabs(get(&r, FP_Q_DISTANCE) - num(v, "total_distance_raw") / 10) < 1e-6);
        assert_true(get(&r, FP_Q_RUNNING) == (cJSON_IsTrue(field(v, "running")) ? 1 : 0));
        assert_int_equal(fp_reading_validate(&r), FP_OK);
        ok++;
    }
    assert_true(ok >= 1 && bad >= 1);
}

static void test_rsc_every_flag_combination(void **state)
{
    (void)state;
    for (int flags = 0; flags < 8; flags++) {
        for (int round = 0; round < 50; round++) {
            rsc_measurement m = {0}, back;
            m.speed_raw = (uint16_t)rnd_in(0, 25600); /* <= 100 m/s */
            m.cadence = (uint8_t)rnd();
            m.has_stride = flags & 1;
            m.stride_cm = m.has_stride ? (uint16_t)rnd_in(0, 1000) : 0;
            m.has_distance = flags & 2;
            m.distance_dm = m.has_distance ? rnd() : 0;
            m.running = flags & 4;
            uint8_t buf[16];
            size_t n = rsc_encode(&m, buf);
            assert_int_equal(n, 4 + (flags & 1 ? 2 : 0) + (flags & 2 ? 4 : 0));
            assert_int_equal(rsc_decode(buf, n, &back), FP_OK);
            assert_memory_equal(&m, &back, sizeof(m));

            fp_reading r;
            assert_int_equal(gatt_decode(0x2A53, buf, n, "dev-1", TS, &r), FP_OK);
            assert_int_equal(r.nvalues, 3 + (flags & 1 ? 1 : 0) + (flags & 2 ? 1 : 0));
            assert_true(get(&r, FP_Q_SPEED) == m.speed_raw / 256.0);
            assert_true(get(&r, FP_Q_CADENCE) == m.cadence);
            assert_true(get(&r, FP_Q_RUNNING) == (m.running ? 1 : 0));
            if (m.has_stride)
                assert_true(get(&r, FP_Q_STRIDE_LENGTH) == m.stride_cm / 100.0);
            if (m.has_distance)
                assert_true(get(&r, FP_Q_DISTANCE) == m.distance_dm / 10.0);

            for (size_t cut = 0; cut < n; cut++)
                assert_int_equal(rsc_decode(buf, cut, &back), FP_ERR_LENGTH);
            buf[n] = 0;
            assert_int_equal(rsc_decode(buf, n + 1, &back), FP_ERR_LENGTH);
            assert_int_equal(gatt_decode(0x2A53, buf, n + 1, "dev-1", TS, &r), FP_ERR_LENGTH);
        }
    }
}

static void test_rsc_reserved_and_range(void **state)
{
    (void)state;
    rsc_measurement m;
    fp_reading r;
    for (int bit = 3; bit < 8; bit++) {
        uint8_t buf[4] = {(uint8_t)(1 << bit), 0, 1, 90};
        assert_int_equal(rsc_decode(buf, 4, &m), FP_ERR_RESERVED);
    }
    /* 0xFFFF/256 = 256 m/s is beyond the speed range. */
    uint8_t fast[4] = {0, 0xFF, 0xFF, 90};
    assert_int_equal(rsc_decode(fast, 4, &m), FP_OK);
    assert_int_equal(gatt_decode(0x2A53, fast, 4, "dev-1", TS, &r), FP_ERR_RANGE);
    assert_int_equal(r.nvalues, 0);
    assert_int_equal(rsc_decode(NULL, 4, &m), FP_ERR_LENGTH);
}

/* ---------- CSC ---------- */

static size_t csc_encode(const csc_measurement *m, uint8_t *buf)
{
    uint8_t *p = put8(buf, (m->has_wheel ? 1 : 0) | (m->has_crank ? 2 : 0));
    if (m->has_wheel) {
        p = put32(p, m->wheel_revs);
        p = put16(p, m->wheel_time);
    }
    if (m->has_crank) {
        p = put16(p, m->crank_revs);
        p = put16(p, m->crank_time);
    }
    return (size_t)(p - buf);
}

static void test_csc_vectors(void **state)
{
    (void)state;
    const cJSON *v;
    int ok = 0, bad = 0;
    cJSON_ArrayForEach(v, vector_list("csc_measurement_2a5b", 2))
    {
        uint8_t buf[64];
        size_t n = test_unhex(field(v, "hex")->valuestring, buf, sizeof(buf));
        csc_measurement m;
        fp_reading r;
        fp_status rc = gatt_decode(FITNESS_UUID_CSC_MEASUREMENT, buf, n, "dev-1", TS, &r);
        if (cJSON_IsTrue(field(v, "invalid"))) {
            assert_int_equal(rc, FP_ERR_LENGTH);
            assert_int_equal(csc_decode(buf, n, &m), FP_ERR_LENGTH);
            bad++;
            continue;
        }
        assert_int_equal(rc, FP_OK);
        assert_int_equal(r.kind, FP_KIND_CYCLING);
        assert_int_equal(csc_decode(buf, n, &m), FP_OK);
        assert_true(m.has_wheel && m.has_crank);
        assert_int_equal(m.wheel_revs, (uint32_t)num(v, "wheel_revs"));
        assert_int_equal(m.wheel_time, (uint16_t)num(v, "wheel_time"));
        assert_int_equal(m.crank_revs, (uint16_t)num(v, "crank_revs"));
        assert_int_equal(m.crank_time, (uint16_t)num(v, "crank_time"));
        assert_true(get(&r, FP_Q_WHEEL_REVS) == num(v, "wheel_revs"));
        assert_true(get(&r, FP_Q_CRANK_REVS) == num(v, "crank_revs"));
        ok++;
    }
    assert_true(ok >= 1 && bad >= 1);
}

static void test_csc_every_flag_combination(void **state)
{
    (void)state;
    for (int flags = 0; flags < 4; flags++) {
        for (int round = 0; round < 50; round++) {
            csc_measurement m = {0}, back;
            m.has_wheel = flags & 1;
            m.has_crank = flags & 2;
            if (m.has_wheel) {
                m.wheel_revs = rnd();
                m.wheel_time = (uint16_t)rnd();
            }
            if (m.has_crank) {
                m.crank_revs = (uint16_t)rnd();
                m.crank_time = (uint16_t)rnd();
            }
            uint8_t buf[16];
            size_t n = csc_encode(&m, buf);
            assert_int_equal(csc_decode(buf, n, &back), FP_OK);
            assert_memory_equal(&m, &back, sizeof(m));
            fp_reading r;
            fp_status rc = gatt_decode(0x2A5B, buf, n, "dev-1", TS, &r);
            if (flags == 0) {
                assert_int_equal(rc, FP_ERR_RANGE); /* nothing to store */
            } else {
                assert_int_equal(rc, FP_OK);
                assert_int_equal(r.nvalues, (flags & 1) + (flags >> 1));
                if (m.has_wheel)
                    assert_true(get(&r, FP_Q_WHEEL_REVS) == m.wheel_revs);
                if (m.has_crank)
                    assert_true(get(&r, FP_Q_CRANK_REVS) == m.crank_revs);
            }
            for (size_t cut = 0; cut < n; cut++)
                assert_int_equal(csc_decode(buf, cut, &back), FP_ERR_LENGTH);
            buf[n] = 0;
            assert_int_equal(csc_decode(buf, n + 1, &back), FP_ERR_LENGTH);
        }
    }
    for (int bit = 2; bit < 8; bit++) {
        uint8_t buf[1] = {(uint8_t)(1 << bit)};
        csc_measurement m;
        assert_int_equal(csc_decode(buf, 1, &m), FP_ERR_RESERVED);
    }
}

static csc_measurement wheel(uint32_t revs, uint16_t time)
{
    csc_measurement m = {.has_wheel = true, .wheel_revs = revs, .wheel_time = time};
    return m;
}

static csc_measurement crank(uint16_t revs, uint16_t time)
{
    csc_measurement m = {.has_crank = true, .crank_revs = revs, .crank_time = time};
    return m;
}

static void test_csc_derivation_vectors(void **state)
{
    (void)state;
    const cJSON *v;
    int n = 0;
    cJSON_ArrayForEach(v, vector_list("csc_derivation", 2))
    {
        csc_state st;
        csc_derived d;
        csc_state_reset(&st);
        if (field(v, "wheel")) {
            double circ = num(v, "circumference_mm") / 1000.0;
            const cJSON *revs = field(v, "wheel"), *times = field(v, "wheel_time");
            csc_measurement a = wheel((uint32_t)cJSON_GetArrayItem(revs, 0)->valuedouble,
                                      (uint16_t)cJSON_GetArrayItem(times, 0)->valuedouble);
            csc_measurement b = wheel((uint32_t)cJSON_GetArrayItem(revs, 1)->valuedouble,
                                      (uint16_t)cJSON_GetArrayItem(times, 1)->valuedouble);
            assert_int_equal(csc_derive(&st, &a, circ, &d), FP_OK);
            assert_false(d.has_speed || d.has_cadence); /* first sample */
            assert_int_equal(csc_derive(&st, &b, circ, &d), FP_OK);
            assert_true(d.has_speed);
            assert_false(d.has_cadence);
            assert_true(fabs(d.distance_m - num(v, "distance_m")) < 1e-9);
            assert_true(fabs(d.speed_mps - num(v, "speed_mps")) < 1e-9);
        } else {
            const cJSON *revs = field(v, "crank"), *times = field(v, "crank_time");
            csc_measurement a = crank((uint16_t)cJSON_GetArrayItem(revs, 0)->valuedouble,
                                      (uint16_t)cJSON_GetArrayItem(times, 0)->valuedouble);
            csc_measurement b = crank((uint16_t)cJSON_GetArrayItem(revs, 1)->valuedouble,
                                      (uint16_t)cJSON_GetArrayItem(times, 1)->valuedouble);
            assert_int_equal(csc_derive(&st, &a, 2.0, &d), FP_OK);
            assert_false(d.has_cadence);
            assert_int_equal(csc_derive(&st, &b, 2.0, &d), FP_OK);
            assert_true(d.has_cadence);
            assert_false(d.has_speed);
            assert_true(fabs(d.cadence_rpm - num(v, "cadence_rpm")) < 1e-9);
        }
        n++;
    }
    assert_int_equal(n, 2);
}

static void test_csc_wraps_and_decrements(void **state)
{
    (void)state;
    csc_state st;
    csc_derived d;
    csc_state_reset(&st);
    /* Event time wraps: 65000 -> 488 is 1024 ticks = 1 s. Revs wrap too. */
    csc_measurement a = wheel(0xFFFFFFFFu, 65000), b = wheel(1, 488);
    assert_int_equal(csc_derive(&st, &a, 2.0, &d), FP_OK);
    assert_int_equal(csc_derive(&st, &b, 2.0, &d), FP_OK);
    assert_true(d.has_speed);
    assert_true(fabs(d.distance_m - 4.0) < 1e-9); /* 2 revs across the uint32 wrap */
    assert_true(fabs(d.speed_mps - 4.0) < 1e-9);

    /* Wheel rolled backwards: 3 revs fewer in 0.5 s. */
    csc_measurement c = wheel(0xFFFFFFFEu, 1000);
    assert_int_equal(csc_derive(&st, &c, 2.0, &d), FP_OK);
    assert_true(d.has_speed);
    assert_true(fabs(d.distance_m + 6.0) < 1e-9);
    assert_true(fabs(d.speed_mps - 12.0) < 1e-9);

    /* Crank count wraps at 65536 and time wraps too: 65535 -> 1 is 2 revs in 1 s. */
    csc_state_reset(&st);
    csc_measurement k1 = crank(65535, 65535), k2 = crank(1, 1023);
    assert_int_equal(csc_derive(&st, &k1, 2.0, &d), FP_OK);
    assert_int_equal(csc_derive(&st, &k2, 2.0, &d), FP_OK);
    assert_true(d.has_cadence);
    assert_true(fabs(d.cadence_rpm - 120.0) < 1e-9);
}

static void test_csc_coasting_rule(void **state)
{
    (void)state;
    csc_state st;
    csc_derived d;
    csc_state_reset(&st);
    csc_measurement both = {true, 100, 2048, true, 50, 2048};
    assert_int_equal(csc_derive(&st, &both, 2.0, &d), FP_OK);
    both.wheel_revs = 105; /* 5 revs and 2 crank revs in 1 s */
    both.wheel_time = 3072;
    both.crank_revs = 52;
    both.crank_time = 3072;
    assert_int_equal(csc_derive(&st, &both, 2.0, &d), FP_OK);
    assert_true(d.has_speed && d.has_cadence);
    assert_true(fabs(d.speed_mps - 10.0) < 1e-9);
    assert_true(fabs(d.cadence_rpm - 120.0) < 1e-9);

    /* The same sample again: no new value for CSC_STOP_SAMPLES - 1 repeats,
     * then 0 on every further repeat. */
    for (int i = 1; i < CSC_STOP_SAMPLES; i++) {
        assert_int_equal(csc_derive(&st, &both, 2.0, &d), FP_OK);
        assert_false(d.has_speed || d.has_cadence);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(csc_derive(&st, &both, 2.0, &d), FP_OK);
        assert_true(d.has_speed && d.has_cadence);
        assert_true(d.speed_mps == 0 && d.distance_m == 0 && d.cadence_rpm == 0);
    }
    /* Moving again: the delta is taken from the last real event. */
    both.wheel_revs = 106;
    both.wheel_time = 3072 + 512;
    both.crank_revs = 53;
    both.crank_time = 3072 + 1024;
    assert_int_equal(csc_derive(&st, &both, 2.0, &d), FP_OK);
    assert_true(fabs(d.speed_mps - 4.0) < 1e-9);
    assert_true(fabs(d.cadence_rpm - 60.0) < 1e-9);

    /* Same time with a changed count: a glitch, ignored, state kept. */
    csc_measurement g = wheel(200, 3072 + 512);
    assert_int_equal(csc_derive(&st, &g, 2.0, &d), FP_OK);
    assert_false(d.has_speed);
    csc_measurement next = wheel(107, 3072 + 1024);
    assert_int_equal(csc_derive(&st, &next, 2.0, &d), FP_OK);
    assert_true(fabs(d.distance_m - 2.0) < 1e-9);

    /* Bad circumference. */
    assert_int_equal(csc_derive(&st, &next, 0, &d), FP_ERR_RANGE);
    assert_int_equal(csc_derive(&st, &next, NAN, &d), FP_ERR_RANGE);
    assert_int_equal(csc_derive(&st, &next, 11, &d), FP_ERR_RANGE);
}

/* ---------- Cycling Power Measurement ---------- */

static size_t cps_encode(const cps_measurement *m, uint8_t *buf)
{
    uint16_t f = m->flags;
    uint8_t *p = put16(buf, f);
    p = put16(p, (uint16_t)m->power_w);
    if (f & 0x0001)
        p = put8(p, m->balance_raw);
    if (f & 0x0004)
        p = put16(p, m->torque_raw);
    if (f & 0x0010) {
        p = put32(p, m->wheel_revs);
        p = put16(p, m->wheel_time);
    }
    if (f & 0x0020) {
        p = put16(p, m->crank_revs);
        p = put16(p, m->crank_time);
    }
    if (f & 0x0040) {
        p = put16(p, (uint16_t)m->max_force_n);
        p = put16(p, (uint16_t)m->min_force_n);
    }
    if (f & 0x0080) {
        p = put16(p, (uint16_t)m->max_torque_raw);
        p = put16(p, (uint16_t)m->min_torque_raw);
    }
    if (f & 0x0100)
        p = put24(p, (uint32_t)m->max_angle_deg | (uint32_t)m->min_angle_deg << 12);
    if (f & 0x0200)
        p = put16(p, m->top_dead_spot_deg);
    if (f & 0x0400)
        p = put16(p, m->bottom_dead_spot_deg);
    if (f & 0x0800)
        p = put16(p, m->energy_kj);
    return (size_t)(p - buf);
}

/* Filled through a pointer after memset: struct padding must compare equal
 * with assert_memory_equal, and a struct returned by value has none promised. */
static void cps_random_into(uint16_t flags, cps_measurement *out)
{
    memset(out, 0, sizeof *out);
    cps_measurement m;
    memset(&m, 0, sizeof m);
    m.flags = flags;
    m.power_w = (int16_t)rnd();
    if (flags & 0x0001)
        m.balance_raw = (uint8_t)rnd_in(0, 200);
    if (flags & 0x0004)
        m.torque_raw = (uint16_t)rnd();
    if (flags & 0x0010) {
        m.wheel_revs = rnd();
        m.wheel_time = (uint16_t)rnd();
    }
    if (flags & 0x0020) {
        m.crank_revs = (uint16_t)rnd();
        m.crank_time = (uint16_t)rnd();
    }
    if (flags & 0x0040) {
        m.max_force_n = (int16_t)rnd();
        m.min_force_n = (int16_t)rnd();
    }
    if (flags & 0x0080) {
        m.max_torque_raw = (int16_t)rnd();
        m.min_torque_raw = (int16_t)rnd();
    }
    if (flags & 0x0100) {
        m.max_angle_deg = (uint16_t)rnd_in(0, 4095);
        m.min_angle_deg = (uint16_t)rnd_in(0, 4095);
    }
    if (flags & 0x0200)
        m.top_dead_spot_deg = (uint16_t)rnd_in(0, 359);
    if (flags & 0x0400)
        m.bottom_dead_spot_deg = (uint16_t)rnd_in(0, 359);
    if (flags & 0x0800)
        m.energy_kj = (uint16_t)rnd();
    memcpy(out, &m, sizeof m);
}

static void test_cps_vectors(void **state)
{
    (void)state;
    const cJSON *v;
    int n = 0;
    cJSON_ArrayForEach(v, vector_list("cycling_power_measurement_2a63", 2))
    {
        uint8_t buf[64];
        size_t len = test_unhex(field(v, "hex")->valuestring, buf, sizeof(buf));
        fp_reading r;
        assert_int_equal(gatt_decode(FITNESS_UUID_CPS_MEASUREMENT, buf, len, "dev-1", TS, &r),
                         FP_OK);
        assert_int_equal(r.kind, FP_KIND_CYCLING_POWER);
        assert_true(get(&r, FP_Q_POWER) == num(v, "power_w"));
        cps_measurement m;
        assert_int_equal(cps_decode(buf, len, &m), FP_OK);
        if (field(v, "accumulated_torque_raw")) {
            assert_int_equal(m.torque_raw, (uint16_t)num(v, "accumulated_torque_raw"));
            assert_true(get(&r, FP_Q_TORQUE) == num(v, "accumulated_torque_raw") / 32);
            assert_int_equal(m.crank_revs, (uint16_t)num(v, "crank_revs"));
            assert_int_equal(m.crank_time, (uint16_t)num(v, "crank_time"));
            assert_true(get(&r, FP_Q_CRANK_REVS) == num(v, "crank_revs"));
            /* flags 0x2C: the torque-source indicator is the status. */
            assert_true(get(&r, FP_Q_STATUS) == CPS_F_TORQUE_CRANK);
        } else {
            assert_int_equal(r.nvalues, 1);
        }
        assert_int_equal(fp_reading_validate(&r), FP_OK);
        n++;
    }
    assert_true(n >= 2);
}

static void test_cps_every_flag_combination(void **state)
{
    (void)state;
    static const uint8_t field_len[13] = {1, 0, 2, 0, 6, 4, 4, 4, 3, 2, 2, 2, 0};
    for (uint32_t flags = 0; flags < 0x2000; flags++) {
        cps_measurement m, back;
        cps_random_into((uint16_t)flags, &m);
        uint8_t buf[64];
        size_t n = cps_encode(&m, buf);
        size_t want = 4;
        for (int b = 0; b < 13; b++)
            want += (flags >> b & 1) ? field_len[b] : 0;
        assert_int_equal(n, want);
        assert_int_equal(cps_decode(buf, n, &back), FP_OK);
        assert_memory_equal(&m, &back, sizeof(m));

        fp_reading r;
        assert_int_equal(gatt_decode(0x2A63, buf, n, "dev-1", TS, &r), FP_OK);
        int expect = 1;
        assert_true(get(&r, FP_Q_POWER) == m.power_w);
        if (flags & 0x0004) {
            assert_true(get(&r, FP_Q_TORQUE) == m.torque_raw / 32.0);
            expect++;
        }
        if (flags & 0x0010) {
            assert_true(get(&r, FP_Q_WHEEL_REVS) == m.wheel_revs);
            expect++;
        }
        if (flags & 0x0020) {
            assert_true(get(&r, FP_Q_CRANK_REVS) == m.crank_revs);
            expect++;
        }
        if (flags & 0x0800) {
            assert_true(get(&r, FP_Q_ENERGY) == m.energy_kj * 1000.0);
            expect++;
        }
        if (flags & 0x100A) {
            assert_true(get(&r, FP_Q_STATUS) == (flags & 0x100A));
            expect++;
        }
        assert_int_equal(r.nvalues, expect);

        assert_int_equal(cps_decode(buf, n - 1, &back), FP_ERR_LENGTH);
        buf[n] = 0;
        assert_int_equal(cps_decode(buf, n + 1, &back), FP_ERR_LENGTH);
        assert_int_equal(gatt_decode(0x2A63, buf, n + 1, "dev-1", TS, &r), FP_ERR_LENGTH);
        if (flags == 0x1FFF) { /* every prefix of the longest payload */
            for (size_t cut = 0; cut < n; cut++)
                assert_int_equal(cps_decode(buf, cut, &back), FP_ERR_LENGTH);
        }
    }
    for (int bit = 13; bit < 16; bit++) {
        uint8_t buf[4] = {0, (uint8_t)(1 << (bit - 8)), 0, 0};
        cps_measurement m;
        assert_int_equal(cps_decode(buf, 4, &m), FP_ERR_RESERVED);
    }
}

static void test_cps_vector(void **state)
{
    (void)state;
    cps_vector v;
    fp_reading r;
    uint8_t crank[] = {0x01, 0x10, 0x00, 0x00, 0x04};
    assert_int_equal(cps_vector_decode(crank, sizeof(crank), &v), FP_OK);
    assert_int_equal(v.crank_revs, 16);
    assert_int_equal(v.crank_time, 1024);
    assert_int_equal(gatt_decode(0x2A64, crank, sizeof(crank), "dev-1", TS, &r), FP_OK);
    assert_true(get(&r, FP_Q_CRANK_REVS) == 16);
    for (size_t cut = 0; cut < sizeof(crank); cut++)
        assert_int_equal(cps_vector_decode(crank, cut, &v), FP_ERR_LENGTH);

    /* angle + force array of 3 items */
    uint8_t force[] = {0x06, 0x5A, 0x00, 1, 0, 2, 0, 3, 0};
    assert_int_equal(cps_vector_decode(force, sizeof(force), &v), FP_OK);
    assert_int_equal(v.first_angle_deg, 90);
    assert_int_equal(v.n_magnitudes, 3);
    assert_int_equal(cps_vector_decode(force, sizeof(force) - 1, &v), FP_ERR_LENGTH);
    assert_int_equal(cps_vector_decode(force, 3, &v), FP_ERR_LENGTH); /* empty array */
    /* No crank data: decodes, but nothing to store. */
    assert_int_equal(gatt_decode(0x2A64, force, sizeof(force), "dev-1", TS, &r), FP_ERR_RANGE);

    uint8_t both[] = {0x0C, 1, 0};
    assert_int_equal(cps_vector_decode(both, sizeof(both), &v), FP_ERR_RESERVED);
    uint8_t reserved[] = {0x40};
    assert_int_equal(cps_vector_decode(reserved, 1, &v), FP_ERR_RESERVED);
    uint8_t plain[] = {0x30, 0};
    assert_int_equal(cps_vector_decode(plain, 1, &v), FP_OK); /* direction bits only */
    assert_int_equal(cps_vector_decode(plain, 2, &v), FP_ERR_LENGTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsc_vectors),
        cmocka_unit_test(test_rsc_every_flag_combination),
        cmocka_unit_test(test_rsc_reserved_and_range),
        cmocka_unit_test(test_csc_vectors),
        cmocka_unit_test(test_csc_every_flag_combination),
        cmocka_unit_test(test_csc_derivation_vectors),
        cmocka_unit_test(test_csc_wraps_and_decrements),
        cmocka_unit_test(test_csc_coasting_rule),
        cmocka_unit_test(test_cps_vectors),
        cmocka_unit_test(test_cps_every_flag_combination),
        cmocka_unit_test(test_cps_vector),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
