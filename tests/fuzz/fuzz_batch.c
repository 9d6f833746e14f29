/* fuzz_batch - fp_batch_decode, then re-encode the valid readings with the
 * batch writer and decode again: the readings must come back identical, with
 * consecutive seqs from the batch's seq. */
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
    fp_batch b, again;
    if (fp_batch_decode((const char *)data, size, &b) != FP_OK)
        return 0;
    if (b.count + b.rejected != b.total || b.total == 0 || b.floor > b.seq ||
        (b.rejected > 0) != (b.first_error != FP_OK))
        abort();
    for (size_t i = 0; i < b.count; i++) {
        if (b.readings[i].seq < b.seq || b.readings[i].seq >= b.seq + b.total ||
            (i > 0 && b.readings[i].seq <= b.readings[i - 1].seq))
            abort();
    }
    if (b.count == 0) {
        fp_batch_free(&b);
        return 0;
    }

    size_t cap = FP_MSG_BYTES_MAX + 1;
    char *buf = malloc(cap);
    char one[4096];
    size_t len;
    if (buf == NULL)
        abort();
    fp_batch_writer w;
    fp_batch_begin(&w, buf, cap, b.gateway, b.epoch, b.seq, b.floor);
    for (size_t i = 0; i < b.count; i++) {
        if (fp_reading_encode(&b.readings[i], one, sizeof(one), &len) != FP_OK)
            abort(); /* a decoded reading is valid, so it must encode */
        fp_batch_append_raw(&w, one, len);
    }
    fp_status rc = fp_batch_end(&w, &len);
    /* Re-encoding may be longer than the input (e.g. "5e-324" comes back with
     * 17 digits), so only the size limit may refuse it. */
    if (rc == FP_ERR_LIMIT)
        goto out;
    if (rc != FP_OK || len > FP_MSG_BYTES_MAX || strlen(buf) != len)
        abort();
    if (fp_batch_decode(buf, len, &again) != FP_OK)
        abort();
    if (again.count != b.count || again.rejected != 0 || again.seq != b.seq ||
        again.floor != b.floor || again.epoch != b.epoch || strcmp(again.gateway, b.gateway) != 0)
        abort();
    for (size_t i = 0; i < b.count; i++) {
        check_equal(&b.readings[i], &again.readings[i]);
        if (again.readings[i].seq != b.seq + i)
            abort();
    }
    fp_batch_free(&again);
out:
    free(buf);
    fp_batch_free(&b);
    return 0;
}
