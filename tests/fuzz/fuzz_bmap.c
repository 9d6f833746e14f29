/* fuzz_bmap: bmap_parse() must reject or accept any input without crashing,
 * and whatever it accepts must satisfy the invariants flash relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bmap b;
    char err[200];
    if (bmap_parse((const char *)data, size, &b, err, sizeof(err)) < 0) {
        if (!err[0] || b.ranges)
            abort(); /* a reason is always given, nothing is leaked */
        return 0;
    }
    uint64_t mapped = 0;
    for (size_t i = 0; i < b.n_ranges; i++) {
        const bmap_range *r = &b.ranges[i];
        if (r->first > r->last || r->last >= b.blocks_count)
            abort();
        if (i && r->first <= b.ranges[i - 1].last)
            abort();
        if (bmap_range_off(&b, r) + bmap_range_len(&b, r) > b.image_size)
            abort();
        mapped += r->last - r->first + 1;
    }
    if (mapped != b.mapped_count)
        abort();
    bmap_free(&b);
    return 0;
}
