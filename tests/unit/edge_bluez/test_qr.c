/* test_qr.c - the cloud's gym machine QR payload parser (fitdevices.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fitdevices.h"

static void test_qr(void **state)
{
    (void)state;
    char gw[65], dev[65];
    assert_int_equal(fitdevices_parse_qr("fitgate://gym?gw=gw-1&dev=AA:BB:CC:DD:EE:FF", gw,
                                         sizeof gw, dev, sizeof dev),
                     0);
    assert_string_equal(gw, "gw-1");
    assert_string_equal(dev, "AA:BB:CC:DD:EE:FF");
    assert_int_equal(
        fitdevices_parse_qr("fitgate://gym?dev=tm-1&x=y&gw=g", gw, sizeof gw, dev, sizeof dev), 0);
    assert_string_equal(gw, "g");
    assert_string_equal(dev, "tm-1");
    const char *bad[] = {
        NULL,
        "",
        "https://gym?gw=a&dev=b",
        "fitgate://gym?gw=a",
        "fitgate://gym?dev=b",
        "fitgate://gym?gw=a&dev=b&dev=c",
        "fitgate://gym?gw=a/b&dev=c",
        "fitgate://gym?gw=a&dev=",
        "fitgate://gym?gw&dev=b",
        "fitgate://gym?gw=a&dev=b+c",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(fitdevices_parse_qr(bad[i], gw, sizeof gw, dev, sizeof dev), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_qr)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
