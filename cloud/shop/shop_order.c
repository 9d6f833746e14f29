/* shop_order.c - the order state machine.
 *
 *   pending_payment -> paid -> processing -> shipped -> delivered -> completed
 *   pending_payment -> cancelled            (user, payment timeout, payment canceled)
 *   paid|processing|shipped|delivered|completed -> refunded
 *
 * Every transition writes a history row and, when the user can see it, an
 * event on fit.orders.v1, all in the caller's transaction. No state is
 * entered twice, so "order/<id>/<state>" is a stable event id.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "fitcommon/log.h"
#include "outbox.h"
#include "shop_int.h"

static const struct {
    const char *from, *to;
} allowed[] = {
    {ST_PENDING, ST_PAID},       {ST_PENDING, ST_CANCELLED},   {ST_PAID, ST_PROCESSING},
    {ST_PROCESSING, ST_SHIPPED}, {ST_SHIPPED, ST_DELIVERED},   {ST_DELIVERED, ST_COMPLETED},
    {ST_PAID, ST_REFUNDED},      {ST_PROCESSING, ST_REFUNDED}, {ST_SHIPPED, ST_REFUNDED},
    {ST_DELIVERED, ST_REFUNDED}, {ST_COMPLETED, ST_REFUNDED},
};

static const struct {
    const char *state, *type;
} event_of[] = {
    {ST_PENDING, EVT_TYPE_ORDER_PLACED},      {ST_PAID, EVT_TYPE_ORDER_PAID},
    {ST_CANCELLED, EVT_TYPE_ORDER_CANCELLED}, {ST_SHIPPED, EVT_TYPE_ORDER_SHIPPED},
    {ST_DELIVERED, EVT_TYPE_ORDER_DELIVERED}, {ST_COMPLETED, EVT_TYPE_ORDER_COMPLETED},
    {ST_REFUNDED, EVT_TYPE_ORDER_REFUNDED},
};

int64_t shop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int transition_allowed(const char *from, const char *to)
{
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (!strcmp(allowed[i].from, from) && !strcmp(allowed[i].to, to))
            return 1;
    return 0;
}

int shop_order_state(shop *sh, int64_t order_id, char *buf, size_t cap)
{
    sqlite3_stmt *st;
    if (shop_prep(sh, "SELECT state FROM shop_orders WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, order_id);
    int rc = 2;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    shop_done(st);
    return rc;
}

cJSON *shop_order_build(shop *sh, int64_t order_id, int64_t user_id)
{
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "SELECT id, user_id, state, total_minor, currency, provider, "
                  "payment_id, payment_url, payment_state, created_ms, updated_ms, "
                  "expires_ms FROM shop_orders WHERE id = ?1 AND (?2 <= 0 OR user_id = ?2)",
                  -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, order_id);
    sqlite3_bind_int64(st, 2, user_id);
    cJSON *o = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        char num[32], total[32];
        snprintf(num, sizeof num, "FG-%06lld", (long long)order_id);
        char ref[32];
        snprintf(ref, sizeof ref, "fg-%lld", (long long)order_id);
        cJSON_AddStringToObject(o, "source", "fitgate");
        cJSON_AddStringToObject(o, "ref", ref);
        cJSON_AddNumberToObject(o, "id", (double)order_id);
        cJSON_AddStringToObject(o, "number", num);
        cJSON_AddNumberToObject(o, "user_id", (double)sqlite3_column_int64(st, 1));
        cJSON_AddStringToObject(o, "state", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddNumberToObject(o, "total_minor", (double)sqlite3_column_int64(st, 3));
        pay_amount_format(sqlite3_column_int64(st, 3), total, sizeof total);
        cJSON_AddStringToObject(o, "total", total);
        cJSON_AddStringToObject(o, "currency", (const char *)sqlite3_column_text(st, 4));
        cJSON *pay = cJSON_AddObjectToObject(o, "payment");
        cJSON_AddStringToObject(pay, "provider", (const char *)sqlite3_column_text(st, 5));
        cJSON_AddStringToObject(pay, "state", (const char *)sqlite3_column_text(st, 8));
        if (sqlite3_column_type(st, 7) == SQLITE_TEXT)
            cJSON_AddStringToObject(pay, "url", (const char *)sqlite3_column_text(st, 7));
        cJSON_AddNumberToObject(o, "created_ms", (double)sqlite3_column_int64(st, 9));
        cJSON_AddNumberToObject(o, "updated_ms", (double)sqlite3_column_int64(st, 10));
        cJSON_AddNumberToObject(o, "expires_ms", (double)sqlite3_column_int64(st, 11));
        cJSON_AddBoolToObject(o, "read_only", 0);
    }
    shop_done(st);
    if (!o)
        return NULL;
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    if (shop_prep(sh,
                  "SELECT sku, title, qty, price_minor FROM shop_order_lines "
                  "WHERE order_id = ? ORDER BY sku",
                  -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, order_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *it = cJSON_CreateObject();
            cJSON_AddItemToArray(items, it);
            cJSON_AddStringToObject(it, "sku", (const char *)sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(it, "title", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddNumberToObject(it, "qty", (double)sqlite3_column_int64(st, 2));
            cJSON_AddNumberToObject(it, "price_minor", (double)sqlite3_column_int64(st, 3));
        }
        shop_done(st);
    }
    cJSON *hist = cJSON_AddArrayToObject(o, "history");
    if (shop_prep(sh,
                  "SELECT from_state, to_state, reason, at_ms FROM shop_order_history "
                  "WHERE order_id = ? ORDER BY id",
                  -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, order_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *h = cJSON_CreateObject();
            cJSON_AddItemToArray(hist, h);
            if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
                cJSON_AddStringToObject(h, "from", (const char *)sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(h, "to", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddStringToObject(h, "reason", (const char *)sqlite3_column_text(st, 2));
            cJSON_AddNumberToObject(h, "at_ms", (double)sqlite3_column_int64(st, 3));
        }
        shop_done(st);
    }
    return o;
}

/* The event's data: what the notifier needs to write the message without
 * reading our tables (number, status, total, currency, items summary). */
