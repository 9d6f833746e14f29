/* api.c - the HTTP API and the mini app on libmicrohttpd (see api.h).
 *
 * One MHD daemon, a thread per connection: simple, and a live stream may
 * block its own thread waiting for readings. Request bodies are capped at
 * API_BODY_MAX; every rejection is answered with a JSON error and counted.
 */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitproto/msg.h"
#include "identity.h"
#include "live.h"
#include "store.h"
#include "tg_initdata.h"

#define API_BODY_MAX     (16 * 1024)
#define API_LIVE_MAX     256
#define API_READINGS_MAX 1000
#define API_CONN_MAX     1024
#define COOKIE_NAME      "fg_session"

struct api {
    struct MHD_Daemon *d;
    uint16_t port;
    int ready;
    int dev_mode;
    char *miniapp_root; /* realpath of cfg.miniapp_dir */
    char *bot_token;
    int64_t max_age_s;
    int64_t demo_tg_id;
    char *demo_devices;
    ident *id;
    pthread_mutex_t store_mu; /* guards s */
    store *s;
    live_hub *hub;
};

/* ---- metrics ---- */

enum {
    EP_SESSION,
    EP_ME,
    EP_READINGS,
    EP_LIVE,
    EP_LAUNCH,
    EP_STATIC,
    EP_HEALTH,
    EP_METRICS,
    EP_OTHER,
    EP__END
};
static const char *const ep_labels[EP__END] = {
    "endpoint=\"session\"", "endpoint=\"me\"",      "endpoint=\"readings\"",
    "endpoint=\"live\"",    "endpoint=\"launch\"",  "endpoint=\"static\"",
    "endpoint=\"health\"",  "endpoint=\"metrics\"", "endpoint=\"other\""};

typedef enum reject {
    RJ_MALFORMED,
    RJ_TOO_LARGE,
    RJ_BAD_SIGNATURE,
    RJ_EXPIRED,
    RJ_FUTURE,
    RJ_REPLAY,
    RJ_NO_SESSION,
    RJ_NOT_FOUND,
    RJ_METHOD,
    RJ_LIVE_FULL,
    RJ_INTERNAL,
    RJ__END
} reject;
static const char *const rj_codes[RJ__END] = {
    "malformed",  "too_large", "bad_signature",      "expired",   "future",  "replay",
    "no_session", "not_found", "method_not_allowed", "live_full", "internal"};
static const char *const rj_labels[RJ__END] = {
    "reason=\"malformed\"",  "reason=\"too_large\"", "reason=\"bad_signature\"",
    "reason=\"expired\"",    "reason=\"future\"",    "reason=\"replay\"",
    "reason=\"no_session\"", "reason=\"not_found\"", "reason=\"method_not_allowed\"",
    "reason=\"live_full\"",  "reason=\"internal\""};

static metric m_requests[EP__END], m_rejected[RJ__END], m_sessions;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void api_metrics_register(void)
{
    for (int i = 0; i < EP__END; i++)
        metric_register(&m_requests[i], "fitgate_api_requests_total", "counter",
                        "HTTP requests by endpoint", ep_labels[i]);
    for (int i = 0; i < RJ__END; i++)
        metric_register(&m_rejected[i], "fitgate_api_rejected_total", "counter",
                        "HTTP requests rejected, by reason", rj_labels[i]);
    metric_register(&m_sessions, "fitgate_api_sessions_created_total", "counter",
                    "Sessions created from Telegram init data", NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- responses ---- */

static void add_common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; object-src 'none';"
                            " base-uri 'none'; form-action 'self'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    add_common_headers(r);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static struct MHD_Response *text_response(const char *body, const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r) {
        MHD_add_response_header(r, "Content-Type", type);
        MHD_add_response_header(r, "Cache-Control", "no-store");
    }
    return r;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, const char *json)
{
    return queue(c, status, text_response(json, "application/json"));
}

/* JSON error with a stable code, counted under the same reason. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, reject why,
                                  const char *message)
{
    metric_add(&m_rejected[why], 1);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", rj_codes[why]);
    cJSON_AddStringToObject(o, "message", message);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return MHD_NO;
    struct MHD_Response *r = text_response(s, "application/json");
    free(s);
    if (r && status == 405)
        MHD_add_response_header(r, "Allow", "GET, HEAD, POST");
    if (r && status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    return queue(c, status, r);
}

/* ---- per-request state ---- */

