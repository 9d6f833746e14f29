/* ingest.c - batches -> bus -> ack (see ingest.h).
 *
 * Per gateway spool (gateway, epoch) we keep two marks:
 *   sent     highest seq handed to the bus (or known as a declared gap)
 *   durable  highest seq the bus reported durable: what we ack
 * and a FIFO of publishes in flight. A publish completes out of order on
 * Kafka only across partitions, but the FIFO makes the ack order-safe either
 * way: `durable` advances only through completed heads. If a publish fails,
 * everything after it is abandoned and `sent` falls back to `durable`, so the
 * gateway's resend (it never got an ack) fills the hole.
 */
#include "ingest.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitproto/msg.h"

typedef struct inflight inflight;
typedef struct gwstate gwstate;

struct inflight {
    gwstate *gw;   /* NULL once abandoned: the callback only frees it */
    uint64_t last; /* highest seq this publish covers (rejected readings too) */
    int done, ok;
    inflight *next;
};

struct gwstate {
    char id[FP_GATEWAY_MAX + 1];
    uint64_t epoch;
    uint64_t sent, durable, persisted;
    uint64_t rejected;
    inflight *head, *tail;
    ingest *g;
    gwstate *next;
};

struct ingest {
    sd_event *ev;
    mqloop *mq;
    bus *bus;
    sqlite3 *db;
    sqlite3_stmt *load, *save, *save_state;
    gwstate *gws[256];
    size_t pending;
};

static metric m_batches, m_readings, m_dups, m_gaps, m_out_of_order, m_acks, m_bus_failed,
    m_rej_syntax, m_rej_version, m_rej_other, m_rej_mismatch, m_rej_readings, m_states;
static int metrics_done;

