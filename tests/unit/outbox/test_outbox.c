/* test_outbox.c - events leave with their transaction, in order, exactly
 * when the bus has them; a failed publish is retried, never lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "events.h"
#include "outbox.h"

#define API_PRODUCE 0

typedef struct fixture {
    char dir[64], core[128], busdb[128];
    sqlite3 *db;
    sd_event *ev;
    bus *b;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/test_outbox.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->core, sizeof f->core, "%s/core.db", f->dir);
    snprintf(f->busdb, sizeof f->busdb, "%s/bus.db", f->dir);
    assert_int_equal(sqlite3_open(f->core, &f->db), SQLITE_OK);
    sqlite3_exec(f->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    assert_int_equal(outbox_init(f->db), 0);
    assert_int_equal(outbox_init(f->db), 0); /* idempotent */
    assert_int_equal(sd_event_new(&f->ev), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->b)
        bus_close(f->b);
    sqlite3_close(f->db);
    sd_event_unref(f->ev);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void add_event(fixture *f, int n, int commit)
{
    assert_int_equal(sqlite3_exec(f->db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < n; i++) {
        static int serial;
        char id[64];
        snprintf(id, sizeof id, "user/%d/registered", ++serial);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "user_id", serial);
        cJSON_AddStringToObject(d, "messenger", "telegram");
        assert_int_equal(outbox_add(f->db, EVT_TOPIC_IDENTITY, "42", id, EVT_TYPE_USER_REGISTERED,
                                    "fitgate-core/identity", "user/42", d),
                         0);
        cJSON_Delete(d);
    }
    assert_int_equal(sqlite3_exec(f->db, commit ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
}

static int rows_left(fixture *f)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT count(*) FROM outbox", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Run the loop until the published rows are deleted (the relay deletes once
 * it has caught up with the table, or once a second under load) or ms pass;
 * the rows left. */
static int run_until_deleted(fixture *f, int ms)
{
    for (int i = 0; i < ms / 5 && rows_left(f) > 0; i++) {
        sd_event_run(f->ev, 5000);
        bus_poll(f->b, 0);
    }
    return rows_left(f);
}

/* Run the loop (and the bus) until pred holds or ms pass. */
static void run_for(fixture *f, outbox_relay *r, uint64_t want, int ms)
{
    for (int i = 0; i < ms / 5 && (!r || outbox_relay_published(r) < want); i++) {
        sd_event_run(f->ev, 5000);
        bus_poll(f->b, 0);
    }
}

static int consume_all(bus *b, const char *group, int expect, int64_t *first_user)
{
    bus_consumer *c;
    assert_int_equal(bus_consumer_open(b, group, EVT_TOPIC_IDENTITY, 0, &c), BUS_OK);
    int n = 0;
    int64_t prev = 0;
    bus_record rec;
    while (n < expect && bus_consume(c, &rec, n ? 3000 : 12000) == BUS_OK) {
        evt e;
        assert_int_equal(evt_decode(rec.value, rec.len, &e), 0);
        assert_string_equal(e.type, EVT_TYPE_USER_REGISTERED);
        assert_string_equal(e.subject, "user/42");
        assert_string_equal(rec.key, "42");
        int64_t uid = (int64_t)cJSON_GetObjectItem(e.data, "user_id")->valuedouble;
        if (n == 0 && first_user)
            *first_user = uid;
        assert_true(uid > prev); /* insertion order */
        prev = uid;
        evt_free(&e);
        n++;
    }
    bus_consumer_close(c);
    return n;
}

static void test_transaction_and_order(void **state)
{
    fixture *f = *state;
    assert_int_equal(bus_open_embedded(&f->b, f->busdb), BUS_OK);
    add_event(f, 3, 0); /* rolled back: never leaves */
    assert_int_equal(rows_left(f), 0);
    add_event(f, 300, 1); /* more than one relay batch */
    assert_int_equal(rows_left(f), 300);
    outbox_relay *r;
    assert_int_equal(outbox_relay_new(&r, f->ev, f->b, f->core), 0);
    run_for(f, r, 300, 5000);
    assert_int_equal(outbox_relay_published(r), 300);
    assert_int_equal(run_until_deleted(f, 3000), 0);
    assert_int_equal(outbox_relay_published(r), 300); /* each went once */
    assert_int_equal(consume_all(f->b, "g1", 1000, NULL), 300);
    outbox_relay_free(r);
}

/* Rows written while no relay runs (a crash, a stop) leave at the next start. */
static void test_survives_restart(void **state)
{
    fixture *f = *state;
    assert_int_equal(bus_open_embedded(&f->b, f->busdb), BUS_OK);
    add_event(f, 5, 1);
    outbox_relay *r;
    assert_int_equal(outbox_relay_new(&r, f->ev, f->b, f->core), 0);
    outbox_relay_free(r); /* stopped before its first tick */
    assert_int_equal(rows_left(f), 5);
    assert_int_equal(outbox_relay_new(&r, f->ev, f->b, f->core), 0);
    run_for(f, r, 5, 3000);
    assert_int_equal(run_until_deleted(f, 3000), 0);
    assert_int_equal(consume_all(f->b, "g2", 100, NULL), 5);
    outbox_relay_free(r);
}

/* Kafka refuses the publish: the rows stay and go again, first one first. */
static void test_failed_publish_retried(void **state)
{
    fixture *f = *state;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(owner);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(owner, 1);
    assert_non_null(mc);
    rd_kafka_mock_topic_create(mc, EVT_TOPIC_IDENTITY, 1, 1);
    assert_int_equal(bus_open_kafka(&f->b, rd_kafka_mock_cluster_bootstraps(mc),
                                    "bus.create_topics=0;session.timeout.ms=6000"),
                     BUS_OK);
    /* A non-retriable error: librdkafka gives up and reports the message
     * not persisted; the outbox must keep it. */
    rd_kafka_mock_push_request_errors(mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    add_event(f, 4, 1);
    outbox_relay *r;
    assert_int_equal(outbox_relay_new(&r, f->ev, f->b, f->core), 0);
    run_for(f, r, 4, 15000);
    assert_int_equal(outbox_relay_published(r), 4);
    assert_int_equal(run_until_deleted(f, 3000), 0);
    int64_t first = 0;
    int n = consume_all(f->b, "g3", 4, &first);
    assert_true(n >= 4);
    outbox_relay_free(r);
    bus_close(f->b);
    f->b = NULL;
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(owner);
}

static void test_envelope(void **state)
{
    (void)state;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "k", "v");
    char *s;
    size_t len;
    assert_int_equal(evt_encode("a/1", "t.v1", "src", NULL, d, &s, &len), 0);
    evt e;
    assert_int_equal(evt_decode(s, len, &e), 0);
    assert_string_equal(e.id, "a/1");
    assert_string_equal(e.subject, "");
    assert_string_equal(cJSON_GetObjectItem(e.data, "k")->valuestring, "v");
    evt_free(&e);
    free(s);
    assert_int_equal(evt_encode("a/1", "t.v1", "src", NULL, NULL, &s, &len), -1);
    cJSON_Delete(d);
    const char *bad[] = {
        "",
        "[]",
        "{\"specversion\":\"1.0\"}",
        "{\"specversion\":\"0.3\",\"id\":\"x\",\"type\":\"t\",\"source\":\"s\",\"data\":{}}",
        "{\"specversion\":\"1.0\",\"id\":\"x\",\"type\":\"t\",\"source\":\"s\",\"data\":[]}",
        "{\"specversion\":\"1.0\",\"id\":\"\",\"type\":\"t\",\"source\":\"s\",\"data\":{}}",
        "{\"specversion\":\"1.0\",\"id\":7,\"type\":\"t\",\"source\":\"s\",\"data\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(evt_decode(bad[i], strlen(bad[i]), &e), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transaction_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_publish_retried, setup, teardown),
        cmocka_unit_test(test_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
