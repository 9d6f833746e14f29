/* fuzz_state - fp_state_decode round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fitproto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fp_state a, b;
    char buf[256], buf2[256];
    size_t len, len2;
    if (fp_state_decode((const char *)data, size, &a) != FP_OK)
        return 0;
    if (fp_state_encode(&a, buf, sizeof(buf), &len) != FP_OK)
        abort();
    if (fp_state_decode(buf, len, &b) != FP_OK)
        abort();
    if (strcmp(a.gateway, b.gateway) != 0 || a.state != b.state || a.boot != b.boot ||
        a.ts_ms != b.ts_ms || strcmp(a.sw, b.sw) != 0)
        abort();
    if (fp_state_encode(&b, buf2, sizeof(buf2), &len2) != FP_OK || len != len2 ||
        memcmp(buf, buf2, len) != 0)
        abort();
    return 0;
}
