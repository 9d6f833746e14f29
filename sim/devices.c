/* devices.c - the device kinds of fitgate-sim (see devices.h).
 *
 * The encoders here are the simulator's own, written from the specs as plain
 * little-endian byte writers; they do not share code with the decoders in
 * drivers/, so a round trip through gatt_decode() (tests/unit/sim) checks one
 * reading of the spec against another.
 */
#include "devices.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[SIMD__COUNT + 1] = {
    [SIMD_HR] = "hr",
    [SIMD_BIKE] = "bike",
    [SIMD_TREADMILL] = "treadmill",
    [SIMD_ROWER] = "rower",
    [SIMD_CROSS_TRAINER] = "cross_trainer",
    [SIMD_CSC] = "csc",
    [SIMD_RSC] = "rsc",
    [SIMD_POWER] = "power",
    [SIMD_SCALE] = "scale",
    [SIMD_BP] = "bp",
    [SIMD_SPO2] = "spo2",
    [SIMD_THERMO] = "thermo",
    [SIMD_MIXED] = "mixed",
};

static const uint16_t kind_uuids[SIMD__COUNT] = {
    [SIMD_HR] = 0x2A37,    [SIMD_BIKE] = 0x2AD2,          [SIMD_TREADMILL] = 0x2ACD,
    [SIMD_ROWER] = 0x2AD1, [SIMD_CROSS_TRAINER] = 0x2ACE, [SIMD_CSC] = 0x2A5B,
    [SIMD_RSC] = 0x2A53,   [SIMD_POWER] = 0x2A63,         [SIMD_SCALE] = 0x2A9D,
    [SIMD_BP] = 0x2A35,    [SIMD_SPO2] = 0x2A5F,          [SIMD_THERMO] = 0x2A1C,
};

#define WHEEL_CIRC_M 2.105 /* 700x25c */
#define KCAL_J       4184.0
#define EFFICIENCY   0.24 /* mechanical / metabolic power */

const char *simd_kind_name(simd_kind k)
{
    return (unsigned)k <= SIMD_MIXED ? kind_names[k] : NULL;
}

int simd_kind_parse(const char *name, simd_kind *out)
{
    for (int k = 0; k <= SIMD_MIXED; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (simd_kind)k;
            return 0;
        }
    }
    return -1;
}

simd_kind simd_kind_of(simd_kind k, uint32_t index)
{
    return k == SIMD_MIXED ? (simd_kind)(index % SIMD__COUNT) : k;
}

uint16_t simd_uuid(simd_kind k)
{
    return (unsigned)k < SIMD__COUNT ? kind_uuids[k] : 0;
}

