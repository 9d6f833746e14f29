/* outbox.c - the transactional outbox and its relay (see outbox.h).
 *
 * The relay keeps at most one publish in flight: rows leave in insertion
 * order, and a row is deleted only after the bus said it is durable, in one
 * DELETE for the whole batch. If the publish fails the same rows go again
 * after a back-off; consumers dedupe on the (stable) event id.
 */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"

#define OUTBOX_BATCH       256
#define OUTBOX_IDLE_US     20000   /* poll interval while the table is empty */
#define OUTBOX_GATHER_US   5000    /* after a batch that emptied the table */
#define OUTBOX_DELETE_US   1000000 /* delete rounds at most this often under load */
#define OUTBOX_DELETE_ROWS 1000    /* rows per delete transaction */
#define OUTBOX_BACKOFF_US  1000000 /* after a failed publish */

static const char *const outbox_schema = "CREATE TABLE IF NOT EXISTS outbox ("
                                         " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                                         " topic TEXT NOT NULL, key TEXT, value BLOB NOT NULL,"
                                         " created_ms INTEGER NOT NULL)";

static metric m_added, m_published, m_failed, m_pending;
static int metrics_done;

static void outbox_metrics_init(void)
{
    if (__atomic_fetch_add(&metrics_done, 1, __ATOMIC_SEQ_CST))
        return;
    metric_register(&m_added, "fitgate_outbox_added_total", "counter",
                    "Events written to the outbox", NULL);
    metric_register(&m_published, "fitgate_outbox_published_total", "counter",
                    "Outbox events the bus reported durable", NULL);
    metric_register(&m_failed, "fitgate_outbox_publish_failed_total", "counter",
                    "Outbox publishes that failed (retried)", NULL);
    metric_register(&m_pending, "fitgate_outbox_pending", "gauge",
                    "Events in the last relayed batch still waiting", NULL);
}

