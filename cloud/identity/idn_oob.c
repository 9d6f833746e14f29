/* idn_oob.c - out-of-band one-time codes: SMS, Telegram, WhatsApp (second
 * factors) and e-mail (verification and recovery only, per NIST 800-63B-4).
 * 6 digits, 10 minutes, single use, IDN_OOB_ATTEMPTS guesses per code; the
 * account's failure counter (idn_mfa.c) is not reset by a new code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "fitcommon/log.h"
#include "idn_int.h"

static int channel_ok(const char *c)
{
    return c && (!strcmp(c, "sms") || !strcmp(c, "telegram") || !strcmp(c, "whatsapp") ||
                 !strcmp(c, "email"));
}

/* The purposes a code is stored under: "enroll" (proving a new channel),
 * "recovery" (e-mail only: resets the second factor), else "auth" (a
 * second factor at sign-in or step-up). */
static const char *purpose_of(const char *purpose)
{
    return !strcmp(purpose, "enroll")     ? "enroll"
           : !strcmp(purpose, "recovery") ? "recovery"
                                          : "auth";
}

/* E-mail codes are for enrolment and recovery only (NIST SP 800-63B-4: not
 * an out-of-band authenticator); recovery codes go by e-mail only. */
static int purpose_fits(const char *channel, const char *pur)
{
    int email = !strcmp(channel, "email");
    return !strcmp(pur, "enroll") || (email == !strcmp(pur, "recovery"));
}

static void code_label(int64_t user_id, const char *channel, const char *purpose, char out[96])
{
    snprintf(out, 96, "oob|%lld|%s|%s", (long long)user_id, channel, purpose);
}

/* Where a code for channel goes: the verified dest, or (enroll) the pending
 * one. Caller holds mu. 0, 1 none, -1. */
static int dest_of(idn *d, int64_t user_id, const char *channel, int pending, char *out, size_t cap)
{
    sqlite3_stmt *st = idn_prep(d, pending ? "SELECT pending_dest FROM identity_oob_methods WHERE "
                                             "user_id = ? AND channel = ? AND pending_dest != ''"
                                           : "SELECT dest FROM identity_oob_methods WHERE "
                                             "user_id = ? AND channel = ? AND verified_ms > 0");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
    int rc = 1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    idn_done(d, st);
    return rc;
}

/* Codes sent to this user on this channel for this purpose since since_ms. */
static int sent_since(idn *d, int64_t user_id, const char *channel, const char *purpose,
                      int64_t since_ms)
{
    sqlite3_stmt *st = idn_prep(d, "SELECT count(*) FROM identity_oob_codes WHERE user_id = ? AND "
                                   "channel = ? AND created_ms > ? AND purpose = ?");
    int n = 0;
    if (st) {
        sqlite3_bind_int64(st, 1, user_id);
        sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, since_ms);
        sqlite3_bind_text(st, 4, purpose, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        idn_done(d, st);
    }
    return n;
}

uint32_t idn_random_code(void)
{
    /* Uniform in [0, 10^6): reject the top of the 32-bit range. */
    const uint32_t limit = UINT32_MAX - UINT32_MAX % 1000000u;
    uint32_t r;
    do
        crypto_random(&r, sizeof r);
    while (r >= limit);
    return r % 1000000u;
}

static void message(const char *lang, const char *pur, const char *code, char *out, size_t cap)
{
    int ru = lang && !strcmp(lang, "ru");
    if (!strcmp(pur, "recovery"))
        snprintf(out, cap,
                 ru ? "Код восстановления fitgate: %s. Действует 10 минут. Он отключит "
                      "двухэтапную проверку и завершит все сеансы. Если вы его не "
                      "запрашивали, никому его не сообщайте и смените пароль почты."
                    : "Your fitgate account recovery code: %s. It expires in 10 minutes. It "
                      "switches two-step verification off and signs out every session. If you "
                      "did not ask for it, do not share it and change your e-mail password.",
                 code);
    else if (ru)
        snprintf(out, cap, "Код fitgate: %s. Действует 10 минут. Никому его не сообщайте.", code);
    else
        snprintf(out, cap, "Your fitgate code: %s. It expires in 10 minutes. Do not share it.",
                 code);
}

