/* workout.h - readings become workouts: sessions and metrics (pure, no I/O).
 *
 * The progress projection (cloud/progress) keeps samples and session spans in
 * SQLite; this library decides which session a sample belongs to and what a
 * session's metrics are. Everything here is a function of its arguments, so a
 * replay of the same readings gives the same workouts (docs/workouts.md).
 *
 * Sessions (per user, all of the user's devices merged):
 *   - a sample joins the session whose span [start - idle, end + idle]
 *     contains its time; a sample that touches two sessions bridges them
 *     (they merge); otherwise it starts a new session;
 *   - a session stopped explicitly accepts only samples up to its end;
 *   - a reading stamped more than max_skew after the event's ingest time is
 *     clamped to the ingest time and flagged (gateway clock ahead).
 *
 * Ownership: no heap. wo_metrics_compute sorts the caller's array in place.
 */
#ifndef FITGATE_WORKOUT_H
#define FITGATE_WORKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"

#define WO_RR_MAX 8 /* RR intervals kept per sample (a 1 Hz strap sends 1-3) */

/* Which fields of a sample are present. */
enum {
    WO_HR = 1u << 0,
    WO_SPEED = 1u << 1,
    WO_CADENCE = 1u << 2,
    WO_POWER = 1u << 3,
    WO_INCLINE = 1u << 4,
    WO_ENERGY = 1u << 5,   /* cumulative, J */
    WO_DISTANCE = 1u << 6, /* cumulative, m */
    WO_STROKES = 1u << 7,  /* cumulative count */
    WO_CRANK = 1u << 8,    /* cumulative crank revolutions */
    WO_SKEWED = 1u << 15,  /* ts clamped: gateway clock ahead of the cloud */
};

/* The part of a reading that workouts use. Plain data (memcpy-safe). */
typedef struct wo_sample {
    int64_t ts_ms;
    uint32_t mask;
    uint32_t dev; /* device number within the session (cumulative counters are per device) */
    double hr;    /* 1/min */
    double speed; /* m/s */
    double cadence;
    double power; /* W */
    double incline;
    double energy_j, distance_m, strokes, crank;
    uint8_t nrr;
    double rr[WO_RR_MAX]; /* s */
} wo_sample;

/* Extract a sample; false when the reading has nothing a workout uses
 * (battery, weight, ...). dev is left 0. */
bool wo_sample_from_reading(const fp_reading *r, wo_sample *out);

/* A stable byte encoding of a sample without its time (the time is stored
 * beside it): version 1, mask, device number, then only the present values
 * as little-endian IEEE-754 doubles. At most WO_PACK_MAX bytes. Returns the
 * length (0 when cap is too small). */
#define WO_PACK_MAX (7 + 9 * 8 + WO_RR_MAX * 8)
size_t wo_sample_pack(const wo_sample *s, uint8_t *buf, size_t cap);
/* Decode what wo_sample_pack wrote; false for another version, a truncated
 * or oversized buffer. */
bool wo_sample_unpack(const uint8_t *buf, size_t len, int64_t ts_ms, wo_sample *out);

/* Gateway clock skew. ingest_ms is when the cloud received the batch (the
 * event's time). Returns the time to use; sets *skewed when ts was more than
 * max_skew_ms ahead of ingest_ms (then the result is ingest_ms). */
int64_t wo_skew_clamp(int64_t ts_ms, int64_t ingest_ms, int64_t max_skew_ms, bool *skewed);

/* ---- sessions ---- */

typedef struct wo_span {
    int64_t start_ms, end_ms;
    bool stopped; /* ended by an explicit stop: accepts nothing after end_ms */
} wo_span;

typedef enum wo_pick_kind { WO_PICK_NEW = 0, WO_PICK_JOIN, WO_PICK_BRIDGE } wo_pick_kind;

typedef struct wo_pick {
    wo_pick_kind kind;
    size_t a, b; /* JOIN: a; BRIDGE: a and b (a < b, b merges into a) */
} wo_pick;

/* Where a sample at ts goes among a user's spans (sorted by start, not
 * overlapping). */
wo_pick wo_session_pick(const wo_span *spans, size_t n, int64_t ts_ms, int64_t idle_ms);

