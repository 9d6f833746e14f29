/* fuzz_webhook.c - messenger webhook and sign-in parsers: WhatsApp webhook
 * JSON, X-Hub-Signature-256 header check, WeChat jscode2session answers and
 * encryptedData. Invariants: no crash, no leak, known statuses, parsed
 * messages always carry an id to key the user on, NUL-terminated fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "wechat.h"
#include "whatsapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        if (crypto_init() != 0)
            abort();
        init = 1;
    }
    const char *s = (const char *)data;
    wa_message m[8];
    size_t n = 0;
    wa_status ws = wa_parse_webhook(s, size, m, 8, &n);
    if ((unsigned)ws > WA_ERR_ARG || n > 8)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (!m[i].wa_id[0] && !m[i].user_id[0])
            abort();
        if (strnlen(m[i].text, sizeof m[i].text) == sizeof m[i].text)
            abort();
        char key[WA_ID_MAX + 3];
        wa_identity_key(&m[i], key);
    }
    char *str = malloc(size + 1);
    if (!str)
        return 0;
    memcpy(str, data, size);
    str[size] = '\0';
    if (wa_verify_signature("secret", data, size, str) == WA_OK) {
        char want[72];
        wa_sign("secret", data, size, want);
        if (strcmp(want, str)) /* only the exact header can verify */
            abort();
    }
    wx_session w;
    wx_status xs = wx_parse_code2session(s, size, &w);
    if ((unsigned)xs > WX_ERR_ARG || (xs == WX_OK && !w.openid[0]))
        abort();
    char *plain = NULL;
    xs = wx_decrypt("tiihtNczf5v6AKRyjwEUhQ==", "r7BXXKkLb8qrSNn05n0qiA==", str,
                    "wx4f4bc4dec97d474b", &plain);
    if ((xs == WX_OK) != (plain != NULL))
        abort();
    free(plain);
    (void)wx_check_raw_data(str,
                            "HyVFkGl5F5OQWJZZaNzBBg==", "75e81ceda165f4ffa64f4068af58c64b8f54b88c");
    free(str);
    return 0;
}
