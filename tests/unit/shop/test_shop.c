/* The shop core against a fake payment provider: the order state machine with
 * history and outbox events, idempotency keys (replay, 422, 409, resume after
 * an unknown outcome), stock reservation and release, no oversell under
 * concurrent checkouts from separate connections, step-up, late payments. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "events.h"
#include "shop_int.h"

static char db_path[256], cat_path[256];

/* ---- a fake provider ---- */
typedef struct fake {
    pthread_mutex_t mu;
    int creates, gets, captures, cancels, refunds;
    char last_create_key[64];
    pay_status create_result;
    pay_state get_state;
    int block; /* create waits while set */
    int in_create;
} fake;
static fake fk = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pay_status f_create(void *impl, const pay_request *rq, const char *key, pay_payment *out)
{
    fake *f = impl;
    pthread_mutex_lock(&f->mu);
    f->creates++;
    f->in_create++;
    snprintf(f->last_create_key, sizeof f->last_create_key, "%s", key);
    pay_status r = f->create_result;
    pthread_mutex_unlock(&f->mu);
    while (__atomic_load_n(&f->block, __ATOMIC_SEQ_CST))
        usleep(1000);
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "pay-%lld", (long long)rq->order_id);
    snprintf(out->url, sizeof out->url, "https://pay.example/%lld", (long long)rq->order_id);
    snprintf(out->currency, sizeof out->currency, "%s", rq->currency);
    out->amount_minor = rq->amount_minor;
    out->order_id = rq->order_id;
    out->state = PAY_STATE_PENDING;
    __atomic_fetch_sub(&f->in_create, 1, __ATOMIC_SEQ_CST);
    return r;
}

static pay_status f_get(void *impl, const char *id, pay_payment *out)
{
    fake *f = impl;
    f->gets++;
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    out->state = f->get_state;
    return PAY_OK;
}

static pay_status f_capture(void *impl, const char *id, int64_t minor, const char *cur,
                            const char *key, pay_payment *out)
{
    fake *f = impl;
    (void)key;
    f->captures++;
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->currency, sizeof out->currency, "%s", cur);
    out->amount_minor = minor;
    out->state = PAY_STATE_SUCCEEDED;
    return PAY_OK;
}

static pay_status f_cancel(void *impl, const char *id, const char *key, pay_payment *out)
{
    fake *f = impl;
    (void)key;
    f->cancels++;
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    out->state = PAY_STATE_CANCELED;
    return PAY_OK;
}

static pay_status f_refund(void *impl, const char *id, int64_t minor, const char *cur,
                           const char *key, char *refund_id)
{
    fake *f = impl;
    (void)id, (void)minor, (void)cur, (void)key;
    f->refunds++;
    snprintf(refund_id, 72, "refund-%d", f->refunds);
    return PAY_OK;
}

static shop *open_shop(int64_t timeout_s, int64_t stepup)
{
    shop_settings s;
    assert_int_equal(shop_settings_load(&s, NULL), 0);
    snprintf(s.catalogue_file, sizeof s.catalogue_file, "%s", cat_path);
    s.payment_timeout_s = timeout_s;
    s.stepup_amount_minor = stepup;
    shop *sh;
    assert_int_equal(shop_new(&sh, &s, db_path, 0), 0);
    pay_provider p = {.name = "fake",
                      .impl = &fk,
                      .create = f_create,
                      .get = f_get,
                      .capture = f_capture,
                      .cancel = f_cancel,
                      .refund = f_refund};
    assert_int_equal(shop_set_provider(sh, &p), 0);
    return sh;
}

