/* flash.c - `fitgate-fw flash | verify | bmap create`.
 *
 * flash writes an image (raw or .zst) to a block device or a file, only the
 * mapped ranges when a bmap is known, and checks every range twice: the
 * source data against the bmap's sha256 while writing (a corrupt download is
 * caught), then the target itself, read back after fdatasync() with
 * posix_fadvise(POSIX_FADV_DONTNEED) so the bytes come from the device and
 * not from the page cache (we do not use O_DIRECT: it needs aligned buffers
 * and is refused by tmpfs; DONTNEED on clean pages after the sync has the
 * same effect on block devices).
 *
 * Partition table last: the first FWFLASH_HEAD bytes of the target (MBR,
 * primary GPT header and entries) are zeroed and synced before anything
 * else is written, and the image's own first MiB is written only after every
 * other range is on the target. An interrupted flash therefore leaves a card
 * with no partition table (unbootable but clean), never an old or new table
 * pointing at half-written data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zstd.h>

#include "blockdev.h"
#include "bmap.h"
#include "fw.h"

#define FWFLASH_HEAD  (1u << 20)    /* held back and written last */
#define FWFLASH_BUF   (4u << 20)    /* copy buffer */
#define FWFLASH_CHUNK (16ull << 20) /* range size when there is no bmap */
#define FWFLASH_PIECE (8ull << 20)  /* read-back unit (a bmap range may be GBs) */

/* ---- options and results ------------------------------------------------ */

typedef struct {
    const char *image, *target, *bmap_path, *sysroot;
    int force, yes, json, no_verify;
} fwflash_opts;

typedef struct {
    uint64_t bytes_written;
    uint64_t bytes_checked; /* read back from the target and compared */
    size_t ranges;
    double seconds;
    int verified;
    char error[320];
} fwflash_result;

