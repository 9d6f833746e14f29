/* pay_parse.c - the pure parts of the payment providers: amounts, ЮKassa
 * payment objects and notifications, Telegram updates, address lists. No I/O,
 * no allocation that outlives a call: fuzzed (tests/fuzz/shop.cmake). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pay.h"

#define AMOUNT_MAX_UNITS 1000000000000LL

const char *pay_state_name(pay_state s)
{
    switch (s) {
    case PAY_STATE_PENDING:
        return "pending";
    case PAY_STATE_AUTHORISED:
        return "authorised";
    case PAY_STATE_SUCCEEDED:
        return "succeeded";
    case PAY_STATE_CANCELED:
        return "canceled";
    default:
        return "unknown";
    }
}

int pay_amount_parse(const char *s, int64_t *minor)
{
    if (!s || !*s)
        return -1;
    int64_t units = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        units = units * 10 + (s[i] - '0');
        if (units > AMOUNT_MAX_UNITS)
            return -1;
    }
    if (i == 0 || s[i] != '.' || s[i + 1] < '0' || s[i + 1] > '9' || s[i + 2] < '0' ||
        s[i + 2] > '9' || s[i + 3])
        return -1;
    *minor = units * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
    return 0;
}

void pay_amount_format(int64_t minor, char *buf, size_t cap)
{
    if (minor < 0)
        minor = 0;
    snprintf(buf, cap, "%lld.%02lld", (long long)(minor / 100), (long long)(minor % 100));
}

static int copy_str(char *dst, size_t cap, const cJSON *v)
{
    if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) >= cap)
        return -1;
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static pay_state yk_state(const char *s)
{
    if (!strcmp(s, "pending"))
        return PAY_STATE_PENDING;
    if (!strcmp(s, "waiting_for_capture"))
        return PAY_STATE_AUTHORISED;
    if (!strcmp(s, "succeeded"))
        return PAY_STATE_SUCCEEDED;
    if (!strcmp(s, "canceled"))
        return PAY_STATE_CANCELED;
    return PAY_STATE_UNKNOWN;
}

int pay_yk_payment_parse(const cJSON *obj, pay_payment *out)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(obj))
        return -1;
    char status[32];
    if (copy_str(out->id, sizeof out->id, cJSON_GetObjectItemCaseSensitive(obj, "id")) < 0 ||
        copy_str(status, sizeof status, cJSON_GetObjectItemCaseSensitive(obj, "status")) < 0)
        return -1;
    out->state = yk_state(status);
    if (out->state == PAY_STATE_UNKNOWN)
        return -1;
    const cJSON *amount = cJSON_GetObjectItemCaseSensitive(obj, "amount");
    char value[32];
    if (copy_str(value, sizeof value, cJSON_GetObjectItemCaseSensitive(amount, "value")) < 0 ||
        pay_amount_parse(value, &out->amount_minor) < 0 ||
        copy_str(out->currency, sizeof out->currency,
                 cJSON_GetObjectItemCaseSensitive(amount, "currency")) < 0)
        return -1;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *oid = cJSON_GetObjectItemCaseSensitive(meta, "order_id");
    if (cJSON_IsString(oid) && oid->valuestring) {
        char *end = NULL;
        long long v = strtoll(oid->valuestring, &end, 10);
        if (end && !*end && v > 0)
            out->order_id = v;
    }
    const cJSON *conf = cJSON_GetObjectItemCaseSensitive(obj, "confirmation");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(conf, "confirmation_url");
    if (url)
        copy_str(out->url, sizeof out->url, url);
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(obj, "cancellation_details");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(cd, "reason");
    if (reason)
        copy_str(out->reason, sizeof out->reason, reason);
    return 0;
}

int pay_yk_note_parse(const char *body, size_t len, pay_yk_note *out)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(body, len);
    int rc = -1;
    if (!cJSON_IsObject(j))
        goto done;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "notification"))
        goto done;
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "object");
    if (copy_str(out->event, sizeof out->event, cJSON_GetObjectItemCaseSensitive(j, "event")) < 0 ||
        copy_str(out->payment_id, sizeof out->payment_id,
                 cJSON_GetObjectItemCaseSensitive(obj, "id")) < 0 ||
        !out->payment_id[0])
        goto done;
    /* The id goes into a URL path: only the characters ЮKassa ids use. */
    for (const char *p = out->payment_id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '-' || *p == '_'))
            goto done;
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

