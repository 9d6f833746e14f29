/* api.c - the HTTP server and its router (see api.h, api_route.h).
 *
 * One MHD daemon, a thread per connection: simple, and a live stream may
 * block its own thread waiting for readings. For each request we find the
 * route first (so 404/405 need no body), read the body up to API_BODY_MAX
 * (413 beyond, even when chunked), authenticate as the route asks, then call
 * the handler. Module routes are matched before the built-in ones, so a
 * module may take over a built-in path. Who a caller is, the identity module
 * decides (api_set_authenticator): without an authenticator every route that
 * needs a principal answers 401.
 */
#include "api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "crypto.h"
#include "fitcommon/log.h"

/* ---- matching ---- */

/* Does url match pattern? Fills rq->args with the "*" segments (pointing into
 * rq->argbuf, a copy of url split at '/'). */
static int route_match(const char *pattern, const char *url, api_req *rq)
{
    const char *p = pattern, *u = url;
    int nargs = 0;
    while (*p && *u) {
        if (*p != '/' || *u != '/')
            return 0;
        p++, u++;
        size_t pl = strcspn(p, "/"), ul = strcspn(u, "/");
        if (pl == 1 && p[0] == '*') {
            if (ul == 0 || nargs >= API_ARGS_MAX)
                return 0;
            if (rq) {
                memcpy(rq->argbuf + (u - url), u, ul);
                rq->argbuf[(u - url) + ul] = '\0';
                rq->args[nargs] = rq->argbuf + (u - url);
            }
            nargs++;
        } else if (pl != ul || memcmp(p, u, pl) != 0) {
            return 0;
        }
        p += pl, u += ul;
    }
    if (*p || *u)
        return 0;
    if (rq)
        rq->nargs = nargs;
    return 1;
}

static int method_is(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return 1;
    return strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

/* The slot for (method, url): *path_known tells whether some route has this
 * path with another method (405 rather than 404). */
static const api_route_slot *route_find(const api *a, const char *method, const char *url,
                                        int *path_known)
{
    *path_known = 0;
    for (size_t i = 0; i < a->nroutes; i++) {
        if (!route_match(a->routes[i].r->pattern, url, NULL))
            continue;
        if (method_is(a->routes[i].r->method, method))
            return &a->routes[i];
        *path_known = 1;
    }
    return NULL;
}

/* ---- authentication ---- */

static const char *bearer_token(struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (auth && strncmp(auth, "Bearer ", 7) == 0 && auth[7])
        return auth + 7;
    return MHD_lookup_connection_value(c, MHD_COOKIE_KIND, API_COOKIE_NAME);
}

/* 0 when the caller may use the route; otherwise the reply has been sent
 * and *rc holds its result. */
static int authorize(api_req *rq, int *rc)
{
    unsigned flags = rq->slot->r->flags;
    const char *tok = bearer_token(rq->c);
    int valid = tok && rq->a->auth && rq->a->auth(rq->a->auth_ctx, tok, &rq->who) == 0;
    if (!valid)
        memset(&rq->who, 0, sizeof rq->who);
    if (flags == API_PUBLIC)
        return 0;
    if (!valid) {
        *rc = api_reply_error(rq, 401, tok ? "invalid_token" : "no_session",
                              tok ? "your session has expired: sign in again" : "sign in first");
        return -1;
    }
    api_scope need = (flags & API_ADMIN)      ? API_SCOPE_ADMIN
                     : (flags & API_INTERNAL) ? API_SCOPE_INTERNAL
                                              : API_SCOPE_USER;
    if (rq->who.scope != need) {
        *rc = api_reply_error(rq, 403, "wrong_token_type",
                              "this token is not accepted at this endpoint");
        return -1;
    }
    return 0;
}

/* ---- requests ---- */

static void peer_ip(api_req *rq)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    snprintf(rq->peer, sizeof rq->peer, "unknown");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, rq->peer, sizeof rq->peer);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, rq->peer,
                  sizeof rq->peer);
    /* Behind our own proxy the client is the last X-Forwarded-For hop: the
     * one the proxy itself added (earlier hops are the client's word). */
    const char *tp = rq->a->trusted_proxies;
    if (!tp || !tp[0])
        return;
    size_t pl = strlen(rq->peer);
    int trusted = 0;
    for (const char *s = tp; *s;) {
        size_t n = strcspn(s, ",");
        if (n == pl && memcmp(s, rq->peer, n) == 0)
            trusted = 1;
        s += n + (s[n] == ',');
    }
    const char *xff = MHD_lookup_connection_value(rq->c, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!trusted || !xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    unsigned char bin[16];
    char ip[64];
    snprintf(ip, sizeof ip, "%.*s", (int)strcspn(last, " "), last);
    if (inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1)
        snprintf(rq->peer, sizeof rq->peer, "%s", ip);
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    api_req_free(*con_cls);
    *con_cls = NULL;
}

