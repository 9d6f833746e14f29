/* jwt.h - ES256 JSON Web Tokens, issued and checked by us only.
 *
 * We are both issuer and audience, so the checker accepts exactly what the
 * issuer makes (RFC 8725, OWASP JWT cheat sheet) and nothing else:
 *   - compact form, three base64url parts without padding, <= JWT_MAX bytes;
 *   - header: a JSON object with exactly alg, typ, kid (no duplicates);
 *     alg must be "ES256" byte for byte (no "none" in any case, no HS256 with
 *     the public key as a secret); jwk, jku, x5u, x5c, crit or any other
 *     header key -> JWT_ERR_HEADER (a token never chooses its own key);
 *   - kid: 1..JWT_KID_MAX of [A-Za-z0-9_-] (no paths, quotes, SQL), looked
 *     up by the caller in its own key set; unknown -> JWT_ERR_KID;
 *   - signature: exactly 64 bytes r||s checked before any claim is read;
 *   - typ must equal the expected token type (access vs link vs internal);
 *   - claims: iss and aud must match; exp, iat required; nbf optional;
 *     iat in the future or exp - iat above the allowed lifetime is refused.
 *
 * Pure: no I/O. Thread-safe after crypto_init().
 */
#ifndef FITGATE_JWT_H
#define FITGATE_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "crypto.h"

#define JWT_MAX     4096
#define JWT_KID_MAX 64

typedef enum jwt_status {
    JWT_OK = 0,
    JWT_ERR_FORMAT,    /* not three strict base64url parts / not JSON objects / too long */
    JWT_ERR_ALG,       /* alg other than ES256 (none, HS256, es256, ...) */
    JWT_ERR_HEADER,    /* forbidden or unknown header key, duplicate key */
    JWT_ERR_KID,       /* kid missing, malformed or unknown */
    JWT_ERR_SIGNATURE, /* missing, wrong length or not verifying */
    JWT_ERR_TYP,       /* token of another type */
    JWT_ERR_EXPIRED,   /* now >= exp + leeway */
    JWT_ERR_NOTYET,    /* nbf > now + leeway */
    JWT_ERR_IAT,       /* iat in the future, or exp - iat beyond the lifetime */
    JWT_ERR_ISS,       /* wrong issuer */
    JWT_ERR_AUD,       /* wrong audience */
    JWT_ERR_CLAIMS,    /* exp/iat/sub missing or of the wrong JSON type */
    JWT_ERR_NOMEM,
    JWT_ERR_ARG,
} jwt_status;

/* "ok", "format", "alg", "header", "kid", "signature", "typ", "expired",
 * "not_yet_valid", "iat", "iss", "aud", "claims", "nomem", "arg". */
const char *jwt_status_str(jwt_status s);

/* Key lookup: copy the public key of kid into pub; 0 when known, -1 not. */
typedef int (*jwt_key_fn)(void *ctx, const char *kid, uint8_t pub[CRYPTO_ES256_PUB]);

typedef struct jwt_expect {
    const char *typ; /* e.g. "at+jwt" */
    const char *iss;
    const char *aud;
    int64_t now_s;
    int64_t leeway_s;       /* clock skew allowed on exp/nbf/iat (e.g. 30) */
    int64_t max_lifetime_s; /* exp - iat must not exceed this */
} jwt_expect;

/* Check token[0..len) as above. On JWT_OK *claims (may be NULL) receives
 * the payload object (caller cJSON_Delete()s it). */
jwt_status jwt_verify(const char *token, size_t len, const jwt_expect *e, jwt_key_fn key_fn,
                      void *key_ctx, cJSON **claims);

/* Sign claims (a JSON object, not consumed) with header
 * {"alg":"ES256","typ":typ,"kid":kid}. *out malloc'd, caller frees. */
jwt_status jwt_sign(const char *kid, const char *typ, const uint8_t priv[CRYPTO_ES256_PRIV],
                    const cJSON *claims, char **out);

/* The JWK (RFC 7517) of a public key: {"kty":"EC","crv":"P-256","x","y",
 * "use":"sig","alg":"ES256","kid"}. NULL on allocation failure. */
cJSON *jwt_jwk(const char *kid, const uint8_t pub[CRYPTO_ES256_PUB]);

/* 1 when kid is well-formed ([A-Za-z0-9_-]{1,JWT_KID_MAX}). */
int jwt_kid_ok(const char *kid);

#endif
