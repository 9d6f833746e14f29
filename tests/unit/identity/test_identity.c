/* test_identity.c - the identity module below HTTP: RegisterUser with its
 * event in the same transaction, the authenticator (user / internal scopes,
 * revoked sessions), refresh rotation and family revocation, key rotation,
 * TOTP sealed at rest and each step once, backup codes, delays and lockout,
 * step-up, contacts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "idn_int.h"
#include "notify.h"
#include "otp.h"

static char dir[] = "/tmp/fitgate-idn-unit-XXXXXX";
static char db_path[256];
static idn *d;

static int setup(void **s)
{
    (void)s;
    if (!mkdtemp(dir))
        return -1;
    snprintf(db_path, sizeof db_path, "%s/core.db", dir);
    idn_config c = {.db_path = db_path, .data_dir = dir, .bot_token = "1:x"};
    return idn_new(&d, &c);
}

static int teardown(void **s)
{
    (void)s;
    idn_free(d);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int64_t count(const char *sql, int64_t arg)
{
    sqlite3_stmt *st = idn_prep(d, sql);
    assert_non_null(st);
    sqlite3_bind_int64(st, 1, arg);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    idn_done(d, st);
    return n;
}

static int64_t new_user(const char *sub)
{
    int64_t uid = 0;
    int created = 0;
    assert_int_equal(idn_begin(d), 0);
    assert_int_equal(idn_register(d, "telegram", sub, "Ann", "ru", idn_now_ms(), &uid, &created),
                     0);
    assert_int_equal(idn_commit(d), 0);
    assert_int_equal(created, 1);
    return uid;
}

static void test_register_emits_in_same_transaction(void **s)
{
    (void)s;
    int64_t before = count("SELECT count(*) FROM outbox WHERE ?1 = ?1", 0);
    int64_t uid = 0;
    int created = 0;
    /* Rolled back: neither the user nor the event exists. */
    assert_int_equal(idn_begin(d), 0);
    assert_int_equal(idn_register(d, "telegram", "9001", "X", "", idn_now_ms(), &uid, &created), 0);
    idn_rollback(d);
    assert_int_equal(count("SELECT count(*) FROM identity_users WHERE id = ?", uid), 0);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE ?1 = ?1", 0), before);
    uid = new_user("9001");
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE ?1 = ?1", 0), before + 1);
    /* Registering the same identity again finds the user, no new event. */
    int64_t again = 0;
    assert_int_equal(idn_begin(d), 0);
    assert_int_equal(idn_register(d, "telegram", "9001", "X", "", idn_now_ms(), &again, &created),
                     0);
    assert_int_equal(idn_commit(d), 0);
    assert_int_equal(created, 0);
    assert_int_equal(again, uid);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE ?1 = ?1", 0), before + 1);
    /* The same identity cannot be linked to a second user. */
    int64_t other = new_user("9002");
    assert_int_equal(idn_begin(d), 0);
    assert_int_equal(idn_link_add(d, other, "telegram", "9001", "", idn_now_ms()), 1);
    assert_int_equal(idn_link_add(d, other, "whatsapp", "p:491700", "", idn_now_ms()), 0);
    assert_int_equal(idn_commit(d), 0);
    idn_contact c;
    assert_int_equal(idn_user_contact(d, other, &c), 0);
    assert_int_equal(c.telegram_chat_id, 9002);
    assert_string_equal(c.whatsapp_id, "491700");
    assert_string_equal(c.lang, "ru");
    notify_contact nc;
    assert_int_equal(idn_notify_contact(d, uid, (struct notify_contact *)&nc), 0);
    assert_int_equal(nc.telegram_chat_id, 9001);
    assert_int_equal(idn_user_contact(d, 999999, &c), -1);
    int64_t lid;
    assert_int_equal(idn_legacy_account(d, uid, &lid), -1);
}

static void new_session(int64_t uid, idn_tokens *t)
{
    assert_int_equal(idn_begin(d), 0);
    assert_int_equal(idn_session_create(d, uid, "telegram", 0, "127.0.0.1", "ua", t), 0);
    assert_int_equal(idn_commit(d), 0);
    assert_null(t->access);
    assert_int_equal(idn_access_token(d, uid, t->session_id, idn_now_ms(), t), 0);
}

