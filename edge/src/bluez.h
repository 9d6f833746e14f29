/* bluez.h - Bluetooth LE devices through BlueZ (D-Bus, sd-bus).
 *
 * On the edge's sd-event loop (sd_bus_attach_event), bluez:
 *   - finds the adapter through org.freedesktop.DBus.ObjectManager, sets a
 *     discovery filter (LE, fitness/health service uuids, DuplicateData=true
 *     so advertisement streams keep coming) and starts discovery;
 *   - tracks devices from InterfacesAdded/Removed and PropertiesChanged (name,
 *     address, RSSI, service uuids, battery, manufacturer/service data);
 *     advertisement data goes through adv_decode() (drivers/adv.h);
 *   - connects the devices the owner wants (bound ones, gym sessions), at most
 *     max_connections at once, reconnecting with backoff when they drop;
 *   - subscribes (StartNotify) to every characteristic libfitdrivers decodes;
 *     each GattCharacteristic1.Value change is decoded with gatt_decode(),
 *     completed by derive_apply() and added to the spool, exactly like the MQTT
 *     devices (devices.h): the owner's dirty() commits soon after;
 *   - registers an org.bluez.Agent1 (NoInputNoOutput) for devices that need
 *     bonding, and pairs when a subscription is refused for lack of it.
 *
 * Readings are spooled only for devices the policy forwards (bound, or any
 * when forward_unbound): a stranger's strap in range does not leak.
 * The device id of a reading is the BlueZ address "AA:BB:CC:DD:EE:FF".
 *
 * Ownership: bluez_new() keeps ev, sp, dv (which must outlive it) and copies
 * the config. One thread.
 */
#ifndef FITGATE_BLUEZ_H
#define FITGATE_BLUEZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "derive.h"
#include "fitproto/reading.h"
#include "spool.h"

typedef struct bluez bluez;

/* What the owner (cmd.h) decides per device. */
typedef struct bluez_policy {
    /* Is `dev` bound (to a user or a gym session)? *wheel_m gets its wheel
     * circumference (0 = the gateway default). Bound devices are connected
     * and their readings forwarded. */
    bool (*bound)(void *ctx, const char *dev, double *wheel_m);
    /* A reading of dev was spooled (gym sessions watch for activity). */
    void (*on_reading)(void *ctx, const fp_reading *r);
    /* dev is connected and subscribed (gym sessions start the machine). */
    void (*on_ready)(void *ctx, const char *dev);
    /* Readings were added: commit soon (devices_dirty_fn). */
    void (*dirty)(void *ctx);
    void *ctx;
} bluez_policy;

typedef struct bluez_config {
    const char *adapter;                      /* "hci0"; NULL or "" = the first adapter found */
    uint32_t max_connections;                 /* simultaneous GATT connections (e.g. 7) */
    uint32_t max_devices;                     /* devices tracked (nearby list bound), e.g. 512 */
    bool forward_unbound;                     /* spool readings of unbound devices too */
    uint32_t backoff_base_ms, backoff_max_ms; /* reconnect backoff, e.g. 500 / 30000 */
    uint32_t stale_ms;                        /* drop from the nearby list after this long unseen */
    double default_wheel_m;                   /* the derive table's circumference */
} bluez_config;

int bluez_new(bluez **out, sd_event *ev, spool *sp, derive *dv, const bluez_config *cfg,
              const bluez_policy *pol);
void bluez_free(bluez *b);

/* Bindings changed: connect what is now wanted, drop what is not. */
void bluez_refresh(bluez *b);
/* (Re)start discovery now (the "scan" command). 0 or a negative errno. */
int bluez_scan(bluez *b);

/* One nearby device, for the snapshot. Strings valid during the callback. */
typedef struct bluez_device_info {
    const char *address, *name;
    int16_t rssi; /* 0 = unknown */
    int battery;  /* percent, -1 unknown */
    const uint16_t *services;
    size_t nservices;
    bool connected, bound;
    int64_t last_seen_ms; /* Unix ms */
} bluez_device_info;
typedef void (*bluez_device_fn)(void *ctx, const bluez_device_info *d);
void bluez_foreach(bluez *b, bluez_device_fn fn, void *ctx);
/* Is the device currently known (present or remembered)? */
bool bluez_known(bluez *b, const char *address);

/* FTMS Fitness Machine Control Point (0x2AD9) request: op 0x00 request
 * control, 0x07 start/resume, 0x08 stop (param 1) / pause (param 2),
 * 0x01 reset. Fire-and-forget; -ENOENT when the machine has no control
 * point (or is not connected). */
int bluez_ftms_control(bluez *b, const char *address, uint8_t op, int param);

typedef struct bluez_stats {
    uint32_t devices, connected;
    uint64_t notifications, readings, not_forwarded, rejected, adv_readings, reconnects;
} bluez_stats;
void bluez_get_stats(const bluez *b, bluez_stats *out);

#endif
