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
#define CRYPTO_SHA1_LEN    20
#define CRYPTO_SHA512_LEN  64
#define CRYPTO_ES256_PRIV  32 /* P-256 private scalar, big-endian */
#define CRYPTO_ES256_PUB   65 /* uncompressed point 04 || X || Y */
#define CRYPTO_ES256_SIG   64 /* r || s, as JWS wants it (RFC 7518 3.4) */
#define CRYPTO_AEAD_KEY    32
/* sealed = nonce (24) || ciphertext || tag (16) */
#define CRYPTO_AEAD_OVERHEAD (24 + 16)

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

/* ---- more hashes and MACs ---- */
typedef enum crypto_md {
    CRYPTO_MD_SHA1 = 1,
    CRYPTO_MD_SHA256,
    CRYPTO_MD_SHA512,
} crypto_md;
/* out = SHA-1(msg) (WeChat's rawData signature; nothing of ours). 0 or -1. */
int crypto_sha1(const void *msg, size_t len, uint8_t out[CRYPTO_SHA1_LEN]);
/* out = HMAC-md(key, msg); out must hold crypto_md_len(md) bytes. 0 or -1. */
int crypto_hmac(crypto_md md, const void *key, size_t key_len, const void *msg, size_t len,
                uint8_t *out);
size_t crypto_md_len(crypto_md md);

/* Standard base64 with padding (RFC 4648 section 4), strict. 0 or -1. */
int crypto_b64_decode(const char *b64, size_t b64_len, uint8_t *out, size_t cap, size_t *out_len);

/* Standard base64 with padding; out needs crypto_b64_len(len) bytes (with NUL). */
size_t crypto_b64_len(size_t bin_len);
void crypto_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* AES-128-CBC decryption with PKCS#7 padding checked and removed (WeChat
 * encryptedData). out needs len bytes; *out_len gets the plaintext length.
 * -1 on a length that is not a positive multiple of 16 or bad padding. */
int crypto_aes128_cbc_decrypt(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
                              size_t len, uint8_t *out, size_t *out_len);
/* The matching encryption (tests and fakes). out needs len + 16 bytes. */
int crypto_aes128_cbc_encrypt(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
                              size_t len, uint8_t *out, size_t *out_len);

/* ---- ES256 (ECDSA P-256 with SHA-256) ---- */
/* New key pair from the CSPRNG. 0 or -1. */
int crypto_es256_keygen(uint8_t priv[CRYPTO_ES256_PRIV], uint8_t pub[CRYPTO_ES256_PUB]);
/* Public key of a private scalar; -1 when priv is not a valid scalar. */
int crypto_es256_public(const uint8_t priv[CRYPTO_ES256_PRIV], uint8_t pub[CRYPTO_ES256_PUB]);
/* Deterministic-nonce (RFC 6979) signature of SHA-256(msg). 0 or -1. */
int crypto_es256_sign(const uint8_t priv[CRYPTO_ES256_PRIV], const void *msg, size_t len,
                      uint8_t sig[CRYPTO_ES256_SIG]);
/* 1 when sig is a valid signature of msg under pub (a point on the curve,
 * r and s in [1, n-1]), else 0. */
int crypto_es256_verify(const uint8_t pub[CRYPTO_ES256_PUB], const void *msg, size_t len,
                        const uint8_t sig[CRYPTO_ES256_SIG]);

/* ---- AEAD: XChaCha20-Poly1305 (libsodium), random 192-bit nonce ---- */
/* sealed (len + CRYPTO_AEAD_OVERHEAD bytes) = nonce || ct || tag; ad binds
 * context (e.g. the user id and key id) so a ciphertext cannot be moved. */
void crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY], const void *ad, size_t ad_len,
                      const void *pt, size_t len, uint8_t *sealed);
/* Open sealed[0..sealed_len) into pt (sealed_len - CRYPTO_AEAD_OVERHEAD
 * bytes). 0, or -1 when forged, truncated or under another key/ad. */
int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY], const void *ad, size_t ad_len,
                     const uint8_t *sealed, size_t sealed_len, uint8_t *pt);

/* ---- passwords ---- */
/* argon2id (t=2, m=19 MiB, p=1 per NIST / OWASP) into out (PHC string,
 * CRYPTO_PASSWORD_LEN bytes). 0 or -1. */
#define CRYPTO_PASSWORD_LEN 128
int crypto_password_hash(const char *password, size_t len, char out[CRYPTO_PASSWORD_LEN]);
/* 1 when password matches the PHC string, else 0. */
int crypto_password_verify(const char *phc, const char *password, size_t len);

/* Wipe secrets from memory (not optimised away). */
void crypto_wipe(void *buf, size_t len);

#endif
