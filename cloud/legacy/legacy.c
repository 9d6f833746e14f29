/* legacy.c - the legacy shop adapter: read-only SQLite, crypt(3) logins. */
#include "legacy.h"

#include <crypt.h>
#include <stdio.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"

#define LOGIN_MAX    254
#define PASSWORD_MAX 1024
#define HASH_MAX     CRYPT_OUTPUT_SIZE

struct legacy {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *q_login, *q_name, *q_orders, *q_order, *q_lines;
    /* The setting (kind, cost, salt) hashed for an unknown login: the most
     * common kind in the store, so a miss costs what a hit costs. */
    char dummy[HASH_MAX];
};

static metric m_login_ok, m_login_fail, m_unknown_status, m_errors;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void register_metrics(void)
{
    metric_register(&m_login_ok, "fitgate_legacy_logins_total", "counter",
                    "Legacy shop login checks", "result=\"ok\"");
    metric_register(&m_login_fail, "fitgate_legacy_logins_total", "counter",
                    "Legacy shop login checks", "result=\"failed\"");
    metric_register(&m_unknown_status, "fitgate_legacy_unknown_status_total", "counter",
                    "Legacy orders whose status name has no display state", NULL);
    metric_register(&m_errors, "fitgate_legacy_errors_total", "counter",
                    "Legacy store errors (unavailable, corrupt)", NULL);
}

static const struct {
    const char *legacy, *state;
} status_map[] = {
    {"new", "pending_payment"},
    {"wait_payment", "pending_payment"},
    {"paid", "paid"},
    {"in_work", "processing"},
    {"assembled", "processing"},
    {"sent", "shipped"},
    {"delivered", "delivered"},
    {"closed", "completed"},
    {"canceled", "cancelled"},
    {"refund", "refunded"},
};

const char *legacy_map_status(const char *s)
{
    pthread_once(&metrics_once, register_metrics);
    for (size_t i = 0; s && i < sizeof status_map / sizeof status_map[0]; i++)
        if (!strcasecmp(s, status_map[i].legacy))
            return status_map[i].state;
    metric_add(&m_unknown_status, 1);
    return "unknown";
}

static const char *sql_login = "SELECT customer_id, passwd, is_active FROM customers "
                               "WHERE lower(email) = lower(?1) OR phone = ?1 "
                               "ORDER BY customer_id LIMIT 1";
static const char *sql_name = "SELECT coalesce(nullif(full_name, ''), email, phone, '') "
                              "FROM customers WHERE customer_id = ?1";
static const char *sql_orders =
    "SELECT order_id, order_no, status, total_kop, currency, "
    "CAST(strftime('%s', created) AS INTEGER) * 1000, "
    "CAST(strftime('%s', coalesce(updated, created)) AS INTEGER) * 1000 "
    "FROM orders WHERE customer_id = ?1 ORDER BY created DESC, order_id DESC LIMIT ?2";
static const char *sql_order = "SELECT order_id, order_no, status, total_kop, currency, "
                               "CAST(strftime('%s', created) AS INTEGER) * 1000, "
                               "CAST(strftime('%s', coalesce(updated, created)) AS INTEGER) * 1000 "
                               "FROM orders WHERE customer_id = ?1 AND order_id = ?2";
static const char *sql_lines = "SELECT article, name, qty, price_kop FROM order_lines "
                               "WHERE order_id = ?1 ORDER BY line_id";

static int supported_hash(const char *h)
{
    return !strncmp(h, "$2b$", 4) || !strncmp(h, "$2y$", 4) || !strncmp(h, "$6$", 3);
}

static void pick_dummy(legacy *l)
{
    /* Fallback: bcrypt at the legacy app's default cost. */
    snprintf(l->dummy, sizeof l->dummy, "%s",
             "$2b$10$DummyHashForUnknownLoe58Tud9hjj3DTjJ6Zx/y6IUHdsKU0GZi");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT passwd FROM customers WHERE substr(passwd, 1, 4) IN "
                           "('$2b$', '$2y$') OR substr(passwd, 1, 3) = '$6$' "
                           "GROUP BY substr(passwd, 1, 7) ORDER BY count(*) DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        if (h && strlen(h) < sizeof l->dummy)
            snprintf(l->dummy, sizeof l->dummy, "%s", h);
    }
    sqlite3_finalize(st);
}

