/* blockdev.h - what fitgate-fw needs to know about a target block device
 * before it writes to it, read from sysfs.
 *
 * The sysfs root is a parameter ("/sys" in production) so the refusal logic
 * is testable without hardware: tests build a fake tree with
 * <root>/dev/block/<maj>:<min>/{size,removable,device/model,partition}.
 */
#ifndef FITGATE_BLOCKDEV_H
#define FITGATE_BLOCKDEV_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t size_bytes; /* sysfs size (512-byte sectors) * 512 */
    int removable;       /* of the whole disk (a partition asks its parent) */
    int is_partition;
    char model[64]; /* device/model, trimmed; "unknown" if absent */
} blkdev_info;

/* Fill *out for device maj:min under sysroot. Returns 0, or -1 with err set
 * (no such device in sysfs, unreadable size). */
int blkdev_query(const char *sysroot, unsigned maj, unsigned min, blkdev_info *out, char *err,
                 size_t errlen);

/* Safety policy: refuse an image larger than the device, and a
 * non-removable device unless force. Returns 0 if allowed, -1 with the
 * reason in err. */
int blkdev_check(const blkdev_info *info, uint64_t image_size, int force, char *err, size_t errlen);

/* "1.9 GiB" style size for humans. */
void blkdev_human(uint64_t bytes, char *out, size_t outlen);

#endif
