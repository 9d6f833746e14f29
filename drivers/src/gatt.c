/* gatt.c - map decoded GATT characteristics onto readings.
 *
 * Units: heart rate stays in beats/min, RR intervals go from 1/1024 s to s,
 * energy from kJ to J (0xFFFF is "saturated", not "absent": it becomes
 * 65535000 J like any other value). A heart rate of 0 is legal on the air
 * (straps send it while they settle) but is not a measurement, so the hr value
 * is left out. Such a notification still yields a reading when it carries RR
 * intervals (energy and contact ride along); without RR it says nothing worth
 * storing and is FP_ERR_RANGE.
 */
#include "fitdrivers/gatt.h"
#include "fitdrivers/fitness.h"
#include "fitdrivers/health.h"

/* Adds n >= 1 RR intervals (raw 1/1024 s). The first goes through
 * fp_reading_add(), which also checks that the kind takes RR at all. The rest
 * get the same range check against the same table row and are appended
 * directly: RR is repeatable, so there is no duplicate to look for, and the
 * full per-value check on the values a strap sends most of was a large part
 * of a heart-rate decode. Should RR ever stop being repeatable, every value
 * takes the full path again. */
static fp_status rr_add(fp_reading *out, const uint16_t *raw, int n)
{
    fp_status rc = fp_reading_add(out, FP_Q_RR_INTERVAL, raw[0] / 1024.0);
    if (rc)
        return rc;
    if (n == 1)
        return FP_OK;
    const fp_quantity_info *qi = fp_quantity_get(FP_Q_RR_INTERVAL);
    for (int i = 1; i < n; i++) {
        double v = raw[i] / 1024.0; /* >= +0.0: never -0.0 */
        if (!qi->repeatable) {
            rc = fp_reading_add(out, FP_Q_RR_INTERVAL, v);
            if (rc)
                return rc;
            continue;
        }
        if (!(v >= qi->min && v <= qi->max))
            return FP_ERR_RANGE;
        if (out->nvalues >= FP_VALUES_MAX)
            return FP_ERR_LIMIT;
        out->values[out->nvalues].q = FP_Q_RR_INTERVAL;
        out->values[out->nvalues].v = v;
        out->nvalues++;
    }
    return FP_OK;
}

static fp_status heart_rate_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    hrs_measurement m;
    fp_status rc = hrs_decode(buf, len, &m);
    if (rc)
        return rc;
    if (m.hr_bpm == 0 && m.rr_count == 0)
        return FP_ERR_RANGE;
    if (m.hr_bpm != 0 && (rc = fp_reading_add(out, FP_Q_HEART_RATE, m.hr_bpm)))
        return rc;
    if (m.rr_count > 0 && (rc = rr_add(out, m.rr_raw, m.rr_count)))
        return rc;
    /* Energy and contact come at most once each, after values of other
     * quantities, into a reading whose kind takes them: the duplicate scan and
     * the kind check of fp_reading_add() cannot fail here, only the range
     * check can (contact is 0 or 1 by construction of hrs_decode()). */
    if (m.energy_kj >= 0) {
        const fp_quantity_info *qi = fp_quantity_get(FP_Q_ENERGY);
        double v = m.energy_kj * 1000.0;
        if (!(v >= qi->min && v <= qi->max))
            return FP_ERR_RANGE;
        if (out->nvalues >= FP_VALUES_MAX)
            return FP_ERR_LIMIT;
        out->values[out->nvalues++] = (fp_value){FP_Q_ENERGY, v};
    }
    if (m.contact >= 0) {
        if (out->nvalues >= FP_VALUES_MAX)
            return FP_ERR_LIMIT;
        out->values[out->nvalues++] = (fp_value){FP_Q_SENSOR_CONTACT, (double)m.contact};
    }
    return FP_OK;
}

static fp_status battery_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    uint8_t pct;
    fp_status rc = battery_decode(buf, len, &pct);
    if (rc)
        return rc;
    return fp_reading_add(out, FP_Q_BATTERY, pct);
}

fp_status gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
                      int64_t ts_ms, fp_reading *out)
{
    fp_kind kind;
    switch (uuid16) {
    case GATT_UUID_HEART_RATE_MEASUREMENT:
        kind = FP_KIND_HEART_RATE;
        break;
    case GATT_UUID_BATTERY_LEVEL:
        kind = FP_KIND_BATTERY;
        break;
    default: {
        /* Each family knows its own characteristics. */
        fp_status rc = fitness_gatt_decode(uuid16, buf, len, device, ts_ms, out);
        if (rc == FP_ERR_UNKNOWN)
            rc = health_gatt_decode(uuid16, buf, len, device, ts_ms, out);
        if (rc != FP_OK)
            out->nvalues = 0;
        return rc;
    }
    }
    fp_status rc = fp_reading_init(out, device, kind, ts_ms);
    if (rc == FP_OK)
        rc = kind == FP_KIND_HEART_RATE ? heart_rate_reading(buf, len, out)
                                        : battery_reading(buf, len, out);
    if (rc) {
        /* Leave nothing half-filled behind for a caller that ignores rc. */
        out->nvalues = 0;
    }
    return rc;
}
