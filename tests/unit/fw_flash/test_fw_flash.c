/* test_fw_flash.c - bmap parser/writer, block device policy, and fitgate-fw
 * flash/verify run as a process on files and loop devices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "blockdev.h"
#include "bmap.h"
#include "fw.h"

static char dir[] = "/tmp/fwflash-test-XXXXXX";

static void pathf(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* Run a shell command, return its exit status (or -1). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A sparse image: data at 0 (partition-table area), at 3 and 5 MiB when the
 * image is big enough, and at the end. */
static void make_image(const char *path, uint64_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    char buf[65536];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 131 + 7);
    assert_int_equal(pwrite(fd, buf, 512, 0), 512);
    if (size >= 8 << 20) {
        assert_int_equal(pwrite(fd, buf, sizeof(buf), 3 << 20), (ssize_t)sizeof(buf));
        assert_int_equal(pwrite(fd, buf, 5000, (5 << 20) + 100), 5000);
    }
    assert_int_equal(pwrite(fd, buf, 100, (off_t)size - 100), 100);
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    return 0;
}

static char loopdev[64]; /* attached by a test; detached even if it fails */

/* `losetup -d` succeeds but is deferred while someone (udev probing after our
 * writes) still has the device open: retry until it is really gone. */
static int loop_detach(const char *dev)
{
    for (int i = 0; i < 50; i++) {
        sh("losetup -d %s 2>/dev/null", dev);
        if (sh("losetup %s >/dev/null 2>&1", dev) != 0)
            return 0;
        usleep(100 * 1000);
    }
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    if (loopdev[0])
        loop_detach(loopdev);
    sh("rm -rf %s", dir);
    return 0;
}

/* ---- sha256 (SHA-NI path vs mbedTLS) ------------------------------------ */

static void hash_pieces(int ni, const uint8_t *p, size_t n, size_t piece, uint8_t out[32])
{
    bmap_sha256_use_ni(ni);
    bmap_sha256 *h = bmap_sha256_new();
    assert_non_null(h);
    for (size_t off = 0; off < n; off += piece)
        bmap_sha256_update(h, p + off, n - off < piece ? n - off : piece);
    bmap_sha256_finish(h, out);
    bmap_sha256_use_ni(1);
}

