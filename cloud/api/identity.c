/* identity.c - users, sessions and used init data (see identity.h). */
#include "identity.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "crypto.h"
#include "fitcommon/log.h"

struct ident {
    sqlite3 *db;
    pthread_mutex_t mu;
};

static const char *ident_schema =
    "CREATE TABLE IF NOT EXISTS users("
    "  id INTEGER PRIMARY KEY, tg_id INTEGER NOT NULL UNIQUE,"
    "  first_name TEXT NOT NULL, username TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sessions("
    "  token_hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL, expires_ms INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_ms);"
    "CREATE TABLE IF NOT EXISTS used_initdata("
    "  mac BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS used_initdata_expiry ON used_initdata(expires_ms);";

static ident_status ident_fail(ident *id, const char *what)
{
    log_error("ident_error", what, "sqlite", sqlite3_errmsg(id->db));
    return IDENT_ERR_IO;
}

int ident_open(ident **out, const char *path)
{
    *out = NULL;
    ident *id = calloc(1, sizeof *id);
    if (!id)
        return -1;
    if (sqlite3_open_v2(path, &id->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(id->db, 5000);
    if (sqlite3_exec(id->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(id->db, ident_schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    pthread_mutex_init(&id->mu, NULL);
    *out = id;
    return 0;
fail:
    log_error("ident_open", "cannot open identity tables", "path", path, "sqlite",
              id->db ? sqlite3_errmsg(id->db) : "out of memory");
    sqlite3_close(id->db);
    free(id);
    return -1;
}

void ident_close(ident *id)
{
    if (!id)
        return;
    sqlite3_close(id->db);
    pthread_mutex_destroy(&id->mu);
    free(id);
}

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* Runs with id->mu held. */
static ident_status upsert_locked(ident *id, int64_t tg_id, const char *first_name,
                                  const char *username, int64_t now_ms, ident_user *out)
{
    sqlite3_stmt *st = NULL;
    ident_status rc = IDENT_OK;
    if (sqlite3_prepare_v2(id->db,
                           "INSERT INTO users(tg_id,first_name,username,created_ms)"
                           " VALUES(?,?,?,?) ON CONFLICT(tg_id) DO UPDATE SET"
                           " first_name=excluded.first_name, username=excluded.username"
                           " RETURNING id",
                           -1, &st, NULL) != SQLITE_OK)
        return ident_fail(id, "prepare upsert user");
    sqlite3_bind_int64(st, 1, tg_id);
    sqlite3_bind_text(st, 2, first_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, username ? username : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = ident_fail(id, "upsert user");
    } else {
        out->id = sqlite3_column_int64(st, 0);
        out->tg_id = tg_id;
        snprintf(out->first_name, sizeof out->first_name, "%s", first_name);
        snprintf(out->username, sizeof out->username, "%s", username ? username : "");
    }
    sqlite3_finalize(st);
    return rc;
}

ident_status ident_upsert_user(ident *id, int64_t tg_id, const char *first_name,
                               const char *username, int64_t now_ms, ident_user *out)
{
    pthread_mutex_lock(&id->mu);
    ident_status rc = upsert_locked(id, tg_id, first_name, username, now_ms, out);
    pthread_mutex_unlock(&id->mu);
    return rc;
}

static ident_status exec_step(ident *id, const char *sql, const void *blob, int blob_len, int64_t a,
                              int64_t b, int *changes)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(id->db, sql, -1, &st, NULL) != SQLITE_OK)
        return ident_fail(id, "prepare");
    int i = 1;
    if (blob)
        sqlite3_bind_blob(st, i++, blob, blob_len, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= i)
        sqlite3_bind_int64(st, i++, a);
    if (sqlite3_bind_parameter_count(st) >= i)
        sqlite3_bind_int64(st, i, b);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return ident_fail(id, sql);
    if (changes)
        *changes = sqlite3_changes(id->db);
    return IDENT_OK;
}

ident_status ident_sign_in(ident *id, const uint8_t mac[32], int64_t used_until_ms,
                           const tg_user *tg, int64_t now_ms, char token[IDENT_TOKEN_LEN + 1],
                           ident_user *user, int64_t *expires_ms)
{
    uint8_t raw[32], token_hash[32];
    crypto_random(raw, sizeof raw);
    crypto_b64url_encode(raw, sizeof raw, token, IDENT_TOKEN_LEN + 1);
    memset(raw, 0, sizeof raw);
    if (crypto_sha256(token, IDENT_TOKEN_LEN, token_hash) != 0)
        return IDENT_ERR_IO;
    *expires_ms = now_ms + IDENT_SESSION_MS;

    pthread_mutex_lock(&id->mu);
    ident_status rc = IDENT_OK;
    int changes = 0;
    if (sqlite3_exec(id->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = ident_fail(id, "begin");
        goto out;
    }
    /* Expired rows are useless: init data that old fails the age check. */
    rc = exec_step(id, "DELETE FROM used_initdata WHERE expires_ms < ?", NULL, 0, now_ms, 0, NULL);
    if (rc == IDENT_OK)
        rc = exec_step(id, "DELETE FROM sessions WHERE expires_ms < ?", NULL, 0, now_ms, 0, NULL);
    if (rc == IDENT_OK)
        rc = exec_step(id, "INSERT OR IGNORE INTO used_initdata(mac,expires_ms) VALUES(?,?)", mac,
                       32, used_until_ms, 0, &changes);
    if (rc == IDENT_OK && changes == 0)
        rc = IDENT_ERR_REPLAY;
    if (rc == IDENT_OK)
        rc = upsert_locked(id, tg->id, tg->first_name, tg->username, now_ms, user);
    if (rc == IDENT_OK)
        rc = exec_step(id, "INSERT INTO sessions(token_hash,user_id,expires_ms) VALUES(?,?,?)",
                       token_hash, 32, user->id, *expires_ms, NULL);
    if (rc == IDENT_OK && sqlite3_exec(id->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = ident_fail(id, "commit");
    if (rc != IDENT_OK)
        sqlite3_exec(id->db, "ROLLBACK", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&id->mu);
    if (rc != IDENT_OK)
        memset(token, 0, IDENT_TOKEN_LEN + 1);
    return rc;
}

ident_status ident_session_user(ident *id, const char *token, int64_t now_ms, ident_user *out)
{
    if (!token || strlen(token) != IDENT_TOKEN_LEN)
        return IDENT_ERR_NOTFOUND;
    uint8_t token_hash[32];
    if (crypto_sha256(token, IDENT_TOKEN_LEN, token_hash) != 0)
        return IDENT_ERR_IO;
    pthread_mutex_lock(&id->mu);
    ident_status rc = IDENT_ERR_NOTFOUND;
    sqlite3_stmt *st = NULL;
    /* Looked up by hash: the index lookup does not leak the token's bytes. */
    if (sqlite3_prepare_v2(id->db,
                           "SELECT u.id, u.tg_id, u.first_name, u.username FROM sessions s"
                           " JOIN users u ON u.id = s.user_id"
                           " WHERE s.token_hash = ? AND s.expires_ms > ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = ident_fail(id, "prepare session lookup");
    } else {
        sqlite3_bind_blob(st, 1, token_hash, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now_ms);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            out->id = sqlite3_column_int64(st, 0);
            out->tg_id = sqlite3_column_int64(st, 1);
            copy_text(st, 2, out->first_name, sizeof out->first_name);
            copy_text(st, 3, out->username, sizeof out->username);
            rc = IDENT_OK;
        } else if (s != SQLITE_DONE) {
            rc = ident_fail(id, "session lookup");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&id->mu);
    return rc;
}

ident_status ident_user_by_id(ident *id, int64_t user_id, ident_user *out)
{
    pthread_mutex_lock(&id->mu);
    ident_status rc = IDENT_ERR_NOTFOUND;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(id->db, "SELECT id, tg_id, first_name, username FROM users WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = ident_fail(id, "prepare user lookup");
    } else {
        sqlite3_bind_int64(st, 1, user_id);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            out->id = sqlite3_column_int64(st, 0);
            out->tg_id = sqlite3_column_int64(st, 1);
            copy_text(st, 2, out->first_name, sizeof out->first_name);
            copy_text(st, 3, out->username, sizeof out->username);
            rc = IDENT_OK;
        } else if (s != SQLITE_DONE) {
            rc = ident_fail(id, "user lookup");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&id->mu);
    return rc;
}
