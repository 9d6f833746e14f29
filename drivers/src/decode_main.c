/* fitgate-decode - decode a device payload from the command line.
 *
 *   fitgate-decode [--device ID] [--ts MS] --char UUID HEX
 *   fitgate-decode [--device ID] [--ts MS] --adv [--name NAME] [--mfg CCCC=HEX]... [--svc
 * UUID=HEX]... fitgate-decode [--ts MS] --bridge TOPIC JSON fitgate-decode [--device ID] [--ts MS]
 * UUID HEX          (the first form, kept)
 *
 * Prints one reading per line as the JSON the edge spools (fp_reading_encode).
 * Exit status: 0 decoded (possibly no reading: "nothing yet"), 1 payload
 * rejected (one line on stderr: "fitgate-decode: rejected: <status>"),
 * 2 usage error. docs/devices.md documents the format; scripts depend on it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fitdrivers/adv.h"
#include "fitdrivers/bridge.h"
#include "fitdrivers/gatt.h"
#include "fitproto/msg.h"

#define PAYLOAD_MAX   512 /* the largest ATT attribute value */
#define EXIT_REJECTED 1
#define EXIT_USAGE    2

static void usage(FILE *f)
{
    fprintf(f, "usage: fitgate-decode [--device ID] [--ts MS] --char UUID HEX\n"
               "       fitgate-decode [--device ID] [--ts MS] --adv [--name NAME]\n"
               "                      [--mfg CCCC=HEX]... [--svc UUID=HEX]...\n"
               "       fitgate-decode [--ts MS] --bridge TOPIC JSON\n"
               "       fitgate-decode [--device ID] [--ts MS] UUID HEX\n"
               "\n"
               "Decode a device payload and print each reading as one JSON object per line.\n"
               "  --char UUID HEX   one GATT characteristic value, e.g. --char 2a37 1E5532002100\n"
               "  --adv             one advertisement:\n"
               "    --name NAME       its local name\n"
               "    --mfg CCCC=HEX    manufacturer data of company CCCC (hex, e.g. 0157=...);\n"
               "                      --mfg HEX takes the company id from the first two bytes,\n"
               "                      little-endian, as bridges print it (5701...)\n"
               "    --svc UUID=HEX    service data, e.g. --svc 181d=2208390000000000000000\n"
               "  --bridge TOPIC JSON  an OpenMQTTGateway / Theengs Gateway message;\n"
               "                      the device id is the MAC in TOPIC\n"
               "  --device ID       device id for the readings (default \"cli\")\n"
               "  --ts MS           timestamp in Unix ms (default: now)\n"
               "HEX may separate bytes with ':', '-' or spaces. UUID: 2a37, 0x2A37 or 128-bit.\n"
               "Exit status: 0 decoded (maybe no reading), 1 payload rejected, 2 usage error.\n");
}

/* One line on stderr; returns the usage-error exit status. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("fitgate-decode: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    return EXIT_USAGE;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hex bytes with optional separators; -1 on bad input or more than cap. */
static long parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s) {
        if (*s == ':' || *s == '-' || *s == ' ') {
            s++;
            continue;
        }
        int hi = hexval(s[0]);
        int lo = hi < 0 ? -1 : hexval(s[1]);
        if (lo < 0 || n >= cap)
            return -1;
        out[n++] = (uint8_t)(hi << 4 | lo);
        s += 2;
    }
    return (long)n;
}

/* "2a37", "0x2A37" or a 128-bit uuid on the Bluetooth base. */
static int parse_uuid(const char *s, size_t len, uint16_t *out)
{
    if (len >= 1 && len <= 3) { /* the old CLI took 1-4 digits: "64" stays valid */
        char four[5] = "0000";
        memcpy(four + 4 - len, s, len);
        return adv_uuid16_parse(four, 4, out) == FP_OK ? 0 : -1;
    }
    return adv_uuid16_parse(s, len, out) == FP_OK ? 0 : -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Everything an advertisement on the command line needs, without heap. */
typedef struct adv_args {
    const char *name;
    adv_data mfg[ADV_ENTRIES_MAX], svc[ADV_ENTRIES_MAX];
    size_t nmfg, nsvc;
    uint8_t bytes[2 * ADV_ENTRIES_MAX][ADV_DATA_MAX + 2];
    size_t nbytes;
} adv_args;

/* "--mfg CCCC=HEX" / "--mfg HEX" / "--svc UUID=HEX" into a. */
static int add_entry(adv_args *a, int is_mfg, const char *arg)
{
    size_t *count = is_mfg ? &a->nmfg : &a->nsvc;
    if (*count >= ADV_ENTRIES_MAX)
        return usage_error("too many entries (at most 16 --mfg and 16 --svc): '%s'", arg);
    uint8_t *buf = a->bytes[a->nbytes];
    const char *eq = strchr(arg, '=');
    const char *hex = eq ? eq + 1 : arg;
    long n = parse_hex(hex, buf, ADV_DATA_MAX + 2);
    if (n < 0)
        return usage_error("bad hex in '%s' (pairs of hex digits, at most 255 bytes)", arg);
    adv_data e = {.data = buf, .len = (size_t)n};
    if (eq) {
        uint32_t id = 0;
        size_t idlen = (size_t)(eq - arg);
        if (is_mfg) {
            char *end;
            errno = 0;
            id = (uint32_t)strtoul(arg, &end, 16);
            if (idlen == 0 || idlen > 6 || end != eq || errno || id > 0xFFFF)
                return usage_error("bad company id in '%s' (hex, e.g. 0157)", arg);
        } else if (parse_uuid(arg, idlen, &e.id)) {
            return usage_error("bad service uuid in '%s' (e.g. 181d)", arg);
        }
        if (is_mfg)
            e.id = (uint16_t)id;
    } else if (is_mfg) {
        if (n < 2)
            return usage_error("'%s': manufacturer data needs a company id", arg);
        e.id = (uint16_t)(buf[0] | buf[1] << 8);
        e.data = buf + 2;
        e.len = (size_t)n - 2;
    } else {
        return usage_error("--svc wants UUID=HEX, got '%s'", arg);
    }
    if (e.len > ADV_DATA_MAX)
        return usage_error("'%s': more than 255 bytes", arg);
    (is_mfg ? a->mfg : a->svc)[(*count)++] = e;
    a->nbytes++;
    return 0;
}

static int print_readings(const fp_reading *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char json[2048];
        size_t len;
        fp_status rc = fp_reading_encode(&r[i], json, sizeof(json), &len);
        if (rc) {
            fprintf(stderr, "fitgate-decode: rejected: %s\n", fp_status_str(rc));
            return EXIT_REJECTED;
        }
        printf("%s\n", json);
    }
    return 0;
}

