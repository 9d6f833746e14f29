/* fitdrivers/fitness.h - fitness GATT characteristics (see docs/devices.md).
 *
 * fitness_gatt_decode() has the contract of gatt_decode() (fitdrivers/gatt.h):
 * it handles the characteristics of its family and returns FP_ERR_UNKNOWN for
 * any other uuid, so gatt_decode() can ask each family in turn.
 *
 * Every decoder here is pure (no I/O, no globals, no heap). Payloads are
 * little-endian; a length that differs from what the flags announce, short or
 * long, is FP_ERR_LENGTH; reserved flag bits or values are FP_ERR_RESERVED.
 * The only state lives in caller-held structs (csc_state, ftms_record), so
 * the caller decides how long it lives and when it is reset.
 */
#ifndef FITDRIVERS_FITNESS_H
#define FITDRIVERS_FITNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"
#include "fitproto/status.h"

#define FITNESS_UUID_RSC_MEASUREMENT   0x2A53
#define FITNESS_UUID_CSC_MEASUREMENT   0x2A5B
#define FITNESS_UUID_CPS_MEASUREMENT   0x2A63
#define FITNESS_UUID_CPS_VECTOR        0x2A64
#define FITNESS_UUID_FTMS_FEATURE      0x2ACC
#define FITNESS_UUID_TREADMILL         0x2ACD
#define FITNESS_UUID_CROSS_TRAINER     0x2ACE
#define FITNESS_UUID_STEP_CLIMBER      0x2ACF
#define FITNESS_UUID_STAIR_CLIMBER     0x2AD0
#define FITNESS_UUID_ROWER             0x2AD1
#define FITNESS_UUID_INDOOR_BIKE       0x2AD2
#define FITNESS_UUID_TRAINING_STATUS   0x2AD3
#define FITNESS_UUID_FTMS_MACHINE_STAT 0x2ADA

fp_status fitness_gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
                              int64_t ts_ms, fp_reading *out);

/* ---- Running Speed and Cadence: RSC Measurement (0x2A53) ----
 * Reading (kind running): speed m/s, cadence steps/min, stride m, distance m,
 * running 0/1 (always present: bit2 is a status, not a presence flag). */
typedef struct rsc_measurement {
    uint16_t speed_raw; /* 1/256 m/s */
    uint8_t cadence;    /* steps/min */
    bool has_stride;
    uint16_t stride_cm;
    bool has_distance;
    uint32_t distance_dm; /* total distance, 1/10 m */
    bool running;
} rsc_measurement;

fp_status rsc_decode(const uint8_t *buf, size_t len, rsc_measurement *out);

/* ---- Cycling Speed and Cadence: CSC Measurement (0x2A5B) ----
 * The stateless reading (kind cycling) carries the raw cumulative counters
 * wheel_revs and crank_revs; speed/cadence need two samples: csc_derive(). */
typedef struct csc_measurement {
    bool has_wheel;
    uint32_t wheel_revs; /* cumulative; may go down (wheel turned backwards) */
    uint16_t wheel_time; /* last wheel event, 1/1024 s, wraps at 65536 */
    bool has_crank;
    uint16_t crank_revs; /* cumulative, wraps at 65536 */
    uint16_t crank_time; /* last crank event, 1/1024 s, wraps at 65536 */
} csc_measurement;

fp_status csc_decode(const uint8_t *buf, size_t len, csc_measurement *out);

/* Samples with an unchanged event time before the value drops to 0 (the
 * coasting rule, see csc_derive()). */
#define CSC_STOP_SAMPLES 3

/* The previous sample, held by the caller: one per sensor. Zero it (or call
 * csc_state_reset()) at the start and after a reconnection, because event
 * times only wrap-around correctly across gaps shorter than 64 s. */
typedef struct csc_state {
    bool have_wheel;
    uint32_t wheel_revs;
    uint16_t wheel_time;
    uint8_t wheel_idle; /* consecutive samples with an unchanged wheel time */
    bool have_crank;
    uint16_t crank_revs;
    uint16_t crank_time;
    uint8_t crank_idle;
} csc_state;

typedef struct csc_derived {
    bool has_speed;    /* speed_mps and distance_m are valid */
    double speed_mps;  /* magnitude: a wheel turned backwards still has a speed */
    double distance_m; /* signed increment since the previous wheel event */
    bool has_cadence;
    double cadence_rpm;
} csc_derived;

void csc_state_reset(csc_state *st);

