/* idn_recovery.c - self-service account recovery by e-mail.
 *
 * For a user who passed the first factor (a messenger sign-in answered an
 * mfa_token) but lost the second factor and the backup codes: a one-time
 * code to the account's verified e-mail (purpose "recovery": 6 digits, 10
 * minutes, single use, 5 guesses, 1 per 30 s and 10 per hour, wrong codes
 * counted in the account's second-factor failure counter). The right code
 * switches the second factor off (TOTP removed, SMS/Telegram/WhatsApp
 * unverified, backup codes revoked), signs out every session, writes the
 * audit, emits TwoFactorAuthDisabled with reason "email_recovery" (the
 * notifier tells the user on every channel) and answers a session that has
 * proven no second factor. At most one recovery per account a day.
 *
 * E-mail is not a second factor (NIST SP 800-63B-4), so recovery never
 * signs anyone in "with 2FA": it ends 2FA, loudly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "idn_api.h"

/* When the account may recover again: 0 now, else ms to wait. Caller holds
 * mu. */
static int64_t cooldown_left(idn *d, int64_t user_id, int64_t now)
{
    int64_t last =
        idn_scalar_i(d, "SELECT max(ts_ms) FROM identity_recovery WHERE user_id = ?", user_id, 0);
    return idn_recovery_wait_ms(last, now);
}

int64_t idn_recovery_wait_ms(int64_t last_ms, int64_t now_ms)
{
    if (last_ms <= 0 || now_ms - last_ms >= IDN_RECOVERY_COOLDOWN_MS)
        return 0;
    return last_ms + IDN_RECOVERY_COOLDOWN_MS - now_ms;
}

void idn_mask_email(const char *email, char *out, size_t cap)
{
    /* "vera@example.org" -> "v***@example.org": enough to recognise it,
     * not enough to learn it from a stolen messenger account. */
    const char *at = email ? strchr(email, '@') : NULL;
    if (!at || at == email)
        snprintf(out, cap, "***");
    else
        snprintf(out, cap, "%c***%s", email[0], at);
}

/* 0 the user may recover; else answered (409 no 2FA, 429 cooldown) and 1. */
static int may_recover(idn *d, api_req *rq, int64_t uid)
{
    int64_t now = idn_now_ms();
    pthread_mutex_lock(&d->mu);
    int m = idn_mfa_methods(d, uid);
    int64_t wait = m > 0 ? cooldown_left(d, uid, now) : 0;
    pthread_mutex_unlock(&d->mu);
    if (m < 0) {
        api_reply_error(rq, 500, "internal", "cannot check the account");
    } else if (m == 0) {
        api_reply_error(rq, 409, "two_factor_not_enabled",
                        "two-step verification is off for this account: nothing to recover, sign "
                        "in again");
    } else if (wait > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)((wait + 999) / 1000));
        api_reply_header(rq, "Retry-After", ra);
        api_reply_error(rq, 429, "recovery_cooldown",
                        "this account was recovered recently: try again later or contact support");
    } else {
        return 0;
    }
    return 1;
}

/* The verified e-mail (masked into out), 0; 1 when there is none. */
static int verified_email(idn *d, int64_t uid, char *out, size_t cap)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(d, "SELECT dest FROM identity_oob_methods WHERE user_id = ? AND "
                                   "channel = 'email' AND verified_ms > 0");
    int rc = 1;
    if (st) {
        sqlite3_bind_int64(st, 1, uid);
        if (sqlite3_step(st) == SQLITE_ROW) {
            idn_mask_email((const char *)sqlite3_column_text(st, 0), out, cap);
            rc = 0;
        }
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int reply_no_email(api_req *rq)
{
    return api_reply_error(rq, 400, "recovery_email_unverified",
                           "the account has no verified e-mail: use a backup code or contact "
                           "support");
}

static int reply_send_error(api_req *rq, const char *err)
{
    if (!strcmp(err, "method_not_enabled"))
        return reply_no_email(rq);
    if (!strcmp(err, "rate_limited")) {
        api_reply_header(rq, "Retry-After", "30");
        return api_reply_error(rq, 429, err, "a code was sent a moment ago: wait and retry");
    }
    if (!strcmp(err, "delivery_failed") || !strcmp(err, "channel_unavailable"))
        return api_reply_error(rq, 502, err, "the e-mail could not be sent: try again later");
    return api_reply_error(rq, 500, "internal", "cannot send a recovery code");
}

static int h_recovery_send(void *ctx, api_req *rq)
{
    idn *d = ctx;
    int64_t uid;
    char first[16], masked[300];
    int created;
    if (idn_ip_blocked(d, api_peer_ip(rq))) {
        api_reply_header(rq, "Retry-After", "60");
        return api_reply_error(rq, 429, "too_many_attempts", "wait before the next try");
    }
    if (idn_pending_user(d, rq, idn_jstr(api_body_json(rq), "mfa_token"), 0, &uid, first,
                         &created) ||
        may_recover(d, rq, uid))
        return 0;
    if (verified_email(d, uid, masked, sizeof masked))
        return reply_no_email(rq);
    const char *err = NULL;
    if (idn_oob_send(d, uid, "email", "recovery", &err) < 0)
        return reply_send_error(rq, err);
    pthread_mutex_lock(&d->mu);
    idn_audit(d, uid, "recovery_code_sent", api_peer_ip(rq), "email");
    pthread_mutex_unlock(&d->mu);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "sent", 1);
    cJSON_AddStringToObject(o, "channel", "email");
    cJSON_AddStringToObject(o, "destination", masked);
    cJSON_AddNumberToObject(o, "expires_ms", (double)(idn_now_ms() + IDN_OOB_TTL_MS));
    return api_reply_json(rq, 200, o);
}

