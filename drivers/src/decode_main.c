/* fitgate-decode - decode one GATT characteristic value from the command line.
 *
 *   fitgate-decode [--device ID] [--ts MS] <uuid16-hex> <payload-hex>
 *
 * Prints the reading as the JSON the edge spools (fp_reading_encode), or an
 * error on stderr and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fitdrivers/gatt.h"
#include "fitproto/msg.h"

#define PAYLOAD_MAX 512 /* the largest ATT attribute value */

static void usage(FILE *f)
{
    fprintf(f, "usage: fitgate-decode [--device ID] [--ts MS] <uuid16-hex> <payload-hex>\n"
               "\n"
               "Decode one GATT characteristic value and print it as a fitgate reading (JSON).\n"
               "  uuid16-hex   characteristic, e.g. 2a37 (heart rate) or 2a19 (battery)\n"
               "  payload-hex  the value as notified, e.g. 1E5532002100; ':', '-' and spaces\n"
               "               between bytes are ignored\n"
               "  --device ID  device id for the reading (default \"cli\")\n"
               "  --ts MS      timestamp in Unix ms (default: now)\n"
               "Exit status: 0 decoded, 1 error.\n");
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

/* Hex bytes with optional separators; -1 on bad input. */
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

static int parse_uuid(const char *s, uint16_t *out)
{
    if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)
        s += 2;
    size_t len = strlen(s);
    if (len == 0 || len > 4)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = hexval(s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = (uint16_t)v;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    const char *device = "cli";
    int64_t ts = now_ms();
    const char *pos[2];
    int npos = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            device = argv[++i];
        } else if (strcmp(argv[i], "--ts") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            long long v = strtoll(argv[++i], &end, 10);
            if (errno || *end || end == argv[i]) {
                fprintf(stderr, "fitgate-decode: bad --ts '%s'\n", argv[i]);
                return 1;
            }
            ts = v;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "fitgate-decode: unknown option '%s' (see --help)\n", argv[i]);
            return 1;
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            fprintf(stderr, "fitgate-decode: too many arguments (see --help)\n");
            return 1;
        }
    }
    if (npos != 2) {
        usage(stderr);
        return 1;
    }

    uint16_t uuid;
    if (parse_uuid(pos[0], &uuid)) {
        fprintf(stderr, "fitgate-decode: bad uuid16 '%s' (want 1-4 hex digits, e.g. 2a37)\n",
                pos[0]);
        return 1;
    }
    uint8_t payload[PAYLOAD_MAX];
    long n = parse_hex(pos[1], payload, sizeof(payload));
    if (n < 0) {
        fprintf(stderr, "fitgate-decode: bad payload hex (want pairs of hex digits, <= %d bytes)\n",
                PAYLOAD_MAX);
        return 1;
    }

    fp_reading r;
    fp_status rc = gatt_decode(uuid, payload, (size_t)n, device, ts, &r);
    if (rc) {
        fprintf(stderr, "fitgate-decode: %04x: cannot decode %ld byte(s): %s\n", uuid, n,
                fp_status_str(rc));
        return 1;
    }
    char json[2048];
    size_t len;
    rc = fp_reading_encode(&r, json, sizeof(json), &len);
    if (rc) {
        fprintf(stderr, "fitgate-decode: decoded but cannot encode the reading: %s\n",
                fp_status_str(rc));
        return 1;
    }
    printf("%s\n", json);
    return 0;
}