/* Derive speed, distance increment and cadence from m and the previous sample
 * in *st, then store m in *st. Rules:
 *  - first sample of a counter: nothing derived (has_* false), state stored;
 *  - event time delta is taken modulo 65536 (1/1024 s), the wheel count delta
 *    as a signed 32-bit difference, the crank delta modulo 65536;
 *  - a zero time delta means no new event: nothing derived and the state is
 *    kept, except that the CSC_STOP_SAMPLES-th (and every later) consecutive
 *    sample with the same event time and count yields 0 (speed 0 m/s with
 *    distance 0, or cadence 0 rpm): the rider has stopped or is coasting. At
 *    1 Hz notifications that is 3 s without a revolution (< 0.7 m/s on a
 *    2.1 m wheel, < 20 rpm);
 *  - a zero time delta with a changed count is a sensor glitch: ignored.
 * FP_ERR_RANGE when the circumference is not finite or outside (0, 10] m. */
fp_status csc_derive(csc_state *st, const csc_measurement *m, double wheel_circumference_m,
                     csc_derived *out);

/* ---- Cycling Power Measurement (0x2A63), CPS 1.1 ----
 * flags tells which fields are present (CPS_F_*). Reading (kind
 * cycling_power): power W; torque N*m (accumulated); wheel_revs; crank_revs;
 * energy J; status = the indicator bits of flags (CPS_F_STATUS_MASK) when any
 * is set. Pedal balance, event times, extreme values and dead-spot angles are
 * decoded here but have no quantity in the reading model. */
#define CPS_F_BALANCE          0x0001 /* pedal power balance present */
#define CPS_F_BALANCE_LEFT     0x0002 /* indicator: balance refers to the left pedal */
#define CPS_F_TORQUE           0x0004 /* accumulated torque present */
#define CPS_F_TORQUE_CRANK     0x0008 /* indicator: torque source is the crank */
#define CPS_F_WHEEL            0x0010 /* wheel revolution data present */
#define CPS_F_CRANK            0x0020 /* crank revolution data present */
#define CPS_F_EXTREME_FORCE    0x0040 /* extreme force magnitudes present */
#define CPS_F_EXTREME_TORQUE   0x0080 /* extreme torque magnitudes present */
#define CPS_F_EXTREME_ANGLES   0x0100 /* extreme angles present */
#define CPS_F_TOP_DEAD_SPOT    0x0200 /* top dead spot angle present */
#define CPS_F_BOTTOM_DEAD_SPOT 0x0400 /* bottom dead spot angle present */
#define CPS_F_ENERGY           0x0800 /* accumulated energy present */
#define CPS_F_OFFSET_COMP      0x1000 /* indicator: offset compensation needed */
#define CPS_F_RESERVED         0xE000
#define CPS_F_STATUS_MASK      (CPS_F_BALANCE_LEFT | CPS_F_TORQUE_CRANK | CPS_F_OFFSET_COMP)

typedef struct cps_measurement {
    uint16_t flags;
    int16_t power_w;
    uint8_t balance_raw; /* 1/2 percent */
    uint16_t torque_raw; /* accumulated, 1/32 N*m */
    uint32_t wheel_revs; /* cumulative */
    uint16_t wheel_time; /* 1/2048 s (not 1/1024 as in CSC) */
    uint16_t crank_revs; /* cumulative */
    uint16_t crank_time; /* 1/1024 s */
    int16_t max_force_n; /* extreme force magnitudes, N */
    int16_t min_force_n;
    int16_t max_torque_raw; /* extreme torque magnitudes, 1/32 N*m */
    int16_t min_torque_raw;
    uint16_t max_angle_deg; /* 12 bits each, packed into 3 bytes */
    uint16_t min_angle_deg;
    uint16_t top_dead_spot_deg;
    uint16_t bottom_dead_spot_deg;
    uint16_t energy_kj; /* accumulated */
} cps_measurement;

fp_status cps_decode(const uint8_t *buf, size_t len, cps_measurement *out);

/* Cycling Power Vector (0x2A64): flags u8 | crank revs u16 + time u16 (bit0) |
 * first crank angle u16 (bit1) | force (bit2) or torque (bit3) magnitude array
 * of sint16 taking the rest. Both arrays at once cannot be split: RESERVED.
 * Reading: crank_revs when present; without it nothing to store (RANGE). */
