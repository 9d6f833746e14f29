/* bus_embedded.c - the bus as an append-only log in one SQLite file.
 *
 * Schema:
 *   log(offset INTEGER PRIMARY KEY AUTOINCREMENT, topic, key, value BLOB, ts)
 *       offsets are global (one sequence for all topics) and never reused,
 *       even if old rows are deleted later (hence AUTOINCREMENT).
 *   offsets(grp, topic, offset)   last processed offset of a consumer group.
 *
 * Durability: WAL with synchronous=NORMAL. A commit is atomic and survives a
 * crash of the process; a power loss may roll back the last commits (the WAL
 * is fsynced at checkpoints, not at every commit). That is the trade the
 * field notes describe; the edge keeps its spool until it sees our ack, and
 * the ack follows the commit, so nothing acked is lost to a process crash.
 *
 * Several processes may share the file (ingest and worker roles at scale):
 * writers serialise on SQLite's lock (busy_timeout), and since a writer holds
 * the lock from its first insert to its commit, a reader that sees offset N
 * will never later see a smaller offset appear: reading `offset > last` is
 * safe.
 *
 * Consumers poll the file (5 ms steps while waiting), read chunks of rows
 * through the (topic, offset) index, and write their committed offset lazily:
 * when they fetch the next chunk, when they are idle, and when they close. A
 * crash therefore redelivers at most one chunk (at-least-once).
 */
#include "bus_int.h"

#include <fitcommon/log.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <sqlite3.h>

#define EMB_CHUNK        256  /* rows fetched per query */
#define EMB_POLL_STEP_MS 5    /* sleep between empty polls */
#define EMB_BUSY_MS      5000 /* wait this long for another process's lock */

typedef struct emb_bus {
    bus base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *insert;
    sqlite3_stmt *read;  /* topic=?1 AND offset>?2 LIMIT ?3 */
    sqlite3_stmt *store; /* upsert into offsets */
    sqlite3_stmt *load;  /* committed offset of (grp, topic) */
    sqlite3_stmt *max_off;
} emb_bus;

typedef struct emb_row {
    int64_t offset;
    char *key;   /* NULL when the message had none */
    void *value; /* malloc'd copy, never NULL (1 byte for empty values) */
    size_t len;
} emb_row;

typedef struct emb_consumer {
    bus_consumer base;
    char *group;
    char *topic;
    int from_end;
    int64_t position;  /* offset of the last record handed out */
    int64_t committed; /* last offset the caller committed */
    int64_t stored;    /* last offset written to the offsets table */
    emb_row rows[EMB_CHUNK];
    size_t nrows, next;
} emb_consumer;

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS log("
    " \"offset\" INTEGER PRIMARY KEY AUTOINCREMENT,"
    " topic TEXT NOT NULL, key TEXT, value BLOB NOT NULL, ts INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS log_topic ON log(topic, \"offset\");"
    "CREATE TABLE IF NOT EXISTS offsets("
    " grp TEXT NOT NULL, topic TEXT NOT NULL, \"offset\" INTEGER NOT NULL,"
    " PRIMARY KEY(grp, topic)) WITHOUT ROWID;";

static void emb_log_sqlite(emb_bus *eb, const char *action, const char *what)
{
    log_error(action, what, "path", eb->path, "error", sqlite3_errmsg(eb->db));
}

static int exec_sql(emb_bus *eb, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(eb->db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        log_error("bus_sql", "bus statement failed", "path", eb->path, "error",
                  err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
    }
    return rc;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emb_destroy(bus *b)
{
    emb_bus *eb = (emb_bus *)b;
    sqlite3_finalize(eb->insert);
    sqlite3_finalize(eb->read);
    sqlite3_finalize(eb->store);
    sqlite3_finalize(eb->load);
    sqlite3_finalize(eb->max_off);
    if (eb->db && sqlite3_close(eb->db) != SQLITE_OK)
        log_warn("bus_close", "bus database still busy at close", "path", eb->path);
    free(eb->path);
    free(eb);
}

/* All n messages in one transaction: either all are in the log or none. */
static bus_status emb_publish(bus *b, const bus_msg *msgs, size_t n, bus_done_fn done, void *ctx)
{
    emb_bus *eb = (emb_bus *)b;
    if (exec_sql(eb, "BEGIN IMMEDIATE") != SQLITE_OK)
        return BUS_ERR_IO;
    int64_t ts = wall_ms();
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = eb->insert;
        sqlite3_bind_text(st, 1, msgs[i].topic, -1, SQLITE_STATIC);
        if (msgs[i].key)
            sqlite3_bind_text(st, 2, msgs[i].key, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 2);
        /* zeroblob keeps an empty value non-NULL (the column is NOT NULL). */
        if (msgs[i].len > 0)
            sqlite3_bind_blob64(st, 3, msgs[i].value, msgs[i].len, SQLITE_STATIC);
        else
            sqlite3_bind_zeroblob(st, 3, 0);
        sqlite3_bind_int64(st, 4, ts);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            emb_log_sqlite(eb, "bus_publish", "bus publish failed, rolled back");
            exec_sql(eb, "ROLLBACK");
            return BUS_ERR_IO;
        }
    }
    if (exec_sql(eb, "COMMIT") != SQLITE_OK) {
        /* A failed COMMIT may leave the transaction open: end it. */
        if (!sqlite3_get_autocommit(eb->db))
            exec_sql(eb, "ROLLBACK");
        return BUS_ERR_IO;
    }
    done(ctx, BUS_OK);
    return BUS_OK;
}

static void emb_poll(bus *b, int timeout_ms)
{
    (void)b;
    (void)timeout_ms; /* completions already ran inside bus_publish() */
}

static size_t emb_pending(const bus *b)
{
    (void)b;
    return 0;
}

static void chunk_clear(emb_consumer *ec)
{
    for (size_t i = 0; i < ec->nrows; i++) {
        free(ec->rows[i].key);
        free(ec->rows[i].value);
    }
    ec->nrows = ec->next = 0;
}

/* Write the committed offset if it moved since the last write. */
static bus_status store_offset(emb_consumer *ec)
{
    emb_bus *eb = (emb_bus *)ec->base.bus;
    if (ec->from_end || ec->committed <= ec->stored)
        return BUS_OK;
    sqlite3_stmt *st = eb->store;
    sqlite3_bind_text(st, 1, ec->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ec->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ec->committed);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        emb_log_sqlite(eb, "bus_commit", "storing a consumer offset failed");
        return BUS_ERR_IO;
    }
    ec->stored = ec->committed;
    return BUS_OK;
}

