/* update_agent.h - the gateway side of signed A/B updates (issue 5, J8).
 *
 * The cloud's `update` command (cmd_parse.h: url, sha256, size of the
 * bundle's manifest.json) is accepted at once; the agent then runs, one
 * after the other and never through a shell,
 *   fitgate-fw update fetch URL --bundle --out DIR/bundle --sha256 H --size N
 *                           --progress --json [--cafile CA] [--max-bytes N]
 *   fitgate-fw update install DIR/bundle --slots SLOTS --json --progress
 * as child processes watched by the event loop (stdout pipe read line by
 * line with sd_event_add_io, exit through sd_event_add_child): the loop
 * never blocks on them. Each progress line goes to the cloud as an event on
 * fit/v1/gw/<gw>/event:
 *   {"v":1,"type":"update","id":"<cmd id>","step":"downloading|verified|...",
 *    "bytes":N,"total":T,"ts":MS}
 * and the job ends with "step":"installed" (with "slot") or "step":"failed"
 * with "error" (fitgate-fw's error name, else "exit_<code>") and "stage"
 * ("fetch"|"install"). After an install, reboot_cmd (if set) runs.
 *
 * Mark-good: the first time per process that the uplink sees the cloud
 * acknowledge readings (the end-to-end health proof), the agent asks
 * `fitgate-fw update status`; if the booted slot is not yet good, or the
 * previous update rolled back, it runs `update mark-good` and publishes
 * {"type":"update","step":"marked_good","slot":"B","version":N,
 *  "rolled_back":false}. An edge that never reaches the cloud never marks
 * its slot good, so the bootloader falls back by itself.
 *
 * One child at a time: an update while any job runs answers busy; a
 * mark-good check that comes during a job runs after it.
 *
 * Ownership: upd_new() copies cfg's strings; keeps ev and cfg->mq (must
 * outlive the agent). upd_free() stops (SIGTERM) and reaps a running child.
 * Needs SIGCHLD blocked: upd_new() blocks it (one-threaded process).
 */
#ifndef FITGATE_UPDATE_AGENT_H
#define FITGATE_UPDATE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "fitcommon/mqloop.h"

typedef struct upd_agent upd_agent;

typedef struct upd_agent_config {
    const char *gateway_id;
    mqloop *mq;             /* the uplink's cloud connection (borrowed) */
    const char *slots;      /* fitgate-fw slots configuration (required) */
    const char *dir;        /* download directory (created 0700 if missing) */
    const char *fw;         /* path of fitgate-fw */
    const char *cafile;     /* CA for the download; NULL/"" = system store */
    uint64_t max_bytes;     /* largest bundle accepted (0 = no limit beyond the manifest) */
    const char *reboot_cmd; /* "/sbin/reboot" or "/usr/bin/systemctl reboot"; NULL/"" = none */
} upd_agent_config;

int upd_new(upd_agent **out, sd_event *ev, const upd_agent_config *cfg);
void upd_free(upd_agent *a);

/* Start an update: 0 accepted, 1 the same command id as the running or
 * last update (a redelivery: nothing more is done), -EBUSY while a job
 * runs, -errno when the fetch cannot be started. url/sha256 are checked by
 * cmd_parse. */
int upd_start(upd_agent *a, const char *id, const char *url, const char *sha256, uint64_t size);

/* The uplink saw the cloud acknowledge readings; the first call runs the
 * mark-good check (later calls do nothing). */
void upd_cloud_ok(void *agent);

/* Split s at spaces/tabs into at most max-1 words (argv, NULL-terminated),
 * copying into buf. Returns the word count, or -1 if too many/too long. */
int upd_split_argv(const char *s, char *buf, size_t cap, char **argv, size_t max);

#endif
