/* shop_http.c - the shop's HTTP routes (api_route.h); docs/shop.md lists them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fitcommon/log.h"
#include "shop_int.h"

#define ORDERS_MAX 100

static int reply_str(api_req *rq, unsigned status, char *json)
{
    if (!json)
        return api_reply_error(rq, 500, "internal", "Something went wrong; retry.");
    int rc = api_reply_json_str(rq, status, json);
    free(json);
    return rc;
}

static int get_products(void *ctx, api_req *rq)
{
    return reply_str(rq, 200, shop_products_json(ctx));
}

static int get_cart(void *ctx, api_req *rq)
{
    return reply_str(rq, 200, shop_cart_json(ctx, api_who(rq)->user_id));
}

static int put_cart(void *ctx, api_req *rq)
{
    shop *sh = ctx;
    const cJSON *b = api_body_json(rq);
    char msg[160] = "";
    if (!b) {
        metric_add(&shop_m.bad_input, 1);
        return api_reply_error(rq, 400, "malformed", "Expected {\"items\":[{sku, qty}]}.");
    }
    int rc = shop_cart_put(sh, api_who(rq)->user_id, cJSON_GetObjectItemCaseSensitive(b, "items"),
                           msg, sizeof msg);
    if (rc > 0) {
        metric_add(&shop_m.bad_input, 1);
        return api_reply_error(rq, 422, "invalid_items", msg);
    }
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "The cart could not be saved; retry.");
    return reply_str(rq, 200, shop_cart_json(sh, api_who(rq)->user_id));
}

static int post_checkout(void *ctx, api_req *rq)
{
    size_t len = 0;
    const char *body = api_body(rq, &len);
    unsigned status = 500;
    char *resp = NULL;
    int replayed = 0;
    if (shop_checkout(ctx, api_who(rq), api_header(rq, "Idempotency-Key"), body, len, &status,
                      &resp, &replayed) < 0 &&
        !resp)
        return api_reply_error(rq, 500, "internal", "The checkout failed; retry.");
    if (replayed)
        api_reply_header(rq, "Idempotency-Replayed", "true");
    if (status == 409 || status == 503)
        api_reply_header(rq, "Retry-After", "1");
    return reply_str(rq, status, resp);
}

/* ---- orders: ours and the legacy shop's in one list ---- */

