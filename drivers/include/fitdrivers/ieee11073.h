/* fitdrivers/ieee11073.h - IEEE 11073-20601 SFLOAT and FLOAT (medical devices).
 *
 * SFLOAT (16 bit): 4-bit exponent, 12-bit mantissa. FLOAT (32 bit): 8-bit
 * exponent, 24-bit mantissa. Both two's complement; value = mantissa * 10^exp.
 * Five raw values (exponent 0, the top mantissas) are not numbers: NaN, NRes
 * (not at this resolution), +INF, -INF and one reserved for future use. Every
 * other raw value is a number, including those with the same mantissas and a
 * non-zero exponent.
 *
 * Pure functions: no I/O, no globals, no heap.
 */
#ifndef FITDRIVERS_IEEE11073_H
#define FITDRIVERS_IEEE11073_H

#include <stdint.h>

typedef enum ieee11073_class {
    IEEE11073_NUMBER = 0, /* a finite value */
    IEEE11073_NAN,        /* not a number: "no value" */
    IEEE11073_NRES,       /* not at this resolution */
    IEEE11073_PINF,       /* +infinity */
    IEEE11073_NINF,       /* -infinity */
    IEEE11073_RESERVED    /* reserved for future use */
} ieee11073_class;

#define IEEE11073_SFLOAT_NAN      0x07FF
#define IEEE11073_SFLOAT_NRES     0x0800
#define IEEE11073_SFLOAT_PINF     0x07FE
#define IEEE11073_SFLOAT_NINF     0x0802
#define IEEE11073_SFLOAT_RESERVED 0x0801

#define IEEE11073_FLOAT_NAN      0x007FFFFFu
#define IEEE11073_FLOAT_NRES     0x00800000u
#define IEEE11073_FLOAT_PINF     0x007FFFFEu
#define IEEE11073_FLOAT_NINF     0x00800002u
#define IEEE11073_FLOAT_RESERVED 0x00800001u

/* Decode one value. Returns its class; *out gets the value for a number (the
 * double nearest to mantissa * 10^exp), +/-INFINITY for the infinities and NAN
 * for NaN, NRes and reserved. Only IEEE11073_NUMBER is a measurement. */
ieee11073_class ieee11073_sfloat(uint16_t raw, double *out);
ieee11073_class ieee11073_float(uint32_t raw, double *out);

/* Split a raw value into exponent and mantissa (sign-extended). */
void ieee11073_sfloat_split(uint16_t raw, int *exponent, int *mantissa);
void ieee11073_float_split(uint32_t raw, int *exponent, int32_t *mantissa);

/* Build a raw value; exponent and mantissa must fit (SFLOAT -8..7 and
 * -2048..2047, FLOAT -128..127 and -2^23..2^23-1); returns 0 if not. */
uint16_t ieee11073_sfloat_make(int exponent, int mantissa);
uint32_t ieee11073_float_make(int exponent, int32_t mantissa);

/* "number", "nan", "nres", "+inf", "-inf", "reserved". */
const char *ieee11073_class_str(ieee11073_class c);

#endif
