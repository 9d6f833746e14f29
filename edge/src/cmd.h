/* cmd.h - commands from the cloud, bindings, nearby snapshots, gym sessions.
 *
 * On the uplink's cloud connection (uplink_set_hook: the broker allows one
 * connection per gateway identity), cmd subscribes to fit/v1/gw/<gw>/cmd.
 * The uplink's session is clean, so a command sent while the gateway is
 * offline is not delivered: the cloud sees no result and says so to the user
 * (nothing is half-bound). Each command (cmd_parse.h) is
 * executed and answered on fit/v1/gw/<gw>/cmd/result; a malformed command
 * gets an error result (never a crash, counted). Commands are idempotent, so
 * a QoS 1 redelivery does no harm.
 *
 * Also published:
 *   fit/v1/gw/<gw>/nearby  (retained) what the gateway sees, every
 *                          snapshot_interval_s and on the snapshot command;
 *   fit/v1/gw/<gw>/event   session_ended when a gym session stops or idles.
 *
 * cmd is the bluez policy (bluez.h): bound devices are connected and
 * forwarded; readings feed the sessions' idle clocks.
 *
 * Ownership: cmd_new() copies cfg; keeps ev and cfg->mq (must outlive it). cmd_set_bluez() lends
 * the BLE source (may stay NULL: BLE off; BLE commands then answer no_bluetooth).
 */
#ifndef FITGATE_CMD_H
#define FITGATE_CMD_H

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "bluez.h"
#include "fitcommon/mqloop.h"
#include "update_agent.h"

typedef struct cmd_ctx cmd_ctx;

typedef struct cmd_config {
    const char *gateway_id;
    mqloop *mq; /* the uplink's cloud connection (borrowed) */
    const char *bindings_path;
    uint32_t snapshot_interval_s; /* 0 = only on request */
} cmd_config;

int cmd_new(cmd_ctx **out, sd_event *ev, const cmd_config *cfg);
/* Hooks for the shared connection (uplink_hook). */
void cmd_on_connect(void *ctx);
void cmd_on_message(void *ctx, const struct mosquitto_message *msg);
void cmd_free(cmd_ctx *c);
void cmd_set_bluez(cmd_ctx *c, bluez *b);
/* Lends the updater (update_agent.h); NULL: the update op answers updates_disabled. */
void cmd_set_updater(cmd_ctx *c, upd_agent *u);
/* The policy callbacks for bluez_new(); dirty/ctx of the spool are given. */
bluez_policy cmd_policy(cmd_ctx *c, void (*dirty)(void *ctx), void *dirty_ctx);

#endif
