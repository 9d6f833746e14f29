/* progress.c - bus records -> workouts, users, achievements (see progress.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "outbox.h"
#include "progress_int.h"

#define DIRTY_MAX 32 /* distinct users / workouts touched by one readings event */

static metric m_applied, m_dups, m_bad, m_unbound, m_skewed, m_completed, m_unknown,
    m_seen_completed, m_sealed_late;
static int metrics_done;

static void progress_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_applied, "fitgate_progress_events_total", "counter",
                    "Bus records applied by the progress projection", NULL);
    metric_register(&m_dups, "fitgate_progress_redelivered_total", "counter",
                    "Records already applied (bus redelivery, skipped)", NULL);
    metric_register(&m_bad, "fitgate_progress_rejected_total", "counter",
                    "Records that failed to decode (skipped)", NULL);
    metric_register(&m_unbound, "fitgate_progress_unbound_readings_total", "counter",
                    "Readings of devices bound to no user (no workout)", NULL);
    metric_register(&m_skewed, "fitgate_progress_skewed_readings_total", "counter",
                    "Readings stamped ahead of ingest beyond max skew (clamped)", NULL);
    metric_register(&m_completed, "fitgate_progress_workouts_completed_total", "counter",
                    "Workouts completed", NULL);
    metric_register(&m_seen_completed, "fitgate_progress_completed_seen_total", "counter",
                    "WorkoutCompleted events read back from the bus", NULL);
    metric_register(&m_sealed_late, "fitgate_progress_late_after_seal_total", "counter",
                    "Readings for workouts whose samples were already dropped (not counted)", NULL);
    metric_register(&m_unknown, "fitgate_progress_unknown_types_total", "counter",
                    "Events of types the projection does not use (skipped)", NULL);
}

int progress_open(progress **out, const char *db_path, const progress_cfg *cfg)
{
    *out = NULL;
    progress_metrics_init();
    progress *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->cfg.idle_ms = cfg && cfg->idle_ms > 0 ? cfg->idle_ms : 300000;
    p->cfg.max_skew_ms = cfg && cfg->max_skew_ms > 0 ? cfg->max_skew_ms : 300000;
    p->cfg.keep_samples_ms = cfg && cfg->keep_samples_ms > 0 ? cfg->keep_samples_ms : 0;
    if (progress_db_open(&p->db, db_path) < 0 || progress_schema(p->db) < 0 ||
        store_open(&p->st, db_path) != STORE_OK) {
        progress_close(p);
        return -1;
    }
    *out = p;
    return 0;
}

void progress_close(progress *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nhot; i++)
        sqlite3_finalize(p->hot[i]);
    store_close(p->st);
    sqlite3_close(p->db);
    free(p);
}

/* A statement for a constant SQL text, prepared on first use and kept for
 * the connection's life; reset and unbound. NULL on error (logged). */
static sqlite3_stmt *hot(progress *p, const char *sql)
{
    for (size_t i = 0; i < p->nhot; i++)
        if (p->hot_sql[i] == sql) {
            sqlite3_reset(p->hot[i]);
            sqlite3_clear_bindings(p->hot[i]);
            return p->hot[i];
        }
    sqlite3_stmt *st = NULL;
    if (p->nhot == PROGRESS_HOT_MAX ||
        sqlite3_prepare_v3(p->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        log_error("progress_db", "prepare failed", "error", sqlite3_errmsg(p->db));
        return NULL;
    }
    p->hot_sql[p->nhot] = sql;
    p->hot[p->nhot++] = st;
    return st;
}

/* Step a hot statement once and reset it: SQLITE_DONE, SQLITE_ROW (*v set
 * from column 0 when v) or an error code. */
static int hot_step(sqlite3_stmt *st, int64_t *v)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && v)
        *v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc;
}

static const char SQL_SPANS[] = "SELECT id, start_ms, end_ms, stopped, done + sealed"
                                " FROM progress_workout"
                                " WHERE user_id=?1 AND end_ms >= ?2 - ?3 AND start_ms <= ?2 + ?3"
                                " ORDER BY start_ms LIMIT 4";
static const char SQL_STOPS[] =
    "SELECT (SELECT max(at_ms) FROM progress_stop WHERE user_id=?1 AND at_ms < ?2),"
    " (SELECT min(at_ms) FROM progress_stop WHERE user_id=?1 AND at_ms >= ?2)";
