/* fuzz_bridge - any bridge message. The input is "TOPIC\nJSON"; without a
 * newline the whole input is the JSON on a fixed, valid topic. Readings must
 * validate and encode, and carry the normalised MAC as device id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fitdrivers/adv.h"
#include "fitdrivers/bridge.h"
#include "fitproto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char topic[256] = "home/gw/BTtoMQTT/C4A5DFE0A1B2";
    const char *json = (const char *)data;
    size_t len = size;
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl != NULL && (size_t)(nl - data) < sizeof(topic)) {
        size_t tl = (size_t)(nl - data);
        memcpy(topic, data, tl);
        topic[tl] = '\0';
        json = (const char *)nl + 1;
        len = size - tl - 1;
    }

    char mac[BRIDGE_MAC_LEN + 1];
    fp_status trc = bridge_topic_mac(topic, mac);
    fp_reading out[ADV_READINGS_MAX];
    size_t n = 12345;
    fp_status rc = bridge_decode(topic, json, len, 1732530000123LL, out, ADV_READINGS_MAX, &n);
    if (n > ADV_READINGS_MAX || (rc != FP_OK && n != 0) || (rc == FP_OK && trc != FP_OK))
        abort();
    for (size_t i = 0; i < n; i++) {
        char buf[4096];
        size_t blen;
        if (strcmp(out[i].device, mac) != 0 || fp_reading_validate(&out[i]) != FP_OK ||
            fp_reading_encode(&out[i], buf, sizeof(buf), &blen) != FP_OK)
            abort();
    }
    return 0;
}
