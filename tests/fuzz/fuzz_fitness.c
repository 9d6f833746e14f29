/* fuzz_fitness - the fitness decoders. Input: one selector byte, then a
 * payload. The selector picks a characteristic (0x2A53, 0x2A5B, 0x2A63,
 * 0x2A64, 0x2ACC..0x2AD3, 0x2ADA). A decoded reading must validate and encode.
 * The same payload is also cut into notifications (first byte of each piece is
 * its length) and fed through an ftms_record and a csc_state, whose outputs
 * must validate too and whose derived values must be finite. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fitdrivers/fitness.h"
#include "fitproto/msg.h"

static const uint16_t uuids[] = {
    0x2A53, 0x2A5B, 0x2A63, 0x2A64, 0x2ACC, 0x2ACD, 0x2ACE,
    0x2ACF, 0x2AD0, 0x2AD1, 0x2AD2, 0x2AD3, 0x2ADA,
};
#define NUUIDS (sizeof(uuids) / sizeof(uuids[0]))

static void must_be_valid(const fp_reading *r)
{
    char json[4096];
    size_t len;
    if (fp_reading_validate(r) != FP_OK || fp_reading_encode(r, json, sizeof(json), &len) != FP_OK)
        abort();
}

static void feed_pieces(uint16_t uuid, const uint8_t *p, size_t n)
{
    ftms_record rec;
    csc_state st;
    fp_reading out[FTMS_RECORD_OUT_MAX];
    ftms_record_init(&rec);
    csc_state_reset(&st);
    while (n > 0) {
        size_t len = p[0] < n - 1 ? p[0] : n - 1;
        const uint8_t *piece = p + 1;
        size_t nout = 0;
        if (ftms_kind(uuid) != 0) {
            fp_status rc =
                ftms_record_feed(&rec, uuid, piece, len, "fuzz-dev", 1732530000123LL, out, &nout);
            if (rc != FP_OK && nout != 0)
                abort();
            for (size_t i = 0; i < nout; i++)
                must_be_valid(&out[i]);
        } else {
            csc_measurement m;
            csc_derived d;
            if (csc_decode(piece, len, &m) == FP_OK && csc_derive(&st, &m, 2.105, &d) == FP_OK) {
                if ((d.has_speed &&
                     (!isfinite(d.speed_mps) || d.speed_mps < 0 || !isfinite(d.distance_m))) ||
                    (d.has_cadence && (!isfinite(d.cadence_rpm) || d.cadence_rpm < 0)))
                    abort();
            }
        }
        p += 1 + len;
        n -= 1 + len;
    }
    if (ftms_record_flush(&rec, &out[0]))
        must_be_valid(&out[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint16_t uuid = uuids[data[0] % NUUIDS];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    fp_reading r;
    fp_status rc = fitness_gatt_decode(uuid, p, n, "fuzz-dev", 1732530000123LL, &r);
    if (rc == FP_OK)
        must_be_valid(&r);
    else if (r.nvalues != 0)
        abort();
    feed_pieces(uuid, p, n);
    return 0;
}