static void ingest_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_batches, "fitgate_ingest_batches_total", "counter",
                    "Batches received from gateways", NULL);
    metric_register(&m_readings, "fitgate_ingest_readings_total", "counter",
                    "New readings published to the bus", NULL);
    metric_register(&m_dups, "fitgate_ingest_duplicates_total", "counter",
                    "Readings dropped as already received (resends)", NULL);
    metric_register(&m_gaps, "fitgate_ingest_gap_readings_total", "counter",
                    "Readings a gateway declared dropped (disk policy)", NULL);
    metric_register(&m_out_of_order, "fitgate_ingest_out_of_order_total", "counter",
                    "Batches refused because earlier readings are missing", NULL);
    metric_register(&m_acks, "fitgate_ingest_acks_total", "counter", "Acks sent to gateways", NULL);
    metric_register(&m_bus_failed, "fitgate_ingest_bus_failed_total", "counter",
                    "Publishes the bus could not make durable (not acked)", NULL);
    metric_register(&m_rej_syntax, "fitgate_ingest_rejected_total", "counter", "Batches rejected",
                    "reason=\"syntax\"");
    metric_register(&m_rej_version, "fitgate_ingest_rejected_total", "counter", "Batches rejected",
                    "reason=\"version\"");
    metric_register(&m_rej_other, "fitgate_ingest_rejected_total", "counter", "Batches rejected",
                    "reason=\"invalid\"");
    metric_register(&m_rej_mismatch, "fitgate_ingest_rejected_total", "counter", "Batches rejected",
                    "reason=\"gateway_mismatch\"");
    metric_register(&m_rej_readings, "fitgate_ingest_readings_rejected_total", "counter",
                    "Single readings rejected inside otherwise valid batches", NULL);
    metric_register(&m_states, "fitgate_ingest_gateway_states_total", "counter",
                    "Gateway birth/death messages", NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- high-water marks ---- */

static int db_open(ingest *g, const char *path)
{
    if (sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
        return -1;
    sqlite3_busy_timeout(g->db, 5000);
    const char *schema =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        "CREATE TABLE IF NOT EXISTS ingest_seq(gw TEXT NOT NULL, epoch INTEGER NOT NULL,"
        "  hw INTEGER NOT NULL, rejected INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
        "  PRIMARY KEY(gw, epoch));"
        "CREATE TABLE IF NOT EXISTS gateways(gw TEXT PRIMARY KEY, state TEXT NOT NULL,"
        "  boot INTEGER NOT NULL, ts_ms INTEGER NOT NULL, sw TEXT NOT NULL);";
    if (sqlite3_exec(g->db, schema, NULL, NULL, NULL) ||
        sqlite3_prepare_v2(g->db, "SELECT hw, rejected FROM ingest_seq WHERE gw=? AND epoch=?", -1,
                           &g->load, NULL) ||
        sqlite3_prepare_v2(g->db,
                           "INSERT OR REPLACE INTO ingest_seq(gw,epoch,hw,rejected,updated_ms)"
                           " VALUES(?,?,?,?,?)",
                           -1, &g->save, NULL) ||
        sqlite3_prepare_v2(g->db,
                           "INSERT OR REPLACE INTO gateways(gw,state,boot,ts_ms,sw)"
                           " VALUES(?,?,?,?,?)",
                           -1, &g->save_state, NULL))
        return -1;
    return 0;
}

static unsigned bucket(const char *id, uint64_t epoch)
{
    uint64_t h = 1469598103934665603ULL ^ epoch;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return (unsigned)(h % 256);
}

static gwstate *gw_get(ingest *g, const char *id, uint64_t epoch)
{
    unsigned b = bucket(id, epoch);
    for (gwstate *s = g->gws[b]; s; s = s->next)
        if (s->epoch == epoch && strcmp(s->id, id) == 0)
            return s;
    gwstate *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->epoch = epoch;
    s->g = g;
    sqlite3_bind_text(g->load, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(g->load, 2, (sqlite3_int64)epoch);
    if (sqlite3_step(g->load) == SQLITE_ROW) {
        s->durable = (uint64_t)sqlite3_column_int64(g->load, 0);
        s->rejected = (uint64_t)sqlite3_column_int64(g->load, 1);
    }
    sqlite3_reset(g->load);
    s->sent = s->persisted = s->durable;
    s->next = g->gws[b];
    g->gws[b] = s;
    return s;
}

static void gw_save(gwstate *s)
{
    ingest *g = s->g;
    sqlite3_bind_text(g->save, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(g->save, 2, (sqlite3_int64)s->epoch);
    sqlite3_bind_int64(g->save, 3, (sqlite3_int64)s->durable);
    sqlite3_bind_int64(g->save, 4, (sqlite3_int64)s->rejected);
    sqlite3_bind_int64(g->save, 5, now_ms());
    if (sqlite3_step(g->save) != SQLITE_DONE)
        log_error("ingest_save", "cannot save high-water mark", "sqlite", sqlite3_errmsg(g->db));
    else
        s->persisted = s->durable;
    sqlite3_reset(g->save);
}

/* ---- acks ---- */

static void send_ack(gwstate *s)
{
    fp_ack a = {.epoch = s->epoch, .seq = s->durable, .rejected = s->rejected};
    snprintf(a.gateway, sizeof a.gateway, "%s", s->id);
    char topic[128], buf[256];
    size_t len = 0;
    if (s->durable == 0 || fp_topic_gateway(topic, sizeof topic, s->id, "ack") != FP_OK ||
        fp_ack_encode(&a, buf, sizeof buf, &len) != FP_OK)
        return;
    if (mosquitto_publish_v5(mqloop_mosq(s->g->mq), NULL, topic, (int)len, buf, 1, false, NULL) ==
        MOSQ_ERR_SUCCESS)
        metric_add(&m_acks, 1);
    mqloop_kick(s->g->mq);
}

/* ---- the in-flight FIFO ---- */

static void fifo_push(gwstate *s, inflight *f)
{
    f->gw = s;
    if (s->tail)
        s->tail->next = f;
    else
        s->head = f;
    s->tail = f;
    s->g->pending++;
}

/* Complete heads in order; on a failed head abandon the rest. */
static void fifo_drain(gwstate *s)
{
    uint64_t before = s->durable;
    while (s->head && s->head->done) {
        inflight *f = s->head;
        s->head = f->next;
        if (!s->head)
            s->tail = NULL;
        s->g->pending--;
        if (f->ok) {
            if (f->last > s->durable)
                s->durable = f->last;
            free(f);
            continue;
        }
        free(f);
        metric_add(&m_bus_failed, 1);
        for (inflight *r = s->head; r;) {
            inflight *next = r->next;
            s->g->pending--;
            if (r->done)
                free(r);
            else
                r->gw = NULL; /* its callback frees it */
            r = next;
        }
        s->head = s->tail = NULL;
        s->sent = s->durable;
        break;
    }
    if (s->durable > before) {
        gw_save(s);
        send_ack(s);
    }
}

static void on_bus_done(void *ctx, bus_status status)
{
    inflight *f = ctx;
    if (!f->gw) {
        free(f);
        return;
    }
    f->done = 1;
    f->ok = status == BUS_OK;
    if (!f->ok)
        log_warn("bus_failed", "bus publish not durable; gateway will resend", "gateway", f->gw->id,
                 "status", bus_status_str(status));
    fifo_drain(f->gw);
}

/* ---- batches ---- */

static void count_reject(fp_status st, const char *gw)
{
    metric_add(st == FP_ERR_SYNTAX    ? &m_rej_syntax
               : st == FP_ERR_VERSION ? &m_rej_version
                                      : &m_rej_other,
               1);
    log_warn("batch_rejected", "batch rejected", "gateway", gw, "reason", fp_status_str(st));
}

/* Publish the readings of b with seq > s->sent as events, one per run of
 * consecutive seqs (a rejected reading breaks a run). */
static void publish_new(gwstate *s, const fp_batch *b, uint64_t last)
{
    inflight *f = calloc(1, sizeof *f);
    if (!f)
        return; /* not acked: the gateway resends */
    f->last = last;
    bus_msg msgs[FP_BATCH_MAX];
    char *bodies[FP_BATCH_MAX];
    size_t nmsgs = 0, fresh = 0;
    size_t i = 0;
    while (i < b->count && b->readings[i].seq <= s->sent)
        i++;
    while (i < b->count) {
        size_t j = i + 1;
        while (j < b->count && b->readings[j].seq == b->readings[j - 1].seq + 1)
            j++;
        size_t len = 0;
        if (evt_readings_encode(s->id, s->epoch, &b->readings[i], j - i, &bodies[nmsgs], &len) !=
            FP_OK) {
            for (size_t k = 0; k < nmsgs; k++)
                free(bodies[k]);
            free(f);
            log_error("event_encode", "cannot encode readings event", "gateway", s->id);
            return;
        }
        msgs[nmsgs] = (bus_msg){EVT_TOPIC_READINGS, s->id, bodies[nmsgs], len};
        nmsgs++;
        fresh += j - i;
        i = j;
    }
    metric_add(&m_readings, (int64_t)fresh);
    s->sent = last;
    fifo_push(s, f);
    if (nmsgs == 0) {
        /* Everything new was invalid: nothing to store, but it is settled. */
        f->done = f->ok = 1;
        fifo_drain(s);
        return;
    }
    bus_status st = bus_publish(s->g->bus, msgs, nmsgs, on_bus_done, f);
    for (size_t k = 0; k < nmsgs; k++)
        free(bodies[k]);
    if (st != BUS_OK) {
        f->done = 1;
        f->ok = 0;
        log_warn("bus_refused", "bus refused publish", "status", bus_status_str(st));
        fifo_drain(s);
    }
}

static void handle_batch(ingest *g, const char *topic_gw, const void *payload, size_t len)
{
    metric_add(&m_batches, 1);
    fp_batch b;
    fp_status st = fp_batch_decode(payload, len, &b);
    if (st != FP_OK) {
        count_reject(st, topic_gw);
        return;
    }
    if (strcmp(b.gateway, topic_gw) != 0) {
        /* The broker's ACL binds the topic to the certificate; the payload
         * must not claim another gateway. */
        metric_add(&m_rej_mismatch, 1);
        log_warn("batch_rejected", "batch names another gateway", "gateway", topic_gw);
        fp_batch_free(&b);
        return;
    }
    gwstate *s = gw_get(g, b.gateway, b.epoch);
    if (!s) {
        fp_batch_free(&b);
        return;
    }
    uint64_t last = b.seq + b.total - 1;
    if (last <= s->sent) {
        metric_add(&m_dups, (int64_t)b.total);
        if (!s->head)
            send_ack(s); /* the ack was lost: repeat it */
        fp_batch_free(&b);
        return;
    }
    if (b.seq > s->sent + 1 && b.floor > s->sent + 1) {
        /* The gateway says it dropped what we are missing: record the gap. */
        char from[24], to[24];
        snprintf(from, sizeof from, "%" PRIu64, s->sent + 1);
        snprintf(to, sizeof to, "%" PRIu64, b.floor - 1);
        log_warn("gateway_gap", "gateway dropped readings (disk policy)", "gateway", s->id,
                 "first_seq", from, "last_seq", to);
        metric_add(&m_gaps, (int64_t)(b.floor - 1 - s->sent));
        inflight *f = calloc(1, sizeof *f);
        if (!f) {
            fp_batch_free(&b);
            return;
        }
        f->last = b.floor - 1;
        f->done = f->ok = 1;
        s->sent = b.floor - 1;
        fifo_push(s, f);
        fifo_drain(s);
    }
    if (b.seq > s->sent + 1) {
        /* Earlier readings are missing (a lost publish): refuse, and repeat
         * the ack so the gateway resends from it at once. */
        metric_add(&m_out_of_order, 1);
        if (!s->head)
            send_ack(s);
        fp_batch_free(&b);
        return;
    }
    uint64_t dup_upto = s->sent;
    for (size_t i = 0; i < b.count; i++)
        if (b.readings[i].seq <= dup_upto)
            metric_add(&m_dups, 1);
    if (b.rejected) {
        /* Count only rejections in the new part (resends repeat them). */
        s->rejected += b.rejected;
        metric_add(&m_rej_readings, (int64_t)b.rejected);
    }
    publish_new(s, &b, last);
    fp_batch_free(&b);
}

static void handle_state(ingest *g, const char *topic_gw, const void *payload, size_t len)
{
    fp_state st;
    fp_status rc = fp_state_decode(payload, len, &st);
    if (rc != FP_OK || strcmp(st.gateway, topic_gw) != 0) {
        count_reject(rc != FP_OK ? rc : FP_ERR_RANGE, topic_gw);
        return;
    }
    metric_add(&m_states, 1);
    const char *state = st.state == FP_GW_ONLINE ? "online" : "offline";
    char boot[24];
    snprintf(boot, sizeof boot, "%" PRIu64, st.boot);
    log_info("gateway_state", "gateway state", "gateway", st.gateway, "state", state, "boot", boot);
    sqlite3_bind_text(g->save_state, 1, st.gateway, -1, SQLITE_STATIC);
    sqlite3_bind_text(g->save_state, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(g->save_state, 3, (sqlite3_int64)st.boot);
    sqlite3_bind_int64(g->save_state, 4, st.ts_ms);
    sqlite3_bind_text(g->save_state, 5, st.sw, -1, SQLITE_STATIC);
    sqlite3_step(g->save_state);
    sqlite3_reset(g->save_state);
}

static void on_message(void *ctx, const struct mosquitto_message *msg)
{
    ingest *g = ctx;
    char gw[FP_GATEWAY_MAX + 1];
    const char *leaf = NULL;
    if (fp_topic_parse_gateway(msg->topic, gw, &leaf) != FP_OK) {
        metric_add(&m_rej_other, 1);
        return;
    }
    if (msg->payloadlen < 0 || (size_t)msg->payloadlen > FP_MSG_BYTES_MAX) {
        count_reject(FP_ERR_LIMIT, gw);
        return;
    }
    if (strcmp(leaf, "batch") == 0)
        handle_batch(g, gw, msg->payload, (size_t)msg->payloadlen);
    else if (strcmp(leaf, "state") == 0)
        handle_state(g, gw, msg->payload, (size_t)msg->payloadlen);
}

static void on_connect(void *ctx, int rc, int flags)
{
    ingest *g = ctx;
    if (rc != 0) {
        log_error("cloud_refused", "broker refused the ingest connection");
        return;
    }
    log_info("ingest_connected", "ingest connected to the cloud broker", "session_present",
             flags ? "true" : "false");
    mosquitto_subscribe_v5(mqloop_mosq(g->mq), NULL, "fit/v1/gw/+/batch", 1, 0, NULL);
    mosquitto_subscribe_v5(mqloop_mosq(g->mq), NULL, "fit/v1/gw/+/state", 1, 0, NULL);
    mqloop_kick(g->mq);
}

static void on_disconnect(void *ctx, int rc)
{
    (void)ctx;
    log_warn("ingest_disconnected", "ingest lost the cloud broker", "reason",
             mosquitto_strerror(rc));
}

int ingest_new(ingest **out, sd_event *ev, const ingest_config *cfg)
{
    *out = NULL;
    ingest_metrics_init();
    ingest *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    g->ev = sd_event_ref(ev);
    g->bus = cfg->bus;
    if (db_open(g, cfg->db_path)) {
        log_error("ingest_db", "cannot open ingest state", "path", cfg->db_path);
        ingest_free(g);
        return -1;
    }
    mqloop_callbacks cb = {on_connect, on_disconnect, on_message, NULL};
    if (mqloop_new(&g->mq, ev, &cfg->mqtt, &cb, g) < 0) {
        ingest_free(g);
        return -1;
    }
    mqloop_start(g->mq);
    *out = g;
    return 0;
}

void ingest_free(ingest *g)
{
    if (!g)
        return;
    mqloop_free(g->mq);
    for (int b = 0; b < 256; b++) {
        for (gwstate *s = g->gws[b]; s;) {
            gwstate *next = s->next;
            for (inflight *f = s->head; f;) {
                inflight *fn = f->next;
                if (f->done)
                    free(f);
                else
                    f->gw = NULL; /* freed by its callback, if the bus still calls it */
                f = fn;
            }
            free(s);
            s = next;
        }
    }
    sqlite3_finalize(g->load);
    sqlite3_finalize(g->save);
    sqlite3_finalize(g->save_state);
    sqlite3_close(g->db);
    sd_event_unref(g->ev);
    free(g);
}

size_t ingest_pending(const ingest *g)
{
    return g->pending;
}
