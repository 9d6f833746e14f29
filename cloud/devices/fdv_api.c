/* fdv_api.c - fitdevices HTTP routes (fitdevices.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fdv_int.h"
#include "fitcommon/log.h"
#include "fitproto/reading.h"

int fitdevices_parse_qr(const char *qr, char *gw, size_t gw_cap, char *dev, size_t dev_cap)
{
    const char *pre = "fitgate://gym?";
    if (!qr || strncmp(qr, pre, strlen(pre)) != 0 || strlen(qr) > 512)
        return -1;
    gw[0] = dev[0] = '\0';
    const char *p = qr + strlen(pre);
    while (*p) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        if (!eq)
            return -1;
        size_t kl = (size_t)(eq - p), vl = n - kl - 1;
        char *dst = NULL;
        size_t cap = 0;
        if (kl == 2 && !strncmp(p, "gw", 2))
            dst = gw, cap = gw_cap;
        else if (kl == 3 && !strncmp(p, "dev", 3))
            dst = dev, cap = dev_cap;
        if (dst) {
            if (dst[0] || vl == 0 || vl >= cap)
                return -1; /* repeated, empty or too long */
            memcpy(dst, eq + 1, vl);
            dst[vl] = '\0';
        }
        p += n;
        if (*p == '&')
            p++;
    }
    if (!fp_gateway_id_valid(gw, strlen(gw)) || !fp_device_id_valid(dev, strlen(dev)))
        return -1;
    return 0;
}

static const char *json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool dev_ok(const char *s)
{
    return s && fp_device_id_valid(s, strlen(s));
}

static bool gw_ok(const char *s)
{
    return s && fp_gateway_id_valid(s, strlen(s));
}

/* Answer from a gateway's result: NULL = ok; otherwise the reply was sent. */
static int gateway_error(api_req *rq, cJSON *res)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(res, "ok");
    if (cJSON_IsTrue(ok))
        return 0;
    const char *err = json_str(res, "error");
    const char *msg = json_str(res, "message");
    api_reply_error(rq, 409, err ? err : "gateway_error",
                    msg && msg[0] ? msg : "the gateway refused the request");
    return -1;
}

