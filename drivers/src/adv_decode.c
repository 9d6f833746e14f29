/* adv_decode.c - advertisement dispatch: which decoder reads which entry.
 *
 * Manufacturer data is keyed by company id, service data by service uuid.
 * Two service uuids are shared between a vendor layout and the standard one:
 *
 *   0x181D Weight Scale: Xiaomi Mi Scale (v1) sends a 10-byte frame that has
 *          the shape of a Weight Measurement (0x2A9D) with a timestamp, but
 *          uses flag bits the standard reserves (bit4 jin, bit5 stabilized,
 *          bit7 removed). Xiaomi when the name is "MI_SCALE" or any of the
 *          bits 4-7 is set; otherwise the standard 0x2A9D value.
 *   0x181B Body Composition: the Xiaomi Mi Body Composition Scale sends 13
 *          bytes shaped like a Body Composition Measurement (0x2A9C) without
 *          the mandatory body-fat field. Xiaomi when the name starts with
 *          "MIBCS"/"MIBFS", or the length is 13 and a standard-reserved flag
 *          bit (13-15: stabilized, jin, removed) is set; otherwise 0x2A9C.
 *
 * Every Xiaomi frame that can yield a reading has "stabilized" set, so the
 * rule never hands a finished Xiaomi weighing to the standard decoder, with or
 * without a name (bridges often drop it).
 */
#include <string.h>

#include "adv_internal.h"
#include "fitdrivers/gatt.h"

#define GATT_UUID_WEIGHT_MEASUREMENT   0x2A9D
#define GATT_UUID_BODY_COMPOSITION_MSR 0x2A9C

fp_status adv_sink_begin(adv_sink *s, fp_kind kind, fp_reading **r)
{
    if (s->n >= s->max)
        return FP_ERR_LIMIT;
    *r = &s->out[s->n];
    return fp_reading_init(*r, s->device, kind, s->ts_ms);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), after H. Hinnant's
 * days_from_civil. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned mp = m > 2 ? m - 3 : m + 9; /* March = 0 */
    unsigned doy = (153 * mp + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

bool adv_civil_to_unix(unsigned year, unsigned mon, unsigned day, unsigned h, unsigned m,
                       unsigned s, int64_t *out)
{
    static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1970 || year > 2099 || mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1])
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon == 2 && day == 29 && !leap)
        return false;
    if (h > 23 || m > 59 || s > 59)
        return false;
    *out = days_from_civil(year, mon, day) * 86400 + h * 3600 + m * 60 + s;
    return true;
}

/* A standard characteristic value carried as service data. */
static fp_status sig_value(uint16_t char_uuid, const uint8_t *p, size_t len, adv_sink *s)
{
    if (s->n >= s->max)
        return FP_ERR_LIMIT;
    fp_status rc = gatt_decode(char_uuid, p, len, s->device, s->ts_ms, &s->out[s->n]);
    if (rc == FP_OK)
        adv_sink_commit(s);
    return rc;
}

static fp_status mfg_entry(const adv_data *e, adv_sink *s)
{
    switch (e->id) {
    case ADV_COMPANY_HUAMI:
        return adv_huami_mfg(e->data, e->len, s);
    case ADV_COMPANY_POLAR:
        return adv_polar_mfg(e->data, e->len, s);
    default:
        return FP_ERR_UNKNOWN;
    }
}

static fp_status svc_entry(const char *name, const adv_data *e, adv_sink *s)
{
    switch (e->id) {
    case ADV_UUID_WEIGHT_SCALE:
        if (adv_xiaomi_is_scale_v1(name, e->data, e->len))
            return adv_xiaomi_scale_v1(e->data, e->len, s);
        return sig_value(GATT_UUID_WEIGHT_MEASUREMENT, e->data, e->len, s);
    case ADV_UUID_BODY_COMPOSITION:
        if (adv_xiaomi_is_body_scale(name, e->data, e->len))
            return adv_xiaomi_body_scale(e->data, e->len, s);
        return sig_value(GATT_UUID_BODY_COMPOSITION_MSR, e->data, e->len, s);
    case ADV_UUID_HUAMI:
        return adv_huami_steps(e->data, e->len, s);
    default:
        return FP_ERR_UNKNOWN;
    }
}

static fp_status check_entries(const adv_data *v, size_t n)
{
    if (n > ADV_ENTRIES_MAX || (n > 0 && v == NULL))
        return FP_ERR_LIMIT;
    for (size_t i = 0; i < n; i++) {
        if (v[i].len > ADV_DATA_MAX)
            return FP_ERR_LIMIT;
        if (v[i].len > 0 && v[i].data == NULL)
            return FP_ERR_LENGTH;
    }
    return FP_OK;
}

fp_status adv_decode(const adv_input *in, const char *device, int64_t ts_ms, fp_reading *out,
                     size_t max, size_t *n)
{
    *n = 0;
    fp_status rc = check_entries(in->mfg, in->nmfg);
    if (rc == FP_OK)
        rc = check_entries(in->svc, in->nsvc);
    if (rc)
        return rc;

    adv_sink s = {.out = out, .max = max, .n = 0, .device = device, .ts_ms = ts_ms};
    bool known = false;
    for (size_t i = 0; i < in->nmfg + in->nsvc; i++) {
        rc = i < in->nmfg ? mfg_entry(&in->mfg[i], &s)
                          : svc_entry(in->name, &in->svc[i - in->nmfg], &s);
        if (rc == FP_ERR_UNKNOWN)
            continue;
        if (rc)
            return rc; /* *n stays 0: all or nothing */
        known = true;
    }
    if (!known)
        return FP_ERR_UNKNOWN;
    *n = s.n;
    return FP_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly `digits` hex digits at s -> *v. */
static bool hex_field(const char *s, size_t digits, uint32_t *v)
{
    uint32_t x = 0;
    for (size_t i = 0; i < digits; i++) {
        int d = hexval(s[i]);
        if (d < 0)
            return false;
        x = x << 4 | (uint32_t)d;
    }
    *v = x;
    return true;
}

fp_status adv_uuid16_parse(const char *s, size_t len, uint16_t *out)
{
    static const char base[] = "-0000-1000-8000-00805f9b34fb"; /* after "0000xxxx" */
    uint32_t v;
    if (s == NULL)
        return FP_ERR_SYNTAX;
    if (len == 6 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        len -= 2;
    }
    if (len == 4 && hex_field(s, 4, &v)) {
        *out = (uint16_t)v;
        return FP_OK;
    }
    if (len == 36 && hex_field(s, 4, &v) && v == 0 && hex_field(s + 4, 4, &v)) {
        for (size_t i = 0; i < sizeof(base) - 1; i++) {
            char c = s[8 + i];
            if (c >= 'A' && c <= 'F')
                c = (char)(c - 'A' + 'a');
            if (c != base[i])
                return FP_ERR_SYNTAX;
        }
        *out = (uint16_t)v;
        return FP_OK;
    }
    return FP_ERR_SYNTAX;
}
