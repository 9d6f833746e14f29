/* fuzz_jwt.c - the JWT checker. Two modes per input: the bytes as a compact
 * token, and (split at the first '\n') a header and a payload that we sign
 * with the trusted key, so the claim checks are reached too. Invariants: no
 * crash, no leak, a known status, and JWT_OK only for a payload whose
 * exp/iat/iss/aud satisfy the expectation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t priv[32], pub[65];

static int key_fn(void *ctx, const char *kid, uint8_t out[65])
{
    (void)ctx;
    if (strcmp(kid, "k1"))
        return -1;
    memcpy(out, pub, 65);
    return 0;
}

static const jwt_expect ex = {.typ = "at+jwt",
                              .iss = "fitgate",
                              .aud = "fitgate-api",
                              .now_s = 1800000000,
                              .leeway_s = 30,
                              .max_lifetime_s = 3600};

static void check(const char *tok, size_t len)
{
    cJSON *c = NULL;
    jwt_status st = jwt_verify(tok, len, &ex, key_fn, NULL, &c);
    if ((unsigned)st > JWT_ERR_ARG)
        abort();
    if (st == JWT_OK) {
        const cJSON *exp = cJSON_GetObjectItem(c, "exp"), *iss = cJSON_GetObjectItem(c, "iss");
        if (!cJSON_IsNumber(exp) || exp->valuedouble + 30 <= 1800000000 || !cJSON_IsString(iss) ||
            strcmp(iss->valuestring, "fitgate"))
            abort();
    } else if (c) {
        abort();
    }
    cJSON_Delete(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        if (crypto_init() != 0)
            abort();
        for (int i = 0; i < 32; i++)
            priv[i] = (uint8_t)(i + 1);
        if (crypto_es256_public(priv, pub) != 0)
            abort();
        init = 1;
    }
    check((const char *)data, size);
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl || size > 3000)
        return 0;
    size_t hl = (size_t)(nl - data), pl = size - hl - 1;
    char *tok = malloc(2 * size + 200);
    if (!tok)
        return 0;
    crypto_b64url_encode(data, hl, tok, 2 * size + 200);
    size_t n = strlen(tok);
    tok[n++] = '.';
    crypto_b64url_encode(nl + 1, pl, tok + n, 2 * size + 200 - n);
    n += strlen(tok + n);
    uint8_t sig[64];
    if (crypto_es256_sign(priv, tok, n, sig) == 0) {
        tok[n++] = '.';
        crypto_b64url_encode(sig, 64, tok + n, 2 * size + 200 - n);
        check(tok, strlen(tok));
    }
    free(tok);
    return 0;
}
