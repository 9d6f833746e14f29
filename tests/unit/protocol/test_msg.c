/* test_msg.c - JSON codec: readings, batches (decoder error paths, writer),
 * acks and gateway state. */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fitproto/msg.h"

#define TS        1732530000123LL
#define EPOCH_HEX "00112233aabbccdd"
#define EPOCH     0x00112233aabbccddULL
#define READING                                                                                    \
    "{\"dev\":\"sim-0001\",\"kind\":\"heart_rate\",\"ts\":1732530000123,"                          \
    "\"v\":{\"hr\":72,\"rr\":[0.83,0.81],\"contact\":1}}"

static fp_status batch_rc(const char *json)
{
    fp_batch b;
    fp_status rc = fp_batch_decode(json, strlen(json), &b);
    if (rc == FP_OK)
        fp_batch_free(&b);
    else
        assert_null(b.readings); /* nothing to free on error */
    return rc;
}

/* A batch envelope around `readings`, with the other fields overridable. */
static char *batch_json(const char *head, const char *readings)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "{%s,\"readings\":[%s]}", head, readings);
    return buf;
}

#define HEAD "\"v\":1,\"gw\":\"gw-1\",\"epoch\":\"" EPOCH_HEX "\",\"seq\":101,\"floor\":1"

static fp_reading sample(void)
{
    fp_reading r;
    assert_int_equal(fp_reading_init(&r, "sim-0001", FP_KIND_HEART_RATE, TS), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_HEART_RATE, 72), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_RR_INTERVAL, 0.83), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_RR_INTERVAL, 0.81), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_SENSOR_CONTACT, 1), FP_OK);
    return r;
}

static void assert_reading_equal(const fp_reading *a, const fp_reading *b)
{
    assert_string_equal(a->device, b->device);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->ts_ms, b->ts_ms);
    assert_int_equal(a->nvalues, b->nvalues);
    for (int i = 0; i < a->nvalues; i++) {
        assert_int_equal(a->values[i].q, b->values[i].q);
        assert_memory_equal(&a->values[i].v, &b->values[i].v, sizeof(double)); /* bit-exact */
    }
}

/* ---- readings ---- */

static void test_reading_encode_exact(void **state)
{
    (void)state;
    fp_reading r = sample();
    char buf[512];
    size_t len;
    assert_int_equal(fp_reading_encode(&r, buf, sizeof(buf), &len), FP_OK);
    assert_string_equal(buf, READING);
    assert_int_equal(len, strlen(READING));

    fp_reading b;
    fp_reading_init(&b, "AA:BB:CC:DD:EE:FF", FP_KIND_BATTERY, TS);
    fp_reading_add(&b, FP_Q_BATTERY, 15);
    assert_int_equal(fp_reading_encode(&b, buf, sizeof(buf), &len), FP_OK);
    assert_string_equal(buf, "{\"dev\":\"AA:BB:CC:DD:EE:FF\",\"kind\":\"battery\","
                             "\"ts\":1732530000123,\"v\":{\"battery\":15}}");
}

static void test_reading_round_trip(void **state)
{
    (void)state;
    /* Doubles that need 17 digits, tiny and huge ones, integers. */
    const double rr[] = {1.0 / 3, 0.1, 63.9990234375, 1e-300, 5e-324, 0.83, 64, 0, 2.0 / 3};
    fp_reading r;
    fp_reading_init(&r, "dev.x_y-1", FP_KIND_HEART_RATE, TS);
    for (size_t i = 0; i < sizeof(rr) / sizeof(rr[0]); i++)
        assert_int_equal(fp_reading_add(&r, FP_Q_RR_INTERVAL, rr[i]), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_HEART_RATE, 299.5), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_ENERGY, 65535000), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_SENSOR_CONTACT, 0), FP_OK);

    char buf[1024];
    size_t len;
    fp_reading back;
    assert_int_equal(fp_reading_encode(&r, buf, sizeof(buf), &len), FP_OK);
    assert_int_equal(fp_reading_decode(buf, len, &back), FP_OK);
    assert_reading_equal(&r, &back);
    assert_non_null(strstr(buf, "\"energy\":65535000,")); /* no ".0", no exponent */
    assert_null(strstr(buf, "0.10000000000000001"));
    assert_non_null(strstr(buf, ",0.1,")); /* shortest form that round-trips */
}

