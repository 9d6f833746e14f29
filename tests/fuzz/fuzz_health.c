/* fuzz_health - the health family. Input byte 0 picks one of its eight
 * characteristics, the rest is the payload. Whatever decodes must
 *   - re-encode (test encoders) to exactly the input bytes: the decoders
 *     accept only the exact length the flags announce, so nothing is lost;
 *   - give, through gatt_decode(), a reading that validates and encodes, or a
 *     clean error that leaves no values behind.
 * Any two bytes of the payload are also fed to the SFLOAT decoder, four to the
 * FLOAT decoder: a "number" must be finite. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encode_health.h"
#include "fitdrivers/gatt.h"
#include "fitdrivers/health.h"
#include "fitdrivers/ieee11073.h"
#include "fitproto/msg.h"

static const uint16_t uuids[] = {0x2A1C, 0x2A35, 0x2A36, 0x2A5E, 0x2A5F, 0x2A9C, 0x2A9D, 0x2A9E};

static void same(const uint8_t *p, size_t n, const uint8_t *enc, size_t len)
{
    if (len != n || memcmp(p, enc, n) != 0)
        abort();
}

/* decode -> encode must reproduce the payload byte for byte. */
static void round_trip(uint16_t uuid, const uint8_t *p, size_t n)
{
    uint8_t enc[64];
    switch (uuid) {
    case 0x2A1C: {
        hts_measurement m;
        if (hts_decode(p, n, &m) == FP_OK)
            same(p, n, enc, enc_hts(&m, enc, sizeof(enc)));
        break;
    }
    case 0x2A35:
    case 0x2A36: {
        bps_measurement m;
        if (bps_decode(p, n, &m) == FP_OK)
            same(p, n, enc, enc_bps(&m, enc, sizeof(enc)));
        break;
    }
    case 0x2A5E: {
        plx_spot_check m;
        if (plx_spot_decode(p, n, &m) == FP_OK)
            same(p, n, enc, enc_plx_spot(&m, enc, sizeof(enc)));
        break;
    }
    case 0x2A5F: {
        plx_continuous m;
        if (plx_cont_decode(p, n, &m) == FP_OK)
            same(p, n, enc, enc_plx_cont(&m, enc, sizeof(enc)));
        break;
    }
    case 0x2A9C: {
        bcs_measurement m;
        if (bcs_decode(p, n, &m) == FP_OK)
            same(p, n, enc, enc_bcs(&m, enc, sizeof(enc)));
        break;
    }
    case 0x2A9D: {
        wss_measurement m;
        if (wss_decode(p, n, &m) == FP_OK)
            same(p, n, enc, enc_wss(&m, enc, sizeof(enc)));
        break;
    }
    default:
        break;
    }
}

static void numbers(const uint8_t *p, size_t n)
{
    double v;
    if (n >= 2 && ieee11073_sfloat((uint16_t)(p[0] | p[1] << 8), &v) == IEEE11073_NUMBER &&
        !isfinite(v))
        abort();
    if (n >= 4 &&
        ieee11073_float((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24,
                        &v) == IEEE11073_NUMBER &&
        !isfinite(v))
        abort();
    if (n >= GATT_DATETIME_LEN) {
        gatt_datetime dt;
        int64_t s;
        /* A date that decodes has an instant exactly when all parts are known. */
        if (gatt_datetime_decode(p, GATT_DATETIME_LEN, &dt) == FP_OK &&
            gatt_datetime_unix(&dt, &s) != (dt.year && dt.month && dt.day))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint16_t uuid = uuids[data[0] % (sizeof(uuids) / sizeof(uuids[0]))];
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    round_trip(uuid, p, n);
    numbers(p, n);

    fp_reading r;
    char json[4096];
    size_t len;
    fp_status rc = gatt_decode(uuid, p, n, "fuzz-dev", 1732530000123LL, &r);
    if (rc != FP_OK) {
        if (r.nvalues != 0 || rc == FP_ERR_UNKNOWN)
            abort();
        return 0;
    }
    if (fp_reading_validate(&r) != FP_OK ||
        fp_reading_encode(&r, json, sizeof(json), &len) != FP_OK)
        abort();
    return 0;
}
