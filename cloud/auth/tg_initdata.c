/* tg_initdata.c - Telegram init data and Login Widget checks (see tg_initdata.h). */
#include "tg_initdata.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto.h"

const uint8_t tg_pubkey_production[32] = {
    0xe7, 0xbf, 0x03, 0xa2, 0xfa, 0x46, 0x02, 0xaf, 0x45, 0x80, 0x70, 0x3d, 0x88, 0xdd, 0xa5, 0xbb,
    0x59, 0xf3, 0x2e, 0xd8, 0xb0, 0x2a, 0x56, 0xc1, 0x87, 0xfe, 0x7d, 0x34, 0xca, 0xed, 0x24, 0x2d};
const uint8_t tg_pubkey_test[32] = {
    0x40, 0x05, 0x50, 0x58, 0xa4, 0xee, 0x38, 0x15, 0x6a, 0x06, 0x56, 0x2e, 0x52, 0xee, 0xce, 0x92,
    0xa7, 0x71, 0xbc, 0xd8, 0x34, 0x6a, 0x8c, 0x46, 0x15, 0xcb, 0x73, 0x76, 0xed, 0xdf, 0x72, 0xec};

static const char *const status_names[TG_STATUS__END] = {
    [TG_OK] = "ok",
    [TG_ERR_SYNTAX] = "syntax",
    [TG_ERR_LIMIT] = "limit",
    [TG_ERR_DUPLICATE] = "duplicate",
    [TG_ERR_MISSING] = "missing",
    [TG_ERR_HASH] = "hash",
    [TG_ERR_SIGNATURE] = "signature",
    [TG_ERR_EXPIRED] = "expired",
    [TG_ERR_FUTURE] = "future",
    [TG_ERR_USER] = "user",
    [TG_ERR_NOMEM] = "nomem",
    [TG_ERR_ARG] = "arg",
};

const char *tg_status_str(tg_status s)
{
    if ((unsigned)s >= TG_STATUS__END)
        return "unknown";
    return status_names[s];
}

/* ---- parsing ---- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode src[0..len) (form-urlencoded) into dst, NUL-terminate it.
 * Returns the decoded length or -1 on a bad escape or a raw control byte. */
static long form_decode(const char *src, size_t len, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '+') {
            dst[o++] = ' ';
        } else if (c == '%') {
            if (len - i < 3)
                return -1;
            int hi = hexval((unsigned char)src[i + 1]), lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c < 0x20 || c == 0x7f) {
            return -1;
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
    return (long)o;
}

static int key_valid(const char *k, size_t len)
{
    if (len == 0 || len > TG_KEY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

tg_status tg_parse(const char *data, size_t len, tg_initdata *out)
{
    memset(out, 0, sizeof *out);
    if (!data)
        return TG_ERR_ARG;
    if (len > TG_INITDATA_MAX)
        return TG_ERR_LIMIT;
    if (len == 0)
        return TG_ERR_SYNTAX;
    /* Decoding only shrinks: each pair needs at most its own length plus
     * one NUL (the '=' becomes the key's NUL). */
    char *buf = malloc(len + TG_FIELDS_MAX + 1);
    if (!buf)
        return TG_ERR_NOMEM;
    tg_status st = TG_OK;
    size_t used = 0, n = 0;
    const char *p = data, *end = data + len;
    while (p <= end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        if (!eq) { /* also catches empty pairs ("a=1&&b=2", trailing '&') */
            st = TG_ERR_SYNTAX;
            break;
        }
        if (n == TG_FIELDS_MAX) {
            st = TG_ERR_LIMIT;
            break;
        }
        char *key = buf + used;
        long klen = form_decode(p, (size_t)(eq - p), key);
        if (klen < 0 || !key_valid(key, (size_t)klen)) {
            st = TG_ERR_SYNTAX;
            break;
        }
        used += (size_t)klen + 1;
        char *val = buf + used;
        long vlen = form_decode(eq + 1, (size_t)(pair_end - eq - 1), val);
        if (vlen < 0 || memchr(val, '\n', (size_t)vlen) || strlen(val) != (size_t)vlen) {
            st = TG_ERR_SYNTAX;
            break;
        }
        used += (size_t)vlen + 1;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(out->fields[i].key, key) == 0) {
                st = TG_ERR_DUPLICATE;
                break;
            }
        }
        if (st != TG_OK)
            break;
        out->fields[n++] = (tg_field){.key = key, .value = val, .value_len = (size_t)vlen};
        if (!amp)
            break;
        p = amp + 1;
    }
    if (st != TG_OK) {
        free(buf);
        memset(out, 0, sizeof *out);
        return st;
    }
    out->n = n;
    out->buf = buf;
    return TG_OK;
}

void tg_initdata_free(tg_initdata *d)
{
    if (!d)
        return;
    free(d->buf);
    memset(d, 0, sizeof *d);
}

const tg_field *tg_get(const tg_initdata *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->fields[i].key, key) == 0)
            return &d->fields[i];
    return NULL;
}

