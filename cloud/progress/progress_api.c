/* progress_api.c - workouts, stop, settings, achievements and leaderboard
 * endpoints (see progress_api.h). Totals and analytics: progress_stats.c. */
#include "progress_api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "fitcommon/log.h"
#include "outbox.h"
#include "progress_api_int.h"

#define SERIES_DEFAULT 200
#define SERIES_MAX     1000
#define PAGE_DEFAULT   20
#define PAGE_MAX       100
#define BOARD_SIZE     20

int64_t papi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int progress_api_new(progress_api **out, const char *db_path)
{
    *out = NULL;
    progress_api *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    pthread_mutex_init(&a->mu, NULL);
    if (progress_db_open(&a->db, db_path) < 0 || progress_schema(a->db) < 0) {
        progress_api_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void progress_api_free(progress_api *a)
{
    if (!a)
        return;
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

sqlite3_stmt *papi_prep(progress_api *a, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("progress_api", "prepare failed", "error", sqlite3_errmsg(a->db));
        return NULL;
    }
    return st;
}

static cJSON *workout_row(sqlite3_stmt *st)
{
    /* columns: id, gateway, start_ms, end_ms, done, metrics */
    cJSON *w = cJSON_CreateObject();
    cJSON_AddNumberToObject(w, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(w, "gym", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddNumberToObject(w, "start_ms", (double)sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(w, "end_ms", (double)sqlite3_column_int64(st, 3));
    cJSON_AddBoolToObject(w, "in_progress", sqlite3_column_int(st, 4) == 0);
    const char *m = (const char *)sqlite3_column_text(st, 5);
    cJSON *mj = m ? cJSON_Parse(m) : NULL;
    cJSON_AddItemToObject(w, "metrics", mj ? mj : cJSON_CreateObject());
    return w;
}

/* GET /api/v1/workouts?cursor=&limit=: the cursor is the last item's
 * "start_ms.id" (stable under inserts of newer workouts). */
static int list_workouts(void *ctx, api_req *rq)
{
    progress_api *a = ctx;
    int64_t user = api_who(rq)->user_id, limit;
    if (api_query_i64(rq, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit) < 0)
        return api_reply_error(rq, 400, "malformed", "limit must be 1..100.");
    long long cs = INT64_MAX, ci = INT64_MAX;
    const char *cursor = api_query(rq, "cursor");
    if (cursor && *cursor && sscanf(cursor, "%lld.%lld", &cs, &ci) != 2)
        return api_reply_error(rq, 400, "malformed", "The cursor is not one we gave out.");
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = papi_prep(a, "SELECT id, gateway, start_ms, end_ms, done, metrics"
                                    " FROM progress_workout WHERE user_id=?1 AND"
                                    " (start_ms < ?2 OR (start_ms = ?2 AND id < ?3))"
                                    " ORDER BY start_ms DESC, id DESC LIMIT ?4");
    if (!st) {
        pthread_mutex_unlock(&a->mu);
        return api_reply_error(rq, 500, "internal", "Try again later.");
    }
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, cs);
    sqlite3_bind_int64(st, 3, ci);
    sqlite3_bind_int64(st, 4, limit + 1);
    cJSON *body = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(body, "items");
    int64_t n = 0, last_s = 0, last_id = 0;
    int more = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == limit) {
            more = 1;
            break;
        }
        cJSON_AddItemToArray(items, workout_row(st));
        last_id = sqlite3_column_int64(st, 0);
        last_s = sqlite3_column_int64(st, 2);
        n++;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&a->mu);
    if (more) {
        char next[64];
        snprintf(next, sizeof next, "%" PRId64 ".%" PRId64, last_s, last_id);
        cJSON_AddStringToObject(body, "next_cursor", next);
    } else
        cJSON_AddNullToObject(body, "next_cursor");
    return api_reply_json(rq, 200, body);
}

static int get_workout(void *ctx, api_req *rq)
{
    progress_api *a = ctx;
    int64_t user = api_who(rq)->user_id, points;
    char *end = NULL;
    const char *arg = api_path_arg(rq, 0);
    long long wid = arg ? strtoll(arg, &end, 10) : 0;
    if (!arg || *end || wid <= 0)
        return api_reply_error(rq, 404, "not_found", "No such workout.");
    if (api_query_i64(rq, "points", SERIES_DEFAULT, 2, SERIES_MAX, &points) < 0)
        return api_reply_error(rq, 400, "malformed", "points must be 2..1000.");
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = papi_prep(a, "SELECT id, gateway, start_ms, end_ms, done, metrics, series"
                                    " FROM progress_workout WHERE id=?1 AND user_id=?2");
    cJSON *w = NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, wid);
        sqlite3_bind_int64(st, 2, user);
        if (sqlite3_step(st) == SQLITE_ROW) {
            w = workout_row(st);
            int64_t s0 = sqlite3_column_int64(st, 2), s1 = sqlite3_column_int64(st, 3);
            /* a sealed workout has only its stored series left */
            const char *kept = (const char *)sqlite3_column_text(st, 6);
            cJSON *ser = kept ? cJSON_Parse(kept) : NULL;
            sqlite3_finalize(st);
            st = NULL;
            if (!ser)
                ser = progress_series(a->db, wid, s0, s1, (int)points);
            cJSON_AddItemToObject(w, "series", ser ? ser : cJSON_CreateArray());
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&a->mu);
    if (!w) /* someone else's workout looks the same as none */
        return api_reply_error(rq, 404, "not_found", "No such workout.");
    return api_reply_json(rq, 200, w);
}

static int stop_workout(void *ctx, api_req *rq)
{
    progress_api *a = ctx;
    int64_t user = api_who(rq)->user_id, now = papi_now_ms();
    char id[96], key[32], subject[64];
    snprintf(id, sizeof id, "user/%" PRId64 "/stop/%" PRId64, user, now);
    snprintf(key, sizeof key, "%" PRId64, user);
    snprintf(subject, sizeof subject, "user/%" PRId64, user);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "user_id", (double)user);
    cJSON_AddNumberToObject(d, "at_ms", (double)now);
    pthread_mutex_lock(&a->mu);
    int ok = sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    if (ok && (outbox_add(a->db, EVT_TOPIC_WORKOUTS, key, id, PROGRESS_TYPE_STOP, PROGRESS_SOURCE,
                          subject, d) < 0 ||
               sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)) {
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        ok = 0;
    }
    pthread_mutex_unlock(&a->mu);
    cJSON_Delete(d);
    if (!ok)
        return api_reply_error(rq, 503, "unavailable", "Could not stop the workout; try again.");
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "stopped_at_ms", (double)now);
    return api_reply_json(rq, 202, body);
}

