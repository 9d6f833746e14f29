/* idn_mfa.c - second factors: TOTP (sealed secrets, each step once), backup
 * codes (hashed), throttling (growing delays, lockout), verification. The
 * out-of-band codes are in idn_oob.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "fitcommon/log.h"
#include "idn_int.h"
#include "otp.h"

int idn_mfa_methods(idn *d, int64_t user_id)
{
    int m = 0;
    sqlite3_stmt *st = idn_prep(d, "SELECT 1 FROM identity_totp WHERE user_id = ? AND "
                                   "confirmed_ms > 0");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        m |= IDN_MFA_TOTP;
    idn_done(d, st);
    st = idn_prep(d, "SELECT channel FROM identity_oob_methods WHERE user_id = ? AND verified_ms "
                     "> 0");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        m |= !strcmp(c, "sms")        ? IDN_MFA_SMS
             : !strcmp(c, "telegram") ? IDN_MFA_TELEGRAM
             : !strcmp(c, "whatsapp") ? IDN_MFA_WHATSAPP
                                      : 0; /* e-mail is recovery only */
    }
    idn_done(d, st);
    return m;
}

cJSON *idn_mfa_methods_json(int m)
{
    cJSON *a = cJSON_CreateArray();
    if (m & IDN_MFA_TOTP)
        cJSON_AddItemToArray(a, cJSON_CreateString("totp"));
    if (m & IDN_MFA_SMS)
        cJSON_AddItemToArray(a, cJSON_CreateString("sms"));
    if (m & IDN_MFA_TELEGRAM)
        cJSON_AddItemToArray(a, cJSON_CreateString("telegram"));
    if (m & IDN_MFA_WHATSAPP)
        cJSON_AddItemToArray(a, cJSON_CreateString("whatsapp"));
    if (m)
        cJSON_AddItemToArray(a, cJSON_CreateString("backup"));
    return a;
}

/* ---- throttling: per account, consecutive failures ---- */

static int64_t delay_ms(int64_t failures)
{
    if (failures < IDN_FREE_FAILURES)
        return 0;
    int64_t shift = failures - IDN_FREE_FAILURES;
    return shift >= 12 ? 3600 * 1000LL : (1000LL << shift); /* 1 s, 2 s, 4 s ... 1 h */
}

/* 0 may try, 1 must wait (*retry_s), 2 locked. Caller holds mu. */
static int throttle_check(idn *d, int64_t user_id, int64_t now, int *retry_s)
{
    sqlite3_stmt *st =
        idn_prep(d, "SELECT failures, next_ms FROM identity_throttle WHERE user_id = ?");
    if (!st)
        return 0;
    sqlite3_bind_int64(st, 1, user_id);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t f = sqlite3_column_int64(st, 0), next = sqlite3_column_int64(st, 1);
        if (f >= IDN_LOCKOUT_AFTER)
            rc = 2;
        else if (next > now) {
            rc = 1;
            *retry_s = (int)((next - now + 999) / 1000);
        }
    }
    idn_done(d, st);
    return rc;
}

/* Returns the failure count now. */
static int64_t throttle_fail(idn *d, int64_t user_id, int64_t now)
{
    idn_exec_i(d,
               "INSERT INTO identity_throttle(user_id, failures, next_ms) VALUES(?, 1, 0)"
               " ON CONFLICT(user_id) DO UPDATE SET failures = failures + 1",
               1, user_id, 0, 0, 0);
    int64_t f =
        idn_scalar_i(d, "SELECT failures FROM identity_throttle WHERE user_id = ?", user_id, 0);
    idn_exec_i(d, "UPDATE identity_throttle SET next_ms = ? WHERE user_id = ?", 2,
               now + delay_ms(f), user_id, 0, 0);
    return f;
}

/* ---- TOTP ---- */