static int linked_legacy(shop *sh, int64_t user, int64_t *legacy_id)
{
    if (!sh->legacy)
        return 1;
    if (sh->legacy_link)
        return sh->legacy_link(sh->legacy_link_ctx, user, legacy_id);
    if (!sh->cfg.dev_legacy_link)
        return 1;
    sqlite3_stmt *st;
    int rc = -1;
    pthread_mutex_lock(&sh->mu);
    if (shop_prep(sh, "SELECT legacy_id FROM shop_dev_legacy_links WHERE user_id = ?", -1, &st,
                  NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, user);
        rc = 1;
        if (sqlite3_step(st) == SQLITE_ROW) {
            *legacy_id = sqlite3_column_int64(st, 0);
            rc = 0;
        }
        shop_done(st);
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

static cJSON *legacy_json(const legacy_order *o)
{
    cJSON *j = cJSON_CreateObject();
    char ref[40], total[32];
    snprintf(ref, sizeof ref, "legacy-%lld", (long long)o->id);
    cJSON_AddStringToObject(j, "source", "legacy");
    cJSON_AddStringToObject(j, "ref", ref);
    cJSON_AddNumberToObject(j, "id", (double)o->id);
    cJSON_AddStringToObject(j, "number", o->number);
    cJSON_AddStringToObject(j, "state", o->state);
    cJSON_AddStringToObject(j, "legacy_status", o->legacy_status);
    cJSON_AddNumberToObject(j, "total_minor", (double)o->total_minor);
    pay_amount_format(o->total_minor, total, sizeof total);
    cJSON_AddStringToObject(j, "total", total);
    cJSON_AddStringToObject(j, "currency", o->currency);
    cJSON_AddNumberToObject(j, "created_ms", (double)o->created_ms);
    cJSON_AddNumberToObject(j, "updated_ms", (double)o->updated_ms);
    cJSON_AddBoolToObject(j, "read_only", 1);
    cJSON *items = cJSON_AddArrayToObject(j, "items");
    for (size_t i = 0; i < o->n_lines; i++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "sku", o->lines[i].sku);
        cJSON_AddStringToObject(it, "title", o->lines[i].title);
        cJSON_AddNumberToObject(it, "qty", (double)o->lines[i].qty);
        cJSON_AddNumberToObject(it, "price_minor", (double)o->lines[i].price_minor);
        cJSON_AddItemToArray(items, it);
    }
    return j;
}

static int add_legacy(void *ctx, const legacy_order *o)
{
    cJSON_AddItemToArray(ctx, legacy_json(o));
    return 0;
}

static double created(const cJSON *o)
{
    return cJSON_GetObjectItemCaseSensitive(o, "created_ms")->valuedouble;
}

static int list_orders(void *ctx, api_req *rq)
{
    shop *sh = ctx;
    int64_t user = api_who(rq)->user_id;
    cJSON *root = cJSON_CreateObject();
    cJSON *all = cJSON_CreateArray();
    sqlite3_stmt *st;
    pthread_mutex_lock(&sh->mu);
    if (shop_prep(sh, "SELECT id FROM shop_orders WHERE user_id = ? ORDER BY id DESC LIMIT ?", -1,
                  &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, user);
        sqlite3_bind_int(st, 2, ORDERS_MAX);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *o = shop_order_build(sh, sqlite3_column_int64(st, 0), user);
            if (!o)
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(o, "history");
            cJSON_AddItemToArray(all, o);
        }
        shop_done(st);
    }
    pthread_mutex_unlock(&sh->mu);
    int64_t lid = 0;
    int linked = linked_legacy(sh, user, &lid);
    cJSON *leg = cJSON_AddObjectToObject(root, "legacy");
    cJSON_AddBoolToObject(leg, "linked", linked == 0);
    if (linked == 0) {
        cJSON *tmp = cJSON_CreateArray();
        int lr = legacy_list_orders(sh->legacy, lid, ORDERS_MAX, add_legacy, tmp);
        cJSON_AddBoolToObject(leg, "available", lr == LEGACY_OK);
        cJSON *it;
        while ((it = cJSON_DetachItemFromArray(tmp, 0)))
            cJSON_AddItemToArray(all, it);
        cJSON_Delete(tmp);
    }
    /* Newest first across both sources (insertion sort: at most 200). */
    int n = cJSON_GetArraySize(all);
    cJSON **v = calloc((size_t)n + 1, sizeof *v);
    for (int i = 0; v && i < n; i++) {
        cJSON *x = cJSON_DetachItemFromArray(all, 0);
        int j = i;
        while (j > 0 && created(v[j - 1]) < created(x)) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    for (int i = 0; v && i < n; i++)
        cJSON_AddItemToArray(all, v[i]);
    free(v);
    cJSON_AddItemToObject(root, "orders", all);
    return api_reply_json(rq, 200, root);
}

/* "12" or "fg-12": ours; "legacy-50001": the legacy shop's. 0 ours, 1 legacy, -1 bad. */
static int parse_ref(const char *s, int64_t *id)
{
    int kind = 0;
    if (!strncmp(s, "fg-", 3))
        s += 3;
    else if (!strncmp(s, "legacy-", 7)) {
        s += 7;
        kind = 1;
    }
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0)
        return -1;
    *id = v;
    return kind;
}

static int one_legacy(void *ctx, const legacy_order *o)
{
    *(cJSON **)ctx = legacy_json(o);
    return 0;
}

static int get_order(void *ctx, api_req *rq)
{
    shop *sh = ctx;
    int64_t id, user = api_who(rq)->user_id;
    int kind = parse_ref(api_path_arg(rq, 0), &id);
    if (kind < 0)
        return api_reply_error(rq, 404, "not_found", "No such order.");
    if (kind == 1) {
        int64_t lid;
        cJSON *o = NULL;
        if (linked_legacy(sh, user, &lid) != 0 ||
            legacy_get_order(sh->legacy, lid, id, one_legacy, &o) != LEGACY_OK || !o)
            return api_reply_error(rq, 404, "not_found", "No such order.");
        return api_reply_json(rq, 200, o);
    }
    char *j = shop_order_json(sh, id, user);
    if (!j)
        return api_reply_error(rq, 404, "not_found", "No such order.");
    return reply_str(rq, 200, j);
}

