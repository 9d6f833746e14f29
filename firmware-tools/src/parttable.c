/* parttable.c - MBR and GPT parsing (UEFI 2.10 section 5). */
#include "parttable.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SECTOR 512u

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* GPT type GUIDs as stored on disk (first three fields little-endian). */
static const uint8_t guid_esp[16] = {0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
                                     0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b};
static const uint8_t guid_basic[16] = {0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44,
                                       0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7};

static int in_image(uint64_t first_lba, uint64_t sectors, uint64_t image_size)
{
    if (sectors == 0 || first_lba == 0 || first_lba > UINT64_MAX / SECTOR)
        return 0;
    uint64_t off = first_lba * SECTOR;
    return sectors <= (UINT64_MAX - off) / SECTOR && off + sectors * SECTOR <= image_size;
}

static int parse_gpt(const uint8_t *head, size_t len, uint64_t image_size, fwpart *out, int max,
                     char *err, size_t errlen)
{
    const uint8_t *h = head + SECTOR;
    if (len < 2 * SECTOR || memcmp(h, "EFI PART", 8))
        return fail(err, errlen, "protective MBR but no GPT header at LBA 1");
    uint32_t hsize = le32(h + 12);
    if (hsize < 92 || hsize > SECTOR)
        return fail(err, errlen, "GPT header size %u invalid", hsize);
    uint8_t hdr[SECTOR];
    memcpy(hdr, h, hsize);
    memset(hdr + 16, 0, 4);
    if (crc32(hdr, hsize) != le32(h + 16))
        return fail(err, errlen, "GPT header CRC mismatch");
    uint64_t entries_lba = le64(h + 72);
    uint32_t count = le32(h + 80), esize = le32(h + 84);
    if (esize < 128 || esize % 8 || count > FWPART_MAX || entries_lba != 2 ||
        2 * SECTOR + (uint64_t)count * esize > len)
        return fail(err, errlen, "GPT entry array not where fitgate-fw reads it");
    if (crc32(head + 2 * SECTOR, (size_t)count * esize) != le32(h + 88))
        return fail(err, errlen, "GPT entry array CRC mismatch");
    static const uint8_t zero[16];
    int n = 0;
    for (uint32_t i = 0; i < count && n < max; i++) {
        const uint8_t *e = head + 2 * SECTOR + (size_t)i * esize;
        if (!memcmp(e, zero, 16))
            continue;
        uint64_t first = le64(e + 32), last = le64(e + 40);
        if (last < first || !in_image(first, last - first + 1, image_size))
            return fail(err, errlen, "GPT partition %u lies outside the image", i + 1);
        out[n++] = (fwpart){.index = (int)i + 1,
                            .offset = first * SECTOR,
                            .size = (last - first + 1) * SECTOR,
                            .fat = !memcmp(e, guid_esp, 16) || !memcmp(e, guid_basic, 16)};
    }
    return n;
}

int fwpart_list(const uint8_t *head, size_t len, uint64_t image_size, fwpart *out, int max,
                char *err, size_t errlen)
{
    if (len < SECTOR || head[510] != 0x55 || head[511] != 0xaa)
        return fail(err, errlen, "no partition table (no MBR signature)");
    int n = 0;
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = head + 446 + 16 * i;
        uint8_t type = e[4];
        if (type == 0xee)
            return parse_gpt(head, len, image_size, out, max, err, errlen);
        if (type == 0)
            continue;
        if (e[0] != 0x00 && e[0] != 0x80)
            return fail(err, errlen, "MBR entry %d has a bad status byte", i + 1);
        /* Extended partitions hold no file system of their own; logical ones
         * are never the boot partition of a gateway image. */
        if (type == 0x05 || type == 0x0f || type == 0x85)
            continue;
        if (!in_image(le32(e + 8), le32(e + 12), image_size))
            return fail(err, errlen, "MBR partition %d lies outside the image", i + 1);
        if (n < max)
            out[n++] = (fwpart){.index = i + 1,
                                .offset = (uint64_t)le32(e + 8) * SECTOR,
                                .size = (uint64_t)le32(e + 12) * SECTOR,
                                .fat = type == 0x01 || type == 0x04 || type == 0x06 ||
                                       type == 0x0b || type == 0x0c || type == 0x0e};
    }
    return n;
}