int idn_oob_send(idn *d, int64_t user_id, const char *method, const char *purpose,
                 const char **err_out)
{
    *err_out = "malformed";
    const char *pur = purpose_of(purpose);
    if (!channel_ok(method))
        return -1;
    int enroll = !strcmp(pur, "enroll");
    if (!purpose_fits(method, pur)) {
        *err_out = !strcmp(method, "email") ? "email_recovery_only" : "malformed";
        return -1;
    }
    if (!d->cfg.channels) {
        *err_out = "channel_unavailable";
        return -1;
    }
    char dest[256] = "", code[8], label[96], lang[8] = "";
    int64_t now = idn_now_ms(), row = 0;
    pthread_mutex_lock(&d->mu);
    int rc = dest_of(d, user_id, method, enroll, dest, sizeof dest);
    if (rc == 1)
        *err_out = "method_not_enabled";
    else if (rc == 0 && (sent_since(d, user_id, method, pur, now - 30000) > 0 ||
                         sent_since(d, user_id, method, pur, now - 3600000) >= 10)) {
        *err_out = "rate_limited";
        rc = 1;
    }
    if (rc == 0) {
        idn_user u;
        if (idn_user_get(d, user_id, &u) == 0)
            snprintf(lang, sizeof lang, "%s", u.lang);
        snprintf(code, sizeof code, "%06u", idn_random_code());
        code_label(user_id, method, pur, label);
        uint8_t h[32];
        idn_code_hash(d, label, code, h);
        sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_oob_codes(user_id, channel, dest, "
                                       "purpose, hash, created_ms, expires_ms) "
                                       "VALUES(?,?,?,?,?,?,?)");
        rc = -1;
        if (st) {
            sqlite3_bind_int64(st, 1, user_id);
            sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, dest, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, pur, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 5, h, sizeof h, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 6, now);
            sqlite3_bind_int64(st, 7, now + IDN_OOB_TTL_MS);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            idn_done(d, st);
            row = sqlite3_last_insert_rowid(d->db);
        }
        if (rc < 0)
            *err_out = "internal";
    }
    pthread_mutex_unlock(&d->mu);
    if (rc != 0)
        return -1;
    /* The network call happens outside the lock. */
    char text[512];
    message(lang, pur, code, text, sizeof text);
    int retry = 0;
    notify_status ns = NOTIFY_ERR_ARG;
    if (!strcmp(method, "sms"))
        ns = notify_sms(d->cfg.channels, dest, text, &retry);
    else if (!strcmp(method, "telegram"))
        ns = notify_telegram(d->cfg.channels, strtoll(dest, NULL, 10), text, &retry);
    else if (!strcmp(method, "whatsapp") && notify_whatsapp_is_bsuid(dest))
        /* No phone, only the business-scoped id: authentication templates
         * cannot go there, a text can (inside the 24 h window). */
        ns = notify_whatsapp_text(d->cfg.channels, dest, text, &retry);
    else if (!strcmp(method, "whatsapp"))
        ns = notify_whatsapp_code(d->cfg.channels, dest, code, lang[0] ? lang : "en", &retry);
    else
        ns = notify_email(
            d->cfg.channels, dest,
            strcmp(pur, "recovery") ? "Your fitgate code" : "fitgate account recovery", text);
    crypto_wipe(code, sizeof code);
    crypto_wipe(text, sizeof text);
    if (ns != NOTIFY_OK) {
        /* A code nobody received must not stay guessable. */
        pthread_mutex_lock(&d->mu);
        idn_exec_i(d, "UPDATE identity_oob_codes SET used_ms = ? WHERE id = ?", 2, now, row, 0, 0);
        pthread_mutex_unlock(&d->mu);
        log_warn("identity_oob_failed", "one-time code not delivered", "channel", method, "status",
                 notify_status_str(ns));
        *err_out = ns == NOTIFY_ERR_RATE ? "rate_limited" : "delivery_failed";
        return -1;
    }
    idn_count("oob_sent");
    return 0;
}

int idn_oob_check(idn *d, int64_t user_id, const char *channel, const char *purpose,
                  const char *code)
{
    const char *pur = purpose_of(purpose);
    if (!channel_ok(channel) || !purpose_fits(channel, pur))
        return -1; /* e.g. e-mail: recovery only, never a second factor */
    int enroll = !strcmp(pur, "enroll");
    char dest[256];
    if (!enroll && dest_of(d, user_id, channel, 0, dest, sizeof dest) != 0)
        return -1;
    sqlite3_stmt *st = idn_prep(d, "SELECT id, hash, expires_ms, used_ms, attempts FROM "
                                   "identity_oob_codes WHERE user_id = ? AND channel = ? AND "
                                   "purpose = ? ORDER BY id DESC LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, pur, -1, SQLITE_STATIC);
    int ok = 0;
    int64_t id = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        int live = sqlite3_column_bytes(st, 1) == 32 &&
                   sqlite3_column_int64(st, 2) > idn_now_ms() && sqlite3_column_int64(st, 3) == 0 &&
                   sqlite3_column_int64(st, 4) < IDN_OOB_ATTEMPTS;
        char label[96];
        uint8_t h[32];
        code_label(user_id, channel, pur, label);
        idn_code_hash(d, label, code, h);
        ok = live && strlen(code) == 6 && crypto_equal(h, sqlite3_column_blob(st, 1), 32);
    }
    idn_done(d, st);
    if (id)
        idn_exec_i(d,
                   ok ? "UPDATE identity_oob_codes SET used_ms = ? WHERE id = ?"
                      : "UPDATE identity_oob_codes SET attempts = attempts + 1 WHERE id = ?2",
                   2, idn_now_ms(), id, 0, 0);
    return ok;
}

