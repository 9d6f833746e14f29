/* test_bridge.c - OpenMQTTGateway / Theengs Gateway JSON -> readings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fitdrivers/adv.h"
#include "fitdrivers/bridge.h"

#define TOPIC "home/TheengsGateway/BTtoMQTT/C4A5DFE0A1B2"
#define MAC   "C4:A5:DF:E0:A1:B2"
#define TS    1732530000123LL

/* CMocka 1.1 has no double compare; eps 0 means exactly equal. */
#define assert_near(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ - b_ <= (eps) && b_ - a_ <= (eps)))                                               \
            fail_msg("%.17g != %.17g", a_, b_);                                                    \
    } while (0)

static fp_reading out[ADV_READINGS_MAX];
static size_t nout;

static fp_status run_topic(const char *topic, const char *json)
{
    nout = 99;
    fp_status rc = bridge_decode(topic, json, strlen(json), TS, out, ADV_READINGS_MAX, &nout);
    if (rc != FP_OK)
        assert_int_equal(nout, 0);
    for (size_t i = 0; rc == FP_OK && i < nout; i++) {
        assert_int_equal(fp_reading_validate(&out[i]), FP_OK);
        assert_int_equal(out[i].ts_ms, TS);
    }
    return rc;
}

static fp_status run(const char *json)
{
    fp_status rc = run_topic(TOPIC, json);
    for (size_t i = 0; rc == FP_OK && i < nout; i++)
        assert_string_equal(out[i].device, MAC);
    return rc;
}

static double get(size_t i, fp_quantity q)
{
    double v;
    assert_true(i < nout);
    assert_true(fp_reading_get(&out[i], q, &v));
    return v;
}

/* The sample from the Theengs documentation of this scale. */
static void test_theengs_body_scale(void **state)
{
    (void)state;
    assert_int_equal(run("{\"id\":\"C4:A5:DF:E0:A1:B2\",\"name\":\"MIBFS\",\"rssi\":-70,"
                         "\"brand\":\"Xiaomi\",\"model\":\"Mi body composition scale v2\","
                         "\"model_id\":\"XMTZC02HM/XMTZC05HM\",\"type\":\"SCALE\","
                         "\"weighing_mode\":\"person\",\"unit\":\"kg\",\"weight\":73.2,"
                         "\"impedance\":503}"),
                     FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_BODY_COMPOSITION);
    assert_int_equal(out[0].nvalues, 2);
    assert_near(get(0, FP_Q_WEIGHT), 73.2, 1e-9);
    assert_near(get(0, FP_Q_IMPEDANCE), 503, 0);

    /* Same scale before the impedance is in: still body composition. */
    assert_int_equal(run("{\"name\":\"MIBFS\",\"unit\":\"kg\",\"weight\":73.2}"), FP_OK);
    assert_int_equal(out[0].kind, FP_KIND_BODY_COMPOSITION);
    assert_int_equal(run("{\"model_id\":\"XMTZC02HM/XMTZC05HM\",\"unit\":\"kg\",\"weight\":73.2}"),
                     FP_OK);
    assert_int_equal(out[0].kind, FP_KIND_BODY_COMPOSITION);
}

static void test_theengs_units(void **state)
{
    (void)state;
    const char *units[] = {"lb", "lbs", "jin", "kg"};
    const double k[] = {0.45359237, 0.45359237, 0.5, 1.0};
    for (size_t i = 0; i < 4; i++) {
        char j[160];
        snprintf(j, sizeof(j), "{\"model_id\":\"XMTZC04HM\",\"unit\":\"%s\",\"weight\":161.4}",
                 units[i]);
        assert_int_equal(run(j), FP_OK);
        assert_int_equal(nout, 1);
        assert_int_equal(out[0].kind, FP_KIND_WEIGHT);
        assert_near(get(0, FP_Q_WEIGHT), 161.4 * k[i], 1e-9);
    }
    assert_int_equal(run("{\"unit\":\"stone\",\"weight\":11}"), FP_ERR_RANGE);
    assert_int_equal(run("{\"unit\":\"KG\",\"weight\":70}"), FP_ERR_RANGE);
    assert_int_equal(run("{\"weight\":70}"), FP_ERR_MISSING);
    assert_int_equal(run("{\"unit\":\"kg\",\"weight\":0}"), FP_ERR_RANGE);
    assert_int_equal(run("{\"unit\":\"kg\",\"weight\":-3}"), FP_ERR_RANGE);
    assert_int_equal(run("{\"unit\":\"kg\",\"weight\":1001}"), FP_ERR_RANGE);
    /* Small-object mode: recognised, not the user's weight. */
    assert_int_equal(run("{\"weighing_mode\":\"object\",\"unit\":\"kg\",\"weight\":2.5}"), FP_OK);
    assert_int_equal(nout, 0);
    assert_int_equal(run("{\"weighing_mode\":\"pet\",\"unit\":\"kg\",\"weight\":2.5}"),
                     FP_ERR_RANGE);
    /* Impedance alone. */
    assert_int_equal(run("{\"impedance\":480}"), FP_OK);
    assert_int_equal(out[0].kind, FP_KIND_BODY_COMPOSITION);
    assert_int_equal(run("{\"impedance\":1e6}"), FP_ERR_RANGE);
}

