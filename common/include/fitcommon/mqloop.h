/* fitcommon/mqloop.h - drive a libmosquitto client from an sd-event loop.
 *
 * libmosquitto has its own threaded loop; fitgate daemons are single-threaded
 * around sd-event instead, so mqloop watches mosquitto_socket() (which changes
 * on every reconnect), asks for EPOLLOUT only while mosquitto_want_write(),
 * runs mosquitto_loop_misc() once a second, and reconnects with exponential
 * backoff (0.2 s .. 10 s) after a disconnect. MQTT v5 throughout.
 *
 * Ownership: mqloop_new() creates the mosquitto handle; mqloop_free() destroys
 * it. The owner publishes and subscribes through mqloop_mosq(). Callbacks run
 * on the loop thread; they receive the owner's ctx.
 *
 * Note: the connect is mosquitto_connect_bind_async(), whose DNS lookup blocks;
 * configure brokers by IP address where that matters.
 */
#ifndef FITCOMMON_MQLOOP_H
#define FITCOMMON_MQLOOP_H

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

typedef struct mqloop mqloop;

typedef struct mqloop_callbacks {
    /* CONNACK arrived; rc is the MQTT v5 reason code (0 = success). */
    void (*on_connect)(void *ctx, int rc, int flags);
    void (*on_disconnect)(void *ctx, int rc);
    void (*on_message)(void *ctx, const struct mosquitto_message *msg);
    /* PUBACK for a QoS 1 publish; reason >= 0x80 means not delivered. */
    void (*on_publish)(void *ctx, int mid, int reason);
} mqloop_callbacks;

typedef struct mqloop_config {
    const char *host;
    int port;
    const char *client_id;
    bool clean_start;
    unsigned session_expiry_s; /* 0 = none */
    int keepalive_s;
    const char *username;                    /* may be NULL */
    const char *password;                    /* may be NULL; never logged */
    const char *cafile, *certfile, *keyfile; /* TLS when cafile is set */
    unsigned max_inflight;                   /* 0 = libmosquitto default (20) */
} mqloop_config;

/* Create the client and start connecting. Strings in cfg are copied. The
 * will (if any) must be set with mqloop_set_will() before the first connect:
 * pass start=false, set the will, then call mqloop_start(). */
int mqloop_new(mqloop **out, sd_event *ev, const mqloop_config *cfg, const mqloop_callbacks *cb,
               void *ctx);
int mqloop_set_will(mqloop *l, const char *topic, const void *payload, int len, int qos,
                    bool retain);
int mqloop_start(mqloop *l);
void mqloop_free(mqloop *l);

struct mosquitto *mqloop_mosq(mqloop *l);
bool mqloop_connected(const mqloop *l);
/* After publishing from outside a callback, make sure the data gets written. */
void mqloop_kick(mqloop *l);
/* Disconnect cleanly (sends DISCONNECT, no will) and stop reconnecting. */
void mqloop_disconnect(mqloop *l);

/* A daemon's event loop: SIGINT and SIGTERM end sd_event_loop() (through
 * sd-event signal sources), SIGPIPE is ignored. 0 or a negative errno. */
int mqloop_daemon_event(sd_event **out);

#endif
