/* fitdrivers/fitness.h - fitness GATT characteristics (see docs/devices.md).
 *
 * fitness_gatt_decode() has the contract of gatt_decode() (fitdrivers/gatt.h):
 * it handles the characteristics of its family and returns FP_ERR_UNKNOWN for
 * any other uuid, so gatt_decode() can ask each family in turn.
 */
#ifndef FITDRIVERS_FITNESS_H
#define FITDRIVERS_FITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"
#include "fitproto/status.h"

fp_status fitness_gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
                             int64_t ts_ms, fp_reading *out);

#endif