/* ---- data_check_string ---- */

static int field_cmp(const void *a, const void *b)
{
    const tg_field *fa = *(const tg_field *const *)a, *fb = *(const tg_field *const *)b;
    return strcmp(fa->key, fb->key);
}

tg_status tg_data_check_string(const tg_initdata *d, const char *prefix, int without_signature,
                               char **out, size_t *out_len)
{
    const tg_field *sorted[TG_FIELDS_MAX] = {0};
    size_t n = 0, total = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; i < d->n; i++) {
        const tg_field *f = &d->fields[i];
        if (strcmp(f->key, "hash") == 0)
            continue;
        if (without_signature && strcmp(f->key, "signature") == 0)
            continue;
        sorted[n++] = f;
        total += strlen(f->key) + 1 + f->value_len + 1;
    }
    qsort(sorted, n, sizeof sorted[0], field_cmp);
    char *s = malloc(total + 1);
    if (!s)
        return TG_ERR_NOMEM;
    size_t o = 0;
    if (prefix) {
        memcpy(s, prefix, strlen(prefix));
        o = strlen(prefix);
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            s[o++] = '\n';
        size_t kl = strlen(sorted[i]->key);
        memcpy(s + o, sorted[i]->key, kl);
        o += kl;
        s[o++] = '=';
        memcpy(s + o, sorted[i]->value, sorted[i]->value_len);
        o += sorted[i]->value_len;
    }
    s[o] = '\0';
    *out = s;
    if (out_len)
        *out_len = o;
    return TG_OK;
}

/* ---- first-party HMAC ---- */

static tg_status mac_with_secret(const tg_initdata *d, const uint8_t secret[32], uint8_t mac[32])
{
    char *dcs;
    size_t dcs_len;
    tg_status st = tg_data_check_string(d, NULL, 0, &dcs, &dcs_len);
    if (st != TG_OK)
        return st;
    int rc = crypto_hmac_sha256(secret, 32, dcs, dcs_len, mac);
    free(dcs);
    return rc == 0 ? TG_OK : TG_ERR_NOMEM;
}

static tg_status check_mac(const tg_initdata *d, const uint8_t secret[32], uint8_t mac_out[32])
{
    const tg_field *h = tg_get(d, "hash");
    if (!h)
        return TG_ERR_MISSING;
    uint8_t want[32], got[32];
    /* A malformed hash is simply a wrong one. */
    if (crypto_hex_decode(h->value, h->value_len, want, sizeof want) != 0)
        return TG_ERR_HASH;
    tg_status st = mac_with_secret(d, secret, got);
    if (st != TG_OK)
        return st;
    if (!crypto_equal(want, got, sizeof got))
        return TG_ERR_HASH;
    if (mac_out)
        memcpy(mac_out, got, 32);
    return TG_OK;
}

static tg_status webapp_secret(const char *bot_token, uint8_t secret[32])
{
    if (!bot_token || !bot_token[0])
        return TG_ERR_ARG;
    /* The constant is the HMAC key, the token the message. */
    if (crypto_hmac_sha256("WebAppData", 10, bot_token, strlen(bot_token), secret) != 0)
        return TG_ERR_NOMEM;
    return TG_OK;
}

tg_status tg_verify_hash(const tg_initdata *d, const char *bot_token, uint8_t mac[32])
{
    uint8_t secret[32];
    tg_status st = webapp_secret(bot_token, secret);
    if (st == TG_OK)
        st = check_mac(d, secret, mac);
    memset(secret, 0, sizeof secret);
    return st;
}

/* ---- auth_date ---- */

/* Parse a decimal of 1..18 digits. */
static int parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

tg_status tg_check_auth_date(const tg_initdata *d, int64_t now_s, int64_t max_age_s,
                             int64_t *auth_date)
{
    const tg_field *f = tg_get(d, "auth_date");
    if (!f)
        return TG_ERR_MISSING;
    int64_t t;
    if (parse_i64(f->value, f->value_len, &t) != 0)
        return TG_ERR_SYNTAX;
    if (auth_date)
        *auth_date = t;
    if (t > now_s + TG_FUTURE_SKEW_S)
        return TG_ERR_FUTURE;
    if (max_age_s > 0 && now_s - t > max_age_s)
        return TG_ERR_EXPIRED;
    return TG_OK;
}

/* ---- third-party Ed25519 ---- */

int64_t tg_bot_id(const char *bot_token)
{
    if (!bot_token)
        return -1;
    const char *colon = strchr(bot_token, ':');
    int64_t id;
    if (!colon || parse_i64(bot_token, (size_t)(colon - bot_token), &id) != 0)
        return -1;
    return id;
}

