/* test_codes.c - gateway membership codes (fitdevices.h): the display form
 * carries 100 bits in the RFC 4648 base32 alphabet, and what a person types
 * is normalized to exactly the characters that were shown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fitdevices.h"

static void test_format_known_vectors(void **state)
{
    (void)state;
    char out[FDV_CODE_TEXT];
    uint8_t zero[13] = {0}, ones[13], seq[13];
    memset(ones, 0xff, sizeof ones);
    fitdevices_code_format(zero, out);
    assert_string_equal(out, "AAAA-AAAA-AAAA-AAAA-AAAA");
    fitdevices_code_format(ones, out);
    assert_string_equal(out, "7777-7777-7777-7777-7777");
    /* RFC 4648 test vector: "foobar" -> MZXW6YTBOI (the first 10 characters). */
    memset(seq, 0, sizeof seq);
    memcpy(seq, "foobar", 6);
    fitdevices_code_format(seq, out);
    assert_memory_equal(out, "MZXW-6YTB-OI", 12);
    assert_int_equal(strlen(out), FDV_CODE_TEXT - 1);
}

static void test_only_100_bits_count(void **state)
{
    (void)state;
    /* The low 4 bits of the 13th byte are not shown: they cannot matter. */
    uint8_t a[13] = {0}, b[13] = {0};
    b[12] = 0x0f;
    char oa[FDV_CODE_TEXT], ob[FDV_CODE_TEXT];
    fitdevices_code_format(a, oa);
    fitdevices_code_format(b, ob);
    assert_string_equal(oa, ob);
    b[12] = 0x10; /* ... but the 100th bit does */
    fitdevices_code_format(b, ob);
    assert_string_not_equal(oa, ob);
}

static void test_normalize(void **state)
{
    (void)state;
    char out[FDV_CODE_CHARS + 1];
    assert_int_equal(fitdevices_code_normalize("ABCD-EFGH-IJKL-MNOP-QRST", out), 0);
    assert_string_equal(out, "ABCDEFGHIJKLMNOPQRST");
    assert_int_equal(fitdevices_code_normalize(" abcd efgh-ijkl mnop qrst ", out), 0);
    assert_string_equal(out, "ABCDEFGHIJKLMNOPQRST");
    /* 0, 1, 8 are not in the alphabet: read as the letters they look like. */
    assert_int_equal(fitdevices_code_normalize("0188-2345-6722-2222-2222", out), 0);
    assert_string_equal(out, "OIBB2345672222222222");
    const char *bad[] = {
        NULL,
        "",
        "ABCD-EFGH-IJKL-MNOP-QRS",   /* 19 */
        "ABCD-EFGH-IJKL-MNOP-QRSTU", /* 21 */
        "ABCD-EFGH-IJKL-MNOP-QRS9",  /* 9 is not base32 */
        "ABCD_EFGH-IJKL-MNOP-QRST",  /* only dashes and spaces separate */
        "ABCD-EFGH-IJKL-MNOP-QRS\xc3\xa9",
        "ABCDEFGHIJKLMNOPQRSTABCDEFGHIJKLMNOPQRST",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(fitdevices_code_normalize(bad[i], out), -1);
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t raw[13];
    char shown[FDV_CODE_TEXT], canon[FDV_CODE_CHARS + 1], again[FDV_CODE_CHARS + 1];
    for (int k = 0; k < 256; k++) {
        for (int i = 0; i < 13; i++)
            raw[i] = (uint8_t)(k * 31 + i * 97);
        fitdevices_code_format(raw, shown);
        assert_int_equal(fitdevices_code_normalize(shown, canon), 0);
        assert_int_equal(strlen(canon), FDV_CODE_CHARS);
        assert_int_equal(fitdevices_code_normalize(canon, again), 0);
        assert_string_equal(canon, again);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known_vectors),
        cmocka_unit_test(test_only_100_bits_count),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
