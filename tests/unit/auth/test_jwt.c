/* test_jwt.c - the JWT checklist (OWASP JWT cheat sheet, RFC 8725): each
 * attack a case, against the real ES256 signer/verifier. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "crypto.h"
#include "jwt.h"

#define NOW 1800000000LL

static uint8_t priv[CRYPTO_ES256_PRIV], pub[CRYPTO_ES256_PUB];
static uint8_t priv2[CRYPTO_ES256_PRIV], pub2[CRYPTO_ES256_PUB];

static int key_fn(void *ctx, const char *kid, uint8_t out[CRYPTO_ES256_PUB])
{
    (void)ctx;
    if (!strcmp(kid, "k1")) {
        memcpy(out, pub, CRYPTO_ES256_PUB);
        return 0;
    }
    return -1;
}

static const jwt_expect expect = {.typ = "at+jwt",
                                  .iss = "https://fitgate.test",
                                  .aud = "fitgate-api",
                                  .now_s = NOW,
                                  .leeway_s = 30,
                                  .max_lifetime_s = 900};

static char *b64(const char *s, size_t n)
{
    size_t cap = crypto_b64url_len(n);
    char *o = malloc(cap);
    crypto_b64url_encode((const uint8_t *)s, n, o, cap);
    return o;
}

/* header.payload.signature with a raw header and payload; sig_mode:
 * 0 = ES256 with key k, 1 = empty signature, 2 = HS256 keyed with the public
 * key bytes (the algorithm-confusion attack). */
static char *forge(const char *header, const char *payload, int sig_mode, const uint8_t *k)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 200;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s", h, p);
    free(h);
    free(p);
    char sig[128] = "";
    if (sig_mode == 0) {
        uint8_t s[64];
        assert_int_equal(crypto_es256_sign(k, t, strlen(t), s), 0);
        crypto_b64url_encode(s, 64, sig, sizeof sig);
    } else if (sig_mode == 2) {
        uint8_t s[32];
        crypto_hmac_sha256(pub, sizeof pub, t, strlen(t), s);
        crypto_b64url_encode(s, 32, sig, sizeof sig);
    }
    strcat(t, ".");
    strcat(t, sig);
    return t;
}

static char payload_buf[512];
static const char *claims(long long iat, long long exp, const char *iss, const char *aud)
{
    snprintf(payload_buf, sizeof payload_buf,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"42\",\"iat\":%lld,\"exp\":%lld,\"sid\":7}",
             iss, aud, iat, exp);
    return payload_buf;
}
#define GOOD_CLAIMS claims(NOW - 10, NOW + 290, "https://fitgate.test", "fitgate-api")
#define GOOD_HEADER "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}"

static jwt_status check(const char *t)
{
    return jwt_verify(t, strlen(t), &expect, key_fn, NULL, NULL);
}

static void expect_status(const char *header, const char *payload, int mode, jwt_status want)
{
    char *t = forge(header, payload, mode, priv);
    assert_string_equal(jwt_status_str(check(t)), jwt_status_str(want));
    free(t);
}

static void test_valid_roundtrip(void **s)
{
    (void)s;
    cJSON *c = cJSON_Parse(GOOD_CLAIMS);
    char *t = NULL;
    assert_int_equal(jwt_sign("k1", "at+jwt", priv, c, &t), JWT_OK);
    cJSON *out = NULL;
    assert_int_equal(jwt_verify(t, strlen(t), &expect, key_fn, NULL, &out), JWT_OK);
    assert_string_equal(cJSON_GetObjectItem(out, "sub")->valuestring, "42");
    cJSON_Delete(out);
    /* Any single changed character breaks it. */
    for (size_t i = 0; i < strlen(t); i += 7) {
        char *m = strdup(t);
        m[i] = m[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(check(m), JWT_OK);
        free(m);
    }
    free(t);
    cJSON_Delete(c);
}

static void test_alg_none_any_case(void **s)
{
    (void)s;
    const char *algs[] = {"none", "None", "NONE", "nOnE"};
    for (size_t i = 0; i < 4; i++) {
        char h[128];
        snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", algs[i]);
        expect_status(h, GOOD_CLAIMS, 1, JWT_ERR_ALG);
    }
    expect_status("{\"alg\":\"es256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", GOOD_CLAIMS, 0,
                  JWT_ERR_ALG);
    expect_status("{\"typ\":\"at+jwt\",\"kid\":\"k1\"}", GOOD_CLAIMS, 0, JWT_ERR_ALG);
}

static void test_stripped_signature(void **s)
{
    (void)s;
    expect_status(GOOD_HEADER, GOOD_CLAIMS, 1, JWT_ERR_SIGNATURE);
    /* Without the last dot at all. */
    char *t = forge(GOOD_HEADER, GOOD_CLAIMS, 1, priv);
    t[strlen(t) - 1] = '\0';
    assert_int_equal(check(t), JWT_ERR_FORMAT);
    free(t);
    /* An all-zero r||s. */
    t = forge(GOOD_HEADER, GOOD_CLAIMS, 1, priv);
    char z[128];
    uint8_t zero[64] = {0};
    crypto_b64url_encode(zero, 64, z, sizeof z);
    char *t2 = malloc(strlen(t) + strlen(z) + 1);
    assert_non_null(t2);
    strcpy(t2, t);
    strcat(t2, z);
    free(t);
    t = t2;
    assert_int_equal(check(t), JWT_ERR_SIGNATURE);
    free(t);
}

static void test_hs256_confusion(void **s)
{
    (void)s;
    expect_status("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", GOOD_CLAIMS, 2,
                  JWT_ERR_ALG);
    /* An HMAC placed under alg ES256 is just a bad signature. */
    expect_status(GOOD_HEADER, GOOD_CLAIMS, 2, JWT_ERR_SIGNATURE);
}

/* A header that names its own key (or anything else we do not issue). */
static void header_with(const char *extra)
{
    char h[256];
    snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\",%s}", extra);
    expect_status(h, GOOD_CLAIMS, 0, JWT_ERR_HEADER);
}