int outbox_init(sqlite3 *db)
{
    outbox_metrics_init();
    char *err = NULL;
    if (sqlite3_exec(db, outbox_schema, NULL, NULL, &err) != SQLITE_OK) {
        log_error("outbox_init", "cannot create the outbox table", "error", err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int outbox_add_prepared(sqlite3_stmt *insert, const char *topic, const char *key, const char *id,
                        const char *type, const char *source, const char *subject,
                        const cJSON *data)
{
    char *value = NULL;
    size_t len = 0;
    if (!insert || !topic || evt_encode(id, type, source, subject, data, &value, &len) != 0) {
        log_error("outbox_add", "cannot encode the event", "type", type ? type : "?");
        return -1;
    }
    sqlite3_bind_text(insert, 1, topic, -1, SQLITE_STATIC);
    if (key)
        sqlite3_bind_text(insert, 2, key, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(insert, 2);
    sqlite3_bind_blob(insert, 3, value, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(insert, 4, wall_ms());
    int rc = sqlite3_step(insert);
    if (rc != SQLITE_DONE)
        log_error("outbox_add", "cannot write the event", "error",
                  sqlite3_errmsg(sqlite3_db_handle(insert)), "type", type);
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert);
    free(value);
    if (rc != SQLITE_DONE)
        return -1;
    metric_add(&m_added, 1);
    return 0;
}

int outbox_add(sqlite3 *db, const char *topic, const char *key, const char *id, const char *type,
               const char *source, const char *subject, const cJSON *data)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, OUTBOX_INSERT_SQL, -1, &st, NULL) != SQLITE_OK) {
        log_error("outbox_add", "cannot write the event", "error", sqlite3_errmsg(db), "type",
                  type ? type : "?");
        return -1;
    }
    int rc = outbox_add_prepared(st, topic, key, id, type, source, subject, data);
    sqlite3_finalize(st);
    return rc;
}

/* ---- relay ---- */

typedef struct row {
    int64_t seq;
    char *topic, *key;
    void *value;
    size_t len;
} row;

struct outbox_relay {
    sd_event *ev;
    bus *b;
    sqlite3 *db;
    sd_event_source *timer;
    row rows[OUTBOX_BATCH];
    size_t nrows;
    int in_flight;
    bus_status result;
    int done;
    uint64_t published;
    int64_t sent_seq;    /* every row up to here is durable on the bus */
    int64_t deleted_seq; /* and every row up to here is gone from the table */
    uint64_t deleted_us; /* when (CLOCK_MONOTONIC) */
    int deleting;        /* a round of deletes is under way */
};

static void rows_clear(outbox_relay *r)
{
    for (size_t i = 0; i < r->nrows; i++) {
        free(r->rows[i].topic);
        free(r->rows[i].key);
        free(r->rows[i].value);
    }
    r->nrows = 0;
}

static int rows_load(outbox_relay *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT seq, topic, key, value FROM outbox WHERE seq > ? ORDER BY seq "
                           "LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, r->sent_seq); /* seq only grows (AUTOINCREMENT) */
    sqlite3_bind_int(st, 2, OUTBOX_BATCH);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && r->nrows < OUTBOX_BATCH) {
        row *w = &r->rows[r->nrows];
        const char *topic = (const char *)sqlite3_column_text(st, 1);
        const char *key = (const char *)sqlite3_column_text(st, 2);
        const void *val = sqlite3_column_blob(st, 3);
        w->len = (size_t)sqlite3_column_bytes(st, 3);
        w->seq = sqlite3_column_int64(st, 0);
        w->topic = strdup(topic ? topic : "");
        w->key = key ? strdup(key) : NULL;
        w->value = malloc(w->len ? w->len : 1);
        if (!w->topic || (key && !w->key) || !w->value) {
            free(w->topic);
            free(w->key);
            free(w->value);
            rc = SQLITE_NOMEM;
            break;
        }
        if (w->len)
            memcpy(w->value, val, w->len);
        r->nrows++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static void on_published(void *ctx, bus_status status)
{
    outbox_relay *r = ctx;
    r->result = status;
    r->done = 1;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Forget the rows the bus holds durably. Not after every batch: each delete
 * is a write on the module's database, and a write from another connection
 * empties the page cache of every connection that writes events (the
 * sign-ins, under load). So a round of deletes starts at most once every
 * OUTBOX_DELETE_US, or when the table has been caught up with, and goes
 * OUTBOX_DELETE_ROWS rows per transaction (one step each), so that no single
 * delete holds the write lock long. The cursor (sent_seq) keeps rows from
 * going twice meanwhile; after a crash the undeleted ones go again, which
 * consumers already handle (events carry stable ids). */
static void rows_forget(outbox_relay *r, int now)
{
    uint64_t t = mono_us();
    if (r->sent_seq <= r->deleted_seq ||
        (!now && !r->deleting && t - r->deleted_us < OUTBOX_DELETE_US))
        return;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE seq "
                                "<= ? ORDER BY seq LIMIT ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, r->sent_seq);
        sqlite3_bind_int(st, 2, OUTBOX_DELETE_ROWS);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_warn("outbox_delete", "cannot delete published events; trying later", "error",
                 sqlite3_errmsg(r->db));
        return;
    }
    r->deleting = sqlite3_changes(r->db) == OUTBOX_DELETE_ROWS; /* more to go */
    if (!r->deleting) {
        r->deleted_seq = r->sent_seq;
        r->deleted_us = t;
    }
}

static uint64_t relay_step(outbox_relay *r)
{
    if (r->in_flight) {
        if (!r->done)
            return 2000; /* the bus is still working on it */
        r->in_flight = 0;
        if (r->result == BUS_OK) {
            size_t n = r->nrows;
            r->sent_seq = r->rows[n - 1].seq;
            r->published += n;
            metric_add(&m_published, (int64_t)n);
            rows_clear(r);
            metric_set(&m_pending, 0);
            rows_forget(r, 0);
            /* A full batch: more wait. Otherwise gather a little first, so
             * that a round carries more than one event under load. */
            return n == OUTBOX_BATCH ? 0 : OUTBOX_GATHER_US;
        }
        metric_add(&m_failed, 1);
        log_warn("outbox_publish_failed", "outbox batch not published; retrying", "status",
                 bus_status_str(r->result));
        rows_clear(r);
        return OUTBOX_BACKOFF_US;
    }
    if (rows_load(r) != 0) {
        rows_clear(r);
        log_error("outbox_read", "cannot read the outbox", "error", sqlite3_errmsg(r->db));
        return OUTBOX_BACKOFF_US;
    }
    if (r->nrows == 0) {
        rows_forget(r, 1); /* caught up: nothing is lost by deleting now */
        return OUTBOX_IDLE_US;
    }
    bus_msg msgs[OUTBOX_BATCH];
    for (size_t i = 0; i < r->nrows; i++)
        msgs[i] = (bus_msg){r->rows[i].topic, r->rows[i].key, r->rows[i].value, r->rows[i].len};
    metric_set(&m_pending, (int64_t)r->nrows);
    r->done = 0;
    r->in_flight = 1;
    if (bus_publish(r->b, msgs, r->nrows, on_published, r) != BUS_OK) {
        r->in_flight = 0;
        rows_clear(r);
        metric_add(&m_failed, 1);
        return OUTBOX_BACKOFF_US;
    }
    return r->done ? 0 : 2000;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    outbox_relay *r = userdata;
    uint64_t next = relay_step(r);
    sd_event_source_set_time_relative(s, next ? next : 1);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

int outbox_relay_new(outbox_relay **out, sd_event *ev, bus *b, const char *db_path)
{
    *out = NULL;
    outbox_metrics_init();
    outbox_relay *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->ev = ev;
    r->b = b;
    if (sqlite3_open_v2(db_path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(r->db, 5000) != SQLITE_OK ||
        sqlite3_exec(r->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
        outbox_init(r->db) != 0 ||
        sd_event_add_time_relative(ev, &r->timer, CLOCK_MONOTONIC, 1000, 1000, on_timer, r) < 0) {
        log_error("outbox_open", "cannot open the outbox", "path", db_path);
        outbox_relay_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void outbox_relay_free(outbox_relay *r)
{
    if (!r)
        return;
    /* Its delivery callback points at us: let a publish in flight finish
     * (the rows are deleted only if it succeeded; otherwise they go again
     * at the next start). */
    for (int i = 0; r->in_flight && !r->done && i < 100; i++)
        bus_poll(r->b, 50);
    if (r->in_flight && !r->done) {
        log_error("outbox_stop", "publish still pending at stop; leaving the relay allocated");
        r->timer = sd_event_source_disable_unref(r->timer);
        return;
    }
    if (r->in_flight && r->result == BUS_OK && r->nrows)
        r->sent_seq = r->rows[r->nrows - 1].seq;
    rows_forget(r, 1);
    for (int i = 0; r->deleting && i < 1000; i++)
        rows_forget(r, 1);
    r->timer = sd_event_source_disable_unref(r->timer);
    rows_clear(r);
    sqlite3_close(r->db);
    free(r);
}

uint64_t outbox_relay_published(const outbox_relay *r)
{
    return r->published;
}
