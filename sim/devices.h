/* devices.h - every device kind fitgate-sim can play.
 *
 * Pure model, no I/O, no globals, no heap. A device wraps the heart-rate
 * wearer of hrmodel.h (its workout curve drives every kind: the fraction of
 * heart-rate reserve becomes speed, power, cadence...) and encodes the
 * notification its real counterpart sends, as little-endian bytes per the
 * GATT/FTMS/CPS/CSCS/RSCS/WSS/BLS/PLXS/HTS specs:
 *
 *   hr             0x2A37 Heart Rate Measurement (hrs_encode(), as before)
 *   bike           0x2AD2 Indoor Bike Data: speed, cadence, distance, power,
 *                         energy, hr, elapsed (More Data bit 0 clear)
 *   treadmill      0x2ACD Treadmill Data: speed, distance, incline + ramp
 *                         angle, hr, elapsed
 *   rower          0x2AD1 Rower Data: stroke rate + count, distance, pace,
 *                         power, hr, elapsed
 *   cross_trainer  0x2ACE Cross Trainer Data: speed, distance, step rate,
 *                         power, hr, elapsed
 *   csc            0x2A5B CSC Measurement: cumulative wheel and crank revs
 *                         with last-event times (1/1024 s, 16-bit wrap)
 *   rsc            0x2A53 RSC Measurement: speed, cadence, stride, distance
 *   power          0x2A63 Cycling Power Measurement: power, wheel and crank
 *                         revolution data, accumulated energy
 *   scale          0x2A9D Weight Measurement: a weighing every 20-40 s
 *   bp             0x2A35 Blood Pressure Measurement (mmHg, pulse, user),
 *                         a measurement every 30-60 s
 *   spo2           0x2A5F PLX Continuous Measurement: SpO2, pulse, perfusion
 *   thermo         0x2A1C Temperature Measurement (Celsius, body site)
 *
 * Deterministic: the same (kind, seed, index) gives the same bytes for the
 * same sequence of dt values.
 */
#ifndef SIM_DEVICES_H
#define SIM_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "hrmodel.h"

typedef enum simd_kind {
    SIMD_HR = 0,
    SIMD_BIKE,
    SIMD_TREADMILL,
    SIMD_ROWER,
    SIMD_CROSS_TRAINER,
    SIMD_CSC,
    SIMD_RSC,
    SIMD_POWER,
    SIMD_SCALE,
    SIMD_BP,
    SIMD_SPO2,
    SIMD_THERMO,
    SIMD__COUNT,
    SIMD_MIXED = SIMD__COUNT /* option value only: device i plays kind i mod SIMD__COUNT */
} simd_kind;

#define SIMD_NOTIFY_MAX 64 /* bytes: the longest notification any kind sends */

typedef struct simd_device {
    simd_kind kind;
    hrm_device hr; /* the wearer: workout curve, heart rate, battery */
    uint64_t rng;
    double t;       /* simulated seconds since simd_init */
    double fitness; /* 0.7..1.3, scales power and speed */

    double distance_m;
    double energy_kcal; /* metabolic, for FTMS total energy */
    double work_j;      /* mechanical, for CPS accumulated energy */
    double strokes;     /* rower strokes / cross-trainer steps */
    double incline_pct;

    /* CSC / CPS revolution counters: continuous position and last event. */
    double wheel_pos, crank_pos;     /* revolutions */
    double wheel_event, crank_event; /* simulated s of the last whole revolution */
    double clock_offset;             /* s added to event times, so wraps come early */

    double next_measure; /* scale / bp: simulated s of the next measurement */
    double weight_kg, height_m;
    double sys_base, dia_base;
} simd_device;

/* "hr", "bike", ...; "mixed" for SIMD_MIXED; NULL otherwise. */
const char *simd_kind_name(simd_kind k);
/* 0 and *out set, or -1 for an unknown name (accepts "mixed"). */
int simd_kind_parse(const char *name, simd_kind *out);
/* The kind device `index` plays when the run's kind is `k` (resolves mixed). */
simd_kind simd_kind_of(simd_kind k, uint32_t index);
/* The characteristic the kind notifies on. */
uint16_t simd_uuid(simd_kind k);

/* k must be a concrete kind (not SIMD_MIXED). */
void simd_init(simd_device *d, simd_kind k, uint64_t seed, uint32_t index);

/* Advance by dt seconds (0 < dt <= 60) and write the notification the device
 * sends at the end of that time into buf. Returns its length, or 0 when the
 * device sends nothing this time (a scale or cuff between measurements) or
 * cap (>= SIMD_NOTIFY_MAX is always enough) is too small. */
size_t simd_step(simd_device *d, double dt, uint8_t *buf, size_t cap);

/* Battery level in percent (1..100). */
uint8_t simd_battery(const simd_device *d);

#endif
