/* bmap.c - read and write bmaptool's block map (bmap) files.
 *
 * The XML reader is deliberately tiny and strict: bmap files have a fixed,
 * flat shape (<bmap version> with scalar children and one <BlockMap> of
 * <Range> elements), so we accept exactly that shape plus comments, the XML
 * declaration and whitespace, and reject everything else (entities, CDATA,
 * unknown elements or attributes) with a reason.
 */
#include "bmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

/* ---- sha256 wrapper ---------------------------------------------------- */

/* mbedTLS 2.28 has no SHA-NI code and hashes ~370 MB/s here, slower than the
 * card we verify; x86 CPUs with the SHA extensions do ~2 GB/s. So on x86 we
 * hash with the SHA-NI instructions when the CPU has them (checked at run
 * time) and use mbedTLS otherwise. Tests compare both paths. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BMAP_HAVE_NI 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define BMAP_HAVE_NI 0
#endif

struct bmap_sha256 {
    int ni;
    mbedtls_sha256_context ctx;
    uint32_t st[8];
    uint8_t buf[64];
    size_t blen;
    uint64_t total;
};

static int ni_allowed = 1;

void bmap_sha256_use_ni(int on)
{
    ni_allowed = on;
}

#if BMAP_HAVE_NI
static const uint32_t sha256_k[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* Compress n 64-byte blocks with the SHA-NI instructions. The message words
 * live in four registers w[0..3] (4 words each) used round-robin. */
__attribute__((target("sha,ssse3,sse4.1"))) static void ni_blocks(uint32_t st[8], const uint8_t *p,
                                                                  size_t n)
{
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&st[0]);
    __m128i s1 = _mm_loadu_si128((const __m128i *)&st[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);       /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);         /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8); /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);      /* CDGH */
    for (; n > 0; n--, p += 64) {
        __m128i abef = s0, cdgh = s1, w[4];
        for (int i = 0; i < 16; i++) {
            __m128i *cur = &w[i & 3], *next = &w[(i + 1) & 3], *prev = &w[(i + 3) & 3];
            if (i < 4)
                *cur = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), mask);
            __m128i msg = _mm_add_epi32(*cur, _mm_load_si128((const __m128i *)&sha256_k[4 * i]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            if (i >= 3 && i <= 14) { /* finish the schedule of words 4(i+1)..4(i+1)+3 */
                *next = _mm_add_epi32(*next, _mm_alignr_epi8(*cur, *prev, 4));
                *next = _mm_sha256msg2_epu32(*next, *cur);
            }
            msg = _mm_shuffle_epi32(msg, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
            if (i >= 1 && i <= 12) /* start the schedule of words 4(i+3).. */
                *prev = _mm_sha256msg1_epu32(*prev, *cur);
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);    /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0); /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)&st[0], s0);
    _mm_storeu_si128((__m128i *)&st[4], s1);
}

static int cpu_has_ni(void)
{
    unsigned a, b, c, d;
    /* leaf 1 ECX: SSSE3 (bit 9), SSE4.1 (bit 19); leaf 7 EBX: SHA (bit 29) */
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19)))
        return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
}
#else
static void ni_blocks(uint32_t st[8], const uint8_t *p, size_t n)
{
    (void)st, (void)p, (void)n;
}

static int cpu_has_ni(void)
{
    return 0;
}
#endif

bmap_sha256 *bmap_sha256_new(void)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    bmap_sha256 *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->ni = ni_allowed && cpu_has_ni();
    memcpy(h->st, iv, sizeof(iv));
    mbedtls_sha256_init(&h->ctx);
    if (!h->ni)
        mbedtls_sha256_starts_ret(&h->ctx, 0);
    return h;
}

