/* fdv_gw.c - who belongs to a home gateway (fitdevices.h, docs/devices.md).
 *
 * Only members of a gateway see what it has nearby and pair devices at it:
 * the nearby list names the devices around someone's home, and a binding
 * sends a strap's heart rate to whoever made it. People join with a one-time
 * code: an owner claim code the operator mints (printed on the box), or a
 * member invite an owner makes. Codes are stored as SHA-256 only and burnt in
 * the transaction that adds the member, like enrolment tokens (cloud/enrol).
 *
 * Gym machines do not go through here: their QR sessions (J3) stay open to
 * anyone standing at the machine.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "events.h"
#include "fdv_int.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitproto/reading.h"
#include "outbox.h"

#define CLAIM_TTL_DAYS_DEFAULT 30
#define CLAIM_TTL_DAYS_MAX     365
#define INVITE_TTL_MS          (24 * 3600 * 1000LL)

static metric m_claims, m_claim_failures;
static int metrics_done;

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static const char *gw_schema =
    "CREATE TABLE IF NOT EXISTS fitdevices_gateway_members(gateway TEXT NOT NULL,"
    " user_id INTEGER NOT NULL, role TEXT NOT NULL CHECK(role IN ('owner','member')),"
    " since_ms INTEGER NOT NULL, PRIMARY KEY(gateway, user_id));"
    "CREATE INDEX IF NOT EXISTS fitdevices_gateway_members_user"
    " ON fitdevices_gateway_members(user_id);"
    "CREATE TABLE IF NOT EXISTS fitdevices_gateway_codes(hash BLOB PRIMARY KEY,"
    " gateway TEXT NOT NULL, role TEXT NOT NULL CHECK(role IN ('owner','member')),"
    " expires_ms INTEGER NOT NULL, used_ms INTEGER, used_by INTEGER,"
    " created_by TEXT NOT NULL, created_ms INTEGER NOT NULL);";

int fdv_gw_init(sqlite3 *db)
{
    if (!metrics_done++) {
        metric_register(&m_claims, "fitgate_devices_gateway_claims_total", "counter",
                        "Gateway codes redeemed (a member added)", NULL);
        metric_register(&m_claim_failures, "fitgate_devices_gateway_claim_failures_total",
                        "counter", "Gateway codes refused: unknown, used or expired", NULL);
    }
    return sqlite3_exec(db, gw_schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* ---- codes (pure) ---- */

void fitdevices_code_format(const uint8_t raw[13], char out[FDV_CODE_TEXT])
{
    size_t o = 0;
    for (int i = 0; i < FDV_CODE_CHARS; i++) {
        int bit = i * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)raw[byte] << 8 | (byte + 1 < 13 ? raw[byte + 1] : 0);
        if (i && i % 4 == 0)
            out[o++] = '-';
        out[o++] = b32[(v >> (11 - shift)) & 31];
    }
    out[o] = '\0';
}

