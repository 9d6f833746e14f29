/* bus_kafka.c - the bus on Apache Kafka through librdkafka (2.0.x).
 *
 * Producer: one idempotent producer per bus (enable.idempotence=true, which
 * implies acks=all and safe retries; linger.ms=20; message.timeout.ms=30000).
 * Every bus_publish() gets a heap tracker that rides along as each message's
 * opaque; a message counts as durable only when its delivery report has no
 * error AND rd_kafka_message_status() says PERSISTED. When the last report
 * of a publish arrives, done() runs once with BUS_OK or BUS_ERR_DELIVERY.
 *
 * If enqueueing fails part-way (queue still full after ~5 s of polling, or
 * another error), the messages already enqueued cannot be recalled: the
 * publish is accepted, marked failed, and done(BUS_ERR_DELIVERY) runs after
 * their reports arrive (possibly before bus_publish() returns). Only when the
 * very first message cannot be enqueued does bus_publish() return BUS_ERR_IO
 * without calling done. While waiting for queue space, bus_publish() serves
 * delivery reports, so done() of EARLIER publishes may run inside it.
 *
 * Topics are created on first use with the Admin API (partitions and
 * replication from `bus.partitions` / `bus.replication` in extra, default 1 /
 * 1; an existing topic is fine), never by broker auto-create. Against
 * librdkafka's mock cluster, which has no admin API, creation is skipped: when
 * extra sets test.mock.num.brokers, or explicitly with `bus.create_topics=0`.
 *
 * Consumers: one rd_kafka_t per bus_consumer. Group consumers subscribe with
 * enable.auto.offset.store=false and auto commit: bus_consumer_commit() stores
 * offset+1, the background commit and the commit at close persist it
 * (at-least-once). from_end consumers take no part in a group: they are
 * assigned every partition at its high watermark as read at open time, so
 * they see exactly the records published after bus_consumer_open() returns,
 * and they never commit.
 *
 * Config values from `extra` are never logged (they may hold credentials).
 */
#include "bus_int.h"

#include <fitcommon/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define KB_ADMIN_TIMEOUT_MS 10000
#define KB_FLUSH_TIMEOUT_MS 10000
#define KB_QFULL_TRIES      50 /* x 100 ms polling for queue space */

typedef struct kv {
    char *key, *val;
} kv;

typedef struct kbus {
    bus base;
    rd_kafka_t *rk; /* the producer; also runs the admin requests */
    char *brokers;
    kv *extra; /* librdkafka properties from `extra` (bus.* removed) */
    size_t nextra;
    int create_topics;
    int partitions, replication;
    char **topics; /* topics known to exist */
    size_t ntopics;
    size_t pending;    /* accepted publishes whose done() has not run */
    unsigned tail_seq; /* makes from_end group ids unique */
} kbus;

typedef struct ktracker {
    kbus *kb;
    size_t remaining; /* messages whose delivery report is outstanding */
    int failed;
    rd_kafka_resp_err_t err; /* first failure, for the log */
    bus_done_fn done;
    void *ctx;
} ktracker;

typedef struct kconsumer {
    bus_consumer base;
    rd_kafka_t *rk;
    char *topic;
    int from_end;
    rd_kafka_message_t *cur; /* backs the last record handed out */
    char *key;               /* NUL-terminated copy of cur's key */
    size_t keycap;
    rd_kafka_resp_err_t last_err; /* to log each consumer error once */
} kconsumer;

/* ---- configuration ------------------------------------------------------ */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* error_cb reports the same failures: librdkafka's own errors are
     * mostly transient (a refused connection), so at most a warning.
     * CONFWARN says a producer property was ignored by a consumer or the
     * reverse: expected, since `extra` is shared by both. */
    log_level lvl = level <= 4 ? LOG_WARN : level <= 6 ? LOG_INFO : LOG_DEBUG;
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this"))
        lvl = LOG_DEBUG;
    log_event(lvl, "kafka_log", buf, "facility", fac, (char *)0);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    char fatal[256] = "";
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        log_error("kafka_fatal", "kafka client hit a fatal error", "error", fatal, "client",
                  rd_kafka_name(rk));
        return;
    }
    log_warn("kafka_error", reason, "error", rd_kafka_err2name((rd_kafka_resp_err_t)err), "client",
             rd_kafka_name(rk));
}