static int dest_valid(const char *channel, const char *dest)
{
    size_t n = dest ? strlen(dest) : 0;
    if (!strcmp(channel, "sms")) {
        if (n < 8 || n > 16 || dest[0] != '+' || dest[1] < '1' || dest[1] > '9')
            return 0;
        for (size_t i = 1; i < n; i++)
            if (dest[i] < '0' || dest[i] > '9')
                return 0;
        return 1;
    }
    if (!strcmp(channel, "email")) {
        const char *at = n ? strchr(dest, '@') : NULL;
        if (!at || at == dest || !strchr(at, '.') || n > 254 || strchr(at + 1, '@'))
            return 0;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)dest[i] <= ' ' || dest[i] == '<' || dest[i] == '>' ||
                dest[i] == ',' || dest[i] == ';')
                return 0;
        return 1;
    }
    return 0;
}

/* The messenger identity a code can go to (telegram chat id / WhatsApp
 * phone, else its business-scoped user id). Caller holds mu. */
static int messenger_dest(idn *d, int64_t user_id, const char *channel, char *out, size_t cap)
{
    /* WhatsApp: the phone key ("p:...") first - authentication templates
     * need a phone; a user known only by the business-scoped id ("u:...")
     * gets codes as text messages. */
    sqlite3_stmt *st = idn_prep(d, "SELECT subject, display FROM identity_links WHERE user_id = ? "
                                   "AND provider = ? ORDER BY subject LIKE 'u:%', created_ms "
                                   "LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
    int rc = 1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *sub = (const char *)sqlite3_column_text(st, 0);
        if (!strcmp(channel, "whatsapp"))
            sub = !strncmp(sub, "p:", 2) || !strncmp(sub, "u:", 2) ? sub + 2 : NULL;
        if (sub) {
            snprintf(out, cap, "%s", sub);
            rc = 0;
        }
    }
    idn_done(d, st);
    return rc;
}

int idn_oob_enroll(idn *d, int64_t user_id, const char *channel, const char *dest,
                   const char **err_out)
{
    *err_out = "malformed";
    if (!channel_ok(channel))
        return -1;
    char to[256] = "";
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    if (!strcmp(channel, "telegram") || !strcmp(channel, "whatsapp")) {
        rc = messenger_dest(d, user_id, channel, to, sizeof to);
        if (rc)
            *err_out = "no_messenger_identity";
    } else if (!dest_valid(channel, dest)) {
        rc = 1;
        *err_out = "malformed";
    } else {
        snprintf(to, sizeof to, "%s", dest);
    }
    if (rc == 0) {
        sqlite3_stmt *st = idn_prep(
            d, "INSERT INTO identity_oob_methods(user_id, channel, pending_dest) VALUES(?,?,?)"
               " ON CONFLICT(user_id, channel) DO UPDATE SET pending_dest = excluded.pending_dest");
        rc = -1;
        if (st) {
            sqlite3_bind_int64(st, 1, user_id);
            sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            idn_done(d, st);
        }
    }
    pthread_mutex_unlock(&d->mu);
    if (rc != 0)
        return -1;
    return idn_oob_send(d, user_id, channel, "enroll", err_out);
}

int idn_oob_confirm(idn *d, int64_t user_id, const char *channel, const char *code, const char *ip,
                    cJSON **codes, idn_mfa_result *res, int *retry_after_s)
{
    *codes = NULL;
    *res = idn_mfa_verify_purpose(d, user_id, channel, "enroll", code, ip, retry_after_s);
    if (*res != IDN_MFA_OK)
        return 0;
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    int had = rc == 0 ? idn_mfa_methods(d, user_id) : -1;
    if (had >= 0) {
        sqlite3_stmt *st = idn_prep(d, "UPDATE identity_oob_methods SET dest = pending_dest, "
                                       "pending_dest = '', verified_ms = ? WHERE user_id = ? AND "
                                       "channel = ? AND pending_dest != ''");
        rc = -1;
        if (st) {
            sqlite3_bind_int64(st, 1, idn_now_ms());
            sqlite3_bind_int64(st, 2, user_id);
            sqlite3_bind_text(st, 3, channel, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            idn_done(d, st);
        }
        /* Verified contact details go to the profile too. */
        if (rc == 0 && (!strcmp(channel, "sms") || !strcmp(channel, "email"))) {
            st = idn_prep(d, !strcmp(channel, "sms")
                                 ? "UPDATE identity_users SET phone = (SELECT dest FROM "
                                   "identity_oob_methods WHERE user_id = ?1 AND channel = 'sms') "
                                   "WHERE id = ?1"
                                 : "UPDATE identity_users SET email = (SELECT dest FROM "
                                   "identity_oob_methods WHERE user_id = ?1 AND channel = "
                                   "'email') WHERE id = ?1");
            if (st) {
                sqlite3_bind_int64(st, 1, user_id);
                rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
                idn_done(d, st);
            }
        }
    }
    if (rc == 0 && had >= 0 && strcmp(channel, "email"))
        rc = idn_mfa_enabled(d, user_id, channel, had, codes);
    if (rc == 0 && had >= 0)
        rc = idn_commit(d);
    else {
        idn_rollback(d);
        cJSON_Delete(*codes);
        *codes = NULL;
        rc = -1;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}
