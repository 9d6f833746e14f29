/* api_int.h - shared between the api's own files (not for other modules).
 *
 * api.c       life cycle, routing, body reading, authentication
 * api_req.c   the request accessors and replies of api_route.h, counters
 * api_base.c  built-in routes: health, metrics, readings, live, dev launch
 * api_static.c the mini app's static files
 */
#ifndef FITGATE_API_INT_H
#define FITGATE_API_INT_H

#include <microhttpd.h>
#include <pthread.h>

#include "api.h"
#include "api_route.h"
#include "fitcommon/metrics.h"
#include "live.h"
#include "store.h"

#define API_ARGS_MAX    8
#define API_HEADERS_MAX 8
#define API_LIVE_MAX    256
#define API_CONN_MAX    1024
#define API_COOKIE_NAME "fg_session"

typedef struct api_route_slot {
    const api_route *r;
    void *ctx;
    metric *requests;
} api_route_slot;

struct api {
    struct MHD_Daemon *d;
    uint16_t port;
    int ready;
    int serving;
    int dev_mode;
    char *bind_addr;
    char *miniapp_root; /* realpath of cfg.miniapp_dir */
    char *bot_token;
    char *trusted_proxies; /* comma-separated IPs */
    int64_t demo_tg_id;
    char *demo_devices;
    pthread_mutex_t store_mu; /* guards s */
    store *s;
    live_hub *hub;
    api_route_slot *routes;
    size_t nroutes, routes_cap;
    api_auth_fn auth;
    void *auth_ctx;
    api_tg_user_fn tg_user;
    void *tg_user_ctx;
};

struct api_req {
    api *a;
    struct MHD_Connection *c;
    const char *method, *url;
    const api_route_slot *slot;
    char *body;
    size_t len;
    int too_large;
    cJSON *json;
    int json_done;
    char *argbuf;
    const char *args[API_ARGS_MAX];
    int nargs;
    api_principal who;
    char peer[64];
    char *hdr_name[API_HEADERS_MAX], *hdr_value[API_HEADERS_MAX];
    int nhdr;
    int replied;
};

/* api_req.c */
void api_req_free(api_req *rq);
/* Queue response r (consumed) with the common security headers and the
 * request's extra headers. */
int api_req_queue(api_req *rq, unsigned status, struct MHD_Response *r);
/* A counter in family `name` with one label `key="value"` (created once,
 * lives until exit). value must be [a-z0-9_]+ or it is replaced by "other". */
metric *api_counter(const char *name, const char *help, const char *key, const char *value);
int64_t api_now_ms(void);

/* api_base.c: the built-in routes (matched after every module's routes). */
extern const api_route api_base_routes[];
extern const size_t api_base_nroutes;
int api_base_prepare_demo(api *a);

/* api_static.c */
int api_static_serve(api_req *rq);

#endif