static const char SQL_NEW_WORKOUT[] =
    "INSERT INTO progress_workout(user_id, gateway, start_ms, end_ms, last_arrival_ms)"
    " VALUES(?1, ?2, ?3, ?3, ?4)";
static const char SQL_EXTEND[] =
    "UPDATE progress_workout SET start_ms=min(start_ms, ?2), end_ms=max(end_ms, ?2),"
    " last_arrival_ms=max(last_arrival_ms, ?3) WHERE id=?1";
static const char SQL_STOP_AT[] = "UPDATE progress_workout SET stopped=1, end_ms=?2 WHERE id=?1"
                                  " AND stopped=0 AND end_ms + ?3 >= ?2";
static const char SQL_SAMPLE[] =
    "INSERT INTO progress_sample(user_id, device, ts_ms, workout_id, data)"
    " VALUES(?1, ?2, ?3, ?4, ?5)";
static const char SQL_KNOWN[] =
    "SELECT 1 FROM progress_sample WHERE user_id=?1 AND device=?2 AND ts_ms=?3";
static const char SQL_USER[] = "INSERT INTO progress_user(user_id, watermark_ms) VALUES(?1, ?2)"
                               " ON CONFLICT(user_id) DO UPDATE SET"
                               " watermark_ms=max(watermark_ms, excluded.watermark_ms)";
static const char SQL_INBOX[] = "INSERT OR IGNORE INTO progress_inbox(id) VALUES(?1)";
static const char SQL_HAS_STOPS[] = "SELECT EXISTS(SELECT 1 FROM progress_stop WHERE user_id=?1)";

/* ---- completing a workout ---- */

static cJSON *metrics_json(const wo_metrics *m)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "start_ms", (double)m->start_ms);
    cJSON_AddNumberToObject(j, "end_ms", (double)m->end_ms);
    cJSON_AddNumberToObject(j, "duration_s", m->duration_s);
    cJSON_AddNumberToObject(j, "moving_s", m->moving_s);
    cJSON_AddNumberToObject(j, "samples", (double)m->samples);
    cJSON_AddNumberToObject(j, "skewed_samples", (double)m->skewed);
    if (m->hr_samples) {
        cJSON *hr = cJSON_AddObjectToObject(j, "heart_rate");
        cJSON_AddNumberToObject(hr, "avg", m->avg_hr);
        cJSON_AddNumberToObject(hr, "max", m->max_hr);
        cJSON_AddNumberToObject(hr, "max_hr_used", m->hr_max_used);
        cJSON_AddStringToObject(hr, "max_hr_source", wo_source_name(m->hr_max_source));
        /* zones_s[0] is zone 1 (as the mini app indexes them); time under
         * 50 % of max HR is apart */
        cJSON *z = cJSON_AddArrayToObject(hr, "zones_s");
        for (int i = 1; i <= 5; i++)
            cJSON_AddItemToArray(z, cJSON_CreateNumber(m->zone_s[i]));
        cJSON_AddNumberToObject(hr, "below_zone1_s", m->zone_s[0]);
        cJSON_AddNumberToObject(j, "trimp", m->trimp);
    }
    cJSON_AddNumberToObject(j, "energy_j", m->energy_j);
    cJSON_AddStringToObject(j, "energy_source",
                            m->energy_source == WO_SRC_FORMULA ? "keytel2005"
                                                               : wo_source_name(m->energy_source));
    if (m->has_distance) {
        cJSON_AddNumberToObject(j, "distance_m", m->distance_m);
        cJSON_AddNumberToObject(j, "avg_speed", m->avg_speed);
        if (m->pace_s_per_km > 0)
            cJSON_AddNumberToObject(j, "pace_s_per_km", m->pace_s_per_km);
    }
    if (m->has_speed)
        cJSON_AddNumberToObject(j, "max_speed", m->max_speed);
    if (m->has_cadence) {
        cJSON_AddNumberToObject(j, "avg_cadence", m->avg_cadence);
        cJSON_AddNumberToObject(j, "max_cadence", m->max_cadence);
    }
    if (m->has_power) {
        cJSON_AddNumberToObject(j, "avg_power", m->avg_power);
        cJSON_AddNumberToObject(j, "max_power", m->max_power);
    }
    if (m->has_incline) {
        cJSON_AddNumberToObject(j, "avg_incline", m->avg_incline);
        cJSON_AddNumberToObject(j, "max_incline", m->max_incline);
    }
    if (m->has_strokes)
        cJSON_AddNumberToObject(j, "strokes", m->strokes);
    if (m->rr_count >= 2) {
        cJSON_AddNumberToObject(j, "rr_count", (double)m->rr_count);
        cJSON_AddNumberToObject(j, "rmssd_ms", m->rmssd_ms);
    }
    return j;
}

