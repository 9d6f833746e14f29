/* fitdrivers/gatt.h - decode GATT characteristic values into readings.
 *
 * Pure functions: bytes in, readings out. No I/O, no globals, no heap.
 * Every decoder checks that the payload length matches what its flags
 * announce and rejects reserved or out-of-range values with an explicit
 * fp_status (FP_ERR_LENGTH, FP_ERR_RESERVED, FP_ERR_RANGE).
 */
#ifndef FITDRIVERS_GATT_H
#define FITDRIVERS_GATT_H

#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"
#include "fitproto/status.h"

#define GATT_UUID_HEART_RATE_MEASUREMENT 0x2A37
#define GATT_UUID_BATTERY_LEVEL          0x2A19

/* Heart Rate Measurement (0x2A37), fields as notified.
 * Flags: bit0 HR is uint16; bits1-2 sensor contact (bit2 = supported, bit1 =
 * detected); bit3 energy expended present (uint16 kJ, saturates at 0xFFFF);
 * bit4 RR intervals present (all remaining uint16, 1/1024 s). */
typedef struct hrs_measurement {
    uint16_t hr_bpm;
    int8_t contact;    /* -1 not supported, 0 no contact, 1 contact */
    int32_t energy_kj; /* -1 when absent */
    uint8_t rr_count;
    uint16_t rr_raw[16]; /* 1/1024 s; a 512-byte ATT value holds at most 255,
                            more than 16 is rejected as FP_ERR_LIMIT */
} hrs_measurement;

fp_status hrs_decode(const uint8_t *buf, size_t len, hrs_measurement *out);
/* Encode (used by fitgate-sim and tests). Returns bytes written or 0 if cap is
 * too small. */
size_t hrs_encode(const hrs_measurement *m, uint8_t *buf, size_t cap);

/* Battery Level (0x2A19): one byte, 0..100 percent. */
fp_status battery_decode(const uint8_t *buf, size_t len, uint8_t *percent);

/* Decode any supported characteristic into a reading of `device` at `ts_ms`.
 * FP_ERR_UNKNOWN for a characteristic no driver handles. */
fp_status gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
                      int64_t ts_ms, fp_reading *out);

#endif