static void test_reading_encode_interleaved(void **state)
{
    (void)state;
    /* rr, hr, rr: the two rr values are grouped at the first appearance and
     * decoding gives that grouped order; re-encoding is then stable. */
    fp_reading r;
    fp_reading_init(&r, "d", FP_KIND_HEART_RATE, TS);
    fp_reading_add(&r, FP_Q_RR_INTERVAL, 0.5);
    fp_reading_add(&r, FP_Q_HEART_RATE, 60);
    fp_reading_add(&r, FP_Q_RR_INTERVAL, 0.75);
    char a[256], b[256];
    size_t la, lb;
    fp_reading back;
    assert_int_equal(fp_reading_encode(&r, a, sizeof(a), &la), FP_OK);
    assert_non_null(strstr(a, "\"v\":{\"rr\":[0.5,0.75],\"hr\":60}"));
    assert_int_equal(fp_reading_decode(a, la, &back), FP_OK);
    assert_int_equal(fp_reading_encode(&back, b, sizeof(b), &lb), FP_OK);
    assert_string_equal(a, b);
}

static void test_reading_encode_small_buffer(void **state)
{
    (void)state;
    fp_reading r = sample();
    char buf[512];
    size_t len, need = strlen(READING) + 1;
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(fp_reading_encode(&r, buf, cap, &len), FP_ERR_LIMIT);
    assert_int_equal(fp_reading_encode(&r, buf, need, &len), FP_OK);
}

static void test_reading_encode_invalid(void **state)
{
    (void)state;
    char buf[512];
    size_t len;
    fp_reading r = sample();
    strcpy(r.device, "x\"}"); /* would break the JSON: must be refused */
    assert_int_equal(fp_reading_encode(&r, buf, sizeof(buf), &len), FP_ERR_RANGE);
    r = sample();
    r.values[0].v = NAN;
    assert_int_equal(fp_reading_encode(&r, buf, sizeof(buf), &len), FP_ERR_RANGE);
    r = sample();
    r.nvalues = 0;
    assert_int_equal(fp_reading_encode(&r, buf, sizeof(buf), &len), FP_ERR_MISSING);
}

static fp_status reading_rc(const char *json)
{
    fp_reading r;
    return fp_reading_decode(json, strlen(json), &r);
}

static void test_reading_decode_errors(void **state)
{
    (void)state;
    assert_int_equal(reading_rc(READING), FP_OK);
#define R(dev, kind, ts, v) "{\"dev\":" dev ",\"kind\":" kind ",\"ts\":" ts ",\"v\":" v "}"
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"rr\":0.5}")),
                     FP_ERR_TYPE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"hr\":[60]}")),
                     FP_ERR_TYPE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"hr\":\"60\"}")),
                     FP_ERR_TYPE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"rr\":[\"1\"]}")),
                     FP_ERR_TYPE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"rr\":[]}")),
                     FP_ERR_RANGE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{}")),
                     FP_ERR_MISSING);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"vo2\":1}")),
                     FP_ERR_UNKNOWN);
    assert_int_equal(
        reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"hr\":60,\"hr\":61}")),
        FP_ERR_DUPLICATE);
    assert_int_equal(
        reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"rr\":[1],\"rr\":[2]}")),
        FP_ERR_DUPLICATE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"hr\":301}")),
                     FP_ERR_RANGE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "{\"hr\":1e999}")),
                     FP_ERR_RANGE);
    assert_int_equal(reading_rc(R("\"d\"", "\"battery\"", "1732530000123", "{\"hr\":60}")),
                     FP_ERR_UNKNOWN);
    assert_int_equal(reading_rc(R("\"d\"", "\"spaceship\"", "1732530000123", "{\"hr\":60}")),
                     FP_ERR_UNKNOWN);
    assert_int_equal(reading_rc(R("\"d\"", "1", "1732530000123", "{\"hr\":60}")), FP_ERR_TYPE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123.5", "{\"hr\":60}")),
                     FP_ERR_TYPE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "\"1732530000123\"", "{\"hr\":60}")),
                     FP_ERR_TYPE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "17325300001", "{\"hr\":60}")),
                     FP_ERR_RANGE); /* 1970 */
    assert_int_equal(reading_rc(R("\"d/x\"", "\"heart_rate\"", "1732530000123", "{\"hr\":60}")),
                     FP_ERR_RANGE);
    assert_int_equal(
        reading_rc(R("\"d\\u0000x\"", "\"heart_rate\"", "1732530000123", "{\"hr\":1}")),
        FP_ERR_SYNTAX);
    assert_int_equal(reading_rc(R("7", "\"heart_rate\"", "1732530000123", "{\"hr\":60}")),
                     FP_ERR_TYPE);
    assert_int_equal(reading_rc(R("\"d\"", "\"heart_rate\"", "1732530000123", "[60]")),
                     FP_ERR_TYPE);
