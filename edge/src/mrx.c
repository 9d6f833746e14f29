/* mrx.c - a small MQTT v5 subscriber that acknowledges only after commit.
 *
 * See mrx.h for the contract. The pure packet parser is in mrx_parse.c.
 * Layout of this file:
 *   1. the output queue and packet builders (CONNECT, SUBSCRIBE, acks);
 *   2. the connection: non-blocking connect, reads, writes, keep-alive.
 */
#include "mrx.h"
#include "mrx_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fitcommon/log.h"

#define MRX_TX_CAP         (1u << 20)  /* output queue limit; past it the broker is gone */
#define MRX_RX_MIN         16384u      /* read buffer floor, so small packets batch */
#define MRX_MAX_PACKET_CAP (16u << 20) /* largest max_packet we agree to buffer */
#define MRX_READS_PER_CALL 64          /* bounded work per mrx_handle_io() */
#define MRX_CONNECT_TMO_MS 30000       /* connect + CONNACK limit when keep-alive is off */

const char *mrx_status_str(mrx_status s)
{
    switch (s) {
    case MRX_OK:
        return "ok";
    case MRX_ERR_ARG:
        return "invalid argument";
    case MRX_ERR_NOMEM:
        return "out of memory";
    case MRX_ERR_IO:
        return "i/o error";
    case MRX_ERR_PROTOCOL:
        return "protocol error";
    case MRX_ERR_REFUSED:
        return "refused by broker";
    case MRX_ERR_STATE:
        return "not connected";
    }
    return "unknown";
}

/* ---------------------------------------------------------- the client */

enum conn_state { ST_IDLE, ST_CONNECTING, ST_WAIT_CONNACK, ST_WAIT_SUBACK, ST_READY };

struct mrx {
    mrx_config cfg; /* the strings are our own copies */
    mrx_callbacks cb;
    void *ctx;

    int fd;
    enum conn_state state;
    struct addrinfo *ai_list, *ai_next; /* addresses still to try */

    uint8_t *rx; /* unparsed input; rx_cap >= max_packet so one packet fits */
    size_t rx_len, rx_cap;
    uint8_t *tx; /* queued output, sent from tx_off */
    size_t tx_off, tx_len, tx_cap;
    mrx_status deferred; /* error raised in an ack call; closed at next io/tick */

    uint16_t sub_id;       /* packet id of our outstanding SUBSCRIBE */
    uint32_t keepalive_ms; /* effective: Server Keep Alive wins */
    int64_t now_ms;        /* from the last mrx_tick() */
    bool restamp;          /* mrx_connect() ran since the last tick: stamps are stale */
    int64_t last_tx_ms, ping_sent_ms, connect_start_ms;
    bool ping_outstanding;

    /* Bumped on every close, so a loop that ran a callback can tell whether
     * the callback reconnected (and the buffers it was walking are gone). */
    unsigned gen;
    mrx_stats st;
    char topic[UINT16_MAX + 1]; /* NUL-terminated copy for on_publish */
};

