/* worker.c - readings events -> store (see worker.h). */
#include "worker.h"

#include <stdlib.h>

#include "events.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "store.h"

#define WORKER_GROUP   "worker"
#define WORKER_BURST   256  /* records per timer tick */
#define WORKER_IDLE_US 5000 /* poll interval when the topic is drained */

struct worker {
    sd_event *ev;
    bus *b;
    bus_consumer *c;
    store *st;
    sd_event_source *timer;
    uint64_t stored;
};

static metric m_events, m_stored, m_replayed, m_bad_events, m_store_failed;
static int metrics_done;

static void worker_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_events, "fitgate_worker_events_total", "counter", "Readings events consumed",
                    NULL);
    metric_register(&m_stored, "fitgate_worker_readings_stored_total", "counter", "Readings stored",
                    NULL);
    metric_register(&m_replayed, "fitgate_worker_readings_replayed_total", "counter",
                    "Readings already stored (bus redelivery)", NULL);
    metric_register(&m_bad_events, "fitgate_worker_events_rejected_total", "counter",
                    "Events that failed to decode (skipped)", NULL);
    metric_register(&m_store_failed, "fitgate_worker_store_failed_total", "counter",
                    "Store writes that failed (retried)", NULL);
}

/* 0: processed (or skipped as undecodable); -1: retry later. */
static int apply(worker *w, const bus_record *rec)
{
    fp_batch b;
    metric_add(&m_events, 1);
    if (evt_readings_decode(rec->value, rec->len, &b) != FP_OK) {
        /* A poison record must not stop the stream; it is counted and logged. */
        metric_add(&m_bad_events, 1);
        log_error("event_rejected", "undecodable readings event skipped");
        return 0;
    }
    size_t inserted = 0;
    store_status rc = store_put_readings(w->st, b.gateway, b.epoch, b.readings, b.count, &inserted);
    if (rc == STORE_OK) {
        w->stored += inserted;
        metric_add(&m_stored, (int64_t)inserted);
        metric_add(&m_replayed, (int64_t)(b.count - inserted));
    }
    fp_batch_free(&b);
    return rc == STORE_OK ? 0 : -1;
}

static int reopen(worker *w)
{
    if (w->c)
        bus_consumer_close(w->c);
    w->c = NULL;
    return bus_consumer_open(w->b, WORKER_GROUP, EVT_TOPIC_READINGS, 0, &w->c) == BUS_OK ? 0 : -1;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    worker *w = userdata;
    uint64_t next = WORKER_IDLE_US;
    if (!w->c && reopen(w) < 0)
        next = 1000000;
    for (int i = 0; w->c && i < WORKER_BURST; i++) {
        bus_record rec;
        if (bus_consume(w->c, &rec, 0) != BUS_OK)
            break;
        if (apply(w, &rec) < 0) {
            metric_add(&m_store_failed, 1);
            reopen(w); /* resume after the last processed record */
            next = 200000;
            break;
        }
        bus_consumer_commit(w->c, &rec);
        if (i == WORKER_BURST - 1)
            next = 0; /* more may be waiting */
    }
    sd_event_source_set_time_relative(s, next);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

int worker_new(worker **out, sd_event *ev, bus *b, const char *db_path)
{
    *out = NULL;
    worker_metrics_init();
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->ev = sd_event_ref(ev);
    w->b = b;
    if (store_open(&w->st, db_path) != STORE_OK || reopen(w) < 0 ||
        sd_event_add_time_relative(ev, &w->timer, CLOCK_MONOTONIC, 0, 1000, on_timer, w) < 0) {
        worker_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void worker_free(worker *w)
{
    if (!w)
        return;
    w->timer = sd_event_source_disable_unref(w->timer);
    if (w->c)
        bus_consumer_close(w->c);
    store_close(w->st);
    sd_event_unref(w->ev);
    free(w);
}

uint64_t worker_stored(const worker *w)
{
    return w->stored;
}
