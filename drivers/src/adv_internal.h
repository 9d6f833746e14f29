/* adv_internal.h - shared by the adv_*.c files only (not a public header).
 *
 * Each vendor decoder reads one manufacturer or service data entry and adds
 * 0..k readings to an adv_sink. It returns FP_ERR_UNKNOWN when the entry is
 * not in its format, so adv_decode() can skip it.
 */
#ifndef FITDRIVERS_ADV_INTERNAL_H
#define FITDRIVERS_ADV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fitdrivers/adv.h"

/* Where decoded readings go: out[0..max), n used so far. */
typedef struct adv_sink {
    fp_reading *out;
    size_t max, n;
    const char *device;
    int64_t ts_ms;
} adv_sink;

/* Start the next reading of kind `kind`; FP_ERR_LIMIT when out[] is full.
 * It counts only after adv_sink_commit(). */
fp_status adv_sink_begin(adv_sink *s, fp_kind kind, fp_reading **r);
static inline void adv_sink_commit(adv_sink *s)
{
    s->n++;
}

static inline uint16_t adv_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t adv_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A wall-clock date read as UTC -> seconds since the Unix epoch. false when
 * it is not a real date in 1970..2099 (scales whose clock was never set send
 * garbage or zeros). */
bool adv_civil_to_unix(unsigned year, unsigned mon, unsigned day, unsigned h, unsigned m,
                       unsigned s, int64_t *out);

/* Xiaomi scales (adv_xiaomi.c). `name` may be NULL. */
fp_status adv_xiaomi_scale_v1(const uint8_t *p, size_t len, adv_sink *s);
fp_status adv_xiaomi_body_scale(const uint8_t *p, size_t len, adv_sink *s);
bool adv_xiaomi_is_scale_v1(const char *name, const uint8_t *p, size_t len);
bool adv_xiaomi_is_body_scale(const char *name, const uint8_t *p, size_t len);
/* Mi Band / Amazfit (adv_xiaomi.c). */
fp_status adv_huami_mfg(const uint8_t *p, size_t len, adv_sink *s);
fp_status adv_huami_steps(const uint8_t *p, size_t len, adv_sink *s);
/* Polar (adv_polar.c). */
fp_status adv_polar_mfg(const uint8_t *p, size_t len, adv_sink *s);

#endif
