/* test_hrmodel.c - the simulated strap stays physiological and its bytes decode. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fitdrivers/gatt.h"
#include "hrmodel.h"

#define DEVICES 20
#define HOURS   3

/* Over hours of workouts every notification is within physiological bounds
 * and the curve really goes through rest and hard intervals. */
static void test_bounds_long_run(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < DEVICES; i++) {
        hrm_device d;
        hrm_init(&d, 42, i);
        assert_true(d.rest_hr >= 55 && d.rest_hr <= 75);
        assert_true(d.max_hr >= 185 && d.max_hr <= 200);
        int lo = 1000, hi = 0;
        long lost = 0, energy_seen = 0;
        int32_t last_energy = -1;
        int steps = HOURS * 3600;
        for (int k = 1; k <= steps; k++) {
            hrs_measurement m;
            hrm_step(&d, 1.0, &m);
            assert_true(m.hr_bpm >= 40 && m.hr_bpm <= 205);
            assert_true(m.hr_bpm >= d.rest_hr - 7 && m.hr_bpm <= d.max_hr + 1);
            assert_true(m.contact == 0 || m.contact == 1);
            assert_true(m.rr_count <= HRM_RR_MAX);
            if (m.contact == 0) {
                lost++;
                assert_int_equal(m.rr_count, 0); /* no beats detected without contact */
            }
            if (k % HRM_ENERGY_EVERY == 0) {
                assert_true(m.energy_kj >= 0 && m.energy_kj <= 0xFFFF);
                assert_true(m.energy_kj >= last_energy); /* cumulative */
                last_energy = m.energy_kj;
                energy_seen++;
            } else {
                assert_int_equal(m.energy_kj, -1);
            }
            lo = m.hr_bpm < lo ? m.hr_bpm : lo;
            hi = m.hr_bpm > hi ? m.hr_bpm : hi;
            uint8_t b = hrm_battery(&d);
            assert_true(b >= 1 && b <= 100);
        }
        assert_int_equal(energy_seen, steps / HRM_ENERGY_EVERY);
        /* Rest near the resting rate, intervals well into the upper zones. */
        assert_true(lo <= d.rest_hr + 10);
        assert_true(hi >= d.rest_hr + 0.7 * (d.max_hr - d.rest_hr));
        /* Contact is lost now and then, but rarely (~1 % of the time). */
        assert_true(lost > 0);
        assert_true(lost < steps / 20);
        /* 3 h of back-to-back workouts: at least resting expenditure, at
         * most 90 kJ/min (elite effort) for a large body all the time. */
        assert_true(last_energy > HOURS * 60 * 4.2 * 0.85);
        assert_true(last_energy < HOURS * 60 * 90 * 1.15);
    }
}

/* RR intervals match the reported heart rate, and the beats account for the
 * time that passed (a strap reports every beat it detects). */
static void test_rr_consistent(void **state)
{
    (void)state;
    const double dts[] = {1.0, 0.25};
    for (size_t j = 0; j < sizeof dts / sizeof dts[0]; j++) {
        double dt = dts[j];
        hrm_device d;
        hrm_init(&d, 7, 3);
        double sum_err = 0, rr_total = 0, t_contact = 0;
        long n = 0, with_rr = 0, steps = (long)(2 * 3600 / dt);
        for (long k = 0; k < steps; k++) {
            hrs_measurement m;
            hrm_step(&d, dt, &m);
            if (m.contact)
                t_contact += dt;
            if (m.rr_count > 0)
                with_rr++;
            double expect = 60.0 / m.hr_bpm;
            for (int r = 0; r < m.rr_count; r++) {
                double rr = m.rr_raw[r] / 1024.0;
                double err = fabs(rr - expect) / expect;
                assert_true(err < 0.25);
                sum_err += err;
                rr_total += rr;
                n++;
            }
        }
        assert_true(n > 0);
        assert_true(sum_err / n < 0.05);
        /* Beats detected cover the time with contact to within 2 %: no beat
         * is dropped by the HRM_RR_MAX cap at these rates. */
        assert_true(fabs(rr_total - t_contact) / t_contact < 0.02);
        if (dt == 1.0) /* at 1 Hz nearly every notification carries RR */
            assert_true(with_rr > steps * 9 / 10);
    }
}

