/* test_auth_vectors.c - HOTP/TOTP (RFC 4226/6238), WeChat and WhatsApp public
 * vectors from shared/vectors, plus the new crypto wrapper functions. */
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
#include "otp.h"
#include "wechat.h"
#include "whatsapp.h"

static cJSON *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FITGATE_VECTORS_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    assert_non_null(j);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static void test_hotp_vectors(void **s)
{
    (void)s;
    cJSON *v = load("otp-rfc4226-rfc6238.json");
    const cJSON *h = cJSON_GetObjectItem(v, "hotp");
    const char *secret = str(h, "secret_ascii");
    int digits = cJSON_GetObjectItem(h, "digits")->valueint;
    const cJSON *c;
    uint64_t counter = 0;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(h, "codes_by_counter"))
    {
        uint32_t code;
        char out[12];
        assert_int_equal(otp_hotp(CRYPTO_MD_SHA1, (const uint8_t *)secret, strlen(secret),
                                  counter++, digits, &code),
                         0);
        otp_format(code, digits, out);
        assert_string_equal(out, c->valuestring);
        n++;
    }
    assert_int_equal(n, 10);
    cJSON_Delete(v);
}

static void test_totp_vectors(void **s)
{
    (void)s;
    cJSON *v = load("otp-rfc4226-rfc6238.json");
    const cJSON *t = cJSON_GetObjectItem(v, "totp");
    int step = cJSON_GetObjectItem(t, "step_s")->valueint;
    int digits = cJSON_GetObjectItem(t, "digits")->valueint;
    const cJSON *seeds = cJSON_GetObjectItem(t, "seeds_ascii");
    struct {
        const char *name;
        crypto_md md;
    } algs[] = {
        {"SHA1", CRYPTO_MD_SHA1}, {"SHA256", CRYPTO_MD_SHA256}, {"SHA512", CRYPTO_MD_SHA512}};
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(t, "cases"))
    {
        int64_t when = (int64_t)cJSON_GetObjectItem(c, "t")->valuedouble;
        for (size_t a = 0; a < 3; a++) {
            const char *seed = str(seeds, algs[a].name);
            uint32_t code;
            char out[12];
            assert_int_equal(otp_totp(algs[a].md, (const uint8_t *)seed, strlen(seed), when, step,
                                      digits, &code),
                             0);
            otp_format(code, digits, out);
            assert_string_equal(out, str(c, algs[a].name));
            n++;
        }
    }
    assert_int_equal(n, 18);
    /* The base32 form of the SHA1 seed. */
    const char *b32 = str(t, "seed_sha1_base32");
    uint8_t key[64];
    size_t kl = 0;
    assert_int_equal(otp_b32_decode(b32, key, sizeof key, &kl), 0);
    assert_int_equal(kl, 20);
    assert_memory_equal(key, str(seeds, "SHA1"), 20);
    char enc[64];
    otp_b32_encode(key, kl, enc);
    assert_string_equal(enc, b32);
    cJSON_Delete(v);
}

static void code_at(const uint8_t *key, int64_t t, char out[7])
{
    uint32_t c;
    assert_int_equal(otp_totp(CRYPTO_MD_SHA1, key, 20, t, 30, 6, &c), 0);
    otp_format(c, 6, out);
}

