/* devices.h - the device side of the edge: the gateway's local MQTT broker.
 *
 * Devices and BLE bridges publish raw GATT notifications on
 * fit/v1/dev/<device>/gatt/<uuid16>. devices decodes each one with
 * libfitdrivers, adds the reading to the spool, and acknowledges the message
 * to the broker only after the spool commit that holds it (mrx.h explains the
 * QoS 1 / QoS 2 guarantees). Bad payloads are counted and acknowledged (so they
 * are not redelivered forever); they never affect their neighbours.
 *
 * Ownership: devices_new() keeps pointers to ev, sp and dv (which must outlive
 * it; dv may be NULL: no derived values) and copies cfg. One thread.
 */
#ifndef FITGATE_DEVICES_H
#define FITGATE_DEVICES_H

#include <systemd/sd-event.h>

#include "derive.h"
#include "mrx.h"
#include "spool.h"

typedef struct devices devices;

/* Called when readings were added and a commit should follow soon. */
typedef void (*devices_dirty_fn)(void *ctx);

int devices_new(devices **out, sd_event *ev, spool *sp, const mrx_config *cfg, derive *dv,
                devices_dirty_fn dirty, void *ctx);
void devices_free(devices *d);

/* The spool committed: send the acknowledgements that waited for it. */
void devices_committed(devices *d);
/* The spool failed to commit: forget pending acks and reconnect, so the
 * broker redelivers what was lost. */
void devices_commit_failed(devices *d);

#endif
