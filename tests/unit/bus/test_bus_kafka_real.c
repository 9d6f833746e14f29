/* test_bus_kafka_real.c - the Kafka backend against a real broker.
 *
 * Runs when FITGATE_KAFKA_BROKERS names a broker, e.g.
 *   scripts/kafka.sh start /tmp/kafka 19092
 *   FITGATE_KAFKA_BROKERS=127.0.0.1:19092 ctest -R test_bus_kafka_real
 * Without it the test passes with nothing checked, unless
 * FITGATE_REQUIRE_KAFKA=1 says a broker was expected: then it fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bus_test_util.h"

#include <unistd.h>

static const char *brokers(void)
{
    const char *b = getenv("FITGATE_KAFKA_BROKERS");
    return b && b[0] ? b : NULL;
}

static void unique_topic(char *buf, size_t cap, const char *what)
{
    snprintf(buf, cap, "fit.bustest.%s.%ld.%lld", what, (long)getpid(), now_ms());
}

static bus_status publish_range(bus *b, const char *topic, int from, int to, done_box *d)
{
    int n = to - from;
    bus_msg *msgs = calloc((size_t)n, sizeof(*msgs));
    char(*vals)[16] = calloc((size_t)n, sizeof(*vals));
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], sizeof vals[i], "r%d", from + i);
        msgs[i] =
            (bus_msg){.topic = topic, .key = "gw-1", .value = vals[i], .len = strlen(vals[i])};
    }
    bus_status st = bus_publish(b, msgs, (size_t)n, done_count, d);
    free(vals);
    free(msgs);
    return st;
}

static int value_id(const bus_record *r)
{
    char buf[16];
    rec_text(r, buf, sizeof buf);
    return atoi(buf + 1);
}

/* Topic created through the admin API, publish acknowledged only when
 * persisted, group offsets resume, a live tail sees only new records. */
static void test_real_round_trip(void **state)
{
    (void)state;
    if (!brokers()) {
        const char *req = getenv("FITGATE_REQUIRE_KAFKA");
        if (req && strcmp(req, "1") == 0)
            fail_msg("FITGATE_REQUIRE_KAFKA=1 but FITGATE_KAFKA_BROKERS is not set");
        printf("test_bus_kafka_real: not requested (set FITGATE_KAFKA_BROKERS to run it)\n");
        return;
    }
    char topic[128];
    unique_topic(topic, sizeof topic, "rt");
    bus *b;
    assert_int_equal(bus_open_kafka(&b, brokers(), "bus.partitions=1"), BUS_OK);

    done_box d = {0};
    assert_int_equal(publish_range(b, topic, 0, 50, &d), BUS_OK);
    assert_int_equal(publish_range(b, topic, 50, 100, &d), BUS_OK);
    assert_int_equal(wait_done(b, &d, 2, 30000), 2);
    assert_int_equal(d.ok, 2);
    assert_int_equal(bus_pending(b), 0);

    bus_consumer *c;
    bus_record r;
    assert_int_equal(bus_consumer_open(b, "bustest", topic, 0, &c), BUS_OK);
    for (int i = 0; i < 60; i++) {
        assert_int_equal(bus_consume(c, &r, 20000), BUS_OK);
        assert_int_equal(value_id(&r), i);
        assert_string_equal(r.key, "gw-1");
        assert_string_equal(r.topic, topic);
        if (i < 50)
            assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
    }
    bus_consumer_close(c);

    /* Resumes after the last commit (r49): 50..59 come again. */
    assert_int_equal(bus_consumer_open(b, "bustest", topic, 0, &c), BUS_OK);
    for (int i = 50; i < 100; i++) {
        assert_int_equal(bus_consume(c, &r, 20000), BUS_OK);
        assert_int_equal(value_id(&r), i);
        assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
    }
    assert_int_equal(bus_consume(c, &r, 500), BUS_ERR_TIMEOUT);

    bus_consumer *tail;
    assert_int_equal(bus_consumer_open(b, "bustest-sse", topic, 1, &tail), BUS_OK);
    assert_int_equal(publish_range(b, topic, 100, 103, &d), BUS_OK);
    assert_int_equal(wait_done(b, &d, 3, 30000), 3);
    assert_int_equal(d.ok, 3);
    for (int i = 100; i < 103; i++) {
        assert_int_equal(bus_consume(tail, &r, 20000), BUS_OK);
        assert_int_equal(value_id(&r), i);
        assert_int_equal(bus_consume(c, &r, 20000), BUS_OK);
        assert_int_equal(value_id(&r), i);
    }
    bus_close(b); /* closes both consumers */
}

/* Several partitions, many messages: all delivered exactly once. */
static void test_real_partitions(void **state)
{
    (void)state;
    if (!brokers()) {
        printf("test_bus_kafka_real: not requested\n");
        return;
    }
    char topic[128];
    unique_topic(topic, sizeof topic, "parts");
    bus *b;
    assert_int_equal(bus_open_kafka(&b, brokers(), "bus.partitions=3"), BUS_OK);
    enum { TOTAL = 5000, BATCH = 250 };
    done_box d = {0};
    for (int i = 0; i < TOTAL; i += BATCH) {
        int n = BATCH;
        bus_msg msgs[BATCH];
        char vals[BATCH][16], keys[BATCH][8];
        for (int j = 0; j < n; j++) {
            snprintf(vals[j], sizeof vals[j], "r%d", i + j);
            snprintf(keys[j], sizeof keys[j], "k%d", (i + j) % 17);
            msgs[j] =
                (bus_msg){.topic = topic, .key = keys[j], .value = vals[j], .len = strlen(vals[j])};
        }
        assert_int_equal(bus_publish(b, msgs, (size_t)n, done_count, &d), BUS_OK);
        bus_poll(b, 0);
    }
    assert_int_equal(wait_done(b, &d, TOTAL / BATCH, 60000), TOTAL / BATCH);
    assert_int_equal(d.ok, TOTAL / BATCH);

    bus_consumer *c;
    bus_record r;
    assert_int_equal(bus_consumer_open(b, "bustest", topic, 0, &c), BUS_OK);
    unsigned char *seen = calloc(TOTAL, 1);
    int got = 0, dups = 0, parts = 0;
    long long until = now_ms() + 60000;
    while (got < TOTAL && now_ms() < until) {
        if (bus_consume(c, &r, 1000) != BUS_OK)
            continue;
        int id = value_id(&r);
        assert_true(id >= 0 && id < TOTAL);
        parts |= 1 << r.partition;
        if (seen[id]++)
            dups++;
        else
            got++;
        assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
    }
    assert_int_equal(got, TOTAL);
    assert_int_equal(dups, 0);
    assert_int_equal(parts, 7); /* keys spread over all three partitions */
    free(seen);
    bus_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_round_trip),
        cmocka_unit_test(test_real_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
