/* idn_api_mfa.c - HTTP: 2FA status, TOTP setup/confirm/disable (QR SVG and
 * manual key), one-time-code channels, backup codes, step-up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idn_api.h"

int idn_require_step_up(idn *d, api_req *rq, const cJSON *body)
{
    const api_principal *p = api_who(rq);
    if (idn_step_up_ok(p, idn_now_ms(), IDN_STEP_UP_MS))
        return 0;
    const char *code = idn_jstr(body, "code"), *method = idn_jstr(body, "method");
    if (!code || !*code) {
        pthread_mutex_lock(&d->mu);
        int m = idn_mfa_methods(d, p->user_id);
        pthread_mutex_unlock(&d->mu);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "error",
                                m > 0 ? "second_factor_required" : "second_factor_setup_required");
        cJSON_AddStringToObject(o, "message",
                                m > 0 ? "confirm with a code from your second factor"
                                      : "set up two-step verification first");
        cJSON_AddItemToObject(o, "methods", idn_mfa_methods_json(m > 0 ? m : 0));
        api_reply_json(rq, 403, o);
        return 1;
    }
    if (!method)
        method = strlen(code) == 6 ? "totp" : "backup";
    int retry = 0;
    idn_mfa_result r = idn_mfa_verify(d, p->user_id, method, code, api_peer_ip(rq), &retry);
    if (r != IDN_MFA_OK) {
        idn_reply_mfa_error(rq, r, retry);
        return 1;
    }
    idn_session_mfa_now(d, p->session_id);
    return 0;
}

static int h_status(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    pthread_mutex_lock(&d->mu);
    int m = idn_mfa_methods(d, p->user_id);
    int left = idn_backup_remaining(d, p->user_id);
    cJSON *o = cJSON_CreateObject();
    cJSON *totp = cJSON_AddObjectToObject(o, "totp");
    cJSON_AddBoolToObject(totp, "enabled", m > 0 && (m & IDN_MFA_TOTP));
    const char *chans[] = {"sms", "email", "telegram", "whatsapp"};
    for (size_t i = 0; i < 4; i++) {
        cJSON *c = cJSON_AddObjectToObject(o, chans[i]);
        sqlite3_stmt *st = idn_prep(d, "SELECT dest, verified_ms FROM identity_oob_methods WHERE "
                                       "user_id = ? AND channel = ?");
        int on = 0;
        if (st) {
            sqlite3_bind_int64(st, 1, p->user_id);
            sqlite3_bind_text(st, 2, chans[i], -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 1) > 0) {
                on = 1;
                cJSON_AddStringToObject(c, "destination", (const char *)sqlite3_column_text(st, 0));
            }
            idn_done(d, st);
        }
        cJSON_AddBoolToObject(c, "enabled", on);
        if (!strcmp(chans[i], "email"))
            cJSON_AddBoolToObject(c, "recovery_only", 1);
    }
    pthread_mutex_unlock(&d->mu);
    cJSON_AddNumberToObject(o, "backup_codes_left", left);
    cJSON_AddItemToObject(o, "methods", idn_mfa_methods_json(m > 0 ? m : 0));
    cJSON_AddBoolToObject(o, "enabled", m > 0);
    cJSON_AddBoolToObject(o, "step_up_fresh", idn_step_up_ok(p, idn_now_ms(), IDN_STEP_UP_MS));
    return api_reply_json(rq, 200, o);
}

/* Adding a factor to an account that already has one is sensitive too: a
 * stolen session must not add the thief's authenticator. 0 go on, else
 * answered. */
static int step_up_if_protected(idn *d, api_req *rq)
{
    pthread_mutex_lock(&d->mu);
    int m = idn_mfa_methods(d, api_who(rq)->user_id);
    pthread_mutex_unlock(&d->mu);
    return m > 0 ? idn_require_step_up(d, rq, api_body_json(rq)) : 0;
}