static void test_header_jwk(void **s)
{
    (void)s;
    header_with("\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}");
}

static void test_header_jku(void **s)
{
    (void)s;
    header_with("\"jku\":\"https://evil.example/jwks.json\"");
}

static void test_header_x5u(void **s)
{
    (void)s;
    header_with("\"x5u\":\"https://evil.example/cert.pem\"");
}

static void test_header_x5c(void **s)
{
    (void)s;
    header_with("\"x5c\":[\"MIIB\"]");
}

static void test_header_crit_and_duplicates(void **s)
{
    (void)s;
    header_with("\"crit\":[\"exp\"]");
    /* A duplicated alg (parser differential). */
    expect_status("{\"alg\":\"ES256\",\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
                  GOOD_CLAIMS, 0, JWT_ERR_HEADER);
}

static void test_kid_tricks(void **s)
{
    (void)s;
    const char *kids[] = {"../../../../dev/null", "k1' OR '1'='1", "/etc/passwd", "",
                          "k2" /* well-formed but unknown */};
    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        char h[256];
        snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kids[i]);
        expect_status(h, GOOD_CLAIMS, 0, JWT_ERR_KID);
    }
    expect_status("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":7}", GOOD_CLAIMS, 0, JWT_ERR_KID);
    /* An escaped NUL would truncate "k1\u0000/../x" to a known kid. */
    expect_status("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\\u0000/../x\"}", GOOD_CLAIMS,
                  0, JWT_ERR_FORMAT);
    expect_status("{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", GOOD_CLAIMS, 0, JWT_ERR_KID);
}

static void test_other_key(void **s)
{
    (void)s;
    char *t = forge(GOOD_HEADER, GOOD_CLAIMS, 0, priv2);
    assert_int_equal(check(t), JWT_ERR_SIGNATURE);
    free(t);
}

#define ISS "https://fitgate.test"
#define AUD "fitgate-api"

static void test_expired(void **s)
{
    (void)s;
    expect_status(GOOD_HEADER, claims(NOW - 400, NOW - 100, ISS, AUD), 0, JWT_ERR_EXPIRED);
    expect_status(GOOD_HEADER, claims(NOW - 300, NOW - 30, ISS, AUD), 0, JWT_ERR_EXPIRED);
    expect_status(GOOD_HEADER, claims(NOW - 300, NOW - 29, ISS, AUD), 0, JWT_OK); /* leeway */
}

static void test_not_yet_valid(void **s)
{
    (void)s;
    expect_status(GOOD_HEADER,
                  "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"1\","
                  "\"iat\":1800000000,\"nbf\":1800000600,\"exp\":1800000800}",
                  0, JWT_ERR_NOTYET);
}

static void test_iat_in_future(void **s)
{
    (void)s;
    expect_status(GOOD_HEADER, claims(NOW + 3600, NOW + 3700, ISS, AUD), 0, JWT_ERR_IAT);
}

static void test_far_future_exp(void **s)
{
    (void)s;
    /* A lifetime longer than we ever issue. */
    expect_status(GOOD_HEADER, claims(NOW, NOW + 10LL * 365 * 86400, ISS, AUD), 0, JWT_ERR_IAT);
}

