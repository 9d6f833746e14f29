/* fwsig.h - the crypto wrapper of fitgate-fw: every mbedTLS call of the
 * bundle code lives behind these functions (mbedTLS 2.28 is end-of-life; a
 * move to 3.6 touches only fwsig.c).
 *
 * Signatures are ECDSA P-256 over SHA-256, DER-encoded (what mbedtls_pk_sign
 * writes and `openssl dgst -sha256 -sign/-verify` reads and writes).
 */
#ifndef FITGATE_FWSIG_H
#define FITGATE_FWSIG_H

#include <stddef.h>
#include <stdint.h>

#define FWSIG_SHA256_LEN 32
/* A DER ECDSA P-256 signature is at most 72 bytes; leave room. */
#define FWSIG_MAX_SIG 160

/* Streaming SHA-256. Opaque; allocated by fwsig_sha256_new, freed by
 * fwsig_sha256_free (also after a failed update). */
typedef struct fwsig_sha256 fwsig_sha256;
fwsig_sha256 *fwsig_sha256_new(void);
int fwsig_sha256_update(fwsig_sha256 *h, const void *data, size_t len);
int fwsig_sha256_final(fwsig_sha256 *h, uint8_t out[FWSIG_SHA256_LEN]);
void fwsig_sha256_free(fwsig_sha256 *h);
/* One-shot SHA-256 (fwsig_digest); 0 on success. */
int fwsig_digest(const void *data, size_t len, uint8_t out[FWSIG_SHA256_LEN]);

/* Sign data with the EC P-256 private key in key_pem (a PEM file). When
 * cert_pem is not NULL the key must match that certificate's public key.
 * Writes the DER signature to sig (FWSIG_MAX_SIG bytes) and its length to
 * *sig_len. Returns 0, or -1 with a reason in err. */
int fwsig_sign(const char *key_pem, const char *cert_pem, const void *data, size_t len,
               uint8_t *sig, size_t *sig_len, char *err, size_t errlen);

/* Verify a DER signature over data. signer_pem (PEM bytes, NUL not needed;
 * signer first, then any intermediates) must chain to a CA in keyring_path
 * (a PEM file of one or more CA certificates), must carry the extended key
 * usage codeSigning, and must hold an EC P-256 key. Certificate validity
 * dates are checked against the system clock. Returns 0 when everything
 * holds, -1 with a reason in err otherwise. */
int fwsig_verify(const char *keyring_path, const uint8_t *signer_pem, size_t signer_len,
                 const void *data, size_t len, const uint8_t *sig, size_t sig_len, char *err,
                 size_t errlen);

/* WPA2-Personal PSK: PBKDF2-HMAC-SHA1(passphrase, ssid, 4096 rounds, 32
 * bytes), IEEE 802.11i-2004 annex H.4. 0 or -1. */
int fwsig_wpa_psk(const char *passphrase, const uint8_t *ssid, size_t ssid_len, uint8_t psk[32]);

/* Check a PEM CA bundle: it parses, and every certificate in it is a CA
 * (basicConstraints CA:TRUE). Returns the number of certificates, or -1 with
 * a reason in err. */
int fwsig_ca_bundle_check(const char *path, char *err, size_t errlen);

/* Constant-time comparison: 0 when equal. */
int fwsig_memeq(const void *a, const void *b, size_t n);

#endif
