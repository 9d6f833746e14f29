/* pay_yookassa.c - ЮKassa API v3 (https://yookassa.ru/developers/api).
 *
 *   POST /v3/payments                 create (Idempotence-Key, Basic shopId:secret)
 *   GET  /v3/payments/{id}            re-fetch (before acting on a notification)
 *   POST /v3/payments/{id}/capture    take held money (we create with capture=false)
 *   POST /v3/payments/{id}/cancel     release held money
 *   POST /v3/refunds                  return money
 *
 * Two-stage payments (capture=false) let the shop decide at capture time:
 * an order that timed out while the customer was paying has its money
 * released instead of taken and refunded. HTTP 202 ("still processing"), 429
 * and 5xx leave the outcome unknown: PAY_UNAVAILABLE, retried with the same
 * key, as ЮKassa documents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/log.h"
#include "pay.h"
#include "pay_http.h"

typedef struct yk {
    char base[512], userpwd[400], return_url[512];
    long timeout_ms;
} yk;

static pay_status classify(long status, const char *step)
{
    if (status == 200)
        return PAY_OK;
    if (status == 0 || status == 202 || status == 429 || status >= 500) {
        log_warn("yookassa_unavailable", "ЮKassa did not give a final answer", "step", step);
        return PAY_UNAVAILABLE;
    }
    char code[24];
    snprintf(code, sizeof code, "%ld", status);
    log_warn("yookassa_refused", "ЮKassa refused the request", "step", step, "status", code);
    return status == 401 || status == 403 ? PAY_ERR : PAY_DECLINED;
}

static cJSON *amount_obj(int64_t minor, const char *currency)
{
    char v[32];
    pay_amount_format(minor, v, sizeof v);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "value", v);
    cJSON_AddStringToObject(a, "currency", currency);
    return a;
}

static pay_status call(yk *y, const char *method, const char *path, const char *key,
                       const cJSON *body, const char *step, cJSON **reply)
{
    char url[768];
    snprintf(url, sizeof url, "%s%s", y->base, path);
    pay_http_req rq = {.method = method,
                       .url = url,
                       .userpwd = y->userpwd,
                       .idem_key = key,
                       .body = body,
                       .timeout_ms = y->timeout_ms};
    long st = pay_http_call(&rq, reply);
    pay_status ps = classify(st, step);
    if (ps == PAY_OK && !*reply) {
        log_error("yookassa_bad_reply", "ЮKassa reply is not JSON", "step", step);
        ps = PAY_ERR;
    }
    return ps;
}

static pay_status payment_reply(pay_status ps, cJSON *reply, pay_payment *out, const char *step)
{
    if (ps == PAY_OK && pay_yk_payment_parse(reply, out) < 0) {
        log_error("yookassa_bad_reply", "ЮKassa payment object unreadable", "step", step);
        ps = PAY_ERR;
    }
    cJSON_Delete(reply);
    return ps;
}

static pay_status yk_create(void *impl, const pay_request *rq, const char *key, pay_payment *out)
{
    yk *y = impl;
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)rq->order_id);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "amount", amount_obj(rq->amount_minor, rq->currency));
    cJSON_AddBoolToObject(b, "capture", 0);
    cJSON *conf = cJSON_AddObjectToObject(b, "confirmation");
    cJSON_AddStringToObject(conf, "type", "redirect");
    cJSON_AddStringToObject(conf, "return_url", y->return_url);
    cJSON_AddStringToObject(b, "description", rq->description);
    cJSON *meta = cJSON_AddObjectToObject(b, "metadata");
    cJSON_AddStringToObject(meta, "order_id", oid);
    cJSON_AddStringToObject(meta, "order_number", rq->order_number);
    cJSON *reply = NULL;
    pay_status ps = call(y, "POST", "/v3/payments", key, b, "create", &reply);
    cJSON_Delete(b);
    return payment_reply(ps, reply, out, "create");
}

static int id_ok(const char *id)
{
    if (!id || !id[0] || strlen(id) > 64)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

static pay_status yk_get(void *impl, const char *id, pay_payment *out)
{
    if (!id_ok(id))
        return PAY_ERR;
    char path[128];
    snprintf(path, sizeof path, "/v3/payments/%s", id);
    cJSON *reply = NULL;
    pay_status ps = call(impl, "GET", path, NULL, NULL, "get", &reply);
    return payment_reply(ps, reply, out, "get");
}

static pay_status yk_capture(void *impl, const char *id, int64_t minor, const char *currency,
                             const char *key, pay_payment *out)
{
    if (!id_ok(id))
        return PAY_ERR;
    char path[128];
    snprintf(path, sizeof path, "/v3/payments/%s/capture", id);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "amount", amount_obj(minor, currency));
    cJSON *reply = NULL;
    pay_status ps = call(impl, "POST", path, key, b, "capture", &reply);
    cJSON_Delete(b);
    return payment_reply(ps, reply, out, "capture");
}

static pay_status yk_cancel(void *impl, const char *id, const char *key, pay_payment *out)
{
    if (!id_ok(id))
        return PAY_ERR;
    char path[128];
    snprintf(path, sizeof path, "/v3/payments/%s/cancel", id);
    cJSON *b = cJSON_CreateObject();
    cJSON *reply = NULL;
    pay_status ps = call(impl, "POST", path, key, b, "cancel", &reply);
    cJSON_Delete(b);
    return payment_reply(ps, reply, out, "cancel");
}

static pay_status yk_refund(void *impl, const char *id, int64_t minor, const char *currency,
                            const char *key, char *refund_id)
{
    if (!id_ok(id))
        return PAY_ERR;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "payment_id", id);
    cJSON_AddItemToObject(b, "amount", amount_obj(minor, currency));
    cJSON *reply = NULL;
    pay_status ps = call(impl, "POST", "/v3/refunds", key, b, "refund", &reply);
    cJSON_Delete(b);
    if (ps == PAY_OK) {
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(reply, "id");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(reply, "status");
        if (!cJSON_IsString(rid) || strlen(rid->valuestring) >= 72 || !cJSON_IsString(st))
            ps = PAY_ERR;
        else if (!strcmp(st->valuestring, "canceled"))
            ps = PAY_DECLINED;
        else
            snprintf(refund_id, 72, "%s", rid->valuestring);
    }
    cJSON_Delete(reply);
    return ps;
}

static void yk_free(void *impl)
{
    if (impl)
        explicit_bzero(impl, sizeof(yk));
    free(impl);
}

int pay_yookassa_new(pay_provider *out, const pay_yookassa_config *cfg)
{
    memset(out, 0, sizeof *out);
    yk *y = calloc(1, sizeof *y);
    if (!y)
        return -1;
    if ((size_t)snprintf(y->base, sizeof y->base, "%s", cfg->base_url) >= sizeof y->base ||
        (size_t)snprintf(y->userpwd, sizeof y->userpwd, "%s:%s", cfg->shop_id, cfg->secret) >=
            sizeof y->userpwd) {
        yk_free(y);
        return -1;
    }
    snprintf(y->return_url, sizeof y->return_url, "%s",
             cfg->return_url && cfg->return_url[0] ? cfg->return_url : "https://t.me");
    y->base[strcspn(y->base, "\r\n")] = '\0';
    size_t n = strlen(y->base);
    if (n && y->base[n - 1] == '/')
        y->base[n - 1] = '\0';
    y->timeout_ms = cfg->timeout_ms;
    *out = (pay_provider){.name = "yookassa",
                          .impl = y,
                          .create = yk_create,
                          .get = yk_get,
                          .capture = yk_capture,
                          .cancel = yk_cancel,
                          .refund = yk_refund,
                          .free = yk_free};
    return 0;
}
