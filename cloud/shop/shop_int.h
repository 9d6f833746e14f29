/* shop_int.h - shared between the shop's own files (not for other modules).
 *
 * shop.c          life cycle, settings, hooks, sweeper thread
 * shop_db.c       schema, catalogue import, products, carts
 * shop_order.c    the order state machine: transitions, history, events
 * shop_checkout.c checkout with idempotency keys, stock reservation
 * shop_payment.c  provider outcomes -> order transitions (notifications, sweeps)
 * shop_http.c     the HTTP routes
 * shop_cli.c      the operator CLI
 */
#ifndef FITGATE_SHOP_INT_H
#define FITGATE_SHOP_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "fitcommon/metrics.h"
#include "shop.h"

#define SHOP_PROVIDERS_MAX 4
#define SHOP_STMTS_MAX     96
#define SHOP_SOURCE        "fitgate-core/shop"

struct shop {
    shop_settings cfg;
    sqlite3 *db;
    pthread_mutex_t mu; /* guards db */
    legacy *legacy;
    pay_provider providers[SHOP_PROVIDERS_MAX];
    size_t nproviders;
    shop_legacy_link_fn legacy_link;
    void *legacy_link_ctx;
    shop_stepup_fn stepup;
    void *stepup_ctx;
    uint64_t boot_id; /* owner mark of idempotency leases taken by this process */
    /* Prepared statements, keyed by their SQL literal's address (guarded by
     * mu like db): preparing costs more than most of these statements. */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } stmts[SHOP_STMTS_MAX];
    size_t nstmts;
    pthread_t sweeper;
    int sweeper_on, stopping;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
};

/* Order states (stored as text). */
#define ST_PENDING    "pending_payment"
#define ST_PAID       "paid"
#define ST_PROCESSING "processing"
#define ST_SHIPPED    "shipped"
#define ST_DELIVERED  "delivered"
#define ST_COMPLETED  "completed"
#define ST_CANCELLED  "cancelled"
#define ST_REFUNDED   "refunded"

typedef struct shop_metrics {
    metric checkouts, replays, conflicts, mismatches, out_of_stock, paid, cancelled, notes_refused,
        notes_bad, provider_errors, bad_input;
} shop_metrics;
extern shop_metrics shop_m;
void shop_metrics_init(void);

int64_t shop_now_ms(void);

/* The cached statement for sql (a string literal: its address is the key),
 * reset and unbound; same arguments and result as sqlite3_prepare_v2 on
 * sh->db. Mutex held. Give it back with shop_done (never finalize it). */
int shop_prep(shop *sh, const char *sql, int n, sqlite3_stmt **st, const char **tail);
/* Reset a statement from shop_prep (ends its read; keeps it cached). */
void shop_done(sqlite3_stmt *st);

/* shop_db.c */
int shop_db_schema(sqlite3 *db);
int shop_catalogue_import(shop *sh, const char *file);
/* JSON of the catalogue / a user's cart (malloc'd) or NULL. */
char *shop_products_json(shop *sh);
char *shop_cart_json(shop *sh, int64_t user_id);
/* Replace the cart with items [{"sku","qty"}]: 0, 1 bad item (msg set), -1. */
int shop_cart_put(shop *sh, int64_t user_id, const cJSON *items, char *msg, size_t cap);
/* BEGIN IMMEDIATE with retries; COMMIT; ROLLBACK. 0 or -1. */
int shop_begin(sqlite3 *db);
int shop_commit(sqlite3 *db);
void shop_rollback(sqlite3 *db);

/* shop_order.c (all inside the caller's transaction, mutex held) */
/* Move order from `from` (NULL = whatever it is, checked against the state
 * machine) to `to`, with a history row and the event. 0, 1 not allowed, 2 no
 * such order, -1 error. */
int shop_transition(shop *sh, int64_t order_id, const char *to, const char *reason,
                    const char *actor);
/* The placed order's first history row and OrderPlaced (checkout). */
int shop_order_placed(shop *sh, int64_t order_id);
/* Give reserved stock back (once per order). 0 or -1. */
int shop_release_stock(shop *sh, int64_t order_id);
/* Order JSON built inside a transaction or under the mutex. */
cJSON *shop_order_build(shop *sh, int64_t order_id, int64_t user_id);
/* State of an order into buf; 0, 2 no such order, -1. */
int shop_order_state(shop *sh, int64_t order_id, char *buf, size_t cap);

/* shop_checkout.c: finish a checkout whose lease this process holds
 * (payment, stored reply). 0 when its reply is final. */
int shop_checkout_resume(shop *sh, int64_t user, const char *key, int64_t order_id);

/* shop_payment.c */
/* Operator refund: provider first, then the state. 0, 1 not allowed, 2 none, -1. */
int shop_refund(shop *sh, int64_t order_id, const char *actor);
const pay_provider *shop_provider(shop *sh, const char *name);
/* Act on what a provider says about the payment of order_id (re-fetched or
 * from a Telegram update). Takes the mutex itself. 0 or -1. */
int shop_apply_payment(shop *sh, int64_t order_id, const pay_payment *p, const char *via);
/* Resume payment creation for an order without a payment (crash, timeout). */
int shop_payment_create(shop *sh, int64_t order_id, pay_payment *out, pay_status *ps);

#endif
