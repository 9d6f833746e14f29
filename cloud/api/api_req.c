/* api_req.c - what a handler sees of a request, and how it answers
 * (api_route.h), plus the api's labelled counters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "fitcommon/log.h"

/* ---- counters with one label, created on first use ---- */

typedef struct counter {
    metric m;
    char name[64], labels[96];
    struct counter *next;
} counter;

static counter *counters;
static pthread_mutex_t counters_mu = PTHREAD_MUTEX_INITIALIZER;

static int label_ok(const char *v)
{
    if (!v[0] || strlen(v) > 48)
        return 0;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

metric *api_counter(const char *name, const char *help, const char *key, const char *value)
{
    char labels[96];
    snprintf(labels, sizeof labels, "%s=\"%s\"", key, label_ok(value) ? value : "other");
    pthread_mutex_lock(&counters_mu);
    counter *c = counters;
    while (c && (strcmp(c->name, name) != 0 || strcmp(c->labels, labels) != 0))
        c = c->next;
    if (!c && (c = calloc(1, sizeof *c))) { /* lives until exit, like every metric */
        snprintf(c->name, sizeof c->name, "%s", name);
        snprintf(c->labels, sizeof c->labels, "%s", labels);
        metric_register(&c->m, c->name, "counter", help, c->labels);
        c->next = counters;
        counters = c;
    }
    pthread_mutex_unlock(&counters_mu);
    static metric lost; /* only when calloc failed: count somewhere harmless */
    return c ? &c->m : &lost;
}

int64_t api_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void api_req_free(api_req *rq)
{
    if (!rq)
        return;
    free(rq->body);
    free(rq->argbuf);
    cJSON_Delete(rq->json);
    for (int i = 0; i < rq->nhdr; i++) {
        free(rq->hdr_name[i]);
        free(rq->hdr_value[i]);
    }
    free(rq);
}

/* ---- the request ---- */

const char *api_method(const api_req *rq)
{
    return rq->method;
}

const char *api_path(const api_req *rq)
{
    return rq->url;
}

const char *api_path_arg(const api_req *rq, int i)
{
    return i >= 0 && i < rq->nargs ? rq->args[i] : NULL;
}

const char *api_query(const api_req *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->c, MHD_GET_ARGUMENT_KIND, key);
}

int api_query_i64(const api_req *rq, const char *key, int64_t def, int64_t min, int64_t max,
                  int64_t *out)
{
    const char *v = api_query(rq, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

const char *api_header(const api_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->c, MHD_HEADER_KIND, name);
}

const char *api_body(const api_req *rq, size_t *len)
{
    if (len)
        *len = rq->len;
    return rq->body ? rq->body : "";
}

const cJSON *api_body_json(api_req *rq)
{
    if (!rq->json_done) {
        rq->json_done = 1;
        rq->json = cJSON_ParseWithLength(rq->body ? rq->body : "", rq->len);
        if (rq->json && !cJSON_IsObject(rq->json)) {
            cJSON_Delete(rq->json);
            rq->json = NULL;
        }
    }
    return rq->json;
}

const api_principal *api_who(const api_req *rq)
{
    return &rq->who;
}

const char *api_peer_ip(const api_req *rq)
{
    return rq->peer;
}

api *api_of(const api_req *rq)
{
    return rq->a;
}

/* ---- the reply ---- */

int api_reply_header(api_req *rq, const char *name, const char *value)
{
    if (rq->nhdr >= API_HEADERS_MAX || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -1;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    rq->hdr_name[rq->nhdr] = n;
    rq->hdr_value[rq->nhdr++] = v;
    return 0;
}

int api_req_queue(api_req *rq, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return -1;
    if (rq->replied) {
        MHD_destroy_response(r);
        log_error("api_reply_twice", "a handler answered twice", "path", rq->url);
        return -1;
    }
    rq->replied = 1;
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; object-src 'none';"
                            " base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
                            " https://web.telegram.org");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    for (int i = 0; i < rq->nhdr; i++)
        MHD_add_response_header(r, rq->hdr_name[i], rq->hdr_value[i]);
    enum MHD_Result rc = MHD_queue_response(rq->c, status, r);
    MHD_destroy_response(r);
    return rc == MHD_YES ? 0 : -1;
}

int api_reply_raw(api_req *rq, unsigned status, const char *content_type, const void *body,
                  size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return -1;
    MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return api_req_queue(rq, status, r);
}

int api_reply_json_str(api_req *rq, unsigned status, const char *json)
{
    return api_reply_raw(rq, status, "application/json", json, strlen(json));
}

int api_reply_json(api_req *rq, unsigned status, cJSON *body)
{
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    int rc = api_reply_json_str(rq, status, s ? s : "{}");
    free(s);
    return rc;
}

int api_reply_error(api_req *rq, unsigned status, const char *code, const char *message)
{
    metric_add(api_counter("fitgate_api_rejected_total", "HTTP requests rejected, by reason",
                           "reason", code),
               1);
    if (status == 401)
        api_reply_header(rq, "WWW-Authenticate", "Bearer");
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -1;
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", message);
    return api_reply_json(rq, status, o);
}
