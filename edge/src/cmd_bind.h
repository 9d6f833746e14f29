/* cmd_bind.h - the gateway's device bindings, persisted in a small SQLite
 * file next to the spool (bindings_path, default <spool_path>.bindings).
 *
 * A binding says "this device's readings belong to someone": the edge
 * connects the device and forwards its readings. Which user that is lives in
 * the cloud (the gateway never needs it). A gym session is a binding with a
 * session id and an idle timeout (session.h).
 *
 * All bindings are also kept in memory (a gateway has tens, not thousands);
 * every change is written through at once (one small transaction).
 *
 * Ownership: cmdb_open() returns a handle freed by cmdb_close(). One thread.
 */
#ifndef FITGATE_CMD_BIND_H
#define FITGATE_CMD_BIND_H

#include <stddef.h>

#include "fitproto/reading.h"
#include "session.h"

#define CMDB_MAX 1024 /* bindings per gateway */

typedef struct cmd_binding {
    char device[FP_DEVICE_MAX + 1];
    double wheel_m; /* 0 = gateway default */
    gym_session sess;
} cmd_binding;

typedef struct cmd_bindings cmd_bindings;

/* 0 or -1 (logged). now_ms (monotonic) restarts the idle clock of sessions
 * loaded from disk. */
int cmdb_open(cmd_bindings **out, const char *path, int64_t now_ms);
void cmdb_close(cmd_bindings *b);

/* NULL when the device is not bound. The pointer is valid until the next
 * cmdb_put/cmdb_del. */
cmd_binding *cmdb_get(cmd_bindings *b, const char *device);
/* Insert or replace. 0, -1 (I/O, logged) or -2 (CMDB_MAX reached). */
int cmdb_put(cmd_bindings *b, const cmd_binding *x);
/* 0, or -1 on I/O error. Deleting an absent device is not an error. */
int cmdb_del(cmd_bindings *b, const char *device);

size_t cmdb_count(const cmd_bindings *b);
cmd_binding *cmdb_at(cmd_bindings *b, size_t i);

#endif
