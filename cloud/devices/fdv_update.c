/* fdv_update.c - OTA updates of gateways from the cloud (fitdevices.h).
 *
 *   POST /api/v1/admin/gateways/<gw>/update {"url","sha256","size"}  (operator token)
 *   GET  /api/v1/admin/gateways/<gw>/update                          latest state + history
 *
 * POST checks the arguments as the gateway does (docs/protocol.md, op
 * `update`: the bundle's base URL and its manifest.json's sha256 and size)
 * and sends the command; the gateway answers at once (accepted, busy,
 * updates_disabled) and reports progress as "update" events on
 * fit/v1/gw/<gw>/event. Each event updates fitdevices_updates (one row per
 * gateway: the latest step) and, for the milestones, adds a row to
 * fitdevices_update_history (the byte-progress steps only move the latest
 * row; the history keeps the last HISTORY_KEEP rows per gateway).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdv_int.h"
#include "fitcommon/log.h"
#include "fitproto/reading.h"

#define HISTORY_KEEP 200
#define URL_MAX      1024

static const char *schema =
    "CREATE TABLE IF NOT EXISTS fitdevices_updates(gateway TEXT PRIMARY KEY,"
    " cmd_id TEXT NOT NULL, url TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL DEFAULT '',"
    " size INTEGER NOT NULL DEFAULT 0, step TEXT NOT NULL, bytes INTEGER NOT NULL DEFAULT 0,"
    " total INTEGER NOT NULL DEFAULT 0, slot TEXT NOT NULL DEFAULT '',"
    " version INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',"
    " updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS fitdevices_update_history(id INTEGER PRIMARY KEY,"
    " gateway TEXT NOT NULL, cmd_id TEXT NOT NULL, step TEXT NOT NULL,"
    " detail TEXT NOT NULL, ts_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS fitdevices_update_history_gw"
    " ON fitdevices_update_history(gateway, id);";

int fdv_update_init(fitdevices *d)
{
    return sqlite3_exec(d->db, schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static const char *str_of(const cJSON *o, const char *k, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static int64_t num_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9.1e18
               ? (int64_t)v->valuedouble
               : 0;
}

static void history_add(fitdevices *d, const char *gw, const char *id, const char *step,
                        const char *detail, int64_t ts)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "INSERT INTO fitdevices_update_history(gateway,cmd_id,step,detail,ts_ms)"
                           " VALUES(?,?,?,?,?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, step, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, ts);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(d->db,
                           "DELETE FROM fitdevices_update_history WHERE gateway=?1 AND id <="
                           " (SELECT id FROM fitdevices_update_history WHERE gateway=?1"
                           "  ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, HISTORY_KEEP);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
}

void fdv_update_event(fitdevices *d, const char *gw, const cJSON *m)
{
    const char *step = str_of(m, "step", NULL);
    if (!step || strlen(step) > 32)
        return;
    const char *id = str_of(m, "id", NULL); /* marked_good has none: the update it proves */
    char *detail = cJSON_PrintUnformatted(m);
    int64_t ts = fdv_now_ms();
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            d->db,
            "INSERT INTO fitdevices_updates(gateway,cmd_id,step,bytes,total,slot,version,error,"
            "updated_ms) VALUES(?1,coalesce(?2,''),?3,?4,?5,?6,?7,?8,?9)"
            " ON CONFLICT(gateway) DO UPDATE SET cmd_id=coalesce(?2,cmd_id), step=?3,"
            " bytes=?4, total=?5, slot=CASE WHEN ?6='' THEN slot ELSE ?6 END,"
            " version=CASE WHEN ?7=0 THEN version ELSE ?7 END, error=?8, updated_ms=?9",
            -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        if (id)
            sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, step, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, num_of(m, "bytes"));
        sqlite3_bind_int64(st, 5, num_of(m, "total"));
        sqlite3_bind_text(st, 6, str_of(m, "slot", ""), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, num_of(m, "version"));
        sqlite3_bind_text(st, 8, str_of(m, "error", ""), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, ts);
        if (sqlite3_step(st) != SQLITE_DONE)
            log_warn("update_event_not_stored", "cannot store an update event", "gateway", gw,
                     "error", sqlite3_errmsg(d->db));
    }
    sqlite3_finalize(st);
    /* Byte progress only moves the latest row. */
    if (strcmp(step, "downloading") != 0 && strcmp(step, "writing") != 0)
        history_add(d, gw, id ? id : "", step, detail ? detail : "{}", ts);
    pthread_mutex_unlock(&d->mu);
    cJSON_free(detail);
    log_info("gateway_update_event", "gateway update step", "gateway", gw, "step", step);
}

/* The gateway checks the same rules (edge/src/cmd_parse.c); refusing here
 * answers 400 without a round trip. */
