/* test_bus_embedded.c - the SQLite-backed bus: round trip, offsets,
 * at-least-once redelivery, live tails, groups, atomic publishes and several
 * processes on one file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bus_test_util.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPIC "fit.readings.v1"

typedef struct fixture {
    char dir[64];
    char path[128];
    bus *b;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_bus_emb.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/bus.db", f->dir);
    assert_int_equal(bus_open_embedded(&f->b, f->path), BUS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bus_close(f->b);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Publish values "<prefix><i>" for i in [from, to) in one call. */
static void publish_range(bus *b, const char *topic, const char *prefix, int from, int to)
{
    int n = to - from;
    bus_msg *msgs = calloc((size_t)n, sizeof(*msgs));
    char(*vals)[32] = calloc((size_t)n, sizeof(*vals));
    assert_non_null(msgs);
    assert_non_null(vals);
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], sizeof vals[i], "%s%d", prefix, from + i);
        msgs[i] =
            (bus_msg){.topic = topic, .key = "gw-1", .value = vals[i], .len = strlen(vals[i])};
    }
    done_box d = {0};
    assert_int_equal(bus_publish(b, msgs, (size_t)n, done_count, &d), BUS_OK);
    /* The embedded backend completes before bus_publish() returns. */
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.last, BUS_OK);
    assert_int_equal(bus_pending(b), 0);
    free(vals);
    free(msgs);
}

/* Consume one record and check its value. */
static void expect_rec(bus_consumer *c, const char *want, bus_record *out)
{
    bus_record r;
    char buf[64];
    assert_int_equal(bus_consume(c, &r, 1000), BUS_OK);
    assert_string_equal(rec_text(&r, buf, sizeof buf), want);
    if (out)
        *out = r;
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    bus_msg msgs[3] = {
        {.topic = TOPIC, .key = "gw-1", .value = "a", .len = 1},
        {.topic = TOPIC, .key = NULL, .value = "\0bin\xff", .len = 5},
        {.topic = TOPIC, .key = "gw-2", .value = NULL, .len = 0},
    };
    done_box d = {0};
    assert_int_equal(bus_publish(f->b, msgs, 3, done_count, &d), BUS_OK);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.last, BUS_OK);

    bus_consumer *c;
    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &c), BUS_OK);
    bus_record r;
    assert_int_equal(bus_consume(c, &r, 0), BUS_OK);
    assert_string_equal(r.topic, TOPIC);
    assert_string_equal(r.key, "gw-1");
    assert_int_equal(r.len, 1);
    assert_memory_equal(r.value, "a", 1);
    assert_int_equal(r.partition, 0);
    int64_t first = r.offset;

    assert_int_equal(bus_consume(c, &r, 0), BUS_OK);
    assert_null(r.key);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.value, "\0bin\xff", 5);
    assert_true(r.offset > first);

    assert_int_equal(bus_consume(c, &r, 0), BUS_OK);
    assert_string_equal(r.key, "gw-2");
    assert_int_equal(r.len, 0);

    assert_int_equal(bus_consume(c, &r, 0), BUS_ERR_TIMEOUT);
    long long t0 = now_ms();
    assert_int_equal(bus_consume(c, &r, 60), BUS_ERR_TIMEOUT);
    assert_true(now_ms() - t0 >= 55);

    /* Another topic stays separate. */
    bus_msg other = {.topic = "fit.other.v1", .key = NULL, .value = "x", .len = 1};
    assert_int_equal(bus_publish(f->b, &other, 1, done_count, &d), BUS_OK);
    assert_int_equal(bus_consume(c, &r, 20), BUS_ERR_TIMEOUT);
    bus_consumer_close(c);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    done_box d = {0};
    bus_msg no_topic = {.topic = NULL, .value = "x", .len = 1};
    bus_msg no_value = {.topic = TOPIC, .value = NULL, .len = 3};
    assert_int_equal(bus_publish(f->b, &no_topic, 1, done_count, &d), BUS_ERR_ARG);
    assert_int_equal(bus_publish(f->b, &no_value, 1, done_count, &d), BUS_ERR_ARG);
    assert_int_equal(bus_publish(f->b, NULL, 2, done_count, &d), BUS_ERR_ARG);
    assert_int_equal(bus_publish(f->b, &no_value, 1, NULL, &d), BUS_ERR_ARG);
    assert_int_equal(d.calls, 0);
    /* An empty publish has nothing to persist: it completes at once. */
    assert_int_equal(bus_publish(f->b, NULL, 0, done_count, &d), BUS_OK);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.last, BUS_OK);

    bus_consumer *c = (bus_consumer *)&d;
    assert_int_equal(bus_consumer_open(f->b, "", TOPIC, 0, &c), BUS_ERR_ARG);
    assert_null(c);
    assert_int_equal(bus_consumer_open(f->b, "g", NULL, 0, &c), BUS_ERR_ARG);

    bus *b = (bus *)&d;
    assert_int_equal(bus_open_embedded(&b, "/nonexistent-dir/sub/bus.db"), BUS_ERR_IO);
    assert_null(b);
    assert_int_equal(bus_open_embedded(&b, ""), BUS_ERR_ARG);
    assert_string_equal(bus_status_str(BUS_ERR_DELIVERY), "delivery failed");
    assert_string_equal(bus_status_str((bus_status)99), "unknown status");
}