int idn_totp_setup(idn *d, int64_t user_id, const char *account, char **uri,
                   char secret_b32[OTP_B32_MAX])
{
    *uri = NULL;
    uint8_t key[OTP_SECRET_LEN], sealed[OTP_SECRET_LEN + CRYPTO_AEAD_OVERHEAD];
    char kid[48];
    crypto_random(key, sizeof key);
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(d, "SELECT confirmed_ms FROM identity_totp WHERE user_id = ?");
    int rc = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, user_id);
        int s = sqlite3_step(st);
        rc = s == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0 ? 1 : 0;
        idn_done(d, st);
    }
    if (rc == 0 && idn_seal(d, user_id, key, sizeof key, sealed, kid) == 0) {
        st = idn_prep(d, "INSERT OR REPLACE INTO identity_totp(user_id, key_id, sealed, "
                         "last_step, created_ms, confirmed_ms) VALUES(?,?,?,-1,?,0)");
        rc = -1;
        if (st) {
            sqlite3_bind_int64(st, 1, user_id);
            sqlite3_bind_text(st, 2, kid, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, sealed, sizeof sealed, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, idn_now_ms());
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            idn_done(d, st);
        }
    }
    pthread_mutex_unlock(&d->mu);
    if (rc == 0) {
        *uri = otp_uri(d->cfg.issuer, account, key, sizeof key);
        otp_b32_encode(key, sizeof key, secret_b32);
        if (!*uri)
            rc = -1;
    }
    crypto_wipe(key, sizeof key);
    return rc;
}

/* Check a TOTP code against the user's secret (confirmed or pending);
 * updates last_step on success. Caller holds mu in a transaction. 1 ok,
 * 0 wrong/replayed, -1 none/error. */
static int totp_check(idn *d, int64_t user_id, const char *code, int want_confirmed)
{
    sqlite3_stmt *st = idn_prep(d, "SELECT key_id, sealed, last_step, confirmed_ms FROM "
                                   "identity_totp WHERE user_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW &&
        (sqlite3_column_int64(st, 3) > 0) == (want_confirmed != 0)) {
        const char *kid = (const char *)sqlite3_column_text(st, 0);
        const uint8_t *sealed = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        int64_t last = sqlite3_column_int64(st, 2);
        uint8_t key[OTP_SECRET_LEN];
        if (n == OTP_SECRET_LEN + CRYPTO_AEAD_OVERHEAD &&
            idn_open_sealed(d, user_id, kid, sealed, (size_t)n, key) == 0) {
            rc = otp_totp_check(key, sizeof key, code, idn_now_ms() / 1000, &last);
            crypto_wipe(key, sizeof key);
            if (rc == 1 && idn_exec_i(d, "UPDATE identity_totp SET last_step = ? WHERE user_id = ?",
                                      2, last, user_id, 0, 0) < 0)
                rc = -1;
        }
    }
    idn_done(d, st);
    return rc;
}

/* ---- backup codes ---- */

static void normalize_backup(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 1 < cap; in++) {
        if (*in == '-' || *in == ' ')
            continue;
        out[o++] = (char)toupper((unsigned char)*in);
    }
    out[o] = '\0';
}

/* Replace the user's backup codes with new ones (caller holds mu in a
 * transaction). Returns the array of codes (shown once) or NULL. */
cJSON *idn_backup_generate(idn *d, int64_t user_id)
{
    if (idn_exec_i(d, "DELETE FROM identity_backup_codes WHERE user_id = ?", 1, user_id, 0, 0, 0) <
        0)
        return NULL;
    cJSON *codes = cJSON_CreateArray();
    int64_t now = idn_now_ms();
    for (int i = 0; i < IDN_BACKUP_CODES; i++) {
        uint8_t r[10]; /* 80 bits */
        char b32[24], shown[24], norm[24];
        crypto_random(r, sizeof r);
        otp_b32_encode(r, sizeof r, b32); /* 16 characters */
        snprintf(shown, sizeof shown, "%.4s-%.4s-%.4s-%.4s", b32, b32 + 4, b32 + 8, b32 + 12);
        normalize_backup(shown, norm, sizeof norm);
        uint8_t h[32];
        idn_code_hash(d, "backup", norm, h);
        sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_backup_codes(user_id, hash, "
                                       "created_ms) VALUES(?,?,?)");
        int ok = st != NULL;
        if (st) {
            sqlite3_bind_int64(st, 1, user_id);
            sqlite3_bind_blob(st, 2, h, sizeof h, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 3, now);
            ok = sqlite3_step(st) == SQLITE_DONE;
            idn_done(d, st);
        }
        cJSON_AddItemToArray(codes, cJSON_CreateString(shown));
        crypto_wipe(b32, sizeof b32);
        crypto_wipe(norm, sizeof norm);
        if (!ok) {
            cJSON_Delete(codes);
            return NULL;
        }
    }
    idn_audit(d, user_id, "backup_codes_generated", NULL, NULL);
    return codes;
}

