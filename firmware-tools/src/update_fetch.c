/* update_fetch.c - `fitgate-fw update fetch`: download an update safely.
 *
 *   fitgate-fw update fetch URL --out PATH --sha256 HEX --size N [--bundle]
 *                           [--cafile CA] [--max-bytes N] [--progress] [--json]
 *
 * One file: streamed to PATH.part (O_EXCL|O_NOFOLLOW, 0600), never more than
 * --size (and --max-bytes) bytes accepted - a server sending endless data is
 * cut off at size + 1 - then size and sha256 are checked, fsync, rename,
 * directory fsync. Nothing half-downloaded ever carries the final name.
 *
 * --bundle: a bundle is a directory (bundle.h), so URL is the bundle's base
 * URL and --sha256/--size are those of its manifest.json. The manifest is
 * fetched and checked first, parsed with the bundle parser, and then each
 * image is fetched with the size and sha256 the manifest gives it, plus
 * manifest.sig and signer.pem (bounded; their trust comes from `update
 * install`, which verifies the signature before touching a slot). Everything
 * goes to PATH.part/ and the directory is renamed to PATH at the end. The
 * command's hash pins the manifest, the manifest pins every image.
 *
 * Transport: https only (CA from --cafile, else the system store), except
 * for a URL whose host is 127.0.0.1 or localhost (tests). No redirects.
 *
 * Exit codes as the other update commands: 0; 1 size or sha256 mismatch or a
 * bad manifest; 2 usage (also a plain-http URL to another host); 4 I/O,
 * network or an HTTP error status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "bundle.h"
#include "fw.h"
#include "fwsig.h"
#include "update.h"

#define SIG_MAX       512 /* a DER ECDSA P-256 signature is at most 72 bytes */
#define PROGRESS_STEP (1 << 20)

typedef struct fetch {
    const char *cafile;
    int insecure_ok; /* http:// allowed: the host is local */
    int progress;
    uint64_t max_bytes; /* 0: no limit beyond the sizes */
    uint64_t done, total, reported;
    /* The file being received. */
    int fd;
    uint64_t got, limit;
    fwsig_sha256 *h;
    int too_long, io_failed;
    const char *err_name;
    char err[2400];
} fetch;

__attribute__((format(printf, 4, 5))) static int fail(fetch *f, int rc, const char *name,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    f->err_name = name;
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    return rc;
}

static void progress(fetch *f, int force)
{
    if (!f->progress || (!force && f->done - f->reported < PROGRESS_STEP))
        return;
    f->reported = f->done;
    printf("{\"progress\":\"downloading\",\"bytes\":%" PRIu64 ",\"total\":%" PRIu64 "}\n", f->done,
           f->total);
    fflush(stdout);
}

static size_t on_data(char *p, size_t sz, size_t n, void *ctx)
{
    fetch *f = ctx;
    size_t len = sz * n;
    if (f->got + len > f->limit) {
        f->too_long = 1; /* endless data: stop reading */
        return 0;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(f->fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            f->io_failed = errno ? errno : EIO;
            return 0;
        }
        off += (size_t)w;
    }
    if (fwsig_sha256_update(f->h, p, len)) {
        f->io_failed = EIO;
        return 0;
    }
    f->got += len;
    f->done += len;
    progress(f, 0);
    return len;
}

/* "localhost" / "127.0.0.1" hosts may use plain http (tests only). */
static int url_check(const char *url, int *local)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        *local = !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost");
        if (!strcmp(scheme, "https") || (!strcmp(scheme, "http") && *local))
            rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* Download url into dfd/name (must not exist after the unlink of a stale
 * one) accepting at most limit bytes; the sha256 goes to digest. */