static char *dup_opt(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

static bool str_ok(const char *s, bool may_be_empty)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    return n <= UINT16_MAX && (n > 0 || may_be_empty) && mrx_utf8_valid((const uint8_t *)s, n);
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

mrx_status mrx_new(mrx **out, const mrx_config *cfg, const mrx_callbacks *cb, void *ctx)
{
    if (!out || !cfg || !cb)
        return MRX_ERR_ARG;
    *out = NULL;
    /* The session is keyed on the client id, so an empty one (which asks the
     * broker to make one up) would lose the session on every reconnect. */
    if (!str_ok(cfg->host, false) || cfg->port == 0 || !str_ok(cfg->client_id, false) ||
        !str_ok(cfg->topic_filter, false) ||
        (cfg->topic_filter2 && !str_ok(cfg->topic_filter2, false)))
        return MRX_ERR_ARG;
    if ((cfg->username && !str_ok(cfg->username, true)) ||
        (cfg->password && strlen(cfg->password) > UINT16_MAX))
        return MRX_ERR_ARG;
    uint32_t max_packet = cfg->max_packet ? cfg->max_packet : 65536;
    if (max_packet < 64 || max_packet > MRX_MAX_PACKET_CAP)
        return MRX_ERR_ARG;

    mrx *m = calloc(1, sizeof *m);
    if (!m)
        return MRX_ERR_NOMEM;
    bool ok = true;
    m->cfg = *cfg;
    m->cfg.max_packet = max_packet;
    m->cfg.host = dup_opt(cfg->host, &ok);
    m->cfg.client_id = dup_opt(cfg->client_id, &ok);
    m->cfg.username = dup_opt(cfg->username, &ok);
    m->cfg.password = dup_opt(cfg->password, &ok);
    m->cfg.topic_filter = dup_opt(cfg->topic_filter, &ok);
    m->cfg.topic_filter2 = dup_opt(cfg->topic_filter2, &ok);
    m->cb = *cb;
    m->ctx = ctx;
    m->fd = -1;
    m->rx_cap = max_packet > MRX_RX_MIN ? max_packet : MRX_RX_MIN;
    m->rx = malloc(m->rx_cap);
    if (!ok || !m->rx) {
        mrx_free(m);
        return MRX_ERR_NOMEM;
    }
    *out = m;
    return MRX_OK;
}

static void conn_reset(mrx *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    m->state = ST_IDLE;
    if (m->ai_list)
        freeaddrinfo(m->ai_list);
    m->ai_list = m->ai_next = NULL;
    m->rx_len = 0;
    if (m->tx)
        explicit_bzero(m->tx, m->tx_len); /* CONNECT may hold the password */
    m->tx_off = m->tx_len = 0;
    m->deferred = MRX_OK;
    m->ping_outstanding = false;
    m->gen++;
}

void mrx_free(mrx *m)
{
    if (!m)
        return;
    conn_reset(m);
    free((char *)m->cfg.host);
    free((char *)m->cfg.client_id);
    free((char *)m->cfg.username);
    free_secret((char *)m->cfg.password);
    free((char *)m->cfg.topic_filter);
    free((char *)m->cfg.topic_filter2);
    free(m->rx);
    free(m->tx);
    free(m);
}

/* Close the connection and tell the owner why. */
static mrx_status conn_close(mrx *m, mrx_status why)
{
    if (m->fd < 0 && m->state == ST_IDLE)
        return why;
    bool was_up = m->state >= ST_WAIT_SUBACK;
    conn_reset(m);
    m->st.disconnects++;
    log_warn("mrx_disconnect", "mqtt connection closed", "host", m->cfg.host, "client_id",
             m->cfg.client_id, "reason", mrx_status_str(why), "established",
             was_up ? "true" : "false");
    if (m->cb.on_disconnect)
        m->cb.on_disconnect(m->ctx, why);
    return why;
}

bool mrx_connected(const mrx *m)
{
    return m && m->fd >= 0 && m->state == ST_READY;
}

int mrx_fd(const mrx *m)
{
    return m ? m->fd : -1;
}

short mrx_poll_events(const mrx *m)
{
    if (!m || m->fd < 0)
        return 0;
    if (m->state == ST_CONNECTING)
        return POLLOUT;
    if (m->deferred != MRX_OK)
        return POLLIN | POLLOUT; /* get mrx_handle_io() called to close */
    return (short)(POLLIN | (m->tx_len > m->tx_off ? POLLOUT : 0));
}

void mrx_get_stats(const mrx *m, mrx_stats *out)
{
    if (m && out)
        *out = m->st;
}

/* ------------------------------------------------------------- output */

static mrx_status tx_append(mrx *m, const uint8_t *b, size_t n)
{
    if (m->tx_len + n > m->tx_cap && m->tx_off > 0) {
        memmove(m->tx, m->tx + m->tx_off, m->tx_len - m->tx_off);
        m->tx_len -= m->tx_off;
        m->tx_off = 0;
    }
    if (m->tx_len + n > m->tx_cap) {
        size_t cap = m->tx_cap ? m->tx_cap : 1024;
        while (cap < m->tx_len + n)
            cap *= 2;
        if (cap > MRX_TX_CAP)
            return MRX_ERR_IO; /* the broker stopped reading: give up on it */
        uint8_t *t = realloc(m->tx, cap);
        if (!t)
            return MRX_ERR_NOMEM;
        m->tx = t;
        m->tx_cap = cap;
    }
    memcpy(m->tx + m->tx_len, b, n);
    m->tx_len += n;
    return MRX_OK;
}

/* Writers into a fixed local packet buffer; sizes are checked by the caller. */
typedef struct wbuf {
    uint8_t *p;
    size_t n;
} wbuf;

static void w_u8(wbuf *w, uint8_t v)
{
    w->p[w->n++] = v;
}

static void w_u16(wbuf *w, uint16_t v)
{
    w_u8(w, (uint8_t)(v >> 8));
    w_u8(w, (uint8_t)v);
}

static void w_u32(wbuf *w, uint32_t v)
{
    w_u16(w, (uint16_t)(v >> 16));
    w_u16(w, (uint16_t)v);
}

static void w_varint(wbuf *w, uint32_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        w_u8(w, v ? (uint8_t)(b | 0x80) : b);
    } while (v);
}