static int get_i64(const cJSON *o, const char *k, int64_t *v)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 9.0e15 ||
        n->valuedouble != (double)(int64_t)n->valuedouble)
        return -1;
    *v = (int64_t)n->valuedouble;
    return 0;
}

int pay_tg_update_parse(const char *body, size_t len, pay_tg_update *out)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(body, len);
    int rc = -1;
    if (!cJSON_IsObject(j) || get_i64(j, "update_id", &out->update_id) < 0)
        goto done;
    const cJSON *pcq = cJSON_GetObjectItemCaseSensitive(j, "pre_checkout_query");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(msg, "successful_payment");
    const cJSON *src = NULL, *from = NULL;
    if (cJSON_IsObject(pcq)) {
        out->kind = PAY_TG_PRECHECKOUT;
        src = pcq;
        from = cJSON_GetObjectItemCaseSensitive(pcq, "from");
        if (copy_str(out->query_id, sizeof out->query_id,
                     cJSON_GetObjectItemCaseSensitive(pcq, "id")) < 0)
            goto done;
    } else if (cJSON_IsObject(sp)) {
        out->kind = PAY_TG_PAID;
        src = sp;
        from = cJSON_GetObjectItemCaseSensitive(msg, "from");
        if (copy_str(out->telegram_charge_id, sizeof out->telegram_charge_id,
                     cJSON_GetObjectItemCaseSensitive(sp, "telegram_payment_charge_id")) < 0)
            goto done;
        const cJSON *pc = cJSON_GetObjectItemCaseSensitive(sp, "provider_payment_charge_id");
        if (pc && copy_str(out->provider_charge_id, sizeof out->provider_charge_id, pc) < 0)
            goto done;
    } else {
        out->kind = PAY_TG_OTHER;
        rc = 0;
        goto done;
    }
    if (copy_str(out->currency, sizeof out->currency,
                 cJSON_GetObjectItemCaseSensitive(src, "currency")) < 0 ||
        get_i64(src, "total_amount", &out->total_amount) < 0 ||
        copy_str(out->payload, sizeof out->payload,
                 cJSON_GetObjectItemCaseSensitive(src, "invoice_payload")) < 0 ||
        (from && get_i64(from, "id", &out->from_id) < 0))
        goto done;
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

/* One entry "a.b.c.d[/n]" or "v6[/n]" against the parsed peer. */
static int cidr_match(const char *entry, size_t elen, int fam, const unsigned char *peer)
{
    char buf[64];
    if (elen == 0 || elen >= sizeof buf)
        return 0;
    memcpy(buf, entry, elen);
    buf[elen] = '\0';
    char *slash = strchr(buf, '/');
    int maxbits = fam == AF_INET ? 32 : 128, bits = maxbits;
    if (slash) {
        *slash = '\0';
        char *end = NULL;
        long b = strtol(slash + 1, &end, 10);
        if (!*(slash + 1) || *end || b < 0 || b > maxbits)
            return 0;
        bits = (int)b;
    }
    unsigned char net[16];
    if (inet_pton(fam, buf, net) != 1)
        return 0;
    for (int i = 0; i < bits / 8; i++)
        if (net[i] != peer[i])
            return 0;
    if (bits % 8) {
        unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));
        if ((net[bits / 8] & mask) != (peer[bits / 8] & mask))
            return 0;
    }
    return 1;
}

int pay_ip_allowed(const char *list, const char *ip)
{
    if (!list || !ip)
        return 0;
    unsigned char peer[16];
    int fam = AF_INET;
    if (inet_pton(AF_INET, ip, peer) != 1) {
        fam = AF_INET6;
        if (inet_pton(AF_INET6, ip, peer) != 1)
            return 0;
        /* An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is that IPv4 address. */
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(peer, mapped, 12)) {
            memmove(peer, peer + 12, 4);
            fam = AF_INET;
        }
    }
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n && cidr_match(p, n, fam, peer))
            return 1;
        p += n;
    }
    return 0;
}
