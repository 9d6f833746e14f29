/* shop_checkout.c - checkout with idempotency keys.
 *
 * Idempotency (Stripe semantics, IETF httpapi-idempotency-key draft), per
 * user and key, kept >= idempotency_ttl_s:
 *   new key                -> the order is placed (stock reserved, prices
 *                             fixed, OrderPlaced) in one transaction together
 *                             with a "running" key row leased by this process;
 *                             then the payment is created at the provider
 *                             (outside the transaction) and the reply stored.
 *   same key, same body    -> the stored reply again (Idempotency-Replayed).
 *   same key, other body   -> 422.
 *   same key, still running-> 409 (a concurrent retry).
 *   key whose payment call failed (timeout) or whose process died -> the retry
 *                             resumes payment creation for the same order
 *                             with the same provider idempotence key, so the
 *                             provider returns the payment it may have made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fitcommon/log.h"
#include "shop_int.h"

#define LEASE_MS  60000
#define KEY_MAX   255
#define LINES_MAX 50

typedef struct line {
    char sku[72], title[208], currency[8];
    int64_t qty, price;
} line;

static int reply(unsigned *status, char **response, unsigned code, cJSON *body)
{
    *status = code;
    *response = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    return *response ? 0 : -1;
}

static int reply_error(unsigned *status, char **response, unsigned code, const char *err,
                       const char *msg)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "error", err);
    cJSON_AddStringToObject(b, "message", msg);
    return reply(status, response, code, b);
}

static int key_ok(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n == 0 || n > KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return 0;
    return 1;
}

/* Columns sku, title, price_minor, currency of st into l. */
static void fill_line(line *l, sqlite3_stmt *st, int64_t qty)
{
    snprintf(l->sku, sizeof l->sku, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(l->title, sizeof l->title, "%s", (const char *)sqlite3_column_text(st, 1));
    l->price = sqlite3_column_int64(st, 2);
    snprintf(l->currency, sizeof l->currency, "%s", (const char *)sqlite3_column_text(st, 3));
    l->qty = qty;
}

/* The lines to buy, with today's prices: the body's items, else the cart. */
static int load_lines(shop *sh, int64_t user, const cJSON *items, line *out, size_t *n, char *msg,
                      size_t cap)
{
    sqlite3_stmt *st;
    *n = 0;
    if (shop_prep(sh,
                  "SELECT sku, title, price_minor, currency FROM shop_variants "
                  "WHERE sku = ?",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (items) {
        const cJSON *it;
        cJSON_ArrayForEach(it, items)
        {
            const cJSON *sku = cJSON_GetObjectItemCaseSensitive(it, "sku");
            const cJSON *qty = cJSON_GetObjectItemCaseSensitive(it, "qty");
            if (*n == LINES_MAX || !cJSON_IsString(sku) || strlen(sku->valuestring) > 64 ||
                !cJSON_IsNumber(qty) || qty->valuedouble < 1 || qty->valuedouble > 99 ||
                qty->valuedouble != (double)(int)qty->valuedouble) {
                snprintf(msg, cap, "items: at most %d of {sku, qty 1..99}", LINES_MAX);
                shop_done(st);
                return 1;
            }
            for (size_t i = 0; i < *n; i++)
                if (!strcmp(out[i].sku, sku->valuestring)) {
                    snprintf(msg, cap, "items: sku %.64s twice", sku->valuestring);
                    shop_done(st);
                    return 1;
                }
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, sku->valuestring, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_ROW) {
                snprintf(msg, cap, "unknown sku: %.64s", sku->valuestring);
                shop_done(st);
                return 1;
            }
            fill_line(&out[(*n)++], st, (int64_t)qty->valuedouble);
        }
        shop_done(st);
    } else {
        shop_done(st);
        if (shop_prep(sh,
                      "SELECT c.sku, v.title, v.price_minor, v.currency, c.qty FROM "
                      "shop_cart c JOIN shop_variants v ON v.sku = c.sku WHERE "
                      "c.user_id = ? ORDER BY c.sku LIMIT 50",
                      -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_int64(st, 1, user);
        while (sqlite3_step(st) == SQLITE_ROW) {
            fill_line(&out[(*n)++], st, sqlite3_column_int64(st, 4));
        }
        shop_done(st);
    }
    if (*n == 0) {
        snprintf(msg, cap, "nothing to buy: the cart is empty");
        return 1;
    }
    for (size_t i = 1; i < *n; i++)
        if (strcmp(out[i].currency, out[0].currency)) {
            snprintf(msg, cap, "all items must be in one currency");
            return 1;
        }
    return 0;
}

/* Reserve every line's stock; 1 when one is short (the caller rolls back). */
static int reserve(shop *sh, const line *l, size_t n, char *msg, size_t cap)
{
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "UPDATE shop_variants SET stock = stock - ?1 WHERE sku = ?2 AND "
                  "stock >= ?1",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, l[i].qty);
        sqlite3_bind_text(st, 2, l[i].sku, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = -1;
        else if (sqlite3_changes(sh->db) != 1) {
            snprintf(msg, cap, "not enough in stock: %.64s", l[i].sku);
            rc = 1;
        }
    }
    shop_done(st);
    return rc;
}

static int64_t place_order(shop *sh, int64_t user, const char *provider, const line *l, size_t n,
                           int from_cart)
{
    int64_t total = 0, now = shop_now_ms();
    for (size_t i = 0; i < n; i++)
        total += l[i].qty * l[i].price;
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "INSERT INTO shop_orders (user_id, state, total_minor, currency, "
                  "provider, created_ms, updated_ms, expires_ms) VALUES "
                  "(?, ?, ?, ?, ?, ?, ?, ?)",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, ST_PENDING, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, total);
    sqlite3_bind_text(st, 4, l[0].currency, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, provider, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, now + sh->cfg.payment_timeout_s * 1000);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    shop_done(st);
    if (!ok)
        return -1;
    int64_t id = sqlite3_last_insert_rowid(sh->db);
    if (shop_prep(sh,
                  "INSERT INTO shop_order_lines (order_id, sku, title, qty, "
                  "price_minor) VALUES (?, ?, ?, ?, ?)",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    for (size_t i = 0; i < n && ok; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, l[i].sku, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, l[i].title, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, l[i].qty);
        sqlite3_bind_int64(st, 5, l[i].price);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    shop_done(st);
    if (ok && from_cart) {
        char sql[96];
        snprintf(sql, sizeof sql, "DELETE FROM shop_cart WHERE user_id = %lld", (long long)user);
        ok = sqlite3_exec(sh->db, sql, NULL, NULL, NULL) == SQLITE_OK;
    }
    if (!ok || shop_order_placed(sh, id) < 0)
        return -1;
    return id;
}

/* Store the final reply of a key (or reopen it for a retry). Mutex held. */
static int key_finish(shop *sh, int64_t user, const char *key, const char *state, unsigned status,
                      const char *response)
{
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "UPDATE shop_idempotency SET state = ?, status = ?, response = ?, "
                  "lease_ms = 0 WHERE user_id = ? AND key = ?",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)status);
    if (response)
        sqlite3_bind_text(st, 3, response, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, user);
    sqlite3_bind_text(st, 5, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    shop_done(st);
    return rc;
}

/* The payment step of a placed order, then the reply (stored when final). */
static int pay_and_reply(shop *sh, int64_t user, const char *key, int64_t order_id,
                         unsigned *status, char **response)
{
    pay_payment pp;
    pay_status ps = PAY_ERR;
    int rc = shop_payment_create(sh, order_id, &pp, &ps);
    const char *kstate = "done";
    pthread_mutex_lock(&sh->mu);
    cJSON *order = shop_order_build(sh, order_id, user);
    pthread_mutex_unlock(&sh->mu);
    if (!order)
        return reply_error(status, response, 500, "internal", "the order vanished");
    if (rc == 0) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddItemToObject(b, "order", order);
        reply(status, response, 201, b);
    } else if (ps == PAY_DECLINED) {
        /* shop_payment_create cancelled the order and released its stock. */
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "error", "payment_declined");
        cJSON_AddStringToObject(b, "message", "The payment system refused this payment.");
        cJSON_AddItemToObject(b, "order", order);
        reply(status, response, 402, b);
    } else {
        /* Unknown outcome: the key stays open; a retry resumes with the same
         * provider key (no second payment), the sweeper does it otherwise. */
        kstate = "open";
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "error", "payment_unavailable");
        cJSON_AddStringToObject(b, "message",
                                "The payment system did not answer. Retry with the same "
                                "Idempotency-Key.");
        cJSON_AddItemToObject(b, "order", order);
        reply(status, response, 503, b);
    }
    if (!*response)
        return -1;
    pthread_mutex_lock(&sh->mu);
    if (key_finish(sh, user, key, kstate, *status, !strcmp(kstate, "done") ? *response : NULL) < 0)
        log_error("shop_idempotency", "cannot store the checkout reply");
    pthread_mutex_unlock(&sh->mu);
    return 0;
}