typedef struct req {
    char *body;
    size_t len;
    int too_large;
} req;

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    req *q = *con_cls;
    if (q) {
        free(q->body);
        free(q);
        *con_cls = NULL;
    }
}

/* ---- sessions ---- */

/* The session of this request (Authorization: Bearer, else the cookie). */
static int session_user(api *a, struct MHD_Connection *c, ident_user *u)
{
    const char *tok = NULL;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (auth && strncmp(auth, "Bearer ", 7) == 0)
        tok = auth + 7;
    if (!tok)
        tok = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE_NAME);
    if (!tok)
        return -1;
    return ident_session_user(a->id, tok, now_ms(), u) == IDENT_OK ? 0 : -1;
}

static cJSON *user_json(const ident_user *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)u->id);
    cJSON_AddNumberToObject(o, "tg_id", (double)u->tg_id);
    cJSON_AddStringToObject(o, "first_name", u->first_name);
    cJSON_AddStringToObject(o, "username", u->username);
    return o;
}

static enum MHD_Result reject_initdata(struct MHD_Connection *c, tg_status st)
{
    switch (st) {
    case TG_ERR_HASH:
        return send_error(c, 401, RJ_BAD_SIGNATURE, "init data is not signed for this bot");
    case TG_ERR_EXPIRED:
        return send_error(c, 401, RJ_EXPIRED, "init data expired: reopen the mini app");
    case TG_ERR_FUTURE:
        return send_error(c, 401, RJ_FUTURE, "init data is dated in the future");
    case TG_ERR_NOMEM:
    case TG_ERR_ARG:
        return send_error(c, 500, RJ_INTERNAL, "cannot check init data");
    default: {
        char msg[64];
        snprintf(msg, sizeof msg, "init data rejected: %s", tg_status_str(st));
        return send_error(c, 400, RJ_MALFORMED, msg);
    }
    }
}

static enum MHD_Result handle_session(api *a, struct MHD_Connection *c, req *q)
{
    cJSON *body = cJSON_ParseWithLength(q->body ? q->body : "", q->len);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "init_data");
    if (!cJSON_IsObject(body) || !cJSON_IsString(f)) {
        cJSON_Delete(body);
        return send_error(c, 400, RJ_MALFORMED, "expected {\"init_data\":\"...\"}");
    }
    tg_auth auth;
    int64_t now = now_ms();
    tg_status st = tg_validate(f->valuestring, strlen(f->valuestring), a->bot_token, now / 1000,
                               a->max_age_s, &auth);
    cJSON_Delete(body);
    if (st != TG_OK)
        return reject_initdata(c, st);

    /* Remember the init data as long as it could still pass the age check;
     * with the age check disabled, for good. */
    int64_t used_until = INT64_MAX / 2;
    if (a->max_age_s > 0) {
        used_until = (auth.auth_date + a->max_age_s + TG_FUTURE_SKEW_S) * 1000;
        if (used_until < now + 60000)
            used_until = now + 60000;
    }
    char token[IDENT_TOKEN_LEN + 1];
    ident_user u;
    int64_t expires;
    ident_status is =
        ident_sign_in(a->id, auth.hash, used_until, &auth.user, now, token, &u, &expires);
    if (is == IDENT_ERR_REPLAY)
        return send_error(c, 409, RJ_REPLAY, "init data was already used: reopen the mini app");
    if (is != IDENT_OK)
        return send_error(c, 500, RJ_INTERNAL, "cannot create a session");
    metric_add(&m_sessions, 1);
    char uid[24];
    snprintf(uid, sizeof uid, "%" PRId64, u.id);
    log_info("session_created", "user signed in with Telegram", "user.id", uid);

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", token);
    cJSON_AddNumberToObject(o, "expires_ms", (double)expires);
    cJSON_AddItemToObject(o, "user", user_json(&u));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    struct MHD_Response *r = s ? text_response(s, "application/json") : NULL;
    free(s);
    if (r) {
        char cookie[160];
        snprintf(cookie, sizeof cookie,
                 COOKIE_NAME "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s", token,
                 (long long)(IDENT_SESSION_MS / 1000), a->dev_mode ? "" : "; Secure");
        MHD_add_response_header(r, "Set-Cookie", cookie);
    }
    memset(token, 0, sizeof token);
    return queue(c, 200, r);
}

