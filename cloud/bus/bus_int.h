/* bus_int.h - private to cloud/bus: the backend vtable behind bus.h.
 *
 * bus.c checks arguments and keeps the list of open consumers; each backend
 * (bus_embedded.c, bus_kafka.c) implements the operations for its own structs,
 * which start with `struct bus` / `struct bus_consumer` so that the public
 * handles can be cast to them.
 */
#ifndef FITGATE_BUS_INT_H
#define FITGATE_BUS_INT_H

#include "bus.h"

typedef struct bus_ops {
    const char *name; /* "embedded" or "kafka", for logs */
    /* Free the backend's state; consumers are already closed. */
    void (*destroy)(bus *b);
    bus_status (*publish)(bus *b, const bus_msg *msgs, size_t n, bus_done_fn done, void *ctx);
    void (*poll)(bus *b, int timeout_ms);
    size_t (*pending)(const bus *b);
    /* Allocate a consumer (bus.c links it into the bus's list). */
    bus_status (*consumer_open)(bus *b, const char *group, const char *topic, int from_end,
                                bus_consumer **out);
    bus_status (*consume)(bus_consumer *c, bus_record *rec, int timeout_ms);
    bus_status (*commit)(bus_consumer *c, const bus_record *rec);
    /* Release the consumer (bus.c has unlinked it). */
    void (*consumer_destroy)(bus_consumer *c);
} bus_ops;

struct bus {
    const bus_ops *ops;
    bus_consumer *consumers; /* open consumers, closed by bus_close() */
};

struct bus_consumer {
    bus *bus;
    bus_consumer *prev, *next;
};

/* Milliseconds on the monotonic clock. */
int64_t bus_now_ms(void);

#endif
