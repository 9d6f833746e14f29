/* mqloop.c - libmosquitto on sd-event (see fitcommon/mqloop.h). */
#include "fitcommon/mqloop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "fitcommon/log.h"

struct mqloop {
    sd_event *ev;
    struct mosquitto *mosq;
    sd_event_source *io; /* watches the current socket */
    int io_fd;
    sd_event_source *misc; /* 1 s: loop_misc (keep-alive) */
    sd_event_source *retry;
    mqloop_callbacks cb;
    void *ctx;
    char *host;
    int port, keepalive;
    unsigned session_expiry_s;
    bool connected, stopping;
    uint64_t backoff_us;
};

static int mqloop_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static void schedule_retry(mqloop *l);

/* Re-arm the io source for the client's current socket and write interest. */
static void sync_io(mqloop *l)
{
    int fd = mosquitto_socket(l->mosq);
    if (fd != l->io_fd) {
        l->io = sd_event_source_disable_unref(l->io);
        l->io_fd = -1;
        if (fd >= 0 && sd_event_add_io(l->ev, &l->io, fd, EPOLLIN, mqloop_on_io, l) >= 0)
            l->io_fd = fd;
    }
    if (l->io)
        sd_event_source_set_io_events(l->io,
                                      EPOLLIN | (mosquitto_want_write(l->mosq) ? EPOLLOUT : 0));
}

static void handle_loss(mqloop *l, int rc)
{
    l->io = sd_event_source_disable_unref(l->io);
    l->io_fd = -1;
    if (l->connected || rc != MOSQ_ERR_SUCCESS) {
        bool was = l->connected;
        l->connected = false;
        if (was && l->cb.on_disconnect)
            l->cb.on_disconnect(l->ctx, rc);
    }
    if (!l->stopping)
        schedule_retry(l);
}

static int mqloop_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    (void)s;
    (void)fd;
    mqloop *l = userdata;
    int rc = MOSQ_ERR_SUCCESS;
    if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
        rc = mosquitto_loop_read(l->mosq, 64);
    if (rc == MOSQ_ERR_SUCCESS && (revents & EPOLLOUT))
        rc = mosquitto_loop_write(l->mosq, 64);
    if (rc != MOSQ_ERR_SUCCESS) {
        handle_loss(l, rc);
        return 0;
    }
    sync_io(l);
    return 0;
}

static int mqloop_on_misc(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    mqloop *l = userdata;
    if (mosquitto_socket(l->mosq) >= 0) {
        int rc = mosquitto_loop_misc(l->mosq);
        if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
            handle_loss(l, rc);
        else
            sync_io(l);
    }
    sd_event_source_set_time_relative(s, 1000000);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

/* The first connect. With a session expiry the CONNECT needs properties, and
 * libmosquitto 2.0 only takes them in the blocking mosquitto_connect_bind_v5();
 * it keeps them for every later (async) reconnect. Without properties the
 * connect is asynchronous. */
static int do_connect(mqloop *l)
{
    if (!l->session_expiry_s)
        return mosquitto_connect_bind_async(l->mosq, l->host, l->port, l->keepalive, NULL);
    mosquitto_property *props = NULL;
    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, l->session_expiry_s);
    int rc = mosquitto_connect_bind_v5(l->mosq, l->host, l->port, l->keepalive, NULL, props);
    mosquitto_property_free_all(&props);
    return rc;
}

static int mqloop_on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)s;
    (void)usec;
    mqloop *l = userdata;
    int rc = mosquitto_reconnect_async(l->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        schedule_retry(l);
        return 0;
    }
    sync_io(l);
    return 0;
}

static void schedule_retry(mqloop *l)
{
    l->backoff_us = l->backoff_us ? l->backoff_us * 2 : 200000;
    if (l->backoff_us > 10000000)
        l->backoff_us = 10000000;
    if (!l->retry)
        sd_event_add_time_relative(l->ev, &l->retry, CLOCK_MONOTONIC, l->backoff_us, 10000,
                                   mqloop_on_retry, l);
    else {
        sd_event_source_set_time_relative(l->retry, l->backoff_us);
        sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT);
    }
}

static void tramp_connect(struct mosquitto *m, void *obj, int rc, int flags,
                          const mosquitto_property *props)
{
    (void)m;
    (void)props;
    mqloop *l = obj;
    if (rc == 0) {
        l->connected = true;
        l->backoff_us = 0;
    }
    if (l->cb.on_connect)
        l->cb.on_connect(l->ctx, rc, flags);
}

static void tramp_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *p)
{
    (void)m;
    (void)p;
    mqloop *l = obj;
    bool was = l->connected;
    l->connected = false;
    if (was && l->cb.on_disconnect)
        l->cb.on_disconnect(l->ctx, rc);
}

