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

#include "fitproto/msg.h"

#define EVT_TOPIC_READINGS "fit.readings.v1"
#define EVT_TYPE_READINGS  "fit.readings.received.v1"

/* Encode readings r[0..n) (consecutive seqs, r[0].seq first) of spool
 * (gateway, epoch). On success *out is malloc'd (caller frees), *len set. */
fp_status evt_readings_encode(const char *gateway, uint64_t epoch, const fp_reading *r, size_t n,
                              char **out, size_t *len);

/* Decode a readings event into *b (fp_batch_free() it). Checks the envelope:
 * specversion, type, and that the id matches the data. */
fp_status evt_readings_decode(const void *buf, size_t len, fp_batch *b);

#endif