/* The samples of a workout (heap array; caller frees). */
static int load_samples(sqlite3 *db, int64_t wid, wo_sample **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT ts_ms, data FROM progress_sample WHERE workout_id=?1", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, wid);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            wo_sample *p = realloc(*out, cap * sizeof **out);
            if (!p) {
                rc = SQLITE_NOMEM;
                break;
            }
            *out = p;
        }
        if (wo_sample_unpack(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                             sqlite3_column_int64(st, 0), &(*out)[*n]))
            (*n)++;
        else
            metric_add(&m_bad, 1); /* an encoding we do not know: skipped, counted */
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Compute and store a workout's metrics; the first completion announces it.
 * Inside the caller's transaction. */
static int complete(progress *p, int64_t wid)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db, "SELECT user_id, done, gateway FROM progress_workout WHERE id=?1",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, wid);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return 0; /* merged away meanwhile */
    }
    int64_t user = sqlite3_column_int64(st, 0);
    int was_done = sqlite3_column_int(st, 1);
    char gateway[FP_GATEWAY_MAX + 1];
    snprintf(gateway, sizeof gateway, "%s", (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);

    wo_profile prof;
    progress_profile(p->db, user, &prof, NULL);
    wo_sample *s;
    size_t n;
    if (load_samples(p->db, wid, &s, &n) < 0)
        return -1;
    wo_metrics m;
    wo_metrics_compute(&prof, s, n, &m);
    free(s);
    cJSON *j = metrics_json(&m);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    int rc = -1;
    if (!text)
        goto out;
    if (sqlite3_prepare_v2(p->db,
                           "UPDATE progress_workout SET done=1, duration_s=?2, moving_s=?3,"
                           " distance_m=?4, energy_j=?5, avg_hr=?6, max_hr=?7, trimp=?8,"
                           " metrics=?9 WHERE id=?1",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, wid);
    sqlite3_bind_double(st, 2, m.duration_s);
    sqlite3_bind_double(st, 3, m.moving_s);
    sqlite3_bind_double(st, 4, m.distance_m);
    sqlite3_bind_double(st, 5, m.energy_j);
    sqlite3_bind_double(st, 6, m.avg_hr);
    sqlite3_bind_double(st, 7, m.max_hr);
    sqlite3_bind_double(st, 8, m.trimp);
    sqlite3_bind_text(st, 9, text, -1, SQLITE_STATIC);
    int sr = sqlite3_step(st);
    sqlite3_finalize(st);
    if (sr != SQLITE_DONE)
        goto out;
    if (!was_done) {
        char id[96], key[32], subject[64];
        snprintf(id, sizeof id, "workout/%" PRId64 "/completed", wid);
        snprintf(key, sizeof key, "%" PRId64, user);
        snprintf(subject, sizeof subject, "user/%" PRId64, user);
        cJSON_AddNumberToObject(j, "workout_id", (double)wid);
        cJSON_AddNumberToObject(j, "user_id", (double)user);
        cJSON_AddStringToObject(j, "gateway", gateway);
        /* Flat fields as docs/events.md lists them (the notifier's summary). */
        if (m.hr_samples) {
            cJSON_AddNumberToObject(j, "avg_hr", m.avg_hr);
            cJSON_AddNumberToObject(j, "max_hr", m.max_hr);
        }
        cJSON_AddNumberToObject(j, "energy_kj", m.energy_j / 1000.0);
        if (outbox_add(p->db, EVT_TOPIC_WORKOUTS, key, id, EVT_TYPE_WORKOUT_COMPLETED,
                       PROGRESS_SOURCE, subject, j) < 0)
            goto out;
        metric_add(&m_completed, 1);
    }
    rc = achieve_eval(p->db, user, m.end_ms);
out:
    free(text);
    cJSON_Delete(j);
    return rc;
}

/* Open workouts of user that are over: stopped, or a newer sample is more
 * than idle later (event time: replays decide the same way). */
static int close_by_watermark(progress *p, int64_t user)
{
    int64_t args[2] = {user, p->cfg.idle_ms};
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db,
                           "SELECT w.id FROM progress_workout w JOIN progress_user u"
                           " ON u.user_id=w.user_id WHERE w.user_id=?1 AND w.done=0 AND"
                           " (w.stopped=1 OR u.watermark_ms > w.end_ms + ?2) ORDER BY w.id",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, args[0]);
    sqlite3_bind_int64(st, 2, args[1]);
    int64_t ids[DIRTY_MAX];
    size_t n = 0;
    while (n < DIRTY_MAX && sqlite3_step(st) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++)
        if (complete(p, ids[i]) < 0)
            return -1;
    return 0;
}

