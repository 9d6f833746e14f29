/* progress_stats.c - GET /api/v1/progress (totals, trend, records,
 * comparisons) and the company analytics (JSON and CSV). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress_api_int.h"

#define WEEKS         8
#define MONTHS        6
#define COHORT_MIN    5 /* fewer users than this: no percentile (privacy) */
#define COHORT_DAYS   28
#define SIMILAR_RATIO 0.3 /* "similar" workouts: duration within +-30 % */

/* Rows of (label, count, duration, distance, energy, trimp) per period. */
static cJSON *periods(progress_api *a, int64_t user, int tz, const char *group_expr, int64_t since,
                      int limit)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT %s AS p, count(*), total(duration_s), total(distance_m), total(energy_j),"
             " total(trimp) FROM progress_workout WHERE user_id=?1 AND done=1 AND start_ms >= ?3"
             " GROUP BY p ORDER BY p DESC LIMIT ?4",
             group_expr);
    sqlite3_stmt *st = papi_prep(a, sql);
    cJSON *arr = cJSON_CreateArray();
    if (!st)
        return arr;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, tz);
    sqlite3_bind_int64(st, 3, since);
    sqlite3_bind_int(st, 4, limit);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *r = cJSON_CreateObject();
        if (sqlite3_column_type(st, 0) == SQLITE_INTEGER) /* week: its Monday */
            cJSON_AddNumberToObject(r, "week_start_ms",
                                    (double)(sqlite3_column_int64(st, 0) * 7 - 3) * 86400000.0 -
                                        (double)tz * 60000.0);
        else
            cJSON_AddStringToObject(r, "month", (const char *)sqlite3_column_text(st, 0));
        cJSON_AddNumberToObject(r, "workouts", (double)sqlite3_column_int64(st, 1));
        cJSON_AddNumberToObject(r, "duration_s", sqlite3_column_double(st, 2));
        cJSON_AddNumberToObject(r, "distance_m", sqlite3_column_double(st, 3));
        cJSON_AddNumberToObject(r, "energy_j", sqlite3_column_double(st, 4));
        cJSON_AddNumberToObject(r, "trimp", sqlite3_column_double(st, 5));
        cJSON_AddItemToArray(arr, r);
    }
    sqlite3_finalize(st);
    return arr;
}

static void record(progress_api *a, cJSON *to, const char *name, int64_t user, const char *expr,
                   const char *order)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT id, %s AS v FROM progress_workout WHERE user_id=?1 AND done=1 AND v > 0"
             " ORDER BY v %s, id LIMIT 1",
             expr, order);
    sqlite3_stmt *st = papi_prep(a, sql);
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, user);
    if (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *r = cJSON_AddObjectToObject(to, name);
        cJSON_AddNumberToObject(r, "workout_id", (double)sqlite3_column_int64(st, 0));
        cJSON_AddNumberToObject(r, "value", sqlite3_column_double(st, 1));
    }
    sqlite3_finalize(st);
}

/* The last workout against the user's earlier ones of similar duration. */
static cJSON *compare_own(progress_api *a, int64_t user)
{
    sqlite3_stmt *st = papi_prep(a, "SELECT id, start_ms, duration_s, avg_hr, distance_m,"
                                    " energy_j, trimp FROM progress_workout WHERE user_id=?1"
                                    " AND done=1 ORDER BY start_ms DESC, id DESC LIMIT 1");
    if (!st)
        return cJSON_CreateNull();
    sqlite3_bind_int64(st, 1, user);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cJSON_CreateNull();
    }
    int64_t id = sqlite3_column_int64(st, 0), start = sqlite3_column_int64(st, 1);
    double d = sqlite3_column_double(st, 2), last[4];
    for (int i = 0; i < 4; i++)
        last[i] = sqlite3_column_double(st, 3 + i);
    sqlite3_finalize(st);
    st = papi_prep(a, "SELECT count(*), avg(avg_hr), avg(distance_m), avg(energy_j), avg(trimp)"
                      " FROM progress_workout WHERE user_id=?1 AND done=1 AND start_ms < ?2"
                      " AND duration_s BETWEEN ?3 AND ?4");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "workout_id", (double)id);
    if (!st)
        return c;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, start);
    sqlite3_bind_double(st, 3, d * (1 - SIMILAR_RATIO));
    sqlite3_bind_double(st, 4, d * (1 + SIMILAR_RATIO));
    static const char *const names[4] = {"avg_hr", "distance_m", "energy_j", "trimp"};
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 0);
        cJSON_AddNumberToObject(c, "similar_earlier", (double)n);
        cJSON *delta = cJSON_AddObjectToObject(c, "difference");
        for (int i = 0; n > 0 && i < 4; i++)
            cJSON_AddNumberToObject(delta, names[i], last[i] - sqlite3_column_double(st, 1 + i));
    }
    sqlite3_finalize(st);
    return c;
}

