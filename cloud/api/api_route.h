/* api_route.h - how a cloud module serves HTTP endpoints through the api.
 *
 * A module (identity, workouts, devices, shop, ...) describes its endpoints as
 * a static table of api_route and hands it to api_add_routes() between
 * api_new() and api_serve(). For every request the api:
 *   1. matches method + path against the tables (first match wins);
 *   2. reads the body (at most API_BODY_MAX bytes, else 413);
 *   3. authenticates the caller as the route's flags demand (401/403 else);
 *   4. counts the request under the route's name;
 *   5. calls the handler on one of libmicrohttpd's threads.
 * Several handlers run at once: they must be thread-safe (guard a shared
 * SQLite handle with a mutex, or open one per thread).
 *
 * A handler answers with exactly one api_reply_*() call and returns its
 * result. Everything a handler gets from an api_req is owned by the api and
 * valid until the handler returns.
 *
 * Path patterns: segments separated by '/'; a segment "*" matches any one
 * non-empty segment, whose text api_path_arg() returns (0 = first "*").
 *   pattern "/api/v1/workouts/" "*" matches /api/v1/workouts/17, arg 0 = "17"
 */
#ifndef FITGATE_API_ROUTE_H
#define FITGATE_API_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define API_BODY_MAX (64 * 1024)

typedef struct api api;
typedef struct api_req api_req;

/* Who is calling, as the authenticator established it. */
typedef enum api_scope {
    API_SCOPE_NONE = 0, /* anonymous */
    API_SCOPE_USER,     /* a public access token of a signed-in user */
    API_SCOPE_INTERNAL, /* a service token (internal endpoints) */
    API_SCOPE_ADMIN,    /* an operator token */
} api_scope;

typedef struct api_principal {
    api_scope scope;
    int64_t user_id;    /* API_SCOPE_USER: our user id */
    int64_t session_id; /* the sign-in (refresh-token family) the token belongs to */
    int64_t auth_ms;    /* when that sign-in happened */
    int64_t mfa_ms;     /* when a second factor was last proven in it; 0 = never */
    char subject[64];   /* internal/admin: the service or operator name */
    char lang[8];       /* user's language ("en", "ru", "zh"), may be empty */
} api_principal;

/* Route flags: what the caller must be. */
enum {
    API_PUBLIC = 0,   /* anyone (the handler may still look at api_who()) */
    API_USER = 1,     /* API_SCOPE_USER */
    API_INTERNAL = 2, /* API_SCOPE_INTERNAL; user tokens are refused (403) */
    API_ADMIN = 4,    /* API_SCOPE_ADMIN */
};

typedef int (*api_handler)(void *ctx, api_req *rq);

typedef struct api_route {
    const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" (GET also serves HEAD) */
    const char *pattern; /* see above */
    unsigned flags;
    const char *name; /* metrics label: fitgate_api_requests_total{route="name"} */
    api_handler fn;
} api_route;

/* Add n routes (the table must outlive the api; typically static const);
 * ctx is passed to their handlers. Only before api_serve(). 0 or -1. */
int api_add_routes(api *a, const api_route *routes, size_t n, void *ctx);

/* The authenticator turns the bearer token (Authorization: Bearer, or the
 * session cookie) into a principal: 0 when valid, -1 otherwise. It is called
 * only for routes that need a principal, and for public routes when a token
 * is present (so api_who() is filled when it can be). Thread-safe.
 * Only one; set before api_serve(). */
typedef int (*api_auth_fn)(void *ctx, const char *token, api_principal *out);
void api_set_authenticator(api *a, api_auth_fn fn, void *ctx);

/* Make sure a user exists for this Telegram account and give its id. The
 * api calls it for the dev launch page (the demo user and its devices); the
 * identity module provides it. Without it, dev mode cannot start. 0 or -1. */
typedef int (*api_tg_user_fn)(void *ctx, int64_t tg_id, const char *first_name,
                              const char *username, int64_t *user_id);
void api_set_tg_user_fn(api *a, api_tg_user_fn fn, void *ctx);

/* ---- the request ---- */
const char *api_method(const api_req *rq);
const char *api_path(const api_req *rq);
/* i-th "*" segment of the pattern, or NULL. */
const char *api_path_arg(const api_req *rq, int i);
/* Query argument (URL-decoded) or NULL. */
const char *api_query(const api_req *rq, const char *key);
/* Query argument as an integer in [min, max]; def when absent; -1 when present
 * but malformed or out of range (the handler answers 400). */
int api_query_i64(const api_req *rq, const char *key, int64_t def, int64_t min, int64_t max,
                  int64_t *out);
/* Request header (case-insensitive name) or NULL. */
const char *api_header(const api_req *rq, const char *name);
/* The raw body (NUL-terminated; len may be NULL). "" when there is none. */
const char *api_body(const api_req *rq, size_t *len);
/* The body parsed as a JSON object (owned by the request), or NULL when it
 * is not one: answer 400 "malformed". */
const cJSON *api_body_json(api_req *rq);
/* The caller (scope API_SCOPE_NONE when anonymous). */
const api_principal *api_who(const api_req *rq);
/* The peer's IP address as text ("127.0.0.1", "::1"). The api is meant to run
 * behind nginx: when the peer is in cfg.trusted_proxies the last address of
 * X-Forwarded-For is used instead. */
const char *api_peer_ip(const api_req *rq);
/* The api this request came to (e.g. for api_live_push from a handler). */
api *api_of(const api_req *rq);

/* ---- the reply (exactly one per request) ---- */
/* Add a response header to the reply that follows (Set-Cookie, Location,
 * Retry-After, Idempotency-Replayed, ...). Copied. 0 or -1. */
int api_reply_header(api_req *rq, const char *name, const char *value);
/* JSON body; takes ownership of body (freed here, may be NULL -> {}). */
int api_reply_json(api_req *rq, unsigned status, cJSON *body);
/* JSON body from a string (copied). */
int api_reply_json_str(api_req *rq, unsigned status, const char *json);
/* Any body (copied), e.g. "image/svg+xml" or "text/csv; charset=utf-8". */
int api_reply_raw(api_req *rq, unsigned status, const char *content_type, const void *body,
                  size_t len);
/* {"error":code,"message":message}: code is a stable machine-readable word
 * ("malformed", "second_factor_required", ...), message a plain sentence the
 * mini app may show with a next step. Counted in
 * fitgate_api_errors_total{route=...}. Adds WWW-Authenticate on 401. */
int api_reply_error(api_req *rq, unsigned status, const char *code, const char *message);

#endif
