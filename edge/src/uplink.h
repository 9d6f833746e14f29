/* uplink.h - the cloud side of the edge: batches out, acks in.
 *
 * Reads committed readings from the spool in seq order, publishes them as
 * batches (fit/v1/gw/<gw>/batch, QoS 1) with at most `window` readings
 * unacknowledged, and deletes them from the spool when the cloud's cumulative
 * ack (fit/v1/gw/<gw>/ack) arrives. Everything unacknowledged is sent again
 * after a reconnect, after a failed PUBACK (reason >= 0x80), or when no ack
 * arrives within ack_timeout_ms. Birth ("online", retained) on connect; the
 * will ("offline", retained) when the connection dies.
 *
 * Ownership: keeps pointers to ev and sp; copies cfg strings. One thread.
 */
#ifndef FITGATE_UPLINK_H
#define FITGATE_UPLINK_H

#include <stdint.h>
#include <systemd/sd-event.h>

#include "fitcommon/mqloop.h"
#include "spool.h"

typedef struct uplink uplink;

typedef struct uplink_config {
    const char *gateway_id;
    mqloop_config mqtt;      /* cloud broker */
    uint32_t batch_max;      /* readings per batch (<= FP_BATCH_MAX) */
    uint32_t window;         /* readings in flight, unacknowledged */
    uint32_t ack_timeout_ms; /* resend everything unacked after this */
    /* Called after an ack changed the spool: the owner commits soon. */
    void (*dirty)(void *ctx);
    void *ctx;
} uplink_config;

int uplink_new(uplink **out, sd_event *ev, spool *sp, const uplink_config *cfg);
void uplink_free(uplink *u);
/* New readings are committed: send what the window allows. */
void uplink_kick(uplink *u);
/* Another module on the same cloud connection (cmd.h): the cloud broker gives
 * a gateway identity one connection (use_username_as_clientid), so commands
 * ride on the uplink's. on_connect runs after every (re)connect, on_message
 * gets every message that is not an ack. */
typedef struct uplink_hook {
    void (*on_connect)(void *ctx);
    void (*on_message)(void *ctx, const struct mosquitto_message *msg);
    void *ctx;
} uplink_hook;
void uplink_set_hook(uplink *u, const uplink_hook *h);
mqloop *uplink_mqloop(uplink *u);
/* fn(ctx) after every ack that moved the window: the cloud stored readings,
 * the end-to-end health proof the updater's mark-good waits for. */
void uplink_set_on_ack(uplink *u, void (*fn)(void *ctx), void *ctx);
/* Publish "offline" and disconnect cleanly (at shutdown). */
void uplink_shutdown(uplink *u);

#endif
