/* workout.c - sessions and metrics of workouts (see workout.h). */
#include "workout.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define WO_DEV_MAX 16   /* devices per session with their own cumulative counters */
#define RR_MIN_S   0.27 /* 222 beats/min: shorter is an artefact */
#define RR_MAX_S   2.0  /* 30 beats/min: longer is a missed beat */

bool wo_sample_from_reading(const fp_reading *r, wo_sample *out)
{
    memset(out, 0, sizeof *out);
    out->ts_ms = r->ts_ms;
    for (uint16_t i = 0; i < r->nvalues && i < FP_VALUES_MAX; i++) {
        double v = r->values[i].v;
        switch (r->values[i].q) {
        case FP_Q_HEART_RATE:
            if (v > 0) {
                out->hr = v;
                out->mask |= WO_HR;
            }
            break;
        case FP_Q_RR_INTERVAL:
            if (out->nrr < WO_RR_MAX)
                out->rr[out->nrr++] = v;
            break;
        case FP_Q_SPEED:
            out->speed = v;
            out->mask |= WO_SPEED;
            break;
        case FP_Q_CADENCE:
            out->cadence = v;
            out->mask |= WO_CADENCE;
            break;
        case FP_Q_POWER:
            out->power = v;
            out->mask |= WO_POWER;
            break;
        case FP_Q_INCLINE:
            out->incline = v;
            out->mask |= WO_INCLINE;
            break;
        case FP_Q_ENERGY:
            out->energy_j = v;
            out->mask |= WO_ENERGY;
            break;
        case FP_Q_DISTANCE:
            out->distance_m = v;
            out->mask |= WO_DISTANCE;
            break;
        case FP_Q_STROKES:
            out->strokes = v;
            out->mask |= WO_STROKES;
            break;
        case FP_Q_CRANK_REVS:
            out->crank = v;
            out->mask |= WO_CRANK;
            break;
        default:
            break;
        }
    }
    return out->mask != 0 || out->nrr != 0;
}

/* The packed fields, in order, with the mask bit that says they are there. */
static const struct {
    uint32_t bit;
    size_t off;
} pack_fields[] = {
    {WO_HR, offsetof(wo_sample, hr)},
    {WO_SPEED, offsetof(wo_sample, speed)},
    {WO_CADENCE, offsetof(wo_sample, cadence)},
    {WO_POWER, offsetof(wo_sample, power)},
    {WO_INCLINE, offsetof(wo_sample, incline)},
    {WO_ENERGY, offsetof(wo_sample, energy_j)},
    {WO_DISTANCE, offsetof(wo_sample, distance_m)},
    {WO_STROKES, offsetof(wo_sample, strokes)},
    {WO_CRANK, offsetof(wo_sample, crank)},
};
#define NPACK (sizeof pack_fields / sizeof pack_fields[0])

static void put_f64(uint8_t *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
}

static double get_f64(const uint8_t *b)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)b[i] << (8 * i);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

size_t wo_sample_pack(const wo_sample *s, uint8_t *buf, size_t cap)
{
    if (cap < WO_PACK_MAX || s->nrr > WO_RR_MAX)
        return 0;
    size_t o = 0;
    buf[o++] = 1;
    for (int i = 0; i < 4; i++)
        buf[o++] = (uint8_t)(s->mask >> (8 * i));
    buf[o++] = (uint8_t)(s->dev < 255 ? s->dev : 255);
    buf[o++] = s->nrr;
    for (size_t f = 0; f < NPACK; f++)
        if (s->mask & pack_fields[f].bit) {
            double v;
            memcpy(&v, (const char *)s + pack_fields[f].off, sizeof v);
            put_f64(buf + o, v);
            o += 8;
        }
    for (uint8_t k = 0; k < s->nrr; k++, o += 8)
        put_f64(buf + o, s->rr[k]);
    return o;
}

