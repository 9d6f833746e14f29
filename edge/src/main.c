/* fitgate-edge - the gateway agent.
 *
 * One thread, one sd-event loop:
 *
 *   local mosquitto --(mrx, QoS 2)--> devices: decode -> spool (open txn)
 *   commit timer (commit_interval_ms or commit_max readings) -> spool_commit
 *       -> devices: ack the local broker   -> uplink: send new batches
 *   uplink <--(acks)-- cloud broker: delete acknowledged readings
 *
 * Configuration: --config FILE (key = value) and --key=value flags; see
 * `fitgate-edge --help` and deploy/edge.conf.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "bluez.h"
#include "cmd.h"
#include "derive.h"
#include "devices.h"
#include "enrol.h"
#include "fitcommon/cfg.h"
#include "fitcommon/log.h"
#include "fitcommon/mqloop.h"
#include "fitcommon/metrics.h"
#include "fitproto/reading.h"
#include "spool.h"
#include "update_agent.h"
#include "uplink.h"

typedef struct edge_config {
    char gateway_id[65];
    char spool_path[1024];
    spool_limits limits;
    char local_host[256], local_client_id[128], bridge_topics[256];
    int64_t local_port;
    char cloud_host[256], cloud_cafile[1024], cloud_certfile[1024], cloud_keyfile[1024];
    int64_t cloud_port;
    char enrol_url[1024], enrol_token_file[1024], identity_dir[1024]; /* enrol.h */
    int64_t clock_wait_s;
    int64_t batch_max, window, ack_timeout_ms;
    int64_t commit_interval_ms, commit_max;
    double wheel_circumference_m;
    char metrics_file[1024];
    log_level level;
    /* BLE through BlueZ and commands from the cloud (bluez.h, cmd.h). */
    int64_t bluez, commands, max_connections, max_ble_devices, forward_unbound;
    int64_t snapshot_interval_s, ble_backoff_base_ms, ble_backoff_max_ms;
    char bluez_adapter[32], bindings_path[1100];
    /* Signed A/B updates (update_agent.h); off without update_slots. */
    char update_slots[1024], update_dir[1100], update_fw[1024], update_cafile[1024];
    char update_reboot_cmd[1024];
    int64_t update_max_bytes;
} edge_config;

typedef struct edge {
    edge_config cfg;
    sd_event *ev;
    spool *sp;
    devices *dev;
    derive *dv;
    uplink *up;
    cmd_ctx *cmd;
    bluez *bz;
    upd_agent *upd;
    sd_event_source *commit_timer, *stats_timer, *hup;
    bool commit_armed;
    /* SIGHUP: the new configuration was valid; re-execute once stopped. */
    bool reexec;
    int argc;
    char **argv;
} edge;

static metric m_commits, m_commit_failed, m_spool_held, m_spool_dropped;

