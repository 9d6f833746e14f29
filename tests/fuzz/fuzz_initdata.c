/* fuzz_initdata.c - Telegram init data: parse, data_check_string, every check.
 * Invariants: no crash, no leak, a known status, the documented limits on the
 * extracted user and no NUL inside a data_check_string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tg_initdata.h"

#define TOKEN "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8"

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
    tg_auth a;
    tg_status st = tg_validate(s, size, TOKEN, 1700000000, 0, &a);
    if ((unsigned)st >= TG_STATUS__END)
        abort();

    tg_initdata d;
    if (tg_parse(s, size, &d) != TG_OK)
        return 0;
    char *dcs;
    size_t len;
    if (tg_data_check_string(&d, "1:WebAppData\n", 1, &dcs, &len) == TG_OK) {
        if (strlen(dcs) != len) /* values never contain NUL */
            abort();
        free(dcs);
    }
    (void)tg_verify_signature(&d, 7342037359, tg_pubkey_production);
    (void)tg_verify_login_widget(&d, TOKEN);
    tg_user u;
    if (tg_user_parse(&d, &u) == TG_OK && (u.id < 1 || strlen(u.first_name) > TG_NAME_MAX))
        abort();
    int64_t when;
    (void)tg_check_auth_date(&d, 1700000000, 86400, &when);
    tg_initdata_free(&d);
    return 0;
}
