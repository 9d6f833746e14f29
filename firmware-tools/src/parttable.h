/* parttable.h - find partitions in the first sectors of a disk image.
 *
 * Pure parsing (no I/O): the caller reads the first FWPART_HEAD_LEN bytes of
 * the image (MBR at LBA 0, GPT header at LBA 1, entries from LBA 2) and
 * passes the image size so that partitions beyond its end are refused.
 * Sectors are 512 bytes (SD/eMMC images; 4Kn disks are not gateway media).
 */
#ifndef FITGATE_PARTTABLE_H
#define FITGATE_PARTTABLE_H

#include <stddef.h>
#include <stdint.h>

#define FWPART_HEAD_LEN (34 * 512) /* MBR + GPT header + 128 entries of 128 bytes */
#define FWPART_MAX      128

typedef struct fwpart {
    int index;       /* 1-based, as Linux numbers partitions (sdX1, mmcblk0p1) */
    uint64_t offset; /* bytes from the start of the image */
    uint64_t size;   /* bytes */
    int fat;         /* the type says FAT (MBR 0x01/04/06/0b/0c/0e, GPT ESP or basic data) */
} fwpart;

/* Parse an MBR or (protective MBR +) GPT. Fills out[0..max) and returns the
 * number of partitions, or -1 with a reason in err (no table, bad GPT CRC,
 * entries outside the image...). */
int fwpart_list(const uint8_t *head, size_t len, uint64_t image_size, fwpart *out, int max,
                char *err, size_t errlen);

#endif