static void test_theengs_band(void **state)
{
    (void)state;
    assert_int_equal(run("{\"id\":\"c4:a5:df:e0:a1:b2\",\"brand\":\"Xiaomi/Amazfit\","
                         "\"model\":\"Mi Band/Smart Watch\",\"model_id\":\"MB/SW\","
                         "\"steps\":1234,\"act_bpm\":72,\"device\":\"Xiaomi/Amazfit Tracker\"}"),
                     FP_OK);
    assert_int_equal(nout, 2);
    assert_int_equal(out[0].kind, FP_KIND_HEART_RATE);
    assert_near(get(0, FP_Q_HEART_RATE), 72, 0);
    assert_int_equal(out[1].kind, FP_KIND_ACTIVITY);
    assert_near(get(1, FP_Q_STEPS), 1234, 0);

    assert_int_equal(run("{\"hr\":72}"), FP_OK);
    assert_int_equal(nout, 1);
    assert_near(get(0, FP_Q_HEART_RATE), 72, 0);
    assert_int_equal(run("{\"hr\":0}"), FP_OK); /* no beat yet */
    assert_int_equal(nout, 0);
    assert_int_equal(run("{\"hr\":301}"), FP_ERR_RANGE);
    assert_int_equal(run("{\"steps\":12.5}"), FP_ERR_RANGE);
    assert_int_equal(run("{\"steps\":-1}"), FP_ERR_RANGE);

    /* Battery rides along, but alone it is any sensor's. */
    assert_int_equal(run("{\"steps\":10,\"batt\":80}"), FP_OK);
    assert_int_equal(nout, 2);
    assert_int_equal(out[1].kind, FP_KIND_BATTERY);
    assert_near(get(1, FP_Q_BATTERY), 80, 0);
    assert_int_equal(run("{\"steps\":10,\"batt\":101}"), FP_ERR_RANGE);
    assert_int_equal(run("{\"model_id\":\"LYWSD03MMC\",\"tempc\":21.5,\"batt\":80}"),
                     FP_ERR_UNKNOWN);
    assert_int_equal(run("{}"), FP_ERR_UNKNOWN);

    /* More readings than room. */
    nout = 5;
    const char *j = "{\"steps\":10,\"hr\":70}";
    assert_int_equal(bridge_decode(TOPIC, j, strlen(j), TS, out, 1, &nout), FP_ERR_LIMIT);
    assert_int_equal(nout, 0);
}

