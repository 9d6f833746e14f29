/* bluez.c - BlueZ devices over sd-bus (see bluez.h).
 *
 * State lives in a flat array of devices, each with its characteristics.
 * Lookups compare a path hash first (bzp_hash), so the per-notification cost
 * is a few integer compares even with hundreds of devices nearby.
 * Everything D-Bus is asynchronous: a slow bluetoothd never blocks the loop
 * (and with it the spool commits and the uplink).
 */
#include "bluez.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "bluez_policy.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitdrivers/adv.h"
#include "fitdrivers/fitness.h"
#include "fitdrivers/gatt.h"
#include "fitproto/msg.h"

#define BZ_CHARS_MAX 32
#define BZ_UUIDS_MAX 16
#define OM_IFACE     "org.freedesktop.DBus.ObjectManager"
#define PROPS_IFACE  "org.freedesktop.DBus.Properties"
#define DEV_IFACE    "org.bluez.Device1"
#define CHAR_IFACE   "org.bluez.GattCharacteristic1"
#define ADAPTER_IF   "org.bluez.Adapter1"
#define AGENT_PATH   "/org/fitgate/agent"
#define FTMS_CP      0x2AD9

typedef struct bz_char {
    char *path;
    uint32_t hash;
    uint16_t uuid;
    bool notify_requested;
    /* FTMS data characteristics only (allocated on the first notification): a
     * machine may split one record over several notifications ("More Data");
     * the parts are merged here into one reading. Over D-Bus nothing waits for
     * an acknowledgement, so holding a part costs nothing; it is flushed when
     * the record completes, on disconnect, and at shutdown. */
    ftms_record *ftms;
} bz_char;

enum { BZ_IDLE, BZ_CONNECTING, BZ_UP };

typedef struct bz_dev {
    bluez *owner;
    char *path;
    size_t path_len;
    uint32_t hash;
    char address[18];
    char name[64];
    int16_t rssi;
    int battery;
    uint16_t uuids[BZ_UUIDS_MAX];
    size_t nuuids;
    bool present, connected, resolved, paired, pairing;
    unsigned calls; /* D-Bus calls in flight whose reply points here: not evicted */
    int state;
    unsigned attempt;
    bool waiting_retry;
    sd_event_source *retry;
    int64_t last_seen_ms;
    uint64_t last_seen_mono;
    uint32_t adv_hash; /* last advertisement payload decoded (dedupe repeats) */
    bz_char chars[BZ_CHARS_MAX];
    size_t nchars;
} bz_dev;

struct bluez {
    sd_event *ev;
    sd_bus *bus;
    spool *sp;
    derive *dv;
    bluez_config cfg;
    char adapter_name[32];
    bluez_policy pol;
    char *adapter; /* object path of the adapter in use */
    sd_event_source *disc_timer;
    bz_dev **devs;
    size_t ndev, cap;
    bluez_stats st;
};

static metric m_notifications, m_readings, m_not_forwarded, m_rejected, m_adv_readings,
    m_reconnects, m_connected, m_devices, m_dbus_errors;
static int metrics_done;

static void bluez_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_notifications, "fitgate_edge_ble_notifications_total", "counter",
                    "GATT notifications received from BlueZ", NULL);
    metric_register(&m_readings, "fitgate_edge_ble_readings_total", "counter",
                    "BLE readings added to the spool (GATT and advertisements)", NULL);
    metric_register(&m_not_forwarded, "fitgate_edge_ble_not_forwarded_total", "counter",
                    "Readings of unbound devices not forwarded", NULL);
    metric_register(&m_rejected, "fitgate_edge_ble_rejected_total", "counter",
                    "BLE payloads that failed to decode", NULL);
    metric_register(&m_adv_readings, "fitgate_edge_ble_adv_readings_total", "counter",
                    "Readings decoded from advertisements", NULL);
    metric_register(&m_reconnects, "fitgate_edge_ble_reconnects_total", "counter",
                    "Reconnect attempts after a device dropped or a connect failed", NULL);
    metric_register(&m_connected, "fitgate_edge_ble_connected", "gauge", "BLE devices connected",
                    NULL);
    metric_register(&m_devices, "fitgate_edge_ble_devices", "gauge", "BLE devices nearby", NULL);
    metric_register(&m_dbus_errors, "fitgate_edge_ble_dbus_errors_total", "counter",
                    "D-Bus calls to BlueZ that failed", NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void maybe_connect(bluez *b);
static void subscribe_all(bz_dev *d);
static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);
static void schedule_retry(bz_dev *d);

/* ---- the device table ---- */

static bz_dev *dev_find(bluez *b, const char *path, size_t len)
{
    uint32_t h = bzp_hash(path, len);
    for (size_t i = 0; i < b->ndev; i++) {
        bz_dev *d = b->devs[i];
        if (d->hash == h && d->path_len == len && memcmp(d->path, path, len) == 0)
            return d;
    }
    return NULL;
}

static bz_dev *dev_by_address(bluez *b, const char *addr)
{
    for (size_t i = 0; i < b->ndev; i++)
        if (strcasecmp(b->devs[i]->address, addr) == 0)
            return b->devs[i];
    return NULL;
}

static bool dev_bound(bluez *b, bz_dev *d, double *wheel)
{
    double w = 0;
    bool r = d->address[0] && b->pol.bound && b->pol.bound(b->pol.ctx, d->address, &w);
    if (wheel)
        *wheel = w;
    return r;
}

static void char_clear(bz_char *c)
{
    free(c->path);
    c->path = NULL;
    free(c->ftms);
    c->ftms = NULL;
}

static void dev_free(bz_dev *d)
{
    for (size_t i = 0; i < d->nchars; i++)
        char_clear(&d->chars[i]);
    d->retry = sd_event_source_disable_unref(d->retry);
    free(d->path);
    free(d);
}

