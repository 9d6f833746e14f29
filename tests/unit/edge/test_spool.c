/* test_spool.c - the edge spool: identity, sequence, acks, drop policy, QoS 2 ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

static char path[256];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/fitgate-test-spool-%d.db", getpid());
    unlink(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

static void add_n(spool *s, int n)
{
    for (int i = 0; i < n; i++) {
        char body[64];
        int len = snprintf(body, sizeof body, "{\"i\":%d}", i);
        assert_int_equal(spool_add(s, body, (size_t)len, NULL), SPOOL_OK);
    }
}

typedef struct seen {
    uint64_t first, last;
    size_t n;
} seen;

static void collect(void *ctx, uint64_t seq, const char *json, size_t len)
{
    seen *s = ctx;
    assert_true(len > 0 && json[0] == '{');
    if (s->n++ == 0)
        s->first = seq;
    else
        assert_int_equal(seq, s->last + 1); /* contiguous */
    s->last = seq;
}

static void test_identity_persists_boot_counts(void **state)
{
    (void)state;
    spool *s;
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    uint64_t epoch = spool_epoch(s);
    assert_true(epoch != 0);
    assert_int_equal(spool_boot(s), 1);
    spool_close(s);
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    assert_true(spool_epoch(s) == epoch);
    assert_int_equal(spool_boot(s), 2);
    spool_close(s);
}

static void test_only_committed_is_readable(void **state)
{
    (void)state;
    spool *s;
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    add_n(s, 10);
    assert_true(spool_dirty(s));
    seen v = {0};
    assert_int_equal(spool_read(s, 0, 100, collect, &v), SPOOL_OK);
    assert_int_equal(v.n, 0);
    assert_int_equal(spool_commit(s), SPOOL_OK);
    assert_int_equal(spool_read(s, 0, 100, collect, &v), SPOOL_OK);
    assert_int_equal(v.n, 10);
    assert_int_equal(v.first, 1);
    assert_int_equal(v.last, 10);
    assert_int_equal(spool_committed(s), 10);
    spool_close(s);
}

static void test_ack_deletes_and_sequence_never_reused(void **state)
{
    (void)state;
    spool *s;
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    add_n(s, 20);
    spool_commit(s);
    assert_int_equal(spool_floor(s), 1);
    assert_int_equal(spool_ack(s, 15), SPOOL_OK);
    spool_commit(s);
    assert_int_equal(spool_count(s), 5);
    assert_int_equal(spool_floor(s), 16);
    assert_int_equal(spool_ack(s, 20), SPOOL_OK); /* everything */
    spool_commit(s);
    assert_int_equal(spool_count(s), 0);
    spool_close(s);
    /* Reopen an empty spool: numbering goes on after 20, never from 1. */
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    assert_int_equal(spool_floor(s), 21);
    uint64_t seq = 0;
    assert_int_equal(spool_add(s, "{}", 2, &seq), SPOOL_OK);
    assert_int_equal(seq, 21);
    /* An ack beyond what was ever committed is clamped, not trusted. */
    spool_commit(s);
    assert_int_equal(spool_ack(s, 1000), SPOOL_OK);
    spool_commit(s);
    assert_int_equal(spool_floor(s), 22);
    spool_close(s);
}

static void test_uncommitted_is_lost_on_crash_committed_survives(void **state)
{
    (void)state;
    spool *s;
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    add_n(s, 5);
    spool_commit(s);
    add_n(s, 3);
    spool_close(s); /* close commits what is open */
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    assert_int_equal(spool_count(s), 8);
    assert_int_equal(spool_committed(s), 8);
    spool_close(s);
}

static void test_drop_policy_records_gap(void **state)
{
    (void)state;
    spool *s;
    spool_limits lim = {.max_readings = 100};
    assert_int_equal(spool_open(&s, path, &lim), SPOOL_OK);
    add_n(s, 100);
    spool_commit(s);
    assert_int_equal(spool_dropped(s), 0);
    add_n(s, 1); /* over the bound: the oldest tenth goes */
    spool_commit(s);
    assert_int_equal(spool_dropped(s), 10);
    assert_int_equal(spool_count(s), 91);
    assert_int_equal(spool_floor(s), 11);
    seen v = {0};
    spool_read(s, 0, 1000, collect, &v);
    assert_int_equal(v.first, 11);
    assert_int_equal(v.last, 101);
    spool_close(s);
}

static void test_q2_ids_survive_restart(void **state)
{
    (void)state;
    spool *s;
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    assert_false(spool_q2_held(s, 7));
    assert_int_equal(spool_q2_hold(s, 7), SPOOL_OK);
    assert_int_equal(spool_q2_hold(s, 65535), SPOOL_OK);
    assert_true(spool_q2_held(s, 7));
    spool_commit(s);
    spool_close(s);
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    assert_true(spool_q2_held(s, 7));
    assert_true(spool_q2_held(s, 65535));
    assert_false(spool_q2_held(s, 8));
    assert_int_equal(spool_q2_release(s, 7), SPOOL_OK);
    spool_commit(s);
    spool_close(s);
    assert_int_equal(spool_open(&s, path, NULL), SPOOL_OK);
    assert_false(spool_q2_held(s, 7));
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_persists_boot_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_committed_is_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_deletes_and_sequence_never_reused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_is_lost_on_crash_committed_survives, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_drop_policy_records_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_q2_ids_survive_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