typedef struct cps_vector {
    uint8_t flags;
    uint16_t crank_revs;
    uint16_t crank_time; /* 1/1024 s */
    uint16_t first_angle_deg;
    uint8_t n_magnitudes; /* sint16 items in the array (force N or torque 1/32 N*m) */
} cps_vector;

fp_status cps_vector_decode(const uint8_t *buf, size_t len, cps_vector *out);

/* ---- Fitness Machine Service 1.0 ----
 * Data characteristics 0x2ACD..0x2AD2: flag bit 0 is "More Data", inverted: 0
 * means the first field (speed; rower stroke rate + count; step climber floors
 * + step count; stair climber floors) is present, 1 means it is absent and the
 * record continues in the next notification.
 * Units: speed 0.01 km/h -> m/s; distance uint24 m; elevation m; incline 0.1 %;
 * ramp angle 0.1 deg; resistance sint16 0.1 (FTMS 1.0 data characteristics);
 * power W; cadence (bike, rower 0.5/min; steppers 1/min); energy kcal -> J;
 * energy_rate: per-minute (kcal/min -> W) when present, else per-hour
 * (kcal/h -> W); MET 0.1; elapsed/remaining s; treadmill pace is FTMS 1.0
 * uint8 in 0.1 km/min, rower pace uint16 s per 500 m, both turned into s/m
 * (pace 0 = not moving: omitted). "No data": 0x7FFF in any sint16 field, 0xFFFF
 * total energy and energy/hour, 0xFF energy/minute, heart rate 0: omitted.
 * Fields with no quantity (treadmill force on belt, stride counts, cross
 * trainer movement direction) are decoded for the length check only. */

/* The reading kind of an FTMS data characteristic; 0 for any other uuid. */
fp_kind ftms_kind(uint16_t uuid16);

/* Decode one data notification: append its present values to r (initialised
 * by the caller with ftms_kind(uuid16)) and tell whether "More Data" was set.
 * Zero values is FP_OK here (a More Data notification may carry only sentinels);
 * the caller decides whether that is worth storing. */
fp_status ftms_data_decode(uint16_t uuid16, const uint8_t *buf, size_t len, fp_reading *r,
                           bool *more_data);

/* Merges a record split over several notifications (FTMS 1.0 section 4: all
 * but the last carry More Data = 1). One per (device, characteristic). Flush
 * rule: a notification with More Data = 0 completes the record (its reading is
 * stamped with that notification's time); a notification that repeats a value
 * already pending, or comes from another characteristic, first flushes the
 * pending part as a record of its own (the closing notification was lost);
 * ftms_record_flush() hands out what is pending (call it on disconnect or when
 * no notification came for a while). A record with no value is not returned. */
#define FTMS_RECORD_OUT_MAX 2

typedef struct ftms_record {
    uint16_t uuid; /* characteristic of the pending part */
    bool pending;  /* r holds a started record */
    fp_reading r;
} ftms_record;

void ftms_record_init(ftms_record *rec);

/* Feed one notification. On FP_OK, *nout (0..FTMS_RECORD_OUT_MAX) complete
 * readings are in out[0..*nout). On error the notification is dropped and
 * the pending part is left as it was. */
fp_status ftms_record_feed(ftms_record *rec, uint16_t uuid16, const uint8_t *buf, size_t len,
                           const char *device, int64_t ts_ms, fp_reading out[FTMS_RECORD_OUT_MAX],
                           size_t *nout);

/* true when a pending part with at least one value was written to *out;
 * the record is empty afterwards either way. */
bool ftms_record_flush(ftms_record *rec, fp_reading *out);

/* Fitness Machine Feature (0x2ACC): exactly 8 bytes, bits 17..31 of either
 * word are reserved in FTMS 1.0. Reading (kind features). */
fp_status ftms_feature_decode(const uint8_t *buf, size_t len, uint32_t *features,
                              uint32_t *targets);

/* Training Status (0x2AD3): flags u8 (bit0 string, bit1 extended string) |
 * status u8 (0x00..0x0F) | UTF-8 string (ignored; only with a string flag).
 * Reading (kind machine_status): type = status code. */
fp_status ftms_training_status_decode(const uint8_t *buf, size_t len, uint8_t *status);

/* Fitness Machine Status (0x2ADA): op code u8 + its parameter, whose length is
 * checked per op code (0x01..0x15, 0xFF); other op codes are RESERVED.
 * Reading (kind machine_status): status = op code. */
fp_status ftms_machine_status_decode(const uint8_t *buf, size_t len, uint8_t *op_code);

#endif