static int get_one(fetch *f, const char *url, int dfd, const char *name, uint64_t limit,
                   uint8_t digest[FWSIG_SHA256_LEN])
{
    unlinkat(dfd, name, 0); /* a stale part from a crash; never follows a link */
    f->fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f->fd < 0)
        return fail(f, FW_EXIT_IO, "io", "cannot create %s", name);
    f->got = 0;
    f->limit = limit;
    f->too_long = f->io_failed = 0;
    f->h = fwsig_sha256_new();
    CURL *c = curl_easy_init();
    int rc = FW_EXIT_OK;
    char cerr[CURL_ERROR_SIZE] = "";
    if (!f->h || !c) {
        rc = fail(f, FW_EXIT_IO, "io", "%s", "out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, f->insecure_ok ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (f->cafile) {
        curl_easy_setopt(c, CURLOPT_CAINFO, f->cafile);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled server: give up after 60 s */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode cr = curl_easy_perform(c);
    if (f->too_long)
        rc = fail(f, FW_EXIT_FAILED, "size", "%s: more data than expected", name);
    else if (f->io_failed)
        rc = fail(f, FW_EXIT_IO, "io", "%s: cannot write", name);
    else if (cr == CURLE_HTTP_RETURNED_ERROR)
        rc = fail(f, FW_EXIT_IO, "http", "server error: %s", cerr);
    else if (cr != CURLE_OK)
        rc = fail(f, FW_EXIT_IO, "network", "%s", cerr[0] ? cerr : curl_easy_strerror(cr));
    else if (fsync(f->fd) || fwsig_sha256_final(f->h, digest))
        rc = fail(f, FW_EXIT_IO, "io", "%s: cannot sync", name);
out:
    curl_easy_cleanup(c);
    fwsig_sha256_free(f->h);
    f->h = NULL;
    if (close(f->fd) && rc == FW_EXIT_OK)
        rc = fail(f, FW_EXIT_IO, "io", "%s: cannot close", name);
    f->fd = -1;
    return rc;
}

/* Fetch and check one file: exactly size bytes with this sha256. */
static int get_checked(fetch *f, const char *url, int dfd, const char *name, uint64_t size,
                       const uint8_t want[FWSIG_SHA256_LEN])
{
    uint8_t got[FWSIG_SHA256_LEN];
    int rc = get_one(f, url, dfd, name, size, got);
    if (rc)
        return rc;
    if (f->got != size)
        return fail(f, FW_EXIT_FAILED, "size", "%s: shorter than its declared size", name);
    if (fwsig_memeq(got, want, FWSIG_SHA256_LEN))
        return fail(f, FW_EXIT_FAILED, "sha256", "%s: sha256 differs", name);
    return FW_EXIT_OK;
}

static int hex32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return -1;
    for (int i = 0; i < 64; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return 0;
}

/* Remove a flat directory we created (a stale .part, an old bundle): its
 * plain entries, then the directory. Links are removed, never followed. */
static void rm_flat(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOTDIR || errno == ELOOP)
            unlink(dir); /* a stale file or link of that name */
        return;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dfd, e->d_name, 0);
    closedir(d);
    rmdir(dir);
}

static void dir_fsync(const char *path)
{
    char d[1100];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (slash == d)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(d, sizeof d, ".");
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int fetch_file(fetch *f, const char *url, const char *out, uint64_t size,
                      const uint8_t want[32])
{
    char part[1100];
    if ((size_t)snprintf(part, sizeof part, "%s.part", out) >= sizeof part)
        return fail(f, FW_EXIT_USAGE, "usage", "%s", "--out is too long");
    f->total = size;
    int rc = get_checked(f, url, AT_FDCWD, part, size, want);
    if (!rc && rename(part, out))
        rc = fail(f, FW_EXIT_IO, "io", "cannot rename to %s", out);
    if (rc)
        unlink(part);
    else
        dir_fsync(out);
    return rc;
}

static int fetch_bundle(fetch *f, const char *base, const char *out, uint64_t size,
                        const uint8_t want[32])
{
    char part[1100], url[2200];
    if ((size_t)snprintf(part, sizeof part, "%s.part", out) >= sizeof part)
        return fail(f, FW_EXIT_USAGE, "usage", "%s", "--out is too long");
    const char *sep = base[strlen(base) - 1] == '/' ? "" : "/";
    rm_flat(part);
    if (mkdir(part, 0700))
        return fail(f, FW_EXIT_IO, "io", "cannot create %s", part);
    int dfd = open(part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return fail(f, FW_EXIT_IO, "io", "cannot open %s", part);
    int rc;
    char *mbuf = NULL;
    f->total = size;
    snprintf(url, sizeof url, "%s%smanifest.json", base, sep);
    if (size > BUNDLE_MANIFEST_MAX) {
        rc = fail(f, FW_EXIT_FAILED, "size", "%s", "a manifest is at most 64 KiB");
        goto out;
    }
    rc = get_checked(f, url, dfd, "manifest.json", size, want);
    if (rc)
        goto out;
    bundle_manifest m;
    int mfd = openat(dfd, "manifest.json", O_RDONLY | O_CLOEXEC);
    mbuf = malloc(size);
    if (mfd < 0 || !mbuf || read(mfd, mbuf, size) != (ssize_t)size) {
        if (mfd >= 0)
            close(mfd);
        rc = fail(f, FW_EXIT_IO, "io", "%s", "cannot read the manifest back");
        goto out;
    }
    close(mfd);
    char perr[256];
    if (bundle_manifest_parse(mbuf, size, &m, perr, sizeof perr) != BUNDLE_OK) {
        rc = fail(f, FW_EXIT_FAILED, "manifest", "manifest: %s", perr);
        goto out;
    }
    f->total = size;
    for (size_t i = 0; i < m.n_images; i++)
        f->total += m.images[i].size;
    if (f->max_bytes && f->total > f->max_bytes) {
        rc = fail(f, FW_EXIT_FAILED, "size", "%s", "the bundle is larger than --max-bytes");
        goto out;
    }
    /* Signature and signer: only bounded here; `update install` checks them. */
    const char *small[] = {"manifest.sig", "signer.pem"};
    const uint64_t cap[] = {SIG_MAX, BUNDLE_SIGNER_MAX};
    uint64_t counted = f->done; /* progress counts the manifest and the images: the total */
    for (int i = 0; i < 2; i++) {
        uint8_t d[FWSIG_SHA256_LEN];
        snprintf(url, sizeof url, "%s%s%s", base, sep, small[i]);
        if ((rc = get_one(f, url, dfd, small[i], cap[i], d)))
            goto out;
    }
    f->done = f->reported = counted;
    for (size_t i = 0; i < m.n_images; i++) {
        snprintf(url, sizeof url, "%s%s%s", base, sep, m.images[i].name);
        if ((rc = get_checked(f, url, dfd, m.images[i].name, m.images[i].size, m.images[i].sha256)))
            goto out;
    }
    fsync(dfd);
    rm_flat(out);
    if (rename(part, out))
        rc = fail(f, FW_EXIT_IO, "io", "cannot rename to %s", out);
    else
        dir_fsync(out);
out:
    free(mbuf);
    close(dfd);
    if (rc)
        rm_flat(part);
    return rc;
}

static const char *usage =
    "usage: fitgate-fw update fetch URL --out PATH --sha256 HEX --size N [--bundle]\n"
    "                               [--cafile CA] [--max-bytes N] [--progress] [--json]\n"
    "  --bundle: URL is a bundle directory; --sha256/--size are its manifest.json's\n";

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v == 0)
        return -1;
    *out = v;
    return 0;
}

