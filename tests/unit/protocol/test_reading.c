/* test_reading.c - reading model: tables, ids, add/validate, docs in sync. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fitproto/reading.h"

#define TS 1732530000123LL

static void test_status_names(void **state)
{
    (void)state;
    for (int a = 0; a < FP_STATUS__END; a++) {
        const char *na = fp_status_str((fp_status)a);
        assert_non_null(na);
        assert_string_not_equal(na, "invalid");
        for (int b = a + 1; b < FP_STATUS__END; b++)
            assert_string_not_equal(na, fp_status_str((fp_status)b));
    }
    assert_string_equal(fp_status_str(FP_OK), "ok");
    assert_string_equal(fp_status_str(FP_ERR_LENGTH), "length");
    assert_string_equal(fp_status_str(FP_STATUS__END), "invalid");
    assert_string_equal(fp_status_str((fp_status)-1), "invalid");
}

static void test_quantity_table(void **state)
{
    (void)state;
    for (int q = 1; q < FP_Q__END; q++) {
        const fp_quantity_info *qi = fp_quantity_get((fp_quantity)q);
        assert_non_null(qi);
        assert_true(qi->min < qi->max);
        fp_quantity back;
        assert_int_equal(fp_quantity_by_name(qi->name, strlen(qi->name), &back), FP_OK);
        assert_int_equal(back, q);
    }
    assert_null(fp_quantity_get((fp_quantity)0));
    assert_null(fp_quantity_get(FP_Q__END));
    const fp_quantity_info *rr = fp_quantity_get(FP_Q_RR_INTERVAL);
    assert_string_equal(rr->name, "rr");
    assert_string_equal(rr->unit, "s");
    assert_true(rr->repeatable);
    assert_false(fp_quantity_get(FP_Q_HEART_RATE)->repeatable);
    fp_quantity q;
    assert_int_equal(fp_quantity_by_name("hrx", 3, &q), FP_ERR_UNKNOWN);
    assert_int_equal(fp_quantity_by_name("hr", 1, &q), FP_ERR_UNKNOWN); /* "h" */
    assert_int_equal(fp_quantity_by_name("", 0, &q), FP_ERR_UNKNOWN);
}

static void test_kind_table(void **state)
{
    (void)state;
    fp_kind k;
    assert_string_equal(fp_kind_name(FP_KIND_HEART_RATE), "heart_rate");
    assert_string_equal(fp_kind_name(FP_KIND_BATTERY), "battery");
    assert_null(fp_kind_name((fp_kind)0));
    assert_null(fp_kind_name(FP_KIND__END));
    assert_int_equal(fp_kind_by_name("battery", 7, &k), FP_OK);
    assert_int_equal(k, FP_KIND_BATTERY);
    assert_int_equal(fp_kind_by_name("heart_rate", 10, &k), FP_OK);
    assert_int_equal(k, FP_KIND_HEART_RATE);
    assert_int_equal(fp_kind_by_name("heart", 5, &k), FP_ERR_UNKNOWN);
}

static void test_ids(void **state)
{
    (void)state;
    char long_id[FP_DEVICE_MAX + 2];
    memset(long_id, 'a', sizeof(long_id));
    assert_true(fp_device_id_valid("sim-0001", 8));
    assert_true(fp_device_id_valid("AA:BB:CC:DD:EE:FF", 17));
    assert_true(fp_device_id_valid(long_id, FP_DEVICE_MAX));
    assert_false(fp_device_id_valid(long_id, FP_DEVICE_MAX + 1));
    assert_false(fp_device_id_valid("", 0));
    assert_false(fp_device_id_valid(NULL, 3));
    const char *bad[] = {"a/b", "a+", "#",  "a\"b", "a\\b", "a b", "a\nb",
                         "é",   "..", ".x", "-rf",  "_x",   ":x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(fp_device_id_valid(bad[i], strlen(bad[i])));
        assert_false(fp_gateway_id_valid(bad[i], strlen(bad[i])));
    }
    assert_true(fp_gateway_id_valid("gw-1.a_b", 8));
    assert_false(fp_gateway_id_valid("gw:1", 4)); /* ':' only for devices (MACs) */
    assert_true(fp_device_id_valid("a\0b", 1));   /* length is what counts */
    assert_false(fp_device_id_valid("a\0b", 3));
}

static void test_init(void **state)
{
    (void)state;
    fp_reading r;
    assert_int_equal(fp_reading_init(&r, "sim-1", FP_KIND_HEART_RATE, TS), FP_OK);
    assert_string_equal(r.device, "sim-1");
    assert_int_equal(r.kind, FP_KIND_HEART_RATE);
    assert_int_equal(r.ts_ms, TS);
    assert_int_equal(r.nvalues, 0);
    assert_int_equal(r.seq, 0);
    assert_int_equal(fp_reading_init(&r, "bad/id", FP_KIND_HEART_RATE, TS), FP_ERR_RANGE);
    assert_int_equal(fp_reading_init(&r, NULL, FP_KIND_HEART_RATE, TS), FP_ERR_RANGE);
    assert_int_equal(fp_reading_init(&r, "x", FP_KIND__END, TS), FP_ERR_UNKNOWN);
    char long_id[FP_DEVICE_MAX + 2];
    memset(long_id, 'a', sizeof(long_id));
    long_id[FP_DEVICE_MAX + 1] = '\0';
    assert_int_equal(fp_reading_init(&r, long_id, FP_KIND_BATTERY, TS), FP_ERR_RANGE);
    long_id[FP_DEVICE_MAX] = '\0';
    assert_int_equal(fp_reading_init(&r, long_id, FP_KIND_BATTERY, TS), FP_OK);
}