int fitdevices_code_normalize(const char *in, char out[FDV_CODE_CHARS + 1])
{
    size_t n = 0;
    for (const char *p = in; p && *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        c = c == '0' ? 'O' : c == '1' ? 'I' : c == '8' ? 'B' : c;
        if (!strchr(b32, c) || c == '\0' || n == FDV_CODE_CHARS)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return in && n == FDV_CODE_CHARS ? 0 : -1;
}

static int code_hash(const char *code, uint8_t h[CRYPTO_SHA256_LEN])
{
    char canon[FDV_CODE_CHARS + 1];
    if (fitdevices_code_normalize(code, canon) < 0)
        return -1;
    return crypto_sha256(canon, FDV_CODE_CHARS, h) ? -1 : 0;
}

/* Mint a code for gw and store its hash. 0 or -1 (logged). */
static int code_create(sqlite3 *db, const char *gw, const char *role, int64_t ttl_ms,
                       const char *by, char code[FDV_CODE_TEXT], int64_t *expires_ms)
{
    uint8_t raw[13], h[CRYPTO_SHA256_LEN];
    crypto_random(raw, sizeof raw);
    fitdevices_code_format(raw, code);
    int64_t now = fdv_now_ms();
    *expires_ms = now + ttl_ms;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (code_hash(code, h) == 0 &&
        sqlite3_prepare_v2(db,
                           "INSERT INTO fitdevices_gateway_codes(hash,gateway,role,expires_ms,"
                           "created_by,created_ms) VALUES(?,?,?,?,?,?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, gw, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, *expires_ms);
        sqlite3_bind_text(st, 5, by, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    if (rc < 0)
        log_error("gateway_code", "cannot store a gateway code", "error", sqlite3_errmsg(db));
    else
        log_info("gateway_code_created", "gateway code minted", "gateway", gw, "role", role, "by",
                 by);
    return rc;
}

/* ---- members (mu held) ---- */

static int member_event(fitdevices *d, const char *type, const char *gw, int64_t user,
                        const char *role, const char *why, int64_t by, int64_t ts)
{
    cJSON *data = cJSON_CreateObject();
    if (!data)
        return -1;
    cJSON_AddNumberToObject(data, "user_id", (double)user);
    cJSON_AddStringToObject(data, "gateway", gw);
    cJSON_AddStringToObject(data, "role", role);
    cJSON_AddStringToObject(data, strcmp(type, EVT_TYPE_GW_MEMBER_ADDED) ? "reason" : "via", why);
    if (by)
        cJSON_AddNumberToObject(data, "by", (double)by);
    char key[24], id[160], subject[96];
    snprintf(key, sizeof key, "%" PRId64, user);
    snprintf(id, sizeof id, "gateway/%s/member/%" PRId64 "/%s/%" PRId64, gw, user,
             strcmp(type, EVT_TYPE_GW_MEMBER_ADDED) ? "removed" : "added", ts);
    snprintf(subject, sizeof subject, "user/%" PRId64, user);
    int rc =
        outbox_add(d->db, EVT_TOPIC_IDENTITY, key, id, type, "fitgate-core/devices", subject, data);
    cJSON_Delete(data);
    return rc;
}

/* The role of user at gw into role[8]: 1 found, 0 not, -1 error. */
static int role_of(fitdevices *d, const char *gw, int64_t user, char role[8])
{
    sqlite3_stmt *st = NULL;
    int found = -1;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT role FROM fitdevices_gateway_members WHERE gateway=? AND"
                           " user_id=?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, user);
        int r = sqlite3_step(st);
        found = r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
        if (found == 1)
            snprintf(role, 8, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return found;
}

int fdv_gw_member(fitdevices *d, const char *gw, int64_t user)
{
    char role[8];
    pthread_mutex_lock(&d->mu);
    int r = role_of(d, gw, user, role);
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* Inside a transaction: user becomes a member of gw with role. An owner
 * stays an owner when they redeem a member code; a member redeeming an owner
 * code is promoted. The event is written only when something changed. */
static int member_put(fitdevices *d, const char *gw, int64_t user, const char *role,
                      const char *via, int64_t ts, char out_role[8])
{
    char cur[8] = "";
    int have = role_of(d, gw, user, cur);
    if (have < 0)
        return -1;
    if (have == 1 && (!strcmp(cur, "owner") || !strcmp(role, "member"))) {
        snprintf(out_role, 8, "%s", cur);
        return 0;
    }
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(d->db,
                           "INSERT INTO fitdevices_gateway_members(gateway,user_id,role,since_ms)"
                           " VALUES(?,?,?,?) ON CONFLICT(gateway,user_id) DO UPDATE SET"
                           " role=excluded.role",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, user);
        sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, ts);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    snprintf(out_role, 8, "%s", role);
    if (rc == 0)
        rc = member_event(d, EVT_TYPE_GW_MEMBER_ADDED, gw, user, role, via, 0, ts);
    return rc;
}

int fdv_gw_demo(fitdevices *d, const char *gateways, int64_t user)
{
    char *list = strdup(gateways), *save = NULL;
    if (!list)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&d->mu);
    for (char *gw = strtok_r(list, ", ", &save); gw && rc == 0; gw = strtok_r(NULL, ", ", &save)) {
        char role[8];
        if (!fp_gateway_id_valid(gw, strlen(gw))) {
            log_warn("dev_gateway_skipped", "not a gateway id in dev_demo_gateways", "gateway", gw);
            continue;
        }
        rc = fdv_exec(d, "BEGIN IMMEDIATE") < 0 ||
                     member_put(d, gw, user, "owner", "dev_demo", fdv_now_ms(), role) < 0 ||
                     fdv_exec(d, "COMMIT") < 0
                 ? -1
                 : 0;
        if (rc < 0) {
            log_error("devices_db", "cannot make the demo user a gateway owner", "error",
                      sqlite3_errmsg(d->db));
            fdv_exec(d, "ROLLBACK");
        }
    }
    pthread_mutex_unlock(&d->mu);
    free(list);
    return rc;
}

typedef enum { CLAIM_OK, CLAIM_INVALID, CLAIM_USED, CLAIM_EXPIRED, CLAIM_INTERNAL } claim_status;

/* Inside a transaction: look the code up for gw and burn it. A code of
 * another gateway is "invalid": it does not tell that it exists. */
static claim_status code_burn(fitdevices *d, const char *gw, const uint8_t h[CRYPTO_SHA256_LEN],
                              int64_t user, int64_t now, char role[8])
{
    sqlite3_stmt *st = NULL;
    claim_status s = CLAIM_INTERNAL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT gateway,role,expires_ms,used_ms FROM fitdevices_gateway_codes"
                           " WHERE hash=?",
                           -1, &st, NULL) != SQLITE_OK)
        return CLAIM_INTERNAL;
    sqlite3_bind_blob(st, 1, h, CRYPTO_SHA256_LEN, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE ||
        (r == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), gw)))
        s = CLAIM_INVALID;
    else if (r == SQLITE_ROW && sqlite3_column_type(st, 3) != SQLITE_NULL)
        s = CLAIM_USED;
    else if (r == SQLITE_ROW && sqlite3_column_int64(st, 2) <= now)
        s = CLAIM_EXPIRED;
    else if (r == SQLITE_ROW) {
        snprintf(role, 8, "%s", (const char *)sqlite3_column_text(st, 1));
        s = CLAIM_OK;
    }
    sqlite3_finalize(st);
    if (s != CLAIM_OK)
        return s;
    if (sqlite3_prepare_v2(d->db,
                           "UPDATE fitdevices_gateway_codes SET used_ms=?, used_by=? WHERE hash=?"
                           " AND used_ms IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return CLAIM_INTERNAL;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, user);
    sqlite3_bind_blob(st, 3, h, CRYPTO_SHA256_LEN, SQLITE_STATIC);
    s = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(d->db) == 1 ? CLAIM_OK : CLAIM_INTERNAL;
    sqlite3_finalize(st);
    return s;
}

static claim_status claim(fitdevices *d, const char *gw, const char *code, int64_t user,
                          char role[8])
{
    uint8_t h[CRYPTO_SHA256_LEN];
    if (code_hash(code, h) < 0)
        return CLAIM_INVALID;
    int64_t now = fdv_now_ms();
    char code_role[8] = "";
    pthread_mutex_lock(&d->mu);
    claim_status s = fdv_exec(d, "BEGIN IMMEDIATE") < 0 ? CLAIM_INTERNAL
                                                        : code_burn(d, gw, h, user, now, code_role);
    const char *via = !strcmp(code_role, "owner") ? "claim_code" : "invite";
    if (s == CLAIM_OK &&
        (member_put(d, gw, user, code_role, via, now, role) < 0 || fdv_exec(d, "COMMIT") < 0))
        s = CLAIM_INTERNAL;
    if (s != CLAIM_OK)
        fdv_exec(d, "ROLLBACK");
    if (s == CLAIM_INTERNAL)
        log_error("devices_db", "cannot redeem a gateway code", "error", sqlite3_errmsg(d->db));
    pthread_mutex_unlock(&d->mu);
    return s;
}

/* ---- removing a member (mu held) ---- */

/* Personal bindings of user at gw, up to max device ids. Gym machine
 * sessions are not membership's: they end by themselves. */
static int bindings_at(fitdevices *d, const char *gw, int64_t user, char (*devs)[FP_DEVICE_MAX + 1],
                       int max)
{
    sqlite3_stmt *st = NULL;
    int n = 0;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT device FROM fitdevices_bindings WHERE gateway=? AND user_id=?"
                           " AND session=''",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, user);
    while (n < max && sqlite3_step(st) == SQLITE_ROW)
        snprintf(devs[n++], FP_DEVICE_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return n;
}

static int count_members(fitdevices *d, const char *gw, const char *role)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT count(*) FROM fitdevices_gateway_members WHERE gateway=? AND"
                           " (?2 IS NULL OR role=?2)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        if (role)
            sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static int member_delete(fitdevices *d, const char *gw, int64_t user, const char *role,
                         const char *reason, int64_t by)
{
    sqlite3_stmt *st = NULL;
    int64_t ts = fdv_now_ms();
    int rc = fdv_exec(d, "BEGIN IMMEDIATE");
    if (rc == 0 && sqlite3_prepare_v2(d->db,
                                      "DELETE FROM fitdevices_gateway_members WHERE gateway=? AND"
                                      " user_id=?",
                                      -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, user);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    } else
        rc = -1;
    sqlite3_finalize(st);
    if (rc == 0 &&
        (member_event(d, EVT_TYPE_GW_MEMBER_REMOVED, gw, user, role, reason, by, ts) < 0 ||
         fdv_exec(d, "COMMIT") < 0))
        rc = -1;
    if (rc < 0) {
        log_error("devices_db", "cannot remove a gateway member", "error", sqlite3_errmsg(d->db));
        fdv_exec(d, "ROLLBACK");
    }
    return rc;
}

/* ---- HTTP ---- */

static bool gw_arg(api_req *rq, const char **gw)
{
    *gw = api_path_arg(rq, 0);
    if (*gw && fp_gateway_id_valid(*gw, strlen(*gw)))
        return true;
    api_reply_error(rq, 400, "bad_gateway", "not a gateway id");
    return false;
}

static int reply_code(api_req *rq, int status, const char *gw, const char *code, const char *role,
                      int64_t expires_ms)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "gateway", gw);
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddStringToObject(o, "role", role);
    cJSON_AddNumberToObject(o, "expires_ms", (double)expires_ms);
    return api_reply_json(rq, status, o);
}