tg_status tg_verify_signature(const tg_initdata *d, int64_t bot_id, const uint8_t pk[32])
{
    const tg_field *sig_f = tg_get(d, "signature");
    if (!sig_f)
        return TG_ERR_MISSING;
    uint8_t sig[CRYPTO_ED25519_SIG];
    size_t sig_len = 0;
    if (crypto_b64url_decode(sig_f->value, sig_f->value_len, sig, sizeof sig, &sig_len) != 0 ||
        sig_len != sizeof sig)
        return TG_ERR_SIGNATURE;
    char prefix[48];
    snprintf(prefix, sizeof prefix, "%" PRId64 ":WebAppData\n", bot_id);
    char *msg;
    size_t msg_len;
    tg_status st = tg_data_check_string(d, prefix, 1, &msg, &msg_len);
    if (st != TG_OK)
        return st;
    int ok = crypto_ed25519_verify(sig, msg, msg_len, pk);
    free(msg);
    return ok ? TG_OK : TG_ERR_SIGNATURE;
}

/* ---- user ---- */

static int copy_str(const cJSON *item, char *dst, size_t cap)
{
    if (!cJSON_IsString(item) || !item->valuestring)
        return -1;
    size_t len = strlen(item->valuestring);
    if (len >= cap)
        return -1;
    memcpy(dst, item->valuestring, len + 1);
    return 0;
}

tg_status tg_user_parse(const tg_initdata *d, tg_user *out)
{
    memset(out, 0, sizeof *out);
    const tg_field *f = tg_get(d, "user");
    if (!f)
        return TG_ERR_MISSING;
    cJSON *j = cJSON_ParseWithLength(f->value, f->value_len);
    if (!j)
        return TG_ERR_USER;
    tg_status st = TG_ERR_USER;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    /* Telegram ids fit in 52 bits; a double holds them exactly. */
    if (cJSON_IsObject(j) && cJSON_IsNumber(id) && id->valuedouble >= 1 &&
        id->valuedouble <= 9007199254740991.0 &&
        id->valuedouble == (double)(int64_t)id->valuedouble &&
        copy_str(cJSON_GetObjectItemCaseSensitive(j, "first_name"), out->first_name,
                 sizeof out->first_name) == 0) {
        out->id = (int64_t)id->valuedouble;
        const cJSON *un = cJSON_GetObjectItemCaseSensitive(j, "username");
        if (!un || copy_str(un, out->username, sizeof out->username) == 0)
            st = TG_OK;
    }
    cJSON_Delete(j);
    if (st != TG_OK)
        memset(out, 0, sizeof *out);
    return st;
}

/* ---- the whole check ---- */

tg_status tg_validate(const char *data, size_t len, const char *bot_token, int64_t now_s,
                      int64_t max_age_s, tg_auth *out)
{
    memset(out, 0, sizeof *out);
    tg_initdata d;
    tg_status st = tg_parse(data, len, &d);
    if (st != TG_OK)
        return st;
    st = tg_verify_hash(&d, bot_token, out->hash);
    if (st == TG_OK)
        st = tg_check_auth_date(&d, now_s, max_age_s, &out->auth_date);
    if (st == TG_OK)
        st = tg_user_parse(&d, &out->user);
    tg_initdata_free(&d);
    if (st != TG_OK)
        memset(out, 0, sizeof *out);
    return st;
}

tg_status tg_verify_login_widget(const tg_initdata *d, const char *bot_token)
{
    if (!bot_token || !bot_token[0])
        return TG_ERR_ARG;
    uint8_t secret[32];
    if (crypto_sha256(bot_token, strlen(bot_token), secret) != 0)
        return TG_ERR_NOMEM;
    tg_status st = check_mac(d, secret, NULL);
    memset(secret, 0, sizeof secret);
    return st;
}

/* ---- signing ---- */

char *tg_urlencode(const char *s, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    char *out = malloc(3 * len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = digits[c >> 4];
            out[o++] = digits[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

tg_status tg_initdata_sign(const char *user_json, int64_t auth_date, const char *bot_token,
                           char **out)
{
    *out = NULL;
    if (!user_json || strchr(user_json, '\n'))
        return TG_ERR_ARG;
    uint8_t secret[32], mac[32];
    tg_status st = webapp_secret(bot_token, secret);
    if (st != TG_OK)
        return st;
    /* Sorted: auth_date < user. */
    char *dcs = NULL, *enc = NULL;
    int dcs_len = asprintf(&dcs, "auth_date=%" PRId64 "\nuser=%s", auth_date, user_json);
    if (dcs_len < 0) {
        dcs = NULL;
        st = TG_ERR_NOMEM;
    } else if (crypto_hmac_sha256(secret, 32, dcs, (size_t)dcs_len, mac) != 0 ||
               !(enc = tg_urlencode(user_json, strlen(user_json)))) {
        st = TG_ERR_NOMEM;
    } else {
        char hex[65];
        crypto_hex_encode(mac, 32, hex);
        if (asprintf(out, "user=%s&auth_date=%" PRId64 "&hash=%s", enc, auth_date, hex) < 0) {
            *out = NULL;
            st = TG_ERR_NOMEM;
        }
    }
    memset(secret, 0, sizeof secret);
    free(dcs);
    free(enc);
    return st;
}
