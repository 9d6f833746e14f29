/* fuzz_enrol_csr: enrol_csr_check() sees whatever anyone POSTs to the public
 * /api/v1/enrol. It must classify any input without crashing, and accept
 * only what it promises: then the CSR parses, is P-256 and has CN gw-fuzz. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_csr.h>

#include "enrol_x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enrol_csr_err e = enrol_csr_check((const char *)data, size, "gw-fuzz");
    if (e == ENROL_CSR_OK) {
        char *z = malloc(size + 1);
        if (!z)
            return 0;
        memcpy(z, data, size);
        z[size] = '\0';
        mbedtls_x509_csr csr;
        mbedtls_x509_csr_init(&csr);
        if (mbedtls_x509_csr_parse(&csr, (const unsigned char *)z, size + 1) ||
            mbedtls_pk_get_type(&csr.pk) != MBEDTLS_PK_ECKEY ||
            mbedtls_pk_ec(csr.pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
            abort();
        mbedtls_x509_csr_free(&csr);
        free(z);
    } else if (e != ENROL_CSR_MALFORMED && e != ENROL_CSR_SIGNATURE && e != ENROL_CSR_KEY_TYPE &&
               e != ENROL_CSR_CN) {
        abort();
    }
    return 0;
}