/* True when an open span is over: the user's newest sample time (watermark)
 * or the wall clock (now_ms, compared with last_arrival_ms) passed idle. */
bool wo_session_idle(const wo_span *s, int64_t watermark_ms, int64_t last_arrival_ms,
                     int64_t now_ms, int64_t idle_ms);

/* ---- metrics ---- */

typedef enum wo_sex { WO_SEX_UNKNOWN = 0, WO_SEX_MALE, WO_SEX_FEMALE } wo_sex;

typedef struct wo_profile {
    double max_hr;    /* 0: from age (Tanaka), else WO_DEFAULT_MAX_HR */
    double rest_hr;   /* 0: WO_DEFAULT_REST_HR */
    double age_years; /* 0: unknown (WO_DEFAULT_AGE for energy) */
    double weight_kg; /* 0: WO_DEFAULT_WEIGHT_KG */
    wo_sex sex;
} wo_profile;

#define WO_DEFAULT_MAX_HR    190.0
#define WO_DEFAULT_REST_HR   60.0
#define WO_DEFAULT_AGE       35.0
#define WO_DEFAULT_WEIGHT_KG 75.0
#define WO_GAP_MAX_MS        10000 /* a sample holds at most this long (longer = pause) */
#define WO_MOVING_SPEED      0.3   /* m/s: slower is standing */

typedef enum wo_source {
    WO_SRC_NONE = 0,
    WO_SRC_DEVICE,
    WO_SRC_PROFILE,
    WO_SRC_FORMULA,
    WO_SRC_DEFAULT
} wo_source;

typedef struct wo_metrics {
    int64_t start_ms, end_ms;
    double duration_s, moving_s;
    size_t samples;
    size_t skewed; /* samples clamped for clock skew */
    /* heart rate */
    size_t hr_samples;
    double avg_hr, max_hr;
    double hr_max_used;      /* the max HR the zones use */
    wo_source hr_max_source; /* PROFILE, FORMULA (Tanaka) or DEFAULT */
    double zone_s[6];        /* [0] below 50 %; [1..5] zones 50-60-70-80-90-100+ % */
    double trimp;            /* Banister, minutes-weighted */
    /* energy */
    double energy_j;
    wo_source energy_source; /* DEVICE, FORMULA (Keytel 2005) or NONE */
    /* movement (has_* false when no device gave it) */
    bool has_distance, has_speed, has_cadence, has_power, has_incline, has_strokes;
    double distance_m, avg_speed, max_speed, pace_s_per_km;
    double avg_cadence, max_cadence;
    double avg_power, max_power;
    double avg_incline, max_incline;
    double strokes;
    /* heart-rate variability */
    size_t rr_count;
    double rmssd_ms; /* 0 when fewer than 2 usable RR intervals */
} wo_metrics;

/* Max HR for the zones: the profile's, else Tanaka 208 - 0.7 * age, else
 * WO_DEFAULT_MAX_HR. */
double wo_max_hr(const wo_profile *p, wo_source *src);
/* Zone of a heart rate: 0 below 50 % of max, 1..5 for [50,60) .. [90,inf) %. */
int wo_hr_zone(double hr, double max_hr);
/* Keytel et al. 2005, energy expenditure in kJ/min without VO2max (>= 0). */
double wo_keytel_kj_per_min(double hr, double weight_kg, double age, wo_sex sex);
/* Banister TRIMP of dt_min minutes at hr. */
double wo_trimp(double dt_min, double hr, double rest_hr, double max_hr, wo_sex sex);
/* Increase of a cumulative counter from prev to cur: wraps modulo `modulus`
 * (0 = never wraps) when the drop is larger than half of it, else a drop is a
 * device reset and counts cur. */
double wo_counter_delta(double prev, double cur, double modulus);
/* RMSSD in ms over RR intervals (s), skipping intervals outside 0.27..2 s. */
double wo_rmssd_ms(const double *rr, size_t n, size_t *used);

/* Metrics of one session's samples (sorted here by time, then device). */
void wo_metrics_compute(const wo_profile *p, wo_sample *s, size_t n, wo_metrics *out);

const char *wo_source_name(wo_source s);

#endif
