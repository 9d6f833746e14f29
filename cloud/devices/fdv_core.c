/* fdv_core.c - fitdevices: gateway commands over MQTT, bindings, events. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "fdv_int.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitproto/reading.h"
#include "outbox.h"

static metric m_cmds, m_results, m_timeouts, m_bad, m_sessions_ended;
static int metrics_done;

static void fdv_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_cmds, "fitgate_devices_commands_total", "counter",
                    "Commands sent to gateways", NULL);
    metric_register(&m_results, "fitgate_devices_results_total", "counter",
                    "Command results received from gateways", NULL);
    metric_register(&m_timeouts, "fitgate_devices_command_timeouts_total", "counter",
                    "Commands whose result did not come in time", NULL);
    metric_register(&m_bad, "fitgate_devices_rejected_total", "counter",
                    "Gateway messages that failed to decode", NULL);
    metric_register(&m_sessions_ended, "fitgate_devices_gym_sessions_ended_total", "counter",
                    "Gym sessions ended by their gateway (idle)", NULL);
}

static const char *schema =
    "CREATE TABLE IF NOT EXISTS fitdevices_bindings(device TEXT PRIMARY KEY,"
    " gateway TEXT NOT NULL, user_id INTEGER NOT NULL, kind TEXT NOT NULL,"
    " session TEXT NOT NULL DEFAULT '', wheel_m REAL NOT NULL DEFAULT 0,"
    " bound_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS fitdevices_bindings_user ON fitdevices_bindings(user_id);"
    "CREATE TABLE IF NOT EXISTS fitdevices_sessions(session TEXT PRIMARY KEY,"
    " device TEXT NOT NULL, gateway TEXT NOT NULL, user_id INTEGER NOT NULL,"
    " started_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT NOT NULL DEFAULT '');";

int64_t fdv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- bindings (mu held) ---- */

