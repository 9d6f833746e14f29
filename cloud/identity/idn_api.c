/* idn_api.c - HTTP: sign-in from Telegram init data, the second-factor step
 * of sign-in, refresh, sign-out, sessions, /me and profile, audit, JWKS,
 * internal contact lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/log.h"
#include "idn_api.h"
#include "tg_initdata.h"

const char *idn_jstr(const cJSON *body, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The session cookie carries the access token for EventSource (/api/v1/live),
 * which cannot send an Authorization header. Name as in api_int.h. */
static void set_cookie(idn *d, api_req *rq, const char *access)
{
    char cookie[JWT_COOKIE_MAX];
    int n = snprintf(cookie, sizeof cookie,
                     "fg_session=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s", access,
                     (long long)d->cfg.access_ttl_s, d->cfg.dev_mode ? "" : "; Secure");
    if (n > 0 && (size_t)n < sizeof cookie)
        api_reply_header(rq, "Set-Cookie", cookie);
    crypto_wipe(cookie, sizeof cookie);
}

static cJSON *tokens_json(idn *d, api_req *rq, const idn_tokens *t)
{
    set_cookie(d, rq, t->access);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", t->access);
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    cJSON_AddNumberToObject(o, "expires_ms", (double)t->access_exp_ms);
    cJSON_AddStringToObject(o, "refresh_token", t->refresh);
    cJSON_AddNumberToObject(o, "refresh_expires_ms", (double)t->refresh_exp_ms);
    cJSON_AddNumberToObject(o, "session_id", (double)t->session_id);
    cJSON_AddBoolToObject(o, "mfa_required", 0);
    return o;
}

/* Sign the access token of a just-created session (outside the lock) and
 * answer it. Takes t and uj. */
static int reply_new_session(idn *d, api_req *rq, int64_t user_id, idn_tokens *t, int created,
                             cJSON *uj)
{
    if (idn_access_token(d, user_id, t->session_id, idn_now_ms(), t) < 0) {
        idn_tokens_free(t);
        cJSON_Delete(uj);
        return api_reply_error(rq, 500, "internal", "cannot sign in");
    }
    cJSON *o = tokens_json(d, rq, t);
    cJSON_AddBoolToObject(o, "registered", created);
    if (uj)
        cJSON_AddItemToObject(o, "user", uj);
    idn_tokens_free(t);
    return api_reply_json(rq, 200, o);
}

int idn_reply_session(idn *d, api_req *rq, int64_t user_id, const char *method, int64_t mfa_ms,
                      int created)
{
    idn_tokens t;
    memset(&t, 0, sizeof t);
    idn_user u;
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    if (rc == 0)
        rc = idn_session_create(d, user_id, method, mfa_ms, api_peer_ip(rq),
                                api_header(rq, "User-Agent"), &t);
    if (rc == 0)
        rc = idn_commit(d);
    else
        idn_rollback(d);
    cJSON *uj = rc == 0 && idn_user_get(d, user_id, &u) == 0 ? idn_user_json(d, &u, 0) : NULL;
    pthread_mutex_unlock(&d->mu);
    if (rc < 0) {
        idn_tokens_free(&t);
        cJSON_Delete(uj);
        return api_reply_error(rq, 500, "internal", "cannot create a session");
    }
    return reply_new_session(d, rq, user_id, &t, created, uj);
}

int idn_reply_signed_in(idn *d, api_req *rq, int64_t user_id, const char *method, int created)
{
    pthread_mutex_lock(&d->mu);
    int methods = idn_mfa_methods(d, user_id);
    char tok[IDN_TOKEN_LEN + 1];
    int rc = methods < 0 ? -1 : 0;
    if (methods > 0) {
        /* First factor done; the session waits for the second. */
        idn_new_token(tok);
        uint8_t h[32];
        crypto_sha256(tok, IDN_TOKEN_LEN, h);
        sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_mfa_pending(hash, user_id, method, "
                                       "expires_ms, created) VALUES(?,?,?,?,?)");
        rc = -1;
        if (st) {
            sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 2, user_id);
            sqlite3_bind_text(st, 3, method, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, idn_now_ms() + IDN_MFA_TTL_MS);
            sqlite3_bind_int(st, 5, created);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            idn_done(d, st);
        }
        idn_exec_i(d, "DELETE FROM identity_mfa_pending WHERE expires_ms < ?", 1, idn_now_ms(), 0,
                   0, 0);
    }
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot sign in");
    if (methods == 0)
        return idn_reply_session(d, rq, user_id, method, 0, created);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "mfa_required", 1);
    cJSON_AddStringToObject(o, "mfa_token", tok);
    cJSON_AddNumberToObject(o, "expires_ms", (double)(idn_now_ms() + IDN_MFA_TTL_MS));
    cJSON_AddItemToObject(o, "methods", idn_mfa_methods_json(methods));
    crypto_wipe(tok, sizeof tok);
    return api_reply_json(rq, 200, o);
}

