/* fitdrivers/bridge.h - readings from BLE-to-MQTT bridges already in the field.
 *
 * OpenMQTTGateway (ESP32) and Theengs Gateway scan BLE themselves and publish
 * one JSON object per advertisement on <prefix>/<gateway>/BTtoMQTT/<MAC>,
 * e.g. home/OMG_ESP32_BLE/BTtoMQTT/C4A5DFE0A1B2. The object carries the raw
 * advertisement ("servicedata" + "servicedatauuid", "manufacturerdata" as hex)
 * and/or fields Theengs Decoder already decoded ("weight", "unit",
 * "impedance", "act_bpm", "steps", "batt", ...). docs/devices.md lists the
 * fields read and the rules.
 *
 * Pure: no I/O, no globals. Uses cJSON, so it allocates while parsing and
 * frees everything before returning.
 */
#ifndef FITDRIVERS_BRIDGE_H
#define FITDRIVERS_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "fitproto/reading.h"
#include "fitproto/status.h"

#define BRIDGE_JSON_MAX 16384 /* bytes; bridges publish a few hundred */
#define BRIDGE_MAC_LEN  17    /* "AA:BB:CC:DD:EE:FF" */

/* The device MAC from a bridge topic, normalised to upper case with ':'
 * into mac[BRIDGE_MAC_LEN + 1]. The topic must be <prefix>/<gateway>/BTtoMQTT/<MAC>
 * with at least one prefix level, no empty level and no wildcard; the MAC may
 * be written AABBCCDDEEFF (as both bridges publish it), AA:BB:.. or aa-bb-...
 * FP_ERR_SYNTAX for another topic shape, FP_ERR_RANGE for a bad MAC. */
fp_status bridge_topic_mac(const char *topic, char mac[BRIDGE_MAC_LEN + 1]);

/* Decode one bridge message (json[0..len), need not be NUL-terminated) seen
 * at ts_ms into out[0..max); the device id of every reading is the MAC.
 *
 * When the message carries raw advertisement data that adv_decode() knows,
 * the readings come from the raw bytes only (the decoded fields were made
 * from the same bytes). Otherwise the decoded fields are read.
 *
 * Returns FP_OK with *n readings (maybe 0: e.g. a scale still settling),
 * FP_ERR_UNKNOWN when nothing in the message is for us (a thermometer),
 * FP_ERR_LIMIT for len > BRIDGE_JSON_MAX, FP_ERR_SYNTAX for bad JSON, a non-
 * object, bad hex or a bad topic, FP_ERR_TYPE for a field we read with the
 * wrong JSON type, FP_ERR_DUPLICATE for a field given twice, FP_ERR_MISSING
 * ("weight" without "unit", "servicedata" without "servicedatauuid"),
 * FP_ERR_RANGE for values out of range, or any adv_decode() error. On error
 * *n is 0. Unknown extra fields are ignored: bridges add many. */
fp_status bridge_decode(const char *topic, const char *json, size_t len, int64_t ts_ms,
                        fp_reading *out, size_t max, size_t *n);

#endif