static enum MHD_Result handle_me(api *a, struct MHD_Connection *c)
{
    ident_user u;
    if (session_user(a, c, &u) != 0)
        return send_error(c, 401, RJ_NO_SESSION, "sign in first");
    cJSON *o = user_json(&u);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return MHD_NO;
    enum MHD_Result rc = send_json(c, 200, s);
    free(s);
    return rc;
}

/* ---- readings ---- */

typedef struct readings_out {
    FILE *f;
    size_t n;
} readings_out;

static void append_reading(void *ctx, const fp_reading *r)
{
    readings_out *o = ctx;
    char json[2048];
    size_t len;
    if (fp_reading_encode(r, json, sizeof json, &len) != FP_OK)
        return;
    fputs(o->n++ ? "," : "", o->f);
    fwrite(json, 1, len, o->f);
}

/* Parse a non-negative decimal query parameter; def when absent. */
static int query_i64(struct MHD_Connection *c, const char *key, int64_t def, int64_t max,
                     int64_t *out)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < 0 || x > max)
        return -1;
    *out = x;
    return 0;
}

static enum MHD_Result handle_readings(api *a, struct MHD_Connection *c)
{
    ident_user u;
    if (session_user(a, c, &u) != 0)
        return send_error(c, 401, RJ_NO_SESSION, "sign in first");
    int64_t since, limit;
    if (query_i64(c, "since", 0, INT64_MAX, &since) != 0 ||
        query_i64(c, "limit", 100, API_READINGS_MAX, &limit) != 0)
        return send_error(c, 400, RJ_MALFORMED, "since and limit must be integers, limit <= 1000");
    char *buf = NULL;
    size_t size = 0;
    readings_out o = {.f = open_memstream(&buf, &size)};
    if (!o.f)
        return send_error(c, 500, RJ_INTERNAL, "out of memory");
    fputc('[', o.f);
    pthread_mutex_lock(&a->store_mu);
    store_status st = store_user_readings(a->s, u.id, since, (size_t)limit, append_reading, &o);
    pthread_mutex_unlock(&a->store_mu);
    fputc(']', o.f);
    if (fclose(o.f) != 0 || st != STORE_OK) {
        free(buf);
        return send_error(c, 500, RJ_INTERNAL, "cannot read the history");
    }
    enum MHD_Result rc = send_json(c, 200, buf);
    free(buf);
    return rc;
}

/* ---- live ---- */

static ssize_t live_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ssize_t n = live_read(cls, buf, max, LIVE_KEEPALIVE_MS);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void live_free(void *cls)
{
    live_unsubscribe(cls);
}

static enum MHD_Result handle_live(api *a, struct MHD_Connection *c)
{
    ident_user u;
    if (session_user(a, c, &u) != 0)
        return send_error(c, 401, RJ_NO_SESSION, "sign in first");
    live_client *lc = live_subscribe(a->hub, u.id);
    if (!lc)
        return send_error(c, 503, RJ_LIVE_FULL, "too many live streams, retry later");
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, live_reader, lc, live_free);
    if (!r) {
        live_unsubscribe(lc);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
    return queue(c, 200, r);
}

/* ---- dev launch ---- */

static int bind_demo_devices(api *a, int64_t user_id)
{
    char *list = strdup(a->demo_devices ? a->demo_devices : "");
    if (!list)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *dev = strtok_r(list, ",", &save); dev; dev = strtok_r(NULL, ",", &save)) {
        while (*dev == ' ')
            dev++;
        size_t n = strlen(dev);
        while (n > 0 && dev[n - 1] == ' ')
            dev[--n] = '\0';
        if (n == 0)
            continue;
        /* Exact ids only: a prefix like "sim-*" is the caller's to expand. */
        if (!fp_device_id_valid(dev, n)) {
            log_warn("dev_bind_skipped", "not a device id in dev_demo_devices", "device", dev);
            continue;
        }
        pthread_mutex_lock(&a->store_mu);
        if (store_bind_device(a->s, dev, user_id) != STORE_OK)
            rc = -1;
        pthread_mutex_unlock(&a->store_mu);
    }
    free(list);
    live_forget_owners(a->hub);
    return rc;
}

/* Dev mode: the demo user exists and owns the demo devices from the start,
 * so readings that arrive before anyone opens the mini app are theirs. */
static int prepare_demo(api *a)
{
    ident_user u;
    if (ident_upsert_user(a->id, a->demo_tg_id, "Demo", "demo", now_ms(), &u) != IDENT_OK)
        return -1;
    return bind_demo_devices(a, u.id);
}