static void test_sha256_paths_agree(void **state)
{
    (void)state;
    size_t big = (1 << 20) + 77;
    uint8_t *buf = malloc(big), a[32], b[32], ref[32];
    assert_non_null(buf);
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    /* every length around the padding boundaries, and odd update splits */
    for (size_t n = 0; n < 300; n++) {
        assert_int_equal(mbedtls_sha256_ret(buf, n, ref, 0), 0);
        hash_pieces(1, buf, n, n % 7 + 1, a);
        hash_pieces(0, buf, n, 64, b);
        assert_memory_equal(a, ref, 32);
        assert_memory_equal(b, ref, 32);
    }
    assert_int_equal(mbedtls_sha256_ret(buf, big, ref, 0), 0);
    hash_pieces(1, buf, big, 65536 + 3, a);
    assert_memory_equal(a, ref, 32);
    /* a known answer: sha256("abc") */
    char hex[65];
    hash_pieces(1, (const uint8_t *)"abc", 3, 3, a);
    bmap_hex(a, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(buf);
}

/* ---- bmap --------------------------------------------------------------- */

static char *create_bmap(const char *img, size_t *len)
{
    char *xml, err[200];
    int fd = open(img, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(bmap_create(fd, &xml, len, err, sizeof(err)), 0);
    close(fd);
    return xml;
}

static void test_bmap_roundtrip(void **state)
{
    (void)state;
    char img[256], err[200];
    size_t len;
    pathf(img, sizeof(img), "rt.img");
    make_image(img, 8 << 20);
    char *xml = create_bmap(img, &len);
    bmap b;
    assert_int_equal(bmap_parse(xml, len, &b, err, sizeof(err)), 0);
    assert_int_equal(b.version_major, 2);
    assert_int_equal(b.image_size, 8 << 20);
    assert_int_equal(b.block_size, 4096);
    assert_int_equal(b.blocks_count, 2048);
    /* blocks 0; 768-783 (64 KiB at 3 MiB); 1280-1281 (5 MiB+100, 5000 B); 2047 */
    assert_int_equal(b.n_ranges, 4);
    assert_int_equal(b.ranges[0].first, 0);
    assert_int_equal(b.ranges[0].last, 0);
    assert_int_equal(b.ranges[1].first, 768);
    assert_int_equal(b.ranges[1].last, 783);
    assert_int_equal(b.ranges[2].first, 1280);
    assert_int_equal(b.ranges[2].last, 1281);
    assert_int_equal(b.ranges[3].first, 2047);
    assert_int_equal(b.mapped_count, 1 + 16 + 2 + 1);
    assert_true(b.ranges[1].has_sum);
    /* The range checksum is sha256 of exactly those image bytes. */
    char *data;
    size_t dlen;
    data = test_slurp(img, &dlen);
    assert_non_null(data);
    uint8_t sum[32];
    bmap_sha256 *h = bmap_sha256_new();
    bmap_sha256_update(h, data + 768 * 4096, 16 * 4096);
    bmap_sha256_finish(h, sum);
    assert_memory_equal(sum, b.ranges[1].sum, 32);
    free(data);
    bmap_free(&b);
    free(xml);
}

/* Put a valid BmapFileChecksum into a (mutated) document. */
static void resign(char *doc)
{
    char *v = strstr(doc, "<BmapFileChecksum>");
    assert_non_null(v);
    v += strlen("<BmapFileChecksum>");
    while (*v == ' ')
        v++;
    memset(v, '0', 64);
    uint8_t sum[32];
    char hex[65];
    bmap_sha256 *h = bmap_sha256_new();
    bmap_sha256_update(h, doc, strlen(doc));
    bmap_sha256_finish(h, sum);
    bmap_hex(sum, hex);
    memcpy(v, hex, 64);
}

static const char *base_doc =
    "<?xml version=\"1.0\" ?>\n<!-- c -->\n<bmap version=\"2.0\">\n"
    " <ImageSize> 40960 </ImageSize>\n <BlockSize> 4096 </BlockSize>\n"
    " <BlocksCount> 10 </BlocksCount>\n <MappedBlocksCount> 4 </MappedBlocksCount>\n"
    " <ChecksumType> sha256 </ChecksumType>\n"
    " <BmapFileChecksum> 0000000000000000000000000000000000000000000000000000000000000000 "
    "</BmapFileChecksum>\n <BlockMap>\n"
    "  <Range chksum=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"> 0-1 "
    "</Range>\n"
    "  <Range chksum=\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"> 5 "
    "</Range>\n"
    "  <Range> 8 </Range>\n"
    " </BlockMap>\n</bmap>\n";

/* Replace the first `from` in base_doc by `to`, re-sign unless told not to,
 * parse, and return the result (0 ok / -1) with the reason in err. */
static int parse_variant(const char *from, const char *to, int sign, char *err, size_t errlen)
{
    char doc[4096];
    const char *at = strstr(base_doc, from);
    assert_non_null(at);
    snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - base_doc), base_doc, to, at + strlen(from));
    if (sign)
        resign(doc);
    bmap b;
    int rc = bmap_parse(doc, strlen(doc), &b, err, errlen);
    bmap_free(&b);
    return rc;
}

static void expect_reject(const char *from, const char *to, const char *why)
{
    char err[200] = "";
    assert_int_equal(parse_variant(from, to, 1, err, sizeof(err)), -1);
    if (!strstr(err, why))
        fail_msg("'%s' -> '%s': error '%s' does not mention '%s'", from, to, err, why);
}