static const char *check_args(const cJSON *b, const char **url, const char **sha, double *size)
{
    static const char *const allowed[] = {"url", "sha256", "size"};
    for (const cJSON *k = b->child; k; k = k->next) {
        bool known = false;
        for (size_t i = 0; i < 3; i++)
            known |= !strcmp(k->string, allowed[i]);
        if (!known)
            return "only url, sha256 and size";
    }
    *url = str_of(b, "url", NULL);
    *sha = str_of(b, "sha256", NULL);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "size");
    size_t ul = *url ? strlen(*url) : 0;
    bool ok =
        ul > 0 && ul <= URL_MAX && (!strncmp(*url, "https://", 8) || !strncmp(*url, "http://", 7));
    for (size_t i = 0; ok && i < ul; i++)
        ok = (*url)[i] > 0x20 && (*url)[i] < 0x7f;
    if (!ok)
        return "url must be an http(s) URL of at most 1024 printable chars";
    ok = *sha && strlen(*sha) == 64;
    for (size_t i = 0; ok && i < 64; i++)
        ok = ((*sha)[i] >= '0' && (*sha)[i] <= '9') || ((*sha)[i] >= 'a' && (*sha)[i] <= 'f');
    if (!ok)
        return "sha256 must be 64 lower-case hex digits (of the bundle's manifest.json)";
    if (!cJSON_IsNumber(n) || n->valuedouble != floor(n->valuedouble) || n->valuedouble < 1 ||
        n->valuedouble > 9007199254740991.0)
        return "size must be an integer 1..2^53-1 (of the bundle's manifest.json)";
    *size = n->valuedouble;
    return NULL;
}

int fdv_h_update_post(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const char *gw = api_path_arg(rq, 0);
    if (!gw || !fp_gateway_id_valid(gw, strlen(gw)))
        return api_reply_error(rq, 400, "bad_gateway", "not a gateway id");
    const cJSON *body = api_body_json(rq);
    if (!body)
        return api_reply_error(rq, 400, "malformed", "send a JSON object");
    const char *url, *sha;
    double size = 0;
    const char *why = check_args(body, &url, &sha, &size);
    if (why)
        return api_reply_error(rq, 400, "bad_args", why);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "url", url);
    cJSON_AddStringToObject(args, "sha256", sha);
    cJSON_AddNumberToObject(args, "size", size);
    cJSON *res = fdv_command(d, gw, "update", args);
    if (!res)
        return api_reply_error(rq, 504, "gateway_timeout",
                               "the gateway did not answer; it may be offline");
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "ok"))) {
        const char *err = str_of(res, "error", "gateway_error");
        int rc = api_reply_error(rq, 409, err, str_of(res, "message", "the gateway refused"));
        cJSON_Delete(res);
        return rc;
    }
    char id[65];
    snprintf(id, sizeof id, "%s", str_of(res, "id", ""));
    cJSON_Delete(res);
    int64_t ts = fdv_now_ms();
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = NULL;
    /* Events of this update may already be in (they ride another thread):
     * the row then stays as they left it, only the command's arguments are added. */
    if (sqlite3_prepare_v2(d->db,
                           "INSERT INTO fitdevices_updates(gateway,cmd_id,url,sha256,size,step,"
                           "updated_ms) VALUES(?1,?2,?3,?4,?5,'accepted',?6)"
                           " ON CONFLICT(gateway) DO UPDATE SET url=?3, sha256=?4, size=?5,"
                           " cmd_id=?2, step=CASE WHEN cmd_id=?2 THEN step ELSE 'accepted' END,"
                           " bytes=CASE WHEN cmd_id=?2 THEN bytes ELSE 0 END,"
                           " total=CASE WHEN cmd_id=?2 THEN total ELSE 0 END,"
                           " error=CASE WHEN cmd_id=?2 THEN error ELSE '' END,"
                           " updated_ms=CASE WHEN cmd_id=?2 THEN updated_ms ELSE ?6 END",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, url, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, sha, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (int64_t)size);
        sqlite3_bind_int64(st, 6, ts);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    history_add(d, gw, id, "accepted", "{}", ts);
    pthread_mutex_unlock(&d->mu);
    log_info("gateway_update_sent", "update sent to a gateway", "gateway", gw, "id", id, "operator",
             api_who(rq)->subject);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "gateway", gw);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddBoolToObject(o, "accepted", true);
    return api_reply_json(rq, 202, o);
}

int fdv_h_update_get(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const char *gw = api_path_arg(rq, 0);
    if (!gw || !fp_gateway_id_valid(gw, strlen(gw)))
        return api_reply_error(rq, 400, "bad_gateway", "not a gateway id");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "gateway", gw);
    cJSON *hist = cJSON_CreateArray();
    cJSON *latest = NULL;
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT cmd_id,url,sha256,size,step,bytes,total,slot,version,error,"
                           "updated_ms FROM fitdevices_updates WHERE gateway=?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            latest = cJSON_CreateObject();
            static const char *const cols[] = {"id",      "url",   "sha256",    "size",
                                               "step",    "bytes", "total",     "slot",
                                               "version", "error", "updated_ms"};
            for (int i = 0; i < 11; i++) {
                if (sqlite3_column_type(st, i) == SQLITE_INTEGER)
                    cJSON_AddNumberToObject(latest, cols[i], (double)sqlite3_column_int64(st, i));
                else
                    cJSON_AddStringToObject(latest, cols[i],
                                            (const char *)sqlite3_column_text(st, i));
            }
        }
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(d->db,
                           "SELECT cmd_id,step,detail,ts_ms FROM fitdevices_update_history"
                           " WHERE gateway=? ORDER BY id",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *h = cJSON_CreateObject();
            cJSON_AddStringToObject(h, "id", (const char *)sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(h, "step", (const char *)sqlite3_column_text(st, 1));
            cJSON *ev = cJSON_Parse((const char *)sqlite3_column_text(st, 2));
            cJSON_AddItemToObject(h, "event", ev ? ev : cJSON_CreateObject());
            cJSON_AddNumberToObject(h, "ts", (double)sqlite3_column_int64(st, 3));
            cJSON_AddItemToArray(hist, h);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    cJSON_AddItemToObject(o, "latest", latest ? latest : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "history", hist);
    return api_reply_json(rq, 200, o);
}