static enum MHD_Result handle_launch(api *a, struct MHD_Connection *c)
{
    int64_t now = now_ms();
    if (prepare_demo(a) != 0)
        return send_error(c, 500, RJ_INTERNAL, "cannot prepare the demo user");
    char user[128];
    snprintf(user, sizeof user,
             "{\"id\":%" PRId64 ",\"first_name\":\"Demo\",\"username\":\"demo\"}", a->demo_tg_id);
    char *init = NULL, *enc = NULL, *loc = NULL;
    enum MHD_Result rc = MHD_NO;
    if (tg_initdata_sign(user, now / 1000, a->bot_token, &init) != TG_OK ||
        !(enc = tg_urlencode(init, strlen(init))) ||
        asprintf(&loc, "/#tgWebAppData=%s&tgWebAppVersion=8.0&tgWebAppPlatform=web", enc) < 0) {
        loc = NULL;
        rc = send_error(c, 500, RJ_INTERNAL, "cannot sign init data");
    } else {
        struct MHD_Response *r = text_response("", "text/plain");
        if (r)
            MHD_add_response_header(r, "Location", loc);
        rc = queue(c, 302, r);
    }
    free(init);
    free(enc);
    free(loc);
    return rc;
}

/* ---- static files ---- */

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* A URL path we are willing to map to a file: "/" + segments of
 * [A-Za-z0-9._-], none empty, none starting with '.' (no "..", no dotfiles). */
static int static_path_ok(const char *url)
{
    if (url[0] != '/')
        return 0;
    const char *seg = url + 1;
    for (const char *p = url + 1;; p++) {
        char ch = *p;
        if (ch == '/' || ch == '\0') {
            if (p == seg || seg[0] == '.')
                return 0;
            if (ch == '\0')
                return 1;
            seg = p + 1;
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')) {
            return 0;
        }
    }
}

static enum MHD_Result handle_static(api *a, struct MHD_Connection *c, const char *url)
{
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    const char *type = content_type(url);
    char path[PATH_MAX], real[PATH_MAX];
    if (!a->miniapp_root || !static_path_ok(url) || !type ||
        snprintf(path, sizeof path, "%s%s", a->miniapp_root, url) >= (int)sizeof path ||
        !realpath(path, real))
        return send_error(c, 404, RJ_NOT_FOUND, "no such page");
    /* Symlinks may not lead outside the mini app directory. */
    size_t root_len = strlen(a->miniapp_root);
    if (strncmp(real, a->miniapp_root, root_len) != 0 || real[root_len] != '/')
        return send_error(c, 404, RJ_NOT_FOUND, "no such page");
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        return send_error(c, 404, RJ_NOT_FOUND, "no such page");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    return queue(c, 200, r);
}

/* ---- dispatch ---- */

