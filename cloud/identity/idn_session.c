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

/* A refresh token is "<session id>.<43 random base64url chars>". The session
 * row keeps the SHA-256 of the random part of the current one, so a sign-in
 * writes no row for it; a rotated token's hash moves to
 * identity_refresh_used, clustered by session, where a second use of it is
 * recognised (and revokes the session). The id in front only says where to
 * look: the random part is the secret. new_refresh makes the random part
 * (its hash in hash) and refresh_name puts the id in front. */
static void new_refresh(idn *d, int64_t now_ms, idn_tokens *out, uint8_t hash[32])
{
    idn_new_token(out->refresh);
    crypto_sha256(out->refresh, IDN_TOKEN_LEN, hash);
    out->refresh_exp_ms = now_ms + d->cfg.refresh_ttl_s * 1000;
}

static void refresh_name(idn_tokens *out, int64_t session_id)
{
    char rnd[IDN_TOKEN_LEN + 1];
    memcpy(rnd, out->refresh, sizeof rnd);
    snprintf(out->refresh, sizeof out->refresh, "%lld.%s", (long long)session_id, rnd);
    crypto_wipe(rnd, sizeof rnd);
}

/* The session id in front of a refresh token: > 0, or 0 when malformed. */
static int64_t refresh_session(const char *refresh)
{
    const char *dot = refresh ? strchr(refresh, '.') : NULL;
    if (!dot || dot == refresh || dot - refresh > 18 || strlen(dot + 1) != IDN_TOKEN_LEN)
        return 0;
    int64_t sid = 0;
    for (const char *p = refresh; p < dot; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        sid = sid * 10 + (*p - '0');
    }
    return sid;
}

int idn_session_create(idn *d, int64_t user_id, const char *method, int64_t mfa_ms, const char *ip,
                       const char *ua, idn_tokens *out)
{
    memset(out, 0, sizeof *out);
    int64_t now = idn_now_ms();
    uint8_t h[32];
    new_refresh(d, now, out, h);
    sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_sessions(user_id, method, created_ms,"
                                   " mfa_ms, last_ms, expires_ms, ip, user_agent, refresh_hash,"
                                   " refresh_exp_ms) VALUES(?,?,?,?,?,?,?,?,?,?)");
    if (!st) {
        idn_tokens_free(out);
        return -1;
    }
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
    sqlite3_bind_blob(st, 9, h, sizeof h, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 10, out->refresh_exp_ms);
    int rc = sqlite3_step(st);
    idn_done(d, st);
    if (rc != SQLITE_DONE) {
        idn_tokens_free(out);
        return -1;
    }
    out->session_id = sqlite3_last_insert_rowid(d->db);
    refresh_name(out, out->session_id);
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

/* The refresh token presented for session sid (hash h of its random part):
 * 0 rotated (out has the new one), 1 unknown/expired/revoked, 2 reuse (the
 * session is now revoked), -1. Inside a transaction, mu held. */
static int rotate(idn *d, int64_t sid, const uint8_t h[32], int64_t now, const char *ip,
                  idn_tokens *out, int64_t *uid, int64_t *created)
{
    sqlite3_stmt *st = idn_prep(d, "SELECT user_id, revoked_ms, created_ms, refresh_hash,"
                                   " refresh_exp_ms FROM identity_sessions WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, sid);
    int s = sqlite3_step(st), current = 0;
    int64_t revoked = 0, exp = 0;
    if (s == SQLITE_ROW) {
        *uid = sqlite3_column_int64(st, 0);
        revoked = sqlite3_column_int64(st, 1);
        *created = sqlite3_column_int64(st, 2);
        const void *cur = sqlite3_column_blob(st, 3);
        current = cur && sqlite3_column_bytes(st, 3) == 32 && crypto_equal(cur, h, 32);
        exp = sqlite3_column_int64(st, 4);
    }
    idn_done(d, st);
    if (s != SQLITE_ROW)
        return s == SQLITE_DONE ? 1 : -1;
    if (!current) {
        /* Not the current token: a rotated one coming back means someone
         * holds a copy. Revoke the session, the legitimate holder signs in
         * again. Anything else is just invalid. */
        st = idn_prep(d, "SELECT 1 FROM identity_refresh_used WHERE session_id = ? AND hash = ?");
        if (!st)
            return -1;
        sqlite3_bind_int64(st, 1, sid);
        sqlite3_bind_blob(st, 2, h, 32, SQLITE_TRANSIENT);
        s = sqlite3_step(st);
        idn_done(d, st);
        if (s != SQLITE_ROW)
            return s == SQLITE_DONE ? 1 : -1;
        if (!revoked)
            idn_exec_i(d,
                       "UPDATE identity_sessions SET revoked_ms = ?, revoke_reason = "
                       "'refresh_reuse' WHERE id = ?",
                       2, now, sid, 0, 0);
        idn_audit(d, *uid, "refresh_reuse", ip, NULL);
        log_warn("identity_refresh_reuse", "a used refresh token was presented: session revoked",
                 "session", "family");
        return 2;
    }
    if (revoked || exp <= now)
        return 1;
    st = idn_prep(d, "INSERT OR IGNORE INTO identity_refresh_used(session_id, hash, used_ms)"
                     " VALUES(?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_blob(st, 2, h, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, now);
    s = sqlite3_step(st);
    idn_done(d, st);
    if (s != SQLITE_DONE)
        return -1;
    uint8_t nh[32];
    new_refresh(d, now, out, nh);
    st = idn_prep(d, "UPDATE identity_sessions SET last_ms = ?, refresh_hash = ?,"
                     " refresh_exp_ms = ? WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_blob(st, 2, nh, sizeof nh, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, out->refresh_exp_ms);
    sqlite3_bind_int64(st, 4, sid);
    s = sqlite3_step(st);
    idn_done(d, st);
    if (s != SQLITE_DONE)
        return -1;
    refresh_name(out, sid);
    return 0;
}

/* Refresh: 0 new pair in out; 1 unknown/expired/revoked; 2 reuse detected
 * (the session is now revoked). Takes mu. */
int idn_refresh(idn *d, const char *refresh, const char *ip, idn_tokens *out, int64_t *user_out)
{
    memset(out, 0, sizeof *out);
    int64_t sid = refresh_session(refresh);
    if (sid <= 0)
        return 1;
    uint8_t h[32];
    crypto_sha256(strchr(refresh, '.') + 1, IDN_TOKEN_LEN, h);
    int64_t now = idn_now_ms(), uid = 0, created = 0;
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d) < 0 ? -1 : rotate(d, sid, h, now, ip, out, &uid, &created);
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
