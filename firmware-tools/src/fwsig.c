/* fwsig.c - SHA-256, ECDSA P-256 sign/verify and X.509 chain checks (mbedTLS). */
#include "fwsig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/x509_crt.h>

struct fwsig_sha256 {
    mbedtls_md_context_t md;
};

fwsig_sha256 *fwsig_sha256_new(void)
{
    fwsig_sha256 *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    mbedtls_md_init(&h->md);
    if (mbedtls_md_setup(&h->md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 0) ||
        mbedtls_md_starts(&h->md)) {
        fwsig_sha256_free(h);
        return NULL;
    }
    return h;
}

int fwsig_sha256_update(fwsig_sha256 *h, const void *data, size_t len)
{
    return mbedtls_md_update(&h->md, data, len) ? -1 : 0;
}

int fwsig_sha256_final(fwsig_sha256 *h, uint8_t out[FWSIG_SHA256_LEN])
{
    return mbedtls_md_finish(&h->md, out) ? -1 : 0;
}

void fwsig_sha256_free(fwsig_sha256 *h)
{
    if (!h)
        return;
    mbedtls_md_free(&h->md);
    free(h);
}

int fwsig_digest(const void *data, size_t len, uint8_t out[FWSIG_SHA256_LEN])
{
    return mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), data, len, out) ? -1 : 0;
}

int fwsig_memeq(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d != 0;
}

/* Only EC keys on P-256: a bundle signed with anything else is refused so the
 * openssl interop promise holds for every accepted signature. */
static int key_is_p256(const mbedtls_pk_context *pk)
{
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
        return 0;
    return mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

int fwsig_sign(const char *key_pem, const char *cert_pem, const void *data, size_t len,
               uint8_t *sig, size_t *sig_len, char *err, size_t errlen)
{
    mbedtls_pk_context key;
    mbedtls_x509_crt crt;
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    uint8_t hash[FWSIG_SHA256_LEN];
    uint8_t der[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t der_len = 0;
    int rc = -1;

    mbedtls_pk_init(&key);
    mbedtls_x509_crt_init(&crt);
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_pk_parse_keyfile(&key, key_pem, NULL)) {
        snprintf(err, errlen, "cannot read private key %s", key_pem);
        goto out;
    }
    if (!key_is_p256(&key)) {
        snprintf(err, errlen, "signing key is not ECDSA P-256");
        goto out;
    }
    if (cert_pem) {
        if (mbedtls_x509_crt_parse_file(&crt, cert_pem)) {
            snprintf(err, errlen, "cannot read certificate %s", cert_pem);
            goto out;
        }
        if (mbedtls_pk_check_pair(&crt.pk, &key)) {
            snprintf(err, errlen, "key does not match the certificate");
            goto out;
        }
    }
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
                              (const unsigned char *)"fitgate-fw", 10) ||
        fwsig_digest(data, len, hash) ||
        mbedtls_pk_sign(&key, MBEDTLS_MD_SHA256, hash, sizeof(hash), der, &der_len,
                        mbedtls_ctr_drbg_random, &drbg) ||
        der_len > FWSIG_MAX_SIG) {
        snprintf(err, errlen, "signing failed");
        goto out;
    }
    memcpy(sig, der, der_len);
    *sig_len = der_len;
    rc = 0;
out:
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);
    return rc;
}

/* mbedtls_x509_crt_check_extended_key_usage() allows every usage when the
 * certificate has no EKU extension at all; a bundle signer must name
 * codeSigning explicitly, so the extension's presence is checked first. */
static int has_code_signing(const mbedtls_x509_crt *c)
{
    if (!(c->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE))
        return 0;
    if (mbedtls_x509_crt_check_extended_key_usage(c, MBEDTLS_OID_CODE_SIGNING,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CODE_SIGNING)))
        return 0;
    /* A keyUsage extension, when present, must allow signatures. */
    return mbedtls_x509_crt_check_key_usage(c, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) == 0;
}

int fwsig_verify(const char *keyring_path, const uint8_t *signer_pem, size_t signer_len,
                 const void *data, size_t len, const uint8_t *sig, size_t sig_len, char *err,
                 size_t errlen)
{
    mbedtls_x509_crt ca, signer;
    uint8_t hash[FWSIG_SHA256_LEN];
    uint32_t flags = 0;
    int rc = -1;
    /* mbedtls wants PEM input NUL-terminated, with the NUL counted. */
    char *pem = malloc(signer_len + 1);

    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&signer);
    if (!pem) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memcpy(pem, signer_pem, signer_len);
    pem[signer_len] = '\0';
    if (mbedtls_x509_crt_parse_file(&ca, keyring_path)) {
        snprintf(err, errlen, "cannot read keyring %s", keyring_path);
        goto out;
    }
    if (memchr(pem, '\0', signer_len) ||
        mbedtls_x509_crt_parse(&signer, (const unsigned char *)pem, signer_len + 1)) {
        snprintf(err, errlen, "signer certificate unreadable");
        goto out;
    }
    if (mbedtls_x509_crt_verify(&signer, &ca, NULL, NULL, &flags, NULL, NULL)) {
        snprintf(err, errlen, "signer certificate does not chain to the keyring (flags 0x%x)",
                 (unsigned)flags);
        goto out;
    }
    if (!has_code_signing(&signer)) {
        snprintf(err, errlen, "signer certificate lacks the codeSigning extended key usage");
        goto out;
    }
    if (!key_is_p256(&signer.pk)) {
        snprintf(err, errlen, "signer key is not ECDSA P-256");
        goto out;
    }
    if (fwsig_digest(data, len, hash) ||
        mbedtls_pk_verify(&signer.pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sig_len)) {
        snprintf(err, errlen, "signature does not match the manifest");
        goto out;
    }
    rc = 0;
out:
    mbedtls_x509_crt_free(&signer);
    mbedtls_x509_crt_free(&ca);
    free(pem);
    return rc;
}

int fwsig_wpa_psk(const char *passphrase, const uint8_t *ssid, size_t ssid_len, uint8_t psk[32])
{
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), 1) ||
                     mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)passphrase,
                                               strlen(passphrase), ssid, ssid_len, 4096, 32, psk)
                 ? -1
                 : 0;
    mbedtls_md_free(&md);
    return rc;
}

int fwsig_ca_bundle_check(const char *path, char *err, size_t errlen)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rc = mbedtls_x509_crt_parse_file(&crt, path), n = 0;
    if (rc != 0) {
        /* > 0: some certificates did not parse. Refuse the whole bundle: a
         * gateway that silently drops its only CA never comes online. */
        snprintf(err, errlen, "CA bundle %s does not parse as PEM certificates", path);
        mbedtls_x509_crt_free(&crt);
        return -1;
    }
    for (const mbedtls_x509_crt *c = &crt; c && c->raw.len; c = c->next, n++)
        if (!c->ca_istrue) {
            snprintf(err, errlen, "certificate %d in %s is not a CA (basicConstraints)", n + 1,
                     path);
            mbedtls_x509_crt_free(&crt);
            return -1;
        }
    mbedtls_x509_crt_free(&crt);
    if (n == 0)
        snprintf(err, errlen, "CA bundle %s holds no certificate", path);
    return n ? n : -1;
}
