/* The legacy shop adapter against the dev seed (cloud/legacy/devdb/seed.sql):
 * crypt(3) logins of both kinds, no enumeration, orders mapped to display
 * states, and the store never written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include <sqlite3.h>

#include "crypto.h"
#include "legacy.h"

static char db_path[256];

static int setup(void **state)
{
    (void)state;
    snprintf(db_path, sizeof db_path, "/tmp/test_legacy_%d.db", (int)getpid());
    unlink(db_path);
    char *sql = test_slurp(FITGATE_SOURCE_DIR "/cloud/legacy/devdb/seed.sql", NULL);
    if (!sql)
        return -1;
    sqlite3 *db;
    int rc = sqlite3_open(db_path, &db) == SQLITE_OK &&
                     sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    sqlite3_close(db);
    free(sql);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    unlink(db_path);
    return 0;
}

static void file_digest(uint8_t out[CRYPTO_SHA256_LEN], struct stat *st)
{
    char *s = test_slurp(db_path, NULL);
    assert_non_null(s);
    assert_int_equal(stat(db_path, st), 0);
    assert_int_equal(crypto_sha256(s, (size_t)st->st_size, out), 0);
    free(s);
}

static void test_login_bcrypt_and_sha512(void **state)
{
    (void)state;
    legacy *l;
    assert_int_equal(legacy_open(&l, db_path), LEGACY_OK);
    int64_t id = 0;
    assert_int_equal(legacy_verify_login(l, "anna@example.ru", "anna-secret-1", &id), LEGACY_OK);
    assert_int_equal(id, 1001);
    /* E-mail is case-insensitive, phone works too. */
    id = 0;
    assert_int_equal(legacy_verify_login(l, "ANNA@Example.RU", "anna-secret-1", &id), LEGACY_OK);
    assert_int_equal(id, 1001);
    id = 0;
    assert_int_equal(legacy_verify_login(l, "+79161234567", "anna-secret-1", &id), LEGACY_OK);
    assert_int_equal(id, 1001);
    /* sha512-crypt */
    id = 0;
    assert_int_equal(legacy_verify_login(l, "boris@example.ru", "boris-pass-2", &id), LEGACY_OK);
    assert_int_equal(id, 1002);
    char name[64];
    assert_int_equal(legacy_account_name(l, 1002, name, sizeof name), LEGACY_OK);
    assert_string_equal(name, "Борис Петров");
    assert_int_equal(legacy_account_name(l, 9999, name, sizeof name), LEGACY_NOT_FOUND);
    legacy_close(l);
}

static void test_login_refused(void **state)
{
    (void)state;
    legacy *l;
    assert_int_equal(legacy_open(&l, db_path), LEGACY_OK);
    int64_t id = -7;
    assert_int_equal(legacy_verify_login(l, "anna@example.ru", "anna-secret-2", &id),
                     LEGACY_NOT_FOUND);
    assert_int_equal(legacy_verify_login(l, "anna@example.ru", "", &id), LEGACY_NOT_FOUND);
    assert_int_equal(legacy_verify_login(l, "boris@example.ru", "anna-secret-1", &id),
                     LEGACY_NOT_FOUND);
    /* inactive account with the right password */
    assert_int_equal(legacy_verify_login(l, "victor@example.ru", "victor-pw-3", &id),
                     LEGACY_NOT_FOUND);
    /* a disabled (non-crypt) hash never matches, even with its own text */
    assert_int_equal(legacy_verify_login(l, "olga@example.ru", "!disabled-md5-era", &id),
                     LEGACY_NOT_FOUND);
    assert_int_equal(legacy_verify_login(l, "nobody@example.ru", "x", &id), LEGACY_NOT_FOUND);
    assert_int_equal(legacy_verify_login(l, "", "x", &id), LEGACY_NOT_FOUND);
    assert_int_equal(legacy_verify_login(l, NULL, "x", &id), LEGACY_NOT_FOUND);
    /* SQL in the login is only data */
    assert_int_equal(legacy_verify_login(l, "' OR 1=1 --", "x", &id), LEGACY_NOT_FOUND);
    assert_int_equal(id, -7);
    legacy_close(l);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* An unknown login costs a hash too: its time is of the same order as a
 * known login's wrong password (not a fast path that leaks which logins
 * exist). bcrypt cost 10 takes tens of ms; a lookup alone takes microseconds. */
static void test_unknown_login_still_hashes(void **state)
{
    (void)state;
    legacy *l;
    assert_int_equal(legacy_open(&l, db_path), LEGACY_OK);
    int64_t id;
    double known = 1e9, unknown = 1e9;
    for (int i = 0; i < 5; i++) { /* minimum of 5: a loaded machine only adds time */
        double t0 = now_s();
        legacy_verify_login(l, "anna@example.ru", "wrong", &id);
        double t1 = now_s();
        legacy_verify_login(l, "ghost@example.ru", "wrong", &id);
        double t2 = now_s();
        known = t1 - t0 < known ? t1 - t0 : known;
        unknown = t2 - t1 < unknown ? t2 - t1 : unknown;
    }
    assert_true(known > 0.005);
    assert_true(unknown > known / 3);
    assert_true(unknown < known * 3);
    legacy_close(l);
}

typedef struct collected {
    int n;
    int64_t ids[16];
    char states[16][24], legacy_status[16][24], numbers[16][24];
    int64_t totals[16], line_sum[16];
    size_t lines[16];
    char first_sku[16][24];
} collected;

