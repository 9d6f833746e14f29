/* jwt.c - ES256 JWT issue and strict check (see jwt.h). */
#include "jwt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *jwt_status_str(jwt_status s)
{
    static const char *const names[] = {
        "ok",  "format", "alg", "header", "kid",   "signature", "typ", "expired", "not_yet_valid",
        "iat", "iss",    "aud", "claims", "nomem", "arg",
    };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

int jwt_kid_ok(const char *kid)
{
    size_t n = 0;
    for (; kid[n]; n++) {
        char c = kid[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (n >= JWT_KID_MAX)
            return 0;
    }
    return n > 0;
}

/* Decode one base64url part into a NUL-terminated JSON object. */
static jwt_status part_json(const char *b64, size_t len, cJSON **out)
{
    uint8_t buf[JWT_MAX];
    size_t n = 0;
    if (len == 0 || crypto_b64url_decode(b64, len, buf, sizeof buf - 1, &n) < 0)
        return JWT_ERR_FORMAT;
    buf[n] = '\0';
    /* cJSON keeps strings NUL-terminated: an escaped NUL would cut
     * "k1\u0000../x" to "k1". No token of ours contains one. */
    if (memchr(buf, '\0', n) || strstr((const char *)buf, "\\u0000"))
        return JWT_ERR_FORMAT;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)buf, n + 1, &end, 1);
    if (!j)
        return JWT_ERR_FORMAT;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return JWT_ERR_FORMAT;
    }
    *out = j;
    return JWT_OK;
}

static int has_duplicates(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && !strcmp(a->string, b->string))
                return 1;
    return 0;
}

static jwt_status check_header(const cJSON *h, const char *typ, char kid[JWT_KID_MAX + 1])
{
    if (has_duplicates(h))
        return JWT_ERR_HEADER;
    /* alg first: "none"/HS256 must be reported as such even with extra keys. */
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "ES256"))
        return JWT_ERR_ALG;
    for (const cJSON *k = h->child; k; k = k->next)
        if (strcmp(k->string, "alg") && strcmp(k->string, "typ") && strcmp(k->string, "kid"))
            return JWT_ERR_HEADER; /* jwk, jku, x5u, x5c, x5t, crit, cty, ... */
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(h, "typ");
    if (!cJSON_IsString(t) || !typ || strcasecmp(t->valuestring, typ))
        return JWT_ERR_TYP;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(h, "kid");
    if (!cJSON_IsString(k) || !jwt_kid_ok(k->valuestring))
        return JWT_ERR_KID;
    strcpy(kid, k->valuestring);
    return JWT_OK;
}

/* An integral JSON number in a sane range, else -1. */
static int get_time(const cJSON *c, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, name);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 1;
}

static jwt_status check_claims(const cJSON *c, const jwt_expect *e)
{
    if (has_duplicates(c))
        return JWT_ERR_CLAIMS;
    int64_t exp = 0, iat = 0, nbf = 0;
    int has_exp = get_time(c, "exp", &exp), has_iat = get_time(c, "iat", &iat),
        has_nbf = get_time(c, "nbf", &nbf);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(c, "sub");
    if (has_exp != 1 || has_iat != 1 || has_nbf < 0 || !cJSON_IsString(sub))
        return JWT_ERR_CLAIMS;
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(c, "iss");
    if (!e->iss || !cJSON_IsString(iss) || strcmp(iss->valuestring, e->iss))
        return JWT_ERR_ISS;
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(c, "aud");
    int aud_ok = 0;
    if (e->aud && cJSON_IsString(aud))
        aud_ok = !strcmp(aud->valuestring, e->aud);
    else if (e->aud && cJSON_IsArray(aud)) {
        const cJSON *a;
        cJSON_ArrayForEach(a, aud) aud_ok |= cJSON_IsString(a) && !strcmp(a->valuestring, e->aud);
    }
    if (!aud_ok)
        return JWT_ERR_AUD;
    if (e->now_s >= exp + e->leeway_s)
        return JWT_ERR_EXPIRED;
    if (has_nbf && nbf > e->now_s + e->leeway_s)
        return JWT_ERR_NOTYET;
    if (iat > e->now_s + e->leeway_s || exp < iat || exp - iat > e->max_lifetime_s)
        return JWT_ERR_IAT;
    return JWT_OK;
}

