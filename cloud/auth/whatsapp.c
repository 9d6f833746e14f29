/* whatsapp.c - WhatsApp webhook handshake, signature and message parsing. */
#include "whatsapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto.h"

const char *wa_status_str(wa_status s)
{
    static const char *const n[] = {"ok", "signature", "syntax", "token", "arg"};
    return (unsigned)s < sizeof n / sizeof n[0] ? n[s] : "unknown";
}

wa_status wa_verify_signature(const char *app_secret, const void *body, size_t len,
                              const char *header)
{
    if (!app_secret || !app_secret[0] || !body)
        return WA_ERR_ARG;
    if (!header || strncmp(header, "sha256=", 7))
        return WA_ERR_SIGNATURE;
    uint8_t got[32], want[32];
    if (crypto_hex_decode(header + 7, strlen(header + 7), got, sizeof got) < 0)
        return WA_ERR_SIGNATURE;
    if (crypto_hmac_sha256(app_secret, strlen(app_secret), body, len, want) < 0)
        return WA_ERR_ARG;
    return crypto_equal(got, want, sizeof want) ? WA_OK : WA_ERR_SIGNATURE;
}

void wa_sign(const char *app_secret, const void *body, size_t len, char out[72])
{
    uint8_t mac[32];
    memcpy(out, "sha256=", 7);
    if (crypto_hmac_sha256(app_secret, strlen(app_secret), body, len, mac) < 0)
        memset(mac, 0, sizeof mac);
    crypto_hex_encode(mac, sizeof mac, out + 7);
}

wa_status wa_handshake(const char *mode, const char *token, const char *our_token)
{
    if (!our_token || !our_token[0])
        return WA_ERR_ARG;
    if (!mode || strcmp(mode, "subscribe") || !token)
        return WA_ERR_TOKEN;
    size_t a = strlen(token), b = strlen(our_token);
    /* Compare equal lengths only; the length of our token is not secret enough to matter. */
    return a == b && crypto_equal(token, our_token, b) ? WA_OK : WA_ERR_TOKEN;
}

static void copy(char *dst, size_t cap, const cJSON *v)
{
    if (cJSON_IsString(v))
        snprintf(dst, cap, "%s", v->valuestring);
}

/* The contact entry that matches this sender (by wa_id or user_id). */
static const cJSON *contact_for(const cJSON *contacts, const char *from, const char *uid)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, contacts)
    {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(c, "wa_id");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(c, "user_id");
        if ((from[0] && cJSON_IsString(w) && !strcmp(w->valuestring, from)) ||
            (uid[0] && cJSON_IsString(u) && !strcmp(u->valuestring, uid)))
            return c;
    }
    return cJSON_GetArraySize(contacts) == 1 ? cJSON_GetArrayItem(contacts, 0) : NULL;
}

static void parse_message(const cJSON *m, const cJSON *contacts, wa_message *o)
{
    memset(o, 0, sizeof *o);
    copy(o->wa_id, sizeof o->wa_id, cJSON_GetObjectItemCaseSensitive(m, "from"));
    copy(o->user_id, sizeof o->user_id, cJSON_GetObjectItemCaseSensitive(m, "from_user_id"));
    copy(o->msg_id, sizeof o->msg_id, cJSON_GetObjectItemCaseSensitive(m, "id"));
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(m, "timestamp");
    if (cJSON_IsString(ts))
        o->timestamp = strtoll(ts->valuestring, NULL, 10);
    const cJSON *c = contact_for(contacts, o->wa_id, o->user_id);
    if (c) {
        if (!o->user_id[0])
            copy(o->user_id, sizeof o->user_id, cJSON_GetObjectItemCaseSensitive(c, "user_id"));
        if (!o->wa_id[0])
            copy(o->wa_id, sizeof o->wa_id, cJSON_GetObjectItemCaseSensitive(c, "wa_id"));
        copy(o->name, sizeof o->name,
             cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "profile"),
                                              "name"));
    }
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "text");
    const cJSON *button = cJSON_GetObjectItemCaseSensitive(m, "button");
    if (text)
        copy(o->text, sizeof o->text, cJSON_GetObjectItemCaseSensitive(text, "body"));
    else if (button)
        copy(o->text, sizeof o->text, cJSON_GetObjectItemCaseSensitive(button, "payload"));
}

wa_status wa_parse_webhook(const char *body, size_t len, wa_message *out, size_t max, size_t *n)
{
    *n = 0;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "object");
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(j, "entry");
    if (!cJSON_IsObject(j) || !cJSON_IsString(obj) ||
        strcmp(obj->valuestring, "whatsapp_business_account") || !cJSON_IsArray(entries)) {
        cJSON_Delete(j);
        return WA_ERR_SYNTAX;
    }
    const cJSON *e, *ch, *m;
    cJSON_ArrayForEach(e, entries)
    {
        cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(e, "changes"))
        {
            const cJSON *value = cJSON_GetObjectItemCaseSensitive(ch, "value");
            const cJSON *contacts = cJSON_GetObjectItemCaseSensitive(value, "contacts");
            cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(value, "messages"))
            {
                if (*n >= max)
                    break;
                parse_message(m, contacts, &out[*n]);
                if (out[*n].wa_id[0] || out[*n].user_id[0])
                    (*n)++;
            }
        }
    }
    cJSON_Delete(j);
    return WA_OK;
}

void wa_identity_key(const wa_message *m, char out[WA_ID_MAX + 3])
{
    if (m->user_id[0])
        snprintf(out, WA_ID_MAX + 3, "u:%s", m->user_id);
    else
        snprintf(out, WA_ID_MAX + 3, "p:%s", m->wa_id);
}
