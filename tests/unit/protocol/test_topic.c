/* test_topic.c - topic build/parse, including hostile topics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fitproto/msg.h"

static void test_gateway_build_parse(void **state)
{
    (void)state;
    const char *leaves[] = {"batch", "ack", "state"};
    char topic[128], gw[FP_GATEWAY_MAX + 1];
    const char *leaf;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fp_topic_gateway(topic, sizeof(topic), "gw-1", leaves[i]), FP_OK);
        assert_int_equal(fp_topic_parse_gateway(topic, gw, &leaf), FP_OK);
        assert_string_equal(gw, "gw-1");
        assert_string_equal(leaf, leaves[i]);
    }
    assert_string_equal(topic, "fit/v1/gw/gw-1/state");
    assert_int_equal(fp_topic_gateway(topic, sizeof(topic), "gw-1", "cmd"), FP_ERR_UNKNOWN);
    assert_int_equal(fp_topic_gateway(topic, sizeof(topic), "gw/1", "ack"), FP_ERR_RANGE);
    assert_int_equal(fp_topic_gateway(topic, sizeof(topic), "+", "ack"), FP_ERR_RANGE);
    assert_int_equal(fp_topic_gateway(topic, sizeof(topic), "", "ack"), FP_ERR_RANGE);
    size_t need = strlen("fit/v1/gw/gw-1/batch") + 1;
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(fp_topic_gateway(topic, cap, "gw-1", "batch"), FP_ERR_LIMIT);
    assert_int_equal(fp_topic_gateway(topic, need, "gw-1", "batch"), FP_OK);

    char long_gw[FP_GATEWAY_MAX + 1];
    memset(long_gw, 'g', FP_GATEWAY_MAX);
    long_gw[FP_GATEWAY_MAX] = '\0';
    assert_int_equal(fp_topic_gateway(topic, sizeof(topic), long_gw, "ack"), FP_OK);
    assert_int_equal(fp_topic_parse_gateway(topic, gw, &leaf), FP_OK);
    assert_string_equal(gw, long_gw);
}

static void test_gateway_parse_malicious(void **state)
{
    (void)state;
    char gw[FP_GATEWAY_MAX + 1] = "untouched";
    const char *leaf = NULL;
    struct {
        const char *topic;
        fp_status rc;
    } cases[] = {
        {"fit/v1/gw/+/batch", FP_ERR_RANGE},
        {"fit/v1/gw/#", FP_ERR_RANGE},
        {"fit/v1/gw//batch", FP_ERR_RANGE},
        {"fit/v1/gw/../batch", FP_ERR_RANGE},
        {"fit/v1/gw/gw-1/batch/extra", FP_ERR_UNKNOWN},
        {"fit/v1/gw/gw-1/batch/", FP_ERR_UNKNOWN},
        {"fit/v1/gw/gw-1/", FP_ERR_UNKNOWN},
        {"fit/v1/gw/gw-1/+", FP_ERR_UNKNOWN},
        {"fit/v1/gw/gw-1/#", FP_ERR_UNKNOWN},
        {"fit/v1/gw/gw-1/Batch", FP_ERR_UNKNOWN},
        {"fit/v1/gw/gw-1", FP_ERR_SYNTAX},
        {"fit/v1/gw/", FP_ERR_RANGE},
        {"fit/v1/gw", FP_ERR_SYNTAX},
        {"fit/v2/gw/gw-1/batch", FP_ERR_SYNTAX},
        {"/fit/v1/gw/gw-1/batch", FP_ERR_SYNTAX},
        {"fit/v1/gw/gw\"1/batch", FP_ERR_RANGE},
        {"fit/v1/gw/gw:1/batch", FP_ERR_RANGE},
        {"fit/v1/gw/0123456789012345678901234567890123456789012345678901234567890123x/ack",
         FP_ERR_RANGE}, /* 65 chars */
        {"", FP_ERR_SYNTAX},
        {NULL, FP_ERR_SYNTAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fp_status rc = fp_topic_parse_gateway(cases[i].topic, gw, &leaf);
        if (rc != cases[i].rc)
            fail_msg("%s: got %s, want %s", cases[i].topic ? cases[i].topic : "(null)",
                     fp_status_str(rc), fp_status_str(cases[i].rc));
        assert_string_equal(gw, "untouched"); /* no output on failure */
    }
}

static void test_device_build_parse(void **state)
{
    (void)state;
    char topic[128], dev[FP_DEVICE_MAX + 1];
    uint16_t uuid = 0;
    assert_int_equal(fp_topic_device(topic, sizeof(topic), "sim-0001", 0x2A37), FP_OK);
    assert_string_equal(topic, "fit/v1/dev/sim-0001/gatt/2a37");
    assert_int_equal(fp_topic_parse_device(topic, dev, &uuid), FP_OK);
    assert_string_equal(dev, "sim-0001");
    assert_int_equal(uuid, 0x2A37);
    assert_int_equal(fp_topic_device(topic, sizeof(topic), "AA:BB:CC:DD:EE:FF", 0x0001), FP_OK);
    assert_string_equal(topic, "fit/v1/dev/AA:BB:CC:DD:EE:FF/gatt/0001");
    assert_int_equal(fp_topic_parse_device(topic, dev, &uuid), FP_OK);
    assert_string_equal(dev, "AA:BB:CC:DD:EE:FF");
    assert_int_equal(uuid, 1);
    assert_int_equal(fp_topic_device(topic, sizeof(topic), "a/b", 0x2a37), FP_ERR_RANGE);
    assert_int_equal(fp_topic_device(topic, sizeof(topic), NULL, 0x2a37), FP_ERR_RANGE);
    size_t need = strlen("fit/v1/dev/d/gatt/2a19") + 1;
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(fp_topic_device(topic, cap, "d", 0x2a19), FP_ERR_LIMIT);
    assert_int_equal(fp_topic_device(topic, need, "d", 0x2a19), FP_OK);
}

static void test_device_parse_malicious(void **state)
{
    (void)state;
    char dev[FP_DEVICE_MAX + 1] = "untouched";
    uint16_t uuid = 7;
    const char *bad[] = {
        "fit/v1/dev/+/gatt/2a37",
        "fit/v1/dev/#",
        "fit/v1/dev//gatt/2a37",
        "fit/v1/dev/a/b/gatt/2a37",
        "fit/v1/dev/d/gatt/2A37",
        "fit/v1/dev/d/gatt/2a3",
        "fit/v1/dev/d/gatt/2a377",
        "fit/v1/dev/d/gatt/2a37/",
        "fit/v1/dev/d/gatt/+",
        "fit/v1/dev/d/gatt/#",
        "fit/v1/dev/d/gatt/",
        "fit/v1/dev/d/gat/2a37",
        "fit/v1/dev/d/gatt",
        "fit/v1/dev/d",
        "fit/v1/dev/..",
        "fit/v1/gw/d/gatt/2a37",
        "fit/v1/dev/d/gatt/0x2a",
        "fit/v1/dev/d/gatt/-a37",
        "fit/v1/dev/d\"x/gatt/2a37",
        "",
        NULL,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fp_topic_parse_device(bad[i], dev, &uuid) == FP_OK)
            fail_msg("accepted %s", bad[i]);
        assert_string_equal(dev, "untouched");
        assert_int_equal(uuid, 7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_build_parse),
        cmocka_unit_test(test_gateway_parse_malicious),
        cmocka_unit_test(test_device_build_parse),
        cmocka_unit_test(test_device_parse_malicious),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
