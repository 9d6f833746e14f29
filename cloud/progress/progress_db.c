/* progress_db.c - the projection's tables, helpers, export and reset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fitcommon/log.h"
#include "outbox.h"
#include "progress_int.h"

/* The projection: rebuilt from the bus (progress_reset empties these). */
static const char *const projection_tables[] = {
    "progress_inbox",  "progress_workout",  "progress_sample",      "progress_user",
    "progress_device", "progress_purchase", "progress_achievement", "progress_stop",
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS progress_inbox(id TEXT PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS progress_workout("
    " id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, gateway TEXT NOT NULL,"
    " start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,"
    " stopped INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,"
    " last_arrival_ms INTEGER NOT NULL,"
    " duration_s REAL NOT NULL DEFAULT 0, moving_s REAL NOT NULL DEFAULT 0,"
    " distance_m REAL NOT NULL DEFAULT 0, energy_j REAL NOT NULL DEFAULT 0,"
    " avg_hr REAL NOT NULL DEFAULT 0, max_hr REAL NOT NULL DEFAULT 0,"
    " trimp REAL NOT NULL DEFAULT 0, metrics TEXT);"
    "CREATE INDEX IF NOT EXISTS progress_workout_user ON progress_workout(user_id, start_ms);"
    "CREATE INDEX IF NOT EXISTS progress_workout_open ON progress_workout(done, last_arrival_ms);"
    "CREATE TABLE IF NOT EXISTS progress_sample("
    " user_id INTEGER NOT NULL, device TEXT NOT NULL, ts_ms INTEGER NOT NULL,"
    " workout_id INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY(user_id, device, ts_ms)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS progress_sample_workout ON progress_sample(workout_id);"
    "CREATE TABLE IF NOT EXISTS progress_user("
    " user_id INTEGER PRIMARY KEY, registered_ms INTEGER NOT NULL DEFAULT 0,"
    " messenger TEXT NOT NULL DEFAULT '', two_factor INTEGER NOT NULL DEFAULT 0,"
    " two_factor_ever INTEGER NOT NULL DEFAULT 0, watermark_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS progress_device("
    " user_id INTEGER NOT NULL, device TEXT NOT NULL, PRIMARY KEY(user_id, device)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS progress_purchase("
    " order_id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, paid_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS progress_stop("
    " user_id INTEGER NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY(user_id, at_ms)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS progress_achievement("
    " user_id INTEGER NOT NULL, code TEXT NOT NULL, unlocked_ms INTEGER NOT NULL,"
    " points INTEGER NOT NULL, PRIMARY KEY(user_id, code)) WITHOUT ROWID;"
    /* Not a projection: the user's own choices; survives a rebuild. */
    "CREATE TABLE IF NOT EXISTS progress_settings("
    " user_id INTEGER PRIMARY KEY, opt_out INTEGER NOT NULL DEFAULT 0,"
    " max_hr REAL NOT NULL DEFAULT 0, rest_hr REAL NOT NULL DEFAULT 0,"
    " age REAL NOT NULL DEFAULT 0, weight_kg REAL NOT NULL DEFAULT 0,"
    " sex INTEGER NOT NULL DEFAULT 0, tz_offset_min INTEGER NOT NULL DEFAULT 0);";

int progress_db_open(sqlite3 **db, const char *path)
{
    *db = NULL;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        log_error("progress_db", "cannot open database", "path", path, "error",
                  *db ? sqlite3_errmsg(*db) : "nomem");
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(*db, 10000);
    sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    return 0;
}

/* Columns added after the first schema: added to older files here (an
 * "already there" error is the expected answer on newer ones). */
static const char *const migrations[] = {
    "ALTER TABLE progress_workout ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE progress_workout ADD COLUMN series TEXT",
};

int progress_schema(sqlite3 *db)
{
    char *err = NULL;
    if (sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK) {
        log_error("progress_db", "schema failed", "error", err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++)
        sqlite3_exec(db, migrations[i], NULL, NULL, NULL);
    return outbox_init(db);
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql, int n, const int64_t *args)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("progress_db", "prepare failed", "error", sqlite3_errmsg(db));
        return NULL;
    }
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(st, i + 1, args[i]);
    return st;
}

int progress_exec(sqlite3 *db, const char *sql, int n, const int64_t *args)
{
    sqlite3_stmt *st = prep(db, sql, n, args);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error("progress_db", "statement failed", "error", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int64_t progress_scalar(sqlite3 *db, const char *sql, int n, const int64_t *args, int64_t def)
{
    sqlite3_stmt *st = prep(db, sql, n, args);
    if (!st)
        return def;
    int64_t v = def;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

void progress_profile(sqlite3 *db, int64_t user, wo_profile *p, int *tz_offset_min)
{
    memset(p, 0, sizeof *p);
    if (tz_offset_min)
        *tz_offset_min = 0;
    sqlite3_stmt *st = prep(db,
                            "SELECT max_hr, rest_hr, age, weight_kg, sex, tz_offset_min"
                            " FROM progress_settings WHERE user_id=?1",
                            1, &user);
    if (!st)
        return;
    if (sqlite3_step(st) == SQLITE_ROW) {
        p->max_hr = sqlite3_column_double(st, 0);
        p->rest_hr = sqlite3_column_double(st, 1);
        p->age_years = sqlite3_column_double(st, 2);
        p->weight_kg = sqlite3_column_double(st, 3);
        int sex = sqlite3_column_int(st, 4);
        p->sex = sex == 1 ? WO_SEX_MALE : sex == 2 ? WO_SEX_FEMALE : WO_SEX_UNKNOWN;
        if (tz_offset_min)
            *tz_offset_min = sqlite3_column_int(st, 5);
    }
    sqlite3_finalize(st);
}

int64_t progress_iso_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return 0;
    if (s[n] == '.') {
        int digits = 0;
        for (const char *c = s + n + 1; *c >= '0' && *c <= '9'; c++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*c - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (int64_t)t * 1000 + ms;
}

/* ---- export: one line per row, tables and rows in a fixed order ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int err;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static int dump(sqlite3 *db, buf *b, const char *title, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    put(b, "# ", 2);
    put(b, title, strlen(title));
    put(b, "\n", 1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int nc = sqlite3_column_count(st);
        for (int i = 0; i < nc; i++) {
            char num[64];
            const char *s = num;
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(st, i));
                break;
            case SQLITE_FLOAT:
                snprintf(num, sizeof num, "%.9g", sqlite3_column_double(st, i));
                break;
            case SQLITE_NULL:
                s = "NULL";
                break;
            default:
                s = (const char *)sqlite3_column_text(st, i);
                break;
            }
            if (i)
                put(b, "\t", 1);
            put(b, s ? s : "", s ? strlen(s) : 0);
        }
        put(b, "\n", 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int progress_export(progress *p, char **out, size_t *len)
{
    *out = NULL;
    buf b = {0};
    /* last_arrival_ms is the ingest time of the batch, the same in a replay.
     * Workouts are named by (user, start), not by row id: ids depend on
     * the order topics were consumed in, the workouts do not. */
    int rc = dump(p->db, &b, "workouts",
                  "SELECT user_id, gateway, start_ms, end_ms, stopped, done, sealed, series,"
                  " last_arrival_ms, duration_s,"
                  " moving_s, distance_m, energy_j, avg_hr, max_hr, trimp, metrics"
                  " FROM progress_workout ORDER BY user_id, start_ms") |
             dump(p->db, &b, "samples",
                  "SELECT s.user_id, s.device, s.ts_ms, w.start_ms FROM progress_sample s"
                  " JOIN progress_workout w ON w.id=s.workout_id"
                  " ORDER BY s.user_id, s.device, s.ts_ms") |
             dump(p->db, &b, "users",
                  "SELECT user_id, registered_ms, messenger, two_factor, two_factor_ever,"
                  " watermark_ms FROM progress_user ORDER BY user_id") |
             dump(p->db, &b, "devices",
                  "SELECT user_id, device FROM progress_device ORDER BY user_id, device") |
             dump(p->db, &b, "purchases",
                  "SELECT order_id, user_id, paid_ms FROM progress_purchase ORDER BY order_id") |
             dump(p->db, &b, "achievements",
                  "SELECT user_id, code, unlocked_ms, points FROM progress_achievement"
                  " ORDER BY user_id, code") |
             dump(p->db, &b, "stops",
                  "SELECT user_id, at_ms FROM progress_stop ORDER BY user_id, at_ms") |
             dump(p->db, &b, "inbox", "SELECT id FROM progress_inbox ORDER BY id");
    if (rc || b.err) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

int progress_reset(progress *p)
{
    if (sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    for (size_t i = 0; i < sizeof projection_tables / sizeof projection_tables[0]; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "DELETE FROM %s", projection_tables[i]);
        if (sqlite3_exec(p->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}