static void w_str(wbuf *w, const char *s)
{
    size_t n = strlen(s);
    w_u16(w, (uint16_t)n);
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

/* Frame body[0..n) with a fixed header and queue it. */
static mrx_status tx_packet(mrx *m, uint8_t hdr, const uint8_t *body, size_t n)
{
    uint8_t fh[5];
    wbuf w = {fh, 0};
    w_u8(&w, hdr);
    w_varint(&w, (uint32_t)n);
    mrx_status st = tx_append(m, fh, w.n);
    return st != MRX_OK ? st : tx_append(m, body, n);
}

/* CONNECT (3.1): clean_start=0 so the broker keeps our session and queue. */
static mrx_status tx_connect(mrx *m)
{
    const mrx_config *c = &m->cfg;
    size_t cap = 64 + strlen(c->client_id) + (c->username ? 2 + strlen(c->username) : 0) +
                 (c->password ? 2 + strlen(c->password) : 0);
    uint8_t *body = malloc(cap);
    if (!body)
        return MRX_ERR_NOMEM;
    wbuf w = {body, 0};
    w_str(&w, "MQTT");
    w_u8(&w, 5);
    w_u8(&w, (uint8_t)((c->username ? 0x80 : 0) | (c->password ? 0x40 : 0)));
    w_u16(&w, c->keepalive_s);
    uint8_t props[16];
    wbuf pw = {props, 0};
    w_u8(&pw, 0x11); /* Session Expiry Interval */
    w_u32(&pw, c->session_expiry_s);
    if (c->receive_max) {
        w_u8(&pw, 0x21); /* Receive Maximum; 0 is not allowed, so omit */
        w_u16(&pw, c->receive_max);
    }
    w_u8(&pw, 0x27); /* Maximum Packet Size */
    w_u32(&pw, c->max_packet);
    w_varint(&w, (uint32_t)pw.n);
    memcpy(w.p + w.n, props, pw.n);
    w.n += pw.n;
    w_str(&w, c->client_id);
    if (c->username)
        w_str(&w, c->username);
    if (c->password)
        w_str(&w, c->password); /* Binary Data: same framing */
    mrx_status st = tx_packet(m, PKT_CONNECT << 4, body, w.n);
    explicit_bzero(body, cap);
    free(body);
    return st;
}

/* SUBSCRIBE (3.8) at QoS 2. Retain Handling 1: retained messages only when
 * the subscription is new, so resubscribing on every CONNACK repeats none. */
static mrx_status tx_subscribe(mrx *m)
{
    const char *f2 = m->cfg.topic_filter2;
    size_t n = strlen(m->cfg.topic_filter) + (f2 ? strlen(f2) + 3 : 0);
    uint8_t *body = malloc(n + 8);
    if (!body)
        return MRX_ERR_NOMEM;
    wbuf w = {body, 0};
    m->sub_id = (uint16_t)(m->sub_id % UINT16_MAX + 1);
    w_u16(&w, m->sub_id);
    w_varint(&w, 0); /* no properties */
    w_str(&w, m->cfg.topic_filter);
    w_u8(&w, 0x02 | 0x10); /* QoS 2, no-local 0, retain-as-published 0 */
    if (f2) {
        w_str(&w, f2);
        w_u8(&w, 0x02 | 0x10);
    }
    mrx_status st = tx_packet(m, PKT_SUBSCRIBE << 4 | 2, body, w.n);
    free(body);
    return st;
}

/* Write as much queued output as the socket takes. */
static mrx_status tx_flush(mrx *m)
{
    while (m->tx_off < m->tx_len) {
        ssize_t n = send(m->fd, m->tx + m->tx_off, m->tx_len - m->tx_off, MSG_NOSIGNAL);
        if (n > 0) {
            m->tx_off += (size_t)n;
            m->last_tx_ms = m->now_ms;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return MRX_OK;
        } else {
            return MRX_ERR_IO;
        }
    }
    explicit_bzero(m->tx, m->tx_len);
    m->tx_off = m->tx_len = 0;
    return MRX_OK;
}

static mrx_status queue_ack(mrx *m, uint8_t type, uint16_t id)
{
    if (!m || id == 0)
        return MRX_ERR_ARG;
    if (m->fd < 0 || m->state < ST_WAIT_SUBACK)
        return MRX_ERR_STATE;
    if (m->deferred != MRX_OK)
        return m->deferred;
    /* The short form (3.4.2.1): packet id only means reason 0x00 Success. */
    uint8_t b[4] = {(uint8_t)(type << 4), 2, (uint8_t)(id >> 8), (uint8_t)id};
    mrx_status st = tx_append(m, b, sizeof b);
    if (st != MRX_OK)
        m->deferred = st;
    return st;
}

mrx_status mrx_puback(mrx *m, uint16_t packet_id)
{
    return queue_ack(m, PKT_PUBACK, packet_id);
}

mrx_status mrx_pubrec(mrx *m, uint16_t packet_id)
{
    return queue_ack(m, PKT_PUBREC, packet_id);
}

mrx_status mrx_pubcomp(mrx *m, uint16_t packet_id)
{
    return queue_ack(m, PKT_PUBCOMP, packet_id);
}

/* ------------------------------------------------------------- connect */

/* Start a non-blocking connect to the next resolved address. */
static mrx_status try_next_addr(mrx *m)
{
    while (m->ai_next) {
        struct addrinfo *ai = m->ai_next;
        m->ai_next = ai->ai_next;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1; /* acks are tiny and latency is the point */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            m->fd = fd;
            m->state = ST_CONNECTING;
            return MRX_OK;
        }
        close(fd);
    }
    return MRX_ERR_IO;
}