/* Raw data as OpenMQTTGateway / Theengs publish it. */
static void test_raw(void **state)
{
    (void)state;
    /* Theengs Gateway capture with its own decoded weight: raw wins, one reading. */
    assert_int_equal(
        run("{\"servicedatauuid\":\"181b\",\"servicedata\":\"0224b2070113100c08fdff4a0b\","
            "\"manufacturerdata\":\"5701381ec781c63c\",\"name\":\"MIBFS\","
            "\"rssi\":-67,\"brand\":\"Xiaomi\",\"model_id\":\"XMTZC02HM/XMTZC05HM\","
            "\"type\":\"SCALE\",\"weighing_mode\":\"person\",\"unit\":\"kg\","
            "\"weight\":14.45}"),
        FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_BODY_COMPOSITION);
    assert_near(get(0, FP_Q_WEIGHT), 14.45, 1e-9);
    assert_near(get(0, FP_Q_DEVICE_TIME), 1613528, 0);

    /* OpenMQTTGateway writes the uuid as 0x...; Mi Scale v1 settling: nothing,
     * even though a decoded weight is there (raw wins). */
    assert_int_equal(run("{\"name\":\"MI_SCALE\",\"servicedatauuid\":\"0x181d\","
                         "\"servicedata\":\"020839e8070b190a141e\",\"unit\":\"kg\",\"weight\":73}"),
                     FP_OK);
    assert_int_equal(nout, 0);
    assert_int_equal(run("{\"servicedatauuid\":\"0000181d-0000-1000-8000-00805f9b34fb\","
                         "\"servicedata\":\"220839e8070b190a141e\"}"),
                     FP_OK);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].kind, FP_KIND_WEIGHT);
    assert_near(get(0, FP_Q_WEIGHT), 73.0, 1e-9);
    assert_near(get(0, FP_Q_DEVICE_TIME), 1732530030, 0);

    /* Mi Band heart rate: "5701" + 24 bytes, HR at byte 5 of the hex. */
    assert_int_equal(
        run("{\"manufacturerdata\":\"5701000000480000000000000000000000000000c4a5dfe0a1b2\"}"),
        FP_OK);
    assert_int_equal(nout, 1);
    assert_near(get(0, FP_Q_HEART_RATE), 0x48, 0);
    /* Mi Band steps. */
    assert_int_equal(run("{\"servicedatauuid\":\"fee0\",\"servicedata\":\"d2040000\"}"), FP_OK);
    assert_near(get(0, FP_Q_STEPS), 1234, 0);
    /* Polar OH1. */
    assert_int_equal(run("{\"name\":\"Polar OH1 1A2B3C4D\","
                         "\"manufacturerdata\":\"6b0072067f4437000000330003c\"}"),
                     FP_ERR_SYNTAX); /* odd hex length */
    assert_int_equal(run("{\"name\":\"Polar OH1 1A2B3C4D\","
                         "\"manufacturerdata\":\"6b0072067f44370000003300\\u0033c\"}"),
                     FP_OK); /* JSON escapes are undone before the hex */
    assert_near(get(0, FP_Q_HEART_RATE), 60, 0);

    /* Raw we do not know, decoded we do: decoded is used. */
    assert_int_equal(run("{\"servicedatauuid\":\"fe95\",\"servicedata\":\"00\",\"hr\":70}"), FP_OK);
    assert_near(get(0, FP_Q_HEART_RATE), 70, 0);
    assert_int_equal(run("{\"servicedatauuid\":\"0000fe95-1111-1000-8000-00805f9b34fb\","
                         "\"servicedata\":\"00\",\"hr\":70}"),
                     FP_OK);
    /* A thermometer: nothing for us. */
    assert_int_equal(
        run("{\"servicedatauuid\":\"fcd2\",\"servicedata\":\"4000720154022e0a03071d0c190b\","
            "\"name\":\"TH05F-C451CC\",\"tempc\":26.06}"),
        FP_ERR_UNKNOWN);

    /* Malformed raw data of ours is rejected, decoded fields or not. */
    assert_int_equal(run("{\"servicedatauuid\":\"fee0\",\"servicedata\":\"d20400\",\"steps\":1}"),
                     FP_ERR_LENGTH);
    assert_int_equal(run("{\"servicedatauuid\":\"181b\",\"servicedata\":\"0G\"}"), FP_ERR_SYNTAX);
    assert_int_equal(run("{\"servicedatauuid\":\"181b\",\"servicedata\":\"024\"}"), FP_ERR_SYNTAX);
    assert_int_equal(run("{\"servicedata\":\"d2040000\"}"), FP_ERR_MISSING);
    assert_int_equal(run("{\"manufacturerdata\":\"57\"}"), FP_ERR_LENGTH);
    assert_int_equal(run("{\"manufacturerdata\":\"\"}"), FP_ERR_LENGTH);

    /* Longer than any advertisement entry. */
    char j[1200];
    int k = snprintf(j, sizeof(j), "{\"servicedatauuid\":\"fee0\",\"servicedata\":\"");
    for (int i = 0; i < ADV_DATA_MAX + 1; i++)
        k += snprintf(j + k, sizeof(j) - (size_t)k, "00");
    snprintf(j + k, sizeof(j) - (size_t)k, "\"}");
    assert_int_equal(run(j), FP_ERR_LIMIT);
}