/* Room for one more device: forget the least recently seen one that is
 * neither bound nor connected. */
static bool dev_make_room(bluez *b)
{
    if (b->ndev < b->cfg.max_devices)
        return true;
    size_t victim = SIZE_MAX;
    for (size_t i = 0; i < b->ndev; i++) {
        bz_dev *d = b->devs[i];
        if (d->state != BZ_IDLE || d->connected || d->calls || dev_bound(b, d, NULL))
            continue;
        if (victim == SIZE_MAX || d->last_seen_mono < b->devs[victim]->last_seen_mono)
            victim = i;
    }
    if (victim == SIZE_MAX)
        return false;
    dev_free(b->devs[victim]);
    b->devs[victim] = b->devs[--b->ndev];
    return true;
}

static bz_dev *dev_get(bluez *b, const char *path)
{
    size_t len = strlen(path);
    bz_dev *d = dev_find(b, path, len);
    if (d)
        return d;
    if (!dev_make_room(b))
        return NULL;
    if (b->ndev == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        bz_dev **n = realloc(b->devs, cap * sizeof *n);
        if (!n)
            return NULL;
        b->devs = n;
        b->cap = cap;
    }
    d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        return NULL;
    }
    d->owner = b;
    d->path_len = len;
    d->hash = bzp_hash(path, len);
    d->battery = -1;
    if (sd_event_add_time_relative(b->ev, &d->retry, CLOCK_MONOTONIC, 1000000, 10000, on_retry, d) <
        0) {
        dev_free(d);
        return NULL;
    }
    sd_event_source_set_enabled(d->retry, SD_EVENT_OFF);
    b->devs[b->ndev++] = d;
    return d;
}

static bz_char *char_find(bz_dev *d, const char *path)
{
    uint32_t h = bzp_hash(path, strlen(path));
    for (size_t i = 0; i < d->nchars; i++)
        if (d->chars[i].hash == h && strcmp(d->chars[i].path, path) == 0)
            return &d->chars[i];
    return NULL;
}

static void char_remove(bz_dev *d, const char *path)
{
    bz_char *c = char_find(d, path);
    if (!c)
        return;
    char_clear(c);
    *c = d->chars[--d->nchars];
}

static void update_gauges(bluez *b)
{
    uint32_t n = 0, c = 0;
    for (size_t i = 0; i < b->ndev; i++) {
        n += b->devs[i]->present;
        c += b->devs[i]->connected;
    }
    b->st.devices = n;
    b->st.connected = c;
    metric_set(&m_devices, n);
    metric_set(&m_connected, c);
}

/* ---- readings ---- */

static void spool_reading(bluez *b, bz_dev *d, fp_reading *r, bool adv)
{
    double wheel = 0;
    if (!dev_bound(b, d, &wheel) && !b->cfg.forward_unbound) {
        b->st.not_forwarded++;
        metric_add(&m_not_forwarded, 1);
        return;
    }
    bzp_rescale_wheel(r, b->cfg.default_wheel_m, wheel);
    char json[2048];
    size_t len = 0;
    if (fp_reading_encode(r, json, sizeof json, &len) != FP_OK) {
        b->st.rejected++;
        metric_add(&m_rejected, 1);
        return;
    }
    if (spool_add(b->sp, json, len, NULL) != SPOOL_OK)
        return; /* the spool counted and logged it (disk policy or I/O) */
    b->st.readings++;
    metric_add(&m_readings, 1);
    if (adv) {
        b->st.adv_readings++;
        metric_add(&m_adv_readings, 1);
    }
    if (b->pol.on_reading)
        b->pol.on_reading(b->pol.ctx, r);
    if (b->pol.dirty)
        b->pol.dirty(b->pol.ctx);
}

static void reject_value(bluez *b, bz_dev *d, fp_status st)
{
    b->st.rejected++;
    metric_add(&m_rejected, 1);
    log_debug("ble_rejected", "notification rejected", "device", d->address, "reason",
              fp_status_str(st));
}

/* An FTMS data notification: merged into the characteristic's record. */
static void on_ftms_value(bluez *b, bz_dev *d, bz_char *c, const uint8_t *buf, size_t len)
{
    if (!c->ftms) {
        if (!(c->ftms = malloc(sizeof *c->ftms))) {
            reject_value(b, d, FP_ERR_NOMEM);
            return;
        }
        ftms_record_init(c->ftms);
    }
    fp_reading out[FTMS_RECORD_OUT_MAX];
    size_t n = 0;
    fp_status st = ftms_record_feed(c->ftms, c->uuid, buf, len, d->address, now_ms(), out, &n);
    if (st != FP_OK) {
        reject_value(b, d, st);
        return;
    }
    for (size_t i = 0; i < n; i++)
        spool_reading(b, d, &out[i], false);
}

/* Store what a characteristic still holds of a split record (the device
 * went away before the closing part). */
static void char_flush(bluez *b, bz_dev *d, bz_char *c)
{
    fp_reading r;
    if (c->ftms && ftms_record_flush(c->ftms, &r))
        spool_reading(b, d, &r, false);
}

static void dev_flush(bluez *b, bz_dev *d)
{
    for (size_t i = 0; i < d->nchars; i++)
        char_flush(b, d, &d->chars[i]);
}

static void on_value(bluez *b, bz_dev *d, bz_char *c, const uint8_t *buf, size_t len)
{
    b->st.notifications++;
    metric_add(&m_notifications, 1);
    if (ftms_kind(c->uuid)) {
        on_ftms_value(b, d, c, buf, len);
        return;
    }
    fp_reading r;
    fp_status st = gatt_decode(c->uuid, buf, len, d->address, now_ms(), &r);
    if (st != FP_OK) {
        reject_value(b, d, st);
        return;
    }
    derive_apply(b->dv, c->uuid, buf, len, &r);
    double pct;
    if (fp_reading_get(&r, FP_Q_BATTERY, &pct))
        d->battery = (int)pct;
    spool_reading(b, d, &r, false);
}