mrx_status mrx_connect(mrx *m)
{
    if (!m)
        return MRX_ERR_ARG;
    if (m->fd >= 0 || m->state != ST_IDLE) {
        m->st.disconnects++;
        conn_reset(m);
    }
    char port[8];
    snprintf(port, sizeof port, "%u", m->cfg.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = getaddrinfo(m->cfg.host, port, &hints, &m->ai_list);
    if (rc != 0) {
        m->ai_list = NULL;
        log_warn("mrx_resolve", "cannot resolve mqtt host", "host", m->cfg.host, "error",
                 gai_strerror(rc));
        return MRX_ERR_IO;
    }
    m->ai_next = m->ai_list;
    /* CONNECT waits in the queue until the TCP connect completes. */
    mrx_status st = tx_connect(m);
    if (st == MRX_OK)
        st = try_next_addr(m);
    if (st != MRX_OK) {
        conn_reset(m);
        return st;
    }
    /* now_ms may be from long ago (the owner need not tick while down):
     * the next mrx_tick() stamps the connect start and last write. */
    m->restamp = true;
    m->keepalive_ms = (uint32_t)m->cfg.keepalive_s * 1000;
    return MRX_OK;
}

/* POLLOUT on a connecting socket: done, or try the next address. */
static mrx_status finish_connect(mrx *m)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return MRX_OK;
    if (err == 0) {
        m->state = ST_WAIT_CONNACK;
        return MRX_OK;
    }
    close(m->fd);
    m->fd = -1;
    return try_next_addr(m);
}

/* ------------------------------------------------------------- input */

