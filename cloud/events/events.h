/* events.h - business events on the bus, in a CloudEvents-style envelope.
 *
 *   {"specversion":"1.0","id":"gw-1/00112233aabbccdd/101",
 *    "source":"fitgate-core/ingest","type":"fit.readings.received.v1",
 *    "subject":"gw-1","time":"2026-11-25T09:40:46.123Z",
 *    "datacontenttype":"application/json","data":{ <a protocol batch> }}
 *
 * The data of a readings event is a batch exactly as docs/protocol.md defines
 * it: consecutive readings of one gateway spool. The id is deterministic
 * (gateway/epoch/first seq), so a consumer can dedupe replays; the worker's
 * store dedupes per reading anyway.
 */
#ifndef FITGATE_EVENTS_H
#define FITGATE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "fitproto/msg.h"

#define EVT_TOPIC_READINGS "fit.readings.v1"
#define EVT_TYPE_READINGS  "fit.readings.received.v1"

/* Business events (written through the outbox, outbox.h). One topic per
 * owning module; keyed by user id so one user's events stay in order. The
 * type ends in a version: a consumer skips (and counts) types it does not
 * know. docs/events.md describes each type's data. */
#define EVT_TOPIC_IDENTITY            "fit.identity.v1" /* identity, 2FA, device bindings */
#define EVT_TYPE_USER_REGISTERED      "fit.user.registered.v1"
#define EVT_TYPE_IDENTITY_LINKED      "fit.user.identity_linked.v1"
#define EVT_TYPE_2FA_ENABLED          "fit.user.two_factor_enabled.v1"
#define EVT_TYPE_2FA_DISABLED         "fit.user.two_factor_disabled.v1"
#define EVT_TYPE_LEGACY_LINKED        "fit.user.legacy_account_linked.v1"
#define EVT_TYPE_DEVICE_PAIRED        "fit.device.paired.v1"
#define EVT_TYPE_DEVICE_UNPAIRED      "fit.device.unpaired.v1"
#define EVT_TYPE_GW_MEMBER_ADDED      "fit.gateway.member_added.v1"
#define EVT_TYPE_GW_MEMBER_REMOVED    "fit.gateway.member_removed.v1"
#define EVT_TOPIC_WORKOUTS            "fit.workouts.v1"
#define EVT_TYPE_WORKOUT_COMPLETED    "fit.workout.completed.v1"
#define EVT_TOPIC_GAMIFICATION        "fit.gamification.v1"
#define EVT_TYPE_ACHIEVEMENT_UNLOCKED "fit.achievement.unlocked.v1"
#define EVT_TOPIC_ORDERS              "fit.orders.v1"
#define EVT_TYPE_ORDER_PLACED         "fit.order.placed.v1"
#define EVT_TYPE_ORDER_PAID           "fit.order.paid.v1"
#define EVT_TYPE_ORDER_CANCELLED      "fit.order.cancelled.v1"
#define EVT_TYPE_ORDER_SHIPPED        "fit.order.shipped.v1"
#define EVT_TYPE_ORDER_DELIVERED      "fit.order.delivered.v1"
#define EVT_TYPE_ORDER_COMPLETED      "fit.order.completed.v1"
#define EVT_TYPE_ORDER_REFUNDED       "fit.order.refunded.v1"
#define EVT_TOPIC_NOTIFY              "fit.notify.v1" /* messages to send to a user */
#define EVT_TYPE_NOTIFY_REQUESTED     "fit.notify.requested.v1"

/* A decoded business event. Strings point into the event; data is owned by
 * it. Free with evt_free(). */
typedef struct evt {
    char id[160], type[64], source[64], subject[96], time[40];
    cJSON *data;
} evt;

/* Encode a business event envelope (time = now). *out is malloc'd. 0 or -1. */
int evt_encode(const char *id, const char *type, const char *source, const char *subject,
               const cJSON *data, char **out, size_t *len);
/* Decode and check an envelope (specversion, id, type, data object). 0 or -1. */
int evt_decode(const void *buf, size_t len, evt *out);
void evt_free(evt *e);

/* Encode readings r[0..n) (consecutive seqs, r[0].seq first) of spool
 * (gateway, epoch). On success *out is malloc'd (caller frees), *len set. */
fp_status evt_readings_encode(const char *gateway, uint64_t epoch, const fp_reading *r, size_t n,
                              char **out, size_t *len);

/* Decode a readings event into *b (fp_batch_free() it). Checks the envelope:
 * specversion, type, and that the id matches the data. */
fp_status evt_readings_decode(const void *buf, size_t len, fp_batch *b);

#endif