int idn_reply_mfa_error(api_req *rq, idn_mfa_result r, int retry_after_s)
{
    char ra[16];
    switch (r) {
    case IDN_MFA_OK:
        return api_reply_error(rq, 500, "internal", "unexpected");
    case IDN_MFA_WRONG:
        return api_reply_error(rq, 401, "code_invalid",
                               "the code is wrong, expired or already used: try a new one");
    case IDN_MFA_DELAYED:
        snprintf(ra, sizeof ra, "%d", retry_after_s > 0 ? retry_after_s : 1);
        api_reply_header(rq, "Retry-After", ra);
        return api_reply_error(rq, 429, "too_many_attempts",
                               "too many wrong codes: wait before the next try");
    case IDN_MFA_LOCKED:
        return api_reply_error(rq, 423, "locked",
                               "too many wrong codes: the account is locked, contact support");
    case IDN_MFA_NOT_SET:
        return api_reply_error(rq, 400, "method_not_enabled",
                               "this second factor is not set up for the account");
    case IDN_MFA_ERROR:
        break;
    }
    return api_reply_error(rq, 500, "internal", "cannot check the code");
}

static int reject_initdata(api_req *rq, tg_status st)
{
    idn_count("sign_in_failed");
    switch (st) {
    case TG_ERR_HASH:
        return api_reply_error(rq, 401, "bad_signature", "init data is not signed for this bot");
    case TG_ERR_EXPIRED:
        return api_reply_error(rq, 401, "expired", "init data expired: reopen the mini app");
    case TG_ERR_FUTURE:
        return api_reply_error(rq, 401, "future", "init data is dated in the future");
    case TG_ERR_NOMEM:
    case TG_ERR_ARG:
        return api_reply_error(rq, 500, "internal", "cannot check init data");
    default: {
        char msg[64];
        snprintf(msg, sizeof msg, "init data rejected: %s", tg_status_str(st));
        return api_reply_error(rq, 400, "malformed", msg);
    }
    }
}

/* Check init data (signature, freshness): 0 and *until_ms (how long to
 * remember it), else answered. */
static int check_initdata(idn *d, api_req *rq, const char *data, tg_auth *auth, int64_t *until_ms)
{
    int64_t now = idn_now_ms();
    tg_status st = tg_validate(data, strlen(data), d->cfg.bot_token, now / 1000,
                               d->cfg.initdata_max_age_s, auth);
    if (st != TG_OK) {
        reject_initdata(rq, st);
        return 1;
    }
    /* Remember it as long as it could still pass the age check. */
    *until_ms = d->cfg.initdata_max_age_s > 0
                    ? (auth->auth_date + d->cfg.initdata_max_age_s + TG_FUTURE_SKEW_S) * 1000
                    : INT64_MAX / 2;
    if (*until_ms < now + 60000)
        *until_ms = now + 60000;
    return 0;
}

/* Record used init data (mu held): 0 new, 1 already used (replay), -1. */
static int record_initdata(idn *d, const uint8_t mac[32], int64_t until_ms)
{
    sqlite3_stmt *q =
        idn_prep(d, "INSERT OR IGNORE INTO identity_initdata_used(mac, until_ms) VALUES(?, ?)");
    int rc = -1;
    if (q) {
        sqlite3_bind_blob(q, 1, mac, 32, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, until_ms);
        rc = sqlite3_step(q) == SQLITE_DONE ? (sqlite3_changes(d->db) == 1 ? 0 : 1) : -1;
        idn_done(d, q);
    }
    /* Expired rows: the tables sign-ins grow are trimmed a bounded step at
     * a time, ten times a second (enough for 20,000 sign-ins/s); the small
     * ones are scanned once a minute. */
    int64_t now = idn_now_ms();
    if (rc == 0 && now - d->gc_ms > 60000) {
        d->gc_ms = d->gc_step_ms = now;
        idn_gc(d);
    } else if (rc == 0 && now - d->gc_step_ms > 100) {
        d->gc_step_ms = now;
        idn_gc_step(d);
    }
    return rc;
}