/* PUT /api/v1/progress/settings {"opt_out":bool,"max_hr":..,"rest_hr":..,
 * "age":..,"weight_kg":..,"sex":"male"|"female"|"","tz_offset_min":..} */
static int put_settings(void *ctx, api_req *rq)
{
    progress_api *a = ctx;
    const cJSON *b = api_body_json(rq);
    if (!b)
        return api_reply_error(rq, 400, "malformed", "Send a JSON object.");
    static const struct {
        const char *key;
        double min, max;
    } nums[] = {{"max_hr", 0, 250},
                {"rest_hr", 0, 150},
                {"age", 0, 120},
                {"weight_kg", 0, 400},
                {"tz_offset_min", -840, 840}};
    double v[5] = {0};
    for (size_t i = 0; i < 5; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(b, nums[i].key);
        if (x &&
            (!cJSON_IsNumber(x) || x->valuedouble < nums[i].min || x->valuedouble > nums[i].max))
            return api_reply_error(rq, 400, "malformed", "A setting is out of range.");
        v[i] = x ? x->valuedouble : 0;
    }
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(b, "opt_out");
    const char *sex = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "sex"));
    if (opt && !cJSON_IsBool(opt))
        return api_reply_error(rq, 400, "malformed", "opt_out is true or false.");
    int sexn = sex && !strcmp(sex, "male") ? 1 : sex && !strcmp(sex, "female") ? 2 : 0;
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = papi_prep(
        a, "INSERT INTO progress_settings(user_id, opt_out, max_hr, rest_hr, age, weight_kg,"
           " sex, tz_offset_min) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
           " ON CONFLICT(user_id) DO UPDATE SET opt_out=excluded.opt_out,"
           " max_hr=excluded.max_hr, rest_hr=excluded.rest_hr, age=excluded.age,"
           " weight_kg=excluded.weight_kg, sex=excluded.sex, tz_offset_min=excluded.tz_offset_min");
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, api_who(rq)->user_id);
        sqlite3_bind_int(st, 2, cJSON_IsTrue(opt));
        for (int i = 0; i < 4; i++)
            sqlite3_bind_double(st, 3 + i, v[i]);
        sqlite3_bind_int(st, 7, sexn);
        sqlite3_bind_int(st, 8, (int)v[4]);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&a->mu);
    if (rc != SQLITE_DONE)
        return api_reply_error(rq, 500, "internal", "Could not save; try again.");
    return api_reply_json_str(rq, 200, "{\"saved\":true}");
}

