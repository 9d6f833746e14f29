/* channels.c - Telegram, WhatsApp, SMS and e-mail senders over libcurl
 * (see channels.h).
 *
 * Each call uses its own easy handle: calls are rare (a message, a code) and
 * this keeps the handle thread-safe without locks. Response bodies are read
 * into a bounded buffer; only what decides the outcome is parsed.
 */
#include "channels.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fitcommon/log.h"
#include "fitcommon/membuf.h"
#include "fitcommon/metrics.h"

#define RESP_MAX (64 * 1024)

struct notify_channels {
    char *telegram_base, *telegram_token;
    char *wa_base, *wa_phone_id, *wa_token, *wa_template;
    char *sms_base, *sms_token, *sms_sender;
    char *smtp_url, *smtp_from, *smtp_user, *smtp_password;
    long timeout_ms;
};

enum { CH_TELEGRAM, CH_WHATSAPP, CH_SMS, CH_EMAIL, CH__END };
static const char *const ch_labels[CH__END] = {"channel=\"telegram\"", "channel=\"whatsapp\"",
                                               "channel=\"sms\"", "channel=\"email\""};
static metric m_sent[CH__END], m_failed[CH__END];
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void channels_metrics_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < CH__END; i++) {
        metric_register(&m_sent[i], "fitgate_notify_sent_total", "counter",
                        "Messages handed to a provider", ch_labels[i]);
        metric_register(&m_failed[i], "fitgate_notify_failed_total", "counter",
                        "Messages a provider did not take", ch_labels[i]);
    }
}

const char *notify_status_str(notify_status s)
{
    switch (s) {
    case NOTIFY_OK:
        return "ok";
    case NOTIFY_ERR_CONFIG:
        return "channel not configured";
    case NOTIFY_ERR_RATE:
        return "rate limited";
    case NOTIFY_ERR_REFUSED:
        return "recipient refused";
    case NOTIFY_ERR_TEMPORARY:
        return "temporary failure";
    case NOTIFY_ERR_ARG:
        return "invalid argument";
    }
    return "unknown";
}

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

void notify_channels_free(notify_channels *n)
{
    if (!n)
        return;
    char **secrets[] = {&n->telegram_token, &n->wa_token, &n->sms_token, &n->smtp_password};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (*secrets[i])
            memset(*secrets[i], 0, strlen(*secrets[i]));
    char *all[] = {n->telegram_base, n->telegram_token, n->wa_base,   n->wa_phone_id,
                   n->wa_token,      n->wa_template,    n->sms_base,  n->sms_token,
                   n->sms_sender,    n->smtp_url,       n->smtp_from, n->smtp_user,
                   n->smtp_password};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(n);
}

int notify_channels_new(notify_channels **out, const notify_config *cfg)
{
    pthread_once(&metrics_once, channels_metrics_init);
    notify_channels *n = calloc(1, sizeof *n);
    if (!n)
        return -1;
    n->telegram_base =
        strdup(cfg->telegram_base && cfg->telegram_base[0] ? cfg->telegram_base
                                                           : "https://api.telegram.org");
    n->wa_base = strdup(cfg->whatsapp_base && cfg->whatsapp_base[0] ? cfg->whatsapp_base
                                                                    : "https://graph.facebook.com");
    n->telegram_token = dup_or_null(cfg->telegram_bot_token);
    n->wa_phone_id = dup_or_null(cfg->whatsapp_phone_number_id);
    n->wa_token = dup_or_null(cfg->whatsapp_token);
    n->wa_template = dup_or_null(cfg->whatsapp_auth_template);
    n->sms_base = dup_or_null(cfg->sms_base);
    n->sms_token = dup_or_null(cfg->sms_token);
    n->sms_sender = dup_or_null(cfg->sms_sender);
    n->smtp_url = dup_or_null(cfg->smtp_url);
    n->smtp_from = dup_or_null(cfg->smtp_from);
    n->smtp_user = dup_or_null(cfg->smtp_user);
    n->smtp_password = dup_or_null(cfg->smtp_password);
    n->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    if (!n->telegram_base || !n->wa_base) {
        notify_channels_free(n);
        return -1;
    }
    *out = n;
    return 0;
}

/* ---- HTTP ---- */

typedef struct http_result {
    long status;      /* 0: no HTTP answer */
    long retry_after; /* Retry-After header, seconds; -1 when absent */
    cJSON *json;      /* parsed body or NULL */
} http_result;

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    http_result *r = ctx;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
        r->retry_after = strtol(data + 12, NULL, 10);
    return n;
}

