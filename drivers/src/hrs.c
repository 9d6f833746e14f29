/* hrs.c - Heart Rate Measurement (GATT 0x2A37).
 *
 * Layout (little-endian), Heart Rate Service 1.0 section 3.1:
 *   flags u8 | HR u8 or u16 (bit0) | energy u16 kJ (bit3) | RR u16 * n (bit4)
 * bits1-2: sensor contact (bit2 = feature supported, bit1 = contact detected;
 * bit1 alone means "not supported" as well). bits5-7 are reserved: a payload
 * that sets them may carry fields we cannot place, so it is rejected. RR
 * intervals take all remaining bytes; at least one must be present when bit4
 * is set, and a stray odd byte is a length error.
 */
#include <string.h>

#include "fitdrivers/gatt.h"

#define HRS_F_HR16     0x01
#define HRS_F_CONTACT  0x02
#define HRS_F_SUPPORT  0x04
#define HRS_F_ENERGY   0x08
#define HRS_F_RR       0x10
#define HRS_F_RESERVED 0xE0

#define HRS_RR_MAX ((int)(sizeof(((hrs_measurement *)0)->rr_raw) / sizeof(uint16_t)))

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

fp_status hrs_decode(const uint8_t *buf, size_t len, hrs_measurement *out)
{
    memset(out, 0, sizeof(*out));
    out->contact = -1;
    out->energy_kj = -1;
    if (buf == NULL || len < 2)
        return FP_ERR_LENGTH;
    uint8_t flags = buf[0];
    if (flags & HRS_F_RESERVED)
        return FP_ERR_RESERVED;

    size_t need = 1 + ((flags & HRS_F_HR16) ? 2 : 1) + ((flags & HRS_F_ENERGY) ? 2 : 0);
    if (len < need)
        return FP_ERR_LENGTH;
    size_t rest = len - need;
    if (flags & HRS_F_RR) {
        if (rest == 0 || rest % 2 != 0)
            return FP_ERR_LENGTH;
        if (rest / 2 > (size_t)HRS_RR_MAX)
            return FP_ERR_LIMIT;
    } else if (rest != 0) {
        return FP_ERR_LENGTH;
    }

    const uint8_t *p = buf + 1;
    if (flags & HRS_F_HR16) {
        out->hr_bpm = le16(p);
        p += 2;
    } else {
        out->hr_bpm = *p++;
    }
    if (flags & HRS_F_SUPPORT)
        out->contact = (flags & HRS_F_CONTACT) ? 1 : 0;
    if (flags & HRS_F_ENERGY) {
        out->energy_kj = le16(p);
        p += 2;
    }
    if (flags & HRS_F_RR) {
        out->rr_count = (uint8_t)(rest / 2);
        for (int i = 0; i < out->rr_count; i++, p += 2)
            out->rr_raw[i] = le16(p);
    }
    return FP_OK;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFF);
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

size_t hrs_encode(const hrs_measurement *m, uint8_t *buf, size_t cap)
{
    /* Values hrs_decode() could never produce cannot be encoded either. */
    if (m->contact < -1 || m->contact > 1 || m->energy_kj < -1 || m->energy_kj > 0xFFFF ||
        m->rr_count > HRS_RR_MAX)
        return 0;
    uint8_t flags = 0;
    /* uint8 when it fits, as real straps do; decode() takes either. */
    bool hr16 = m->hr_bpm > 0xFF;
    if (hr16)
        flags |= HRS_F_HR16;
    if (m->contact >= 0)
        flags |= HRS_F_SUPPORT | (m->contact ? HRS_F_CONTACT : 0);
    if (m->energy_kj >= 0)
        flags |= HRS_F_ENERGY;
    if (m->rr_count > 0)
        flags |= HRS_F_RR;

    size_t len = 1 + (hr16 ? 2 : 1) + (m->energy_kj >= 0 ? 2 : 0) + 2 * (size_t)m->rr_count;
    if (buf == NULL || cap < len)
        return 0;
    uint8_t *p = buf;
    *p++ = flags;
    if (hr16)
        p = put16(p, m->hr_bpm);
    else
        *p++ = (uint8_t)m->hr_bpm;
    if (m->energy_kj >= 0)
        p = put16(p, (uint16_t)m->energy_kj);
    for (int i = 0; i < m->rr_count; i++)
        p = put16(p, m->rr_raw[i]);
    return len;
}