static int setup(void **state)
{
    (void)state;
    snprintf(db_path, sizeof db_path, "/tmp/test_shop_%d.db", (int)getpid());
    snprintf(cat_path, sizeof cat_path, "/tmp/test_shop_%d.json", (int)getpid());
    unlink(db_path);
    FILE *f = fopen(cat_path, "w");
    if (!f)
        return -1;
    fputs("{\"products\":[{\"slug\":\"strap\",\"title\":\"HR strap\",\"variants\":["
          "{\"sku\":\"STRAP-M\",\"title\":\"HR strap M\",\"price_minor\":399000,"
          "\"currency\":\"RUB\",\"stock\":10},"
          "{\"sku\":\"STRAP-L\",\"title\":\"HR strap L\",\"price_minor\":399000,"
          "\"currency\":\"RUB\",\"stock\":3}]},"
          "{\"slug\":\"bottle\",\"title\":\"Bottle\",\"variants\":["
          "{\"sku\":\"BOTTLE\",\"title\":\"Bottle 750\",\"price_minor\":129900,"
          "\"currency\":\"RUB\",\"stock\":5}]},"
          "{\"slug\":\"gel\",\"title\":\"Gel\",\"variants\":["
          "{\"sku\":\"GEL\",\"title\":\"Gel\",\"price_minor\":5000,"
          "\"currency\":\"RUB\",\"stock\":20}]}]}",
          f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[300];
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path);
    unlink(p);
    unlink(cat_path);
    return 0;
}

static void reset_fake(void)
{
    fk.creates = fk.gets = fk.captures = fk.cancels = fk.refunds = 0;
    fk.create_result = PAY_OK;
    fk.get_state = PAY_STATE_PENDING;
    fk.block = 0;
}

static int64_t sql_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int64_t stock_of(const char *sku)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT stock FROM shop_variants WHERE sku = '%s'", sku);
    return sql_int(sql);
}

static api_principal user(int64_t id)
{
    api_principal p = {.scope = API_SCOPE_USER, .user_id = id};
    return p;
}

/* Checkout; returns the status, the order id in *order (0 when none). */
static unsigned checkout(shop *sh, const api_principal *who, const char *key, const char *body,
                         int64_t *order, char **resp_out, int *replayed)
{
    unsigned status = 0;
    char *resp = NULL;
    int rep = 0;
    assert_int_equal(shop_checkout(sh, who, key, body, strlen(body), &status, &resp, &rep), 0);
    assert_non_null(resp);
    cJSON *j = cJSON_Parse(resp);
    assert_non_null(j);
    const cJSON *id =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "order"), "id");
    if (order)
        *order = cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0;
    cJSON_Delete(j);
    if (replayed)
        *replayed = rep;
    if (resp_out)
        *resp_out = resp;
    else
        free(resp);
    return status;
}

static char *state_of(shop *sh, int64_t order)
{
    static char buf[32];
    char *j = shop_order_json(sh, order, 0);
    assert_non_null(j);
    cJSON *o = cJSON_Parse(j);
    snprintf(buf, sizeof buf, "%s", cJSON_GetObjectItemCaseSensitive(o, "state")->valuestring);
    cJSON_Delete(o);
    free(j);
    return buf;
}

static void pay(shop *sh, int64_t order, pay_state st, int64_t amount)
{
    pay_payment p = {.state = st, .amount_minor = amount, .order_id = order};
    snprintf(p.id, sizeof p.id, "pay-%lld", (long long)order);
    snprintf(p.currency, sizeof p.currency, "RUB");
    shop_apply_payment(sh, order, &p, "test");
}