static void test_time_claim_types(void **s)
{
    (void)s;
    /* Missing exp / string exp / fractional exp. */
    expect_status(GOOD_HEADER,
                  "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"1\",\"iat\":1800000000}", 0,
                  JWT_ERR_CLAIMS);
    expect_status(GOOD_HEADER,
                  "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"1\","
                  "\"iat\":1800000000,\"exp\":\"1800000100\"}",
                  0, JWT_ERR_CLAIMS);
    expect_status(GOOD_HEADER,
                  "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"1\","
                  "\"iat\":1800000000,\"exp\":1800000100.5}",
                  0, JWT_ERR_CLAIMS);
}

static void test_wrong_iss(void **s)
{
    (void)s;
    expect_status(GOOD_HEADER, claims(NOW, NOW + 60, "https://evil.test", AUD), 0, JWT_ERR_ISS);
}

static void test_wrong_aud(void **s)
{
    (void)s;
    expect_status(GOOD_HEADER, claims(NOW, NOW + 60, ISS, "other-api"), 0, JWT_ERR_AUD);
    /* aud as an array containing ours is fine. */
    expect_status(GOOD_HEADER,
                  "{\"iss\":\"" ISS "\",\"aud\":[\"x\",\"" AUD "\"],\"sub\":\"1\","
                  "\"iat\":1800000000,\"exp\":1800000100}",
                  0, JWT_OK);
}

static void test_audience_swap(void **s)
{
    (void)s;
    /* An internal token at a public endpoint, and a public one at an internal endpoint. */
    expect_status(GOOD_HEADER, claims(NOW, NOW + 60, ISS, "fitgate-internal"), 0, JWT_ERR_AUD);
    char *t = forge(GOOD_HEADER, GOOD_CLAIMS, 0, priv);
    jwt_expect internal = expect;
    internal.aud = "fitgate-internal";
    assert_int_equal(jwt_verify(t, strlen(t), &internal, key_fn, NULL, NULL), JWT_ERR_AUD);
    free(t);
}

static void test_token_type(void **s)
{
    (void)s;
    /* Our refresh tokens are opaque random strings, never a JWT. */
    assert_int_equal(check("q8mXf1sO3J7uVtH2bG9kLpWz0aYcR5eNdT4iU6oPxEw"), JWT_ERR_FORMAT);
    /* A signed link token (or any other type) is not an access token. */
    expect_status("{\"alg\":\"ES256\",\"typ\":\"link+jwt\",\"kid\":\"k1\"}", GOOD_CLAIMS, 0,
                  JWT_ERR_TYP);
    expect_status("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", GOOD_CLAIMS, 0,
                  JWT_ERR_TYP);
    expect_status("{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD_CLAIMS, 0, JWT_ERR_TYP);
}

static void test_format(void **s)
{
    (void)s;
    const char *bad[] = {
        "",   "a",        "a.b",           "a.b.c.d",
        "..", "e30.e30.", "e30=.e30.AAAA", "W10.e30.AAAA" /* header is an array */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(check(bad[i]), JWT_OK);
    char *big = malloc(JWT_MAX + 10);
    memset(big, 'A', JWT_MAX + 9);
    big[JWT_MAX + 9] = '\0';
    assert_int_equal(check(big), JWT_ERR_FORMAT);
    free(big);
}

static void test_jwk(void **s)
{
    (void)s;
    cJSON *k = jwt_jwk("k1", pub);
    assert_non_null(k);
    assert_string_equal(cJSON_GetObjectItem(k, "crv")->valuestring, "P-256");
    uint8_t x[40];
    size_t n = 0;
    const char *xs = cJSON_GetObjectItem(k, "x")->valuestring;
    assert_int_equal(crypto_b64url_decode(xs, strlen(xs), x, sizeof x, &n), 0);
    assert_int_equal(n, 32);
    assert_memory_equal(x, pub + 1, 32);
    cJSON_Delete(k);
}

int main(void)
{
    if (crypto_init() < 0 || crypto_es256_keygen(priv, pub) < 0 ||
        crypto_es256_keygen(priv2, pub2) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_roundtrip),
        cmocka_unit_test(test_alg_none_any_case),
        cmocka_unit_test(test_stripped_signature),
        cmocka_unit_test(test_hs256_confusion),
        cmocka_unit_test(test_header_jwk),
        cmocka_unit_test(test_header_jku),
        cmocka_unit_test(test_header_x5u),
        cmocka_unit_test(test_header_x5c),
        cmocka_unit_test(test_header_crit_and_duplicates),
        cmocka_unit_test(test_kid_tricks),
        cmocka_unit_test(test_other_key),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_not_yet_valid),
        cmocka_unit_test(test_iat_in_future),
        cmocka_unit_test(test_far_future_exp),
        cmocka_unit_test(test_time_claim_types),
        cmocka_unit_test(test_wrong_iss),
        cmocka_unit_test(test_wrong_aud),
        cmocka_unit_test(test_audience_swap),
        cmocka_unit_test(test_token_type),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_jwk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