static void assert_same(const hrs_measurement *a, const hrs_measurement *b)
{
    assert_int_equal(a->hr_bpm, b->hr_bpm);
    assert_int_equal(a->contact, b->contact);
    assert_int_equal(a->energy_kj, b->energy_kj);
    assert_int_equal(a->rr_count, b->rr_count);
    assert_memory_equal(a->rr_raw, b->rr_raw, a->rr_count * sizeof a->rr_raw[0]);
}

/* What the simulator publishes decodes back to what the model produced. */
static void test_encode_decode(void **state)
{
    (void)state;
    hrm_device d;
    hrm_init(&d, 99, 0);
    int lens[32] = {0};
    for (int k = 0; k < 20000; k++) {
        hrs_measurement m, back;
        uint8_t buf[64];
        hrm_step(&d, 1.0, &m);
        size_t len = hrs_encode(&m, buf, sizeof buf);
        assert_true(len >= 2 && len <= 20); /* fits the default ATT MTU (23) */
        lens[len]++;
        memset(&back, 0xA5, sizeof back);
        assert_int_equal(hrs_decode(buf, len, &back), FP_OK);
        assert_same(&m, &back);
        /* The flags advertise contact support and RR presence exactly. */
        assert_true(buf[0] & 0x04);
        assert_int_equal(!!(buf[0] & 0x02), m.contact);
        assert_int_equal(!!(buf[0] & 0x10), m.rr_count > 0);
        assert_int_equal(!!(buf[0] & 0x08), m.energy_kj >= 0);
    }
    int sizes = 0;
    for (int i = 0; i < 32; i++)
        sizes += lens[i] > 0;
    assert_true(sizes >= 3); /* with/without energy, 1 or 2 RR ... */
}

static void run_bytes(uint64_t seed, uint32_t index, uint8_t *out, size_t cap, size_t *len)
{
    hrm_device d;
    hrm_init(&d, seed, index);
    *len = 0;
    for (int k = 0; k < 5000; k++) {
        hrs_measurement m;
        hrm_step(&d, k % 3 ? 1.0 : 0.5, &m);
        size_t n = hrs_encode(&m, out + *len, cap - *len);
        assert_true(n > 0);
        *len += n;
    }
}

/* Same seed and index: the same bytes. Another seed or index: different. */
static void test_deterministic(void **state)
{
    (void)state;
    static uint8_t a[5000 * 20], b[5000 * 20], c[5000 * 20], e[5000 * 20];
    size_t la, lb, lc, le;
    run_bytes(12345, 0, a, sizeof a, &la);
    run_bytes(12345, 0, b, sizeof b, &lb);
    run_bytes(12346, 0, c, sizeof c, &lc);
    run_bytes(12345, 1, e, sizeof e, &le);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_true(la != lc || memcmp(a, c, la) != 0);
    assert_true(la != le || memcmp(a, e, la) != 0);

    /* The PRNG itself: fixed first value of splitmix64 from seed 0. */
    uint64_t s = 0;
    assert_true(hrm_rand(&s) == 0xE220A8397B1DCDAFULL);
    for (int i = 0; i < 1000; i++) {
        double u = hrm_uniform(&s);
        assert_true(u >= 0.0 && u < 1.0);
    }
}

/* Devices of one run are not in lock-step. */
static void test_devices_differ(void **state)
{
    (void)state;
    hrm_device d[8];
    for (uint32_t i = 0; i < 8; i++)
        hrm_init(&d[i], 1, i);
    int same = 0;
    for (int k = 0; k < 600; k++) {
        hrs_measurement m0, m;
        hrm_step(&d[0], 1.0, &m0);
        for (int i = 1; i < 8; i++) {
            hrm_step(&d[i], 1.0, &m);
            same += m.hr_bpm == m0.hr_bpm;
        }
    }
    assert_true(same < 600 * 7 / 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_long_run), cmocka_unit_test(test_rr_consistent),
        cmocka_unit_test(test_encode_decode),   cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_devices_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