static const char *usage =
    "usage: fitgate-edge [--config FILE] [--key=value ...]\n"
    "  (SIGHUP: reload the configuration - checked first, then applied by re-executing in place)\n"
    "  gateway_id=ID            this gateway (the cloud certificate's CN in production)\n"
    "  spool_path=FILE          SQLite spool (default ./spool.db)\n"
    "  spool_max_readings=N     drop oldest beyond N readings (default 10000000)\n"
    "  spool_max_bytes=N        bound the spool file (default 0 = none)\n"
    "  spool_sync=normal|full   fsync per commit with full (default normal)\n"
    "  local_host, local_port   the gateway's mosquitto (127.0.0.1:1883)\n"
    "  local_client_id=ID       session on the local broker (fitgate-edge-<gateway_id>)\n"
    "  bridge_topics=FILTER     BLE-to-MQTT bridges' JSON (home/+/BTtoMQTT/+; empty = off)\n"
    "  cloud_host, cloud_port   the cloud broker (127.0.0.1:8883)\n"
    "  cloud_cafile, cloud_certfile, cloud_keyfile   TLS with a client certificate\n"
    "  enrol_url=URL, enrol_token_file=FILE   first-boot enrolment (no certificate yet)\n"
    "  identity_dir=DIR         enrolled key + certificate (/var/lib/fitgate/identity)\n"
    "  clock_wait_s=N           wait for time sync before enrolling (60)\n"
    "  batch_max=N (500)  window=N (20000)  ack_timeout_ms=N (10000)\n"
    "  commit_interval_ms=N (20)  commit_max=N (2000)\n"
    "  wheel_circumference_m=M  CSC wheel for speed/distance (2.105)\n"
    "  metrics_file=PATH        Prometheus textfile, rewritten every 10 s\n"
    "  log_level=debug|info|warn|error\n"
    "  bluez=0|1                BLE devices through BlueZ on the system D-Bus (0)\n"
    "  bluez_adapter=NAME       adapter to use (first found)\n"
    "  max_connections=N        simultaneous BLE connections (7)\n"
    "  max_ble_devices=N        nearby devices tracked (512)\n"
    "  forward_unbound=0|1      forward readings of unbound BLE devices (0)\n"
    "  ble_backoff_base_ms=N (500)  ble_backoff_max_ms=N (30000)  reconnect backoff\n"
    "  commands=0|1             cloud commands on fit/v1/gw/<id>/cmd (= bluez)\n"
    "  bindings_path=FILE       device bindings (<spool_path>.bindings)\n"
    "  snapshot_interval_s=N    nearby snapshot to the cloud every N s (30; 0 = on request)\n"
    "  update_slots=FILE        fitgate-fw slots config: enables the update command (off)\n"
    "  update_dir=DIR           bundle downloads (<spool dir>/update)\n"
    "  update_fw=PATH           fitgate-fw (next to fitgate-edge, else /usr/bin/fitgate-fw)\n"
    "  update_cafile=FILE       CA for bundle downloads (= cloud_cafile)\n"
    "  update_max_bytes=N       largest bundle accepted (0 = no limit beyond its manifest)\n"
    "  update_reboot_cmd=ARGV   run after an install, split at spaces, no shell (none)\n";

static int copy(char *dst, size_t cap, const char *v)
{
    return (size_t)snprintf(dst, cap, "%s", v) < cap ? 0 : -1;
}

