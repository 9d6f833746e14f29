/* fitness_gatt.c - dispatch of the fitness family (see fitdrivers/fitness.h). */
#include "fitdrivers/fitness.h"

fp_status fitness_gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
                             int64_t ts_ms, fp_reading *out)
{
    (void)uuid16;
    (void)buf;
    (void)len;
    (void)device;
    (void)ts_ms;
    (void)out;
    return FP_ERR_UNKNOWN;
}