static void free_extra(kv *extra, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(extra[i].key);
        free(extra[i].val);
    }
    free(extra);
}

/* Split "k=v;k=v" into pairs; bus.* keys configure this file. */
static bus_status parse_extra(kbus *kb, const char *extra)
{
    if (!extra)
        return BUS_OK;
    char *copy = strdup(extra);
    if (!copy)
        return BUS_ERR_NOMEM;
    bus_status st = BUS_OK;
    char *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item && st == BUS_OK;
         item = strtok_r(NULL, ";", &save)) {
        while (*item == ' ')
            item++;
        if (!*item)
            continue;
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            log_error("bus_open", "kafka extra item is not key=value");
            st = BUS_ERR_CONFIG;
            break;
        }
        *eq = '\0';
        const char *key = item, *val = eq + 1;
        if (strcmp(key, "bus.partitions") == 0 || strcmp(key, "bus.replication") == 0 ||
            strcmp(key, "bus.create_topics") == 0) {
            char *end;
            long v = strtol(val, &end, 10);
            int ok = *val && !*end && v >= 0 && v <= 100000;
            if (key[4] == 'p' && ok && v >= 1)
                kb->partitions = (int)v;
            else if (key[4] == 'r' && ok && v >= 1)
                kb->replication = (int)v;
            else if (key[4] == 'c' && ok && v <= 1)
                kb->create_topics = (int)v;
            else {
                log_error("bus_open", "invalid bus option in kafka extra", "key", key);
                st = BUS_ERR_CONFIG;
            }
            continue;
        }
        if (strncmp(key, "bus.", 4) == 0) {
            log_error("bus_open", "unknown bus option in kafka extra", "key", key);
            st = BUS_ERR_CONFIG;
            continue;
        }
        if (strcmp(key, "test.mock.num.brokers") == 0)
            kb->create_topics = 0; /* the mock cluster has no admin API */
        kv *grown = realloc(kb->extra, (kb->nextra + 1) * sizeof(*grown));
        if (!grown) {
            st = BUS_ERR_NOMEM;
            break;
        }
        kb->extra = grown;
        kb->extra[kb->nextra].key = strdup(key);
        kb->extra[kb->nextra].val = strdup(val);
        kb->nextra++;
        if (!kb->extra[kb->nextra - 1].key || !kb->extra[kb->nextra - 1].val)
            st = BUS_ERR_NOMEM;
    }
    free(copy);
    return st;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, val, err, sizeof err) != RD_KAFKA_CONF_OK) {
        /* err names the property, never its value. */
        log_error("bus_config", "invalid kafka property", "key", key, "error", err);
        return -1;
    }
    return 0;
}

/* A conf with the bus's defaults, then `defaults` (pairs, NULL-terminated),
 * then extra on top (so extra wins). NULL on a bad property. */
