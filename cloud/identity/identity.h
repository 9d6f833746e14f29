/* identity.h - accounts, messenger sign-in, sessions, tokens and 2FA.
 *
 * One user, several messenger identities (telegram / whatsapp / wechat),
 * registered by the RegisterUser command (UserRegistered leaves through the
 * outbox in the same transaction). Signing in gives a session (a refresh
 * token family) with short-lived ES256 access JWTs and rotating refresh
 * tokens; presenting a used refresh token revokes the whole family. Second
 * factors: TOTP, one-time codes by SMS / Telegram / WhatsApp (e-mail only for
 * recovery), backup codes. See docs/identity.md.
 *
 * Tables (identity_*) live in the core's SQLite file; keys and secrets in
 * <data_dir>/identity/ (created 0700, files 0600):
 *   keys/<kid>.key   ES256 signing keys (hex scalar); the newest signs, all
 *                    verify and are published at /.well-known/jwks.json
 *   aead/<kid>.key   32-byte keys sealing TOTP secrets (XChaCha20-Poly1305)
 *   pepper.key       HMAC key for backup-code and one-time-code hashes
 *
 * Thread-safe: one idn serves all HTTP threads (one SQLite connection under a
 * mutex). Nothing here logs a secret.
 */
#ifndef FITGATE_IDENTITY_H
#define FITGATE_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "api_route.h"

typedef struct idn idn;
typedef struct notify_channels notify_channels;
typedef struct legacy legacy;

typedef struct idn_config {
    const char *db_path;  /* core.db */
    const char *data_dir; /* keys and secrets go to <data_dir>/identity/ */
    const char *issuer;   /* "iss" of our tokens, default "fitgate" */
    const char *bot_token;
    int64_t initdata_max_age_s; /* default 86400 */
    int64_t access_ttl_s;       /* default 300 */
    int64_t refresh_ttl_s;      /* default 30 days */
    int64_t key_rotate_s;       /* new signing key when the newest is older; default 30 days */
    /* WhatsApp Cloud API webhooks and sign-in */
    const char *wa_app_secret;   /* X-Hub-Signature-256 key; NULL disables the webhook */
    const char *wa_verify_token; /* GET handshake */
    const char *web_base_url;    /* where signed sign-in links point (e.g. https://app.example) */
    /* WeChat jscode2session */
    const char *wechat_base; /* default https://api.weixin.qq.com */
    const char *wechat_appid;
    const char *wechat_secret;
    notify_channels *channels; /* may be NULL: one-time codes cannot be sent */
    legacy *legacy;            /* may be NULL: legacy linking unavailable */
    int dev_mode;
} idn_config;

/* Open tables, load (or create) keys. Keeps channels and legacy (must
 * outlive it). 0 or -1 (logged). */
int idn_new(idn **out, const idn_config *cfg);
void idn_free(idn *d);

/* Register the HTTP routes (docs/identity.md) and set the api's
 * authenticator and Telegram user hook to ours. 0 or -1. */
int idn_attach(idn *d, api *a);

/* The authenticator (api_auth_fn): access JWT -> principal. User tokens
 * also need their session alive; internal/admin tokens carry aud
 * "fitgate-internal" / "fitgate-admin" and never pass as user tokens. */
int idn_authenticate(void *ctx, const char *token, api_principal *out);

/* Step-up: 1 when the caller proved a second factor in this session within
 * max_age_ms of now, else 0. Sensitive actions (linking the legacy account,
 * disabling 2FA, payments above a limit) answer 403
 * "second_factor_required" when it is 0. */
int idn_step_up_ok(const api_principal *p, int64_t now_ms, int64_t max_age_ms);
#define IDN_STEP_UP_MS (10LL * 60 * 1000)

/* How to reach a user (the notifier). Empty strings / 0 when unknown. */
typedef struct idn_contact {
    int64_t telegram_chat_id;
    char whatsapp_id[72]; /* wa_id (phone digits), else the business-scoped user id */
    char wechat_openid[136];
    char email[256];
    char phone[32]; /* E.164, verified for SMS codes */
    char lang[8];
    char name[128];
} idn_contact;
/* 0, or -1 when the user does not exist (or on an SQLite error). */
int idn_user_contact(idn *d, int64_t user_id, idn_contact *out);

/* notify_contact_fn for the notifier (notify.h): the same, in its shape. */
struct notify_contact;
int idn_notify_contact(void *ctx, int64_t user_id, struct notify_contact *out);

/* The legacy shop account linked to user_id: 0 and *legacy_id, or -1 when
 * none is linked. */
int idn_legacy_account(idn *d, int64_t user_id, int64_t *legacy_id);

/* A service token for internal endpoints (aud "fitgate-internal"), e.g. for
 * the notifier or tests. *out malloc'd. 0 or -1. */
int idn_issue_internal(idn *d, const char *subject, int64_t ttl_s, char **out);

/* The same for operators (aud "fitgate-admin", API_ADMIN routes). */
int idn_issue_admin(idn *d, const char *subject, int64_t ttl_s, char **out);

/* `fitgate-core identity rotate-keys | token SERVICE ...` (operators);
 * returns the process exit code. */
int idn_cli(int argc, char **argv);

/* Make a new signing key the current one (old keys keep verifying). 0 or -1. */
int idn_rotate_keys(idn *d);

/* `fitgate-core initdata verify ...` (support tool): prints the verdict as
 * JSON; returns the process exit code (0 valid, 1 invalid, 2 usage). */
int idn_cli_initdata(int argc, char **argv);

#endif
