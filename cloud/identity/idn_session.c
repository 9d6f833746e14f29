/* idn_session.c - sessions (refresh-token families), access JWTs, refresh
 * rotation with reuse detection, and the api authenticator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/log.h"
#include "idn_int.h"
#include "jwt.h"

void idn_tokens_free(idn_tokens *t)
{
    free(t->access);
    t->access = NULL;
    crypto_wipe(t->refresh, sizeof t->refresh);
}

int idn_access_token(idn *d, int64_t user_id, int64_t session_id, int64_t auth_ms, idn_tokens *out)
{
    int64_t now_s = idn_now_ms() / 1000;
    char sub[32];
    snprintf(sub, sizeof sub, "%lld", (long long)user_id);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "iss", d->cfg.issuer);
    cJSON_AddStringToObject(c, "aud", IDN_AUD_PUBLIC);
    cJSON_AddStringToObject(c, "sub", sub);
    cJSON_AddNumberToObject(c, "sid", (double)session_id);
    cJSON_AddNumberToObject(c, "iat", (double)now_s);
    cJSON_AddNumberToObject(c, "exp", (double)(now_s + d->cfg.access_ttl_s));
    cJSON_AddNumberToObject(c, "auth_time", (double)(auth_ms / 1000));
    uint8_t jti[12];
    char jti_s[24];
    crypto_random(jti, sizeof jti);
    crypto_b64url_encode(jti, sizeof jti, jti_s, sizeof jti_s);
    cJSON_AddStringToObject(c, "jti", jti_s);
    int rc = idn_sign(d, IDN_TYP_ACCESS, c, &out->access);
    cJSON_Delete(c);
    out->access_exp_ms = (now_s + d->cfg.access_ttl_s) * 1000;
    out->session_id = session_id;
    return rc;
}

/* Store a new refresh token for session_id. */
static int new_refresh(idn *d, int64_t session_id, int64_t now_ms, idn_tokens *out)
{
    idn_new_token(out->refresh);
    uint8_t h[32];
    crypto_sha256(out->refresh, strlen(out->refresh), h);
    out->refresh_exp_ms = now_ms + d->cfg.refresh_ttl_s * 1000;
    sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_refresh(hash, session_id, created_ms,"
                                   " expires_ms) VALUES(?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, session_id);
    sqlite3_bind_int64(st, 3, now_ms);
    sqlite3_bind_int64(st, 4, out->refresh_exp_ms);
    int rc = sqlite3_step(st);
    idn_done(d, st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int idn_session_create(idn *d, int64_t user_id, const char *method, int64_t mfa_ms, const char *ip,
                       const char *ua, idn_tokens *out)
{
    memset(out, 0, sizeof *out);
    int64_t now = idn_now_ms();
    sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_sessions(user_id, method, created_ms,"
                                   " mfa_ms, last_ms, expires_ms, ip, user_agent)"
                                   " VALUES(?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, mfa_ms);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int64(st, 6, now + d->cfg.refresh_ttl_s * 1000);
    sqlite3_bind_text(st, 7, ip ? ip : "", -1, SQLITE_STATIC);
    /* A user agent is shown in the session list: keep at most 200 bytes. */
    ua = ua ? ua : "";
    sqlite3_bind_text(st, 8, ua, (int)strnlen(ua, 200), SQLITE_STATIC);
    int rc = sqlite3_step(st);
    idn_done(d, st);
    if (rc != SQLITE_DONE)
        return -1;
    int64_t sid = sqlite3_last_insert_rowid(d->db);
    out->session_id = sid;
    if (new_refresh(d, sid, now, out) < 0) {
        idn_tokens_free(out);
        return -1;
    }
    idn_audit(d, user_id, "sign_in", ip, method);
    return 0;
}

int idn_session_state(idn *d, int64_t session_id, int64_t user_id, int64_t *auth_ms,
                      int64_t *mfa_ms, char lang[8])
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(d, "SELECT s.created_ms, s.mfa_ms, s.revoked_ms, s.expires_ms, "
                                   "u.lang FROM identity_sessions s JOIN identity_users u ON "
                                   "u.id = s.user_id WHERE s.id = ? AND s.user_id = ?");
    int rc = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, session_id);
        sqlite3_bind_int64(st, 2, user_id);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            *auth_ms = sqlite3_column_int64(st, 0);
            *mfa_ms = sqlite3_column_int64(st, 1);
            rc = sqlite3_column_int64(st, 2) == 0 && sqlite3_column_int64(st, 3) > idn_now_ms() ? 0
                                                                                                : 1;
            if (lang)
                snprintf(lang, 8, "%s", (const char *)sqlite3_column_text(st, 4));
        } else if (s == SQLITE_DONE) {
            rc = 1;
        }
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Refresh: 0 new pair in out; 1 unknown/expired/revoked; 2 reuse detected
 * (the family is now revoked). Takes mu. */
int idn_refresh(idn *d, const char *refresh, const char *ip, idn_tokens *out, int64_t *user_out)
{
    memset(out, 0, sizeof *out);
    if (!refresh || strlen(refresh) != IDN_TOKEN_LEN)
        return 1;
    uint8_t h[32];
    crypto_sha256(refresh, IDN_TOKEN_LEN, h);
    int64_t now = idn_now_ms();
    pthread_mutex_lock(&d->mu);
    if (idn_begin(d) < 0) {
        pthread_mutex_unlock(&d->mu);
        return -1;
    }
    sqlite3_stmt *st = idn_prep(
        d, "SELECT r.session_id, r.used_ms, r.expires_ms, s.user_id, s.revoked_ms, s.created_ms"
           " FROM identity_refresh r JOIN identity_sessions s ON s.id = r.session_id"
           " WHERE r.hash = ?");
    int rc = -1;
    int64_t sid = 0, used = 0, exp = 0, uid = 0, revoked = 0, created = 0;
    if (st) {
        sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            sid = sqlite3_column_int64(st, 0);
            used = sqlite3_column_int64(st, 1);
            exp = sqlite3_column_int64(st, 2);
            uid = sqlite3_column_int64(st, 3);
            revoked = sqlite3_column_int64(st, 4);
            created = sqlite3_column_int64(st, 5);
            rc = 0;
        } else if (s == SQLITE_DONE) {
            rc = 1;
        }
        idn_done(d, st);
    }
    if (rc == 0 && used) {
        /* A used refresh token came back: someone holds a copy. Revoke the
         * whole family, the legitimate holder signs in again. */
        rc = 2;
        if (!revoked)
            idn_exec_i(d,
                       "UPDATE identity_sessions SET revoked_ms = ?, revoke_reason = "
                       "'refresh_reuse' WHERE id = ?",
                       2, now, sid, 0, 0);
        idn_audit(d, uid, "refresh_reuse", ip, NULL);
        log_warn("identity_refresh_reuse", "a used refresh token was presented: session revoked",
                 "session", "family");
    } else if (rc == 0 && (revoked || exp <= now)) {
        rc = 1;
    } else if (rc == 0) {
        sqlite3_stmt *u =
            idn_prep(d, "UPDATE identity_refresh SET used_ms = ? WHERE hash = ? AND used_ms = 0");
        if (u) {
            sqlite3_bind_int64(u, 1, now);
            sqlite3_bind_blob(u, 2, h, sizeof h, SQLITE_TRANSIENT);
            rc = sqlite3_step(u) == SQLITE_DONE && sqlite3_changes(d->db) == 1 ? 0 : -1;
            idn_done(d, u);
        }
        if (rc == 0)
            rc = idn_exec_i(d, "UPDATE identity_sessions SET last_ms = ? WHERE id = ?", 2, now, sid,
                            0, 0);
        if (rc == 0)
            rc = new_refresh(d, sid, now, out);
    }
    if (rc == -1)
        idn_rollback(d);
    else if (idn_commit(d) < 0)
        rc = -1;
    pthread_mutex_unlock(&d->mu);
    /* Signing is the slow part: outside the lock. */
    if (rc == 0 && idn_access_token(d, uid, sid, created, out) < 0)
        rc = -1;
    if (rc != 0)
        idn_tokens_free(out);
    *user_out = uid;
    return rc;
}

/* ---- the authenticator ---- */

static int verify_aud(idn *d, const char *token, const char *aud, cJSON **claims)
{
    jwt_expect e = {.typ = IDN_TYP_ACCESS,
                    .iss = d->cfg.issuer,
                    .aud = aud,
                    .now_s = idn_now_ms() / 1000,
                    .leeway_s = 30,
                    .max_lifetime_s = d->cfg.access_ttl_s > 3600 ? d->cfg.access_ttl_s : 3600};
    return jwt_verify(token, strlen(token), &e, idn_key_lookup, d, claims);
}

static jwt_status verify_token(idn *d, const char *token, idn_auth_slot *v)
{
    cJSON *c = NULL;
    v->scope = API_SCOPE_USER;
    jwt_status st = verify_aud(d, token, IDN_AUD_PUBLIC, &c);
    if (st == JWT_ERR_AUD) {
        /* Not a public token: perhaps an internal or operator one. */
        v->scope = API_SCOPE_INTERNAL;
        st = verify_aud(d, token, IDN_AUD_INTERNAL, &c);
        if (st == JWT_ERR_AUD) {
            v->scope = API_SCOPE_ADMIN;
            st = verify_aud(d, token, IDN_AUD_ADMIN, &c);
        }
    }
    if (st != JWT_OK)
        return st;
    const cJSON *sub = cJSON_GetObjectItem(c, "sub"), *sid = cJSON_GetObjectItem(c, "sid");
    v->exp_s = (int64_t)cJSON_GetObjectItem(c, "exp")->valuedouble;
    if (v->scope == API_SCOPE_USER) {
        char *end = NULL;
        long long uid = strtoll(sub->valuestring, &end, 10);
        if (!end || *end || uid <= 0 || !cJSON_IsNumber(sid) || sid->valuedouble <= 0)
            st = JWT_ERR_CLAIMS;
        v->user_id = uid;
        v->session_id = cJSON_IsNumber(sid) ? (int64_t)sid->valuedouble : 0;
    } else {
        snprintf(v->subject, sizeof v->subject, "%s", sub->valuestring);
    }
    cJSON_Delete(c);
    return st;
}

int idn_authenticate(void *ctx, const char *token, api_principal *out)
{
    idn *d = ctx;
    memset(out, 0, sizeof *out);
    if (!token || !*token || strlen(token) > JWT_MAX)
        return -1;
    uint8_t h[32];
    crypto_sha256(token, strlen(token), h);
    idn_auth_slot v;
    memset(&v, 0, sizeof v);
    int64_t now_s = idn_now_ms() / 1000;
    size_t slot = ((size_t)h[0] << 8 | h[1]) % IDN_AUTH_SLOTS;
    pthread_mutex_lock(&d->auth_mu);
    int hit = crypto_equal(d->auth[slot].h, h, 32) && d->auth[slot].exp_s + 30 > now_s;
    if (hit)
        v = d->auth[slot];
    pthread_mutex_unlock(&d->auth_mu);
    if (!hit) {
        if (verify_token(d, token, &v) != JWT_OK) {
            idn_count("bad_input");
            return -1;
        }
        memcpy(v.h, h, 32);
        pthread_mutex_lock(&d->auth_mu);
        d->auth[slot] = v;
        pthread_mutex_unlock(&d->auth_mu);
    }
    out->scope = v.scope;
    if (v.scope != API_SCOPE_USER) {
        snprintf(out->subject, sizeof out->subject, "%s", v.subject);
        return 0;
    }
    out->user_id = v.user_id;
    out->session_id = v.session_id;
    /* The session must still be alive: sign-out and reuse detection take
     * effect at once, not when the access token expires. */
    return idn_session_state(d, out->session_id, out->user_id, &out->auth_ms, &out->mfa_ms,
                             out->lang) == 0
               ? 0
               : -1;
}

int idn_step_up_ok(const api_principal *p, int64_t now_ms, int64_t max_age_ms)
{
    return p && p->scope == API_SCOPE_USER && p->mfa_ms > 0 && p->mfa_ms <= now_ms + 1000 &&
           now_ms - p->mfa_ms <= max_age_ms;
}

static int issue_service(idn *d, const char *aud, const char *subject, int64_t ttl_s, char **out);

int idn_issue_internal(idn *d, const char *subject, int64_t ttl_s, char **out)
{
    return issue_service(d, IDN_AUD_INTERNAL, subject, ttl_s, out);
}

int idn_issue_admin(idn *d, const char *subject, int64_t ttl_s, char **out)
{
    return issue_service(d, IDN_AUD_ADMIN, subject, ttl_s, out);
}

static int issue_service(idn *d, const char *aud, const char *subject, int64_t ttl_s, char **out)
{
    int64_t now_s = idn_now_ms() / 1000;
    if (ttl_s <= 0 || ttl_s > 3600)
        ttl_s = 3600;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "iss", d->cfg.issuer);
    cJSON_AddStringToObject(c, "aud", aud);
    cJSON_AddStringToObject(c, "sub", subject);
    cJSON_AddNumberToObject(c, "iat", (double)now_s);
    cJSON_AddNumberToObject(c, "exp", (double)(now_s + ttl_s));
    int rc = idn_sign(d, IDN_TYP_ACCESS, c, out);
    cJSON_Delete(c);
    return rc;
}

int idn_session_mfa_now(idn *d, int64_t session_id)
{
    pthread_mutex_lock(&d->mu);
    int rc = idn_exec_i(d, "UPDATE identity_sessions SET mfa_ms = ? WHERE id = ?", 2, idn_now_ms(),
                        session_id, 0, 0);
    pthread_mutex_unlock(&d->mu);
    return rc;
}
