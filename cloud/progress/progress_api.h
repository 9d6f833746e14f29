/* progress_api.h - HTTP endpoints of workouts, progress, achievements,
 * leaderboards and company analytics (reads the progress_* tables).
 *
 *   GET  /api/v1/workouts?cursor=&limit=     history, newest first (paging)
 *   GET  /api/v1/workouts/{id}?points=       details + downsampled series
 *   POST /api/v1/workouts/stop               end the running workout now
 *   GET  /api/v1/progress                    weekly/monthly totals, trend,
 *                                            records, comparisons
 *   PUT  /api/v1/progress/settings           opt-out, profile, time zone
 *   GET  /api/v1/achievements                earned, next, streak, level
 *   GET  /api/v1/leaderboard?gym=            this week's board of a gym
 *   GET  /api/v1/admin/analytics[?format=csv]  company analytics (admin)
 *
 * Handlers run on libmicrohttpd's threads; the one SQLite connection is
 * guarded by a mutex. The stop request goes to the worker through the
 * outbox (PROGRESS_TYPE_STOP), like every change of a projection.
 *
 * Ownership: progress_api_new() returns an object freed with
 * progress_api_free() after the api stopped serving.
 */
#ifndef FITGATE_PROGRESS_API_H
#define FITGATE_PROGRESS_API_H

#include <stddef.h>
#include <stdint.h>

#include "api_route.h"

typedef struct progress_api progress_api;

int progress_api_new(progress_api **out, const char *db_path);
void progress_api_free(progress_api *a);

extern const api_route progress_routes[];
extern const size_t progress_nroutes;

/* The analytics as JSON or CSV text (malloc'd), for the API and tests.
 * now_ms fixes "today" and the active-user windows. 0 or -1. */
int progress_analytics(progress_api *a, int64_t now_ms, int csv, char **out, size_t *len);

#endif
