/* crypto_es256.c - ES256 (ECDSA P-256 with SHA-256) for crypto.h, on
 * OpenSSL's libcrypto (ADR 0004).
 *
 * Why not mbedTLS like the rest of crypto.c: an mbedTLS 2.28 P-256 signature
 * costs 0.3-0.4 ms of CPU, which caps sign-ins (one access token each) near
 * 5,000/s on two cores, half the target. libcrypto's P-256 (constant-time
 * nistz256 assembly) signs in about 18 us and verifies in about 56 us.
 *
 * Building an EVP_PKEY from raw bytes costs more than a signature, so keys
 * are kept in two small caches (the identity module has a handful of signing
 * keys; every request verifies against one of the few public keys in the
 * JWKS). An EVP_PKEY is immutable once built, and OpenSSL 3 allows several
 * threads to sign or verify with one key at once, each with its own
 * context (a signing one is kept per thread); the caches hand out a
 * reference under a mutex.
 *
 * Nonces are random (OpenSSL 3.0 has no RFC 6979): with the kernel CSPRNG
 * behind OpenSSL's DRBG that is the standard practice.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define KEY_CACHE 16

typedef struct key_slot {
    uint8_t bytes[CRYPTO_ES256_PUB]; /* priv (32) or pub (65) */
    size_t len;
    EVP_PKEY *pk;
    uint64_t used;
} key_slot;

static key_slot priv_cache[KEY_CACHE], pub_cache[KEY_CACHE];
static uint64_t cache_clock;
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

/* pub = priv * G, uncompressed. -1 unless 0 < priv < n. */
static int pub_from_priv(const uint8_t priv[CRYPTO_ES256_PRIV], uint8_t pub[CRYPTO_ES256_PUB])
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *d = BN_bin2bn(priv, CRYPTO_ES256_PRIV, NULL);
    EC_POINT *q = g ? EC_POINT_new(g) : NULL;
    int ok = g && d && q && !BN_is_zero(d) && BN_cmp(d, EC_GROUP_get0_order(g)) < 0 &&
             EC_POINT_mul(g, q, d, NULL, NULL, NULL) == 1 &&
             EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub, CRYPTO_ES256_PUB, NULL) ==
                 CRYPTO_ES256_PUB;
    EC_POINT_free(q);
    BN_clear_free(d);
    EC_GROUP_free(g);
    return ok ? 0 : -1;
}

/* An EVP_PKEY for priv (with its public half) or pub only. NULL on a bad key
 * (not a scalar in range, not a point on the curve). */
static EVP_PKEY *pkey_build(const uint8_t *priv, const uint8_t pub[CRYPTO_ES256_PUB])
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    BIGNUM *d = priv ? BN_secure_new() : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    int ok =
        b && (!priv || (d && BN_bin2bn(priv, CRYPTO_ES256_PRIV, d))) &&
        OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, CRYPTO_ES256_PUB) &&
        (!priv || OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d)) &&
        (params = OSSL_PARAM_BLD_to_param(b)) &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pk, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1;
    if (ok && !priv) {
        /* fromdata decodes the point; check it is really on the curve. */
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        ok = chk && EVP_PKEY_public_check(chk) == 1;
        EVP_PKEY_CTX_free(chk);
    }
    if (!ok) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_clear_free(d);
    OSSL_PARAM_BLD_free(b);
    return pk;
}

/* A referenced key for bytes (caller EVP_PKEY_free()s it), from the cache or
 * built and cached. is_priv selects the cache and the build. */
