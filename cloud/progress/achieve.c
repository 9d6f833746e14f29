/* achieve.c - the achievement catalogue (achievements.json, embedded at
 * build time), user stats, points and levels. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "fitcommon/log.h"
#include "outbox.h"
#include "progress_int.h"

extern const char achieve_catalogue_json[]; /* catalogue.c (generated) */

static cJSON *catalogue;
static pthread_once_t catalogue_once = PTHREAD_ONCE_INIT;

static void catalogue_load(void)
{
    catalogue = cJSON_Parse(achieve_catalogue_json);
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(catalogue, "achievements")) ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(catalogue, "levels"))) {
        log_error("achievements", "catalogue is not valid JSON of the expected shape");
        cJSON_Delete(catalogue);
        catalogue = NULL;
    }
}

const cJSON *achieve_catalogue(void)
{
    pthread_once(&catalogue_once, catalogue_load);
    return catalogue;
}

int64_t achieve_day(int64_t ms, int tz_offset_min)
{
    int64_t t = ms + (int64_t)tz_offset_min * 60000;
    int64_t d = t / 86400000;
    return t < 0 && t % 86400000 ? d - 1 : d;
}

int achieve_level(int64_t points, int64_t *next_at)
{
    const cJSON *levels = cJSON_GetObjectItemCaseSensitive(achieve_catalogue(), "levels");
    int level = 0;
    if (next_at)
        *next_at = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, levels)
    {
        if (points >= (int64_t)l->valuedouble)
            level++;
        else {
            if (next_at)
                *next_at = (int64_t)l->valuedouble;
            break;
        }
    }
    return level;
}

static int streaks(sqlite3 *db, int64_t user, int tz, int64_t today, achieve_stats *s)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT DISTINCT (start_ms + ?2 * 60000) / 86400000 AS d"
                           " FROM progress_workout WHERE user_id=?1 AND done=1 ORDER BY d",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, tz);
    int64_t prev = INT64_MIN, run = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t d = sqlite3_column_int64(st, 0);
        run = prev != INT64_MIN && d == prev + 1 ? run + 1 : 1;
        if (run > s->longest_streak)
            s->longest_streak = run;
        prev = d;
    }
    sqlite3_finalize(st);
    s->last_day = prev == INT64_MIN ? 0 : prev;
    /* A streak is current while its last day is today or yesterday. */
    s->current_streak = prev != INT64_MIN && (today == 0 || prev >= today - 1) ? run : 0;
    return 0;
}

int achieve_stats_get(sqlite3 *db, int64_t user, int64_t today, achieve_stats *s)
{
    memset(s, 0, sizeof *s);
    int tz = 0;
    wo_profile prof;
    progress_profile(db, user, &prof, &tz);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), total(distance_m), total(duration_s)"
                           " FROM progress_workout WHERE user_id=?1 AND done=1",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, user);
    if (sqlite3_step(st) == SQLITE_ROW) {
        s->workouts = sqlite3_column_int64(st, 0);
        s->distance_m = sqlite3_column_double(st, 1);
        s->duration_s = sqlite3_column_double(st, 2);
    }
    sqlite3_finalize(st);
    s->devices_paired =
        progress_scalar(db, "SELECT count(*) FROM progress_device WHERE user_id=?1", 1, &user, 0);
    s->purchases =
        progress_scalar(db, "SELECT count(*) FROM progress_purchase WHERE user_id=?1", 1, &user, 0);
    s->two_factor = progress_scalar(
        db, "SELECT two_factor_ever FROM progress_user WHERE user_id=?1", 1, &user, 0);
    return streaks(db, user, tz, today, s);
}

static double stat_value(const achieve_stats *s, const char *stat)
{
    if (!strcmp(stat, "workouts"))
        return (double)s->workouts;
    if (!strcmp(stat, "streak_days"))
        return (double)s->longest_streak;
    if (!strcmp(stat, "distance_m"))
        return s->distance_m;
    if (!strcmp(stat, "duration_s"))
        return s->duration_s;
    if (!strcmp(stat, "devices_paired"))
        return (double)s->devices_paired;
    if (!strcmp(stat, "two_factor"))
        return (double)s->two_factor;
    if (!strcmp(stat, "purchases"))
        return (double)s->purchases;
    return -1; /* unknown stat: never reached */
}

static int unlock(sqlite3 *db, int64_t user, const cJSON *a, int64_t at_ms)
{
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "code"));
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(a, "points");
    if (!code)
        return 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO progress_achievement VALUES(?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, at_ms);
    sqlite3_bind_int64(st, 4, cJSON_IsNumber(pts) ? (int64_t)pts->valuedouble : 0);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(db) != 1)
        return 0; /* unlocked before: once only */
    int64_t points = progress_scalar(
        db, "SELECT total(points) FROM progress_achievement WHERE user_id=?1", 1, &user, 0);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "user_id", (double)user);
    cJSON_AddStringToObject(d, "code", code);
    cJSON_AddStringToObject(d, "achievement", code); /* the name docs/events.md uses */
    cJSON_AddItemToObject(d, "title",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(a, "title"), 1));
    cJSON_AddItemToObject(d, "text",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(a, "text"), 1));
    cJSON_AddNumberToObject(d, "points", cJSON_IsNumber(pts) ? pts->valuedouble : 0);
    cJSON_AddNumberToObject(d, "total_points", (double)points);
    cJSON_AddNumberToObject(d, "level", achieve_level(points, NULL));
    cJSON_AddNumberToObject(d, "unlocked_ms", (double)at_ms);
    char id[128], key[32], subject[64];
    snprintf(id, sizeof id, "achievement/%" PRId64 "/%s", user, code);
    snprintf(key, sizeof key, "%" PRId64, user);
    snprintf(subject, sizeof subject, "user/%" PRId64, user);
    rc = outbox_add(db, EVT_TOPIC_GAMIFICATION, key, id, EVT_TYPE_ACHIEVEMENT_UNLOCKED,
                    PROGRESS_SOURCE, subject, d);
    cJSON_Delete(d);
    return rc;
}

int achieve_eval(sqlite3 *db, int64_t user, int64_t at_ms)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(achieve_catalogue(), "achievements");
    if (!list)
        return 0;
    achieve_stats s;
    if (achieve_stats_get(db, user, 0, &s) < 0)
        return -1;
    const cJSON *a;
    cJSON_ArrayForEach(a, list)
    {
        const char *stat = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "stat"));
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(a, "threshold");
        if (!stat || !cJSON_IsNumber(th))
            continue;
        double v = stat_value(&s, stat);
        if (v >= th->valuedouble && unlock(db, user, a, at_ms) < 0)
            return -1;
    }
    return 0;
}
