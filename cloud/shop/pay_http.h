/* pay_http.h - one JSON-over-HTTPS call for the payment providers (libcurl).
 * Internal to the shop. Secrets (userpwd, URLs with a bot token) are never
 * logged: errors name only the provider and the step. */
#ifndef FITGATE_SHOP_PAY_HTTP_H
#define FITGATE_SHOP_PAY_HTTP_H

#include <cjson/cJSON.h>

typedef struct pay_http_req {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const char *userpwd;  /* Basic auth "user:password" or NULL */
    const char *idem_key; /* Idempotence-Key header or NULL */
    const cJSON *body;    /* JSON body (POST) or NULL */
    long timeout_ms;
} pay_http_req;

/* Perform the call. Returns the HTTP status (0 on a network error or
 * timeout); *reply gets the parsed JSON reply (caller frees) or NULL. */
long pay_http_call(const pay_http_req *rq, cJSON **reply);

#endif