void bmap_sha256_update(bmap_sha256 *h, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (!h->ni) {
        mbedtls_sha256_update_ret(&h->ctx, p, n);
        return;
    }
    h->total += n;
    if (h->blen) {
        size_t take = 64 - h->blen < n ? 64 - h->blen : n;
        memcpy(h->buf + h->blen, p, take);
        h->blen += take;
        p += take;
        n -= take;
        if (h->blen < 64)
            return;
        ni_blocks(h->st, h->buf, 1);
        h->blen = 0;
    }
    ni_blocks(h->st, p, n / 64);
    memcpy(h->buf, p + (n & ~(size_t)63), n & 63);
    h->blen = n & 63;
}

void bmap_sha256_finish(bmap_sha256 *h, uint8_t out[BMAP_SHA256_LEN])
{
    if (h->ni) {
        uint64_t bits = h->total * 8;
        uint8_t pad[72] = {0x80};
        size_t padlen = (h->blen < 56 ? 56 : 120) - h->blen;
        for (int i = 0; i < 8; i++)
            pad[padlen + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
        bmap_sha256_update(h, pad, padlen + 8);
        for (int i = 0; i < 8; i++) {
            out[4 * i] = (uint8_t)(h->st[i] >> 24);
            out[4 * i + 1] = (uint8_t)(h->st[i] >> 16);
            out[4 * i + 2] = (uint8_t)(h->st[i] >> 8);
            out[4 * i + 3] = (uint8_t)h->st[i];
        }
    } else {
        mbedtls_sha256_finish_ret(&h->ctx, out);
    }
    mbedtls_sha256_free(&h->ctx);
    free(h);
}

void bmap_hex(const uint8_t sum[BMAP_SHA256_LEN], char out[2 * BMAP_SHA256_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < BMAP_SHA256_LEN; i++) {
        out[2 * i] = digits[sum[i] >> 4];
        out[2 * i + 1] = digits[sum[i] & 15];
    }
    out[2 * BMAP_SHA256_LEN] = '\0';
}

static int sha256_buf(const void *p, size_t n, uint8_t out[BMAP_SHA256_LEN])
{
    return mbedtls_sha256_ret(p, n, out, 0) == 0 ? 0 : -1;
}

/* ---- reader ------------------------------------------------------------ */

typedef struct {
    const char *p, *end;
    char *err;
    size_t errlen;
} rd;

#define MAX_ATTRS 4
typedef struct {
    char name[32];
    const char *val;
    size_t val_len;
} attr;

typedef struct {
    char name[32];
    attr attrs[MAX_ATTRS];
    int n_attrs;
} tag;

static int fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(rd *r, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int starts(const rd *r, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(r->end - r->p) >= n && memcmp(r->p, s, n) == 0;
}

/* Skip whitespace, comments and <?...?> processing instructions. */
static int skip_misc(rd *r)
{
    for (;;) {
        while (r->p < r->end && is_ws(*r->p))
            r->p++;
        const char *close;
        if (starts(r, "<!--"))
            close = "-->";
        else if (starts(r, "<?"))
            close = "?>";
        else
            return 0;
        const char *q = r->p + 2;
        size_t cl = strlen(close);
        while ((size_t)(r->end - q) >= cl && memcmp(q, close, cl) != 0)
            q++;
        if ((size_t)(r->end - q) < cl)
            return fail(r, "unterminated comment or declaration");
        r->p = q + cl;
    }
}

static int name_char(char c, int first)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_')
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '-' || c == '.');
}

static int read_name(rd *r, char *out, size_t outlen)
{
    size_t n = 0;
    if (r->p >= r->end || !name_char(*r->p, 1))
        return fail(r, "expected an element or attribute name");
    while (r->p < r->end && name_char(*r->p, n == 0)) {
        if (n + 1 >= outlen)
            return fail(r, "name too long");
        out[n++] = *r->p++;
    }
    out[n] = '\0';
    return 0;
}

/* Parse "<name attr="v" ...>" (the '<' is at r->p). Self-closing tags are
 * rejected: no bmap element is ever empty. */