/* The events of one order in the outbox, in order, as their types. */
static int order_events(int64_t order, char types[][64], int max, char *last_summary)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = 0;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT value FROM outbox WHERE topic = 'fit.orders.v1' "
                                        "ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    char subject[48];
    snprintf(subject, sizeof subject, "order/%lld", (long long)order);
    while (sqlite3_step(st) == SQLITE_ROW && n < max) {
        evt e;
        assert_int_equal(
            evt_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &e), 0);
        if (!strcmp(e.subject, subject)) {
            snprintf(types[n++], 64, "%s", e.type);
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(e.data, "items_summary");
            const cJSON *num = cJSON_GetObjectItemCaseSensitive(e.data, "number");
            const cJSON *tot = cJSON_GetObjectItemCaseSensitive(e.data, "total");
            assert_true(cJSON_IsString(s) && cJSON_IsString(num) && cJSON_IsString(tot));
            if (last_summary)
                snprintf(last_summary, 256, "%s", s->valuestring);
        }
        evt_free(&e);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_catalogue_and_cart(void **state)
{
    (void)state;
    shop *sh = open_shop(900, 0);
    char *p = shop_products_json(sh);
    assert_non_null(p);
    assert_non_null(strstr(p, "\"sku\":\"STRAP-M\""));
    assert_non_null(strstr(p, "\"price\":\"3990.00\""));
    free(p);
    api_principal u = user(7);
    /* checkout from the cart: prices are fixed at checkout, cart emptied */
    cJSON *items = cJSON_Parse("[{\"sku\":\"BOTTLE\",\"qty\":2},{\"sku\":\"GEL\",\"qty\":1}]");
    char msg[160];
    assert_int_equal(shop_cart_put(sh, 7, items, msg, sizeof msg), 0);
    cJSON_Delete(items);
    items = cJSON_Parse("[{\"sku\":\"NOPE\",\"qty\":1}]");
    assert_int_equal(shop_cart_put(sh, 7, items, msg, sizeof msg), 1);
    cJSON_Delete(items);
    char *c = shop_cart_json(sh, 7);
    assert_non_null(strstr(c, "\"total_minor\":264800"));
    free(c);
    reset_fake();
    int64_t order;
    assert_int_equal(checkout(sh, &u, "cart-1", "{\"provider\":\"fake\"}", &order, NULL, NULL),
                     201);
    assert_true(order > 0);
    c = shop_cart_json(sh, 7);
    assert_non_null(strstr(c, "\"items\":[]"));
    free(c);
    assert_int_equal(stock_of("BOTTLE"), 3);
    /* price change after checkout does not touch the order */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT total_minor FROM shop_orders WHERE id = %lld",
             (long long)order);
    assert_int_equal(sql_int(sql), 264800);
    shop_free(sh);
}