/* Committed records stay consumed across close/reopen of the consumer and
 * of the bus; uncommitted ones come back (at-least-once). */
static void test_offsets_resume(void **state)
{
    fixture *f = *state;
    publish_range(f->b, TOPIC, "m", 0, 10);

    bus_consumer *c;
    bus_record r;
    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &c), BUS_OK);
    expect_rec(c, "m0", NULL);
    expect_rec(c, "m1", NULL);
    expect_rec(c, "m2", &r);
    assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
    expect_rec(c, "m3", NULL);
    expect_rec(c, "m4", NULL); /* read but never committed */
    bus_consumer_close(c);

    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &c), BUS_OK);
    expect_rec(c, "m3", NULL);
    expect_rec(c, "m4", NULL);
    expect_rec(c, "m5", &r);
    /* Committing an older record never moves the offset back. */
    bus_record old = r;
    old.offset -= 4;
    assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
    assert_int_equal(bus_consumer_commit(c, &old), BUS_OK);
    /* bus_close() closes the consumer that is still open (and stores). */
    bus_close(f->b);

    assert_int_equal(bus_open_embedded(&f->b, f->path), BUS_OK);
    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &c), BUS_OK);
    for (int i = 6; i < 10; i++) {
        char want[16];
        snprintf(want, sizeof want, "m%d", i);
        expect_rec(c, want, &r);
    }
    assert_int_equal(bus_consume(c, &r, 0), BUS_ERR_TIMEOUT);
    bus_consumer_close(c);
}

static void test_from_end(void **state)
{
    fixture *f = *state;
    publish_range(f->b, TOPIC, "old", 0, 5);
    bus_consumer *tail;
    bus_record r;
    assert_int_equal(bus_consumer_open(f->b, "sse", TOPIC, 1, &tail), BUS_OK);
    assert_int_equal(bus_consume(tail, &r, 0), BUS_ERR_TIMEOUT);
    publish_range(f->b, TOPIC, "new", 0, 2);
    expect_rec(tail, "new0", NULL);
    expect_rec(tail, "new1", &r);
    assert_int_equal(bus_consumer_commit(tail, &r), BUS_OK);
    assert_int_equal(bus_consume(tail, &r, 0), BUS_ERR_TIMEOUT);
    bus_consumer_close(tail);

    /* A from_end consumer stored nothing: the same group name, opened
     * normally, starts from the beginning. */
    bus_consumer *c;
    assert_int_equal(bus_consumer_open(f->b, "sse", TOPIC, 0, &c), BUS_OK);
    expect_rec(c, "old0", NULL);
    bus_consumer_close(c);
}

static void test_groups_independent(void **state)
{
    fixture *f = *state;
    publish_range(f->b, TOPIC, "v", 0, 4);
    bus_consumer *a, *b;
    bus_record r;
    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &a), BUS_OK);
    assert_int_equal(bus_consumer_open(f->b, "stats", TOPIC, 0, &b), BUS_OK);
    for (int i = 0; i < 4; i++) {
        char want[16];
        snprintf(want, sizeof want, "v%d", i);
        expect_rec(a, want, &r);
        assert_int_equal(bus_consumer_commit(a, &r), BUS_OK);
    }
    bus_consumer_close(a);
    expect_rec(b, "v0", NULL);
    bus_consumer_close(b);

    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &a), BUS_OK);
    assert_int_equal(bus_consume(a, &r, 0), BUS_ERR_TIMEOUT);
    assert_int_equal(bus_consumer_open(f->b, "stats", TOPIC, 0, &b), BUS_OK);
    expect_rec(b, "v0", NULL);
    /* bus_close() in teardown closes both. */
}

