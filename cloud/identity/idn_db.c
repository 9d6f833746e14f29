/* idn_db.c - the identity tables: users, messenger identities, audit log,
 * and the events they emit through the outbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "idn_int.h"
#include "outbox.h"

static const char *schema =
    "CREATE TABLE IF NOT EXISTS identity_users("
    " id INTEGER PRIMARY KEY, created_ms INTEGER NOT NULL, name TEXT NOT NULL DEFAULT '',"
    " lang TEXT NOT NULL DEFAULT '', tz TEXT NOT NULL DEFAULT '', birth_year INTEGER NOT NULL "
    "DEFAULT 0,"
    " max_hr INTEGER NOT NULL DEFAULT 0, email TEXT NOT NULL DEFAULT '', phone TEXT NOT NULL "
    "DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS identity_links("
    " provider TEXT NOT NULL, subject TEXT NOT NULL, user_id INTEGER NOT NULL,"
    " display TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,"
    " PRIMARY KEY(provider, subject));"
    "CREATE INDEX IF NOT EXISTS identity_links_user ON identity_links(user_id);"
    "CREATE TABLE IF NOT EXISTS identity_initdata_used(mac BLOB PRIMARY KEY, until_ms INTEGER "
    "NOT NULL);"
    "CREATE TABLE IF NOT EXISTS identity_sessions("
    " id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, method TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, mfa_ms INTEGER NOT NULL DEFAULT 0, last_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL DEFAULT 0, revoke_reason TEXT,"
    " ip TEXT NOT NULL DEFAULT '', user_agent TEXT NOT NULL DEFAULT '',"
    " refresh_hash BLOB, refresh_exp_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS identity_sessions_user ON identity_sessions(user_id);"
    "CREATE TABLE IF NOT EXISTS identity_refresh_used("
    " session_id INTEGER NOT NULL, hash BLOB NOT NULL, used_ms INTEGER NOT NULL,"
    " PRIMARY KEY(session_id, hash)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS identity_mfa_pending("
    " hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL, method TEXT NOT NULL,"
    " expires_ms INTEGER NOT NULL, created INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS identity_totp("
    " user_id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, sealed BLOB NOT NULL,"
    " last_step INTEGER NOT NULL DEFAULT -1, created_ms INTEGER NOT NULL,"
    " confirmed_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS identity_backup_codes("
    " user_id INTEGER NOT NULL, hash BLOB NOT NULL, created_ms INTEGER NOT NULL,"
    " used_ms INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(user_id, hash));"
    "CREATE TABLE IF NOT EXISTS identity_oob_methods("
    " user_id INTEGER NOT NULL, channel TEXT NOT NULL, dest TEXT NOT NULL DEFAULT '',"
    " pending_dest TEXT NOT NULL DEFAULT '', verified_ms INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(user_id, channel));"
    "CREATE TABLE IF NOT EXISTS identity_oob_codes("
    " id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, channel TEXT NOT NULL,"
    " dest TEXT NOT NULL, purpose TEXT NOT NULL, hash BLOB NOT NULL,"
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " used_ms INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS identity_oob_codes_user ON identity_oob_codes(user_id, channel);"
    "CREATE TABLE IF NOT EXISTS identity_throttle("
    " user_id INTEGER PRIMARY KEY, failures INTEGER NOT NULL DEFAULT 0,"
    " next_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS identity_audit("
    " id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
    " event TEXT NOT NULL, ip TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS identity_audit_user ON identity_audit(user_id, id);"
    "CREATE TABLE IF NOT EXISTS identity_legacy("
    " user_id INTEGER PRIMARY KEY, legacy_id INTEGER NOT NULL UNIQUE, linked_ms INTEGER NOT "
    "NULL);"
    "CREATE TABLE IF NOT EXISTS identity_link_tokens("
    " hash BLOB PRIMARY KEY, provider TEXT NOT NULL, subject TEXT NOT NULL,"
    " display TEXT NOT NULL DEFAULT '', until_ms INTEGER NOT NULL,"
    " used_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS identity_wa_seen(msg_id TEXT PRIMARY KEY, ts_ms INTEGER NOT "
    "NULL);"
    /* E-mail recoveries (idn_recovery.c): the cooldown reads the last one. */
    "CREATE TABLE IF NOT EXISTS identity_recovery("
    " id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS identity_recovery_user ON identity_recovery(user_id, ts_ms);";

