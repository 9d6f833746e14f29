/* worker.h - bus consumer that stores readings per user.
 *
 * Consumes fit.readings.v1 in consumer group "worker", applies each event to
 * the store (idempotent: keyed by gateway, epoch, seq) and only then marks the
 * record processed. A failed store write re-opens the consumer, which resumes
 * after the last processed record: nothing is skipped.
 *
 * Ownership: keeps ev and b (must outlive it). One thread.
 */
#ifndef FITGATE_WORKER_H
#define FITGATE_WORKER_H

#include <stdint.h>
#include <systemd/sd-event.h>

#include "bus.h"

typedef struct worker worker;

int worker_new(worker **out, sd_event *ev, bus *b, const char *db_path);
void worker_free(worker *w);
/* Readings stored since start (new ones; replays excluded). */
uint64_t worker_stored(const worker *w);

#endif
