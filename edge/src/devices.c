/* devices.c - local broker -> decode -> spool, ack after commit (devices.h). */
#include "devices.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitdrivers/bridge.h"
#include "fitdrivers/gatt.h"
#include "fitproto/msg.h"

/* An acknowledgement waiting for the commit of what it acknowledges. */
typedef struct pending_ack {
    uint16_t packet_id;
    uint8_t kind; /* PUBACK, PUBREC or PUBCOMP */
} pending_ack;

enum { ACK_PUBACK = 1, ACK_PUBREC, ACK_PUBCOMP };

struct devices {
    sd_event *ev;
    spool *sp;
    derive *dv;
    mrx *client;
    sd_event_source *io, *tick, *retry;
    int io_fd;
    bool subscribed; /* SUBACK seen on this connection (logged once) */
    uint64_t backoff_us;
    devices_dirty_fn dirty;
    void *ctx;
    pending_ack *acks;
    size_t nacks, cap_acks;
};

static metric m_received, m_readings, m_dups, m_rejected_topic, m_rejected_payload, m_dropped_full,
    m_connects;
static int metrics_done;

static void devices_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_received, "fitgate_edge_device_messages_total", "counter",
                    "Messages received from the local broker", NULL);
    metric_register(&m_readings, "fitgate_edge_readings_spooled_total", "counter",
                    "Readings added to the spool", NULL);
    metric_register(&m_dups, "fitgate_edge_device_duplicates_total", "counter",
                    "Redelivered QoS 2 messages recognised as already spooled", NULL);
    metric_register(&m_rejected_topic, "fitgate_edge_device_rejected_total", "counter",
                    "Device messages rejected", "reason=\"topic\"");
    metric_register(&m_rejected_payload, "fitgate_edge_device_rejected_total", "counter",
                    "Device messages rejected", "reason=\"payload\"");
    metric_register(&m_dropped_full, "fitgate_edge_device_rejected_total", "counter",
                    "Device messages rejected", "reason=\"spool_full\"");
    metric_register(&m_connects, "fitgate_edge_local_connects_total", "counter",
                    "Connections to the local broker", NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* Keep the io source on the client's current socket with the events it wants. */
static void sync_io(devices *d)
{
    int fd = mrx_fd(d->client);
    if (fd != d->io_fd) {
        d->io = sd_event_source_disable_unref(d->io);
        d->io_fd = -1;
        if (fd >= 0 && sd_event_add_io(d->ev, &d->io, fd, EPOLLIN, on_io, d) >= 0)
            d->io_fd = fd;
    }
    if (!d->subscribed && mrx_connected(d->client)) {
        /* From here on the broker queues device messages for us, even while
         * we are down: the moment a new gateway starts receiving. */
        d->subscribed = true;
        log_info("local_subscribed", "subscribed to device topics on the local broker");
    }
    if (d->io) {
        short want = mrx_poll_events(d->client);
        sd_event_source_set_io_events(d->io, (want & POLLIN ? EPOLLIN : 0) |
                                                 (want & POLLOUT ? EPOLLOUT : 0));
    }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)s;
    (void)usec;
    devices *d = userdata;
    if (mrx_connect(d->client) != MRX_OK) {
        d->backoff_us = d->backoff_us < 5000000 ? d->backoff_us * 2 + 100000 : 5000000;
        sd_event_source_set_time_relative(d->retry, d->backoff_us);
        sd_event_source_set_enabled(d->retry, SD_EVENT_ONESHOT);
    }
    sync_io(d);
    return 0;
}

