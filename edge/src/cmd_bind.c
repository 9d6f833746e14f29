/* cmd_bind.c - persisted device bindings (cmd_bind.h). */
#include "cmd_bind.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/log.h"

struct cmd_bindings {
    sqlite3 *db;
    cmd_binding *v;
    size_t n;
};

static const char *schema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS bindings(device TEXT PRIMARY KEY, wheel_m REAL NOT NULL,"
    " session TEXT NOT NULL, idle_ms INTEGER NOT NULL);";

int cmdb_open(cmd_bindings **out, const char *path, int64_t now_ms)
{
    *out = NULL;
    cmd_bindings *b = calloc(1, sizeof *b);
    if (!b || !(b->v = calloc(CMDB_MAX, sizeof *b->v))) {
        free(b);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(path, &b->db) != SQLITE_OK || sqlite3_busy_timeout(b->db, 2000) != SQLITE_OK ||
        sqlite3_exec(b->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db, "SELECT device, wheel_m, session, idle_ms FROM bindings", -1, &st,
                           NULL) != SQLITE_OK) {
        log_error("bindings_open", "cannot open the bindings file", "path", path, "error",
                  b->db ? sqlite3_errmsg(b->db) : "nomem");
        cmdb_close(b);
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW && b->n < CMDB_MAX) {
        const char *dev = (const char *)sqlite3_column_text(st, 0);
        const char *sess = (const char *)sqlite3_column_text(st, 2);
        if (!dev || !fp_device_id_valid(dev, strlen(dev)))
            continue;
        cmd_binding *x = &b->v[b->n++];
        memset(x, 0, sizeof *x);
        strncpy(x->device, dev, sizeof x->device - 1);
        x->wheel_m = sqlite3_column_double(st, 1);
        if (sess)
            strncpy(x->sess.session, sess, sizeof x->sess.session - 1);
        x->sess.idle_ms = (uint32_t)sqlite3_column_int64(st, 3);
        x->sess.last_active_ms = now_ms;
    }
    sqlite3_finalize(st);
    *out = b;
    return 0;
}

void cmdb_close(cmd_bindings *b)
{
    if (!b)
        return;
    sqlite3_close(b->db);
    free(b->v);
    free(b);
}

cmd_binding *cmdb_get(cmd_bindings *b, const char *device)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].device, device) == 0)
            return &b->v[i];
    return NULL;
}

int cmdb_put(cmd_bindings *b, const cmd_binding *x)
{
    cmd_binding *slot = cmdb_get(b, x->device);
    if (!slot && b->n >= CMDB_MAX)
        return -2;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(b->db,
                                "INSERT OR REPLACE INTO bindings(device,wheel_m,session,idle_ms)"
                                " VALUES(?,?,?,?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, x->device, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, x->wheel_m);
        sqlite3_bind_text(st, 3, x->sess.session, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, x->sess.idle_ms);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("bindings_write", "cannot store a binding", "error", sqlite3_errmsg(b->db));
        return -1;
    }
    if (!slot)
        slot = &b->v[b->n++];
    *slot = *x;
    return 0;
}

int cmdb_del(cmd_bindings *b, const char *device)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(b->db, "DELETE FROM bindings WHERE device=?", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("bindings_write", "cannot delete a binding", "error", sqlite3_errmsg(b->db));
        return -1;
    }
    cmd_binding *slot = cmdb_get(b, device);
    if (slot)
        *slot = b->v[--b->n];
    return 0;
}

size_t cmdb_count(const cmd_bindings *b)
{
    return b->n;
}

cmd_binding *cmdb_at(cmd_bindings *b, size_t i)
{
    return i < b->n ? &b->v[i] : NULL;
}
