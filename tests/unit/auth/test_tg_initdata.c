/* test_tg_initdata.c - Telegram init data / Login Widget checks against the
 * public vectors, tampering cases, and the crypto wrapper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_util.h"
#include <cjson/cJSON.h>

#include "crypto.h"
#include "tg_initdata.h"

static cJSON *vectors;

static int setup(void **state)
{
    (void)state;
    if (crypto_init() != 0)
        return -1;
    char *text = test_slurp(FITGATE_VECTORS_DIR "/telegram-initdata.json", NULL);
    if (!text)
        return -1;
    vectors = cJSON_Parse(text);
    free(text);
    return vectors ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(vectors);
    return 0;
}

static const cJSON *miniapp_vector(const char *name_prefix)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(vectors, "miniapp"))
    {
        const char *name = cJSON_GetObjectItem(v, "name")->valuestring;
        if (strncmp(name, name_prefix, strlen(name_prefix)) == 0)
            return v;
    }
    fail_msg("no vector %s", name_prefix);
    return NULL;
}

static const char *vstr(const cJSON *v, const char *key)
{
    const cJSON *s = cJSON_GetObjectItem(v, key);
    assert_non_null(s);
    return s->valuestring;
}

/* Sign an unsigned init data string (any fields) with token, the way
 * Telegram does, by appending &hash=<hex>. Caller frees. */
static char *resign(const char *unsigned_data, const char *token)
{
    tg_initdata d;
    assert_int_equal(tg_parse(unsigned_data, strlen(unsigned_data), &d), TG_OK);
    char *dcs;
    size_t dcs_len;
    assert_int_equal(tg_data_check_string(&d, NULL, 0, &dcs, &dcs_len), TG_OK);
    uint8_t secret[32], mac[32];
    assert_int_equal(crypto_hmac_sha256("WebAppData", 10, token, strlen(token), secret), 0);
    assert_int_equal(crypto_hmac_sha256(secret, 32, dcs, dcs_len, mac), 0);
    char hex[65];
    crypto_hex_encode(mac, 32, hex);
    char *out;
    assert_true(asprintf(&out, "%s&hash=%s", unsigned_data, hex) > 0);
    free(dcs);
    tg_initdata_free(&d);
    return out;
}

static tg_status validate(const char *data, const char *token, int64_t max_age)
{
    tg_auth a;
    return tg_validate(data, strlen(data), token, (int64_t)time(NULL), max_age, &a);
}

/* ---- vectors ---- */

static void test_miniapp_vectors(void **state)
{
    (void)state;
    const cJSON *v;
    int count = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(vectors, "miniapp"))
    {
        const char *data = vstr(v, "init_data");
        tg_auth a;
        tg_status st = tg_validate(data, strlen(data), vstr(v, "bot_token"), (int64_t)time(NULL),
                                   (int64_t)cJSON_GetObjectItem(v, "max_age_s")->valuedouble, &a);
        print_message("%s -> %s\n", vstr(v, "name"), tg_status_str(st));
        if (cJSON_IsTrue(cJSON_GetObjectItem(v, "valid"))) {
            assert_int_equal(st, TG_OK);
            assert_int_equal(a.user.id, (int64_t)cJSON_GetObjectItem(v, "user_id")->valuedouble);
        } else {
            const cJSON *reason = cJSON_GetObjectItem(v, "reason");
            if (reason && strcmp(reason->valuestring, "expired") == 0)
                assert_int_equal(st, TG_ERR_EXPIRED);
            else
                assert_int_equal(st, TG_ERR_HASH);
        }
        count++;
    }
    assert_int_equal(count, 5);
}

static void test_user_fields(void **state)
{
    (void)state;
    const cJSON *v = miniapp_vector("T2");
    const char *data = vstr(v, "init_data");
    tg_auth a;
    assert_int_equal(tg_validate(data, strlen(data), vstr(v, "bot_token"), time(NULL), 0, &a),
                     TG_OK);
    assert_int_equal(a.user.id, 279058397);
    /* cJSON unescapes \/ in the value we hand out; the MAC used the raw one. */
    assert_string_equal(a.user.first_name, "Vladislav + - ? /");
    assert_string_equal(a.user.username, "vdkfrost");
    assert_int_equal(a.auth_date, 1733509682);
}

