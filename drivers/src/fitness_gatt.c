/* fitness_gatt.c - dispatch of the fitness family (see fitdrivers/fitness.h):
 * decode a characteristic, then map its fields onto a reading in SI units.
 * A notification that leaves the reading empty (only "no data" sentinels, or
 * a CSC measurement with no data) is FP_ERR_RANGE: nothing to store.
 */
#include "fitdrivers/fitness.h"

static fp_status rsc_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    rsc_measurement m;
    fp_status rc = rsc_decode(buf, len, &m);
    if (rc == FP_OK)
        rc = fp_reading_add(out, FP_Q_SPEED, m.speed_raw / 256.0);
    if (rc == FP_OK)
        rc = fp_reading_add(out, FP_Q_CADENCE, m.cadence);
    if (rc == FP_OK && m.has_stride)
        rc = fp_reading_add(out, FP_Q_STRIDE_LENGTH, m.stride_cm / 100.0);
    if (rc == FP_OK && m.has_distance)
        rc = fp_reading_add(out, FP_Q_DISTANCE, m.distance_dm / 10.0);
    if (rc == FP_OK)
        rc = fp_reading_add(out, FP_Q_RUNNING, m.running ? 1 : 0);
    return rc;
}

static fp_status csc_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    csc_measurement m;
    fp_status rc = csc_decode(buf, len, &m);
    if (rc == FP_OK && m.has_wheel)
        rc = fp_reading_add(out, FP_Q_WHEEL_REVS, m.wheel_revs);
    if (rc == FP_OK && m.has_crank)
        rc = fp_reading_add(out, FP_Q_CRANK_REVS, m.crank_revs);
    return rc;
}

static fp_status cps_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    cps_measurement m;
    fp_status rc = cps_decode(buf, len, &m);
    if (rc == FP_OK)
        rc = fp_reading_add(out, FP_Q_POWER, m.power_w);
    if (rc == FP_OK && (m.flags & CPS_F_TORQUE))
        rc = fp_reading_add(out, FP_Q_TORQUE, m.torque_raw / 32.0);
    if (rc == FP_OK && (m.flags & CPS_F_WHEEL))
        rc = fp_reading_add(out, FP_Q_WHEEL_REVS, m.wheel_revs);
    if (rc == FP_OK && (m.flags & CPS_F_CRANK))
        rc = fp_reading_add(out, FP_Q_CRANK_REVS, m.crank_revs);
    if (rc == FP_OK && (m.flags & CPS_F_ENERGY))
        rc = fp_reading_add(out, FP_Q_ENERGY, m.energy_kj * 1000.0);
    if (rc == FP_OK && (m.flags & CPS_F_STATUS_MASK))
        rc = fp_reading_add(out, FP_Q_STATUS, m.flags & CPS_F_STATUS_MASK);
    return rc;
}

static fp_status cpv_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    cps_vector v;
    fp_status rc = cps_vector_decode(buf, len, &v);
    if (rc == FP_OK && (v.flags & 0x01))
        rc = fp_reading_add(out, FP_Q_CRANK_REVS, v.crank_revs);
    return rc;
}

static fp_status feature_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    uint32_t f, t;
    fp_status rc = ftms_feature_decode(buf, len, &f, &t);
    if (rc == FP_OK)
        rc = fp_reading_add(out, FP_Q_FEATURES, f);
    if (rc == FP_OK)
        rc = fp_reading_add(out, FP_Q_TARGET_FEATURES, t);
    return rc;
}

static fp_status training_status_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    uint8_t code;
    fp_status rc = ftms_training_status_decode(buf, len, &code);
    return rc ? rc : fp_reading_add(out, FP_Q_TYPE, code);
}

static fp_status machine_status_reading(const uint8_t *buf, size_t len, fp_reading *out)
{
    uint8_t op;
    fp_status rc = ftms_machine_status_decode(buf, len, &op);
    return rc ? rc : fp_reading_add(out, FP_Q_STATUS, op);
}

static fp_status ftms_reading(uint16_t uuid16, const uint8_t *buf, size_t len, fp_reading *out)
{
    bool more;
    return ftms_data_decode(uuid16, buf, len, out, &more);
}

static fp_kind fitness_kind(uint16_t uuid16)
{
    switch (uuid16) {
    case FITNESS_UUID_RSC_MEASUREMENT:
        return FP_KIND_RUNNING;
    case FITNESS_UUID_CSC_MEASUREMENT:
        return FP_KIND_CYCLING;
    case FITNESS_UUID_CPS_MEASUREMENT:
    case FITNESS_UUID_CPS_VECTOR:
        return FP_KIND_CYCLING_POWER;
    case FITNESS_UUID_FTMS_FEATURE:
        return FP_KIND_FEATURES;
    case FITNESS_UUID_TRAINING_STATUS:
    case FITNESS_UUID_FTMS_MACHINE_STAT:
        return FP_KIND_MACHINE_STATUS;
    default:
        return ftms_kind(uuid16); /* 0 when not ours */
    }
}

static fp_status fitness_fill(uint16_t uuid16, const uint8_t *buf, size_t len, fp_reading *out)
{
    switch (uuid16) {
    case FITNESS_UUID_RSC_MEASUREMENT:
        return rsc_reading(buf, len, out);
    case FITNESS_UUID_CSC_MEASUREMENT:
        return csc_reading(buf, len, out);
    case FITNESS_UUID_CPS_MEASUREMENT:
        return cps_reading(buf, len, out);
    case FITNESS_UUID_CPS_VECTOR:
        return cpv_reading(buf, len, out);
    case FITNESS_UUID_FTMS_FEATURE:
        return feature_reading(buf, len, out);
    case FITNESS_UUID_TRAINING_STATUS:
        return training_status_reading(buf, len, out);
    case FITNESS_UUID_FTMS_MACHINE_STAT:
        return machine_status_reading(buf, len, out);
    default:
        return ftms_reading(uuid16, buf, len, out);
    }
}

fp_status fitness_gatt_decode(uint16_t uuid16, const uint8_t *buf, size_t len, const char *device,
                              int64_t ts_ms, fp_reading *out)
{
    fp_kind kind = fitness_kind(uuid16);
    if (kind == 0)
        return FP_ERR_UNKNOWN;
    fp_status rc = fp_reading_init(out, device, kind, ts_ms);
    if (rc == FP_OK)
        rc = fitness_fill(uuid16, buf, len, out);
    if (rc == FP_OK && out->nvalues == 0)
        rc = FP_ERR_RANGE;
    if (rc)
        out->nvalues = 0; /* nothing half-filled for a caller that ignores rc */
    return rc;
}