static int reply_replay(api_req *rq)
{
    idn_count("sign_in_failed");
    return api_reply_error(rq, 409, "replay", "init data was already used: reopen the mini app");
}

/* Verify init data and burn it (one-time exchange). 0 ok, else replied. */
int idn_take_initdata(idn *d, api_req *rq, const char *data, tg_auth *auth)
{
    int64_t until;
    if (check_initdata(d, rq, data, auth, &until))
        return 1;
    pthread_mutex_lock(&d->mu);
    int rc = record_initdata(d, auth->hash, until);
    pthread_mutex_unlock(&d->mu);
    if (rc == 1) {
        reply_replay(rq);
        return 1;
    }
    if (rc < 0) {
        api_reply_error(rq, 500, "internal", "cannot record init data");
        return 1;
    }
    return 0;
}

/* One sign-in's writes, run by idn_batch_run inside a transaction that
 * other sign-ins share (group commit). */
typedef struct signin_job {
    const uint8_t *mac; /* the init data's hash: burnt once */
    int64_t until_ms;
    const char *sub, *name, *lang, *ip, *ua;
    int64_t uid;  /* out */
    int created;  /* out: a new account */
    int methods;  /* out: second factors enabled (then no session yet) */
    idn_tokens t; /* out: the session when methods == 0 */
    cJSON *uj;    /* out: the user, when signed in */
} signin_job;

static int signin_run(idn *d, void *arg)
{
    signin_job *j = arg;
    /* May run a second time when another job failed the batch. */
    j->created = 0;
    j->methods = -1;
    idn_tokens_free(&j->t);
    memset(&j->t, 0, sizeof j->t);
    cJSON_Delete(j->uj);
    j->uj = NULL;
    int rc = record_initdata(d, j->mac, j->until_ms);
    if (rc == 0)
        rc = idn_register(d, "telegram", j->sub, j->name, j->lang, idn_now_ms(), &j->uid,
                          &j->created);
    /* An account made just now has no second factor to ask for. */
    if (rc == 0)
        j->methods = j->created ? 0 : idn_mfa_methods(d, j->uid);
    if (rc == 0 && j->methods < 0)
        rc = -1;
    if (rc == 0 && j->methods == 0)
        rc = idn_session_create(d, j->uid, "telegram", 0, j->ip, j->ua, &j->t);
    idn_user u;
    if (rc == 0 && j->methods == 0 && idn_user_get(d, j->uid, &u) == 0)
        j->uj = idn_user_json(d, &u, 0);
    return rc;
}

/* Sign-in from Telegram init data. The hot path: the one-time record, the
 * registration (or lookup) and the session are written in one transaction,
 * shared with the sign-ins arriving at the same time (idn_batch.c); the
 * HMAC check before and the ES256 signature after run outside the lock. */
static int h_session(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const char *data = idn_jstr(api_body_json(rq), "init_data");
    if (!data)
        return api_reply_error(rq, 400, "malformed", "expected {\"init_data\":\"...\"}");
    tg_auth auth;
    int64_t until;
    if (check_initdata(d, rq, data, &auth, &until))
        return 0;
    char sub[24];
    snprintf(sub, sizeof sub, "%lld", (long long)auth.user.id);
    /* language_code from the user JSON, when present */
    char lang[8] = "";
    tg_initdata parsed;
    if (tg_parse(data, strlen(data), &parsed) == TG_OK) {
        const tg_field *uf = tg_get(&parsed, "user");
        cJSON *pj = uf ? cJSON_ParseWithLength(uf->value, uf->value_len) : NULL;
        const char *lc = idn_jstr(pj, "language_code");
        if (lc)
            snprintf(lang, sizeof lang, "%.2s", lc);
        cJSON_Delete(pj);
        tg_initdata_free(&parsed);
    }
    signin_job j = {.mac = auth.hash,
                    .until_ms = until,
                    .sub = sub,
                    .name = auth.user.first_name,
                    .lang = lang,
                    .ip = api_peer_ip(rq),
                    .ua = api_header(rq, "User-Agent")};
    int rc = idn_batch_run(d, signin_run, &j);
    if (rc == 1)
        return reply_replay(rq);
    if (rc < 0) {
        idn_tokens_free(&j.t);
        cJSON_Delete(j.uj);
        return api_reply_error(rq, 500, "internal", "cannot sign in");
    }
    if (j.methods > 0) /* second factor next */
        return idn_reply_signed_in(d, rq, j.uid, "telegram", j.created);
    return reply_new_session(d, rq, j.uid, &j.t, j.created, j.uj);
}