static int emit(shop *sh, int64_t order_id, const char *state, const char *prev, const char *reason)
{
    const char *type = NULL;
    for (size_t i = 0; i < sizeof event_of / sizeof event_of[0]; i++)
        if (!strcmp(event_of[i].state, state))
            type = event_of[i].type;
    if (!type)
        return 0; /* not user-visible (processing) */
    cJSON *o = shop_order_build(sh, order_id, 0);
    if (!o)
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "history");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "read_only");
    cJSON *pay = cJSON_GetObjectItemCaseSensitive(o, "payment");
    cJSON_DeleteItemFromObjectCaseSensitive(pay, "url");
    /* docs/events.md names them order_id and status. */
    cJSON_AddNumberToObject(o, "order_id", (double)order_id);
    cJSON_AddStringToObject(o, "status", state);
    if (prev)
        cJSON_AddStringToObject(o, "previous_state", prev);
    cJSON_AddStringToObject(o, "reason", reason);
    char summary[512] = "";
    size_t used = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "items"))
    {
        int n = snprintf(summary + used, sizeof summary - used, "%s%s \xc3\x97%d", used ? ", " : "",
                         cJSON_GetObjectItemCaseSensitive(it, "title")->valuestring,
                         (int)cJSON_GetObjectItemCaseSensitive(it, "qty")->valuedouble);
        if (n < 0 || (size_t)n >= sizeof summary - used) {
            summary[used] = '\0';
            snprintf(summary + used, sizeof summary - used, "%s", used ? ", ..." : "...");
            break;
        }
        used += (size_t)n;
    }
    cJSON_AddStringToObject(o, "items_summary", summary);
    int64_t user = (int64_t)cJSON_GetObjectItemCaseSensitive(o, "user_id")->valuedouble;
    char id[64], key[32], subject[48];
    snprintf(id, sizeof id, "order/%lld/%s", (long long)order_id, state);
    snprintf(key, sizeof key, "%lld", (long long)user);
    snprintf(subject, sizeof subject, "order/%lld", (long long)order_id);
    int rc = outbox_add(sh->db, EVT_TOPIC_ORDERS, key, id, type, SHOP_SOURCE, subject, o);
    cJSON_Delete(o);
    return rc;
}

static int history(shop *sh, int64_t order_id, const char *from, const char *to, const char *reason,
                   const char *actor)
{
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "INSERT INTO shop_order_history (order_id, from_state, to_state, "
                  "reason, actor, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, order_id);
    if (from)
        sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, actor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, shop_now_ms());
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    shop_done(st);
    return rc;
}

int shop_order_placed(shop *sh, int64_t order_id)
{
    if (history(sh, order_id, NULL, ST_PENDING, "checkout", "user") < 0)
        return -1;
    return emit(sh, order_id, ST_PENDING, NULL, "checkout");
}

int shop_release_stock(shop *sh, int64_t order_id)
{
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "UPDATE shop_orders SET stock_released = 1 WHERE id = ? AND "
                  "stock_released = 0",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, order_id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    shop_done(st);
    if (rc < 0 || sqlite3_changes(sh->db) == 0)
        return rc; /* already released */
    if (shop_prep(sh,
                  "UPDATE shop_variants SET stock = stock + (SELECT qty FROM "
                  "shop_order_lines l WHERE l.order_id = ?1 AND l.sku = "
                  "shop_variants.sku) WHERE sku IN (SELECT sku FROM shop_order_lines "
                  "WHERE order_id = ?1)",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, order_id);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    shop_done(st);
    return rc;
}

int shop_transition(shop *sh, int64_t order_id, const char *to, const char *reason,
                    const char *actor)
{
    char from[32];
    int rc = shop_order_state(sh, order_id, from, sizeof from);
    if (rc)
        return rc;
    if (!transition_allowed(from, to))
        return 1;
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "UPDATE shop_orders SET state = ?, updated_ms = ? WHERE id = ? AND "
                  "state = ?",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, shop_now_ms());
    sqlite3_bind_int64(st, 3, order_id);
    sqlite3_bind_text(st, 4, from, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(sh->db) == 1 ? 0 : -1;
    shop_done(st);
    if (rc == 0 && !strcmp(to, ST_CANCELLED))
        rc = shop_release_stock(sh, order_id);
    if (rc == 0)
        rc = history(sh, order_id, from, to, reason, actor);
    if (rc == 0)
        rc = emit(sh, order_id, to, from, reason);
    if (rc == 0) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)order_id);
        log_info("order_state", "order changed state", "order_id", id, "from", from, "to", to,
                 "reason", reason);
        if (!strcmp(to, ST_PAID))
            metric_add(&shop_m.paid, 1);
        if (!strcmp(to, ST_CANCELLED))
            metric_add(&shop_m.cancelled, 1);
    }
    return rc;
}
