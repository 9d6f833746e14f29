/* hrmodel.h - a heart-rate strap wearer, simulated.
 *
 * Pure model, no I/O: a state per device and hrm_step(dt) that advances it by
 * dt seconds of simulated time and returns what a strap would notify
 * (Heart Rate Measurement 0x2A37 fields, ready for hrs_encode()).
 *
 * The wearer has a resting HR (55-75 bpm) and a maximum (185-200 bpm) and goes
 * through workouts: a short rest, a warm-up, 4-8 intervals (work / recovery),
 * a cool-down, then the next workout. The heart follows the workout's target
 * with a first-order lag (faster up than down) plus smooth Ornstein-Uhlenbeck
 * noise. Beats are simulated one by one: each RR interval is 60/HR with a few
 * percent of jitter, and a notification carries the RR intervals of the beats
 * since the previous notification (1-2 at 1 Hz, as real straps do; none when
 * no beat fell in the window, at most HRM_RR_MAX - the oldest are dropped like
 * a strap with a small ATT MTU). Sensor contact is supported and detected,
 * lost now and then for a few seconds (no RR intervals while lost). Energy
 * expended (cumulative kJ) rides on every 10th notification.
 *
 * Deterministic: the same (seed, index) gives the same sequence for the same
 * sequence of dt values. No globals, no heap.
 */
#ifndef SIM_HRMODEL_H
#define SIM_HRMODEL_H

#include <stdint.h>

#include "fitdrivers/gatt.h"

#define HRM_RR_MAX       4  /* RR intervals per notification, at most */
#define HRM_ENERGY_EVERY 10 /* energy field on every 10th notification */
#define HRM_SEGMENTS_MAX 20 /* rest + warm-up + 2 x 8 intervals + cool-down */

/* splitmix64: small, fast, good enough for a simulator. *state is the seed. */
uint64_t hrm_rand(uint64_t *state);
/* Uniform double in [0, 1). */
double hrm_uniform(uint64_t *state);

typedef struct hrm_segment {
    double duration_s;
    double from, to; /* intensity: fraction of heart-rate reserve, linear in between */
} hrm_segment;

typedef struct hrm_device {
    uint64_t rng;
    double rest_hr, max_hr; /* bpm, fixed per device */
    double t;               /* simulated seconds since hrm_init */

    hrm_segment plan[HRM_SEGMENTS_MAX]; /* the current workout */
    int plan_len;
    int seg;      /* current segment */
    double seg_t; /* seconds into it */

    double hr;                   /* heart rate without noise, bpm */
    double noise;                /* smooth noise, bpm */
    double beat_due;             /* seconds until the next beat */
    double beat_len;             /* length of the RR interval in progress, seconds */
    double loss_start, loss_end; /* next (or current) sensor-contact loss */
    double energy_kj;            /* cumulative */
    double energy_factor;        /* body size, scales the energy estimate */
    double battery;              /* percent */
    double battery_drain;        /* percent per simulated second */
    uint32_t notifications;
} hrm_device;

/* Give device `index` of a run seeded with `seed` its own physiology and first
 * workout. */
void hrm_init(hrm_device *d, uint64_t seed, uint32_t index);

/* Advance by dt seconds (0 < dt <= 60) and fill *out with the notification the
 * strap sends at the end of that time. */
void hrm_step(hrm_device *d, double dt, hrs_measurement *out);

/* Battery level in percent (1..100), slowly draining with simulated time. */
uint8_t hrm_battery(const hrm_device *d);

#endif