static void decode_adv(bluez *b, bz_dev *d, const adv_input *in)
{
    /* With DuplicateData every advertisement is reported; a scale repeats a
     * finished weighing for seconds. Decode a payload once. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < in->nmfg; i++)
        h = h * 31 + bzp_hash((const char *)in->mfg[i].data, in->mfg[i].len) + in->mfg[i].id;
    for (size_t i = 0; i < in->nsvc; i++)
        h = h * 31 + bzp_hash((const char *)in->svc[i].data, in->svc[i].len) + in->svc[i].id;
    if (h == d->adv_hash)
        return;
    d->adv_hash = h;
    fp_reading r[ADV_READINGS_MAX];
    size_t n = 0;
    fp_status st = adv_decode(in, d->address, now_ms(), r, ADV_READINGS_MAX, &n);
    if (st == FP_ERR_UNKNOWN)
        return;
    if (st != FP_OK) {
        b->st.rejected++;
        metric_add(&m_rejected, 1);
        return;
    }
    for (size_t i = 0; i < n; i++)
        spool_reading(b, d, &r[i], true);
}

/* ---- property parsing ---- */

/* Enter a variant if it holds `sig`; otherwise skip it and return 0 (the
 * mock, and old BlueZ versions, sometimes send a different type). */
static int enter_variant(sd_bus_message *m, const char *sig)
{
    const char *contents = NULL;
    int r = sd_bus_message_peek_type(m, NULL, &contents);
    if (r < 0)
        return r;
    if (!contents || strcmp(contents, sig) != 0) {
        r = sd_bus_message_skip(m, "v");
        return r < 0 ? r : 0;
    }
    r = sd_bus_message_enter_container(m, 'v', sig);
    return r < 0 ? r : 1;
}

static int read_string_prop(sd_bus_message *m, char *dst, size_t cap)
{
    int r = enter_variant(m, "s");
    if (r <= 0)
        return r;
    const char *s;
    if ((r = sd_bus_message_read(m, "s", &s)) < 0)
        return r;
    snprintf(dst, cap, "%s", s);
    return sd_bus_message_exit_container(m);
}

static int read_bool_prop(sd_bus_message *m, bool *dst)
{
    int r = enter_variant(m, "b");
    if (r <= 0)
        return r;
    int v;
    if ((r = sd_bus_message_read(m, "b", &v)) < 0)
        return r;
    *dst = v;
    return sd_bus_message_exit_container(m);
}

/* a{qv} or a{sv} of byte arrays into adv_data entries pointing into m. */
static int read_adv_map(sd_bus_message *m, bool mfg, adv_data *out, size_t *n)
{
    int r = enter_variant(m, mfg ? "a{qv}" : "a{sv}");
    if (r <= 0)
        return r;
    if ((r = sd_bus_message_enter_container(m, 'a', mfg ? "{qv}" : "{sv}")) < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'e', mfg ? "qv" : "sv")) > 0) {
        uint16_t id = 0;
        bool ok = true;
        if (mfg) {
            r = sd_bus_message_read(m, "q", &id);
        } else {
            const char *u;
            r = sd_bus_message_read(m, "s", &u);
            ok = r >= 0 && bzp_uuid16(u, &id);
        }
        if (r < 0)
            return r;
        int v = enter_variant(m, "ay");
        if (v < 0)
            return v;
        if (v > 0) {
            const void *p = NULL;
            size_t len = 0;
            if ((r = sd_bus_message_read_array(m, 'y', &p, &len)) < 0)
                return r;
            if (ok && *n < ADV_ENTRIES_MAX)
                out[(*n)++] = (adv_data){id, p, len};
            if ((r = sd_bus_message_exit_container(m)) < 0)
                return r;
        }
        if ((r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if (r < 0)
        return r;
    if ((r = sd_bus_message_exit_container(m)) < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

static int read_uuids(sd_bus_message *m, bz_dev *d)
{
    int r = enter_variant(m, "as");
    if (r <= 0)
        return r;
    if ((r = sd_bus_message_enter_container(m, 'a', "s")) < 0)
        return r;
    d->nuuids = 0;
    const char *s;
    while ((r = sd_bus_message_read(m, "s", &s)) > 0) {
        uint16_t u;
        if (bzp_uuid16(s, &u) && d->nuuids < BZ_UUIDS_MAX)
            d->uuids[d->nuuids++] = u;
    }
    if (r < 0)
        return r;
    if ((r = sd_bus_message_exit_container(m)) < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

/* Walk an a{sv} at m: fn reads (or skips) the variant of each key. */
typedef int (*prop_fn)(void *ctx, const char *key, sd_bus_message *m);

static int for_each_prop(sd_bus_message *m, prop_fn fn, void *ctx)
{
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *k;
        if ((r = sd_bus_message_read(m, "s", &k)) < 0 || (r = fn(ctx, k, m)) < 0 ||
            (r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

typedef struct dev_props {
    bz_dev *d;
    adv_data mfg[ADV_ENTRIES_MAX], svc[ADV_ENTRIES_MAX];
    size_t nmfg, nsvc;
    bool had_adv;
    char alias[64];
} dev_props;

static int device_prop(void *ctx, const char *k, sd_bus_message *m)
{
    dev_props *p = ctx;
    bz_dev *d = p->d;
    int r;
    if (!strcmp(k, "Address")) {
        char a[32] = "";
        r = read_string_prop(m, a, sizeof a);
        if (r >= 0 && bzp_address_valid(a))
            snprintf(d->address, sizeof d->address, "%.17s", a);
        return r;
    }
    if (!strcmp(k, "Name"))
        return read_string_prop(m, d->name, sizeof d->name);
    if (!strcmp(k, "Alias"))
        return read_string_prop(m, p->alias, sizeof p->alias);
    if (!strcmp(k, "RSSI")) {
        r = enter_variant(m, "n");
        if (r > 0 && (r = sd_bus_message_read(m, "n", &d->rssi)) >= 0)
            r = sd_bus_message_exit_container(m);
        return r;
    }
    if (!strcmp(k, "UUIDs"))
        return read_uuids(m, d);
    if (!strcmp(k, "Connected"))
        return read_bool_prop(m, &d->connected);
    if (!strcmp(k, "ServicesResolved"))
        return read_bool_prop(m, &d->resolved);
    if (!strcmp(k, "Paired"))
        return read_bool_prop(m, &d->paired);
    if (!strcmp(k, "ManufacturerData") || !strcmp(k, "ServiceData")) {
        bool mfg = k[0] == 'M';
        p->had_adv = true;
        return read_adv_map(m, mfg, mfg ? p->mfg : p->svc, mfg ? &p->nmfg : &p->nsvc);
    }
    return sd_bus_message_skip(m, "v");
}

/* Device1 properties (a{sv}); m is positioned at the array. */
static int parse_device_props(bluez *b, bz_dev *d, sd_bus_message *m)
{
    bool was_connected = d->connected, was_resolved = d->resolved;
    dev_props pp = {.d = d};
    dev_props *p = &pp;
    int r = for_each_prop(m, device_prop, p);
    if (r < 0)
        return r;
    const char *alias = p->alias;
    if (!d->name[0] && alias[0] && strcmp(alias, d->address) != 0)
        snprintf(d->name, sizeof d->name, "%.63s", alias);
    d->last_seen_ms = now_ms();
    d->last_seen_mono = mono_ms();
    if (p->had_adv && (p->nmfg || p->nsvc) && d->address[0]) {
        adv_input in = {.name = d->name[0] ? d->name : NULL,
                        .mfg = p->mfg,
                        .nmfg = p->nmfg,
                        .svc = p->svc,
                        .nsvc = p->nsvc};
        decode_adv(b, d, &in);
    }
    if (d->connected && !was_connected) {
        d->state = BZ_UP;
        d->attempt = 0;
        derive_forget(b->dv, d->address); /* a gap: no speed across it */
        log_info("ble_connected", "device connected", "device", d->address);
    } else if (!d->connected && was_connected) {
        d->resolved = false;
        dev_flush(b, d);
        for (size_t i = 0; i < d->nchars; i++)
            d->chars[i].notify_requested = false;
        if (d->state != BZ_IDLE) {
            d->state = BZ_IDLE;
            log_info("ble_disconnected", "device disconnected", "device", d->address);
            if (d->present && dev_bound(b, d, NULL))
                schedule_retry(d); /* it dropped on its own */
        }
    }
    if (d->connected && d->resolved && (!was_resolved || !was_connected))
        subscribe_all(d);
    return 0;
}

/* ---- connections ---- */

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)s;
    (void)usec;
    bz_dev *d = userdata;
    d->waiting_retry = false;
    maybe_connect(d->owner);
    return 0;
}

static void schedule_retry(bz_dev *d)
{
    bluez *b = d->owner;
    d->attempt++;
    uint64_t ms =
        bzp_backoff_ms(d->attempt, b->cfg.backoff_base_ms, b->cfg.backoff_max_ms, (uint32_t)rand());
    d->waiting_retry = true;
    sd_event_source_set_time_relative(d->retry, ms * 1000);
    sd_event_source_set_enabled(d->retry, SD_EVENT_ONESHOT);
}

static int on_connect_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bz_dev *d = userdata;
    d->calls--;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    if (e && !sd_bus_error_has_name(e, "org.bluez.Error.AlreadyConnected")) {
        metric_add(&m_dbus_errors, 1);
        log_info("ble_connect_failed", "connect failed", "device", d->address, "error", e->name);
        if (d->state == BZ_CONNECTING && !d->connected)
            d->state = BZ_IDLE;
        if (d->present)
            schedule_retry(d);
        maybe_connect(d->owner);
        return 0;
    }
    if (d->state == BZ_CONNECTING)
        d->state = BZ_UP;
    return 0;
}

static void connect_dev(bluez *b, bz_dev *d)
{
    if (d->connected) {
        d->state = BZ_UP;
        if (d->resolved)
            subscribe_all(d);
        return;
    }
    sd_bus_message *call = NULL;
    int r =
        sd_bus_message_new_method_call(b->bus, &call, "org.bluez", d->path, DEV_IFACE, "Connect");
    if (r >= 0)
        r = sd_bus_call_async(b->bus, NULL, call, on_connect_reply, d, 20 * 1000000ULL);
    sd_bus_message_unref(call);
    d->calls += r >= 0;
    if (r < 0) {
        metric_add(&m_dbus_errors, 1);
        schedule_retry(d);
        return;
    }
    if (d->attempt > 0) {
        b->st.reconnects++;
        metric_add(&m_reconnects, 1);
    }
    d->state = BZ_CONNECTING;
}

static void maybe_connect(bluez *b)
{
    uint32_t busy = 0;
    for (size_t i = 0; i < b->ndev; i++)
        busy += b->devs[i]->state != BZ_IDLE;
    for (size_t i = 0; i < b->ndev; i++) {
        bz_dev *d = b->devs[i];
        bool want = d->present && dev_bound(b, d, NULL);
        if (want && d->state == BZ_IDLE && !d->waiting_retry && busy < b->cfg.max_connections) {
            connect_dev(b, d);
            busy += d->state != BZ_IDLE;
        } else if (!want && d->state != BZ_IDLE) {
            /* Unbound (or session over): let it go, free the slot. */
            sd_bus_call_method_async(b->bus, NULL, "org.bluez", d->path, DEV_IFACE, "Disconnect",
                                     NULL, NULL, "");
            d->state = BZ_IDLE;
            busy--;
        }
    }
    update_gauges(b);
}

/* ---- GATT ---- */

static int on_pair_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bz_dev *d = userdata;
    d->calls--;
    d->pairing = false;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    if (e && !sd_bus_error_has_name(e, "org.bluez.Error.AlreadyExists")) {
        metric_add(&m_dbus_errors, 1);
        log_warn("ble_pair_failed", "pairing failed", "device", d->address, "error", e->name);
        return 0;
    }
    log_info("ble_paired", "device paired", "device", d->address);
    d->paired = true;
    for (size_t i = 0; i < d->nchars; i++)
        d->chars[i].notify_requested = false;
    if (d->connected)
        subscribe_all(d);
    return 0;
}

static int on_notify_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bz_dev *d = userdata;
    d->calls--;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    if (!e)
        return 0;
    metric_add(&m_dbus_errors, 1);
    bool auth = sd_bus_error_has_name(e, "org.bluez.Error.NotPermitted") ||
                sd_bus_error_has_name(e, "org.bluez.Error.NotAuthorized") ||
                sd_bus_error_has_name(e, "org.bluez.Error.AuthenticationRequired");
    if (auth && !d->paired && !d->pairing && d->connected) {
        /* The characteristic needs encryption: bond through our Agent1. */
        d->pairing = sd_bus_call_method_async(d->owner->bus, NULL, "org.bluez", d->path, DEV_IFACE,
                                              "Pair", on_pair_reply, d, "") >= 0;
        d->calls += d->pairing;
        return 0;
    }
    log_info("ble_notify_failed", "StartNotify failed", "device", d->address, "error", e->name);
    return 0;
}

static int on_read_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bz_dev *d = userdata;
    d->calls--;
    const void *p = NULL;
    size_t len = 0;
    uint8_t pct;
    if (!sd_bus_message_get_error(m) && sd_bus_message_read_array(m, 'y', &p, &len) >= 0 &&
        battery_decode(p, len, &pct) == FP_OK)
        d->battery = pct;
    return 0;
}

static void subscribe_char(bz_dev *d, bz_char *c)
{
    if (c->notify_requested || !bzp_char_supported(c->uuid))
        return;
    sd_bus *bus = d->owner->bus;
    if (sd_bus_call_method_async(bus, NULL, "org.bluez", c->path, CHAR_IFACE, "StartNotify",
                                 on_notify_reply, d, "") < 0) {
        metric_add(&m_dbus_errors, 1);
        return;
    }
    c->notify_requested = true;
    d->calls++;
    if (c->uuid == GATT_UUID_BATTERY_LEVEL) /* for the nearby list; not a reading */
        d->calls += sd_bus_call_method_async(bus, NULL, "org.bluez", c->path, CHAR_IFACE,
                                             "ReadValue", on_read_reply, d, "a{sv}", 0) >= 0;
}

static void subscribe_all(bz_dev *d)
{
    bluez *b = d->owner;
    if (!dev_bound(b, d, NULL) && !b->cfg.forward_unbound)
        return;
    bool fresh = false;
    for (size_t i = 0; i < d->nchars; i++) {
        fresh |= !d->chars[i].notify_requested && bzp_char_supported(d->chars[i].uuid);
        subscribe_char(d, &d->chars[i]);
    }
    if (fresh && b->pol.on_ready)
        b->pol.on_ready(b->pol.ctx, d->address);
}

static int char_uuid_prop(void *ctx, const char *k, sd_bus_message *m)
{
    return !strcmp(k, "UUID") ? read_string_prop(m, ctx, 48) : sd_bus_message_skip(m, "v");
}

/* GattCharacteristic1 properties of a new characteristic at path. */
static int add_char(bluez *b, const char *path, sd_bus_message *m)
{
    size_t plen = bzp_device_prefix(path);
    bz_dev *d = plen ? dev_find(b, path, plen) : NULL;
    char u[48] = "";
    uint16_t uuid = 0;
    int r = for_each_prop(m, char_uuid_prop, u);
    if (r < 0)
        return r;
    if (!d || !bzp_uuid16(u, &uuid) || (!bzp_char_supported(uuid) && uuid != FTMS_CP) ||
        char_find(d, path) || d->nchars >= BZ_CHARS_MAX)
        return 0;
    bz_char *c = &d->chars[d->nchars];
    if (!(c->path = strdup(path)))
        return -ENOMEM;
    c->hash = bzp_hash(path, strlen(path));
    c->uuid = uuid;
    c->notify_requested = false;
    d->nchars++;
    if (d->connected && d->resolved && d->state == BZ_UP)
        subscribe_char(d, c);
    return 0;
}

/* ---- adapter and discovery ---- */

static int on_start_discovery(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bluez *b = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    if (e && !sd_bus_error_has_name(e, "org.bluez.Error.InProgress")) {
        metric_add(&m_dbus_errors, 1);
        log_warn("ble_discovery_failed", "StartDiscovery failed", "error", e->name);
        sd_event_source_set_time_relative(b->disc_timer, 10 * 1000000ULL);
        sd_event_source_set_enabled(b->disc_timer, SD_EVENT_ONESHOT);
        return 0;
    }
    log_info("ble_discovering", "discovery started", "adapter", b->adapter);
    return 0;
}

static int on_filter_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bluez *b = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    if (e) /* an old bluetoothd without filters still discovers */
        log_warn("ble_filter_failed", "SetDiscoveryFilter failed", "error", e->name);
    if (b->adapter && sd_bus_call_method_async(b->bus, NULL, "org.bluez", b->adapter, ADAPTER_IF,
                                               "StartDiscovery", on_start_discovery, b, "") < 0)
        metric_add(&m_dbus_errors, 1);
    return 0;
}

int bluez_scan(bluez *b)
{
    if (!b->adapter)
        return -ENODEV;
    sd_bus_message *call = NULL;
    int r = sd_bus_message_new_method_call(b->bus, &call, "org.bluez", b->adapter, ADAPTER_IF,
                                           "SetDiscoveryFilter");
    /* {UUIDs: as, Transport: "le", DuplicateData: true}. DuplicateData is set
     * explicitly: BlueZ 5.66's default (false) contradicts its docs, and
     * advertisement-only devices need every report. */
    if (r >= 0)
        r = sd_bus_message_open_container(call, 'a', "{sv}");
    if (r >= 0)
        r = sd_bus_message_open_container(call, 'e', "sv");
    if (r >= 0)
        r = sd_bus_message_append(call, "s", "UUIDs");
    if (r >= 0)
        r = sd_bus_message_open_container(call, 'v', "as");
    if (r >= 0)
        r = sd_bus_message_open_container(call, 'a', "s");
    for (size_t i = 0; r >= 0 && i < bzp_filter_uuids_n; i++) {
        char u[40];
        snprintf(u, sizeof u, "0000%04x-0000-1000-8000-00805f9b34fb", bzp_filter_uuids[i]);
        r = sd_bus_message_append(call, "s", u);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(call);
    if (r >= 0)
        r = sd_bus_message_close_container(call);
    if (r >= 0)
        r = sd_bus_message_close_container(call);
    if (r >= 0)
        r = sd_bus_message_append(call, "{sv}{sv}", "Transport", "s", "le", "DuplicateData", "b",
                                  1);
    if (r >= 0)
        r = sd_bus_message_close_container(call);
    if (r >= 0)
        r = sd_bus_call_async(b->bus, NULL, call, on_filter_reply, b, 0);
    sd_bus_message_unref(call);
    if (r < 0)
        metric_add(&m_dbus_errors, 1);
    return r < 0 ? r : 0;
}

static int on_disc_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)s;
    (void)usec;
    bluez_scan(userdata);
    return 0;
}

static void use_adapter(bluez *b, const char *path)
{
    if (b->adapter)
        return;
    const char *leaf = strrchr(path, '/');
    if (b->adapter_name[0] && (!leaf || strcmp(leaf + 1, b->adapter_name) != 0))
        return;
    if (!(b->adapter = strdup(path)))
        return;
    log_info("ble_adapter", "using adapter", "adapter", path);
    bluez_scan(b);
}

/* ---- ObjectManager ---- */

/* One object's a{sa{sv}}: m is positioned at the array. */
static int parse_object(bluez *b, const char *path, sd_bus_message *m)
{
    int r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
        const char *iface;
        if ((r = sd_bus_message_read(m, "s", &iface)) < 0)
            return r;
        if (!strcmp(iface, DEV_IFACE)) {
            bz_dev *d = dev_get(b, path);
            if (d) {
                bool was = d->present;
                d->present = true;
                r = parse_device_props(b, d, m);
                if (!was)
                    d->attempt = 0; /* it is back: no need to wait */
            } else {
                r = sd_bus_message_skip(m, "a{sv}");
            }
        } else if (!strcmp(iface, CHAR_IFACE)) {
            r = add_char(b, path, m);
        } else if (!strcmp(iface, ADAPTER_IF)) {
            r = sd_bus_message_skip(m, "a{sv}");
            use_adapter(b, path);
        } else {
            r = sd_bus_message_skip(m, "a{sv}");
        }
        if (r < 0)
            return r;
        if ((r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

static int on_added(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bluez *b = userdata;
    const char *path;
    if (sd_bus_message_read(m, "o", &path) < 0 || parse_object(b, path, m) < 0) {
        metric_add(&m_rejected, 1);
        return 0;
    }
    maybe_connect(b);
    return 0;
}

static int on_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bluez *b = userdata;
    const char *path, *iface;
    if (sd_bus_message_read(m, "o", &path) < 0 || sd_bus_message_enter_container(m, 'a', "s") < 0)
        return 0;
    while (sd_bus_message_read(m, "s", &iface) > 0) {
        if (!strcmp(iface, DEV_IFACE)) {
            bz_dev *d = dev_find(b, path, strlen(path));
            if (!d)
                continue;
            /* Out of range (or BlueZ forgot it): remember it, but it is not
             * nearby any more; InterfacesAdded brings it back. */
            dev_flush(b, d);
            d->present = d->connected = d->resolved = false;
            d->state = BZ_IDLE;
            d->waiting_retry = false;
            sd_event_source_set_enabled(d->retry, SD_EVENT_OFF);
            for (size_t i = 0; i < d->nchars; i++)
                char_clear(&d->chars[i]);
            d->nchars = 0;
            log_info("ble_gone", "device gone", "device", d->address);
        } else if (!strcmp(iface, CHAR_IFACE)) {
            size_t plen = bzp_device_prefix(path);
            bz_dev *d = plen ? dev_find(b, path, plen) : NULL;
            if (d)
                char_remove(d, path);
        } else if (!strcmp(iface, ADAPTER_IF) && b->adapter && !strcmp(path, b->adapter)) {
            log_warn("ble_adapter_gone", "adapter removed", "adapter", path);
            free(b->adapter);
            b->adapter = NULL;
        }
    }
    maybe_connect(b);
    return 0;
}

typedef struct value_ctx {
    bluez *b;
    bz_dev *d;
    bz_char *c;
} value_ctx;

static int value_prop(void *ctx, const char *k, sd_bus_message *m)
{
    value_ctx *v = ctx;
    if (strcmp(k, "Value") != 0)
        return sd_bus_message_skip(m, "v");
    int r = enter_variant(m, "ay");
    if (r <= 0)
        return r;
    const void *p = NULL;
    size_t len = 0;
    if ((r = sd_bus_message_read_array(m, 'y', &p, &len)) < 0)
        return r;
    on_value(v->b, v->d, v->c, p, len);
    return sd_bus_message_exit_container(m);
}

static int on_props(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bluez *b = userdata;
    const char *iface, *path = sd_bus_message_get_path(m);
    if (!path || sd_bus_message_read(m, "s", &iface) < 0)
        return 0;
    if (!strcmp(iface, CHAR_IFACE)) {
        /* The hot path: one notification. */
        size_t plen = bzp_device_prefix(path);
        bz_dev *d = plen ? dev_find(b, path, plen) : NULL;
        bz_char *c = d ? char_find(d, path) : NULL;
        if (c && c->notify_requested) {
            value_ctx vc = {b, d, c};
            for_each_prop(m, value_prop, &vc);
        }
        return 0;
    }
    if (!strcmp(iface, DEV_IFACE)) {
        bz_dev *d = dev_find(b, path, strlen(path));
        if (!d || !d->present)
            return 0;
        if (parse_device_props(b, d, m) < 0)
            metric_add(&m_rejected, 1);
        maybe_connect(b);
    }
    return 0;
}

static int on_managed(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bluez *b = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    if (e) {
        log_warn("ble_unavailable", "BlueZ not reachable yet", "error", e->name);
        return 0;
    }
    int r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
    while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
        const char *path;
        if ((r = sd_bus_message_read(m, "o", &path)) < 0 || (r = parse_object(b, path, m)) < 0)
            break;
        r = sd_bus_message_exit_container(m);
    }
    if (r < 0)
        log_warn("ble_objects", "could not parse BlueZ objects", "error", strerror(-r));
    maybe_connect(b);
    return 0;
}

/* ---- Agent1 ---- */

static int agent_ok(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
    (void)userdata;
    (void)err;
    return sd_bus_reply_method_return(m, "");
}

static int agent_reject(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
    (void)userdata;
    (void)m;
    /* No keyboard and no display on a gateway: PIN and passkey entry cannot
     * work; Just Works (confirmation) is what such devices use. */
    return sd_bus_error_set(err, "org.bluez.Error.Rejected", "no input on this gateway");
}

/* Confirm/authorize only devices someone bound: a stranger cannot bond. */
static int agent_confirm(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
    bluez *b = userdata;
    const char *path;
    if (sd_bus_message_read(m, "o", &path) < 0)
        return sd_bus_error_set(err, "org.bluez.Error.Rejected", "bad request");
    bz_dev *d = dev_find(b, path, strlen(path));
    if (!d || !dev_bound(b, d, NULL))
        return sd_bus_error_set(err, "org.bluez.Error.Rejected", "device not bound");
    return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable agent_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Release", "", "", agent_ok, 0),
    SD_BUS_METHOD("RequestPinCode", "o", "s", agent_reject, 0),
    SD_BUS_METHOD("DisplayPinCode", "os", "", agent_ok, 0),
    SD_BUS_METHOD("RequestPasskey", "o", "u", agent_reject, 0),
    SD_BUS_METHOD("DisplayPasskey", "ouq", "", agent_ok, 0),
    SD_BUS_METHOD("RequestConfirmation", "ou", "", agent_confirm, 0),
    SD_BUS_METHOD("RequestAuthorization", "o", "", agent_confirm, 0),
    SD_BUS_METHOD("AuthorizeService", "os", "", agent_confirm, 0),
    SD_BUS_METHOD("Cancel", "", "", agent_ok, 0),
    SD_BUS_VTABLE_END,
};

static int on_agent_registered(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bluez *b = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    if (e && !sd_bus_error_has_name(e, "org.bluez.Error.AlreadyExists")) {
        log_warn("ble_agent_failed", "agent registration failed", "error", e->name);
        return 0;
    }
    sd_bus_call_method_async(b->bus, NULL, "org.bluez", "/org/bluez", "org.bluez.AgentManager1",
                             "RequestDefaultAgent", NULL, NULL, "o", AGENT_PATH);
    return 0;
}

/* BlueZ (re)appeared: learn everything again. */
static void sync_bluez(bluez *b)
{
    sd_bus_call_method_async(b->bus, NULL, "org.bluez", "/", OM_IFACE, "GetManagedObjects",
                             on_managed, b, "");
    sd_bus_call_method_async(b->bus, NULL, "org.bluez", "/org/bluez", "org.bluez.AgentManager1",
                             "RegisterAgent", on_agent_registered, b, "os", AGENT_PATH,
                             "NoInputNoOutput");
}

static int on_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    bluez *b = userdata;
    const char *name, *old, *new;
    if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, "org.bluez") != 0)
        return 0;
    for (size_t i = 0; i < b->ndev; i++) {
        bz_dev *d = b->devs[i];
        dev_flush(b, d);
        d->present = d->connected = d->resolved = false;
        d->state = BZ_IDLE;
        for (size_t j = 0; j < d->nchars; j++)
            char_clear(&d->chars[j]);
        d->nchars = 0;
    }
    free(b->adapter);
    b->adapter = NULL;
    if (new &&new[0]) {
        log_info("ble_bluez_up", "bluetoothd appeared");
        sync_bluez(b);
    } else {
        log_warn("ble_bluez_down", "bluetoothd went away");
    }
    update_gauges(b);
    return 0;
}

