/* idn_api_msg.c - HTTP: WhatsApp (webhook, sign-in link, sign-in code), WeChat
 * (code2session), linking and unlinking identities, the legacy shop account. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channels.h"
#include "events.h"
#include "fitcommon/log.h"
#include "fitcommon/membuf.h"
#include "idn_api.h"
#include "legacy.h"
#include "wechat.h"
#include "whatsapp.h"

#define IDN_LINK_TTL_MS (5LL * 60 * 1000)

/* ---- shared: find or register the user of (provider, subject) ---- */

static int find_or_register(idn *d, const char *provider, const char *subject, const char *name,
                            int64_t *uid, int *created)
{
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    if (rc == 0)
        rc = idn_register(d, provider, subject, name, "", idn_now_ms(), uid, created);
    if (rc == 0)
        rc = idn_commit(d);
    else
        idn_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Link (provider, subject) to the caller: answers. */
static int reply_link(idn *d, api_req *rq, const char *provider, const char *subject,
                      const char *display)
{
    const api_principal *p = api_who(rq);
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    if (rc == 0)
        rc = idn_link_add(d, p->user_id, provider, subject, display, idn_now_ms());
    if (rc == 0) {
        idn_audit(d, p->user_id, "identity_linked", api_peer_ip(rq), provider);
        rc = idn_commit(d);
    } else {
        idn_rollback(d);
    }
    pthread_mutex_unlock(&d->mu);
    if (rc == 1)
        return api_reply_error(rq, 409, "identity_in_use",
                               "this messenger account belongs to another user");
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot link");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "linked", 1);
    cJSON_AddStringToObject(o, "provider", provider);
    return api_reply_json(rq, 200, o);
}

/* ---- WhatsApp ---- */

static int h_wa_handshake(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const char *challenge = api_query(rq, "hub.challenge");
    if (wa_handshake(api_query(rq, "hub.mode"), api_query(rq, "hub.verify_token"),
                     d->cfg.wa_verify_token) != WA_OK ||
        !challenge || strlen(challenge) > 128 ||
        strspn(challenge, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_") !=
            strlen(challenge))
        return api_reply_error(rq, 403, "forbidden", "verification failed");
    return api_reply_raw(rq, 200, "text/plain", challenge, strlen(challenge));
}

/* A one-time sign-in link token for (whatsapp, key): stored hashed. */
static int new_link_token(idn *d, const char *subject, const char *display,
                          char tok[IDN_TOKEN_LEN + 1])
{
    idn_new_token(tok);
    uint8_t h[32];
    crypto_sha256(tok, IDN_TOKEN_LEN, h);
    sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_link_tokens(hash, provider, subject, "
                                   "display, until_ms) VALUES(?, 'whatsapp', ?, ?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, display, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, idn_now_ms() + IDN_LINK_TTL_MS);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    idn_done(d, st);
    return rc;
}

/* "login" and friends: ASCII in any case; Russian and Chinese as people
 * write them (strcasecmp does not fold Cyrillic); spaces around ignored. */
static int wants_link(const char *text)
{
    static const char *const ascii[] = {"login", "log in", "sign in", "signin"};
    static const char *const other[] = {"войти", "Войти", "ВОЙТИ", "вход", "Вход", "ВХОД", "登录"};
    while (*text == ' ' || *text == '\n')
        text++;
    size_t n = strlen(text);
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\n' || text[n - 1] == '.'))
        n--;
    for (size_t i = 0; i < sizeof ascii / sizeof ascii[0]; i++)
        if (n == strlen(ascii[i]) && !strncasecmp(text, ascii[i], n))
            return 1;
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (n == strlen(other[i]) && !memcmp(text, other[i], n))
            return 1;
    return 0;
}

static int h_wa_webhook(void *ctx, api_req *rq)
{
    idn *d = ctx;
    size_t len = 0;
    const char *body = api_body(rq, &len);
    if (!d->cfg.wa_app_secret[0])
        return api_reply_error(rq, 404, "not_found", "WhatsApp is not configured");
    /* The signature over the raw bytes comes first: nothing unsigned is parsed. */
    if (wa_verify_signature(d->cfg.wa_app_secret, body, len,
                            api_header(rq, "X-Hub-Signature-256")) != WA_OK) {
        idn_count("bad_input");
        return api_reply_error(rq, 401, "bad_signature", "X-Hub-Signature-256 does not match");
    }
    wa_message m[WA_MESSAGES_MAX];
    size_t n = 0;
    if (wa_parse_webhook(body, len, m, WA_MESSAGES_MAX, &n) != WA_OK) {
        idn_count("bad_input");
        return api_reply_error(rq, 400, "malformed", "not a WhatsApp webhook");
    }
    for (size_t i = 0; i < n; i++) {
        char key[WA_ID_MAX + 3], tok[IDN_TOKEN_LEN + 1];
        wa_identity_key(&m[i], key);
        /* Users with a username may come with the business-scoped id only:
         * they get the link at that id (the Cloud API's "recipient"). */
        const char *reply_to = m[i].wa_id[0] ? m[i].wa_id : m[i].user_id;
        if (!wants_link(m[i].text) || !reply_to[0])
            continue;
        pthread_mutex_lock(&d->mu);
        /* Webhooks are redelivered: one link per message id. */
        sqlite3_stmt *st =
            idn_prep(d, "INSERT OR IGNORE INTO identity_wa_seen(msg_id, ts_ms) VALUES(?, ?)");
        int fresh = 0;
        if (st) {
            sqlite3_bind_text(st, 1, m[i].msg_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, idn_now_ms());
            fresh = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(d->db) == 1;
            idn_done(d, st);
        }
        char display[WA_ID_MAX * 3 + 8];
        snprintf(display, sizeof display, "%s|%s", m[i].wa_id, m[i].name);
        int rc = fresh ? new_link_token(d, key, display, tok) : -1;
        pthread_mutex_unlock(&d->mu);
        if (rc < 0 || !d->cfg.channels)
            continue;
        char text[512];
        snprintf(text, sizeof text, "Sign in to fitgate (valid 5 minutes, once): %s/#/code/%s",
                 d->cfg.web_base_url, tok);
        int retry = 0;
        notify_status ns = notify_whatsapp_text(d->cfg.channels, reply_to, text, &retry);
        crypto_wipe(text, sizeof text);
        crypto_wipe(tok, sizeof tok);
        if (ns != NOTIFY_OK)
            log_warn("identity_wa_link", "sign-in link not delivered", "status",
                     notify_status_str(ns));
    }
    return api_reply_json_str(rq, 200, "{\"ok\":true}");
}

/* Redeem a link token: 0 and subject/display, 1 invalid. Takes mu. */
static int take_link_token(idn *d, const char *tok, char subject[128], char display[256])
{
    if (!tok || strlen(tok) != IDN_TOKEN_LEN)
        return 1;
    uint8_t h[32];
    crypto_sha256(tok, IDN_TOKEN_LEN, h);
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(d, "UPDATE identity_link_tokens SET used_ms = ?1 WHERE hash = ?2 "
                                   "AND used_ms = 0 AND until_ms > ?1 RETURNING subject, display");
    int rc = 1;
    if (st) {
        sqlite3_bind_int64(st, 1, idn_now_ms());
        sqlite3_bind_blob(st, 2, h, sizeof h, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(subject, 128, "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(display, 256, "%s", (const char *)sqlite3_column_text(st, 1));
            rc = 0;
        }
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* The display of a link row is "<phone>|<name>". */
static void split_display(const char *display, char phone[WA_ID_MAX + 1], const char **name)
{
    const char *bar = strchr(display, '|');
    size_t n = bar ? (size_t)(bar - display) : strlen(display);
    snprintf(phone, WA_ID_MAX + 1, "%.*s", (int)n, display);
    *name = bar ? bar + 1 : "";
}

/* Find the WhatsApp user by business-scoped id first, phone second;
 * register when new (and remember the phone key too). */
static int wa_user(idn *d, const char *subject, const char *phone, const char *name, int64_t *uid,
                   int *created)
{
    char pkey[WA_ID_MAX + 3];
    snprintf(pkey, sizeof pkey, "p:%s", phone);
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    if (rc == 0) {
        rc = idn_link_find(d, "whatsapp", subject, uid);
        if (rc == 1 && strcmp(subject, pkey) && phone[0])
            rc = idn_link_find(d, "whatsapp", pkey, uid);
        *created = 0;
        if (rc == 1)
            rc = idn_register(d, "whatsapp", subject, name, "", idn_now_ms(), uid, created);
        if (rc == 0 && strcmp(subject, pkey) && phone[0])
            rc = idn_link_add(d, *uid, "whatsapp", pkey, name, idn_now_ms()) < 0 ? -1 : 0;
        if (rc == 0)
            idn_link_add(d, *uid, "whatsapp", subject, name, idn_now_ms());
    }
    if (rc == 0)
        rc = idn_commit(d);
    else
        idn_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int h_session_code(void *ctx, api_req *rq)
{
    idn *d = ctx;
    char subject[128], display[256], phone[WA_ID_MAX + 1];
    const char *name;
    if (idn_ip_blocked(d, api_peer_ip(rq))) {
        api_reply_header(rq, "Retry-After", "60");
        return api_reply_error(rq, 429, "too_many_attempts", "wait before the next try");
    }
    if (take_link_token(d, idn_jstr(api_body_json(rq), "code"), subject, display)) {
        idn_ip_failure(d, api_peer_ip(rq));
        idn_count("sign_in_failed");
        return api_reply_error(rq, 401, "code_invalid",
                               "the sign-in link expired or was used: ask for a new one");
    }
    split_display(display, phone, &name);
    int64_t uid = 0;
    int created = 0;
    if (wa_user(d, subject, phone, name, &uid, &created) < 0)
        return api_reply_error(rq, 500, "internal", "cannot sign in");
    return idn_reply_signed_in(d, rq, uid, "whatsapp", created);
}

/* Web sign-in by phone: a code through the authentication template. */
static int phone_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    return n >= 7 && n <= 15 && strspn(p, "0123456789") == n && p[0] != '0';
}

static int h_wa_code_send(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const char *phone = idn_jstr(api_body_json(rq), "phone");
    if (phone && phone[0] == '+')
        phone++;
    if (!phone_ok(phone))
        return api_reply_error(rq, 400, "malformed",
                               "phone: international digits, e.g. 4915112345678");
    if (!d->cfg.channels || idn_ip_blocked(d, api_peer_ip(rq)))
        return api_reply_error(rq, 429, "rate_limited", "try again later");
    char code[8], label[96];
    snprintf(code, sizeof code, "%06u", idn_random_code());
    snprintf(label, sizeof label, "wa_signin|%s", phone);
    uint8_t h[32];
    idn_code_hash(d, label, code, h);
    int64_t now = idn_now_ms();
    pthread_mutex_lock(&d->mu);
    /* One code per 30 s and 10 an hour per phone: each costs money and
     * could be aimed at strangers (toll fraud). */
    sqlite3_stmt *st = idn_prep(d, "SELECT count(*), coalesce(sum(created_ms > ?3), 0) FROM "
                                   "identity_oob_codes WHERE user_id = 0 AND dest = ?1 AND "
                                   "purpose = 'wa_signin' AND created_ms > ?2");
    int recent = 1;
    if (st) {
        sqlite3_bind_text(st, 1, phone, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now - 3600000);
        sqlite3_bind_int64(st, 3, now - 30000);
        if (sqlite3_step(st) == SQLITE_ROW)
            recent = sqlite3_column_int(st, 1) > 0 || sqlite3_column_int(st, 0) >= 10;
        idn_done(d, st);
    }
    int rc = -1;
    if (!recent && (st = idn_prep(d, "INSERT INTO identity_oob_codes(user_id, channel, dest, "
                                     "purpose, hash, created_ms, expires_ms) VALUES(0, "
                                     "'whatsapp', ?, 'wa_signin', ?, ?, ?)"))) {
        sqlite3_bind_text(st, 1, phone, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, h, sizeof h, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, now + IDN_OOB_TTL_MS);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    if (recent) {
        api_reply_header(rq, "Retry-After", "30");
        return api_reply_error(rq, 429, "rate_limited", "a code was sent a moment ago");
    }
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot make a code");
    /* Sending counts against the address like a failure: one address may
     * not make us message many phones. */
    idn_ip_failure(d, api_peer_ip(rq));
    int retry = 0;
    notify_status ns = notify_whatsapp_code(d->cfg.channels, phone, code, "en", &retry);
    crypto_wipe(code, sizeof code);
    if (ns != NOTIFY_OK)
        return api_reply_error(rq, 502, "delivery_failed", "the code could not be sent");
    return api_reply_json_str(rq, 200, "{\"sent\":true}");
}

static int h_wa_code_session(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const cJSON *b = api_body_json(rq);
    const char *phone = idn_jstr(b, "phone"), *code = idn_jstr(b, "code");
    if (phone && phone[0] == '+')
        phone++;
    if (!phone_ok(phone) || !code)
        return api_reply_error(rq, 400, "malformed", "expected {phone, code}");
    if (idn_ip_blocked(d, api_peer_ip(rq))) {
        api_reply_header(rq, "Retry-After", "60");
        return api_reply_error(rq, 429, "too_many_attempts", "wait before the next try");
    }
    char label[96];
    uint8_t h[32];
    snprintf(label, sizeof label, "wa_signin|%s", phone);
    idn_code_hash(d, label, code, h);
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(d, "SELECT id, hash, expires_ms, used_ms, attempts FROM "
                                   "identity_oob_codes WHERE user_id = 0 AND dest = ? AND purpose "
                                   "= 'wa_signin' ORDER BY id DESC LIMIT 1");
    int ok = 0;
    int64_t id = 0;
    if (st) {
        sqlite3_bind_text(st, 1, phone, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            ok = sqlite3_column_bytes(st, 1) == 32 && sqlite3_column_int64(st, 2) > idn_now_ms() &&
                 sqlite3_column_int64(st, 3) == 0 &&
                 sqlite3_column_int64(st, 4) < IDN_OOB_ATTEMPTS &&
                 crypto_equal(h, sqlite3_column_blob(st, 1), 32);
        }
        idn_done(d, st);
    }
    if (id)
        idn_exec_i(d,
                   ok ? "UPDATE identity_oob_codes SET used_ms = ? WHERE id = ?"
                      : "UPDATE identity_oob_codes SET attempts = attempts + 1 WHERE id = ?2",
                   2, idn_now_ms(), id, 0, 0);
    pthread_mutex_unlock(&d->mu);
    if (!ok) {
        idn_ip_failure(d, api_peer_ip(rq));
        idn_count("sign_in_failed");
        return api_reply_error(rq, 401, "code_invalid", "the code is wrong, expired or used");
    }
    char key[WA_ID_MAX + 3];
    snprintf(key, sizeof key, "p:%s", phone);
    int64_t uid = 0;
    int created = 0;
    if (wa_user(d, key, phone, "", &uid, &created) < 0)
        return api_reply_error(rq, 500, "internal", "cannot sign in");
    return idn_reply_signed_in(d, rq, uid, "whatsapp", created);
}

/* ---- WeChat ---- */

/* jscode2session: WX_OK and *ws, or an error (ws->errcode for WX_ERR_API). */
static wx_status code2session(idn *d, const char *js_code, wx_session *ws)
{
    memset(ws, 0, sizeof *ws);
    if (!d->cfg.wechat_appid[0] || strlen(js_code) > 128)
        return WX_ERR_ARG;
    CURL *c = curl_easy_init();
    if (!c)
        return WX_ERR_ARG;
    char *ec = curl_easy_escape(c, js_code, 0), *es = curl_easy_escape(c, d->cfg.wechat_secret, 0),
         *ea = curl_easy_escape(c, d->cfg.wechat_appid, 0);
    char url[1024];
    int n = snprintf(url, sizeof url,
                     "%s/sns/jscode2session?appid=%s&secret=%s&js_code=%s"
                     "&grant_type=authorization_code",
                     d->cfg.wechat_base, ea ? ea : "", es ? es : "", ec ? ec : "");
    curl_free(ec);
    curl_free(es);
    curl_free(ea);
    membuf b = {.max = 16384};
    wx_status st = WX_ERR_ARG;
    long status = 0;
    if (n > 0 && (size_t)n < sizeof url) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, membuf_curl_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200 &&
            b.p)
            st = wx_parse_code2session(b.p, b.len, ws);
        else
            ws->errcode = -1; /* treat as busy: retry later */
    }
    crypto_wipe(url, sizeof url);
    membuf_free(&b, 1); /* the reply carried session_key */
    curl_easy_cleanup(c);
    return st == WX_ERR_ARG && ws->errcode == -1 ? WX_ERR_API : st;
}

static int reply_wx_error(api_req *rq, wx_status st, long errcode)
{
    if (st == WX_ERR_API && (errcode == 40029 || errcode == 40163))
        return api_reply_error(rq, 401, "code_invalid", "the WeChat login code is invalid or used");
    if (st == WX_ERR_API && errcode == 45011) {
        api_reply_header(rq, "Retry-After", "60");
        return api_reply_error(rq, 429, "rate_limited", "WeChat rate limit: retry in a minute");
    }
    if (st == WX_ERR_API && errcode == 40226)
        return api_reply_error(rq, 403, "blocked", "WeChat blocked this user");
    if (st == WX_ERR_API && errcode != 0)
        return api_reply_error(rq, 503, "wechat_unavailable", "WeChat is busy: retry");
    return api_reply_error(rq, 502, "wechat_error", "unexpected answer from WeChat");
}

/* Check code + optional rawData/encryptedData; fills openid and name. 0 or replied. */
static int wechat_identity(idn *d, api_req *rq, char openid[WX_OPENID_MAX + 1], char name[128])
{
    const cJSON *b = api_body_json(rq);
    const char *code = idn_jstr(b, "code");
    if (!code) {
        api_reply_error(rq, 400, "malformed", "expected {code}");
        return 1;
    }
    wx_session ws;
    wx_status st = code2session(d, code, &ws);
    if (st != WX_OK) {
        reply_wx_error(rq, st, ws.errcode);
        return 1;
    }
    snprintf(openid, WX_OPENID_MAX + 1, "%s", ws.openid);
    name[0] = '\0';
    const char *raw = idn_jstr(b, "raw_data"), *sig = idn_jstr(b, "signature");
    const char *enc = idn_jstr(b, "encrypted_data"), *iv = idn_jstr(b, "iv");
    int bad = 0;
    if (raw && sig) {
        if (wx_check_raw_data(raw, ws.session_key, sig) != WX_OK)
            bad = 1;
        else {
            cJSON *rj = cJSON_Parse(raw);
            const char *nn = idn_jstr(rj, "nickName");
            if (nn)
                snprintf(name, 128, "%s", nn);
            cJSON_Delete(rj);
        }
    }
    if (!bad && enc && iv) {
        char *plain = NULL;
        if (wx_decrypt(ws.session_key, iv, enc, d->cfg.wechat_appid, &plain) != WX_OK)
            bad = 1;
        else {
            cJSON *pj = cJSON_Parse(plain);
            const char *oid = idn_jstr(pj, "openId");
            if (oid && strcmp(oid, ws.openid))
                bad = 1; /* someone else's data */
            cJSON_Delete(pj);
            crypto_wipe(plain, strlen(plain));
            free(plain);
        }
    }
    /* session_key is used within this request only: never stored or sent. */
    crypto_wipe(&ws, sizeof ws);
    if (bad) {
        idn_count("sign_in_failed");
        api_reply_error(rq, 401, "bad_signature", "WeChat user data does not verify");
        return 1;
    }
    return 0;
}

static int h_wechat_session(void *ctx, api_req *rq)
{
    idn *d = ctx;
    char openid[WX_OPENID_MAX + 1], name[128];
    if (wechat_identity(d, rq, openid, name))
        return 0;
    int64_t uid = 0;
    int created = 0;
    if (find_or_register(d, "wechat", openid, name, &uid, &created) < 0)
        return api_reply_error(rq, 500, "internal", "cannot sign in");
    return idn_reply_signed_in(d, rq, uid, "wechat", created);
}

/* ---- linking more identities to the signed-in user ---- */

static int h_link_telegram(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const char *data = idn_jstr(api_body_json(rq), "init_data");
    if (!data)
        return api_reply_error(rq, 400, "malformed", "expected {init_data}");
    tg_auth auth;
    if (idn_take_initdata(d, rq, data, &auth))
        return 0;
    char sub[24];
    snprintf(sub, sizeof sub, "%lld", (long long)auth.user.id);
    return reply_link(d, rq, "telegram", sub, auth.user.first_name);
}

static int h_link_wechat(void *ctx, api_req *rq)
{
    idn *d = ctx;
    char openid[WX_OPENID_MAX + 1], name[128];
    if (wechat_identity(d, rq, openid, name))
        return 0;
    return reply_link(d, rq, "wechat", openid, name);
}

static int h_link_whatsapp(void *ctx, api_req *rq)
{
    idn *d = ctx;
    char subject[128], display[256], phone[WA_ID_MAX + 1];
    const char *name;
    if (take_link_token(d, idn_jstr(api_body_json(rq), "code"), subject, display))
        return api_reply_error(rq, 401, "code_invalid", "the link expired or was used");
    split_display(display, phone, &name);
    return reply_link(d, rq, "whatsapp", subject, name);
}

static int h_unlink(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    const char *prov = api_path_arg(rq, 0), *sub = api_path_arg(rq, 1);
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d), n = 0;
    sqlite3_stmt *st =
        rc == 0 ? idn_prep(d, "SELECT count(*) FROM identity_links WHERE user_id = ?") : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, p->user_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        idn_done(d, st);
    }
    int changed = 0;
    /* Never orphan an account: its last identity stays. */
    if (n > 1 && (st = idn_prep(d, "DELETE FROM identity_links WHERE user_id = ? AND provider = ? "
                                   "AND subject = ?"))) {
        sqlite3_bind_int64(st, 1, p->user_id);
        sqlite3_bind_text(st, 2, prov, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, sub, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE)
            changed = sqlite3_changes(d->db);
        idn_done(d, st);
    }
    if (changed)
        idn_audit(d, p->user_id, "identity_unlinked", api_peer_ip(rq), prov);
    if (rc == 0 && idn_commit(d) < 0)
        rc = -1;
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot unlink");
    if (n <= 1)
        return api_reply_error(
            rq, 409, "last_identity",
            "this is the only way to sign in to the account: link another first");
    if (!changed)
        return api_reply_error(rq, 404, "not_found", "no such identity on this account");
    return api_reply_json_str(rq, 200, "{\"unlinked\":true}");
}

/* ---- the legacy shop account ---- */

static int h_legacy_link(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    const cJSON *b = api_body_json(rq);
    const char *login = idn_jstr(b, "login"), *password = idn_jstr(b, "password");
    if (!login || !password || strlen(login) > 254 || strlen(password) > 1024)
        return api_reply_error(rq, 400, "malformed", "expected {login, password}");
    if (!d->cfg.legacy)
        return api_reply_error(rq, 503, "legacy_unavailable", "the old shop is not connected");
    if (idn_ip_blocked(d, api_peer_ip(rq))) {
        api_reply_header(rq, "Retry-After", "60");
        return api_reply_error(rq, 429, "too_many_attempts", "wait before the next try");
    }
    /* Sensitive: a recent second factor (or a code in this request). */
    if (idn_require_step_up(d, rq, b))
        return 0;
    int64_t legacy_id = 0;
    legacy_status ls = legacy_verify_login(d->cfg.legacy, login, password, &legacy_id);
    if (ls != LEGACY_OK) {
        idn_ip_failure(d, api_peer_ip(rq));
        pthread_mutex_lock(&d->mu);
        idn_audit(d, p->user_id, "legacy_failed", api_peer_ip(rq), NULL);
        pthread_mutex_unlock(&d->mu);
        if (ls == LEGACY_ERR)
            return api_reply_error(rq, 503, "legacy_unavailable", "the old shop is unavailable");
        return api_reply_error(rq, 401, "legacy_login_invalid",
                               "login or password of the old shop is wrong");
    }
    char name[128] = "";
    legacy_account_name(d->cfg.legacy, legacy_id, name, sizeof name);
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    sqlite3_stmt *st = rc == 0 ? idn_prep(d, "SELECT user_id FROM identity_legacy WHERE legacy_id "
                                             "= ? OR user_id = ?")
                               : NULL;
    int conflict = 0, same = 0;
    if (st) {
        sqlite3_bind_int64(st, 1, legacy_id);
        sqlite3_bind_int64(st, 2, p->user_id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (sqlite3_column_int64(st, 0) == p->user_id)
                same = 1;
            else
                conflict = 1;
        }
        idn_done(d, st);
    }
    if (rc == 0 && !conflict && !same) {
        rc = idn_exec_i(d,
                        "INSERT INTO identity_legacy(user_id, legacy_id, linked_ms) VALUES(?,?,?)",
                        3, p->user_id, legacy_id, idn_now_ms(), 0);
        cJSON *data = cJSON_CreateObject();
        cJSON_AddNumberToObject(data, "user_id", (double)p->user_id);
        cJSON_AddNumberToObject(data, "legacy_id", (double)legacy_id);
        char suffix[64];
        snprintf(suffix, sizeof suffix, "legacy/%lld", (long long)legacy_id);
        if (rc == 0)
            rc = idn_emit(d, p->user_id, EVT_TYPE_LEGACY_LINKED, suffix, data);
        else
            cJSON_Delete(data);
        if (rc == 0)
            idn_audit(d, p->user_id, "legacy_linked", api_peer_ip(rq), NULL);
    }
    if (rc == 0 && same && !conflict) {
        /* Relinking the same pair is fine; another old account is not. */
        sqlite3_stmt *q = idn_prep(d, "SELECT 1 FROM identity_legacy WHERE user_id = ? AND "
                                      "legacy_id = ?");
        if (q) {
            sqlite3_bind_int64(q, 1, p->user_id);
            sqlite3_bind_int64(q, 2, legacy_id);
            conflict = sqlite3_step(q) != SQLITE_ROW;
            idn_done(d, q);
        }
    }
    if (rc == 0 && !conflict)
        rc = idn_commit(d);
    else
        idn_rollback(d);
    pthread_mutex_unlock(&d->mu);
    if (conflict)
        return api_reply_error(rq, 409, "legacy_in_use",
                               "that old shop account is linked elsewhere, or this account has "
                               "another one");
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot link");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "linked", 1);
    cJSON_AddNumberToObject(o, "legacy_id", (double)legacy_id);
    cJSON_AddStringToObject(o, "name", name);
    return api_reply_json(rq, 200, o);
}

static int h_legacy_get(void *ctx, api_req *rq)
{
    idn *d = ctx;
    int64_t legacy_id = 0;
    cJSON *o = cJSON_CreateObject();
    int linked = idn_legacy_account(d, api_who(rq)->user_id, &legacy_id) == 0;
    cJSON_AddBoolToObject(o, "linked", linked);
    if (linked) {
        char name[128] = "";
        if (d->cfg.legacy)
            legacy_account_name(d->cfg.legacy, legacy_id, name, sizeof name);
        cJSON_AddNumberToObject(o, "legacy_id", (double)legacy_id);
        cJSON_AddStringToObject(o, "name", name);
    }
    return api_reply_json(rq, 200, o);
}

const api_route idn_routes_msg[] = {
    {"GET", "/webhooks/whatsapp", API_PUBLIC, "wa_handshake", h_wa_handshake},
    {"POST", "/webhooks/whatsapp", API_PUBLIC, "wa_webhook", h_wa_webhook},
    {"POST", "/api/v1/session/code", API_PUBLIC, "session_code", h_session_code},
    {"POST", "/api/v1/whatsapp/code", API_PUBLIC, "wa_code_send", h_wa_code_send},
    {"POST", "/api/v1/whatsapp/session", API_PUBLIC, "wa_code_session", h_wa_code_session},
    {"POST", "/api/v1/wechat/session", API_PUBLIC, "wechat_session", h_wechat_session},
    {"POST", "/api/v1/me/identities/telegram", API_USER, "link_telegram", h_link_telegram},
    {"POST", "/api/v1/me/identities/wechat", API_USER, "link_wechat", h_link_wechat},
    {"POST", "/api/v1/me/identities/whatsapp", API_USER, "link_whatsapp", h_link_whatsapp},
    {"DELETE", "/api/v1/me/identities/*/*", API_USER, "unlink", h_unlink},
    {"POST", "/api/v1/me/legacy", API_USER, "legacy_link", h_legacy_link},
    {"GET", "/api/v1/me/legacy", API_USER, "legacy_get", h_legacy_get},
};
const size_t idn_routes_msg_n = sizeof idn_routes_msg / sizeof idn_routes_msg[0];