/* ---- readings ---- */

static uint32_t dev_number(const char *device)
{
    uint32_t h = 2166136261u; /* FNV-1a: stable across runs and builds */
    for (const char *c = device; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return h % 16u;
}

static int ensure_user(sqlite3 *db, int64_t user)
{
    return progress_exec(db, "INSERT OR IGNORE INTO progress_user(user_id) VALUES(?1)", 1, &user);
}

typedef struct dirty {
    int64_t v[DIRTY_MAX];
    size_t n;
} dirty;

/* 1 when newly added, 0 when present, -1 when full. */
static int dirty_add(dirty *d, int64_t v)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i] == v)
            return 0;
    if (d->n == DIRTY_MAX)
        return -1;
    d->v[d->n++] = v;
    return 1;
}

/* Put one sample in its workout. *late_wid is set when it joined a workout
 * already completed (its metrics must be recomputed). */
static int place_sample(progress *p, int64_t user, int has_stops, const char *gateway,
                        const char *device, wo_sample *s, int64_t now_ms, int64_t *late_wid)
{
    *late_wid = 0;
    int64_t idle = p->cfg.idle_ms;
    sqlite3_stmt *st = hot(p, SQL_SPANS);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, s->ts_ms);
    sqlite3_bind_int64(st, 3, idle);
    wo_span spans[4];
    int64_t ids[4];
    int done[4];
    size_t n = 0;
    while (n < 4 && sqlite3_step(st) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(st, 0);
        spans[n].start_ms = sqlite3_column_int64(st, 1);
        spans[n].end_ms = sqlite3_column_int64(st, 2);
        spans[n].stopped = sqlite3_column_int(st, 3) != 0;
        done[n] = sqlite3_column_int(st, 4);
        n++;
    }
    sqlite3_reset(st);
    /* Explicit stops cut the timeline: a sample joins only workouts between
     * the stop before it and the stop at or after it. */
    int64_t stop_prev = INT64_MIN, stop_next = INT64_MAX;
    if (has_stops) {
        if (!(st = hot(p, SQL_STOPS)))
            return -1;
        sqlite3_bind_int64(st, 1, user);
        sqlite3_bind_int64(st, 2, s->ts_ms);
        if (sqlite3_step(st) == SQLITE_ROW) {
            if (sqlite3_column_type(st, 0) != SQLITE_NULL)
                stop_prev = sqlite3_column_int64(st, 0);
            if (sqlite3_column_type(st, 1) != SQLITE_NULL)
                stop_next = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (spans[i].start_ms > stop_prev && spans[i].start_ms <= stop_next) {
            spans[kept] = spans[i];
            ids[kept] = ids[i];
            done[kept] = done[i];
            kept++;
        }
    n = kept;
    wo_pick pk = wo_session_pick(spans, n, s->ts_ms, idle);
    /* done == 2: sealed (samples dropped, keep_samples_ms): its metrics can
     * no longer be computed again, so a reading for it is counted, not kept. */
    if ((pk.kind != WO_PICK_NEW && done[pk.a] == 2) ||
        (pk.kind == WO_PICK_BRIDGE && done[pk.b] == 2)) {
        metric_add(&m_sealed_late, 1);
        *late_wid = -1;
        return 0;
    }
    int64_t wid;
    if (pk.kind == WO_PICK_NEW) {
        if (!(st = hot(p, SQL_NEW_WORKOUT)))
            return -1;
        sqlite3_bind_int64(st, 1, user);
        sqlite3_bind_text(st, 2, gateway, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, s->ts_ms);
        sqlite3_bind_int64(st, 4, now_ms);
        if (hot_step(st, NULL) != SQLITE_DONE)
            return -1;
        wid = sqlite3_last_insert_rowid(p->db);
    } else {
        size_t keep = pk.a;
        if (pk.kind == WO_PICK_BRIDGE) {
            /* Merge into the higher id: the lower is deleted, so no id (and
             * no WorkoutCompleted event id) is ever reused. */
            size_t gone = ids[pk.a] > ids[pk.b] ? pk.b : pk.a;
            keep = gone == pk.a ? pk.b : pk.a;
            int64_t a[4] = {ids[keep], ids[gone], spans[gone].start_ms, spans[gone].end_ms};
            if (progress_exec(p->db, "UPDATE progress_sample SET workout_id=?1 WHERE workout_id=?2",
                              2, a) < 0 ||
                progress_exec(p->db,
                              "UPDATE progress_workout SET start_ms=min(start_ms, ?3),"
                              " end_ms=max(end_ms, ?4) WHERE id=?1",
                              4, a) < 0 ||
                progress_exec(p->db, "DELETE FROM progress_workout WHERE id=?2", 2, a) < 0)
                return -1;
            done[keep] |= done[gone];
        }
        wid = ids[keep];
        if (!(st = hot(p, SQL_EXTEND)))
            return -1;
        sqlite3_bind_int64(st, 1, wid);
        sqlite3_bind_int64(st, 2, s->ts_ms);
        sqlite3_bind_int64(st, 3, now_ms);
        if (hot_step(st, NULL) != SQLITE_DONE)
            return -1;
        if (done[keep])
            *late_wid = wid;
    }
    if (stop_next != INT64_MAX) {
        /* In progress when the stop came (the same rule as apply_stop). */
        if (!(st = hot(p, SQL_STOP_AT)))
            return -1;
        sqlite3_bind_int64(st, 1, wid);
        sqlite3_bind_int64(st, 2, stop_next);
        sqlite3_bind_int64(st, 3, idle);
        if (hot_step(st, NULL) != SQLITE_DONE)
            return -1;
    }
    if (!(st = hot(p, SQL_SAMPLE)))
        return -1;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, s->ts_ms);
    sqlite3_bind_int64(st, 4, wid);
    uint8_t packed[WO_PACK_MAX];
    size_t plen = wo_sample_pack(s, packed, sizeof packed);
    sqlite3_bind_blob(st, 5, packed, (int)plen, SQLITE_STATIC);
    return plen && hot_step(st, NULL) == SQLITE_DONE ? 0 : -1;
}