/* ---- public ---- */

int bluez_new(bluez **out, sd_event *ev, spool *sp, derive *dv, const bluez_config *cfg,
              const bluez_policy *pol)
{
    *out = NULL;
    bluez_metrics_init();
    bluez *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->ev = sd_event_ref(ev);
    b->sp = sp;
    b->dv = dv;
    b->cfg = *cfg;
    snprintf(b->adapter_name, sizeof b->adapter_name, "%s", cfg->adapter ? cfg->adapter : "");
    b->cfg.adapter = NULL;
    if (!b->cfg.max_connections)
        b->cfg.max_connections = 7;
    if (!b->cfg.max_devices)
        b->cfg.max_devices = 512;
    if (!b->cfg.backoff_base_ms)
        b->cfg.backoff_base_ms = 500;
    if (!b->cfg.stale_ms)
        b->cfg.stale_ms = 60000;
    b->pol = *pol;
    int r = sd_bus_open_system(&b->bus); /* honours DBUS_SYSTEM_BUS_ADDRESS */
    if (r >= 0)
        r = sd_bus_attach_event(b->bus, ev, SD_EVENT_PRIORITY_NORMAL);
    if (r >= 0)
        r = sd_bus_match_signal_async(b->bus, NULL, "org.bluez", "/", OM_IFACE, "InterfacesAdded",
                                      on_added, NULL, b);
    if (r >= 0)
        r = sd_bus_match_signal_async(b->bus, NULL, "org.bluez", "/", OM_IFACE, "InterfacesRemoved",
                                      on_removed, NULL, b);
    if (r >= 0)
        r = sd_bus_match_signal_async(b->bus, NULL, "org.bluez", NULL, PROPS_IFACE,
                                      "PropertiesChanged", on_props, NULL, b);
    if (r >= 0)
        r = sd_bus_match_signal_async(b->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", on_owner, NULL,
                                      b);
    if (r >= 0)
        r = sd_bus_add_object_vtable(b->bus, NULL, AGENT_PATH, "org.bluez.Agent1", agent_vtable, b);
    if (r >= 0)
        r = sd_event_add_time_relative(ev, &b->disc_timer, CLOCK_MONOTONIC, 1000000, 100000,
                                       on_disc_timer, b);
    if (r < 0) {
        log_error("ble_start_failed", "cannot use the system D-Bus", "error", strerror(-r));
        bluez_free(b);
        return r;
    }
    sd_event_source_set_enabled(b->disc_timer, SD_EVENT_OFF);
    sync_bluez(b);
    *out = b;
    return 0;
}