#undef R
    assert_int_equal(reading_rc("{\"dev\":\"d\",\"kind\":\"battery\",\"ts\":1732530000123,"
                                "\"v\":{\"battery\":5},\"seq\":3}"),
                     FP_ERR_UNKNOWN);
    assert_int_equal(reading_rc("{\"dev\":\"d\",\"kind\":\"battery\",\"v\":{\"battery\":5}}"),
                     FP_ERR_MISSING);
    assert_int_equal(reading_rc("[]"), FP_ERR_SYNTAX);
    assert_int_equal(reading_rc(READING " x"), FP_ERR_SYNTAX);
    assert_int_equal(reading_rc(READING " \n"), FP_OK);
    assert_int_equal(reading_rc(""), FP_ERR_SYNTAX);
}

/* ---- batch decoder ---- */

static void test_batch_decode_ok(void **state)
{
    (void)state;
    const char *json = batch_json(HEAD, READING "," READING);
    fp_batch b;
    assert_int_equal(fp_batch_decode(json, strlen(json), &b), FP_OK);
    assert_string_equal(b.gateway, "gw-1");
    assert_true(b.epoch == EPOCH);
    assert_int_equal(b.seq, 101);
    assert_int_equal(b.floor, 1);
    assert_int_equal(b.count, 2);
    assert_int_equal(b.total, 2);
    assert_int_equal(b.rejected, 0);
    assert_int_equal(b.first_error, FP_OK);
    assert_int_equal(b.readings[0].seq, 101);
    assert_int_equal(b.readings[1].seq, 102);
    fp_reading want = sample();
    assert_reading_equal(&b.readings[1], &want);
    fp_batch_free(&b);
    assert_null(b.readings);
    fp_batch_free(&b); /* idempotent */
}

static void test_batch_wrong_version(void **state)
{
    (void)state;
    /* A newer version is FP_ERR_VERSION even with fields we do not know. */
    assert_int_equal(batch_rc(batch_json("\"v\":2,\"gw\":\"gw-1\",\"new\":true", READING)),
                     FP_ERR_VERSION);
    assert_int_equal(batch_rc(batch_json("\"v\":0,\"gw\":\"gw-1\"", READING)), FP_ERR_VERSION);
    assert_int_equal(batch_rc(batch_json("\"v\":1e300,\"gw\":\"gw-1\"", READING)), FP_ERR_VERSION);
    assert_int_equal(batch_rc(batch_json("\"v\":\"1\",\"gw\":\"gw-1\"", READING)), FP_ERR_TYPE);
    assert_int_equal(batch_rc(batch_json("\"gw\":\"gw-1\"", READING)), FP_ERR_MISSING);
}

static void test_batch_unknown_field(void **state)
{
    (void)state;
    assert_int_equal(batch_rc(batch_json(HEAD ",\"extra\":0", READING)), FP_ERR_UNKNOWN);
}

static void test_batch_duplicate_key(void **state)
{
    (void)state;
    assert_int_equal(batch_rc(batch_json(HEAD ",\"seq\":101", READING)), FP_ERR_DUPLICATE);
    assert_int_equal(batch_rc(batch_json(HEAD ",\"v\":1", READING)), FP_ERR_DUPLICATE);
    char json[4096];
    snprintf(json, sizeof(json), "{" HEAD ",\"readings\":[" READING "],\"readings\":[]}");
    assert_int_equal(batch_rc(json), FP_ERR_DUPLICATE);
}