static rd_kafka_conf_t *make_conf(const kbus *kb, const char *const *defaults)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (conf_set(conf, "bootstrap.servers", kb->brokers))
        goto fail;
    for (size_t i = 0; defaults && defaults[i]; i += 2) {
        if (conf_set(conf, defaults[i], defaults[i + 1]))
            goto fail;
    }
    for (size_t i = 0; i < kb->nextra; i++) {
        if (conf_set(conf, kb->extra[i].key, kb->extra[i].val))
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- topics ------------------------------------------------------------- */

static int topic_known(const kbus *kb, const char *topic)
{
    for (size_t i = 0; i < kb->ntopics; i++) {
        if (strcmp(kb->topics[i], topic) == 0)
            return 1;
    }
    return 0;
}

static void topic_remember(kbus *kb, const char *topic)
{
    char **grown = realloc(kb->topics, (kb->ntopics + 1) * sizeof(*grown));
    if (!grown)
        return; /* we will just ask the broker again next time */
    kb->topics = grown;
    if ((kb->topics[kb->ntopics] = strdup(topic)))
        kb->ntopics++;
}

/* Create `topic` unless it exists; blocks up to ~10 s on the first use. */
static bus_status ensure_topic(kbus *kb, const char *topic)
{
    if (!kb->create_topics || topic_known(kb, topic))
        return BUS_OK;
    char err[256];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, kb->partitions, kb->replication, err, sizeof err);
    if (!nt) {
        log_error("bus_topic", "invalid topic", "topic", topic, "error", err);
        return BUS_ERR_ARG;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(kb->rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(kb->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opt, KB_ADMIN_TIMEOUT_MS, err, sizeof err);
    /* The broker answers once the topic is ready on its brokers. */
    rd_kafka_AdminOptions_set_operation_timeout(opt, KB_ADMIN_TIMEOUT_MS, err, sizeof err);
    rd_kafka_CreateTopics(kb->rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, KB_ADMIN_TIMEOUT_MS + 5000);

    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR__TIMED_OUT;
    const char *why = "no answer to CreateTopics";
    if (ev && rd_kafka_event_error(ev)) {
        code = rd_kafka_event_error(ev);
        why = rd_kafka_event_error_string(ev);
    } else if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        if (cnt == 1) {
            code = rd_kafka_topic_result_error(tr[0]);
            why = rd_kafka_topic_result_error_string(tr[0]);
        } else {
            code = RD_KAFKA_RESP_ERR__BAD_MSG;
            why = "unexpected CreateTopics result";
        }
    }
    bus_status st = BUS_OK;
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        char parts[16];
        snprintf(parts, sizeof parts, "%d", kb->partitions);
        log_info("bus_topic", "kafka topic created", "topic", topic, "partitions", parts);
        topic_remember(kb, topic);
    } else if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        topic_remember(kb, topic);
    } else {
        log_error("bus_topic", "cannot create kafka topic", "topic", topic, "error",
                  rd_kafka_err2name(code), "reason", why ? why : "");
        st = BUS_ERR_IO;
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return st;
}

/* ---- producer ----------------------------------------------------------- */

/* k more messages of t are settled; the last one runs done() and frees t. */
static void tracker_settle(ktracker *t, size_t k)
{
    t->remaining -= k;
    if (t->remaining > 0)
        return;
    t->kb->pending--;
    bus_done_fn done = t->done;
    void *ctx = t->ctx;
    bus_status st = t->failed ? BUS_ERR_DELIVERY : BUS_OK;
    if (t->failed)
        log_warn("bus_publish", "kafka publish not persisted", "error", rd_kafka_err2name(t->err));
    free(t);
    done(ctx, st);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    ktracker *t = m->_private;
    if (m->err || rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_PERSISTED) {
        if (!t->failed) {
            t->failed = 1;
            /* e.g. __MSG_TIMED_OUT, or no error but only POSSIBLY_PERSISTED */
            t->err = m->err ? m->err : RD_KAFKA_RESP_ERR__INCONSISTENT;
        }
    }
    tracker_settle(t, 1);
}