static int backup_use(idn *d, int64_t user_id, const char *code)
{
    char norm[64];
    normalize_backup(code, norm, sizeof norm);
    if (strlen(norm) != 16)
        return 0;
    uint8_t h[32];
    idn_code_hash(d, "backup", norm, h);
    sqlite3_stmt *st = idn_prep(d, "UPDATE identity_backup_codes SET used_ms = ? WHERE user_id = ?"
                                   " AND hash = ? AND used_ms = 0");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, idn_now_ms());
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_blob(st, 3, h, sizeof h, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(d->db) == 1 : -1;
    idn_done(d, st);
    if (rc == 1)
        idn_audit(d, user_id, "backup_code_used", NULL, NULL);
    return rc;
}

int idn_backup_remaining(idn *d, int64_t user_id)
{
    sqlite3_stmt *st = idn_prep(d, "SELECT count(*) FROM identity_backup_codes WHERE user_id = ? "
                                   "AND used_ms = 0");
    int n = 0;
    if (st) {
        sqlite3_bind_int64(st, 1, user_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        idn_done(d, st);
    }
    return n;
}

/* ---- verification with throttling ---- */

static idn_mfa_result verify_locked(idn *d, int64_t user_id, const char *method,
                                    const char *purpose, const char *code, const char *ip,
                                    int *retry_after_s)
{
    int64_t now = idn_now_ms();
    int t = throttle_check(d, user_id, now, retry_after_s);
    if (t == 2)
        return IDN_MFA_LOCKED;
    if (t == 1)
        return IDN_MFA_DELAYED;
    if (idn_begin(d) < 0)
        return IDN_MFA_ERROR;
    int ok;
    if (!strcmp(method, "totp"))
        ok = totp_check(d, user_id, code, !!strcmp(purpose, "enroll"));
    else if (!strcmp(method, "backup"))
        ok = backup_use(d, user_id, code);
    else
        ok = idn_oob_check(d, user_id, method, purpose, code);
    idn_mfa_result r = IDN_MFA_OK;
    if (ok == 1) {
        idn_exec_i(d, "DELETE FROM identity_throttle WHERE user_id = ?", 1, user_id, 0, 0, 0);
        idn_audit(d, user_id, "mfa_ok", ip, method);
    } else if (ok == 0) {
        int64_t f = throttle_fail(d, user_id, now);
        idn_audit(d, user_id, f >= IDN_LOCKOUT_AFTER ? "mfa_locked" : "mfa_failed", ip, method);
        r = f >= IDN_LOCKOUT_AFTER ? IDN_MFA_LOCKED : IDN_MFA_WRONG;
        idn_ip_failure(d, ip);
    } else {
        r = IDN_MFA_NOT_SET;
    }
    if (idn_commit(d) < 0)
        return IDN_MFA_ERROR;
    return r;
}

idn_mfa_result idn_mfa_verify(idn *d, int64_t user_id, const char *method, const char *code,
                              const char *ip, int *retry_after_s)
{
    return idn_mfa_verify_purpose(d, user_id, method, "auth", code, ip, retry_after_s);
}

idn_mfa_result idn_mfa_verify_purpose(idn *d, int64_t user_id, const char *method,
                                      const char *purpose, const char *code, const char *ip,
                                      int *retry_after_s)
{
    *retry_after_s = 0;
    if (!method || !code || strlen(code) > 64)
        return IDN_MFA_WRONG;
    if (strcmp(method, "totp") && strcmp(method, "backup") && strcmp(method, "sms") &&
        strcmp(method, "telegram") && strcmp(method, "whatsapp") && strcmp(method, "email"))
        return IDN_MFA_NOT_SET;
    if (idn_ip_blocked(d, ip)) {
        *retry_after_s = 60;
        return IDN_MFA_DELAYED;
    }
    pthread_mutex_lock(&d->mu);
    idn_mfa_result r = verify_locked(d, user_id, method, purpose, code, ip, retry_after_s);
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* First second factor enabled: TwoFactorAuthEnabled and backup codes.
 * Caller holds mu in a transaction. *codes gets new backup codes when the
 * user had none. */
int idn_mfa_enabled(idn *d, int64_t user_id, const char *method, int had_methods, cJSON **codes)
{
    *codes = NULL;
    if (!had_methods || idn_backup_remaining(d, user_id) == 0) {
        *codes = idn_backup_generate(d, user_id);
        if (!*codes)
            return -1;
    }
    cJSON *data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "user_id", (double)user_id);
    cJSON_AddStringToObject(data, "method", method);
    char suffix[96];
    snprintf(suffix, sizeof suffix, "2fa/%s/%lld", method, (long long)idn_now_ms());
    idn_audit(d, user_id, "2fa_enabled", NULL, method);
    return idn_emit(d, user_id, EVT_TYPE_2FA_ENABLED, suffix, data);
}

int idn_totp_confirm(idn *d, int64_t user_id, const char *code, const char *ip, cJSON **codes,
                     idn_mfa_result *res, int *retry_after_s)
{
    *codes = NULL;
    *res = idn_mfa_verify_purpose(d, user_id, "totp", "enroll", code, ip, retry_after_s);
    if (*res != IDN_MFA_OK)
        return 0;
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    int had = rc == 0 ? idn_mfa_methods(d, user_id) : -1;
    if (had >= 0)
        rc = idn_exec_i(d, "UPDATE identity_totp SET confirmed_ms = ? WHERE user_id = ?", 2,
                        idn_now_ms(), user_id, 0, 0);
    if (had < 0 || rc < 0 || idn_mfa_enabled(d, user_id, "totp", had, codes) < 0) {
        idn_rollback(d);
        cJSON_Delete(*codes);
        *codes = NULL;
        rc = -1;
    } else {
        rc = idn_commit(d);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int idn_mfa_disable(idn *d, int64_t user_id, const char *method, const char *ip)
{
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    int all = !strcmp(method, "all");
    if (rc == 0 && (all || !strcmp(method, "totp")))
        rc = idn_exec_i(d, "DELETE FROM identity_totp WHERE user_id = ?", 1, user_id, 0, 0, 0);
    if (rc == 0 && strcmp(method, "totp") != 0) {
        sqlite3_stmt *st = idn_prep(
            d, all ? "DELETE FROM identity_oob_methods WHERE user_id = ?1"
                   : "DELETE FROM identity_oob_methods WHERE user_id = ?1 AND channel = ?2");
        rc = -1;
        if (st) {
            sqlite3_bind_int64(st, 1, user_id);
            if (!all)
                sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            idn_done(d, st);
        }
    }
    int left = rc == 0 ? idn_mfa_methods(d, user_id) : -1;
    if (left == 0)
        rc = idn_exec_i(d, "DELETE FROM identity_backup_codes WHERE user_id = ?", 1, user_id, 0, 0,
                        0);
    if (rc == 0 && left >= 0) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddNumberToObject(data, "user_id", (double)user_id);
        cJSON_AddStringToObject(data, "method", method);
        cJSON_AddBoolToObject(data, "any_left", left != 0);
        char suffix[96];
        snprintf(suffix, sizeof suffix, "2fa-off/%s/%lld", method, (long long)idn_now_ms());
        idn_audit(d, user_id, "2fa_disabled", ip, method);
        rc = idn_emit(d, user_id, EVT_TYPE_2FA_DISABLED, suffix, data);
    }
    if (rc == 0 && left >= 0)
        rc = idn_commit(d);
    else
        idn_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return rc == 0 && left >= 0 ? 0 : -1;
}

/* ---- per-address failures (in memory) ---- */

static size_t ip_slot(const char *ip)
{
    uint32_t h = 2166136261u;
    for (; *ip; ip++)
        h = (h ^ (uint8_t)*ip) * 16777619u;
    return h % IDN_IP_SLOTS;
}

#define IDN_IP_FAILURES_PER_MIN 50

int idn_ip_blocked(idn *d, const char *ip)
{
    if (!ip || !*ip)
        return 0;
    int64_t minute = idn_now_ms() / 60000;
    pthread_mutex_lock(&d->ip_mu);
    idn_ip_slot *s = &d->ips[ip_slot(ip)];
    int blocked =
        !strcmp(s->ip, ip) && s->minute == minute && s->failures >= IDN_IP_FAILURES_PER_MIN;
    pthread_mutex_unlock(&d->ip_mu);
    return blocked;
}

void idn_ip_failure(idn *d, const char *ip)
{
    if (!ip || !*ip)
        return;
    int64_t minute = idn_now_ms() / 60000;
    pthread_mutex_lock(&d->ip_mu);
    idn_ip_slot *s = &d->ips[ip_slot(ip)];
    if (strcmp(s->ip, ip) || s->minute != minute) {
        snprintf(s->ip, sizeof s->ip, "%s", ip);
        s->minute = minute;
        s->failures = 0;
    }
    s->failures++;
    pthread_mutex_unlock(&d->ip_mu);
}
