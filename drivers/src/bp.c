/* bp.c - Blood Pressure Measurement 0x2A35 and Intermediate Cuff Pressure
 * 0x2A36 (Blood Pressure Service 1.0); both share one layout:
 *   flags u8 | systolic, diastolic, MAP: SFLOAT mmHg (bit0 = 0) or kPa |
 *   Date Time (bit1) | pulse rate SFLOAT 1/min (bit2) | user u8 (bit3) |
 *   measurement status u16 (bit4)
 * Pressures go to Pa (mmHg x 133.322387415, kPa x 1000). In 0x2A36 the first
 * field is the cuff pressure while the cuff inflates or deflates; the other two
 * are NaN by spec and ignored whatever they hold.
 */
#include <string.h>

#include "health_util.h"

/* Status bits 3-4: pulse rate range, 0 in range, 1 above, 2 below, 3 RFU. */
#define BPS_STATUS_RANGE_SHIFT 3

fp_status bps_decode(const uint8_t *buf, size_t len, bps_measurement *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    uint8_t f = buf[0];
    if (f & BPS_F_RESERVED)
        return FP_ERR_RESERVED;
    size_t need = 7 + ((f & BPS_F_TIME) ? GATT_DATETIME_LEN : 0) + ((f & BPS_F_PULSE) ? 2 : 0) +
                  ((f & BPS_F_USER) ? 1 : 0) + ((f & BPS_F_STATUS) ? 2 : 0);
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + 1;
    fp_status rc;
    out->flags = f;
    out->systolic = hu_le16(p);
    out->diastolic = hu_le16(p + 2);
    out->map = hu_le16(p + 4);
    p += 6;
    if ((f & BPS_F_TIME) && (rc = hu_time(&p, &out->time)))
        return rc;
    if (f & BPS_F_PULSE) {
        out->pulse = hu_le16(p);
        p += 2;
    }
    if (f & BPS_F_USER)
        out->user = *p++;
    if (f & BPS_F_STATUS) {
        out->status = hu_le16(p);
        if ((out->status & BPS_STATUS_RESERVED) ||
            ((out->status >> BPS_STATUS_RANGE_SHIFT) & 3) == 3)
            return FP_ERR_RESERVED;
    }
    return FP_OK;
}

fp_status bps_to_reading(const bps_measurement *m, bool cuff, fp_reading *out)
{
    double pa = (m->flags & BPS_F_KPA) ? 1000.0 : HU_MMHG_PA;
    int n = 0;
    fp_status rc;

    if (cuff) {
        rc = hu_add_sfloat(out, FP_Q_MEAN_PRESSURE, m->systolic, pa, &n);
    } else {
        rc = hu_add_sfloat(out, FP_Q_SYSTOLIC, m->systolic, pa, &n);
        if (!rc)
            rc = hu_add_sfloat(out, FP_Q_DIASTOLIC, m->diastolic, pa, &n);
        if (!rc)
            rc = hu_add_sfloat(out, FP_Q_MEAN_PRESSURE, m->map, pa, &n);
    }
    if (!rc && (m->flags & BPS_F_PULSE))
        rc = hu_add_sfloat(out, FP_Q_HEART_RATE, m->pulse, 1.0, &n);
    if (!rc && (m->flags & BPS_F_USER))
        rc = hu_add_user(out, m->user);
    if (!rc && (m->flags & BPS_F_STATUS))
        rc = fp_reading_add(out, FP_Q_STATUS, m->status);
    if (!rc && (m->flags & BPS_F_TIME))
        rc = hu_add_time(out, &m->time);
    if (!rc && n == 0)
        rc = FP_ERR_RANGE;
    return rc;
}