static cJSON *members_json(fitdevices *d, const char *gw)
{
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT user_id,role,since_ms FROM fitdevices_gateway_members WHERE"
                           " gateway=? ORDER BY since_ms",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, gw, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "user_id", (double)sqlite3_column_int64(st, 0));
            cJSON_AddStringToObject(o, "role", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddNumberToObject(o, "since_ms", (double)sqlite3_column_int64(st, 2));
            cJSON_AddItemToArray(arr, o);
        }
    }
    sqlite3_finalize(st);
    return arr;
}

int fdv_h_gateways(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    if (sqlite3_prepare_v2(d->db,
                           "SELECT gateway,role,since_ms FROM fitdevices_gateway_members WHERE"
                           " user_id=? ORDER BY since_ms, gateway",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, api_who(rq)->user_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *gw = (const char *)sqlite3_column_text(st, 0);
            const char *role = (const char *)sqlite3_column_text(st, 1);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "gateway", gw);
            cJSON_AddStringToObject(o, "role", role);
            cJSON_AddNumberToObject(o, "since_ms", (double)sqlite3_column_int64(st, 2));
            /* Owners see who else is in, to remove them. */
            if (!strcmp(role, "owner"))
                cJSON_AddItemToObject(o, "members", members_json(d, gw));
            cJSON_AddItemToArray(arr, o);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return api_reply_json(rq, 200, arr);
}

int fdv_h_claim(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const char *gw;
    if (!gw_arg(rq, &gw))
        return 0;
    const cJSON *body = api_body_json(rq);
    const cJSON *code = body ? cJSON_GetObjectItemCaseSensitive(body, "code") : NULL;
    if (!cJSON_IsString(code))
        return api_reply_error(rq, 400, "bad_args", "send {\"code\": \"XXXX-XXXX-...\"}");
    char role[8] = "";
    claim_status s = claim(d, gw, code->valuestring, api_who(rq)->user_id, role);
    if (s == CLAIM_INTERNAL)
        return api_reply_error(rq, 500, "internal", "could not redeem the code");
    if (s != CLAIM_OK) {
        /* 100-bit codes cannot be guessed; the count shows someone trying. */
        metric_add(&m_claim_failures, 1);
        log_warn("gateway_claim_refused", "gateway code refused", "gateway", gw, "ip",
                 api_peer_ip(rq));
        return s == CLAIM_USED
                   ? api_reply_error(rq, 403, "code_used", "this code has been used already")
               : s == CLAIM_EXPIRED ? api_reply_error(rq, 403, "code_expired",
                                                      "this code has expired; ask for a new one")
                                    : api_reply_error(rq, 403, "code_invalid",
                                                      "this is not a code for this gateway");
    }
    metric_add(&m_claims, 1);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "gateway", gw);
    cJSON_AddStringToObject(o, "role", role);
    return api_reply_json(rq, 200, o);
}

