/* fuzz_reading - fp_reading_decode; whatever it accepts must encode and
 * decode back to the same reading, and re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fitproto/msg.h"

static void check_equal(const fp_reading *a, const fp_reading *b)
{
    if (strcmp(a->device, b->device) != 0 || a->kind != b->kind || a->ts_ms != b->ts_ms ||
        a->nvalues != b->nvalues)
        abort();
    for (int i = 0; i < a->nvalues; i++) {
        if (a->values[i].q != b->values[i].q ||
            memcmp(&a->values[i].v, &b->values[i].v, sizeof(double)) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fp_reading r, back;
    char a[4096], b[4096];
    size_t la, lb;
    if (fp_reading_decode((const char *)data, size, &r) != FP_OK)
        return 0;
    if (fp_reading_encode(&r, a, sizeof(a), &la) != FP_OK)
        abort();
    if (fp_reading_decode(a, la, &back) != FP_OK)
        abort();
    check_equal(&r, &back);
    if (fp_reading_encode(&back, b, sizeof(b), &lb) != FP_OK || la != lb || memcmp(a, b, la) != 0)
        abort();
    return 0;
}
