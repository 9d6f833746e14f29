/* idn_int.h - the identity module's insides, shared by its .c files only. */
#ifndef FITGATE_IDN_INT_H
#define FITGATE_IDN_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "identity.h"
#include "otp.h"

#define IDN_KEYS_MAX      4
#define IDN_AUD_PUBLIC    "fitgate-api"
#define IDN_AUD_INTERNAL  "fitgate-internal"
#define IDN_AUD_ADMIN     "fitgate-admin"
#define IDN_TYP_ACCESS    "at+jwt"
#define IDN_TYP_LINK      "link+jwt"
#define IDN_TOKEN_BYTES   32                       /* refresh / mfa tokens: 256 random bits */
#define IDN_TOKEN_LEN     43                       /* base64url of 32 bytes */
#define IDN_REFRESH_MAX   (20 + 1 + IDN_TOKEN_LEN) /* "<session id>.<token>" */
#define IDN_MFA_TTL_MS    (5LL * 60 * 1000)
#define IDN_OOB_TTL_MS    (10LL * 60 * 1000)
#define IDN_OOB_ATTEMPTS  5   /* wrong guesses per code */
#define IDN_LOCKOUT_AFTER 100 /* consecutive second-factor failures (NIST) */
#define IDN_FREE_FAILURES 4   /* before delays start */
#define IDN_BACKUP_CODES  10

typedef struct idn_sign_key {
    char kid[48];
    int64_t created_s;
    uint8_t priv[CRYPTO_ES256_PRIV];
    uint8_t pub[CRYPTO_ES256_PUB];
} idn_sign_key;

typedef struct idn_aead_key {
    char kid[48];
    int64_t created_s;
    uint8_t key[CRYPTO_AEAD_KEY];
} idn_aead_key;

/* Per-address failure counts (a small open hash, decaying per minute). */
#define IDN_IP_SLOTS 1024
typedef struct idn_ip_slot {
    char ip[48];
    int64_t minute;
    int failures;
} idn_ip_slot;

/* Verified access tokens (the signature check costs ~1 ms): SHA-256 of the
 * token -> who it names, until it expires. Session liveness is still
 * checked on every request. */
#define IDN_AUTH_SLOTS 1024
typedef struct idn_auth_slot {
    uint8_t h[32];
    int64_t exp_s;
    api_scope scope;
    int64_t user_id, session_id;
    char subject[64];
} idn_auth_slot;

#define IDN_STMTS_MAX 160
typedef struct idn_stmt {
    const char *sql; /* the literal it was prepared from */
    sqlite3_stmt *st;
    int busy;
} idn_stmt;

struct idn {
    idn_config cfg; /* strings below are our copies */
    char *s_db, *s_dir, *s_iss, *s_bot, *s_wa_secret, *s_wa_verify, *s_web, *s_wx_base, *s_wx_appid,
        *s_wx_secret;
    char dir[1024]; /* <data_dir>/identity */
    sqlite3 *db;
    pthread_mutex_t mu; /* guards db and stmts */
    idn_stmt stmts[IDN_STMTS_MAX];
    size_t n_stmts;
    pthread_rwlock_t keys_mu;
    idn_sign_key keys[IDN_KEYS_MAX]; /* newest first */
    size_t n_keys;
    idn_aead_key aead[IDN_KEYS_MAX]; /* newest first */
    size_t n_aead;
    int64_t keys_scanned_s; /* last look at the key folders (atomic) */
    int64_t gc_ms;          /* last clean-up of expired rows (mu held) */
    int64_t gc_step_ms;     /* last trim of the sign-in tables (mu held) */
    uint8_t pepper[32];
    pthread_mutex_t ip_mu;
    idn_ip_slot ips[IDN_IP_SLOTS];
    pthread_mutex_t auth_mu;
    idn_auth_slot auth[IDN_AUTH_SLOTS];
    /* idn_ckpt.c: WAL checkpoints on their own thread and connection */
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    pthread_t ckpt_thread;
    sqlite3 *ckpt_db;
    int ckpt_stop, ckpt_running;
    int ckpt_asked; /* atomic: a round was asked for and has not run yet */
    /* idn_batch.c: sign-ins waiting for the next group commit */
    pthread_mutex_t batch_mu;
    pthread_cond_t batch_cv;
    struct idn_job *batch_head, **batch_tail;
    int batch_busy; /* a combiner is running a batch */
};

