/* identity.h - users, sessions and used init data (the api's own tables).
 *
 * Tables live in the core's SQLite file beside the store's; only this module
 * touches them. One connection per ident handle, guarded by a mutex, so one
 * handle may be shared by all HTTP threads.
 *
 * Session tokens are 32 random bytes, base64url (43 chars). Only their SHA-256
 * is stored: a copy of the database does not let anyone sign in.
 */
#ifndef FITGATE_API_IDENTITY_H
#define FITGATE_API_IDENTITY_H

#include <stdint.h>

#include "tg_initdata.h"

#define IDENT_TOKEN_LEN  43                   /* base64url of 32 bytes */
#define IDENT_SESSION_MS (12LL * 3600 * 1000) /* session lifetime */

typedef struct ident ident;

typedef enum ident_status {
    IDENT_OK = 0,
    IDENT_ERR_IO,       /* SQLite error (logged) */
    IDENT_ERR_NOTFOUND, /* no such session (or expired) */
    IDENT_ERR_REPLAY,   /* this init data was already exchanged */
} ident_status;

typedef struct ident_user {
    int64_t id; /* our user id (store_bind_device, store_user_readings) */
    int64_t tg_id;
    char first_name[TG_NAME_MAX + 1];
    char username[TG_USERNAME_MAX + 1];
} ident_user;

/* Open (and create) the tables in the SQLite file at path. 0 or -1 (logged). */
int ident_open(ident **out, const char *path);
void ident_close(ident *id);

/* Create the user with this Telegram id, or refresh its names. */
ident_status ident_upsert_user(ident *id, int64_t tg_id, const char *first_name,
                               const char *username, int64_t now_ms, ident_user *out);

/* Exchange verified init data for a session, in one transaction: remember
 * mac (tg_auth.hash) until used_until_ms and fail with IDENT_ERR_REPLAY if it
 * is already remembered; upsert the user; create the session. token receives
 * the NUL-terminated session token, *expires_ms its expiry. */
ident_status ident_sign_in(ident *id, const uint8_t mac[32], int64_t used_until_ms,
                           const tg_user *tg, int64_t now_ms, char token[IDENT_TOKEN_LEN + 1],
                           ident_user *user, int64_t *expires_ms);

/* The user of a live session token; IDENT_ERR_NOTFOUND if unknown/expired. */
ident_status ident_session_user(ident *id, const char *token, int64_t now_ms, ident_user *out);

/* The user with our id user_id; IDENT_ERR_NOTFOUND if none. */
ident_status ident_user_by_id(ident *id, int64_t user_id, ident_user *out);

#endif