/* The binding row of dev: user, gateway, kind, session. 1 when found. */
static int binding_of(fitdevices *d, const char *dev, int64_t *user, char *gw, char *kind,
                      char *session)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT user_id,gateway,kind,session FROM fitdevices_bindings"
                           " WHERE device=?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, dev, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        *user = sqlite3_column_int64(st, 0);
        snprintf(gw, 65, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(kind, 16, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(session, 65, "%s", (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    return found;
}

/* dev is bound to the caller: its gateway in gw. Otherwise the 404 is sent. */
static bool owned(fitdevices *d, api_req *rq, const char *dev, char *gw)
{
    int64_t owner = 0;
    char kind[16], sess[65];
    pthread_mutex_lock(&d->mu);
    int found = binding_of(d, dev, &owner, gw, kind, sess);
    pthread_mutex_unlock(&d->mu);
    if (found == 1 && owner == api_who(rq)->user_id)
        return true;
    api_reply_error(rq, 404, "not_found", "you have not paired this device");
    return false;
}

/* The caller belongs to gw; otherwise the 403 is sent. What a home gateway
 * sees and who pairs there is its members' business (fdv_gw.c). */
static bool member(fitdevices *d, api_req *rq, const char *gw)
{
    int r = fdv_gw_member(d, gw, api_who(rq)->user_id);
    if (r == 1)
        return true;
    if (r < 0)
        api_reply_error(rq, 500, "internal", "could not check the gateway's members");
    else
        api_reply_error(rq, 403, "not_a_member",
                        "add this gateway with its code first (you are not a member)");
    return false;
}

static cJSON *device_args(const char *dev)
{
    cJSON *args = cJSON_CreateObject();
    if (args)
        cJSON_AddStringToObject(args, "device", dev);
    return args;
}

static int h_nearby(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const char *gw = api_path_arg(rq, 0);
    if (!gw_ok(gw))
        return api_reply_error(rq, 400, "bad_gateway", "not a gateway id");
    if (!member(d, rq, gw))
        return 0;
    const char *refresh = api_query(rq, "refresh");
    if (refresh && !strcmp(refresh, "1")) {
        cJSON *res = fdv_command(d, gw, "snapshot", NULL);
        if (!res)
            return api_reply_error(rq, 504, "gateway_timeout",
                                   "the gateway did not answer; it may be offline");
        if (gateway_error(rq, res) < 0) {
            cJSON_Delete(res);
            return 0;
        }
        cJSON *snap = cJSON_DetachItemFromObjectCaseSensitive(res, "result");
        cJSON_Delete(res);
        return api_reply_json(rq, 200, snap);
    }
    char *json = NULL;
    pthread_mutex_lock(&d->mu);
    for (fdv_nearby *n = d->nearby; n; n = n->next)
        if (!strcmp(n->gw, gw))
            json = strdup(n->json);
    pthread_mutex_unlock(&d->mu);
    if (!json)
        return api_reply_error(rq, 404, "no_snapshot",
                               "this gateway has not reported what it sees yet");
    int rc = api_reply_json_str(rq, 200, json);
    free(json);
    return rc;
}

static int h_bind(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const cJSON *body = api_body_json(rq);
    const char *gw = body ? json_str(body, "gateway") : NULL;
    const char *dev = body ? json_str(body, "device") : NULL;
    if (!body)
        return api_reply_error(rq, 400, "malformed", "send a JSON object");
    if (!gw_ok(gw) || !dev_ok(dev))
        return api_reply_error(rq, 400, "bad_args", "gateway and device ids are required");
    if (!member(d, rq, gw))
        return 0;
    int64_t me = api_who(rq)->user_id, owner = 0;
    char ogw[65], kind[16], sess[65];
    pthread_mutex_lock(&d->mu);
    int found = binding_of(d, dev, &owner, ogw, kind, sess);
    pthread_mutex_unlock(&d->mu);
    if (found == 1 && owner != me)
        return api_reply_error(rq, 409, "bound_to_other", "someone else has paired this device");
    if (found == 1 && sess[0])
        return api_reply_error(rq, 409, "in_session", "this machine is in a gym session");
    cJSON *res = fdv_command(d, gw, "bind", device_args(dev));
    /* No answer: the gateway is offline and will not get the command later
     * (its session is clean), so nothing is stored and the user retries. */
    if (!res)
        return api_reply_error(rq, 504, "gateway_timeout",
                               "the gateway did not answer; it may be offline");
    if (gateway_error(rq, res) < 0) {
        cJSON_Delete(res);
        return 0;
    }
    cJSON_Delete(res);
    pthread_mutex_lock(&d->mu);
    int rc = fdv_bind(d, gw, dev, me, "personal", NULL);
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "could not store the pairing");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device", dev);
    cJSON_AddStringToObject(o, "gateway", gw);
    cJSON_AddStringToObject(o, "gateway_status", "bound");
    return api_reply_json(rq, 200, o);
}

static int h_unbind(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const cJSON *body = api_body_json(rq);
    const char *dev = body ? json_str(body, "device") : NULL;
    if (!body)
        return api_reply_error(rq, 400, "malformed", "send a JSON object");
    if (!dev_ok(dev))
        return api_reply_error(rq, 400, "bad_args", "a device id is required");
    char gw[65];
    if (!owned(d, rq, dev, gw))
        return 0;
    cJSON_Delete(fdv_command(d, gw, "unbind", device_args(dev)));
    pthread_mutex_lock(&d->mu);
    int rc = fdv_unbind(d, dev, "user");
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "could not remove the pairing");
    return api_reply_json_str(rq, 200, "{\"unbound\":true}");
}

static int h_wheel(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const char *dev = api_path_arg(rq, 0);
    const cJSON *body = api_body_json(rq);
    const cJSON *w = body ? cJSON_GetObjectItemCaseSensitive(body, "circumference_m") : NULL;
    if (!body)
        return api_reply_error(rq, 400, "malformed", "send a JSON object");
    if (!dev_ok(dev) || !cJSON_IsNumber(w) || !(w->valuedouble >= 0.5 && w->valuedouble <= 4.0))
        return api_reply_error(rq, 400, "bad_args", "circumference_m must be 0.5..4.0");
    char gw[65];
    if (!owned(d, rq, dev, gw))
        return 0;
    cJSON *args = device_args(dev);
    cJSON_AddNumberToObject(args, "circumference_m", w->valuedouble);
    cJSON *res = fdv_command(d, gw, "set_wheel", args);
    if (!res)
        return api_reply_error(rq, 504, "gateway_timeout", "the gateway did not answer");
    if (gateway_error(rq, res) < 0) {
        cJSON_Delete(res);
        return 0;
    }
    cJSON_Delete(res);
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db, "UPDATE fitdevices_bindings SET wheel_m=? WHERE device=?", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_double(st, 1, w->valuedouble);
        sqlite3_bind_text(st, 2, dev, -1, SQLITE_STATIC);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return api_reply_json_str(rq, 200, "{\"ok\":true}");
}

static int h_list(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT device,gateway,kind,session,wheel_m,bound_ms FROM"
                           " fitdevices_bindings WHERE user_id=? ORDER BY bound_ms",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, api_who(rq)->user_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "device", (const char *)sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(o, "gateway", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(st, 2));
            const char *s = (const char *)sqlite3_column_text(st, 3);
            if (s && s[0])
                cJSON_AddStringToObject(o, "session", s);
            if (sqlite3_column_double(st, 4) > 0)
                cJSON_AddNumberToObject(o, "wheel_m", sqlite3_column_double(st, 4));
            cJSON_AddNumberToObject(o, "bound_ms", (double)sqlite3_column_int64(st, 5));
            cJSON_AddItemToArray(arr, o);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return api_reply_json(rq, 200, arr);
}

static int h_gym_start(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const cJSON *body = api_body_json(rq);
    const char *qr = body ? json_str(body, "qr") : NULL;
    char gw[65], dev[FP_DEVICE_MAX + 1];
    if (!body)
        return api_reply_error(rq, 400, "malformed", "send a JSON object");
    if (fitdevices_parse_qr(qr, gw, sizeof gw, dev, sizeof dev) < 0)
        return api_reply_error(rq, 400, "bad_qr", "this QR code is not a fitgate machine sticker");
    int64_t me = api_who(rq)->user_id, owner = 0;
    char ogw[65], kind[16], sess[65];
    pthread_mutex_lock(&d->mu);
    int found = binding_of(d, dev, &owner, ogw, kind, sess);
    pthread_mutex_unlock(&d->mu);
    if (found == 1 && !sess[0])
        return api_reply_error(rq, 409, "bound_to_other", "this device is someone's own");
    uint8_t rnd[8];
    char session[24];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return api_reply_error(rq, 500, "internal", "no randomness");
    snprintf(session, sizeof session, "s%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    cJSON *args = device_args(dev);
    cJSON_AddStringToObject(args, "session", session);
    cJSON_AddNumberToObject(args, "idle_timeout_s", d->gym_idle_s);
    cJSON *res = fdv_command(d, gw, "session_start", args);
    if (!res)
        return api_reply_error(rq, 504, "gateway_timeout",
                               "the machine's gateway did not answer; try again");
    if (gateway_error(rq, res) < 0) {
        cJSON_Delete(res);
        return 0;
    }
    cJSON_Delete(res);
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    if (found == 1) /* the previous user's session was taken over on the gateway */
        rc = fdv_unbind(d, dev, "taken_over");
    /* One session per user: a new QR scan ends the user's other machines. */
    sqlite3_stmt *st = NULL;
    char other[FP_DEVICE_MAX + 1] = "";
    if (rc >= 0 && sqlite3_prepare_v2(d->db,
                                      "SELECT device FROM fitdevices_bindings WHERE user_id=? AND"
                                      " session<>'' AND device<>?",
                                      -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, me);
        sqlite3_bind_text(st, 2, dev, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(other, sizeof other, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc >= 0 && other[0])
        rc = fdv_unbind(d, other, "replaced");
    if (rc >= 0)
        rc = fdv_bind(d, gw, dev, me, "machine", session);
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "could not store the session");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "session", session);
    cJSON_AddStringToObject(o, "gateway", gw);
    cJSON_AddStringToObject(o, "device", dev);
    cJSON_AddNumberToObject(o, "idle_timeout_s", d->gym_idle_s);
    return api_reply_json(rq, 201, o);
}

static int h_gym_stop(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    char dev[FP_DEVICE_MAX + 1] = "", gw[65] = "", session[65] = "";
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT device,gateway,session FROM fitdevices_bindings WHERE user_id=?"
                           " AND session<>''",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, api_who(rq)->user_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(dev, sizeof dev, "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(gw, sizeof gw, "%s", (const char *)sqlite3_column_text(st, 1));
            snprintf(session, sizeof session, "%s", (const char *)sqlite3_column_text(st, 2));
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    if (!dev[0])
        return api_reply_error(rq, 404, "no_session", "you have no gym session running");
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "session", session);
    cJSON_Delete(fdv_command(d, gw, "session_stop", args));
    pthread_mutex_lock(&d->mu);
    int rc = fdv_unbind(d, dev, "stop");
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "could not end the session");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "session", session);
    cJSON_AddStringToObject(o, "ended", "stop");
    return api_reply_json(rq, 200, o);
}

