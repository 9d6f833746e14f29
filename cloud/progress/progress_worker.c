/* progress_worker.c - the projection's consumers on the event loop, and the
 * rebuild (replay from the beginning). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "fitcommon/log.h"
#include "progress_int.h"

#define BURST    256    /* records per consumer per timer tick */
#define IDLE_US  5000   /* poll interval when drained */
#define TICK_MS  1000   /* idle-session check */
#define RETRY_US 200000 /* after a failed apply */

/* Topics and consumer groups. Readings use the "workouts" group; the rest
 * one group per topic, so a Kafka group never mixes subscriptions. */
static const struct {
    const char *topic, *group;
} feeds[] = {
    {EVT_TOPIC_READINGS, "workouts"},
    {EVT_TOPIC_IDENTITY, "progress-identity"},
    {EVT_TOPIC_ORDERS, "progress-orders"},
    {EVT_TOPIC_WORKOUTS, "progress-workouts"},
};
#define NFEEDS (sizeof feeds / sizeof feeds[0])

struct progress_worker {
    sd_event *ev;
    bus *b;
    progress *p;
    bus_consumer *c[NFEEDS];
    sd_event_source *timer;
    int64_t last_tick_ms;
    uint64_t applied;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reopen(progress_worker *w, size_t i)
{
    if (w->c[i])
        bus_consumer_close(w->c[i]);
    w->c[i] = NULL;
    return bus_consumer_open(w->b, feeds[i].group, feeds[i].topic, 0, &w->c[i]) == BUS_OK ? 0 : -1;
}

/* Drain up to BURST records of one feed. 1: more may wait; 0: drained;
 * -1: an apply failed (the consumer resumes after the last commit). */
static int drain(progress_worker *w, size_t i)
{
    if (!w->c[i] && reopen(w, i) < 0)
        return -1;
    for (int k = 0; k < BURST; k++) {
        bus_record rec;
        if (bus_consume(w->c[i], &rec, 0) != BUS_OK)
            return 0;
        if (progress_apply(w->p, &rec, wall_ms()) < 0) {
            reopen(w, i);
            return -1;
        }
        w->applied++;
        bus_consumer_commit(w->c[i], &rec);
    }
    return 1;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    progress_worker *w = userdata;
    uint64_t next = IDLE_US;
    for (size_t i = 0; i < NFEEDS; i++) {
        int r = drain(w, i);
        if (r > 0)
            next = 0;
        else if (r < 0 && next > 0)
            next = RETRY_US;
    }
    int64_t now = wall_ms();
    if (now - w->last_tick_ms >= TICK_MS) {
        w->last_tick_ms = now;
        if (progress_tick(w->p, now) < 0)
            log_warn("progress_tick", "closing idle workouts failed; retrying");
    }
    sd_event_source_set_time_relative(s, next);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

int progress_worker_new(progress_worker **out, sd_event *ev, bus *b, const char *db_path,
                        const progress_cfg *cfg)
{
    *out = NULL;
    progress_worker *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->ev = sd_event_ref(ev);
    w->b = b;
    if (progress_open(&w->p, db_path, cfg) < 0 ||
        sd_event_add_time_relative(ev, &w->timer, CLOCK_MONOTONIC, 0, 1000, on_timer, w) < 0) {
        progress_worker_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void progress_worker_free(progress_worker *w)
{
    if (!w)
        return;
    w->timer = sd_event_source_disable_unref(w->timer);
    for (size_t i = 0; i < NFEEDS; i++)
        if (w->c[i])
            bus_consumer_close(w->c[i]);
    progress_close(w->p);
    sd_event_unref(w->ev);
    free(w);
}

uint64_t progress_worker_applied(const progress_worker *w)
{
    return w->applied;
}

int progress_rebuild(bus *b, const char *db_path, const progress_cfg *cfg, int quiet_ms)
{
    progress *p = NULL;
    bus_consumer *c[NFEEDS] = {0};
    int rc = -1;
    if (progress_open(&p, db_path, cfg) < 0 || progress_reset(p) < 0)
        goto out;
    /* A group no one used before starts at the beginning of each topic. */
    char suffix[64];
    snprintf(suffix, sizeof suffix, "rebuild-%ld-%lld", (long)getpid(), (long long)wall_ms());
    for (size_t i = 0; i < NFEEDS; i++) {
        char group[128];
        snprintf(group, sizeof group, "%s-%s", feeds[i].group, suffix);
        if (bus_consumer_open(b, group, feeds[i].topic, 0, &c[i]) != BUS_OK)
            goto out;
    }
    uint64_t n = 0;
    for (int quiet = 0; !quiet;) {
        quiet = 1;
        for (size_t i = 0; i < NFEEDS; i++) {
            bus_record rec;
            /* Readings first, as fast as they come; the others in between. */
            while (bus_consume(c[i], &rec, quiet_ms / (int)NFEEDS) == BUS_OK) {
                if (progress_apply(p, &rec, wall_ms()) < 0)
                    goto out;
                n++;
                quiet = 0;
            }
        }
    }
    if (progress_tick(p, wall_ms()) < 0)
        goto out;
    log_info("progress_rebuilt", "projection replayed from the beginning", "db", db_path);
    fprintf(stderr, "progress: rebuilt from %llu records\n", (unsigned long long)n);
    rc = 0;
out:
    for (size_t i = 0; i < NFEEDS; i++)
        if (c[i])
            bus_consumer_close(c[i]);
    progress_close(p);
    return rc;
}
