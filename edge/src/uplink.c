/* uplink.c - batches to the cloud, cumulative acks back (see uplink.h). */
#include "uplink.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitproto/msg.h"

struct uplink {
    sd_event *ev;
    spool *sp;
    mqloop *mq;
    sd_event_source *ack_timer;
    char gw[FP_GATEWAY_MAX + 1];
    char topic_batch[128], topic_ack[128], topic_state[128];
    uint32_t batch_max, window, ack_timeout_ms;
    uint64_t acked; /* highest seq the cloud acknowledged */
    uint64_t sent;  /* highest seq published on this connection */
    int64_t last_rewind_ms;
    char *buf; /* one batch, FP_MSG_BYTES_MAX */
    void (*dirty)(void *ctx);
    void *dirty_ctx;
    fp_batch_writer w;
    uint64_t batch_last;
    uplink_hook hook;
    void (*on_ack)(void *ctx); /* uplink_set_on_ack */
    void *on_ack_ctx;
};

static metric m_batches, m_sent, m_acked, m_resends, m_pub_failed, m_bad_acks;
static int metrics_done;

static void uplink_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_batches, "fitgate_edge_batches_sent_total", "counter",
                    "Batches published to the cloud", NULL);
    metric_register(&m_sent, "fitgate_edge_readings_sent_total", "counter",
                    "Readings published to the cloud (resends included)", NULL);
    metric_register(&m_acked, "fitgate_edge_readings_acked_total", "counter",
                    "Readings acknowledged by the cloud and deleted from the spool", NULL);
    metric_register(&m_resends, "fitgate_edge_resends_total", "counter",
                    "Times the unacknowledged window was sent again", NULL);
    metric_register(&m_pub_failed, "fitgate_edge_publish_failed_total", "counter",
                    "Batches the cloud broker refused (reason code >= 0x80)", NULL);
    metric_register(&m_bad_acks, "fitgate_edge_acks_rejected_total", "counter",
                    "Ack messages that failed to decode or did not match", NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm_ack_timer(uplink *u)
{
    sd_event_source_set_time_relative(u->ack_timer, (uint64_t)u->ack_timeout_ms * 1000);
    sd_event_source_set_enabled(u->ack_timer, u->sent > u->acked ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
}

static void collect(void *ctx, uint64_t seq, const char *json, size_t len)
{
    uplink *u = ctx;
    /* Readings are contiguous: the spool only deletes from the bottom. A hole
     * would break the batch's seq arithmetic, so stop the batch there. */
    if (u->w.count > 0 && seq != u->batch_last + 1)
        return;
    fp_batch_append_raw(&u->w, json, len);
    if (u->w.err == FP_OK)
        u->batch_last = seq;
}

/* Publish one batch starting after u->sent. Returns 1 if one was sent. */
static int send_one(uplink *u)
{
    uint64_t committed = spool_committed(u->sp);
    if (u->sent >= committed)
        return 0;
    uint64_t room = u->window - (u->sent - u->acked);
    uint64_t n = committed - u->sent;
    if (n > room)
        n = room;
    if (n > u->batch_max)
        n = u->batch_max;
    uint64_t first = u->sent + 1;
    if (first < spool_floor(u->sp))
        first = spool_floor(u->sp);
    fp_batch_begin(&u->w, u->buf, FP_MSG_BYTES_MAX, u->gw, spool_epoch(u->sp), first,
                   spool_floor(u->sp));
    u->batch_last = 0;
    if (spool_read(u->sp, first - 1, (size_t)n, collect, u) != SPOOL_OK)
        return 0;
    size_t len = 0;
    if (u->w.count == 0 || fp_batch_end(&u->w, &len) != FP_OK) {
        log_error("uplink_batch", "cannot build batch");
        return 0;
    }
    int mid = 0;
    int rc = mosquitto_publish_v5(mqloop_mosq(u->mq), &mid, u->topic_batch, (int)len, u->buf, 1,
                                  false, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        return 0; /* not connected or queue full: the next kick or reconnect retries */
    metric_add(&m_batches, 1);
    metric_add(&m_sent, (int64_t)u->w.count);
    u->sent = u->batch_last;
    return 1;
}

static void send_more(uplink *u)
{
    if (!mqloop_connected(u->mq))
        return;
    while (u->sent - u->acked < u->window && send_one(u))
        ;
    arm_ack_timer(u);
    mqloop_kick(u->mq);
}

/* Go back to the last acknowledged reading and send everything again. */
static void rewind_window(uplink *u, const char *why)
{
    if (u->sent <= u->acked)
        return;
    metric_add(&m_resends, 1);
    log_info("uplink_resend", "resending unacknowledged readings", "reason", why);
    u->sent = u->acked;
    u->last_rewind_ms = mono_ms();
    send_more(u);
}

static int on_ack_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)s;
    (void)usec;
    rewind_window(userdata, "ack_timeout");
    return 0;
}

static void handle_ack(uplink *u, const struct mosquitto_message *msg)
{
    fp_ack a;
    if (fp_ack_decode(msg->payload, (size_t)msg->payloadlen, &a) != FP_OK ||
        strcmp(a.gateway, u->gw) != 0 || a.epoch != spool_epoch(u->sp)) {
        metric_add(&m_bad_acks, 1);
        return;
    }
    if (a.seq > u->acked) {
        if (a.seq > spool_committed(u->sp)) {
            metric_add(&m_bad_acks, 1); /* acks something never sent: ignore */
            return;
        }
        uint64_t before = spool_count(u->sp);
        spool_ack(u->sp, a.seq);
        metric_add(&m_acked, (int64_t)(before - spool_count(u->sp)));
        if (u->dirty)
            u->dirty(u->dirty_ctx);
        u->acked = a.seq;
        if (u->sent < u->acked)
            u->sent = u->acked;
        send_more(u);
        if (u->on_ack)
            u->on_ack(u->on_ack_ctx);
    } else if (u->sent > u->acked && mono_ms() - u->last_rewind_ms > 1000) {
        /* A non-advancing ack while data is in flight: the cloud refused a
         * batch as out of order. Resend from its high-water mark. */
        rewind_window(u, "ack_not_advancing");
    }
}

static void publish_state(uplink *u, fp_gw_state state)
{
    fp_state st = {.state = state, .boot = spool_boot(u->sp)};
    snprintf(st.gateway, sizeof st.gateway, "%s", u->gw);
    snprintf(st.sw, sizeof st.sw, "%s", FITGATE_VERSION);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    st.ts_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    char buf[512];
    size_t len = 0;
    if (fp_state_encode(&st, buf, sizeof buf, &len) == FP_OK)
        mosquitto_publish_v5(mqloop_mosq(u->mq), NULL, u->topic_state, (int)len, buf, 1, true,
                             NULL);
}

static void on_connect(void *ctx, int rc, int flags)
{
    (void)flags;
    uplink *u = ctx;
    if (rc != 0) {
        char code[16];
        snprintf(code, sizeof code, "0x%02x", rc);
        log_warn("cloud_refused", "cloud broker refused the connection", "reason_code", code);
        return;
    }
    log_info("cloud_connected", "connected to the cloud broker", "gateway", u->gw);
    mosquitto_subscribe_v5(mqloop_mosq(u->mq), NULL, u->topic_ack, 1, 0, NULL);
    publish_state(u, FP_GW_ONLINE);
    /* Nothing is known to be in flight on a new connection. */
    u->acked = spool_floor(u->sp) - 1;
    u->sent = u->acked;
    send_more(u);
    if (u->hook.on_connect)
        u->hook.on_connect(u->hook.ctx);
}

static void on_disconnect(void *ctx, int rc)
{
    uplink *u = ctx;
    log_warn("cloud_disconnected", "lost the cloud broker", "reason", mosquitto_strerror(rc));
    u->sent = u->acked;
}

static void on_message(void *ctx, const struct mosquitto_message *msg)
{
    uplink *u = ctx;
    if (strcmp(msg->topic, u->topic_ack) == 0)
        handle_ack(u, msg);
    else if (u->hook.on_message)
        u->hook.on_message(u->hook.ctx, msg);
}

void uplink_set_hook(uplink *u, const uplink_hook *h)
{
    u->hook = *h;
}

void uplink_set_on_ack(uplink *u, void (*fn)(void *ctx), void *ctx)
{
    u->on_ack = fn;
    u->on_ack_ctx = ctx;
}

mqloop *uplink_mqloop(uplink *u)
{
    return u->mq;
}

static void on_publish(void *ctx, int mid, int reason)
{
    (void)mid;
    uplink *u = ctx;
    if (reason >= 0x80) {
        metric_add(&m_pub_failed, 1);
        rewind_window(u, "publish_refused");
    }
}

int uplink_new(uplink **out, sd_event *ev, spool *sp, const uplink_config *cfg)
{
    *out = NULL;
    uplink_metrics_init();
    uplink *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    u->ev = sd_event_ref(ev);
    u->sp = sp;
    snprintf(u->gw, sizeof u->gw, "%s", cfg->gateway_id);
    u->batch_max = cfg->batch_max ? cfg->batch_max : 500;
    if (u->batch_max > FP_BATCH_MAX)
        u->batch_max = FP_BATCH_MAX;
    u->window = cfg->window ? cfg->window : 10000;
    u->ack_timeout_ms = cfg->ack_timeout_ms ? cfg->ack_timeout_ms : 10000;
    u->dirty = cfg->dirty;
    u->dirty_ctx = cfg->ctx;
    u->buf = malloc(FP_MSG_BYTES_MAX);
    if (!u->buf || fp_topic_gateway(u->topic_batch, sizeof u->topic_batch, u->gw, "batch") ||
        fp_topic_gateway(u->topic_ack, sizeof u->topic_ack, u->gw, "ack") ||
        fp_topic_gateway(u->topic_state, sizeof u->topic_state, u->gw, "state"))
        goto fail;
    mqloop_callbacks cb = {on_connect, on_disconnect, on_message, on_publish};
    if (mqloop_new(&u->mq, ev, &cfg->mqtt, &cb, u) < 0)
        goto fail;
    fp_state will = {.state = FP_GW_OFFLINE, .boot = spool_boot(sp)};
    snprintf(will.gateway, sizeof will.gateway, "%s", u->gw);
    snprintf(will.sw, sizeof will.sw, "%s", FITGATE_VERSION);
    char buf[512];
    size_t len = 0;
    if (fp_state_encode(&will, buf, sizeof buf, &len) != FP_OK ||
        mqloop_set_will(u->mq, u->topic_state, buf, (int)len, 1, true) < 0)
        goto fail;
    if (sd_event_add_time_relative(ev, &u->ack_timer, CLOCK_MONOTONIC, 1000000, 10000,
                                   on_ack_timeout, u) < 0)
        goto fail;
    sd_event_source_set_enabled(u->ack_timer, SD_EVENT_OFF);
    u->acked = spool_floor(sp) - 1;
    u->sent = u->acked;
    mqloop_start(u->mq);
    *out = u;
    return 0;
fail:
    uplink_free(u);
    return -EINVAL;
}

void uplink_free(uplink *u)
{
    if (!u)
        return;
    u->ack_timer = sd_event_source_disable_unref(u->ack_timer);
    mqloop_free(u->mq);
    sd_event_unref(u->ev);
    free(u->buf);
    free(u);
}

void uplink_kick(uplink *u)
{
    send_more(u);
}

void uplink_shutdown(uplink *u)
{
    if (mqloop_connected(u->mq))
        publish_state(u, FP_GW_OFFLINE);
    mqloop_disconnect(u->mq);
}