int64_t idn_now_ms(void);

/* ---- idn_db.c: SQLite ---- */
int idn_db_open(idn *d);
/* idn_ckpt.c: checkpoint the WAL on a thread of its own instead of inside
 * the commit that fills it (start after idn_db_open, stop before closing). */
int idn_ckpt_start(idn *d);
void idn_ckpt_stop(idn *d);
/* idn_batch.c: group commit. run(d, arg) executes inside a transaction
 * shared with other jobs, d->mu held, and returns 0 (done), 1 (answered
 * without writing, e.g. a replay) or -1 (failed: its writes must be undone).
 * It may run twice (after another job failed the batch) and so resets its
 * outputs first. idn_batch_run returns when the job is committed or failed,
 * with its return value. Takes d->mu; call it without. */
typedef int (*idn_job_fn)(idn *d, void *arg);
int idn_batch_run(idn *d, idn_job_fn run, void *arg);
/* Transactions on d->db; the caller holds d->mu. */
int idn_begin(idn *d);
int idn_commit(idn *d);
void idn_rollback(idn *d);
/* A prepared statement for sql, a string literal (cached per literal;
 * logged on failure). Give it back with idn_done(), never finalize it. */
sqlite3_stmt *idn_prep(idn *d, const char *sql);
void idn_done(idn *d, sqlite3_stmt *st);
void idn_stmts_free(idn *d);
/* Run a statement with up to 4 int64 params then finalize. 0 or -1. */
int idn_exec_i(idn *d, const char *sql, int n, int64_t a, int64_t b, int64_t c, int64_t e);
/* The first column of the first row of sql with one int64 param, or dflt
 * (no row, NULL, error). */
int64_t idn_scalar_i(idn *d, const char *sql, int64_t a, int64_t dflt);
/* Forget rows past their use (caller holds mu; inside or outside a
 * transaction): idn_gc_step trims the tables sign-ins grow by a bounded
 * step, idn_gc also the small tables (and takes a step). */
void idn_gc_step(idn *d);
void idn_gc(idn *d);
/* Audit log of security events (inside or outside a transaction). */
void idn_audit(idn *d, int64_t user_id, const char *event, const char *ip, const char *detail);
/* Count an event (fitgate_identity_events_total{event=...}); no database. */
void idn_count(const char *event);

/* Users and identities (caller holds d->mu, inside a transaction for writes). */
typedef struct idn_user {
    int64_t id;
    char name[128];
    char lang[8];
    char tz[64];
    int64_t birth_year, max_hr;
    char email[256], phone[32];
    int64_t created_ms;
} idn_user;
int idn_user_get(idn *d, int64_t user_id, idn_user *out); /* 0, 1 not found, -1 */
/* RegisterUser: the user behind (provider, subject), creating it (and
 * emitting UserRegistered) when new. *created = 1 then. Inside a transaction. */
int idn_register(idn *d, const char *provider, const char *subject, const char *name,
                 const char *lang, int64_t now_ms, int64_t *user_id, int *created);
/* The user of (provider, subject): 0, 1 none, -1. */
int idn_link_find(idn *d, const char *provider, const char *subject, int64_t *user_id);
/* Link (provider, subject) to user_id (inside a transaction): 0, 1 when it
 * belongs to another user, -1. Emits IdentityLinked when new. */
int idn_link_add(idn *d, int64_t user_id, const char *provider, const char *subject,
                 const char *display, int64_t now_ms);