int64_t idn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Busy handler for the identity connection. SQLite's own sleeps at least
 * 1 ms when another connection holds the write lock, and the other modules'
 * writes on this file (the outbox relay, the shop's sweeper) hold it for
 * tens of microseconds: a sign-in that collided with one waited 1-2 ms, and
 * up to 79 ms when it collided repeatedly. Short waits first, then 1 ms
 * steps, giving up after about 5 s as before. */
static int busy_wait(void *ctx, int count)
{
    (void)ctx;
    enum { SHORT = 10, MID = 40, LIMIT = 5000 + MID };
    if (count >= LIMIT)
        return 0;
    struct timespec ts = {0, count < SHORT ? 20000 : count < MID ? 100000 : 1000000};
    nanosleep(&ts, NULL);
    return 1;
}

/* Changes to files made by earlier versions ("duplicate column" is the
 * expected answer on newer ones). Refresh tokens used to be rows of their
 * own (identity_refresh): their hash is now kept in the session row, and
 * tokens of the old format are refused, so sessions from before the upgrade
 * sign in again once. */
static const char *const migrations[] = {
    "ALTER TABLE identity_sessions ADD COLUMN refresh_hash BLOB",
    "ALTER TABLE identity_sessions ADD COLUMN refresh_exp_ms INTEGER NOT NULL DEFAULT 0",
    "DROP TABLE IF EXISTS identity_refresh",
};

int idn_db_open(idn *d)
{
    if (sqlite3_open_v2(d->cfg.db_path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        log_error("identity_db", "cannot open the identity tables", "path", d->cfg.db_path);
        return -1;
    }
    sqlite3_busy_handler(d->db, busy_wait, NULL);
    char *err = NULL;
    if (sqlite3_exec(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &err) != SQLITE_OK ||
        sqlite3_exec(d->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        log_error("identity_db", "cannot create the identity tables", "error", err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++)
        sqlite3_exec(d->db, migrations[i], NULL, NULL, NULL);
    return outbox_init(d->db);
}

int idn_begin(idn *d)
{
    return sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int idn_commit(idn *d)
{
    if (sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    idn_rollback(d);
    return -1;
}

void idn_rollback(idn *d)
{
    sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Statements are prepared once per SQL text (the callers pass string
 * literals, so the pointer identifies the text) and reset between uses:
 * preparing costs as much as running these small statements, and it happens
 * under the module's lock. */
sqlite3_stmt *idn_prep(idn *d, const char *sql)
{
    for (size_t i = 0; i < d->n_stmts; i++)
        if (d->stmts[i].sql == sql && !d->stmts[i].busy) {
            d->stmts[i].busy = 1;
            return d->stmts[i].st;
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        log_error("identity_db", "prepare failed", "error", sqlite3_errmsg(d->db));
        return NULL;
    }
    if (d->n_stmts < IDN_STMTS_MAX)
        d->stmts[d->n_stmts++] = (idn_stmt){.sql = sql, .st = st, .busy = 1};
    return st;
}

void idn_done(idn *d, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < d->n_stmts; i++)
        if (d->stmts[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            d->stmts[i].busy = 0;
            return;
        }
    sqlite3_finalize(st); /* not cached (cache full) */
}

void idn_stmts_free(idn *d)
{
    for (size_t i = 0; i < d->n_stmts; i++)
        sqlite3_finalize(d->stmts[i].st);
    d->n_stmts = 0;
}

int idn_exec_i(idn *d, const char *sql, int n, int64_t a, int64_t b, int64_t c, int64_t e)
{
    sqlite3_stmt *st = idn_prep(d, sql);
    if (!st)
        return -1;
    int64_t v[4] = {a, b, c, e};
    for (int i = 0; i < n && i < 4; i++)
        sqlite3_bind_int64(st, i + 1, v[i]);
    int rc = sqlite3_step(st);
    idn_done(d, st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int64_t idn_scalar_i(idn *d, const char *sql, int64_t a, int64_t dflt)
{
    sqlite3_stmt *st = idn_prep(d, sql);
    if (!st)
        return dflt;
    sqlite3_bind_int64(st, 1, a);
    int64_t v = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
                    ? sqlite3_column_int64(st, 0)
                    : dflt;
    idn_done(d, st);
    return v;
}

void idn_audit(idn *d, int64_t user_id, const char *event, const char *ip, const char *detail)
{
    sqlite3_stmt *st = idn_prep(
        d, "INSERT INTO identity_audit(user_id, ts_ms, event, ip, detail) VALUES(?,?,?,?,?)");
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, idn_now_ms());
    sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ip ? ip : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, detail ? detail : "", -1, SQLITE_STATIC);
    sqlite3_step(st);
    idn_done(d, st);
    idn_count(event);
}

/* Security events as counters: fitgate_identity_events_total{event=...}. */
static const char *const event_names[] = {
    "registered",
    "sign_in",
    "sign_in_failed",
    "mfa_ok",
    "mfa_failed",
    "mfa_locked",
    "refresh_reuse",
    "2fa_enabled",
    "2fa_disabled",
    "identity_linked",
    "identity_unlinked",
    "legacy_linked",
    "legacy_failed",
    "logout",
    "logout_all",
    "backup_code_used",
    "backup_codes_generated",
    "oob_sent",
    "bad_input",
    "unlocked",
    "other",
};
#define N_EVENTS (sizeof event_names / sizeof event_names[0])
static metric m_events[N_EVENTS];
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_setup(void)
{
    for (size_t i = 0; i < N_EVENTS; i++) {
        char *labels = malloc(64);
        if (!labels)
            continue;
        snprintf(labels, 64, "event=\"%s\"", event_names[i]);
        metric_register(&m_events[i], "fitgate_identity_events_total", "counter",
                        "Identity security events (sign-ins, 2FA, linking)", labels);
    }
}

void idn_count(const char *event)
{
    pthread_once(&metrics_once, metrics_setup);
    for (size_t i = 0; i < N_EVENTS; i++)
        if (!strcmp(event_names[i], event)) {
            metric_add(&m_events[i], 1);
            return;
        }
    metric_add(&m_events[N_EVENTS - 1], 1);
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

int idn_user_get(idn *d, int64_t user_id, idn_user *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = idn_prep(d, "SELECT id, name, lang, tz, birth_year, max_hr, email, phone,"
                                   " created_ms FROM identity_users WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        col_text(st, 1, out->name, sizeof out->name);
        col_text(st, 2, out->lang, sizeof out->lang);
        col_text(st, 3, out->tz, sizeof out->tz);
        out->birth_year = sqlite3_column_int64(st, 4);
        out->max_hr = sqlite3_column_int64(st, 5);
        col_text(st, 6, out->email, sizeof out->email);
        col_text(st, 7, out->phone, sizeof out->phone);
        out->created_ms = sqlite3_column_int64(st, 8);
    }
    idn_done(d, st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int idn_emit(idn *d, int64_t user_id, const char *type, const char *id_suffix, cJSON *data)
{
    char key[32], id[160], subject[48];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    snprintf(id, sizeof id, "user/%lld/%s", (long long)user_id, id_suffix);
    snprintf(subject, sizeof subject, "user/%lld", (long long)user_id);
    sqlite3_stmt *st = idn_prep(d, OUTBOX_INSERT_SQL);
    int rc = outbox_add_prepared(st, EVT_TOPIC_IDENTITY, key, id, type, "fitgate-core/identity",
                                 subject, data);
    idn_done(d, st);
    cJSON_Delete(data);
    return rc;
}

int idn_link_find(idn *d, const char *provider, const char *subject, int64_t *user_id)
{
    sqlite3_stmt *st =
        idn_prep(d, "SELECT user_id FROM identity_links WHERE provider = ? AND subject = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *user_id = sqlite3_column_int64(st, 0);
    idn_done(d, st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int idn_link_add(idn *d, int64_t user_id, const char *provider, const char *subject,
                 const char *display, int64_t now_ms)
{
    int64_t owner = 0;
    int rc = idn_link_find(d, provider, subject, &owner);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return owner == user_id ? 0 : 1;
    sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_links(provider, subject, user_id, display,"
                                   " created_ms) VALUES(?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, user_id);
    sqlite3_bind_text(st, 4, display ? display : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms);
    rc = sqlite3_step(st);
    idn_done(d, st);
    if (rc != SQLITE_DONE)
        return -1;
    cJSON *data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "user_id", (double)user_id);
    cJSON_AddStringToObject(data, "provider", provider);
    char suffix[160];
    snprintf(suffix, sizeof suffix, "linked/%s/%s", provider, subject);
    return idn_emit(d, user_id, EVT_TYPE_IDENTITY_LINKED, suffix, data) < 0 ? -1 : 0;
}

int idn_register(idn *d, const char *provider, const char *subject, const char *name,
                 const char *lang, int64_t now_ms, int64_t *user_id, int *created)
{
    *created = 0;
    int rc = idn_link_find(d, provider, subject, user_id);
    if (rc <= 0)
        return rc;
    /* RegisterUser: the user row, its first identity and UserRegistered,
     * all in the caller's transaction. */
    sqlite3_stmt *st =
        idn_prep(d, "INSERT INTO identity_users(created_ms, name, lang) VALUES(?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_text(st, 2, name ? name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, lang ? lang : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    idn_done(d, st);
    if (rc != SQLITE_DONE)
        return -1;
    *user_id = sqlite3_last_insert_rowid(d->db);
    st = idn_prep(d, "INSERT INTO identity_links(provider, subject, user_id, display, created_ms)"
                     " VALUES(?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, *user_id);
    sqlite3_bind_text(st, 4, name ? name : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms);
    rc = sqlite3_step(st);
    idn_done(d, st);
    if (rc != SQLITE_DONE)
        return -1;
    cJSON *data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "user_id", (double)*user_id);
    cJSON_AddStringToObject(data, "provider", provider);
    cJSON_AddStringToObject(data, "name", name ? name : "");
    cJSON_AddStringToObject(data, "lang", lang ? lang : "");
    cJSON_AddNumberToObject(data, "registered_ms", (double)now_ms);
    if (idn_emit(d, *user_id, EVT_TYPE_USER_REGISTERED, "registered", data) < 0)
        return -1;
    idn_audit(d, *user_id, "registered", NULL, provider);
    *created = 1;
    return 0;
}

cJSON *idn_user_json(idn *d, const idn_user *u, int full)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)u->id);
    cJSON_AddStringToObject(j, "first_name", u->name); /* the mini app's field */
    cJSON_AddStringToObject(j, "name", u->name);
    cJSON_AddStringToObject(j, "lang", u->lang);
    /* Older clients read username and tg_id from the user object. */
    sqlite3_stmt *st = idn_prep(d, "SELECT provider, subject, display, created_ms FROM "
                                   "identity_links WHERE user_id = ? ORDER BY created_ms");
    cJSON *ids = cJSON_AddArrayToObject(j, "identities");
    if (st) {
        sqlite3_bind_int64(st, 1, u->id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *prov = (const char *)sqlite3_column_text(st, 0);
            const char *sub = (const char *)sqlite3_column_text(st, 1);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "provider", prov);
            cJSON_AddStringToObject(o, "subject", sub);
            cJSON_AddStringToObject(o, "display", (const char *)sqlite3_column_text(st, 2));
            cJSON_AddItemToArray(ids, o);
            if (!strcmp(prov, "telegram") && !cJSON_GetObjectItem(j, "tg_id"))
                cJSON_AddNumberToObject(j, "tg_id", strtod(sub, NULL));
        }
        idn_done(d, st);
    }
    if (full) {
        cJSON_AddStringToObject(j, "tz", u->tz);
        cJSON_AddNumberToObject(j, "birth_year", (double)u->birth_year);
        cJSON_AddNumberToObject(j, "max_hr", (double)u->max_hr);
        cJSON_AddStringToObject(j, "email", u->email);
        cJSON_AddStringToObject(j, "phone", u->phone);
        cJSON_AddNumberToObject(j, "created_ms", (double)u->created_ms);
    }
    return j;
}

/* The tables a sign-in writes grow at the sign-in rate. They are trimmed in
 * small steps from their oldest end (rows are in time order by id): each
 * step looks at no more than IDN_GC_STEP rows, so it never holds the lock
 * long, whatever the table's size; a full scan of them once a minute took
 * tens of milliseconds at a few hundred thousand rows. A row that outlives
 * the ones after it (rare: init data near its expiry are remembered a minute
 * more) just waits for the step that finds it first in line. */
#define IDN_GC_STEP 2000

void idn_gc_step(idn *d)
{
    static const char *const sql[] = {
        "DELETE FROM identity_initdata_used WHERE rowid IN (SELECT rowid FROM (SELECT rowid,"
        " until_ms FROM identity_initdata_used ORDER BY rowid LIMIT ?2) WHERE until_ms < ?1)",
        /* sessions are kept a day past their end for support questions */
        "DELETE FROM identity_sessions WHERE id IN (SELECT id FROM (SELECT id, expires_ms FROM"
        " identity_sessions ORDER BY id LIMIT ?2) WHERE expires_ms < ?1 - 86400000)",
        "DELETE FROM identity_refresh_used WHERE (session_id, hash) IN (SELECT session_id, hash"
        " FROM identity_refresh_used WHERE session_id < (SELECT coalesce(min(id), 1 << 62) FROM"
        " identity_sessions) LIMIT ?2)",
        /* the audit log is kept a year */
        "DELETE FROM identity_audit WHERE id IN (SELECT id FROM (SELECT id, ts_ms FROM"
        " identity_audit ORDER BY id LIMIT ?2) WHERE ts_ms < ?1 - 365 * 86400000)",
    };
    int64_t now = idn_now_ms();
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        idn_exec_i(d, sql[i], 2, now, IDN_GC_STEP, 0, 0);
}

void idn_gc(idn *d)
{
    /* Small tables of short-lived rows, kept a day for support questions. */
    static const char *const sql[] = {
        "DELETE FROM identity_mfa_pending WHERE expires_ms < ?1",
        "DELETE FROM identity_oob_codes WHERE expires_ms < ?1 - 86400000",
        "DELETE FROM identity_link_tokens WHERE until_ms < ?1 - 86400000",
        "DELETE FROM identity_wa_seen WHERE ts_ms < ?1 - 7 * 86400000",
    };
    int64_t now = idn_now_ms();
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        idn_exec_i(d, sql[i], 1, now, 0, 0, 0);
    idn_gc_step(d);
}