static void test_batch_wrong_type(void **state)
{
    (void)state;
    assert_int_equal(batch_rc(batch_json("\"v\":1,\"gw\":\"gw-1\",\"epoch\":\"" EPOCH_HEX
                                         "\",\"seq\":\"101\",\"floor\":1",
                                         READING)),
                     FP_ERR_TYPE);
    assert_int_equal(
        batch_rc(batch_json("\"v\":1,\"gw\":7,\"epoch\":\"" EPOCH_HEX "\",\"seq\":101,\"floor\":1",
                            READING)),
        FP_ERR_TYPE);
    assert_int_equal(batch_rc(batch_json("\"v\":1,\"gw\":\"gw-1\",\"epoch\":\"" EPOCH_HEX
                                         "\",\"seq\":101.5,\"floor\":1",
                                         READING)),
                     FP_ERR_TYPE);
    char json[512];
    snprintf(json, sizeof(json), "{" HEAD ",\"readings\":{}}");
    assert_int_equal(batch_rc(json), FP_ERR_TYPE);
    assert_int_equal(batch_rc("[1,2]"), FP_ERR_SYNTAX);
    assert_int_equal(batch_rc("{\"v\":1"), FP_ERR_SYNTAX);
    assert_int_equal(batch_rc("\x01\x02garbage"), FP_ERR_SYNTAX);
}

/* A batch of n copies of READING; caller frees. */
static char *make_batch(int n)
{
    size_t cap = 256 + (size_t)n * (strlen(READING) + 1);
    char *json = malloc(cap);
    assert_non_null(json);
    size_t len = (size_t)sprintf(json, "{" HEAD ",\"readings\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(json + len, "%s" READING, i ? "," : "");
    strcpy(json + len, "]}");
    return json;
}

static void test_batch_too_many_readings(void **state)
{
    (void)state;
    char *json = make_batch(FP_BATCH_MAX + 1);
    assert_int_equal(batch_rc(json), FP_ERR_LIMIT);
    free(json);
    /* exactly FP_BATCH_MAX is fine */
    json = make_batch(FP_BATCH_MAX);
    fp_batch b;
    assert_int_equal(fp_batch_decode(json, strlen(json), &b), FP_OK);
    assert_int_equal(b.count, FP_BATCH_MAX);
    assert_int_equal(b.readings[FP_BATCH_MAX - 1].seq, 101 + FP_BATCH_MAX - 1);
    fp_batch_free(&b);
    free(json);
}

static void test_batch_oversize(void **state)
{
    (void)state;
    /* Valid JSON (trailing whitespace) but one byte over the limit. */
    size_t len = FP_MSG_BYTES_MAX + 1;
    char *json = malloc(len);
    assert_non_null(json);
    const char *head = batch_json(HEAD, READING);
    size_t hl = strlen(head);
    memcpy(json, head, hl);
    memset(json + hl, ' ', len - hl);
    fp_batch b;
    assert_int_equal(fp_batch_decode(json, len, &b), FP_ERR_LIMIT);
    assert_int_equal(fp_batch_decode(json, len - 1, &b), FP_OK);
    fp_batch_free(&b);
    free(json);
}

static void test_batch_bad_epoch(void **state)
{
    (void)state;
    const char *bad[] = {"\"00112233AABBCCDD\"",
                         "\"00112233aabbccd\"",
                         "\"00112233aabbccdd0\"",
                         "\"0x112233aabbccdd\"",
                         "\"\"",
                         "\"00112233aabbccdg\""};
    char head[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(head, sizeof(head), "\"v\":1,\"gw\":\"gw-1\",\"epoch\":%s,\"seq\":1,\"floor\":1",
                 bad[i]);
        assert_int_equal(batch_rc(batch_json(head, READING)), FP_ERR_RANGE);
    }
    assert_int_equal(batch_rc(batch_json(
                         "\"v\":1,\"gw\":\"gw-1\",\"epoch\":1122,\"seq\":1,\"floor\":1", READING)),
                     FP_ERR_TYPE);
    assert_int_equal(batch_rc(batch_json("\"v\":1,\"gw\":\"gw-1\",\"seq\":1,\"floor\":1", READING)),
                     FP_ERR_MISSING);
}

#define SEQ_HEAD(seq, floor)                                                                       \
    "\"v\":1,\"gw\":\"gw-1\",\"epoch\":\"" EPOCH_HEX "\",\"seq\":" seq ",\"floor\":" floor

static void test_batch_seq_zero(void **state)
{
    (void)state;
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("0", "1"), READING)), FP_ERR_RANGE);
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("5", "0"), READING)), FP_ERR_RANGE);
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("-1", "1"), READING)), FP_ERR_RANGE);
}