static void tramp_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                          const mosquitto_property *p)
{
    (void)m;
    (void)p;
    mqloop *l = obj;
    if (l->cb.on_message)
        l->cb.on_message(l->ctx, msg);
}

static void tramp_publish(struct mosquitto *m, void *obj, int mid, int reason,
                          const mosquitto_property *p)
{
    (void)m;
    (void)p;
    mqloop *l = obj;
    if (l->cb.on_publish)
        l->cb.on_publish(l->ctx, mid, reason);
}

int mqloop_new(mqloop **out, sd_event *ev, const mqloop_config *cfg, const mqloop_callbacks *cb,
               void *ctx)
{
    *out = NULL;
    mosquitto_lib_init();
    mqloop *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->ev = sd_event_ref(ev);
    l->io_fd = -1;
    l->cb = *cb;
    l->ctx = ctx;
    l->host = strdup(cfg->host);
    l->port = cfg->port;
    l->keepalive = cfg->keepalive_s > 0 ? cfg->keepalive_s : 30;
    l->session_expiry_s = cfg->session_expiry_s;
    l->mosq = mosquitto_new(cfg->client_id, cfg->clean_start, l);
    if (!l->host || !l->mosq)
        goto fail;
    mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (cfg->max_inflight)
        mosquitto_int_option(l->mosq, MOSQ_OPT_SEND_MAXIMUM, (int)cfg->max_inflight);
    if (cfg->username && mosquitto_username_pw_set(l->mosq, cfg->username, cfg->password))
        goto fail;
    if (cfg->cafile &&
        mosquitto_tls_set(l->mosq, cfg->cafile, NULL, cfg->certfile, cfg->keyfile, NULL))
        goto fail;
    mosquitto_connect_v5_callback_set(l->mosq, tramp_connect);
    mosquitto_disconnect_v5_callback_set(l->mosq, tramp_disconnect);
    mosquitto_message_v5_callback_set(l->mosq, tramp_message);
    mosquitto_publish_v5_callback_set(l->mosq, tramp_publish);
    if (sd_event_add_time_relative(ev, &l->misc, CLOCK_MONOTONIC, 1000000, 100000, mqloop_on_misc,
                                   l) < 0)
        goto fail;
    *out = l;
    return 0;
fail:
    mqloop_free(l);
    return -EINVAL;
}

int mqloop_set_will(mqloop *l, const char *topic, const void *payload, int len, int qos,
                    bool retain)
{
    return mosquitto_will_set_v5(l->mosq, topic, len, payload, qos, retain, NULL) ==
                   MOSQ_ERR_SUCCESS
               ? 0
               : -EINVAL;
}

int mqloop_start(mqloop *l)
{
    int rc = do_connect(l);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn("mqtt_connect", "connect failed, will retry", "host", l->host, "error",
                 mosquitto_strerror(rc));
        schedule_retry(l);
        return 0;
    }
    sync_io(l);
    return 0;
}

void mqloop_free(mqloop *l)
{
    if (!l)
        return;
    l->io = sd_event_source_disable_unref(l->io);
    l->misc = sd_event_source_disable_unref(l->misc);
    l->retry = sd_event_source_disable_unref(l->retry);
    if (l->mosq)
        mosquitto_destroy(l->mosq);
    sd_event_unref(l->ev);
    free(l->host);
    free(l);
}

struct mosquitto *mqloop_mosq(mqloop *l)
{
    return l->mosq;
}

bool mqloop_connected(const mqloop *l)
{
    return l->connected;
}

void mqloop_kick(mqloop *l)
{
    if (l->io_fd >= 0)
        sync_io(l);
}

void mqloop_disconnect(mqloop *l)
{
    l->stopping = true;
    if (mosquitto_socket(l->mosq) >= 0) {
        mosquitto_disconnect_v5(l->mosq, 0, NULL);
        /* Flush the DISCONNECT (and anything queued before it). */
        for (int i = 0; i < 10 && mosquitto_want_write(l->mosq); i++)
            mosquitto_loop_write(l->mosq, 64);
    }
    l->io = sd_event_source_disable_unref(l->io);
    l->io_fd = -1;
    l->connected = false;
}

int mqloop_daemon_event(sd_event **out)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = sd_event_new(out);
    if (rc >= 0)
        rc = sd_event_add_signal(*out, NULL, SIGINT, NULL, NULL);
    if (rc >= 0)
        rc = sd_event_add_signal(*out, NULL, SIGTERM, NULL, NULL);
    if (rc < 0)
        *out = sd_event_unref(*out);
    return rc < 0 ? rc : 0;
}
