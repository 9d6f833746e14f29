/* bus.h - the business event bus: one interface, two backends.
 *
 *   embedded  an append-only log in an SQLite file (WAL). A publish is one
 *             transaction: when bus_publish() reports success the messages are
 *             committed. The default for `make run` and small sites.
 *   kafka     librdkafka with the idempotent producer (acks=all). A publish
 *             reports success only when every message's delivery report says
 *             it is persisted; a consumer group stores offsets only when the
 *             caller says a record is processed (at-least-once).
 *
 * Delivery is at-least-once for both backends: consumers must be idempotent
 * (dedupe on the event id, which the publisher chooses).
 *
 * Threading: a bus and its consumers are used from one thread (the core's
 * event loop). Completions run inside bus_poll() or, for the embedded backend,
 * before bus_publish() returns.
 *
 * Ownership: bus_open_*() returns a bus the caller frees with bus_close(),
 * which also closes consumers that are still open. Records returned by
 * bus_consume() are valid until the next bus_consume()/bus_consumer_close()
 * on the same consumer.
 */
#ifndef FITGATE_BUS_H
#define FITGATE_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bus bus;
typedef struct bus_consumer bus_consumer;

typedef enum bus_status {
    BUS_OK = 0,
    BUS_ERR_ARG,     /* invalid argument */
    BUS_ERR_IO,      /* storage or broker error; the publish did not happen */
    BUS_ERR_TIMEOUT, /* nothing arrived within the timeout (consume) */
    BUS_ERR_NOMEM,
    BUS_ERR_CONFIG,   /* invalid backend configuration */
    BUS_ERR_DELIVERY, /* kafka: at least one message was not persisted */
} bus_status;

const char *bus_status_str(bus_status s);

typedef struct bus_msg {
    const char *topic; /* e.g. "fit.readings.v1" */
    const char *key;   /* partitioning key (e.g. gateway id); may be NULL */
    const void *value;
    size_t len;
} bus_msg;

typedef struct bus_record {
    const char *topic;
    const char *key; /* NULL when the message had none */
    const void *value;
    size_t len;
    int32_t partition; /* 0 for the embedded backend */
    int64_t offset;
} bus_record;

/* Called once per bus_publish() when all its messages are durable (BUS_OK) or
 * when at least one could not be persisted (BUS_ERR_DELIVERY / BUS_ERR_IO). */
typedef void (*bus_done_fn)(void *ctx, bus_status status);

/* Embedded backend over the SQLite file at `path` (created if missing). */
bus_status bus_open_embedded(bus **out, const char *path);

/* Kafka backend. `brokers` is bootstrap.servers; `extra` is NULL or a list of
 * "key=value" librdkafka properties separated by ';' applied to producer and
 * consumers (used by tests, e.g. "test.mock.num.brokers=3"). */
bus_status bus_open_kafka(bus **out, const char *brokers, const char *extra);

void bus_close(bus *b);

/* Publish n messages. `done` is called exactly once (maybe before this
 * returns). Returns BUS_OK when the publish was accepted (done will follow);
 * any other status means done will NOT be called. */
bus_status bus_publish(bus *b, const bus_msg *msgs, size_t n, bus_done_fn done, void *ctx);

/* Serve delivery reports and other callbacks; waits at most timeout_ms. */
void bus_poll(bus *b, int timeout_ms);

/* Publishes accepted but not yet completed. */
size_t bus_pending(const bus *b);

/* A consumer of one topic in consumer group `group`. A group with a stored
 * offset resumes after it; otherwise it starts at the beginning, or at the
 * end when from_end is non-zero. from_end consumers never store offsets (live
 * tails such as the API's server-sent events). */
bus_status bus_consumer_open(bus *b, const char *group, const char *topic, int from_end,
                             bus_consumer **out);
/* Next record, waiting up to timeout_ms (0 = do not wait). BUS_ERR_TIMEOUT
 * when none. */
bus_status bus_consume(bus_consumer *c, bus_record *rec, int timeout_ms);
/* Mark rec (and everything before it on its partition) processed. */
bus_status bus_consumer_commit(bus_consumer *c, const bus_record *rec);
void bus_consumer_close(bus_consumer *c);

#endif
