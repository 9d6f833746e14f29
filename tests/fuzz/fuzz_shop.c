/* fuzz_shop.c - what payment providers send us: ЮKassa notifications and
 * payment objects, Telegram updates, amounts, address lists.
 * Invariants: no crash, no leak, and whatever is accepted is within the
 * documented limits (NUL-terminated ids of safe characters, amounts that
 * format back to what was parsed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(const char *id, size_t cap)
{
    if (strnlen(id, cap) == cap)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    pay_yk_note n;
    if (pay_yk_note_parse(s, size, &n) == 0) {
        check_id(n.payment_id, sizeof n.payment_id);
        for (const char *p = n.payment_id; *p; p++)
            if (*p == '/' || *p == '.' || *p == '?' || *p == '%')
                abort(); /* goes into a URL path */
    }
    cJSON *j = cJSON_ParseWithLength(s, size);
    if (j) {
        pay_payment p;
        const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "object");
        if (pay_yk_payment_parse(obj ? obj : j, &p) == 0) {
            check_id(p.id, sizeof p.id);
            check_id(p.url, sizeof p.url);
            if (p.amount_minor < 0 || p.state == PAY_STATE_UNKNOWN)
                abort();
        }
        cJSON_Delete(j);
    }
    pay_tg_update u;
    if (pay_tg_update_parse(s, size, &u) == 0) {
        check_id(u.payload, sizeof u.payload);
        check_id(u.query_id, sizeof u.query_id);
        if (u.update_id < 0 || u.total_amount < 0)
            abort();
    }
    /* The input as text: an amount, and an address against a list. */
    char buf[128];
    size_t k = size < sizeof buf - 1 ? size : sizeof buf - 1;
    memcpy(buf, data, k);
    buf[k] = '\0';
    int64_t minor;
    if (pay_amount_parse(buf, &minor) == 0) {
        char back[32];
        pay_amount_format(minor, back, sizeof back);
        int64_t again;
        if (pay_amount_parse(back, &again) != 0 || again != minor)
            abort();
    }
    pay_ip_allowed(PAY_YK_NOTIFY_IPS, buf);
    pay_ip_allowed(buf, "185.71.76.1");
    return 0;
}
