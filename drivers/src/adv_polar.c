/* adv_polar.c - Polar heart-rate broadcast (manufacturer data, company 0x006B).
 *
 * Layout as Polar's own BLE SDK reads it (polar-ble-sdk, BlePolarHrAdvertisement
 * and the advertisement parsers for Android and iOS); the bytes below are the
 * manufacturer data without the company id:
 *
 *   3 or 4 bytes in all: one heart-rate block (H6/H7 and their update).
 *   otherwise: a run of blocks. A block whose first byte has bit6 set is
 *   "GPB" data: [type][length][length bytes], skipped. A block with bit6
 *   clear is the heart-rate block and runs to the end of the data:
 *     [0] status: bit0 battery ok, bit1 sensor contact, bits2-4 frame
 *         counter, bit5 broadcast, bit6 data type, bit7 status flags
 *     [1] kHz code
 *     [2] fast-average heart rate
 *     [3] slow-average heart rate (only when the block is exactly 4 bytes)
 *   The SDK shows the slow average when there is one; so do we.
 *   Example (Polar OH1): 72 06 7f 44 37 00 00 00 | 33 00 3c -> 60 bpm.
 *
 * Unconfirmed (see docs/devices.md): the SDKs disagree on how far to step past
 * a heart-rate block (Android 5 bytes, iOS 3), so we stop at the first one;
 * and no capture from a Linux/BlueZ scanner was available to check against.
 */
#include "adv_internal.h"

#define POLAR_GPB     0x40
#define POLAR_CONTACT 0x02

static fp_status hr_block(const uint8_t *b, size_t len, adv_sink *s)
{
    uint8_t hr = len == 4 ? b[3] : b[2];
    if (hr == 0)
        return FP_OK; /* no beat found yet */
    fp_reading *r;
    fp_status rc = adv_sink_begin(s, FP_KIND_HEART_RATE, &r);
    if (rc == FP_OK)
        rc = fp_reading_add(r, FP_Q_HEART_RATE, hr);
    if (rc == FP_OK)
        rc = fp_reading_add(r, FP_Q_SENSOR_CONTACT, (b[0] & POLAR_CONTACT) ? 1 : 0);
    if (rc == FP_OK)
        adv_sink_commit(s);
    return rc;
}

fp_status adv_polar_mfg(const uint8_t *p, size_t len, adv_sink *s)
{
    if (len < 3)
        return FP_ERR_LENGTH;
    if (len <= 4)
        return hr_block(p, len, s);
    size_t off = 0;
    while (off < len) {
        if (!(p[off] & POLAR_GPB)) {
            if (len - off < 3)
                return FP_ERR_LENGTH;
            return hr_block(p + off, len - off, s);
        }
        if (len - off < 2)
            return FP_ERR_LENGTH;
        off += 2 + (size_t)p[off + 1];
        if (off > len)
            return FP_ERR_LENGTH; /* a block that runs past the end */
    }
    return FP_OK; /* only GPB data: a Polar device, no heart rate in it */
}