/* Telegram Login Widget (the web, outside the mini app): the widget's
 * callback object {id, first_name, last_name?, username?, photo_url?,
 * auth_date, hash}, checked with secret = SHA-256(bot token), fresh, once. */
static int h_session_widget(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const cJSON *b = api_body_json(rq);
    if (!b || cJSON_GetArraySize(b) > 16)
        return api_reply_error(rq, 400, "malformed", "expected the Login Widget's fields");
    /* Back to the form-encoded shape the checker knows. */
    char form[TG_INITDATA_MAX + 1];
    size_t n = 0;
    int bad = 0;
    for (const cJSON *f = b->child; f && !bad; f = f->next) {
        char num[32];
        const char *v = NULL;
        if (cJSON_IsString(f))
            v = f->valuestring;
        else if (cJSON_IsNumber(f) && f->valuedouble >= 0 && f->valuedouble < 1e15 &&
                 f->valuedouble == (double)(int64_t)f->valuedouble) {
            snprintf(num, sizeof num, "%lld", (long long)f->valuedouble);
            v = num;
        }
        char *ek = v ? tg_urlencode(f->string, strlen(f->string)) : NULL;
        char *ev = v ? tg_urlencode(v, strlen(v)) : NULL;
        int w =
            ek && ev ? snprintf(form + n, sizeof form - n, "%s%s=%s", n ? "&" : "", ek, ev) : -1;
        bad = w < 0 || (size_t)w >= sizeof form - n;
        if (!bad)
            n += (size_t)w;
        free(ek);
        free(ev);
    }
    tg_initdata td;
    tg_status st = bad ? TG_ERR_SYNTAX : tg_parse(form, n, &td);
    if (st != TG_OK)
        return reject_initdata(rq, st);
    int64_t auth_date = 0, now = idn_now_ms();
    const tg_field *id = tg_get(&td, "id"), *fn = tg_get(&td, "first_name"),
                   *hash = tg_get(&td, "hash");
    uint8_t mac[32];
    st = tg_verify_login_widget(&td, d->cfg.bot_token);
    if (st == TG_OK)
        st = tg_check_auth_date(&td, now / 1000, d->cfg.initdata_max_age_s, &auth_date);
    char *end = NULL;
    long long tg_id = id ? strtoll(id->value, &end, 10) : 0;
    if (st == TG_OK && (!id || !end || *end || tg_id <= 0 || !fn || !hash ||
                        crypto_hex_decode(hash->value, hash->value_len, mac, 32) < 0))
        st = TG_ERR_USER;
    char sub[24], name[TG_NAME_MAX + 1];
    snprintf(sub, sizeof sub, "%lld", tg_id);
    snprintf(name, sizeof name, "%s", fn ? fn->value : "");
    tg_initdata_free(&td);
    if (st != TG_OK)
        return reject_initdata(rq, st);
    int64_t until = d->cfg.initdata_max_age_s > 0
                        ? (auth_date + d->cfg.initdata_max_age_s + TG_FUTURE_SKEW_S) * 1000
                        : INT64_MAX / 2;
    int64_t uid = 0;
    int created = 0;
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    if (rc == 0)
        rc = record_initdata(d, mac, until < now + 60000 ? now + 60000 : until);
    if (rc == 0)
        rc = idn_register(d, "telegram", sub, name, "", now, &uid, &created);
    if (rc == 0)
        rc = idn_commit(d);
    else
        idn_rollback(d);
    pthread_mutex_unlock(&d->mu);
    if (rc == 1)
        return reply_replay(rq);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot sign in");
    return idn_reply_signed_in(d, rq, uid, "telegram_widget", created);
}