static void test_add(void **state)
{
    (void)state;
    fp_reading r;
    double v;
    fp_reading_init(&r, "sim-1", FP_KIND_HEART_RATE, TS);
    assert_false(fp_reading_get(&r, FP_Q_HEART_RATE, &v));
    assert_int_equal(fp_reading_add(&r, FP_Q_HEART_RATE, 72), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_HEART_RATE, 73), FP_ERR_DUPLICATE);
    assert_int_equal(fp_reading_add(&r, FP_Q_HEART_RATE, 301), FP_ERR_RANGE);
    assert_int_equal(fp_reading_add(&r, FP_Q_RR_INTERVAL, -0.001), FP_ERR_RANGE);
    assert_int_equal(fp_reading_add(&r, FP_Q_RR_INTERVAL, NAN), FP_ERR_RANGE);
    assert_int_equal(fp_reading_add(&r, FP_Q_ENERGY, INFINITY), FP_ERR_RANGE);
    assert_int_equal(fp_reading_add(&r, FP_Q_SENSOR_CONTACT, 0.5), FP_ERR_RANGE);
    assert_int_equal(fp_reading_add(&r, FP_Q_BATTERY, 50), FP_ERR_UNKNOWN); /* wrong kind */
    assert_int_equal(fp_reading_add(&r, (fp_quantity)0, 1), FP_ERR_UNKNOWN);
    assert_int_equal(fp_reading_add(&r, FP_Q__END, 1), FP_ERR_UNKNOWN);
    assert_int_equal(fp_reading_add(&r, FP_Q_SENSOR_CONTACT, 1), FP_OK);
    assert_int_equal(r.nvalues, 2);
    for (int i = 2; i < FP_VALUES_MAX; i++)
        assert_int_equal(fp_reading_add(&r, FP_Q_RR_INTERVAL, i / 10.0), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_RR_INTERVAL, 1.0), FP_ERR_LIMIT);
    assert_int_equal(r.nvalues, FP_VALUES_MAX);
    assert_true(fp_reading_get(&r, FP_Q_HEART_RATE, &v));
    assert_true(v == 72);
    assert_true(fp_reading_get(&r, FP_Q_RR_INTERVAL, &v));
    assert_true(v == 0.2);
    assert_int_equal(fp_reading_validate(&r), FP_OK);

    fp_reading_init(&r, "b", FP_KIND_BATTERY, TS);
    assert_int_equal(fp_reading_add(&r, FP_Q_BATTERY, 100), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_HEART_RATE, 60), FP_ERR_UNKNOWN);
    assert_int_equal(fp_reading_validate(&r), FP_OK);
}

static void test_validate(void **state)
{
    (void)state;
    fp_reading r;
    fp_reading_init(&r, "sim-1", FP_KIND_HEART_RATE, TS);
    assert_int_equal(fp_reading_validate(&r), FP_ERR_MISSING);
    fp_reading_add(&r, FP_Q_HEART_RATE, 60);
    assert_int_equal(fp_reading_validate(&r), FP_OK);

    r.ts_ms = 946684800000LL; /* 2000-01-01: first valid ms */
    assert_int_equal(fp_reading_validate(&r), FP_OK);
    r.ts_ms--;
    assert_int_equal(fp_reading_validate(&r), FP_ERR_RANGE);
    r.ts_ms = 4102444800000LL - 1; /* last ms of 2099 */
    assert_int_equal(fp_reading_validate(&r), FP_OK);
    r.ts_ms++;
    assert_int_equal(fp_reading_validate(&r), FP_ERR_RANGE);
    r.ts_ms = TS;

    fp_reading bad = r;
    bad.values[1] = bad.values[0]; /* hr twice, bypassing fp_reading_add */
    bad.nvalues = 2;
    assert_int_equal(fp_reading_validate(&bad), FP_ERR_DUPLICATE);
    bad = r;
    bad.values[0].v = 1000;
    assert_int_equal(fp_reading_validate(&bad), FP_ERR_RANGE);
    bad = r;
    bad.kind = FP_KIND__END;
    assert_int_equal(fp_reading_validate(&bad), FP_ERR_UNKNOWN);
    bad = r;
    bad.nvalues = FP_VALUES_MAX + 1;
    assert_int_equal(fp_reading_validate(&bad), FP_ERR_LIMIT);
    bad = r;
    memset(bad.device, 'a', sizeof(bad.device)); /* not NUL-terminated */
    assert_int_equal(fp_reading_validate(&bad), FP_ERR_RANGE);
    bad = r;
    strcpy(bad.device, "a\"b");
    assert_int_equal(fp_reading_validate(&bad), FP_ERR_RANGE);
}

/* docs/protocol.md carries the quantity table: it must match reading.c. */
static void test_docs_in_sync(void **state)
{
    (void)state;
    FILE *f = fopen(FITGATE_SOURCE_DIR "/docs/protocol.md", "rb");
    assert_non_null(f);
    static char doc[1 << 16];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (int q = 1; q < FP_Q__END; q++) {
        const fp_quantity_info *qi = fp_quantity_get((fp_quantity)q);
        char row[160];
        snprintf(row, sizeof(row), "| `%s` | %s | %.10g | %.10g | %s |", qi->name, qi->unit,
                 qi->min, qi->max, qi->repeatable ? "yes" : "no");
        if (strstr(doc, row) == NULL)
            fail_msg("docs/protocol.md lacks the row: %s", row);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names), cmocka_unit_test(test_quantity_table),
        cmocka_unit_test(test_kind_table),   cmocka_unit_test(test_ids),
        cmocka_unit_test(test_init),         cmocka_unit_test(test_add),
        cmocka_unit_test(test_validate),     cmocka_unit_test(test_docs_in_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