/* ---- byte writer ---- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int overflow;
} wbuf;

static void put(wbuf *w, uint32_t v, size_t n)
{
    if (w->len + n > w->cap) {
        w->overflow = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        w->p[w->len++] = (uint8_t)(v >> (8 * i));
}

static void u8(wbuf *w, uint32_t v)
{
    put(w, v, 1);
}
static void u16(wbuf *w, uint32_t v)
{
    put(w, v, 2);
}
static void u24(wbuf *w, uint32_t v)
{
    put(w, v, 3);
}
static void u32(wbuf *w, uint32_t v)
{
    put(w, v, 4);
}
static void s16(wbuf *w, int v)
{
    put(w, (uint16_t)(int16_t)v, 2);
}

/* Round and clamp into [lo, hi]: a model value never overflows its field. */
static uint32_t clampu(double v, double lo, double hi)
{
    v = round(v);
    return (uint32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* IEEE-11073 16-bit SFLOAT: 4-bit exponent, 12-bit signed mantissa. */
static uint16_t sfloat(double v, int exponent)
{
    int m = (int)lround(v / pow(10, exponent));
    if (m > 2045)
        m = 2045; /* 0x7FE.. are special values */
    if (m < -2045)
        m = -2045;
    return (uint16_t)(((exponent & 0xF) << 12) | (m & 0x0FFF));
}

/* IEEE-11073 32-bit FLOAT: 8-bit exponent, 24-bit signed mantissa. */
static uint32_t float32(double v, int exponent)
{
    int32_t m = (int32_t)lround(v / pow(10, exponent));
    return ((uint32_t)(exponent & 0xFF) << 24) | ((uint32_t)m & 0x00FFFFFF);
}

/* ---- model ---- */

static double noise(simd_device *d, double amp)
{
    return (hrm_uniform(&d->rng) * 2 - 1) * amp;
}

void simd_init(simd_device *d, simd_kind k, uint64_t seed, uint32_t index)
{
    memset(d, 0, sizeof *d);
    d->kind = k;
    hrm_init(&d->hr, seed, index);
    /* A stream of its own, so adding a kind does not change the HR model. */
    d->rng = seed ^ (0xD1B54A32D192ED03ull * (index + 1)) ^ ((uint64_t)k << 56);
    hrm_rand(&d->rng);
    d->fitness = 0.7 + 0.6 * hrm_uniform(&d->rng);
    d->clock_offset = 64.0 * hrm_uniform(&d->rng); /* event times wrap within 64 s */
    d->wheel_pos = floor(1e5 * hrm_uniform(&d->rng));
    d->crank_pos = 65536.0 - floor(100 * hrm_uniform(&d->rng)); /* crank count wraps soon */
    d->wheel_event = d->crank_event = 0;
    d->next_measure = 2 + 3 * hrm_uniform(&d->rng);
    d->height_m = 1.55 + 0.40 * hrm_uniform(&d->rng);
    d->weight_kg = 22.5 * d->height_m * d->height_m * (0.85 + 0.35 * hrm_uniform(&d->rng));
    d->sys_base = 108 + 22 * hrm_uniform(&d->rng);
    d->dia_base = 66 + 16 * hrm_uniform(&d->rng);
}

/* Fraction of heart-rate reserve, 0..1: the workout curve every kind follows. */
static double intensity(const simd_device *d)
{
    double f = (d->hr.hr - d->hr.rest_hr) / (d->hr.max_hr - d->hr.rest_hr);
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

/* Advance a revolution counter at `rate` rev/s; the last event is the
 * instant the last whole revolution completed. */
static void spin(double *pos, double *event, double rate, double t0, double dt)
{
    if (rate <= 0)
        return;
    double next = *pos + rate * dt;
    if (floor(next) > floor(*pos))
        *event = t0 + (floor(next) - *pos) / rate;
    *pos = next;
}

static uint32_t event_time(const simd_device *d, double t, double ticks_per_s)
{
    return (uint32_t)llround((t + d->clock_offset) * ticks_per_s) & 0xFFFF;
}

static void ftms_energy(wbuf *w, double kcal, double power_w)
{
    double kcal_h = power_w / EFFICIENCY * 3600 / KCAL_J;
    u16(w, clampu(kcal, 0, 0xFFFE));
    u16(w, clampu(kcal_h, 0, 0xFFFE));
    u8(w, clampu(kcal_h / 60, 0, 0xFE));
}

static void enc_bike(simd_device *d, double f, uint8_t hr, wbuf *w)
{
    double power = d->fitness * (70 + 230 * f) + noise(d, 8);
    double cadence = 62 + 32 * f + noise(d, 2);
    double kmh = 18 + 20 * f * d->fitness + noise(d, 0.5);
    /* bit0 clear: speed present; cadence, distance, power, energy, hr, elapsed */
    u16(w, (1u << 2) | (1u << 4) | (1u << 6) | (1u << 8) | (1u << 9) | (1u << 11));
    u16(w, clampu(kmh * 100, 0, 0xFFFF));
    u16(w, clampu(cadence * 2, 0, 0xFFFF));
    u24(w, clampu(d->distance_m, 0, 0xFFFFFF));
    s16(w, (int)clampu(power, 0, 2000));
    ftms_energy(w, d->energy_kcal, power);
    u8(w, hr);
    u16(w, clampu(d->t, 0, 0xFFFF));
}

static void enc_treadmill(simd_device *d, double f, uint8_t hr, wbuf *w)
{
    double speed = d->fitness * (1.4 + 3.2 * f) + noise(d, 0.03);
    double target = f > 0.6 ? 4.0 : f > 0.3 ? 2.0 : 0.5;
    d->incline_pct += (target - d->incline_pct) * 0.1;
    double incline = round(d->incline_pct * 10) / 10;
    /* bit0 clear: speed; distance, incline + ramp angle, hr, elapsed */
    u16(w, (1u << 2) | (1u << 3) | (1u << 8) | (1u << 10));
    u16(w, clampu(speed * 360, 0, 0xFFFF)); /* m/s -> 0.01 km/h */
    u24(w, clampu(d->distance_m, 0, 0xFFFFFF));
    s16(w, (int)lround(incline * 10));
    s16(w, (int)lround(atan(incline / 100) * 180 / M_PI * 10));
    u8(w, hr);
    u16(w, clampu(d->t, 0, 0xFFFF));
}

static void enc_rower(simd_device *d, double f, uint8_t hr, wbuf *w)
{
    double power = d->fitness * (60 + 240 * f) + noise(d, 6);
    double spm = 18 + 14 * f + noise(d, 0.5);
    double speed = cbrt(power / 2.8); /* Concept2: P = 2.8 v^3 */
    /* bit0 clear: stroke rate + count; distance, pace, power, hr, elapsed */
    u16(w, (1u << 2) | (1u << 3) | (1u << 5) | (1u << 9) | (1u << 11));
    u8(w, clampu(spm * 2, 0, 0xFF));
    u16(w, (uint32_t)d->strokes & 0xFFFF);
    u24(w, clampu(d->distance_m, 0, 0xFFFFFF));
    u16(w, clampu(500 / speed, 1, 0xFFFF)); /* s per 500 m */
    s16(w, (int)clampu(power, 0, 2000));
    u8(w, hr);
    u16(w, clampu(d->t, 0, 0xFFFF));
}

static void enc_cross_trainer(simd_device *d, double f, uint8_t hr, wbuf *w)
{
    double power = d->fitness * (60 + 200 * f) + noise(d, 6);
    double spm = 100 + 60 * f + noise(d, 2);
    double kmh = 6 + 8 * f * d->fitness;
    /* 24-bit flags; bit0 clear: speed; distance, step rate, power, hr, elapsed */
    u24(w, (1u << 2) | (1u << 3) | (1u << 8) | (1u << 11) | (1u << 13));
    u16(w, clampu(kmh * 100, 0, 0xFFFF));
    u24(w, clampu(d->distance_m, 0, 0xFFFFFF));
    u16(w, clampu(spm, 0, 0xFFFF));
    u16(w, clampu(d->t > 0 ? d->strokes * 60 / d->t : spm, 0, 0xFFFF)); /* average */
    s16(w, (int)clampu(power, 0, 2000));
    u8(w, hr);
    u16(w, clampu(d->t, 0, 0xFFFF));
}

static void enc_csc(simd_device *d, wbuf *w)
{
    u8(w, 0x03); /* wheel and crank revolution data */
    u32(w, (uint32_t)fmod(floor(d->wheel_pos), 4294967296.0));
    u16(w, event_time(d, d->wheel_event, 1024));
    u16(w, (uint32_t)fmod(floor(d->crank_pos), 65536.0));
    u16(w, event_time(d, d->crank_event, 1024));
}

static void enc_rsc(simd_device *d, double f, wbuf *w)
{
    double speed = d->fitness * (1.6 + 3.0 * f) + noise(d, 0.05);
    double cadence = 150 + 30 * f + noise(d, 1.5); /* steps/min */
    double stride = speed * 60 / cadence;
    u8(w, 0x03 | (speed >= 2.5 ? 0x04 : 0)); /* stride, distance, running */
    u16(w, clampu(speed * 256, 0, 0xFFFF));
    u8(w, clampu(cadence, 0, 0xFF));
    u16(w, clampu(stride * 100, 0, 0xFFFF));
    u32(w, (uint32_t)clampu(d->distance_m * 10, 0, 4294967295.0));
}

static void enc_power(simd_device *d, double power, wbuf *w)
{
    u16(w, 0x0010 | 0x0020 | 0x0800); /* wheel, crank, accumulated energy */
    s16(w, (int)clampu(power, 0, 2000));
    u32(w, (uint32_t)fmod(floor(d->wheel_pos), 4294967296.0));
    u16(w, event_time(d, d->wheel_event, 2048)); /* CPS wheel time is 1/2048 s */
    u16(w, (uint32_t)fmod(floor(d->crank_pos), 65536.0));
    u16(w, event_time(d, d->crank_event, 1024));
    u16(w, clampu(d->work_j / 1000, 0, 0xFFFF));
}

static void enc_scale(simd_device *d, wbuf *w)
{
    double kg = d->weight_kg + noise(d, 0.15);
    double bmi = kg / (d->height_m * d->height_m);
    u8(w, 0x04 | 0x08); /* SI units, user, BMI + height */
    u16(w, clampu(kg / 0.005, 0, 0xFFFE));
    u8(w, 1);
    u16(w, clampu(bmi * 10, 0, 0xFFFF));
    u16(w, clampu(d->height_m * 1000, 0, 0xFFFF));
}

static void enc_bp(simd_device *d, double f, uint8_t hr, wbuf *w)
{
    double sys = d->sys_base + 40 * f + noise(d, 3);
    double dia = d->dia_base + 4 * f + noise(d, 2);
    u8(w, 0x04 | 0x08); /* mmHg, pulse rate, user */
    u16(w, sfloat(sys, 0));
    u16(w, sfloat(dia, 0));
    u16(w, sfloat(dia + (sys - dia) / 3, 0));
    u16(w, sfloat(hr, 0));
    u8(w, 1);
}

static void enc_spo2(simd_device *d, double f, uint8_t hr, wbuf *w)
{
    double spo2 = 98.5 - 2.5 * f + noise(d, 0.6);
    u8(w, 0x10); /* normal SpO2PR, pulse amplitude index */
    u16(w, sfloat(spo2 > 100 ? 100 : spo2, 0));
    u16(w, sfloat(hr, 0));
    u16(w, sfloat(2 + 6 * f + noise(d, 0.3), -1));
}

static void enc_thermo(simd_device *d, double f, wbuf *w)
{
    double c = 36.5 + 1.3 * f + noise(d, 0.05);
    u8(w, 0x04); /* Celsius, temperature type */
    u32(w, float32(c, -2));
    u8(w, 2); /* body (general) */
}

/* Advance the cumulative quantities by dt at intensity f. */
static void advance(simd_device *d, double f, double dt)
{
    double t0 = d->t;
    double power = d->fitness * (70 + 230 * f);
    double speed;
    switch (d->kind) {
    case SIMD_TREADMILL:
    case SIMD_RSC:
        speed = d->fitness * (1.4 + 3.2 * f);
        d->strokes += (150 + 30 * f) / 60 * dt;
        break;
    case SIMD_ROWER:
        speed = cbrt(d->fitness * (60 + 240 * f) / 2.8);
        d->strokes += (18 + 14 * f) / 60 * dt;
        break;
    case SIMD_CROSS_TRAINER:
        speed = (6 + 8 * f * d->fitness) / 3.6;
        d->strokes += (100 + 60 * f) / 60 * dt;
        break;
    default:
        speed = (18 + 20 * f * d->fitness) / 3.6;
        break;
    }
    d->distance_m += speed * dt;
    d->energy_kcal += power / EFFICIENCY * dt / KCAL_J;
    d->work_j += power * dt;
    spin(&d->wheel_pos, &d->wheel_event, speed / WHEEL_CIRC_M, t0, dt);
    spin(&d->crank_pos, &d->crank_event, (62 + 32 * f) / 60, t0, dt);
    d->t += dt;
}

size_t simd_step(simd_device *d, double dt, uint8_t *buf, size_t cap)
{
    hrs_measurement m;
    hrm_step(&d->hr, dt, &m);
    if (d->kind == SIMD_HR)
        return hrs_encode(&m, buf, cap); /* byte for byte what the sim always sent */

    double f = intensity(d);
    advance(d, f, dt);
    /* An FTMS machine shows 0 (no data) without a strap; model one worn. */
    uint8_t hr = (uint8_t)clampu(d->hr.hr + d->hr.noise, 30, 250);
    wbuf w = {buf, 0, cap, 0};
    switch (d->kind) {
    case SIMD_BIKE:
        enc_bike(d, f, hr, &w);
        break;
    case SIMD_TREADMILL:
        enc_treadmill(d, f, hr, &w);
        break;
    case SIMD_ROWER:
        enc_rower(d, f, hr, &w);
        break;
    case SIMD_CROSS_TRAINER:
        enc_cross_trainer(d, f, hr, &w);
        break;
    case SIMD_CSC:
        enc_csc(d, &w);
        break;
    case SIMD_RSC:
        enc_rsc(d, f, &w);
        break;
    case SIMD_POWER:
        enc_power(d, d->fitness * (70 + 230 * f) + noise(d, 8), &w);
        break;
    case SIMD_SCALE:
    case SIMD_BP:
        if (d->t < d->next_measure)
            return 0;
        d->next_measure = d->t + (d->kind == SIMD_SCALE ? 20 : 30) * (1 + hrm_uniform(&d->rng));
        d->kind == SIMD_SCALE ? enc_scale(d, &w) : enc_bp(d, f, hr, &w);
        break;
    case SIMD_SPO2:
        enc_spo2(d, f, hr, &w);
        break;
    case SIMD_THERMO:
        enc_thermo(d, f, &w);
        break;
    default:
        return 0;
    }
    return w.overflow ? 0 : w.len;
}

uint8_t simd_battery(const simd_device *d)
{
    return hrm_battery(&d->hr);
}
