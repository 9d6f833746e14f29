/* api.h - the public HTTP API and the mini app (libmicrohttpd).
 *
 * The api is a router: modules add their endpoints with api_add_routes()
 * (api_route.h) between api_new() and api_serve(). Built in, under one port:
 *   GET  /                       the mini app (static files from cfg.miniapp_dir)
 *   GET  /api/v1/readings?since= the signed-in user's readings (JSON)
 *   GET  /api/v1/live            server-sent events: the user's readings live
 *                                (Last-Event-ID resumes a dropped stream)
 *   GET  /dev/launch             dev mode only: signs init data for the demo
 *                                user with the local bot token and redirects
 *                                to the mini app, as Telegram would open it
 *   GET  /healthz /readyz /metrics
 *
 * Sign-in, sessions and tokens are the identity module's (cloud/identity):
 * it adds /api/v1/session, /api/v1/me, ... and is the authenticator.
 *
 * Threads: libmicrohttpd runs its own threads; api_live_push() may be called
 * from the core's event loop thread at any time.
 */
#ifndef FITGATE_API_H
#define FITGATE_API_H

#include <stdint.h>

#include "fitproto/reading.h"

typedef struct api api;

typedef struct api_config {
    const char *bind_addr;        /* "127.0.0.1" */
    uint16_t port;                /* 0 = pick a free port (see api_port) */
    const char *miniapp_dir;      /* static files */
    const char *db_path;          /* core SQLite file (the store's tables) */
    const char *bot_token;        /* dev launch signs init data with it (secret; never logged) */
    int dev_mode;                 /* enables /dev/launch and the demo user */
    int64_t dev_demo_tg_id;       /* Telegram user id of the demo user */
    const char *dev_demo_devices; /* comma-separated device ids bound to the demo user */
    const char *trusted_proxies;  /* comma-separated proxy IPs whose X-Forwarded-For counts */
} api_config;

/* Create the api (opens its tables; not serving yet). 0 or -1 (logged).
 * *out is freed with api_stop(). */
int api_new(api **out, const api_config *cfg);
/* Start serving (after every api_add_routes). 0 or -1 (logged). */
int api_serve(api *a);
/* Dev mode only: make sure the demo user exists and give its id (modules
 * that prepare demo data of their own). -1 outside dev mode. */
int api_demo_user(api *a, int64_t *user_id);
/* api_new + api_serve, for callers without modules. */
int api_start(api **out, const api_config *cfg);
void api_stop(api *a);
uint16_t api_port(const api *a);

/* A reading just became durable: forward it to the live streams of the user
 * its device is bound to. Copies what it needs; never blocks on clients. */
void api_live_push(api *a, const fp_reading *r);

/* A device binding changed (any thread): live streams re-resolve owners. */
void api_bindings_changed(api *a);

/* Mark the process ready (for /readyz) once its other roles are up. */
void api_set_ready(api *a, int ready);

#endif
