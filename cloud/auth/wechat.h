/* wechat.h - WeChat mini program sign-in checks (pure; no network).
 *
 * wx.login gives the mini program a code; the server trades it through
 * jscode2session for openid + session_key (the HTTP call is the identity
 * module's). session_key never leaves the server; with it the server checks
 *   rawData signature:  hex(sha1(rawData + session_key_base64_text))
 *   encryptedData:      AES-128-CBC, PKCS#7, key = b64dec(session_key),
 *                       iv = b64dec(iv); plaintext JSON whose
 *                       watermark.appid must be our app id.
 */
#ifndef FITGATE_WECHAT_H
#define FITGATE_WECHAT_H

#include <stddef.h>
#include <stdint.h>

#define WX_OPENID_MAX 128
#define WX_SKEY_MAX   64
#define WX_DATA_MAX   8192

typedef enum wx_status {
    WX_OK = 0,
    WX_ERR_SYNTAX,    /* not base64 / not JSON / wrong lengths */
    WX_ERR_SIGNATURE, /* rawData signature mismatch */
    WX_ERR_DECRYPT,   /* AES/padding failure: not encrypted under this session_key */
    WX_ERR_WATERMARK, /* decrypted, but for another app id (or none) */
    WX_ERR_API,       /* jscode2session answered an errcode or no openid */
    WX_ERR_ARG,
} wx_status;

const char *wx_status_str(wx_status s);

/* rawData signature check (sig_hex: 40 lower-case hex digits). */
wx_status wx_check_raw_data(const char *raw_data, const char *session_key_b64, const char *sig_hex);

/* Decrypt encryptedData and check watermark.appid == app_id. On WX_OK *out
 * is the malloc'd NUL-terminated plaintext JSON (caller frees). */
wx_status wx_decrypt(const char *session_key_b64, const char *iv_b64, const char *data_b64,
                     const char *app_id, char **out);

/* The jscode2session answer (always HTTP 200): openid/session_key/unionid or
 * errcode. On WX_ERR_API *errcode holds it (0 when openid was just missing). */
typedef struct wx_session {
    char openid[WX_OPENID_MAX + 1];
    char unionid[WX_OPENID_MAX + 1]; /* "" without Open Platform binding */
    char session_key[WX_SKEY_MAX + 1];
    long errcode;
} wx_session;
wx_status wx_parse_code2session(const char *body, size_t len, wx_session *out);

/* Encrypt plaintext as WeChat would (tests and the fake server).
 * *out malloc'd base64. */
wx_status wx_encrypt(const char *session_key_b64, const char *iv_b64, const char *plain,
                     char **out);

#endif
