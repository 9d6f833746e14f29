/* bmap.h - bmaptool's block map format (bmap 2.0, read back to 1.4).
 *
 * A bmap lists the mapped (non-hole) block ranges of a sparse image with a
 * sha256 per range, plus a sha256 of the bmap file itself (computed with the
 * BmapFileChecksum value replaced by ASCII zeros, as bmaptool does).
 *
 * bmap_parse() is strict: it is fed files that come with an image from
 * anywhere, so anything unexpected (unknown element, unsorted or overlapping
 * range, counts that disagree, bad file checksum, sha1 bmaps) is an error
 * with a human-readable reason, never a best guess.
 */
#ifndef FITGATE_BMAP_H
#define FITGATE_BMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BMAP_MAX_FILE   (64u * 1024 * 1024) /* largest bmap file accepted */
#define BMAP_BLOCK_SIZE 4096u               /* block size of the bmaps we create */
#define BMAP_SHA256_LEN 32

typedef struct {
    uint64_t first, last; /* inclusive block numbers */
    int has_sum;          /* chksum attribute present (bmaptool makes it optional) */
    uint8_t sum[BMAP_SHA256_LEN];
} bmap_range;

typedef struct {
    unsigned version_major, version_minor;
    uint64_t image_size;
    uint32_t block_size;
    uint64_t blocks_count, mapped_count;
    bmap_range *ranges; /* owned; sorted, non-overlapping, all < blocks_count */
    size_t n_ranges;
} bmap;

/* Parse LEN bytes of bmap XML into *out (caller frees with bmap_free). On
 * error returns -1, leaves *out empty and writes a reason into err. */
int bmap_parse(const char *buf, size_t len, bmap *out, char *err, size_t errlen);
/* Read and parse a bmap file (at most BMAP_MAX_FILE bytes). */
int bmap_load(const char *path, bmap *out, char *err, size_t errlen);
void bmap_free(bmap *b);

/* Byte offset and length of range r (the last block may be partial). */
uint64_t bmap_range_off(const bmap *b, const bmap_range *r);
uint64_t bmap_range_len(const bmap *b, const bmap_range *r);

/* Scan image fd (SEEK_DATA/SEEK_HOLE, sha256 of every mapped range) and
 * return a bmap 2.0 document in *xml (malloc'd, caller frees), *xml_len bytes. */
int bmap_create(int fd, char **xml, size_t *xml_len, char *err, size_t errlen);

/* The one place firmware-tools hashes: SHA-NI instructions on x86 CPUs that
 * have them, else mbedTLS (2.28, EOL: keep the surface small so the 3.x move
 * touches only bmap.c). Not for secrets: no constant-time claims. */
typedef struct bmap_sha256 bmap_sha256;
bmap_sha256 *bmap_sha256_new(void);
void bmap_sha256_update(bmap_sha256 *h, const void *p, size_t n);
void bmap_sha256_finish(bmap_sha256 *h, uint8_t out[BMAP_SHA256_LEN]); /* also frees h */
/* Tests: 0 forces the mbedTLS path even on CPUs with SHA-NI (default 1). */
void bmap_sha256_use_ni(int on);
void bmap_hex(const uint8_t sum[BMAP_SHA256_LEN], char out[2 * BMAP_SHA256_LEN + 1]);

#endif