/* A publish is one transaction: if message 4 of 6 cannot be written, none
 * of them is in the log, done is not called, and the bus keeps working. */
static void test_publish_atomic(void **state)
{
    fixture *f = *state;
    publish_range(f->b, TOPIC, "before", 0, 1);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TRIGGER boom BEFORE INSERT ON log WHEN NEW.value = X'626164'"
                     " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                     NULL, NULL, NULL),
        SQLITE_OK);

    const char *vals[6] = {"t0", "t1", "t2", "bad", "t4", "t5"};
    bus_msg msgs[6];
    for (int i = 0; i < 6; i++)
        msgs[i] = (bus_msg){.topic = TOPIC, .key = NULL, .value = vals[i], .len = strlen(vals[i])};
    done_box d = {0};
    assert_int_equal(bus_publish(f->b, msgs, 6, done_count, &d), BUS_ERR_IO);
    assert_int_equal(d.calls, 0);

    bus_consumer *c;
    bus_record r;
    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &c), BUS_OK);
    expect_rec(c, "before0", NULL);
    assert_int_equal(bus_consume(c, &r, 0), BUS_ERR_TIMEOUT);

    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER boom", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(bus_publish(f->b, msgs, 6, done_count, &d), BUS_OK);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.last, BUS_OK);
    for (int i = 0; i < 6; i++)
        expect_rec(c, vals[i], NULL);
    bus_consumer_close(c);
}

/* More records than one read chunk (256), in order, none skipped. */
static void test_many_in_order(void **state)
{
    fixture *f = *state;
    publish_range(f->b, TOPIC, "n", 0, 1000);
    publish_range(f->b, TOPIC, "n", 1000, 1300);
    bus_consumer *c;
    bus_record r;
    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &c), BUS_OK);
    int64_t last = 0;
    for (int i = 0; i < 1300; i++) {
        char want[16];
        snprintf(want, sizeof want, "n%d", i);
        expect_rec(c, want, &r);
        assert_true(r.offset > last);
        last = r.offset;
    }
    assert_int_equal(bus_consume(c, &r, 0), BUS_ERR_TIMEOUT);
    bus_consumer_close(c);
}

/* Ingest and worker roles run as separate processes on one file: a child
 * publishes while the parent publishes and consumes. Every record arrives
 * exactly once and offsets only grow. */
static void test_two_processes(void **state)
{
    fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bus *b;
        if (bus_open_embedded(&b, f->path) != BUS_OK)
            _exit(2);
        for (int k = 0; k < 20; k++) {
            bus_msg msgs[50];
            char vals[50][16];
            for (int i = 0; i < 50; i++) {
                snprintf(vals[i], sizeof vals[i], "c%d", k * 50 + i);
                msgs[i] = (bus_msg){.topic = TOPIC, .value = vals[i], .len = strlen(vals[i])};
            }
            done_box d = {0};
            if (bus_publish(b, msgs, 50, done_count, &d) != BUS_OK || d.last != BUS_OK)
                _exit(3);
        }
        bus_close(b);
        _exit(0);
    }
    bus_consumer *c;
    assert_int_equal(bus_consumer_open(f->b, "worker", TOPIC, 0, &c), BUS_OK);
    char seen_c[1000] = {0}, seen_p[1000] = {0};
    int got = 0, published = 0;
    int64_t last = 0;
    bus_record r;
    long long until = now_ms() + 30000;
    while (got < 2000 && now_ms() < until) {
        if (published < 1000) {
            publish_range(f->b, TOPIC, "p", published, published + 50);
            published += 50;
        }
        while (bus_consume(c, &r, 5) == BUS_OK) {
            char buf[16];
            rec_text(&r, buf, sizeof buf);
            int id = atoi(buf + 1);
            assert_true(id >= 0 && id < 1000);
            char *seen = buf[0] == 'c' ? seen_c : seen_p;
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
            assert_true(r.offset > last);
            last = r.offset;
            assert_int_equal(bus_consumer_commit(c, &r), BUS_OK);
            got++;
        }
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(got, 2000);
    assert_int_equal(bus_consume(c, &r, 0), BUS_ERR_TIMEOUT);
    bus_consumer_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
