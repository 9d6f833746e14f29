/* otp.h - HOTP (RFC 4226) and TOTP (RFC 6238), base32, otpauth URIs.
 *
 * What we issue: 160-bit secrets, SHA1, 6 digits, 30 s - the only settings
 * every authenticator app honours. Verification accepts steps T-1..T+1 and
 * only steps after the last one accepted, so a code works once
 * (otp_totp_check). Pure; thread-safe after crypto_init().
 */
#ifndef FITGATE_OTP_H
#define FITGATE_OTP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define OTP_SECRET_LEN 20 /* 160 bits */
#define OTP_STEP_S     30
#define OTP_DIGITS     6
#define OTP_B32_MAX    128

/* The HOTP value of counter with digits (6..9) decimal digits. 0 or -1. */
int otp_hotp(crypto_md md, const uint8_t *key, size_t key_len, uint64_t counter, int digits,
             uint32_t *code);
/* TOTP at unix time t (step step_s, T0 = 0). 0 or -1. */
int otp_totp(crypto_md md, const uint8_t *key, size_t key_len, int64_t t, int step_s, int digits,
             uint32_t *code);
/* Format code with leading zeros into out (digits + 1 bytes). */
void otp_format(uint32_t code, int digits, char *out);

/* Check a user-typed code (exactly OTP_DIGITS ASCII digits) against a
 * SHA1/6/30 secret at time now_s: accepted when it matches step T-1, T or T+1
 * AND that step is > *last_step; then *last_step is set to it (persist it).
 * 1 accepted, 0 not (wrong, malformed, or replayed). Constant-time compare. */
int otp_totp_check(const uint8_t *key, size_t key_len, const char *code, int64_t now_s,
                   int64_t *last_step);

/* RFC 4648 base32, upper case, no padding. encode: out needs
 * otp_b32_len(len) bytes (with NUL). decode accepts lower case, spaces and
 * '=' padding (what people type from the manual key). 0 or -1. */
size_t otp_b32_len(size_t len);
void otp_b32_encode(const uint8_t *in, size_t len, char *out);
int otp_b32_decode(const char *s, uint8_t *out, size_t cap, size_t *out_len);

/* otpauth://totp/<issuer>:<account>?secret=..&issuer=..&algorithm=SHA1&digits=6&period=30
 * (issuer and account percent-encoded). malloc'd; NULL on failure. */
char *otp_uri(const char *issuer, const char *account, const uint8_t *key, size_t key_len);

#endif