static void test_authenticate_and_refresh_family(void **s)
{
    (void)s;
    int64_t uid = new_user("9100");
    idn_tokens t, t2, t3;
    new_session(uid, &t);
    api_principal p;
    assert_int_equal(idn_authenticate(d, t.access, &p), 0);
    assert_int_equal(p.scope, API_SCOPE_USER);
    assert_int_equal(p.user_id, uid);
    assert_int_equal(p.session_id, t.session_id);
    assert_string_equal(p.lang, "ru");
    assert_int_equal(p.mfa_ms, 0);
    assert_int_equal(idn_step_up_ok(&p, idn_now_ms(), IDN_STEP_UP_MS), 0);
    /* The refresh token is not an access token. */
    assert_int_equal(idn_authenticate(d, t.refresh, &p), -1);
    int64_t who = 0;
    assert_int_equal(idn_refresh(d, t.refresh, "ip", &t2, &who), 0);
    assert_int_equal(who, uid);
    assert_string_not_equal(t2.refresh, t.refresh);
    assert_int_equal(idn_authenticate(d, t2.access, &p), 0);
    /* Reuse: the family is revoked, even the newest tokens. */
    assert_int_equal(idn_refresh(d, t.refresh, "ip", &t3, &who), 2);
    assert_int_equal(idn_authenticate(d, t2.access, &p), -1);
    assert_int_equal(idn_refresh(d, t2.refresh, "ip", &t3, &who), 1);
    assert_int_equal(idn_refresh(d, "short", "ip", &t3, &who), 1);
    /* Another session's id in front of a valid random part is no token;
     * an unknown random part for a live session is invalid, not reuse. */
    char forged[IDN_REFRESH_MAX + 1];
    snprintf(forged, sizeof forged, "%lld%s", (long long)t.session_id + 1000,
             strchr(t2.refresh, '.'));
    assert_int_equal(idn_refresh(d, forged, "ip", &t3, &who), 1);
    idn_tokens t4, t5;
    new_session(uid, &t4);
    snprintf(forged, sizeof forged, "%lld.%043d", (long long)t4.session_id, 7);
    assert_int_equal(idn_refresh(d, forged, "ip", &t5, &who), 1);
    assert_int_equal(idn_refresh(d, t4.refresh, "ip", &t5, &who), 0); /* still alive */
    idn_tokens_free(&t4);
    idn_tokens_free(&t5);
    assert_int_equal(count("SELECT count(*) FROM identity_audit WHERE user_id = ? AND event = "
                           "'refresh_reuse'",
                           uid),
                     1);
    idn_tokens_free(&t);
    idn_tokens_free(&t2);
    /* Internal tokens are another audience: never a user. */
    char *it = NULL;
    assert_int_equal(idn_issue_internal(d, "notifier", 60, &it), 0);
    assert_int_equal(idn_authenticate(d, it, &p), 0);
    assert_int_equal(p.scope, API_SCOPE_INTERNAL);
    assert_string_equal(p.subject, "notifier");
    assert_int_equal(p.user_id, 0);
    free(it);
}

static void test_key_rotation(void **s)
{
    (void)s;
    int64_t uid = new_user("9200");
    idn_tokens t, t2;
    new_session(uid, &t);
    char old_kid[48];
    snprintf(old_kid, sizeof old_kid, "%s", d->keys[0].kid);
    assert_int_equal(idn_rotate_keys(d), 0);
    assert_string_not_equal(d->keys[0].kid, old_kid);
    api_principal p;
    assert_int_equal(idn_authenticate(d, t.access, &p), 0); /* old key still verifies */
    int64_t who;
    assert_int_equal(idn_refresh(d, t.refresh, NULL, &t2, &who), 0);
    assert_non_null(strstr(t2.access, ".")); /* signed with the new key */
    cJSON *jwks = idn_jwks(d);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(jwks, "keys")) >= 2);
    cJSON_Delete(jwks);
    idn_tokens_free(&t);
    idn_tokens_free(&t2);
}

