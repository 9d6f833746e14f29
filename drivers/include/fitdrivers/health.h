/* fitdrivers/health.h - health GATT characteristics (see docs/devices.md).
 *
 * health_gatt_decode() has the contract of gatt_decode() (fitdrivers/gatt.h):
 * it handles the characteristics of its family and returns FP_ERR_UNKNOWN for
 * any other uuid, so gatt_decode() can ask each family in turn.
 *
 * Each characteristic has two steps, both public so advertisement decoders
 * (SIG service data 0x181D/0x181B carries the same layouts) can reuse them:
 *   <prefix>_decode()     bytes -> struct with the fields as on the wire
 *                         (raw integers, raw SFLOAT/FLOAT, flags kept);
 *   <prefix>_to_reading() struct -> SI values appended to a reading that
 *                         fp_reading_init() prepared with the right kind.
 * Decoders check that the length is exactly what the flags announce
 * (FP_ERR_LENGTH), reject reserved flag bits and reserved values
 * (FP_ERR_RESERVED) and impossible dates (FP_ERR_RANGE). "No data" values
 * (IEEE-11073 NaN/NRes/INF, weight 0xFFFF, user 0xFF, unknown date parts) are
 * omitted from the reading, not errors. A reading left without any measured
 * value (only user/time/status/type) is FP_ERR_RANGE: nothing to store.
 *
 * Pure functions: no I/O, no globals, no heap. Structs are plain data.
 */
#ifndef FITDRIVERS_HEALTH_H
#define FITDRIVERS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"
#include "fitproto/status.h"

#define GATT_UUID_TEMPERATURE_MEASUREMENT    0x2A1C
#define GATT_UUID_BLOOD_PRESSURE_MEASUREMENT 0x2A35
#define GATT_UUID_INTERMEDIATE_CUFF_PRESSURE 0x2A36
#define GATT_UUID_PLX_SPOT_CHECK             0x2A5E
#define GATT_UUID_PLX_CONTINUOUS             0x2A5F
#define GATT_UUID_BODY_COMPOSITION           0x2A9C
#define GATT_UUID_WEIGHT_MEASUREMENT         0x2A9D
#define GATT_UUID_WEIGHT_SCALE_FEATURE       0x2A9E

fp_status health_gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
                             int64_t ts_ms, fp_reading *out);

/* ---- Date Time (GATT 0x2A08 layout, 7 bytes, embedded in measurements) ----
 * year u16 (1582..9999, 0 = unknown) | month 1..12 (0 = unknown) | day 1..31
 * (0 = unknown) | hours 0..23 | minutes 0..59 | seconds 0..59. */
#define GATT_DATETIME_LEN 7
typedef struct gatt_datetime {
    uint16_t year;
    uint8_t month, day, hours, minutes, seconds;
} gatt_datetime;

/* FP_ERR_LENGTH unless len == 7; FP_ERR_RANGE for a value the spec does not
 * allow (month 13, hour 24, 30 February, year 1000). */
fp_status gatt_datetime_decode(const uint8_t *buf, size_t len, gatt_datetime *out);
/* Writes 7 bytes (no checks: tests and simulators may write bad dates). */
void gatt_datetime_encode(const gatt_datetime *dt, uint8_t *buf);
/* Seconds since the Unix epoch, the fields read as UTC. false when a part is
 * unknown (year, month or day 0) or the date is invalid. */
bool gatt_datetime_unix(const gatt_datetime *dt, int64_t *unix_s);

/* ---- Weight Measurement 0x2A9D and Weight Scale Feature 0x2A9E (WSS 1.0) ---- */
#define WSS_F_IMPERIAL      0x01 /* weight 0.01 lb, height 0.1 in (else 0.005 kg, 0.001 m) */
#define WSS_F_TIME          0x02
#define WSS_F_USER          0x04
#define WSS_F_BMI_HEIGHT    0x08
#define WSS_F_RESERVED      0xF0
#define WSS_WEIGHT_FAILED   0xFFFF /* "measurement unsuccessful" */
#define HEALTH_USER_UNKNOWN 0xFF   /* user id 0xFF = unknown user (WSS, BCS, BLS) */

typedef struct wss_measurement {
    uint8_t flags;
    uint16_t weight; /* 0.005 kg or 0.01 lb */
    gatt_datetime time;
    uint8_t user;
    uint16_t bmi;    /* 0.1 kg/m2 */
    uint16_t height; /* 0.001 m or 0.1 in */
} wss_measurement;

fp_status wss_decode(const uint8_t *buf, size_t len, wss_measurement *out);
fp_status wss_to_reading(const wss_measurement *m, fp_reading *out); /* kind weight */
/* uint32 feature bits; RFU bits and RFU resolution codes -> FP_ERR_RESERVED. */
fp_status wss_feature_decode(const uint8_t *buf, size_t len, uint32_t *features);

/* ---- Body Composition Measurement 0x2A9C (BCS 1.0), 16-bit flags ---- */
#define BCS_F_IMPERIAL      0x0001
#define BCS_F_TIME          0x0002
#define BCS_F_USER          0x0004
#define BCS_F_BASAL         0x0008
#define BCS_F_MUSCLE_PCT    0x0010
#define BCS_F_MUSCLE_MASS   0x0020
#define BCS_F_FAT_FREE      0x0040
#define BCS_F_SOFT_LEAN     0x0080
#define BCS_F_WATER         0x0100
#define BCS_F_IMPEDANCE     0x0200
#define BCS_F_WEIGHT        0x0400
#define BCS_F_HEIGHT        0x0800
#define BCS_F_MULTI_PACKET  0x1000 /* one of two notifications of one measurement */
#define BCS_F_RESERVED      0xE000
#define BCS_BODY_FAT_FAILED 0xFFFF /* "measurement unsuccessful" */

