/* notify.c - the notifier: events -> queue (event loop) -> sender thread
 * (see notify.h).
 *
 * Queue rows: (event_id PK, user_id, type, data, state, attempts, next_ms).
 * The text is composed at send time, in the language the user has then, so a
 * user who switched to Russian gets Russian. Only the sender thread changes a
 * row after it is queued.
 */
#include "notify.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"

#define NOTIFY_GROUP   "notifier"
#define NOTIFY_BURST   128
#define NOTIFY_IDLE_US 50000
#define NOTIFY_CHATS   256 /* last-send times remembered for pacing */

static const char *const topics[] = {EVT_TOPIC_IDENTITY, EVT_TOPIC_WORKOUTS, EVT_TOPIC_GAMIFICATION,
                                     EVT_TOPIC_ORDERS};
#define NTOPICS (sizeof topics / sizeof topics[0])

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS notify_queue ("
    " event_id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, type TEXT NOT NULL,"
    " data TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, done_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS notify_queue_due ON notify_queue(state, next_ms);";

struct notifier {
    sd_event *ev;
    bus *b;
    bus_consumer *c[NTOPICS];
    sd_event_source *timer;
    sqlite3 *db;    /* event loop: inserts */
    sqlite3 *db_tx; /* sender thread */
    notify_options opt;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct {
        int64_t chat, last_ms;
    } paced[NOTIFY_CHATS];
    notify_counts counts; /* guarded by mu */
};

static metric m_queued, m_skipped, m_bad;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void notify_metrics_init(void)
{
    metric_register(&m_queued, "fitgate_notify_queued_total", "counter",
                    "Events that became a message to send", NULL);
    metric_register(&m_skipped, "fitgate_notify_skipped_total", "counter",
                    "Events that send nothing (by type) or were already queued", NULL);
    metric_register(&m_bad, "fitgate_notify_events_rejected_total", "counter",
                    "Undecodable events or events without a user (skipped)", NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_db(const char *path, sqlite3 **db)
{
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(*db, 5000) != SQLITE_OK ||
        sqlite3_exec(*db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(*db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        log_error("notify_open", "cannot open the notify queue", "error",
                  *db ? sqlite3_errmsg(*db) : "?");
        return -1;
    }
    return 0;
}

/* ---- event loop side: events -> queue ---- */

/* 0: processed (queued, skipped or rejected); -1: retry later. */
/* Rows of a security notice sent on every channel: "<event id>#ch:<name>",
 * one per channel, so each is retried and counted on its own. */
#define CH_TAG "#ch:"
static const char *const every_channel[] = {"telegram", "whatsapp", "email"};
#define NEVERY (sizeof every_channel / sizeof every_channel[0])

/* One queue row; 1 queued, 0 already there, -1 error. */
static int queue_row(notifier *n, const char *id, int64_t user_id, const char *type,
                     const char *data)
{
    sqlite3_stmt *st = NULL;
    int64_t now = now_ms();
    int rc = -1;
    if (sqlite3_prepare_v2(n->db,
                           "INSERT OR IGNORE INTO notify_queue(event_id, user_id, type,"
                           " data, next_ms, created_ms) VALUES(?,?,?,?,?,?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, user_id);
        sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, data, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, now);
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = sqlite3_changes(n->db) == 1;
    }
    sqlite3_finalize(st);
    if (rc == 1) {
        metric_add(&m_queued, 1);
        __atomic_add_fetch(&n->counts.queued, 1, __ATOMIC_RELAXED);
    } else if (rc == 0) {
        metric_add(&m_skipped, 1); /* redelivered: already queued */
    }
    return rc;
}

static int queue_rows(notifier *n, const evt *e, int64_t user_id)
{
    char *data = cJSON_PrintUnformatted(e->data);
    if (!data)
        return -1;
    int rc = 0;
    if (!notify_every_channel(e->type, e->data)) {
        rc = queue_row(n, e->id, user_id, e->type, data) < 0 ? -1 : 0;
    } else {
        for (size_t i = 0; i < NEVERY && rc == 0; i++) {
            char id[160];
            int len = snprintf(id, sizeof id, "%s" CH_TAG "%s", e->id, every_channel[i]);
            rc = len > 0 && (size_t)len < sizeof id && queue_row(n, id, user_id, e->type, data) >= 0
                     ? 0
                     : -1;
        }
    }
    free(data);
    return rc;
}

static int queue_event(notifier *n, const bus_record *rec)
{
    evt e;
    if (evt_decode(rec->value, rec->len, &e) != 0) {
        metric_add(&m_bad, 1);
        return 0;
    }
    char *text = NULL;
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(e.data, "user_id");
    int rc = 0;
    if (notify_compose(e.type, e.data, "en", NULL, &text) != 0) {
        metric_add(&m_skipped, 1);
    } else if (!cJSON_IsNumber(uid) || uid->valuedouble < 1) {
        metric_add(&m_bad, 1);
        log_warn("notify_no_user", "event without user_id skipped", "event.id", e.id);
    } else if ((rc = queue_rows(n, &e, (int64_t)uid->valuedouble)) != 0) {
        log_error("notify_queue", "cannot queue a message", "error", sqlite3_errmsg(n->db));
    }
    free(text);
    evt_free(&e);
    return rc;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    notifier *n = userdata;
    int queued = 0, busy = 0;
    for (size_t t = 0; t < NTOPICS; t++) {
        for (int i = 0; i < NOTIFY_BURST; i++) {
            bus_record rec;
            if (bus_consume(n->c[t], &rec, 0) != BUS_OK)
                break;
            if (queue_event(n, &rec) != 0) {
                /* Our table failed: reopen the consumer, which resumes after
                 * the last committed record. */
                bus_consumer_close(n->c[t]);
                n->c[t] = NULL;
                bus_consumer_open(n->b, NOTIFY_GROUP, topics[t], 0, &n->c[t]);
                break;
            }
            bus_consumer_commit(n->c[t], &rec);
            queued++;
            busy = i + 1 == NOTIFY_BURST;
        }
        if (!n->c[t])
            bus_consumer_open(n->b, NOTIFY_GROUP, topics[t], 0, &n->c[t]);
    }
    if (queued) {
        pthread_mutex_lock(&n->mu);
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
    }
    sd_event_source_set_time_relative(s, busy ? 1 : NOTIFY_IDLE_US);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

/* ---- sender thread ---- */

typedef struct job {
    char event_id[160], type[64];
    int64_t user_id;
    int attempts;
    cJSON *data;
} job;

/* The next due row, or 0 when none. */
static int next_job(notifier *n, job *j, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(n->db_tx,
                           "SELECT event_id, user_id, type, data, attempts FROM notify_queue"
                           " WHERE state = 'pending' AND next_ms <= ? ORDER BY next_ms LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, now);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(j->event_id, sizeof j->event_id, "%s", sqlite3_column_text(st, 0));
        j->user_id = sqlite3_column_int64(st, 1);
        snprintf(j->type, sizeof j->type, "%s", sqlite3_column_text(st, 2));
        j->data = cJSON_Parse((const char *)sqlite3_column_text(st, 3));
        j->attempts = sqlite3_column_int(st, 4);
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

static void set_state(notifier *n, const job *j, const char *state, int64_t next_ms)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(n->db_tx,
                           "UPDATE notify_queue SET state = ?, attempts = attempts + 1,"
                           " next_ms = ?, done_ms = ? WHERE event_id = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, next_ms);
        if (strcmp(state, "pending") != 0)
            sqlite3_bind_int64(st, 3, now_ms());
        sqlite3_bind_text(st, 4, j->event_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            log_error("notify_update", "cannot update the queue", "error",
                      sqlite3_errmsg(n->db_tx));
    }
    sqlite3_finalize(st);
}

/* Per-chat pacing: ms to wait before this chat may get another message. */
static int64_t pace_wait(notifier *n, int64_t chat, int64_t now)
{
    for (int i = 0; i < NOTIFY_CHATS; i++)
        if (n->paced[i].chat == chat) {
            int64_t due = n->paced[i].last_ms + n->opt.per_chat_interval_ms;
            return due > now ? due - now : 0;
        }
    return 0;
}

static void pace_mark(notifier *n, int64_t chat, int64_t now)
{
    int slot = 0;
    for (int i = 0; i < NOTIFY_CHATS; i++) {
        if (n->paced[i].chat == chat) {
            slot = i;
            break;
        }
        if (n->paced[i].last_ms < n->paced[slot].last_ms)
            slot = i; /* the oldest entry makes room */
    }
    n->paced[slot].chat = chat;
    n->paced[slot].last_ms = now;
}

/* The one channel a row is for ("#ch:<name>" rows), or NULL: the first the
 * user has. */
static const char *row_channel(const job *j)
{
    const char *tag = strstr(j->event_id, CH_TAG);
    return tag ? tag + strlen(CH_TAG) : NULL;
}

/* 1 when the contact can be reached on the row's channel. */
static int has_channel(const notify_contact *c, const char *only)
{
    return !only || (!strcmp(only, "telegram") && c->telegram_chat_id) ||
           (!strcmp(only, "whatsapp") && c->whatsapp_id[0]) ||
           (!strcmp(only, "email") && c->email[0]);
}

static notify_status deliver(notifier *n, const job *j, const notify_contact *c, int *retry_after)
{
    char *text = NULL;
    if (notify_compose(j->type, j->data, c->lang, c->first_name, &text) != 0)
        return NOTIFY_ERR_ARG;
    const char *only = row_channel(j);
    notify_status st = NOTIFY_ERR_REFUSED; /* nowhere to send it */
    if (c->telegram_chat_id && (!only || !strcmp(only, "telegram")))
        st = notify_telegram(n->opt.ch, c->telegram_chat_id, text, retry_after);
    else if (c->whatsapp_id[0] && (!only || !strcmp(only, "whatsapp")))
        st = notify_whatsapp_text(n->opt.ch, c->whatsapp_id, text, retry_after);
    else if (c->email[0] && (!only || !strcmp(only, "email")))
        st = notify_email(n->opt.ch, c->email, "fitgate", text);
    free(text);
    return st;
}

static void count(notifier *n, uint64_t *field)
{
    pthread_mutex_lock(&n->mu);
    (*field)++;
    pthread_mutex_unlock(&n->mu);
}

static void process(notifier *n, job *j)
{
    notify_contact c;
    memset(&c, 0, sizeof c);
    int64_t now = now_ms();
    /* Security notices ignore the opt-out: the user must hear of them. */
    const char *only = row_channel(j);
    if (!n->opt.contact || n->opt.contact(n->opt.contact_ctx, j->user_id, &c) != 0 ||
        (c.opted_out && !only) || !has_channel(&c, only)) {
        set_state(n, j, "skipped", now);
        return;
    }
    int64_t chat = only && strcmp(only, "telegram") ? 0 : c.telegram_chat_id; /* paced */
    int64_t wait = chat ? pace_wait(n, chat, now) : 0;
    if (wait > 0) {
        set_state(n, j, "pending", now + wait);
        return;
    }
    int retry_after = 0;
    notify_status st = deliver(n, j, &c, &retry_after);
    if (chat)
        pace_mark(n, chat, now_ms());
    switch (st) {
    case NOTIFY_OK:
        set_state(n, j, "sent", now);
        count(n, &n->counts.sent);
        break;
    case NOTIFY_ERR_RATE:
        /* The provider's own back-off; not a failed attempt of ours. */
        set_state(n, j, "pending", now + (int64_t)(retry_after > 0 ? retry_after : 1) * 1000);
        break;
    case NOTIFY_ERR_REFUSED:
    case NOTIFY_ERR_ARG:
    case NOTIFY_ERR_CONFIG:
        set_state(n, j, "refused", now);
        count(n, &n->counts.refused);
        log_info("notify_refused", "message not deliverable", "event.id", j->event_id, "reason",
                 notify_status_str(st));
        break;
    case NOTIFY_ERR_TEMPORARY:
        if (j->attempts + 1 >= n->opt.max_attempts) {
            set_state(n, j, "failed", now);
            count(n, &n->counts.failed);
            log_warn("notify_failed", "message given up after retries", "event.id", j->event_id);
        } else {
            int64_t backoff = 1000LL << (j->attempts < 10 ? j->attempts : 10);
            set_state(n, j, "pending", now + backoff);
        }
        break;
    }
}

static void *sender_main(void *arg)
{
    notifier *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        pthread_mutex_unlock(&n->mu);
        job j = {0};
        int found = next_job(n, &j, now_ms());
        if (found) {
            process(n, &j);
            cJSON_Delete(j.data);
        }
        pthread_mutex_lock(&n->mu);
        if (!found && !n->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L; /* re-check for rows that became due */
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* ---- life cycle ---- */

int notifier_new(notifier **out, sd_event *ev, bus *b, const notify_options *opt)
{
    *out = NULL;
    pthread_once(&metrics_once, notify_metrics_init);
    notifier *n = calloc(1, sizeof *n);
    if (!n)
        return -1;
    n->ev = ev;
    n->b = b;
    n->opt = *opt;
    if (n->opt.per_chat_interval_ms <= 0)
        n->opt.per_chat_interval_ms = 1100;
    if (n->opt.max_attempts <= 0)
        n->opt.max_attempts = 8;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    int ok = opt->db_path && opt->ch && open_db(opt->db_path, &n->db) == 0 &&
             open_db(opt->db_path, &n->db_tx) == 0;
    for (size_t t = 0; ok && t < NTOPICS; t++)
        ok = bus_consumer_open(b, NOTIFY_GROUP, topics[t], 0, &n->c[t]) == BUS_OK;
    ok = ok &&
         sd_event_add_time_relative(ev, &n->timer, CLOCK_MONOTONIC, 1000, 1000, on_timer, n) >= 0;
    ok = ok && pthread_create(&n->thread, NULL, sender_main, n) == 0;
    if (!ok) {
        notifier_free(n);
        return -1;
    }
    n->thread_started = 1;
    *out = n;
    return 0;
}

void notifier_free(notifier *n)
{
    if (!n)
        return;
    if (n->thread_started) {
        pthread_mutex_lock(&n->mu);
        n->stop = 1;
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
        pthread_join(n->thread, NULL);
    }
    n->timer = sd_event_source_disable_unref(n->timer);
    for (size_t t = 0; t < NTOPICS; t++)
        if (n->c[t])
            bus_consumer_close(n->c[t]);
    sqlite3_close(n->db);
    sqlite3_close(n->db_tx);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

void notifier_counts(notifier *n, notify_counts *out)
{
    pthread_mutex_lock(&n->mu);
    *out = n->counts;
    out->queued = __atomic_load_n(&n->counts.queued, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&n->mu);
}