static void test_totp_sealed_replay_backup(void **s)
{
    (void)s;
    int64_t uid = new_user("9300");
    char *uri = NULL, secret[OTP_B32_MAX];
    assert_int_equal(idn_totp_setup(d, uid, "ann", &uri, secret), 0);
    assert_non_null(strstr(uri, secret));
    free(uri);
    uint8_t key[64];
    size_t kl = 0;
    assert_int_equal(otp_b32_decode(secret, key, sizeof key, &kl), 0);
    assert_int_equal(kl, OTP_SECRET_LEN);
    /* At rest: sealed, bound to the user (moving it to another user fails). */
    sqlite3_stmt *st = idn_prep(d, "SELECT sealed, key_id FROM identity_totp WHERE user_id = ?");
    sqlite3_bind_int64(st, 1, uid);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const uint8_t *sealed = sqlite3_column_blob(st, 0);
    int n = sqlite3_column_bytes(st, 0);
    assert_null(memmem(sealed, (size_t)n, key, kl));
    uint8_t out[OTP_SECRET_LEN];
    const char *kid = (const char *)sqlite3_column_text(st, 1);
    assert_int_equal(idn_open_sealed(d, uid, kid, sealed, (size_t)n, out), 0);
    assert_memory_equal(out, key, kl);
    assert_int_equal(idn_open_sealed(d, uid + 1, kid, sealed, (size_t)n, out), -1);
    idn_done(d, st);

    /* Not enabled until confirmed: sign-in does not ask for it. */
    pthread_mutex_lock(&d->mu);
    assert_int_equal(idn_mfa_methods(d, uid), 0);
    pthread_mutex_unlock(&d->mu);
    uint32_t c;
    char code[8];
    int64_t now = idn_now_ms() / 1000;
    otp_totp(CRYPTO_MD_SHA1, key, kl, now, 30, 6, &c);
    otp_format(c, 6, code);
    cJSON *codes = NULL;
    idn_mfa_result r;
    int retry;
    assert_int_equal(idn_totp_confirm(d, uid, code, "ip", &codes, &r, &retry), 0);
    assert_int_equal(r, IDN_MFA_OK);
    assert_int_equal(cJSON_GetArraySize(codes), IDN_BACKUP_CODES);
    /* Each step once. */
    assert_int_equal(idn_mfa_verify(d, uid, "totp", code, "ip", &retry), IDN_MFA_WRONG);
    otp_totp(CRYPTO_MD_SHA1, key, kl, now + 30, 30, 6, &c);
    otp_format(c, 6, code);
    assert_int_equal(idn_mfa_verify(d, uid, "totp", code, "ip", &retry), IDN_MFA_OK);
    /* Backup codes: once, any case, dashes optional. */
    const char *b0 = cJSON_GetArrayItem(codes, 0)->valuestring;
    char lower[32];
    size_t j = 0;
    for (const char *q = b0; *q; q++)
        if (*q != '-')
            lower[j++] = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
    lower[j] = '\0';
    assert_int_equal(idn_mfa_verify(d, uid, "backup", lower, "ip", &retry), IDN_MFA_OK);
    assert_int_equal(idn_mfa_verify(d, uid, "backup", b0, "ip", &retry), IDN_MFA_WRONG);
    pthread_mutex_lock(&d->mu);
    assert_int_equal(idn_backup_remaining(d, uid), IDN_BACKUP_CODES - 1);
    assert_int_equal(idn_mfa_methods(d, uid), IDN_MFA_TOTP);
    pthread_mutex_unlock(&d->mu);
    /* A method the user does not have. */
    assert_int_equal(idn_mfa_verify(d, uid, "sms", "123456", "ip", &retry), IDN_MFA_NOT_SET);
    assert_int_equal(idn_mfa_verify(d, uid, "email", "123456", "ip", &retry), IDN_MFA_NOT_SET);
    /* Throttling: the earlier wrong tries count; delays grow, then lockout. */
    idn_exec_i(d, "DELETE FROM identity_throttle WHERE user_id = ?", 1, uid, 0, 0, 0);
    int wrong = 0;
    idn_mfa_result last = IDN_MFA_WRONG;
    for (int i = 0; i < 10 && last == IDN_MFA_WRONG; i++, wrong++)
        last = idn_mfa_verify(d, uid, "totp", "000000", "10.0.0.1", &retry);
    assert_int_equal(last, IDN_MFA_DELAYED);
    assert_int_equal(wrong, IDN_FREE_FAILURES + 1);
    assert_true(retry >= 1);
    idn_exec_i(d, "UPDATE identity_throttle SET failures = 98, next_ms = 0 WHERE user_id = ?", 1,
               uid, 0, 0, 0);
    assert_int_equal(idn_mfa_verify(d, uid, "totp", "000000", "10.0.0.2", &retry), IDN_MFA_WRONG);
    idn_exec_i(d, "UPDATE identity_throttle SET next_ms = 0 WHERE user_id = ?", 1, uid, 0, 0, 0);
    assert_int_equal(idn_mfa_verify(d, uid, "totp", "000000", "10.0.0.3", &retry), IDN_MFA_LOCKED);
    /* Locked: even a right code is refused. */
    assert_int_equal(idn_mfa_verify(d, uid, "backup", cJSON_GetArrayItem(codes, 1)->valuestring,
                                    "10.0.0.4", &retry),
                     IDN_MFA_LOCKED);
    cJSON_Delete(codes);
    /* Disabling the last factor drops the backup codes. */
    assert_int_equal(idn_mfa_disable(d, uid, "all", "ip"), 0);
    pthread_mutex_lock(&d->mu);
    assert_int_equal(idn_mfa_methods(d, uid), 0);
    assert_int_equal(idn_backup_remaining(d, uid), 0);
    pthread_mutex_unlock(&d->mu);
}