static void test_batch_floor_above_seq(void **state)
{
    (void)state;
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("5", "6"), READING)), FP_ERR_RANGE);
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("5", "5"), READING)), FP_OK);
}

static void test_batch_seq_max(void **state)
{
    (void)state;
    /* 2^53-1 is the last seq; 2^53 and beyond are refused, as is a batch
     * whose last reading would pass it. */
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("9007199254740991", "1"), READING)), FP_OK);
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("9007199254740992", "1"), READING)),
                     FP_ERR_RANGE);
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("18446744073709551616", "1"), READING)),
                     FP_ERR_RANGE);
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("9007199254740991", "1"), READING "," READING)),
                     FP_ERR_RANGE);
    assert_int_equal(batch_rc(batch_json(SEQ_HEAD("9007199254740990", "1"), READING "," READING)),
                     FP_OK);
}

static void test_batch_empty(void **state)
{
    (void)state;
    assert_int_equal(batch_rc(batch_json(HEAD, "")), FP_ERR_RANGE);
}

static void test_batch_bad_reading_among_good(void **state)
{
    (void)state;
    const char *bad_hr = "{\"dev\":\"x\",\"kind\":\"heart_rate\",\"ts\":1732530000123,"
                         "\"v\":{\"hr\":999}}";
    char readings[2048];
    snprintf(readings, sizeof(readings), "%s,%s,%s,7,%s", READING, bad_hr, READING, READING);
    const char *json = batch_json(HEAD, readings);
    fp_batch b;
    assert_int_equal(fp_batch_decode(json, strlen(json), &b), FP_OK);
    assert_int_equal(b.total, 5);
    assert_int_equal(b.count, 3);
    assert_int_equal(b.rejected, 2);
    assert_int_equal(b.first_error, FP_ERR_RANGE); /* the hr, not the 7 */
    assert_int_equal(b.readings[0].seq, 101);
    assert_int_equal(b.readings[1].seq, 103);
    assert_int_equal(b.readings[2].seq, 105);
    for (int i = 0; i < 3; i++)
        assert_string_equal(b.readings[i].device, "sim-0001");
    fp_batch_free(&b);

    /* All bad: still a valid batch (the cloud acks it) with nothing kept. */
    json = batch_json(HEAD, "1,2");
    assert_int_equal(fp_batch_decode(json, strlen(json), &b), FP_OK);
    assert_int_equal(b.count, 0);
    assert_int_equal(b.rejected, 2);
    assert_int_equal(b.first_error, FP_ERR_TYPE);
    fp_batch_free(&b);
}

/* ---- batch writer ---- */

static size_t write_batch(char *buf, size_t cap, int n, fp_status *rc)
{
    fp_batch_writer w;
    char one[512];
    size_t olen, len = 0;
    fp_reading r = sample();
    assert_int_equal(fp_reading_encode(&r, one, sizeof(one), &olen), FP_OK);
    fp_batch_begin(&w, buf, cap, "gw-1", EPOCH, 101, 1);
    for (int i = 0; i < n; i++)
        fp_batch_append_raw(&w, one, olen);
    *rc = fp_batch_end(&w, &len);
    return len;
}

static void test_batch_writer_round_trip(void **state)
{
    (void)state;
    char buf[4096];
    fp_status rc;
    size_t len = write_batch(buf, sizeof(buf), 2, &rc);
    assert_int_equal(rc, FP_OK);
    assert_int_equal(len, strlen(buf));
    assert_string_equal(buf, batch_json(HEAD, READING "," READING));
    fp_batch b;
    assert_int_equal(fp_batch_decode(buf, len, &b), FP_OK);
    assert_int_equal(b.count, 2);
    assert_int_equal(b.readings[1].seq, 102);
    fp_batch_free(&b);
}

