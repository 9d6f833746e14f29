/* derive.c - per-sensor state for derived values (see derive.h). */
#include "derive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fitdrivers/fitness.h"
#include "fitdrivers/gatt.h"

#define UUID_CSC 0x2A5B

typedef struct derive_entry {
    char device[FP_DEVICE_MAX + 1]; /* "" = free */
    uint64_t last_use;
    csc_state csc;
} derive_entry;

struct derive {
    derive_entry *entries;
    size_t max;
    uint64_t clock; /* bumped per use: orders entries by recency */
    double circumference_m;
};

derive *derive_new(size_t max_devices, double wheel_circumference_m)
{
    if (max_devices == 0 || !(wheel_circumference_m > 0 && wheel_circumference_m <= 10))
        return NULL;
    derive *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->entries = calloc(max_devices, sizeof *d->entries);
    if (!d->entries) {
        free(d);
        return NULL;
    }
    d->max = max_devices;
    d->circumference_m = wheel_circumference_m;
    return d;
}

void derive_free(derive *d)
{
    if (!d)
        return;
    free(d->entries);
    free(d);
}

/* The entry of a device, or a fresh one in place of a free or the least
 * recently used slot. A linear scan: a gateway has at most a few hundred
 * sensors of this kind, and this runs once per notification. */
static derive_entry *entry_for(derive *d, const char *device)
{
    derive_entry *victim = &d->entries[0];
    for (size_t i = 0; i < d->max; i++) {
        derive_entry *e = &d->entries[i];
        if (e->device[0] && strcmp(e->device, device) == 0) {
            e->last_use = ++d->clock;
            return e;
        }
        if (!e->device[0] || (victim->device[0] && e->last_use < victim->last_use))
            victim = e;
    }
    memset(victim, 0, sizeof *victim);
    strcpy(victim->device, device); /* fits: r->device is a valid id */
    csc_state_reset(&victim->csc);
    victim->last_use = ++d->clock;
    return victim;
}

static void apply_csc(derive *d, const uint8_t *buf, size_t len, fp_reading *r)
{
    csc_measurement m;
    csc_derived out;
    if (csc_decode(buf, len, &m) != FP_OK)
        return;
    derive_entry *e = entry_for(d, r->device);
    if (csc_derive(&e->csc, &m, d->circumference_m, &out) != FP_OK)
        return;
    /* Values that fail the reading's own checks are left out, never forced. */
    if (out.has_speed)
        fp_reading_add(r, FP_Q_SPEED, out.speed_mps);
    if (out.has_cadence)
        fp_reading_add(r, FP_Q_CADENCE, out.cadence_rpm);
    if (m.has_wheel)
        fp_reading_add(r, FP_Q_DISTANCE, m.wheel_revs * d->circumference_m);
}

void derive_forget(derive *d, const char *device)
{
    for (size_t i = 0; d && i < d->max; i++)
        if (d->entries[i].device[0] && strcmp(d->entries[i].device, device) == 0)
            memset(&d->entries[i], 0, sizeof d->entries[i]);
}

void derive_apply(derive *d, uint16_t uuid16, const uint8_t *buf, size_t len, fp_reading *r)
{
    if (d && uuid16 == UUID_CSC && r->kind == FP_KIND_CYCLING)
        apply_csc(d, buf, len, r);
}
