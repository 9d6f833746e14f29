/* adv_xiaomi.c - Xiaomi scales and Mi Band / Amazfit broadcasts.
 *
 * These layouts have no public specification; they are what openScale,
 * Theengs Decoder, ble_monitor and ESPHome agree on (docs/devices.md names
 * the sources and what is unconfirmed). Bits nobody has documented are
 * ignored rather than rejected: a vendor is free to use them and rejecting
 * would drop good weighings.
 *
 * Mi Scale (v1, XMTZC01HM/XMTZC04HM), service data 0x181D, 10 bytes:
 *   [0] control: bit0 lb, bit4 jin, bit5 stabilized, bit7 load removed
 *   [1..2] weight u16 | [3..4] year u16 | [5] month [6] day [7] h [8] min [9] s
 * Mi Body Composition Scale (XMTZC02HM/XMTZC05HM), service data 0x181B, 13 bytes:
 *   [0] control 0: bit0 lb, bit2 small-object mode
 *   [1] control 1: bit1 impedance valid, bit5 stabilized, bit6 jin (openScale
 *       also reads it as "date invalid"), bit7 load removed
 *   [2..3] year u16 | [4] month [5] day [6] h [7] min [8] s
 *   [9..10] impedance u16 ohm | [11..12] weight u16
 * Weight unit: kg mode 0.005 kg, lb mode 0.01 lb, jin mode 0.01 jin (= 0.005 kg,
 * so jin and kg give the same kg value whatever bit says jin).
 *
 * A weighing becomes a reading only when stabilized and the load is still on
 * the scale (openScale's rule): while the number settles the frames are not a
 * measurement, and after the person steps off the scale repeats the last
 * value with "removed" set.
 */
#include <string.h>

#include "adv_internal.h"

#define V1_LB      0x01
#define V1_JIN     0x10
#define V1_STABLE  0x20
#define V1_REMOVED 0x80
#define V1_XIAOMI  0xF0 /* bits the standard Weight Measurement reserves */
#define V1_LEN     10

#define BC0_LB      0x01
#define BC0_OBJECT  0x04
#define BC1_IMP     0x02
#define BC1_STABLE  0x20
#define BC1_JIN     0x40
#define BC1_REMOVED 0x80
#define BC1_XIAOMI  0xE0 /* flag bits 13-15 of a standard Body Composition Measurement */
#define BC_LEN      13

#define LB_KG 0.45359237

#define MIBAND_MFG_LEN 24 /* Huami manufacturer data without the company id */
#define MIBAND_HR_AT   3  /* byte 5 when the 2-byte company id is counted */

static bool name_is(const char *name, const char *prefix)
{
    return name != NULL && strncmp(name, prefix, strlen(prefix)) == 0;
}

bool adv_xiaomi_is_scale_v1(const char *name, const uint8_t *p, size_t len)
{
    if (name != NULL && strcmp(name, "MI_SCALE") == 0)
        return true;
    return len > 0 && (p[0] & V1_XIAOMI) != 0;
}

bool adv_xiaomi_is_body_scale(const char *name, const uint8_t *p, size_t len)
{
    if (name_is(name, "MIBCS") || name_is(name, "MIBFS"))
        return true; /* then any length but 13 is a length error */
    return len == BC_LEN && (p[1] & BC1_XIAOMI) != 0;
}

/* Weight in kg from the raw count: 0.01 lb in lb mode, 0.005 kg otherwise. */
static double weight_kg(uint16_t raw, bool lb)
{
    return lb ? raw * 0.01 * LB_KG : raw * 0.005;
}

/* device_time when the scale's clock holds a real date; omitted otherwise. */
static fp_status add_date(fp_reading *r, const uint8_t *d)
{
    int64_t t;
    if (!adv_civil_to_unix(adv_le16(d), d[2], d[3], d[4], d[5], d[6], &t))
        return FP_OK;
    return fp_reading_add(r, FP_Q_DEVICE_TIME, (double)t);
}

fp_status adv_xiaomi_scale_v1(const uint8_t *p, size_t len, adv_sink *s)
{
    if (len != V1_LEN)
        return FP_ERR_LENGTH;
    uint8_t ctrl = p[0];
    if (!(ctrl & V1_STABLE) || (ctrl & V1_REMOVED))
        return FP_OK; /* settling, or the person stepped off: nothing new */
    uint16_t raw = adv_le16(p + 1);
    if (raw == 0)
        return FP_ERR_RANGE; /* a stabilized 0 is not a weighing */

    fp_reading *r;
    fp_status rc = adv_sink_begin(s, FP_KIND_WEIGHT, &r);
    if (rc == FP_OK)
        rc = fp_reading_add(r, FP_Q_WEIGHT, weight_kg(raw, ctrl & V1_LB));
    if (rc == FP_OK)
        rc = add_date(r, p + 3);
    if (rc == FP_OK)
        adv_sink_commit(s);
    return rc;
}

fp_status adv_xiaomi_body_scale(const uint8_t *p, size_t len, adv_sink *s)
{
    if (len != BC_LEN)
        return FP_ERR_LENGTH;
    uint8_t c0 = p[0], c1 = p[1];
    if (!(c1 & BC1_STABLE) || (c1 & BC1_REMOVED))
        return FP_OK;
    if (c0 & BC0_OBJECT)
        return FP_OK; /* small-object mode: a parcel or a pet, not the user */
    uint16_t raw = adv_le16(p + 11);
    if (raw == 0)
        return FP_ERR_RANGE;

    fp_reading *r;
    fp_status rc = adv_sink_begin(s, FP_KIND_BODY_COMPOSITION, &r);
    if (rc == FP_OK)
        rc = fp_reading_add(r, FP_Q_WEIGHT, weight_kg(raw, c0 & BC0_LB));
    if (rc == FP_OK && (c1 & BC1_IMP))
        rc = fp_reading_add(r, FP_Q_IMPEDANCE, adv_le16(p + 9));
    /* openScale reads bit6 as "date invalid": only trust the clock without it. */
    if (rc == FP_OK && !(c1 & BC1_JIN))
        rc = add_date(r, p + 2);
    if (rc == FP_OK)
        adv_sink_commit(s);
    return rc;
}

/* Mi Band / Amazfit "heart rate sharing": 24 bytes of manufacturer data
 * (company 0x0157). Other lengths under the same company (the scales send a
 * 6-byte MAC there) are not this format. Heart rate 0 or 0xFF: none. */
fp_status adv_huami_mfg(const uint8_t *p, size_t len, adv_sink *s)
{
    if (len != MIBAND_MFG_LEN)
        return FP_ERR_UNKNOWN;
    uint8_t hr = p[MIBAND_HR_AT];
    if (hr == 0 || hr == 0xFF)
        return FP_OK;
    fp_reading *r;
    fp_status rc = adv_sink_begin(s, FP_KIND_HEART_RATE, &r);
    if (rc == FP_OK)
        rc = fp_reading_add(r, FP_Q_HEART_RATE, hr);
    if (rc == FP_OK)
        adv_sink_commit(s);
    return rc;
}

/* Steps today: service data 0xFEE0, uint32 little-endian. */
fp_status adv_huami_steps(const uint8_t *p, size_t len, adv_sink *s)
{
    if (len != 4)
        return FP_ERR_LENGTH;
    fp_reading *r;
    fp_status rc = adv_sink_begin(s, FP_KIND_ACTIVITY, &r);
    if (rc == FP_OK)
        rc = fp_reading_add(r, FP_Q_STEPS, adv_le32(p));
    if (rc == FP_OK)
        adv_sink_commit(s);
    return rc;
}
