/* enrol_x509.h - the X.509 work of enrolment (mbedTLS 2.28, only here).
 *
 * The gateway CA signs client certificates for CSRs that pass
 * enrol_csr_check(). Nothing allocates across calls except enrol_ca.
 */
#ifndef FITGATE_ENROL_X509_H
#define FITGATE_ENROL_X509_H

#include <stddef.h>
#include <stdint.h>

typedef enum enrol_csr_err {
    ENROL_CSR_OK = 0,
    ENROL_CSR_MALFORMED, /* not a PEM/DER PKCS#10 request */
    ENROL_CSR_SIGNATURE, /* its self-signature does not verify */
    ENROL_CSR_KEY_TYPE,  /* not an EC P-256 key */
    ENROL_CSR_CN,        /* no CN, several, or not the token's gateway id */
} enrol_csr_err;

/* Check a PEM CSR (csr_len bytes, need not be NUL-terminated): it parses, is
 * signed by its own key, the key is EC P-256 and the subject has exactly one
 * CN equal to gateway_id. */
enrol_csr_err enrol_csr_check(const char *csr_pem, size_t csr_len, const char *gateway_id);

typedef struct enrol_ca enrol_ca;

/* Load the gateway CA: its certificate (PEM) and private key (PEM, EC P-256,
 * must match the certificate). 0, or -1 with a reason in err. */
int enrol_ca_load(enrol_ca **out, const char *cert_path, const char *key_path, char *err,
                  size_t errlen);
void enrol_ca_free(enrol_ca *ca);
/* The CA certificate as PEM (owned by ca). */
const char *enrol_ca_pem(const enrol_ca *ca);

/* Issue a client certificate for a CSR that passed enrol_csr_check():
 * subject CN=gateway_id, the CSR's public key, a random 128-bit serial,
 * valid from not_before to not_after (Unix seconds), CA:FALSE,
 * digitalSignature, extendedKeyUsage clientAuth, SHA-256 with the CA key.
 * Writes a NUL-terminated PEM into pem (cap bytes) and the serial as lower
 * hex into serial_hex (33 bytes). Thread-safe. 0 or -1. */
int enrol_ca_issue(enrol_ca *ca, const char *csr_pem, size_t csr_len, const char *gateway_id,
                   int64_t not_before, int64_t not_after, char *pem, size_t cap,
                   char serial_hex[33]);

#endif
