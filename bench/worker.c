/* bench/worker.c - readings per second through the workouts projection
 * (sessions + metrics, progress_apply) consuming from Kafka, next to a bare
 * consumer of the same topic (consume + commit, nothing else) as the ceiling.
 *
 *   bench_worker <brokers> <readings> <workdir> [devices]
 *
 * Produces <readings> readings (batches of 50, as ingest publishes them) of
 * <devices> devices at 1 Hz each to a fresh topic, then consumes the topic
 * twice with fresh consumer groups. Rates count from the first record to the
 * last (group join time excluded). Prints one JSON line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "events.h"
#include "progress.h"
#include "store.h"

#define BATCH 50

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct pending {
    int done, failed;
} pending;

static void on_done(void *ctx, bus_status st)
{
    pending *p = ctx;
    p->done++;
    p->failed += st != BUS_OK;
}

static void reading(fp_reading *r, size_t i, int devices, int64_t base)
{
    char dev[32];
    int d = (int)(i % (size_t)devices);
    int64_t t = base + (int64_t)(i / (size_t)devices) * 1000;
    snprintf(dev, sizeof dev, "bench-%02d", d);
    if (d % 2 == 0) {
        fp_reading_init(r, dev, FP_KIND_HEART_RATE, t);
        fp_reading_add(r, FP_Q_HEART_RATE, 100 + (double)(i % 60));
        fp_reading_add(r, FP_Q_RR_INTERVAL, 0.6 + 0.001 * (double)(i % 50));
    } else {
        fp_reading_init(r, dev, FP_KIND_TREADMILL, t);
        fp_reading_add(r, FP_Q_SPEED, 2.5);
        fp_reading_add(r, FP_Q_DISTANCE, 2.5 * (double)(i / (size_t)devices));
        fp_reading_add(r, FP_Q_HEART_RATE, 120);
    }
}

static int produce(bus *b, const char *topic, size_t n, int devices, size_t *events)
{
    int64_t base = wall_ms() - 2 * 86400000LL;
    fp_reading r[BATCH];
    pending pd = {0};
    int sent = 0;
    uint64_t seq = 1;
    for (size_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? n - i : BATCH;
        for (size_t j = 0; j < k; j++) {
            reading(&r[j], i + j, devices, base);
            r[j].seq = seq++;
        }
        char *out;
        size_t len;
        if (evt_readings_encode("bench-gw", 1, r, k, &out, &len) != FP_OK)
            return -1;
        bus_msg m = {topic, "bench-gw", out, len};
        if (bus_publish(b, &m, 1, on_done, &pd) != BUS_OK) {
            free(out);
            return -1;
        }
        free(out);
        sent++;
        while (sent - pd.done > 2000)
            bus_poll(b, 10);
    }
    while (pd.done < sent)
        bus_poll(b, 50);
    *events = (size_t)sent;
    return pd.failed ? -1 : 0;
}

/* Consume `events` records; apply each when p. Returns readings/s. */
static double consume(bus *b, const char *group, const char *topic, size_t events, size_t readings,
                      progress *p)
{
    bus_consumer *c;
    if (bus_consumer_open(b, group, topic, 0, &c) != BUS_OK)
        return -1;
    int64_t t0 = 0, t1 = 0;
    size_t got = 0;
    int64_t give_up = mono_us() + 120000000;
    while (got < events && mono_us() < give_up) {
        bus_record rec;
        if (bus_consume(c, &rec, 100) != BUS_OK)
            continue;
        if (!t0)
            t0 = mono_us();
        if (p) {
            bus_record r = rec;
            r.topic = EVT_TOPIC_READINGS; /* the bench topic carries readings events */
            if (progress_apply(p, &r, wall_ms()) < 0) {
                fprintf(stderr, "apply failed\n");
                break;
            }
        }
        bus_consumer_commit(c, &rec);
        got++;
        t1 = mono_us();
    }
    bus_consumer_close(c);
    if (got < events || t1 <= t0)
        return -1;
    /* The first record's own work is inside [t0, t1] only from the second
     * on: scale by (events - 1) / events. */
    return (double)readings * (double)(events - 1) / (double)events / ((double)(t1 - t0) / 1e6);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_worker <brokers> <readings> <workdir> [devices]\n");
        return 2;
    }
    size_t n = strtoull(argv[2], NULL, 10);
    int devices = argc > 4 ? atoi(argv[4]) : 20;
    char db[1024], topic[96], g1[128], g2[128];
    snprintf(db, sizeof db, "%s/core.db", argv[3]);
    snprintf(topic, sizeof topic, "bench.readings.%ld.%" PRId64, (long)getpid(), wall_ms());
    snprintf(g1, sizeof g1, "%s.bare", topic);
    snprintf(g2, sizeof g2, "%s.workouts", topic);
    bus *b;
    if (bus_open_kafka(&b, argv[1], NULL) != BUS_OK)
        return 1;
    store *st;
    if (store_open(&st, db) != STORE_OK)
        return 1;
    for (int d = 0; d < devices; d++) {
        char dev[32];
        snprintf(dev, sizeof dev, "bench-%02d", d);
        store_bind_device(st, dev, 1 + d / 2); /* a strap and a treadmill per user */
    }
    store_close(st);
    size_t events;
    int64_t p0 = mono_us();
    if (produce(b, topic, n, devices, &events) < 0) {
        fprintf(stderr, "produce failed\n");
        return 1;
    }
    double produce_rate = (double)n / ((double)(mono_us() - p0) / 1e6);
    double bare = consume(b, g1, topic, events, n, NULL);
    progress_cfg cfg = {.idle_ms = 300000, .max_skew_ms = 300000};
    progress *p;
    if (progress_open(&p, db, &cfg) < 0)
        return 1;
    double work = consume(b, g2, topic, events, n, p);
    int64_t c0 = mono_us();
    int closed = progress_tick(p, wall_ms() + 3600000);
    double close_ms = (double)(mono_us() - c0) / 1000.0;
    progress_close(p);
    bus_close(b);
    printf("{\"readings\":%zu,\"events\":%zu,\"devices\":%d,\"produce_per_s\":%.0f,"
           "\"bare_consume_per_s\":%.0f,\"workouts_per_s\":%.0f,\"ratio\":%.3f,"
           "\"closed_at_end\":%d,\"close_ms\":%.1f}\n",
           n, events, devices, produce_rate, bare, work, bare > 0 ? work / bare : 0, closed,
           close_ms);
    return bare > 0 && work > 0 ? 0 : 1;
}