static int edge_setting(void *ctx, const char *k, const char *v)
{
    edge_config *c = ctx;
    if (!strcmp(k, "config"))
        return 0; /* handled before */
    if (!strcmp(k, "gateway_id"))
        return copy(c->gateway_id, sizeof c->gateway_id, v);
    if (!strcmp(k, "spool_path"))
        return copy(c->spool_path, sizeof c->spool_path, v);
    if (!strcmp(k, "spool_max_readings")) {
        int64_t n;
        if (cfg_parse_int(v, 0, INT64_MAX, &n))
            return -1;
        c->limits.max_readings = (uint64_t)n;
        return 0;
    }
    if (!strcmp(k, "spool_max_bytes")) {
        int64_t n;
        if (cfg_parse_int(v, 0, INT64_MAX, &n))
            return -1;
        c->limits.max_bytes = (uint64_t)n;
        return 0;
    }
    if (!strcmp(k, "spool_sync")) {
        if (strcmp(v, "normal") && strcmp(v, "full"))
            return -1;
        c->limits.sync_full = !strcmp(v, "full");
        return 0;
    }
    if (!strcmp(k, "local_host"))
        return copy(c->local_host, sizeof c->local_host, v);
    if (!strcmp(k, "local_port"))
        return cfg_parse_int(v, 1, 65535, &c->local_port);
    if (!strcmp(k, "bridge_topics"))
        return copy(c->bridge_topics, sizeof c->bridge_topics, v);
    if (!strcmp(k, "local_client_id"))
        return copy(c->local_client_id, sizeof c->local_client_id, v);
    if (!strcmp(k, "cloud_host"))
        return copy(c->cloud_host, sizeof c->cloud_host, v);
    if (!strcmp(k, "cloud_port"))
        return cfg_parse_int(v, 1, 65535, &c->cloud_port);
    if (!strcmp(k, "cloud_cafile"))
        return copy(c->cloud_cafile, sizeof c->cloud_cafile, v);
    if (!strcmp(k, "cloud_certfile"))
        return copy(c->cloud_certfile, sizeof c->cloud_certfile, v);
    if (!strcmp(k, "cloud_keyfile"))
        return copy(c->cloud_keyfile, sizeof c->cloud_keyfile, v);
    if (!strcmp(k, "enrol_url"))
        return copy(c->enrol_url, sizeof c->enrol_url, v);
    if (!strcmp(k, "enrol_token_file"))
        return copy(c->enrol_token_file, sizeof c->enrol_token_file, v);
    if (!strcmp(k, "identity_dir"))
        return copy(c->identity_dir, sizeof c->identity_dir, v);
    if (!strcmp(k, "clock_wait_s"))
        return cfg_parse_int(v, 0, 86400, &c->clock_wait_s);
    if (!strcmp(k, "batch_max"))
        return cfg_parse_int(v, 1, 1000, &c->batch_max);
    if (!strcmp(k, "window"))
        return cfg_parse_int(v, 1, 10000000, &c->window);
    if (!strcmp(k, "ack_timeout_ms"))
        return cfg_parse_int(v, 100, 3600000, &c->ack_timeout_ms);
    if (!strcmp(k, "commit_interval_ms"))
        return cfg_parse_int(v, 1, 10000, &c->commit_interval_ms);
    if (!strcmp(k, "commit_max"))
        return cfg_parse_int(v, 1, 1000000, &c->commit_max);
    if (!strcmp(k, "wheel_circumference_m")) {
        char *end = NULL;
        double w = strtod(v, &end);
        if (end == v || *end || !(w > 0 && w <= 10))
            return -1;
        c->wheel_circumference_m = w;
        return 0;
    }
    if (!strcmp(k, "metrics_file"))
        return copy(c->metrics_file, sizeof c->metrics_file, v);
    if (!strcmp(k, "log_level"))
        return log_level_parse(v, &c->level);
    struct {
        const char *key;
        int64_t *dst, min, max;
    } ints[] = {
        {"bluez", &c->bluez, 0, 1},
        {"commands", &c->commands, 0, 1},
        {"max_connections", &c->max_connections, 1, 64},
        {"max_ble_devices", &c->max_ble_devices, 1, 100000},
        {"forward_unbound", &c->forward_unbound, 0, 1},
        {"snapshot_interval_s", &c->snapshot_interval_s, 0, 86400},
        {"ble_backoff_base_ms", &c->ble_backoff_base_ms, 10, 60000},
        {"ble_backoff_max_ms", &c->ble_backoff_max_ms, 10, 3600000},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(k, ints[i].key))
            return cfg_parse_int(v, ints[i].min, ints[i].max, ints[i].dst);
    if (!strcmp(k, "bluez_adapter"))
        return copy(c->bluez_adapter, sizeof c->bluez_adapter, v);
    if (!strcmp(k, "bindings_path"))
        return copy(c->bindings_path, sizeof c->bindings_path, v);
    if (!strcmp(k, "update_slots"))
        return copy(c->update_slots, sizeof c->update_slots, v);
    if (!strcmp(k, "update_dir"))
        return copy(c->update_dir, sizeof c->update_dir, v);
    if (!strcmp(k, "update_fw"))
        return copy(c->update_fw, sizeof c->update_fw, v);
    if (!strcmp(k, "update_cafile"))
        return copy(c->update_cafile, sizeof c->update_cafile, v);
    if (!strcmp(k, "update_reboot_cmd"))
        return copy(c->update_reboot_cmd, sizeof c->update_reboot_cmd, v);
    if (!strcmp(k, "update_max_bytes"))
        return cfg_parse_int(v, 0, INT64_MAX, &c->update_max_bytes);
    return -1;
}

static void config_defaults(edge_config *c)
{
    memset(c, 0, sizeof *c);
    copy(c->gateway_id, sizeof c->gateway_id, "gw-dev");
    copy(c->spool_path, sizeof c->spool_path, "spool.db");
    c->limits.max_readings = 10000000;
    copy(c->local_host, sizeof c->local_host, "127.0.0.1");
    copy(c->bridge_topics, sizeof c->bridge_topics, "home/+/BTtoMQTT/+");
    c->local_port = 1883;
    copy(c->cloud_host, sizeof c->cloud_host, "127.0.0.1");
    c->cloud_port = 8883;
    copy(c->identity_dir, sizeof c->identity_dir, "/var/lib/fitgate/identity");
    c->clock_wait_s = 60;
    c->batch_max = 500;
    c->window = 20000;
    c->ack_timeout_ms = 10000;
    c->commit_interval_ms = 20;
    c->commit_max = 2000;
    c->wheel_circumference_m = 2.105; /* 700x25c road wheel */
    c->level = LOG_INFO;
    c->commands = -1; /* follows bluez */
    c->max_connections = 7;
    c->max_ble_devices = 512;
    c->snapshot_interval_s = 30;
    c->ble_backoff_base_ms = 500;
    c->ble_backoff_max_ms = 30000;
}