static void test_batch_writer_limits(void **state)
{
    (void)state;
    char buf[4096];
    fp_status rc;
    size_t need = write_batch(buf, sizeof(buf), 3, &rc) + 1;
    for (size_t cap = 0; cap < need; cap++) {
        write_batch(buf, cap, 3, &rc);
        assert_int_equal(rc, FP_ERR_LIMIT);
    }
    write_batch(buf, need, 3, &rc);
    assert_int_equal(rc, FP_OK);
    write_batch(buf, sizeof(buf), 0, &rc);
    assert_int_equal(rc, FP_ERR_RANGE);

    /* FP_BATCH_MAX + 1 readings: limit, however big the buffer. */
    size_t big = 2u << 20;
    char *large = malloc(big);
    assert_non_null(large);
    write_batch(large, big, FP_BATCH_MAX, &rc);
    assert_int_equal(rc, FP_OK);
    write_batch(large, big, FP_BATCH_MAX + 1, &rc);
    assert_int_equal(rc, FP_ERR_LIMIT);

    /* Never more than FP_MSG_BYTES_MAX, even into a larger buffer: a raw
     * reading that exactly fills the limit fits, one byte more does not. */
    fp_batch_writer w;
    fp_batch_begin(&w, large, big, "gw-1", EPOCH, 1, 1);
    size_t fill = FP_MSG_BYTES_MAX - w.len - 2; /* 2 for "]}" */
    char *one = malloc(fill + 1);
    assert_non_null(one);
    memset(one, ' ', fill + 1);
    one[0] = '{';
    one[fill - 1] = '}';
    fp_batch_append_raw(&w, one, fill);
    size_t len;
    assert_int_equal(fp_batch_end(&w, &len), FP_OK);
    assert_int_equal(len, FP_MSG_BYTES_MAX);
    fp_batch_begin(&w, large, big, "gw-1", EPOCH, 1, 1);
    one[fill - 1] = ' ';
    one[fill] = '}';
    fp_batch_append_raw(&w, one, fill + 1);
    assert_int_equal(fp_batch_end(&w, &len), FP_ERR_LIMIT);
    free(one);
    free(large);
}

static void test_batch_writer_bad_args(void **state)
{
    (void)state;
    char buf[512];
    size_t len;
    fp_batch_writer w;
    fp_batch_begin(&w, buf, sizeof(buf), "gw/1", EPOCH, 1, 1);
    assert_int_equal(fp_batch_end(&w, &len), FP_ERR_RANGE);
    fp_batch_begin(&w, buf, sizeof(buf), "gw-1", EPOCH, 0, 1);
    assert_int_equal(fp_batch_end(&w, &len), FP_ERR_RANGE);
    fp_batch_begin(&w, buf, sizeof(buf), "gw-1", EPOCH, 5, 6);
    assert_int_equal(fp_batch_end(&w, &len), FP_ERR_RANGE);
    fp_batch_begin(&w, buf, sizeof(buf), "gw-1", EPOCH, FP_SEQ_MAX + 1, 1);
    assert_int_equal(fp_batch_end(&w, &len), FP_ERR_RANGE);
    fp_batch_begin(&w, buf, sizeof(buf), "gw-1", EPOCH, 1, 1);
    fp_batch_append_raw(&w, "[]", 2);
    assert_int_equal(fp_batch_end(&w, &len), FP_ERR_SYNTAX);

    /* The last seq may not pass FP_SEQ_MAX. */
    fp_batch_begin(&w, buf, sizeof(buf), "gw-1", EPOCH, FP_SEQ_MAX, 1);
    fp_batch_append_raw(&w, "{}", 2);
    assert_int_equal(fp_batch_end(&w, &len), FP_OK);
    fp_batch_begin(&w, buf, sizeof(buf), "gw-1", EPOCH, FP_SEQ_MAX, 1);
    fp_batch_append_raw(&w, "{}", 2);
    fp_batch_append_raw(&w, "{}", 2);
    assert_int_equal(fp_batch_end(&w, &len), FP_ERR_RANGE);
}

/* ---- ack ---- */

static fp_status ack_rc(const char *json)
{
    fp_ack a;
    return fp_ack_decode(json, strlen(json), &a);
}