static void test_malformed_json(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "{",
        "[]",
        "[{\"hr\":70}]",
        "42",
        "\"hr\"",
        "null",
        "true",
        "{\"hr\":70} x",
        "{\"hr\":70}{}",
        "{hr:70}",
        "{\"hr\":70,}",
        "{'hr':70}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(run(bad[i]), FP_ERR_SYNTAX);
    /* Trailing whitespace is fine; a NUL inside the given length is not. */
    assert_int_equal(run(" {\"hr\":70} \r\n\t"), FP_OK);
    const char nul[] = "{\"hr\":70}\0 ";
    assert_int_equal(bridge_decode(TOPIC, nul, sizeof(nul) - 1, TS, out, 4, &nout), FP_ERR_SYNTAX);
    assert_int_equal(bridge_decode(TOPIC, NULL, 0, TS, out, 4, &nout), FP_ERR_SYNTAX);
    /* Not NUL-terminated: only len bytes are read. */
    const char cut[] = "{\"hr\":70}garbage";
    assert_int_equal(bridge_decode(TOPIC, cut, 9, TS, out, 4, &nout), FP_OK);
    assert_int_equal(nout, 1);
}

static void test_wrong_types(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"weight\":\"73\",\"unit\":\"kg\"}",
        "{\"weight\":73,\"unit\":1}",
        "{\"weight\":null,\"unit\":\"kg\"}",
        "{\"impedance\":\"503\"}",
        "{\"hr\":\"72\"}",
        "{\"act_bpm\":[72]}",
        "{\"steps\":true}",
        "{\"batt\":{}}",
        "{\"servicedata\":123,\"servicedatauuid\":\"181b\"}",
        "{\"servicedatauuid\":6171}",
        "{\"manufacturerdata\":false}",
        "{\"name\":5,\"hr\":70}",
        "{\"id\":123,\"hr\":70}",
        "{\"model_id\":null,\"hr\":70}",
        "{\"weighing_mode\":1,\"weight\":7,\"unit\":\"kg\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(run(bad[i]), FP_ERR_TYPE);
    /* Fields we do not read may have any type. */
    assert_int_equal(run("{\"rssi\":\"x\",\"brand\":null,\"type\":[1],\"hr\":70}"), FP_OK);

    assert_int_equal(run("{\"hr\":70,\"hr\":71}"), FP_ERR_DUPLICATE);
    assert_int_equal(run("{\"hr\":70,\"act_bpm\":71}"), FP_ERR_DUPLICATE);
    assert_int_equal(run("{\"unit\":\"kg\",\"weight\":1,\"unit\":\"lb\"}"), FP_ERR_DUPLICATE);
}

static void test_size_limit(void **state)
{
    (void)state;
    char *j = malloc(BRIDGE_JSON_MAX + 2);
    assert_non_null(j);
    /* Exactly the limit: fine. */
    memset(j, ' ', BRIDGE_JSON_MAX + 1);
    memcpy(j, "{\"hr\":70}", 9);
    j[BRIDGE_JSON_MAX + 1] = '\0';
    assert_int_equal(bridge_decode(TOPIC, j, BRIDGE_JSON_MAX, TS, out, 4, &nout), FP_OK);
    assert_int_equal(nout, 1);
    /* One byte more: refused before parsing. */
    assert_int_equal(bridge_decode(TOPIC, j, BRIDGE_JSON_MAX + 1, TS, out, 4, &nout), FP_ERR_LIMIT);
    assert_int_equal(nout, 0);
    /* Deep nesting inside the limit is only a syntax matter, never a crash. */
    size_t d = BRIDGE_JSON_MAX / 2 - 8;
    memcpy(j, "{\"x\":", 5);
    memset(j + 5, '[', d);
    memset(j + 5 + d, ']', d);
    strcpy(j + 5 + 2 * d, "}");
    assert_int_equal(run(j), FP_ERR_SYNTAX); /* deeper than cJSON's nesting limit */
    free(j);
}

