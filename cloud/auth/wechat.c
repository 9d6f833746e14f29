/* wechat.c - WeChat rawData signature, encryptedData, jscode2session reply. */
#include "wechat.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto.h"

const char *wx_status_str(wx_status s)
{
    static const char *const n[] = {"ok",        "syntax", "signature", "decrypt",
                                    "watermark", "api",    "arg"};
    return (unsigned)s < sizeof n / sizeof n[0] ? n[s] : "unknown";
}

static int key16(const char *b64, uint8_t out[16])
{
    size_t n = 0;
    return b64 && crypto_b64_decode(b64, strlen(b64), out, 16, &n) == 0 && n == 16 ? 0 : -1;
}

wx_status wx_check_raw_data(const char *raw_data, const char *session_key_b64, const char *sig_hex)
{
    if (!raw_data || !session_key_b64 || !sig_hex)
        return WX_ERR_ARG;
    size_t rl = strlen(raw_data), kl = strlen(session_key_b64);
    if (rl > WX_DATA_MAX || kl > WX_SKEY_MAX)
        return WX_ERR_SYNTAX;
    uint8_t want[CRYPTO_SHA1_LEN], got[CRYPTO_SHA1_LEN];
    if (crypto_hex_decode(sig_hex, strlen(sig_hex), got, sizeof got) < 0)
        return WX_ERR_SIGNATURE;
    char *msg = malloc(rl + kl + 1);
    if (!msg)
        return WX_ERR_ARG;
    memcpy(msg, raw_data, rl);
    memcpy(msg + rl, session_key_b64, kl);
    int rc = crypto_sha1(msg, rl + kl, want);
    crypto_wipe(msg, rl + kl);
    free(msg);
    if (rc < 0)
        return WX_ERR_ARG;
    return crypto_equal(want, got, sizeof want) ? WX_OK : WX_ERR_SIGNATURE;
}

wx_status wx_decrypt(const char *session_key_b64, const char *iv_b64, const char *data_b64,
                     const char *app_id, char **out)
{
    *out = NULL;
    if (!session_key_b64 || !iv_b64 || !data_b64 || !app_id)
        return WX_ERR_ARG;
    uint8_t key[16], iv[16];
    if (key16(session_key_b64, key) < 0 || key16(iv_b64, iv) < 0)
        return WX_ERR_SYNTAX;
    size_t dl = strlen(data_b64), n = 0, pn = 0;
    if (dl > WX_DATA_MAX * 2)
        return WX_ERR_SYNTAX;
    uint8_t *ct = malloc(dl + 1), *pt = malloc(dl + 1);
    wx_status st = WX_ERR_SYNTAX;
    if (!ct || !pt)
        st = WX_ERR_ARG;
    else if (crypto_b64_decode(data_b64, dl, ct, dl, &n) < 0)
        st = WX_ERR_SYNTAX;
    else if (crypto_aes128_cbc_decrypt(key, iv, ct, n, pt, &pn) < 0)
        st = WX_ERR_DECRYPT;
    else {
        pt[pn] = '\0';
        cJSON *j = memchr(pt, '\0', pn) ? NULL : cJSON_ParseWithLength((char *)pt, pn);
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "watermark");
        const cJSON *ap = cJSON_GetObjectItemCaseSensitive(wm, "appid");
        if (!cJSON_IsObject(j))
            st = WX_ERR_DECRYPT; /* garbage that happened to unpad */
        else if (!cJSON_IsString(ap) || strcmp(ap->valuestring, app_id))
            st = WX_ERR_WATERMARK;
        else {
            *out = (char *)pt;
            pt = NULL;
            st = WX_OK;
        }
        cJSON_Delete(j);
    }
    crypto_wipe(key, sizeof key);
    free(ct);
    if (pt)
        crypto_wipe(pt, dl + 1);
    free(pt);
    return st;
}

static int copy_str(const cJSON *o, const char *k, char *dst, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return -1;
    strcpy(dst, v->valuestring);
    return 1;
}

wx_status wx_parse_code2session(const char *body, size_t len, wx_session *out)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return WX_ERR_SYNTAX;
    }
    wx_status st = WX_OK;
    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(j, "errcode");
    if (ec && cJSON_IsNumber(ec) && ec->valuedouble != 0) {
        out->errcode = (long)ec->valuedouble;
        st = WX_ERR_API;
    } else if (copy_str(j, "openid", out->openid, sizeof out->openid) != 1 || !out->openid[0] ||
               copy_str(j, "session_key", out->session_key, sizeof out->session_key) != 1 ||
               copy_str(j, "unionid", out->unionid, sizeof out->unionid) < 0) {
        st = WX_ERR_API;
    } else {
        uint8_t k[16];
        if (key16(out->session_key, k) < 0)
            st = WX_ERR_SYNTAX;
    }
    cJSON_Delete(j);
    if (st && st != WX_ERR_API)
        memset(out, 0, sizeof *out);
    return st;
}

wx_status wx_encrypt(const char *session_key_b64, const char *iv_b64, const char *plain, char **out)
{
    *out = NULL;
    uint8_t key[16], iv[16];
    if (!plain || key16(session_key_b64, key) < 0 || key16(iv_b64, iv) < 0)
        return WX_ERR_SYNTAX;
    size_t n = strlen(plain), cn = 0;
    uint8_t *ct = malloc(n + 16);
    if (!ct || crypto_aes128_cbc_encrypt(key, iv, (const uint8_t *)plain, n, ct, &cn) < 0) {
        free(ct);
        return WX_ERR_ARG;
    }
    size_t cap = crypto_b64_len(cn);
    char *s = malloc(cap);
    if (s)
        crypto_b64_encode(ct, cn, s, cap);
    free(ct);
    *out = s;
    return s ? WX_OK : WX_ERR_ARG;
}