/* POST a JSON body; auth is NULL or a full "Authorization: ..." header. */
static void http_post_json(const notify_channels *n, const char *url, const char *auth,
                           const char *body, http_result *res)
{
    memset(res, 0, sizeof *res);
    res->retry_after = -1;
    CURL *c = curl_easy_init();
    if (!c)
        return;
    membuf b = {.max = RESP_MAX}; /* capped: an endless reply aborts the transfer */
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth)
        h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, membuf_curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, n->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "fitgate-core/" FITGATE_VERSION);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
        if (b.p)
            res->json = cJSON_ParseWithLength(b.p, b.len);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    membuf_free(&b, 0);
}

static notify_status finish(int ch, notify_status st)
{
    metric_add(st == NOTIFY_OK ? &m_sent[ch] : &m_failed[ch], 1);
    return st;
}

/* Generic mapping of an HTTP outcome. */
static notify_status classify(const http_result *r, int *retry_after_s)
{
    if (r->status >= 200 && r->status < 300)
        return NOTIFY_OK;
    if (r->status == 429) {
        if (retry_after_s)
            *retry_after_s = r->retry_after >= 0 ? (int)r->retry_after : 1;
        return NOTIFY_ERR_RATE;
    }
    if (r->status == 0 || r->status >= 500 || r->status == 408)
        return NOTIFY_ERR_TEMPORARY;
    return NOTIFY_ERR_REFUSED;
}

/* ---- Telegram Bot API ---- */

notify_status notify_telegram(notify_channels *n, int64_t chat_id, const char *text,
                              int *retry_after_s)
{
    if (!n->telegram_token)
        return finish(CH_TELEGRAM, NOTIFY_ERR_CONFIG);
    if (!text || !text[0] || strlen(text) > 4096 || chat_id == 0)
        return finish(CH_TELEGRAM, NOTIFY_ERR_ARG);
    char *url = NULL;
    if (asprintf(&url, "%s/bot%s/sendMessage", n->telegram_base, n->telegram_token) < 0)
        return finish(CH_TELEGRAM, NOTIFY_ERR_TEMPORARY);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "chat_id", (double)chat_id);
    cJSON_AddStringToObject(o, "text", text);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    http_result r;
    http_post_json(n, url, NULL, body ? body : "{}", &r);
    memset(url, 0, strlen(url)); /* holds the token */
    free(url);
    free(body);
    notify_status st = classify(&r, retry_after_s);
    /* The Bot API answers {"ok":false,"error_code":429,"parameters":
     * {"retry_after":N}}; 403 = blocked by the user or never started. */
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(r.json, "parameters");
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(params, "retry_after");
    if (st == NOTIFY_ERR_RATE && cJSON_IsNumber(ra) && retry_after_s)
        *retry_after_s = ra->valueint;
    if (st == NOTIFY_OK && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "ok")))
        st = NOTIFY_ERR_TEMPORARY;
    cJSON_Delete(r.json);
    return finish(CH_TELEGRAM, st);
}

/* ---- WhatsApp Cloud API ---- */

static notify_status whatsapp_send(notify_channels *n, cJSON *msg, int *retry_after_s)
{
    char *url = NULL, *auth = NULL;
    char *body = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!body || asprintf(&url, "%s/v21.0/%s/messages", n->wa_base, n->wa_phone_id) < 0 ||
        asprintf(&auth, "Authorization: Bearer %s", n->wa_token) < 0) {
        free(body);
        free(url);
        return NOTIFY_ERR_TEMPORARY;
    }
    http_result r;
    http_post_json(n, url, auth, body, &r);
    memset(auth, 0, strlen(auth));
    free(auth);
    free(url);
    free(body);
    notify_status st = classify(&r, retry_after_s);
    /* Graph API errors: {"error":{"code":131047,...}} = outside the 24 h
     * window; 131062 = this message type cannot go to a BSUID;
     * 130429/131056/80007 = throughput or pair rate limits. */
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(r.json, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (cJSON_IsNumber(code)) {
        int c = code->valueint;
        if (c == 130429 || c == 131056 || c == 80007 || c == 4) {
            st = NOTIFY_ERR_RATE;
            if (retry_after_s && *retry_after_s <= 0)
                *retry_after_s = 1;
        } else if (c == 131047 || c == 131026 || c == 131051 || c == 131062) {
            st = NOTIFY_ERR_REFUSED;
        }
    }
    cJSON_Delete(r.json);
    return st;
}

/* A phone (wa_id): international digits, '+' allowed in front. */
static int wa_phone_ok(const char *s)
{
    s += s[0] == '+';
    size_t len = strlen(s);
    return len >= 5 && len <= 20 && s[0] != '0' && strspn(s, "0123456789") == len;
}

