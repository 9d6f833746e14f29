/* bench/decoders.c - nanoseconds per gatt_decode() for each payload of
 * bench_payloads(), next to a memcpy of the same bytes (the floor: what it
 * costs just to touch them). Each figure is the median of RUNS runs of ITERS
 * calls. Prints a markdown table on stdout; bench/decoders.sh puts it into
 * docs/benchmarks.md. A payload the library rejects (a characteristic not
 * decoded yet) gets a row saying so instead of a time.
 *
 * usage: bench_decoders [iterations per run] [runs]
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fitdrivers/gatt.h"
#include "payloads.h"

#define DEVICE "aa:bb:cc:dd:ee:ff"
#define TS     1732530000123LL

/* Keep the compiler from proving the work useless. */
#define CLOBBER(p) __asm__ volatile("" : : "r"(p) : "memory")

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s) / 2;
    if (n > cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1)
            return 0;
        out[i] = (uint8_t)b;
    }
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double time_decode(const bench_payload *p, const uint8_t *buf, size_t len, long iters)
{
    fp_reading r;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        gatt_decode(p->uuid16, buf, len, DEVICE, TS, &r);
        CLOBBER(&r);
    }
    return (now_ns() - t0) / (double)iters;
}

/* What every gatt_decode() pays before it reads a byte. */
static double time_init(long iters)
{
    fp_reading r;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        fp_reading_init(&r, DEVICE, FP_KIND_HEART_RATE, TS);
        CLOBBER(&r);
    }
    return (now_ns() - t0) / (double)iters;
}

/* Heart rate into its struct only, without a reading. */
static double time_hrs_struct(const uint8_t *buf, size_t len, long iters)
{
    hrs_measurement m;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        hrs_decode(buf, len, &m);
        CLOBBER(&m);
    }
    return (now_ns() - t0) / (double)iters;
}

static double time_memcpy(const uint8_t *buf, size_t len, long iters)
{
    uint8_t dst[64];
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        CLOBBER(buf);
        memcpy(dst, buf, len);
        CLOBBER(dst);
    }
    return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1000000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (iters <= 0 || runs <= 0 || runs > 99) {
        fprintf(stderr, "usage: bench_decoders [iterations per run] [runs 1..99]\n");
        return 2;
    }
    size_t count;
    const bench_payload *table = bench_payloads(&count);

    printf("| characteristic | bytes | ns/decode | memcpy ns | ratio |\n");
    printf("| --- | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i < count; i++) {
        const bench_payload *p = &table[i];
        uint8_t buf[64];
        size_t len = unhex(p->hex, buf, sizeof(buf));
        fp_reading r;
        fp_status rc = gatt_decode(p->uuid16, buf, len, DEVICE, TS, &r);
        if (len == 0 || rc != FP_OK) {
            printf("| %s | %zu | not decoded (%s) | | |\n", p->name, len, fp_status_str(rc));
            continue;
        }
        double dec[99], cpy[99];
        time_decode(p, buf, len, iters / 10); /* warm caches and branch predictors */
        for (int k = 0; k < runs; k++) {
            dec[k] = time_decode(p, buf, len, iters);
            cpy[k] = time_memcpy(buf, len, iters);
        }
        double d = median(dec, runs), c = median(cpy, runs);
        printf("| %s | %zu | %.1f | %.1f | %.0fx |\n", p->name, len, d, c, d / c);
        fflush(stdout);
    }
    double init[99], hrs[99];
    const uint8_t hr[] = {0x00, 0x55};
    for (int k = 0; k < runs; k++) {
        init[k] = time_init(iters);
        hrs[k] = time_hrs_struct(hr, sizeof(hr), iters);
    }
    printf("\nFixed part of every row: `fp_reading_init()` (clears the %zu-byte header of the "
           "%zu-byte reading and checks the %zu-character device id) takes %.1f ns.\n",
           offsetof(fp_reading, values), sizeof(fp_reading), strlen(DEVICE), median(init, runs));
    printf("For comparison, `hrs_decode()` of `0055` into its struct, without a reading: "
           "%.1f ns.\n",
           median(hrs, runs));
    return 0;
}
