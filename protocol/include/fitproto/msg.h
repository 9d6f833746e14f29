/* fitproto/msg.h - edge<->cloud messages and their JSON codec.
 *
 * Three messages travel between a gateway and the cloud (docs/protocol.md):
 *
 *   batch  edge -> cloud  fit/v1/gw/<gw>/batch   readings with sequence numbers
 *   ack    cloud -> edge  fit/v1/gw/<gw>/ack     cumulative: every seq <= ack.seq is durable
 *   state  edge -> cloud  fit/v1/gw/<gw>/state   retained birth ("online") / will ("offline")
 *
 * Sequence numbers: every reading a gateway spools gets the next number of its
 * spool's 64-bit sequence (1, 2, 3 ...). A spool is identified by `epoch`, a
 * random 64-bit id drawn when the spool file is created, so a gateway whose
 * disk was wiped starts a new sequence instead of colliding with the old one.
 * A batch carries consecutive readings: readings[i] has seq `seq + i`.
 * `floor` is the lowest seq the gateway still holds: anything below it that the
 * cloud has not seen was dropped by the gateway's disk policy and will never
 * come (the cloud records the gap instead of waiting for it).
 *
 * JSON numbers are IEEE doubles in most parsers, so seq values are limited to
 * FP_SEQ_MAX (2^53 - 1: 285 years at 1M readings/s); epoch travels as 16 hex
 * digits.
 *
 * Decoding is strict: unknown top-level fields, wrong types, unknown versions
 * and oversize input are rejected as a whole. A batch whose envelope is valid
 * but which contains some invalid readings keeps the valid ones: bad readings
 * are counted in `rejected` and never cost their neighbours.
 */
#ifndef FITPROTO_MSG_H
#define FITPROTO_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"
#include "fitproto/status.h"

#define FP_PROTO_VERSION 1
#define FP_SEQ_MAX       ((uint64_t)9007199254740991ULL) /* 2^53 - 1 */
#define FP_BATCH_MAX     1000                            /* readings per batch */
#define FP_MSG_BYTES_MAX (1u << 20)                      /* any message, encoded: 1 MiB */
#define FP_SW_MAX        32                              /* software version string */

typedef struct fp_batch {
    char gateway[FP_GATEWAY_MAX + 1];
    uint64_t epoch;
    uint64_t seq;   /* seq of the first reading in the encoded batch, >= 1 */
    uint64_t floor; /* lowest seq the gateway still holds, 1 <= floor <= seq */
    size_t count;   /* valid readings in `readings` */
    size_t total;   /* readings in the encoded batch (valid + rejected) */
    size_t rejected;
    fp_status first_error; /* why the first rejected reading was rejected */
    fp_reading *readings;  /* owned; each carries its own seq */
} fp_batch;

typedef struct fp_ack {
    char gateway[FP_GATEWAY_MAX + 1];
    uint64_t epoch;
    uint64_t seq;      /* cumulative: all seq <= this are durable in the cloud */
    uint64_t rejected; /* readings the cloud rejected in the acked range (info) */
} fp_ack;

typedef enum fp_gw_state { FP_GW_ONLINE = 1, FP_GW_OFFLINE = 2 } fp_gw_state;

typedef struct fp_state {
    char gateway[FP_GATEWAY_MAX + 1];
    fp_gw_state state;
    uint64_t boot; /* boot counter, +1 at every start of fitgate-edge, >= 1 */
    int64_t ts_ms;
    char sw[FP_SW_MAX + 1]; /* software version, may be empty */
} fp_state;

/* ---- batch ---- */

/* Decode a batch. On FP_OK, *out owns out->readings: release with
 * fp_batch_free(). On error *out is left empty (nothing to free). */
fp_status fp_batch_decode(const char *json, size_t len, fp_batch *out);
void fp_batch_free(fp_batch *b);

/* Encoding is incremental so the edge can build a batch straight from its
 * spool without copies: begin, one append per reading (in seq order), end.
 * The writer never allocates; FP_ERR_LIMIT when `cap` is too small or more
 * than FP_BATCH_MAX readings are appended. */
typedef struct fp_batch_writer {
    char *buf;
    size_t cap, len;
    size_t count;
    fp_status err; /* sticky: the first error */
} fp_batch_writer;

void fp_batch_begin(fp_batch_writer *w, char *buf, size_t cap, const char *gateway, uint64_t epoch,
                    uint64_t seq, uint64_t floor);
/* Append a reading already encoded with fp_reading_encode(). */
void fp_batch_append_raw(fp_batch_writer *w, const char *reading_json, size_t len);
/* Finish; returns w->err. On FP_OK buf[0..len) holds the JSON (NUL-terminated). */
fp_status fp_batch_end(fp_batch_writer *w, size_t *len);

/* Encode one reading as a compact JSON object (no seq: the batch gives it):
 *   {"dev":"sim-0001","kind":"heart_rate","ts":1732530000123,"v":{"hr":72,"rr":[0.83,0.81]}}
 * Values are written so that decoding gives back the same double. */
fp_status fp_reading_encode(const fp_reading *r, char *buf, size_t cap, size_t *len);
/* Decode one reading object (as stored in a spool). Validates it. */
fp_status fp_reading_decode(const char *json, size_t len, fp_reading *out);

/* ---- ack ---- */
fp_status fp_ack_encode(const fp_ack *a, char *buf, size_t cap, size_t *len);
fp_status fp_ack_decode(const char *json, size_t len, fp_ack *out);

/* ---- state (birth / will) ---- */
fp_status fp_state_encode(const fp_state *s, char *buf, size_t cap, size_t *len);
fp_status fp_state_decode(const char *json, size_t len, fp_state *out);

/* ---- topics ---- */

/* Write "fit/v1/gw/<gw>/<leaf>" into buf. leaf is "batch", "ack" or "state". */
fp_status fp_topic_gateway(char *buf, size_t cap, const char *gateway, const char *leaf);
/* Parse "fit/v1/gw/<gw>/<leaf>"; gateway copied into gw_out (FP_GATEWAY_MAX+1),
 * leaf pointer into topic. */
fp_status fp_topic_parse_gateway(const char *topic, char *gw_out, const char **leaf);

/* Device-side topic on the gateway's local broker:
 *   fit/v1/dev/<device>/gatt/<uuid16>   payload: the raw notification bytes
 * uuid16 is 4 lower-case hex digits, e.g. "2a37". */
fp_status fp_topic_parse_device(const char *topic, char *device_out, uint16_t *uuid16);
fp_status fp_topic_device(char *buf, size_t cap, const char *device, uint16_t uuid16);

#endif