static int seterr(fwflash_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int seterr(fwflash_result *res, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    return code;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- source: raw file (pread) or zstd stream (sequential) --------------- */

typedef struct {
    int fd, zst;
    uint64_t pos; /* logical (decompressed) offset */
    ZSTD_DStream *ds;
    char *in;
    ZSTD_inBuffer inb;
    int in_eof;
} fwflash_src;

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int src_open(fwflash_src *s, const char *path, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    s->zst = has_suffix(path, ".zst");
    if (!s->zst)
        return 0;
    s->ds = ZSTD_createDStream();
    s->in = malloc(ZSTD_DStreamInSize());
    if (!s->ds || !s->in) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ZSTD_initDStream(s->ds);
    s->inb = (ZSTD_inBuffer){s->in, 0, 0};
    return 0;
}

static void src_close(fwflash_src *s)
{
    if (s->fd >= 0)
        close(s->fd);
    ZSTD_freeDStream(s->ds);
    free(s->in);
    s->fd = -1;
    s->ds = NULL;
    s->in = NULL;
}

/* Read up to n bytes at the current position; 0 only at end of image. */
static ssize_t src_read(fwflash_src *s, void *buf, size_t n, char *err, size_t errlen)
{
    if (!s->zst) {
        ssize_t r = pread(s->fd, buf, n, (off_t)s->pos);
        if (r < 0)
            snprintf(err, errlen, "image read: %s", strerror(errno));
        else
            s->pos += (uint64_t)r;
        return r;
    }
    ZSTD_outBuffer out = {buf, n, 0};
    while (out.pos == 0) {
        if (s->inb.pos == s->inb.size) {
            if (s->in_eof)
                return 0;
            ssize_t r = read(s->fd, s->in, ZSTD_DStreamInSize());
            if (r < 0) {
                snprintf(err, errlen, "image read: %s", strerror(errno));
                return -1;
            }
            if (r == 0) {
                s->in_eof = 1;
                continue;
            }
            s->inb = (ZSTD_inBuffer){s->in, (size_t)r, 0};
        }
        size_t rc = ZSTD_decompressStream(s->ds, &out, &s->inb);
        if (ZSTD_isError(rc)) {
            snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(rc));
            return -1;
        }
    }
    s->pos += out.pos;
    return (ssize_t)out.pos;
}

/* Move to offset off: free for raw files, decompress-and-discard for zstd. */
static int src_seek(fwflash_src *s, uint64_t off, char *buf, size_t buflen, char *err,
                    size_t errlen)
{
    if (!s->zst) {
        s->pos = off;
        return 0;
    }
    if (off < s->pos) {
        snprintf(err, errlen, "internal: backwards seek in a compressed image");
        return -1;
    }
    while (s->pos < off) {
        uint64_t want = off - s->pos;
        ssize_t r = src_read(s, buf, want < buflen ? (size_t)want : buflen, err, errlen);
        if (r <= 0) {
            if (r == 0)
                snprintf(err, errlen, "image ends before offset %llu", (unsigned long long)off);
            return -1;
        }
    }
    return 0;
}

/* Size of the image: st_size, or a counting pass over a zstd stream. */
static int image_size(const char *path, uint64_t *size, char *err, size_t errlen)
{
    fwflash_src s;
    int rc = src_open(&s, path, err, errlen);
    if (rc == 0 && !s.zst) {
        struct stat st;
        if (fstat(s.fd, &st) < 0)
            rc = -1;
        *size = (uint64_t)st.st_size;
    } else if (rc == 0) {
        char *buf = malloc(FWFLASH_BUF);
        ssize_t r = 1;
        while (buf && (r = src_read(&s, buf, FWFLASH_BUF, err, errlen)) > 0)
            ;
        *size = s.pos;
        rc = (!buf || r < 0) ? -1 : 0;
        free(buf);
    }
    src_close(&s);
    return rc;
}

/* ---- the ranges to write/verify ---------------------------------------- */

typedef struct {
    uint64_t off, len;
    int has_sum;
    uint8_t sum[BMAP_SHA256_LEN]; /* from the bmap */
    uint8_t got[BMAP_SHA256_LEN]; /* of the source bytes actually read */
} fwflash_range;

/* Ranges are cut into pieces of at most FWFLASH_PIECE bytes for the read-back,
 * so verification follows the writes closely even inside a huge range. */
typedef struct {
    uint64_t off, len;
    uint8_t got[BMAP_SHA256_LEN]; /* of the bytes written there */
} fwflash_piece;

typedef struct {
    fwflash_range *r;
    size_t n;
    fwflash_piece *pc;
    size_t n_pc;
    uint64_t image_size, total;
    int from_bmap;
    char bmap_path[4096];
} fwflash_plan;

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* --bmap FILE, else IMAGE.bmap, else (for X.zst) X.bmap, else none. */
static const char *find_bmap(const char *image, const char *given, char *buf, size_t len)
{
    if (given)
        return given;
    snprintf(buf, len, "%s.bmap", image);
    if (file_exists(buf))
        return buf;
    if (has_suffix(image, ".zst")) {
        snprintf(buf, len, "%.*s.bmap", (int)(strlen(image) - 4), image);
        if (file_exists(buf))
            return buf;
    }
    return NULL;
}

static int plan_ranges(fwflash_plan *p, const fwflash_opts *o, fwflash_result *res)
{
    char err[300];
    memset(p, 0, sizeof(*p));
    const char *bp = find_bmap(o->image, o->bmap_path, p->bmap_path, sizeof(p->bmap_path));
    if (bp) {
        bmap b;
        if (bmap_load(bp, &b, err, sizeof(err)) < 0)
            return seterr(res, FW_EXIT_FAILED, "bad bmap: %s", err);
        p->r = calloc(b.n_ranges ? b.n_ranges : 1, sizeof(*p->r));
        if (!p->r) {
            bmap_free(&b);
            return seterr(res, FW_EXIT_IO, "out of memory");
        }
        for (size_t i = 0; i < b.n_ranges; i++) {
            fwflash_range *r = &p->r[i];
            r->off = bmap_range_off(&b, &b.ranges[i]);
            r->len = bmap_range_len(&b, &b.ranges[i]);
            r->has_sum = b.ranges[i].has_sum;
            memcpy(r->sum, b.ranges[i].sum, sizeof(r->sum));
            p->total += r->len;
        }
        p->n = b.n_ranges;
        p->image_size = b.image_size;
        p->from_bmap = 1;
        snprintf(p->bmap_path, sizeof(p->bmap_path), "%s", bp);
        bmap_free(&b);
        /* A raw image must be exactly the size the bmap describes. */
        struct stat st;
        if (!has_suffix(o->image, ".zst") && stat(o->image, &st) == 0 &&
            (uint64_t)st.st_size != p->image_size)
            return seterr(res, FW_EXIT_FAILED, "bmap %s describes %llu bytes but %s has %llu", bp,
                          (unsigned long long)p->image_size, o->image,
                          (unsigned long long)st.st_size);
        return FW_EXIT_OK;
    }
    p->bmap_path[0] = '\0';
    if (image_size(o->image, &p->image_size, err, sizeof(err)) < 0)
        return seterr(res, FW_EXIT_IO, "%s", err);
    p->n = (size_t)((p->image_size + FWFLASH_CHUNK - 1) / FWFLASH_CHUNK);
    p->r = calloc(p->n ? p->n : 1, sizeof(*p->r));
    if (!p->r)
        return seterr(res, FW_EXIT_IO, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        p->r[i].off = i * FWFLASH_CHUNK;
        p->r[i].len = p->image_size - p->r[i].off < FWFLASH_CHUNK ? p->image_size - p->r[i].off
                                                                  : FWFLASH_CHUNK;
    }
    p->total = p->image_size;
    return FW_EXIT_OK;
}

static int plan_build(fwflash_plan *p, const fwflash_opts *o, fwflash_result *res)
{
    int rc = plan_ranges(p, o, res);
    if (rc != FW_EXIT_OK)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += (size_t)((p->r[i].len + FWFLASH_PIECE - 1) / FWFLASH_PIECE);
    p->pc = calloc(n ? n : 1, sizeof(*p->pc));
    if (!p->pc)
        return seterr(res, FW_EXIT_IO, "out of memory");
    for (size_t i = 0; i < p->n; i++)
        for (uint64_t o2 = 0; o2 < p->r[i].len; o2 += FWFLASH_PIECE) {
            fwflash_piece *pc = &p->pc[p->n_pc++];
            pc->off = p->r[i].off + o2;
            pc->len = p->r[i].len - o2 < FWFLASH_PIECE ? p->r[i].len - o2 : FWFLASH_PIECE;
        }
    return FW_EXIT_OK;
}

static void plan_free(fwflash_plan *p)
{
    free(p->r);
    free(p->pc);
}

/* ---- target ------------------------------------------------------------- */

typedef struct {
    int fd, is_blk;
    blkdev_info info;
} fwflash_target;

/* Show what is about to be overwritten and get --yes or a typed "yes". */
static int confirm(const fwflash_opts *o, const blkdev_info *info)
{
    char sz[32], line[16];
    blkdev_human(info->size_bytes, sz, sizeof(sz));
    fprintf(stderr, "Target %s: model \"%s\", %s, %s%s\n", o->target, info->model, sz,
            info->removable ? "removable" : "NOT removable",
            info->is_partition ? ", a partition" : "");
    if (o->yes)
        return 0;
    if (!isatty(STDIN_FILENO))
        return -1;
    fprintf(stderr, "All data on %s will be lost. Type 'yes' to continue: ", o->target);
    if (!fgets(line, sizeof(line), stdin))
        return -1;
    return strcmp(line, "yes\n") == 0 ? 0 : -1;
}

/* Open (and vet) the target. Block devices: O_EXCL, which the kernel
 * refuses with EBUSY while the device or one of its partitions is mounted or
 * otherwise claimed. Regular files are created/truncated to the image size. */
static int target_open(fwflash_target *t, const fwflash_opts *o, uint64_t image_size, int writing,
                       fwflash_result *res)
{
    struct stat st, ist;
    char err[300];
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    int exists = stat(o->target, &st) == 0;
    if (exists && stat(o->image, &ist) == 0 && st.st_dev == ist.st_dev && st.st_ino == ist.st_ino)
        return seterr(res, FW_EXIT_REFUSED, "target is the image itself");
    t->is_blk = exists && S_ISBLK(st.st_mode);
    if (exists && !t->is_blk && !S_ISREG(st.st_mode))
        return seterr(res, FW_EXIT_REFUSED, "%s is neither a block device nor a regular file",
                      o->target);
    if (!exists && !writing)
        return seterr(res, FW_EXIT_IO, "%s: %s", o->target, strerror(ENOENT));
    if (t->is_blk) {
        t->fd = open(o->target, (writing ? O_RDWR : O_RDONLY) | O_EXCL | O_CLOEXEC);
        if (t->fd < 0 && errno == EBUSY)
            return seterr(res, FW_EXIT_REFUSED, "%s is in use (mounted or opened exclusively)",
                          o->target);
        if (t->fd < 0)
            return seterr(res, FW_EXIT_IO, "%s: %s", o->target, strerror(errno));
        if (blkdev_query(o->sysroot, major(st.st_rdev), minor(st.st_rdev), &t->info, err,
                         sizeof(err)) < 0)
            return seterr(res, FW_EXIT_REFUSED, "cannot identify %s: %s", o->target, err);
        if (blkdev_check(&t->info, image_size, writing ? o->force : 1, err, sizeof(err)) < 0)
            return seterr(res, FW_EXIT_REFUSED, "refusing %s: %s", o->target, err);
        if (writing && confirm(o, &t->info) < 0)
            return seterr(res, FW_EXIT_REFUSED, "not confirmed: pass --yes to write to %s",
                          o->target);
        return FW_EXIT_OK;
    }
    if (!writing) {
        t->fd = open(o->target, O_RDONLY | O_CLOEXEC);
        return t->fd < 0 ? seterr(res, FW_EXIT_IO, "%s: %s", o->target, strerror(errno))
                         : FW_EXIT_OK;
    }
    /* A file target ends up byte-identical to the image (holes read as 0). */
    t->fd = open(o->target, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (t->fd < 0 || ftruncate(t->fd, (off_t)image_size) < 0)
        return seterr(res, FW_EXIT_IO, "%s: %s", o->target, strerror(errno));
    return FW_EXIT_OK;
}

static int pwrite_all(int fd, const char *buf, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, buf, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* sha256 of target bytes [off, off+len), read from the device: the caller
 * has synced, and DONTNEED drops the (clean) cached pages first. */
static void drop_cached(int fd, uint64_t off, uint64_t len)
{
    posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

static int hash_target(int fd, uint64_t off, uint64_t len, char *buf, uint8_t out[BMAP_SHA256_LEN])
{
    bmap_sha256 *h = bmap_sha256_new();
    if (!h)
        return -1;
    int rc = 0;
    while (len > 0) {
        ssize_t n = pread(fd, buf, len < FWFLASH_BUF ? (size_t)len : FWFLASH_BUF, (off_t)off);
        if (n <= 0) {
            rc = -1;
            break;
        }
        bmap_sha256_update(h, buf, (size_t)n);
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    bmap_sha256_finish(h, out);
    return rc;
}

/* ---- progress ----------------------------------------------------------- */

typedef struct {
    int on;
    double start, last;
    uint64_t total;
} fwflash_progress;

static void progress(fwflash_progress *pg, uint64_t done, int final)
{
    double t = now_s();
    if (!pg->on || (!final && t - pg->last < 0.25))
        return;
    pg->last = t;
    double el = t - pg->start, rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(pg->total - done) / rate : 0;
    fprintf(stderr, "\r%6.1f / %.1f MiB  %3.0f%%  %6.1f MB/s  ETA %d:%02d ",
            (double)done / 1048576.0, (double)pg->total / 1048576.0,
            pg->total ? 100.0 * (double)done / (double)pg->total : 100.0, rate / 1e6, (int)eta / 60,
            (int)eta % 60);
    if (final)
        fputc('\n', stderr);
}

/* ---- flash -------------------------------------------------------------- */

typedef struct {
    const fwflash_opts *o;
    fwflash_plan *p;
    fwflash_target *t;
    fwflash_result *res;
    fwflash_src src;
    char *buf, *head;
    size_t head_len;
    size_t next_pc;             /* first piece not completely read from the source yet */
    struct fwflash_verifier *v; /* NULL with --no-verify */
    uint64_t unhanded;          /* bytes of finished pieces not handed to the verifier yet */
} fwflash_job;

static int in_head(const fwflash_job *j, const fwflash_piece *pc)
{
    return pc->off < j->head_len;
}

/* Sync, then read back pieces [from, to) (only the head pieces if head, else
 * all but them) and compare with what was written. Uses buf; counts into out. */
static int verify_pieces(const fwflash_job *j, size_t from, size_t to, int head, char *buf,
                         fwflash_result *out)
{
    if (fdatasync(j->t->fd) < 0)
        return seterr(out, FW_EXIT_IO, "sync %s: %s", j->o->target, strerror(errno));
    /* Drop the batch from the cache, then ask for all of it at once
     * (WILLNEED starts the reads asynchronously, so the device sees a deep
     * queue while we hash) instead of one synchronous 4 MiB read at a time. */
    for (size_t i = from; i < to; i++)
        if (in_head(j, &j->p->pc[i]) == head)
            drop_cached(j->t->fd, j->p->pc[i].off, j->p->pc[i].len);
    for (size_t i = from; i < to; i++)
        if (in_head(j, &j->p->pc[i]) == head)
            posix_fadvise(j->t->fd, (off_t)j->p->pc[i].off, (off_t)j->p->pc[i].len,
                          POSIX_FADV_WILLNEED);
    for (size_t i = from; i < to; i++) {
        const fwflash_piece *pc = &j->p->pc[i];
        uint8_t back[BMAP_SHA256_LEN];
        if (in_head(j, pc) != head)
            continue;
        if (hash_target(j->t->fd, pc->off, pc->len, buf, back) < 0)
            return seterr(out, FW_EXIT_IO, "read back %s at %llu: %s", j->o->target,
                          (unsigned long long)pc->off, strerror(errno));
        if (memcmp(back, pc->got, sizeof(back)) != 0)
            return seterr(out, FW_EXIT_FAILED,
                          "verification failed: target bytes %llu+%llu differ from what was "
                          "written",
                          (unsigned long long)pc->off, (unsigned long long)pc->len);
        out->bytes_checked += pc->len;
    }
    return FW_EXIT_OK;
}

/* The read-back runs in a second thread, one batch behind the writer: the
 * writer hands over "pieces [0, ready) are written", the verifier syncs and
 * checks them while the next ones are written. */
typedef struct fwflash_verifier {
    const fwflash_job *j;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t ready, done;
    int stop, rc;
    char *buf;
    fwflash_result res; /* the verifier's own error text and byte count */
} fwflash_verifier;

static void *verifier_main(void *arg)
{
    fwflash_verifier *v = arg;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (v->done == v->ready && !v->stop)
            pthread_cond_wait(&v->cv, &v->mu);
        if (v->done == v->ready)
            break;
        size_t from = v->done, to = v->ready;
        pthread_mutex_unlock(&v->mu);
        int rc = verify_pieces(v->j, from, to, 0, v->buf, &v->res);
        pthread_mutex_lock(&v->mu);
        v->done = to;
        if (rc != FW_EXIT_OK) {
            v->rc = rc;
            break;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

static int verifier_start(fwflash_verifier *v, const fwflash_job *j)
{
    memset(v, 0, sizeof(*v));
    v->j = j;
    if (!(v->buf = malloc(FWFLASH_BUF)))
        return -1;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    if (pthread_create(&v->th, NULL, verifier_main, v) != 0) {
        pthread_mutex_destroy(&v->mu);
        pthread_cond_destroy(&v->cv);
        free(v->buf);
        return -1;
    }
    return 0;
}

/* Pieces [0, ready) are on the target; returns the verifier's failure, if any. */
static int verifier_handover(fwflash_verifier *v, size_t ready)
{
    pthread_mutex_lock(&v->mu);
    v->ready = ready;
    int rc = v->rc;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* Let it finish what was handed over, join, and return its result. */
static int verifier_finish(fwflash_verifier *v)
{
    pthread_mutex_lock(&v->mu);
    v->stop = 1;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    pthread_join(v->th, NULL);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    free(v->buf);
    return v->rc;
}

/* Copy one range: hash the source as it streams, hold back head bytes. */
static int copy_range(fwflash_job *j, fwflash_range *r, fwflash_progress *pg)
{
    char err[300];
    if (src_seek(&j->src, r->off, j->buf, FWFLASH_BUF, err, sizeof(err)) < 0)
        return seterr(j->res, FW_EXIT_FAILED, "%s", err);
    bmap_sha256 *h = bmap_sha256_new(), *ph = bmap_sha256_new();
    if (!h || !ph) {
        if (h)
            bmap_sha256_finish(h, r->got);
        if (ph)
            bmap_sha256_finish(ph, r->got);
        return seterr(j->res, FW_EXIT_IO, "out of memory");
    }
    uint64_t off = r->off, left = r->len;
    int rc = FW_EXIT_OK;
    while (left > 0 && rc == FW_EXIT_OK) {
        /* FWFLASH_BUF divides FWFLASH_PIECE: a read never straddles pieces. */
        ssize_t n = src_read(&j->src, j->buf, left < FWFLASH_BUF ? (size_t)left : FWFLASH_BUF, err,
                             sizeof(err));
        if (n <= 0) {
            rc = seterr(j->res, FW_EXIT_FAILED, "%s",
                        n < 0 ? err : "image is shorter than its bmap");
            break;
        }
        bmap_sha256_update(h, j->buf, (size_t)n);
        bmap_sha256_update(ph, j->buf, (size_t)n);
        size_t skip = 0;
        if (off < j->head_len) {
            skip =
                (size_t)(j->head_len - off) < (size_t)n ? (size_t)(j->head_len - off) : (size_t)n;
            memcpy(j->head + off, j->buf, skip);
        }
        if ((size_t)n > skip &&
            pwrite_all(j->t->fd, j->buf + skip, (size_t)n - skip, off + skip) < 0)
            rc = seterr(j->res, FW_EXIT_IO, "write %s at %llu: %s", j->o->target,
                        (unsigned long long)(off + skip), strerror(errno));
        off += (uint64_t)n;
        left -= (uint64_t)n;
        j->res->bytes_written += (uint64_t)n;
        progress(pg, j->res->bytes_written, 0);
        fwflash_piece *pc = &j->p->pc[j->next_pc];
        if (off == pc->off + pc->len) { /* piece complete */
            bmap_sha256_finish(ph, pc->got);
            j->next_pc++;
            j->unhanded += pc->len;
            /* Start writeback now so the verifier's fdatasync waits less. */
            sync_file_range(j->t->fd, (off_t)pc->off, (off_t)pc->len, SYNC_FILE_RANGE_WRITE);
            if (j->v && j->unhanded >= FWFLASH_PIECE) {
                j->unhanded = 0;
                if (verifier_handover(j->v, j->next_pc) != FW_EXIT_OK)
                    rc = FW_EXIT_FAILED; /* the verifier's error is reported */
            }
            ph = left > 0 ? bmap_sha256_new() : NULL;
            if (left > 0 && !ph)
                rc = seterr(j->res, FW_EXIT_IO, "out of memory");
        }
    }
    if (ph) { /* stopped early: discard */
        uint8_t dummy[BMAP_SHA256_LEN];
        bmap_sha256_finish(ph, dummy);
    }
    bmap_sha256_finish(h, r->got);
    if (rc == FW_EXIT_OK && r->has_sum && memcmp(r->got, r->sum, sizeof(r->sum)) != 0)
        rc = seterr(j->res, FW_EXIT_FAILED,
                    "source corrupted: image bytes %llu+%llu do not match the bmap checksum",
                    (unsigned long long)r->off, (unsigned long long)r->len);
    return rc;
}

/* Write all ranges (head held back), handing finished pieces to the verifier
 * every FWFLASH_PIECE bytes. Returns the first error. */
static int write_ranges(fwflash_job *j, fwflash_progress *pg)
{
    for (size_t i = 0; i < j->p->n; i++) {
        int rc = copy_range(j, &j->p->r[i], pg);
        if (rc != FW_EXIT_OK)
            return rc;
        j->res->ranges++;
    }
    return FW_EXIT_OK;
}

static int flash_run(fwflash_job *j)
{
    fwflash_progress pg = {!j->o->json && isatty(STDERR_FILENO), now_s(), 0, j->p->total};
    fwflash_verifier v;
    int verifying = !j->o->no_verify;
    j->head_len = j->p->image_size < FWFLASH_HEAD ? (size_t)j->p->image_size : FWFLASH_HEAD;
    j->head = calloc(1, j->head_len ? j->head_len : 1);
    if (!j->head)
        return seterr(j->res, FW_EXIT_IO, "out of memory");
    /* 1. Wipe the old partition table first (a file target is already zero). */
    if (j->t->is_blk &&
        (pwrite_all(j->t->fd, j->head, j->head_len, 0) < 0 || fdatasync(j->t->fd) < 0))
        return seterr(j->res, FW_EXIT_IO, "wipe head of %s: %s", j->o->target, strerror(errno));
    /* 2. Every range; the verifier reads back behind the writer. */
    if (verifying && verifier_start(&v, j) < 0)
        return seterr(j->res, FW_EXIT_IO, "cannot start the verifier thread");
    j->v = verifying ? &v : NULL;
    int rc = write_ranges(j, &pg);
    j->v = NULL;
    if (verifying) {
        verifier_handover(&v, rc == FW_EXIT_OK ? j->p->n_pc : v.ready);
        int vrc = verifier_finish(&v);
        j->res->bytes_checked += v.res.bytes_checked;
        if (vrc != FW_EXIT_OK && !j->res->error[0]) { /* else the writer failed first */
            memcpy(j->res->error, v.res.error, sizeof(j->res->error));
            rc = vrc;
        }
    }
    if (rc != FW_EXIT_OK)
        return rc;
    /* 3. Only now the partition table, then read back the head pieces. */
    if (pwrite_all(j->t->fd, j->head, j->head_len, 0) < 0)
        return seterr(j->res, FW_EXIT_IO, "write head of %s: %s", j->o->target, strerror(errno));
    if (!verifying && fdatasync(j->t->fd) < 0)
        return seterr(j->res, FW_EXIT_IO, "sync %s: %s", j->o->target, strerror(errno));
    if (verifying && (rc = verify_pieces(j, 0, j->p->n_pc, 1, j->buf, j->res)) != FW_EXIT_OK)
        return rc;
    progress(&pg, j->res->bytes_written, 1);
    j->res->verified = verifying;
    return FW_EXIT_OK;
}

static int do_flash(const fwflash_opts *o, fwflash_result *res)
{
    fwflash_plan p;
    fwflash_target t = {.fd = -1};
    fwflash_job j = {.o = o, .p = &p, .t = &t, .res = res};
    char err[300];
    j.src.fd = -1;
    int rc = plan_build(&p, o, res);
    if (rc == FW_EXIT_OK)
        rc = target_open(&t, o, p.image_size, 1, res);
    if (rc == FW_EXIT_OK && src_open(&j.src, o->image, err, sizeof(err)) < 0)
        rc = seterr(res, FW_EXIT_IO, "%s", err);
    if (rc == FW_EXIT_OK && !(j.buf = malloc(FWFLASH_BUF)))
        rc = seterr(res, FW_EXIT_IO, "out of memory");
    if (rc == FW_EXIT_OK)
        rc = flash_run(&j);
    if (t.fd >= 0 && close(t.fd) < 0 && rc == FW_EXIT_OK)
        rc = seterr(res, FW_EXIT_IO, "close %s: %s", o->target, strerror(errno));
    src_close(&j.src);
    free(j.buf);
    free(j.head);
    plan_free(&p);
    return rc;
}

/* ---- verify ------------------------------------------------------------- */

static int do_verify(const fwflash_opts *o, fwflash_result *res)
{
    fwflash_plan p;
    fwflash_target t = {.fd = -1};
    fwflash_src src = {.fd = -1};
    char err[300], *buf = NULL;
    int rc = plan_build(&p, o, res);
    if (rc == FW_EXIT_OK)
        rc = target_open(&t, o, p.image_size, 0, res);
    if (rc == FW_EXIT_OK && src_open(&src, o->image, err, sizeof(err)) < 0)
        rc = seterr(res, FW_EXIT_IO, "%s", err);
    if (rc == FW_EXIT_OK && !(buf = malloc(FWFLASH_BUF)))
        rc = seterr(res, FW_EXIT_IO, "out of memory");
    for (size_t i = 0; rc == FW_EXIT_OK && i < p.n; i++) {
        fwflash_range *r = &p.r[i];
        uint8_t back[BMAP_SHA256_LEN];
        bmap_sha256 *h = bmap_sha256_new();
        uint64_t left = r->len;
        if (!h || src_seek(&src, r->off, buf, FWFLASH_BUF, err, sizeof(err)) < 0) {
            rc = seterr(res, FW_EXIT_FAILED, "%s", h ? err : "out of memory");
            if (h)
                bmap_sha256_finish(h, r->got);
            break;
        }
        while (left > 0) {
            ssize_t n = src_read(&src, buf, left < FWFLASH_BUF ? (size_t)left : FWFLASH_BUF, err,
                                 sizeof(err));
            if (n <= 0) {
                rc = seterr(res, FW_EXIT_FAILED, "%s",
                            n < 0 ? err : "image is shorter than its bmap");
                break;
            }
            bmap_sha256_update(h, buf, (size_t)n);
            left -= (uint64_t)n;
        }
        bmap_sha256_finish(h, r->got);
        if (rc != FW_EXIT_OK)
            break;
        if (r->has_sum && memcmp(r->got, r->sum, sizeof(r->sum)) != 0)
            rc = seterr(res, FW_EXIT_FAILED,
                        "source corrupted: image bytes %llu+%llu do not match "
                        "the bmap checksum",
                        (unsigned long long)r->off, (unsigned long long)r->len);
        else if ((drop_cached(t.fd, r->off, r->len), hash_target(t.fd, r->off, r->len, buf, back)) <
                 0)
            rc = seterr(res, FW_EXIT_FAILED, "target %s is shorter than the image", o->target);
        else if (memcmp(back, r->got, sizeof(back)) != 0)
            rc = seterr(res, FW_EXIT_FAILED, "target bytes %llu+%llu differ from the image",
                        (unsigned long long)r->off, (unsigned long long)r->len);
        res->ranges++;
        if (rc == FW_EXIT_OK)
            res->bytes_checked += r->len;
    }
    res->verified = rc == FW_EXIT_OK;
    if (t.fd >= 0)
        close(t.fd);
    src_close(&src);
    free(buf);
    plan_free(&p);
    return rc;
}

/* ---- command line ------------------------------------------------------- */

static const char *flash_usage =
    "usage: fitgate-fw flash IMAGE TARGET [--bmap FILE] [--force] [--yes] [--json] [--no-verify]\n"
    "       fitgate-fw verify IMAGE TARGET [--bmap FILE] [--json]\n"
    "IMAGE is raw or .zst. Without --bmap, IMAGE.bmap is used if it exists, else the\n"
    "whole image is written. TARGET is a block device or a file.\n"
    "Exit: 0 ok, 1 failed (checksum/verification), 2 usage, 3 refused (safety), 4 I/O.\n";

static int parse_opts(int argc, char **argv, int writing, fwflash_opts *o)
{
    int npos = 0;
    memset(o, 0, sizeof(*o));
    o->sysroot = "/sys";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--bmap") && i + 1 < argc)
            o->bmap_path = argv[++i];
        else if (!strcmp(a, "--json"))
            o->json = 1;
        else if (writing && !strcmp(a, "--force"))
            o->force = 1;
        else if (writing && !strcmp(a, "--yes"))
            o->yes = 1;
        else if (writing && !strcmp(a, "--no-verify"))
            o->no_verify = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return 1;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "fitgate-fw: unknown or incomplete option '%s'\n", a);
            return -1;
        } else if (npos == 0 && ++npos)
            o->image = a;
        else if (npos == 1 && ++npos)
            o->target = a;
        else {
            fprintf(stderr, "fitgate-fw: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    return npos == 2 ? 0 : -1;
}

static void report(const fwflash_opts *o, const char *cmd, const fwflash_result *res, int rc)
{
    if (!o->json) {
        if (rc != FW_EXIT_OK)
            fprintf(stderr, "fitgate-fw %s: %s\n", cmd, res->error);
        else
            fprintf(stderr,
                    "fitgate-fw %s: ok, %zu ranges, %llu bytes written, %llu read back and "
                    "compared, %.2f s%s\n",
                    cmd, res->ranges, (unsigned long long)res->bytes_written,
                    (unsigned long long)res->bytes_checked, res->seconds,
                    res->verified ? "" : " (NOT verified)");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "command", cmd);
    cJSON_AddNumberToObject(j, "bytes_written", (double)res->bytes_written);
    cJSON_AddNumberToObject(j, "bytes_checked", (double)res->bytes_checked);
    cJSON_AddNumberToObject(j, "ranges", (double)res->ranges);
    cJSON_AddNumberToObject(j, "seconds", res->seconds);
    cJSON_AddBoolToObject(j, "verified", rc == FW_EXIT_OK && res->verified);
    cJSON_AddNumberToObject(j, "exit", rc);
    if (rc != FW_EXIT_OK)
        cJSON_AddStringToObject(j, "error", res->error);
    else
        cJSON_AddNullToObject(j, "error");
    char *s = cJSON_PrintUnformatted(j);
    if (s)
        puts(s);
    cJSON_free(s);
    cJSON_Delete(j);
}

static int run_cmd(int argc, char **argv, int writing)
{
    fwflash_opts o;
    fwflash_result res = {0};
    int pr = parse_opts(argc, argv, writing, &o);
    if (pr != 0) {
        fputs(flash_usage, pr > 0 ? stdout : stderr);
        return pr > 0 ? FW_EXIT_OK : FW_EXIT_USAGE;
    }
    /* Tests point this at a fake sysfs tree; never needed in the field. */
    const char *sys = getenv("FITGATE_FW_SYSFS");
    if (sys && *sys)
        o.sysroot = sys;
    double t0 = now_s();
    int rc = writing ? do_flash(&o, &res) : do_verify(&o, &res);
    res.seconds = now_s() - t0;
    report(&o, writing ? "flash" : "verify", &res, rc);
    return rc;
}

int fw_cmd_flash(int argc, char **argv)
{
    return run_cmd(argc, argv, 1);
}

int fw_cmd_verify(int argc, char **argv)
{
    return run_cmd(argc, argv, 0);
}

/* bmap create IMAGE: the bmap on stdout. */
int fw_cmd_bmap(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "create") != 0) {
        fputs("usage: fitgate-fw bmap create IMAGE > IMAGE.bmap\n",
              argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? FW_EXIT_OK : FW_EXIT_USAGE;
    }
    char err[300], *xml;
    size_t len;
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "fitgate-fw bmap: %s: %s\n", argv[2], strerror(errno));
        return FW_EXIT_IO;
    }
    int rc = bmap_create(fd, &xml, &len, err, sizeof(err));
    close(fd);
    if (rc < 0) {
        fprintf(stderr, "fitgate-fw bmap: %s: %s\n", argv[2], err);
        return FW_EXIT_IO;
    }
    int ok = fwrite(xml, 1, len, stdout) == len && fflush(stdout) == 0;
    free(xml);
    return ok ? FW_EXIT_OK : FW_EXIT_IO;
}
