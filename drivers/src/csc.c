/* csc.c - CSC Measurement (GATT 0x2A5B), Cycling Speed and Cadence 1.0, and
 * the derivation of speed/cadence from two samples.
 *
 * Layout: flags u8 | wheel revs u32 + last wheel event u16 (bit0) |
 * crank revs u16 + last crank event u16 (bit1); bits 2-7 reserved. Event
 * times are 1/1024 s and wrap every 64 s.
 */
#include <math.h>
#include <string.h>

#include "fitdrivers/fitness.h"
#include "fitness_bytes.h"

#define CSC_F_WHEEL    0x01
#define CSC_F_CRANK    0x02
#define CSC_F_RESERVED 0xFC

fp_status csc_decode(const uint8_t *buf, size_t len, csc_measurement *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < 1)
        return FP_ERR_LENGTH;
    uint8_t flags = buf[0];
    if (flags & CSC_F_RESERVED)
        return FP_ERR_RESERVED;
    size_t need = 1 + ((flags & CSC_F_WHEEL) ? 6 : 0) + ((flags & CSC_F_CRANK) ? 4 : 0);
    if (len != need)
        return FP_ERR_LENGTH;

    const uint8_t *p = buf + 1;
    if (flags & CSC_F_WHEEL) {
        out->has_wheel = true;
        out->wheel_revs = fit_le32(p);
        out->wheel_time = fit_le16(p + 4);
        p += 6;
    }
    if (flags & CSC_F_CRANK) {
        out->has_crank = true;
        out->crank_revs = fit_le16(p);
        out->crank_time = fit_le16(p + 2);
    }
    return FP_OK;
}

void csc_state_reset(csc_state *st)
{
    memset(st, 0, sizeof(*st));
}

/* Outcome of comparing one counter with its previous sample. */
typedef enum csc_step { CSC_FIRST, CSC_NOTHING, CSC_STOPPED, CSC_MOVED } csc_step;

/* Shared by wheel and crank: decides whether the new event is usable, keeps
 * the idle count, and returns the time delta in 1/1024 s through *dt. */
static csc_step csc_advance(bool *have, uint16_t *prev_time, uint8_t *idle, uint16_t time,
                            bool same_count, uint16_t *dt)
{
    if (!*have) {
        *have = true;
        *prev_time = time;
        *idle = 0;
        return CSC_FIRST;
    }
    *dt = (uint16_t)(time - *prev_time); /* modulo 65536: the wrap every 64 s */
    if (*dt != 0) {
        *prev_time = time;
        *idle = 0;
        return CSC_MOVED;
    }
    if (!same_count)
        return CSC_NOTHING; /* count moved without an event time: a glitch */
    if (*idle < CSC_STOP_SAMPLES)
        (*idle)++;
    return *idle >= CSC_STOP_SAMPLES ? CSC_STOPPED : CSC_NOTHING;
}

static void csc_wheel(csc_state *st, const csc_measurement *m, double circ, csc_derived *out)
{
    uint16_t dt = 0;
    uint32_t prev = st->wheel_revs;
    csc_step s = csc_advance(&st->have_wheel, &st->wheel_time, &st->wheel_idle, m->wheel_time,
                             m->wheel_revs == prev, &dt);
    if (s == CSC_FIRST)
        st->wheel_revs = m->wheel_revs;
    if (s == CSC_STOPPED) {
        out->has_speed = true;
        return;
    }
    if (s != CSC_MOVED)
        return;
    /* The count may go down (wheel turned backwards): signed difference. */
    int32_t revs = (int32_t)(m->wheel_revs - prev);
    st->wheel_revs = m->wheel_revs;
    out->has_speed = true;
    out->distance_m = revs * circ;
    out->speed_mps = fabs(out->distance_m) / (dt / 1024.0);
}

static void csc_crank(csc_state *st, const csc_measurement *m, csc_derived *out)
{
    uint16_t dt = 0;
    uint16_t prev = st->crank_revs;
    csc_step s = csc_advance(&st->have_crank, &st->crank_time, &st->crank_idle, m->crank_time,
                             m->crank_revs == prev, &dt);
    if (s == CSC_FIRST)
        st->crank_revs = m->crank_revs;
    if (s == CSC_STOPPED) {
        out->has_cadence = true;
        return;
    }
    if (s != CSC_MOVED)
        return;
    uint16_t revs = (uint16_t)(m->crank_revs - prev); /* wraps at 65536, never goes down */
    st->crank_revs = m->crank_revs;
    out->has_cadence = true;
    out->cadence_rpm = revs * 60.0 / (dt / 1024.0);
}

fp_status csc_derive(csc_state *st, const csc_measurement *m, double wheel_circumference_m,
                     csc_derived *out)
{
    memset(out, 0, sizeof(*out));
    if (!isfinite(wheel_circumference_m) || wheel_circumference_m <= 0 ||
        wheel_circumference_m > 10)
        return FP_ERR_RANGE;
    if (m->has_wheel)
        csc_wheel(st, m, wheel_circumference_m, out);
    if (m->has_crank)
        csc_crank(st, m, out);
    return FP_OK;
}
