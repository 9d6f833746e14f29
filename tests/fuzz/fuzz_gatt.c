/* fuzz_gatt - any GATT value: the first 2 input bytes are the uuid16 (little-
 * endian), the rest the payload. A decoded reading must be valid and encode;
 * a decoded heart-rate measurement must survive hrs_encode/hrs_decode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fitdrivers/gatt.h"
#include "fitproto/msg.h"

static void check_hrs(const uint8_t *p, size_t n)
{
    hrs_measurement m, back;
    uint8_t buf[64];
    if (hrs_decode(p, n, &m) != FP_OK)
        return;
    size_t len = hrs_encode(&m, buf, sizeof(buf));
    if (len == 0 || len > n || hrs_decode(buf, len, &back) != FP_OK)
        abort();
    if (m.hr_bpm != back.hr_bpm || m.contact != back.contact || m.energy_kj != back.energy_kj ||
        m.rr_count != back.rr_count || memcmp(m.rr_raw, back.rr_raw, m.rr_count * 2) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint16_t uuid = (uint16_t)(data[0] | data[1] << 8);
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    fp_reading r;
    char json[4096];
    size_t len;

    check_hrs(p, n);
    if (gatt_decode(uuid, p, n, "fuzz-dev", 1732530000123LL, &r) != FP_OK)
        return 0;
    if (fp_reading_validate(&r) != FP_OK ||
        fp_reading_encode(&r, json, sizeof(json), &len) != FP_OK)
        abort();
    return 0;
}
