/* cmd.c - commands from the cloud, snapshots and gym sessions (cmd.h). */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cmd_bind.h"
#include "cmd_parse.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitproto/msg.h"

struct cmd_ctx {
    sd_event *ev;
    mqloop *mq;
    bluez *bz;
    upd_agent *upd;
    cmd_bindings *bind;
    char gw[FP_GATEWAY_MAX + 1];
    char t_cmd[128], t_result[128], t_nearby[128], t_event[128];
    uint32_t snapshot_interval_s;
    sd_event_source *tick, *scan_done;
    uint64_t ticks;
    void (*dirty)(void *ctx);
    void *dirty_ctx;
};

static metric m_cmds, m_cmd_errors, m_snapshots, m_sessions_ended;
static int metrics_done;

static void cmd_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_cmds, "fitgate_edge_commands_total", "counter",
                    "Commands received from the cloud", NULL);
    metric_register(&m_cmd_errors, "fitgate_edge_command_errors_total", "counter",
                    "Commands answered with an error", NULL);
    metric_register(&m_snapshots, "fitgate_edge_nearby_snapshots_total", "counter",
                    "Nearby snapshots published", NULL);
    metric_register(&m_sessions_ended, "fitgate_edge_gym_sessions_ended_total", "counter",
                    "Gym sessions ended (stop or idle)", NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void publish_json(cmd_ctx *c, const char *topic, cJSON *o, bool retain)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return;
    mosquitto_publish_v5(mqloop_mosq(c->mq), NULL, topic, (int)strlen(s), s, 1, retain, NULL);
    free(s);
    mqloop_kick(c->mq);
}

static void reply(cmd_ctx *c, const cmd *k, const char *err, const char *msg, cJSON *result)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(result);
        return;
    }
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddStringToObject(o, "op", cmd_op_str(k->op));
    cJSON_AddBoolToObject(o, "ok", err == NULL);
    if (err) {
        metric_add(&m_cmd_errors, 1);
        cJSON_AddStringToObject(o, "error", err);
        cJSON_AddStringToObject(o, "message", msg ? msg : "");
        cJSON_Delete(result);
        log_info("command_refused", "command refused", "id", k->id, "op", cmd_op_str(k->op),
                 "error", err);
    } else {
        cJSON_AddItemToObject(o, "result", result ? result : cJSON_CreateObject());
    }
    publish_json(c, c->t_result, o, false);
}

/* ---- snapshot ---- */

static void add_device(void *ctx, const bluez_device_info *d)
{
    cJSON *arr = ctx;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "address", d->address);
    cJSON_AddStringToObject(o, "name", d->name);
    if (d->rssi)
        cJSON_AddNumberToObject(o, "rssi", d->rssi);
    if (d->battery >= 0)
        cJSON_AddNumberToObject(o, "battery", d->battery);
    cJSON *svc = cJSON_AddArrayToObject(o, "services");
    for (size_t i = 0; svc && i < d->nservices; i++) {
        char u[8];
        snprintf(u, sizeof u, "%04x", d->services[i]);
        cJSON_AddItemToArray(svc, cJSON_CreateString(u));
    }
    cJSON_AddBoolToObject(o, "connected", d->connected);
    cJSON_AddBoolToObject(o, "bound", d->bound);
    cJSON_AddNumberToObject(o, "seen", (double)d->last_seen_ms);
    cJSON_AddItemToArray(arr, o);
}

static cJSON *snapshot_json(cmd_ctx *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "gw", c->gw);
    cJSON_AddNumberToObject(o, "ts", (double)now_ms());
    cJSON *arr = cJSON_AddArrayToObject(o, "devices");
    if (arr && c->bz)
        bluez_foreach(c->bz, add_device, arr);
    return o;
}

static void publish_snapshot(cmd_ctx *c)
{
    if (!mqloop_connected(c->mq))
        return;
    cJSON *o = snapshot_json(c);
    if (!o)
        return;
    metric_add(&m_snapshots, 1);
    publish_json(c, c->t_nearby, o, true);
}

