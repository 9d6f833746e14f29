/* plx.c - PLX Spot-check Measurement 0x2A5E and PLX Continuous Measurement
 * 0x2A5F (Pulse Oximeter Service 1.0).
 *
 * Spot-check: flags u8 | SpO2 SFLOAT % | PR SFLOAT 1/min | Date Time (bit0) |
 *   measurement status u16 (bit1) | device and sensor status u24 (bit2) |
 *   pulse amplitude index SFLOAT % (bit3); bit4 = device clock not set.
 * Continuous: flags u8 | SpO2PR-Normal (2 SFLOAT) | SpO2PR-Fast (bit0) |
 *   SpO2PR-Slow (bit1) | measurement status (bit2) | device and sensor status
 *   (bit3) | pulse amplitude index (bit4).
 * Status RFU bits (measurement bits 0-4, device bits 16-23) are rejected:
 * we could not tell what the device meant by them.
 */
#include <string.h>

#include "health_util.h"

static fp_status status_check(uint16_t meas, uint32_t dev)
{
    if ((meas & PLX_MEAS_STATUS_RESERVED) || (dev & PLX_DEV_STATUS_RESERVED))
        return FP_ERR_RESERVED;
    return FP_OK;
}

fp_status plx_spot_decode(const uint8_t *buf, size_t len, plx_spot_check *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    uint8_t f = buf[0];
    if (f & PLX_SPOT_F_RESERVED)
        return FP_ERR_RESERVED;
    size_t need = 5 + ((f & PLX_SPOT_F_TIME) ? GATT_DATETIME_LEN : 0) +
                  ((f & PLX_SPOT_F_MEAS_STATUS) ? 2 : 0) + ((f & PLX_SPOT_F_DEV_STATUS) ? 3 : 0) +
                  ((f & PLX_SPOT_F_PAI) ? 2 : 0);
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + 1;
    fp_status rc;
    out->flags = f;
    out->spo2 = hu_le16(p);
    out->pr = hu_le16(p + 2);
    p += 4;
    if ((f & PLX_SPOT_F_TIME) && (rc = hu_time(&p, &out->time)))
        return rc;
    if (f & PLX_SPOT_F_MEAS_STATUS) {
        out->meas_status = hu_le16(p);
        p += 2;
    }
    if (f & PLX_SPOT_F_DEV_STATUS) {
        out->dev_status = hu_le24(p);
        p += 3;
    }
    if (f & PLX_SPOT_F_PAI)
        out->pai = hu_le16(p);
    return status_check(out->meas_status, out->dev_status);
}

fp_status plx_cont_decode(const uint8_t *buf, size_t len, plx_continuous *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    uint8_t f = buf[0];
    if (f & PLX_CONT_F_RESERVED)
        return FP_ERR_RESERVED;
    size_t need = 5 + ((f & PLX_CONT_F_FAST) ? 4 : 0) + ((f & PLX_CONT_F_SLOW) ? 4 : 0) +
                  ((f & PLX_CONT_F_MEAS_STATUS) ? 2 : 0) + ((f & PLX_CONT_F_DEV_STATUS) ? 3 : 0) +
                  ((f & PLX_CONT_F_PAI) ? 2 : 0);
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + 1;
    out->flags = f;
    out->spo2 = hu_le16(p);
    out->pr = hu_le16(p + 2);
    p += 4;
    if (f & PLX_CONT_F_FAST) {
        out->fast_spo2 = hu_le16(p);
        out->fast_pr = hu_le16(p + 2);
        p += 4;
    }
    if (f & PLX_CONT_F_SLOW) {
        out->slow_spo2 = hu_le16(p);
        out->slow_pr = hu_le16(p + 2);
        p += 4;
    }
    if (f & PLX_CONT_F_MEAS_STATUS) {
        out->meas_status = hu_le16(p);
        p += 2;
    }
    if (f & PLX_CONT_F_DEV_STATUS) {
        out->dev_status = hu_le24(p);
        p += 3;
    }
    if (f & PLX_CONT_F_PAI)
        out->pai = hu_le16(p);
    return status_check(out->meas_status, out->dev_status);
}

/* The values both characteristics share. */
static fp_status plx_common(fp_reading *out, uint16_t spo2, uint16_t pr, bool has_pai, uint16_t pai,
                            bool has_meas, uint16_t meas, bool has_dev, uint32_t dev, int *n)
{
    fp_status rc = hu_add_sfloat(out, FP_Q_SPO2, spo2, 1.0, n);
    if (!rc)
        rc = hu_add_sfloat(out, FP_Q_HEART_RATE, pr, 1.0, n);
    if (!rc && has_pai)
        rc = hu_add_sfloat(out, FP_Q_PERFUSION, pai, 1.0, n);
    if (!rc && (has_meas || has_dev))
        rc = fp_reading_add(out, FP_Q_STATUS, (double)((uint32_t)meas | dev << 16));
    return rc;
}

fp_status plx_spot_to_reading(const plx_spot_check *m, fp_reading *out)
{
    int n = 0;
    uint8_t f = m->flags;
    fp_status rc =
        plx_common(out, m->spo2, m->pr, f & PLX_SPOT_F_PAI, m->pai, f & PLX_SPOT_F_MEAS_STATUS,
                   m->meas_status, f & PLX_SPOT_F_DEV_STATUS, m->dev_status, &n);
    if (!rc && (f & PLX_SPOT_F_TIME) && !(f & PLX_SPOT_F_CLOCK_UNSET))
        rc = hu_add_time(out, &m->time);
    if (!rc && n == 0)
        rc = FP_ERR_RANGE;
    return rc;
}

fp_status plx_cont_to_reading(const plx_continuous *m, fp_reading *out)
{
    int n = 0;
    uint8_t f = m->flags;
    fp_status rc =
        plx_common(out, m->spo2, m->pr, f & PLX_CONT_F_PAI, m->pai, f & PLX_CONT_F_MEAS_STATUS,
                   m->meas_status, f & PLX_CONT_F_DEV_STATUS, m->dev_status, &n);
    if (!rc && n == 0)
        rc = FP_ERR_RANGE;
    return rc;
}
