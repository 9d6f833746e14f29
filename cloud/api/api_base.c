/* api_base.c - the api's built-in routes.
 *
 *   GET  /healthz /readyz /metrics
 *   GET  /api/v1/readings  the user's readings
 *   GET  /api/v1/live      server-sent events: the user's readings live
 *   GET  /dev/launch       dev mode: init data signed for the demo user
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "fitcommon/log.h"
#include "fitproto/msg.h"
#include "tg_initdata.h"

#define API_READINGS_MAX 1000

/* ---- health ---- */

static int h_healthz(void *ctx, api_req *rq)
{
    (void)ctx;
    return api_reply_json_str(rq, 200, "{\"status\":\"ok\"}");
}

static int h_readyz(void *ctx, api_req *rq)
{
    api *a = ctx;
    if (__atomic_load_n(&a->ready, __ATOMIC_RELAXED))
        return api_reply_json_str(rq, 200, "{\"status\":\"ready\"}");
    return api_reply_json_str(rq, 503, "{\"status\":\"starting\"}");
}

static int h_metrics(void *ctx, api_req *rq)
{
    (void)ctx;
    char *text = metrics_render();
    if (!text)
        return api_reply_error(rq, 500, "internal", "out of memory");
    int rc = api_reply_raw(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
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

static int h_readings(void *ctx, api_req *rq)
{
    api *a = ctx;
    int64_t since, limit;
    if (api_query_i64(rq, "since", 0, 0, INT64_MAX, &since) != 0 ||
        api_query_i64(rq, "limit", 100, 0, API_READINGS_MAX, &limit) != 0)
        return api_reply_error(rq, 400, "malformed",
                               "since and limit must be integers, limit <= 1000");
    char *buf = NULL;
    size_t size = 0;
    readings_out o = {.f = open_memstream(&buf, &size)};
    if (!o.f)
        return api_reply_error(rq, 500, "internal", "out of memory");
    fputc('[', o.f);
    pthread_mutex_lock(&a->store_mu);
    store_status st =
        store_user_readings(a->s, api_who(rq)->user_id, since, (size_t)limit, append_reading, &o);
    pthread_mutex_unlock(&a->store_mu);
    fputc(']', o.f);
    if (fclose(o.f) != 0 || st != STORE_OK) {
        free(buf);
        return api_reply_error(rq, 500, "internal", "cannot read the history");
    }
    int rc = api_reply_json_str(rq, 200, buf);
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

static int h_live(void *ctx, api_req *rq)
{
    api *a = ctx;
    live_client *lc = live_subscribe(a->hub, api_who(rq)->user_id, api_header(rq, "Last-Event-ID"));
    if (!lc)
        return api_reply_error(rq, 503, "live_full", "too many live streams, retry later");
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, live_reader, lc, live_free);
    if (!r) {
        live_unsubscribe(lc);
        return -1;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
    return api_req_queue(rq, 200, r);
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

int api_demo_user(api *a, int64_t *user_id)
{
    if (!a || !a->dev_mode || !a->tg_user)
        return -1;
    return a->tg_user(a->tg_user_ctx, a->demo_tg_id, "Demo", "demo", user_id) == 0 ? 0 : -1;
}

/* Dev mode: the demo user exists and owns the demo devices from the start,
 * so readings that arrive before anyone opens the mini app are theirs. */
int api_base_prepare_demo(api *a)
{
    int64_t uid;
    if (!a->tg_user) {
        log_error("dev_demo", "dev mode needs the identity module (api_set_tg_user_fn)");
        return -1;
    }
    if (api_demo_user(a, &uid) != 0)
        return -1;
    return bind_demo_devices(a, uid);
}

static int h_launch(void *ctx, api_req *rq)
{
    api *a = ctx;
    if (!a->dev_mode)
        return api_reply_error(rq, 404, "not_found", "no such endpoint");
    int64_t now = api_now_ms();
    if (api_base_prepare_demo(a) != 0)
        return api_reply_error(rq, 500, "internal", "cannot prepare the demo user");
    const char *lang = api_query(rq, "lang");
    if (!lang || (strcmp(lang, "ru") && strcmp(lang, "zh") && strcmp(lang, "en")))
        lang = "en";
    char user[192];
    snprintf(user, sizeof user,
             "{\"id\":%" PRId64 ",\"first_name\":\"Demo\",\"username\":\"demo\","
             "\"language_code\":\"%s\"}",
             a->demo_tg_id, lang);
    char *init = NULL, *enc = NULL, *loc = NULL;
    int rc;
    if (tg_initdata_sign(user, now / 1000, a->bot_token, &init) != TG_OK ||
        !(enc = tg_urlencode(init, strlen(init))) ||
        asprintf(&loc, "/#tgWebAppData=%s&tgWebAppVersion=8.0&tgWebAppPlatform=web", enc) < 0) {
        loc = NULL;
        rc = api_reply_error(rq, 500, "internal", "cannot sign init data");
    } else {
        api_reply_header(rq, "Location", loc);
        rc = api_reply_raw(rq, 302, "text/plain", "", 0);
    }
    free(init);
    free(enc);
    free(loc);
    return rc;
}

const api_route api_base_routes[] = {
    {"GET", "/healthz", API_PUBLIC, "health", h_healthz},
    {"GET", "/readyz", API_PUBLIC, "ready", h_readyz},
    {"GET", "/metrics", API_PUBLIC, "metrics", h_metrics},
    {"GET", "/api/v1/readings", API_USER, "readings", h_readings},
    {"GET", "/api/v1/live", API_USER, "live", h_live},
    {"GET", "/dev/launch", API_PUBLIC, "launch", h_launch},
};
const size_t api_base_nroutes = sizeof api_base_routes / sizeof api_base_routes[0];
