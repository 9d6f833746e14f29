/* fit_test.h - helpers shared by the fitness driver tests: the shared
 * vectors file (hex via test_util.h), a deterministic PRNG, little-endian writers. */
#ifndef FIT_TEST_H
#define FIT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "test_util.h"

#define TS 1732530000123LL

static cJSON *vectors;

static inline int load_vectors(void **state)
{
    (void)state;
    FILE *f = fopen(FITGATE_VECTORS_DIR "/ble-gatt.json", "rb");
    if (f == NULL)
        return -1;
    static char text[1 << 18];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    vectors = cJSON_Parse(text);
    return vectors ? 0 : -1;
}

static inline int free_vectors(void **state)
{
    (void)state;
    cJSON_Delete(vectors);
    return 0;
}

static inline const cJSON *vector_list(const char *name, int min_items)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(vectors, name);
    assert_true(cJSON_IsArray(list));
    assert_true(cJSON_GetArraySize(list) >= min_items);
    return list;
}

static inline const cJSON *field(const cJSON *v, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(v, key);
}

static inline double num(const cJSON *v, const char *key)
{
    const cJSON *f = field(v, key);
    assert_true(cJSON_IsNumber(f));
    return f->valuedouble;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static inline uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Uniform-ish in [lo, hi]. */
static inline int64_t rnd_in(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static inline uint8_t *put8(uint8_t *p, uint32_t v)
{
    *p = (uint8_t)v;
    return p + 1;
}

static inline uint8_t *put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static inline uint8_t *put24(uint8_t *p, uint32_t v)
{
    p = put16(p, v);
    return put8(p, v >> 16);
}

static inline uint8_t *put32(uint8_t *p, uint32_t v)
{
    p = put16(p, v);
    return put16(p, v >> 16);
}

static inline double get(const fp_reading *r, fp_quantity q)
{
    double v = -1e300;
    if (!fp_reading_get(r, q, &v))
        fail_msg("quantity %d missing", (int)q);
    return v;
}

#endif