static int cancel_order(void *ctx, api_req *rq)
{
    int64_t id;
    int kind = parse_ref(api_path_arg(rq, 0), &id);
    if (kind == 1)
        return api_reply_error(rq, 403, "read_only",
                               "Orders of the old shop can only be viewed here.");
    if (kind < 0)
        return api_reply_error(rq, 404, "not_found", "No such order.");
    int rc = shop_order_action(ctx, id, api_who(rq)->user_id, "cancel", "user");
    if (rc == 2)
        return api_reply_error(rq, 404, "not_found", "No such order.");
    if (rc == 1)
        return api_reply_error(rq, 409, "not_cancellable",
                               "Only an order waiting for payment can be cancelled.");
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "The order could not be cancelled; retry.");
    return reply_str(rq, 200, shop_order_json(ctx, id, api_who(rq)->user_id));
}

static int admin_action(void *ctx, api_req *rq)
{
    int64_t id;
    const char *action = api_path_arg(rq, 1);
    if (parse_ref(api_path_arg(rq, 0), &id) != 0)
        return api_reply_error(rq, 404, "not_found", "No such order.");
    static const char *const ok[] = {"process", "ship", "deliver", "complete", "refund", "cancel"};
    int known = 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        known |= !strcmp(action, ok[i]);
    if (!known)
        return api_reply_error(rq, 404, "not_found", "Unknown order action.");
    char actor[80];
    snprintf(actor, sizeof actor, "admin:%s", api_who(rq)->subject);
    int rc = shop_order_action(ctx, id, 0, action, actor);
    if (rc == 2)
        return api_reply_error(rq, 404, "not_found", "No such order.");
    if (rc == 1)
        return api_reply_error(rq, 409, "invalid_transition",
                               "The order's state does not allow this action.");
    if (rc < 0)
        return api_reply_error(rq, 502, "action_failed",
                               "The action failed (payment provider?); retry.");
    return reply_str(rq, 200, shop_order_json(ctx, id, 0));
}

/* ---- provider notifications ---- */

