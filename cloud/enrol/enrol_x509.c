/* enrol_x509.c - CSR checks and certificate issuance with mbedTLS 2.28.
 *
 * Randomness (ECDSA nonces, serials) comes from crypto_random (the kernel
 * CSPRNG through libsodium), which is thread-safe, so no DRBG state is
 * shared between the api's threads.
 */
#include "enrol_x509.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "crypto.h"
#include "fitcommon/log.h"

struct enrol_ca {
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    char issuer[512];
    char *pem;
};

static int rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    crypto_random(out, len);
    return 0;
}

static int is_p256(const mbedtls_pk_context *pk)
{
    return mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
           mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

/* mbedTLS wants the PEM's terminating NUL inside the length. */
static int parse_csr(mbedtls_x509_csr *csr, const char *pem, size_t len)
{
    if (len == 0 || len > 16384 || !memmem(pem, len, "-----BEGIN CERTIFICATE REQUEST-----", 35))
        return -1;
    char *z = malloc(len + 1);
    if (!z)
        return -1;
    memcpy(z, pem, len);
    z[len] = '\0';
    int rc = mbedtls_x509_csr_parse(csr, (const unsigned char *)z, len + 1);
    free(z);
    return rc ? -1 : 0;
}

enrol_csr_err enrol_csr_check(const char *csr_pem, size_t csr_len, const char *gateway_id)
{
    mbedtls_x509_csr csr;
    mbedtls_x509_csr_init(&csr);
    enrol_csr_err rc = ENROL_CSR_MALFORMED;
    if (parse_csr(&csr, csr_pem, csr_len))
        goto out;
    /* mbedTLS 2.28 parses but does not verify a CSR's signature: proof that
     * the requester holds the private key is ours to check. */
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(csr.sig_md);
    rc = ENROL_CSR_SIGNATURE;
    if (!md || csr.sig_md != MBEDTLS_MD_SHA256 || mbedtls_md(md, csr.cri.p, csr.cri.len, hash) ||
        mbedtls_pk_verify_ext(csr.sig_pk, csr.sig_opts, &csr.pk, csr.sig_md, hash,
                              mbedtls_md_get_size(md), csr.sig.p, csr.sig.len))
        goto out;
    rc = ENROL_CSR_KEY_TYPE;
    if (!is_p256(&csr.pk))
        goto out;
    rc = ENROL_CSR_CN;
    int cns = 0, match = 0;
    size_t idlen = strlen(gateway_id);
    for (const mbedtls_x509_name *n = &csr.subject; n && n->oid.p; n = n->next) {
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid))
            continue;
        cns++;
        match = n->val.len == idlen && !memcmp(n->val.p, gateway_id, idlen);
    }
    if (cns == 1 && match)
        rc = ENROL_CSR_OK;
out:
    mbedtls_x509_csr_free(&csr);
    return rc;
}

static int read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *b = malloc(65537);
    size_t n = b ? fread(b, 1, 65536, f) : 0;
    int bad = !b || ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        free(b);
        return -1;
    }
    b[n] = '\0';
    *out = b;
    return 0;
}

int enrol_ca_load(enrol_ca **out, const char *cert_path, const char *key_path, char *err,
                  size_t errlen)
{
    enrol_ca *ca = calloc(1, sizeof *ca);
    if (!ca || crypto_init()) {
        free(ca);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mbedtls_x509_crt_init(&ca->crt);
    mbedtls_pk_init(&ca->key);
    if (read_file(cert_path, &ca->pem) ||
        mbedtls_x509_crt_parse(&ca->crt, (const unsigned char *)ca->pem, strlen(ca->pem) + 1)) {
        snprintf(err, errlen, "enrol_ca_cert %s: not a PEM certificate", cert_path);
        goto fail;
    }
    if (!ca->crt.ca_istrue) {
        snprintf(err, errlen, "enrol_ca_cert %s is not a CA certificate", cert_path);
        goto fail;
    }
    struct stat st;
    if (stat(key_path, &st) == 0 && (st.st_mode & 077))
        log_warn("enrol_ca_key_mode", "the gateway CA key is readable by others: chmod 600", "path",
                 key_path);
    if (mbedtls_pk_parse_keyfile(&ca->key, key_path, NULL) || !is_p256(&ca->key) ||
        mbedtls_pk_check_pair(&ca->crt.pk, &ca->key)) {
        snprintf(err, errlen, "enrol_ca_key %s: not the EC P-256 key of %s", key_path, cert_path);
        goto fail;
    }
    if (mbedtls_x509_dn_gets(ca->issuer, sizeof ca->issuer, &ca->crt.subject) < 0) {
        snprintf(err, errlen, "enrol_ca_cert %s: subject too long", cert_path);
        goto fail;
    }
    *out = ca;
    return 0;
fail:
    enrol_ca_free(ca);
    return -1;
}

void enrol_ca_free(enrol_ca *ca)
{
    if (!ca)
        return;
    mbedtls_x509_crt_free(&ca->crt);
    mbedtls_pk_free(&ca->key);
    free(ca->pem);
    free(ca);
}

const char *enrol_ca_pem(const enrol_ca *ca)
{
    return ca->pem;
}

static void x509_time(int64_t t, char out[15])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

int enrol_ca_issue(enrol_ca *ca, const char *csr_pem, size_t csr_len, const char *gateway_id,
                   int64_t not_before, int64_t not_after, char *pem, size_t cap,
                   char serial_hex[33])
{
    /* extendedKeyUsage = SEQUENCE { id-kp-clientAuth } (mbedTLS 2.28 has no
     * setter for it). */
    static const unsigned char eku[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                        0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
    mbedtls_x509_csr csr;
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    mbedtls_x509_csr_init(&csr);
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);
    int rc = -1;
    unsigned char sb[16];
    char subject[128], nb[15], na[15];
    crypto_random(sb, sizeof sb);
    sb[0] &= 0x7f; /* a positive INTEGER */
    sb[0] |= 0x40; /* and always 16 bytes long */
    crypto_hex_encode(sb, sizeof sb, serial_hex);
    x509_time(not_before, nb);
    x509_time(not_after, na);
    if ((size_t)snprintf(subject, sizeof subject, "CN=%s", gateway_id) >= sizeof subject ||
        parse_csr(&csr, csr_pem, csr_len) || mbedtls_mpi_read_binary(&serial, sb, sizeof sb))
        goto out;
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &csr.pk);
    mbedtls_x509write_crt_set_issuer_key(&crt, &ca->key);
    if (mbedtls_x509write_crt_set_serial(&crt, &serial) ||
        mbedtls_x509write_crt_set_validity(&crt, nb, na) ||
        mbedtls_x509write_crt_set_issuer_name(&crt, ca->issuer) ||
        mbedtls_x509write_crt_set_subject_name(&crt, subject) ||
        mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1) ||
        mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) ||
        mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                            eku, sizeof eku) ||
        mbedtls_x509write_crt_set_subject_key_identifier(&crt) ||
        mbedtls_x509write_crt_set_authority_key_identifier(&crt) ||
        mbedtls_x509write_crt_pem(&crt, (unsigned char *)pem, cap, rng, NULL))
        goto out;
    rc = 0;
out:
    mbedtls_x509_csr_free(&csr);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_mpi_free(&serial);
    return rc;
}
