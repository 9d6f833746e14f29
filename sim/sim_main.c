/* fitgate-sim - simulated fitness and health devices publishing raw GATT
 * notifications to the gateway's local MQTT broker.
 *
 *   fit/v1/dev/<device>/gatt/<uuid> the kind's main notification (devices.h):
 *                                   2a37 Heart Rate Measurement by default
 *   fit/v1/dev/<device>/gatt/2a19   Battery Level, one byte
 *
 * Devices are served round-robin, paced against absolute deadlines on the
 * monotonic clock so the rate never drifts. Each tick advances one device by
 * 1/rate simulated seconds; a scale or cuff between measurements sends nothing
 * on its tick. With --count the run is exact: that many main notifications are
 * handed to libmosquitto (a QoS 0 publish the broker was not connected for is
 * retried), and the process waits for every completion (PUBACK/PUBCOMP with a
 * reason < 0x80, or the write for QoS 0).
 *
 * Threads: libmosquitto's loop thread does the network I/O and calls back
 * on_publish; the main thread models, paces and publishes. They share only
 * `struct sim` counters (under `lock`) and the per-message-id kind table
 * (atomics, see mark_kind()).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "fitcommon/log.h"
#include "fitdrivers/gatt.h"
#include "fitproto/msg.h"
#include "devices.h"

#define SIM_DEVICES_MAX 100000
#define SIM_TOPIC_MAX   (FP_DEVICE_MAX + 32)
#define SIM_MID_SLOTS   65536 /* MQTT packet ids are 16 bits */

typedef struct sim_opts {
    const char *host;
    int port;
    uint32_t devices;
    const char *prefix;
    double rate;    /* per device, Hz; 0 = as fast as possible */
    uint64_t count; /* main notifications in total; 0 = until a signal */
    simd_kind kind; /* SIMD_MIXED: device i plays kind i mod SIMD__COUNT */
    int qos;
    double battery_every; /* s per device; 0 = never */
    uint64_t seed;
    char client_id[64];
    int stats;
    int inflight;         /* max unacknowledged messages */
    double drain_timeout; /* s to wait for the last acks */
    double connect_timeout;
    log_level level;
} sim_opts;

typedef struct sim_device {
    simd_device model;
    char topic_hr[SIM_TOPIC_MAX]; /* the main notification, whatever the kind */
    char topic_battery[SIM_TOPIC_MAX];
} sim_device;

/* What a message id was used for. A completion may arrive before the main
 * thread has recorded the kind (the loop thread is fast): the callback then
 * parks the outcome in the slot and the main thread settles it. KIND_HR stands
 * for the main notification of any device kind. */
enum { KIND_NONE = 0, KIND_HR = 1, KIND_BATTERY = 2, DONE_OK = 0x10, DONE_FAIL = 0x11 };

typedef struct sim {
    sim_opts opt;
    sim_device *dev;
    struct mosquitto *mosq;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled on every completion and (dis)connect */
    int connected;
    uint64_t hr_published, hr_acked, hr_failed;
    uint64_t bat_published, bat_acked, bat_failed;
    uint64_t outstanding; /* published, not yet completed */

    _Atomic uint8_t kind[SIM_MID_SLOTS];
} sim;

static volatile sig_atomic_t sim_stop;