static void test_t2_data_check_string(void **state)
{
    (void)state;
    const cJSON *v = miniapp_vector("T2");
    const char *data = vstr(v, "init_data");
    const char *want = vstr(v, "data_check_string");
    tg_initdata d;
    assert_int_equal(tg_parse(data, strlen(data), &d), TG_OK);
    char *dcs;
    size_t len;
    assert_int_equal(tg_data_check_string(&d, NULL, 0, &dcs, &len), TG_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(dcs, want, len);
    free(dcs);
    tg_initdata_free(&d);
}

static void test_t2_ed25519(void **state)
{
    (void)state;
    const cJSON *v = miniapp_vector("T2");
    const char *data = vstr(v, "init_data");
    int64_t bot_id = (int64_t)cJSON_GetObjectItem(v, "ed25519_valid_with_production_key_and_bot_id")
                         ->valuedouble;
    assert_int_equal(tg_bot_id(vstr(v, "bot_token")), bot_id);
    tg_initdata d;
    assert_int_equal(tg_parse(data, strlen(data), &d), TG_OK);
    assert_int_equal(tg_verify_signature(&d, bot_id, tg_pubkey_production), TG_OK);
    assert_int_equal(tg_verify_signature(&d, bot_id, tg_pubkey_test), TG_ERR_SIGNATURE);
    assert_int_equal(tg_verify_signature(&d, bot_id + 1, tg_pubkey_production), TG_ERR_SIGNATURE);
    tg_initdata_free(&d);

    /* Altered data: one byte of chat_type. */
    char *alt = strdup(data);
    char *p = strstr(alt, "chat_type=private");
    assert_non_null(p);
    p[strlen("chat_type=privat")] = 'f';
    assert_int_equal(tg_parse(alt, strlen(alt), &d), TG_OK);
    assert_int_equal(tg_verify_signature(&d, bot_id, tg_pubkey_production), TG_ERR_SIGNATURE);
    tg_initdata_free(&d);
    free(alt);

    /* Padded or truncated signatures are malformed; a missing one is missing. */
    const char *sig = strstr(data, "signature=") + strlen("signature=");
    size_t sig_len = strcspn(sig, "&");
    char *padded;
    assert_true(asprintf(&padded, "signature=%.*s%%3D%%3D&auth_date=1", (int)sig_len, sig) > 0);
    assert_int_equal(tg_parse(padded, strlen(padded), &d), TG_OK);
    assert_int_equal(tg_verify_signature(&d, bot_id, tg_pubkey_production), TG_ERR_SIGNATURE);
    tg_initdata_free(&d);
    free(padded);
    assert_true(asprintf(&padded, "signature=%.*s&auth_date=1", (int)sig_len - 2, sig) > 0);
    assert_int_equal(tg_parse(padded, strlen(padded), &d), TG_OK);
    assert_int_equal(tg_verify_signature(&d, bot_id, tg_pubkey_production), TG_ERR_SIGNATURE);
    tg_initdata_free(&d);
    free(padded);
    assert_int_equal(tg_parse("auth_date=1&hash=00", 19, &d), TG_OK);
    assert_int_equal(tg_verify_signature(&d, bot_id, tg_pubkey_production), TG_ERR_MISSING);
    tg_initdata_free(&d);
}

static char *widget_form(const cJSON *fields, const char *skip, const char *hash)
{
    char *out = strdup("");
    const cJSON *f;
    cJSON_ArrayForEach(f, fields)
    {
        if (skip && strcmp(f->string, skip) == 0)
            continue;
        char *enc = tg_urlencode(f->valuestring, strlen(f->valuestring)), *next;
        assert_true(asprintf(&next, "%s%s=%s&", out, f->string, enc) > 0);
        free(enc);
        free(out);
        out = next;
    }
    char *next;
    assert_true(asprintf(&next, "%shash=%s", out, hash) > 0);
    free(out);
    return next;
}

static void test_login_widget(void **state)
{
    (void)state;
    const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(vectors, "login_widget"), 0);
    const char *token = vstr(w, "bot_token");
    const cJSON *fields = cJSON_GetObjectItem(w, "fields");
    tg_initdata d;

    char *form = widget_form(fields, NULL, vstr(w, "hash"));
    assert_int_equal(tg_parse(form, strlen(form), &d), TG_OK);
    assert_int_equal(tg_verify_login_widget(&d, token), TG_OK);
    /* The Mini App secret is different: the same data fails that check. */
    assert_int_equal(tg_verify_hash(&d, token, NULL), TG_ERR_HASH);
    tg_initdata_free(&d);
    free(form);

    form = widget_form(fields, "username", vstr(w, "hash"));
    assert_int_equal(tg_parse(form, strlen(form), &d), TG_OK);
    assert_int_equal(tg_verify_login_widget(&d, token), TG_ERR_HASH);
    tg_initdata_free(&d);
    free(form);
}

