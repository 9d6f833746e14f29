/* test_ieee11073.c - IEEE 11073-20601 SFLOAT/FLOAT: every one of the 65536
 * SFLOAT values against an independent formula (the decimal string
 * "<mantissa>e<exponent>" through strtod), the special values, FLOAT
 * exponents from -128 to 127, and the sfloat_examples vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "fitdrivers/ieee11073.h"

/* The oracle: sign-extend with arithmetic on signed types (not the masks the
 * decoder uses) and let strtod round the decimal number. */
static double sfloat_oracle(uint16_t raw)
{
    int e = (int16_t)raw >> 12;
    int m = (int16_t)(uint16_t)(raw << 4) >> 4;
    char s[32];
    snprintf(s, sizeof(s), "%de%d", m, e);
    return strtod(s, NULL);
}

static double float_oracle(uint32_t raw)
{
    int e = (int8_t)(uint8_t)(raw >> 24);
    int32_t m = (int32_t)(raw << 8) >> 8;
    char s[48];
    snprintf(s, sizeof(s), "%de%d", (int)m, e);
    return strtod(s, NULL);
}

static void test_sfloat_all_65536(void **state)
{
    (void)state;
    int numbers = 0, specials = 0;
    for (uint32_t raw = 0; raw <= 0xFFFF; raw++) {
        double v = 0;
        ieee11073_class c = ieee11073_sfloat((uint16_t)raw, &v);
        switch (raw) {
        case 0x07FF:
            assert_int_equal(c, IEEE11073_NAN);
            assert_true(isnan(v));
            specials++;
            continue;
        case 0x0800:
            assert_int_equal(c, IEEE11073_NRES);
            assert_true(isnan(v));
            specials++;
            continue;
        case 0x07FE:
            assert_int_equal(c, IEEE11073_PINF);
            assert_true(isinf(v) && v > 0);
            specials++;
            continue;
        case 0x0802:
            assert_int_equal(c, IEEE11073_NINF);
            assert_true(isinf(v) && v < 0);
            specials++;
            continue;
        case 0x0801:
            assert_int_equal(c, IEEE11073_RESERVED);
            assert_true(isnan(v));
            specials++;
            continue;
        default:
            break;
        }
        assert_int_equal(c, IEEE11073_NUMBER);
        double want = sfloat_oracle((uint16_t)raw);
        if (v != want) {
            fprintf(stderr, "raw 0x%04X: got %.17g want %.17g\n", raw, v, want);
            fail();
        }
        /* split/make are inverse over the whole domain. */
        int e, m;
        ieee11073_sfloat_split((uint16_t)raw, &e, &m);
        assert_true(e >= -8 && e <= 7 && m >= -2048 && m <= 2047);
        assert_int_equal(ieee11073_sfloat_make(e, m), raw);
        numbers++;
    }
    assert_int_equal(numbers, 65531);
    assert_int_equal(specials, 5);
}

/* The special mantissas with a non-zero exponent are ordinary numbers. */
static void test_sfloat_special_mantissa_other_exponent(void **state)
{
    (void)state;
    double v;
    assert_int_equal(ieee11073_sfloat(0x17FF, &v), IEEE11073_NUMBER);
    assert_true(v == 20470.0);
    assert_int_equal(ieee11073_sfloat(0xF800, &v), IEEE11073_NUMBER);
    assert_true(v == -204.8);
    assert_int_equal(ieee11073_sfloat(0x0000, &v), IEEE11073_NUMBER);
    assert_true(v == 0.0);
    /* Two's complement, not sign-magnitude: 0xFFFF is -1 * 10^-1. */
    assert_int_equal(ieee11073_sfloat(0xFFFF, &v), IEEE11073_NUMBER);
    assert_true(v == -0.1);
    assert_int_equal(ieee11073_sfloat(0x8001, &v), IEEE11073_NUMBER);
    assert_true(v == 1e-8);
    assert_int_equal(ieee11073_sfloat(0x77FD, &v), IEEE11073_NUMBER);
    assert_true(v == 20450000000.0);
}