static int64_t order_by_payment(shop *sh, const char *provider, const char *payment_id)
{
    sqlite3_stmt *st;
    int64_t id = 0;
    pthread_mutex_lock(&sh->mu);
    if (shop_prep(sh, "SELECT id FROM shop_orders WHERE provider = ? AND payment_id = ?", -1, &st,
                  NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, payment_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            id = sqlite3_column_int64(st, 0);
        shop_done(st);
    }
    pthread_mutex_unlock(&sh->mu);
    return id;
}

/* ЮKassa signs nothing: only its published addresses are believed, and even
 * then only the payment as re-fetched from the API is acted on. */
static int yk_notify(void *ctx, api_req *rq)
{
    shop *sh = ctx;
    const char *ip = api_peer_ip(rq);
    if (!pay_ip_allowed(sh->cfg.yk_notify_ips, ip)) {
        metric_add(&shop_m.notes_refused, 1);
        log_warn("payment_notification_refused", "ЮKassa notification from an unknown address",
                 "ip", ip ? ip : "?");
        return api_reply_error(rq, 403, "forbidden", "Address not allowed.");
    }
    const pay_provider *p = shop_provider(sh, "yookassa");
    if (!p)
        return api_reply_error(rq, 404, "not_found", "ЮKassa is not configured.");
    size_t len = 0;
    const char *body = api_body(rq, &len);
    pay_yk_note note;
    if (pay_yk_note_parse(body, len, &note) < 0) {
        metric_add(&shop_m.notes_bad, 1);
        return api_reply_error(rq, 400, "malformed", "Not a ЮKassa payment notification.");
    }
    if (strncmp(note.event, "payment.", 8)) /* refund.succeeded: nothing to do */
        return api_reply_json_str(rq, 200, "{}");
    pay_payment pp;
    pay_status ps = p->get(p->impl, note.payment_id, &pp);
    if (ps == PAY_DECLINED) {
        metric_add(&shop_m.notes_bad, 1);
        return api_reply_error(rq, 400, "unknown_payment", "ЮKassa does not know this payment.");
    }
    if (ps != PAY_OK) /* ЮKassa retries the notification */
        return api_reply_error(rq, 503, "provider_unavailable", "Could not re-fetch; retry.");
    int64_t oid = order_by_payment(sh, "yookassa", pp.id);
    if (!oid)
        oid = pp.order_id; /* created by a call whose reply we never got */
    if (!oid) {
        metric_add(&shop_m.notes_bad, 1);
        log_warn("payment_unknown", "ЮKassa payment for no order of ours");
        return api_reply_json_str(rq, 200, "{}");
    }
    if (shop_apply_payment(sh, oid, &pp, "yookassa_notification") < 0)
        log_warn("payment_apply_incomplete", "payment step left for the sweeper");
    return api_reply_json_str(rq, 200, "{}");
}

static int tg_seen(shop *sh, int64_t update_id, int record)
{
    sqlite3_stmt *st;
    int seen = 0;
    pthread_mutex_lock(&sh->mu);
    if (shop_prep(sh,
                  record ? "INSERT OR IGNORE INTO shop_tg_updates VALUES (?, ?)"
                         : "SELECT 1 FROM shop_tg_updates WHERE update_id = ?",
                  -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, update_id);
        if (record)
            sqlite3_bind_int64(st, 2, shop_now_ms());
        seen = sqlite3_step(st) == SQLITE_ROW;
        shop_done(st);
    }
    pthread_mutex_unlock(&sh->mu);
    return seen;
}

static int64_t payload_order(const char *payload)
{
    int64_t id;
    if (strncmp(payload, "order-", 6) || parse_ref(payload + 6, &id) != 0)
        return 0;
    return id;
}

/* Is the order still payable for exactly this amount? */
static int precheckout_ok(shop *sh, int64_t oid, const pay_tg_update *u)
{
    sqlite3_stmt *st;
    int ok = 0;
    pthread_mutex_lock(&sh->mu);
    if (shop_prep(sh,
                  "SELECT 1 FROM shop_orders WHERE id = ? AND state = 'pending_payment' "
                  "AND provider = 'telegram' AND total_minor = ? AND currency = ? AND "
                  "expires_ms > ?",
                  -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, oid);
        sqlite3_bind_int64(st, 2, u->total_amount);
        sqlite3_bind_text(st, 3, u->currency, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, shop_now_ms());
        ok = sqlite3_step(st) == SQLITE_ROW;
        shop_done(st);
    }
    pthread_mutex_unlock(&sh->mu);
    return ok;
}

static int tg_webhook(void *ctx, api_req *rq)
{
    shop *sh = ctx;
    const pay_provider *p = shop_provider(sh, "telegram");
    if (!p || !sh->cfg.tg_webhook_secret[0])
        return api_reply_error(rq, 404, "not_found", "Telegram Payments are not configured.");
    const char *sec = api_header(rq, "X-Telegram-Bot-Api-Secret-Token");
    size_t n = strlen(sh->cfg.tg_webhook_secret);
    if (!sec || strlen(sec) != n || !crypto_equal(sec, sh->cfg.tg_webhook_secret, n)) {
        metric_add(&shop_m.notes_refused, 1);
        log_warn("payment_notification_refused", "Telegram webhook without the secret token");
        return api_reply_error(rq, 401, "unauthorized", "Bad secret token.");
    }
    size_t len = 0;
    const char *body = api_body(rq, &len);
    pay_tg_update u;
    if (pay_tg_update_parse(body, len, &u) < 0) {
        metric_add(&shop_m.notes_bad, 1);
        return api_reply_error(rq, 400, "malformed", "Not a Telegram update.");
    }
    if (u.kind == PAY_TG_OTHER || tg_seen(sh, u.update_id, 0))
        return api_reply_json_str(rq, 200, "{}");
    int64_t oid = payload_order(u.payload);
    if (u.kind == PAY_TG_PRECHECKOUT) {
        int ok = oid && precheckout_ok(sh, oid, &u);
        if (pay_telegram_answer_precheckout(p, u.query_id, ok,
                                            ok ? NULL
                                               : "This order can no longer be paid. Please place "
                                                 "it again.") != PAY_OK)
            return api_reply_error(rq, 503, "provider_unavailable", "Could not answer; retry.");
    } else {
        pay_payment pp = {
            .state = PAY_STATE_SUCCEEDED, .amount_minor = u.total_amount, .order_id = oid};
        snprintf(pp.id, sizeof pp.id, "%.71s", u.telegram_charge_id);
        snprintf(pp.currency, sizeof pp.currency, "%s", u.currency);
        if (!oid) {
            metric_add(&shop_m.notes_bad, 1);
            log_error("payment_unknown", "successful_payment for no order of ours");
        } else if (shop_apply_payment(sh, oid, &pp, "telegram_successful_payment") < 0) {
            log_warn("payment_apply_incomplete", "successful_payment not fully applied");
        }
    }
    tg_seen(sh, u.update_id, 1);
    return api_reply_json_str(rq, 200, "{}");
}

/* Dev/test only (dev_legacy_link=1, and only while identity wires no link
 * hook): link the signed-in user to a legacy account by login + password. */
static int dev_legacy_link(void *ctx, api_req *rq)
{
    shop *sh = ctx;
    if (!sh->cfg.dev_legacy_link || sh->legacy_link || !sh->legacy)
        return api_reply_error(rq, 404, "not_found", "Not available.");
    const cJSON *b = api_body_json(rq);
    const cJSON *login = cJSON_GetObjectItemCaseSensitive(b, "login");
    const cJSON *pw = cJSON_GetObjectItemCaseSensitive(b, "password");
    if (!cJSON_IsString(login) || !cJSON_IsString(pw))
        return api_reply_error(rq, 400, "malformed", "Expected {\"login\",\"password\"}.");
    int64_t lid;
    if (legacy_verify_login(sh->legacy, login->valuestring, pw->valuestring, &lid) != LEGACY_OK)
        return api_reply_error(rq, 401, "invalid_credentials", "Login or password is wrong.");
    sqlite3_stmt *st;
    int ok = 0;
    pthread_mutex_lock(&sh->mu);
    if (shop_prep(sh, "INSERT OR REPLACE INTO shop_dev_legacy_links VALUES (?, ?)", -1, &st,
                  NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, api_who(rq)->user_id);
        sqlite3_bind_int64(st, 2, lid);
        ok = sqlite3_step(st) == SQLITE_DONE;
        shop_done(st);
    }
    pthread_mutex_unlock(&sh->mu);
    return ok ? api_reply_json_str(rq, 200, "{\"linked\":true}")
              : api_reply_error(rq, 500, "internal", "Could not link; retry.");
}

const api_route shop_routes[] = {
    {"GET", "/api/v1/shop/products", API_PUBLIC, "shop_products", get_products},
    {"GET", "/api/v1/shop/cart", API_USER, "shop_cart_get", get_cart},
    {"PUT", "/api/v1/shop/cart", API_USER, "shop_cart_put", put_cart},
    {"POST", "/api/v1/shop/checkout", API_USER, "shop_checkout", post_checkout},
    {"POST", "/api/v1/shop/dev/legacy-link", API_USER, "shop_dev_legacy_link", dev_legacy_link},
    {"GET", "/api/v1/orders", API_USER, "orders_list", list_orders},
    {"GET", "/api/v1/orders/*", API_USER, "orders_get", get_order},
    {"POST", "/api/v1/orders/*/cancel", API_USER, "orders_cancel", cancel_order},
    {"POST", "/api/v1/payments/yookassa/notify", API_PUBLIC, "payments_yookassa", yk_notify},
    {"POST", "/api/v1/payments/telegram/webhook", API_PUBLIC, "payments_telegram", tg_webhook},
    {"POST", "/api/v1/admin/orders/*/*", API_ADMIN, "admin_orders", admin_action},
};
const size_t shop_nroutes = sizeof shop_routes / sizeof shop_routes[0];
