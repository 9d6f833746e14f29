/* bench/payloads.h - realistic GATT payloads for the decoder benchmark.
 * Static data, owned by the table; nothing to free. */
#ifndef BENCH_PAYLOADS_H
#define BENCH_PAYLOADS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_payload {
    const char *name; /* "heart rate 0x2A37 (hr8 + RR)" */
    uint16_t uuid16;
    const char *hex; /* the bytes as notified */
} bench_payload;

/* The whole table; *count gets its length. */
const bench_payload *bench_payloads(size_t *count);

#endif