int fdv_exec(fitdevices *d, const char *sql)
{
    return sqlite3_exec(d->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int event(fitdevices *d, const char *type, int64_t user, const char *dev, const char *gw,
                 const char *kind, const char *session, const char *reason, int64_t ts)
{
    cJSON *data = cJSON_CreateObject();
    if (!data)
        return -1;
    cJSON_AddNumberToObject(data, "user_id", (double)user);
    cJSON_AddStringToObject(data, "device", dev);
    cJSON_AddStringToObject(data, "gateway", gw);
    cJSON_AddStringToObject(data, "kind", kind);
    if (session && session[0])
        cJSON_AddStringToObject(data, "session", session);
    if (reason)
        cJSON_AddStringToObject(data, "reason", reason);
    char key[24], id[160], subject[96];
    snprintf(key, sizeof key, "%" PRId64, user);
    snprintf(id, sizeof id, "device/%s/%s/%" PRId64, dev,
             strcmp(type, EVT_TYPE_DEVICE_PAIRED) == 0 ? "paired" : "unpaired", ts);
    snprintf(subject, sizeof subject, "user/%" PRId64, user);
    int rc =
        outbox_add(d->db, EVT_TOPIC_IDENTITY, key, id, type, "fitgate-core/devices", subject, data);
    cJSON_Delete(data);
    return rc;
}

int fdv_bind(fitdevices *d, const char *gw, const char *dev, int64_t user, const char *kind,
             const char *session)
{
    int64_t ts = fdv_now_ms();
    sqlite3_stmt *st = NULL;
    if (fdv_exec(d, "BEGIN IMMEDIATE") < 0)
        goto fail;
    if (sqlite3_prepare_v2(d->db,
                           "INSERT OR REPLACE INTO fitdevices_bindings(device,gateway,user_id,kind,"
                           "session,wheel_m,bound_ms) VALUES(?,?,?,?,?,COALESCE((SELECT wheel_m"
                           " FROM fitdevices_bindings WHERE device=?1 AND user_id=?3),0),?)",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, dev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, gw, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, user);
    sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, session ? session : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, ts);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    if (session && session[0]) {
        if (sqlite3_prepare_v2(d->db,
                               "INSERT OR IGNORE INTO fitdevices_sessions(session,device,gateway,"
                               "user_id,started_ms) VALUES(?,?,?,?,?)",
                               -1, &st, NULL) != SQLITE_OK)
            goto fail;
        sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, dev, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, gw, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, user);
        sqlite3_bind_int64(st, 5, ts);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
        sqlite3_finalize(st);
        st = NULL;
    }
    if (event(d, EVT_TYPE_DEVICE_PAIRED, user, dev, gw, kind, session, NULL, ts) < 0 ||
        fdv_exec(d, "COMMIT") < 0)
        goto fail;
    /* The store decides whose readings these are; a failure here is healed
     * at the next start (fdv_resync). */
    if (store_bind_device(d->st, dev, user) != STORE_OK)
        log_error("devices_store", "binding not in the store yet", "device", dev);
    if (d->api)
        api_bindings_changed(d->api);
    log_info("device_paired", "device paired", "device", dev, "gateway", gw, "kind", kind);
    return 0;
fail:
    log_error("devices_db", "cannot store a binding", "error", sqlite3_errmsg(d->db));
    sqlite3_finalize(st);
    fdv_exec(d, "ROLLBACK");
    return -1;
}

int fdv_unbind(fitdevices *d, const char *dev, const char *reason)
{
    int64_t ts = fdv_now_ms(), user = 0;
    char gw[65] = "", kind[16] = "", session[65] = "";
    sqlite3_stmt *st = NULL;
    if (fdv_exec(d, "BEGIN IMMEDIATE") < 0 ||
        sqlite3_prepare_v2(d->db,
                           "SELECT gateway,user_id,kind,session FROM fitdevices_bindings"
                           " WHERE device=?",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, dev, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        fdv_exec(d, "ROLLBACK");
        return 1; /* not bound */
    }
    snprintf(gw, sizeof gw, "%s", (const char *)sqlite3_column_text(st, 0));
    user = sqlite3_column_int64(st, 1);
    snprintf(kind, sizeof kind, "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(session, sizeof session, "%s", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(d->db, "DELETE FROM fitdevices_bindings WHERE device=?", -1, &st,
                           NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, dev, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    if (session[0]) {
        if (sqlite3_prepare_v2(d->db,
                               "UPDATE fitdevices_sessions SET ended_ms=?, reason=? WHERE"
                               " session=? AND ended_ms=0",
                               -1, &st, NULL) != SQLITE_OK)
            goto fail;
        sqlite3_bind_int64(st, 1, ts);
        sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, session, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
        sqlite3_finalize(st);
        st = NULL;
    }
    if (event(d, EVT_TYPE_DEVICE_UNPAIRED, user, dev, gw, kind, session, reason, ts) < 0 ||
        fdv_exec(d, "COMMIT") < 0)
        goto fail;
    if (store_unbind_device(d->st, dev) != STORE_OK)
        log_error("devices_store", "unbinding not in the store yet", "device", dev);
    if (d->api)
        api_bindings_changed(d->api);
    log_info("device_unpaired", "device unpaired", "device", dev, "reason", reason);
    return 0;
fail:
    log_error("devices_db", "cannot remove a binding", "error", sqlite3_errmsg(d->db));
    sqlite3_finalize(st);
    fdv_exec(d, "ROLLBACK");
    return -1;
}

/* The store follows our table: heal a crash between our commit and the store. */
static void fdv_resync(fitdevices *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db, "SELECT device,user_id FROM fitdevices_bindings", -1, &st,
                           NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW)
        store_bind_device(d->st, (const char *)sqlite3_column_text(st, 0),
                          sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
}

/* ---- the queue to the loop thread ---- */

static void enqueue(fitdevices *d, const char *topic, const char *payload, bool retain)
{
    fdv_out *o = calloc(1, sizeof *o);
    if (!o || !(o->topic = strdup(topic)) || !(o->payload = strdup(payload))) {
        if (o) {
            free(o->topic);
            free(o);
        }
        return;
    }
    o->retain = retain;
    if (d->out_tail)
        d->out_tail->next = o;
    else
        d->out_head = o;
    d->out_tail = o;
    uint64_t one = 1;
    ssize_t w = write(d->efd, &one, sizeof one);
    (void)w;
}

static int on_efd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    (void)s;
    (void)revents;
    fitdevices *d = userdata;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
    pthread_mutex_lock(&d->mu);
    fdv_out *o = d->out_head;
    d->out_head = d->out_tail = NULL;
    pthread_mutex_unlock(&d->mu);
    while (o) {
        fdv_out *next = o->next;
        mosquitto_publish_v5(mqloop_mosq(d->mq), NULL, o->topic, (int)strlen(o->payload),
                             o->payload, 1, o->retain, NULL);
        free(o->topic);
        free(o->payload);
        free(o);
        o = next;
    }
    mqloop_kick(d->mq);
    return 0;
}

static char *command_json(const char *id, const char *op, cJSON *args)
{
    cJSON *msg = cJSON_CreateObject();
    if (!msg) {
        cJSON_Delete(args);
        return NULL;
    }
    cJSON_AddNumberToObject(msg, "v", 1);
    cJSON_AddStringToObject(msg, "id", id);
    cJSON_AddStringToObject(msg, "op", op);
    cJSON_AddItemToObject(msg, "args", args ? args : cJSON_CreateObject());
    char *s = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    return s;
}

void fdv_send(fitdevices *d, const char *gw, const char *op, cJSON *args)
{
    char id[65], topic[128];
    snprintf(id, sizeof id, "c%" PRIx64 "-%" PRIu64, (uint64_t)fdv_now_ms(), ++d->seq);
    char *s = command_json(id, op, args);
    snprintf(topic, sizeof topic, "fit/v1/gw/%s/cmd", gw);
    if (s)
        enqueue(d, topic, s, false);
    free(s);
    metric_add(&m_cmds, 1);
}

cJSON *fdv_command(fitdevices *d, const char *gw, const char *op, cJSON *args)
{
    fdv_pending *p = calloc(1, sizeof *p);
    if (!p) {
        cJSON_Delete(args);
        return NULL;
    }
    pthread_mutex_lock(&d->mu);
    snprintf(p->id, sizeof p->id, "c%" PRIx64 "-%" PRIu64, (uint64_t)fdv_now_ms(), ++d->seq);
    p->next = d->pending;
    d->pending = p;
    char *s = command_json(p->id, op, args);
    char topic[128];
    snprintf(topic, sizeof topic, "fit/v1/gw/%s/cmd", gw);
    if (s)
        enqueue(d, topic, s, false);
    free(s);
    metric_add(&m_cmds, 1);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += d->cmd_timeout_ms / 1000;
    until.tv_nsec += (long)(d->cmd_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!p->done && pthread_cond_timedwait(&d->cv, &d->mu, &until) != ETIMEDOUT)
        ;
    for (fdv_pending **pp = &d->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&d->mu);
    cJSON *res = p->result;
    if (!p->done)
        metric_add(&m_timeouts, 1);
    free(p);
    return res;
}

/* ---- messages from gateways (loop thread) ---- */

/* "fit/v1/gw/<gw>/<leaf>" -> gw; false for another shape. */
static bool topic_gw(const char *topic, const char *leaf, char *gw, size_t cap)
{
    const char *pre = "fit/v1/gw/";
    size_t pl = strlen(pre), ll = strlen(leaf), tl = strlen(topic);
    if (strncmp(topic, pre, pl) != 0 || tl <= pl + ll + 1 || strcmp(topic + tl - ll, leaf) != 0 ||
        topic[tl - ll - 1] != '/')
        return false;
    size_t n = tl - pl - ll - 1;
    if (n >= cap || !fp_gateway_id_valid(topic + pl, n))
        return false;
    memcpy(gw, topic + pl, n);
    gw[n] = '\0';
    return true;
}

static void on_result(fitdevices *d, cJSON *m)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
    if (!cJSON_IsString(id)) {
        metric_add(&m_bad, 1);
        cJSON_Delete(m);
        return;
    }
    metric_add(&m_results, 1);
    pthread_mutex_lock(&d->mu);
    for (fdv_pending *p = d->pending; p; p = p->next)
        if (!p->done && strcmp(p->id, id->valuestring) == 0) {
            p->done = true;
            p->result = m;
            m = NULL;
            pthread_cond_broadcast(&d->cv);
            break;
        }
    pthread_mutex_unlock(&d->mu);
    cJSON_Delete(m); /* a late result nobody waits for */
}

static void on_nearby(fitdevices *d, const char *gw, const char *payload, int len)
{
    /* Served as it is (application/json): only a JSON object, as results and
     * events; anything else leaves the last good snapshot in place. */
    cJSON *m = len > 0 && len <= 65536 ? cJSON_ParseWithLength(payload, (size_t)len) : NULL;
    bool ok = cJSON_IsObject(m);
    cJSON_Delete(m);
    if (!ok) {
        metric_add(&m_bad, 1);
        return;
    }
    char *copy = strndup(payload, (size_t)len);
    if (!copy)
        return;
    pthread_mutex_lock(&d->mu);
    fdv_nearby *n = d->nearby;
    while (n && strcmp(n->gw, gw) != 0)
        n = n->next;
    if (!n && (n = calloc(1, sizeof *n))) {
        snprintf(n->gw, sizeof n->gw, "%s", gw);
        n->next = d->nearby;
        d->nearby = n;
    }
    if (n) {
        free(n->json);
        n->json = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&d->mu);
    free(copy);
}

static void on_event(fitdevices *d, const char *gw, cJSON *m)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(m, "device");
    const cJSON *sess = cJSON_GetObjectItemCaseSensitive(m, "session");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(m, "reason");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "update") == 0) {
        fdv_update_event(d, gw, m);
        return;
    }
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "session_ended") != 0 ||
        !cJSON_IsString(dev) || !cJSON_IsString(sess)) {
        metric_add(&m_bad, 1);
        return;
    }
    pthread_mutex_lock(&d->mu);
    /* Only the session this gateway runs on this machine; a stale event of
     * an older session must not end the current user's. */
    sqlite3_stmt *st = NULL;
    bool match = false;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT 1 FROM fitdevices_bindings WHERE device=? AND session=? AND"
                           " gateway=?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, dev->valuestring, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sess->valuestring, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, gw, -1, SQLITE_STATIC);
        match = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    if (match &&
        fdv_unbind(d, dev->valuestring, cJSON_IsString(reason) ? reason->valuestring : "idle") == 0)
        metric_add(&m_sessions_ended, 1);
    pthread_mutex_unlock(&d->mu);
}