const api_route fitdevices_routes[] = {
    {"GET", "/api/v1/gateways/*/nearby", API_USER, "devices_nearby", h_nearby},
    {"POST", "/api/v1/devices/bind", API_USER, "devices_bind", h_bind},
    {"POST", "/api/v1/devices/unbind", API_USER, "devices_unbind", h_unbind},
    {"POST", "/api/v1/devices/*/wheel", API_USER, "devices_wheel", h_wheel},
    {"GET", "/api/v1/devices", API_USER, "devices_list", h_list},
    {"POST", "/api/v1/gym/session", API_USER, "gym_session_start", h_gym_start},
    {"DELETE", "/api/v1/gym/session", API_USER, "gym_session_stop", h_gym_stop},
    {"POST", "/api/v1/admin/gateways/*/update", API_ADMIN, "gateway_update", fdv_h_update_post},
    {"GET", "/api/v1/admin/gateways/*/update", API_ADMIN, "gateway_update_state", fdv_h_update_get},
    {"GET", "/api/v1/gateways", API_USER, "gateways_list", fdv_h_gateways},
    {"POST", "/api/v1/gateways/*/claim", API_USER, "gateway_claim", fdv_h_claim},
    {"POST", "/api/v1/gateways/*/invites", API_USER, "gateway_invite", fdv_h_invite},
    {"DELETE", "/api/v1/gateways/*/members/*", API_USER, "gateway_member_remove",
     fdv_h_member_delete},
    {"POST", "/api/v1/admin/gateways/*/claim-code", API_ADMIN, "gateway_claim_code",
     fdv_h_claim_code},
};
const size_t fitdevices_nroutes = sizeof fitdevices_routes / sizeof fitdevices_routes[0];