static void test_state_machine(void **state)
{
    (void)state;
    shop *sh = open_shop(900, 0);
    reset_fake();
    api_principal u = user(8);
    int64_t order;
    assert_int_equal(checkout(sh, &u, "sm-1",
                              "{\"provider\":\"fake\",\"items\":[{\"sku\":\"STRAP-M\",\"qty\":1}]}",
                              &order, NULL, NULL),
                     201);
    assert_string_equal(state_of(sh, order), "pending_payment");
    /* not allowed before payment */
    assert_int_equal(shop_order_action(sh, order, 0, "ship", "op"), 1);
    assert_int_equal(shop_order_action(sh, order, 0, "refund", "op"), 1);
    /* a wrong amount is never acted on */
    pay(sh, order, PAY_STATE_SUCCEEDED, 1);
    assert_string_equal(state_of(sh, order), "pending_payment");
    /* nor a second payment that names this order */
    pay_payment other = {.state = PAY_STATE_SUCCEEDED, .amount_minor = 399000};
    snprintf(other.id, sizeof other.id, "someone-else");
    snprintf(other.currency, sizeof other.currency, "RUB");
    shop_apply_payment(sh, order, &other, "test");
    assert_string_equal(state_of(sh, order), "pending_payment");
    /* held money is captured, then the order is paid */
    pay(sh, order, PAY_STATE_AUTHORISED, 399000);
    assert_int_equal(fk.captures, 1);
    assert_string_equal(state_of(sh, order), "paid");
    /* duplicates and late ones change nothing */
    pay(sh, order, PAY_STATE_SUCCEEDED, 399000);
    pay(sh, order, PAY_STATE_AUTHORISED, 399000);
    pay(sh, order, PAY_STATE_CANCELED, 399000);
    assert_int_equal(fk.captures, 1);
    assert_string_equal(state_of(sh, order), "paid");
    /* the user may cancel only while it waits for payment */
    assert_int_equal(shop_order_action(sh, order, 8, "cancel", "user"), 1);
    assert_int_equal(shop_order_action(sh, order, 9, "cancel", "user"), 2);
    assert_int_equal(shop_order_action(sh, order, 0, "ship", "op"), 0);
    assert_string_equal(state_of(sh, order), "shipped");
    assert_int_equal(shop_order_action(sh, order, 0, "ship", "op"), 1);
    assert_int_equal(shop_order_action(sh, order, 0, "deliver", "op"), 0);
    assert_int_equal(shop_order_action(sh, order, 0, "complete", "op"), 0);
    assert_int_equal(shop_order_action(sh, order, 0, "refund", "op"), 0);
    assert_int_equal(fk.refunds, 1);
    assert_string_equal(state_of(sh, order), "refunded");
    assert_int_equal(shop_order_action(sh, order, 0, "refund", "op"), 1);
    assert_int_equal(shop_order_action(sh, 999999, 0, "ship", "op"), 2);
    /* one history row per transition */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM shop_order_history WHERE order_id = %lld",
             (long long)order);
    assert_int_equal(sql_int(sql),
                     7); /* placed paid processing shipped delivered completed refunded */
    char types[16][64], summary[256];
    int n = order_events(order, types, 16, summary);
    assert_int_equal(n, 6); /* processing is not user-visible */
    assert_string_equal(types[0], EVT_TYPE_ORDER_PLACED);
    assert_string_equal(types[1], EVT_TYPE_ORDER_PAID);
    assert_string_equal(types[2], EVT_TYPE_ORDER_SHIPPED);
    assert_string_equal(types[3], EVT_TYPE_ORDER_DELIVERED);
    assert_string_equal(types[4], EVT_TYPE_ORDER_COMPLETED);
    assert_string_equal(types[5], EVT_TYPE_ORDER_REFUNDED);
    assert_string_equal(summary, "HR strap M \xc3\x97"
                                 "1");
    shop_free(sh);
}

static void test_idempotency(void **state)
{
    (void)state;
    shop *sh = open_shop(900, 0);
    reset_fake();
    api_principal u = user(9);
    const char *body = "{\"provider\":\"fake\",\"items\":[{\"sku\":\"GEL\",\"qty\":1}]}";
    int64_t o1, o2;
    char *r1, *r2;
    int rep;
    assert_int_equal(checkout(sh, &u, "idem-1", body, &o1, &r1, &rep), 201);
    assert_int_equal(rep, 0);
    int64_t stock = stock_of("GEL");
    /* same key + same body: the stored reply, nothing new */
    assert_int_equal(checkout(sh, &u, "idem-1", body, &o2, &r2, &rep), 201);
    assert_int_equal(rep, 1);
    assert_string_equal(r1, r2);
    assert_int_equal(o1, o2);
    assert_int_equal(fk.creates, 1);
    assert_int_equal(stock_of("GEL"), stock);
    free(r1);
    free(r2);
    /* same key + other body: 422 */
    assert_int_equal(checkout(sh, &u, "idem-1",
                              "{\"provider\":\"fake\",\"items\":[{\"sku\":\"GEL\",\"qty\":2}]}",
                              NULL, NULL, NULL),
                     422);
    /* the key is per user: another user's same key is a new checkout */
    api_principal u2 = user(10);
    assert_int_equal(checkout(sh, &u2, "idem-1", body, &o2, NULL, NULL), 201);
    assert_true(o2 != o1);
    /* kept at least 24 h: a sweep a day later still replays; after that the key is free */
    shop_sweep(sh, shop_now_ms() + 23 * 3600 * 1000LL);
    assert_int_equal(checkout(sh, &u, "idem-1", body, &o2, NULL, &rep), 201);
    assert_int_equal(rep, 1);
    assert_int_equal(o2, o1);
    shop_sweep(sh, shop_now_ms() + 25 * 3600 * 1000LL);
    assert_int_equal(checkout(sh, &u, "idem-1", body, &o2, NULL, &rep), 201);
    assert_int_equal(rep, 0);
    assert_true(o2 != o1);
    /* no key: 400 */
    assert_int_equal(checkout(sh, &u, "", body, NULL, NULL, NULL), 400);
    shop_free(sh);
}