/* update_dir next to the spool; update_fw next to this binary, else
 * /usr/bin; update_cafile the cloud's CA. */
static void update_defaults(edge_config *c)
{
    if (!c->update_dir[0]) {
        const char *slash = strrchr(c->spool_path, '/');
        int n = slash ? (int)(slash - c->spool_path) : 0;
        snprintf(c->update_dir, sizeof c->update_dir, "%.*s%supdate", n, c->spool_path,
                 slash ? "/" : "");
    }
    if (!c->update_fw[0]) {
        char self[1024];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        char *slash = n > 0 ? (self[n] = 0, strrchr(self, '/')) : NULL;
        if (slash) {
            slash[1] = 0;
            snprintf(c->update_fw, sizeof c->update_fw, "%.1000sfitgate-fw", self);
        }
        if (!c->update_fw[0] || access(c->update_fw, X_OK) != 0)
            snprintf(c->update_fw, sizeof c->update_fw, "/usr/bin/fitgate-fw");
    }
    if (!c->update_cafile[0])
        snprintf(c->update_cafile, sizeof c->update_cafile, "%s", c->cloud_cafile);
}

static int load_config(edge_config *c, int argc, char **argv)
{
    config_defaults(c);
    int rc = cfg_load(argc, argv, edge_setting, c);
    if (rc)
        return rc;
    if (!fp_gateway_id_valid(c->gateway_id, strlen(c->gateway_id))) {
        log_error("config_invalid", "gateway_id must be 1-64 of [A-Za-z0-9._-]");
        return -1;
    }
    if (!c->local_client_id[0])
        snprintf(c->local_client_id, sizeof c->local_client_id, "fitgate-edge-%s", c->gateway_id);
    if (c->commands < 0)
        c->commands = c->bluez || c->update_slots[0];
    if (!c->bindings_path[0])
        snprintf(c->bindings_path, sizeof c->bindings_path, "%s.bindings", c->spool_path);
    if (c->update_slots[0] && !c->commands) {
        log_error("config_invalid", "update_slots needs commands=1 (updates are commands)");
        return -1;
    }
    update_defaults(c);
    return 0;
}

static void commit_now(edge *e)
{
    bool had_work = spool_dirty(e->sp);
    if (spool_commit(e->sp) != SPOOL_OK) {
        metric_add(&m_commit_failed, 1);
        devices_commit_failed(e->dev);
        return;
    }
    if (had_work)
        metric_add(&m_commits, 1);
    devices_committed(e->dev);
    uplink_kick(e->up);
}

static int on_commit_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)s;
    (void)usec;
    edge *e = userdata;
    e->commit_armed = false;
    commit_now(e);
    return 0;
}

/* devices added something: commit when enough piled up, or soon. */
static void on_dirty(void *ctx)
{
    edge *e = ctx;
    if (spool_staged(e->sp) >= (size_t)e->cfg.commit_max) {
        commit_now(e);
        return;
    }
    if (!e->commit_armed) {
        e->commit_armed = true;
        sd_event_source_set_time_relative(e->commit_timer,
                                          (uint64_t)e->cfg.commit_interval_ms * 1000);
        sd_event_source_set_enabled(e->commit_timer, SD_EVENT_ONESHOT);
    }
}

static int on_stats_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    edge *e = userdata;
    metric_set(&m_spool_held, (int64_t)spool_count(e->sp));
    metric_set(&m_spool_dropped, (int64_t)spool_dropped(e->sp));
    if (e->cfg.metrics_file[0])
        metrics_write_file(e->cfg.metrics_file);
    sd_event_source_set_time_relative(s, 10000000);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

/* First boot: no client certificate yet -> enrol (enrol.h), then the uplink
 * uses the enrolled identity unless cloud_certfile/keyfile name others. */
