/* fuzz_bundle - the bundle manifest parser must refuse or accept any bytes
 * without crashing, and what it accepts must re-serialise to a manifest it
 * accepts again with the same content. The first byte selects a second mode
 * that feeds the rest as a signer certificate + signature to fwsig_verify
 * (the keyring is a fixed, unrelated self-signed CA, so nothing verifies). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "fwsig.h"

static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBhTCCASugAwIBAgIUG6Iiq/XfubBju20Ub+moqw7ayvcwCgYIKoZIzj0EAwIw\n"
                             "EDEOMAwGA1UEAwwFZGV2Y2EwHhcNMjYxMTI1MTEwNzE2WhcNMjYxMjI1MTEwNzE2\n"
                             "WjAQMQ4wDAYDVQQDDAVkZXZjYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHL2\n"
                             "riVkOv+PPBjvnpLLXDetHuudI55KlKr4Z70nwRkti2pefWV8qCUgVOp50KG7PJfy\n"
                             "SFgSEPaThz7+YijerZGjYzBhMB0GA1UdDgQWBBQIehI2OwbmgUIOO6XD8Y2nMsJJ\n"
                             "OTAfBgNVHSMEGDAWgBQIehI2OwbmgUIOO6XD8Y2nMsJJOTAPBgNVHRMBAf8EBTAD\n"
                             "AQH/MA4GA1UdDwEB/wQEAwICBDAKBggqhkjOPQQDAgNIADBFAiEA//3ioD0/Syt2\n"
                             "X7StzxVJICgIQkfe4uhyycFV2dYyJZwCIFK4VpegL1mVb64nlep1WcMqHewxP7RV\n"
                             "b4GgygCR3a2A\n"
                             "-----END CERTIFICATE-----\n";

static char keyring[64];

static void drop_keyring(void)
{
    unlink(keyring);
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
    bundle_manifest m, m2;
    char err[256];
    if (bundle_manifest_parse(data, size, &m, err, sizeof(err)) != BUNDLE_OK)
        return;
    char *json = bundle_manifest_json(&m);
    if (!json)
        abort();
    if (bundle_manifest_parse(json, strlen(json), &m2, err, sizeof(err)) != BUNDLE_OK ||
        memcmp(&m, &m2, sizeof(m)) != 0)
        abort();
    for (size_t i = 0; i < m.n_images; i++)
        if (!bundle_name_ok(m.images[i].name) || strchr(m.images[i].name, '/'))
            abort();
    free(json);
}

static void fuzz_sig(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t sig_len = data[0] % (FWSIG_MAX_SIG + 1);
    if (sig_len > size - 1)
        sig_len = size - 1;
    char err[256];
    const uint8_t *sig = data + 1, *pem = data + 1 + sig_len;
    if (fwsig_verify(keyring, pem, size - 1 - sig_len, "m", 1, sig, sig_len, err, sizeof(err)) == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!keyring[0]) {
        snprintf(keyring, sizeof(keyring), "/tmp/fuzz_bundle_ca.%d.pem", (int)getpid());
        FILE *f = fopen(keyring, "w");
        if (f) {
            fputs(ca_pem, f);
            fclose(f);
        }
        atexit(drop_keyring);
    }
    if (size > 0 && data[0] == 0xff)
        fuzz_sig(data + 1, size - 1);
    else
        fuzz_manifest(data, size);
    return 0;
}