static rd_kafka_resp_err_t produce_one(kbus *kb, const bus_msg *m, ktracker *t)
{
    rd_kafka_resp_err_t err;
    for (int tries = 0;; tries++) {
        err = rd_kafka_producev(
            kb->rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_KEY(m->key, m->key ? strlen(m->key) : 0),
            RD_KAFKA_V_VALUE((void *)m->value, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries >= KB_QFULL_TRIES)
            return err;
        rd_kafka_poll(kb->rk, 100); /* serving reports frees queue space */
    }
}

static bus_status kb_publish(bus *b, const bus_msg *msgs, size_t n, bus_done_fn done, void *ctx)
{
    kbus *kb = (kbus *)b;
    for (size_t i = 0; i < n; i++) {
        if (ensure_topic(kb, msgs[i].topic) != BUS_OK)
            return BUS_ERR_IO;
    }
    ktracker *t = calloc(1, sizeof(*t));
    if (!t)
        return BUS_ERR_NOMEM;
    *t = (ktracker){.kb = kb, .remaining = n, .done = done, .ctx = ctx};
    kb->pending++;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = produce_one(kb, &msgs[i], t);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        log_error("bus_publish", "kafka enqueue failed", "topic", msgs[i].topic, "error",
                  rd_kafka_err2name(err));
        if (i == 0) { /* nothing in flight: refuse the publish */
            kb->pending--;
            free(t);
            return BUS_ERR_IO;
        }
        /* Earlier messages are in flight: done(BUS_ERR_DELIVERY) follows. */
        t->failed = 1;
        t->err = err;
        tracker_settle(t, n - i);
        break;
    }
    return BUS_OK;
}

static void kb_poll(bus *b, int timeout_ms)
{
    rd_kafka_poll(((kbus *)b)->rk, timeout_ms);
}

static size_t kb_pending(const bus *b)
{
    return ((const kbus *)b)->pending;
}

/* ---- consumers ---------------------------------------------------------- */

static void kc_release_cur(kconsumer *kc)
{
    if (kc->cur) {
        rd_kafka_message_destroy(kc->cur);
        kc->cur = NULL;
    }
}

static bus_status kb_consume(bus_consumer *c, bus_record *rec, int timeout_ms)
{
    kconsumer *kc = (kconsumer *)c;
    kc_release_cur(kc);
    int64_t deadline = bus_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - bus_now_ms();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kc->rk, left > 0 ? (int)left : 0);
        if (!m)
            return BUS_ERR_TIMEOUT;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && m->err != kc->last_err) {
                log_warn("bus_consume", "kafka consumer error", "topic", kc->topic, "error",
                         rd_kafka_message_errstr(m));
                kc->last_err = m->err;
            }
            rd_kafka_message_destroy(m);
            if (bus_now_ms() >= deadline)
                return BUS_ERR_TIMEOUT;
            continue;
        }
        kc->last_err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (m->key) {
            if (m->key_len + 1 > kc->keycap) {
                char *grown = realloc(kc->key, m->key_len + 1);
                if (!grown) {
                    /* Not handed out, so never committed: redelivered later. */
                    rd_kafka_message_destroy(m);
                    return BUS_ERR_NOMEM;
                }
                kc->key = grown;
                kc->keycap = m->key_len + 1;
            }
            memcpy(kc->key, m->key, m->key_len);
            kc->key[m->key_len] = '\0';
        }
        kc->cur = m;
        rec->topic = kc->topic;
        rec->key = m->key ? kc->key : NULL;
        rec->value = m->payload;
        rec->len = m->len;
        rec->partition = m->partition;
        rec->offset = m->offset;
        return BUS_OK;
    }
}

static bus_status kb_commit(bus_consumer *c, const bus_record *rec)
{
    kconsumer *kc = (kconsumer *)c;
    if (kc->from_end)
        return BUS_OK;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, kc->topic, rec->partition)->offset = rec->offset + 1;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(kc->rk, l);
    if (!err)
        err = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (err == RD_KAFKA_RESP_ERR__STATE) {
        /* The partition moved to another member in a rebalance; it will
         * redeliver from the last committed offset (at-least-once). */
        log_info("bus_commit", "partition no longer assigned, offset not stored", "topic",
                 kc->topic);
        return BUS_OK;
    }
    if (err) {
        log_error("bus_commit", "storing a kafka offset failed", "topic", kc->topic, "error",
                  rd_kafka_err2name(err));
        return BUS_ERR_IO;
    }
    return BUS_OK;
}