static void test_bmap_parse_rejects(void **state)
{
    (void)state;
    char err[200];
    assert_int_equal(parse_variant("<!-- c -->", "<!-- c -->", 1, err, sizeof(err)), 0);
    /* the file checksum covers every byte */
    assert_int_equal(parse_variant("<!-- c -->", "<!-- d -->", 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "BmapFileChecksum mismatch"));
    expect_reject("2.0", "3.0", "unsupported bmap version");
    expect_reject("2.0", "1.3", "unsupported bmap version");
    expect_reject("2.0", "x", "bad bmap version");
    expect_reject(" sha256 ", " sha1 ", "ChecksumType");
    expect_reject(" 5 </Range>", " 1 </Range>", "overlaps or is out of order");
    expect_reject(" 5 </Range>", " 0 </Range>", "overlaps or is out of order");
    expect_reject("<Range> 8 ", "<Range> 10 ", "beyond BlocksCount");
    expect_reject(" 0-1 ", " 1-0 ", "reversed");
    expect_reject(" 0-1 ", " 0-x ", "first-last");
    expect_reject(" 4 </Mapped", " 5 </Mapped", "MappedBlocksCount");
    expect_reject(" 10 </BlocksCount>", " 11 </BlocksCount>", "BlocksCount");
    expect_reject(" 4096 </BlockSize>", " 4000 </BlockSize>", "BlockSize");
    expect_reject(" 40960 </ImageSize>", " -1 </ImageSize>", "decimal");
    expect_reject(" 40960 </ImageSize>", " 99999999999999999999 </ImageSize>", "decimal");
    expect_reject("<BlockMap>", "<Foo>1</Foo><BlockMap>", "unexpected element <Foo>");
    expect_reject("<BlockMap>", "<ImageSize>1</ImageSize><BlockMap>", "duplicate");
    expect_reject(" <BlockSize> 4096 </BlockSize>\n", "", "missing <BlockSize>");
    expect_reject("<Range> 8", "<Range x=\"1\"> 8", "unexpected attribute");
    expect_reject("chksum=\"aaaa", "chksum=\"zzzz", "sha256 hex");
    expect_reject("</bmap>\n", "</bmap>\n<bmap/>", "trailing data");
    expect_reject("<!-- c -->", "<!-- &amp; -->\n<!-- unterminated", "unterminated");
    expect_reject(" 40960 ", " 40960&lt; ", "entities");
    expect_reject("<bmap version", "<map version", "root element");
    expect_reject(" 4 </Mapped", " 4 </Other", "expected </MappedBlocksCount>");
    /* NUL bytes and oversize documents never reach the parser proper */
    bmap b;
    assert_int_equal(bmap_parse("<bmap\0", 6, &b, err, sizeof(err)), -1);
    assert_int_equal(bmap_parse(base_doc, BMAP_MAX_FILE + 1, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than"));
    /* a range list with a partial last block: length is clipped to ImageSize */
    assert_int_equal(
        parse_variant(" 40960 </ImageSize>", " 40000 </ImageSize>", 1, err, sizeof(err)), 0);
}

/* ---- block device policy (fake sysfs) ----------------------------------- */

static void fake_dev(const char *root, const char *rel, const char *size, const char *removable,
                     const char *model)
{
    char p[512];
    assert_int_equal(sh("mkdir -p %s/%s/device", root, rel), 0);
    snprintf(p, sizeof(p), "%s/%s/size", root, rel);
    assert_int_equal(sh("printf '%s\\n' > %s", size, p), 0);
    if (removable)
        assert_int_equal(sh("printf '%s\\n' > %s/%s/removable", removable, root, rel), 0);
    if (model)
        assert_int_equal(sh("printf '%s   \\n' > %s/%s/device/model", model, root, rel), 0);
}

static void test_blkdev_policy(void **state)
{
    (void)state;
    char root[256], err[200];
    blkdev_info info;
    pathf(root, sizeof(root), "sys");
    /* /sys/dev/block/M:m are symlinks into /sys/block; a plain dir does as well */
    fake_dev(root, "block/sdz", "62333952", "1", "SD Card Reader");
    fake_dev(root, "block/sdz/sdz1", "1024", NULL, NULL);
    assert_int_equal(sh("touch %s/block/sdz/sdz1/partition && mkdir -p %s/dev/block && "
                        "ln -s ../../block/sdz %s/dev/block/8:0 && "
                        "ln -s ../../block/sdz/sdz1 %s/dev/block/8:1",
                        root, root, root, root),
                     0);
    fake_dev(root, "dev/block/259:0", "1000000000", "0", "Samsung SSD 980");

    assert_int_equal(blkdev_query(root, 8, 0, &info, err, sizeof(err)), 0);
    assert_int_equal(info.size_bytes, 62333952ull * 512);
    assert_true(info.removable);
    assert_false(info.is_partition);
    assert_string_equal(info.model, "SD Card Reader");
    assert_int_equal(blkdev_check(&info, 8ull << 30, 0, err, sizeof(err)), 0);
    /* too small: refused even with force */
    assert_int_equal(blkdev_check(&info, 64ull << 30, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than the target"));

    /* a partition: size is its own, removable/model come from the disk */
    assert_int_equal(blkdev_query(root, 8, 1, &info, err, sizeof(err)), 0);
    assert_true(info.is_partition);
    assert_true(info.removable);
    assert_int_equal(info.size_bytes, 1024 * 512);
    assert_string_equal(info.model, "SD Card Reader");

    /* non-removable: refused unless forced */
    assert_int_equal(blkdev_query(root, 259, 0, &info, err, sizeof(err)), 0);
    assert_false(info.removable);
    assert_int_equal(blkdev_check(&info, 1 << 20, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a removable"));
    assert_non_null(strstr(err, "Samsung SSD 980"));
    assert_int_equal(blkdev_check(&info, 1 << 20, 1, err, sizeof(err)), 0);

    /* unknown device */
    assert_int_equal(blkdev_query(root, 1, 99, &info, err, sizeof(err)), -1);
}

/* ---- fitgate-fw as a process on files ----------------------------------- */

#define FW FITGATE_FW_BIN

static void test_flash_file_roundtrips(void **state)
{
    (void)state;
    char img[256], tgt[256], out[256];
    pathf(img, sizeof(img), "sp.img");
    pathf(tgt, sizeof(tgt), "sp.out");
    pathf(out, sizeof(out), "sp.json");
    make_image(img, 8 << 20);
    /* no bmap: everything written */
    assert_int_equal(sh("%s flash %s %s --json > %s", FW, img, tgt, out), 0);
    assert_int_equal(sh("cmp %s %s", img, tgt), 0);
    assert_int_equal(
        sh("grep -q '\"verified\":true' %s && grep -q '\"bytes_written\":8388608' %s", out, out),
        0);
    /* with IMAGE.bmap found next to it: only the mapped blocks */
    assert_int_equal(sh("%s bmap create %s > %s.bmap", FW, img, img), 0);
    assert_int_equal(sh("echo garbage > %s", tgt), 0);
    assert_int_equal(sh("%s flash %s %s --json > %s", FW, img, tgt, out), 0);
    assert_int_equal(sh("cmp %s %s", img, tgt), 0);
    assert_int_equal(
        sh("grep -q '\"bytes_written\":81920,\"bytes_checked\":81920,\"ranges\":4' %s", out), 0);
    assert_int_equal(sh("%s verify %s %s --json > %s", FW, img, tgt, out), 0);
    assert_int_equal(sh("grep -q '\"bytes_checked\":81920' %s", out), 0);
    /* compressed image; X.zst uses X.bmap */
    assert_int_equal(sh("zstd -q -f %s -o %s.zst && rm -f %s.out2", img, img, tgt), 0);
    assert_int_equal(sh("%s flash %s.zst %s.out2 --json > %s", FW, img, tgt, out), 0);
    assert_int_equal(sh("cmp %s %s.out2", img, tgt), 0);
    assert_int_equal(sh("grep -q '\"ranges\":4' %s", out), 0);
    assert_int_equal(sh("%s verify %s.zst %s.out2", FW, img, tgt), 0);
    /* compressed without bmap (counting pass for the size) */
    assert_int_equal(sh("%s flash %s.zst %s.out3 --bmap /dev/null 2>/dev/null", FW, img, tgt),
                     FW_EXIT_FAILED);
    assert_int_equal(sh("mv %s.bmap %s.bmap.keep && %s flash %s.zst %s.out3 >/dev/null 2>&1 && "
                        "cmp %s %s.out3 && mv %s.bmap.keep %s.bmap",
                        img, img, FW, img, tgt, img, tgt, img, img),
                     0);
    /* the target changes after writing: verify fails, exit 1 */
    assert_int_equal(sh("printf 'X' | dd of=%s bs=1 seek=3145800 conv=notrunc 2>/dev/null", tgt),
                     0);
    assert_int_equal(sh("%s verify %s %s --json > %s", FW, img, tgt, out), FW_EXIT_FAILED);
    assert_int_equal(sh("grep -q '\"verified\":false' %s && grep -q 'differ' %s", out, out), 0);
    /* a change in a hole (not mapped) is not the image's business */
    assert_int_equal(sh("%s flash %s %s >/dev/null 2>&1 && printf 'X' | dd of=%s bs=1 "
                        "seek=7000000 conv=notrunc 2>/dev/null && %s verify %s %s 2>/dev/null",
                        FW, img, tgt, tgt, FW, img, tgt),
                     0);
    /* usage errors */
    assert_int_equal(sh("%s flash %s 2>/dev/null", FW, img), FW_EXIT_USAGE);
    assert_int_equal(sh("%s flash %s %s --bogus 2>/dev/null", FW, img, tgt), FW_EXIT_USAGE);
    assert_int_equal(sh("%s flash %s %s 2>/dev/null", FW, img, img), FW_EXIT_REFUSED);
    assert_int_equal(sh("%s flash %s/missing.img %s 2>/dev/null", FW, dir, tgt), FW_EXIT_IO);
}

/* One mapped range of ~21 MiB, not aligned to anything: it is cut into
 * several read-back pieces, the first of which holds the held-back head. */
static void test_flash_big_range(void **state)
{
    (void)state;
    char img[256], tgt[256], out[256];
    pathf(img, sizeof(img), "big.img");
    pathf(tgt, sizeof(tgt), "big.out");
    pathf(out, sizeof(out), "big.json");
    assert_int_equal(sh("truncate -s 24M %s && head -c 22000000 /dev/urandom | dd of=%s bs=4096 "
                        "seek=3 conv=notrunc status=none",
                        img, img),
                     0);
    assert_int_equal(sh("%s bmap create %s > %s.bmap", FW, img, img), 0);
    assert_int_equal(sh("grep -c '<Range' %s.bmap | grep -qx 1", img), 0);
    assert_int_equal(sh("%s flash %s %s --json > %s && cmp %s %s", FW, img, tgt, out, img, tgt), 0);
    assert_int_equal(sh("grep -q '\"bytes_written\":22003712,\"bytes_checked\":22003712,' %s", out),
                     0);
    /* corrupting the source late in the range fails the whole flash */
    assert_int_equal(sh("printf 'Z' | dd of=%s bs=1 seek=20000000 conv=notrunc 2>/dev/null", img),
                     0);
    assert_int_equal(sh("%s flash %s %s --json > %s", FW, img, tgt, out), FW_EXIT_FAILED);
    assert_int_equal(sh("grep -q 'source corrupted' %s && cmp -n 1048576 %s /dev/zero", out, tgt),
                     0);
}

static void test_flash_corrupt_source(void **state)
{
    (void)state;
    char img[256], tgt[256], out[256];
    pathf(img, sizeof(img), "bad.img");
    pathf(tgt, sizeof(tgt), "bad.out");
    pathf(out, sizeof(out), "bad.json");
    make_image(img, 8 << 20);
    assert_int_equal(sh("%s bmap create %s > %s.bmap", FW, img, img), 0);
    /* corrupt one byte in the 3 MiB range after the bmap was made */
    assert_int_equal(sh("printf 'Z' | dd of=%s bs=1 seek=3145730 conv=notrunc 2>/dev/null", img),
                     0);
    assert_int_equal(sh("%s flash %s %s --json > %s", FW, img, tgt, out), FW_EXIT_FAILED);
    assert_int_equal(sh("grep -q 'source corrupted' %s && grep -q '\"verified\":false' %s && "
                        "grep -q '\"exit\":1' %s",
                        out, out, out),
                     0);
    /* the partition-table area was held back: the target head is all zero */
    assert_int_equal(sh("cmp -n 4096 %s /dev/zero", tgt), 0);
    assert_int_equal(sh("%s verify %s %s 2>/dev/null", FW, img, tgt), FW_EXIT_FAILED);
    /* a bmap whose own checksum is wrong is refused before anything is written */
    assert_int_equal(sh("sed -i 's/Mapped: /Mapped: x/' %s.bmap && rm -f %s", img, tgt), 0);
    assert_int_equal(sh("%s flash %s %s 2>/dev/null", FW, img, tgt), FW_EXIT_FAILED);
    assert_int_equal(access(tgt, F_OK), -1);
}

/* bmaptool's bmaps parse, and bmaptool accepts ours (bmap-tools package). */
static void test_bmaptool_compat(void **state)
{
    (void)state;
    char img[256], tgt[256];
    pathf(img, sizeof(img), "bt.img");
    pathf(tgt, sizeof(tgt), "bt.out");
    make_image(img, 8 << 20);
    assert_int_equal(sh("bmaptool create -o %s.theirs %s 2>/dev/null", img, img), 0);
    size_t len = 0;
    char path[300], err[200];
    snprintf(path, sizeof(path), "%s.theirs", img);
    char *xml = test_slurp(path, &len);
    assert_non_null(xml);
    bmap b;
    assert_int_equal(bmap_parse(xml, len, &b, err, sizeof(err)), 0);
    assert_int_equal(b.n_ranges, 4);
    assert_int_equal(b.mapped_count, 20);
    bmap_free(&b);
    free(xml);
    assert_int_equal(
        sh("%s flash %s %s --bmap %s.theirs 2>/dev/null && cmp %s %s", FW, img, tgt, img, img, tgt),
        0);
    assert_int_equal(sh("%s bmap create %s > %s.ours && rm -f %s && "
                        "bmaptool copy --bmap %s.ours %s %s 2>/dev/null && cmp %s %s",
                        FW, img, img, tgt, img, img, tgt, img, tgt),
                     0);
    /* bmaptool notices our range checksums: corrupt the source and it fails */
    assert_int_equal(sh("printf 'Z' | dd of=%s bs=1 seek=3145730 conv=notrunc 2>/dev/null && "
                        "bmaptool copy --bmap %s.ours %s %s >/dev/null 2>&1",
                        img, img, img, tgt),
                     1);
}

/* ---- loop devices (root + /dev/loop-control) ---------------------------- */

static void loop_attach(const char *backing, char *dev, size_t len)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "losetup -f --show %s", backing);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(dev, (int)len, p));
    pclose(p);
    dev[strcspn(dev, "\n")] = '\0';
    assert_true(strncmp(dev, "/dev/loop", 9) == 0);
    snprintf(loopdev, sizeof(loopdev), "%s", dev);
}

static void test_flash_loop_device(void **state)
{
    (void)state;
    char img[256], small[256], back[256], dev[64], out[256], sys[256];
    pathf(img, sizeof(img), "lp.img");
    pathf(small, sizeof(small), "lp-small.img");
    pathf(back, sizeof(back), "lp.backing");
    pathf(out, sizeof(out), "lp.json");
    pathf(sys, sizeof(sys), "lpsys");
    make_image(img, 8 << 20);
    make_image(small, 2 << 20);
    assert_int_equal(sh("%s bmap create %s > %s.bmap", FW, small, small), 0);
    assert_int_equal(sh("truncate -s 4M %s", back), 0);
    loop_attach(back, dev, sizeof(dev));
    /* too small (8 MiB image, 4 MiB device): refused even with --force */
    assert_int_equal(sh("%s flash %s %s --force --yes --json > %s", FW, img, dev, out),
                     FW_EXIT_REFUSED);
    assert_int_equal(sh("grep -q 'larger than the target' %s", out), 0);
    /* loop devices are not removable: refused without --force */
    assert_int_equal(sh("%s flash %s %s --yes --json > %s", FW, small, dev, out), FW_EXIT_REFUSED);
    assert_int_equal(sh("grep -q 'not a removable' %s || cat %s", out, out), 0);
    /* no --yes and stdin not a terminal: refused, shows model and size first */
    assert_int_equal(sh("%s flash %s %s --force < /dev/null 2> %s", FW, small, dev, out),
                     FW_EXIT_REFUSED);
    assert_int_equal(
        sh("grep -q 'Target %s: model' %s && grep -q 'not confirmed' %s", dev, out, out), 0);
    /* in use: another exclusive opener (as a mount would be) */
    int fd = open(dev, O_RDONLY | O_EXCL);
    assert_true(fd >= 0);
    assert_int_equal(sh("%s flash %s %s --force --yes --json > %s", FW, small, dev, out),
                     FW_EXIT_REFUSED);
    assert_int_equal(sh("grep -q 'in use' %s", out), 0);
    close(fd);
    /* and now for real: old data in the head is replaced, verified by read-back */
    assert_int_equal(sh("dd if=/dev/urandom of=%s bs=1M count=4 conv=fsync 2>/dev/null", dev), 0);
    assert_int_equal(sh("%s flash %s %s --force --yes --json > %s", FW, small, dev, out), 0);
    assert_int_equal(sh("grep -q '\"verified\":true' %s", out), 0);
    assert_int_equal(sh("%s verify %s %s", FW, small, dev), 0);
    assert_int_equal(sh("cmp -n 4096 %s %s", small, dev), 0);
    /* a fake sysfs saying this maj:min is a removable 1 MiB card */
    struct stat st;
    assert_int_equal(stat(dev, &st), 0);
    char rel[64];
    snprintf(rel, sizeof(rel), "dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
    fake_dev(sys, rel, "2048", "1", "FakeCard");
    assert_int_equal(
        sh("FITGATE_FW_SYSFS=%s %s flash %s %s --yes --json > %s", sys, FW, small, dev, out),
        FW_EXIT_REFUSED);
    assert_int_equal(sh("grep -q 'larger than the target' %s", out), 0);
    assert_int_equal(sh("printf '8192\\n' > %s/%s/size", sys, rel), 0);
    assert_int_equal(sh("FITGATE_FW_SYSFS=%s %s flash %s %s --yes 2> %s", sys, FW, small, dev, out),
                     0);
    assert_int_equal(sh("grep -q 'FakeCard' %s", out), 0);
    assert_int_equal(loop_detach(dev), 0);
    loopdev[0] = '\0';
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_paths_agree),    cmocka_unit_test(test_bmap_roundtrip),
        cmocka_unit_test(test_bmap_parse_rejects),    cmocka_unit_test(test_blkdev_policy),
        cmocka_unit_test(test_flash_file_roundtrips), cmocka_unit_test(test_flash_big_range),
        cmocka_unit_test(test_flash_corrupt_source),  cmocka_unit_test(test_bmaptool_compat),
        cmocka_unit_test(test_flash_loop_device),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