/* DISCONNECT reason codes (3.14.2.1) mapped onto what the owner can act on. */
static mrx_status disconnect_status(uint8_t reason)
{
    switch (reason) {
    case 0x81: /* Malformed Packet */
    case 0x82: /* Protocol Error */
    case 0x94: /* Topic Alias invalid */
    case 0x95: /* Packet too large */
        return MRX_ERR_PROTOCOL;
    case 0x87: /* Not authorized */
    case 0x8f: /* Topic Filter invalid */
    case 0x9e: /* Shared Subscriptions not supported */
    case 0xa2: /* Wildcard Subscriptions not supported */
        return MRX_ERR_REFUSED;
    default:
        return MRX_ERR_IO; /* normal close, shutdown, takeover: reconnect */
    }
}

static mrx_status on_connack(mrx *m, const mrx_packet *p)
{
    if (m->state != ST_WAIT_CONNACK)
        return MRX_ERR_PROTOCOL;
    if (p->reason >= 0x80) {
        char code[8];
        snprintf(code, sizeof code, "0x%02x", p->reason);
        log_warn("mrx_refused", "mqtt broker refused the connection", "host", m->cfg.host,
                 "reason_code", code);
        return MRX_ERR_REFUSED;
    }
    if (p->has_server_keepalive)
        m->keepalive_ms = (uint32_t)p->server_keepalive * 1000;
    m->state = ST_WAIT_SUBACK;
    m->st.connects++;
    /* Always resubscribe: harmless with a session, and it covers a broker
     * that lost the session. */
    mrx_status st = tx_subscribe(m);
    if (st != MRX_OK)
        return st;
    log_info("mrx_connect", "mqtt connected", "host", m->cfg.host, "client_id", m->cfg.client_id,
             "session_present", p->session_present ? "true" : "false");
    if (m->cb.on_connect)
        m->cb.on_connect(m->ctx, p->session_present);
    return MRX_OK;
}

static mrx_status on_publish(mrx *m, const mrx_packet *p)
{
    /* A resumed session delivers right after CONNACK, before our SUBACK. */
    if (m->state < ST_WAIT_SUBACK || p->topic_alias != 0)
        return MRX_ERR_PROTOCOL; /* we never allowed aliases (max 0) */
    memcpy(m->topic, p->topic, p->topic_len);
    m->topic[p->topic_len] = '\0';
    mrx_msg msg = {
        .topic = m->topic,
        .payload = p->payload,
        .len = p->payload_len,
        .packet_id = p->packet_id,
        .qos = (uint8_t)((p->flags >> 1) & 3),
        .dup = (p->flags & 8) != 0,
    };
    m->st.publishes++;
    if (msg.dup)
        m->st.dups++;
    if (m->cb.on_publish)
        m->cb.on_publish(m->ctx, &msg);
    return MRX_OK;
}

static mrx_status on_packet(mrx *m, const mrx_packet *p)
{
    switch (p->type) {
    case PKT_CONNACK:
        return on_connack(m, p);
    case PKT_PUBLISH:
        return on_publish(m, p);
    case PKT_PUBREL:
        if (m->state < ST_WAIT_SUBACK)
            return MRX_ERR_PROTOCOL;
        if (m->cb.on_pubrel)
            m->cb.on_pubrel(m->ctx, p->packet_id);
        return MRX_OK;
    case PKT_SUBACK:
        if (m->state != ST_WAIT_SUBACK || p->packet_id != m->sub_id)
            return MRX_ERR_PROTOCOL;
        if (p->reason >= 0x80)
            return MRX_ERR_REFUSED;
        m->state = ST_READY;
        return MRX_OK;
    case PKT_PINGRESP:
        m->ping_outstanding = false;
        return MRX_OK;
    case PKT_DISCONNECT: {
        char code[8];
        snprintf(code, sizeof code, "0x%02x", p->reason);
        log_warn("mrx_broker_disconnect", "mqtt broker sent DISCONNECT", "host", m->cfg.host,
                 "reason_code", code);
        return disconnect_status(p->reason);
    }
    default:
        return MRX_ERR_PROTOCOL; /* PUBACK/PUBREC/PUBCOMP/UNSUBACK/AUTH: we never asked */
    }
}

/* Parse and dispatch every complete packet in rx. Returns MRX_OK, or the
 * status the connection was closed with. */