legacy_status legacy_open(legacy **out, const char *db_path_or_url)
{
    pthread_once(&metrics_once, register_metrics);
    *out = NULL;
    if (!db_path_or_url || !db_path_or_url[0]) {
        log_error("legacy_open_failed", "no legacy store configured");
        return LEGACY_ERR;
    }
    if (crypto_init() < 0)
        return LEGACY_ERR;
    legacy *l = calloc(1, sizeof *l);
    if (!l)
        return LEGACY_ERR;
    pthread_mutex_init(&l->mu, NULL);
    /* Read-only three times over: the open flag, the URI mode for plain
     * paths, and query_only (refuses writes even through a "file:" URI that
     * asked for rw). */
    char uri[2048];
    const char *name = db_path_or_url;
    if (strncmp(db_path_or_url, "file:", 5)) {
        if ((size_t)snprintf(uri, sizeof uri, "file:%s?mode=ro", db_path_or_url) >= sizeof uri)
            goto fail;
        name = uri;
    }
    if (sqlite3_open_v2(name, &l->db,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(l->db, 2000);
    if (sqlite3_exec(l->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    /* Preparing every query checks the schema. */
    if (sqlite3_prepare_v2(l->db, sql_login, -1, &l->q_login, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(l->db, sql_name, -1, &l->q_name, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(l->db, sql_orders, -1, &l->q_orders, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(l->db, sql_order, -1, &l->q_order, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(l->db, sql_lines, -1, &l->q_lines, NULL) != SQLITE_OK)
        goto fail;
    pick_dummy(l);
    *out = l;
    log_info("legacy_open", "legacy shop store opened read-only");
    return LEGACY_OK;
fail:
    metric_add(&m_errors, 1);
    log_error("legacy_open_failed", "cannot open the legacy shop store read-only", "error",
              l->db ? sqlite3_errmsg(l->db) : "path too long");
    legacy_close(l);
    return LEGACY_ERR;
}

void legacy_close(legacy *l)
{
    if (!l)
        return;
    sqlite3_finalize(l->q_login);
    sqlite3_finalize(l->q_name);
    sqlite3_finalize(l->q_orders);
    sqlite3_finalize(l->q_order);
    sqlite3_finalize(l->q_lines);
    sqlite3_close(l->db);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

legacy_status legacy_verify_login(legacy *l, const char *login, const char *password,
                                  int64_t *legacy_user_id)
{
    char stored[HASH_MAX] = "";
    int64_t id = 0;
    int active = 0, found = 0;
    legacy_status rc = LEGACY_NOT_FOUND;
    if (!login || !password)
        return LEGACY_NOT_FOUND;
    if (strlen(login) <= LOGIN_MAX && login[0]) {
        pthread_mutex_lock(&l->mu);
        sqlite3_stmt *st = l->q_login;
        sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            const char *h = (const char *)sqlite3_column_text(st, 1);
            if (h && strlen(h) < sizeof stored) {
                snprintf(stored, sizeof stored, "%s", h);
                id = sqlite3_column_int64(st, 0);
                active = sqlite3_column_int(st, 2) != 0;
                found = supported_hash(stored);
            }
        } else if (s != SQLITE_DONE) {
            rc = LEGACY_ERR;
            metric_add(&m_errors, 1);
            log_error("legacy_query_failed", "legacy login lookup failed", "error",
                      sqlite3_errmsg(l->db));
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&l->mu);
    }
    /* Hash even when there is nothing to compare with: a miss must cost what
     * a hit costs. Outside the mutex: bcrypt takes tens of milliseconds. */
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return LEGACY_ERR;
    size_t plen = strlen(password);
    const char *pw = plen <= PASSWORD_MAX ? password : "";
    const char *h = crypt_rn(pw, found ? stored : l->dummy, cd, (int)sizeof *cd);
    if (h && h[0] != '*' && found && active && plen <= PASSWORD_MAX && rc != LEGACY_ERR) {
        size_t n = strlen(stored);
        if (strlen(h) == n && crypto_equal(h, stored, n)) {
            rc = LEGACY_OK;
            *legacy_user_id = id;
        }
    }
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    explicit_bzero(stored, sizeof stored);
    metric_add(rc == LEGACY_OK ? &m_login_ok : &m_login_fail, 1);
    return rc;
}

legacy_status legacy_account_name(legacy *l, int64_t legacy_user_id, char *buf, size_t cap)
{
    legacy_status rc = LEGACY_NOT_FOUND;
    pthread_mutex_lock(&l->mu);
    sqlite3_stmt *st = l->q_name;
    sqlite3_bind_int64(st, 1, legacy_user_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(st, 0);
        snprintf(buf, cap, "%s", n ? n : "");
        rc = LEGACY_OK;
    } else if (s != SQLITE_DONE) {
        metric_add(&m_errors, 1);
        rc = LEGACY_ERR;
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* Orders are copied out under the mutex and handed to the callback after it
 * is released, so a callback may call the adapter again. */
typedef struct order_buf {
    legacy_order o;
    char *number, *status, *currency;
    legacy_order_line *lines;
    char **texts; /* sku/title strings of the lines, 2 per line */
} order_buf;

static char *dup_col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return strdup(s ? s : "");
}

static void order_buf_free(order_buf *b)
{
    free(b->number);
    free(b->status);
    free(b->currency);
    for (size_t i = 0; b->texts && i < 2 * b->o.n_lines; i++)
        free(b->texts[i]);
    free(b->texts);
    free(b->lines);
}

static int load_lines(legacy *l, order_buf *b)
{
    sqlite3_stmt *st = l->q_lines;
    sqlite3_bind_int64(st, 1, b->o.id);
    size_t cap = 0;
    int s, rc = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (b->o.n_lines == cap) {
            size_t nc = cap ? 2 * cap : 4;
            legacy_order_line *nl = realloc(b->lines, nc * sizeof *nl);
            if (nl)
                b->lines = nl;
            char **nt = nl ? realloc(b->texts, 2 * nc * sizeof *nt) : NULL;
            if (!nt) {
                rc = -1;
                break;
            }
            b->texts = nt;
            cap = nc;
        }
        size_t i = b->o.n_lines;
        b->texts[2 * i] = dup_col(st, 0);
        b->texts[2 * i + 1] = dup_col(st, 1);
        b->o.n_lines++;
        b->lines[i] = (legacy_order_line){.sku = b->texts[2 * i],
                                          .title = b->texts[2 * i + 1],
                                          .qty = sqlite3_column_int64(st, 2),
                                          .price_minor = sqlite3_column_int64(st, 3)};
        if (!b->texts[2 * i] || !b->texts[2 * i + 1]) {
            rc = -1;
            break;
        }
    }
    if (s != SQLITE_DONE && s != SQLITE_ROW)
        rc = -1;
    sqlite3_reset(st);
    b->o.lines = b->lines;
    return rc;
}

static int load_order_row(legacy *l, sqlite3_stmt *st, order_buf *b)
{
    memset(b, 0, sizeof *b);
    b->o.id = sqlite3_column_int64(st, 0);
    b->number = dup_col(st, 1);
    b->status = dup_col(st, 2);
    b->o.total_minor = sqlite3_column_int64(st, 3);
    b->currency = dup_col(st, 4);
    b->o.created_ms = sqlite3_column_int64(st, 5);
    b->o.updated_ms = sqlite3_column_int64(st, 6);
    if (!b->number || !b->status || !b->currency)
        return -1;
    b->o.number = b->number;
    b->o.legacy_status = b->status;
    b->o.state = legacy_map_status(b->status);
    b->o.currency = b->currency;
    return load_lines(l, b);
}

/* Run st with ?1 = a, ?2 = b; at most max rows (0 = all). */
static int walk(legacy *l, sqlite3_stmt *st, int64_t a, int64_t b, size_t max, legacy_order_fn fn,
                void *ctx)
{
    order_buf *bufs = NULL;
    size_t n = 0, cap = 0;
    int rc = LEGACY_OK, s;
    pthread_mutex_lock(&l->mu);
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    while ((s = sqlite3_step(st)) == SQLITE_ROW && (!max || n < max)) {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 8;
            order_buf *nb = realloc(bufs, nc * sizeof *nb);
            if (!nb) {
                rc = LEGACY_ERR;
                break;
            }
            bufs = nb;
            cap = nc;
        }
        if (load_order_row(l, st, &bufs[n++]) < 0) {
            rc = LEGACY_ERR;
            break;
        }
    }
    if (rc == LEGACY_OK && s != SQLITE_DONE && s != SQLITE_ROW) {
        rc = LEGACY_ERR;
        log_error("legacy_query_failed", "legacy order query failed", "error",
                  sqlite3_errmsg(l->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&l->mu);
    if (rc != LEGACY_OK)
        metric_add(&m_errors, 1);
    for (size_t i = 0; i < n && rc == LEGACY_OK; i++)
        rc = fn(ctx, &bufs[i].o);
    for (size_t i = 0; i < n; i++)
        order_buf_free(&bufs[i]);
    free(bufs);
    if (rc == LEGACY_OK && max == 1 && n == 0)
        return LEGACY_NOT_FOUND;
    return rc;
}

int legacy_list_orders(legacy *l, int64_t legacy_user_id, size_t limit, legacy_order_fn fn,
                       void *ctx)
{
    return walk(l, l->q_orders, legacy_user_id, limit ? (int64_t)limit : -1, 0, fn, ctx);
}

int legacy_get_order(legacy *l, int64_t legacy_user_id, int64_t order_id, legacy_order_fn fn,
                     void *ctx)
{
    return walk(l, l->q_order, legacy_user_id, order_id, 1, fn, ctx);
}
