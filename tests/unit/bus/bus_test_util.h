/* bus_test_util.h - small helpers shared by the bus tests. */
#ifndef BUS_TEST_UTIL_H
#define BUS_TEST_UTIL_H

#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Counts completions of one or more publishes. */
typedef struct done_box {
    int calls;
    int ok, failed;
    bus_status last;
} done_box;

static inline void done_count(void *ctx, bus_status st)
{
    done_box *d = ctx;
    d->calls++;
    d->last = st;
    if (st == BUS_OK)
        d->ok++;
    else
        d->failed++;
}

static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll until `calls` completions arrived or timeout; returns the count. */
static inline int wait_done(bus *b, done_box *d, int calls, int timeout_ms)
{
    long long until = now_ms() + timeout_ms;
    while (d->calls < calls && now_ms() < until)
        bus_poll(b, 50);
    return d->calls;
}

/* Copy a record's value into a NUL-terminated buffer (values are text in
 * these tests). */
static inline const char *rec_text(const bus_record *r, char *buf, size_t cap)
{
    size_t n = r->len < cap - 1 ? r->len : cap - 1;
    memcpy(buf, r->value, n);
    buf[n] = '\0';
    return buf;
}

#endif