static void kb_consumer_destroy(bus_consumer *c)
{
    kconsumer *kc = (kconsumer *)c;
    kc_release_cur(kc);
    if (kc->rk) {
        /* Commit what was stored before leaving the group; after
         * rd_kafka_consumer_close() the partitions are gone. */
        if (!kc->from_end) {
            rd_kafka_resp_err_t err = rd_kafka_commit(kc->rk, NULL, 0);
            if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                log_warn("bus_commit", "final kafka commit failed", "topic", kc->topic, "error",
                         rd_kafka_err2name(err));
        }
        rd_kafka_consumer_close(kc->rk);
        rd_kafka_destroy(kc->rk);
    }
    free(kc->key);
    free(kc->topic);
    free(kc);
}

/* Assign every partition of the topic at its current high watermark.
 * Returns BUS_ERR_TIMEOUT when the topic's metadata is not available. */
static bus_status assign_at_end(kconsumer *kc)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(kc->rk, kc->topic, NULL);
    if (!rkt)
        return BUS_ERR_NOMEM;
    bus_status st = BUS_ERR_TIMEOUT;
    const struct rd_kafka_metadata *md = NULL;
    int64_t deadline = bus_now_ms() + KB_ADMIN_TIMEOUT_MS;
    /* Just-created topics may take a moment to show up in metadata. */
    while (bus_now_ms() < deadline) {
        if (rd_kafka_metadata(kc->rk, 0, rkt, &md, KB_ADMIN_TIMEOUT_MS) == 0 &&
            md->topic_cnt == 1 && md->topics[0].err == 0 && md->topics[0].partition_cnt > 0)
            break;
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        usleep(100 * 1000);
    }
    if (md) {
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        st = BUS_OK;
        for (int i = 0; i < md->topics[0].partition_cnt && st == BUS_OK; i++) {
            int32_t p = md->topics[0].partitions[i].id;
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(kc->rk, kc->topic, p, &lo, &hi,
                                                 KB_ADMIN_TIMEOUT_MS) != 0)
                st = BUS_ERR_IO;
            else
                rd_kafka_topic_partition_list_add(l, kc->topic, p)->offset = hi;
        }
        if (st == BUS_OK && rd_kafka_assign(kc->rk, l) != 0)
            st = BUS_ERR_IO;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return st;
}

static bus_status kb_consumer_open(bus *b, const char *group, const char *topic, int from_end,
                                   bus_consumer **out)
{
    kbus *kb = (kbus *)b;
    bus_status st = ensure_topic(kb, topic);
    if (st != BUS_OK)
        return st;
    kconsumer *kc = calloc(1, sizeof(*kc));
    if (!kc)
        return BUS_ERR_NOMEM;
    kc->from_end = from_end != 0;
    kc->topic = strdup(topic);
    if (!kc->topic) {
        kb_consumer_destroy(&kc->base);
        return BUS_ERR_NOMEM;
    }

    char gid[512];
    if (kc->from_end)
        snprintf(gid, sizeof gid, "%s.tail.%ld.%u", group, (long)getpid(), ++kb->tail_seq);
    else
        snprintf(gid, sizeof gid, "%s", group);
    const char *defaults[] = {
        "group.id",
        gid,
        "enable.auto.offset.store",
        "false",
        "enable.auto.commit",
        kc->from_end ? "false" : "true",
        "auto.offset.reset",
        kc->from_end ? "latest" : "earliest",
        NULL,
    };
    rd_kafka_conf_t *conf = make_conf(kb, defaults);
    if (!conf) {
        kb_consumer_destroy(&kc->base);
        return BUS_ERR_CONFIG;
    }
    char err[256];
    kc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!kc->rk) {
        log_error("bus_consumer_open", "cannot create kafka consumer", "error", err);
        rd_kafka_conf_destroy(conf);
        kb_consumer_destroy(&kc->base);
        return BUS_ERR_CONFIG;
    }
    rd_kafka_poll_set_consumer(kc->rk);

    int subscribe = !kc->from_end;
    if (kc->from_end) {
        st = assign_at_end(kc);
        if (st == BUS_ERR_TIMEOUT) {
            /* No metadata (e.g. a mock cluster topic nobody wrote yet):
             * fall back to a private subscription reading from latest. */
            log_warn("bus_consumer_open", "topic metadata not available, tailing by subscription",
                     "topic", topic);
            st = BUS_OK;
            subscribe = 1;
        }
    }
    if (subscribe) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(kc->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
            log_error("bus_consumer_open", "kafka subscribe failed", "topic", topic, "error",
                      rd_kafka_err2name(e));
            st = BUS_ERR_IO;
        }
    }
    if (st != BUS_OK) {
        kb_consumer_destroy(&kc->base);
        return st;
    }
    log_info("bus_consumer_open", "kafka consumer opened", "topic", topic, "group", gid);
    *out = &kc->base;
    return BUS_OK;
}

