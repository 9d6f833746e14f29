/* fuzz_workout - wo_metrics_compute and wo_session_pick on arbitrary input.
 * Checks what must hold for any input: metrics are finite, time in zones and
 * moving time never exceed the duration, a pick names existing spans. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workout.h"

#define MAX_SAMPLES 512

static double take_double(const uint8_t **p, const uint8_t *end, double lo, double hi)
{
    uint16_t v = 0;
    if (end - *p >= 2) {
        memcpy(&v, *p, 2);
        *p += 2;
    }
    return lo + (hi - lo) * (double)v / 65535.0;
}

static int finite_all(const wo_metrics *m)
{
    const double v[] = {m->duration_s,  m->moving_s,      m->avg_hr,      m->max_hr,
                        m->trimp,       m->energy_j,      m->distance_m,  m->avg_speed,
                        m->max_speed,   m->pace_s_per_km, m->avg_cadence, m->avg_power,
                        m->avg_incline, m->strokes,       m->rmssd_ms};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const uint8_t *p = data + 4, *end = data + size;
    wo_profile prof = {.max_hr = data[0] % 2 ? 120 + data[1] : 0,
                       .age_years = data[2] % 90,
                       .rest_hr = data[3] % 100,
                       .sex = (wo_sex)(data[3] % 3)};
    wo_sample *s = calloc(MAX_SAMPLES, sizeof *s);
    if (!s)
        return 0;
    size_t n = 0;
    int64_t t = 0;
    while (n < MAX_SAMPLES && end - p >= 4) {
        wo_sample *x = &s[n++];
        uint8_t flags = *p++, dev = *p++;
        t += (int64_t)take_double(&p, end, -2000, 20000); /* out of order too */
        x->ts_ms = t;
        x->dev = dev;
        x->mask = flags;
        x->hr = take_double(&p, end, 0, 300);
        x->speed = take_double(&p, end, 0, 30);
        x->cadence = take_double(&p, end, 0, 250);
        x->power = take_double(&p, end, -100, 2000);
        x->incline = take_double(&p, end, -20, 40);
        x->energy_j = take_double(&p, end, 0, 1e7);
        x->distance_m = take_double(&p, end, 0, 16777215);
        x->strokes = take_double(&p, end, 0, 65535);
        x->nrr = (uint8_t)(flags % (WO_RR_MAX + 1));
        for (uint8_t k = 0; k < x->nrr; k++)
            x->rr[k] = take_double(&p, end, 0, 3);
    }
    /* the stored encoding: every sample comes back as it went in, and any
     * bytes at all decode or are refused without a crash */
    for (size_t i = 0; i < n; i++) {
        uint8_t buf[WO_PACK_MAX];
        wo_sample back;
        size_t len = wo_sample_pack(&s[i], buf, sizeof buf);
        if (!len || !wo_sample_unpack(buf, len, s[i].ts_ms, &back) || back.mask != s[i].mask ||
            back.nrr != s[i].nrr || ((s[i].mask & WO_HR) && back.hr != s[i].hr) ||
            (s[i].nrr && back.rr[s[i].nrr - 1] != s[i].rr[s[i].nrr - 1]))
            abort();
    }
    wo_sample junk;
    (void)wo_sample_unpack(data, size, 0, &junk);
    wo_metrics m;
    wo_metrics_compute(&prof, s, n, &m);
    if (!finite_all(&m))
        abort();
    double zones = 0;
    for (int z = 0; z < 6; z++)
        zones += m.zone_s[z];
    if (m.moving_s > m.duration_s + 1e-6 || zones > m.duration_s + 1e-6 || m.duration_s < 0)
        abort();
    /* spans from the sorted samples, then picks at every sample's time */
    wo_span spans[8];
    size_t ns = 0;
    for (size_t i = 0; i < n && ns < 8; i++) {
        if (ns && s[i].ts_ms <= spans[ns - 1].end_ms + 3000) {
            spans[ns - 1].end_ms = s[i].ts_ms;
            continue;
        }
        spans[ns++] = (wo_span){s[i].ts_ms, s[i].ts_ms, (s[i].mask & 1) != 0};
    }
    for (size_t i = 0; i < n; i++) {
        wo_pick pk = wo_session_pick(spans, ns, s[i].ts_ms, 1000);
        if (pk.kind != WO_PICK_NEW && pk.a >= ns)
            abort();
        if (pk.kind == WO_PICK_BRIDGE && (pk.b >= ns || pk.b <= pk.a))
            abort();
    }
    free(s);
    return 0;
}
