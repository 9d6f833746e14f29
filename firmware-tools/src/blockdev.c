/* blockdev.c - sysfs facts about a target block device and the refusal policy. */
#include "blockdev.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Read a small sysfs attribute into buf, trimmed of trailing whitespace. */
static int read_attr(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    return 0;
}

int blkdev_query(const char *sysroot, unsigned maj, unsigned min, blkdev_info *out, char *err,
                 size_t errlen)
{
    char dir[512], path[600], val[128];
    memset(out, 0, sizeof(*out));
    snprintf(dir, sizeof(dir), "%s/dev/block/%u:%u", sysroot, maj, min);
    snprintf(path, sizeof(path), "%s/size", dir);
    unsigned long long sectors;
    if (read_attr(path, val, sizeof(val)) < 0 || sscanf(val, "%llu", &sectors) != 1) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno ? errno : EINVAL));
        return -1;
    }
    out->size_bytes = (uint64_t)sectors * 512;
    /* A partition has a "partition" file; removable and model live on the disk. */
    snprintf(path, sizeof(path), "%s/partition", dir);
    out->is_partition = access(path, F_OK) == 0;
    const char *disk = out->is_partition ? "/.." : "";
    snprintf(path, sizeof(path), "%s%s/removable", dir, disk);
    out->removable = read_attr(path, val, sizeof(val)) == 0 && strcmp(val, "1") == 0;
    snprintf(path, sizeof(path), "%s%s/device/model", dir, disk);
    if (read_attr(path, out->model, sizeof(out->model)) < 0 || !out->model[0])
        snprintf(out->model, sizeof(out->model), "unknown");
    return 0;
}

int blkdev_check(const blkdev_info *info, uint64_t image_size, int force, char *err, size_t errlen)
{
    char a[32], b[32];
    if (image_size > info->size_bytes) {
        blkdev_human(image_size, a, sizeof(a));
        blkdev_human(info->size_bytes, b, sizeof(b));
        snprintf(err, errlen, "image (%s) is larger than the target (%s)", a, b);
        return -1;
    }
    if (!info->removable && !force) {
        snprintf(err, errlen,
                 "target is not a removable device (model %s); pass --force if you are sure",
                 info->model);
        return -1;
    }
    return 0;
}

void blkdev_human(uint64_t bytes, char *out, size_t outlen)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(out, outlen, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}