static void on_signal(int sig)
{
    (void)sig;
    sim_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- completions ---- */

/* Count one finished message of `kind`; caller holds no lock. */
static void settle(sim *s, int kind, int ok)
{
    pthread_mutex_lock(&s->lock);
    if (kind == KIND_HR)
        ok ? s->hr_acked++ : s->hr_failed++;
    else
        ok ? s->bat_acked++ : s->bat_failed++;
    s->outstanding--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Main thread, right after a successful publish: record what `mid` was. */
static void mark_kind(sim *s, int mid, int kind)
{
    uint8_t old = atomic_exchange(&s->kind[mid & 0xFFFF], (uint8_t)kind);
    if (old == DONE_OK || old == DONE_FAIL) {
        atomic_store(&s->kind[mid & 0xFFFF], KIND_NONE);
        settle(s, kind, old == DONE_OK);
    }
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    sim *s = obj;
    int ok = reason < 0x80;
    uint8_t old = atomic_exchange(&s->kind[mid & 0xFFFF], ok ? DONE_OK : DONE_FAIL);
    if (old == KIND_HR || old == KIND_BATTERY) {
        atomic_store(&s->kind[mid & 0xFFFF], KIND_NONE);
        settle(s, old, ok);
    }
    if (!ok) {
        char code[16];
        snprintf(code, sizeof code, "0x%02x", reason);
        log_warn("publish_failed", "broker refused a publish", "reason", code, "reason_str",
                 mosquitto_reason_string(reason));
    }
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)flags;
    (void)props;
    sim *s = obj;
    if (rc != 0) {
        log_warn("mqtt_connect", "broker refused the connection", "reason",
                 mosquitto_reason_string(rc));
        return;
    }
    log_info("mqtt_connect", "connected to broker");
    pthread_mutex_lock(&s->lock);
    s->connected = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    sim *s = obj;
    pthread_mutex_lock(&s->lock);
    int was = s->connected;
    s->connected = 0;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (was && rc != 0)
        log_warn("mqtt_disconnect", "lost the broker, reconnecting", "error",
                 mosquitto_strerror(rc));
}

/* Wait on the condition until pred(s) holds, a signal arrives or `deadline`
 * (monotonic seconds, 0 = none) passes. Returns pred(s). Caller holds lock. */
static int wait_for(sim *s, int (*pred)(const sim *), double deadline, int stop_on_signal)
{
    while (!pred(s)) {
        if (stop_on_signal && sim_stop)
            break;
        if (deadline > 0 && now_s() >= deadline)
            break;
        /* Short ticks: a signal does not interrupt pthread_cond_timedwait. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    return pred(s);
}

static int is_connected(const sim *s)
{
    return s->connected;
}

static int has_room(const sim *s)
{
    return s->outstanding < (uint64_t)s->opt.inflight;
}

static int all_done(const sim *s)
{
    return s->outstanding == 0;
}

/* ---- publishing ---- */

/* Publish one message; blocks while the in-flight window is full. Returns 0
 * when the message was handed to libmosquitto (a completion will follow), -1
 * when it was not and never will be (counted as failed), 1 on a stop signal
 * before it could be sent. */
static int publish(sim *s, const char *topic, const uint8_t *buf, size_t len, int kind)
{
    pthread_mutex_lock(&s->lock);
    if (!wait_for(s, has_room, 0, 1)) {
        pthread_mutex_unlock(&s->lock);
        return 1;
    }
    s->outstanding++;
    kind == KIND_HR ? s->hr_published++ : s->bat_published++;
    pthread_mutex_unlock(&s->lock);

    for (;;) {
        int mid = 0;
        int rc = mosquitto_publish_v5(s->mosq, &mid, topic, (int)len, buf, s->opt.qos, false, NULL);
        /* QoS 1/2: NO_CONN still leaves the message queued in libmosquitto,
         * which sends it after reconnecting. */
        if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && s->opt.qos > 0)) {
            mark_kind(s, mid, kind);
            return 0;
        }
        if (rc == MOSQ_ERR_NO_CONN && !sim_stop) {
            /* QoS 0 while disconnected: the message was dropped; wait and
             * send it again so --count stays exact. */
            pthread_mutex_lock(&s->lock);
            wait_for(s, is_connected, 0, 1);
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        log_error("publish_error", "publish failed", "error", mosquitto_strerror(rc));
        settle(s, kind, 0);
        return rc == MOSQ_ERR_NO_CONN ? 1 : -1;
    }
}

/* Advance the device by dt; publish its notification if it has one. Returns
 * publish()'s result, or 2 when the device had nothing to send. */
static int publish_hr(sim *s, sim_device *d, double dt)
{
    uint8_t buf[SIMD_NOTIFY_MAX];
    size_t len = simd_step(&d->model, dt, buf, sizeof buf);
    if (len == 0)
        return 2;
    return publish(s, d->topic_hr, buf, len, KIND_HR);
}

static int publish_battery(sim *s, sim_device *d)
{
    uint8_t level = simd_battery(&d->model);
    return publish(s, d->topic_battery, &level, 1, KIND_BATTERY);
}

static void sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_nsec = 999999999L;
    /* EINTR (a signal) just returns early; the caller checks sim_stop. */
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* The publishing loop: device ticks round-robin on a fixed schedule (a tick
 * is one main notification unless the device has nothing to send), battery
 * levels interleaved on their own schedule. k counts what was published. */
static void run(sim *s, double start)
{
    const sim_opts *o = &s->opt;
    uint32_t n = o->devices;
    double hr_interval = o->rate > 0 ? 1.0 / (o->rate * n) : 0;
    double dt = o->rate > 0 ? 1.0 / o->rate : 1.0; /* simulated s per notification */
    double bat_interval = o->battery_every > 0 ? o->battery_every / n : 0;
    double next_bat = start;
    uint64_t k = 0, tick = 0;
    uint32_t bat_idx = 0;

    while (!sim_stop && (o->count == 0 || k < o->count)) {
        double next_hr = start + (double)tick * hr_interval;
        double wake = next_hr;
        if (bat_interval > 0 && next_bat < wake)
            wake = next_bat;
        if (hr_interval > 0 && wake > now_s()) {
            sleep_until(wake);
            continue;
        }
        if (bat_interval > 0 && next_bat <= now_s()) {
            if (publish_battery(s, &s->dev[bat_idx]) > 0)
                break;
            bat_idx = (bat_idx + 1) % n;
            next_bat += bat_interval;
            continue;
        }
        int rc = publish_hr(s, &s->dev[tick % n], dt);
        tick++;
        if (rc == 1)
            break;
        if (rc != 2)
            k++;
    }
}

/* ---- set-up ---- */

static int setup_devices(sim *s)
{
    const sim_opts *o = &s->opt;
    s->dev = calloc(o->devices, sizeof *s->dev);
    if (!s->dev) {
        log_error("nomem", "cannot allocate devices");
        return -1;
    }
    for (uint32_t i = 0; i < o->devices; i++) {
        sim_device *d = &s->dev[i];
        char id[FP_DEVICE_MAX + 16];
        int n = snprintf(id, sizeof id, "%s%04" PRIu32, o->prefix, i + 1);
        simd_kind kind = simd_kind_of(o->kind, i);
        if (n < 0 || (size_t)n > FP_DEVICE_MAX ||
            fp_topic_device(d->topic_hr, sizeof d->topic_hr, id, simd_uuid(kind)) ||
            fp_topic_device(d->topic_battery, sizeof d->topic_battery, id,
                            GATT_UUID_BATTERY_LEVEL)) {
            fprintf(stderr, "fitgate-sim: invalid device id '%s' (--prefix)\n", id);
            return -1;
        }
        simd_init(&d->model, kind, o->seed, i);
    }
    return 0;
}

static int setup_mqtt(sim *s)
{
    const sim_opts *o = &s->opt;
    s->mosq = mosquitto_new(o->client_id, true, s);
    if (!s->mosq) {
        log_error("mqtt_init", "mosquitto_new failed");
        return -1;
    }
    mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(s->mosq, MOSQ_OPT_SEND_MAXIMUM, o->inflight);
    mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_reconnect_delay_set(s->mosq, 1, 5, false);
    mosquitto_connect_v5_callback_set(s->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(s->mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(s->mosq, on_publish);

    /* Retry the first connection ourselves: libmosquitto's loop thread only
     * reconnects once a connection has existed, and a broker started at the
     * same moment as the simulator (make run) may not listen yet. */
    double deadline = now_s() + o->connect_timeout;
    int rc;
    while ((rc = mosquitto_connect(s->mosq, o->host, o->port, 30)) != MOSQ_ERR_SUCCESS) {
        if (rc != MOSQ_ERR_ERRNO || sim_stop || now_s() >= deadline) {
            log_error("mqtt_connect", "cannot connect", "host", o->host, "error",
                      rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            return -1;
        }
        sleep_until(now_s() + 0.2);
    }
    /* The loop thread must not take SIGINT/SIGTERM: block them while it is
     * created (it inherits the mask). */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    rc = mosquitto_loop_start(s->mosq);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_error("mqtt_loop", "cannot start the network thread", "error", mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fitgate-sim [options]\n"
            "Publish simulated device notifications (raw GATT bytes) to MQTT:\n"
            "  fit/v1/dev/<device>/gatt/<uuid> and .../gatt/2a19 (battery)\n\n"
            "  --host H            broker host (127.0.0.1)\n"
            "  --port P            broker port (1883)\n"
            "  --devices N         simulated devices (1)\n"
            "  --kind K            hr|bike|treadmill|rower|cross_trainer|csc|rsc|power|\n"
            "                      scale|bp|spo2|thermo|mixed (hr); mixed: device i\n"
            "                      plays kind i mod 12 in that order\n"
            "  --prefix S          device id prefix; ids are <prefix>0001... (sim-)\n"
            "  --rate HZ           notifications per second per device (1.0; 0 = max speed)\n"
            "  --count N           main notifications in total, then exit (0 = until SIGINT)\n"
            "  --qos Q             0, 1 or 2 (2)\n"
            "  --battery-every S   battery level per device every S seconds (60; 0 = never);\n"
            "                      not counted in --count\n"
            "  --seed N            model seed (1)\n"
            "  --client-id S       MQTT client id (fitgate-sim-<pid>)\n"
            "  --inflight N        max unacknowledged messages (1000)\n"
            "  --drain-timeout S   wait at most S seconds for the last acks (30)\n"
            "  --connect-timeout S wait at most S seconds for the broker (30)\n"
            "  --log-level L       debug|info|warn|error (info)\n"
            "  --stats             print a JSON summary line on stdout at exit\n"
            "  --help\n"
            "Exit status: 0 when every publish was acknowledged, 1 otherwise, 2 on bad usage.\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Returns 0 to run, 1 when --help was printed, -1 on a usage error. */
static int parse_options(int argc, char **argv, sim_opts *o)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_DEVICES,
        O_PREFIX,
        O_RATE,
        O_COUNT,
        O_QOS,
        O_BATTERY,
        O_SEED,
        O_CLIENT,
        O_STATS,
        O_INFLIGHT,
        O_DRAIN,
        O_CONNECT,
        O_LEVEL,
        O_HELP,
        O_KIND
    };
    static const struct option longopts[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"devices", required_argument, 0, O_DEVICES},
        {"prefix", required_argument, 0, O_PREFIX},
        {"rate", required_argument, 0, O_RATE},
        {"count", required_argument, 0, O_COUNT},
        {"qos", required_argument, 0, O_QOS},
        {"battery-every", required_argument, 0, O_BATTERY},
        {"seed", required_argument, 0, O_SEED},
        {"client-id", required_argument, 0, O_CLIENT},
        {"stats", no_argument, 0, O_STATS},
        {"inflight", required_argument, 0, O_INFLIGHT},
        {"drain-timeout", required_argument, 0, O_DRAIN},
        {"connect-timeout", required_argument, 0, O_CONNECT},
        {"log-level", required_argument, 0, O_LEVEL},
        {"help", no_argument, 0, O_HELP},
        {"kind", required_argument, 0, O_KIND},
        {0, 0, 0, 0},
    };
    *o = (sim_opts){.host = "127.0.0.1",
                    .port = 1883,
                    .devices = 1,
                    .prefix = "sim-",
                    .rate = 1.0,
                    .kind = SIMD_HR,
                    .qos = 2,
                    .battery_every = 60,
                    .seed = 1,
                    .inflight = 1000,
                    .drain_timeout = 30,
                    .connect_timeout = 30,
                    .level = LOG_INFO};
    snprintf(o->client_id, sizeof o->client_id, "fitgate-sim-%ld", (long)getpid());

    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_HOST:
            o->host = optarg;
            break;
        case O_PORT:
            bad = parse_u64(optarg, 65535, &v) || v == 0;
            o->port = (int)v;
            break;
        case O_DEVICES:
            bad = parse_u64(optarg, SIM_DEVICES_MAX, &v) || v == 0;
            o->devices = (uint32_t)v;
            break;
        case O_PREFIX:
            o->prefix = optarg;
            break;
        case O_RATE:
            bad = parse_double(optarg, 1e6, &o->rate);
            break;
        case O_COUNT:
            bad = parse_u64(optarg, UINT64_MAX, &o->count);
            break;
        case O_QOS:
            bad = parse_u64(optarg, 2, &v);
            o->qos = (int)v;
            break;
        case O_BATTERY:
            bad = parse_double(optarg, 86400.0 * 365, &o->battery_every);
            break;
        case O_SEED:
            bad = parse_u64(optarg, UINT64_MAX, &o->seed);
            break;
        case O_CLIENT:
            bad = strlen(optarg) == 0 || strlen(optarg) >= sizeof o->client_id;
            if (!bad)
                snprintf(o->client_id, sizeof o->client_id, "%s", optarg);
            break;
        case O_STATS:
            o->stats = 1;
            break;
        case O_INFLIGHT:
            bad = parse_u64(optarg, 65535, &v) || v == 0;
            o->inflight = (int)v;
            break;
        case O_DRAIN:
            bad = parse_double(optarg, 86400, &o->drain_timeout);
            break;
        case O_CONNECT:
            bad = parse_double(optarg, 86400, &o->connect_timeout);
            break;
        case O_LEVEL:
            bad = log_level_parse(optarg, &o->level) != 0;
            break;
        case O_KIND:
            bad = simd_kind_parse(optarg, &o->kind) != 0;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "fitgate-sim: bad value '%s' for --%s\n", optarg,
                    longopts[c - O_HOST].name);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fitgate-sim: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static void print_stats(sim *s, double elapsed)
{
    pthread_mutex_lock(&s->lock);
    printf("{\"published\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"failed\":%" PRIu64
           ",\"unacked\":%" PRIu64 ",\"battery\":%" PRIu64 ",\"battery_failed\":%" PRIu64
           ",\"elapsed_s\":%.3f,\"rate\":%.1f}\n",
           s->hr_published, s->hr_acked, s->hr_failed, s->outstanding, s->bat_published,
           s->bat_failed, elapsed, elapsed > 0 ? (double)s->hr_acked / elapsed : 0.0);
    pthread_mutex_unlock(&s->lock);
    fflush(stdout);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: sleeps return early */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    static sim s; /* large (the kind table); zeroed, lives for the process */
    int prc = parse_options(argc, argv, &s.opt);
    if (prc)
        return prc > 0 ? 0 : 2;
    log_init("fitgate-sim", s.opt.level);
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    install_signals();
    if (setup_devices(&s)) {
        free(s.dev);
        return 2;
    }
    mosquitto_lib_init();

    int ok = 0;
    double start = 0, end = 0;
    if (setup_mqtt(&s) == 0) {
        pthread_mutex_lock(&s.lock);
        int up = wait_for(&s, is_connected, now_s() + s.opt.connect_timeout, 1);
        pthread_mutex_unlock(&s.lock);
        if (!up && !sim_stop)
            log_error("mqtt_connect", "no broker connection", "host", s.opt.host);
        if (up) {
            start = now_s();
            run(&s, start);
            /* Every publish handed over gets its completion; a signal during
             * the drain is not a reason to give up on acks already due. */
            pthread_mutex_lock(&s.lock);
            wait_for(&s, all_done, now_s() + s.opt.drain_timeout, 0);
            ok = s.hr_failed == 0 && s.bat_failed == 0 && s.outstanding == 0 &&
                 (s.opt.count == 0 || s.hr_acked == s.opt.count);
            pthread_mutex_unlock(&s.lock);
            end = now_s();
        }
        mosquitto_disconnect_v5(s.mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
        mosquitto_loop_stop(s.mosq, false);
    }
    if (s.opt.stats)
        print_stats(&s, end - start);
    if (!ok)
        log_warn("sim_incomplete", "not every notification was acknowledged");
    mosquitto_destroy(s.mosq);
    mosquitto_lib_cleanup();
    free(s.dev);
    return ok ? 0 : 1;
}
