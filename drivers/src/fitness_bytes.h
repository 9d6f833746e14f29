/* fitness_bytes.h - little-endian readers for the fitness decoders (private
 * to drivers/src). Callers check the length before they read. */
#ifndef FITDRIVERS_FITNESS_BYTES_H
#define FITDRIVERS_FITNESS_BYTES_H

#include <stdint.h>

static inline uint16_t fit_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline int16_t fit_les16(const uint8_t *p)
{
    return (int16_t)fit_le16(p);
}

static inline uint32_t fit_le24(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}

static inline uint32_t fit_le32(const uint8_t *p)
{
    return fit_le24(p) | ((uint32_t)p[3] << 24);
}

#endif