void bluez_free(bluez *b)
{
    if (!b)
        return;
    if (b->bus && b->adapter)
        sd_bus_call_method(b->bus, "org.bluez", b->adapter, ADAPTER_IF, "StopDiscovery", NULL, NULL,
                           "");
    /* Close the bus before the devices go: pending replies point at them. */
    if (b->bus) {
        sd_bus_flush(b->bus);
        sd_bus_detach_event(b->bus);
        sd_bus_flush_close_unref(b->bus);
        b->bus = NULL;
    }
    for (size_t i = 0; i < b->ndev; i++) {
        dev_flush(b, b->devs[i]); /* the spool is still open: nothing is lost */
        dev_free(b->devs[i]);
    }
    free(b->devs);
    free(b->adapter);
    b->disc_timer = sd_event_source_disable_unref(b->disc_timer);
    sd_event_unref(b->ev);
    free(b);
}

void bluez_refresh(bluez *b)
{
    for (size_t i = 0; i < b->ndev; i++) {
        bz_dev *d = b->devs[i];
        if (d->connected && d->resolved && d->state == BZ_UP)
            subscribe_all(d);
    }
    maybe_connect(b);
}

void bluez_foreach(bluez *b, bluez_device_fn fn, void *ctx)
{
    uint64_t now = mono_ms();
    for (size_t i = 0; i < b->ndev; i++) {
        bz_dev *d = b->devs[i];
        bool bound = dev_bound(b, d, NULL);
        if (!d->address[0] || (!d->present && !bound) ||
            (!d->connected && now - d->last_seen_mono > b->cfg.stale_ms && !bound))
            continue;
        bluez_device_info info = {
            .address = d->address,
            .name = d->name,
            .rssi = d->rssi,
            .battery = d->battery,
            .services = d->uuids,
            .nservices = d->nuuids,
            .connected = d->connected,
            .bound = bound,
            .last_seen_ms = d->last_seen_ms,
        };
        fn(ctx, &info);
    }
}

