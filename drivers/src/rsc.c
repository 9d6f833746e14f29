/* rsc.c - RSC Measurement (GATT 0x2A53), Running Speed and Cadence 1.0.
 *
 * Layout: flags u8 | speed u16 (1/256 m/s) | cadence u8 (steps/min) |
 * stride length u16 (cm, bit0) | total distance u32 (dm, bit1).
 * bit2 is the walking (0) / running (1) status; bits 3-7 are reserved.
 */
#include <string.h>

#include "fitdrivers/fitness.h"
#include "fitness_bytes.h"

#define RSC_F_STRIDE   0x01
#define RSC_F_DISTANCE 0x02
#define RSC_F_RUNNING  0x04
#define RSC_F_RESERVED 0xF8

fp_status rsc_decode(const uint8_t *buf, size_t len, rsc_measurement *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    uint8_t flags = buf[0];
    if (flags & RSC_F_RESERVED)
        return FP_ERR_RESERVED;
    size_t need = 1 + 2 + 1 + ((flags & RSC_F_STRIDE) ? 2 : 0) + ((flags & RSC_F_DISTANCE) ? 4 : 0);
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + 1;
    out->speed_raw = fit_le16(p);
    out->cadence = p[2];
    p += 3;
    if (flags & RSC_F_STRIDE) {
        out->has_stride = true;
        out->stride_cm = fit_le16(p);
        p += 2;
    }
    if (flags & RSC_F_DISTANCE) {
        out->has_distance = true;
        out->distance_dm = fit_le32(p);
    }
    out->running = (flags & RSC_F_RUNNING) != 0;
    return FP_OK;
}
