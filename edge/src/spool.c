/* spool.c - the edge's durable reading store (see spool.h). */
#include "spool.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "fitcommon/log.h"

struct spool {
    sqlite3 *db;
    sqlite3_stmt *ins, *del_upto, *sel_after, *q2_ins, *q2_del, *gap_ins;
    bool in_txn;
    size_t staged;
    uint64_t epoch, boot;
    uint64_t floor, last, committed, count, dropped;
    uint64_t max_readings;
    uint8_t q2_bits[65536 / 8]; /* mirror of table q2 */
};

static const char *spool_schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    /* AUTOINCREMENT: a seq is never reused, even after the newest rows are
     * deleted, so the cloud's dedupe by seq stays right. */
    "CREATE TABLE IF NOT EXISTS readings(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  body TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS q2(pid INTEGER PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS gaps(id INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL,"
    "  last_seq INTEGER NOT NULL, reason TEXT NOT NULL, ts_ms INTEGER NOT NULL);";

static spool_status spool_fail(spool *s, const char *what)
{
    log_error("spool_error", what, "sqlite", sqlite3_errmsg(s->db));
    if (s->in_txn) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_txn = false;
        s->staged = 0;
    }
    return SPOOL_ERR_IO;
}

static int exec(spool *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

static int meta_get(spool *s, const char *key, char *buf, size_t cap)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL))
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int found = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        found = 0;
    }
    sqlite3_finalize(st);
    return found;
}

static int meta_set(spool *s, const char *key, const char *value)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)", -1, &st,
                           NULL))
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* Epoch and boot counter, in one transaction at open. */
static int load_identity(spool *s)
{
    char buf[64];
    if (exec(s, "BEGIN IMMEDIATE"))
        return -1;
    if (meta_get(s, "epoch", buf, sizeof buf) == 0) {
        s->epoch = strtoull(buf, NULL, 16);
    } else {
        uint64_t e = 0;
        while (e == 0)
            if (getrandom(&e, sizeof e, 0) != sizeof e)
                goto fail;
        s->epoch = e;
        snprintf(buf, sizeof buf, "%016" PRIx64, e);
        if (meta_set(s, "epoch", buf))
            goto fail;
    }
    s->boot = meta_get(s, "boot", buf, sizeof buf) == 0 ? strtoull(buf, NULL, 10) + 1 : 1;
    snprintf(buf, sizeof buf, "%" PRIu64, s->boot);
    if (meta_set(s, "boot", buf) || exec(s, "COMMIT"))
        goto fail;
    return 0;
fail:
    exec(s, "ROLLBACK");
    return -1;
}

static int load_state(spool *s)
{
    sqlite3_stmt *st;
    s->count = s->floor = s->last = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*), min(seq), max(seq) FROM readings", -1, &st,
                           NULL))
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        s->count = (uint64_t)sqlite3_column_int64(st, 0);
        s->floor = (uint64_t)sqlite3_column_int64(st, 1);
        s->last = (uint64_t)sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    /* Even when empty, the sequence goes on from its high-water mark. */
    if (sqlite3_prepare_v2(s->db, "SELECT seq FROM sqlite_sequence WHERE name='readings'", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            uint64_t hw = (uint64_t)sqlite3_column_int64(st, 0);
            if (hw > s->last)
                s->last = hw;
        }
        sqlite3_finalize(st);
    }
    if (s->count == 0)
        s->floor = s->last + 1;
    s->committed = s->last;
    memset(s->q2_bits, 0, sizeof s->q2_bits);
    if (sqlite3_prepare_v2(s->db, "SELECT pid FROM q2", -1, &st, NULL))
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int pid = sqlite3_column_int(st, 0);
        if (pid > 0 && pid < 65536)
            s->q2_bits[pid / 8] |= (uint8_t)(1u << (pid % 8));
    }
    sqlite3_finalize(st);
    return 0;
}

