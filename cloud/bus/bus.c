/* bus.c - argument checks and dispatch to the backend's vtable. */
#include "bus_int.h"

#include <time.h>

const char *bus_status_str(bus_status s)
{
    switch (s) {
    case BUS_OK:
        return "ok";
    case BUS_ERR_ARG:
        return "invalid argument";
    case BUS_ERR_IO:
        return "storage or broker error";
    case BUS_ERR_TIMEOUT:
        return "timeout";
    case BUS_ERR_NOMEM:
        return "out of memory";
    case BUS_ERR_CONFIG:
        return "invalid configuration";
    case BUS_ERR_DELIVERY:
        return "delivery failed";
    }
    return "unknown status";
}

int64_t bus_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bus_close(bus *b)
{
    if (!b)
        return;
    while (b->consumers)
        bus_consumer_close(b->consumers);
    b->ops->destroy(b);
}

/* Every message needs a topic, and a value unless it is empty. An empty
 * publish (n == 0) is accepted and completes at once: nothing to persist. */
bus_status bus_publish(bus *b, const bus_msg *msgs, size_t n, bus_done_fn done, void *ctx)
{
    if (!b || !done || (n > 0 && !msgs))
        return BUS_ERR_ARG;
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].topic || !msgs[i].topic[0] || (msgs[i].len > 0 && !msgs[i].value))
            return BUS_ERR_ARG;
    }
    if (n == 0) {
        done(ctx, BUS_OK);
        return BUS_OK;
    }
    return b->ops->publish(b, msgs, n, done, ctx);
}

void bus_poll(bus *b, int timeout_ms)
{
    if (b)
        b->ops->poll(b, timeout_ms < 0 ? 0 : timeout_ms);
}

size_t bus_pending(const bus *b)
{
    return b ? b->ops->pending(b) : 0;
}

bus_status bus_consumer_open(bus *b, const char *group, const char *topic, int from_end,
                             bus_consumer **out)
{
    if (!out)
        return BUS_ERR_ARG;
    *out = NULL;
    if (!b || !group || !group[0] || !topic || !topic[0])
        return BUS_ERR_ARG;
    bus_consumer *c = NULL;
    bus_status st = b->ops->consumer_open(b, group, topic, from_end, &c);
    if (st != BUS_OK)
        return st;
    c->bus = b;
    c->prev = NULL;
    c->next = b->consumers;
    if (b->consumers)
        b->consumers->prev = c;
    b->consumers = c;
    *out = c;
    return BUS_OK;
}

bus_status bus_consume(bus_consumer *c, bus_record *rec, int timeout_ms)
{
    if (!c || !rec)
        return BUS_ERR_ARG;
    return c->bus->ops->consume(c, rec, timeout_ms < 0 ? 0 : timeout_ms);
}

bus_status bus_consumer_commit(bus_consumer *c, const bus_record *rec)
{
    if (!c || !rec || rec->offset < 0)
        return BUS_ERR_ARG;
    return c->bus->ops->commit(c, rec);
}

void bus_consumer_close(bus_consumer *c)
{
    if (!c)
        return;
    bus *b = c->bus;
    if (c->prev)
        c->prev->next = c->next;
    else
        b->consumers = c->next;
    if (c->next)
        c->next->prev = c->prev;
    b->ops->consumer_destroy(c);
}
