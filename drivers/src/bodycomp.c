/* bodycomp.c - Body Composition Measurement 0x2A9C (Body Composition
 * Service 1.0, GATT Specification Supplement).
 *
 * Layout (little-endian): flags u16 | body fat u16 0.1 % | then, in flag
 * order, Date Time (bit1), user u8 (bit2), basal metabolism u16 kJ (bit3),
 * muscle u16 0.1 % (bit4), muscle mass, fat free mass, soft lean mass, body
 * water mass (bits 5-8, u16 mass unit), impedance u16 0.1 ohm (bit9), weight
 * u16 mass unit (bit10), height u16 (bit11). Bit0: SI mass 0.005 kg, height
 * 0.001 m; imperial 0.01 lb, 0.1 in. Bit12 marks one of the two packets of a
 * measurement too long for one notification; each packet is decoded alone.
 * Body fat 0xFFFF says the measurement failed: left out, the rest decodes.
 */
#include <string.h>

#include "health_util.h"

/* Bits 3..11: one u16 each. */
#define BCS_U16_FIELDS 0x0FF8

static int popcount16(unsigned v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

fp_status bcs_decode(const uint8_t *buf, size_t len, bcs_measurement *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 2)
        return FP_ERR_LENGTH;
    uint16_t f = hu_le16(buf);
    if (f & BCS_F_RESERVED)
        return FP_ERR_RESERVED;
    size_t need = 4 + ((f & BCS_F_TIME) ? GATT_DATETIME_LEN : 0) + ((f & BCS_F_USER) ? 1 : 0) +
                  2 * (size_t)popcount16(f & BCS_U16_FIELDS);
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + 2;
    fp_status rc;
    out->flags = f;
    out->body_fat = hu_le16(p);
    p += 2;
    if ((f & BCS_F_TIME) && (rc = hu_time(&p, &out->time)))
        return rc;
    if (f & BCS_F_USER)
        out->user = *p++;
    /* The u16 fields in flag order, bit3 first. */
    uint16_t *fields[] = {&out->basal,         &out->muscle_pct,     &out->muscle_mass,
                          &out->fat_free_mass, &out->soft_lean_mass, &out->body_water,
                          &out->impedance,     &out->weight,         &out->height};
    for (unsigned i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (f & (BCS_F_BASAL << i)) {
            *fields[i] = hu_le16(p);
            p += 2;
        }
    }
    return FP_OK;
}

fp_status bcs_to_reading(const bcs_measurement *m, fp_reading *out)
{
    bool imperial = m->flags & BCS_F_IMPERIAL;
    double mass = imperial ? 0.01 * HU_LB_KG : 0.005;
    struct {
        uint16_t bit;
        fp_quantity q;
        uint16_t raw;
        double factor;
    } fields[] = {
        {BCS_F_BASAL, FP_Q_BASAL_METABOLISM, m->basal, 1000.0},
        {BCS_F_MUSCLE_PCT, FP_Q_MUSCLE_PCT, m->muscle_pct, 0.1},
        {BCS_F_MUSCLE_MASS, FP_Q_MUSCLE_MASS, m->muscle_mass, mass},
        {BCS_F_FAT_FREE, FP_Q_FAT_FREE_MASS, m->fat_free_mass, mass},
        {BCS_F_SOFT_LEAN, FP_Q_SOFT_LEAN_MASS, m->soft_lean_mass, mass},
        {BCS_F_WATER, FP_Q_BODY_WATER, m->body_water, mass},
        {BCS_F_IMPEDANCE, FP_Q_IMPEDANCE, m->impedance, 0.1},
        {BCS_F_WEIGHT, FP_Q_WEIGHT, m->weight, mass},
        {BCS_F_HEIGHT, FP_Q_HEIGHT, m->height, imperial ? 0.1 * HU_INCH_M : 0.001},
    };
    int n = 0;
    fp_status rc = FP_OK;

    if (m->body_fat != BCS_BODY_FAT_FAILED)
        rc = hu_add_scaled(out, FP_Q_BODY_FAT, m->body_fat, 0.1, &n);
    for (unsigned i = 0; !rc && i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (m->flags & fields[i].bit)
            rc = hu_add_scaled(out, fields[i].q, fields[i].raw, fields[i].factor, &n);
    }
    if (!rc && (m->flags & BCS_F_USER))
        rc = hu_add_user(out, m->user);
    if (!rc && (m->flags & BCS_F_TIME))
        rc = hu_add_time(out, &m->time);
    if (!rc && n == 0)
        rc = FP_ERR_RANGE;
    return rc;
}
