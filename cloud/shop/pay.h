/* pay.h - payment providers behind one interface, and the pure parsers of
 * what they send us.
 *
 * A provider is a table of calls (pay_provider) over an opaque handle. The
 * shop calls them outside its database transactions, always with an
 * idempotence key derived from the order ("order-42-create"), so a retry
 * after a timeout or a crash can never take a payment twice: the provider
 * returns the payment the first call created.
 *
 * Results:
 *   PAY_OK           the call did what it says; *out filled
 *   PAY_DECLINED     the provider refused for good (4xx): do not retry
 *   PAY_UNAVAILABLE  timeout, network error, 5xx: the outcome is unknown,
 *                    retry later with the same key
 *   PAY_ERR          misconfigured or a reply we cannot read (logged)
 *
 * Implementations: ЮKassa v3 (pay_yookassa.c) and Telegram Payments
 * (pay_telegram.c), both over libcurl with configurable base URLs. Secrets
 * (shop secret key, bot token, provider token) are never logged.
 */
#ifndef FITGATE_SHOP_PAY_H
#define FITGATE_SHOP_PAY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef enum pay_status {
    PAY_OK = 0,
    PAY_DECLINED = 1,
    PAY_UNAVAILABLE = 2,
    PAY_ERR = -1,
} pay_status;

/* Provider-neutral payment states. */
typedef enum pay_state {
    PAY_STATE_UNKNOWN = 0,
    PAY_STATE_PENDING,    /* created, the customer has not paid yet */
    PAY_STATE_AUTHORISED, /* money held (ЮKassa waiting_for_capture) */
    PAY_STATE_SUCCEEDED,  /* money taken */
    PAY_STATE_CANCELED,   /* declined, expired or cancelled */
} pay_state;

const char *pay_state_name(pay_state s);

/* What we ask for. */
typedef struct pay_request {
    int64_t order_id;
    const char *order_number;
    int64_t amount_minor;
    const char *currency;    /* "RUB" */
    const char *description; /* shown to the customer */
    const char *items_json;  /* provider-specific extra (may be NULL) */
} pay_request;

/* What the provider says about a payment. */
typedef struct pay_payment {
    char id[72]; /* provider payment id (Telegram: the invoice payload) */
    pay_state state;
    int64_t amount_minor;
    char currency[8];
    int64_t order_id; /* from the payment's metadata, 0 when absent */
    char url[512];    /* confirmation URL / invoice link */
    char reason[64];  /* cancellation reason, when canceled */
} pay_payment;

typedef struct pay_provider {
    const char *name; /* "yookassa", "telegram" */
    void *impl;
    pay_status (*create)(void *impl, const pay_request *rq, const char *idem_key, pay_payment *out);
    /* Re-fetch a payment (NULL when the provider cannot: Telegram). */
    pay_status (*get)(void *impl, const char *payment_id, pay_payment *out);
    /* Take held money (two-stage payments); NULL when not applicable. */
    pay_status (*capture)(void *impl, const char *payment_id, int64_t amount_minor,
                          const char *currency, const char *idem_key, pay_payment *out);
    /* Release held money; NULL when not applicable. */
    pay_status (*cancel)(void *impl, const char *payment_id, const char *idem_key,
                         pay_payment *out);
    /* Return taken money; refund_id (cap 72) gets the provider's refund id. */
    pay_status (*refund)(void *impl, const char *payment_id, int64_t amount_minor,
                         const char *currency, const char *idem_key, char *refund_id);
    void (*free)(void *impl);
} pay_provider;

/* ---- ЮKassa v3 ---- */
typedef struct pay_yookassa_config {
    const char *base_url;   /* https://api.yookassa.ru */
    const char *shop_id;    /* Basic auth user */
    const char *secret;     /* Basic auth password (secret) */
    const char *return_url; /* where the confirmation page sends the customer back */
    long timeout_ms;
} pay_yookassa_config;
/* 0 or -1; fills *out (free with out->free(out->impl)). Copies the config. */
int pay_yookassa_new(pay_provider *out, const pay_yookassa_config *cfg);

/* ---- Telegram Payments (Bot API) ---- */
typedef struct pay_telegram_config {
    const char *base_url;       /* https://api.telegram.org */
    const char *bot_token;      /* secret */
    const char *provider_token; /* from @BotFather (e.g. a ЮKassa one); secret */
    long timeout_ms;
} pay_telegram_config;
int pay_telegram_new(pay_provider *out, const pay_telegram_config *cfg);
/* answerPreCheckoutQuery: ok, or refused with a message for the customer. */
pay_status pay_telegram_answer_precheckout(const pay_provider *p, const char *query_id, int ok,
                                           const char *error_message);

/* ---- pure parsers (no I/O; fuzzed by tests/fuzz/shop.cmake) ---- */

/* "1299.00" -> 129900. Exactly two decimals, no sign, no exponent, at most
 * 1e12 units. 0 or -1. */
int pay_amount_parse(const char *s, int64_t *minor);
/* 129900 -> "1299.00" (cap >= 24). */
void pay_amount_format(int64_t minor, char *buf, size_t cap);

/* A ЮKassa payment object (from GET/POST /v3/payments) into *out. 0 or -1. */
int pay_yk_payment_parse(const cJSON *obj, pay_payment *out);

/* A ЮKassa notification: {"type":"notification","event":"payment.succeeded",
 * "object":{"id":...}}. Only event and the payment id are taken: the
 * payment itself is always re-fetched before acting. 0 or -1. */
typedef struct pay_yk_note {
    char event[48];
    char payment_id[72];
} pay_yk_note;
int pay_yk_note_parse(const char *body, size_t len, pay_yk_note *out);

/* A Telegram update as far as payments care. */
typedef enum pay_tg_kind {
    PAY_TG_OTHER = 0,   /* not for us: acknowledge and ignore */
    PAY_TG_PRECHECKOUT, /* pre_checkout_query */
    PAY_TG_PAID,        /* message.successful_payment */
} pay_tg_kind;
typedef struct pay_tg_update {
    int64_t update_id;
    pay_tg_kind kind;
    char query_id[72]; /* pre_checkout_query.id */
    int64_t from_id;   /* the Telegram user */
    char currency[8];
    int64_t total_amount; /* minor units */
    char payload[72];     /* invoice_payload */
    char telegram_charge_id[128];
    char provider_charge_id[128];
} pay_tg_update;
int pay_tg_update_parse(const char *body, size_t len, pay_tg_update *out);

/* Is ip (IPv4 or IPv6 text) inside one of the comma-separated CIDRs / plain
 * addresses in list ("185.71.76.0/27,77.75.156.11,2a02:5180::/32")? 1/0. */
int pay_ip_allowed(const char *list, const char *ip);

/* ЮKassa's published notification addresses (yookassa.ru/developers). */
#define PAY_YK_NOTIFY_IPS                                                                          \
    "185.71.76.0/27,185.71.77.0/27,77.75.153.0/25,77.75.156.11,77.75.156.35,77.75.154.128/25,"     \
    "2a02:5180::/32"

#endif