static int sample_known(progress *p, int64_t user, const char *device, int64_t ts)
{
    sqlite3_stmt *st = hot(p, SQL_KNOWN);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ts);
    int rc = hot_step(st, NULL);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The user's row with its newest sample time (the watermark). */
static int user_seen(progress *p, int64_t user, int64_t ts)
{
    sqlite3_stmt *st = hot(p, SQL_USER);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, ts);
    return hot_step(st, NULL) == SQLITE_DONE ? 0 : -1;
}

/* Owners of the devices of one batch: a batch has few devices, many
 * readings each. */
typedef struct owners {
    char dev[DIRTY_MAX][FP_DEVICE_MAX + 1];
    int64_t user[DIRTY_MAX];
    int has_stops[DIRTY_MAX]; /* the owner ever stopped a workout explicitly */
    size_t n;
} owners;

/* Stops arrive as their own records, so within one batch the answer holds. */
static int owner_of(progress *p, owners *o, const char *device, int64_t *user, int *has_stops)
{
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->dev[i], device)) {
            *user = o->user[i];
            *has_stops = o->has_stops[i];
            return 0;
        }
    store_status ss = store_device_owner(p->st, device, user);
    if (ss == STORE_ERR_IO)
        return -1;
    if (ss != STORE_OK)
        *user = 0;
    int64_t any = 1;
    sqlite3_stmt *st = *user > 0 ? hot(p, SQL_HAS_STOPS) : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, *user);
        if (hot_step(st, &any) != SQLITE_ROW)
            return -1;
    }
    *has_stops = any != 0;
    if (o->n < DIRTY_MAX) {
        snprintf(o->dev[o->n], sizeof o->dev[0], "%s", device);
        o->user[o->n] = *user;
        o->has_stops[o->n++] = *has_stops;
    }
    return 0;
}

static int64_t ingest_time(const bus_record *rec)
{
    /* The envelope's "time" (when ingest published it) comes before "data";
     * readings JSON has no "time" key of its own. */
    static const char key[] = "\"time\":\"";
    const char *v = rec->value;
    size_t lim = rec->len < 600 ? rec->len : 600;
    for (size_t i = 0; i + sizeof key - 1 + 24 <= lim; i++)
        if (memcmp(v + i, key, sizeof key - 1) == 0) {
            char t[32];
            memcpy(t, v + i + sizeof key - 1, 24);
            t[24] = 0;
            return progress_iso_ms(t);
        }
    return 0;
}