bool wo_sample_unpack(const uint8_t *buf, size_t len, int64_t ts_ms, wo_sample *out)
{
    memset(out, 0, sizeof *out);
    if (len < 7 || buf[0] != 1 || buf[6] > WO_RR_MAX)
        return false;
    out->ts_ms = ts_ms;
    out->mask =
        (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 | (uint32_t)buf[4] << 24;
    out->dev = buf[5];
    out->nrr = buf[6];
    size_t o = 7;
    for (size_t f = 0; f < NPACK; f++)
        if (out->mask & pack_fields[f].bit) {
            if (o + 8 > len)
                return false;
            double v = get_f64(buf + o);
            memcpy((char *)out + pack_fields[f].off, &v, sizeof v);
            o += 8;
        }
    if (o + 8 * (size_t)out->nrr != len)
        return false;
    for (uint8_t k = 0; k < out->nrr; k++, o += 8)
        out->rr[k] = get_f64(buf + o);
    return true;
}

int64_t wo_skew_clamp(int64_t ts_ms, int64_t ingest_ms, int64_t max_skew_ms, bool *skewed)
{
    *skewed = ingest_ms > 0 && ts_ms > ingest_ms + max_skew_ms;
    return *skewed ? ingest_ms : ts_ms;
}

/* ---- sessions ---- */

static bool span_accepts(const wo_span *s, int64_t ts, int64_t idle)
{
    if (ts < s->start_ms - idle)
        return false;
    return s->stopped ? ts <= s->end_ms : ts <= s->end_ms + idle;
}

wo_pick wo_session_pick(const wo_span *spans, size_t n, int64_t ts_ms, int64_t idle_ms)
{
    wo_pick p = {WO_PICK_NEW, 0, 0};
    for (size_t i = 0; i < n; i++) {
        if (!span_accepts(&spans[i], ts_ms, idle_ms))
            continue;
        if (p.kind == WO_PICK_NEW) {
            p.kind = WO_PICK_JOIN;
            p.a = i;
        } else {
            /* Spans are more than idle apart, so at most two accept a time. A
             * sample inside one span joins it; one in the gap bridges both. */
            bool in_a = ts_ms >= spans[p.a].start_ms && ts_ms <= spans[p.a].end_ms;
            bool in_b = ts_ms >= spans[i].start_ms && ts_ms <= spans[i].end_ms;
            if (in_b && !in_a)
                p.a = i;
            else if (!in_a) {
                p.kind = WO_PICK_BRIDGE;
                p.b = i;
            }
            break;
        }
    }
    return p;
}

bool wo_session_idle(const wo_span *s, int64_t watermark_ms, int64_t last_arrival_ms,
                     int64_t now_ms, int64_t idle_ms)
{
    if (s->stopped)
        return true;
    return watermark_ms > s->end_ms + idle_ms || now_ms > last_arrival_ms + idle_ms;
}

/* ---- metric formulas ---- */

double wo_max_hr(const wo_profile *p, wo_source *src)
{
    if (p && p->max_hr > 0) {
        *src = WO_SRC_PROFILE;
        return p->max_hr;
    }
    if (p && p->age_years > 0) {
        *src = WO_SRC_FORMULA; /* Tanaka, Monahan & Seals 2001 */
        return 208.0 - 0.7 * p->age_years;
    }
    *src = WO_SRC_DEFAULT;
    return WO_DEFAULT_MAX_HR;
}

int wo_hr_zone(double hr, double max_hr)
{
    /* Compare hr*100 with pct*max so 60 % of 190 (114) is exactly zone 2. */
    static const double lower[5] = {50, 60, 70, 80, 90};
    int z = 0;
    for (int i = 0; i < 5; i++)
        if (hr * 100.0 >= lower[i] * max_hr)
            z = i + 1;
    return z;
}

double wo_keytel_kj_per_min(double hr, double weight_kg, double age, wo_sex sex)
{
    double m = -55.0969 + 0.6309 * hr + 0.1988 * weight_kg + 0.2017 * age;
    double f = -20.4022 + 0.4472 * hr - 0.1263 * weight_kg + 0.074 * age;
    double e = sex == WO_SEX_MALE ? m : sex == WO_SEX_FEMALE ? f : (m + f) / 2.0;
    return e > 0 ? e : 0;
}

static double trimp_weight(double hrr, wo_sex sex)
{
    double m = 0.64 * exp(1.92 * hrr), f = 0.86 * exp(1.67 * hrr);
    return sex == WO_SEX_MALE ? m : sex == WO_SEX_FEMALE ? f : (m + f) / 2.0;
}

double wo_trimp(double dt_min, double hr, double rest_hr, double max_hr, wo_sex sex)
{
    if (max_hr <= rest_hr)
        return 0;
    double hrr = (hr - rest_hr) / (max_hr - rest_hr);
    if (hrr <= 0)
        return 0;
    if (hrr > 1)
        hrr = 1;
    return dt_min * hrr * trimp_weight(hrr, sex);
}

double wo_counter_delta(double prev, double cur, double modulus)
{
    if (cur >= prev)
        return cur - prev;
    if (modulus > 0 && prev - cur > modulus / 2)
        return cur + modulus - prev;
    return cur; /* the device reset its counter */
}

typedef struct rr_acc {
    double prev, sumsq;
    bool has_prev;
    size_t used, ndiff;
} rr_acc;

static void rr_add(rr_acc *a, double rr)
{
    if (!(rr >= RR_MIN_S && rr <= RR_MAX_S)) {
        a->has_prev = false; /* no difference across an artefact */
        return;
    }
    a->used++;
    if (a->has_prev) {
        double d = (rr - a->prev) * 1000.0;
        a->sumsq += d * d;
        a->ndiff++;
    }
    a->prev = rr;
    a->has_prev = true;
}

static double rr_result(const rr_acc *a)
{
    return a->ndiff ? sqrt(a->sumsq / (double)a->ndiff) : 0;
}

double wo_rmssd_ms(const double *rr, size_t n, size_t *used)
{
    rr_acc a = {0};
    for (size_t i = 0; i < n; i++)
        rr_add(&a, rr[i]);
    if (used)
        *used = a.used;
    return rr_result(&a);
}

const char *wo_source_name(wo_source s)
{
    switch (s) {
    case WO_SRC_DEVICE:
        return "device";
    case WO_SRC_PROFILE:
        return "profile";
    case WO_SRC_FORMULA:
        return "formula";
    case WO_SRC_DEFAULT:
        return "default";
    default:
        return "none";
    }
}

/* ---- metrics ---- */

static int sample_cmp(const void *pa, const void *pb)
{
    const wo_sample *a = pa, *b = pb;
    if (a->ts_ms != b->ts_ms)
        return a->ts_ms < b->ts_ms ? -1 : 1;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    return 0;
}

/* Per-device cumulative counters: first seen value and running increase. */
typedef struct counter {
    bool seen;
    double prev, total;
} counter;

static void counter_feed(counter *c, double v, double modulus)
{
    if (c->seen)
        c->total += wo_counter_delta(c->prev, v, modulus);
    c->prev = v;
    c->seen = true;
}

static double counters_max(const counter *c, size_t n, bool *any)
{
    double m = 0;
    *any = false;
    for (size_t i = 0; i < n; i++)
        if (c[i].seen) {
            *any = true;
            if (c[i].total > m)
                m = c[i].total;
        }
    return m;
}

typedef struct mean {
    double sum, max;
    size_t n;
} mean;

static void mean_add(mean *m, double v)
{
    m->sum += v;
    if (m->n == 0 || v > m->max)
        m->max = v;
    m->n++;
}

static double mean_get(const mean *m)
{
    return m->n ? m->sum / (double)m->n : 0;
}

static bool sample_moving(const wo_sample *s, bool *has_motion)
{
    uint32_t mm = s->mask & (WO_SPEED | WO_CADENCE | WO_POWER);
    if (!mm)
        return false;
    *has_motion = true;
    return ((s->mask & WO_SPEED) && s->speed >= WO_MOVING_SPEED) ||
           ((s->mask & WO_CADENCE) && s->cadence > 0) || ((s->mask & WO_POWER) && s->power > 0);
}

/* Heart-rate integrals: each HR sample holds until the next one (at most
 * WO_GAP_MAX_MS; a longer gap is a pause and counts nothing). */
static void hr_integrals(const wo_profile *p, const wo_sample *s, size_t n, wo_metrics *m)
{
    double rest = p && p->rest_hr > 0 ? p->rest_hr : WO_DEFAULT_REST_HR;
    double weight = p && p->weight_kg > 0 ? p->weight_kg : WO_DEFAULT_WEIGHT_KG;
    double age = p && p->age_years > 0 ? p->age_years : WO_DEFAULT_AGE;
    wo_sex sex = p ? p->sex : WO_SEX_UNKNOWN;
    double keytel_kj = 0;
    const wo_sample *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(s[i].mask & WO_HR))
            continue;
        if (prev) {
            int64_t dt = s[i].ts_ms - prev->ts_ms;
            if (dt > 0 && dt <= WO_GAP_MAX_MS) {
                double sec = (double)dt / 1000.0;
                m->zone_s[wo_hr_zone(prev->hr, m->hr_max_used)] += sec;
                m->trimp += wo_trimp(sec / 60.0, prev->hr, rest, m->hr_max_used, sex);
                keytel_kj += wo_keytel_kj_per_min(prev->hr, weight, age, sex) * sec / 60.0;
            }
        }
        prev = &s[i];
    }
    if (m->energy_source == WO_SRC_NONE && m->hr_samples > 0) {
        m->energy_j = keytel_kj * 1000.0;
        m->energy_source = WO_SRC_FORMULA;
    }
}