static int prepare_all(spool *s)
{
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } list[] = {
        {&s->ins, "INSERT INTO readings(body) VALUES(?)"},
        {&s->del_upto, "DELETE FROM readings WHERE seq<=?"},
        {&s->sel_after,
         "SELECT seq, body FROM readings WHERE seq>? AND seq<=? ORDER BY seq LIMIT ?"},
        {&s->q2_ins, "INSERT OR IGNORE INTO q2(pid) VALUES(?)"},
        {&s->q2_del, "DELETE FROM q2 WHERE pid=?"},
        {&s->gap_ins, "INSERT INTO gaps(first_seq,last_seq,reason,ts_ms) VALUES(?,?,?,?)"},
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        if (sqlite3_prepare_v3(s->db, list[i].sql, -1, SQLITE_PREPARE_PERSISTENT, list[i].st,
                               NULL) != SQLITE_OK)
            return -1;
    return 0;
}

spool_status spool_open(spool **out, const char *path, const spool_limits *lim)
{
    *out = NULL;
    spool *s = calloc(1, sizeof *s);
    if (!s)
        return SPOOL_ERR_IO;
    s->max_readings = lim ? lim->max_readings : 0;
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
             lim && lim->sync_full ? "FULL" : "NORMAL");
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ||
        exec(s, pragmas) || exec(s, spool_schema))
        goto fail;
    if (lim && lim->max_bytes) {
        /* max_page_count is per connection: set it on every open. */
        snprintf(pragmas, sizeof pragmas, "PRAGMA max_page_count=%llu;",
                 (unsigned long long)(lim->max_bytes / 4096 + 1));
        if (exec(s, "PRAGMA page_size=4096;") || exec(s, pragmas))
            goto fail;
    }
    if (load_identity(s) || load_state(s) || prepare_all(s))
        goto fail;
    *out = s;
    return SPOOL_OK;
fail:
    log_error("spool_open", "cannot open spool", "path", path, "sqlite",
              s->db ? sqlite3_errmsg(s->db) : "out of memory");
    spool_close(s);
    return SPOOL_ERR_IO;
}

void spool_close(spool *s)
{
    if (!s)
        return;
    if (s->in_txn)
        spool_commit(s);
    sqlite3_stmt *all[] = {s->ins, s->del_upto, s->sel_after, s->q2_ins, s->q2_del, s->gap_ins};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(s->db);
    free(s);
}

uint64_t spool_epoch(const spool *s)
{
    return s->epoch;
}
uint64_t spool_boot(const spool *s)
{
    return s->boot;
}
bool spool_dirty(const spool *s)
{
    return s->in_txn;
}
size_t spool_staged(const spool *s)
{
    return s->staged;
}
uint64_t spool_floor(const spool *s)
{
    return s->floor;
}
uint64_t spool_committed(const spool *s)
{
    return s->committed;
}
uint64_t spool_count(const spool *s)
{
    return s->count;
}
uint64_t spool_dropped(const spool *s)
{
    return s->dropped;
}

static spool_status begin(spool *s)
{
    if (s->in_txn)
        return SPOOL_OK;
    if (exec(s, "BEGIN IMMEDIATE"))
        return spool_fail(s, "begin failed");
    s->in_txn = true;
    return SPOOL_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Delete every reading with seq <= upto; used by acks and by the drop policy. */
static spool_status delete_upto(spool *s, uint64_t upto)
{
    sqlite3_bind_int64(s->del_upto, 1, (sqlite3_int64)upto);
    int rc = sqlite3_step(s->del_upto);
    sqlite3_reset(s->del_upto);
    if (rc != SQLITE_DONE)
        return spool_fail(s, "delete failed");
    uint64_t gone = (uint64_t)sqlite3_changes(s->db);
    s->count -= gone <= s->count ? gone : s->count;
    if (upto + 1 > s->floor)
        s->floor = upto + 1;
    return SPOOL_OK;
}

/* The disk policy: drop the oldest tenth and record the gap, so the cloud
 * learns (through `floor`) that these readings will never come. */
static spool_status drop_oldest(spool *s, const char *reason)
{
    uint64_t n = s->count / 10 ? s->count / 10 : 1;
    uint64_t first = s->floor, last = s->floor + n - 1;
    if (s->count == 0)
        return SPOOL_ERR_FULL;
    spool_status rc = delete_upto(s, last);
    if (rc)
        return rc;
    sqlite3_bind_int64(s->gap_ins, 1, (sqlite3_int64)first);
    sqlite3_bind_int64(s->gap_ins, 2, (sqlite3_int64)last);
    sqlite3_bind_text(s->gap_ins, 3, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->gap_ins, 4, now_ms());
    int step = sqlite3_step(s->gap_ins);
    sqlite3_reset(s->gap_ins);
    if (step != SQLITE_DONE)
        return spool_fail(s, "gap insert failed");
    s->dropped += n;
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRIu64, first);
    snprintf(b, sizeof b, "%" PRIu64, last);
    log_warn("spool_drop", "spool full: dropped oldest readings", "first_seq", a, "last_seq", b,
             "reason", reason);
    return SPOOL_OK;
}