static int read_open(rd *r, tag *t)
{
    memset(t, 0, sizeof(*t));
    if (r->p >= r->end || *r->p != '<')
        return fail(r, "expected '<'");
    r->p++;
    if (read_name(r, t->name, sizeof(t->name)) < 0)
        return -1;
    for (;;) {
        while (r->p < r->end && is_ws(*r->p))
            r->p++;
        if (r->p >= r->end)
            return fail(r, "unterminated <%s>", t->name);
        if (*r->p == '>') {
            r->p++;
            return 0;
        }
        if (t->n_attrs == MAX_ATTRS)
            return fail(r, "too many attributes on <%s>", t->name);
        attr *a = &t->attrs[t->n_attrs++];
        if (read_name(r, a->name, sizeof(a->name)) < 0)
            return -1;
        while (r->p < r->end && is_ws(*r->p))
            r->p++;
        if (r->p >= r->end || *r->p != '=')
            return fail(r, "expected '=' after attribute %s", a->name);
        r->p++;
        while (r->p < r->end && is_ws(*r->p))
            r->p++;
        if (r->p >= r->end || (*r->p != '"' && *r->p != '\''))
            return fail(r, "attribute %s: expected a quoted value", a->name);
        char q = *r->p++;
        a->val = r->p;
        while (r->p < r->end && *r->p != q && *r->p != '<' && *r->p != '&')
            r->p++;
        if (r->p >= r->end || *r->p != q)
            return fail(r, "attribute %s: bad or unterminated value", a->name);
        a->val_len = (size_t)(r->p - a->val);
        r->p++;
    }
}