/* ---- sessions ---- */

static void end_session(cmd_ctx *c, cmd_binding *x, const char *reason)
{
    char dev[FP_DEVICE_MAX + 1], sess[sizeof x->sess.session];
    snprintf(dev, sizeof dev, "%s", x->device);
    snprintf(sess, sizeof sess, "%s", x->sess.session);
    if (cmdb_del(c->bind, dev) < 0)
        return; /* try again on the next tick */
    metric_add(&m_sessions_ended, 1);
    log_info("gym_session_ended", "gym session ended", "device", dev, "session", sess, "reason",
             reason);
    if (c->bz) {
        bluez_ftms_control(c->bz, dev, 0x08, 1); /* stop, where the machine supports it */
        bluez_refresh(c->bz);
    }
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "type", "session_ended");
    cJSON_AddStringToObject(o, "device", dev);
    cJSON_AddStringToObject(o, "session", sess);
    cJSON_AddStringToObject(o, "reason", reason);
    cJSON_AddNumberToObject(o, "ts", (double)now_ms());
    publish_json(c, c->t_event, o, false);
}

static int on_scan_done(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)s;
    (void)usec;
    publish_snapshot(userdata);
    return 0;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    cmd_ctx *c = userdata;
    int64_t now = mono_ms();
    for (size_t i = 0; i < cmdb_count(c->bind);) {
        cmd_binding *x = cmdb_at(c->bind, i);
        size_t before = cmdb_count(c->bind);
        if (sess_expired(&x->sess, now))
            end_session(c, x, "idle");
        if (cmdb_count(c->bind) == before)
            i++;
    }
    c->ticks++;
    if (c->snapshot_interval_s && c->ticks % c->snapshot_interval_s == 0)
        publish_snapshot(c);
    sd_event_source_set_time_relative(s, 1000000);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

/* ---- commands ---- */