/* Emit an event through the outbox (inside a transaction). */
int idn_emit(idn *d, int64_t user_id, const char *type, const char *id_suffix, cJSON *data);
cJSON *idn_user_json(idn *d, const idn_user *u, int full);

/* ---- idn_keys.c ---- */
int idn_keys_load(idn *d);
/* Sign claims as an access/link/internal token with the current key. */
int idn_sign(idn *d, const char *typ, cJSON *claims, char **out);
int idn_key_lookup(void *ctx, const char *kid, uint8_t pub[CRYPTO_ES256_PUB]);
cJSON *idn_jwks(idn *d);
/* Seal/open a TOTP secret bound to user_id; kid_out names the key used. */
int idn_seal(idn *d, int64_t user_id, const uint8_t *pt, size_t len, uint8_t *sealed,
             char kid_out[48]);
int idn_open_sealed(idn *d, int64_t user_id, const char *kid, const uint8_t *sealed,
                    size_t sealed_len, uint8_t *pt);
/* HMAC-SHA256(pepper, label || ':' || s) - stored form of codes. */
void idn_code_hash(idn *d, const char *label, const char *s, uint8_t out[32]);
/* n random bytes as base64url token text (IDN_TOKEN_LEN + 1 bytes). */
void idn_new_token(char out[IDN_TOKEN_LEN + 1]);

/* ---- idn_session.c ---- */
typedef struct idn_tokens {
    char *access;                      /* malloc'd JWT */
    char refresh[IDN_REFRESH_MAX + 1]; /* "<session id>.<IDN_TOKEN_LEN chars>" */
    int64_t access_exp_ms, refresh_exp_ms, session_id;
} idn_tokens;
void idn_tokens_free(idn_tokens *t);
/* New session for user_id (mfa_ms: when a second factor was proven, or 0):
 * rows and the refresh token; out->access stays NULL - the caller signs it
 * with idn_access_token() after leaving the lock. Caller holds d->mu inside
 * a transaction. */
int idn_session_create(idn *d, int64_t user_id, const char *method, int64_t mfa_ms, const char *ip,
                       const char *ua, idn_tokens *out);
/* Session is alive: fill auth_ms/mfa_ms and the user's language (lang may
 * be NULL). 0 alive, 1 revoked/expired, -1 error. Takes mu. */
int idn_session_state(idn *d, int64_t session_id, int64_t user_id, int64_t *auth_ms,
                      int64_t *mfa_ms, char lang[8]);
/* Rotate a refresh token: 0 new pair, 1 unknown/expired/revoked, 2 reuse
 * (family revoked), -1 error. Takes mu. */
int idn_refresh(idn *d, const char *refresh, const char *ip, idn_tokens *out, int64_t *user_out);
int idn_access_token(idn *d, int64_t user_id, int64_t session_id, int64_t auth_ms, idn_tokens *out);

/* ---- idn_mfa.c ---- */
/* Which second factors the user has: bit set. */
enum { IDN_MFA_TOTP = 1, IDN_MFA_SMS = 2, IDN_MFA_TELEGRAM = 4, IDN_MFA_WHATSAPP = 8 };
int idn_mfa_methods(idn *d, int64_t user_id); /* caller holds mu; -1 on error */
cJSON *idn_mfa_methods_json(int methods);
/* Outcome of a second-factor attempt. */
typedef enum idn_mfa_result {
    IDN_MFA_OK = 0,
    IDN_MFA_WRONG,   /* wrong, expired, used or replayed code */
    IDN_MFA_DELAYED, /* too many failures: wait *retry_after_s */
    IDN_MFA_LOCKED,  /* 100 consecutive failures */
    IDN_MFA_NOT_SET, /* the method is not enabled */
    IDN_MFA_ERROR,
} idn_mfa_result;
/* Check a code for method ("totp", "sms", "telegram", "whatsapp", "backup")
 * with throttling. Takes d->mu itself. */
idn_mfa_result idn_mfa_verify(idn *d, int64_t user_id, const char *method, const char *code,
                              const char *ip, int *retry_after_s);