typedef struct co_arg {
    shop *sh;
    const char *key, *body;
    int64_t user;
    unsigned status;
} co_arg;

static void *co_thread(void *a)
{
    co_arg *c = a;
    api_principal u = user(c->user);
    unsigned status = 0;
    char *resp = NULL;
    int rep;
    shop_checkout(c->sh, &u, c->key, c->body, strlen(c->body), &status, &resp, &rep);
    free(resp);
    c->status = status;
    return NULL;
}

/* A retry while the first request still waits for the provider: 409. */
static void test_concurrent_retry_409(void **state)
{
    (void)state;
    shop *sh = open_shop(900, 0);
    reset_fake();
    fk.block = 1;
    const char *body = "{\"provider\":\"fake\",\"items\":[{\"sku\":\"BOTTLE\",\"qty\":1}]}";
    co_arg first = {.sh = sh, .key = "conc-1", .body = body, .user = 11};
    pthread_t t;
    pthread_create(&t, NULL, co_thread, &first);
    while (!__atomic_load_n(&fk.in_create, __ATOMIC_SEQ_CST))
        usleep(1000);
    api_principal u = user(11);
    assert_int_equal(checkout(sh, &u, "conc-1", body, NULL, NULL, NULL), 409);
    __atomic_store_n(&fk.block, 0, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    assert_int_equal(first.status, 201);
    int rep;
    assert_int_equal(checkout(sh, &u, "conc-1", body, NULL, NULL, &rep), 201);
    assert_int_equal(rep, 1);
    assert_int_equal(fk.creates, 1);
    shop_free(sh);
}

/* The provider's answer is lost (timeout): 503, the key stays open, and the
 * retry asks the provider again with the same provider key. */
static void test_unknown_outcome_resumes(void **state)
{
    (void)state;
    shop *sh = open_shop(900, 0);
    reset_fake();
    fk.create_result = PAY_UNAVAILABLE;
    api_principal u = user(12);
    const char *body = "{\"provider\":\"fake\",\"items\":[{\"sku\":\"STRAP-M\",\"qty\":1}]}";
    int64_t o1, o2;
    assert_int_equal(checkout(sh, &u, "lost-1", body, &o1, NULL, NULL), 503);
    char key1[64];
    snprintf(key1, sizeof key1, "%s", fk.last_create_key);
    int64_t stock = stock_of("STRAP-M");
    fk.create_result = PAY_OK;
    int rep;
    assert_int_equal(checkout(sh, &u, "lost-1", body, &o2, NULL, &rep), 201);
    assert_int_equal(rep, 0);
    assert_int_equal(o1, o2);
    assert_int_equal(fk.creates, 2);
    assert_string_equal(fk.last_create_key, key1);
    assert_int_equal(stock_of("STRAP-M"), stock); /* reserved once */
    assert_int_equal(checkout(sh, &u, "lost-1", body, &o2, NULL, &rep), 201);
    assert_int_equal(rep, 1);
    shop_free(sh);
}

/* A crash between placing the order and creating the payment: the next
 * process (new boot id) finishes it in its sweep, with the same key. */
static void test_crash_recovery_sweep(void **state)
{
    (void)state;
    shop *sh = open_shop(900, 0);
    reset_fake();
    fk.create_result = PAY_UNAVAILABLE;
    api_principal u = user(13);
    const char *body = "{\"provider\":\"fake\",\"items\":[{\"sku\":\"GEL\",\"qty\":1}]}";
    int64_t order;
    assert_int_equal(checkout(sh, &u, "crash-1", body, &order, NULL, NULL), 503);
    shop_free(sh);
    sh = open_shop(900, 0);
    fk.create_result = PAY_OK;
    shop_sweep(sh, shop_now_ms());
    assert_int_equal(fk.creates, 2);
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM shop_orders WHERE id = %lld AND payment_id = 'pay-%lld'",
             (long long)order, (long long)order);
    assert_int_equal(sql_int(sql), 1);
    int rep;
    assert_int_equal(checkout(sh, &u, "crash-1", body, NULL, NULL, &rep), 201);
    assert_int_equal(rep, 1);
    assert_int_equal(fk.creates, 2);
    shop_free(sh);
}