static int insert_body(spool *s, const char *json, size_t len)
{
    sqlite3_bind_text(s->ins, 1, json, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(s->ins);
    sqlite3_reset(s->ins);
    return rc;
}

spool_status spool_add(spool *s, const char *json, size_t len, uint64_t *seq)
{
    spool_status st = begin(s);
    if (st)
        return st;
    if (s->max_readings && s->count >= s->max_readings && (st = drop_oldest(s, "max_readings")))
        return st;
    int rc = insert_body(s, json, len);
    if (rc == SQLITE_FULL) {
        /* The byte bound: make room once, then give up on this reading. */
        if ((st = drop_oldest(s, "max_bytes")))
            return st;
        rc = insert_body(s, json, len);
        if (rc == SQLITE_FULL)
            return SPOOL_ERR_FULL;
    }
    if (rc != SQLITE_DONE)
        return spool_fail(s, "insert failed");
    s->last = (uint64_t)sqlite3_last_insert_rowid(s->db);
    if (s->count == 0)
        s->floor = s->last;
    s->count++;
    s->staged++;
    if (seq)
        *seq = s->last;
    return SPOOL_OK;
}

static spool_status q2_step(spool *s, sqlite3_stmt *st, uint16_t pid)
{
    spool_status rc = begin(s);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, pid);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_DONE ? SPOOL_OK : spool_fail(s, "q2 update failed");
}

spool_status spool_q2_hold(spool *s, uint16_t packet_id)
{
    spool_status rc = q2_step(s, s->q2_ins, packet_id);
    if (rc == SPOOL_OK)
        s->q2_bits[packet_id / 8] |= (uint8_t)(1u << (packet_id % 8));
    return rc;
}

spool_status spool_q2_release(spool *s, uint16_t packet_id)
{
    spool_status rc = q2_step(s, s->q2_del, packet_id);
    if (rc == SPOOL_OK)
        s->q2_bits[packet_id / 8] &= (uint8_t) ~(1u << (packet_id % 8));
    return rc;
}

bool spool_q2_held(const spool *s, uint16_t packet_id)
{
    return s->q2_bits[packet_id / 8] & (1u << (packet_id % 8));
}

spool_status spool_ack(spool *s, uint64_t seq)
{
    if (seq < s->floor)
        return SPOOL_OK; /* already gone */
    if (seq > s->committed)
        seq = s->committed; /* never more than was ever sent */
    spool_status rc = begin(s);
    return rc ? rc : delete_upto(s, seq);
}

spool_status spool_commit(spool *s)
{
    if (!s->in_txn)
        return SPOOL_OK;
    if (exec(s, "COMMIT")) {
        spool_status rc = spool_fail(s, "commit failed");
        /* The rolled-back readings are gone from the file: reload counters. */
        load_state(s);
        return rc;
    }
    s->in_txn = false;
    s->staged = 0;
    s->committed = s->last;
    return SPOOL_OK;
}

spool_status spool_read(spool *s, uint64_t after, size_t max, spool_read_fn fn, void *ctx)
{
    sqlite3_stmt *st = s->sel_after;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)s->committed);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, (uint64_t)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
           (size_t)sqlite3_column_bytes(st, 1));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SPOOL_OK : spool_fail(s, "read failed");
}
