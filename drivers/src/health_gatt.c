/* health_gatt.c - dispatch of the health family (see fitdrivers/health.h):
 * decode the characteristic into its struct, then map it onto a reading. */
#include "health_util.h"

static fp_status weight(const uint8_t *buf, size_t len, fp_reading *out)
{
    wss_measurement m;
    fp_status rc = wss_decode(buf, len, &m);
    return rc ? rc : wss_to_reading(&m, out);
}

static fp_status weight_feature(const uint8_t *buf, size_t len, fp_reading *out)
{
    uint32_t features;
    fp_status rc = wss_feature_decode(buf, len, &features);
    return rc ? rc : fp_reading_add(out, FP_Q_FEATURES, features);
}

static fp_status body_composition(const uint8_t *buf, size_t len, fp_reading *out)
{
    bcs_measurement m;
    fp_status rc = bcs_decode(buf, len, &m);
    return rc ? rc : bcs_to_reading(&m, out);
}

static fp_status plx_spot(const uint8_t *buf, size_t len, fp_reading *out)
{
    plx_spot_check m;
    fp_status rc = plx_spot_decode(buf, len, &m);
    return rc ? rc : plx_spot_to_reading(&m, out);
}

static fp_status plx_cont(const uint8_t *buf, size_t len, fp_reading *out)
{
    plx_continuous m;
    fp_status rc = plx_cont_decode(buf, len, &m);
    return rc ? rc : plx_cont_to_reading(&m, out);
}

static fp_status blood_pressure(const uint8_t *buf, size_t len, fp_reading *out)
{
    bps_measurement m;
    fp_status rc = bps_decode(buf, len, &m);
    return rc ? rc : bps_to_reading(&m, false, out);
}

static fp_status cuff_pressure(const uint8_t *buf, size_t len, fp_reading *out)
{
    bps_measurement m;
    fp_status rc = bps_decode(buf, len, &m);
    return rc ? rc : bps_to_reading(&m, true, out);
}

static fp_status temperature(const uint8_t *buf, size_t len, fp_reading *out)
{
    hts_measurement m;
    fp_status rc = hts_decode(buf, len, &m);
    return rc ? rc : hts_to_reading(&m, out);
}

typedef struct health_char {
    uint16_t uuid;
    fp_kind kind;
    fp_status (*decode)(const uint8_t *buf, size_t len, fp_reading *out);
} health_char;

static const health_char health_chars[] = {
    {GATT_UUID_TEMPERATURE_MEASUREMENT, FP_KIND_TEMPERATURE, temperature},
    {GATT_UUID_BLOOD_PRESSURE_MEASUREMENT, FP_KIND_BLOOD_PRESSURE, blood_pressure},
    {GATT_UUID_INTERMEDIATE_CUFF_PRESSURE, FP_KIND_BLOOD_PRESSURE, cuff_pressure},
    {GATT_UUID_PLX_SPOT_CHECK, FP_KIND_SPO2, plx_spot},
    {GATT_UUID_PLX_CONTINUOUS, FP_KIND_SPO2, plx_cont},
    {GATT_UUID_BODY_COMPOSITION, FP_KIND_BODY_COMPOSITION, body_composition},
    {GATT_UUID_WEIGHT_MEASUREMENT, FP_KIND_WEIGHT, weight},
    {GATT_UUID_WEIGHT_SCALE_FEATURE, FP_KIND_FEATURES, weight_feature},
};

fp_status health_gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
                             int64_t ts_ms, fp_reading *out)
{
    for (size_t i = 0; i < sizeof(health_chars) / sizeof(health_chars[0]); i++) {
        const health_char *c = &health_chars[i];
        if (c->uuid != uuid16)
            continue;
        fp_status rc = fp_reading_init(out, device, c->kind, ts_ms);
        if (rc == FP_OK)
            rc = c->decode(buf, len, out);
        if (rc)
            out->nvalues = 0; /* nothing half-filled for a caller that ignores rc */
        return rc;
    }
    return FP_ERR_UNKNOWN;
}