int idn_pending_user(idn *d, api_req *rq, const char *tok, int consume, int64_t *user_id,
                     char method[16], int *created)
{
    if (!tok || strlen(tok) != IDN_TOKEN_LEN) {
        api_reply_error(rq, 400, "malformed", "expected mfa_token");
        return 1;
    }
    uint8_t h[32];
    crypto_sha256(tok, IDN_TOKEN_LEN, h);
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st =
        idn_prep(d, consume ? "DELETE FROM identity_mfa_pending WHERE hash = ? "
                              "AND expires_ms > ? RETURNING user_id, method, created"
                            : "SELECT user_id, method, created FROM "
                              "identity_mfa_pending WHERE hash = ? AND expires_ms > ?");
    int rc = -1;
    if (st) {
        sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, idn_now_ms());
        if (sqlite3_step(st) == SQLITE_ROW) {
            *user_id = sqlite3_column_int64(st, 0);
            snprintf(method, 16, "%s", (const char *)sqlite3_column_text(st, 1));
            *created = sqlite3_column_int(st, 2);
            rc = 0;
        }
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    if (rc < 0) {
        api_reply_error(rq, 401, "mfa_token_invalid",
                        "the sign-in expired: start again from the messenger");
        return 1;
    }
    return 0;
}

static int h_session_mfa(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const cJSON *b = api_body_json(rq);
    const char *tok = idn_jstr(b, "mfa_token"), *method = idn_jstr(b, "method"),
               *code = idn_jstr(b, "code");
    if (!code)
        return api_reply_error(rq, 400, "malformed", "expected {mfa_token, method, code}");
    int64_t uid;
    char first[16];
    int created;
    if (idn_pending_user(d, rq, tok, 0, &uid, first, &created))
        return 0;
    if (!method)
        method = strlen(code) == 6 ? "totp" : "backup";
    int retry = 0;
    idn_mfa_result r = idn_mfa_verify(d, uid, method, code, api_peer_ip(rq), &retry);
    if (r != IDN_MFA_OK)
        return idn_reply_mfa_error(rq, r, retry);
    /* The pending token is single use too. */
    if (idn_pending_user(d, rq, tok, 1, &uid, first, &created))
        return 0;
    char m[40];
    snprintf(m, sizeof m, "%s+%s", first, method);
    return idn_reply_session(d, rq, uid, m, idn_now_ms(), created);
}

static int h_session_mfa_send(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const cJSON *b = api_body_json(rq);
    const char *method = idn_jstr(b, "method");
    int64_t uid;
    char first[16];
    int created;
    if (!method)
        return api_reply_error(rq, 400, "malformed", "expected {mfa_token, method}");
    if (idn_pending_user(d, rq, idn_jstr(b, "mfa_token"), 0, &uid, first, &created))
        return 0;
    return idn_reply_oob_send(d, rq, uid, method);
}

int idn_reply_oob_send(idn *d, api_req *rq, int64_t uid, const char *method)
{
    const char *err = NULL;
    if (idn_oob_send(d, uid, method, "auth", &err) == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "sent", 1);
        cJSON_AddStringToObject(o, "method", method);
        cJSON_AddNumberToObject(o, "expires_ms", (double)(idn_now_ms() + IDN_OOB_TTL_MS));
        return api_reply_json(rq, 200, o);
    }
    if (!strcmp(err, "rate_limited")) {
        api_reply_header(rq, "Retry-After", "30");
        return api_reply_error(rq, 429, err, "a code was sent a moment ago: wait and retry");
    }
    if (!strcmp(err, "delivery_failed") || !strcmp(err, "channel_unavailable"))
        return api_reply_error(rq, 502, err, "the code could not be sent: try another method");
    if (!strcmp(err, "email_recovery_only"))
        return api_reply_error(rq, 400, err,
                               "e-mail codes are for recovery only, not for signing in");
    if (!strcmp(err, "internal"))
        return api_reply_error(rq, 500, err, "cannot send a code");
    return api_reply_error(rq, 400, err, "this method is not set up for the account");
}

static int h_refresh(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const char *rt = idn_jstr(api_body_json(rq), "refresh_token");
    if (!rt)
        return api_reply_error(rq, 400, "malformed", "expected {\"refresh_token\":\"...\"}");
    idn_tokens t;
    int64_t uid = 0;
    int rc = idn_refresh(d, rt, api_peer_ip(rq), &t, &uid);
    if (rc == 2)
        return api_reply_error(rq, 401, "refresh_reused",
                               "this sign-in was ended for safety: sign in again");
    if (rc == 1)
        return api_reply_error(rq, 401, "refresh_invalid", "sign in again");
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot refresh");
    cJSON *o = tokens_json(d, rq, &t);
    idn_tokens_free(&t);
    return api_reply_json(rq, 200, o);
}