jwt_status jwt_verify(const char *token, size_t len, const jwt_expect *e, jwt_key_fn key_fn,
                      void *key_ctx, cJSON **claims)
{
    if (claims)
        *claims = NULL;
    if (!token || !e || !key_fn)
        return JWT_ERR_ARG;
    if (len == 0 || len > JWT_MAX || memchr(token, '\0', len))
        return JWT_ERR_FORMAT;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return JWT_ERR_FORMAT;
    cJSON *h = NULL;
    jwt_status st = part_json(token, (size_t)(d1 - token), &h);
    if (st)
        return st;
    char kid[JWT_KID_MAX + 1];
    st = check_header(h, e->typ, kid);
    cJSON_Delete(h);
    if (st)
        return st;
    const char *sig_b64 = d2 + 1;
    size_t sig_len = len - (size_t)(sig_b64 - token), n = 0;
    uint8_t sig[CRYPTO_ES256_SIG + 1];
    if (sig_len == 0 || crypto_b64url_decode(sig_b64, sig_len, sig, sizeof sig, &n) < 0 ||
        n != CRYPTO_ES256_SIG)
        return JWT_ERR_SIGNATURE;
    uint8_t pub[CRYPTO_ES256_PUB];
    if (key_fn(key_ctx, kid, pub) < 0)
        return JWT_ERR_KID;
    if (!crypto_es256_verify(pub, token, (size_t)(d2 - token), sig))
        return JWT_ERR_SIGNATURE;
    cJSON *c = NULL;
    st = part_json(d1 + 1, (size_t)(d2 - d1 - 1), &c);
    if (st)
        return st;
    st = check_claims(c, e);
    if (st || !claims)
        cJSON_Delete(c);
    else
        *claims = c;
    return st;
}

static char *b64url(const void *in, size_t len)
{
    size_t cap = crypto_b64url_len(len);
    char *s = malloc(cap);
    if (s)
        crypto_b64url_encode(in, len, s, cap);
    return s;
}

jwt_status jwt_sign(const char *kid, const char *typ, const uint8_t priv[CRYPTO_ES256_PRIV],
                    const cJSON *claims, char **out)
{
    *out = NULL;
    if (!kid || !jwt_kid_ok(kid) || !typ || !cJSON_IsObject(claims))
        return JWT_ERR_ARG;
    cJSON *h = cJSON_CreateObject();
    if (!h || !cJSON_AddStringToObject(h, "alg", "ES256") ||
        !cJSON_AddStringToObject(h, "typ", typ) || !cJSON_AddStringToObject(h, "kid", kid)) {
        cJSON_Delete(h);
        return JWT_ERR_NOMEM;
    }
    char *hs = cJSON_PrintUnformatted(h), *cs = cJSON_PrintUnformatted(claims);
    cJSON_Delete(h);
    char *hb = hs ? b64url(hs, strlen(hs)) : NULL, *cb = cs ? b64url(cs, strlen(cs)) : NULL;
    free(hs);
    free(cs);
    jwt_status st = JWT_ERR_NOMEM;
    char *tok = NULL;
    if (hb && cb) {
        size_t hl = strlen(hb), cl = strlen(cb), sl = crypto_b64url_len(CRYPTO_ES256_SIG);
        tok = malloc(hl + cl + sl + 3);
        if (tok) {
            memcpy(tok, hb, hl);
            tok[hl] = '.';
            memcpy(tok + hl + 1, cb, cl);
            uint8_t sig[CRYPTO_ES256_SIG];
            if (crypto_es256_sign(priv, tok, hl + 1 + cl, sig) == 0) {
                tok[hl + 1 + cl] = '.';
                crypto_b64url_encode(sig, sizeof sig, tok + hl + cl + 2, sl);
                st = JWT_OK;
            } else {
                st = JWT_ERR_ARG;
            }
        }
    }
    free(hb);
    free(cb);
    if (st) {
        free(tok);
        return st;
    }
    if (strlen(tok) > JWT_MAX) {
        free(tok);
        return JWT_ERR_ARG;
    }
    *out = tok;
    return JWT_OK;
}

cJSON *jwt_jwk(const char *kid, const uint8_t pub[CRYPTO_ES256_PUB])
{
    char x[64], y[64];
    crypto_b64url_encode(pub + 1, 32, x, sizeof x);
    crypto_b64url_encode(pub + 33, 32, y, sizeof y);
    cJSON *k = cJSON_CreateObject();
    if (!k || !cJSON_AddStringToObject(k, "kty", "EC") ||
        !cJSON_AddStringToObject(k, "crv", "P-256") || !cJSON_AddStringToObject(k, "x", x) ||
        !cJSON_AddStringToObject(k, "y", y) || !cJSON_AddStringToObject(k, "use", "sig") ||
        !cJSON_AddStringToObject(k, "alg", "ES256") || !cJSON_AddStringToObject(k, "kid", kid)) {
        cJSON_Delete(k);
        return NULL;
    }
    return k;
}