static int h_totp_setup(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    if (step_up_if_protected(d, rq))
        return 0;
    char account[64], secret[OTP_B32_MAX];
    snprintf(account, sizeof account, "user %lld", (long long)p->user_id);
    char *uri = NULL;
    int rc = idn_totp_setup(d, p->user_id, account, &uri, secret);
    if (rc == 1)
        return api_reply_error(rq, 409, "already_enabled",
                               "the authenticator app is already set up: disable it first");
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot set up TOTP");
    char *svg = idn_qr_svg(uri);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "otpauth_uri", uri);
    cJSON_AddStringToObject(o, "secret", secret);
    cJSON_AddStringToObject(o, "manual_key", secret);
    if (svg)
        cJSON_AddStringToObject(o, "qr_svg", svg);
    cJSON_AddNumberToObject(o, "digits", OTP_DIGITS);
    cJSON_AddNumberToObject(o, "period", OTP_STEP_S);
    cJSON_AddStringToObject(o, "algorithm", "SHA1");
    crypto_wipe(secret, sizeof secret);
    crypto_wipe(uri, strlen(uri));
    free(uri);
    free(svg);
    api_reply_header(rq, "Cache-Control", "no-store");
    return api_reply_json(rq, 200, o);
}

static int reply_enabled(idn *d, api_req *rq, cJSON *codes)
{
    idn_session_mfa_now(d, api_who(rq)->session_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "enabled", 1);
    if (codes)
        cJSON_AddItemToObject(o, "backup_codes", codes);
    api_reply_header(rq, "Cache-Control", "no-store");
    return api_reply_json(rq, 200, o);
}

static int h_totp_confirm(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const char *code = idn_jstr(api_body_json(rq), "code");
    if (!code)
        return api_reply_error(rq, 400, "malformed", "expected {\"code\":\"123456\"}");
    cJSON *codes = NULL;
    idn_mfa_result r;
    int retry = 0;
    if (idn_totp_confirm(d, api_who(rq)->user_id, code, api_peer_ip(rq), &codes, &r, &retry) < 0)
        return api_reply_error(rq, 500, "internal", "cannot enable TOTP");
    if (r != IDN_MFA_OK)
        return idn_reply_mfa_error(rq, r, retry);
    return reply_enabled(d, rq, codes);
}

static int disable(idn *d, api_req *rq, const char *method)
{
    const cJSON *b = api_body_json(rq);
    if (idn_require_step_up(d, rq, b))
        return 0;
    if (idn_mfa_disable(d, api_who(rq)->user_id, method, api_peer_ip(rq)) < 0)
        return api_reply_error(rq, 500, "internal", "cannot disable");
    return api_reply_json_str(rq, 200, "{\"disabled\":true}");
}

static int h_totp_disable(void *ctx, api_req *rq)
{
    return disable(ctx, rq, "totp");
}

static int h_otp_disable(void *ctx, api_req *rq)
{
    const char *ch = idn_jstr(api_body_json(rq), "channel");
    if (!ch || (strcmp(ch, "sms") && strcmp(ch, "email") && strcmp(ch, "telegram") &&
                strcmp(ch, "whatsapp")))
        return api_reply_error(rq, 400, "malformed", "channel: sms, email, telegram or whatsapp");
    return disable(ctx, rq, ch);
}

static int h_disable_all(void *ctx, api_req *rq)
{
    return disable(ctx, rq, "all");
}

static int h_otp_start(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const cJSON *b = api_body_json(rq);
    const char *ch = idn_jstr(b, "channel"), *dest = idn_jstr(b, "destination");
    if (!ch)
        return api_reply_error(rq, 400, "malformed", "expected {channel, destination}");
    if (step_up_if_protected(d, rq))
        return 0;
    const char *err = NULL;
    if (idn_oob_enroll(d, api_who(rq)->user_id, ch, dest, &err) == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "sent", 1);
        cJSON_AddNumberToObject(o, "expires_ms", (double)(idn_now_ms() + IDN_OOB_TTL_MS));
        if (!strcmp(ch, "email"))
            cJSON_AddBoolToObject(o, "recovery_only", 1);
        return api_reply_json(rq, 200, o);
    }
    if (!strcmp(err, "rate_limited")) {
        api_reply_header(rq, "Retry-After", "30");
        return api_reply_error(rq, 429, err, "a code was sent a moment ago: wait and retry");
    }
    if (!strcmp(err, "delivery_failed") || !strcmp(err, "channel_unavailable"))
        return api_reply_error(rq, 502, err, "the code could not be sent");
    if (!strcmp(err, "no_messenger_identity"))
        return api_reply_error(rq, 400, err, "link that messenger to the account first");
    if (!strcmp(err, "internal"))
        return api_reply_error(rq, 500, err, "cannot send a code");
    return api_reply_error(rq, 400, "malformed",
                           "channel sms (destination +E.164), email (an address), telegram or "
                           "whatsapp");
}

