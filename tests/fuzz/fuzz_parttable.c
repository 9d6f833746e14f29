/* fuzz_parttable: fwpart_list() over arbitrary first sectors and image sizes.
 * Whatever it accepts must lie inside the image: provision writes there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parttable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first 8 bytes choose the image size, the rest is the head. */
    uint64_t image_size = 0;
    if (size < 8)
        return 0;
    memcpy(&image_size, data, 8);
    fwpart parts[FWPART_MAX];
    char err[200] = "";
    int n = fwpart_list(data + 8, size - 8, image_size, parts, FWPART_MAX, err, sizeof err);
    if (n < 0) {
        if (!err[0])
            abort(); /* a refusal always says why */
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const fwpart *p = &parts[i];
        if (p->index < 1 || p->index > FWPART_MAX || p->size == 0 || p->offset == 0 ||
            p->offset > image_size || p->size > image_size - p->offset)
            abort();
    }
    return 0;
}
