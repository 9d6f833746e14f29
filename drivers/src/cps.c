/* cps.c - Cycling Power Measurement (GATT 0x2A63) and Cycling Power Vector
 * (0x2A64), Cycling Power Service 1.1.
 *
 * Measurement layout, in flag-bit order after flags u16 and power s16 (W):
 *   bit0  pedal power balance u8 (1/2 %)      bit1 indicator (left pedal)
 *   bit2  accumulated torque u16 (1/32 N*m)   bit3 indicator (crank source)
 *   bit4  wheel revs u32 + wheel event u16 (1/2048 s: not CSC's 1/1024 s)
 *   bit5  crank revs u16 + crank event u16 (1/1024 s)
 *   bit6  max force s16 + min force s16 (N)
 *   bit7  max torque s16 + min torque s16 (1/32 N*m)
 *   bit8  max angle + min angle: 12 bits each in 3 bytes (deg)
 *   bit9  top dead spot angle u16 (deg)       bit10 bottom dead spot u16 (deg)
 *   bit11 accumulated energy u16 (kJ)         bit12 indicator (offset comp.)
 *   bits 13-15 reserved.
 */
#include <string.h>

#include "fitdrivers/fitness.h"
#include "fitness_bytes.h"

/* Bytes each presence bit adds, indexed by bit number. */
static const uint8_t cps_field_len[13] = {1, 0, 2, 0, 6, 4, 4, 4, 3, 2, 2, 2, 0};

static size_t cps_length(uint16_t flags)
{
    size_t n = 4; /* flags + power */
    for (unsigned bit = 0; bit < sizeof(cps_field_len); bit++) {
        if (flags & (1u << bit))
            n += cps_field_len[bit];
    }
    return n;
}

fp_status cps_decode(const uint8_t *buf, size_t len, cps_measurement *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 4)
        return FP_ERR_LENGTH;
    uint16_t f = fit_le16(buf);
    if (f & CPS_F_RESERVED)
        return FP_ERR_RESERVED;
    if (len != cps_length(f))
        return FP_ERR_LENGTH;

    out->flags = f;
    out->power_w = fit_les16(buf + 2);
    const uint8_t *p = buf + 4;
    if (f & CPS_F_BALANCE)
        out->balance_raw = *p++;
    if (f & CPS_F_TORQUE) {
        out->torque_raw = fit_le16(p);
        p += 2;
    }
    if (f & CPS_F_WHEEL) {
        out->wheel_revs = fit_le32(p);
        out->wheel_time = fit_le16(p + 4);
        p += 6;
    }
    if (f & CPS_F_CRANK) {
        out->crank_revs = fit_le16(p);
        out->crank_time = fit_le16(p + 2);
        p += 4;
    }
    if (f & CPS_F_EXTREME_FORCE) {
        out->max_force_n = fit_les16(p);
        out->min_force_n = fit_les16(p + 2);
        p += 4;
    }
    if (f & CPS_F_EXTREME_TORQUE) {
        out->max_torque_raw = fit_les16(p);
        out->min_torque_raw = fit_les16(p + 2);
        p += 4;
    }
    if (f & CPS_F_EXTREME_ANGLES) {
        uint32_t both = fit_le24(p);
        out->max_angle_deg = (uint16_t)(both & 0x0FFF);
        out->min_angle_deg = (uint16_t)(both >> 12);
        p += 3;
    }
    if (f & CPS_F_TOP_DEAD_SPOT) {
        out->top_dead_spot_deg = fit_le16(p);
        p += 2;
    }
    if (f & CPS_F_BOTTOM_DEAD_SPOT) {
        out->bottom_dead_spot_deg = fit_le16(p);
        p += 2;
    }
    if (f & CPS_F_ENERGY)
        out->energy_kj = fit_le16(p);
    return FP_OK;
}

#define CPV_F_CRANK       0x01
#define CPV_F_FIRST_ANGLE 0x02
#define CPV_F_FORCE       0x04
#define CPV_F_TORQUE      0x08
#define CPV_F_RESERVED    0xC0 /* bits 4-5 are the measurement direction */

fp_status cps_vector_decode(const uint8_t *buf, size_t len, cps_vector *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    uint8_t f = buf[0];
    /* Two arrays share "the rest of the payload": no way to split them. */
    if ((f & CPV_F_RESERVED) || ((f & CPV_F_FORCE) && (f & CPV_F_TORQUE)))
        return FP_ERR_RESERVED;
    size_t fixed = 1 + ((f & CPV_F_CRANK) ? 4 : 0) + ((f & CPV_F_FIRST_ANGLE) ? 2 : 0);
    if (len < fixed)
        return FP_ERR_LENGTH;
    size_t rest = len - fixed;
    if (f & (CPV_F_FORCE | CPV_F_TORQUE)) {
        if (rest == 0 || rest % 2 != 0)
            return FP_ERR_LENGTH;
        if (rest / 2 > UINT8_MAX)
            return FP_ERR_LIMIT; /* more than an ATT value (512 bytes) holds */
    } else if (rest != 0) {
        return FP_ERR_LENGTH;
    }
    out->flags = f;
    const uint8_t *p = buf + 1;
    if (f & CPV_F_CRANK) {
        out->crank_revs = fit_le16(p);
        out->crank_time = fit_le16(p + 2);
        p += 4;
    }
    if (f & CPV_F_FIRST_ANGLE)
        out->first_angle_deg = fit_le16(p);
    out->n_magnitudes = (uint8_t)(rest / 2);
    return FP_OK;
}
