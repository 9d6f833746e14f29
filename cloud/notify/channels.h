/* channels.h - send a message to a person: Telegram Bot API, WhatsApp Cloud
 * API, SMS gateway, e-mail (SMTP), all through libcurl.
 *
 * Every outside API is reached through a configurable base URL, so tests point
 * it at a local endpoint that checks the request as the real API documents it.
 * Calls are synchronous (bounded by timeout_ms) and thread-safe: one
 * notify_channels handle may be shared by HTTP threads (2FA codes) and the
 * notifier (event-driven messages). Message texts may contain secrets (one-time
 * codes): they are never logged.
 *
 * Error codes tell the caller what to do next:
 *   NOTIFY_OK            delivered to the provider
 *   NOTIFY_ERR_CONFIG    channel not configured (no token / base URL)
 *   NOTIFY_ERR_RATE      provider said slow down; *retry_after_s set when known
 *   NOTIFY_ERR_REFUSED   permanent: the provider refused this recipient (e.g.
 *                        Telegram 403 "bot was blocked", WhatsApp outside the
 *                        24 h window without a template) - do not retry
 *   NOTIFY_ERR_TEMPORARY network error, timeout or 5xx - retry later
 */
#ifndef FITGATE_NOTIFY_CHANNELS_H
#define FITGATE_NOTIFY_CHANNELS_H

#include <stdint.h>

typedef enum notify_status {
    NOTIFY_OK = 0,
    NOTIFY_ERR_CONFIG,
    NOTIFY_ERR_RATE,
    NOTIFY_ERR_REFUSED,
    NOTIFY_ERR_TEMPORARY,
    NOTIFY_ERR_ARG,
} notify_status;

const char *notify_status_str(notify_status s);

typedef struct notify_config {
    /* Telegram Bot API: <telegram_base>/bot<token>/sendMessage */
    const char *telegram_base; /* default https://api.telegram.org */
    const char *telegram_bot_token;
    /* WhatsApp Cloud API: <whatsapp_base>/v21.0/<phone_number_id>/messages, Bearer token */
    const char *whatsapp_base; /* default https://graph.facebook.com */
    const char *whatsapp_phone_number_id;
    const char *whatsapp_token;
    const char *whatsapp_auth_template; /* authentication template name (copy-code button) */
    /* SMS: POST <sms_base>/v1/messages {"to","text","sender"} with Bearer sms_token
     * (a generic JSON SMS gateway; see docs/notify.md) */
    const char *sms_base;
    const char *sms_token;
    const char *sms_sender;
    /* E-mail over SMTP: smtp://host:port (smtps:// for TLS), from address */
    const char *smtp_url;
    const char *smtp_from;
    const char *smtp_user, *smtp_password; /* optional */
    long timeout_ms;                       /* per call, default 5000 */
} notify_config;

typedef struct notify_channels notify_channels;

/* Copies cfg. 0 or -1. Free with notify_channels_free(). */
int notify_channels_new(notify_channels **out, const notify_config *cfg);
void notify_channels_free(notify_channels *n);

/* Plain text to a Telegram chat (a user's chat id = their Telegram user id once
 * they started the bot). */
notify_status notify_telegram(notify_channels *n, int64_t chat_id, const char *text,
                              int *retry_after_s);
/* WhatsApp recipients: `to` is either a phone (wa_id, international digits)
 * or a business-scoped user id (BSUID, "US.13491208655302741918", the
 * webhook's user_id), sent in the Cloud API's "recipient" field instead of
 * "to". Anything else is NOTIFY_ERR_ARG. */
#define NOTIFY_WA_BSUID_MAX 140 /* "CC." + up to 128 alphanumerics (+ parent part) */
/* 1 when s has the shape of a BSUID (pure). */
int notify_whatsapp_is_bsuid(const char *s);
/* A one-time code through the WhatsApp authentication template (to = wa_id).
 * Copy-code templates cannot go to a BSUID (Meta error 131062): a BSUID
 * gives NOTIFY_ERR_REFUSED without a request; send a text instead. */
notify_status notify_whatsapp_code(notify_channels *n, const char *to, const char *code,
                                   const char *lang, int *retry_after_s);
/* A session text message on WhatsApp (only inside the 24 h window). */
notify_status notify_whatsapp_text(notify_channels *n, const char *to, const char *text,
                                   int *retry_after_s);
/* SMS to an E.164 number ("+4915112345678"). */
notify_status notify_sms(notify_channels *n, const char *to, const char *text, int *retry_after_s);
/* E-mail (text/plain; UTF-8). */
notify_status notify_email(notify_channels *n, const char *to, const char *subject,
                           const char *text);

#endif
