/* fitdrivers/adv.h - decode BLE advertisements (no connection) into readings.
 *
 * Some devices only broadcast: Xiaomi scales put a finished weighing in
 * service data, Mi Band / Amazfit and Polar devices broadcast heart rate in
 * manufacturer data. adv_decode() looks at one advertisement, as BlueZ
 * reports it (org.bluez.Device1 Name, ManufacturerData, ServiceData), and
 * returns the readings it carries. docs/devices.md lists every layout and the
 * rules that tell a vendor layout from a standard one.
 *
 * Pure functions: no I/O, no globals, no heap. Nothing is copied or kept:
 * adv_input only borrows the caller's bytes for the duration of the call.
 */
#ifndef FITDRIVERS_ADV_H
#define FITDRIVERS_ADV_H

#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"
#include "fitproto/status.h"

#define ADV_ENTRIES_MAX  16  /* manufacturer (or service) data entries per advertisement */
#define ADV_DATA_MAX     255 /* bytes in one entry (extended advertising fits 255 per AD) */
#define ADV_READINGS_MAX 8   /* never more readings than this from one advertisement */

/* Company identifiers (Bluetooth SIG assigned numbers). */
#define ADV_COMPANY_HUAMI 0x0157 /* Mi Band / Amazfit (Anhui Huami) */
#define ADV_COMPANY_POLAR 0x006B /* Polar Electro Oy */

/* Service uuids whose service data we read. */
#define ADV_UUID_BODY_COMPOSITION 0x181B
#define ADV_UUID_WEIGHT_SCALE     0x181D
#define ADV_UUID_HUAMI            0xFEE0

/* One manufacturer data entry (id = company id, already split off the bytes,
 * as BlueZ's ManufacturerData a{qv} gives it) or one service data entry
 * (id = 16-bit service uuid). */
typedef struct adv_data {
    uint16_t id;
    const uint8_t *data; /* borrowed; may be NULL when len is 0 */
    size_t len;          /* 0..ADV_DATA_MAX */
} adv_data;

typedef struct adv_input {
    const char *name; /* local name, NUL-terminated, or NULL; borrowed */
    const adv_data *mfg;
    size_t nmfg; /* 0..ADV_ENTRIES_MAX */
    const adv_data *svc;
    size_t nsvc; /* 0..ADV_ENTRIES_MAX */
} adv_input;

/* Decode one advertisement of `device` seen at `ts_ms` into out[0..max).
 * Manufacturer data entries are read first, then service data, each in
 * order; entries of no format we know are skipped.
 *
 * Returns:
 *   FP_OK           *n readings in out; *n may be 0 when the device said
 *                   "nothing yet" (a scale still settling, heart rate 0/0xFF)
 *   FP_ERR_UNKNOWN  no entry is in a format we know (*n = 0); not an error
 *                   for a scanner, most advertisements are someone else's
 *   FP_ERR_LENGTH, FP_ERR_RESERVED, FP_ERR_RANGE
 *                   an entry we know is malformed: the whole advertisement
 *                   is rejected (*n = 0), nothing half-decoded comes out
 *   FP_ERR_LIMIT    more entries than ADV_ENTRIES_MAX, an entry longer than
 *                   ADV_DATA_MAX, or more readings than max
 * Any status from fp_reading_init() (an invalid device id is FP_ERR_RANGE).
 * On error out[] may have been written but *n is 0. */
fp_status adv_decode(const adv_input *in, const char *device, int64_t ts_ms, fp_reading *out,
                     size_t max, size_t *n);

/* Parse a service uuid as people and tools write it: "181b", "0x181B", or the
 * 128-bit form on the Bluetooth base uuid "0000181b-0000-1000-8000-00805f9b34fb"
 * (what BlueZ's ServiceData keys look like). s need not be NUL-terminated.
 * FP_ERR_SYNTAX for anything else (including 128-bit uuids off the base). */
fp_status adv_uuid16_parse(const char *s, size_t len, uint16_t *out);

#endif