static void test_per_address_limit(void **s)
{
    (void)s;
    assert_int_equal(idn_ip_blocked(d, "192.0.2.9"), 0);
    for (int i = 0; i < 49; i++)
        idn_ip_failure(d, "192.0.2.9");
    assert_int_equal(idn_ip_blocked(d, "192.0.2.9"), 0);
    idn_ip_failure(d, "192.0.2.9");
    assert_int_equal(idn_ip_blocked(d, "192.0.2.9"), 1);
    assert_int_equal(idn_ip_blocked(d, "192.0.2.10"), 0);
    int retry = 0;
    assert_int_equal(idn_mfa_verify(d, 1, "totp", "123456", "192.0.2.9", &retry), IDN_MFA_DELAYED);
}

static void test_gc(void **s)
{
    (void)s;
    int64_t now = idn_now_ms();
    idn_exec_i(d,
               "INSERT INTO identity_oob_codes(user_id, channel, dest, purpose, hash, created_ms,"
               " expires_ms) VALUES(?1, 'sms', 'x', 'auth', x'00', ?2, ?3)",
               3, 77, now - 3 * 86400000LL, now - 2 * 86400000LL, 0);
    idn_exec_i(d,
               "INSERT INTO identity_oob_codes(user_id, channel, dest, purpose, hash, created_ms,"
               " expires_ms) VALUES(?1, 'sms', 'x', 'auth', x'00', ?2, ?3)",
               3, 77, now, now + 600000, 0);
    idn_exec_i(d, "INSERT INTO identity_audit(user_id, ts_ms, event) VALUES(?1, ?2, 'old')", 2, 77,
               now - 400 * 86400000LL, 0, 0);
    assert_int_equal(count("SELECT count(*) FROM identity_oob_codes WHERE user_id = ?", 77), 2);
    idn_gc(d);
    assert_int_equal(count("SELECT count(*) FROM identity_oob_codes WHERE user_id = ?", 77), 1);
    assert_int_equal(count("SELECT count(*) FROM identity_audit WHERE user_id = ?", 77), 0);
    /* Live sessions stay. */
    assert_true(count("SELECT count(*) FROM identity_sessions WHERE ?1 = ?1", 0) > 0);
}

/* The tables sign-ins grow are trimmed from their oldest end: expired init
 * data, sessions a day past their end with their used refresh tokens. */
/* The checkpoint thread copies the WAL back into the database file: after a
 * few thousand pages of commits the file itself has grown. (A thread whose
 * connection never learnt the file was in WAL mode checkpointed nothing and
 * the file stayed at its first size while the WAL grew.) */