/* Text content up to the next '<', trimmed; then "</name>". */
static int read_text_close(rd *r, const char *name, const char **txt, size_t *len)
{
    const char *s = r->p;
    while (r->p < r->end && *r->p != '<') {
        if (*r->p == '&')
            return fail(r, "<%s>: entities are not supported", name);
        r->p++;
    }
    const char *e = r->p;
    while (s < e && is_ws(*s))
        s++;
    while (e > s && is_ws(e[-1]))
        e--;
    *txt = s;
    *len = (size_t)(e - s);
    if (!starts(r, "</"))
        return fail(r, "<%s>: expected text then </%s>", name, name);
    r->p += 2;
    char got[32];
    if (read_name(r, got, sizeof(got)) < 0)
        return -1;
    while (r->p < r->end && is_ws(*r->p))
        r->p++;
    if (strcmp(got, name) != 0 || r->p >= r->end || *r->p != '>')
        return fail(r, "expected </%s>", name);
    r->p++;
    return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_hex256(const char *s, size_t n, uint8_t out[BMAP_SHA256_LEN])
{
    if (n != 2 * BMAP_SHA256_LEN)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return 0;
}

/* "a-b" or "a" (bmaptool writes single blocks without a dash). */
static int parse_range_text(const char *s, size_t n, uint64_t *first, uint64_t *last)
{
    const char *dash = memchr(s, '-', n);
    if (!dash)
        return parse_u64(s, n, first) < 0 ? -1 : (*last = *first, 0);
    const char *a = s, *ae = dash, *b = dash + 1, *be = s + n;
    while (ae > a && is_ws(ae[-1]))
        ae--;
    while (b < be && is_ws(*b))
        b++;
    if (parse_u64(a, (size_t)(ae - a), first) < 0 || parse_u64(b, (size_t)(be - b), last) < 0)
        return -1;
    return 0;
}

static int add_range(rd *r, bmap *b, size_t *cap, const tag *t, const char *txt, size_t len)
{
    bmap_range rg = {0};
    for (int i = 0; i < t->n_attrs; i++) {
        if (strcmp(t->attrs[i].name, "chksum") != 0)
            return fail(r, "<Range>: unexpected attribute %s", t->attrs[i].name);
        if (parse_hex256(t->attrs[i].val, t->attrs[i].val_len, rg.sum) < 0)
            return fail(r, "<Range>: chksum is not a sha256 hex digest");
        rg.has_sum = 1;
    }
    if (parse_range_text(txt, len, &rg.first, &rg.last) < 0)
        return fail(r, "<Range>: expected 'first-last' block numbers, got '%.*s'",
                    (int)(len > 40 ? 40 : len), txt);
    if (rg.last < rg.first)
        return fail(r, "range %llu-%llu is reversed", (unsigned long long)rg.first,
                    (unsigned long long)rg.last);
    if (b->n_ranges && rg.first <= b->ranges[b->n_ranges - 1].last)
        return fail(r, "range %llu-%llu overlaps or is out of order", (unsigned long long)rg.first,
                    (unsigned long long)rg.last);
    if (b->n_ranges == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        bmap_range *nr = realloc(b->ranges, ncap * sizeof(*nr));
        if (!nr)
            return fail(r, "out of memory");
        b->ranges = nr;
        *cap = ncap;
    }
    b->ranges[b->n_ranges++] = rg;
    return 0;
}

static int parse_blockmap(rd *r, bmap *b)
{
    size_t cap = 0;
    for (;;) {
        if (skip_misc(r) < 0)
            return -1;
        if (starts(r, "</")) {
            const char *txt;
            size_t len;
            if (read_text_close(r, "BlockMap", &txt, &len) < 0)
                return -1;
            return 0;
        }
        tag t;
        const char *txt;
        size_t len;
        if (read_open(r, &t) < 0)
            return -1;
        if (strcmp(t.name, "Range") != 0)
            return fail(r, "<BlockMap>: unexpected element <%s>", t.name);
        if (read_text_close(r, "Range", &txt, &len) < 0 || add_range(r, b, &cap, &t, txt, len) < 0)
            return -1;
    }
}

enum { F_IMAGE, F_BSIZE, F_BCOUNT, F_MAPPED, F_CTYPE, F_FSUM, F_MAP, F_N };
static const char *const field_names[F_N] = {
    "ImageSize",    "BlockSize",        "BlocksCount", "MappedBlocksCount",
    "ChecksumType", "BmapFileChecksum", "BlockMap"};

static int parse_version(rd *r, const tag *t, bmap *b)
{
    if (t->n_attrs != 1 || strcmp(t->attrs[0].name, "version") != 0)
        return fail(r, "<bmap> must have exactly one attribute, version");
    const char *v = t->attrs[0].val, *dot = memchr(v, '.', t->attrs[0].val_len);
    uint64_t maj, min;
    if (!dot || parse_u64(v, (size_t)(dot - v), &maj) < 0 ||
        parse_u64(dot + 1, t->attrs[0].val_len - (size_t)(dot - v) - 1, &min) < 0)
        return fail(r, "bad bmap version '%.*s'", (int)t->attrs[0].val_len, v);
    /* 1.0-1.3 used sha1; 1.4 introduced ChecksumType/sha256; 3.x is unknown. */
    if (!((maj == 1 && min >= 4) || maj == 2))
        return fail(r, "unsupported bmap version %llu.%llu (need 1.4+ or 2.x)",
                    (unsigned long long)maj, (unsigned long long)min);
    b->version_major = (unsigned)maj;
    b->version_minor = min > 1000 ? 1000 : (unsigned)min;
    return 0;
}

static int parse_field(rd *r, bmap *b, int f, const char *txt, size_t len, const char **fsum)
{
    uint64_t v = 0;
    if (f == F_CTYPE) {
        if (len != 6 || memcmp(txt, "sha256", 6) != 0)
            return fail(r, "unsupported ChecksumType '%.*s' (only sha256)",
                        (int)(len > 20 ? 20 : len), txt);
        return 0;
    }
    if (f == F_FSUM) {
        uint8_t tmp[BMAP_SHA256_LEN];
        if (parse_hex256(txt, len, tmp) < 0)
            return fail(r, "BmapFileChecksum is not a sha256 hex digest");
        *fsum = txt;
        return 0;
    }
    if (parse_u64(txt, len, &v) < 0)
        return fail(r, "<%s>: expected a decimal number", field_names[f]);
    if (f == F_IMAGE)
        b->image_size = v;
    else if (f == F_BSIZE)
        b->block_size = v <= UINT32_MAX ? (uint32_t)v : 0;
    else if (f == F_BCOUNT)
        b->blocks_count = v;
    else
        b->mapped_count = v;
    return 0;
}

/* Everything that must agree once all fields are read. */
static int check_consistency(rd *r, const bmap *b)
{
    if (b->block_size < 512 || b->block_size > (1u << 20) || (b->block_size & (b->block_size - 1)))
        return fail(r, "BlockSize %u is not a power of two in 512..1048576", b->block_size);
    if (b->image_size > (1ull << 53))
        return fail(r, "ImageSize too large");
    uint64_t want = (b->image_size + b->block_size - 1) / b->block_size;
    if (b->blocks_count != want)
        return fail(r, "BlocksCount %llu does not match ImageSize (%llu blocks)",
                    (unsigned long long)b->blocks_count, (unsigned long long)want);
    uint64_t mapped = 0;
    for (size_t i = 0; i < b->n_ranges; i++) {
        if (b->ranges[i].last >= b->blocks_count)
            return fail(r, "range %llu-%llu is beyond BlocksCount %llu",
                        (unsigned long long)b->ranges[i].first,
                        (unsigned long long)b->ranges[i].last, (unsigned long long)b->blocks_count);
        mapped += b->ranges[i].last - b->ranges[i].first + 1;
    }
    if (mapped != b->mapped_count)
        return fail(r, "MappedBlocksCount %llu but the ranges map %llu blocks",
                    (unsigned long long)b->mapped_count, (unsigned long long)mapped);
    return 0;
}

/* bmaptool: sha256 of the file with the BmapFileChecksum value set to '0's. */
static int check_file_sum(rd *r, const char *buf, size_t len, const char *fsum)
{
    uint8_t want[BMAP_SHA256_LEN], got[BMAP_SHA256_LEN];
    parse_hex256(fsum, 2 * BMAP_SHA256_LEN, want);
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return fail(r, "out of memory");
    memcpy(copy, buf, len);
    memset(copy + (fsum - buf), '0', 2 * BMAP_SHA256_LEN);
    int rc = sha256_buf(copy, len, got);
    free(copy);
    if (rc < 0 || memcmp(want, got, sizeof(got)) != 0)
        return fail(r, "BmapFileChecksum mismatch: the bmap file is corrupted or was edited");
    return 0;
}

static int parse_body(rd *r, const char *buf, size_t len, bmap *b)
{
    tag t;
    const char *fsum = NULL;
    int seen[F_N] = {0};
    if (skip_misc(r) < 0 || read_open(r, &t) < 0)
        return -1;
    if (strcmp(t.name, "bmap") != 0)
        return fail(r, "root element is <%s>, expected <bmap>", t.name);
    if (parse_version(r, &t, b) < 0)
        return -1;
    for (;;) {
        if (skip_misc(r) < 0)
            return -1;
        if (starts(r, "</"))
            break;
        if (read_open(r, &t) < 0)
            return -1;
        int f = 0;
        while (f < F_N && strcmp(t.name, field_names[f]) != 0)
            f++;
        if (f == F_N)
            return fail(r, "unexpected element <%s>", t.name);
        if (seen[f]++)
            return fail(r, "duplicate <%s>", t.name);
        if (t.n_attrs)
            return fail(r, "<%s>: unexpected attribute %s", t.name, t.attrs[0].name);
        if (f == F_MAP) {
            if (parse_blockmap(r, b) < 0)
                return -1;
            continue;
        }
        const char *txt;
        size_t tlen;
        if (read_text_close(r, t.name, &txt, &tlen) < 0 ||
            parse_field(r, b, f, txt, tlen, &fsum) < 0)
            return -1;
    }
    const char *txt;
    size_t tlen;
    if (read_text_close(r, "bmap", &txt, &tlen) < 0)
        return -1;
    if (skip_misc(r) < 0)
        return -1;
    if (r->p != r->end)
        return fail(r, "trailing data after </bmap>");
    for (int f = 0; f < F_N; f++)
        if (!seen[f])
            return fail(r, "missing <%s>", field_names[f]);
    if (check_consistency(r, b) < 0)
        return -1;
    return check_file_sum(r, buf, len, fsum);
}

int bmap_parse(const char *buf, size_t len, bmap *out, char *err, size_t errlen)
{
    rd r = {buf, buf + len, err, errlen};
    memset(out, 0, sizeof(*out));
    if (len > BMAP_MAX_FILE)
        return fail(&r, "bmap file larger than %u bytes", BMAP_MAX_FILE);
    if (memchr(buf, '\0', len))
        return fail(&r, "bmap file contains NUL bytes");
    if (parse_body(&r, buf, len, out) < 0) {
        bmap_free(out);
        return -1;
    }
    return 0;
}

int bmap_load(const char *path, bmap *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)BMAP_MAX_FILE) {
        snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, BMAP_MAX_FILE);
        close(fd);
        return -1;
    }
    size_t len = (size_t)st.st_size, got = 0;
    char *buf = malloc(len ? len : 1);
    while (buf && got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != len) {
        snprintf(err, errlen, "%s: read failed", path);
        free(buf);
        return -1;
    }
    char why[200];
    int rc = bmap_parse(buf, len, out, why, sizeof(why));
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, why);
    free(buf);
    return rc;
}

