/* whatsapp.h - WhatsApp Cloud API webhooks (pure; no network).
 *
 *   GET  handshake: hub.mode=subscribe, hub.verify_token == ours -> echo
 *        hub.challenge, else 403.
 *   POST events:    X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret,
 *        raw body)> over the raw bytes, compared in constant time, before
 *        the JSON is even parsed.
 * Users are keyed on the business-scoped user id (user_id) when present,
 * the phone (wa_id / from) otherwise.
 */
#ifndef FITGATE_WHATSAPP_H
#define FITGATE_WHATSAPP_H

#include <stddef.h>

#define WA_ID_MAX       64
#define WA_TEXT_MAX     1024
#define WA_MESSAGES_MAX 32

typedef enum wa_status {
    WA_OK = 0,
    WA_ERR_SIGNATURE, /* header missing, malformed or not matching */
    WA_ERR_SYNTAX,    /* not the webhook JSON */
    WA_ERR_TOKEN,     /* handshake: wrong mode or verify token */
    WA_ERR_ARG,
} wa_status;

const char *wa_status_str(wa_status s);

/* Check the X-Hub-Signature-256 header value over body[0..len). */
wa_status wa_verify_signature(const char *app_secret, const void *body, size_t len,
                              const char *header);
/* The header value for body (tests, the fake API): "sha256=<hex>" into out[72]. */
void wa_sign(const char *app_secret, const void *body, size_t len, char out[72]);

/* The GET handshake: WA_OK when mode is "subscribe" and token matches ours
 * (constant time); the caller then answers 200 with the challenge. */
wa_status wa_handshake(const char *mode, const char *token, const char *our_token);

/* One inbound message from the webhook's entry[].changes[].value. */
typedef struct wa_message {
    char user_id[WA_ID_MAX + 1]; /* business-scoped user id; "" when absent */
    char wa_id[WA_ID_MAX + 1];   /* phone (contacts[].wa_id or messages[].from); may be "" */
    char msg_id[WA_ID_MAX * 2 + 1];
    char name[WA_ID_MAX * 2 + 1]; /* profile name, may be "" */
    char text[WA_TEXT_MAX + 1];   /* text body or button payload, may be "" */
    long long timestamp;
} wa_message;

/* Parse a webhook body: up to max messages into out, *n the count (status
 * updates and unknown change types are skipped). WA_ERR_SYNTAX when the body
 * is not a whatsapp_business_account object. */
wa_status wa_parse_webhook(const char *body, size_t len, wa_message *out, size_t max, size_t *n);

/* The key we store a WhatsApp identity under: "u:<user_id>" or "p:<wa_id>". */
void wa_identity_key(const wa_message *m, char out[WA_ID_MAX + 3]);

#endif