static void schedule_reconnect(devices *d)
{
    d->backoff_us = d->backoff_us < 5000000 ? d->backoff_us * 2 + 100000 : 5000000;
    sd_event_source_set_time_relative(d->retry, d->backoff_us);
    sd_event_source_set_enabled(d->retry, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    (void)s;
    (void)fd;
    devices *d = userdata;
    short ev = (revents & EPOLLIN ? POLLIN : 0) | (revents & EPOLLOUT ? POLLOUT : 0) |
               (revents & EPOLLERR ? POLLERR : 0) | (revents & EPOLLHUP ? POLLHUP : 0);
    mrx_handle_io(d->client, ev);
    sync_io(d);
    return 0;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    devices *d = userdata;
    if (mrx_fd(d->client) >= 0)
        mrx_tick(d->client, mono_ms());
    sync_io(d);
    sd_event_source_set_time_relative(s, 500000);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

static void queue_ack(devices *d, uint16_t pid, uint8_t kind)
{
    if (d->nacks == d->cap_acks) {
        size_t cap = d->cap_acks ? d->cap_acks * 2 : 256;
        pending_ack *a = realloc(d->acks, cap * sizeof *a);
        if (!a) {
            /* Without memory we cannot remember the ack: drop the connection
             * so the broker redelivers (QoS 2 dedupe makes that harmless). */
            devices_commit_failed(d);
            return;
        }
        d->acks = a;
        d->cap_acks = cap;
    }
    d->acks[d->nacks++] = (pending_ack){pid, kind};
}

/* Acknowledge something that needs no commit (rejected or duplicate). */
static void ack_now(devices *d, const mrx_msg *m)
{
    if (m->qos == 1)
        mrx_puback(d->client, m->packet_id);
    else if (m->qos == 2)
        mrx_pubrec(d->client, m->packet_id);
}

static void on_publish(void *ctx, const mrx_msg *m)
{
    devices *d = ctx;
    metric_add(&m_received, 1);
    if (m->qos == 2 && spool_q2_held(d->sp, m->packet_id)) {
        /* Spooled before a crash or reconnect; the broker never saw our PUBREC. */
        metric_add(&m_dups, 1);
        mrx_pubrec(d->client, m->packet_id);
        return;
    }
    /* Device topics carry one GATT notification; BLE-to-MQTT bridges
     * (OpenMQTTGateway, Theengs) carry JSON that may hold several readings. */
    fp_reading r[4];
    size_t n = 0;
    fp_status st;
    if (strncmp(m->topic, "fit/v1/dev/", 11) == 0) {
        char device[FP_DEVICE_MAX + 1];
        uint16_t uuid = 0;
        if (fp_topic_parse_device(m->topic, device, &uuid) != FP_OK) {
            metric_add(&m_rejected_topic, 1);
            ack_now(d, m);
            return;
        }
        st = gatt_decode(uuid, m->payload, m->len, device, now_ms(), &r[0]);
        n = st == FP_OK;
        if (n)
            derive_apply(d->dv, uuid, m->payload, m->len, &r[0]);
    } else {
        st = bridge_decode(m->topic, (const char *)m->payload, m->len, now_ms(), r, 4, &n);
    }
    if (st != FP_OK) {
        metric_add(&m_rejected_payload, 1);
        log_debug("device_rejected", "device payload rejected", "topic", m->topic, "reason",
                  fp_status_str(st));
        ack_now(d, m);
        return;
    }
    spool_status ss = SPOOL_OK;
    for (size_t i = 0; i < n && ss == SPOOL_OK; i++) {
        char json[2048];
        size_t len = 0;
        if (fp_reading_encode(&r[i], json, sizeof json, &len) != FP_OK) {
            metric_add(&m_rejected_payload, 1);
            continue;
        }
        ss = spool_add(d->sp, json, len, NULL);
        if (ss == SPOOL_OK)
            metric_add(&m_readings, 1);
    }
    if (ss == SPOOL_ERR_FULL) {
        metric_add(&m_dropped_full, 1);
        ack_now(d, m);
        return;
    }
    if (ss == SPOOL_OK && m->qos == 2)
        ss = spool_q2_hold(d->sp, m->packet_id);
    if (ss != SPOOL_OK) {
        devices_commit_failed(d);
        return;
    }
    if (m->qos == 1)
        queue_ack(d, m->packet_id, ACK_PUBACK);
    else if (m->qos == 2)
        queue_ack(d, m->packet_id, ACK_PUBREC);
    d->dirty(d->ctx);
}

static void on_pubrel(void *ctx, uint16_t pid)
{
    devices *d = ctx;
    if (spool_q2_release(d->sp, pid) != SPOOL_OK) {
        devices_commit_failed(d);
        return;
    }
    queue_ack(d, pid, ACK_PUBCOMP);
    d->dirty(d->ctx);
}

static void on_connect(void *ctx, bool session_present)
{
    devices *d = ctx;
    metric_add(&m_connects, 1);
    d->backoff_us = 0;
    log_info("local_connected", "connected to the local broker", "session_present",
             session_present ? "true" : "false");
}

static void on_disconnect(void *ctx, mrx_status why)
{
    devices *d = ctx;
    /* Acks for the old connection are void: the broker redelivers instead. */
    d->nacks = 0;
    d->subscribed = false;
    log_warn("local_disconnected", "lost the local broker", "reason", mrx_status_str(why));
    schedule_reconnect(d);
}

int devices_new(devices **out, sd_event *ev, spool *sp, const mrx_config *cfg, derive *dv,
                devices_dirty_fn dirty, void *ctx)
{
    *out = NULL;
    devices_metrics_init();
    devices *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->ev = sd_event_ref(ev);
    d->sp = sp;
    d->dv = dv;
    d->dirty = dirty;
    d->ctx = ctx;
    d->io_fd = -1;
    mrx_callbacks cb = {on_connect, on_disconnect, on_publish, on_pubrel};
    if (mrx_new(&d->client, cfg, &cb, d) != MRX_OK ||
        sd_event_add_time_relative(ev, &d->tick, CLOCK_MONOTONIC, 500000, 50000, on_tick, d) < 0 ||
        sd_event_add_time_relative(ev, &d->retry, CLOCK_MONOTONIC, 0, 10000, on_retry, d) < 0) {
        devices_free(d);
        return -EINVAL;
    }
    /* The retry timer fires at once: that is the first connect. */
    return *out = d, 0;
}

void devices_free(devices *d)
{
    if (!d)
        return;
    d->io = sd_event_source_disable_unref(d->io);
    d->tick = sd_event_source_disable_unref(d->tick);
    d->retry = sd_event_source_disable_unref(d->retry);
    mrx_free(d->client);
    sd_event_unref(d->ev);
    free(d->acks);
    free(d);
}

void devices_committed(devices *d)
{
    for (size_t i = 0; i < d->nacks; i++) {
        const pending_ack *a = &d->acks[i];
        if (a->kind == ACK_PUBACK)
            mrx_puback(d->client, a->packet_id);
        else if (a->kind == ACK_PUBREC)
            mrx_pubrec(d->client, a->packet_id);
        else
            mrx_pubcomp(d->client, a->packet_id);
    }
    d->nacks = 0;
    sync_io(d);
}

void devices_commit_failed(devices *d)
{
    d->nacks = 0;
    log_error("local_reset", "spool write failed: reconnecting so the broker redelivers");
    mrx_connect(d->client); /* closes the current connection first */
    sync_io(d);
}