static EVP_PKEY *pkey_get(const uint8_t *bytes, int is_priv)
{
    key_slot *cache = is_priv ? priv_cache : pub_cache;
    size_t len = is_priv ? CRYPTO_ES256_PRIV : CRYPTO_ES256_PUB;
    EVP_PKEY *pk = NULL;
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < KEY_CACHE; i++) {
        /* Constant time: the private scalars are compared here. */
        if (cache[i].pk && cache[i].len == len && crypto_equal(cache[i].bytes, bytes, len)) {
            pk = cache[i].pk;
            EVP_PKEY_up_ref(pk);
            cache[i].used = ++cache_clock;
            break;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    if (pk)
        return pk;

    uint8_t pub[CRYPTO_ES256_PUB];
    if (is_priv) {
        if (pub_from_priv(bytes, pub) != 0)
            return NULL;
        pk = pkey_build(bytes, pub);
        sodium_memzero(pub, sizeof pub);
    } else {
        pk = pkey_build(NULL, bytes);
    }
    if (!pk)
        return NULL;
    pthread_mutex_lock(&cache_mu);
    int victim = 0;
    for (int i = 1; i < KEY_CACHE; i++)
        if (cache[i].used < cache[victim].used)
            victim = i;
    EVP_PKEY *old = cache[victim].pk;
    memcpy(cache[victim].bytes, bytes, len);
    cache[victim].len = len;
    cache[victim].pk = pk;
    cache[victim].used = ++cache_clock;
    EVP_PKEY_up_ref(pk); /* one for the cache, one for the caller */
    pthread_mutex_unlock(&cache_mu);
    EVP_PKEY_free(old);
    return pk;
}

int crypto_es256_public(const uint8_t priv[CRYPTO_ES256_PRIV], uint8_t pub[CRYPTO_ES256_PUB])
{
    return pub_from_priv(priv, pub);
}

int crypto_es256_keygen(uint8_t priv[CRYPTO_ES256_PRIV], uint8_t pub[CRYPTO_ES256_PUB])
{
    /* Rejection sampling: a random 256-bit string is a valid scalar with
     * overwhelming probability; retry the rare misses. */
    for (int i = 0; i < 16; i++) {
        randombytes_buf(priv, CRYPTO_ES256_PRIV);
        if (pub_from_priv(priv, pub) == 0)
            return 0;
    }
    return -1;
}

/* A signing context per thread, for the key it last signed with: setting
 * one up (EVP_DigestSignInit: provider fetches, a new EVP_PKEY_CTX) cost
 * about a quarter of each signature. It holds a reference to its key, so a
 * key the cache dropped cannot be mistaken for a new one at the same
 * address. Freed when its thread ends. */
typedef struct sign_ctx {
    EVP_PKEY *pk;
    EVP_PKEY_CTX *ctx;
} sign_ctx;

static pthread_key_t sign_key;
static pthread_once_t sign_once = PTHREAD_ONCE_INIT;
static int sign_key_ok;

static void sign_ctx_free(void *p)
{
    sign_ctx *s = p;
    EVP_PKEY_CTX_free(s->ctx);
    EVP_PKEY_free(s->pk);
    free(s);
}

static void sign_key_make(void)
{
    sign_key_ok = pthread_key_create(&sign_key, sign_ctx_free) == 0;
}

/* This thread's signing context for pk, or NULL. */
static EVP_PKEY_CTX *sign_ctx_get(EVP_PKEY *pk)
{
    pthread_once(&sign_once, sign_key_make);
    if (!sign_key_ok)
        return NULL;
    sign_ctx *s = pthread_getspecific(sign_key);
    if (s && s->pk == pk)
        return s->ctx;
    if (!s) {
        if (!(s = calloc(1, sizeof *s)) || pthread_setspecific(sign_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    EVP_PKEY_CTX_free(s->ctx);
    EVP_PKEY_free(s->pk);
    s->ctx = NULL;
    s->pk = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (!c || EVP_PKEY_sign_init(c) != 1) {
        EVP_PKEY_CTX_free(c);
        return NULL;
    }
    EVP_PKEY_up_ref(pk);
    s->pk = pk;
    s->ctx = c;
    return c;
}

int crypto_es256_sign(const uint8_t priv[CRYPTO_ES256_PRIV], const void *msg, size_t len,
                      uint8_t sig[CRYPTO_ES256_SIG])
{
    EVP_PKEY *pk = pkey_get(priv, 1);
    if (!pk)
        return -1;
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, msg, len);
    EVP_PKEY_CTX *c = sign_ctx_get(pk);
    unsigned char der[80];
    size_t dlen = sizeof der;
    ECDSA_SIG *es = NULL;
    int ok = c && EVP_PKEY_sign(c, der, &dlen, digest, sizeof digest) == 1;
    if (ok) {
        const unsigned char *p = der;
        const BIGNUM *r, *s;
        ok = (es = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) != NULL;
        if (ok) {
            ECDSA_SIG_get0(es, &r, &s);
            ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
        }
    }
    ECDSA_SIG_free(es);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

int crypto_es256_verify(const uint8_t pub[CRYPTO_ES256_PUB], const void *msg, size_t len,
                        const uint8_t sig[CRYPTO_ES256_SIG])
{
    EVP_PKEY *pk = pkey_get(pub, 0);
    if (!pk)
        return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int dlen = -1, ok = 0;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        dlen = i2d_ECDSA_SIG(es, &der);
    }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    /* OpenSSL's ECDSA verify refuses r or s outside [1, n-1]. */
    if (dlen > 0 && m && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pk) == 1)
        ok = EVP_DigestVerify(m, der, (size_t)dlen, msg, len) == 1;
    EVP_MD_CTX_free(m);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    EVP_PKEY_free(pk);
    return ok;
}