/* Where the user's last-28-days training time stands among other users who
 * did not opt out (aggregates only: a percentile, the cohort's size). */
static cJSON *percentiles(progress_api *a, int64_t user, int64_t now, int opted_out)
{
    cJSON *p = cJSON_CreateObject();
    if (opted_out) {
        cJSON_AddStringToObject(p, "status", "opted_out");
        return p;
    }
    sqlite3_stmt *st = papi_prep(
        a, "WITH t AS (SELECT w.user_id AS u, total(w.duration_s) AS d, total(w.trimp) AS l"
           " FROM progress_workout w LEFT JOIN progress_settings s ON s.user_id=w.user_id"
           " WHERE w.done=1 AND w.start_ms >= ?2 AND coalesce(s.opt_out,0)=0 GROUP BY w.user_id)"
           " SELECT (SELECT count(*) FROM t),"
           " (SELECT count(*) FROM t WHERE d < (SELECT d FROM t WHERE u=?1)),"
           " (SELECT count(*) FROM t WHERE d = (SELECT d FROM t WHERE u=?1)),"
           " (SELECT count(*) FROM t WHERE l < (SELECT l FROM t WHERE u=?1)),"
           " (SELECT count(*) FROM t WHERE l = (SELECT l FROM t WHERE u=?1))");
    if (!st)
        return p;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, now - (int64_t)COHORT_DAYS * 86400000);
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 0);
        cJSON_AddNumberToObject(p, "cohort_days", COHORT_DAYS);
        if (n < COHORT_MIN || sqlite3_column_int64(st, 2) == 0)
            cJSON_AddStringToObject(p, "status", n < COHORT_MIN ? "too_few_users" : "no_workouts");
        else {
            cJSON_AddStringToObject(p, "status", "ok");
            cJSON_AddNumberToObject(p, "cohort_users", (double)n);
            /* percentile rank: below + half of the ties */
            double dur =
                100.0 *
                ((double)sqlite3_column_int64(st, 1) + 0.5 * (double)sqlite3_column_int64(st, 2)) /
                (double)n;
            double load =
                100.0 *
                ((double)sqlite3_column_int64(st, 3) + 0.5 * (double)sqlite3_column_int64(st, 4)) /
                (double)n;
            cJSON_AddNumberToObject(p, "duration_percentile", dur);
            cJSON_AddNumberToObject(p, "training_load_percentile", load);
        }
    }
    sqlite3_finalize(st);
    return p;
}