static void on_message(void *ctx, const struct mosquitto_message *msg)
{
    fitdevices *d = ctx;
    char gw[65];
    if (topic_gw(msg->topic, "nearby", gw, sizeof gw)) {
        on_nearby(d, gw, msg->payload, msg->payloadlen);
        return;
    }
    bool result = topic_gw(msg->topic, "cmd/result", gw, sizeof gw);
    bool ev = !result && topic_gw(msg->topic, "event", gw, sizeof gw);
    if (!result && !ev)
        return;
    cJSON *m = msg->payloadlen > 0 && msg->payloadlen <= 65536
                   ? cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen)
                   : NULL;
    if (!cJSON_IsObject(m)) {
        metric_add(&m_bad, 1);
        cJSON_Delete(m);
        return;
    }
    if (result) {
        on_result(d, m);
        return;
    }
    on_event(d, gw, m);
    cJSON_Delete(m);
}

static void on_connect(void *ctx, int rc, int flags)
{
    (void)flags;
    fitdevices *d = ctx;
    if (rc != 0)
        return;
    struct mosquitto *mq = mqloop_mosq(d->mq);
    mosquitto_subscribe_v5(mq, NULL, "fit/v1/gw/+/cmd/result", 1, 0, NULL);
    mosquitto_subscribe_v5(mq, NULL, "fit/v1/gw/+/nearby", 1, 0, NULL);
    mosquitto_subscribe_v5(mq, NULL, "fit/v1/gw/+/event", 1, 0, NULL);
    log_info("devices_connected", "devices module connected to the cloud broker");
}