static void test_decline_releases_stock(void **state)
{
    (void)state;
    shop *sh = open_shop(900, 0);
    reset_fake();
    fk.create_result = PAY_DECLINED;
    api_principal u = user(14);
    int64_t before = stock_of("BOTTLE"), order;
    assert_int_equal(checkout(sh, &u, "decl-1",
                              "{\"provider\":\"fake\",\"items\":[{\"sku\":\"BOTTLE\",\"qty\":2}]}",
                              &order, NULL, NULL),
                     402);
    assert_string_equal(state_of(sh, order), "cancelled");
    assert_int_equal(stock_of("BOTTLE"), before);
    /* a payment canceled later (card declined) cancels and releases too */
    fk.create_result = PAY_OK;
    assert_int_equal(checkout(sh, &u, "decl-2",
                              "{\"provider\":\"fake\",\"items\":[{\"sku\":\"BOTTLE\",\"qty\":2}]}",
                              &order, NULL, NULL),
                     201);
    assert_int_equal(stock_of("BOTTLE"), before - 2);
    pay(sh, order, PAY_STATE_CANCELED, 259800);
    assert_string_equal(state_of(sh, order), "cancelled");
    assert_int_equal(stock_of("BOTTLE"), before);
    pay(sh, order, PAY_STATE_CANCELED, 259800); /* duplicate: released once */
    assert_int_equal(stock_of("BOTTLE"), before);
    shop_free(sh);
}

/* Timeout: the sweep re-fetches, cancels and releases; a late authorisation
 * is voided, a late success refunded. */
static void test_timeout_then_late_payment(void **state)
{
    (void)state;
    shop *sh = open_shop(1, 0);
    reset_fake();
    api_principal u = user(15);
    int64_t before = stock_of("STRAP-L"), o1, o2;
    assert_int_equal(checkout(sh, &u, "late-1",
                              "{\"provider\":\"fake\",\"items\":[{\"sku\":\"STRAP-L\",\"qty\":1}]}",
                              &o1, NULL, NULL),
                     201);
    assert_int_equal(checkout(sh, &u, "late-2",
                              "{\"provider\":\"fake\",\"items\":[{\"sku\":\"STRAP-L\",\"qty\":1}]}",
                              &o2, NULL, NULL),
                     201);
    assert_int_equal(shop_sweep(sh, shop_now_ms()), 0); /* not yet */
    fk.get_state = PAY_STATE_PENDING;
    assert_int_equal(shop_sweep(sh, shop_now_ms() + 2000), 2);
    assert_true(fk.gets >= 2);
    assert_string_equal(state_of(sh, o1), "cancelled");
    assert_int_equal(stock_of("STRAP-L"), before);
    pay(sh, o1, PAY_STATE_AUTHORISED, 399000);
    assert_int_equal(fk.cancels, 1);
    assert_int_equal(fk.captures, 0);
    pay(sh, o2, PAY_STATE_SUCCEEDED, 399000);
    assert_int_equal(fk.refunds, 1);
    assert_string_equal(state_of(sh, o1), "cancelled");
    assert_string_equal(state_of(sh, o2), "cancelled");
    /* a sweep that finds the payment went through marks it paid instead */
    int64_t o3;
    assert_int_equal(checkout(sh, &u, "late-3",
                              "{\"provider\":\"fake\",\"items\":[{\"sku\":\"STRAP-L\",\"qty\":1}]}",
                              &o3, NULL, NULL),
                     201);
    shop_free(sh);
    shop *sh2 = open_shop(1, 0);
    fk.get_state = PAY_STATE_SUCCEEDED;
    /* f_get returns no amount: a mismatch is never acted on, so it stays */
    shop_sweep(sh2, shop_now_ms() + 2000);
    assert_string_equal(state_of(sh2, o3), "pending_payment");
    shop_free(sh2);
}