static int collect(void *ctx, const legacy_order *o)
{
    collected *c = ctx;
    if (c->n >= 16)
        return 1;
    int i = c->n++;
    c->ids[i] = o->id;
    snprintf(c->states[i], sizeof c->states[i], "%s", o->state);
    snprintf(c->legacy_status[i], sizeof c->legacy_status[i], "%s", o->legacy_status);
    snprintf(c->numbers[i], sizeof c->numbers[i], "%s", o->number);
    c->totals[i] = o->total_minor;
    c->lines[i] = o->n_lines;
    c->line_sum[i] = 0;
    for (size_t j = 0; j < o->n_lines; j++)
        c->line_sum[i] += o->lines[j].qty * o->lines[j].price_minor;
    snprintf(c->first_sku[i], sizeof c->first_sku[i], "%s", o->n_lines ? o->lines[0].sku : "");
    return 0;
}

static void test_orders_mapped(void **state)
{
    (void)state;
    legacy *l;
    assert_int_equal(legacy_open(&l, db_path), LEGACY_OK);
    collected c = {0};
    assert_int_equal(legacy_list_orders(l, 1001, 0, collect, &c), LEGACY_OK);
    assert_int_equal(c.n, 4);
    /* newest first */
    assert_int_equal(c.ids[0], 50004);
    assert_string_equal(c.states[0], "pending_payment");
    assert_string_equal(c.legacy_status[0], "wait_payment");
    assert_string_equal(c.states[1], "cancelled");
    assert_string_equal(c.states[2], "shipped");
    assert_int_equal(c.ids[3], 50001);
    assert_string_equal(c.states[3], "completed");
    assert_string_equal(c.numbers[3], "A-2021-0001");
    assert_int_equal(c.lines[3], 2);
    assert_string_equal(c.first_sku[3], "HRM-PRO");
    for (int i = 0; i < c.n; i++)
        assert_int_equal(c.totals[i], c.line_sum[i]);

    collected b = {0};
    assert_int_equal(legacy_list_orders(l, 1002, 0, collect, &b), LEGACY_OK);
    assert_int_equal(b.n, 3);
    assert_string_equal(b.states[0], "unknown"); /* archived_v1 */
    assert_string_equal(b.states[1], "processing");
    assert_string_equal(b.states[2], "refunded");

    collected lim = {0};
    assert_int_equal(legacy_list_orders(l, 1001, 2, collect, &lim), LEGACY_OK);
    assert_int_equal(lim.n, 2);

    collected none = {0};
    assert_int_equal(legacy_list_orders(l, 4242, 0, collect, &none), LEGACY_OK);
    assert_int_equal(none.n, 0);

    collected one = {0};
    assert_int_equal(legacy_get_order(l, 1001, 50002, collect, &one), LEGACY_OK);
    assert_int_equal(one.n, 1);
    assert_string_equal(one.states[0], "shipped");
    /* another customer's order is not found */
    collected other = {0};
    assert_int_equal(legacy_get_order(l, 1001, 50005, collect, &other), LEGACY_NOT_FOUND);
    assert_int_equal(other.n, 0);
    legacy_close(l);
}

static void test_status_map(void **state)
{
    (void)state;
    assert_string_equal(legacy_map_status("new"), "pending_payment");
    assert_string_equal(legacy_map_status("PAID"), "paid");
    assert_string_equal(legacy_map_status("assembled"), "processing");
    assert_string_equal(legacy_map_status("delivered"), "delivered");
    assert_string_equal(legacy_map_status(""), "unknown");
    assert_string_equal(legacy_map_status(NULL), "unknown");
}

/* Nothing the adapter does changes the file; a URI asking for read-write
 * access is refused outright. */
static void test_read_only(void **state)
{
    (void)state;
    uint8_t before[CRYPTO_SHA256_LEN], after[CRYPTO_SHA256_LEN];
    struct stat s0, s1;
    file_digest(before, &s0);
    char uri[300];
    snprintf(uri, sizeof uri, "file:%s?mode=rw", db_path);
    legacy *l;
    assert_int_equal(legacy_open(&l, uri), LEGACY_ERR);
    snprintf(uri, sizeof uri, "file:%s", db_path);
    assert_int_equal(legacy_open(&l, uri), LEGACY_OK);
    legacy_close(l);
    assert_int_equal(legacy_open(&l, db_path), LEGACY_OK);
    int64_t id;
    collected c = {0};
    assert_int_equal(legacy_verify_login(l, "anna@example.ru", "anna-secret-1", &id), LEGACY_OK);
    assert_int_equal(legacy_list_orders(l, 1001, 0, collect, &c), LEGACY_OK);
    legacy_close(l);
    file_digest(after, &s1);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(s0.st_mtime, s1.st_mtime);
}

static void test_open_errors(void **state)
{
    (void)state;
    legacy *l = (legacy *)1;
    assert_int_equal(legacy_open(&l, "/nonexistent/legacy.db"), LEGACY_ERR);
    assert_null(l);
    assert_int_equal(legacy_open(&l, ""), LEGACY_ERR);
    /* wrong schema */
    char p[256];
    snprintf(p, sizeof p, "/tmp/test_legacy_bad_%d.db", (int)getpid());
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE customers (id INTEGER)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(legacy_open(&l, p), LEGACY_ERR);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_bcrypt_and_sha512),
        cmocka_unit_test(test_login_refused),
        cmocka_unit_test(test_unknown_login_still_hashes),
        cmocka_unit_test(test_orders_mapped),
        cmocka_unit_test(test_status_map),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
