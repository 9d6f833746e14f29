/* shop_payment.c - what providers say, turned into order transitions.
 *
 * The database is never locked across a provider call: read under the mutex,
 * call the provider, then decide again under the mutex from the state found
 * then (an order may have moved meanwhile). Provider calls carry keys made
 * from the order id, so repeating any step is harmless:
 *   order-<id>-create   create the payment
 *   order-<id>-capture  take held money (ЮKassa two-stage payments)
 *   order-<id>-void     release money held for an order that was cancelled
 *   order-<id>-refund   return money (operator refund, or a payment that
 *                       succeeded after its order was cancelled)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/log.h"
#include "shop_int.h"

const pay_provider *shop_provider(shop *sh, const char *name)
{
    for (size_t i = 0; i < sh->nproviders; i++)
        if (!strcmp(sh->providers[i].name, name))
            return &sh->providers[i];
    return NULL;
}

typedef struct order_pay {
    char state[32], provider[16], payment_id[72], currency[8], pay_state[16];
    int64_t total, user;
} order_pay;

static int load_pay(shop *sh, int64_t order_id, order_pay *o)
{
    sqlite3_stmt *st;
    memset(o, 0, sizeof *o);
    if (shop_prep(sh,
                  "SELECT state, provider, coalesce(payment_id, ''), currency, "
                  "total_minor, user_id, payment_state FROM shop_orders WHERE id = ?",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, order_id);
    int rc = 2;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(o->state, sizeof o->state, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(o->provider, sizeof o->provider, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(o->payment_id, sizeof o->payment_id, "%s",
                 (const char *)sqlite3_column_text(st, 2));
        snprintf(o->currency, sizeof o->currency, "%s", (const char *)sqlite3_column_text(st, 3));
        o->total = sqlite3_column_int64(st, 4);
        o->user = sqlite3_column_int64(st, 5);
        snprintf(o->pay_state, sizeof o->pay_state, "%s", (const char *)sqlite3_column_text(st, 6));
        rc = 0;
    }
    shop_done(st);
    return rc;
}

static int save_payment(shop *sh, int64_t order_id, const pay_payment *p)
{
    sqlite3_stmt *st;
    if (shop_prep(sh,
                  "UPDATE shop_orders SET payment_id = coalesce(nullif(?, ''), "
                  "payment_id), payment_url = coalesce(nullif(?, ''), payment_url), "
                  "payment_state = ?, updated_ms = ? WHERE id = ?",
                  -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, pay_state_name(p->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, shop_now_ms());
    sqlite3_bind_int64(st, 5, order_id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    shop_done(st);
    return rc;
}

static void key_for(char *buf, size_t cap, int64_t order_id, const char *step)
{
    snprintf(buf, cap, "order-%lld-%s", (long long)order_id, step);
}

int shop_payment_create(shop *sh, int64_t order_id, pay_payment *out, pay_status *ps)
{
    order_pay o;
    char num[32], desc[96], key[64];
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&sh->mu);
    int rc = load_pay(sh, order_id, &o);
    pthread_mutex_unlock(&sh->mu);
    if (rc)
        return -1;
    if (strcmp(o.state, ST_PENDING) || o.payment_id[0]) {
        *ps = PAY_OK; /* already has its payment, or has moved on */
        return 0;
    }
    const pay_provider *p = shop_provider(sh, o.provider);
    if (!p) {
        *ps = PAY_ERR;
        return -1;
    }
    snprintf(num, sizeof num, "FG-%06lld", (long long)order_id);
    snprintf(desc, sizeof desc, "Order %s", num);
    key_for(key, sizeof key, order_id, "create");
    pay_request rq = {.order_id = order_id,
                      .order_number = num,
                      .amount_minor = o.total,
                      .currency = o.currency,
                      .description = desc};
    *ps = p->create(p->impl, &rq, key, out);
    if (*ps != PAY_OK && *ps != PAY_DECLINED) {
        metric_add(&shop_m.provider_errors, 1);
        return -1;
    }
    pthread_mutex_lock(&sh->mu);
    rc = shop_begin(sh->db);
    if (rc == 0 && *ps == PAY_OK)
        rc = save_payment(sh, order_id, out);
    if (rc == 0 && *ps == PAY_DECLINED)
        rc = shop_transition(sh, order_id, ST_CANCELLED, "payment_declined", "provider") < 0;
    if (rc == 0)
        rc = shop_commit(sh->db);
    else
        shop_rollback(sh->db);
    pthread_mutex_unlock(&sh->mu);
    if (rc)
        return -1;
    return *ps == PAY_OK ? 0 : -1;
}