void bmap_free(bmap *b)
{
    free(b->ranges);
    memset(b, 0, sizeof(*b));
}

uint64_t bmap_range_off(const bmap *b, const bmap_range *r)
{
    return r->first * b->block_size;
}

uint64_t bmap_range_len(const bmap *b, const bmap_range *r)
{
    uint64_t end = (r->last + 1) * b->block_size;
    if (end > b->image_size)
        end = b->image_size;
    return end - r->first * b->block_size;
}

/* ---- writer ------------------------------------------------------------ */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (sb->oom || n < 0)
        return;
    if (sb->len + (size_t)n + 1 > sb->cap) {
        size_t ncap = (sb->cap ? sb->cap * 2 : 4096) + (size_t)n;
        char *ns = realloc(sb->s, ncap);
        if (!ns) {
            sb->oom = 1;
            return;
        }
        sb->s = ns;
        sb->cap = ncap;
    }
    va_start(ap, fmt);
    vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

/* Find mapped blocks with SEEK_DATA/SEEK_HOLE; merge adjacent extents. */
static int scan_extents(int fd, uint64_t size, bmap *b, char *err, size_t errlen)
{
    size_t cap = 0;
    uint64_t off = 0;
    while (off < size) {
        off_t data = lseek(fd, (off_t)off, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;
        if (data < 0) { /* no SEEK_DATA support: the whole rest is data */
            data = (off_t)off;
        }
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || (uint64_t)hole > size)
            hole = (off_t)size;
        if (hole <= data)
            break;
        uint64_t first = (uint64_t)data / b->block_size;
        uint64_t last = ((uint64_t)hole - 1) / b->block_size;
        if (b->n_ranges && first <= b->ranges[b->n_ranges - 1].last + 1) {
            if (last > b->ranges[b->n_ranges - 1].last)
                b->ranges[b->n_ranges - 1].last = last;
        } else {
            if (b->n_ranges == cap) {
                cap = cap ? cap * 2 : 64;
                bmap_range *nr = realloc(b->ranges, cap * sizeof(*nr));
                if (!nr) {
                    snprintf(err, errlen, "out of memory");
                    return -1;
                }
                b->ranges = nr;
            }
            b->ranges[b->n_ranges++] = (bmap_range){.first = first, .last = last};
        }
        off = (last + 1) * b->block_size;
    }
    return 0;
}