static int edge_enrol(edge_config *c)
{
    if (!c->enrol_url[0] || c->cloud_certfile[0] || c->cloud_keyfile[0])
        return 0; /* no enrolment configured, or an identity given explicitly */
    enrol_edge_paths(c->identity_dir, c->cloud_certfile, c->cloud_keyfile,
                     sizeof c->cloud_certfile);
    enrol_edge_config ec = {
        .gateway_id = c->gateway_id,
        .url = c->enrol_url,
        .token_file = c->enrol_token_file,
        .cafile = c->cloud_cafile,
        .dir = c->identity_dir,
        .clock_wait_s = c->clock_wait_s,
    };
    return enrol_edge_run(&ec) == ENROL_EDGE_OK ? 0 : -1;
}

static int edge_start(edge *e)
{
    edge_config *c = &e->cfg;
    if (edge_enrol(c) < 0 || spool_open(&e->sp, c->spool_path, &c->limits) != SPOOL_OK)
        return -1;
    mrx_config mc = {
        .host = c->local_host,
        .port = (uint16_t)c->local_port,
        .client_id = c->local_client_id,
        .topic_filter = "fit/v1/dev/+/gatt/+",
        .topic_filter2 = c->bridge_topics[0] ? c->bridge_topics : NULL,
        .session_expiry_s = 7 * 86400,
        .receive_max = 4096,
        .keepalive_s = 30,
        .max_packet = 65536,
    };
    uplink_config uc = {
        .gateway_id = c->gateway_id,
        .mqtt =
            {
                .host = c->cloud_host,
                .port = (int)c->cloud_port,
                .client_id = c->gateway_id,
                .clean_start = true,
                .keepalive_s = 30,
                .cafile = c->cloud_cafile[0] ? c->cloud_cafile : NULL,
                .certfile = c->cloud_certfile[0] ? c->cloud_certfile : NULL,
                .keyfile = c->cloud_keyfile[0] ? c->cloud_keyfile : NULL,
                .max_inflight = 100,
            },
        .batch_max = (uint32_t)c->batch_max,
        .window = (uint32_t)c->window,
        .ack_timeout_ms = (uint32_t)c->ack_timeout_ms,
        .dirty = on_dirty,
        .ctx = e,
    };
    if (sd_event_add_time_relative(e->ev, &e->commit_timer, CLOCK_MONOTONIC, 1000, 1000,
                                   on_commit_timer, e) < 0 ||
        sd_event_add_time_relative(e->ev, &e->stats_timer, CLOCK_MONOTONIC, 1000000, 100000,
                                   on_stats_timer, e) < 0)
        return -1;
    sd_event_source_set_enabled(e->commit_timer, SD_EVENT_OFF);
    if (uplink_new(&e->up, e->ev, e->sp, &uc) < 0 ||
        !(e->dv = derive_new(1024, c->wheel_circumference_m)) ||
        devices_new(&e->dev, e->ev, e->sp, &mc, e->dv, on_dirty, e) < 0)
        return -1;
    if (c->commands) {
        cmd_config cc = {
            .gateway_id = c->gateway_id,
            .mq = uplink_mqloop(e->up),
            .bindings_path = c->bindings_path,
            .snapshot_interval_s = (uint32_t)c->snapshot_interval_s,
        };
        if (cmd_new(&e->cmd, e->ev, &cc) < 0)
            return -1;
        uplink_hook hook = {cmd_on_connect, cmd_on_message, e->cmd};
        uplink_set_hook(e->up, &hook);
    }
    if (c->update_slots[0]) {
        upd_agent_config ac = {
            .gateway_id = c->gateway_id,
            .mq = uplink_mqloop(e->up),
            .slots = c->update_slots,
            .dir = c->update_dir,
            .fw = c->update_fw,
            .cafile = c->update_cafile,
            .max_bytes = (uint64_t)c->update_max_bytes,
            .reboot_cmd = c->update_reboot_cmd,
        };
        if (upd_new(&e->upd, e->ev, &ac) < 0)
            return -1;
        cmd_set_updater(e->cmd, e->upd);
        uplink_set_on_ack(e->up, upd_cloud_ok, e->upd);
    }
    if (c->bluez) {
        bluez_config bc = {
            .adapter = c->bluez_adapter,
            .max_connections = (uint32_t)c->max_connections,
            .max_devices = (uint32_t)c->max_ble_devices,
            .forward_unbound = c->forward_unbound,
            .backoff_base_ms = (uint32_t)c->ble_backoff_base_ms,
            .backoff_max_ms = (uint32_t)c->ble_backoff_max_ms,
            .default_wheel_m = c->wheel_circumference_m,
        };
        bluez_policy pol = {.dirty = on_dirty, .ctx = e};
        if (e->cmd)
            pol = cmd_policy(e->cmd, on_dirty, e);
        if (bluez_new(&e->bz, e->ev, e->sp, e->dv, &bc, &pol) < 0)
            return -1;
        if (e->cmd)
            cmd_set_bluez(e->cmd, e->bz);
    }
    return 0;
}

