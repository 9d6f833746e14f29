/* ingest.h - gateway batches in, bus events out, acks after durability.
 *
 * Subscribes on the cloud broker to fit/v1/gw/+/batch and fit/v1/gw/+/state
 * (persistent session, so batches queue while the core restarts). For each
 * batch: strict decode, the topic's gateway must match the payload's, dedupe
 * by (gateway, epoch, seq) against the high-water mark, publish the new
 * readings to the bus, and only when the bus reports them durable (SQLite
 * commit / every Kafka delivery report) advance the high-water mark and send
 * the cumulative ack to fit/v1/gw/<gw>/ack. The high-water marks live in the
 * table ingest_seq of db_path.
 *
 * Ownership: keeps ev and bus (must outlive it); copies cfg strings.
 */
#ifndef FITGATE_INGEST_H
#define FITGATE_INGEST_H

#include <systemd/sd-event.h>

#include "bus.h"
#include "fitcommon/mqloop.h"

typedef struct ingest ingest;

typedef struct ingest_config {
    mqloop_config mqtt; /* cloud broker; clean_start=false + session expiry */
    const char *db_path;
    bus *bus;
} ingest_config;

int ingest_new(ingest **out, sd_event *ev, const ingest_config *cfg);
void ingest_free(ingest *g);
/* Batches accepted by the bus but not yet durable. */
size_t ingest_pending(const ingest *g);

#endif
