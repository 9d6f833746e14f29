/* bluez_policy.c - pure decisions of the BlueZ source (bluez_policy.h). */
#include "bluez_policy.h"

#include <ctype.h>
#include <string.h>

#include "fitdrivers/adv.h"

uint64_t bzp_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t max_ms, uint32_t jitter)
{
    if (base_ms == 0)
        return 0;
    if (max_ms < base_ms)
        max_ms = base_ms;
    uint64_t d = base_ms;
    for (unsigned i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    uint64_t cut = d / 4 ? jitter % (d / 4 + 1) : 0;
    d -= cut;
    if (d < base_ms / 2 || d == 0)
        d = base_ms / 2 ? base_ms / 2 : 1;
    return d;
}

const uint16_t bzp_filter_uuids[] = {
    0x180D, /* heart rate */
    0x180F, /* battery */
    0x1814, /* running speed and cadence */
    0x1816, /* cycling speed and cadence */
    0x1818, /* cycling power */
    0x1826, /* fitness machine */
    0x1809, /* health thermometer */
    0x1810, /* blood pressure */
    0x1822, /* pulse oximeter */
    0x181B, /* body composition */
    0x181D, /* weight scale */
    ADV_UUID_HUAMI,
};
const size_t bzp_filter_uuids_n = sizeof bzp_filter_uuids / sizeof bzp_filter_uuids[0];

bool bzp_char_supported(uint16_t u)
{
    static const uint16_t known[] = {
        0x2A37, 0x2A19, 0x2A53, 0x2A5B, 0x2A63, 0x2ACD, 0x2ACE, 0x2ACF, 0x2AD0, 0x2AD1,
        0x2AD2, 0x2ADA, 0x2A1C, 0x2A35, 0x2A36, 0x2A5E, 0x2A5F, 0x2A9C, 0x2A9D,
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i] == u)
            return true;
    return false;
}

bool bzp_uuid16(const char *s, uint16_t *out)
{
    /* The drivers' parser: "180d", "0x180D" or the 128-bit form on the base. */
    return s && adv_uuid16_parse(s, strlen(s), out) == FP_OK;
}

size_t bzp_device_prefix(const char *path)
{
    const char *d = strstr(path, "/dev_");
    if (!d)
        return 0;
    const char *end = strchr(d + 1, '/');
    return end ? (size_t)(end - path) : strlen(path);
}

bool bzp_address_valid(const char *a)
{
    if (strlen(a) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? a[i] != ':' : !isxdigit((unsigned char)a[i]))
            return false;
    }
    return true;
}

void bzp_rescale_wheel(fp_reading *r, double default_m, double wheel_m)
{
    if (!(wheel_m > 0) || !(default_m > 0) || wheel_m == default_m || r->kind != FP_KIND_CYCLING)
        return;
    double f = wheel_m / default_m;
    for (uint16_t i = 0; i < r->nvalues; i++)
        if (r->values[i].q == FP_Q_SPEED || r->values[i].q == FP_Q_DISTANCE)
            r->values[i].v *= f;
}

uint32_t bzp_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}
