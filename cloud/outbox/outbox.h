/* outbox.h - the transactional outbox: business events leave with the
 * change that caused them, or not at all.
 *
 * A module that changes its tables and must announce it (UserRegistered,
 * WorkoutCompleted, OrderPaid, ...) calls outbox_add() on the same SQLite
 * connection, inside the same open transaction. The relay, on the core's event
 * loop, publishes outbox rows to the bus in insertion order and deletes them
 * only when the bus reports them durable (in rounds, about once a second
 * under load: each delete is a write that empties the other connections'
 * page caches); a crash in between publishes them again (at-least-once:
 * consumers dedupe on the event id, which is stable).
 *
 * The outbox table lives in the core's SQLite file (data_dir/core.db) and is
 * touched only through this header.
 */
#ifndef FITGATE_OUTBOX_H
#define FITGATE_OUTBOX_H

#include <sqlite3.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include <cjson/cJSON.h>

#include "bus.h"

/* Create the outbox table if missing (idempotent; call once per connection
 * before outbox_add, outside a transaction). 0 or -1 (logged). */
int outbox_init(sqlite3 *db);

/* Queue one event inside the caller's open transaction on db.
 *   topic    bus topic, e.g. EVT_TOPIC_IDENTITY
 *   key      partitioning key (the user id as text keeps a user's events in order)
 *   id       event id, unique and stable for this effect (e.g. "user/42/registered")
 *   type     e.g. EVT_TYPE_USER_REGISTERED
 *   subject  what it is about (e.g. "user/42"); may be NULL
 *   data     the event's data (not consumed; encoded here)
 * 0 or -1 (logged; the caller rolls back). */
int outbox_add(sqlite3 *db, const char *topic, const char *key, const char *id, const char *type,
               const char *source, const char *subject, const cJSON *data);

/* The same with a statement prepared from OUTBOX_INSERT_SQL that the caller
 * keeps between calls (it is reset here, not finalized): for hot paths,
 * where preparing the statement costs as much as the insert. */
#define OUTBOX_INSERT_SQL "INSERT INTO outbox(topic, key, value, created_ms) VALUES(?, ?, ?, ?)"
int outbox_add_prepared(sqlite3_stmt *insert, const char *topic, const char *key, const char *id,
                        const char *type, const char *source, const char *subject,
                        const cJSON *data);

typedef struct outbox_relay outbox_relay;

/* Start relaying the outbox of the SQLite file at db_path to b. Keeps ev and
 * b (must outlive it). Polls every few milliseconds while rows wait. */
int outbox_relay_new(outbox_relay **out, sd_event *ev, bus *b, const char *db_path);
void outbox_relay_free(outbox_relay *r);
/* Events published since start (for tests and metrics). */
uint64_t outbox_relay_published(const outbox_relay *r);

#endif