static void test_wal_checkpointed_in_background(void **s)
{
    (void)s;
    struct stat before, after;
    assert_int_equal(stat(db_path, &before), 0);
    pthread_mutex_lock(&d->mu);
    assert_int_equal(
        sqlite3_exec(d->db, "CREATE TABLE IF NOT EXISTS ckpt_fill(v BLOB)", NULL, NULL, NULL),
        SQLITE_OK);
    for (int i = 0; i < 1500; i++) /* one commit of a fresh page each: > 1000 WAL pages */
        assert_int_equal(
            sqlite3_exec(d->db, "INSERT INTO ckpt_fill VALUES(randomblob(3000))", NULL, NULL, NULL),
            SQLITE_OK);
    pthread_mutex_unlock(&d->mu);
    int grown = 0;
    for (int i = 0; i < 100 && !grown; i++) { /* up to 5 s */
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        assert_int_equal(stat(db_path, &after), 0);
        grown = after.st_size >= before.st_size + 1000 * 4096;
    }
    assert_true(grown);
}

static void test_gc_trims_sign_in_tables(void **s)
{
    (void)s;
    int64_t now = idn_now_ms(), old = now - 3 * 86400000LL;
    idn_exec_i(d, "DELETE FROM identity_sessions WHERE ?1 = ?1", 1, 0, 0, 0, 0);
    idn_exec_i(d, "DELETE FROM identity_initdata_used WHERE ?1 = ?1", 1, 0, 0, 0, 0);
    for (int i = 0; i < 3; i++) /* two expired, one live, in time order */
        idn_exec_i(d, "INSERT INTO identity_initdata_used(mac, until_ms) VALUES(randomblob(32), ?)",
                   1, i < 2 ? now - 1000 : now + 60000, 0, 0, 0);
    idn_exec_i(d,
               "INSERT INTO identity_sessions(id, user_id, method, created_ms, last_ms, expires_ms)"
               " VALUES(?1, 1, 'telegram', ?2, ?2, ?2)",
               2, 500, old, 0, 0);
    idn_exec_i(d,
               "INSERT INTO identity_sessions(id, user_id, method, created_ms, last_ms, expires_ms)"
               " VALUES(?1, 1, 'telegram', ?2, ?2, ?2 + 86400000 * 30)",
               2, 501, now, 0, 0);
    for (int64_t sid = 500; sid <= 501; sid++)
        idn_exec_i(d,
                   "INSERT INTO identity_refresh_used(session_id, hash, used_ms) VALUES(?1, "
                   "randomblob(32), ?2)",
                   2, sid, now, 0, 0);
    idn_gc_step(d);
    assert_int_equal(count("SELECT count(*) FROM identity_initdata_used WHERE until_ms > ?", now),
                     1);
    assert_int_equal(count("SELECT count(*) FROM identity_initdata_used WHERE ?1 = ?1", 0), 1);
    assert_int_equal(count("SELECT count(*) FROM identity_sessions WHERE id >= ?", 500), 1);
    assert_int_equal(count("SELECT count(*) FROM identity_refresh_used WHERE session_id = ?", 500),
                     0);
    assert_int_equal(count("SELECT count(*) FROM identity_refresh_used WHERE session_id = ?", 501),
                     1);
}

static void test_step_up(void **s)
{
    (void)s;
    api_principal p = {.scope = API_SCOPE_USER, .user_id = 1, .mfa_ms = 1000000};
    assert_int_equal(idn_step_up_ok(&p, 1000000 + IDN_STEP_UP_MS, IDN_STEP_UP_MS), 1);
    assert_int_equal(idn_step_up_ok(&p, 1000001 + IDN_STEP_UP_MS, IDN_STEP_UP_MS), 0);
    p.mfa_ms = 0;
    assert_int_equal(idn_step_up_ok(&p, 1000, IDN_STEP_UP_MS), 0);
    p.mfa_ms = 1000;
    p.scope = API_SCOPE_INTERNAL;
    assert_int_equal(idn_step_up_ok(&p, 1000, IDN_STEP_UP_MS), 0);
    assert_int_equal(idn_step_up_ok(NULL, 1000, IDN_STEP_UP_MS), 0);
}

