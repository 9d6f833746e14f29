/* encode_health.c - test-only encoders (see encode_health.h). Written from
 * the specifications' field tables, not from the decoders. */
#include <string.h>

#include "encode_health.h"

/* A tiny writer: the output is built in a scratch buffer and copied out only
 * when it fits, so callers never see a partial payload. */
typedef struct w {
    uint8_t b[64];
    size_t n;
} w;

static void u8(w *o, uint8_t v)
{
    o->b[o->n++] = v;
}

static void u16(w *o, uint16_t v)
{
    u8(o, (uint8_t)(v & 0xFF));
    u8(o, (uint8_t)(v >> 8));
}

static void u24(w *o, uint32_t v)
{
    u16(o, (uint16_t)(v & 0xFFFF));
    u8(o, (uint8_t)(v >> 16));
}

static void u32(w *o, uint32_t v)
{
    u16(o, (uint16_t)(v & 0xFFFF));
    u16(o, (uint16_t)(v >> 16));
}

static void dt(w *o, const gatt_datetime *t)
{
    u16(o, t->year);
    u8(o, t->month);
    u8(o, t->day);
    u8(o, t->hours);
    u8(o, t->minutes);
    u8(o, t->seconds);
}

static size_t out(const w *o, uint8_t *buf, size_t cap)
{
    if (buf == NULL || cap < o->n)
        return 0;
    memcpy(buf, o->b, o->n);
    return o->n;
}

size_t enc_wss(const wss_measurement *m, uint8_t *buf, size_t cap)
{
    w o = {.n = 0};
    u8(&o, m->flags);
    u16(&o, m->weight);
    if (m->flags & 0x02)
        dt(&o, &m->time);
    if (m->flags & 0x04)
        u8(&o, m->user);
    if (m->flags & 0x08) {
        u16(&o, m->bmi);
        u16(&o, m->height);
    }
    return out(&o, buf, cap);
}

size_t enc_bcs(const bcs_measurement *m, uint8_t *buf, size_t cap)
{
    w o = {.n = 0};
    uint16_t f = m->flags;
    u16(&o, f);
    u16(&o, m->body_fat);
    if (f & 0x0002)
        dt(&o, &m->time);
    if (f & 0x0004)
        u8(&o, m->user);
    if (f & 0x0008)
        u16(&o, m->basal);
    if (f & 0x0010)
        u16(&o, m->muscle_pct);
    if (f & 0x0020)
        u16(&o, m->muscle_mass);
    if (f & 0x0040)
        u16(&o, m->fat_free_mass);
    if (f & 0x0080)
        u16(&o, m->soft_lean_mass);
    if (f & 0x0100)
        u16(&o, m->body_water);
    if (f & 0x0200)
        u16(&o, m->impedance);
    if (f & 0x0400)
        u16(&o, m->weight);
    if (f & 0x0800)
        u16(&o, m->height);
    return out(&o, buf, cap);
}

size_t enc_plx_spot(const plx_spot_check *m, uint8_t *buf, size_t cap)
{
    w o = {.n = 0};
    u8(&o, m->flags);
    u16(&o, m->spo2);
    u16(&o, m->pr);
    if (m->flags & 0x01)
        dt(&o, &m->time);
    if (m->flags & 0x02)
        u16(&o, m->meas_status);
    if (m->flags & 0x04)
        u24(&o, m->dev_status);
    if (m->flags & 0x08)
        u16(&o, m->pai);
    return out(&o, buf, cap);
}

size_t enc_plx_cont(const plx_continuous *m, uint8_t *buf, size_t cap)
{
    w o = {.n = 0};
    u8(&o, m->flags);
    u16(&o, m->spo2);
    u16(&o, m->pr);
    if (m->flags & 0x01) {
        u16(&o, m->fast_spo2);
        u16(&o, m->fast_pr);
    }
    if (m->flags & 0x02) {
        u16(&o, m->slow_spo2);
        u16(&o, m->slow_pr);
    }
    if (m->flags & 0x04)
        u16(&o, m->meas_status);
    if (m->flags & 0x08)
        u24(&o, m->dev_status);
    if (m->flags & 0x10)
        u16(&o, m->pai);
    return out(&o, buf, cap);
}

size_t enc_bps(const bps_measurement *m, uint8_t *buf, size_t cap)
{
    w o = {.n = 0};
    u8(&o, m->flags);
    u16(&o, m->systolic);
    u16(&o, m->diastolic);
    u16(&o, m->map);
    if (m->flags & 0x02)
        dt(&o, &m->time);
    if (m->flags & 0x04)
        u16(&o, m->pulse);
    if (m->flags & 0x08)
        u8(&o, m->user);
    if (m->flags & 0x10)
        u16(&o, m->status);
    return out(&o, buf, cap);
}

size_t enc_hts(const hts_measurement *m, uint8_t *buf, size_t cap)
{
    w o = {.n = 0};
    u8(&o, m->flags);
    u32(&o, m->temperature);
    if (m->flags & 0x02)
        dt(&o, &m->time);
    if (m->flags & 0x04)
        u8(&o, m->type);
    return out(&o, buf, cap);
}
