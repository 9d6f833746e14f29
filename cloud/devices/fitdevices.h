/* fitdevices.h - devices and gateways as the mini app sees them.
 *
 * Sends commands to gateways (fit/v1/gw/<gw>/cmd, docs/protocol.md
 * "Commands") over the cloud broker and waits for their results
 * (.../cmd/result); keeps the latest nearby snapshot of every gateway
 * (.../nearby, retained); ends gym sessions the gateway reports idle
 * (.../event). HTTP (api_route.h), for a signed-in user:
 *
 *   GET    /api/v1/gateways/<gw>/nearby[?refresh=1]  what the gateway sees (members)
 *   POST   /api/v1/devices/bind    {"gateway","device"}      pair a device (members)
 *   GET    /api/v1/gateways                                  my gateways, my role
 *   POST   /api/v1/gateways/<gw>/claim {"code"}              become a member
 *   POST   /api/v1/gateways/<gw>/invites                     owner: a member code
 *   DELETE /api/v1/gateways/<gw>/members/<uid>               remove / leave
 *   POST   /api/v1/devices/unbind  {"device"}                unpair
 *   POST   /api/v1/devices/<dev>/wheel {"circumference_m"}   CSC wheel size
 *   GET    /api/v1/devices                                   the user's devices
 *   POST   /api/v1/gym/session     {"qr":"fitgate://gym?gw=..&dev=.."}
 *   DELETE /api/v1/gym/session                               stop it
 * and, for an operator (admin token), OTA updates (fdv_update.c):
 *   POST   /api/v1/admin/gateways/<gw>/update {"url","sha256","size"}
 *   GET    /api/v1/admin/gateways/<gw>/update   latest step + history
 *   POST   /api/v1/admin/gateways/<gw>/claim-code  an owner claim code (fdv_gw.c)
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
    /* Dev mode only (the core sets them only with dev=1): demo_user_id owns
     * the comma-separated demo_gateways from the start. */
    const char *demo_gateways;
    int64_t demo_user_id;
} fitdevices_config;

int fitdevices_new(fitdevices **out, sd_event *ev, api *a, const fitdevices_config *cfg);
void fitdevices_free(fitdevices *d);

extern const api_route fitdevices_routes[];
extern const size_t fitdevices_nroutes;

/* Gateway membership codes (fdv_gw.c): 100 random bits as 20 characters of
 * the RFC 4648 base32 alphabet, shown in groups of 4 ("ABCD-EFGH-...").
 * Only the SHA-256 of the normalized form is stored. */
#define FDV_CODE_CHARS 20
#define FDV_CODE_TEXT  (FDV_CODE_CHARS + FDV_CODE_CHARS / 4) /* with dashes, + NUL */

/* Pure, for tests: the display form of 13 random bytes (the first 100 bits). */
void fitdevices_code_format(const uint8_t raw[13], char out[FDV_CODE_TEXT]);
/* Pure, for tests: what a person typed -> the 20 canonical characters.
 * Case, dashes and spaces do not matter; 0/1/8 read as O/I/B (they are not
 * in the alphabet and look alike). 0, or -1 for anything else. */
int fitdevices_code_normalize(const char *in, char out[FDV_CODE_CHARS + 1]);

/* `fitgate-core gateway claim-code GW [--ttl-days N] [--data-dir DIR] [--json]`:
 * mints an owner claim code in DIR/core.db and prints it. Exit status. */
int fitdevices_gateway_cli(int argc, char **argv);

/* Pure, for tests: parse a gym machine's QR payload
 * "fitgate://gym?gw=<gateway>&dev=<device>" (keys in any order). 0 or -1. */
int fitdevices_parse_qr(const char *qr, char *gw, size_t gw_cap, char *dev, size_t dev_cap);

#endif
