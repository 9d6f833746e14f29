/* pay_telegram.c - Telegram Payments through the Bot API
 * (https://core.telegram.org/bots/payments).
 *
 *   createInvoiceLink        an invoice the mini app opens (openInvoice); the
 *                            payload is "order-<id>"
 *   answerPreCheckoutQuery   must come within 10 s of the pre_checkout_query
 *   successful_payment       (a message in the webhook update) is the only
 *                            proof of payment; the mini app's "paid" callback
 *                            is not.
 * There is no re-fetch and no capture: Telegram has no such calls. Refunds of
 * payments made through a payment provider go through that provider.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/log.h"
#include "pay.h"
#include "pay_http.h"

typedef struct tg {
    char base[512], token[256], provider_token[256];
    long timeout_ms;
} tg;

static pay_status bot_call(const tg *t, const char *method, const cJSON *body, cJSON **result)
{
    char url[900];
    snprintf(url, sizeof url, "%s/bot%s/%s", t->base, t->token, method);
    pay_http_req rq = {.method = "POST", .url = url, .body = body, .timeout_ms = t->timeout_ms};
    cJSON *reply = NULL;
    long st = pay_http_call(&rq, &reply);
    explicit_bzero(url, sizeof url);
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
    pay_status ps = PAY_OK;
    if (st == 0 || st == 429 || st >= 500)
        ps = PAY_UNAVAILABLE;
    else if (st != 200 || !cJSON_IsTrue(ok))
        ps = st == 401 || st == 404 ? PAY_ERR : PAY_DECLINED;
    if (ps != PAY_OK)
        log_warn("telegram_payments_call_failed", "Bot API call failed", "method", method);
    if (ps == PAY_OK && result)
        *result = cJSON_DetachItemFromObjectCaseSensitive(reply, "result");
    cJSON_Delete(reply);
    return ps;
}

static pay_status tg_create(void *impl, const pay_request *rq, const char *key, pay_payment *out)
{
    (void)key; /* an invoice link takes no money: creating it twice is harmless */
    tg *t = impl;
    memset(out, 0, sizeof *out);
    cJSON *b = cJSON_CreateObject();
    char payload[40];
    snprintf(payload, sizeof payload, "order-%lld", (long long)rq->order_id);
    cJSON_AddStringToObject(b, "title", rq->description);
    cJSON_AddStringToObject(b, "description", rq->description);
    cJSON_AddStringToObject(b, "payload", payload);
    cJSON_AddStringToObject(b, "provider_token", t->provider_token);
    cJSON_AddStringToObject(b, "currency", rq->currency);
    cJSON *prices = cJSON_AddArrayToObject(b, "prices");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "label", rq->order_number);
    cJSON_AddNumberToObject(p, "amount", (double)rq->amount_minor);
    cJSON_AddItemToArray(prices, p);
    cJSON *result = NULL;
    pay_status ps = bot_call(t, "createInvoiceLink", b, &result);
    cJSON_Delete(b);
    if (ps == PAY_OK) {
        if (!cJSON_IsString(result) || strlen(result->valuestring) >= sizeof out->url) {
            ps = PAY_ERR;
        } else {
            snprintf(out->url, sizeof out->url, "%s", result->valuestring);
            snprintf(out->id, sizeof out->id, "%s", payload);
            out->state = PAY_STATE_PENDING;
            out->amount_minor = rq->amount_minor;
            snprintf(out->currency, sizeof out->currency, "%s", rq->currency);
            out->order_id = rq->order_id;
        }
    }
    cJSON_Delete(result);
    return ps;
}

pay_status pay_telegram_answer_precheckout(const pay_provider *p, const char *query_id, int ok,
                                           const char *error_message)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "pre_checkout_query_id", query_id);
    cJSON_AddBoolToObject(b, "ok", ok);
    if (!ok)
        cJSON_AddStringToObject(b, "error_message", error_message ? error_message : "");
    pay_status ps = bot_call(p->impl, "answerPreCheckoutQuery", b, NULL);
    cJSON_Delete(b);
    return ps;
}

static void tg_free(void *impl)
{
    if (impl)
        explicit_bzero(impl, sizeof(tg));
    free(impl);
}

int pay_telegram_new(pay_provider *out, const pay_telegram_config *cfg)
{
    memset(out, 0, sizeof *out);
    tg *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    if ((size_t)snprintf(t->base, sizeof t->base, "%s", cfg->base_url) >= sizeof t->base ||
        (size_t)snprintf(t->token, sizeof t->token, "%s", cfg->bot_token) >= sizeof t->token ||
        (size_t)snprintf(t->provider_token, sizeof t->provider_token, "%s", cfg->provider_token) >=
            sizeof t->provider_token) {
        tg_free(t);
        return -1;
    }
    size_t n = strlen(t->base);
    if (n && t->base[n - 1] == '/')
        t->base[n - 1] = '\0';
    /* Timeouts stay well under the 10 s pre-checkout deadline. */
    t->timeout_ms = cfg->timeout_ms > 0 && cfg->timeout_ms < 5000 ? cfg->timeout_ms : 5000;
    *out = (pay_provider){.name = "telegram", .impl = t, .create = tg_create, .free = tg_free};
    return 0;
}