static void test_float_specials(void **state)
{
    (void)state;
    double v;
    assert_int_equal(ieee11073_float(0x007FFFFF, &v), IEEE11073_NAN);
    assert_true(isnan(v));
    assert_int_equal(ieee11073_float(0x00800000, &v), IEEE11073_NRES);
    assert_true(isnan(v));
    assert_int_equal(ieee11073_float(0x007FFFFE, &v), IEEE11073_PINF);
    assert_true(isinf(v) && v > 0);
    assert_int_equal(ieee11073_float(0x00800002, &v), IEEE11073_NINF);
    assert_true(isinf(v) && v < 0);
    assert_int_equal(ieee11073_float(0x00800001, &v), IEEE11073_RESERVED);
    assert_true(isnan(v));
    /* Same mantissas, other exponents: numbers. */
    assert_int_equal(ieee11073_float(0x017FFFFF, &v), IEEE11073_NUMBER);
    assert_true(v == 83886070.0);
    assert_int_equal(ieee11073_float(0xFF800000, &v), IEEE11073_NUMBER);
    assert_true(v == -838860.8);
    assert_string_equal(ieee11073_class_str(IEEE11073_NRES), "nres");
    assert_string_equal(ieee11073_class_str(IEEE11073_NUMBER), "number");
    assert_string_equal(ieee11073_class_str((ieee11073_class)99), "invalid");
}

/* Every exponent with a spread of mantissas: exact for |exp| <= 22 (powers
 * of ten are exact doubles there), within 2 ulp beyond. */
static void test_float_every_exponent(void **state)
{
    (void)state;
    static const int32_t mantissas[] = {0,        1,       -1,      7,        -7,      1234,
                                        -1234,    3760,    99999,   -99999,   8388605, -8388606,
                                        -8388608, 8388607, 4194304, -4194305, 10,      -3};
    for (int e = -128; e <= 127; e++) {
        for (size_t i = 0; i < sizeof(mantissas) / sizeof(mantissas[0]); i++) {
            uint32_t raw = ieee11073_float_make(e, mantissas[i]);
            double v, want = float_oracle(raw);
            ieee11073_class c = ieee11073_float(raw, &v);
            if (raw == 0x007FFFFF || raw == 0x00800000 || raw == 0x00800002) {
                assert_int_not_equal(c, IEEE11073_NUMBER);
                continue;
            }
            assert_int_equal(c, IEEE11073_NUMBER);
            int ex;
            int32_t m;
            ieee11073_float_split(raw, &ex, &m);
            assert_int_equal(ex, e);
            assert_int_equal(m, mantissas[i]);
            if (e >= -22 && e <= 22) {
                if (v != want) {
                    fprintf(stderr, "e %d m %d: got %.17g want %.17g\n", e, (int)mantissas[i], v,
                            want);
                    fail();
                }
            } else {
                assert_true(fabs(v - want) <= 4 * fabs(want) * 1.1102230246251565e-16);
            }
        }
    }
    assert_int_equal(ieee11073_float_make(128, 0), 0);
    assert_int_equal(ieee11073_float_make(0, 0x800000), 0);
    assert_int_equal(ieee11073_sfloat_make(8, 0), 0);
    assert_int_equal(ieee11073_sfloat_make(0, -2049), 0);
}

static void test_vectors(void **state)
{
    (void)state;
    FILE *f = fopen(FITGATE_VECTORS_DIR "/ble-gatt.json", "rb");
    assert_non_null(f);
    static char text[1 << 18];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "sfloat_examples");
    assert_true(cJSON_IsArray(list));
    int seen = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, list)
    {
        int e = cJSON_GetObjectItemCaseSensitive(v, "exponent")->valueint;
        int m = cJSON_GetObjectItemCaseSensitive(v, "mantissa")->valueint;
        double want = cJSON_GetObjectItemCaseSensitive(v, "value")->valuedouble;
        double got;
        assert_int_equal(ieee11073_sfloat(ieee11073_sfloat_make(e, m), &got), IEEE11073_NUMBER);
        assert_true(got == want);
        assert_int_equal(ieee11073_float(ieee11073_float_make(e, m), &got), IEEE11073_NUMBER);
        assert_true(got == want);
        seen++;
    }
    assert_int_equal(seen, 2);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sfloat_all_65536),
        cmocka_unit_test(test_sfloat_special_mantissa_other_exponent),
        cmocka_unit_test(test_float_specials),
        cmocka_unit_test(test_float_every_exponent),
        cmocka_unit_test(test_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
