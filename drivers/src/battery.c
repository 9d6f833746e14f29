/* battery.c - Battery Level (GATT 0x2A19): one uint8, percent 0..100
 * (Battery Service 1.0; 101..255 are reserved). */
#include "fitdrivers/gatt.h"

fp_status battery_decode(const uint8_t *buf, size_t len, uint8_t *percent)
{
    if (buf == NULL || len != 1)
        return FP_ERR_LENGTH;
    if (buf[0] > 100)
        return FP_ERR_RANGE;
    *percent = buf[0];
    return FP_OK;
}