int fdv_h_invite(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const char *gw;
    if (!gw_arg(rq, &gw))
        return 0;
    int64_t me = api_who(rq)->user_id;
    char role[8] = "", code[FDV_CODE_TEXT], by[32];
    int64_t expires = 0;
    snprintf(by, sizeof by, "user:%" PRId64, me);
    pthread_mutex_lock(&d->mu);
    int found = role_of(d, gw, me, role);
    int rc = found == 1 && !strcmp(role, "owner")
                 ? code_create(d->db, gw, "member", INVITE_TTL_MS, by, code, &expires)
                 : 0;
    pthread_mutex_unlock(&d->mu);
    if (found < 0 || rc < 0)
        return api_reply_error(rq, 500, "internal", "could not make an invite");
    if (found == 0 || strcmp(role, "owner"))
        return api_reply_error(rq, 403, "not_an_owner", "only the gateway's owner can invite");
    return reply_code(rq, 201, gw, code, "member", expires);
}

/* May me remove user from gw? 0 yes (role of user in urole), else the reply
 * was sent. The last owner stays while anyone else is in: otherwise the
 * members would be left with nobody to invite or remove anyone. */
static int may_remove(fitdevices *d, api_req *rq, const char *gw, int64_t me, int64_t user,
                      char urole[8])
{
    char mrole[8] = "";
    int mine = role_of(d, gw, me, mrole), theirs = role_of(d, gw, user, urole);
    if (mine < 0 || theirs < 0)
        return api_reply_error(rq, 500, "internal", "could not read the members"), -1;
    if (mine == 0)
        return api_reply_error(rq, 403, "not_a_member", "you are not a member of this gateway"), -1;
    if (me != user && strcmp(mrole, "owner"))
        return api_reply_error(rq, 403, "not_an_owner", "only an owner can remove others"), -1;
    if (theirs == 0)
        return api_reply_error(rq, 404, "not_a_member", "this user is not a member here"), -1;
    if (!strcmp(urole, "owner") && count_members(d, gw, "owner") == 1 &&
        count_members(d, gw, NULL) > 1)
        return api_reply_error(rq, 409, "last_owner",
                               "the last owner cannot leave while members remain"),
               -1;
    return 0;
}