static api_req *req_new(api *a, struct MHD_Connection *c, const char *url, const char *method,
                        const api_route_slot *slot)
{
    api_req *rq = calloc(1, sizeof *rq);
    if (!rq || !(rq->argbuf = calloc(1, strlen(url) + 1))) {
        free(rq);
        return NULL;
    }
    rq->a = a;
    rq->c = c;
    rq->url = url;
    rq->method = method;
    rq->slot = slot;
    if (slot)
        route_match(slot->r->pattern, url, rq);
    peer_ip(rq);
    return rq;
}

static int has_body(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

static int dispatch(api_req *rq)
{
    if (!rq->slot) /* not an API route: a static file, or 404 */
        return api_static_serve(rq);
    metric_add(rq->slot->requests, 1);
    if (rq->too_large)
        return api_reply_error(rq, 413, "too_large", "request body over 64 KiB");
    int rc;
    if (authorize(rq, &rc) != 0)
        return rc;
    return rq->slot->r->fn(rq->slot->ctx, rq);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    api *a = cls;
    api_req *rq = *con_cls;
    if (!rq) {
        int path_known;
        const api_route_slot *slot = route_find(a, method, url, &path_known);
        if (!(rq = req_new(a, c, url, method, slot)))
            return MHD_NO;
        *con_cls = rq;
        if (!slot && path_known) {
            metric_add(api_counter("fitgate_api_requests_total", "HTTP requests by endpoint",
                                   "endpoint", "other"),
                       1);
            return api_reply_error(rq, 405, "method_not_allowed", "method not allowed") == 0
                       ? MHD_YES
                       : MHD_NO;
        }
        /* Headers only so far: refuse a declared oversize body before
         * reading it (MHD then closes the connection). Everything else is
         * answered on a later call, once MHD has the whole request: a reply
         * queued from this first call makes MHD close the connection (no
         * keep-alive), which costs every client a new TCP connection and
         * the server a new thread per request. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (slot && has_body(method) && cl && strtoull(cl, NULL, 10) > API_BODY_MAX) {
            rq->too_large = 1;
            return dispatch(rq) == 0 ? MHD_YES : MHD_NO;
        }
        return MHD_YES;
    }
    if (rq->replied) { /* answered early (413): drop the rest */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* Chunked bodies have no Content-Length: count as they come. */
        if (!rq->too_large && rq->len + *upload_data_size <= API_BODY_MAX) {
            char *nb = realloc(rq->body, rq->len + *upload_data_size + 1);
            if (!nb)
                return MHD_NO;
            memcpy(nb + rq->len, upload_data, *upload_data_size);
            rq->body = nb;
            rq->len += *upload_data_size;
            rq->body[rq->len] = '\0';
        } else {
            rq->too_large = 1;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(rq) == 0 ? MHD_YES : MHD_NO;
}

/* ---- routes ---- */

int api_add_routes(api *a, const api_route *routes, size_t n, void *ctx)
{
    if (a->serving) {
        log_error("api_routes", "routes must be added before api_serve");
        return -1;
    }
    if (a->nroutes + n > a->routes_cap) {
        size_t cap = (a->nroutes + n) * 2;
        api_route_slot *nr = realloc(a->routes, cap * sizeof *nr);
        if (!nr)
            return -1;
        a->routes = nr;
        a->routes_cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        const api_route *r = &routes[i];
        if (!r->method || !r->pattern || r->pattern[0] != '/' || !r->fn || !r->name) {
            log_error("api_routes", "invalid route", "pattern", r->pattern ? r->pattern : "");
            return -1;
        }
        a->routes[a->nroutes++] = (api_route_slot){
            .r = r,
            .ctx = ctx,
            .requests = api_counter("fitgate_api_requests_total", "HTTP requests by endpoint",
                                    "endpoint", r->name),
        };
    }
    return 0;
}

void api_set_authenticator(api *a, api_auth_fn fn, void *ctx)
{
    a->auth = fn;
    a->auth_ctx = ctx;
}

void api_set_tg_user_fn(api *a, api_tg_user_fn fn, void *ctx)
{
    a->tg_user = fn;
    a->tg_user_ctx = ctx;
}

/* ---- life cycle ---- */

static int make_addr(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (!host || !host[0])
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        return AF_INET6;
    }
    return -1;
}

static void api_free(api *a)
{
    if (!a)
        return;
    live_hub_free(a->hub);
    store_close(a->s);
    pthread_mutex_destroy(&a->store_mu);
    if (a->bot_token)
        memset(a->bot_token, 0, strlen(a->bot_token));
    free(a->bot_token);
    free(a->bind_addr);
    free(a->miniapp_root);
    free(a->demo_devices);
    free(a->trusted_proxies);
    free(a->routes);
    free(a);
}

int api_new(api **out, const api_config *cfg)
{
    *out = NULL;
    if (crypto_init() != 0) {
        log_error("api_start", "libsodium initialisation failed");
        return -1;
    }
    if (!cfg->db_path || !cfg->bot_token || !cfg->bot_token[0]) {
        log_error("api_start", "db_path and bot_token are required");
        return -1;
    }
    struct sockaddr_storage ss;
    if (make_addr(cfg->bind_addr, cfg->port, &ss) < 0) {
        log_error("api_start", "bind_addr is not an IP address", "addr", cfg->bind_addr);
        return -1;
    }
    api *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    pthread_mutex_init(&a->store_mu, NULL);
    a->port = cfg->port;
    a->dev_mode = cfg->dev_mode;
    a->demo_tg_id = cfg->dev_demo_tg_id;
    a->bot_token = strdup(cfg->bot_token);
    a->bind_addr = strdup(cfg->bind_addr ? cfg->bind_addr : "127.0.0.1");
    a->demo_devices = strdup(cfg->dev_demo_devices ? cfg->dev_demo_devices : "");
    a->trusted_proxies = strdup(cfg->trusted_proxies ? cfg->trusted_proxies : "");
    if (cfg->miniapp_dir && !(a->miniapp_root = realpath(cfg->miniapp_dir, NULL)))
        log_warn("api_start", "mini app directory not found; serving the API only", "path",
                 cfg->miniapp_dir);
    store *live_store = NULL;
    if (!a->bot_token || !a->bind_addr || !a->demo_devices || !a->trusted_proxies ||
        store_open(&a->s, cfg->db_path) != STORE_OK ||
        store_open(&live_store, cfg->db_path) != STORE_OK ||
        !(a->hub = live_hub_new(live_store, API_LIVE_MAX))) {
        store_close(live_store);
        api_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

int api_serve(api *a)
{
    if (api_add_routes(a, api_base_routes, api_base_nroutes, a) != 0)
        return -1;
    if (a->dev_mode && api_base_prepare_demo(a) != 0) {
        log_error("api_start", "cannot prepare the demo user");
        return -1;
    }
    a->serving = 1;
    struct sockaddr_storage ss;
    make_addr(a->bind_addr, a->port, &ss);
    /* Thread per connection: live streams block their own thread only. */
    a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                            a->port, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, &ss,
                            MHD_OPTION_NOTIFY_COMPLETED, request_completed, a,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONN_MAX,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!a->d) {
        log_error("api_start", "cannot start the HTTP server", "addr", a->bind_addr);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    if (info)
        a->port = info->port;
    char port[8];
    snprintf(port, sizeof port, "%u", a->port);
    log_info("api_listening", "HTTP API listening", "port", port, "dev_mode",
             a->dev_mode ? "true" : "false");
    return 0;
}

int api_start(api **out, const api_config *cfg)
{
    if (api_new(out, cfg) != 0)
        return -1;
    if (api_serve(*out) != 0) {
        api_stop(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void api_stop(api *a)
{
    if (!a)
        return;
    /* Streams block in live_read: end them first or MHD waits for them. */
    live_hub_shutdown(a->hub);
    if (a->d)
        MHD_stop_daemon(a->d);
    api_free(a);
}

uint16_t api_port(const api *a)
{
    return a->port;
}

void api_live_push(api *a, const fp_reading *r)
{
    if (a && r)
        live_push(a->hub, r);
}

void api_bindings_changed(api *a)
{
    if (a)
        live_forget_owners(a->hub);
}

void api_set_ready(api *a, int ready)
{
    __atomic_store_n(&a->ready, ready ? 1 : 0, __ATOMIC_RELAXED);
}