idn_mfa_result idn_mfa_verify_purpose(idn *d, int64_t user_id, const char *method,
                                      const char *purpose, const char *code, const char *ip,
                                      int *retry_after_s);
/* New pending TOTP secret: 0 (uri malloc'd, secret in base32), 1 when TOTP
 * is already enabled, -1. Takes mu. */
int idn_totp_setup(idn *d, int64_t user_id, const char *account, char **uri,
                   char secret_b32[OTP_B32_MAX]);
/* Confirm the pending secret with a code; on success enables TOTP and (if
 * first factor) *codes = new backup codes. Returns 0 (check *res), -1. */
int idn_totp_confirm(idn *d, int64_t user_id, const char *code, const char *ip, cJSON **codes,
                     idn_mfa_result *res, int *retry_after_s);
cJSON *idn_backup_generate(idn *d, int64_t user_id); /* mu held, in a transaction */
int idn_backup_remaining(idn *d, int64_t user_id);   /* mu held */
int idn_mfa_enabled(idn *d, int64_t user_id, const char *method, int had_methods, cJSON **codes);
int idn_mfa_disable(idn *d, int64_t user_id, const char *method, const char *ip);
/* One-time code check (mu held, in a transaction): 1 ok (now used), 0 wrong
 * or expired or used, -1 no such method. */
int idn_oob_check(idn *d, int64_t user_id, const char *channel, const char *purpose,
                  const char *code);
/* Start enrolling channel with dest (phone / e-mail; telegram and whatsapp
 * use the linked identity): stores it unverified and sends a code. */
int idn_oob_enroll(idn *d, int64_t user_id, const char *channel, const char *dest,
                   const char **err_out);
/* Finish: verify the code; enables the channel (TwoFactorAuthEnabled unless
 * e-mail). */
int idn_oob_confirm(idn *d, int64_t user_id, const char *channel, const char *code, const char *ip,
                    cJSON **codes, idn_mfa_result *res, int *retry_after_s);
/* A uniformly random 6-digit one-time code (0 .. 999999). */
uint32_t idn_random_code(void);
/* Send a sign-in / step-up code by method. 0, -1; *status_out an api error
 * word on failure. Takes d->mu itself. */
int idn_oob_send(idn *d, int64_t user_id, const char *method, const char *purpose,
                 const char **err_out);
/* Per-address failure accounting (anonymous endpoints too). */
int idn_ip_blocked(idn *d, const char *ip);
void idn_ip_failure(idn *d, const char *ip);
/* Mark the session's second factor as proven now. Takes mu. */
int idn_session_mfa_now(idn *d, int64_t session_id);

/* ---- HTTP: idn_api*.c ---- */
extern const api_route idn_routes_session[];
extern const size_t idn_routes_session_n;
extern const api_route idn_routes_mfa[];
extern const size_t idn_routes_mfa_n;
extern const api_route idn_routes_msg[];
extern const size_t idn_routes_msg_n;
/* idn_recovery.c: account recovery by e-mail (docs/identity.md). */
extern const api_route idn_routes_recovery[];
extern const size_t idn_routes_recovery_n;
#define IDN_RECOVERY_COOLDOWN_MS (24LL * 3600 * 1000) /* one recovery per account a day */
/* ms until an account last recovered at last_ms may recover again (0: now). */
int64_t idn_recovery_wait_ms(int64_t last_ms, int64_t now_ms);
/* "vera@example.org" -> "v***@example.org" (the address a code went to). */
void idn_mask_email(const char *email, char *out, size_t cap);
/* Answer a fresh session (or an mfa challenge) for user_id after a
 * first-factor sign-in by method. Takes d->mu. */
int idn_reply_signed_in(idn *d, api_req *rq, int64_t user_id, const char *method, int created);
int idn_reply_mfa_error(api_req *rq, idn_mfa_result r, int retry_after_s);

/* QR code of text as an SVG document (malloc'd) or NULL. */
char *idn_qr_svg(const char *text);

#endif