int notify_whatsapp_is_bsuid(const char *s)
{
    /* "US.13491208655302741918", a parent BSUID "HK.ENT.xxx": two capital
     * letters, then dot-separated alphanumeric parts. */
    size_t len = s ? strlen(s) : 0;
    if (len < 4 || len > NOTIFY_WA_BSUID_MAX || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' ||
        s[1] > 'Z' || s[2] != '.')
        return 0;
    for (size_t i = 3; i < len; i++) {
        int alnum = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
                    (s[i] >= 'a' && s[i] <= 'z');
        if (!alnum && !(s[i] == '.' && s[i - 1] != '.' && i + 1 < len))
            return 0;
    }
    return 1;
}

/* The message envelope. A phone goes in "to"; a business-scoped user id in
 * "recipient" (the Cloud API's field for BSUIDs since 2026; "to" would win
 * if both were sent, so only one is). NULL when `to` is neither. */
static cJSON *whatsapp_msg(const char *to, const char *type)
{
    int bsuid = notify_whatsapp_is_bsuid(to);
    if (!bsuid && !wa_phone_ok(to))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "messaging_product", "whatsapp");
    cJSON_AddStringToObject(o, "recipient_type", "individual");
    cJSON_AddStringToObject(o, bsuid ? "recipient" : "to", to);
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

static cJSON *text_param(const char *text)
{
    cJSON *arr = cJSON_CreateArray(), *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "text");
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddItemToArray(arr, p);
    return arr;
}

notify_status notify_whatsapp_code(notify_channels *n, const char *to, const char *code,
                                   const char *lang, int *retry_after_s)
{
    if (!n->wa_token || !n->wa_phone_id || !n->wa_template)
        return finish(CH_WHATSAPP, NOTIFY_ERR_CONFIG);
    if (!to || !code || !code[0] || strlen(code) > 15)
        return finish(CH_WHATSAPP, NOTIFY_ERR_ARG);
    /* Copy-code authentication templates need a phone: Meta answers 131062
     * for a BSUID recipient, so do not even try (callers send a text). */
    if (notify_whatsapp_is_bsuid(to))
        return finish(CH_WHATSAPP, NOTIFY_ERR_REFUSED);
    /* An authentication template: the code goes in the body parameter and
     * again in the copy-code button (a URL button, index 0). */
    cJSON *o = whatsapp_msg(to, "template");
    if (!o)
        return finish(CH_WHATSAPP, NOTIFY_ERR_ARG);
    cJSON *t = cJSON_AddObjectToObject(o, "template");
    cJSON_AddStringToObject(t, "name", n->wa_template);
    cJSON *l = cJSON_AddObjectToObject(t, "language");
    cJSON_AddStringToObject(l, "code",
                            lang && !strcmp(lang, "ru")   ? "ru"
                            : lang && !strcmp(lang, "zh") ? "zh_CN"
                                                          : "en_US");
    cJSON *comps = cJSON_AddArrayToObject(t, "components");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "body");
    cJSON_AddItemToObject(b, "parameters", text_param(code));
    cJSON_AddItemToArray(comps, b);
    cJSON *btn = cJSON_CreateObject();
    cJSON_AddStringToObject(btn, "type", "button");
    cJSON_AddStringToObject(btn, "sub_type", "url");
    cJSON_AddStringToObject(btn, "index", "0");
    cJSON_AddItemToObject(btn, "parameters", text_param(code));
    cJSON_AddItemToArray(comps, btn);
    return finish(CH_WHATSAPP, whatsapp_send(n, o, retry_after_s));
}

notify_status notify_whatsapp_text(notify_channels *n, const char *to, const char *text,
                                   int *retry_after_s)
{
    if (!n->wa_token || !n->wa_phone_id)
        return finish(CH_WHATSAPP, NOTIFY_ERR_CONFIG);
    if (!to || !text || !text[0] || strlen(text) > 4096)
        return finish(CH_WHATSAPP, NOTIFY_ERR_ARG);
    cJSON *o = whatsapp_msg(to, "text");
    if (!o)
        return finish(CH_WHATSAPP, NOTIFY_ERR_ARG);
    cJSON *t = cJSON_AddObjectToObject(o, "text");
    cJSON_AddBoolToObject(t, "preview_url", 0);
    cJSON_AddStringToObject(t, "body", text);
    return finish(CH_WHATSAPP, whatsapp_send(n, o, retry_after_s));
}

/* ---- SMS ---- */

