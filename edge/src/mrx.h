/* mrx.h - a small MQTT v5 subscriber that acknowledges only after commit.
 *
 * Why not libmosquitto here: libmosquitto sends PUBACK (QoS 1) and PUBREC
 * (QoS 2) before the application sees the message, so a crash between the
 * ack and the spool commit loses readings the device was told were delivered.
 * mrx hands each PUBLISH to the caller and sends the acknowledgement only when
 * the caller says the message is durable:
 *
 *   QoS 0  nothing to ack.
 *   QoS 1  caller commits, then mrx_puback(). A crash before the PUBACK makes
 *          the broker resend (DUP=1): at-least-once.
 *   QoS 2  caller commits the message together with its packet id, then
 *          mrx_pubrec(). When the broker's PUBREL arrives (on_pubrel) the
 *          caller forgets the packet id durably, then mrx_pubcomp(). A resent
 *          PUBLISH whose packet id the caller still holds is a duplicate: the
 *          caller only calls mrx_pubrec() again. Exactly-once across kill -9.
 *
 * The connection uses clean_start=0 and a Session Expiry Interval, so the
 * broker keeps the subscription and queues messages while the edge is down.
 *
 * mrx does no I/O waiting of its own: the owner's event loop polls mrx_fd()
 * for mrx_poll_events() and calls mrx_handle_io() and mrx_tick(). One thread.
 * Polling must be level-triggered (poll, or epoll without EPOLLET): one
 * mrx_handle_io() call reads a bounded amount so a busy broker cannot starve
 * the rest of the loop. Host names are resolved with a blocking getaddrinfo()
 * in mrx_connect(); use a numeric address for the local broker.
 *
 * Callbacks may call mrx_puback/mrx_pubrec/mrx_pubcomp (bytes are only
 * queued) and mrx_connect (from on_disconnect, say); mrx notices and stops
 * using the old connection. Callbacks must NOT call mrx_free().
 *
 * Ownership: mrx_new() copies the config strings; free with mrx_free().
 * Message pointers given to on_publish are valid only during the callback.
 */
#ifndef FITGATE_MRX_H
#define FITGATE_MRX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mrx mrx;

typedef enum mrx_status {
    MRX_OK = 0,
    MRX_ERR_ARG,
    MRX_ERR_NOMEM,
    MRX_ERR_IO,       /* socket error; the connection is closed, reconnect */
    MRX_ERR_PROTOCOL, /* broker sent a malformed or unexpected packet; closed */
    MRX_ERR_REFUSED,  /* CONNACK/SUBACK reason code >= 0x80 */
    MRX_ERR_STATE,    /* not connected */
} mrx_status;

const char *mrx_status_str(mrx_status s);

typedef struct mrx_msg {
    const char *topic; /* NUL-terminated copy, valid during the callback */
    const uint8_t *payload;
    size_t len;
    uint16_t packet_id; /* 0 for QoS 0 */
    uint8_t qos;
    bool dup;
} mrx_msg;

typedef struct mrx_callbacks {
    void (*on_connect)(void *ctx, bool session_present);
    void (*on_disconnect)(void *ctx, mrx_status why);
    void (*on_publish)(void *ctx, const mrx_msg *m);
    void (*on_pubrel)(void *ctx, uint16_t packet_id);
} mrx_callbacks;

typedef struct mrx_config {
    const char *host; /* numeric IPv4/IPv6 or a name (resolved at connect) */
    uint16_t port;
    const char *client_id;     /* stable across restarts: the broker keys the session on it */
    const char *username;      /* may be NULL */
    const char *password;      /* may be NULL; never logged */
    const char *topic_filter;  /* e.g. "fit/v1/dev/+/gatt/+" subscribed at QoS 2 */
    const char *topic_filter2; /* optional second filter in the same SUBSCRIBE, or NULL */
    uint32_t session_expiry_s; /* e.g. 86400 */
    uint16_t receive_max;      /* in-flight QoS 1/2 messages we accept, e.g. 1024 */
    uint16_t keepalive_s;      /* e.g. 30 */
    uint32_t max_packet;       /* largest packet we accept, e.g. 65536 */
} mrx_config;

mrx_status mrx_new(mrx **out, const mrx_config *cfg, const mrx_callbacks *cb, void *ctx);
void mrx_free(mrx *m);

/* Start a non-blocking connect (closes any current connection without calling
 * on_disconnect). An error here (name resolution, no socket) is only returned;
 * on_disconnect is not called. The owner retries with its own backoff. */
mrx_status mrx_connect(mrx *m);
bool mrx_connected(const mrx *m); /* CONNACK and SUBACK received */

int mrx_fd(const mrx *m);            /* -1 when disconnected */
short mrx_poll_events(const mrx *m); /* POLLIN, plus POLLOUT when output is pending */
/* Handle readiness from poll/epoll (revents). Calls the callbacks. On an error
 * the connection is closed, on_disconnect is called, and the status returned. */
mrx_status mrx_handle_io(mrx *m, short revents);
/* Keep-alive; call at least once per second with a monotonic clock in ms. */
mrx_status mrx_tick(mrx *m, int64_t now_ms);

/* Acknowledgements, queued for writing (see mrx_poll_events). Allowed from
 * CONNACK on (a resumed session delivers before SUBACK); MRX_ERR_STATE when
 * not connected. If the output queue overflows (1 MiB) the call returns
 * MRX_ERR_IO and the connection is closed by the next mrx_handle_io/mrx_tick. */
mrx_status mrx_puback(mrx *m, uint16_t packet_id);
mrx_status mrx_pubrec(mrx *m, uint16_t packet_id);
mrx_status mrx_pubcomp(mrx *m, uint16_t packet_id);

/* Counters since mrx_new(). */
typedef struct mrx_stats {
    uint64_t publishes, dups, malformed, connects, disconnects;
} mrx_stats;
void mrx_get_stats(const mrx *m, mrx_stats *out);

/* Pure packet parser, exposed for tests and the fuzz target: parse one
 * complete MQTT v5 control packet from buf. *used is the packet size, 0 if
 * more bytes are needed. No callbacks, no allocation. Only packets a server
 * sends to a client are accepted (CONNECT, SUBSCRIBE, ... are malformed here).
 * Returns MRX_ERR_PROTOCOL for a malformed packet or one larger than
 * max_packet bytes in total (0 = no limit but the protocol's). */
typedef struct mrx_packet {
    uint8_t type;  /* 1..15 */
    uint8_t flags; /* low nibble of the fixed header */
    uint16_t packet_id;
    uint8_t reason; /* CONNACK/PUBACK/.../DISCONNECT reason code; SUBACK: the highest code */
    bool session_present;
    const char *topic; /* PUBLISH: points into buf, NOT NUL-terminated */
    uint16_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
    uint16_t topic_alias;      /* 0 = none */
    bool has_server_keepalive; /* CONNACK carried Server Keep Alive */
    uint16_t server_keepalive; /* its value in seconds (0 = keep-alive off) */
} mrx_packet;
mrx_status mrx_parse(const uint8_t *buf, size_t len, uint32_t max_packet, mrx_packet *out,
                     size_t *used);

#endif