/* The reset itself, in one transaction (mu held): second factors off,
 * every session and pending sign-in ended, the recovery remembered, audit,
 * TwoFactorAuthDisabled. 0 or -1. */
static int reset_locked(idn *d, int64_t uid, const char *ip)
{
    int64_t now = idn_now_ms();
    if (idn_begin(d) < 0)
        return -1;
    int rc = idn_exec_i(d, "DELETE FROM identity_totp WHERE user_id = ?", 1, uid, 0, 0, 0);
    /* The channels stay on file (re-enrolling proves them again); e-mail
     * stays verified: it is how this user just proved themselves. */
    if (rc == 0)
        rc = idn_exec_i(d,
                        "UPDATE identity_oob_methods SET verified_ms = 0, pending_dest = '' "
                        "WHERE user_id = ? AND channel != 'email'",
                        1, uid, 0, 0, 0);
    if (rc == 0)
        rc = idn_exec_i(d, "DELETE FROM identity_backup_codes WHERE user_id = ?", 1, uid, 0, 0, 0);
    if (rc == 0)
        rc = idn_exec_i(d,
                        "UPDATE identity_sessions SET revoked_ms = ?1, revoke_reason = "
                        "'2fa_recovery' WHERE user_id = ?2 AND revoked_ms = 0",
                        2, now, uid, 0, 0);
    if (rc == 0)
        rc = idn_exec_i(d, "DELETE FROM identity_mfa_pending WHERE user_id = ?", 1, uid, 0, 0, 0);
    if (rc == 0)
        rc = idn_exec_i(d, "INSERT INTO identity_recovery(user_id, ts_ms) VALUES(?, ?)", 2, uid,
                        now, 0, 0);
    if (rc == 0) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddNumberToObject(data, "user_id", (double)uid);
        cJSON_AddStringToObject(data, "method", "all");
        cJSON_AddBoolToObject(data, "any_left", 0);
        cJSON_AddStringToObject(data, "reason", "email_recovery");
        char suffix[64];
        snprintf(suffix, sizeof suffix, "2fa-recovery/%lld", (long long)now);
        idn_audit(d, uid, "2fa_recovered", ip, "email");
        idn_audit(d, uid, "sessions_revoked", ip, "2fa_recovery");
        rc = idn_emit(d, uid, EVT_TYPE_2FA_DISABLED, suffix, data);
    }
    if (rc == 0 && idn_commit(d) == 0)
        return 0;
    idn_rollback(d);
    return -1;
}

static int h_recovery(void *ctx, api_req *rq)
{
    idn *d = ctx;
    const cJSON *b = api_body_json(rq);
    const char *tok = idn_jstr(b, "mfa_token"), *code = idn_jstr(b, "code");
    if (!code)
        return api_reply_error(rq, 400, "malformed", "expected {mfa_token, code}");
    int64_t uid;
    char first[16];
    int created;
    if (idn_pending_user(d, rq, tok, 0, &uid, first, &created) || may_recover(d, rq, uid))
        return 0;
    int retry = 0;
    idn_mfa_result r =
        idn_mfa_verify_purpose(d, uid, "email", "recovery", code, api_peer_ip(rq), &retry);
    if (r == IDN_MFA_NOT_SET)
        return reply_no_email(rq);
    if (r != IDN_MFA_OK)
        return idn_reply_mfa_error(rq, r, retry);
    /* The sign-in that asked for recovery ends here, once. */
    if (idn_pending_user(d, rq, tok, 1, &uid, first, &created))
        return 0;
    pthread_mutex_lock(&d->mu);
    int rc = reset_locked(d, uid, api_peer_ip(rq));
    pthread_mutex_unlock(&d->mu);
    if (rc < 0)
        return api_reply_error(rq, 500, "internal", "cannot reset two-step verification");
    idn_count("2fa_recovered");
    /* A session, but one that proved no second factor: step-up stays
     * closed until the user sets up a new factor. */
    char m[40];
    snprintf(m, sizeof m, "%s+recovery", first);
    return idn_reply_session(d, rq, uid, m, 0, created);
}

const api_route idn_routes_recovery[] = {
    {"POST", "/api/v1/session/recovery/send", API_PUBLIC, "session_recovery_send", h_recovery_send},
    {"POST", "/api/v1/session/recovery", API_PUBLIC, "session_recovery", h_recovery},
};
const size_t idn_routes_recovery_n = sizeof idn_routes_recovery / sizeof idn_routes_recovery[0];
