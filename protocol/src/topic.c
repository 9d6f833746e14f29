/* topic.c - MQTT topic names for gateways and devices.
 *
 *   fit/v1/gw/<gateway>/{batch,ack,state}     edge <-> cloud
 *   fit/v1/dev/<device>/gatt/<uuid16>         device -> gateway's local broker
 *
 * Parsing is exact: a topic either has precisely this shape with a valid id
 * (whose charset excludes '/', '+', '#' and the empty string) or it is
 * rejected. Topics come from brokers that any device may publish to, so they
 * are treated as hostile input.
 */
#include <stdio.h>
#include <string.h>

#include "fitproto/msg.h"

#define GW_PREFIX  "fit/v1/gw/"
#define DEV_PREFIX "fit/v1/dev/"
#define GATT_LEVEL "/gatt/"

static bool leaf_valid(const char *leaf)
{
    return strcmp(leaf, "batch") == 0 || strcmp(leaf, "ack") == 0 || strcmp(leaf, "state") == 0;
}

fp_status fp_topic_gateway(char *buf, size_t cap, const char *gateway, const char *leaf)
{
    if (gateway == NULL || !fp_gateway_id_valid(gateway, strnlen(gateway, FP_GATEWAY_MAX + 1)))
        return FP_ERR_RANGE;
    if (leaf == NULL || !leaf_valid(leaf))
        return FP_ERR_UNKNOWN;
    if (buf == NULL)
        return FP_ERR_LIMIT;
    int n = snprintf(buf, cap, GW_PREFIX "%s/%s", gateway, leaf);
    if (n < 0 || (size_t)n >= cap)
        return FP_ERR_LIMIT;
    return FP_OK;
}

/* Copy the level at *p (up to the next '/' or the end) into out if it is a
 * valid id; advance *p past it. */
static fp_status take_id(const char **p, bool (*valid)(const char *, size_t), char *out)
{
    const char *start = *p;
    size_t len = strcspn(start, "/");
    if (!valid(start, len))
        return FP_ERR_RANGE;
    memcpy(out, start, len);
    out[len] = '\0';
    *p = start + len;
    return FP_OK;
}

fp_status fp_topic_parse_gateway(const char *topic, char *gw_out, const char **leaf)
{
    if (topic == NULL || strncmp(topic, GW_PREFIX, sizeof(GW_PREFIX) - 1) != 0)
        return FP_ERR_SYNTAX;
    const char *p = topic + sizeof(GW_PREFIX) - 1;
    char gw[FP_GATEWAY_MAX + 1];
    fp_status rc = take_id(&p, fp_gateway_id_valid, gw);
    if (rc)
        return rc;
    if (*p != '/')
        return FP_ERR_SYNTAX;
    p++;
    if (!leaf_valid(p)) /* also rejects any further level */
        return FP_ERR_UNKNOWN;
    memcpy(gw_out, gw, strlen(gw) + 1);
    if (leaf)
        *leaf = p;
    return FP_OK;
}

static int hex_lower(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

fp_status fp_topic_parse_device(const char *topic, char *device_out, uint16_t *uuid16)
{
    if (topic == NULL || strncmp(topic, DEV_PREFIX, sizeof(DEV_PREFIX) - 1) != 0)
        return FP_ERR_SYNTAX;
    const char *p = topic + sizeof(DEV_PREFIX) - 1;
    char dev[FP_DEVICE_MAX + 1];
    fp_status rc = take_id(&p, fp_device_id_valid, dev);
    if (rc)
        return rc;
    if (strncmp(p, GATT_LEVEL, sizeof(GATT_LEVEL) - 1) != 0)
        return FP_ERR_SYNTAX;
    p += sizeof(GATT_LEVEL) - 1;
    /* Exactly four lower-case hex digits and the end of the topic. */
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_lower(p[i]);
        if (d < 0)
            return FP_ERR_SYNTAX;
        v = (v << 4) | (unsigned)d;
    }
    if (p[4] != '\0')
        return FP_ERR_SYNTAX;
    memcpy(device_out, dev, strlen(dev) + 1);
    if (uuid16)
        *uuid16 = (uint16_t)v;
    return FP_OK;
}

fp_status fp_topic_device(char *buf, size_t cap, const char *device, uint16_t uuid16)
{
    if (device == NULL || !fp_device_id_valid(device, strnlen(device, FP_DEVICE_MAX + 1)))
        return FP_ERR_RANGE;
    if (buf == NULL)
        return FP_ERR_LIMIT;
    int n = snprintf(buf, cap, DEV_PREFIX "%s" GATT_LEVEL "%04x", device, (unsigned)uuid16);
    if (n < 0 || (size_t)n >= cap)
        return FP_ERR_LIMIT;
    return FP_OK;
}
