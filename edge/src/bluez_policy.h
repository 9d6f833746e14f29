/* bluez_policy.h - the pure decisions of the BlueZ source (no D-Bus, no I/O).
 *
 * Kept apart from bluez.c so they can be unit-tested: the reconnect backoff,
 * which 16-bit uuids we subscribe to or filter discovery on, how BlueZ object
 * paths map to devices, and the per-device wheel rescaling of CSC values.
 */
#ifndef FITGATE_BLUEZ_POLICY_H
#define FITGATE_BLUEZ_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"

/* Delay before reconnect attempt number `attempt` (1 = first retry):
 * base * 2^(attempt-1), capped at max, then minus up to a quarter of jitter
 * (jitter = any random 32-bit value) so 50 straps that drop together do not
 * come back in lockstep. Never below base/2 and never 0 when base > 0. */
uint64_t bzp_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t max_ms, uint32_t jitter);

/* Service uuids of the discovery filter (fitness and health profiles plus the
 * advertisement-only vendors of drivers/adv.h). */
extern const uint16_t bzp_filter_uuids[];
extern const size_t bzp_filter_uuids_n;

/* true when libfitdrivers decodes notifications/indications of this
 * characteristic, so the edge subscribes to it. */
bool bzp_char_supported(uint16_t uuid16);

/* "0000180d-0000-1000-8000-00805f9b34fb" or "180d" -> 0x180D. false when the
 * uuid is not on the Bluetooth base uuid. */
bool bzp_uuid16(const char *s, uint16_t *out);

/* The device object path a GATT object path belongs to:
 * "/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF/service000c/char000d" -> length of
 * "/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF". 0 when path is not under a device. */
size_t bzp_device_prefix(const char *path);

/* A BlueZ address "AA:BB:CC:DD:EE:FF" (what Device1.Address holds) is the
 * device id of its readings; true when addr is one. */
bool bzp_address_valid(const char *addr);

/* A CSC-derived speed/distance was computed with the gateway's default wheel;
 * rescale to the device's own circumference (both linear in it). Leaves other
 * kinds alone; wheel_m <= 0 means "use the default". */
void bzp_rescale_wheel(fp_reading *r, double default_m, double wheel_m);

/* FNV-1a of s[0..len), for quick path comparisons. */
uint32_t bzp_hash(const char *s, size_t len);

#endif
