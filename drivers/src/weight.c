/* weight.c - Weight Measurement 0x2A9D and Weight Scale Feature 0x2A9E
 * (Weight Scale Service 1.0, GATT Specification Supplement).
 *
 * Measurement layout (little-endian):
 *   flags u8 | weight u16 | Date Time (bit1) | user u8 (bit2) |
 *   BMI u16 0.1 kg/m2 + height u16 (bit3)
 * Bit0 picks the units: SI weight 0.005 kg and height 0.001 m, imperial
 * 0.01 lb and 0.1 in. Weight 0xFFFF says the measurement failed: the weight is
 * left out and the rest (user, time) still decodes.
 */
#include <string.h>

#include "health_util.h"

fp_status wss_decode(const uint8_t *buf, size_t len, wss_measurement *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    uint8_t f = buf[0];
    if (f & WSS_F_RESERVED)
        return FP_ERR_RESERVED;
    size_t need = 3 + ((f & WSS_F_TIME) ? GATT_DATETIME_LEN : 0) + ((f & WSS_F_USER) ? 1 : 0) +
                  ((f & WSS_F_BMI_HEIGHT) ? 4 : 0);
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + 1;
    fp_status rc = FP_OK;
    out->flags = f;
    out->weight = hu_le16(p);
    p += 2;
    if ((f & WSS_F_TIME) && (rc = hu_time(&p, &out->time)))
        return rc;
    if (f & WSS_F_USER)
        out->user = *p++;
    if (f & WSS_F_BMI_HEIGHT) {
        out->bmi = hu_le16(p);
        out->height = hu_le16(p + 2);
    }
    return FP_OK;
}

fp_status wss_to_reading(const wss_measurement *m, fp_reading *out)
{
    bool imperial = m->flags & WSS_F_IMPERIAL;
    double mass = imperial ? 0.01 * HU_LB_KG : 0.005;
    double length = imperial ? 0.1 * HU_INCH_M : 0.001;
    int n = 0;
    fp_status rc = FP_OK;

    if (m->weight != WSS_WEIGHT_FAILED)
        rc = hu_add_scaled(out, FP_Q_WEIGHT, m->weight, mass, &n);
    if (!rc && (m->flags & WSS_F_BMI_HEIGHT)) {
        rc = hu_add_scaled(out, FP_Q_BMI, m->bmi, 0.1, &n);
        if (!rc)
            rc = hu_add_scaled(out, FP_Q_HEIGHT, m->height, length, &n);
    }
    if (!rc && (m->flags & WSS_F_USER))
        rc = hu_add_user(out, m->user);
    if (!rc && (m->flags & WSS_F_TIME))
        rc = hu_add_time(out, &m->time);
    if (!rc && n == 0)
        rc = FP_ERR_RANGE;
    return rc;
}

/* Feature bits: 0 time stamp, 1 multiple users, 2 BMI, 3-6 weight resolution
 * (0 unspecified, 1..7 = 0.5 kg .. 0.005 kg), 7-9 height resolution
 * (0 unspecified, 1..3 = 0.01 m .. 0.001 m); the rest is RFU. */
#define WSS_FEAT_RESERVED 0xFFFFFC00u

fp_status wss_feature_decode(const uint8_t *buf, size_t len, uint32_t *features)
{
    if (buf == NULL || len != 4)
        return FP_ERR_LENGTH;
    uint32_t f = hu_le32(buf);
    if ((f & WSS_FEAT_RESERVED) || ((f >> 3) & 0xF) > 7 || ((f >> 7) & 0x7) > 3)
        return FP_ERR_RESERVED;
    *features = f;
    return FP_OK;
}
