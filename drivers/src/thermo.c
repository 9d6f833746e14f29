/* thermo.c - Temperature Measurement 0x2A1C (Health Thermometer Service 1.0):
 *   flags u8 | temperature FLOAT, Celsius (bit0 = 0) or Fahrenheit |
 *   Date Time (bit1) | temperature type u8 (bit2)
 * Fahrenheit goes to Celsius. Types 1..9 (armpit .. tympanum) are defined;
 * 0 and 10..255 are RFU and rejected.
 */
#include <string.h>

#include "health_util.h"

#define HTS_TYPE_MAX 9

fp_status hts_decode(const uint8_t *buf, size_t len, hts_measurement *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    uint8_t f = buf[0];
    if (f & HTS_F_RESERVED)
        return FP_ERR_RESERVED;
    size_t need = 5 + ((f & HTS_F_TIME) ? GATT_DATETIME_LEN : 0) + ((f & HTS_F_TYPE) ? 1 : 0);
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + 1;
    fp_status rc;
    out->flags = f;
    out->temperature = hu_le32(p);
    p += 4;
    if ((f & HTS_F_TIME) && (rc = hu_time(&p, &out->time)))
        return rc;
    if (f & HTS_F_TYPE) {
        out->type = *p;
        if (out->type == 0 || out->type > HTS_TYPE_MAX)
            return FP_ERR_RESERVED;
    }
    return FP_OK;
}

fp_status hts_to_reading(const hts_measurement *m, fp_reading *out)
{
    double t;
    /* Without a temperature there is nothing to store. */
    if (ieee11073_float(m->temperature, &t) != IEEE11073_NUMBER)
        return FP_ERR_RANGE;
    if (m->flags & HTS_F_FAHRENHEIT)
        t = (t - 32.0) * 5.0 / 9.0;
    fp_status rc = fp_reading_add(out, FP_Q_TEMPERATURE, t);
    if (!rc && (m->flags & HTS_F_TYPE))
        rc = fp_reading_add(out, FP_Q_TYPE, m->type);
    if (!rc && (m->flags & HTS_F_TIME))
        rc = hu_add_time(out, &m->time);
    return rc;
}
