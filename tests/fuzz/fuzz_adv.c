/* fuzz_adv - any advertisement. The input is a run of records
 *   [kind][id lo][id hi][len][len bytes]
 * kind 0 = manufacturer data, 1 = service data, 2 = local name (id ignored);
 * a record cut short by the end of the input keeps what is there. Every
 * reading that comes out must validate and encode; on error nothing comes out.
 * The uuid parser gets the raw input too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fitdrivers/adv.h"
#include "fitproto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    adv_data mfg[ADV_ENTRIES_MAX + 1], svc[ADV_ENTRIES_MAX + 1];
    char name[256] = "";
    adv_input in = {.mfg = mfg, .svc = svc};
    uint16_t u;

    (void)adv_uuid16_parse((const char *)data, size, &u);
    for (size_t at = 0; at + 4 <= size;) {
        uint8_t kind = data[at] % 3;
        uint16_t id = (uint16_t)(data[at + 1] | data[at + 2] << 8);
        size_t len = data[at + 3];
        at += 4;
        if (len > size - at)
            len = size - at;
        if (kind == 2) {
            memcpy(name, data + at, len);
            name[len] = '\0'; /* an embedded NUL just shortens it */
            in.name = name;
        } else if (kind == 0 && in.nmfg <= ADV_ENTRIES_MAX) {
            mfg[in.nmfg++] = (adv_data){id, data + at, len};
        } else if (kind == 1 && in.nsvc <= ADV_ENTRIES_MAX) {
            svc[in.nsvc++] = (adv_data){id, data + at, len};
        }
        at += len;
    }

    fp_reading out[ADV_READINGS_MAX];
    size_t n = 12345;
    fp_status rc = adv_decode(&in, "fuzz-dev", 1732530000123LL, out, ADV_READINGS_MAX, &n);
    if (n > ADV_READINGS_MAX || (rc != FP_OK && n != 0))
        abort();
    for (size_t i = 0; i < n; i++) {
        char json[4096];
        size_t len;
        if (fp_reading_validate(&out[i]) != FP_OK ||
            fp_reading_encode(&out[i], json, sizeof(json), &len) != FP_OK)
            abort();
    }
    return 0;
}