int shop_checkout_resume(shop *sh, int64_t user, const char *key, int64_t order_id)
{
    unsigned status = 0;
    char *response = NULL;
    int rc = pay_and_reply(sh, user, key, order_id, &status, &response);
    free(response);
    return rc == 0 && status != 503 ? 0 : -1;
}

int shop_checkout(shop *sh, const api_principal *who, const char *key, const char *body, size_t len,
                  unsigned *status, char **response, int *replayed)
{
    *replayed = 0;
    *response = NULL;
    if (!key_ok(key))
        return reply_error(status, response, 400, "idempotency_key_required",
                           "Send an Idempotency-Key header (1-255 printable characters).");
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(j, "provider");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
    char msg[160] = "";
    if (!cJSON_IsObject(j) || !cJSON_IsString(prov) || (items && !cJSON_IsArray(items))) {
        cJSON_Delete(j);
        metric_add(&shop_m.bad_input, 1);
        return reply_error(status, response, 400, "malformed",
                           "Expected {\"provider\":\"yookassa|telegram\",\"items\":[...]}.");
    }
    char provider[16];
    snprintf(provider, sizeof provider, "%s", prov->valuestring);
    if (!shop_provider(sh, provider)) {
        cJSON_Delete(j);
        return reply_error(status, response, 422, "provider_unavailable",
                           "This payment method is not available.");
    }
    uint8_t hash[CRYPTO_SHA256_LEN];
    crypto_sha256(body, len, hash);
    int64_t user = who->user_id, now = shop_now_ms();
    line *lines = calloc(LINES_MAX, sizeof *lines);
    if (!lines) {
        cJSON_Delete(j);
        return -1;
    }
    size_t n = 0;
    int64_t order_id = 0;
    int rc = -1;
    pthread_mutex_lock(&sh->mu);
    if (shop_begin(sh->db) < 0)
        goto unlock;
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "SELECT body_hash, state, owner, lease_ms, order_id, status, response "
                  "FROM shop_idempotency WHERE user_id = ? AND key = ?",
                  -1, &st, NULL) != SQLITE_OK)
        goto rollback;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(st, 0);
        const char *kst = (const char *)sqlite3_column_text(st, 1);
        int same = sqlite3_column_bytes(st, 0) == (int)sizeof hash && h &&
                   crypto_equal(h, hash, sizeof hash);
        int live = !strcmp(kst, "running") &&
                   (uint64_t)sqlite3_column_int64(st, 2) == sh->boot_id &&
                   sqlite3_column_int64(st, 3) > now;
        if (!same) {
            metric_add(&shop_m.mismatches, 1);
            rc = reply_error(status, response, 422, "idempotency_key_reused",
                             "This Idempotency-Key was used with a different request.");
        } else if (!strcmp(kst, "done")) {
            metric_add(&shop_m.replays, 1);
            *status = (unsigned)sqlite3_column_int(st, 5);
            const char *r = (const char *)sqlite3_column_text(st, 6);
            *response = strdup(r ? r : "{}");
            *replayed = 1;
            rc = *response ? 0 : -1;
        } else if (live) {
            metric_add(&shop_m.conflicts, 1);
            rc = reply_error(status, response, 409, "request_in_progress",
                             "The same checkout is still being processed; retry shortly.");
        } else {
            order_id = sqlite3_column_int64(st, 4); /* resume it */
        }
        shop_done(st);
        if (!order_id)
            goto rollback;
        if (shop_prep(sh,
                      "UPDATE shop_idempotency SET state = 'running', owner = ?2, "
                      "lease_ms = ?3 WHERE user_id = ?4 AND key = ?1",
                      -1, &st, NULL) != SQLITE_OK)
            goto rollback;
        sqlite3_bind_int64(st, 2, (int64_t)sh->boot_id);
        sqlite3_bind_int64(st, 3, now + LEASE_MS);
        sqlite3_bind_int64(st, 4, user);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int ok = sqlite3_step(st) == SQLITE_DONE;
        shop_done(st);
        if (!ok || shop_commit(sh->db) < 0)
            goto rollback;
        pthread_mutex_unlock(&sh->mu);
        goto pay;
    }
    shop_done(st);
    int lr = load_lines(sh, user, items, lines, &n, msg, sizeof msg);
    if (lr) {
        if (lr > 0)
            rc = reply_error(status, response, 422, "invalid_items", msg);
        goto rollback;
    }
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += lines[i].qty * lines[i].price;
    if (sh->stepup && !sh->stepup(sh->stepup_ctx, who, total)) {
        rc = reply_error(status, response, 403, "second_factor_required",
                         "Confirm this payment with your second factor, then retry.");
        goto rollback;
    }
    int r = reserve(sh, lines, n, msg, sizeof msg);
    if (r) {
        if (r > 0) {
            metric_add(&shop_m.out_of_stock, 1);
            rc = reply_error(status, response, 409, "out_of_stock", msg);
        }
        goto rollback;
    }
    order_id = place_order(sh, user, provider, lines, n, items == NULL);
    if (order_id < 0)
        goto rollback;
    if (shop_prep(sh,
                  "INSERT INTO shop_idempotency (user_id, key, body_hash, state, owner, "
                  "lease_ms, order_id, created_ms) VALUES (?, ?, ?, 'running', ?, ?, ?, "
                  "?)",
                  -1, &st, NULL) != SQLITE_OK)
        goto rollback;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)sh->boot_id);
    sqlite3_bind_int64(st, 5, now + LEASE_MS);
    sqlite3_bind_int64(st, 6, order_id);
    sqlite3_bind_int64(st, 7, now);
    int ins = sqlite3_step(st) == SQLITE_DONE;
    shop_done(st);
    if (!ins || shop_commit(sh->db) < 0)
        goto rollback;
    pthread_mutex_unlock(&sh->mu);
    metric_add(&shop_m.checkouts, 1);
pay:
    free(lines);
    cJSON_Delete(j);
    return pay_and_reply(sh, user, key, order_id, status, response);
rollback:
    shop_rollback(sh->db);
unlock:
    pthread_mutex_unlock(&sh->mu);
    free(lines);
    cJSON_Delete(j);
    if (!*response)
        rc = reply_error(status, response, 500, "internal", "The checkout failed; retry.");
    return rc;
}
