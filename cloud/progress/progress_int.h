/* progress_int.h - shared inside cloud/progress only. */
#ifndef FITGATE_PROGRESS_INT_H
#define FITGATE_PROGRESS_INT_H

#include <sqlite3.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "progress.h"
#include "store.h"
#include "workout.h"

#define PROGRESS_SOURCE "fitgate-core/progress"

#define PROGRESS_HOT_MAX 16

struct progress {
    sqlite3 *db;
    store *st;
    progress_cfg cfg;
    /* Statements of the per-reading path, prepared once (keyed by the
     * address of their constant SQL text). */
    const char *hot_sql[PROGRESS_HOT_MAX];
    sqlite3_stmt *hot[PROGRESS_HOT_MAX];
    size_t nhot;
};

/* progress_db.c: schema on a connection (WAL, busy timeout). */
int progress_db_open(sqlite3 **db, const char *path);
int progress_schema(sqlite3 *db);
/* Run sql with int64 binds (?1..?n); 0 or -1 (logged). */
int progress_exec(sqlite3 *db, const char *sql, int n, const int64_t *args);
/* First column of the first row as int64 (def when none). */
int64_t progress_scalar(sqlite3 *db, const char *sql, int n, const int64_t *args, int64_t def);

/* A user's profile for metrics, from progress_settings (defaults when none). */
void progress_profile(sqlite3 *db, int64_t user, wo_profile *p, int *tz_offset_min);

/* achieve.c: evaluate the catalogue for a user inside the open transaction;
 * unlocks (and queues AchievementUnlocked) what is newly reached. at_ms is the
 * triggering event's time. 0 or -1. */
int achieve_eval(sqlite3 *db, int64_t user, int64_t at_ms);
/* The catalogue as parsed JSON (shared, read-only; NULL when broken). */
const cJSON *achieve_catalogue(void);
/* Stats the catalogue is written against. */
typedef struct achieve_stats {
    int64_t workouts, devices_paired, two_factor, purchases;
    double distance_m, duration_s;
    int64_t longest_streak, current_streak, last_day;
} achieve_stats;
int achieve_stats_get(sqlite3 *db, int64_t user, int64_t today, achieve_stats *s);
/* Level for points (catalogue "levels": ascending thresholds). */
int achieve_level(int64_t points, int64_t *next_at);
/* Day number (days since 1970-01-01) of ms in a UTC offset. */
int64_t achieve_day(int64_t ms, int tz_offset_min);

/* progress_series.c: at most `points` equal-time buckets of a workout's
 * samples, each the mean of HR, speed, power, cadence present in it:
 * [{"t_s":..,"hr":..}, ...]. NULL on error. */
cJSON *progress_series(sqlite3 *db, int64_t wid, int64_t start, int64_t end, int points);
#define PROGRESS_SERIES_KEPT 200 /* points kept when samples are dropped */

/* ISO-8601 UTC ("2026-11-25T09:40:46.123Z") to ms; 0 when malformed. */
int64_t progress_iso_ms(const char *s);

#endif