/* A follow-up call on the provider, outside the mutex. */
enum follow { F_NONE, F_CAPTURE, F_VOID, F_REFUND };

int shop_apply_payment(shop *sh, int64_t order_id, const pay_payment *p, const char *via)
{
    order_pay o;
    enum follow next = F_NONE;
    pthread_mutex_lock(&sh->mu);
    if (shop_begin(sh->db) < 0) {
        pthread_mutex_unlock(&sh->mu);
        return -1;
    }
    int rc = load_pay(sh, order_id, &o);
    if (rc == 0 && (p->amount_minor != o.total || strcmp(p->currency, o.currency))) {
        /* Never act on a payment that does not match the order. */
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)order_id);
        log_error("payment_mismatch", "payment amount or currency differs from the order",
                  "order_id", id, "via", via);
        metric_add(&shop_m.notes_bad, 1);
        rc = -1;
    }
    const pay_provider *stable = rc == 0 ? shop_provider(sh, o.provider) : NULL;
    /* Providers that can re-fetch have one id per payment for good (Telegram's
     * reference changes from the invoice payload to the charge id). */
    if (rc == 0 && stable && stable->get && o.payment_id[0] && strcmp(o.payment_id, p->id)) {
        /* One order, one payment: another one naming this order is not ours to act on. */
        log_error("payment_mismatch", "a second payment names this order; ignored", "via", via);
        metric_add(&shop_m.notes_bad, 1);
        rc = -1;
    }
    if (rc == 0 && p->state != PAY_STATE_UNKNOWN)
        rc = save_payment(sh, order_id, p);
    int pending = rc == 0 && !strcmp(o.state, ST_PENDING);
    int cancelled = rc == 0 && !strcmp(o.state, ST_CANCELLED);
    if (rc == 0) {
        switch (p->state) {
        case PAY_STATE_SUCCEEDED:
            if (pending)
                rc = shop_transition(sh, order_id, ST_PAID, via, "provider") < 0;
            else if (cancelled)
                next = F_REFUND; /* paid after the order timed out */
            break;
        case PAY_STATE_AUTHORISED:
            next = pending ? F_CAPTURE : cancelled ? F_VOID : F_NONE;
            break;
        case PAY_STATE_CANCELED:
            if (pending) {
                char reason[96];
                snprintf(reason, sizeof reason, "payment_canceled%s%s", p->reason[0] ? ":" : "",
                         p->reason);
                rc = shop_transition(sh, order_id, ST_CANCELLED, reason, "provider") < 0;
            }
            break;
        default:
            break;
        }
    }
    if (rc == 0)
        rc = shop_commit(sh->db);
    else
        shop_rollback(sh->db);
    pthread_mutex_unlock(&sh->mu);
    if (rc || next == F_NONE)
        return rc ? -1 : 0;
    const pay_provider *prov = shop_provider(sh, o.provider);
    char key[64];
    pay_payment r = {0};
    pay_status ps = PAY_ERR;
    if (next == F_CAPTURE && prov && prov->capture) {
        key_for(key, sizeof key, order_id, "capture");
        ps = prov->capture(prov->impl, p->id, o.total, o.currency, key, &r);
        /* The order may have timed out meanwhile: the next pass refunds. */
        if (ps == PAY_OK)
            return shop_apply_payment(sh, order_id, &r, "capture");
    } else if (next == F_VOID && prov && prov->cancel) {
        key_for(key, sizeof key, order_id, "void");
        ps = prov->cancel(prov->impl, p->id, key, &r);
        if (ps == PAY_OK) {
            pthread_mutex_lock(&sh->mu);
            if (shop_begin(sh->db) == 0) {
                if (save_payment(sh, order_id, &r) == 0)
                    shop_commit(sh->db);
                else
                    shop_rollback(sh->db);
            }
            pthread_mutex_unlock(&sh->mu);
        }
    } else if (next == F_REFUND && prov && prov->refund) {
        char refund_id[72] = "";
        key_for(key, sizeof key, order_id, "refund");
        ps = prov->refund(prov->impl, p->id, o.total, o.currency, key, refund_id);
        if (ps == PAY_OK) {
            pthread_mutex_lock(&sh->mu);
            sqlite3_stmt *st;
            if (shop_prep(sh,
                          "UPDATE shop_orders SET refund_id = ?, payment_state = "
                          "'refunded' WHERE id = ?",
                          -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, refund_id, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 2, order_id);
                sqlite3_step(st);
                shop_done(st);
            }
            pthread_mutex_unlock(&sh->mu);
        }
    }
    if (next == F_REFUND && (!prov || !prov->refund)) {
        /* Telegram cannot refund through the Bot API: an operator must. */
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)order_id);
        log_error("refund_required",
                  "paid after the order was cancelled; refund it through the "
                  "payment provider",
                  "order_id", id, "provider", o.provider);
        metric_add(&shop_m.provider_errors, 1);
        return -1;
    }
    if (ps != PAY_OK) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)order_id);
        log_warn("payment_followup_failed", "provider follow-up call failed; retried later",
                 "order_id", id, "step",
                 next == F_CAPTURE ? "capture"
                 : next == F_VOID  ? "void"
                                   : "refund");
        metric_add(&shop_m.provider_errors, 1);
        return -1;
    }
    return 0;
}