static int hash_ranges(int fd, bmap *b, char *err, size_t errlen)
{
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < b->n_ranges && rc == 0; i++) {
        bmap_range *r = &b->ranges[i];
        uint64_t off = bmap_range_off(b, r), left = bmap_range_len(b, r);
        bmap_sha256 *h = bmap_sha256_new();
        if (!h) {
            rc = -1;
            snprintf(err, errlen, "out of memory");
            break;
        }
        while (left > 0) {
            ssize_t n = pread(fd, buf, left < CHUNK ? (size_t)left : CHUNK, (off_t)off);
            if (n <= 0) {
                snprintf(err, errlen, "read failed at offset %llu: %s", (unsigned long long)off,
                         n < 0 ? strerror(errno) : "short file");
                rc = -1;
                break;
            }
            bmap_sha256_update(h, buf, (size_t)n);
            off += (uint64_t)n;
            left -= (uint64_t)n;
        }
        bmap_sha256_finish(h, r->sum);
        r->has_sum = 1;
        b->mapped_count += r->last - r->first + 1;
    }
    free(buf);
    return rc;
}

static void write_xml(sbuf *sb, const bmap *b)
{
    char hex[2 * BMAP_SHA256_LEN + 1];
    double pct = b->blocks_count ? 100.0 * (double)b->mapped_count / (double)b->blocks_count : 0;
    sb_printf(sb, "<?xml version=\"1.0\" ?>\n"
                  "<!-- Block map (bmap 2.0, bmaptool format) written by fitgate-fw: the mapped\n"
                  "     blocks of the image, with a sha256 per range. -->\n"
                  "<bmap version=\"2.0\">\n");
    sb_printf(sb, "    <ImageSize> %llu </ImageSize>\n", (unsigned long long)b->image_size);
    sb_printf(sb, "    <BlockSize> %u </BlockSize>\n", b->block_size);
    sb_printf(sb, "    <BlocksCount> %llu </BlocksCount>\n", (unsigned long long)b->blocks_count);
    sb_printf(sb, "    <!-- Mapped: %.1f%% -->\n", pct);
    sb_printf(sb, "    <MappedBlocksCount> %llu </MappedBlocksCount>\n",
              (unsigned long long)b->mapped_count);
    sb_printf(sb, "    <ChecksumType> sha256 </ChecksumType>\n");
    sb_printf(sb, "    <!-- sha256 of this file with this value set to all '0's -->\n");
    sb_printf(sb, "    <BmapFileChecksum> %064d </BmapFileChecksum>\n", 0);
    sb_printf(sb, "    <BlockMap>\n");
    for (size_t i = 0; i < b->n_ranges; i++) {
        const bmap_range *r = &b->ranges[i];
        bmap_hex(r->sum, hex);
        if (r->first == r->last)
            sb_printf(sb, "        <Range chksum=\"%s\"> %llu </Range>\n", hex,
                      (unsigned long long)r->first);
        else
            sb_printf(sb, "        <Range chksum=\"%s\"> %llu-%llu </Range>\n", hex,
                      (unsigned long long)r->first, (unsigned long long)r->last);
    }
    sb_printf(sb, "    </BlockMap>\n</bmap>\n");
}