/* Read the next chunk after ec->position. 1 = rows, 0 = none, -1 = error. */
static int chunk_fill(emb_consumer *ec)
{
    emb_bus *eb = (emb_bus *)ec->base.bus;
    chunk_clear(ec);
    sqlite3_stmt *st = eb->read;
    sqlite3_bind_text(st, 1, ec->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ec->position);
    sqlite3_bind_int(st, 3, EMB_CHUNK);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        emb_row *r = &ec->rows[ec->nrows];
        r->offset = sqlite3_column_int64(st, 0);
        const unsigned char *key = sqlite3_column_text(st, 1);
        const void *val = sqlite3_column_blob(st, 2);
        r->len = (size_t)sqlite3_column_bytes(st, 2);
        r->key = key ? strdup((const char *)key) : NULL;
        r->value = malloc(r->len ? r->len : 1);
        if ((key && !r->key) || !r->value) {
            free(r->key);
            free(r->value);
            rc = SQLITE_NOMEM;
            break;
        }
        if (r->len)
            memcpy(r->value, val, r->len);
        ec->nrows++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        emb_log_sqlite(eb, "bus_consume", "reading the bus log failed");
        chunk_clear(ec);
        return -1;
    }
    return ec->nrows > 0;
}

static bus_status emb_consume(bus_consumer *c, bus_record *rec, int timeout_ms)
{
    emb_consumer *ec = (emb_consumer *)c;
    int64_t deadline = bus_now_ms() + timeout_ms;
    while (ec->next >= ec->nrows) {
        /* Between chunks is a cheap moment to persist the group's offset. */
        if (store_offset(ec) != BUS_OK)
            return BUS_ERR_IO;
        int got = chunk_fill(ec);
        if (got < 0)
            return BUS_ERR_IO;
        if (got > 0)
            break;
        int64_t left = deadline - bus_now_ms();
        if (left <= 0)
            return BUS_ERR_TIMEOUT;
        int64_t step = left < EMB_POLL_STEP_MS ? left : EMB_POLL_STEP_MS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    emb_row *r = &ec->rows[ec->next++];
    ec->position = r->offset;
    rec->topic = ec->topic;
    rec->key = r->key;
    rec->value = r->value;
    rec->len = r->len;
    rec->partition = 0;
    rec->offset = r->offset;
    return BUS_OK;
}

static bus_status emb_commit(bus_consumer *c, const bus_record *rec)
{
    emb_consumer *ec = (emb_consumer *)c;
    if (rec->offset > ec->committed)
        ec->committed = rec->offset;
    return BUS_OK;
}

static void emb_consumer_destroy(bus_consumer *c)
{
    emb_consumer *ec = (emb_consumer *)c;
    store_offset(ec); /* logged on failure; the records will be redelivered */
    chunk_clear(ec);
    free(ec->group);
    free(ec->topic);
    free(ec);
}

/* Start after the group's stored offset, or at 0 / the current end. */
static bus_status emb_consumer_open(bus *b, const char *group, const char *topic, int from_end,
                                    bus_consumer **out)
{
    emb_bus *eb = (emb_bus *)b;
    emb_consumer *ec = calloc(1, sizeof(*ec));
    if (!ec)
        return BUS_ERR_NOMEM;
    ec->base.bus = b; /* bus.c sets it too; destroy needs it on our error paths */
    ec->group = strdup(group);
    ec->topic = strdup(topic);
    ec->from_end = from_end != 0;
    if (!ec->group || !ec->topic) {
        emb_consumer_destroy(&ec->base);
        return BUS_ERR_NOMEM;
    }
    sqlite3_stmt *st = ec->from_end ? eb->max_off : eb->load;
    if (!ec->from_end) {
        sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        ec->position = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        emb_log_sqlite(eb, "bus_consumer_open", "reading a consumer offset failed");
        emb_consumer_destroy(&ec->base);
        return BUS_ERR_IO;
    }
    ec->committed = ec->stored = ec->position;
    *out = &ec->base;
    return BUS_OK;
}

static const bus_ops emb_ops = {
    .name = "embedded",
    .destroy = emb_destroy,
    .publish = emb_publish,
    .poll = emb_poll,
    .pending = emb_pending,
    .consumer_open = emb_consumer_open,
    .consume = emb_consume,
    .commit = emb_commit,
    .consumer_destroy = emb_consumer_destroy,
};

static int prepare(emb_bus *eb, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v3(eb->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK)
        emb_log_sqlite(eb, "bus_open", "preparing a bus statement failed");
    return rc;
}

bus_status bus_open_embedded(bus **out, const char *path)
{
    if (!out)
        return BUS_ERR_ARG;
    *out = NULL;
    if (!path || !path[0])
        return BUS_ERR_ARG;
    emb_bus *eb = calloc(1, sizeof(*eb));
    if (!eb)
        return BUS_ERR_NOMEM;
    eb->base.ops = &emb_ops;
    eb->path = strdup(path);
    if (!eb->path) {
        free(eb);
        return BUS_ERR_NOMEM;
    }
    int rc = sqlite3_open_v2(
        path, &eb->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("bus_open", "cannot open the bus database", "path", path, "error",
                  eb->db ? sqlite3_errmsg(eb->db) : sqlite3_errstr(rc));
        emb_destroy(&eb->base);
        return rc == SQLITE_NOMEM ? BUS_ERR_NOMEM : BUS_ERR_IO;
    }
    sqlite3_busy_timeout(eb->db, EMB_BUSY_MS);
    /* journal_mode answers with a row, so check what we got. */
    sqlite3_stmt *jm = NULL;
    int wal = 0;
    if (sqlite3_prepare_v2(eb->db, "PRAGMA journal_mode=WAL", -1, &jm, NULL) == SQLITE_OK &&
        sqlite3_step(jm) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(jm, 0);
        wal = mode && strcmp((const char *)mode, "wal") == 0;
    }
    sqlite3_finalize(jm);
    if (!wal) {
        emb_log_sqlite(eb, "bus_open", "cannot switch the bus database to WAL");
        emb_destroy(&eb->base);
        return BUS_ERR_IO;
    }
    if (exec_sql(eb, "PRAGMA synchronous=NORMAL") != SQLITE_OK ||
        exec_sql(eb, SCHEMA) != SQLITE_OK ||
        prepare(eb, "INSERT INTO log(topic, key, value, ts) VALUES(?1, ?2, ?3, ?4)", &eb->insert) ||
        prepare(eb,
                "SELECT \"offset\", key, value FROM log WHERE topic = ?1 AND \"offset\" > ?2"
                " ORDER BY \"offset\" LIMIT ?3",
                &eb->read) ||
        prepare(eb,
                "INSERT INTO offsets(grp, topic, \"offset\") VALUES(?1, ?2, ?3)"
                " ON CONFLICT(grp, topic) DO UPDATE SET \"offset\" = excluded.\"offset\""
                " WHERE excluded.\"offset\" > offsets.\"offset\"",
                &eb->store) ||
        prepare(eb, "SELECT \"offset\" FROM offsets WHERE grp = ?1 AND topic = ?2", &eb->load) ||
        prepare(eb, "SELECT COALESCE(MAX(\"offset\"), 0) FROM log", &eb->max_off)) {
        emb_destroy(&eb->base);
        return BUS_ERR_IO;
    }
    log_info("bus_open", "embedded bus opened", "path", path);
    *out = &eb->base;
    return BUS_OK;
}