int papi_progress(void *ctx, api_req *rq)
{
    progress_api *a = ctx;
    int64_t user = api_who(rq)->user_id, now = papi_now_ms();
    cJSON *body = cJSON_CreateObject();
    pthread_mutex_lock(&a->mu);
    int tz = 0;
    wo_profile prof;
    progress_profile(a->db, user, &prof, &tz);
    int opted = (int)progress_scalar(
        a->db, "SELECT opt_out FROM progress_settings WHERE user_id=?1", 1, &user, 0);
    cJSON *weeks = periods(a, user, tz, "((start_ms + ?2 * 60000) / 86400000 + 3) / 7",
                           now - (int64_t)WEEKS * 7 * 86400000, WEEKS);
    cJSON *months =
        periods(a, user, tz, "strftime('%Y-%m', (start_ms + ?2 * 60000) / 1000, 'unixepoch')",
                now - (int64_t)(MONTHS + 1) * 31 * 86400000, MONTHS);
    cJSON_AddItemToObject(body, "weekly", weeks);
    cJSON_AddItemToObject(body, "monthly", months);
    /* trend: this week's time against last week's */
    double w0 = 0, w1 = 0;
    int64_t this_week = ((now + (int64_t)tz * 60000) / 86400000 + 3) / 7;
    const cJSON *w;
    cJSON_ArrayForEach(w, weeks)
    {
        int64_t k = ((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(w, "week_start_ms")) +
                     (int64_t)tz * 60000) /
                    86400000;
        int64_t idx = (k + 3) / 7;
        double d = cJSON_GetNumberValue(cJSON_GetObjectItem(w, "duration_s"));
        if (idx == this_week)
            w0 = d;
        else if (idx == this_week - 1)
            w1 = d;
    }
    cJSON *trend = cJSON_AddObjectToObject(body, "trend");
    cJSON_AddNumberToObject(trend, "this_week_duration_s", w0);
    cJSON_AddNumberToObject(trend, "last_week_duration_s", w1);
    if (w1 > 0)
        cJSON_AddNumberToObject(trend, "change_pct", 100.0 * (w0 - w1) / w1);
    cJSON *rec = cJSON_AddObjectToObject(body, "records");
    record(a, rec, "longest_duration_s", user, "duration_s", "DESC");
    record(a, rec, "longest_distance_m", user, "distance_m", "DESC");
    record(a, rec, "most_energy_j", user, "energy_j", "DESC");
    record(a, rec, "highest_training_load", user, "trimp", "DESC");
    record(a, rec, "best_pace_s_per_km", user,
           "CASE WHEN distance_m >= 1000 THEN json_extract(metrics, '$.pace_s_per_km') END", "ASC");
    cJSON_AddItemToObject(body, "compared_with_own", compare_own(a, user));
    cJSON_AddItemToObject(body, "compared_with_others", percentiles(a, user, now, opted));
    cJSON_AddBoolToObject(body, "opt_out", opted);
    pthread_mutex_unlock(&a->mu);
    return api_reply_json(rq, 200, body);
}

/* ---- company analytics ---- */

static void rows(progress_api *a, cJSON *arr, const char *sql, const char *const *names, int n,
                 int64_t arg)
{
    sqlite3_stmt *st = papi_prep(a, sql);
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, arg);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *r = cJSON_CreateObject();
        for (int i = 0; i < n; i++)
            if (sqlite3_column_type(st, i) == SQLITE_TEXT)
                cJSON_AddStringToObject(r, names[i], (const char *)sqlite3_column_text(st, i));
            else
                cJSON_AddNumberToObject(r, names[i], sqlite3_column_double(st, i));
        cJSON_AddItemToArray(arr, r);
    }
    sqlite3_finalize(st);
}

static cJSON *analytics_json(progress_api *a, int64_t now)
{
    cJSON *j = cJSON_CreateObject();
    static const char *const reg_names[] = {"day", "messenger", "users"};
    rows(a, cJSON_AddArrayToObject(j, "registrations"),
         "SELECT date(registered_ms / 1000, 'unixepoch') AS d, messenger, count(*)"
         " FROM progress_user WHERE registered_ms > 0 GROUP BY d, messenger ORDER BY d, messenger",
         reg_names, 3, 0);
    int64_t z = 0;
    double reg = (double)progress_scalar(
        a->db, "SELECT count(*) FROM progress_user WHERE registered_ms > 0", 0, &z, 0);
    double tfa = (double)progress_scalar(
        a->db, "SELECT count(*) FROM progress_user WHERE registered_ms > 0 AND two_factor=1", 0, &z,
        0);
    cJSON *t = cJSON_AddObjectToObject(j, "two_factor");
    cJSON_AddNumberToObject(t, "registered_users", reg);
    cJSON_AddNumberToObject(t, "enabled_users", tfa);
    cJSON_AddNumberToObject(t, "adoption_pct", reg > 0 ? 100.0 * tfa / reg : 0);
    cJSON *act = cJSON_AddObjectToObject(j, "active_users");
    static const struct {
        const char *name;
        int days;
    } win[] = {{"day", 1}, {"week", 7}, {"month", 30}};
    for (int i = 0; i < 3; i++) {
        int64_t since = now - (int64_t)win[i].days * 86400000;
        cJSON_AddNumberToObject(
            act, win[i].name,
            (double)progress_scalar(a->db,
                                    "SELECT count(DISTINCT user_id) FROM progress_workout"
                                    " WHERE start_ms >= ?1",
                                    1, &since, 0));
    }
    static const char *const gw_names[] = {"gym", "workouts", "users"};
    rows(a, cJSON_AddArrayToObject(j, "workouts_per_gym"),
         "SELECT gateway, count(*), count(DISTINCT user_id) FROM progress_workout WHERE done=1"
         " GROUP BY gateway ORDER BY gateway",
         gw_names, 3, 0);
    cJSON *f = cJSON_AddObjectToObject(j, "funnel");
    double paired = (double)progress_scalar(
        a->db,
        "SELECT count(*) FROM progress_user u WHERE registered_ms > 0 AND EXISTS"
        " (SELECT 1 FROM progress_device d WHERE d.user_id=u.user_id)",
        0, &z, 0);
    double worked = (double)progress_scalar(
        a->db,
        "SELECT count(*) FROM progress_user u WHERE registered_ms > 0 AND EXISTS"
        " (SELECT 1 FROM progress_workout w WHERE w.user_id=u.user_id AND w.done=1)",
        0, &z, 0);
    cJSON_AddNumberToObject(f, "registered", reg);
    cJSON_AddNumberToObject(f, "paired_device", paired);
    cJSON_AddNumberToObject(f, "first_workout", worked);
    cJSON_AddNumberToObject(f, "registered_to_first_workout_pct",
                            reg > 0 ? 100.0 * worked / reg : 0);
    return j;
}

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void append(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p)
            return;
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