static void test_topics(void **state)
{
    (void)state;
    char mac[BRIDGE_MAC_LEN + 1];
    const struct {
        const char *topic;
        fp_status rc;
        const char *mac;
    } cases[] = {
        {"home/OMG_ESP32_BLE/BTtoMQTT/C4A5DFE0A1B2", FP_OK, "C4:A5:DF:E0:A1:B2"},
        {"home/gw/BTtoMQTT/c4a5dfe0a1b2", FP_OK, "C4:A5:DF:E0:A1:B2"},
        {"home/gw/BTtoMQTT/c4:a5:df:e0:a1:b2", FP_OK, "C4:A5:DF:E0:A1:B2"},
        {"home/gw/BTtoMQTT/C4-A5-DF-E0-A1-B2", FP_OK, "C4:A5:DF:E0:A1:B2"},
        {"gym/floor1/esp32-a/BTtoMQTT/C4A5DFE0A1B2", FP_OK, "C4:A5:DF:E0:A1:B2"},
        {"home/gw/BTtoMQTT/C4A5DFE0A1B", FP_ERR_RANGE, NULL},
        {"home/gw/BTtoMQTT/C4A5DFE0A1B2C", FP_ERR_RANGE, NULL},
        {"home/gw/BTtoMQTT/C4A5DFE0A1BG", FP_ERR_RANGE, NULL},
        {"home/gw/BTtoMQTT/C4:A5-DF:E0:A1:B2", FP_ERR_RANGE, NULL},
        {"home/gw/BTtoMQTT/C4:A5:DF:E0:A1:B", FP_ERR_RANGE, NULL},
        {"home/gw/BTtoMQTT/C4:A5:DF:E0:A1:B2:", FP_ERR_RANGE, NULL},
        {"home/gw/BTtoMQTT/C4.A5.DF.E0.A1.B2", FP_ERR_RANGE, NULL},
        {"home/gw/BTtoMQTT/5732A8DA-27AF-1C19-DA77-C8EF5AD5CB28", FP_ERR_RANGE, NULL},
        {"home/gw/BTtoMQTT/", FP_ERR_SYNTAX, NULL},
        {"home/gw/BTtoMQTT", FP_ERR_SYNTAX, NULL},
        {"gw/BTtoMQTT/C4A5DFE0A1B2", FP_ERR_SYNTAX, NULL},
        {"BTtoMQTT/C4A5DFE0A1B2", FP_ERR_SYNTAX, NULL},
        {"home//BTtoMQTT/C4A5DFE0A1B2", FP_ERR_SYNTAX, NULL},
        {"/gw/BTtoMQTT/C4A5DFE0A1B2", FP_ERR_SYNTAX, NULL},
        {"home/gw/BTtoMQTT/+", FP_ERR_SYNTAX, NULL},
        {"home/+/BTtoMQTT/C4A5DFE0A1B2", FP_ERR_SYNTAX, NULL},
        {"home/gw/BTtoMQTT/#", FP_ERR_SYNTAX, NULL},
        {"home/gw/MQTTtoBT/C4A5DFE0A1B2", FP_ERR_SYNTAX, NULL},
        {"home/gw/bttomqtt/C4A5DFE0A1B2", FP_ERR_SYNTAX, NULL},
        {"home/gw/BTtoMQTTx/C4A5DFE0A1B2", FP_ERR_SYNTAX, NULL},
        {"", FP_ERR_SYNTAX, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fp_status rc = bridge_topic_mac(cases[i].topic, mac);
        if (rc != cases[i].rc)
            fail_msg("topic '%s': %s", cases[i].topic, fp_status_str(rc));
        if (rc == FP_OK)
            assert_string_equal(mac, cases[i].mac);
        /* bridge_decode gives the same verdict and the normalised id. */
        assert_int_equal(run_topic(cases[i].topic, "{\"hr\":70}"), cases[i].rc);
        if (rc == FP_OK)
            assert_string_equal(out[0].device, cases[i].mac);
    }
    assert_int_equal(bridge_topic_mac(NULL, mac), FP_ERR_SYNTAX);

    /* "id" must agree with the topic when it is a MAC; a macOS UUID is ignored. */
    assert_int_equal(run("{\"id\":\"C4:A5:DF:E0:A1:B3\",\"hr\":70}"), FP_ERR_RANGE);
    assert_int_equal(run("{\"id\":\"C4A5DFE0A1B2\",\"hr\":70}"), FP_OK);
    assert_int_equal(run("{\"id\":\"5732A8DA-27AF-1C19-DA77-C8EF5AD5CB28\",\"hr\":70}"), FP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_theengs_body_scale), cmocka_unit_test(test_theengs_units),
        cmocka_unit_test(test_theengs_band),       cmocka_unit_test(test_raw),
        cmocka_unit_test(test_malformed_json),     cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_size_limit),         cmocka_unit_test(test_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
