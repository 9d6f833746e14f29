/* test_es256.c - ES256 on libcrypto (crypto_es256.c): the RFC 7515 A.3
 * example verifies, the scalar multiplication gives its public key, our own
 * signatures verify and nothing else does, and many threads share keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"

/* RFC 7515 appendix A.3 (JWS using ECDSA P-256 SHA-256). */
static const char *A3_X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char *A3_Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char *A3_D = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
static const char *A3_INPUT =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char *A3_SIG = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ"
                            "xfKTUJqPP3-Kg6NU1Q";

static void b64(const char *s, uint8_t *out, size_t want)
{
    size_t n = 0;
    assert_int_equal(crypto_b64url_decode(s, strlen(s), out, want, &n), 0);
    assert_int_equal(n, want);
}

static void test_rfc7515_a3(void **state)
{
    (void)state;
    uint8_t pub[CRYPTO_ES256_PUB], priv[32], sig[64], pub2[CRYPTO_ES256_PUB];
    pub[0] = 0x04;
    b64(A3_X, pub + 1, 32);
    b64(A3_Y, pub + 33, 32);
    b64(A3_D, priv, 32);
    b64(A3_SIG, sig, 64);
    assert_int_equal(crypto_es256_verify(pub, A3_INPUT, strlen(A3_INPUT), sig), 1);
    assert_int_equal(crypto_es256_public(priv, pub2), 0);
    assert_memory_equal(pub, pub2, sizeof pub);
    /* Every single-bit change of the signature or the input fails. */
    for (int i = 0; i < 64 * 8; i += 7) {
        sig[i / 8] ^= (uint8_t)(1 << (i % 8));
        assert_int_equal(crypto_es256_verify(pub, A3_INPUT, strlen(A3_INPUT), sig), 0);
        sig[i / 8] ^= (uint8_t)(1 << (i % 8));
    }
    assert_int_equal(crypto_es256_verify(pub, A3_INPUT, strlen(A3_INPUT) - 1, sig), 0);
    /* Our own signature with the same key verifies (random nonce: differs). */
    uint8_t mine[64];
    assert_int_equal(crypto_es256_sign(priv, A3_INPUT, strlen(A3_INPUT), mine), 0);
    assert_int_equal(crypto_es256_verify(pub, A3_INPUT, strlen(A3_INPUT), mine), 1);
    assert_memory_not_equal(mine, sig, 64);
}

static void test_bad_keys_and_signatures(void **state)
{
    (void)state;
    uint8_t priv[32], pub[CRYPTO_ES256_PUB], sig[64];
    assert_int_equal(crypto_es256_keygen(priv, pub), 0);
    assert_int_equal(crypto_es256_sign(priv, "m", 1, sig), 0);
    /* r = 0 or s = 0, r or s = n (out of range) never verify. */
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                  0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    uint8_t bad[64];
    memcpy(bad, sig, 64);
    memset(bad, 0, 32);
    assert_int_equal(crypto_es256_verify(pub, "m", 1, bad), 0);
    memcpy(bad, sig, 64);
    memset(bad + 32, 0, 32);
    assert_int_equal(crypto_es256_verify(pub, "m", 1, bad), 0);
    memcpy(bad, n, 32);
    assert_int_equal(crypto_es256_verify(pub, "m", 1, bad), 0);
    /* A point not on the curve, the point at infinity, a compressed prefix. */
    uint8_t off[CRYPTO_ES256_PUB];
    memcpy(off, pub, sizeof off);
    off[64] ^= 1;
    assert_int_equal(crypto_es256_verify(off, "m", 1, sig), 0);
    memset(off, 0, sizeof off);
    assert_int_equal(crypto_es256_verify(off, "m", 1, sig), 0);
    memcpy(off, pub, sizeof off);
    off[0] = 0x02;
    assert_int_equal(crypto_es256_verify(off, "m", 1, sig), 0);
    /* Private scalars 0 and n are not keys. */
    uint8_t zero[32] = {0};
    assert_int_equal(crypto_es256_public(zero, off), -1);
    assert_int_equal(crypto_es256_sign(zero, "m", 1, bad), -1);
    assert_int_equal(crypto_es256_public(n, off), -1);
}

/* More keys than the caches hold, used from several threads at once. */
#define NKEYS    24
#define NTHREADS 4
static uint8_t keys[NKEYS][32], pubs[NKEYS][CRYPTO_ES256_PUB];
static int failures;

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < 200; i++) {
        int k = (i * 7 + t) % NKEYS;
        uint8_t sig[64];
        char msg[32];
        int len = snprintf(msg, sizeof msg, "t%d-%d", t, i);
        if (crypto_es256_sign(keys[k], msg, (size_t)len, sig) != 0 ||
            crypto_es256_verify(pubs[k], msg, (size_t)len, sig) != 1 ||
            crypto_es256_verify(pubs[(k + 1) % NKEYS], msg, (size_t)len, sig) != 0)
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_threads_and_cache_eviction(void **state)
{
    (void)state;
    for (int k = 0; k < NKEYS; k++)
        assert_int_equal(crypto_es256_keygen(keys[k], pubs[k]), 0);
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t), 0);
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(failures, 0);
}

int main(void)
{
    assert_int_equal(crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a3),
        cmocka_unit_test(test_bad_keys_and_signatures),
        cmocka_unit_test(test_threads_and_cache_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