static void line(text *t, const char *section, const char *key, const char *day, double value)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s,%s,%s,%.10g\n", section, key ? key : "", day ? day : "",
                     value);
    if (n > 0 && (size_t)n < sizeof buf)
        append(t, buf, (size_t)n);
}

/* CSV values here are ids of our own making (messenger names, gateway ids:
 * [A-Za-z0-9._-]) and numbers: nothing needs quoting. */
static char *analytics_csv(const cJSON *j, size_t *len)
{
    text t = {0};
    append(&t, "section,key,day,value\n", 22);
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "registrations"))
    {
        line(&t, "registrations", cJSON_GetStringValue(cJSON_GetObjectItem(r, "messenger")),
             cJSON_GetStringValue(cJSON_GetObjectItem(r, "day")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(r, "users")));
    }
    static const char *const secs[] = {"two_factor", "active_users", "funnel"};
    for (int s = 0; s < 3; s++) {
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, secs[s]))
        {
            line(&t, secs[s], r->string, "", r->valuedouble);
        }
    }
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "workouts_per_gym"))
    {
        const char *g = cJSON_GetStringValue(cJSON_GetObjectItem(r, "gym"));
        char key[128];
        snprintf(key, sizeof key, "%s.workouts", g ? g : "");
        line(&t, "workouts_per_gym", key, "",
             cJSON_GetNumberValue(cJSON_GetObjectItem(r, "workouts")));
        snprintf(key, sizeof key, "%s.users", g ? g : "");
        line(&t, "workouts_per_gym", key, "",
             cJSON_GetNumberValue(cJSON_GetObjectItem(r, "users")));
    }
    *len = t.len;
    return t.p;
}

int progress_analytics(progress_api *a, int64_t now_ms, int csv, char **out, size_t *len)
{
    pthread_mutex_lock(&a->mu);
    cJSON *j = analytics_json(a, now_ms);
    pthread_mutex_unlock(&a->mu);
    *out = csv ? analytics_csv(j, len) : cJSON_PrintUnformatted(j);
    if (*out && !csv)
        *len = strlen(*out);
    cJSON_Delete(j);
    return *out ? 0 : -1;
}

int papi_analytics(void *ctx, api_req *rq)
{
    const char *fmt = api_query(rq, "format");
    int csv = fmt && !strcmp(fmt, "csv");
    if (fmt && !csv && strcmp(fmt, "json"))
        return api_reply_error(rq, 400, "malformed", "format is json or csv.");
    char *out;
    size_t len;
    if (progress_analytics(ctx, papi_now_ms(), csv, &out, &len) < 0)
        return api_reply_error(rq, 500, "internal", "Try again later.");
    if (csv)
        api_reply_header(rq, "Content-Disposition", "attachment; filename=\"analytics.csv\"");
    int rc = api_reply_raw(rq, 200, csv ? "text/csv; charset=utf-8" : "application/json", out, len);
    free(out);
    return rc;
}
