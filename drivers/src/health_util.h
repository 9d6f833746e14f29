/* health_util.h - little helpers shared by the health decoders (internal).
 *
 * Readers for little-endian integers and the "append if it is a value" steps
 * every *_to_reading() repeats: IEEE-11073 specials, unknown users and unknown
 * dates are left out instead of failing the reading.
 */
#ifndef FITDRIVERS_HEALTH_UTIL_H
#define FITDRIVERS_HEALTH_UTIL_H

#include "fitdrivers/health.h"
#include "fitdrivers/ieee11073.h"

/* Conversions to SI (docs/adr/0002-units.md). */
#define HU_LB_KG       0.45359237
#define HU_INCH_M      0.0254
#define HU_MMHG_PA     133.322387415
#define HU_DEVICE_TMAX 4102444800LL /* device_time range ends at 2100-01-01 */

static inline uint16_t hu_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t hu_le24(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static inline uint32_t hu_le32(const uint8_t *p)
{
    return hu_le24(p) | (uint32_t)p[3] << 24;
}

/* A Date Time inside a measurement: the decode errors of the field become the
 * decode errors of the measurement. */
static inline fp_status hu_time(const uint8_t **p, gatt_datetime *dt)
{
    fp_status rc = gatt_datetime_decode(*p, GATT_DATETIME_LEN, dt);
    *p += GATT_DATETIME_LEN;
    return rc;
}

/* device_time when the date is fully known and inside the quantity's range
 * (1970..2099). A valid Date Time outside it (a scale whose clock says 1601)
 * is a wrong clock, not a wrong measurement: the time is left out. */
static inline fp_status hu_add_time(fp_reading *out, const gatt_datetime *dt)
{
    int64_t s;
    if (!gatt_datetime_unix(dt, &s) || s < 0 || s > HU_DEVICE_TMAX)
        return FP_OK;
    return fp_reading_add(out, FP_Q_DEVICE_TIME, (double)s);
}

static inline fp_status hu_add_user(fp_reading *out, uint8_t user)
{
    if (user == HEALTH_USER_UNKNOWN)
        return FP_OK;
    return fp_reading_add(out, FP_Q_USER_INDEX, user);
}

/* Append raw SFLOAT * factor when it is a number; *n counts measured values. */
static inline fp_status hu_add_sfloat(fp_reading *out, fp_quantity q, uint16_t raw, double factor,
                                      int *n)
{
    double v;
    if (ieee11073_sfloat(raw, &v) != IEEE11073_NUMBER)
        return FP_OK;
    (*n)++;
    return fp_reading_add(out, q, v * factor);
}

/* Append a scaled unsigned field; *n counts measured values. */
static inline fp_status hu_add_scaled(fp_reading *out, fp_quantity q, uint16_t raw, double factor,
                                      int *n)
{
    (*n)++;
    return fp_reading_add(out, q, raw * factor);
}

#endif
