/* test_bus_kafka_mock.c - the Kafka backend on librdkafka's mock cluster.
 *
 * The test creates the mock cluster itself (on a throwaway handle) and gives
 * its bootstrap address to bus_open_kafka(), so it can inject produce errors
 * and take brokers down while the bus publishes. The mock has no admin API,
 * hence "bus.create_topics=0" and explicit rd_kafka_mock_topic_create(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bus_test_util.h"

#include <fitcommon/log.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define API_PRODUCE 0 /* Kafka protocol ApiKey of Produce (RD_KAFKAP_Produce) */
#define N_BROKERS   3

typedef struct fixture {
    rd_kafka_t *owner; /* keeps the mock cluster alive */
    rd_kafka_mock_cluster_t *mc;
    bus *b;
} fixture;

static bus *open_bus(fixture *f, const char *more)
{
    char extra[512];
    /* BUS_TEST_DEBUG=cgrp,fetch turns on librdkafka's debug logs. */
    const char *dbg = getenv("BUS_TEST_DEBUG");
    /* The mock coordinator waits up to a session timeout before it lets a
     * new member into a group that had one: keep it short. */
    snprintf(extra, sizeof extra,
             "bus.create_topics=0;session.timeout.ms=6000;heartbeat.interval.ms=500;%s%s;%s",
             dbg ? "debug=" : "", dbg ? dbg : "", more ? more : "");
    bus *b = NULL;
    assert_int_equal(bus_open_kafka(&b, rd_kafka_mock_cluster_bootstraps(f->mc), extra), BUS_OK);
    return b;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    f->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!f->owner)
        return -1;
    f->mc = rd_kafka_mock_cluster_new(f->owner, N_BROKERS);
    if (!f->mc)
        return -1;
    rd_kafka_mock_topic_create(f->mc, "fit.one", 1, N_BROKERS);
    rd_kafka_mock_topic_create(f->mc, "fit.three", 3, N_BROKERS);
    /* One leader per broker, so faults pushed on a broker meet its traffic. */
    for (int p = 0; p < 3; p++)
        rd_kafka_mock_partition_set_leader(f->mc, "fit.three", p, p + 1);
    f->b = open_bus(f, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bus_close(f->b);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->owner);
    free(f);
    return 0;
}

/* Publish "<prefix><i>" for i in [from, to) as one bus_publish(). */
static bus_status publish_range(bus *b, const char *topic, const char *prefix, int from, int to,
                                done_box *d)
{
    int n = to - from;
    bus_msg *msgs = calloc((size_t)n, sizeof(*msgs));
    char(*vals)[24] = calloc((size_t)n, sizeof(*vals));
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], sizeof vals[i], "%s%d", prefix, from + i);
        msgs[i] =
            (bus_msg){.topic = topic, .key = vals[i], .value = vals[i], .len = strlen(vals[i])};
    }
    bus_status st = bus_publish(b, msgs, (size_t)n, done_count, d);
    free(vals);
    free(msgs);
    return st;
}

static void expect_rec(bus_consumer *c, const char *want, bus_record *out)
{
    bus_record r;
    char buf[64];
    assert_int_equal(bus_consume(c, &r, 10000), BUS_OK);
    assert_string_equal(rec_text(&r, buf, sizeof buf), want);
    assert_string_equal(r.key, want);
    if (out)
        *out = r;
}

static void test_round_trip_and_resume(void **state)
{
    fixture *f = *state;
    done_box d = {0};
    assert_int_equal(publish_range(f->b, "fit.one", "m", 0, 5, &d), BUS_OK);
    assert_int_equal(wait_done(f->b, &d, 1, 10000), 1);
    assert_int_equal(d.last, BUS_OK);
    assert_int_equal(bus_pending(f->b), 0);

    bus_consumer *c;
    bus_record r;
    assert_int_equal(bus_consumer_open(f->b, "worker", "fit.one", 0, &c), BUS_OK);
    expect_rec(c, "m0", NULL);
    expect_rec(c, "m1", NULL);
    expect_rec(c, "m2", &r);
    assert_string_equal(r.topic, "fit.one");
    assert_int_equal(r.partition, 0);
    assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
    expect_rec(c, "m3", NULL); /* read, not committed */
    bus_consumer_close(c);

    assert_int_equal(bus_consumer_open(f->b, "worker", "fit.one", 0, &c), BUS_OK);
    expect_rec(c, "m3", NULL);
    expect_rec(c, "m4", &r);
    assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
    assert_int_equal(bus_consume(c, &r, 500), BUS_ERR_TIMEOUT);
    bus_consumer_close(c);

    /* Another group starts from the beginning. */
    assert_int_equal(bus_consumer_open(f->b, "stats", "fit.one", 0, &c), BUS_OK);
    expect_rec(c, "m0", NULL);
    bus_consumer_close(c);
}