static void test_recovery_rules(void **s)
{
    (void)s;
    /* One recovery per account a day. */
    int64_t day = IDN_RECOVERY_COOLDOWN_MS;
    assert_int_equal(idn_recovery_wait_ms(0, 5000), 0);
    assert_int_equal(idn_recovery_wait_ms(1000, 1000 + day), 0);
    assert_int_equal(idn_recovery_wait_ms(1000, 1000 + day - 1), 1);
    assert_int_equal(idn_recovery_wait_ms(1000, 1000), day);
    char m[64];
    idn_mask_email("vera@example.org", m, sizeof m);
    assert_string_equal(m, "v***@example.org");
    idn_mask_email("@x", m, sizeof m);
    assert_string_equal(m, "***");
    idn_mask_email(NULL, m, sizeof m);
    assert_string_equal(m, "***");

    /* A recovery code is its own purpose: only by e-mail, only to a
     * verified address, never accepted as a sign-in code, once. */
    int64_t uid = new_user("recovery-1");
    char label[96], code[] = "424242";
    uint8_t h[32];
    snprintf(label, sizeof label, "oob|%lld|email|recovery", (long long)uid);
    idn_code_hash(d, label, code, h);
    sqlite3_stmt *st = idn_prep(d, "INSERT INTO identity_oob_codes(user_id, channel, dest, "
                                   "purpose, hash, created_ms, expires_ms) VALUES(?, 'email', "
                                   "'a@b.c', 'recovery', ?, ?, ?)");
    assert_non_null(st);
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, h, sizeof h, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, idn_now_ms());
    sqlite3_bind_int64(st, 4, idn_now_ms() + IDN_OOB_TTL_MS);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    idn_done(d, st);
    assert_int_equal(idn_exec_i(d,
                                "INSERT INTO identity_oob_methods(user_id, channel, pending_dest) "
                                "VALUES(?, 'email', 'a@b.c')",
                                1, uid, 0, 0, 0),
                     0);
    assert_int_equal(idn_oob_check(d, uid, "email", "recovery", code), -1); /* unverified */
    assert_int_equal(idn_exec_i(d,
                                "UPDATE identity_oob_methods SET dest = 'a@b.c', verified_ms = 1 "
                                "WHERE user_id = ?",
                                1, uid, 0, 0, 0),
                     0);
    assert_int_equal(idn_oob_check(d, uid, "email", "auth", code), -1);   /* not a factor */
    assert_int_equal(idn_oob_check(d, uid, "sms", "recovery", code), -1); /* e-mail only */
    assert_int_equal(idn_oob_check(d, uid, "email", "recovery", "424243"), 0);
    assert_int_equal(idn_oob_check(d, uid, "email", "recovery", code), 1);
    assert_int_equal(idn_oob_check(d, uid, "email", "recovery", code), 0); /* once */
}