static mrx_status rx_process(mrx *m)
{
    unsigned gen = m->gen;
    size_t off = 0;
    for (;;) {
        mrx_packet p;
        size_t used;
        mrx_status st = mrx_parse(m->rx + off, m->rx_len - off, m->cfg.max_packet, &p, &used);
        if (st != MRX_OK) {
            m->st.malformed++;
            return conn_close(m, MRX_ERR_PROTOCOL);
        }
        if (used == 0)
            break;
        st = on_packet(m, &p);
        if (m->gen != gen)
            return MRX_OK; /* a callback reconnected; rx belongs to the new link */
        if (st != MRX_OK) {
            if (st == MRX_ERR_PROTOCOL)
                m->st.malformed++;
            return conn_close(m, st);
        }
        off += used;
    }
    memmove(m->rx, m->rx + off, m->rx_len - off);
    m->rx_len -= off;
    return MRX_OK;
}

static mrx_status rx_read(mrx *m)
{
    unsigned gen = m->gen;
    for (int i = 0; i < MRX_READS_PER_CALL; i++) {
        /* rx_cap >= max_packet and rx holds less than one packet after
         * rx_process, so there is always room; the check guards recv(.., 0). */
        if (m->rx_len >= m->rx_cap)
            return conn_close(m, MRX_ERR_PROTOCOL);
        ssize_t n = recv(m->fd, m->rx + m->rx_len, m->rx_cap - m->rx_len, 0);
        if (n > 0) {
            m->rx_len += (size_t)n;
            mrx_status st = rx_process(m);
            if (st != MRX_OK || m->gen != gen)
                return st;
        } else if (n == 0) {
            return conn_close(m, MRX_ERR_IO); /* broker closed */
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            return conn_close(m, MRX_ERR_IO);
        }
    }
    return MRX_OK;
}

mrx_status mrx_handle_io(mrx *m, short revents)
{
    if (!m)
        return MRX_ERR_ARG;
    if (m->fd < 0)
        return MRX_ERR_STATE;
    if (m->deferred != MRX_OK)
        return conn_close(m, m->deferred);
    if (revents & POLLNVAL)
        return conn_close(m, MRX_ERR_IO);

    if (m->state == ST_CONNECTING) {
        if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
            return MRX_OK;
        if (finish_connect(m) != MRX_OK)
            return conn_close(m, MRX_ERR_IO);
        if (m->state == ST_CONNECTING)
            return MRX_OK; /* next address in progress */
    } else if (revents & (POLLIN | POLLERR | POLLHUP)) {
        unsigned gen = m->gen;
        mrx_status st = rx_read(m);
        if (st != MRX_OK || m->gen != gen)
            return st;
    }
    /* Flush whatever the callbacks queued now rather than after another
     * poll round trip. */
    if (m->tx_len > m->tx_off && tx_flush(m) != MRX_OK)
        return conn_close(m, MRX_ERR_IO);
    return MRX_OK;
}

mrx_status mrx_tick(mrx *m, int64_t now_ms)
{
    if (!m)
        return MRX_ERR_ARG;
    m->now_ms = now_ms;
    if (m->restamp) {
        m->restamp = false;
        m->last_tx_ms = m->connect_start_ms = now_ms;
    }
    if (m->fd < 0)
        return MRX_OK;
    if (m->deferred != MRX_OK)
        return conn_close(m, m->deferred);

    int64_t ka = m->keepalive_ms;
    if (m->state <= ST_WAIT_CONNACK) {
        int64_t limit = ka ? ka * 3 / 2 : MRX_CONNECT_TMO_MS;
        if (now_ms - m->connect_start_ms >= limit)
            return conn_close(m, MRX_ERR_IO);
        return MRX_OK;
    }
    if (ka == 0)
        return MRX_OK;
    if (m->ping_outstanding) {
        if (now_ms - m->ping_sent_ms >= ka * 3 / 2)
            return conn_close(m, MRX_ERR_IO); /* no PINGRESP: the link is dead */
        return MRX_OK;
    }
    if (now_ms - m->last_tx_ms >= ka) {
        static const uint8_t ping[2] = {PKT_PINGREQ << 4, 0};
        mrx_status st = tx_append(m, ping, sizeof ping);
        if (st == MRX_OK)
            st = tx_flush(m);
        if (st != MRX_OK)
            return conn_close(m, st);
        m->ping_outstanding = true;
        m->ping_sent_ms = now_ms;
        m->last_tx_ms = now_ms;
    }
    return MRX_OK;
}