static void test_from_end(void **state)
{
    fixture *f = *state;
    done_box d = {0};
    assert_int_equal(publish_range(f->b, "fit.three", "old", 0, 6, &d), BUS_OK);
    assert_int_equal(wait_done(f->b, &d, 1, 10000), 1);
    assert_int_equal(d.last, BUS_OK);

    bus_consumer *tail;
    bus_record r;
    assert_int_equal(bus_consumer_open(f->b, "sse", "fit.three", 1, &tail), BUS_OK);
    assert_int_equal(publish_range(f->b, "fit.three", "new", 0, 4, &d), BUS_OK);
    assert_int_equal(wait_done(f->b, &d, 2, 10000), 2);
    assert_int_equal(d.last, BUS_OK);
    int seen[4] = {0};
    for (int i = 0; i < 4; i++) {
        char buf[32];
        assert_int_equal(bus_consume(tail, &r, 10000), BUS_OK);
        rec_text(&r, buf, sizeof buf);
        assert_memory_equal(buf, "new", 3); /* never one of the old ones */
        seen[atoi(buf + 3)]++;
        assert_int_equal(bus_consumer_commit(tail, &r), BUS_OK);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(bus_consume(tail, &r, 300), BUS_ERR_TIMEOUT);
    bus_consumer_close(tail);
}

/* 10,000 messages in batches of 100 while every broker answers produce
 * requests with retriable errors (4 kinds, 40 per broker): every publish
 * completes BUS_OK, every injected error was served, and a consumer group
 * sees each message exactly once.
 *
 * Faults where the broker stores a request but the answer is lost (slow
 * answers past request.timeout.ms, connections dropped mid-request) are left
 * to the real broker: librdkafka 2.0.2's mock cluster appended such retries
 * twice even for the idempotent producer (seen under ASan timing), i.e. it
 * does not deduplicate producer sequences the way Kafka does. */
static void test_fault_retriable(void **state)
{
    fixture *f = *state;
    enum { TOTAL = 10000, BATCH = 100 };
    bus_close(f->b);
    f->b = open_bus(f, "retry.backoff.ms=20");
    done_box d = {0};
    int batches = 0;
    for (int i = 0; i < TOTAL; i += BATCH) {
        int k = i / BATCH;
        /* Like the ingest, keep only a few publishes in flight, so that
         * faults meet live traffic instead of one huge request at the end. */
        long long until = now_ms() + 30000;
        while (bus_pending(f->b) > 3 && now_ms() < until)
            bus_poll(f->b, 10);
        for (int id = 1; k % 10 == 0 && id <= N_BROKERS; id++) {
            rd_kafka_mock_broker_push_request_error_rtts(
                f->mc, id, API_PRODUCE, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0,
                RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, 0);
        }
        assert_int_equal(publish_range(f->b, "fit.three", "id", i, i + BATCH, &d), BUS_OK);
        batches++;
        bus_poll(f->b, 0);
    }
    assert_int_equal(wait_done(f->b, &d, batches, 60000), batches);
    assert_int_equal(d.ok, batches);
    assert_int_equal(d.failed, 0);
    assert_int_equal(bus_pending(f->b), 0);
    /* Every injected error was really served to the producer. */
    for (int id = 1; id <= N_BROKERS; id++) {
        size_t left = 99;
        rd_kafka_resp_err_t e = rd_kafka_mock_broker_error_stack_cnt(f->mc, id, API_PRODUCE, &left);
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(left, 0);
    }

    bus_consumer *c;
    bus_record r;
    assert_int_equal(bus_consumer_open(f->b, "worker", "fit.three", 0, &c), BUS_OK);
    unsigned char *seen = calloc(TOTAL, 1);
    int got = 0, dups = 0;
    long long until = now_ms() + 60000;
    while (got < TOTAL && now_ms() < until) {
        if (bus_consume(c, &r, 500) != BUS_OK)
            continue;
        char buf[32];
        rec_text(&r, buf, sizeof buf);
        int id = atoi(buf + 2);
        assert_true(id >= 0 && id < TOTAL);
        if (seen[id]++)
            dups++;
        else
            got++;
        assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
    }
    /* Anything extra (a duplicate) would arrive right behind. */
    while (bus_consume(c, &r, 1000) == BUS_OK)
        dups++;
    assert_int_equal(got, TOTAL);
    assert_int_equal(dups, 0);
    free(seen);
    bus_consumer_close(c);
}

/* A non-retriable produce error fails the publish: done reports
 * BUS_ERR_DELIVERY (never BUS_OK), exactly once. */
static void test_fault_permanent(void **state)
{
    fixture *f = *state;
    done_box d = {0};
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    assert_int_equal(publish_range(f->b, "fit.one", "x", 0, 10, &d), BUS_OK);
    assert_int_equal(wait_done(f->b, &d, 1, 30000), 1);
    assert_int_equal(d.last, BUS_ERR_DELIVERY);
    assert_int_equal(d.ok, 0);
    bus_poll(f->b, 200);
    assert_int_equal(d.calls, 1);
    assert_int_equal(bus_pending(f->b), 0);
}

/* All brokers down: messages time out (message.timeout.ms from extra) and
 * the publish fails; once the cluster is back the same bus delivers again. */
static void test_fault_brokers_down(void **state)
{
    fixture *f = *state;
    bus_close(f->b);
    f->b = open_bus(f, "message.timeout.ms=1500");
    done_box d = {0};
    /* Warm up so the producer knows the cluster (and its producer id). */
    assert_int_equal(publish_range(f->b, "fit.one", "w", 0, 1, &d), BUS_OK);
    assert_int_equal(wait_done(f->b, &d, 1, 10000), 1);
    assert_int_equal(d.last, BUS_OK);

    for (int id = 1; id <= N_BROKERS; id++)
        rd_kafka_mock_broker_set_down(f->mc, id);
    assert_int_equal(publish_range(f->b, "fit.one", "y", 0, 20, &d), BUS_OK);
    assert_int_equal(wait_done(f->b, &d, 2, 20000), 2);
    assert_int_equal(d.last, BUS_ERR_DELIVERY);
    assert_int_equal(d.ok, 1);

    for (int id = 1; id <= N_BROKERS; id++)
        rd_kafka_mock_broker_set_up(f->mc, id);
    done_box d2 = {0};
    long long until = now_ms() + 30000;
    /* The producer may need a moment (and a new epoch) after the outage. */
    while (d2.ok == 0 && now_ms() < until) {
        int before = d2.calls;
        if (publish_range(f->b, "fit.one", "z", 0, 5, &d2) != BUS_OK) {
            bus_poll(f->b, 200);
            continue;
        }
        wait_done(f->b, &d2, before + 1, 15000);
    }
    assert_true(d2.ok >= 1);
}

/* bus_close() with publishes still in flight completes each of them once. */
static void test_close_completes_pending(void **state)
{
    fixture *f = *state;
    bus_close(f->b);
    f->b = open_bus(f, "message.timeout.ms=1000");
    for (int id = 1; id <= N_BROKERS; id++)
        rd_kafka_mock_broker_set_down(f->mc, id);
    done_box d = {0};
    assert_int_equal(publish_range(f->b, "fit.one", "p", 0, 10, &d), BUS_OK);
    assert_int_equal(publish_range(f->b, "fit.one", "q", 0, 10, &d), BUS_OK);
    assert_int_equal(bus_pending(f->b), 2);
    bus_close(f->b);
    f->b = NULL;
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.failed, 2);
    for (int id = 1; id <= N_BROKERS; id++)
        rd_kafka_mock_broker_set_up(f->mc, id);
}

static void test_bad_config(void **state)
{
    fixture *f = *state;
    bus *b = (bus *)f;
    const char *boot = rd_kafka_mock_cluster_bootstraps(f->mc);
    assert_int_equal(bus_open_kafka(&b, boot, "no.such.property=1"), BUS_ERR_CONFIG);
    assert_null(b);
    assert_int_equal(bus_open_kafka(&b, boot, "novalue"), BUS_ERR_CONFIG);
    assert_int_equal(bus_open_kafka(&b, boot, "bus.partitions=0"), BUS_ERR_CONFIG);
    assert_int_equal(bus_open_kafka(&b, boot, "bus.whatever=1"), BUS_ERR_CONFIG);
    assert_int_equal(bus_open_kafka(&b, "", NULL), BUS_ERR_ARG);
    assert_int_equal(bus_open_kafka(&b, boot, "linger.ms=5; ;bus.partitions=2"), BUS_OK);
    bus_close(b);
}

int main(void)
{
    if (getenv("BUS_TEST_DEBUG"))
        log_init("test_bus_kafka_mock", LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_retriable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_brokers_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_completes_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