static int is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static enum MHD_Result dispatch_get(api *a, struct MHD_Connection *c, const char *url)
{
    if (strcmp(url, "/healthz") == 0) {
        metric_add(&m_requests[EP_HEALTH], 1);
        return send_json(c, 200, "{\"status\":\"ok\"}");
    }
    if (strcmp(url, "/readyz") == 0) {
        metric_add(&m_requests[EP_HEALTH], 1);
        if (__atomic_load_n(&a->ready, __ATOMIC_RELAXED))
            return send_json(c, 200, "{\"status\":\"ready\"}");
        return send_json(c, 503, "{\"status\":\"starting\"}");
    }
    if (strcmp(url, "/metrics") == 0) {
        metric_add(&m_requests[EP_METRICS], 1);
        char *text = metrics_render();
        if (!text)
            return MHD_NO;
        enum MHD_Result rc =
            queue(c, 200, text_response(text, "text/plain; version=0.0.4; charset=utf-8"));
        free(text);
        return rc;
    }
    if (strcmp(url, "/api/v1/me") == 0) {
        metric_add(&m_requests[EP_ME], 1);
        return handle_me(a, c);
    }
    if (strcmp(url, "/api/v1/readings") == 0) {
        metric_add(&m_requests[EP_READINGS], 1);
        return handle_readings(a, c);
    }
    if (strcmp(url, "/api/v1/live") == 0) {
        metric_add(&m_requests[EP_LIVE], 1);
        return handle_live(a, c);
    }
    if (strcmp(url, "/dev/launch") == 0 && a->dev_mode) {
        metric_add(&m_requests[EP_LAUNCH], 1);
        return handle_launch(a, c);
    }
    if (strncmp(url, "/api/", 5) == 0 || strncmp(url, "/dev/", 5) == 0) {
        metric_add(&m_requests[EP_OTHER], 1);
        return send_error(c, 404, RJ_NOT_FOUND, "no such endpoint");
    }
    metric_add(&m_requests[EP_STATIC], 1);
    return handle_static(a, c, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    api *a = cls;
    int is_session = strcmp(url, "/api/v1/session") == 0;
    if (!is_session) {
        if (!is_get(method)) {
            metric_add(&m_requests[EP_OTHER], 1);
            return send_error(c, 405, RJ_METHOD, "method not allowed");
        }
        return dispatch_get(a, c, url);
    }

    if (strcmp(method, "POST") != 0) {
        metric_add(&m_requests[EP_SESSION], 1);
        return send_error(c, 405, RJ_METHOD, "use POST");
    }
    req *q = *con_cls;
    if (!q) {
        /* First call: headers only. Refuse a declared oversize body before
         * reading it (MHD then closes the connection). */
        metric_add(&m_requests[EP_SESSION], 1);
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX)
            return send_error(c, 413, RJ_TOO_LARGE, "request body over 16 KiB");
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* Chunked bodies have no Content-Length: count as they come. */
        if (!q->too_large && q->len + *upload_data_size <= API_BODY_MAX) {
            char *nb = realloc(q->body, q->len + *upload_data_size + 1);
            if (!nb)
                return MHD_NO;
            memcpy(nb + q->len, upload_data, *upload_data_size);
            q->body = nb;
            q->len += *upload_data_size;
            q->body[q->len] = '\0';
        } else {
            q->too_large = 1;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->too_large)
        return send_error(c, 413, RJ_TOO_LARGE, "request body over 16 KiB");
    return handle_session(a, c, q);
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
    ident_close(a->id);
    pthread_mutex_destroy(&a->store_mu);
    if (a->bot_token)
        memset(a->bot_token, 0, strlen(a->bot_token));
    free(a->bot_token);
    free(a->miniapp_root);
    free(a->demo_devices);
    free(a);
}

int api_start(api **out, const api_config *cfg)
{
    *out = NULL;
    pthread_once(&metrics_once, api_metrics_register);
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
    a->dev_mode = cfg->dev_mode;
    a->max_age_s = cfg->initdata_max_age_s;
    a->demo_tg_id = cfg->dev_demo_tg_id;
    a->bot_token = strdup(cfg->bot_token);
    a->demo_devices = strdup(cfg->dev_demo_devices ? cfg->dev_demo_devices : "");
    if (cfg->miniapp_dir && !(a->miniapp_root = realpath(cfg->miniapp_dir, NULL)))
        log_warn("api_start", "mini app directory not found; serving the API only", "path",
                 cfg->miniapp_dir);
    store *live_store = NULL;
    if (!a->bot_token || !a->demo_devices || ident_open(&a->id, cfg->db_path) != 0 ||
        store_open(&a->s, cfg->db_path) != STORE_OK ||
        store_open(&live_store, cfg->db_path) != STORE_OK ||
        !(a->hub = live_hub_new(live_store, API_LIVE_MAX))) {
        store_close(live_store);
        api_free(a);
        return -1;
    }
    if (a->dev_mode && prepare_demo(a) != 0) {
        log_error("api_start", "cannot prepare the demo user");
        api_free(a);
        return -1;
    }
    /* Thread per connection: live streams block their own thread only. */
    a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                            cfg->port, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, &ss,
                            MHD_OPTION_NOTIFY_COMPLETED, request_completed, a,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONN_MAX,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!a->d) {
        log_error("api_start", "cannot start the HTTP server", "addr",
                  cfg->bind_addr ? cfg->bind_addr : "127.0.0.1");
        api_free(a);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : cfg->port;
    char port[8];
    snprintf(port, sizeof port, "%u", a->port);
    log_info("api_listening", "HTTP API listening", "port", port, "dev_mode",
             a->dev_mode ? "true" : "false");
    *out = a;
    return 0;
}

void api_stop(api *a)
{
    if (!a)
        return;
    /* Streams block in live_read: end them first or MHD waits for them. */
    live_hub_shutdown(a->hub);
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

void api_set_ready(api *a, int ready)
{
    __atomic_store_n(&a->ready, ready ? 1 : 0, __ATOMIC_RELAXED);
}
