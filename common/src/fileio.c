/* fileio.c - see fitcommon/fileio.h. */
#include "fitcommon/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int file_write_atomic_at(int dfd, const char *name, const void *data, size_t len, mode_t mode)
{
    char tmp[300];
    if ((size_t)snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    unlinkat(dfd, tmp, 0); /* left by a power cut: never trusted */
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int ok = off == len && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    int saved = errno;
    ok &= close(fd) == 0;
    if (!ok || renameat(dfd, tmp, dfd, name)) {
        saved = ok ? errno : saved;
        unlinkat(dfd, tmp, 0);
        errno = saved ? saved : EIO;
        return -1;
    }
    fsync(dfd);
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char d[4096], b[4096];
    if ((size_t)snprintf(d, sizeof d, "%s", path) >= sizeof d) {
        errno = ENAMETOOLONG;
        return -1;
    }
    snprintf(b, sizeof b, "%s", path);
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = file_write_atomic_at(dfd, basename(b), data, len, mode);
    int saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}
