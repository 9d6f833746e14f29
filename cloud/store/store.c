/* store.c - readings per user and device bindings (see store.h). */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fitcommon/log.h"
#include "fitproto/msg.h"

struct store {
    sqlite3 *db;
    sqlite3_stmt *ins_reading;
    sqlite3_stmt *get_owner;
    sqlite3_stmt *bind;
    sqlite3_stmt *user_readings;
};

/* The readings table is keyed by the gateway's sequence, which is what makes a
 * replayed bus event harmless. WITHOUT ROWID keeps the key and row together. */
static const char *store_schema =
    "CREATE TABLE IF NOT EXISTS readings("
    "  gw TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  device TEXT NOT NULL, user_id INTEGER NOT NULL, kind INTEGER NOT NULL,"
    "  ts_ms INTEGER NOT NULL, body TEXT NOT NULL,"
    "  PRIMARY KEY(gw, epoch, seq)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS readings_user_ts ON readings(user_id, ts_ms);"
    "CREATE TABLE IF NOT EXISTS device_bindings("
    "  device TEXT PRIMARY KEY, user_id INTEGER NOT NULL, bound_ms INTEGER NOT NULL);";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static store_status store_fail(store *s, const char *what)
{
    log_error("store_error", what, "sqlite", sqlite3_errmsg(s->db));
    return STORE_ERR_IO;
}

static int store_prepare(store *s, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

store_status store_open(store **out, const char *path)
{
    *out = NULL;
    store *s = calloc(1, sizeof *s);
    if (!s)
        return STORE_ERR_IO;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, store_schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (store_prepare(s, &s->ins_reading,
                      "INSERT OR IGNORE INTO readings(gw,epoch,seq,device,user_id,kind,ts_ms,body)"
                      " VALUES(?,?,?,?,?,?,?,?)") ||
        store_prepare(s, &s->get_owner, "SELECT user_id FROM device_bindings WHERE device=?") ||
        store_prepare(s, &s->bind,
                      "INSERT INTO device_bindings(device,user_id,bound_ms) VALUES(?,?,?)"
                      " ON CONFLICT(device) DO UPDATE SET user_id=excluded.user_id,"
                      " bound_ms=excluded.bound_ms") ||
        store_prepare(s, &s->user_readings,
                      "SELECT seq, body FROM readings WHERE user_id=? AND ts_ms>?"
                      " ORDER BY ts_ms LIMIT ?"))
        goto fail;
    *out = s;
    return STORE_OK;
fail:
    if (s->db)
        log_error("store_open", "cannot open store", "path", path, "sqlite", sqlite3_errmsg(s->db));
    store_close(s);
    return STORE_ERR_IO;
}

void store_close(store *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->ins_reading);
    sqlite3_finalize(s->get_owner);
    sqlite3_finalize(s->bind);
    sqlite3_finalize(s->user_readings);
    sqlite3_close(s->db);
    free(s);
}

store_status store_device_owner(store *s, const char *device, int64_t *user_id)
{
    sqlite3_stmt *st = s->get_owner;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    store_status out = STORE_OK;
    if (rc == SQLITE_ROW)
        *user_id = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        out = STORE_ERR_NOTFOUND;
    else
        out = store_fail(s, "device owner lookup failed");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return out;
}

store_status store_bind_device(store *s, const char *device, int64_t user_id)
{
    if (!fp_device_id_valid(device, strlen(device)) || user_id <= 0)
        return STORE_ERR_ARG;
    sqlite3_stmt *st = s->bind;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? STORE_OK : store_fail(s, "device bind failed");
}

store_status store_unbind_device(store *s, const char *device)
{
    if (!fp_device_id_valid(device, strlen(device)))
        return STORE_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "DELETE FROM device_bindings WHERE device=?", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_OK : store_fail(s, "device unbind failed");
}

/* Owner lookups repeat for every reading of a device within a batch: remember
 * the last device seen, which is enough for batches grouped by device. */
typedef struct owner_cache {
    char device[FP_DEVICE_MAX + 1];
    int64_t user_id;
} owner_cache;

static store_status owner_of(store *s, owner_cache *c, const char *device, int64_t *user_id)
{
    if (c->device[0] && strcmp(c->device, device) == 0) {
        *user_id = c->user_id;
        return STORE_OK;
    }
    int64_t uid = 0;
    store_status rc = store_device_owner(s, device, &uid);
    if (rc == STORE_ERR_NOTFOUND)
        uid = 0; /* unbound: kept, visible to nobody until paired */
    else if (rc != STORE_OK)
        return rc;
    snprintf(c->device, sizeof c->device, "%s", device);
    c->user_id = uid;
    *user_id = uid;
    return STORE_OK;
}

static store_status insert_one(store *s, owner_cache *c, const char *gateway, uint64_t epoch,
                               const fp_reading *r, size_t *inserted)
{
    char body[4096];
    size_t len = 0;
    if (fp_reading_encode(r, body, sizeof body, &len) != FP_OK)
        return STORE_ERR_ARG;
    int64_t uid = 0;
    store_status rc = owner_of(s, c, r->device, &uid);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = s->ins_reading;
    sqlite3_bind_text(st, 1, gateway, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)r->seq);
    sqlite3_bind_text(st, 4, r->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, uid);
    sqlite3_bind_int(st, 6, (int)r->kind);
    sqlite3_bind_int64(st, 7, r->ts_ms);
    sqlite3_bind_text(st, 8, body, (int)len, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return store_fail(s, "reading insert failed");
    *inserted += (size_t)sqlite3_changes(s->db);
    return STORE_OK;
}

store_status store_put_readings(store *s, const char *gateway, uint64_t epoch,
                                const fp_reading *readings, size_t n, size_t *inserted)
{
    size_t count = 0;
    owner_cache cache = {{0}, 0};
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(s, "begin failed");
    for (size_t i = 0; i < n; i++) {
        store_status rc = insert_one(s, &cache, gateway, epoch, &readings[i], &count);
        if (rc != STORE_OK) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        store_status rc = store_fail(s, "commit failed");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (inserted)
        *inserted = count;
    return STORE_OK;
}

store_status store_user_readings(store *s, int64_t user_id, int64_t since_ms, size_t limit,
                                 store_reading_fn fn, void *ctx)
{
    sqlite3_stmt *st = s->user_readings;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, since_ms);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fp_reading r;
        const char *body = (const char *)sqlite3_column_text(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (body && fp_reading_decode(body, len, &r) == FP_OK) {
            r.seq = (uint64_t)sqlite3_column_int64(st, 0);
            fn(ctx, &r);
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? STORE_OK : store_fail(s, "readings query failed");
}

store_status store_count(store *s, uint64_t *readings)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM readings", -1, &st, NULL) != SQLITE_OK)
        return store_fail(s, "count failed");
    store_status out = STORE_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *readings = (uint64_t)sqlite3_column_int64(st, 0);
    } else {
        out = store_fail(s, "count failed");
    }
    sqlite3_finalize(st);
    return out;
}
