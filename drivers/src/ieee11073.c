/* ieee11073.c - IEEE 11073-20601 SFLOAT/FLOAT (see fitdrivers/ieee11073.h).
 *
 * The value is computed as mantissa / 10^-exp for negative exponents and
 * mantissa * 10^exp otherwise. Powers of ten up to 10^22 are exact doubles and
 * every mantissa is exact, so one correctly rounded division or multiplication
 * gives the double nearest to the decimal value (12.34 is 1234 / 100, not
 * 1234 * 0.01, which would be off by one ulp). Larger powers only occur with
 * FLOAT exponents beyond any real measurement.
 */
#include <math.h>

#include "fitdrivers/ieee11073.h"

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static double pow10i(int e)
{
    if (e < (int)(sizeof(pow10_exact) / sizeof(pow10_exact[0])))
        return pow10_exact[e];
    return pow(10.0, e);
}

static double scale(int32_t mantissa, int exponent)
{
    if (exponent < 0)
        return (double)mantissa / pow10i(-exponent);
    return (double)mantissa * pow10i(exponent);
}

void ieee11073_sfloat_split(uint16_t raw, int *exponent, int *mantissa)
{
    int e = raw >> 12;
    int m = raw & 0x0FFF;
    *exponent = e >= 0x8 ? e - 0x10 : e;
    *mantissa = m >= 0x800 ? m - 0x1000 : m;
}

void ieee11073_float_split(uint32_t raw, int *exponent, int32_t *mantissa)
{
    int e = (int)(raw >> 24);
    int32_t m = (int32_t)(raw & 0x00FFFFFFu);
    *exponent = e >= 0x80 ? e - 0x100 : e;
    *mantissa = m >= 0x800000 ? m - 0x1000000 : m;
}

ieee11073_class ieee11073_sfloat(uint16_t raw, double *out)
{
    switch (raw) {
    case IEEE11073_SFLOAT_NAN:
        *out = NAN;
        return IEEE11073_NAN;
    case IEEE11073_SFLOAT_NRES:
        *out = NAN;
        return IEEE11073_NRES;
    case IEEE11073_SFLOAT_PINF:
        *out = INFINITY;
        return IEEE11073_PINF;
    case IEEE11073_SFLOAT_NINF:
        *out = -INFINITY;
        return IEEE11073_NINF;
    case IEEE11073_SFLOAT_RESERVED:
        *out = NAN;
        return IEEE11073_RESERVED;
    default:
        break;
    }
    int e, m;
    ieee11073_sfloat_split(raw, &e, &m);
    *out = scale(m, e);
    return IEEE11073_NUMBER;
}

ieee11073_class ieee11073_float(uint32_t raw, double *out)
{
    switch (raw) {
    case IEEE11073_FLOAT_NAN:
        *out = NAN;
        return IEEE11073_NAN;
    case IEEE11073_FLOAT_NRES:
        *out = NAN;
        return IEEE11073_NRES;
    case IEEE11073_FLOAT_PINF:
        *out = INFINITY;
        return IEEE11073_PINF;
    case IEEE11073_FLOAT_NINF:
        *out = -INFINITY;
        return IEEE11073_NINF;
    case IEEE11073_FLOAT_RESERVED:
        *out = NAN;
        return IEEE11073_RESERVED;
    default:
        break;
    }
    int e;
    int32_t m;
    ieee11073_float_split(raw, &e, &m);
    *out = scale(m, e);
    return IEEE11073_NUMBER;
}

uint16_t ieee11073_sfloat_make(int exponent, int mantissa)
{
    if (exponent < -8 || exponent > 7 || mantissa < -2048 || mantissa > 2047)
        return 0;
    return (uint16_t)(((unsigned)exponent & 0xFu) << 12 | ((unsigned)mantissa & 0xFFFu));
}

uint32_t ieee11073_float_make(int exponent, int32_t mantissa)
{
    if (exponent < -128 || exponent > 127 || mantissa < -0x800000 || mantissa > 0x7FFFFF)
        return 0;
    return ((uint32_t)exponent & 0xFFu) << 24 | ((uint32_t)mantissa & 0xFFFFFFu);
}

const char *ieee11073_class_str(ieee11073_class c)
{
    switch (c) {
    case IEEE11073_NUMBER:
        return "number";
    case IEEE11073_NAN:
        return "nan";
    case IEEE11073_NRES:
        return "nres";
    case IEEE11073_PINF:
        return "+inf";
    case IEEE11073_NINF:
        return "-inf";
    case IEEE11073_RESERVED:
        return "reserved";
    }
    return "invalid";
}