bool bluez_known(bluez *b, const char *address)
{
    bz_dev *d = dev_by_address(b, address);
    return d && d->present;
}

int bluez_ftms_control(bluez *b, const char *address, uint8_t op, int param)
{
    bz_dev *d = dev_by_address(b, address);
    if (!d || !d->connected)
        return -ENOENT;
    for (size_t i = 0; i < d->nchars; i++) {
        if (d->chars[i].uuid != FTMS_CP)
            continue;
        uint8_t buf[2] = {op, (uint8_t)param};
        sd_bus_message *call = NULL;
        int r = sd_bus_message_new_method_call(b->bus, &call, "org.bluez", d->chars[i].path,
                                               CHAR_IFACE, "WriteValue");
        if (r >= 0)
            r = sd_bus_message_append_array(call, 'y', buf, param >= 0 ? 2 : 1);
        if (r >= 0)
            r = sd_bus_message_append(call, "a{sv}", 1, "type", "s", "request");
        if (r >= 0)
            r = sd_bus_call_async(b->bus, NULL, call, NULL, NULL, 0);
        sd_bus_message_unref(call);
        return r < 0 ? r : 0;
    }
    return -ENOENT;
}

void bluez_get_stats(const bluez *b, bluez_stats *out)
{
    *out = b->st;
}