static void execute(cmd_ctx *c, const cmd *k)
{
    cmd_binding *x = k->device[0] ? cmdb_get(c->bind, k->device) : NULL;
    switch (k->op) {
    case CMD_SNAPSHOT: {
        cJSON *snap = snapshot_json(c);
        publish_snapshot(c);
        reply(c, k, NULL, NULL, snap);
        return;
    }
    case CMD_SCAN: {
        if (!c->bz) {
            reply(c, k, "no_bluetooth", "Bluetooth is off on this gateway", NULL);
            return;
        }
        int r = bluez_scan(c->bz);
        if (r < 0) {
            reply(c, k, "scan_failed", "no Bluetooth adapter is ready", NULL);
            return;
        }
        /* Discovery runs all the time; after the scan window the cloud gets a
         * fresh nearby snapshot with what showed up. */
        sd_event_source_set_time_relative(c->scan_done, (uint64_t)k->seconds * 1000000);
        sd_event_source_set_enabled(c->scan_done, SD_EVENT_ONESHOT);
        cJSON *res = cJSON_CreateObject();
        if (res)
            cJSON_AddNumberToObject(res, "seconds", k->seconds);
        reply(c, k, NULL, NULL, res);
        return;
    }
    case CMD_BIND: {
        cmd_binding nb = {0};
        if (x && x->sess.session[0]) {
            reply(c, k, "in_session", "the device is in a gym session", NULL);
            return;
        }
        if (x)
            nb = *x;
        snprintf(nb.device, sizeof nb.device, "%s", k->device);
        int r = cmdb_put(c->bind, &nb);
        if (r < 0) {
            reply(c, k, r == -2 ? "too_many" : "internal",
                  r == -2 ? "too many bindings on this gateway" : "cannot store the binding", NULL);
            return;
        }
        log_info("device_bound", "device bound", "device", k->device);
        if (c->bz)
            bluez_refresh(c->bz);
        cJSON *res = cJSON_CreateObject();
        if (res)
            cJSON_AddBoolToObject(res, "nearby", c->bz && bluez_known(c->bz, k->device));
        reply(c, k, NULL, NULL, res);
        return;
    }
    case CMD_UNBIND:
        if (!x) {
            reply(c, k, "not_bound", "the device is not bound on this gateway", NULL);
            return;
        }
        if (cmdb_del(c->bind, k->device) < 0) {
            reply(c, k, "internal", "cannot store the binding", NULL);
            return;
        }
        log_info("device_unbound", "device unbound", "device", k->device);
        if (c->bz)
            bluez_refresh(c->bz);
        reply(c, k, NULL, NULL, NULL);
        return;
    case CMD_SET_WHEEL: {
        if (!x) {
            reply(c, k, "not_bound", "bind the device before setting its wheel", NULL);
            return;
        }
        cmd_binding nb = *x;
        nb.wheel_m = k->wheel_m;
        if (cmdb_put(c->bind, &nb) < 0) {
            reply(c, k, "internal", "cannot store the binding", NULL);
            return;
        }
        reply(c, k, NULL, NULL, NULL);
        return;
    }
    case CMD_SESSION_START: {
        if (x && x->sess.session[0] && strcmp(x->sess.session, k->session) == 0) {
            reply(c, k, NULL, NULL, NULL); /* a redelivery */
            return;
        }
        if (x && !x->sess.session[0]) {
            reply(c, k, "bound", "the device is bound to a user, not a shared machine", NULL);
            return;
        }
        if (x)
            end_session(c, x, "taken_over"); /* the next user scanned the QR */
        cmd_binding nb = {0};
        snprintf(nb.device, sizeof nb.device, "%s", k->device);
        snprintf(nb.sess.session, sizeof nb.sess.session, "%s", k->session);
        nb.sess.idle_ms = k->idle_timeout_s * 1000;
        nb.sess.last_active_ms = mono_ms();
        if (cmdb_put(c->bind, &nb) < 0) {
            reply(c, k, "internal", "cannot store the session", NULL);
            return;
        }
        log_info("gym_session_started", "gym session started", "device", k->device, "session",
                 k->session);
        if (c->bz) /* connects; pol_ready starts the machine */
            bluez_refresh(c->bz);
        reply(c, k, NULL, NULL, NULL);
        return;
    }
    case CMD_SESSION_STOP:
        for (size_t i = 0; i < cmdb_count(c->bind); i++) {
            cmd_binding *b = cmdb_at(c->bind, i);
            if (strcmp(b->sess.session, k->session) == 0) {
                end_session(c, b, "stop");
                reply(c, k, NULL, NULL, NULL);
                return;
            }
        }
        reply(c, k, "no_session", "no such session on this gateway", NULL);
        return;
    case CMD_UPDATE: {
        int r = c->upd ? upd_start(c->upd, k->id, k->url, k->sha256, k->size) : 0;
        if (!c->upd)
            reply(c, k, "updates_disabled", "updates are not configured on this gateway", NULL);
        else if (r == -EBUSY)
            reply(c, k, "busy", "an update is already running", NULL);
        else if (r < 0)
            reply(c, k, "internal", "cannot start the updater", NULL);
        else {
            cJSON *res = cJSON_CreateObject();
            if (res)
                cJSON_AddBoolToObject(res, "accepted", true);
            if (res && r == 1)
                cJSON_AddBoolToObject(res, "duplicate", true);
            reply(c, k, NULL, NULL, res); /* progress follows as update events */
        }
        return;
    }
    case CMD_NONE:
        break;
    }
    reply(c, k, "unknown_op", "unknown op", NULL);
}

void cmd_on_message(void *ctx, const struct mosquitto_message *msg)
{
    cmd_ctx *c = ctx;
    if (strcmp(msg->topic, c->t_cmd) != 0)
        return;
    metric_add(&m_cmds, 1);
    cmd k;
    const char *why = "";
    cmd_err e =
        cmd_parse(msg->payload, (size_t)(msg->payloadlen > 0 ? msg->payloadlen : 0), &k, &why);
    if (e != CMD_OK) {
        reply(c, &k, cmd_err_str(e), why, NULL);
        return;
    }
    execute(c, &k);
}