typedef struct race {
    int64_t user;
    unsigned status;
} race;

static void *race_thread(void *a)
{
    race *r = a;
    shop *sh = open_shop(900, 0);
    api_principal u = user(r->user);
    unsigned status = 0;
    char *resp = NULL;
    int rep;
    char key[32];
    snprintf(key, sizeof key, "race-%lld", (long long)r->user);
    const char *body = "{\"provider\":\"fake\",\"items\":[{\"sku\":\"RACE\",\"qty\":1}]}";
    shop_checkout(sh, &u, key, body, strlen(body), &status, &resp, &rep);
    free(resp);
    r->status = status;
    shop_free(sh);
    return NULL;
}

/* 16 buyers, each with its own connection, for the last 5 items. */
static void test_no_oversell(void **state)
{
    (void)state;
    sqlite3 *db;
    shop *sh = open_shop(900, 0);
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO shop_variants VALUES ('RACE', 1, 'Race item', "
                                  "100, 'RUB', 5)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    reset_fake();
    enum { N = 16 };
    race r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (race){.user = 1000 + i};
        pthread_create(&t[i], NULL, race_thread, &r[i]);
    }
    int ok = 0, sold_out = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok += r[i].status == 201;
        sold_out += r[i].status == 409;
    }
    assert_int_equal(ok, 5);
    assert_int_equal(sold_out, N - 5);
    assert_int_equal(stock_of("RACE"), 0);
    assert_int_equal(sql_int("SELECT sum(qty) FROM shop_order_lines WHERE sku = 'RACE'"), 5);
    shop_free(sh);
}

static void test_stepup(void **state)
{
    (void)state;
    shop *sh = open_shop(900, 100000);
    reset_fake();
    api_principal u = user(16);
    const char *big = "{\"provider\":\"fake\",\"items\":[{\"sku\":\"STRAP-M\",\"qty\":1}]}";
    const char *small = "{\"provider\":\"fake\",\"items\":[{\"sku\":\"GEL\",\"qty\":1}]}";
    int64_t before = stock_of("STRAP-M");
    assert_int_equal(checkout(sh, &u, "big-1", big, NULL, NULL, NULL), 403);
    assert_int_equal(stock_of("STRAP-M"), before);
    assert_int_equal(checkout(sh, &u, "small-1", small, NULL, NULL, NULL), 201);
    u.mfa_ms = shop_now_ms() - 3600 * 1000; /* too long ago */
    assert_int_equal(checkout(sh, &u, "big-2", big, NULL, NULL, NULL), 403);
    u.mfa_ms = shop_now_ms() - 1000;
    assert_int_equal(checkout(sh, &u, "big-3", big, NULL, NULL, NULL), 201);
    shop_free(sh);
}

