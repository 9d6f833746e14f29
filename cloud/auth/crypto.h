/* crypto.h - the one place fitgate-core calls a crypto library.
 *
 * Hashes and MACs come from mbedTLS (2.28 today; moving to 3.6 touches only
 * crypto.c), randomness, constant-time helpers, base64url and Ed25519 from
 * libsodium. Every function is thread-safe once crypto_init() has returned.
 * No function allocates; outputs go to caller-owned buffers.
 */
#ifndef FITGATE_CRYPTO_H
#define FITGATE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN  32
#define CRYPTO_ED25519_PK  32
#define CRYPTO_ED25519_SIG 64

/* Initialise libsodium (idempotent, thread-safe). 0 or -1. */
int crypto_init(void);

/* out = SHA-256(msg). 0 or -1. */
int crypto_sha256(const void *msg, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
/* out = HMAC-SHA-256(key, msg). 0 or -1. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                       uint8_t out[CRYPTO_SHA256_LEN]);

/* Fill buf with len bytes from the kernel CSPRNG (cannot fail once
 * crypto_init() succeeded). */
void crypto_random(void *buf, size_t len);

/* 1 when a[0..len) == b[0..len), else 0; time depends only on len. */
int crypto_equal(const void *a, const void *b, size_t len);

/* Lower-case hex of in[0..len) into out (2*len + 1 bytes, NUL-terminated). */
void crypto_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decode exactly 2*out_len lower-case hex digits from hex[0..hex_len).
 * -1 on a wrong length or any other character (upper case included: callers
 * want one canonical spelling). */
int crypto_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len);

/* base64url without padding (RFC 4648 section 5). encode writes a
 * NUL-terminated string of at most crypto_b64url_len(len) bytes (with NUL). */
size_t crypto_b64url_len(size_t bin_len);
void crypto_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Decode b64[0..b64_len) strictly (no padding, no whitespace, nothing
 * trailing) into out; *out_len gets the byte count. 0 or -1. */
int crypto_b64url_decode(const char *b64, size_t b64_len, uint8_t *out, size_t cap,
                         size_t *out_len);

/* 1 when sig is a valid Ed25519 signature of msg under pk, else 0. */
int crypto_ed25519_verify(const uint8_t sig[CRYPTO_ED25519_SIG], const void *msg, size_t len,
                          const uint8_t pk[CRYPTO_ED25519_PK]);

#endif