static int revoke(idn *d, const api_principal *p, int64_t session_id, int all, const char *ip)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(
        d, all ? "UPDATE identity_sessions SET revoked_ms = ?1, revoke_reason = 'logout_all' WHERE "
                 "user_id = ?2 AND revoked_ms = 0"
               : "UPDATE identity_sessions SET revoked_ms = ?1, revoke_reason = 'logout' WHERE "
                 "user_id = ?2 AND id = ?3 AND revoked_ms = 0");
    int n = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, idn_now_ms());
        sqlite3_bind_int64(st, 2, p->user_id);
        if (!all)
            sqlite3_bind_int64(st, 3, session_id);
        if (sqlite3_step(st) == SQLITE_DONE)
            n = sqlite3_changes(d->db);
        idn_done(d, st);
    }
    if (n > 0)
        idn_audit(d, p->user_id, all ? "logout_all" : "logout", ip, NULL);
    pthread_mutex_unlock(&d->mu);
    return n;
}

static int h_logout(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    if (revoke(d, p, p->session_id, 0, api_peer_ip(rq)) < 0)
        return api_reply_error(rq, 500, "internal", "cannot sign out");
    api_reply_header(rq, "Set-Cookie", "fg_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    return api_reply_json_str(rq, 200, "{\"signed_out\":true}");
}

static int h_logout_all(void *ctx, api_req *rq)
{
    idn *d = ctx;
    int n = revoke(d, api_who(rq), 0, 1, api_peer_ip(rq));
    if (n < 0)
        return api_reply_error(rq, 500, "internal", "cannot sign out");
    api_reply_header(rq, "Set-Cookie", "fg_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "revoked", n);
    return api_reply_json(rq, 200, o);
}

static int h_sessions(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(d, "SELECT id, method, created_ms, last_ms, mfa_ms, ip, user_agent "
                                   "FROM identity_sessions WHERE user_id = ? AND revoked_ms = 0 "
                                   "AND expires_ms > ? ORDER BY last_ms DESC LIMIT 100");
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "sessions");
    if (st) {
        sqlite3_bind_int64(st, 1, p->user_id);
        sqlite3_bind_int64(st, 2, idn_now_ms());
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *s = cJSON_CreateObject();
            int64_t id = sqlite3_column_int64(st, 0);
            char ids[24];
            snprintf(ids, sizeof ids, "%lld", (long long)id);
            cJSON_AddStringToObject(s, "id", ids);
            cJSON_AddStringToObject(s, "method", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddNumberToObject(s, "created_ms", (double)sqlite3_column_int64(st, 2));
            cJSON_AddNumberToObject(s, "last_ms", (double)sqlite3_column_int64(st, 3));
            cJSON_AddBoolToObject(s, "second_factor", sqlite3_column_int64(st, 4) > 0);
            cJSON_AddStringToObject(s, "ip", (const char *)sqlite3_column_text(st, 5));
            cJSON_AddStringToObject(s, "user_agent", (const char *)sqlite3_column_text(st, 6));
            cJSON_AddBoolToObject(s, "current", id == p->session_id);
            cJSON_AddItemToArray(arr, s);
        }
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    return api_reply_json(rq, 200, o);
}

static int h_session_delete(void *ctx, api_req *rq)
{
    idn *d = ctx;
    char *end = NULL;
    const char *arg = api_path_arg(rq, 0);
    long long sid = arg ? strtoll(arg, &end, 10) : 0;
    if (!arg || !end || *end || sid <= 0)
        return api_reply_error(rq, 400, "malformed", "session id expected");
    int n = revoke(d, api_who(rq), sid, 0, api_peer_ip(rq));
    if (n < 0)
        return api_reply_error(rq, 500, "internal", "cannot end the session");
    if (n == 0)
        return api_reply_error(rq, 404, "not_found", "no such session");
    return api_reply_json_str(rq, 200, "{\"revoked\":1}");
}

static int h_me(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    idn_user u;
    pthread_mutex_lock(&d->mu);
    int rc = idn_user_get(d, p->user_id, &u);
    cJSON *o = rc == 0 ? idn_user_json(d, &u, 1) : NULL;
    int m = rc == 0 ? idn_mfa_methods(d, p->user_id) : 0;
    int64_t legacy_id = 0;
    sqlite3_stmt *st = idn_prep(d, "SELECT legacy_id FROM identity_legacy WHERE user_id = ?");
    if (st) {
        sqlite3_bind_int64(st, 1, p->user_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            legacy_id = sqlite3_column_int64(st, 0);
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    if (!o)
        return api_reply_error(rq, rc == 1 ? 404 : 500, rc == 1 ? "not_found" : "internal",
                               "no such user");
    cJSON_AddItemToObject(o, "mfa_methods", idn_mfa_methods_json(m > 0 ? m : 0));
    cJSON_AddBoolToObject(o, "mfa_enabled", m > 0);
    cJSON_AddBoolToObject(o, "legacy_linked", legacy_id > 0);
    cJSON_AddNumberToObject(o, "session_id", (double)p->session_id);
    cJSON_AddNumberToObject(o, "mfa_ms", (double)p->mfa_ms);
    return api_reply_json(rq, 200, o);
}

static int h_profile(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    const cJSON *b = api_body_json(rq);
    if (!b)
        return api_reply_error(rq, 400, "malformed", "expected a JSON object");
    const char *name = idn_jstr(b, "name"), *lang = idn_jstr(b, "lang"), *tz = idn_jstr(b, "tz");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(b, "birth_year");
    const cJSON *hr = cJSON_GetObjectItemCaseSensitive(b, "max_hr");
    int ctl = 0;
    for (const char *c = name; c && *c; c++)
        ctl |= (unsigned char)*c < 0x20 || *c == 0x7f;
    if ((name && (strlen(name) == 0 || strlen(name) > 100 || ctl)) ||
        (lang && strcmp(lang, "en") && strcmp(lang, "ru") && strcmp(lang, "zh")) ||
        (tz && (strlen(tz) > 60 || strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                              "0123456789/_+-") != strlen(tz))) ||
        (by && (!cJSON_IsNumber(by) || by->valuedouble < 1900 || by->valuedouble > 2030)) ||
        (hr && (!cJSON_IsNumber(hr) || hr->valuedouble < 80 || hr->valuedouble > 240)))
        return api_reply_error(rq, 400, "malformed",
                               "name 1-100 bytes, lang en|ru|zh, tz an IANA name, birth_year "
                               "1900-2030, max_hr 80-240");
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(
        d, "UPDATE identity_users SET name = coalesce(?1, name), lang = coalesce(?2, lang),"
           " tz = coalesce(?3, tz), birth_year = coalesce(?4, birth_year),"
           " max_hr = coalesce(?5, max_hr) WHERE id = ?6");
    int rc = -1;
    if (st) {
        if (name)
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (lang)
            sqlite3_bind_text(st, 2, lang, -1, SQLITE_STATIC);
        if (tz)
            sqlite3_bind_text(st, 3, tz, -1, SQLITE_STATIC);
        if (by)
            sqlite3_bind_int64(st, 4, (int64_t)by->valuedouble);
        if (hr)
            sqlite3_bind_int64(st, 5, (int64_t)hr->valuedouble);
        sqlite3_bind_int64(st, 6, p->user_id);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot save the profile");
    return h_me(ctx, rq);
}

/* The user id in the path (>0), or 0 after answering 400. */
static int64_t path_user(api_req *rq)
{
    const char *arg = api_path_arg(rq, 0);
    char *end = NULL;
    long long uid = arg ? strtoll(arg, &end, 10) : 0;
    if (!arg || !end || *end || uid <= 0) {
        api_reply_error(rq, 400, "malformed", "user id expected");
        return 0;
    }
    return uid;
}

/* The security events of user_id, newest first. */
static int reply_audit(idn *d, api_req *rq, int64_t user_id)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(d, "SELECT ts_ms, event, ip, detail FROM identity_audit WHERE "
                                   "user_id = ? ORDER BY id DESC LIMIT 200");
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "events");
    if (st) {
        sqlite3_bind_int64(st, 1, user_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "ts_ms", (double)sqlite3_column_int64(st, 0));
            cJSON_AddStringToObject(e, "event", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddStringToObject(e, "ip", (const char *)sqlite3_column_text(st, 2));
            cJSON_AddStringToObject(e, "detail", (const char *)sqlite3_column_text(st, 3));
            cJSON_AddItemToArray(arr, e);
        }
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    return api_reply_json(rq, 200, o);
}

static int h_audit(void *ctx, api_req *rq)
{
    return reply_audit(ctx, rq, api_who(rq)->user_id);
}

/* Operators (support): the security events of any user. */
static int h_admin_audit(void *ctx, api_req *rq)
{
    int64_t uid = path_user(rq);
    return uid ? reply_audit(ctx, rq, uid) : 0;
}

/* Operators: lift a lockout (after checking who asks, out of band). */
static int h_admin_unlock(void *ctx, api_req *rq)
{
    idn *d = ctx;
    int64_t uid = path_user(rq);
    if (!uid)
        return 0;
    pthread_mutex_lock(&d->mu);
    int rc = idn_exec_i(d, "DELETE FROM identity_throttle WHERE user_id = ?", 1, uid, 0, 0, 0);
    int n = sqlite3_changes(d->db);
    if (rc == 0 && n > 0)
        idn_audit(d, uid, "unlocked", api_peer_ip(rq), api_who(rq)->subject);
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot unlock");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "unlocked", n > 0);
    return api_reply_json(rq, 200, o);
}

/* Operators (support, after checking the person out of band, e.g. with the
 * verified e-mail): switch every second factor off so they can set up new
 * ones. TwoFactorAuthDisabled goes out; the audit names the operator. */
static int h_admin_2fa_reset(void *ctx, api_req *rq)
{
    idn *d = ctx;
    int64_t uid = path_user(rq);
    if (!uid)
        return 0;
    char who[96];
    snprintf(who, sizeof who, "support:%s", api_who(rq)->subject);
    if (idn_mfa_disable(d, uid, "all", who) < 0)
        return api_reply_error(rq, 500, "internal", "cannot reset");
    return api_reply_json_str(rq, 200, "{\"reset\":true}");
}

static int h_jwks(void *ctx, api_req *rq)
{
    api_reply_header(rq, "Cache-Control", "public, max-age=300");
    return api_reply_json(rq, 200, idn_jwks(ctx));
}

static int h_internal_contact(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const char *arg = api_path_arg(rq, 0);
    char *end = NULL;
    long long uid = arg ? strtoll(arg, &end, 10) : 0;
    if (!arg || !end || *end || uid <= 0)
        return api_reply_error(rq, 400, "malformed", "user id expected");
    idn_contact c;
    if (idn_user_contact(d, uid, &c) < 0)
        return api_reply_error(rq, 404, "not_found", "no such user");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "user_id", (double)uid);
    cJSON_AddNumberToObject(o, "telegram_chat_id", (double)c.telegram_chat_id);
    cJSON_AddStringToObject(o, "whatsapp_id", c.whatsapp_id);
    cJSON_AddStringToObject(o, "wechat_openid", c.wechat_openid);
    cJSON_AddStringToObject(o, "email", c.email);
    cJSON_AddStringToObject(o, "phone", c.phone);
    cJSON_AddStringToObject(o, "lang", c.lang);
    return api_reply_json(rq, 200, o);
}

const api_route idn_routes_session[] = {
    {"POST", "/api/v1/session", API_PUBLIC, "session", h_session},
    {"POST", "/api/v1/session/telegram-login", API_PUBLIC, "session_widget", h_session_widget},
    {"POST", "/api/v1/session/mfa", API_PUBLIC, "session_mfa", h_session_mfa},
    {"POST", "/api/v1/session/mfa/send", API_PUBLIC, "session_mfa_send", h_session_mfa_send},
    {"POST", "/api/v1/session/refresh", API_PUBLIC, "session_refresh", h_refresh},
    {"POST", "/api/v1/session/logout", API_USER, "session_logout", h_logout},
    {"POST", "/api/v1/sessions/revoke-all", API_USER, "sessions_revoke_all", h_logout_all},
    {"GET", "/api/v1/sessions", API_USER, "sessions", h_sessions},
    {"DELETE", "/api/v1/sessions/*", API_USER, "session_delete", h_session_delete},
    {"GET", "/api/v1/me", API_USER, "me", h_me},
    {"PATCH", "/api/v1/me", API_USER, "me_profile", h_profile},
    {"GET", "/api/v1/me/audit", API_USER, "me_audit", h_audit},
    {"GET", "/.well-known/jwks.json", API_PUBLIC, "jwks", h_jwks},
    {"GET", "/internal/v1/users/*/contact", API_INTERNAL, "internal_contact", h_internal_contact},
    {"POST", "/admin/v1/users/*/unlock", API_ADMIN, "admin_unlock", h_admin_unlock},
    {"GET", "/admin/v1/users/*/audit", API_ADMIN, "admin_audit", h_admin_audit},
    {"POST", "/admin/v1/users/*/2fa/reset", API_ADMIN, "admin_2fa_reset", h_admin_2fa_reset},
};
const size_t idn_routes_session_n = sizeof idn_routes_session / sizeof idn_routes_session[0];
