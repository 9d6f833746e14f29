/* mrx_parse.c - the pure MQTT v5 packet parser behind mrx (see mrx.h).
 *
 * No I/O, no allocation: mrx_parse() reads one complete control packet from a
 * buffer, or says it needs more bytes. The client (mrx.c) and the fuzz target
 * (tests/fuzz/fuzz_mrx.c) use it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mrx.h"
#include "mrx_int.h"

/* ---------------------------------------------------------------- parser */

/* A bounds-checked cursor over one packet's body. Every reader returns false
 * when the bytes are not there, which the caller reports as malformed. */
typedef struct cursor {
    const uint8_t *p;
    size_t n;
} cursor;

static bool cur_u8(cursor *c, uint8_t *v)
{
    if (c->n < 1)
        return false;
    *v = c->p[0];
    c->p++;
    c->n--;
    return true;
}

static bool cur_u16(cursor *c, uint16_t *v)
{
    if (c->n < 2)
        return false;
    *v = (uint16_t)(c->p[0] << 8 | c->p[1]);
    c->p += 2;
    c->n -= 2;
    return true;
}

static bool cur_skip(cursor *c, size_t n)
{
    if (c->n < n)
        return false;
    c->p += n;
    c->n -= n;
    return true;
}

/* Variable Byte Integer (spec 1.5.5): 1 = ok, 0 = need more bytes,
 * -1 = malformed (more than 4 bytes, or not the shortest encoding). */
static int varint_decode(const uint8_t *p, size_t n, uint32_t *v, size_t *nbytes)
{
    uint32_t val = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= n)
            return 0;
        if (i > 0 && p[i] == 0)
            return -1; /* 0x80 0x00 encodes 0 in two bytes: not minimal */
        val |= (uint32_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = val;
            *nbytes = i + 1;
            return 1;
        }
    }
    return -1;
}

static bool cur_varint(cursor *c, uint32_t *v)
{
    size_t nb;
    if (varint_decode(c->p, c->n, v, &nb) != 1)
        return false;
    c->p += nb;
    c->n -= nb;
    return true;
}

/* Well-formed UTF-8 without U+0000, as the spec requires of every string
 * (1.5.4): no overlong forms, no surrogates, nothing above U+10FFFF. */
bool mrx_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t more;
        uint32_t cp, min;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            more = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += more + 1;
    }
    return true;
}

/* UTF-8 Encoded String: 2-byte length, then the bytes. */
static bool cur_str(cursor *c, const uint8_t **s, uint16_t *len)
{
    if (!cur_u16(c, len) || c->n < *len || !mrx_utf8_valid(c->p, *len))
        return false;
    *s = c->p;
    return cur_skip(c, *len);
}

static bool cur_bin(cursor *c)
{
    uint16_t len;
    return cur_u16(c, &len) && cur_skip(c, len);
}

/* Value types of the v5 properties (spec 2.2.2.2), indexed by identifier. */
enum { P_NONE, P_BYTE, P_U16, P_U32, P_VARINT, P_STR, P_BIN, P_PAIR };
static const uint8_t prop_type[0x2b] = {
    [0x01] = P_BYTE,   /* Payload Format Indicator */
    [0x02] = P_U32,    /* Message Expiry Interval */
    [0x03] = P_STR,    /* Content Type */
    [0x08] = P_STR,    /* Response Topic */
    [0x09] = P_BIN,    /* Correlation Data */
    [0x0b] = P_VARINT, /* Subscription Identifier */
    [0x11] = P_U32,    /* Session Expiry Interval */
    [0x12] = P_STR,    /* Assigned Client Identifier */
    [0x13] = P_U16,    /* Server Keep Alive */
    [0x15] = P_STR,    /* Authentication Method */
    [0x16] = P_BIN,    /* Authentication Data */
    [0x17] = P_BYTE,   /* Request Problem Information */
    [0x18] = P_U32,    /* Will Delay Interval */
    [0x19] = P_BYTE,   /* Request Response Information */
    [0x1a] = P_STR,    /* Response Information */
    [0x1c] = P_STR,    /* Server Reference */
    [0x1f] = P_STR,    /* Reason String */
    [0x21] = P_U16,    /* Receive Maximum */
    [0x22] = P_U16,    /* Topic Alias Maximum */
    [0x23] = P_U16,    /* Topic Alias */
    [0x24] = P_BYTE,   /* Maximum QoS */
    [0x25] = P_BYTE,   /* Retain Available */
    [0x26] = P_PAIR,   /* User Property */
    [0x27] = P_U32,    /* Maximum Packet Size */
    [0x28] = P_BYTE,   /* Wildcard Subscription Available */
    [0x29] = P_BYTE,   /* Subscription Identifier Available */
    [0x2a] = P_BYTE,   /* Shared Subscription Available */
};

#define PROP_SERVER_KEEPALIVE 0x13
#define PROP_TOPIC_ALIAS      0x23

/* Walk a property block (length, then properties), keeping the two we act
 * on. The block must be consumed exactly; unknown identifiers are malformed. */