/* SIGHUP reloads the configuration by re-executing ourselves, like a restart
 * but without leaving the process: everything the edge holds is durable (the
 * spool, the brokers' persistent sessions), the restart path is the one the
 * kill -9 tests exercise, and every setting takes effect, not only the few a
 * live reload could change. A configuration that does not load is refused
 * and the edge keeps running on the old one. */
static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    (void)s, (void)si;
    edge *e = userdata;
    edge_config *next = calloc(1, sizeof *next);
    int rc = next ? load_config(next, e->argc, e->argv) : -1;
    free(next);
    if (rc != 0) {
        log_error("config_reload_refused",
                  "SIGHUP: the new configuration does not load; keeping the running one");
        return 0;
    }
    log_info("config_reload", "SIGHUP: configuration valid; restarting in place to apply it");
    e->reexec = true;
    return sd_event_exit(e->ev, 0);
}

static void edge_stop(edge *e)
{
    if (e->sp && e->dev)
        commit_now(e); /* what was received is kept and acknowledged */
    if (e->up)
        uplink_shutdown(e->up);
    bluez_free(e->bz); /* before cmd: its policy is cmd's */
    cmd_free(e->cmd);
    upd_free(e->upd);
    devices_free(e->dev);
    derive_free(e->dv);
    uplink_free(e->up);
    e->commit_timer = sd_event_source_disable_unref(e->commit_timer);
    e->stats_timer = sd_event_source_disable_unref(e->stats_timer);
    e->hup = sd_event_source_disable_unref(e->hup);
    spool_close(e->sp);
    sd_event_unref(e->ev);
}

int main(int argc, char **argv)
{
    edge e = {.argc = argc, .argv = argv};
    log_init("fitgate-edge", LOG_INFO);
    int rc = load_config(&e.cfg, argc, argv);
    if (rc == 1) {
        fputs(usage, stdout);
        return 0;
    }
    if (rc)
        return 2;
    log_init("fitgate-edge", e.cfg.level);
    metric_register(&m_commits, "fitgate_edge_spool_commits_total", "counter",
                    "Spool transactions committed", NULL);
    metric_register(&m_commit_failed, "fitgate_edge_spool_commit_failed_total", "counter",
                    "Spool transactions that failed", NULL);
    metric_register(&m_spool_held, "fitgate_edge_spool_readings", "gauge",
                    "Readings held in the spool", NULL);
    metric_register(&m_spool_dropped, "fitgate_edge_spool_dropped_total", "counter",
                    "Readings dropped by the disk policy since start", NULL);

    /* SIGINT/SIGTERM end the loop through sd-event's signal sources. */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigprocmask(SIG_BLOCK, &hup, NULL);
    if (mqloop_daemon_event(&e.ev) < 0 ||
        sd_event_add_signal(e.ev, &e.hup, SIGHUP, on_sighup, &e) < 0) {
        log_error("start_failed", "cannot set up the event loop");
        return 1;
    }
    if (edge_start(&e) < 0) {
        log_error("start_failed", "fitgate-edge could not start");
        edge_stop(&e);
        return 1;
    }
    char epoch[24], boot[24];
    snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long)spool_epoch(e.sp));
    snprintf(boot, sizeof boot, "%llu", (unsigned long long)spool_boot(e.sp));
    log_info("started", "fitgate-edge running", "gateway", e.cfg.gateway_id, "epoch", epoch, "boot",
             boot);
    rc = sd_event_loop(e.ev);
    log_info("stopping", "fitgate-edge stopping");
    edge_stop(&e);
    if (e.reexec && rc >= 0) {
        /* The signal mask survives exec, on purpose: a SIGTERM that arrives
         * in between stays pending until the new image's event loop takes
         * it, instead of killing a half-started process. */
        execv("/proc/self/exe", argv);
        log_error("config_reload_failed", "cannot re-execute fitgate-edge", "error",
                  strerror(errno));
        return 1;
    }
    return rc < 0 ? 1 : 0;
}