int fw_cmd_update_fetch(int argc, char **argv)
{
    static const struct option opts[] = {{"out", 1, 0, 'o'},       {"sha256", 1, 0, 's'},
                                         {"size", 1, 0, 'n'},      {"cafile", 1, 0, 'c'},
                                         {"max-bytes", 1, 0, 'm'}, {"progress", 0, 0, 'p'},
                                         {"json", 0, 0, 'j'},      {"bundle", 0, 0, 'b'},
                                         {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    const char *out = NULL, *hex = NULL;
    uint64_t size = 0;
    int json = 0, as_bundle = 0, bad = 0;
    fetch f = {.fd = -1};
    optind = 1;
    for (int ch; (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        if (ch == 'o')
            out = optarg;
        else if (ch == 's')
            hex = optarg;
        else if (ch == 'n')
            bad |= parse_u64(optarg, &size);
        else if (ch == 'c')
            f.cafile = optarg;
        else if (ch == 'm')
            bad |= parse_u64(optarg, &f.max_bytes);
        else if (ch == 'p')
            f.progress = 1;
        else if (ch == 'j')
            json = 1;
        else if (ch == 'b')
            as_bundle = 1;
        else {
            fputs(usage, ch == 'h' ? stdout : stderr);
            return ch == 'h' ? FW_EXIT_OK : FW_EXIT_USAGE;
        }
    }
    uint8_t want[32];
    int rc = FW_EXIT_OK, local = 0;
    if (bad || !out || !*out || !hex || !size || argc - optind != 1) {
        fputs(usage, stderr);
        return FW_EXIT_USAGE;
    }
    const char *url = argv[optind];
    if (hex32(hex, want))
        rc = fail(&f, FW_EXIT_USAGE, "usage", "%s", "--sha256 must be 64 lower-case hex digits");
    else if (url_check(url, &local))
        rc = fail(&f, FW_EXIT_USAGE, "insecure", "%s",
                  "the URL must be https (http only to 127.0.0.1 or localhost)");
    else if (!as_bundle && f.max_bytes && size > f.max_bytes)
        rc = fail(&f, FW_EXIT_FAILED, "size", "%s", "--size is larger than --max-bytes");
    else if (curl_global_init(CURL_GLOBAL_DEFAULT))
        rc = fail(&f, FW_EXIT_IO, "io", "%s", "cannot initialise libcurl");
    else {
        f.insecure_ok = local;
        rc = as_bundle ? fetch_bundle(&f, url, out, size, want)
                       : fetch_file(&f, url, out, size, want);
        curl_global_cleanup();
    }
    if (!rc)
        progress(&f, 1);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "command", "fetch");
        cJSON_AddNumberToObject(j, "exit", rc);
        cJSON_AddNumberToObject(j, "bytes", (double)f.done);
        if (rc) {
            cJSON_AddStringToObject(j, "error", f.err_name ? f.err_name : "fetch");
            cJSON_AddStringToObject(j, "detail", f.err);
        } else {
            cJSON_AddNullToObject(j, "error");
        }
        char *s = cJSON_PrintUnformatted(j);
        if (s)
            puts(s);
        cJSON_free(s);
        cJSON_Delete(j);
    } else if (rc) {
        fprintf(stderr, "fitgate-fw update fetch: %s\n", f.err);
    }
    return rc;
}