static int verdict(fp_status rc, const fp_reading *r, size_t n)
{
    if (rc) {
        fprintf(stderr, "fitgate-decode: rejected: %s\n", fp_status_str(rc));
        return EXIT_REJECTED;
    }
    return print_readings(r, n);
}

enum mode { MODE_NONE, MODE_CHAR, MODE_ADV, MODE_BRIDGE };

int main(int argc, char **argv)
{
    static adv_args adv; /* big: keep it off the stack */
    static fp_reading readings[ADV_READINGS_MAX];
    const char *device = NULL;
    int64_t ts = now_ms();
    enum mode mode = MODE_NONE;
    const char *pos[2];
    int npos = 0, rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--char") == 0 || strcmp(a, "--adv") == 0 ||
                   strcmp(a, "--bridge") == 0) {
            if (mode != MODE_NONE)
                return usage_error("'%s': choose one of --char, --adv, --bridge", a);
            mode = a[2] == 'c' ? MODE_CHAR : a[2] == 'a' ? MODE_ADV : MODE_BRIDGE;
        } else if (strcmp(a, "--device") == 0 && has_val) {
            device = argv[++i];
        } else if (strcmp(a, "--ts") == 0 && has_val) {
            char *end;
            errno = 0;
            long long v = strtoll(argv[++i], &end, 10);
            if (errno || *end || end == argv[i])
                return usage_error("bad --ts '%s' (Unix ms)", argv[i]);
            ts = v;
        } else if (strcmp(a, "--name") == 0 && has_val) {
            adv.name = argv[++i];
        } else if ((strcmp(a, "--mfg") == 0 || strcmp(a, "--svc") == 0) && has_val) {
            if ((rc = add_entry(&adv, a[2] == 'm', argv[++i])))
                return rc;
        } else if (a[0] == '-' && a[1] == '-') {
            return usage_error("unknown option or missing value: '%s'", a);
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            return usage_error("too many arguments: '%s'", a);
        }
    }
    if ((adv.name || adv.nmfg || adv.nsvc) && mode != MODE_ADV)
        return usage_error("--name, --mfg and --svc go with --adv");
    if (mode == MODE_NONE)
        mode = MODE_CHAR; /* the first form: UUID HEX */
    if (device && mode == MODE_BRIDGE)
        return usage_error("--device: with --bridge the device id is the MAC in the topic");
    if (device == NULL)
        device = "cli";
    if (mode != MODE_BRIDGE && !fp_device_id_valid(device, strlen(device)))
        return usage_error("bad --device '%s' (1-64 of A-Z a-z 0-9 : . _ -)", device);

    size_t n = 0;
    fp_status st;
    switch (mode) {
    case MODE_ADV: {
        if (npos != 0)
            return usage_error("--adv takes no positional argument ('%s')", pos[0]);
        if (adv.nmfg + adv.nsvc == 0)
            return usage_error("--adv: give at least one --mfg or --svc");
        adv_input in = {adv.name, adv.mfg, adv.nmfg, adv.svc, adv.nsvc};
        st = adv_decode(&in, device, ts, readings, ADV_READINGS_MAX, &n);
        return verdict(st, readings, n);
    }
    case MODE_BRIDGE:
        if (npos != 2)
            return usage_error("--bridge wants TOPIC JSON");
        st = bridge_decode(pos[0], pos[1], strlen(pos[1]), ts, readings, ADV_READINGS_MAX, &n);
        return verdict(st, readings, n);
    default: {
        if (npos != 2)
            return usage_error("--char wants UUID HEX");
        uint16_t uuid;
        if (parse_uuid(pos[0], strlen(pos[0]), &uuid))
            return usage_error("bad uuid16 '%s' (e.g. 2a37)", pos[0]);
        uint8_t payload[PAYLOAD_MAX];
        long len = parse_hex(pos[1], payload, sizeof(payload));
        if (len < 0)
            return usage_error("bad payload hex '%s' (pairs of hex digits, <= 512 bytes)", pos[1]);
        st = gatt_decode(uuid, payload, (size_t)len, device, ts, &readings[0]);
        return verdict(st, readings, st == FP_OK);
    }
    }
}
