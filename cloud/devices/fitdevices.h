/* fitdevices.h - devices and gateways as the mini app sees them.
 *
 * Sends commands to gateways (fit/v1/gw/<gw>/cmd, docs/protocol.md
 * "Commands") over the cloud broker and waits for their results
 * (.../cmd/result); keeps the latest nearby snapshot of every gateway
 * (.../nearby, retained); ends gym sessions the gateway reports idle
 * (.../event). HTTP (api_route.h), for a signed-in user:
 *
 *   GET    /api/v1/gateways/<gw>/nearby[?refresh=1]  what the gateway sees
 *   POST   /api/v1/devices/bind    {"gateway","device"}      pair a device
 *   POST   /api/v1/devices/unbind  {"device"}                unpair
 *   POST   /api/v1/devices/<dev>/wheel {"circumference_m"}   CSC wheel size
 *   GET    /api/v1/devices                                   the user's devices
 *   POST   /api/v1/gym/session     {"qr":"fitgate://gym?gw=..&dev=.."}
 *   DELETE /api/v1/gym/session                               stop it
 * and, for an operator (admin token), OTA updates (fdv_update.c):
 *   POST   /api/v1/admin/gateways/<gw>/update {"url","sha256","size"}
 *   GET    /api/v1/admin/gateways/<gw>/update   latest step + history
 *
 * A binding is written to this module's tables (fitdevices_*) with its
 * DevicePaired / DeviceUnpaired event in the same transaction (outbox.h),
 * then to the store (store_bind_device) so readings go to the user.
 *
 * Threads: handlers run on libmicrohttpd's threads; MQTT runs on the core's
 * sd-event loop. Commands cross over through a queue and an eventfd; the
 * handler waits (at most cmd_timeout_ms) for the gateway's result.
 *
 * Ownership: fitdevices_new() keeps ev and api (may be NULL); copies cfg.
 */
#ifndef FITGATE_FITDEVICES_H
#define FITGATE_FITDEVICES_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "api.h"
#include "api_route.h"
#include "fitcommon/mqloop.h"

typedef struct fitdevices fitdevices;

typedef struct fitdevices_config {
    const char *db_path;         /* the core's SQLite file */
    mqloop_config mqtt;          /* cloud broker (client id fitgate-core-devices if NULL) */
    uint32_t cmd_timeout_ms;     /* wait for a gateway's result (default 5000) */
    uint32_t gym_idle_timeout_s; /* sent with session_start (default 300) */
} fitdevices_config;

int fitdevices_new(fitdevices **out, sd_event *ev, api *a, const fitdevices_config *cfg);
void fitdevices_free(fitdevices *d);

extern const api_route fitdevices_routes[];
extern const size_t fitdevices_nroutes;

/* Pure, for tests: parse a gym machine's QR payload
 * "fitgate://gym?gw=<gateway>&dev=<device>" (keys in any order). 0 or -1. */
int fitdevices_parse_qr(const char *qr, char *gw, size_t gw_cap, char *dev, size_t dev_cap);

#endif
