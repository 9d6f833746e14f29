/* otp.c - HOTP/TOTP, base32, otpauth URIs (see otp.h). */
#include "otp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_initdata.h" /* tg_urlencode */

static const uint32_t pow10[] = {1,      10,      100,      1000,      10000,
                                 100000, 1000000, 10000000, 100000000, 1000000000};

int otp_hotp(crypto_md md, const uint8_t *key, size_t key_len, uint64_t counter, int digits,
             uint32_t *code)
{
    if (digits < 6 || digits > 9 || !key)
        return -1;
    uint8_t msg[8], mac[CRYPTO_SHA512_LEN];
    for (int i = 7; i >= 0; i--) {
        msg[i] = (uint8_t)(counter & 0xff);
        counter >>= 8;
    }
    if (crypto_hmac(md, key, key_len, msg, sizeof msg, mac) < 0)
        return -1;
    size_t n = crypto_md_len(md);
    unsigned off = mac[n - 1] & 0x0f; /* dynamic truncation, RFC 4226 5.3 */
    uint32_t bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 |
                   (uint32_t)mac[off + 2] << 8 | mac[off + 3];
    *code = bin % pow10[digits];
    crypto_wipe(mac, sizeof mac);
    return 0;
}

int otp_totp(crypto_md md, const uint8_t *key, size_t key_len, int64_t t, int step_s, int digits,
             uint32_t *code)
{
    if (t < 0 || step_s <= 0)
        return -1;
    return otp_hotp(md, key, key_len, (uint64_t)(t / step_s), digits, code);
}

void otp_format(uint32_t code, int digits, char *out)
{
    snprintf(out, (size_t)digits + 1, "%0*u", digits, code);
}

int otp_totp_check(const uint8_t *key, size_t key_len, const char *code, int64_t now_s,
                   int64_t *last_step)
{
    if (!code || strlen(code) != OTP_DIGITS || now_s < 0)
        return 0;
    for (int i = 0; i < OTP_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return 0;
    int64_t t = now_s / OTP_STEP_S;
    int64_t hit = -1;
    /* Check every candidate step (no early exit: the time taken does not say
     * which step matched). */
    for (int64_t s = t - 1; s <= t + 1; s++) {
        uint32_t v;
        char want[OTP_DIGITS + 1];
        if (s < 0 || otp_hotp(CRYPTO_MD_SHA1, key, key_len, (uint64_t)s, OTP_DIGITS, &v) < 0)
            continue;
        otp_format(v, OTP_DIGITS, want);
        if (crypto_equal(want, code, OTP_DIGITS) && s > *last_step && hit < 0)
            hit = s;
    }
    if (hit < 0)
        return 0;
    *last_step = hit;
    return 1;
}

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t otp_b32_len(size_t len)
{
    return (len * 8 + 4) / 5 + 1;
}

void otp_b32_encode(const uint8_t *in, size_t len, char *out)
{
    uint32_t buf = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        buf = buf << 8 | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32[(buf << (5 - bits)) & 31];
    out[o] = '\0';
}

int otp_b32_decode(const char *s, uint8_t *out, size_t cap, size_t *out_len)
{
    uint32_t buf = 0;
    int bits = 0;
    size_t o = 0;
    int pad = 0;
    for (; *s; s++) {
        char c = *s;
        if (c == ' ' || c == '-')
            continue;
        if (c == '=') {
            pad = 1;
            continue;
        }
        if (pad)
            return -1; /* data after padding */
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        const char *p = c ? strchr(b32, c) : NULL;
        if (!p)
            return -1;
        buf = buf << 5 | (uint32_t)(p - b32);
        bits += 5;
        if (bits >= 8) {
            if (o >= cap)
                return -1;
            out[o++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    *out_len = o;
    return 0;
}

char *otp_uri(const char *issuer, const char *account, const uint8_t *key, size_t key_len)
{
    char secret[OTP_B32_MAX];
    if (otp_b32_len(key_len) > sizeof secret)
        return NULL;
    otp_b32_encode(key, key_len, secret);
    char *ei = tg_urlencode(issuer, strlen(issuer)), *ea = tg_urlencode(account, strlen(account));
    char *out = NULL;
    if (ei && ea) {
        size_t n = strlen(ei) * 2 + strlen(ea) + strlen(secret) + 96;
        out = malloc(n);
        if (out)
            snprintf(out, n,
                     "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30",
                     ei, ea, secret, ei);
    }
    crypto_wipe(secret, sizeof secret);
    free(ei);
    free(ea);
    return out;
}