static void test_qr_svg(void **s)
{
    (void)s;
    char *svg = idn_qr_svg("otpauth://totp/fitgate:ann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_non_null(svg);
    assert_true(strncmp(svg, "<svg", 4) == 0);
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
}

/* ---- group commit (idn_batch.c): jobs from many threads share
 * transactions, each is committed exactly once, a failing job takes no
 * other with it, more jobs than a batch holds all finish ---- */

typedef struct job {
    int64_t v;   /* the row it writes */
    int fail;    /* write, then fail */
    int hold_ms; /* sleep inside the transaction (lets others queue) */
    int runs;    /* how often run was called */
    pthread_t ran_on, owner;
    int rc;
} job;

static int job_run(idn *dd, void *arg)
{
    job *j = arg;
    j->runs++;
    j->ran_on = pthread_self();
    if (j->hold_ms) {
        struct timespec ts = {0, j->hold_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (idn_exec_i(dd, "INSERT INTO t(v) VALUES(?)", 1, j->v, 0, 0, 0) < 0)
        return -1;
    return j->fail ? -1 : j->v < 0 ? 1 : 0;
}

static void *job_thread(void *arg)
{
    job *j = arg;
    j->owner = pthread_self();
    j->rc = idn_batch_run(d, job_run, j);
    return NULL;
}

static int64_t rows(const char *where)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM t WHERE %s", where);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(d->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void number_jobs(job *jobs, size_t n, int64_t first)
{
    memset(jobs, 0, n * sizeof *jobs);
    for (size_t i = 0; i < n; i++)
        jobs[i].v = first + (int64_t)i;
}

/* Starts gate (holding the write path for hold_ms), then the others, which
 * queue behind it and so end up in batches with each other. */
static void run_behind_gate(job *gate, job *jobs, size_t n)
{
    assert_int_equal(sqlite3_exec(d->db, "CREATE TABLE IF NOT EXISTS t(v INTEGER PRIMARY KEY)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    pthread_t gt, *th = calloc(n, sizeof *th);
    assert_non_null(th);
    assert_int_equal(pthread_create(&gt, NULL, job_thread, gate), 0);
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL); /* the gate is inside its transaction now */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_create(&th[i], NULL, job_thread, &jobs[i]), 0);
    pthread_join(gt, NULL);
    for (size_t i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    free(th);
}

static void test_jobs_share_a_commit(void **s)
{
    (void)s;
    job gate = {.v = 1000, .hold_ms = 150};
    job jobs[8];
    number_jobs(jobs, 8, 1001);
    run_behind_gate(&gate, jobs, 8);
    assert_int_equal(gate.rc, 0);
    int foreign = 0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(jobs[i].rc, 0);
        assert_int_equal(jobs[i].runs, 1);
        foreign += !pthread_equal(jobs[i].ran_on, jobs[i].owner);
    }
    /* They queued while the gate held the lock: one combiner ran them all,
     * so at least seven ran on a thread other than their own. */
    assert_true(foreign >= 7);
    assert_int_equal(rows("v BETWEEN 1000 AND 1008"), 9);
}

static void test_failing_job_takes_no_other_with_it(void **s)
{
    (void)s;
    job gate = {.v = 2000, .hold_ms = 150};
    job jobs[5];
    number_jobs(jobs, 5, 2001);
    jobs[2].fail = 1;  /* writes its row, then fails */
    jobs[3].v = -2004; /* answers 1, like a replay: not a failure */
    run_behind_gate(&gate, jobs, 5);
    for (int i = 0; i < 5; i++) {
        if (i == 2)
            assert_int_equal(jobs[i].rc, -1);
        else
            assert_int_equal(jobs[i].rc, i == 3 ? 1 : 0);
    }
    /* The failed job's row is gone; every other row is there exactly once,
     * although the jobs of the failed batch ran twice. */
    assert_int_equal(rows("v = 2003"), 0);
    assert_int_equal(rows("v IN (2001, 2002, 2005, -2004)"), 4);
    int reruns = 0;
    for (int i = 0; i < 5; i++)
        reruns += jobs[i].runs == 2;
    assert_true(reruns >= 2);
}

static void test_more_jobs_than_a_batch(void **s)
{
    (void)s;
    enum { N = 150 }; /* over two batches' worth queued at once */
    job gate = {.v = 3000, .hold_ms = 300};
    job *jobs = calloc(N, sizeof *jobs);
    assert_non_null(jobs);
    number_jobs(jobs, N, 3001);
    run_behind_gate(&gate, jobs, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].rc, 0);
        assert_int_equal(jobs[i].runs, 1);
    }
    assert_int_equal(rows("v BETWEEN 3000 AND 3150"), N + 1);
    free(jobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_emits_in_same_transaction),
        cmocka_unit_test(test_authenticate_and_refresh_family),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_totp_sealed_replay_backup),
        cmocka_unit_test(test_per_address_limit),
        cmocka_unit_test(test_gc),
        cmocka_unit_test(test_gc_trims_sign_in_tables),
        cmocka_unit_test(test_wal_checkpointed_in_background),
        cmocka_unit_test(test_step_up),
        cmocka_unit_test(test_recovery_rules),
        cmocka_unit_test(test_qr_svg),
        cmocka_unit_test(test_jobs_share_a_commit),
        cmocka_unit_test(test_failing_job_takes_no_other_with_it),
        cmocka_unit_test(test_more_jobs_than_a_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