static void test_totp_window_and_replay(void **s)
{
    (void)s;
    uint8_t key[20];
    crypto_random(key, sizeof key);
    const int64_t now = 1800000015;
    int64_t last = -1;
    char prev[7], cur[7], next[7], old[7], later[7];
    code_at(key, now - 30, prev);
    code_at(key, now, cur);
    code_at(key, now + 30, next);
    code_at(key, now - 60, old);
    code_at(key, now + 60, later);
    /* Outside +-1 step. */
    if (strcmp(old, cur) && strcmp(old, prev) && strcmp(old, next))
        assert_int_equal(otp_totp_check(key, 20, old, now, &last), 0);
    if (strcmp(later, cur) && strcmp(later, prev) && strcmp(later, next))
        assert_int_equal(otp_totp_check(key, 20, later, now, &last), 0);
    /* T-1 accepted, then T, each once. */
    assert_int_equal(otp_totp_check(key, 20, prev, now, &last), 1);
    assert_int_equal(last, now / 30 - 1);
    assert_int_equal(otp_totp_check(key, 20, prev, now, &last), 0);
    assert_int_equal(otp_totp_check(key, 20, cur, now, &last), 1);
    assert_int_equal(otp_totp_check(key, 20, cur, now, &last), 0); /* replay */
    assert_int_equal(otp_totp_check(key, 20, cur, now + 5, &last), 0);
    /* T+1 is still ahead of the last one. */
    assert_int_equal(otp_totp_check(key, 20, next, now, &last), 1);
    /* Malformed. */
    const char *bad[] = {"", "12345", "1234567", "12345a", " 12345", "１２３４５６"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(otp_totp_check(key, 20, bad[i], now, &last), 0);
}

static void test_otp_uri(void **s)
{
    (void)s;
    const uint8_t key[20] = "12345678901234567890";
    char *u = otp_uri("Fit Gate", "ann@example.org", key, 20);
    assert_non_null(u);
    assert_string_equal(u, "otpauth://totp/Fit%20Gate:ann%40example.org?secret="
                           "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Fit%20Gate&algorithm=SHA1&"
                           "digits=6&period=30");
    free(u);
    uint8_t out[32];
    size_t n;
    assert_int_equal(otp_b32_decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", out, 32, &n), 0);
    assert_int_equal(n, 20);
    assert_memory_equal(out, key, 20);
    assert_int_equal(otp_b32_decode("GEZ1", out, 32, &n), -1);
    assert_int_equal(otp_b32_decode("GE==ZD", out, 32, &n), -1);
}

static void test_wechat_vectors(void **s)
{
    (void)s;
    cJSON *v = load("wechat-miniprogram.json");
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "decrypt"))
    {
        char *pt = NULL;
        assert_int_equal(wx_decrypt(str(c, "session_key"), str(c, "iv"), str(c, "encrypted_data"),
                                    str(c, "app_id"), &pt),
                         WX_OK);
        assert_string_equal(pt, str(c, "plaintext"));
        free(pt);
        /* Another app's data: decrypts, but the watermark says no. */
        assert_int_equal(wx_decrypt(str(c, "session_key"), str(c, "iv"), str(c, "encrypted_data"),
                                    "wx0000000000000000", &pt),
                         WX_ERR_WATERMARK);
        assert_null(pt);
        /* Wrong key: padding or JSON fails. */
        assert_int_not_equal(wx_decrypt("AAAAAAAAAAAAAAAAAAAAAA==", str(c, "iv"),
                                        str(c, "encrypted_data"), str(c, "app_id"), &pt),
                             WX_OK);
        /* Round trip through our encrypt. */
        char *ct = NULL;
        assert_int_equal(wx_encrypt(str(c, "session_key"), str(c, "iv"), str(c, "plaintext"), &ct),
                         WX_OK);
        assert_string_equal(ct, str(c, "encrypted_data"));
        free(ct);
        n++;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "raw_data_signature"))
    {
        assert_int_equal(
            wx_check_raw_data(str(c, "raw_data"), str(c, "session_key"), str(c, "signature")),
            WX_OK);
        char sig[64];
        snprintf(sig, sizeof sig, "%s", str(c, "signature"));
        sig[0] = sig[0] == '0' ? '1' : '0';
        assert_int_equal(wx_check_raw_data(str(c, "raw_data"), str(c, "session_key"), sig),
                         WX_ERR_SIGNATURE);
        assert_int_equal(wx_check_raw_data("{}", str(c, "session_key"), str(c, "signature")),
                         WX_ERR_SIGNATURE);
        assert_int_equal(wx_check_raw_data(str(c, "raw_data"), str(c, "session_key"), "zz"),
                         WX_ERR_SIGNATURE);
        n++;
    }
    assert_int_equal(n, 2);
    cJSON_Delete(v);
}

