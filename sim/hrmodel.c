/* hrmodel.c - a heart-rate strap wearer, simulated (see hrmodel.h). */
#include "hrmodel.h"

#include <math.h>
#include <string.h>

#define HR_TAU_UP     25.0  /* s: the heart speeds up faster ... */
#define HR_TAU_DOWN   45.0  /* ... than it recovers */
#define NOISE_TAU     15.0  /* s: the noise is smooth, not white */
#define NOISE_SIGMA   2.0   /* bpm */
#define LOSS_EVERY_S  600.0 /* mean time between sensor-contact losses */
#define ENERGY_MIN_KJ 4.2   /* kJ/min at rest: the formula below is for exercise */

uint64_t hrm_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double hrm_uniform(uint64_t *state)
{
    return (double)(hrm_rand(state) >> 11) * 0x1.0p-53;
}

static double uniform_range(uint64_t *rng, double lo, double hi)
{
    return lo + (hi - lo) * hrm_uniform(rng);
}

/* Standard normal (Box-Muller; one value per call keeps the state simple). */
static double gauss(uint64_t *rng)
{
    double u1 = 1.0 - hrm_uniform(rng); /* (0, 1]: log() stays finite */
    double u2 = hrm_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static void add_segment(hrm_device *d, double duration_s, double from, double to)
{
    d->plan[d->plan_len++] = (hrm_segment){duration_s, from, to};
}

/* A new workout: a short rest, warm-up, 4-8 intervals, cool-down. */
static void plan_workout(hrm_device *d)
{
    uint64_t *rng = &d->rng;
    d->plan_len = 0;
    add_segment(d, uniform_range(rng, 60, 180), 0.03, 0.05);
    add_segment(d, uniform_range(rng, 300, 600), 0.10, 0.55);
    int intervals = 4 + (int)(hrm_rand(rng) % 5);
    for (int i = 0; i < intervals; i++) {
        double work = uniform_range(rng, 0.75, 0.93);
        double easy = uniform_range(rng, 0.40, 0.60);
        add_segment(d, uniform_range(rng, 60, 240), work, work);
        add_segment(d, uniform_range(rng, 60, 180), easy, easy);
    }
    add_segment(d, uniform_range(rng, 240, 480), 0.50, 0.08);
    d->seg = 0;
    d->seg_t = 0;
}

static void schedule_loss(hrm_device *d, double after)
{
    d->loss_start = after - LOSS_EVERY_S * log(1.0 - hrm_uniform(&d->rng));
    d->loss_end = d->loss_start + uniform_range(&d->rng, 2, 8);
}

/* Fraction of heart-rate reserve the workout asks for right now. */
static double intensity(const hrm_device *d)
{
    const hrm_segment *s = &d->plan[d->seg];
    return s->from + (s->to - s->from) * (d->seg_t / s->duration_s);
}

/* One RR interval at heart rate h: 60/h with jitter, larger at rest (heart
 * rate variability shrinks as intensity rises). */
static double draw_rr(hrm_device *d, double h)
{
    double f = clamp((h - d->rest_hr) / (d->max_hr - d->rest_hr), 0, 1);
    double sd = 0.01 + 0.03 * (1.0 - f);
    return 60.0 / h * (1.0 + clamp(sd * gauss(&d->rng), -3 * sd, 3 * sd));
}

void hrm_init(hrm_device *d, uint64_t seed, uint32_t index)
{
    memset(d, 0, sizeof *d);
    /* Mix seed and index so neighbouring devices are unrelated streams. */
    d->rng = seed ^ (0xD1B54A32D192ED03ULL * ((uint64_t)index + 1));
    hrm_rand(&d->rng);
    d->rest_hr = uniform_range(&d->rng, 55, 75);
    d->max_hr = uniform_range(&d->rng, 185, 200);
    d->energy_factor = uniform_range(&d->rng, 0.85, 1.15);
    d->battery = uniform_range(&d->rng, 70, 100);
    d->battery_drain = 1.0 / uniform_range(&d->rng, 1200, 2400);
    d->hr = d->rest_hr;
    d->beat_len = draw_rr(d, d->hr);
    d->beat_due = d->beat_len * hrm_uniform(&d->rng);
    schedule_loss(d, 0);
    plan_workout(d);
    /* Start at a random point of the first segment so devices are not in step. */
    d->seg_t = d->plan[0].duration_s * hrm_uniform(&d->rng);
}

static void advance_plan(hrm_device *d, double dt)
{
    d->seg_t += dt;
    while (d->seg_t >= d->plan[d->seg].duration_s) {
        d->seg_t -= d->plan[d->seg].duration_s;
        if (++d->seg == d->plan_len) {
            double carry = d->seg_t;
            plan_workout(d);
            d->seg_t = carry;
        }
    }
}

static int in_loss(const hrm_device *d, double t)
{
    return t >= d->loss_start && t < d->loss_end;
}

/* Record the RR interval of a detected beat, keeping the newest HRM_RR_MAX. */
static void push_rr(hrs_measurement *out, double rr_s)
{
    if (out->rr_count == HRM_RR_MAX) {
        memmove(out->rr_raw, out->rr_raw + 1, (HRM_RR_MAX - 1) * sizeof out->rr_raw[0]);
        out->rr_count--;
    }
    out->rr_raw[out->rr_count++] = (uint16_t)clamp(round(rr_s * 1024.0), 1, 65535);
}

/* Beats in (t0, t0 + dt]: the heart rate moves linearly from h0 to h1. */
static void beats(hrm_device *d, double t0, double dt, double h0, double h1, hrs_measurement *out)
{
    double elapsed = 0;
    while (d->beat_due <= dt - elapsed) {
        elapsed += d->beat_due;
        if (!in_loss(d, t0 + elapsed))
            push_rr(out, d->beat_len);
        d->beat_len = draw_rr(d, h0 + (h1 - h0) * (elapsed / dt));
        d->beat_due = d->beat_len;
    }
    d->beat_due -= dt - elapsed;
}

/* Heart rate as the strap reports it: noisy, but never below the resting
 * rate by much nor above the maximum. */
static double reported_hr(const hrm_device *d)
{
    return clamp(d->hr + d->noise, d->rest_hr - 6, d->max_hr);
}

void hrm_step(hrm_device *d, double dt, hrs_measurement *out)
{
    double t0 = d->t;
    double h0 = reported_hr(d);

    memset(out, 0, sizeof *out);
    advance_plan(d, dt);
    double target = d->rest_hr + intensity(d) * (d->max_hr - d->rest_hr);
    double tau = target > d->hr ? HR_TAU_UP : HR_TAU_DOWN;
    d->hr += (target - d->hr) * (1.0 - exp(-dt / tau));
    double a = exp(-dt / NOISE_TAU);
    d->noise = d->noise * a + NOISE_SIGMA * sqrt(1.0 - a * a) * gauss(&d->rng);
    double h1 = reported_hr(d);

    beats(d, t0, dt, h0, h1, out);
    d->t = t0 + dt;
    if (d->t >= d->loss_end)
        schedule_loss(d, d->t);

    /* Keytel et al. (2005) energy from heart rate, for a 75 kg, 35-year-old. */
    double kj_min = -55.0969 + 0.6309 * h1 + 0.1988 * 75 + 0.2017 * 35;
    d->energy_kj += fmax(kj_min, ENERGY_MIN_KJ) * d->energy_factor * dt / 60.0;
    d->battery = fmax(d->battery - d->battery_drain * dt, 1.0);

    out->hr_bpm = (uint16_t)lround(h1);
    out->contact = in_loss(d, d->t) ? 0 : 1;
    if (!out->contact)
        out->rr_count = 0; /* a strap without contact reports no beats */
    d->notifications++;
    out->energy_kj = -1;
    if (d->notifications % HRM_ENERGY_EVERY == 0)
        out->energy_kj = (int32_t)fmin(floor(d->energy_kj), 0xFFFF);
}

uint8_t hrm_battery(const hrm_device *d)
{
    return (uint8_t)clamp(ceil(d->battery), 1, 100);
}
