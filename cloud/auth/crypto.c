/* crypto.c - mbedTLS + libsodium behind crypto.h. */
#include "crypto.h"

#include <string.h>

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