/* ---- open / close ------------------------------------------------------- */

static void kb_destroy(bus *b)
{
    kbus *kb = (kbus *)b;
    if (kb->rk) {
        /* Flush serves the remaining delivery reports (done() runs here). */
        if (rd_kafka_flush(kb->rk, KB_FLUSH_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("bus_close", "kafka flush timed out, failing the rest");
            rd_kafka_purge(kb->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        }
        /* Purged messages report __PURGE_*: each publish still gets its
         * one done(BUS_ERR_DELIVERY). */
        int64_t until = bus_now_ms() + 2000;
        while (kb->pending > 0 && bus_now_ms() < until)
            rd_kafka_poll(kb->rk, 50);
        if (kb->pending > 0)
            log_error("bus_close", "kafka publishes left without a completion");
        rd_kafka_destroy(kb->rk);
    }
    for (size_t i = 0; i < kb->ntopics; i++)
        free(kb->topics[i]);
    free(kb->topics);
    free_extra(kb->extra, kb->nextra);
    free(kb->brokers);
    free(kb);
}

static const bus_ops kb_ops = {
    .name = "kafka",
    .destroy = kb_destroy,
    .publish = kb_publish,
    .poll = kb_poll,
    .pending = kb_pending,
    .consumer_open = kb_consumer_open,
    .consume = kb_consume,
    .commit = kb_commit,
    .consumer_destroy = kb_consumer_destroy,
};

bus_status bus_open_kafka(bus **out, const char *brokers, const char *extra)
{
    if (!out)
        return BUS_ERR_ARG;
    *out = NULL;
    if (!brokers || !brokers[0])
        return BUS_ERR_ARG;
    kbus *kb = calloc(1, sizeof(*kb));
    if (!kb)
        return BUS_ERR_NOMEM;
    kb->base.ops = &kb_ops;
    kb->create_topics = 1;
    kb->partitions = 1;
    kb->replication = 1;
    kb->brokers = strdup(brokers);
    bus_status st = kb->brokers ? parse_extra(kb, extra) : BUS_ERR_NOMEM;
    if (st != BUS_OK) {
        kb_destroy(&kb->base);
        return st;
    }
    const char *defaults[] = {
        "enable.idempotence",
        "true",
        "acks",
        "all",
        "linger.ms",
        "20",
        "compression.codec",
        "none",
        "message.timeout.ms",
        "30000",
        NULL,
    };
    rd_kafka_conf_t *conf = make_conf(kb, defaults);
    if (!conf) {
        kb_destroy(&kb->base);
        return BUS_ERR_CONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    char err[256];
    kb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!kb->rk) {
        log_error("bus_open", "cannot create kafka producer", "error", err);
        rd_kafka_conf_destroy(conf);
        kb_destroy(&kb->base);
        return BUS_ERR_CONFIG;
    }
    log_info("bus_open", "kafka bus opened", "brokers", brokers, "create_topics",
             kb->create_topics ? "yes" : "no");
    *out = &kb->base;
    return BUS_OK;
}