static bool cur_props(cursor *c, mrx_packet *out)
{
    uint32_t len;
    if (!cur_varint(c, &len) || c->n < len)
        return false;
    cursor pc = {c->p, len};
    cur_skip(c, len);
    while (pc.n > 0) {
        uint8_t id, b;
        uint16_t v16;
        uint32_t v32;
        const uint8_t *s;
        if (!cur_u8(&pc, &id) || id >= sizeof prop_type)
            return false;
        bool ok = false;
        switch (prop_type[id]) {
        case P_BYTE:
            ok = cur_u8(&pc, &b);
            break;
        case P_U16:
            ok = cur_u16(&pc, &v16);
            if (ok && id == PROP_TOPIC_ALIAS) {
                ok = v16 != 0; /* alias 0 is not permitted (3.3.2.3.4) */
                out->topic_alias = v16;
            } else if (ok && id == PROP_SERVER_KEEPALIVE) {
                out->has_server_keepalive = true;
                out->server_keepalive = v16;
            }
            break;
        case P_U32:
            ok = cur_skip(&pc, 4);
            break;
        case P_VARINT:
            ok = cur_varint(&pc, &v32);
            break;
        case P_STR:
            ok = cur_str(&pc, &s, &v16);
            break;
        case P_BIN:
            ok = cur_bin(&pc);
            break;
        case P_PAIR:
            ok = cur_str(&pc, &s, &v16) && cur_str(&pc, &s, &v16);
            break;
        default:
            ok = false;
        }
        if (!ok)
            return false;
    }
    return true;
}

static bool parse_connack(cursor *c, mrx_packet *out)
{
    uint8_t ack_flags;
    if (out->flags != 0 || !cur_u8(c, &ack_flags) || (ack_flags & 0xfe))
        return false;
    out->session_present = ack_flags & 1;
    return cur_u8(c, &out->reason) && cur_props(c, out) && c->n == 0;
}

static bool parse_publish(cursor *c, mrx_packet *out)
{
    uint8_t qos = (out->flags >> 1) & 3;
    bool dup = out->flags & 8;
    const uint8_t *topic;
    if (qos == 3 || (dup && qos == 0))
        return false;
    if (!cur_str(c, &topic, &out->topic_len))
        return false;
    if (memchr(topic, '+', out->topic_len) || memchr(topic, '#', out->topic_len))
        return false; /* wildcards never appear in a topic name */
    if (qos > 0 && (!cur_u16(c, &out->packet_id) || out->packet_id == 0))
        return false;
    if (!cur_props(c, out))
        return false;
    if (out->topic_len == 0 && out->topic_alias == 0)
        return false;
    out->topic = (const char *)topic;
    out->payload = c->p;
    out->payload_len = c->n;
    return true;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP: the reason code and the properties may be
 * left out (3.4.2.1): 2 bytes means success. */
static bool parse_ack(cursor *c, mrx_packet *out, uint8_t want_flags)
{
    if (out->flags != want_flags || !cur_u16(c, &out->packet_id) || out->packet_id == 0)
        return false;
    if (c->n == 0)
        return true;
    if (!cur_u8(c, &out->reason))
        return false;
    return (c->n == 0 || cur_props(c, out)) && c->n == 0;
}

/* SUBACK and UNSUBACK: one reason code per topic filter, at least one. */
static bool parse_suback(cursor *c, mrx_packet *out)
{
    if (out->flags != 0 || !cur_u16(c, &out->packet_id) || out->packet_id == 0)
        return false;
    if (!cur_props(c, out) || c->n == 0)
        return false;
    /* One code per filter subscribed; report the worst, so a refused second
     * filter is not hidden behind a granted first one. */
    out->reason = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->p[i] > out->reason)
            out->reason = c->p[i];
    return true;
}

/* DISCONNECT and AUTH: no body means reason 0 (3.14.2.1). */
static bool parse_disconnect(cursor *c, mrx_packet *out)
{
    if (out->flags != 0)
        return false;
    if (c->n == 0)
        return true;
    if (!cur_u8(c, &out->reason))
        return false;
    return (c->n == 0 || cur_props(c, out)) && c->n == 0;
}

static bool parse_body(cursor *c, mrx_packet *out)
{
    switch (out->type) {
    case PKT_CONNACK:
        return parse_connack(c, out);
    case PKT_PUBLISH:
        return parse_publish(c, out);
    case PKT_PUBACK:
    case PKT_PUBREC:
    case PKT_PUBCOMP:
        return parse_ack(c, out, 0);
    case PKT_PUBREL:
        return parse_ack(c, out, 2); /* reserved flags 0010 (2.1.3) */
    case PKT_SUBACK:
    case PKT_UNSUBACK:
        return parse_suback(c, out);
    case PKT_PINGRESP:
        return out->flags == 0 && c->n == 0;
    case PKT_DISCONNECT:
    case PKT_AUTH:
        return parse_disconnect(c, out);
    default:
        return false; /* 0 is reserved; the rest only travel client -> server */
    }
}

mrx_status mrx_parse(const uint8_t *buf, size_t len, uint32_t max_packet, mrx_packet *out,
                     size_t *used)
{
    if ((!buf && len) || !out || !used)
        return MRX_ERR_ARG;
    memset(out, 0, sizeof *out);
    *used = 0;
    if (len < 2)
        return MRX_OK;

    uint32_t rem;
    size_t nb;
    int r = varint_decode(buf + 1, len - 1, &rem, &nb);
    if (r < 0)
        return MRX_ERR_PROTOCOL;
    if (r == 0)
        return MRX_OK;
    size_t total = 1 + nb + (size_t)rem;
    /* Refuse an oversized packet as soon as its length is known, before
     * buffering it: the broker was told our Maximum Packet Size. */
    if (max_packet && total > max_packet)
        return MRX_ERR_PROTOCOL;
    if (len < total)
        return MRX_OK;

    out->type = buf[0] >> 4;
    out->flags = buf[0] & 0x0f;
    cursor c = {buf + 1 + nb, rem};
    if (!parse_body(&c, out)) {
        memset(out, 0, sizeof *out);
        return MRX_ERR_PROTOCOL;
    }
    *used = total;
    return MRX_OK;
}