/* An operator refund: provider first (money back), then the state. */
int shop_refund(shop *sh, int64_t order_id, const char *actor)
{
    order_pay o;
    pthread_mutex_lock(&sh->mu);
    int rc = load_pay(sh, order_id, &o);
    pthread_mutex_unlock(&sh->mu);
    if (rc)
        return rc;
    static const char *const refundable[] = {ST_PAID, ST_PROCESSING, ST_SHIPPED, ST_DELIVERED,
                                             ST_COMPLETED};
    int ok = 0;
    for (size_t i = 0; i < sizeof refundable / sizeof refundable[0]; i++)
        ok |= !strcmp(o.state, refundable[i]);
    if (!ok)
        return 1;
    const pay_provider *prov = shop_provider(sh, o.provider);
    char refund_id[72] = "", key[64];
    if (prov && prov->refund && o.payment_id[0]) {
        key_for(key, sizeof key, order_id, "refund");
        if (prov->refund(prov->impl, o.payment_id, o.total, o.currency, key, refund_id) != PAY_OK)
            return -1;
    } else {
        log_warn("refund_manual", "provider cannot refund through the API: record only", "actor",
                 actor);
    }
    pthread_mutex_lock(&sh->mu);
    rc = shop_begin(sh->db);
    if (rc == 0)
        rc = shop_transition(sh, order_id, ST_REFUNDED, "refund", actor);
    if (rc == 0) {
        sqlite3_stmt *st;
        if (shop_prep(sh,
                      "UPDATE shop_orders SET refund_id = nullif(?, ''), payment_state "
                      "= 'refunded' WHERE id = ?",
                      -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, refund_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, order_id);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            shop_done(st);
        }
    }
    if (rc == 0)
        rc = shop_commit(sh->db);
    else
        shop_rollback(sh->db);
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* ---- the sweeper's work ---- */

typedef struct due {
    int64_t id;
    char provider[16], payment_id[72];
    int expired;
} due;

/* Orders still waiting for their payment that need a look: expired ones, and
 * ones whose money is held but not captured yet. */
static size_t find_due(shop *sh, int64_t now, due *d, size_t cap)
{
    sqlite3_stmt *st;
    size_t n = 0;
    pthread_mutex_lock(&sh->mu);
    if (shop_prep(sh,
                  "SELECT id, provider, coalesce(payment_id, ''), expires_ms <= ?1 FROM "
                  "shop_orders WHERE state = 'pending_payment' AND (expires_ms <= ?1 OR "
                  "payment_state = 'authorised') ORDER BY id LIMIT ?2",
                  -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, (int64_t)cap);
        while (n < cap && sqlite3_step(st) == SQLITE_ROW) {
            d[n].id = sqlite3_column_int64(st, 0);
            snprintf(d[n].provider, sizeof d[n].provider, "%s",
                     (const char *)sqlite3_column_text(st, 1));
            snprintf(d[n].payment_id, sizeof d[n].payment_id, "%s",
                     (const char *)sqlite3_column_text(st, 2));
            d[n].expired = sqlite3_column_int(st, 3);
            n++;
        }
        shop_done(st);
    }
    pthread_mutex_unlock(&sh->mu);
    return n;
}

static int expire_one(shop *sh, const due *d)
{
    const pay_provider *p = shop_provider(sh, d->provider);
    if (d->payment_id[0] && p && p->get) {
        pay_payment pp;
        pay_status ps = p->get(p->impl, d->payment_id, &pp);
        if (ps == PAY_UNAVAILABLE || ps == PAY_ERR)
            return 0; /* cannot tell: look again next sweep */
        if (ps == PAY_OK && pp.state != PAY_STATE_PENDING) {
            shop_apply_payment(sh, d->id, &pp, "sweep");
            return 1;
        }
    }
    if (!d->expired)
        return 0;
    pthread_mutex_lock(&sh->mu);
    int rc = shop_begin(sh->db);
    if (rc == 0)
        rc = shop_transition(sh, d->id, ST_CANCELLED, "payment_timeout", "sweeper");
    if (rc == 0)
        rc = shop_commit(sh->db);
    else
        shop_rollback(sh->db);
    pthread_mutex_unlock(&sh->mu);
    return rc == 0;
}

/* Checkouts whose process died (or whose payment call timed out and nobody
 * retried): create their payment now, with the same provider key. */
static int resume_keys(shop *sh, int64_t now)
{
    typedef struct {
        int64_t user, order;
        char key[256];
    } open_key;
    open_key k[16];
    size_t n = 0;
    sqlite3_stmt *st;
    pthread_mutex_lock(&sh->mu);
    if (shop_prep(sh,
                  "SELECT user_id, key, order_id FROM shop_idempotency WHERE state = "
                  "'open' OR (state = 'running' AND (owner != ?1 OR lease_ms <= ?2)) "
                  "LIMIT 16",
                  -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)sh->boot_id);
        sqlite3_bind_int64(st, 2, now);
        while (n < 16 && sqlite3_step(st) == SQLITE_ROW) {
            k[n].user = sqlite3_column_int64(st, 0);
            snprintf(k[n].key, sizeof k[n].key, "%s", (const char *)sqlite3_column_text(st, 1));
            k[n].order = sqlite3_column_int64(st, 2);
            n++;
        }
        shop_done(st);
    }
    pthread_mutex_unlock(&sh->mu);
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        /* Take the lease so a client retry meanwhile gets 409, not a race. */
        pthread_mutex_lock(&sh->mu);
        int mine = 0;
        if (shop_prep(sh,
                      "UPDATE shop_idempotency SET state = 'running', owner = ?1, "
                      "lease_ms = ?2 WHERE user_id = ?3 AND key = ?4 AND (state = "
                      "'open' OR (state = 'running' AND (owner != ?1 OR lease_ms <= "
                      "?5)))",
                      -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (int64_t)sh->boot_id);
            sqlite3_bind_int64(st, 2, now + 60000);
            sqlite3_bind_int64(st, 3, k[i].user);
            sqlite3_bind_text(st, 4, k[i].key, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, now);
            mine = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(sh->db) == 1;
            shop_done(st);
        }
        pthread_mutex_unlock(&sh->mu);
        if (mine && shop_checkout_resume(sh, k[i].user, k[i].key, k[i].order) == 0)
            changed++;
    }
    return changed;
}

int shop_sweep(shop *sh, int64_t now_ms)
{
    int changed = 0;
    due d[32];
    size_t n = find_due(sh, now_ms, d, 32);
    for (size_t i = 0; i < n; i++)
        changed += expire_one(sh, &d[i]);
    resume_keys(sh, now_ms);
    char sql[200];
    snprintf(sql, sizeof sql,
             "DELETE FROM shop_idempotency WHERE created_ms < %lld AND state != 'running';"
             "DELETE FROM shop_tg_updates WHERE at_ms < %lld",
             (long long)(now_ms - sh->cfg.idempotency_ttl_s * 1000),
             (long long)(now_ms - 7 * 86400 * 1000LL));
    pthread_mutex_lock(&sh->mu);
    sqlite3_exec(sh->db, sql, NULL, NULL, NULL);
    pthread_mutex_unlock(&sh->mu);
    return changed;
}