static void test_ack_round_trip(void **state)
{
    (void)state;
    fp_ack a = {.gateway = "gw-1", .epoch = EPOCH, .seq = 250, .rejected = 3}, b;
    char buf[256];
    size_t len;
    assert_int_equal(fp_ack_encode(&a, buf, sizeof(buf), &len), FP_OK);
    assert_string_equal(buf, "{\"v\":1,\"gw\":\"gw-1\",\"epoch\":\"" EPOCH_HEX
                             "\",\"seq\":250,\"rejected\":3}");
    assert_int_equal(fp_ack_decode(buf, len, &b), FP_OK);
    assert_string_equal(a.gateway, b.gateway);
    assert_true(a.epoch == b.epoch);
    assert_int_equal(a.seq, b.seq);
    assert_int_equal(a.rejected, b.rejected);
    for (size_t cap = 0; cap <= len; cap++)
        assert_int_equal(fp_ack_encode(&a, buf, cap, NULL), FP_ERR_LIMIT);
    a.seq = 0;
    assert_int_equal(fp_ack_encode(&a, buf, sizeof(buf), &len), FP_ERR_RANGE);
}

static void test_ack_errors(void **state)
{
    (void)state;
#define ACK(body) "{\"v\":1,\"gw\":\"gw-1\",\"epoch\":\"" EPOCH_HEX "\"" body "}"
    assert_int_equal(ack_rc(ACK(",\"seq\":250,\"rejected\":0")), FP_OK);
    assert_int_equal(ack_rc("{\"v\":2,\"seq\":1}"), FP_ERR_VERSION);
    assert_int_equal(ack_rc(ACK(",\"seq\":250,\"rejected\":0,\"x\":1")), FP_ERR_UNKNOWN);
    assert_int_equal(ack_rc(ACK(",\"seq\":250,\"seq\":251,\"rejected\":0")), FP_ERR_DUPLICATE);
    assert_int_equal(ack_rc(ACK(",\"seq\":true,\"rejected\":0")), FP_ERR_TYPE);
    assert_int_equal(ack_rc(ACK(",\"seq\":0,\"rejected\":0")), FP_ERR_RANGE);
    assert_int_equal(ack_rc(ACK(",\"seq\":9007199254740992,\"rejected\":0")), FP_ERR_RANGE);
    assert_int_equal(ack_rc(ACK(",\"seq\":1,\"rejected\":-1")), FP_ERR_RANGE);
    assert_int_equal(ack_rc(ACK(",\"seq\":1")), FP_ERR_MISSING);
    assert_int_equal(ack_rc("{\"v\":1,\"gw\":\"gw-1\",\"epoch\":\"AB\",\"seq\":1,\"rejected\":0}"),
                     FP_ERR_RANGE);
    assert_int_equal(ack_rc("{}"), FP_ERR_MISSING);
    assert_int_equal(ack_rc("null"), FP_ERR_SYNTAX);
#undef ACK
}

/* ---- state ---- */

static fp_status state_rc(const char *json)
{
    fp_state s;
    return fp_state_decode(json, strlen(json), &s);
}

static void assert_state_equal(const fp_state *a, const fp_state *b)
{
    assert_string_equal(a->gateway, b->gateway);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->boot, b->boot);
    assert_int_equal(a->ts_ms, b->ts_ms);
    assert_string_equal(a->sw, b->sw);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    fp_state s = {.gateway = "gw-1", .state = FP_GW_ONLINE, .boot = 3, .ts_ms = TS, .sw = "0.1.0"},
             b;
    char buf[256];
    size_t len;
    assert_int_equal(fp_state_encode(&s, buf, sizeof(buf), &len), FP_OK);
    assert_string_equal(buf, "{\"v\":1,\"gw\":\"gw-1\",\"state\":\"online\",\"boot\":3,"
                             "\"ts\":1732530000123,\"sw\":\"0.1.0\"}");
    assert_int_equal(fp_state_decode(buf, len, &b), FP_OK);
    assert_state_equal(&s, &b);

    memset(&s, 0, sizeof(s));
    strcpy(s.gateway, "g");
    s.state = FP_GW_OFFLINE;
    s.boot = 1;
    s.ts_ms = 0; /* a gateway without RTC still announces itself */
    assert_int_equal(fp_state_encode(&s, buf, sizeof(buf), &len), FP_OK);
    assert_int_equal(fp_state_decode(buf, len, &b), FP_OK);
    assert_state_equal(&s, &b);
    for (size_t cap = 0; cap <= len; cap++)
        assert_int_equal(fp_state_encode(&s, buf, cap, NULL), FP_ERR_LIMIT);

    strcpy(s.sw, "1\"");
    assert_int_equal(fp_state_encode(&s, buf, sizeof(buf), &len), FP_ERR_RANGE);
    strcpy(s.sw, "1");
    s.state = (fp_gw_state)3;
    assert_int_equal(fp_state_encode(&s, buf, sizeof(buf), &len), FP_ERR_RANGE);
}