static int apply_readings_tx(progress *p, const fp_batch *b, int64_t ingest_ms, int64_t now_ms)
{
    dirty users = {0}, late = {0};
    int64_t user_max[DIRTY_MAX];
    owners *own = calloc(1, sizeof *own);
    if (!own)
        return -1;
    int rc = -1;
    for (size_t i = 0; i < b->count; i++) {
        const fp_reading *r = &b->readings[i];
        wo_sample s;
        if (!wo_sample_from_reading(r, &s))
            continue;
        int64_t user = 0;
        int has_stops = 1;
        if (owner_of(p, own, r->device, &user, &has_stops) < 0)
            goto out;
        if (user <= 0) {
            metric_add(&m_unbound, 1);
            continue;
        }
        bool skewed;
        s.ts_ms = wo_skew_clamp(r->ts_ms, ingest_ms, p->cfg.max_skew_ms, &skewed);
        if (skewed) {
            s.mask |= WO_SKEWED;
            metric_add(&m_skewed, 1);
        }
        s.dev = dev_number(r->device);
        int known = sample_known(p, user, r->device, s.ts_ms);
        if (known < 0)
            goto out;
        if (known)
            continue; /* the same reading again (another batch, a resend) */
        int64_t late_wid;
        /* Arrival is the ingest time, not the wall clock: a replay then
         * decides idle the same way (the wall clock only as a fallback). */
        int64_t arrival = ingest_ms > 0 ? ingest_ms : now_ms;
        if (place_sample(p, user, has_stops, b->gateway, r->device, &s, arrival, &late_wid) < 0)
            goto out;
        if (late_wid < 0)
            continue; /* for a sealed workout: dropped */
        int added = dirty_add(&users, user);
        if (added < 0) { /* more users than we track: settle this one now */
            if (user_seen(p, user, s.ts_ms) < 0 || close_by_watermark(p, user) < 0)
                goto out;
        } else {
            size_t k = 0;
            while (users.v[k] != user)
                k++;
            if (added || s.ts_ms > user_max[k])
                user_max[k] = s.ts_ms;
        }
        if (late_wid && dirty_add(&late, late_wid) < 0 && complete(p, late_wid) < 0)
            goto out;
    }
    for (size_t i = 0; i < users.n; i++)
        if (user_seen(p, users.v[i], user_max[i]) < 0)
            goto out;
    for (size_t i = 0; i < late.n; i++)
        if (complete(p, late.v[i]) < 0)
            goto out;
    for (size_t i = 0; i < users.n; i++)
        if (close_by_watermark(p, users.v[i]) < 0)
            goto out;
    rc = 0;
out:
    free(own);
    return rc;
}

/* ---- business events ---- */

static int64_t event_user(const evt *e)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(e->data, "user_id");
    if (cJSON_IsNumber(u))
        return (int64_t)u->valuedouble;
    if (cJSON_IsString(u))
        return strtoll(u->valuestring, NULL, 10);
    long long v = 0;
    if (sscanf(e->subject, "user/%lld", &v) == 1)
        return v;
    return 0;
}

