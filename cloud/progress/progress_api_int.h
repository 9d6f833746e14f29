/* progress_api_int.h - shared by progress_api.c and progress_stats.c. */
#ifndef FITGATE_PROGRESS_API_INT_H
#define FITGATE_PROGRESS_API_INT_H

#include <pthread.h>
#include <time.h>

#include "progress_api.h"
#include "progress_int.h"

struct progress_api {
    sqlite3 *db;
    pthread_mutex_t mu; /* guards db: handlers run on several threads */
};

int64_t papi_now_ms(void);
int64_t papi_week_start(int64_t ms);
/* Prepare on a->db (caller holds a->mu); NULL logged. */
sqlite3_stmt *papi_prep(progress_api *a, const char *sql);

int papi_progress(void *ctx, api_req *rq);
int papi_analytics(void *ctx, api_req *rq);

#endif
