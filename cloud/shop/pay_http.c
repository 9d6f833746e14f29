/* pay_http.c - JSON calls to payment providers over libcurl. */
#include "pay_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/membuf.h"

#define REPLY_MAX (1 << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

long pay_http_call(const pay_http_req *rq, cJSON **reply)
{
    *reply = NULL;
    pthread_once(&curl_once, curl_init);
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    membuf b = {.max = REPLY_MAX};
    char *body = rq->body ? cJSON_PrintUnformatted(rq->body) : NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    char idem[300];
    if (rq->idem_key) {
        snprintf(idem, sizeof idem, "Idempotence-Key: %s", rq->idem_key);
        h = curl_slist_append(h, idem);
    }
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, membuf_curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (rq->userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, rq->userpwd);
    }
    if (!strcmp(rq->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status && b.p)
        *reply = cJSON_ParseWithLength(b.p, b.len);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body);
    membuf_free(&b, 0);
    return status;
}