static const char *event_str(const evt *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e->data, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An explicit stop at at_ms ends the workout in progress then (the one
 * whose span reaches within idle of at_ms). Samples after at_ms that were
 * processed before the stop (the readings topic ran ahead) move to a
 * workout of their own, and samples processed later never cross the stop
 * (place_sample): the result does not depend on which topic came first. */
static int apply_stop(progress *p, int64_t user, int64_t at_ms)
{
    int64_t k[2] = {user, at_ms};
    if (progress_exec(p->db, "INSERT OR IGNORE INTO progress_stop VALUES(?1, ?2)", 2, k) < 0)
        return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db,
                           "SELECT id, done FROM progress_workout WHERE user_id=?1 AND sealed=0"
                           " AND start_ms <= ?2 AND end_ms + ?3 >= ?2 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, at_ms);
    sqlite3_bind_int64(st, 3, p->cfg.idle_ms);
    int64_t ids[DIRTY_MAX];
    int done[DIRTY_MAX];
    size_t n = 0;
    while (n < DIRTY_MAX && sqlite3_step(st) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(st, 0);
        done[n++] = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++) {
        int64_t b[3] = {ids[i], at_ms, 0};
        if (progress_scalar(p->db,
                            "SELECT count(*) FROM progress_sample WHERE workout_id=?1"
                            " AND ts_ms > ?2",
                            2, b, 0) > 0) {
            /* The part after the stop keeps the old end (and a later stop). */
            if (progress_exec(p->db,
                              "INSERT INTO progress_workout(user_id, gateway, start_ms, end_ms,"
                              " stopped, last_arrival_ms) SELECT w.user_id, w.gateway,"
                              " (SELECT min(ts_ms) FROM progress_sample WHERE workout_id=?1"
                              "  AND ts_ms > ?2), w.end_ms, w.stopped, w.last_arrival_ms"
                              " FROM progress_workout w WHERE w.id=?1",
                              2, b) < 0)
                return -1;
            b[2] = sqlite3_last_insert_rowid(p->db);
            if (progress_exec(p->db,
                              "UPDATE progress_sample SET workout_id=?3 WHERE workout_id=?1"
                              " AND ts_ms > ?2",
                              3, b) < 0)
                return -1;
        }
        if (progress_exec(p->db, "UPDATE progress_workout SET stopped=1, end_ms=?2 WHERE id=?1", 2,
                          b) < 0)
            return -1;
        if (done[i] && complete(p, ids[i]) < 0)
            return -1;
    }
    return close_by_watermark(p, user);
}

static int apply_business_tx(progress *p, const evt *e)
{
    int64_t user = event_user(e);
    int64_t at = progress_iso_ms(e->time);
    if (user <= 0) {
        metric_add(&m_bad, 1);
        return 0;
    }
    int64_t a[2] = {user, at};
    const char *t = e->type;
    if (!strcmp(t, EVT_TYPE_USER_REGISTERED)) {
        /* identity writes "provider" (telegram, whatsapp, wechat) and the
         * registration time; older producers "messenger" and the envelope. */
        const char *msg = event_str(e, "provider");
        if (!msg)
            msg = event_str(e, "messenger");
        const cJSON *rm = cJSON_GetObjectItemCaseSensitive(e->data, "registered_ms");
        if (cJSON_IsNumber(rm) && rm->valuedouble > 0)
            at = (int64_t)rm->valuedouble;
        sqlite3_stmt *st = NULL;
        if (ensure_user(p->db, user) < 0 ||
            sqlite3_prepare_v2(p->db,
                               "UPDATE progress_user SET registered_ms=?2, messenger=?3"
                               " WHERE user_id=?1",
                               -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_int64(st, 1, user);
        sqlite3_bind_int64(st, 2, at);
        sqlite3_bind_text(st, 3, msg ? msg : "unknown", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    if (!strcmp(t, EVT_TYPE_2FA_ENABLED) || !strcmp(t, EVT_TYPE_2FA_DISABLED)) {
        int on = !strcmp(t, EVT_TYPE_2FA_ENABLED);
        if (ensure_user(p->db, user) < 0 ||
            progress_exec(p->db,
                          on ? "UPDATE progress_user SET two_factor=1, two_factor_ever=1"
                               " WHERE user_id=?1"
                             : "UPDATE progress_user SET two_factor=0 WHERE user_id=?1",
                          1, a) < 0)
            return -1;
        return on ? achieve_eval(p->db, user, at) : 0;
    }
    if (!strcmp(t, EVT_TYPE_DEVICE_PAIRED)) {
        const char *dev = event_str(e, "device");
        sqlite3_stmt *st = NULL;
        if (ensure_user(p->db, user) < 0 ||
            sqlite3_prepare_v2(p->db, "INSERT OR IGNORE INTO progress_device VALUES(?1, ?2)", -1,
                               &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_int64(st, 1, user);
        sqlite3_bind_text(st, 2, dev ? dev : "?", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? achieve_eval(p->db, user, at) : -1;
    }
    if (!strcmp(t, EVT_TYPE_ORDER_PAID)) {
        const char *order = event_str(e, "order_id");
        char oid[64];
        const cJSON *on = cJSON_GetObjectItemCaseSensitive(e->data, "order_id");
        if (!order && cJSON_IsNumber(on)) {
            snprintf(oid, sizeof oid, "%.0f", on->valuedouble);
            order = oid;
        }
        sqlite3_stmt *st = NULL;
        if (ensure_user(p->db, user) < 0 ||
            sqlite3_prepare_v2(p->db, "INSERT OR IGNORE INTO progress_purchase VALUES(?1, ?2, ?3)",
                               -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_text(st, 1, order ? order : e->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, user);
        sqlite3_bind_int64(st, 3, at);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? achieve_eval(p->db, user, at) : -1;
    }
    if (!strcmp(t, PROGRESS_TYPE_STOP)) {
        const cJSON *am = cJSON_GetObjectItemCaseSensitive(e->data, "at_ms");
        a[1] = cJSON_IsNumber(am) ? (int64_t)am->valuedouble : at;
        return apply_stop(p, user, a[1]);
    }
    if (!strcmp(t, EVT_TYPE_WORKOUT_COMPLETED)) {
        metric_add(&m_seen_completed, 1); /* our own, back from the bus */
        return 0;
    }
    metric_add(&m_unknown, 1);
    return 0;
}

/* ---- one record, one transaction ---- */

static int inbox_claim(progress *p, const char *id)
{
    sqlite3_stmt *st = hot(p, SQL_INBOX);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (hot_step(st, NULL) != SQLITE_DONE)
        return -1;
    return sqlite3_changes(p->db) == 1 ? 1 : 0;
}

int progress_apply(progress *p, const bus_record *rec, int64_t now_ms)
{
    metric_add(&m_applied, 1);
    int readings = rec->topic && !strcmp(rec->topic, EVT_TOPIC_READINGS);
    fp_batch b;
    evt e;
    char id[200];
    if (readings) {
        if (evt_readings_decode(rec->value, rec->len, &b) != FP_OK) {
            metric_add(&m_bad, 1);
            log_warn("progress_rejected", "undecodable readings event skipped");
            return 0;
        }
        snprintf(id, sizeof id, "r/%s/%016" PRIx64 "/%" PRIu64, b.gateway, b.epoch, b.seq);
    } else {
        if (evt_decode(rec->value, rec->len, &e) < 0) {
            metric_add(&m_bad, 1);
            log_warn("progress_rejected", "undecodable business event skipped");
            return 0;
        }
        snprintf(id, sizeof id, "e/%s", e.id);
    }
    int rc = -1;
    if (sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    int claim = inbox_claim(p, id);
    if (claim == 0)
        metric_add(&m_dups, 1);
    if (claim == 1)
        rc = readings ? apply_readings_tx(p, &b, ingest_time(rec), now_ms)
                      : apply_business_tx(p, &e);
    else
        rc = claim == 0 ? 0 : -1;
    if (rc == 0 && sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc < 0) {
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
        log_warn("progress_retry", "applying a record failed; it will be retried", "id", id);
    }
out:
    if (readings)
        fp_batch_free(&b);
    else
        evt_free(&e);
    return rc;
}

/* Drop the samples of workouts that ended more than keep_samples_ms ago,
 * keeping their chart series; inside the caller's transaction. */
static int seal_old(progress *p, int64_t now_ms)
{
    if (!p->cfg.keep_samples_ms)
        return 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db,
                           "SELECT id, start_ms, end_ms FROM progress_workout WHERE done=1"
                           " AND sealed=0 AND end_ms < ?1 ORDER BY id LIMIT 16",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms - p->cfg.keep_samples_ms);
    int64_t w[16][3];
    size_t n = 0;
    while (n < 16 && sqlite3_step(st) == SQLITE_ROW) {
        for (int k = 0; k < 3; k++)
            w[n][k] = sqlite3_column_int64(st, k);
        n++;
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++) {
        cJSON *ser = progress_series(p->db, w[i][0], w[i][1], w[i][2], PROGRESS_SERIES_KEPT);
        char *text = ser ? cJSON_PrintUnformatted(ser) : NULL;
        cJSON_Delete(ser);
        int rc = -1;
        if (text &&
            sqlite3_prepare_v2(p->db, "UPDATE progress_workout SET sealed=1, series=?2 WHERE id=?1",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, w[i][0]);
            sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            sqlite3_finalize(st);
        }
        free(text);
        if (rc < 0 ||
            progress_exec(p->db, "DELETE FROM progress_sample WHERE workout_id=?1", 1, w[i]) < 0)
            return -1;
    }
    return 0;
}

int progress_tick(progress *p, int64_t now_ms)
{
    if (sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    sqlite3_stmt *st = NULL;
    int64_t ids[64];
    size_t n = 0;
    if (sqlite3_prepare_v2(p->db,
                           "SELECT id FROM progress_workout WHERE done=0 AND"
                           " (stopped=1 OR last_arrival_ms + ?1 < ?2) ORDER BY id LIMIT 64",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, p->cfg.idle_ms);
        sqlite3_bind_int64(st, 2, now_ms);
        while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
            ids[n++] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = complete(p, ids[i]);
    if (rc == 0)
        rc = seal_old(p, now_ms);
    if (rc == 0 && sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc < 0) {
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return (int)n;
}
