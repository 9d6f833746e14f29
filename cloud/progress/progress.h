/* progress.h - the workouts/progress/achievements projection of the bus.
 *
 * Consumes fit.readings.v1 (group "workouts") and the identity, orders and
 * workouts topics (group "progress"); keeps its own tables (progress_*) in
 * the core's SQLite file. Every bus record is applied in one transaction
 * that also writes the event id into progress_inbox and any resulting events
 * (WorkoutCompleted, AchievementUnlocked) into the outbox: a redelivered
 * record changes nothing, and an effect leaves with its events or not at all.
 *
 * Readings carry device ids; the user is the device's owner in the store
 * (store_device_owner) at the moment the reading is processed. A binding
 * changed later does not move readings already processed (docs/workouts.md).
 *
 * Replay: progress_rebuild() empties the projection tables and replays the
 * topics from their beginning; progress_export() dumps the projection as
 * sorted text without wall-clock columns, so two states compare byte for
 * byte. User settings (opt-out, profile) are not a projection: they live in
 * progress_settings and survive a rebuild.
 *
 * Threading: a progress handle is one SQLite connection: one thread at a
 * time. Two handles (two processes or threads) on one file may apply the same
 * records concurrently; SQLite's write lock and the inbox make that safe.
 */
#ifndef FITGATE_PROGRESS_H
#define FITGATE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "bus.h"

#define PROGRESS_TYPE_STOP "fit.workout.stop_requested.v1" /* on EVT_TOPIC_WORKOUTS */

typedef struct progress_cfg {
    int64_t idle_ms;         /* a session ends after this long without readings (300000) */
    int64_t max_skew_ms;     /* readings further ahead of ingest are clamped (300000) */
    int64_t keep_samples_ms; /* samples of workouts that ended longer ago are dropped,
                                their chart series kept (0: keep every sample) */
} progress_cfg;

typedef struct progress progress;

/* Open (create tables in) the SQLite file at db_path. cfg may be NULL
 * (defaults). 0 or -1 (logged). */
int progress_open(progress **out, const char *db_path, const progress_cfg *cfg);
void progress_close(progress *p);

/* Apply one bus record of any consumed topic. now_ms is the wall clock (used
 * only to close sessions idle by wall time). 0 when applied or skipped (a bad
 * record is counted and skipped), -1 when it must be retried. */
int progress_apply(progress *p, const bus_record *rec, int64_t now_ms);

/* Complete sessions idle at now_ms (and explicitly stopped ones). Returns the
 * number completed or -1. */
int progress_tick(progress *p, int64_t now_ms);

/* Deterministic text dump of the projection (sorted rows, no wall-clock
 * columns). *out malloc'd (caller frees). 0 or -1. */
int progress_export(progress *p, char **out, size_t *len);

/* Empty the projection tables (not progress_settings). 0 or -1. */
int progress_reset(progress *p);

/* Replay topics from the beginning (a fresh consumer group per run) into
 * emptied tables until every topic is quiet for quiet_ms. 0 or -1. */
int progress_rebuild(bus *b, const char *db_path, const progress_cfg *cfg, int quiet_ms);

/* The consumers on the core's event loop (worker role). Keeps ev and b. */
typedef struct progress_worker progress_worker;
int progress_worker_new(progress_worker **out, sd_event *ev, bus *b, const char *db_path,
                        const progress_cfg *cfg);
void progress_worker_free(progress_worker *w);
/* Records applied since start (tests, metrics). */
uint64_t progress_worker_applied(const progress_worker *w);

#endif