/* ---- tampering ---- */

static void test_changed_field(void **state)
{
    (void)state;
    const cJSON *v = miniapp_vector("T1 basic");
    char *data = strdup(vstr(v, "init_data"));
    char *p = strstr(data, "auth_date=1662771648");
    p[strlen("auth_date=166277164")] = '9';
    assert_int_equal(validate(data, vstr(v, "bot_token"), 0), TG_ERR_HASH);
    free(data);
}

static void test_reordered_fields_same_mac(void **state)
{
    (void)state;
    const cJSON *v = miniapp_vector("T1 basic");
    const char *data = vstr(v, "init_data");
    /* hash first, auth_date before user, query_id last; and %7B spelled %7b. */
    const char *user = strstr(data, "user=");
    const char *auth = strstr(data, "&auth_date=");
    const char *hash = strstr(data, "&hash=");
    char *re;
    assert_true(asprintf(&re, "%s&%.*s&%.*s&%.*s", hash + 1, (int)(hash - auth - 1), auth + 1,
                         (int)(auth - user), user, (int)(user - data - 1), data) > 0);
    char *lower = strstr(re, "%7B");
    lower[2] = 'b';
    tg_auth a, b;
    assert_int_equal(tg_validate(data, strlen(data), vstr(v, "bot_token"), time(NULL), 0, &a),
                     TG_OK);
    assert_int_equal(tg_validate(re, strlen(re), vstr(v, "bot_token"), time(NULL), 0, &b), TG_OK);
    /* Same canonical id: a replay under another spelling is still a replay. */
    assert_memory_equal(a.hash, b.hash, 32);
    free(re);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    const char *token = "1:x";
    tg_initdata d;
    struct {
        const char *in;
        tg_status want;
    } cases[] = {
        {"", TG_ERR_SYNTAX},           {"a=1&&b=2", TG_ERR_SYNTAX},
        {"a=1&", TG_ERR_SYNTAX},       {"a", TG_ERR_SYNTAX},
        {"=1", TG_ERR_SYNTAX},         {"a=%G1", TG_ERR_SYNTAX},
        {"a=%4", TG_ERR_SYNTAX},       {"a=1%", TG_ERR_SYNTAX},
        {"a=x%0Ab=2", TG_ERR_SYNTAX}, /* newline would let a value fake a field */
        {"a=x%00", TG_ERR_SYNTAX},     {"a=x\ty", TG_ERR_SYNTAX},
        {"a-b=1", TG_ERR_SYNTAX},      {"a%3Db=1", TG_ERR_SYNTAX},
        {"a=1&a=2", TG_ERR_DUPLICATE}, {"a=1&b=2&%61=3", TG_ERR_DUPLICATE},
        {"a=1+2&b=%2B", TG_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_status st = tg_parse(cases[i].in, strlen(cases[i].in), &d);
        if (st != cases[i].want)
            fail_msg("case %zu '%s': got %s", i, cases[i].in, tg_status_str(st));
        if (st == TG_OK) {
            assert_string_equal(tg_get(&d, "a")->value, "1 2");
            assert_string_equal(tg_get(&d, "b")->value, "+");
            assert_null(tg_get(&d, "c"));
        }
        tg_initdata_free(&d);
    }
    /* Duplicate keys in signed data are refused before any MAC is computed. */
    char *dup = resign("auth_date=1&user=%7B%22id%22%3A1%2C%22first_name%22%3A%22a%22%7D", token);
    char *twice;
    assert_true(asprintf(&twice, "%s&auth_date=2", dup) > 0);
    assert_int_equal(validate(twice, token, 0), TG_ERR_DUPLICATE);
    assert_int_equal(validate(dup, token, 0), TG_OK);
    free(twice);
    free(dup);
}

static void test_limits(void **state)
{
    (void)state;
    tg_initdata d;
    char big[TG_INITDATA_MAX + 2];
    memset(big, 'x', sizeof big);
    big[0] = 'a';
    big[1] = '=';
    assert_int_equal(tg_parse(big, TG_INITDATA_MAX, &d), TG_OK);
    tg_initdata_free(&d);
    assert_int_equal(tg_parse(big, TG_INITDATA_MAX + 1, &d), TG_ERR_LIMIT);

    char many[2048] = "";
    for (int i = 0; i <= TG_FIELDS_MAX; i++) {
        char pair[16];
        snprintf(pair, sizeof pair, "%sk%d=v", i ? "&" : "", i);
        strcat(many, pair);
        tg_status st = tg_parse(many, strlen(many), &d);
        assert_int_equal(st, i < TG_FIELDS_MAX ? TG_OK : TG_ERR_LIMIT);
        tg_initdata_free(&d);
    }
}

static void test_bad_hash_values(void **state)
{
    (void)state;
    const cJSON *v = miniapp_vector("T1 basic");
    const char *token = vstr(v, "bot_token");
    const char *data = vstr(v, "init_data");
    const char *h = strstr(data, "&hash=");
    size_t prefix = (size_t)(h - data);
    const char *variants[] = {
        "C501B71E775F74CE10E377DEA85A7EA24ECD640B223EA86DFE453E0EAED2E2B2",    /* upper case */
        "c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b",     /* truncated */
        "c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2a",   /* long */
        "z501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2",    /* non-hex */
        "%C3%A9501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2", /* non-ASCII */
        "",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char *s;
        assert_true(asprintf(&s, "%.*s&hash=%s", (int)prefix, data, variants[i]) > 0);
        assert_int_equal(validate(s, token, 0), TG_ERR_HASH);
        free(s);
    }
    char *nohash = strndup(data, prefix);
    assert_int_equal(validate(nohash, token, 0), TG_ERR_MISSING);
    free(nohash);
}

static void test_auth_date_rules(void **state)
{
    (void)state;
    const char *token = "42:secret-token";
    const char *user = "{\"id\":7,\"first_name\":\"Ann\"}";
    int64_t now = (int64_t)time(NULL);
    char *s;
    tg_auth a;

    assert_int_equal(tg_initdata_sign(user, now + 3600, token, &s), TG_OK);
    assert_int_equal(tg_validate(s, strlen(s), token, now, 0, &a), TG_ERR_FUTURE);
    free(s);
    assert_int_equal(tg_initdata_sign(user, now + TG_FUTURE_SKEW_S / 2, token, &s), TG_OK);
    assert_int_equal(tg_validate(s, strlen(s), token, now, 86400, &a), TG_OK);
    free(s);
    assert_int_equal(tg_initdata_sign(user, now - 86401, token, &s), TG_OK);
    assert_int_equal(tg_validate(s, strlen(s), token, now, 86400, &a), TG_ERR_EXPIRED);
    assert_int_equal(tg_validate(s, strlen(s), token, now, 0, &a), TG_OK);
    free(s);

    /* Signed but without auth_date, or with a non-number. */
    s = resign("user=%7B%22id%22%3A1%2C%22first_name%22%3A%22a%22%7D", token);
    assert_int_equal(validate(s, token, 0), TG_ERR_MISSING);
    free(s);
    s = resign("auth_date=-5&user=%7B%22id%22%3A1%2C%22first_name%22%3A%22a%22%7D", token);
    assert_int_equal(validate(s, token, 0), TG_ERR_SYNTAX);
    free(s);
}

static void test_user_errors(void **state)
{
    (void)state;
    const char *token = "42:secret-token";
    const char *bad[] = {
        "{\"first_name\":\"a\"}",
        "{\"id\":\"1\",\"first_name\":\"a\"}",
        "{\"id\":1.5,\"first_name\":\"a\"}",
        "{\"id\":1}",
        "{\"id\":1,\"first_name\":\"a\",\"username\":5}",
        "[1]",
        "{\"id\":1e300,\"first_name\":\"a\"}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *s;
        assert_int_equal(tg_initdata_sign(bad[i], time(NULL), token, &s), TG_OK);
        assert_int_equal(validate(s, token, 0), TG_ERR_USER);
        free(s);
    }
    char *s = resign("auth_date=1", token);
    assert_int_equal(validate(s, token, 0), TG_ERR_MISSING);
    free(s);
}

static void test_sign_round_trip(void **state)
{
    (void)state;
    const char *token = "123:AAbb-cc_dd";
    /* Characters that need escaping: '+', '&', '=', '%', UTF-8, \/ */
    const char *user = "{\"id\":4503599627370495,\"first_name\":\"Zoë + & = % \\/\","
                       "\"username\":\"zoe_1\"}";
    char *s;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(tg_initdata_sign(user, now, token, &s), TG_OK);
    tg_auth a;
    assert_int_equal(tg_validate(s, strlen(s), token, now, 60, &a), TG_OK);
    assert_int_equal(a.user.id, 4503599627370495LL);
    assert_string_equal(a.user.first_name, "Zoë + & = % /");
    assert_string_equal(a.user.username, "zoe_1");
    assert_int_equal(a.auth_date, now);
    /* Another token must not verify it. */
    assert_int_equal(tg_validate(s, strlen(s), "123:AAbb-cc_de", now, 60, &a), TG_ERR_HASH);
    free(s);
    assert_int_equal(tg_initdata_sign(user, now, "", &s), TG_ERR_ARG);
    assert_null(s);
    assert_int_equal(tg_initdata_sign("{\n}", now, token, &s), TG_ERR_ARG);
}

/* ---- crypto wrapper ---- */

static void test_crypto(void **state)
{
    (void)state;
    uint8_t out[32];
    char hex[65];
    assert_int_equal(crypto_sha256("abc", 3, out), 0);
    crypto_hex_encode(out, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2. */
    assert_int_equal(crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out), 0);
    crypto_hex_encode(out, 32, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    uint8_t back[32];
    assert_int_equal(crypto_hex_decode(hex, 64, back, 32), 0);
    assert_memory_equal(back, out, 32);
    assert_int_equal(crypto_hex_decode(hex, 63, back, 32), -1);
    assert_int_equal(crypto_hex_decode("0G", 2, back, 1), -1);
    assert_int_equal(crypto_hex_decode("AB", 2, back, 1), -1);
    assert_true(crypto_equal(back, out, 32));
    back[31] ^= 1;
    assert_false(crypto_equal(back, out, 32));

    uint8_t rnd[32] = {0}, zero[32] = {0};
    crypto_random(rnd, sizeof rnd);
    assert_false(crypto_equal(rnd, zero, 32));
    char b64[64];
    assert_true(crypto_b64url_len(32) <= sizeof b64);
    crypto_b64url_encode(rnd, 32, b64, sizeof b64);
    assert_int_equal(strlen(b64), 43);
    assert_null(strpbrk(b64, "+/="));
    size_t n;
    assert_int_equal(crypto_b64url_decode(b64, strlen(b64), back, sizeof back, &n), 0);
    assert_int_equal(n, 32);
    assert_memory_equal(back, rnd, 32);
    assert_int_equal(crypto_b64url_decode("ab$c", 4, back, sizeof back, &n), -1);
    assert_int_equal(crypto_b64url_decode("YQ==", 4, back, sizeof back, &n), -1);
}

static void test_status_names(void **state)
{
    (void)state;
    for (int i = 0; i < TG_STATUS__END; i++) {
        assert_string_not_equal(tg_status_str((tg_status)i), "unknown");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(tg_status_str((tg_status)i), tg_status_str((tg_status)j));
    }
    assert_string_equal(tg_status_str(TG_STATUS__END), "unknown");
    assert_int_equal(tg_bot_id("nocolon"), -1);
    assert_int_equal(tg_bot_id("12a:x"), -1);
    assert_int_equal(tg_bot_id("12:x"), 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miniapp_vectors),
        cmocka_unit_test(test_user_fields),
        cmocka_unit_test(test_t2_data_check_string),
        cmocka_unit_test(test_t2_ed25519),
        cmocka_unit_test(test_login_widget),
        cmocka_unit_test(test_changed_field),
        cmocka_unit_test(test_reordered_fields_same_mac),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bad_hash_values),
        cmocka_unit_test(test_auth_date_rules),
        cmocka_unit_test(test_user_errors),
        cmocka_unit_test(test_sign_round_trip),
        cmocka_unit_test(test_crypto),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