static void on_disconnect(void *ctx, int rc)
{
    (void)ctx;
    (void)rc;
}

int fitdevices_new(fitdevices **out, sd_event *ev, api *a, const fitdevices_config *cfg)
{
    *out = NULL;
    fdv_metrics_init();
    fitdevices *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->efd = -1;
    d->ev = sd_event_ref(ev);
    d->api = a;
    d->cmd_timeout_ms = cfg->cmd_timeout_ms ? cfg->cmd_timeout_ms : 5000;
    d->gym_idle_s = cfg->gym_idle_timeout_s ? cfg->gym_idle_timeout_s : 300;
    mqloop_config mc = cfg->mqtt;
    if (!mc.client_id)
        mc.client_id = "fitgate-core-devices";
    mqloop_callbacks cb = {on_connect, on_disconnect, on_message, NULL};
    if (sqlite3_open(cfg->db_path, &d->db) != SQLITE_OK ||
        sqlite3_busy_timeout(d->db, 5000) != SQLITE_OK ||
        fdv_exec(d, "PRAGMA journal_mode=WAL") < 0 || fdv_exec(d, schema) < 0 ||
        fdv_update_init(d) < 0 || fdv_gw_init(d->db) < 0 || outbox_init(d->db) < 0 ||
        store_open(&d->st, cfg->db_path) != STORE_OK) {
        log_error("devices_start", "cannot open the devices tables", "error",
                  d->db ? sqlite3_errmsg(d->db) : "nomem");
        fitdevices_free(d);
        return -1;
    }
    fdv_resync(d);
    if (cfg->demo_gateways && cfg->demo_user_id > 0 &&
        fdv_gw_demo(d, cfg->demo_gateways, cfg->demo_user_id) < 0) {
        fitdevices_free(d);
        return -1;
    }
    if ((d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        sd_event_add_io(ev, &d->efd_src, d->efd, EPOLLIN, on_efd, d) < 0 ||
        mqloop_new(&d->mq, ev, &mc, &cb, d) < 0 || mqloop_start(d->mq) < 0) {
        fitdevices_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

void fitdevices_free(fitdevices *d)
{
    if (!d)
        return;
    d->efd_src = sd_event_source_disable_unref(d->efd_src);
    if (d->mq)
        mqloop_disconnect(d->mq);
    mqloop_free(d->mq);
    if (d->efd >= 0)
        close(d->efd);
    while (d->out_head) {
        fdv_out *o = d->out_head;
        d->out_head = o->next;
        free(o->topic);
        free(o->payload);
        free(o);
    }
    while (d->nearby) {
        fdv_nearby *n = d->nearby;
        d->nearby = n->next;
        free(n->json);
        free(n);
    }
    store_close(d->st);
    sqlite3_close(d->db);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    sd_event_unref(d->ev);
    free(d);
}