static void test_parsers(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(pay_amount_parse("1299.00", &v), 0);
    assert_int_equal(v, 129900);
    assert_int_equal(pay_amount_parse("0.05", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(pay_amount_parse("1299", &v), -1);
    assert_int_equal(pay_amount_parse("1299.0", &v), -1);
    assert_int_equal(pay_amount_parse("-1.00", &v), -1);
    assert_int_equal(pay_amount_parse("1e3.00", &v), -1);
    assert_int_equal(pay_amount_parse("99999999999999.00", &v), -1);
    char b[24];
    pay_amount_format(129905, b, sizeof b);
    assert_string_equal(b, "1299.05");
    assert_int_equal(pay_ip_allowed(PAY_YK_NOTIFY_IPS, "185.71.76.31"), 1);
    assert_int_equal(pay_ip_allowed(PAY_YK_NOTIFY_IPS, "185.71.76.32"), 0);
    assert_int_equal(pay_ip_allowed(PAY_YK_NOTIFY_IPS, "77.75.156.11"), 1);
    assert_int_equal(pay_ip_allowed(PAY_YK_NOTIFY_IPS, "77.75.156.12"), 0);
    assert_int_equal(pay_ip_allowed(PAY_YK_NOTIFY_IPS, "::ffff:77.75.153.1"), 1);
    assert_int_equal(pay_ip_allowed(PAY_YK_NOTIFY_IPS, "2a02:5180::1"), 1);
    assert_int_equal(pay_ip_allowed(PAY_YK_NOTIFY_IPS, "2a02:5181::1"), 0);
    assert_int_equal(pay_ip_allowed(PAY_YK_NOTIFY_IPS, "not-an-ip"), 0);
    assert_int_equal(pay_ip_allowed("127.0.0.2/33", "127.0.0.2"), 0);
    pay_yk_note n;
    const char *note = "{\"type\":\"notification\",\"event\":\"payment.succeeded\","
                       "\"object\":{\"id\":\"2d6b7e5a-000f-5000-9000-1b68e7b15f3f\","
                       "\"status\":\"succeeded\"}}";
    assert_int_equal(pay_yk_note_parse(note, strlen(note), &n), 0);
    assert_string_equal(n.event, "payment.succeeded");
    assert_string_equal(n.payment_id, "2d6b7e5a-000f-5000-9000-1b68e7b15f3f");
    const char *bad = "{\"type\":\"notification\",\"event\":\"payment.succeeded\","
                      "\"object\":{\"id\":\"../../v3/refunds\"}}";
    assert_int_equal(pay_yk_note_parse(bad, strlen(bad), &n), -1);
    pay_tg_update u;
    const char *pcq = "{\"update_id\":5,\"pre_checkout_query\":{\"id\":\"q1\",\"from\":{\"id\":42},"
                      "\"currency\":\"RUB\",\"total_amount\":129900,"
                      "\"invoice_payload\":\"order-3\"}}";
    assert_int_equal(pay_tg_update_parse(pcq, strlen(pcq), &u), 0);
    assert_int_equal(u.kind, PAY_TG_PRECHECKOUT);
    assert_int_equal(u.total_amount, 129900);
    assert_string_equal(u.payload, "order-3");
    const char *sp =
        "{\"update_id\":6,\"message\":{\"from\":{\"id\":42},\"successful_payment\":"
        "{\"currency\":\"RUB\",\"total_amount\":129900,\"invoice_payload\":\"order-3\","
        "\"telegram_payment_charge_id\":\"tg-1\",\"provider_payment_charge_id\":"
        "\"yk-1\"}}}";
    assert_int_equal(pay_tg_update_parse(sp, strlen(sp), &u), 0);
    assert_int_equal(u.kind, PAY_TG_PAID);
    assert_string_equal(u.telegram_charge_id, "tg-1");
    const char *other = "{\"update_id\":7,\"message\":{\"text\":\"hi\"}}";
    assert_int_equal(pay_tg_update_parse(other, strlen(other), &u), 0);
    assert_int_equal(u.kind, PAY_TG_OTHER);
    assert_int_equal(pay_tg_update_parse("{\"update_id\":-1}", 16, &u), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_catalogue_and_cart),
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_concurrent_retry_409),
        cmocka_unit_test(test_unknown_outcome_resumes),
        cmocka_unit_test(test_crash_recovery_sweep),
        cmocka_unit_test(test_decline_releases_stock),
        cmocka_unit_test(test_timeout_then_late_payment),
        cmocka_unit_test(test_no_oversell),
        cmocka_unit_test(test_stepup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