static int h_otp_confirm(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const cJSON *b = api_body_json(rq);
    const char *ch = idn_jstr(b, "channel"), *code = idn_jstr(b, "code");
    if (!ch || !code)
        return api_reply_error(rq, 400, "malformed", "expected {channel, code}");
    cJSON *codes = NULL;
    idn_mfa_result r;
    int retry = 0;
    if (idn_oob_confirm(d, api_who(rq)->user_id, ch, code, api_peer_ip(rq), &codes, &r, &retry) < 0)
        return api_reply_error(rq, 500, "internal", "cannot confirm");
    if (r != IDN_MFA_OK)
        return idn_reply_mfa_error(rq, r, retry);
    if (!strcmp(ch, "email")) {
        cJSON_Delete(codes);
        return api_reply_json_str(rq, 200, "{\"enabled\":true,\"recovery_only\":true}");
    }
    return reply_enabled(d, rq, codes);
}

static int h_backup_codes(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const api_principal *p = api_who(rq);
    if (idn_require_step_up(d, rq, api_body_json(rq)))
        return 0;
    pthread_mutex_lock(&d->mu);
    int m = idn_mfa_methods(d, p->user_id);
    cJSON *codes = NULL;
    if (m > 0 && idn_begin(d) == 0) {
        codes = idn_backup_generate(d, p->user_id);
        if (!codes || idn_commit(d) < 0) {
            if (codes)
                cJSON_Delete(codes);
            else
                idn_rollback(d);
            codes = NULL;
        }
    }
    pthread_mutex_unlock(&d->mu);
    if (m == 0)
        return api_reply_error(rq, 400, "method_not_enabled", "set up two-step verification first");
    if (!codes)
        return api_reply_error(rq, 500, "internal", "cannot make backup codes");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "backup_codes", codes);
    api_reply_header(rq, "Cache-Control", "no-store");
    return api_reply_json(rq, 200, o);
}

static int h_step_up(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const cJSON *b = api_body_json(rq);
    if (!idn_jstr(b, "code"))
        return api_reply_error(rq, 400, "malformed", "expected {method, code}");
    /* Always check the code here, even when a recent step-up exists. */
    const api_principal *p = api_who(rq);
    const char *method = idn_jstr(b, "method"), *code = idn_jstr(b, "code");
    if (!method)
        method = strlen(code) == 6 ? "totp" : "backup";
    int retry = 0;
    idn_mfa_result r = idn_mfa_verify(d, p->user_id, method, code, api_peer_ip(rq), &retry);
    if (r != IDN_MFA_OK)
        return idn_reply_mfa_error(rq, r, retry);
    idn_session_mfa_now(d, p->session_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    cJSON_AddNumberToObject(o, "valid_until_ms", (double)(idn_now_ms() + IDN_STEP_UP_MS));
    return api_reply_json(rq, 200, o);
}

static int h_step_up_send(void *ctx, api_req *rq)
{
    const char *method = idn_jstr(api_body_json(rq), "method");
    if (!method)
        return api_reply_error(rq, 400, "malformed", "expected {method}");
    return idn_reply_oob_send(ctx, rq, api_who(rq)->user_id, method);
}

const api_route idn_routes_mfa[] = {
    {"GET", "/api/v1/me/2fa", API_USER, "2fa_status", h_status},
    {"POST", "/api/v1/me/2fa/totp/setup", API_USER, "2fa_totp_setup", h_totp_setup},
    {"POST", "/api/v1/me/2fa/totp/confirm", API_USER, "2fa_totp_confirm", h_totp_confirm},
    {"POST", "/api/v1/me/2fa/totp/disable", API_USER, "2fa_totp_disable", h_totp_disable},
    {"POST", "/api/v1/me/2fa/otp/start", API_USER, "2fa_otp_start", h_otp_start},
    {"POST", "/api/v1/me/2fa/otp/confirm", API_USER, "2fa_otp_confirm", h_otp_confirm},
    {"POST", "/api/v1/me/2fa/otp/disable", API_USER, "2fa_otp_disable", h_otp_disable},
    {"POST", "/api/v1/me/2fa/disable", API_USER, "2fa_disable", h_disable_all},
    {"POST", "/api/v1/me/2fa/backup-codes", API_USER, "2fa_backup_codes", h_backup_codes},
    {"POST", "/api/v1/me/2fa/step-up", API_USER, "2fa_step_up", h_step_up},
    {"POST", "/api/v1/me/2fa/step-up/send", API_USER, "2fa_step_up_send", h_step_up_send},
};
const size_t idn_routes_mfa_n = sizeof idn_routes_mfa / sizeof idn_routes_mfa[0];