static int get_achievements(void *ctx, api_req *rq)
{
    progress_api *a = ctx;
    int64_t user = api_who(rq)->user_id;
    cJSON *body = cJSON_CreateObject();
    cJSON *earned = cJSON_AddArrayToObject(body, "earned");
    cJSON *next = cJSON_AddArrayToObject(body, "next");
    pthread_mutex_lock(&a->mu);
    int tz = 0;
    wo_profile prof;
    progress_profile(a->db, user, &prof, &tz);
    achieve_stats s;
    achieve_stats_get(a->db, user, achieve_day(papi_now_ms(), tz), &s);
    int64_t points = progress_scalar(
        a->db, "SELECT total(points) FROM progress_achievement WHERE user_id=?1", 1, &user, 0);
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(achieve_catalogue(), "achievements");
    const cJSON *c;
    cJSON_ArrayForEach(c, cat)
    {
        const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "code"));
        sqlite3_stmt *st = papi_prep(a, "SELECT unlocked_ms FROM progress_achievement"
                                        " WHERE user_id=?1 AND code=?2");
        if (!st || !code) {
            sqlite3_finalize(st);
            continue;
        }
        sqlite3_bind_int64(st, 1, user);
        sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
        cJSON *item = cJSON_Duplicate(c, 1);
        if (sqlite3_step(st) == SQLITE_ROW) {
            cJSON_AddNumberToObject(item, "unlocked_ms", (double)sqlite3_column_int64(st, 0));
            cJSON_AddItemToArray(earned, item);
        } else {
            const char *stat = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "stat"));
            double have = !stat                             ? 0
                          : !strcmp(stat, "workouts")       ? (double)s.workouts
                          : !strcmp(stat, "streak_days")    ? (double)s.longest_streak
                          : !strcmp(stat, "distance_m")     ? s.distance_m
                          : !strcmp(stat, "duration_s")     ? s.duration_s
                          : !strcmp(stat, "devices_paired") ? (double)s.devices_paired
                          : !strcmp(stat, "two_factor")     ? (double)s.two_factor
                                                            : (double)s.purchases;
            cJSON_AddNumberToObject(item, "have", have);
            cJSON_AddItemToArray(next, item);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&a->mu);
    int64_t next_at;
    cJSON_AddNumberToObject(body, "points", (double)points);
    cJSON_AddNumberToObject(body, "level", achieve_level(points, &next_at));
    if (next_at)
        cJSON_AddNumberToObject(body, "next_level_points", (double)next_at);
    cJSON *streak = cJSON_AddObjectToObject(body, "streak");
    cJSON_AddNumberToObject(streak, "current_days", (double)s.current_streak);
    cJSON_AddNumberToObject(streak, "longest_days", (double)s.longest_streak);
    cJSON_AddNumberToObject(streak, "tz_offset_min", tz);
    return api_reply_json(rq, 200, body);
}

/* Monday 00:00 UTC of the week of ms. */
int64_t papi_week_start(int64_t ms)
{
    int64_t day = ms / 86400000;
    int64_t dow = (day + 3) % 7; /* 1970-01-01 was a Thursday: Monday = 0 */
    return (day - dow) * 86400000;
}

/* GET /api/v1/leaderboard?gym=: this week's users of a gym by training load
 * (TRIMP), then time; users who opted out are left out. Others appear
 * under a rank only; the caller sees which row is theirs. */
static int leaderboard(void *ctx, api_req *rq)
{
    progress_api *a = ctx;
    const char *gym = api_query(rq, "gym");
    if (!gym || !fp_gateway_id_valid(gym, strlen(gym)))
        return api_reply_error(rq, 400, "malformed", "Say which gym (gym=<gateway id>).");
    int64_t user = api_who(rq)->user_id, week = papi_week_start(papi_now_ms());
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = papi_prep(
        a, "SELECT w.user_id, count(*), total(w.duration_s), total(w.trimp), total(w.distance_m)"
           " FROM progress_workout w LEFT JOIN progress_settings s ON s.user_id=w.user_id"
           " WHERE w.gateway=?1 AND w.done=1 AND w.start_ms >= ?2 AND coalesce(s.opt_out,0)=0"
           " GROUP BY w.user_id ORDER BY 4 DESC, 3 DESC, 1 LIMIT ?3");
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "gym", gym);
    cJSON_AddNumberToObject(body, "week_start_ms", (double)week);
    cJSON *rows = cJSON_AddArrayToObject(body, "rows");
    if (st) {
        sqlite3_bind_text(st, 1, gym, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, week);
        sqlite3_bind_int(st, 3, BOARD_SIZE);
        for (int rank = 1; sqlite3_step(st) == SQLITE_ROW; rank++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "rank", rank);
            cJSON_AddBoolToObject(r, "you", sqlite3_column_int64(st, 0) == user);
            cJSON_AddNumberToObject(r, "workouts", (double)sqlite3_column_int64(st, 1));
            cJSON_AddNumberToObject(r, "duration_s", sqlite3_column_double(st, 2));
            cJSON_AddNumberToObject(r, "trimp", sqlite3_column_double(st, 3));
            cJSON_AddNumberToObject(r, "distance_m", sqlite3_column_double(st, 4));
            cJSON_AddItemToArray(rows, r);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&a->mu);
    return api_reply_json(rq, 200, body);
}

const api_route progress_routes[] = {
    {"GET", "/api/v1/workouts", API_USER, "workouts", list_workouts},
    {"POST", "/api/v1/workouts/stop", API_USER, "workout_stop", stop_workout},
    {"GET", "/api/v1/workouts/*", API_USER, "workout", get_workout},
    {"GET", "/api/v1/progress", API_USER, "progress", papi_progress},
    {"PUT", "/api/v1/progress/settings", API_USER, "progress_settings", put_settings},
    {"GET", "/api/v1/achievements", API_USER, "achievements", get_achievements},
    {"GET", "/api/v1/leaderboard", API_USER, "leaderboard", leaderboard},
    {"GET", "/api/v1/admin/analytics", API_ADMIN, "analytics", papi_analytics},
};
const size_t progress_nroutes = sizeof progress_routes / sizeof progress_routes[0];
