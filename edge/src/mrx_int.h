/* mrx_int.h - what mrx.c and mrx_parse.c share; not part of the public API. */
#ifndef FITGATE_MRX_INT_H
#define FITGATE_MRX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MQTT v5 control packet types (the high nibble of the fixed header). */
enum {
    PKT_CONNECT = 1,
    PKT_CONNACK = 2,
    PKT_PUBLISH = 3,
    PKT_PUBACK = 4,
    PKT_PUBREC = 5,
    PKT_PUBREL = 6,
    PKT_PUBCOMP = 7,
    PKT_SUBSCRIBE = 8,
    PKT_SUBACK = 9,
    PKT_UNSUBACK = 11,
    PKT_PINGREQ = 12,
    PKT_PINGRESP = 13,
    PKT_DISCONNECT = 14,
    PKT_AUTH = 15,
};

/* true when s[0..n) is well-formed UTF-8 without NUL (MQTT strings). */
bool mrx_utf8_valid(const uint8_t *s, size_t n);

#endif
