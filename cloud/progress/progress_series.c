/* progress_series.c - a workout's samples downsampled for charts (the API,
 * and the series kept when old samples are dropped). */
#include <stdlib.h>

#include "progress_int.h"

/* Downsample: at most `points` buckets of equal time; each bucket the mean
 * of each quantity present in it. */
typedef struct bucket {
    double hr, speed, power, cadence;
    int nhr, nspeed, npower, ncad;
} bucket;

cJSON *progress_series(sqlite3 *db, int64_t wid, int64_t start, int64_t end, int points)
{
    sqlite3_stmt *st = NULL;
    if (points < 1 ||
        sqlite3_prepare_v2(db, "SELECT ts_ms, data FROM progress_sample WHERE workout_id=?1", -1,
                           &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, wid);
    bucket *b = calloc((size_t)points, sizeof *b);
    if (!b) {
        sqlite3_finalize(st);
        return NULL;
    }
    int64_t span = end > start ? end - start : 1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        wo_sample s;
        if (!wo_sample_unpack(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                              sqlite3_column_int64(st, 0), &s))
            continue;
        int64_t i = (s.ts_ms - start) * points / (span + 1);
        if (i < 0 || i >= points)
            continue;
        bucket *x = &b[i];
        if (s.mask & WO_HR)
            x->hr += s.hr, x->nhr++;
        if (s.mask & WO_SPEED)
            x->speed += s.speed, x->nspeed++;
        if (s.mask & WO_POWER)
            x->power += s.power, x->npower++;
        if (s.mask & WO_CADENCE)
            x->cadence += s.cadence, x->ncad++;
    }
    sqlite3_finalize(st);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < points; i++) {
        bucket *x = &b[i];
        if (!x->nhr && !x->nspeed && !x->npower && !x->ncad)
            continue;
        cJSON *pt = cJSON_CreateObject();
        cJSON_AddNumberToObject(pt, "t_s", (double)((int64_t)i * (span + 1) / points) / 1000.0);
        if (x->nhr)
            cJSON_AddNumberToObject(pt, "hr", x->hr / x->nhr);
        if (x->nspeed)
            cJSON_AddNumberToObject(pt, "speed", x->speed / x->nspeed);
        if (x->npower)
            cJSON_AddNumberToObject(pt, "power", x->power / x->npower);
        if (x->ncad)
            cJSON_AddNumberToObject(pt, "cadence", x->cadence / x->ncad);
        cJSON_AddItemToArray(arr, pt);
    }
    free(b);
    return arr;
}
