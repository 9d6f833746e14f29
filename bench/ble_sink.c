/* ble_sink.c - the ceiling for bench/bluez.py: count GATT notifications
 * (PropertiesChanged on org.bluez.GattCharacteristic1 with a Value) on the
 * system bus as fast as sd-bus delivers them, decoding nothing.
 *
 *   ble_sink N TIMEOUT_S   prints "ready", then one JSON line when N arrived
 *                          (or at the timeout): {"count","seconds","cpu_s"}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-bus.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

typedef struct sink {
    long count;
    double first, last;
} sink;

static int on_props(sd_bus_message *m, void *userdata, sd_bus_error *ret)
{
    (void)ret;
    sink *s = userdata;
    const char *iface;
    if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, "org.bluez.GattCharacteristic1"))
        return 0;
    /* Touch the value as a consumer must: find it and take the bytes. */
    if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
        return 0;
    while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
        const char *k;
        if (sd_bus_message_read(m, "s", &k) < 0)
            return 0;
        if (!strcmp(k, "Value") && sd_bus_message_enter_container(m, 'v', "ay") > 0) {
            const void *p;
            size_t n;
            if (sd_bus_message_read_array(m, 'y', &p, &n) >= 0) {
                double t = now_s();
                if (!s->count++)
                    s->first = t;
                s->last = t;
            }
            sd_bus_message_exit_container(m);
        } else {
            sd_bus_message_skip(m, "v");
        }
        sd_bus_message_exit_container(m);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fprintf(stderr, "usage: ble_sink N TIMEOUT_S\n"), 2;
    long want = atol(argv[1]);
    double deadline = now_s() + atof(argv[2]);
    sd_bus *bus = NULL;
    sink s = {0};
    if (sd_bus_open_system(&bus) < 0 ||
        sd_bus_match_signal(bus, NULL, "org.bluez", NULL, "org.freedesktop.DBus.Properties",
                            "PropertiesChanged", on_props, &s) < 0) {
        fprintf(stderr, "ble_sink: no system bus\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    double cpu0 = 0;
    while (s.count < want && now_s() < deadline) {
        int r = sd_bus_process(bus, NULL);
        if (r < 0)
            break;
        if (r == 0)
            sd_bus_wait(bus, 100000);
        if (s.count == 1)
            cpu0 = cpu_s();
    }
    printf("{\"count\":%ld,\"seconds\":%.6f,\"cpu_s\":%.6f}\n", s.count, s.last - s.first,
           cpu_s() - cpu0);
    sd_bus_flush_close_unref(bus);
    return s.count >= want ? 0 : 1;
}