typedef struct bcs_measurement {
    uint16_t flags;
    uint16_t body_fat; /* 0.1 %, always present */
    gatt_datetime time;
    uint8_t user;
    uint16_t basal;      /* kJ */
    uint16_t muscle_pct; /* 0.1 % */
    /* Masses: 0.005 kg or 0.01 lb (BCS_F_IMPERIAL). */
    uint16_t muscle_mass, fat_free_mass, soft_lean_mass, body_water;
    uint16_t impedance; /* 0.1 ohm */
    uint16_t weight;    /* mass unit */
    uint16_t height;    /* 0.001 m or 0.1 in */
} bcs_measurement;

/* A multiple-packet measurement arrives as two notifications, each complete
 * with its own flags; each becomes its own reading (BCS_F_MULTI_PACKET is kept
 * in the struct, the reading does not carry it). */
fp_status bcs_decode(const uint8_t *buf, size_t len, bcs_measurement *out);
fp_status bcs_to_reading(const bcs_measurement *m, fp_reading *out); /* kind body_composition */

/* ---- PLX Spot-check 0x2A5E and Continuous 0x2A5F (PLXS 1.0) ----
 * SpO2, pulse rate and pulse amplitude index are raw SFLOATs (%, 1/min, %).
 * Measurement status u16 (bits 0-4 RFU); device and sensor status u24
 * (bits 16-23 RFU). The reading's "status" packs both: measurement status in
 * bits 0-15, device and sensor status in bits 16-31. */
#define PLX_SPOT_F_TIME        0x01
#define PLX_SPOT_F_MEAS_STATUS 0x02
#define PLX_SPOT_F_DEV_STATUS  0x04
#define PLX_SPOT_F_PAI         0x08
#define PLX_SPOT_F_CLOCK_UNSET 0x10 /* the timestamp is not a real time: dropped */
#define PLX_SPOT_F_RESERVED    0xE0

#define PLX_CONT_F_FAST        0x01
#define PLX_CONT_F_SLOW        0x02
#define PLX_CONT_F_MEAS_STATUS 0x04
#define PLX_CONT_F_DEV_STATUS  0x08
#define PLX_CONT_F_PAI         0x10
#define PLX_CONT_F_RESERVED    0xE0

#define PLX_MEAS_STATUS_RESERVED 0x001Fu
#define PLX_DEV_STATUS_RESERVED  0xFF0000u

typedef struct plx_spot_check {
    uint8_t flags;
    uint16_t spo2, pr; /* SFLOAT */
    gatt_datetime time;
    uint16_t meas_status;
    uint32_t dev_status; /* 24 bits */
    uint16_t pai;        /* SFLOAT */
} plx_spot_check;

typedef struct plx_continuous {
    uint8_t flags;
    uint16_t spo2, pr;           /* SpO2PR-Normal, SFLOAT */
    uint16_t fast_spo2, fast_pr; /* SpO2PR-Fast */
    uint16_t slow_spo2, slow_pr; /* SpO2PR-Slow */
    uint16_t meas_status;
    uint32_t dev_status;
    uint16_t pai;
} plx_continuous;

fp_status plx_spot_decode(const uint8_t *buf, size_t len, plx_spot_check *out);
fp_status plx_spot_to_reading(const plx_spot_check *m, fp_reading *out); /* kind spo2 */
fp_status plx_cont_decode(const uint8_t *buf, size_t len, plx_continuous *out);
/* The reading carries SpO2PR-Normal; Fast and Slow stay in the struct. */
fp_status plx_cont_to_reading(const plx_continuous *m, fp_reading *out);

/* ---- Blood Pressure Measurement 0x2A35 and Intermediate Cuff Pressure
 * 0x2A36 (BLS 1.0), same layout. Pressures are raw SFLOATs in mmHg or kPa;
 * in 0x2A36 the first is the current cuff pressure and the other two are
 * unused (NaN by spec; ignored). Status bits 0-5 defined, pulse-rate-range
 * value 3 (bits 3-4) and bits 6-15 RFU. */
#define BPS_F_KPA           0x01
#define BPS_F_TIME          0x02
#define BPS_F_PULSE         0x04
#define BPS_F_USER          0x08
#define BPS_F_STATUS        0x10
#define BPS_F_RESERVED      0xE0
#define BPS_STATUS_RESERVED 0xFFC0u

typedef struct bps_measurement {
    uint8_t flags;
    uint16_t systolic, diastolic, map; /* SFLOAT; systolic = cuff pressure in 0x2A36 */
    gatt_datetime time;
    uint16_t pulse; /* SFLOAT, 1/min */
    uint8_t user;
    uint16_t status;
} bps_measurement;

fp_status bps_decode(const uint8_t *buf, size_t len, bps_measurement *out);
/* kind blood_pressure; cuff = true for 0x2A36 (cuff pressure -> mean_pressure). */
fp_status bps_to_reading(const bps_measurement *m, bool cuff, fp_reading *out);

/* ---- Temperature Measurement 0x2A1C (HTS 1.0) ---- */
#define HTS_F_FAHRENHEIT 0x01
#define HTS_F_TIME       0x02
#define HTS_F_TYPE       0x04
#define HTS_F_RESERVED   0xF8

typedef struct hts_measurement {
    uint8_t flags;
    uint32_t temperature; /* FLOAT, Celsius or Fahrenheit */
    gatt_datetime time;
    uint8_t type; /* 1 armpit .. 9 tympanum; 0 and 10..255 RFU */
} hts_measurement;

fp_status hts_decode(const uint8_t *buf, size_t len, hts_measurement *out);
fp_status hts_to_reading(const hts_measurement *m, fp_reading *out); /* kind temperature */

#endif
