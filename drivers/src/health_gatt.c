/* health_gatt.c - dispatch of the health family (see fitdrivers/health.h). */
#include "fitdrivers/health.h"

fp_status health_gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
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