static void test_wechat_code2session(void **s)
{
    (void)s;
    wx_session ws;
    const char *ok = "{\"openid\":\"o-example\",\"session_key\":\"tiihtNczf5v6AKRyjwEUhQ==\","
                     "\"unionid\":\"u-example\"}";
    assert_int_equal(wx_parse_code2session(ok, strlen(ok), &ws), WX_OK);
    assert_string_equal(ws.openid, "o-example");
    assert_string_equal(ws.unionid, "u-example");
    const char *codes[] = {"{\"errcode\":40029,\"errmsg\":\"invalid code\"}",
                           "{\"errcode\":-1,\"errmsg\":\"busy\"}", "{\"errcode\":45011}",
                           "{\"errcode\":40226}", "{\"errcode\":40163}"};
    long want[] = {40029, -1, 45011, 40226, 40163};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(wx_parse_code2session(codes[i], strlen(codes[i]), &ws), WX_ERR_API);
        assert_int_equal(ws.errcode, want[i]);
    }
    const char *noid = "{\"errcode\":0,\"session_key\":\"tiihtNczf5v6AKRyjwEUhQ==\"}";
    assert_int_equal(wx_parse_code2session(noid, strlen(noid), &ws), WX_ERR_API);
    const char *empty = "{\"openid\":\"\",\"session_key\":\"tiihtNczf5v6AKRyjwEUhQ==\"}";
    assert_int_equal(wx_parse_code2session(empty, strlen(empty), &ws), WX_ERR_API);
    assert_int_equal(wx_parse_code2session("nope", 4, &ws), WX_ERR_SYNTAX);
}

static void test_whatsapp_vectors(void **s)
{
    (void)s;
    cJSON *v = load("whatsapp-webhook.json");
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "signatures"))
    {
        const char *sec = str(c, "app_secret"), *body = str(c, "body"), *hdr = str(c, "header");
        assert_int_equal(wa_verify_signature(sec, body, strlen(body), hdr), WA_OK);
        char mine[72];
        wa_sign(sec, body, strlen(body), mine);
        assert_string_equal(mine, hdr);
        /* One byte more in the body, another secret, upper-case hex, no prefix. */
        char *more = malloc(strlen(body) + 2);
        sprintf(more, "%s ", body);
        assert_int_equal(wa_verify_signature(sec, more, strlen(more), hdr), WA_ERR_SIGNATURE);
        free(more);
        assert_int_equal(wa_verify_signature("other", body, strlen(body), hdr), WA_ERR_SIGNATURE);
        char up[80];
        snprintf(up, sizeof up, "sha256=%s", hdr + 7);
        for (char *p = up + 7; *p; p++)
            if (*p >= 'a' && *p <= 'f')
                *p = (char)(*p - 32);
        assert_int_equal(wa_verify_signature(sec, body, strlen(body), up), WA_ERR_SIGNATURE);
        assert_int_equal(wa_verify_signature(sec, body, strlen(body), hdr + 7), WA_ERR_SIGNATURE);
        assert_int_equal(wa_verify_signature(sec, body, strlen(body), NULL), WA_ERR_SIGNATURE);
        n++;
    }
    assert_int_equal(n, 2);
    cJSON_Delete(v);
    assert_int_equal(wa_handshake("subscribe", "tok", "tok"), WA_OK);
    assert_int_equal(wa_handshake("subscribe", "tok2", "tok"), WA_ERR_TOKEN);
    assert_int_equal(wa_handshake("unsubscribe", "tok", "tok"), WA_ERR_TOKEN);
    assert_int_equal(wa_handshake(NULL, "tok", "tok"), WA_ERR_TOKEN);
}

