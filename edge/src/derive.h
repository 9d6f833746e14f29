/* derive.h - values that need the previous notification of the same sensor.
 *
 * A CSC notification (0x2A5B) carries cumulative counters and event times;
 * speed and cadence come from the difference to the previous notification of
 * the same device (csc_derive() in libfitdrivers). derive keeps that previous
 * sample per device, in memory, for at most max_devices devices (the least
 * recently seen one is forgotten first). After a restart the first
 * notification of each sensor yields no speed: only the raw counters.
 *
 * Ownership: derive_new() returns a table freed with derive_free(). One thread.
 */
#ifndef FITGATE_DERIVE_H
#define FITGATE_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"

typedef struct derive derive;

/* NULL on allocation failure or a circumference outside (0, 10] m. */
derive *derive_new(size_t max_devices, double wheel_circumference_m);
void derive_free(derive *d);

/* Forget the previous sample of device (a BLE reconnection: CSC event times
 * wrap every 64 s, so a difference across a longer gap would be wrong). */
void derive_forget(derive *d, const char *device);

/* r was decoded from (uuid16, buf, len) for r->device: add what the previous
 * sample makes computable (CSC: speed, cadence, cumulative distance). Leaves r
 * as it was for other characteristics or when nothing can be derived yet. */
void derive_apply(derive *d, uint16_t uuid16, const uint8_t *buf, size_t len, fp_reading *r);

#endif
