/* fdv_int.h - internals shared by the fitdevices files (not public). */
#ifndef FITGATE_FDV_INT_H
#define FITGATE_FDV_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "fitdevices.h"
#include "store.h"

/* A command waiting for its gateway's result. */
typedef struct fdv_pending {
    char id[65];
    bool done;
    cJSON *result; /* the whole result message; owned */
    struct fdv_pending *next;
} fdv_pending;

/* A message for the loop thread to publish. */
typedef struct fdv_out {
    char *topic, *payload;
    bool retain;
    struct fdv_out *next;
} fdv_out;

/* Latest nearby snapshot of one gateway. */
typedef struct fdv_nearby {
    char gw[65];
    char *json;
    struct fdv_nearby *next;
} fdv_nearby;

struct fitdevices {
    sd_event *ev;
    api *api;
    mqloop *mq;
    int efd;
    sd_event_source *efd_src;
    uint32_t cmd_timeout_ms, gym_idle_s;
    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;
    sqlite3 *db;
    store *st;
    fdv_pending *pending;
    fdv_out *out_head, *out_tail;
    fdv_nearby *nearby;
    uint64_t seq;
};

/* Wall clock in ms; one SQL statement on d->db (0 or -1). */
int64_t fdv_now_ms(void);
int fdv_exec(fitdevices *d, const char *sql);

/* Publish a command without waiting for its result (best effort; mu held). */
void fdv_send(fitdevices *d, const char *gw, const char *op, cJSON *args);

/* Send a command to gateway gw and wait for its result (any thread but the
 * loop's). Returns the result message (caller frees) or NULL on timeout. */
cJSON *fdv_command(fitdevices *d, const char *gw, const char *op, cJSON *args);

/* Binding changes, in one transaction with their event (mu held by caller).
 * 0 or -1 (logged, rolled back). */
int fdv_bind(fitdevices *d, const char *gw, const char *dev, int64_t user, const char *kind,
             const char *session);
int fdv_unbind(fitdevices *d, const char *dev, const char *reason);

/* OTA updates (fdv_update.c): tables, the gateway's "update" events, and the
 * admin routes' handlers (listed in fdv_api.c's table). */
int fdv_update_init(fitdevices *d);
void fdv_update_event(fitdevices *d, const char *gw, const cJSON *m); /* takes mu */
int fdv_h_update_post(void *ctx, api_req *rq);
int fdv_h_update_get(void *ctx, api_req *rq);

/* Gateway membership (fdv_gw.c). fdv_gw_init creates the tables on db;
 * fdv_gw_demo makes the demo user owner of cfg's demo gateways (dev mode).
 * fdv_gw_member: 1 when user belongs to gw, 0 not, -1 error (takes mu). */
int fdv_gw_init(sqlite3 *db);
int fdv_gw_demo(fitdevices *d, const char *gateways, int64_t user);
int fdv_gw_member(fitdevices *d, const char *gw, int64_t user);
int fdv_h_gateways(void *ctx, api_req *rq);
int fdv_h_claim(void *ctx, api_req *rq);
int fdv_h_invite(void *ctx, api_req *rq);
int fdv_h_member_delete(void *ctx, api_req *rq);
int fdv_h_claim_code(void *ctx, api_req *rq);

#endif