/* Unpair user's devices at gw (mu held), in rounds; the gateway is told to
 * let each go (best effort: it may be offline, and the cloud no longer routes
 * their readings to the user anyway). The number unpaired, or -1. */
static int unpair_member(fitdevices *d, const char *gw, int64_t user)
{
    char devs[16][FP_DEVICE_MAX + 1];
    int total = 0, n;
    do {
        if ((n = bindings_at(d, gw, user, devs, 16)) < 0)
            return -1;
        for (int i = 0; i < n; i++) {
            if (fdv_unbind(d, devs[i], "member_removed") < 0)
                return -1;
            cJSON *args = cJSON_CreateObject();
            cJSON_AddStringToObject(args, "device", devs[i]);
            fdv_send(d, gw, "unbind", args);
        }
        total += n;
    } while (n == 16);
    return total;
}

int fdv_h_member_delete(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const char *gw, *uid = api_path_arg(rq, 1);
    if (!gw_arg(rq, &gw))
        return 0;
    char *end = NULL;
    long long user = uid ? strtoll(uid, &end, 10) : 0;
    if (!uid || *end || user <= 0)
        return api_reply_error(rq, 400, "bad_args", "not a user id");
    int64_t me = api_who(rq)->user_id;
    char urole[8] = "";
    pthread_mutex_lock(&d->mu);
    if (may_remove(d, rq, gw, me, user, urole) < 0) {
        pthread_mutex_unlock(&d->mu);
        return 0;
    }
    /* Their pairings here go first: a crash in between leaves a member
     * without pairings (they can pair again), never a pairing without a
     * member. */
    int n = unpair_member(d, gw, user);
    int rc = n < 0 ? -1 : member_delete(d, gw, user, urole, me == user ? "left" : "removed", me);
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "could not remove the member");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "gateway", gw);
    cJSON_AddNumberToObject(o, "user_id", (double)user);
    cJSON_AddNumberToObject(o, "unpaired", n);
    return api_reply_json(rq, 200, o);
}

