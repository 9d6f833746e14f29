/* fuzz_ack - fp_ack_decode round trip, plus both topic parsers on the same
 * bytes (as a C string): what they accept must rebuild to the same topic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fitproto/msg.h"

static void fuzz_topics(const uint8_t *data, size_t size)
{
    char *topic = malloc(size + 1), again[256];
    char id[FP_DEVICE_MAX + 1];
    const char *leaf;
    uint16_t uuid;
    if (topic == NULL)
        abort();
    memcpy(topic, data, size);
    topic[size] = '\0';
    if (fp_topic_parse_gateway(topic, id, &leaf) == FP_OK) {
        if (fp_topic_gateway(again, sizeof(again), id, leaf) != FP_OK || strcmp(again, topic) != 0)
            abort();
    }
    if (fp_topic_parse_device(topic, id, &uuid) == FP_OK) {
        if (fp_topic_device(again, sizeof(again), id, uuid) != FP_OK || strcmp(again, topic) != 0)
            abort();
    }
    free(topic);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fp_ack a, b;
    char buf[256], buf2[256];
    size_t len, len2;
    fuzz_topics(data, size);
    if (fp_ack_decode((const char *)data, size, &a) != FP_OK)
        return 0;
    if (fp_ack_encode(&a, buf, sizeof(buf), &len) != FP_OK)
        abort();
    if (fp_ack_decode(buf, len, &b) != FP_OK)
        abort();
    if (strcmp(a.gateway, b.gateway) != 0 || a.epoch != b.epoch || a.seq != b.seq ||
        a.rejected != b.rejected)
        abort();
    if (fp_ack_encode(&b, buf2, sizeof(buf2), &len2) != FP_OK || len != len2 ||
        memcmp(buf, buf2, len) != 0)
        abort();
    return 0;
}
