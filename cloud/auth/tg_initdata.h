/* tg_initdata.h - Telegram sign-in: Mini App init data and the Login Widget.
 *
 * Init data is what Telegram hands a mini app at launch: an
 * application/x-www-form-urlencoded string signed by Telegram
 *
 *   query_id=...&user=%7B%22id%22%3A...%7D&auth_date=1733509682&signature=...&hash=<hex>
 *
 * First-party check (we hold the bot token):
 *   secret = HMAC-SHA256(key = "WebAppData", msg = bot_token)
 *   hash   = hex(HMAC-SHA256(key = secret, msg = data_check_string))
 * where data_check_string is every received field except `hash` (`signature`
 * stays in), decoded, as key=value, sorted by key, joined by '\n'. Values are
 * used exactly as received (the `user` JSON is never re-serialised).
 *
 * Third-party check (no token): Ed25519 over "<bot_id>:WebAppData\n" + the
 * same pairs without `hash` and `signature`, with Telegram's public key.
 *
 * Init data is a bearer credential until it expires: callers exchange it once
 * for their own session (tg_auth.hash identifies it canonically: two spellings
 * of the same data - reordered fields, other %-escapes - give the same hash).
 *
 * Pure: no I/O, no logging, no globals besides constants. Thread-safe after
 * crypto_init().
 */
#ifndef FITGATE_TG_INITDATA_H
#define FITGATE_TG_INITDATA_H

#include <stddef.h>
#include <stdint.h>

#define TG_INITDATA_MAX  4096 /* bytes of encoded input */
#define TG_FIELDS_MAX    64
#define TG_KEY_MAX       64  /* bytes of a decoded key */
#define TG_FUTURE_SKEW_S 60  /* auth_date may be this far ahead of our clock */
#define TG_NAME_MAX      256 /* bytes of first_name (UTF-8) */
#define TG_USERNAME_MAX  64

typedef enum tg_status {
    TG_OK = 0,
    TG_ERR_SYNTAX,    /* not form-urlencoded: bad %-escape, empty pair, bad key, control byte */
    TG_ERR_LIMIT,     /* input > TG_INITDATA_MAX bytes or > TG_FIELDS_MAX fields */
    TG_ERR_DUPLICATE, /* a key appears twice */
    TG_ERR_MISSING,   /* hash, auth_date, user or signature absent */
    TG_ERR_HASH,      /* hash malformed or not matching: not signed with this token */
    TG_ERR_SIGNATURE, /* Ed25519 signature malformed or not matching */
    TG_ERR_EXPIRED,   /* auth_date older than the allowed age */
    TG_ERR_FUTURE,    /* auth_date later than now + TG_FUTURE_SKEW_S */
    TG_ERR_USER,      /* `user` is not a JSON object with an integer id and a first_name */
    TG_ERR_NOMEM,
    TG_ERR_ARG, /* bad argument from the caller (NULL, empty token...) */
    TG_STATUS__END
} tg_status;

/* "ok", "syntax", "limit", "duplicate", "missing", "hash", "signature",
 * "expired", "future", "user", "nomem", "arg"; never NULL. Stable: used as
 * error codes in the API and as metric labels. */
const char *tg_status_str(tg_status s);

/* One decoded field. Values may hold any byte but '\n' and NUL, which the
 * parser rejects: they would let a signed value be re-split into fields with
 * the same data_check_string. */
typedef struct tg_field {
    const char *key; /* NUL-terminated, [A-Za-z0-9_] */
    const char *value;
    size_t value_len; /* value is also NUL-terminated */
} tg_field;

/* Parsed init data. Owns one buffer; release with tg_initdata_free(). */
typedef struct tg_initdata {
    size_t n;
    tg_field fields[TG_FIELDS_MAX];
    char *buf;
} tg_initdata;

/* Parse (no signature check). On error *out is left empty (free is a no-op). */
tg_status tg_parse(const char *data, size_t len, tg_initdata *out);
void tg_initdata_free(tg_initdata *d);
/* The field named key, or NULL. */
const tg_field *tg_get(const tg_initdata *d, const char *key);

/* data_check_string: prefix (may be NULL) then the sorted key=value pairs
 * joined by '\n', leaving out `hash` and, when without_signature, also
 * `signature`. *out is malloc'd (NUL-terminated), the caller frees it. */
tg_status tg_data_check_string(const tg_initdata *d, const char *prefix, int without_signature,
                               char **out, size_t *out_len);

/* First-party HMAC check. TG_ERR_MISSING without hash, TG_ERR_HASH when it is
 * not 64 lower-case hex digits or does not match. On TG_OK, mac (may be NULL)
 * receives the 32 verified bytes. */
tg_status tg_verify_hash(const tg_initdata *d, const char *bot_token, uint8_t mac[32]);

/* auth_date checks: TG_ERR_MISSING / TG_ERR_SYNTAX when absent or not a
 * number, TG_ERR_FUTURE when > now_s + TG_FUTURE_SKEW_S, TG_ERR_EXPIRED when
 * older than max_age_s (0 disables the age check). */
tg_status tg_check_auth_date(const tg_initdata *d, int64_t now_s, int64_t max_age_s,
                             int64_t *auth_date);

/* Telegram's Ed25519 public keys for the third-party check. */
extern const uint8_t tg_pubkey_production[32];
extern const uint8_t tg_pubkey_test[32];
/* Third-party check of `signature` for bot bot_id with public key pk. */
tg_status tg_verify_signature(const tg_initdata *d, int64_t bot_id, const uint8_t pk[32]);
/* The bot id is the number before ':' in a bot token; -1 if malformed. */
int64_t tg_bot_id(const char *bot_token);

typedef struct tg_user {
    int64_t id;
    char first_name[TG_NAME_MAX + 1];
    char username[TG_USERNAME_MAX + 1]; /* "" when the user has none */
} tg_user;

/* Extract id, first_name, username from the `user` field's JSON. */
tg_status tg_user_parse(const tg_initdata *d, tg_user *out);

/* The whole first-party sign-in check, in this order: parse, HMAC, auth_date
 * (now_s, max_age_s as in tg_check_auth_date), user. */
typedef struct tg_auth {
    tg_user user;
    int64_t auth_date;
    uint8_t hash[32]; /* verified MAC: a canonical id of this init data */
} tg_auth;
tg_status tg_validate(const char *data, size_t len, const char *bot_token, int64_t now_s,
                      int64_t max_age_s, tg_auth *out);

/* Telegram Login Widget (web sign-in outside a mini app): the same fields
 * form-encoded, flat, checked with secret = SHA256(bot_token). Freshness is
 * left to the caller (tg_check_auth_date). */
tg_status tg_verify_login_widget(const tg_initdata *d, const char *bot_token);

/* Build signed init data as Telegram would, for the dev launch page, tests
 * and benchmarks: "user=<enc>&auth_date=<n>&hash=<hex>". user_json is used
 * verbatim. *out is malloc'd; the caller frees it. */
tg_status tg_initdata_sign(const char *user_json, int64_t auth_date, const char *bot_token,
                           char **out);

/* Percent-encode s for a URL query or fragment (unreserved bytes kept).
 * malloc'd result, NULL on allocation failure. */
char *tg_urlencode(const char *s, size_t len);

#endif