int bmap_create(int fd, char **xml, size_t *xml_len, char *err, size_t errlen)
{
    struct stat st;
    bmap b = {.version_major = 2, .block_size = BMAP_BLOCK_SIZE};
    sbuf sb = {0};
    *xml = NULL;
    *xml_len = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "image is not a regular file");
        return -1;
    }
    b.image_size = (uint64_t)st.st_size;
    b.blocks_count = (b.image_size + b.block_size - 1) / b.block_size;
    if (scan_extents(fd, b.image_size, &b, err, errlen) < 0 ||
        hash_ranges(fd, &b, err, errlen) < 0) {
        bmap_free(&b);
        return -1;
    }
    write_xml(&sb, &b);
    bmap_free(&b);
    if (sb.oom) {
        free(sb.s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Fill in the file checksum computed over the zeroed placeholder. */
    uint8_t sum[BMAP_SHA256_LEN];
    char hex[2 * BMAP_SHA256_LEN + 1];
    char *slot = strstr(sb.s, "<BmapFileChecksum> ") + strlen("<BmapFileChecksum> ");
    sha256_buf(sb.s, sb.len, sum);
    bmap_hex(sum, hex);
    memcpy(slot, hex, 2 * BMAP_SHA256_LEN);
    *xml = sb.s;
    *xml_len = sb.len;
    return 0;
}