void cmd_on_connect(void *ctx)
{
    cmd_ctx *c = ctx;
    mosquitto_subscribe_v5(mqloop_mosq(c->mq), NULL, c->t_cmd, 1, 0, NULL);
    log_info("commands_subscribed", "listening for cloud commands", "topic", c->t_cmd);
    publish_snapshot(c);
}

/* ---- the bluez policy ---- */

static bool pol_bound(void *ctx, const char *dev, double *wheel_m)
{
    cmd_ctx *c = ctx;
    cmd_binding *x = cmdb_get(c->bind, dev);
    if (x && wheel_m)
        *wheel_m = x->wheel_m;
    return x != NULL;
}

static void pol_reading(void *ctx, const fp_reading *r)
{
    cmd_ctx *c = ctx;
    cmd_binding *x = cmdb_get(c->bind, r->device);
    if (x)
        sess_touch(&x->sess, r, mono_ms());
}

/* A machine in a session is connected: take control and start it (where the
 * machine has an FTMS control point; others just stream). */
static void pol_ready(void *ctx, const char *dev)
{
    cmd_ctx *c = ctx;
    cmd_binding *x = cmdb_get(c->bind, dev);
    if (!x || !x->sess.session[0] || !c->bz)
        return;
    bluez_ftms_control(c->bz, dev, 0x00, -1); /* request control */
    bluez_ftms_control(c->bz, dev, 0x07, -1); /* start or resume */
}

static void pol_dirty(void *ctx)
{
    cmd_ctx *c = ctx;
    if (c->dirty)
        c->dirty(c->dirty_ctx);
}

bluez_policy cmd_policy(cmd_ctx *c, void (*dirty)(void *ctx), void *dirty_ctx)
{
    c->dirty = dirty;
    c->dirty_ctx = dirty_ctx;
    return (bluez_policy){pol_bound, pol_reading, pol_ready, pol_dirty, c};
}

void cmd_set_bluez(cmd_ctx *c, bluez *b)
{
    c->bz = b;
}

void cmd_set_updater(cmd_ctx *c, upd_agent *u)
{
    c->upd = u;
}

int cmd_new(cmd_ctx **out, sd_event *ev, const cmd_config *cfg)
{
    *out = NULL;
    cmd_metrics_init();
    cmd_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->ev = sd_event_ref(ev);
    snprintf(c->gw, sizeof c->gw, "%s", cfg->gateway_id);
    c->snapshot_interval_s = cfg->snapshot_interval_s;
    c->mq = cfg->mq;
    /* Topic buffers hold any valid gateway id (64 chars). */
    snprintf(c->t_cmd, sizeof c->t_cmd, "fit/v1/gw/%s/cmd", c->gw);
    snprintf(c->t_result, sizeof c->t_result, "fit/v1/gw/%s/cmd/result", c->gw);
    snprintf(c->t_nearby, sizeof c->t_nearby, "fit/v1/gw/%s/nearby", c->gw);
    snprintf(c->t_event, sizeof c->t_event, "fit/v1/gw/%s/event", c->gw);
    if (!fp_gateway_id_valid(c->gw, strlen(c->gw)) ||
        cmdb_open(&c->bind, cfg->bindings_path, mono_ms()) < 0 ||
        sd_event_add_time_relative(ev, &c->tick, CLOCK_MONOTONIC, 1000000, 50000, on_tick, c) < 0 ||
        sd_event_add_time_relative(ev, &c->scan_done, CLOCK_MONOTONIC, 1000000, 50000, on_scan_done,
                                   c) < 0) {
        cmd_free(c);
        return -EINVAL;
    }
    sd_event_source_set_enabled(c->scan_done, SD_EVENT_OFF);
    *out = c;
    return 0;
}

void cmd_free(cmd_ctx *c)
{
    if (!c)
        return;
    c->tick = sd_event_source_disable_unref(c->tick);
    c->scan_done = sd_event_source_disable_unref(c->scan_done);
    cmdb_close(c->bind);
    sd_event_unref(c->ev);
    free(c);
}