int fdv_h_claim_code(void *ctx, api_req *rq)
{
    fitdevices *d = ctx;
    const char *gw;
    if (!gw_arg(rq, &gw))
        return 0;
    const cJSON *body = api_body_json(rq);
    const cJSON *days = body ? cJSON_GetObjectItemCaseSensitive(body, "ttl_days") : NULL;
    if (days && !(cJSON_IsNumber(days) && days->valuedouble >= 1 &&
                  days->valuedouble <= CLAIM_TTL_DAYS_MAX && days->valuedouble == days->valueint))
        return api_reply_error(rq, 400, "bad_args", "ttl_days must be an integer 1..365");
    int64_t ttl = (days ? days->valueint : CLAIM_TTL_DAYS_DEFAULT) * 86400000LL;
    char code[FDV_CODE_TEXT], by[96];
    int64_t expires = 0;
    snprintf(by, sizeof by, "admin:%s", api_who(rq)->subject);
    pthread_mutex_lock(&d->mu);
    int rc = code_create(d->db, gw, "owner", ttl, by, code, &expires);
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "could not make a claim code");
    return reply_code(rq, 201, gw, code, "owner", expires);
}

/* ---- the operator's command line ---- */

static int cli_usage(FILE *f, int rc)
{
    fputs("usage: fitgate-core gateway claim-code GATEWAY [--ttl-days N (30, max 365)]\n"
          "                                      [--data-dir DIR (data)] [--json]\n",
          f);
    return rc;
}

static int cli_mint(const char *dir, const char *gw, long ttl_days, int json)
{
    char db_path[4200];
    snprintf(db_path, sizeof db_path, "%s/core.db", dir);
    sqlite3 *db = NULL;
    const char *user = getenv("USER");
    char by[80], code[FDV_CODE_TEXT];
    snprintf(by, sizeof by, "cli:%s", user ? user : "?");
    int64_t expires = 0;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
                         SQLITE_OK &&
                     sqlite3_busy_timeout(db, 5000) == SQLITE_OK && fdv_gw_init(db) == 0
                 ? code_create(db, gw, "owner", ttl_days * 86400000LL, by, code, &expires)
                 : -1;
    sqlite3_close(db);
    if (rc < 0) {
        fprintf(stderr, "fitgate-core gateway: cannot store the code in %s\n", db_path);
        return 1;
    }
    if (json)
        printf("{\"gateway\":\"%s\",\"code\":\"%s\",\"role\":\"owner\",\"expires_ms\":%" PRId64
               "}\n",
               gw, code, expires);
    else
        printf("%s\n", code);
    return 0;
}

int fitdevices_gateway_cli(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ttl-days", 1, 0, 't'},
        {"data-dir", 1, 0, 'd'},
        {"json", 0, 0, 'j'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *dir = "data";
    long ttl = CLAIM_TTL_DAYS_DEFAULT;
    int json = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        char *end = NULL;
        if (c == 'd')
            dir = optarg;
        else if (c == 'j')
            json = 1;
        else if (c == 't') {
            ttl = strtol(optarg, &end, 10);
            ttl = *end || end == optarg ? -1 : ttl;
        } else
            return cli_usage(c == 'h' ? stdout : stderr, c == 'h' ? 0 : 2);
    }
    if (argc - optind != 2 || strcmp(argv[optind], "claim-code"))
        return cli_usage(stderr, 2);
    const char *gw = argv[optind + 1];
    if (!fp_gateway_id_valid(gw, strlen(gw)) || ttl < 1 || ttl > CLAIM_TTL_DAYS_MAX) {
        fputs("fitgate-core gateway: a gateway id (1-64 of [A-Za-z0-9._-]) and --ttl-days 1..365\n",
              stderr);
        return 2;
    }
    return cli_mint(dir, gw, ttl, json);
}
