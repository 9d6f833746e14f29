/* store.h - readings per user and device bindings (the worker's tables).
 *
 * The worker applies reading events from the bus with store_put_readings();
 * the API reads a user's history and resolves which user owns a device.
 * Nobody else touches these tables.
 *
 * Idempotent by construction: a reading is keyed by (gateway, epoch, seq), so
 * applying the same bus event twice stores it once (at-least-once bus,
 * exactly-once effect).
 *
 * A store handle wraps one SQLite connection (WAL) and is used by one thread
 * at a time; open one handle per thread. Strings passed in are copied.
 */
#ifndef FITGATE_STORE_H
#define FITGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"

typedef struct store store;

typedef enum store_status {
    STORE_OK = 0,
    STORE_ERR_IO,       /* SQLite error (logged) */
    STORE_ERR_NOTFOUND, /* no such device binding / user */
    STORE_ERR_ARG,
} store_status;

/* Open (and create or migrate) the database at path. */
store_status store_open(store **out, const char *path);
void store_close(store *s);

/* Store readings of one gateway spool in one transaction. Readings whose
 * (gateway, epoch, seq) is already stored are skipped; *inserted (may be
 * NULL) counts the new ones. Each reading goes to the user its device is bound
 * to at this moment, or to no user (user 0) when unbound. */
store_status store_put_readings(store *s, const char *gateway, uint64_t epoch,
                                const fp_reading *readings, size_t n, size_t *inserted);

/* Bind a device to a user (replaces an earlier binding). */
store_status store_bind_device(store *s, const char *device, int64_t user_id);
/* Remove a device's binding (later readings go to no user). Unbinding an
 * unbound device is not an error. */
store_status store_unbind_device(store *s, const char *device);
/* The user a device is bound to; STORE_ERR_NOTFOUND when unbound. */
store_status store_device_owner(store *s, const char *device, int64_t *user_id);

/* Readings of a user with ts_ms > since_ms, oldest first, at most limit. */
typedef void (*store_reading_fn)(void *ctx, const fp_reading *r);
store_status store_user_readings(store *s, int64_t user_id, int64_t since_ms, size_t limit,
                                 store_reading_fn fn, void *ctx);

/* Number of stored readings (every row is a distinct (gateway, epoch, seq)). */
store_status store_count(store *s, uint64_t *readings);

#endif
