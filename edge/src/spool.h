/* spool.h - the edge's durable store of readings (SQLite, WAL).
 *
 * The spool is the source of truth on a gateway: a reading exists once it is
 * committed here, and leaves only when the cloud has acknowledged it (or when
 * the disk policy drops it, which is recorded as a gap).
 *
 * Writes are batched: spool_add() and friends go into one open transaction
 * which spool_commit() closes (the caller commits every few milliseconds or
 * every few hundred readings). Every reading gets the next number of the
 * spool's sequence when it is added; it becomes visible to readers
 * (spool_read) only after the commit.
 *
 * The spool also keeps the MQTT QoS 2 packet ids received from the local
 * broker and not yet released, in the same transactions as the readings, so
 * that a redelivered message is recognised after a crash (see mrx.h).
 *
 * Identity: `epoch` is a random 64-bit id drawn when the file is created;
 * `boot` counts the opens of the file (the gateway's boot counter).
 *
 * One thread. Ownership: spool_open() returns a handle freed by spool_close().
 */
#ifndef FITGATE_SPOOL_H
#define FITGATE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct spool spool;

typedef enum spool_status {
    SPOOL_OK = 0,
    SPOOL_ERR_IO,   /* SQLite error (logged); the open transaction was rolled back */
    SPOOL_ERR_FULL, /* the disk bound is reached even after dropping: reading not stored */
    SPOOL_ERR_ARG,
} spool_status;

typedef struct spool_limits {
    uint64_t max_readings; /* drop policy threshold (oldest first); 0 = unlimited */
    uint64_t max_bytes;    /* file size bound via max_page_count; 0 = unlimited */
    bool sync_full;        /* synchronous=FULL (fsync per commit) instead of NORMAL */
} spool_limits;

spool_status spool_open(spool **out, const char *path, const spool_limits *lim);
void spool_close(spool *s); /* commits what is open */

uint64_t spool_epoch(const spool *s);
uint64_t spool_boot(const spool *s);

/* Add one reading (its JSON from fp_reading_encode). *seq gets its number. */
spool_status spool_add(spool *s, const char *json, size_t len, uint64_t *seq);
/* Remember / forget a QoS 2 packet id (same transaction as the readings). */
spool_status spool_q2_hold(spool *s, uint16_t packet_id);
spool_status spool_q2_release(spool *s, uint16_t packet_id);
bool spool_q2_held(const spool *s, uint16_t packet_id);
/* The cloud acknowledged every seq <= seq: delete them. */
spool_status spool_ack(spool *s, uint64_t seq);

/* Commit the open transaction (no-op when nothing is open). */
spool_status spool_commit(spool *s);
bool spool_dirty(const spool *s);    /* something waits for a commit */
size_t spool_staged(const spool *s); /* readings added since the last commit */

/* Committed readings with seq > after, oldest first, at most max. */
typedef void (*spool_read_fn)(void *ctx, uint64_t seq, const char *json, size_t len);
spool_status spool_read(spool *s, uint64_t after, size_t max, spool_read_fn fn, void *ctx);

uint64_t spool_floor(const spool *s);     /* lowest seq held (next seq when empty) */
uint64_t spool_committed(const spool *s); /* highest committed seq (0 = none yet) */
uint64_t spool_count(const spool *s);     /* readings held */
uint64_t spool_dropped(const spool *s);   /* dropped by the disk policy since open */

#endif