static int e164_ok(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len < 8 || len > 16 || s[0] != '+' || s[1] == '0')
        return 0;
    for (size_t i = 1; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

notify_status notify_sms(notify_channels *n, const char *to, const char *text, int *retry_after_s)
{
    if (!n->sms_base || !n->sms_token)
        return finish(CH_SMS, NOTIFY_ERR_CONFIG);
    if (!e164_ok(to) || !text || !text[0] || strlen(text) > 640)
        return finish(CH_SMS, NOTIFY_ERR_ARG);
    char *url = NULL, *auth = NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "to", to);
    cJSON_AddStringToObject(o, "text", text);
    cJSON_AddStringToObject(o, "sender", n->sms_sender ? n->sms_sender : "fitgate");
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body || asprintf(&url, "%s/v1/messages", n->sms_base) < 0 ||
        asprintf(&auth, "Authorization: Bearer %s", n->sms_token) < 0) {
        free(body);
        free(url);
        return finish(CH_SMS, NOTIFY_ERR_TEMPORARY);
    }
    http_result r;
    http_post_json(n, url, auth, body, &r);
    memset(auth, 0, strlen(auth));
    free(auth);
    free(url);
    free(body);
    cJSON_Delete(r.json);
    return finish(CH_SMS, classify(&r, retry_after_s));
}

/* ---- e-mail ---- */

typedef struct mail {
    char *text;
    size_t len, off;
} mail;

static size_t on_mail_read(char *dst, size_t size, size_t nmemb, void *ctx)
{
    mail *m = ctx;
    size_t n = size * nmemb, left = m->len - m->off;
    if (n > left)
        n = left;
    memcpy(dst, m->text + m->off, n);
    m->off += n;
    return n;
}

/* An address we put on the envelope and in headers: no CR/LF or angle
 * brackets (header injection), one '@', printable ASCII. */
static int addr_ok(const char *a)
{
    size_t len = a ? strlen(a) : 0;
    if (len < 3 || len > 254 || !strchr(a, '@') || strchr(a, '@') != strrchr(a, '@'))
        return 0;
    for (const char *p = a; *p; p++)
        if (*p <= ' ' || *p >= 127 || *p == '<' || *p == '>' || *p == ',' || *p == ';')
            return 0;
    return 1;
}

/* Subject as an RFC 2047 encoded word (base64, UTF-8): safe for any text. */
static char *encode_subject(const char *s)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(s), cap = 16 + (len + 2) / 3 * 4;
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    o += sprintf(o, "=?UTF-8?B?");
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)s[i + 2];
        *o++ = b64[(v >> 18) & 63];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? b64[v & 63] : '=';
    }
    strcpy(o, "?=");
    return out;
}

notify_status notify_email(notify_channels *n, const char *to, const char *subject,
                           const char *text)
{
    if (!n->smtp_url || !n->smtp_from)
        return finish(CH_EMAIL, NOTIFY_ERR_CONFIG);
    if (!addr_ok(to) || !subject || strlen(subject) > 200 || !text || strlen(text) > 65536)
        return finish(CH_EMAIL, NOTIFY_ERR_ARG);
    char date[64], msgid[96];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    unsigned rnd = (unsigned)now ^ (unsigned)(uintptr_t)&tm;
    snprintf(msgid, sizeof msgid, "<%lld.%u@fitgate>", (long long)now, rnd);
    char *subj = encode_subject(subject);
    mail m = {0};
    int len = subj ? asprintf(&m.text,
                              "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nMessage-ID: %s\r\n"
                              "Subject: %s\r\nMIME-Version: 1.0\r\n"
                              "Content-Type: text/plain; charset=UTF-8\r\n"
                              "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
                              date, n->smtp_from, to, msgid, subj, text)
                   : -1;
    free(subj);
    if (len < 0)
        return finish(CH_EMAIL, NOTIFY_ERR_TEMPORARY);
    m.len = (size_t)len;
    CURL *c = curl_easy_init();
    notify_status st = NOTIFY_ERR_TEMPORARY;
    if (c) {
        char from[300];
        snprintf(from, sizeof from, "<%s>", n->smtp_from);
        char rcpt_addr[300];
        snprintf(rcpt_addr, sizeof rcpt_addr, "<%s>", to);
        struct curl_slist *rcpt = curl_slist_append(NULL, rcpt_addr);
        curl_easy_setopt(c, CURLOPT_URL, n->smtp_url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_mail_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &m);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, n->timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (strncmp(n->smtp_url, "smtp://", 7) == 0)
            curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
        if (n->smtp_user) {
            curl_easy_setopt(c, CURLOPT_USERNAME, n->smtp_user);
            curl_easy_setopt(c, CURLOPT_PASSWORD, n->smtp_password ? n->smtp_password : "");
        }
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        st = rc == CURLE_OK                             ? NOTIFY_OK
             : code >= 500 && code < 600 && code != 552 ? NOTIFY_ERR_REFUSED
                                                        : NOTIFY_ERR_TEMPORARY;
        if (rc != CURLE_OK)
            log_warn("email_failed", "SMTP delivery failed", "error", curl_easy_strerror(rc));
        curl_slist_free_all(rcpt);
        curl_easy_cleanup(c);
    }
    memset(m.text, 0, m.len); /* may hold a one-time code */
    free(m.text);
    return finish(CH_EMAIL, st);
}
