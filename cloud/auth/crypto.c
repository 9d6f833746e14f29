/* crypto.c - mbedTLS + libsodium behind crypto.h (ES256: crypto_es256.c). */
#include "crypto.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/md.h>
#include <sodium.h>

int crypto_init(void)
{
    /* sodium_init() returns 1 when already initialised. */
    return sodium_init() < 0 ? -1 : 0;
}

int crypto_sha256(const void *msg, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (!md)
        return -1;
    return mbedtls_md(md, msg, len, out) == 0 ? 0 : -1;
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                       uint8_t out[CRYPTO_SHA256_LEN])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (!md)
        return -1;
    return mbedtls_md_hmac(md, key, key_len, msg, len, out) == 0 ? 0 : -1;
}

void crypto_random(void *buf, size_t len)
{
    randombytes_buf(buf, len);
}

int crypto_equal(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

void crypto_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int crypto_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len)
{
    if (hex_len != 2 * out_len)
        return -1;
    for (size_t i = 0; i < out_len; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

size_t crypto_b64url_len(size_t bin_len)
{
    return sodium_base64_ENCODED_LEN(bin_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void crypto_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int crypto_b64url_decode(const char *b64, size_t b64_len, uint8_t *out, size_t cap, size_t *out_len)
{
    const char *end = NULL;
    if (sodium_base642bin(out, cap, b64, b64_len, NULL, out_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    /* libsodium stops at the first character it does not know: insist that
     * it consumed everything. */
    return end == b64 + b64_len ? 0 : -1;
}

int crypto_ed25519_verify(const uint8_t sig[CRYPTO_ED25519_SIG], const void *msg, size_t len,
                          const uint8_t pk[CRYPTO_ED25519_PK])
{
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

/* ---- more hashes and MACs ---- */

static const mbedtls_md_info_t *md_info(crypto_md md)
{
    switch (md) {
    case CRYPTO_MD_SHA1:
        return mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    case CRYPTO_MD_SHA256:
        return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    case CRYPTO_MD_SHA512:
        return mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
    }
    return NULL;
}

size_t crypto_md_len(crypto_md md)
{
    return md == CRYPTO_MD_SHA1     ? CRYPTO_SHA1_LEN
           : md == CRYPTO_MD_SHA256 ? CRYPTO_SHA256_LEN
           : md == CRYPTO_MD_SHA512 ? CRYPTO_SHA512_LEN
                                    : 0;
}

int crypto_sha1(const void *msg, size_t len, uint8_t out[CRYPTO_SHA1_LEN])
{
    const mbedtls_md_info_t *md = md_info(CRYPTO_MD_SHA1);
    return md && mbedtls_md(md, msg, len, out) == 0 ? 0 : -1;
}

int crypto_hmac(crypto_md md, const void *key, size_t key_len, const void *msg, size_t len,
                uint8_t *out)
{
    const mbedtls_md_info_t *info = md_info(md);
    return info && mbedtls_md_hmac(info, key, key_len, msg, len, out) == 0 ? 0 : -1;
}

int crypto_b64_decode(const char *b64, size_t b64_len, uint8_t *out, size_t cap, size_t *out_len)
{
    const char *end = NULL;
    if (sodium_base642bin(out, cap, b64, b64_len, NULL, out_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return end == b64 + b64_len ? 0 : -1;
}

size_t crypto_b64_len(size_t bin_len)
{
    return sodium_base64_ENCODED_LEN(bin_len, sodium_base64_VARIANT_ORIGINAL);
}

void crypto_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
}

static int aes128_cbc(int mode, const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
                      size_t len, uint8_t *out)
{
    mbedtls_aes_context aes;
    uint8_t ivc[16];
    memcpy(ivc, iv, 16);
    mbedtls_aes_init(&aes);
    int rc = (mode == MBEDTLS_AES_DECRYPT ? mbedtls_aes_setkey_dec(&aes, key, 128)
                                          : mbedtls_aes_setkey_enc(&aes, key, 128));
    if (rc == 0)
        rc = mbedtls_aes_crypt_cbc(&aes, mode, len, ivc, in, out);
    mbedtls_aes_free(&aes);
    return rc == 0 ? 0 : -1;
}

int crypto_aes128_cbc_decrypt(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
                              size_t len, uint8_t *out, size_t *out_len)
{
    if (len == 0 || len % 16 || aes128_cbc(MBEDTLS_AES_DECRYPT, key, iv, in, len, out) < 0)
        return -1;
    uint8_t pad = out[len - 1];
    if (pad == 0 || pad > 16)
        return -1;
    for (size_t i = len - pad; i < len; i++)
        if (out[i] != pad)
            return -1;
    *out_len = len - pad;
    return 0;
}

int crypto_aes128_cbc_encrypt(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
                              size_t len, uint8_t *out, size_t *out_len)
{
    size_t pad = 16 - len % 16, n = len + pad;
    memmove(out, in, len);
    memset(out + len, (int)pad, pad);
    if (aes128_cbc(MBEDTLS_AES_ENCRYPT, key, iv, out, n, out) < 0)
        return -1;
    *out_len = n;
    return 0;
}

/* ---- ES256: crypto_es256.c (OpenSSL libcrypto, ADR 0004) ---- */

/* ---- AEAD ---- */

void crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY], const void *ad, size_t ad_len,
                      const void *pt, size_t len, uint8_t *sealed)
{
    uint8_t *nonce = sealed;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed +
                                                   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                               NULL, pt, len, ad, ad_len, NULL, nonce, key);
}

int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY], const void *ad, size_t ad_len,
                     const uint8_t *sealed, size_t sealed_len, uint8_t *pt)
{
    if (sealed_len < CRYPTO_AEAD_OVERHEAD)
        return -1;
    const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, sealed + nb, sealed_len - nb,
                                                      ad, ad_len, sealed, key) == 0
               ? 0
               : -1;
}

/* ---- passwords ---- */

int crypto_password_hash(const char *password, size_t len, char out[CRYPTO_PASSWORD_LEN])
{
    return crypto_pwhash_str_alg(out, password, len, 2, 19u * 1024 * 1024,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

int crypto_password_verify(const char *phc, const char *password, size_t len)
{
    return crypto_pwhash_str_verify(phc, password, len) == 0;
}

void crypto_wipe(void *buf, size_t len)
{
    sodium_memzero(buf, len);
}