void wo_metrics_compute(const wo_profile *p, wo_sample *s, size_t n, wo_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->hr_max_used = wo_max_hr(p, &m->hr_max_source);
    if (n == 0)
        return;
    qsort(s, n, sizeof *s, sample_cmp);
    m->samples = n;
    m->start_ms = s[0].ts_ms;
    m->end_ms = s[n - 1].ts_ms;
    m->duration_s = (double)(m->end_ms - m->start_ms) / 1000.0;

    counter energy[WO_DEV_MAX] = {0}, dist[WO_DEV_MAX] = {0}, strokes[WO_DEV_MAX] = {0};
    mean hr = {0}, speed = {0}, cad = {0}, pow = {0}, inc = {0};
    bool has_motion = false;
    for (size_t i = 0; i < n; i++)
        sample_moving(&s[i], &has_motion);
    bool moving = !has_motion; /* HR-only workouts move all the time */
    double speed_dist = 0;
    const wo_sample *last_speed = NULL;
    size_t rr_dev_n[WO_DEV_MAX] = {0};
    for (size_t i = 0; i < n; i++) {
        const wo_sample *x = &s[i];
        uint32_t d = x->dev < WO_DEV_MAX ? x->dev : WO_DEV_MAX - 1;
        if (x->mask & WO_SKEWED)
            m->skewed++;
        if (x->mask & WO_HR)
            mean_add(&hr, x->hr);
        if (x->mask & WO_SPEED) {
            mean_add(&speed, x->speed);
            if (last_speed) {
                int64_t dt = x->ts_ms - last_speed->ts_ms;
                if (dt > 0 && dt <= WO_GAP_MAX_MS)
                    speed_dist += last_speed->speed * (double)dt / 1000.0;
            }
            last_speed = x;
        }
        if ((x->mask & WO_CADENCE) && x->cadence > 0)
            mean_add(&cad, x->cadence);
        m->has_cadence |= (x->mask & WO_CADENCE) != 0;
        if (x->mask & WO_POWER)
            mean_add(&pow, x->power);
        if (x->mask & WO_INCLINE)
            mean_add(&inc, x->incline);
        /* Widths on the wire: BLE energy saturates (no wrap), FTMS distance is
         * uint24 metres, stroke counts uint16. */
        if (x->mask & WO_ENERGY)
            counter_feed(&energy[d], x->energy_j, 0);
        if (x->mask & WO_DISTANCE)
            counter_feed(&dist[d], x->distance_m, 16777216.0);
        if (x->mask & WO_STROKES)
            counter_feed(&strokes[d], x->strokes, 65536.0);
        rr_dev_n[d] += x->nrr;
        bool hm = false;
        bool mv = sample_moving(x, &hm);
        if (hm)
            moving = mv;
        if (i + 1 < n) {
            int64_t dt = s[i + 1].ts_ms - x->ts_ms;
            if (moving && dt <= WO_GAP_MAX_MS)
                m->moving_s += (double)dt / 1000.0;
        }
    }
    m->hr_samples = hr.n;
    m->avg_hr = mean_get(&hr);
    m->max_hr = hr.max;
    bool any;
    /* A device counter that never moved (kcal steps over a short session)
     * says less than the heart-rate estimate does. */
    m->energy_j = counters_max(energy, WO_DEV_MAX, &any);
    m->energy_source = any && m->energy_j > 0 ? WO_SRC_DEVICE : WO_SRC_NONE;
    m->distance_m = counters_max(dist, WO_DEV_MAX, &m->has_distance);
    if (!m->has_distance && speed.n > 0) {
        m->distance_m = speed_dist;
        m->has_distance = true;
    }
    m->strokes = counters_max(strokes, WO_DEV_MAX, &m->has_strokes);
    m->has_speed = speed.n > 0;
    m->max_speed = speed.max;
    if (m->moving_s > 0 && m->has_distance)
        m->avg_speed = m->distance_m / m->moving_s;
    if (m->distance_m > 0)
        m->pace_s_per_km = 1000.0 * m->moving_s / m->distance_m;
    m->avg_cadence = mean_get(&cad);
    m->max_cadence = cad.max;
    m->has_power = pow.n > 0;
    m->avg_power = mean_get(&pow);
    m->max_power = pow.max;
    m->has_incline = inc.n > 0;
    m->avg_incline = mean_get(&inc);
    m->max_incline = inc.max;
    hr_integrals(p, s, n, m);

    /* RR from one device only: interleaving two straps' beats is noise. */
    size_t best = 0;
    for (size_t d = 1; d < WO_DEV_MAX; d++)
        if (rr_dev_n[d] > rr_dev_n[best])
            best = d;
    rr_acc a = {0};
    int64_t last_ts = 0;
    for (size_t i = 0; rr_dev_n[best] && i < n; i++) {
        uint32_t d = s[i].dev < WO_DEV_MAX ? s[i].dev : WO_DEV_MAX - 1;
        if (d != best || !s[i].nrr)
            continue;
        if (a.has_prev && s[i].ts_ms - last_ts > WO_GAP_MAX_MS)
            a.has_prev = false; /* beats were lost in the pause */
        for (uint8_t k = 0; k < s[i].nrr; k++)
            rr_add(&a, s[i].rr[k]);
        last_ts = s[i].ts_ms;
    }
    m->rr_count = a.used;
    m->rmssd_ms = rr_result(&a);
}