static void test_state_errors(void **state)
{
    (void)state;
#define ST(st, boot, ts, sw)                                                                       \
    "{\"v\":1,\"gw\":\"gw-1\",\"state\":" st ",\"boot\":" boot ",\"ts\":" ts ",\"sw\":" sw "}"
    assert_int_equal(state_rc(ST("\"online\"", "3", "1732530000123", "\"0.1.0\"")), FP_OK);
    assert_int_equal(state_rc(ST("\"sleeping\"", "3", "1732530000123", "\"0.1.0\"")), FP_ERR_RANGE);
    assert_int_equal(state_rc(ST("1", "3", "1732530000123", "\"0.1.0\"")), FP_ERR_TYPE);
    assert_int_equal(state_rc(ST("\"online\"", "0", "1732530000123", "\"0.1.0\"")), FP_ERR_RANGE);
    assert_int_equal(state_rc(ST("\"online\"", "3", "-1", "\"0.1.0\"")), FP_ERR_RANGE);
    assert_int_equal(state_rc(ST("\"online\"", "3", "1.5", "\"0.1.0\"")), FP_ERR_TYPE);
    assert_int_equal(state_rc(ST("\"online\"", "3", "1", "\"a b\"")), FP_ERR_RANGE);
    assert_int_equal(state_rc(ST("\"online\"", "3", "1", "\"012345678901234567890123456789012\"")),
                     FP_ERR_RANGE); /* 33 chars */
    assert_int_equal(state_rc(ST("\"online\"", "3", "1", "null")), FP_ERR_TYPE);
    assert_int_equal(state_rc("{\"v\":1,\"gw\":\"gw-1\",\"state\":\"online\",\"boot\":3,\"ts\":1}"),
                     FP_ERR_MISSING);
    assert_int_equal(state_rc("{\"v\":3,\"gw\":\"gw-1\",\"mood\":\"ok\"}"), FP_ERR_VERSION);
    assert_int_equal(
        state_rc("{\"v\":1,\"gw\":\"gw-1\",\"state\":\"online\",\"state\":\"offline\",\"boot\":3,"
                 "\"ts\":1,\"sw\":\"\"}"),
        FP_ERR_DUPLICATE);
    assert_int_equal(state_rc("{\"v\":1,\"gw\":\"gw-1\",\"state\":\"online\",\"boot\":3,"
                              "\"ts\":1,\"sw\":\"\",\"ip\":\"1.2.3.4\"}"),
                     FP_ERR_UNKNOWN);
#undef ST
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reading_encode_exact),
        cmocka_unit_test(test_reading_round_trip),
        cmocka_unit_test(test_reading_encode_interleaved),
        cmocka_unit_test(test_reading_encode_small_buffer),
        cmocka_unit_test(test_reading_encode_invalid),
        cmocka_unit_test(test_reading_decode_errors),
        cmocka_unit_test(test_batch_decode_ok),
        cmocka_unit_test(test_batch_wrong_version),
        cmocka_unit_test(test_batch_unknown_field),
        cmocka_unit_test(test_batch_duplicate_key),
        cmocka_unit_test(test_batch_wrong_type),
        cmocka_unit_test(test_batch_too_many_readings),
        cmocka_unit_test(test_batch_oversize),
        cmocka_unit_test(test_batch_bad_epoch),
        cmocka_unit_test(test_batch_seq_zero),
        cmocka_unit_test(test_batch_floor_above_seq),
        cmocka_unit_test(test_batch_seq_max),
        cmocka_unit_test(test_batch_empty),
        cmocka_unit_test(test_batch_bad_reading_among_good),
        cmocka_unit_test(test_batch_writer_round_trip),
        cmocka_unit_test(test_batch_writer_limits),
        cmocka_unit_test(test_batch_writer_bad_args),
        cmocka_unit_test(test_ack_round_trip),
        cmocka_unit_test(test_ack_errors),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