static void test_whatsapp_parse(void **s)
{
    (void)s;
    const char *body =
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":[{"
        "\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\",\"contacts\":[{"
        "\"profile\":{\"name\":\"Ann\"},\"wa_id\":\"4915112345678\",\"user_id\":"
        "\"US.13491208655302741918\"}],\"messages\":[{\"from\":\"4915112345678\",\"id\":"
        "\"wamid.X\",\"timestamp\":\"1800000000\",\"type\":\"text\",\"text\":{\"body\":\"login "
        "123\"}}]}}]}]}";
    wa_message m[4];
    size_t n = 0;
    assert_int_equal(wa_parse_webhook(body, strlen(body), m, 4, &n), WA_OK);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].user_id, "US.13491208655302741918");
    assert_string_equal(m[0].wa_id, "4915112345678");
    assert_string_equal(m[0].text, "login 123");
    assert_string_equal(m[0].name, "Ann");
    char key[WA_ID_MAX + 3];
    wa_identity_key(&m[0], key);
    assert_string_equal(key, "u:US.13491208655302741918");
    m[0].user_id[0] = '\0';
    wa_identity_key(&m[0], key);
    assert_string_equal(key, "p:4915112345678");
    const char *statuses = "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{"
                           "\"value\":{\"statuses\":[{\"id\":\"x\"}]}}]}]}";
    assert_int_equal(wa_parse_webhook(statuses, strlen(statuses), m, 4, &n), WA_OK);
    assert_int_equal(n, 0);
    assert_int_equal(wa_parse_webhook("{\"object\":\"page\",\"entry\":[]}", 29, m, 4, &n),
                     WA_ERR_SYNTAX);
    assert_int_equal(wa_parse_webhook("[", 1, m, 4, &n), WA_ERR_SYNTAX);
}

static void test_crypto_aead_es256(void **s)
{
    (void)s;
    uint8_t key[32], other[32];
    crypto_random(key, 32);
    crypto_random(other, 32);
    const char pt[] = "JBSWY3DPEHPK3PXP-secret";
    uint8_t sealed[sizeof pt + CRYPTO_AEAD_OVERHEAD], out[sizeof pt];
    crypto_aead_seal(key, "user:1|k1", 9, pt, sizeof pt, sealed);
    assert_int_equal(crypto_aead_open(key, "user:1|k1", 9, sealed, sizeof sealed, out), 0);
    assert_memory_equal(out, pt, sizeof pt);
    assert_int_equal(crypto_aead_open(other, "user:1|k1", 9, sealed, sizeof sealed, out), -1);
    assert_int_equal(crypto_aead_open(key, "user:2|k1", 9, sealed, sizeof sealed, out), -1);
    sealed[30] ^= 1;
    assert_int_equal(crypto_aead_open(key, "user:1|k1", 9, sealed, sizeof sealed, out), -1);
    assert_int_equal(crypto_aead_open(key, "", 0, sealed, 10, out), -1);

    uint8_t priv[32], pub[65], pub2[65], sig[64];
    assert_int_equal(crypto_es256_keygen(priv, pub), 0);
    assert_int_equal(crypto_es256_public(priv, pub2), 0);
    assert_memory_equal(pub, pub2, 65);
    assert_int_equal(crypto_es256_sign(priv, "msg", 3, sig), 0);
    assert_int_equal(crypto_es256_verify(pub, "msg", 3, sig), 1);
    assert_int_equal(crypto_es256_verify(pub, "msh", 3, sig), 0);
    pub2[10] ^= 1; /* not on the curve */
    assert_int_equal(crypto_es256_verify(pub2, "msg", 3, sig), 0);
    uint8_t zero[32] = {0};
    assert_int_equal(crypto_es256_public(zero, pub2), -1);

    char phc[CRYPTO_PASSWORD_LEN];
    assert_int_equal(crypto_password_hash("hunter2", 7, phc), 0);
    assert_non_null(strstr(phc, "$argon2id$"));
    assert_int_equal(crypto_password_verify(phc, "hunter2", 7), 1);
    assert_int_equal(crypto_password_verify(phc, "hunter3", 7), 0);
}

int main(void)
{
    if (crypto_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotp_vectors),           cmocka_unit_test(test_totp_vectors),
        cmocka_unit_test(test_totp_window_and_replay), cmocka_unit_test(test_otp_uri),
        cmocka_unit_test(test_wechat_vectors),         cmocka_unit_test(test_wechat_code2session),
        cmocka_unit_test(test_whatsapp_vectors),       cmocka_unit_test(test_whatsapp_parse),
        cmocka_unit_test(test_crypto_aead_es256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
