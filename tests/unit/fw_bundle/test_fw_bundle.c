/* test_fw_bundle.c - every bundle threat (The Update Framework list plus
 * truncation, bit flips, signature stripping, path traversal, disk full) is a
 * case that verification refuses. A throwaway PKI is made with the openssl CLI;
 * create/sign/verify also run as processes (exit codes, openssl interop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "bundle.h"
#include "fw.h"
#include "fwsig.h"

static char W[256];    /* work dir: PKI + bundles */
static char BASE[300]; /* a good signed bundle, copied per test */
static char B[300];    /* the bundle under test */
static char EXPIRES[32];

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static const char *p(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", B, name);
    return buf[i];
}

static bundle_err verify_with(const char *keyring, const char *hw, uint64_t floor_, time_t now)
{
    char ring[512], err[256];
    snprintf(ring, sizeof(ring), "%s/%s", W, keyring);
    bundle_policy pol = {.keyring = ring, .hardware = hw, .min_version = floor_, .now = now};
    return bundle_verify(B, &pol, NULL, NULL, NULL, err, sizeof(err));
}

static bundle_err verify_dev(void)
{
    return verify_with("dev-ca.pem", "rpi4", 7, time(NULL));
}

/* CA + signers. ext: the extensions file for the signer certificate. */
static void make_ca(const char *name)
{
    assert_int_equal(sh("cd %s && openssl ecparam -name prime256v1 -genkey -noout -out %s.key && "
                        "openssl req -x509 -new -key %s.key -subj /CN=%s -days 30 -out %s.pem "
                        "-addext basicConstraints=critical,CA:TRUE "
                        "-addext keyUsage=critical,keyCertSign 2>/dev/null",
                        W, name, name, name, name),
                     0);
}

static void make_signer(const char *name, const char *ca, const char *ext)
{
    assert_int_equal(sh("cd %s && printf '%s' > %s.ext && "
                        "openssl ecparam -name prime256v1 -genkey -noout -out %s.key && "
                        "openssl req -new -key %s.key -subj /CN=%s -out %s.csr && "
                        "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
                        "-days 10 -extfile %s.ext -out %s.pem 2>/dev/null",
                        W, ext, name, name, name, name, name, name, ca, ca, name, name),
                     0);
}

static void make_bundle(const char *out, const char *compat, int version, const char *img,
                        const char *signer)
{
    assert_int_equal(sh("cd %s && " FITFW_BIN " bundle create --compatible %s --version %d "
                        "--expires %s --image rootfs=%s --image boot=boot.img %s >/dev/null",
                        W, compat, version, EXPIRES, img, out),
                     0);
    if (signer)
        assert_int_equal(sh("cd %s && " FITFW_BIN " bundle sign --key %s.key --cert %s.pem "
                            "%s >/dev/null",
                            W, signer, signer, out),
                         0);
}

static int setup_all(void **state)
{
    (void)state;
    snprintf(W, sizeof(W), "/tmp/test_fw_bundle.XXXXXX");
    if (!mkdtemp(W))
        return -1;
    time_t t = time(NULL) + 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(EXPIRES, sizeof(EXPIRES), "%Y-%m-%dT%H:%M:%SZ", &tm);
    make_ca("dev-ca");
    make_ca("release-ca");
    make_signer("dev", "dev-ca", "extendedKeyUsage=codeSigning\\nkeyUsage=digitalSignature\\n");
    make_signer("release", "release-ca", "extendedKeyUsage=codeSigning\\n");
    make_signer("noeku", "dev-ca", "keyUsage=digitalSignature\\n");
    make_signer("tls", "dev-ca", "extendedKeyUsage=serverAuth\\n");
    assert_int_equal(sh("cd %s && mkdir other && head -c 300000 /dev/urandom > rootfs.img && "
                        "head -c 5000 /dev/urandom > boot.img && "
                        "head -c 300000 /dev/urandom > other/rootfs.img",
                        W),
                     0);
    snprintf(BASE, sizeof(BASE), "%s/base", W);
    snprintf(B, sizeof(B), "%s/b", W);
    make_bundle("base", "rpi4", 7, "rootfs.img", "dev");
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    sh("rm -rf %s", W);
    return 0;
}

/* Each test starts from a fresh copy of the good bundle. */
static int setup(void **state)
{
    (void)state;
    return sh("rm -rf %s && cp -a %s %s", B, BASE, B);
}

static void test_good_bundle_verifies(void **state)
{
    (void)state;
    assert_int_equal(verify_dev(), BUNDLE_OK);
    assert_int_equal(verify_with("dev-ca.pem", NULL, 0, time(NULL)), BUNDLE_OK);
    assert_int_equal(sh(FITFW_BIN " bundle verify --keyring %s/dev-ca.pem --hardware rpi4 "
                                  "--min-version 7 %s >/dev/null",
                        W, B),
                     FW_EXIT_OK);
    assert_int_equal(sh(FITFW_BIN " bundle inspect --json %s | grep -q '\"verified\":false'", B),
                     0);
}

static size_t sunk;
static int count_sink(void *ctx, const bundle_image *img, const void *d, size_t n)
{
    (void)ctx, (void)img, (void)d;
    sunk += n;
    return 0;
}

static void test_endless_data(void **state)
{
    (void)state;
    char ring[512], err[256];
    snprintf(ring, sizeof(ring), "%s/dev-ca.pem", W);
    bundle_policy pol = {.keyring = ring, .now = time(NULL)};
    assert_int_equal(sh("head -c 1000000 /dev/zero >> %s", p("rootfs.img")), 0);
    sunk = 0;
    assert_int_equal(bundle_verify(B, &pol, count_sink, NULL, NULL, err, sizeof(err)),
                     BUNDLE_E_IMAGE);
    assert_non_null(strstr(err, "longer"));
    /* Never more than the declared size reached the sink. */
    assert_int_equal(sunk, 300000);
    /* An endless device in place of the image is refused before any read. */
    assert_int_equal(sh("rm %s && ln -s /dev/zero %s", p("rootfs.img"), p("rootfs.img")), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_IO);
}

static void test_truncated_image(void **state)
{
    (void)state;
    assert_int_equal(truncate(p("rootfs.img"), 299999), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_IMAGE);
    assert_int_equal(truncate(p("rootfs.img"), 0), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_IMAGE);
    assert_int_equal(unlink(p("rootfs.img")), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_IO);
}

static void test_rollback(void **state)
{
    (void)state;
    assert_int_equal(verify_with("dev-ca.pem", "rpi4", 8, time(NULL)), BUNDLE_E_ROLLBACK);
    assert_int_equal(sh(FITFW_BIN " bundle verify --keyring %s/dev-ca.pem --min-version 8 %s "
                                  "2>/dev/null",
                        W, B),
                     FW_EXIT_FAILED);
}

static void test_freeze(void **state)
{
    (void)state;
    time_t exp;
    assert_int_equal(bundle_parse_time(EXPIRES, &exp), 0);
    assert_int_equal(verify_with("dev-ca.pem", "rpi4", 0, exp - 1), BUNDLE_OK);
    assert_int_equal(verify_with("dev-ca.pem", "rpi4", 0, exp), BUNDLE_E_EXPIRED);
    assert_int_equal(sh(FITFW_BIN " bundle verify --keyring %s/dev-ca.pem --now @%lld --json "
                                  "%s | grep -q '\"error\":\"expired\"'",
                        W, (long long)exp + 10, B),
                     0);
}

static void test_wrong_hardware(void **state)
{
    (void)state;
    assert_int_equal(verify_with("dev-ca.pem", "rpi5", 0, time(NULL)), BUNDLE_E_HARDWARE);
    assert_int_equal(verify_with("dev-ca.pem", "rpi", 0, time(NULL)), BUNDLE_E_HARDWARE);
}

static void test_signature_stripping(void **state)
{
    (void)state;
    assert_int_equal(unlink(p("manifest.sig")), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_SIGNATURE);
    assert_int_equal(sh(FITFW_BIN " bundle verify --keyring %s/dev-ca.pem %s 2>/dev/null", W, B),
                     FW_EXIT_FAILED);
    assert_int_equal(setup(NULL), 0);
    assert_int_equal(unlink(p("signer.pem")), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_SIGNATURE);
    assert_int_equal(setup(NULL), 0);
    spit(p("manifest.sig"), "", 0);
    assert_int_equal(verify_dev(), BUNDLE_E_SIGNATURE);
}

static void test_arbitrary_install(void **state)
{
    (void)state;
    /* Signed by a key whose certificate lacks codeSigning, or has only serverAuth. */
    assert_int_equal(sh(FITFW_BIN " bundle sign --key %s/noeku.key --cert %s/noeku.pem %s "
                                  ">/dev/null",
                        W, W, B),
                     0);
    assert_int_equal(verify_dev(), BUNDLE_E_SIGNATURE);
    assert_int_equal(
        sh(FITFW_BIN " bundle sign --key %s/tls.key --cert %s/tls.pem %s >/dev/null", W, W, B), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_SIGNATURE);
    /* A signer from a CA the keyring does not hold. */
    assert_int_equal(sh(FITFW_BIN " bundle sign --key %s/release.key --cert %s/release.pem %s "
                                  ">/dev/null",
                        W, W, B),
                     FW_EXIT_OK);
    assert_int_equal(verify_dev(), BUNDLE_E_SIGNATURE);
    /* A key that does not match the certificate is refused at signing. */
    assert_int_equal(sh(FITFW_BIN " bundle sign --key %s/dev.key --cert %s/release.pem %s "
                                  "2>/dev/null",
                        W, W, B),
                     FW_EXIT_FAILED);
}

static void test_dev_and_release_keyrings(void **state)
{
    (void)state;
    /* Dev-signed: good against dev, refused against release. */
    assert_int_equal(verify_with("dev-ca.pem", NULL, 0, time(NULL)), BUNDLE_OK);
    assert_int_equal(verify_with("release-ca.pem", NULL, 0, time(NULL)), BUNDLE_E_SIGNATURE);
    assert_int_equal(
        sh(FITFW_BIN " bundle verify --keyring %s/release-ca.pem %s 2>/dev/null", W, B),
        FW_EXIT_FAILED);
    /* Release-signed: the reverse. */
    assert_int_equal(sh(FITFW_BIN " bundle sign --key %s/release.key --cert %s/release.pem %s "
                                  ">/dev/null",
                        W, W, B),
                     0);
    assert_int_equal(verify_with("release-ca.pem", NULL, 0, time(NULL)), BUNDLE_OK);
    assert_int_equal(verify_with("dev-ca.pem", NULL, 0, time(NULL)), BUNDLE_E_SIGNATURE);
    /* verify takes exactly one keyring. */
    assert_int_equal(sh(FITFW_BIN " bundle verify --keyring %s/dev-ca.pem --keyring "
                                  "%s/release-ca.pem %s 2>/dev/null",
                        W, W, B),
                     FW_EXIT_USAGE);
}

static void test_mix_and_match(void **state)
{
    (void)state;
    /* An image from another bundle (same name, same size). */
    assert_int_equal(sh("cp %s/other/rootfs.img %s", W, p("rootfs.img")), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_IMAGE);
    /* An extra file smuggled in. */
    assert_int_equal(setup(NULL), 0);
    spit(p("extra.img"), "x", 1);
    assert_int_equal(verify_dev(), BUNDLE_E_EXTRA);
    assert_int_equal(unlink(p("extra.img")), 0);
    assert_int_equal(mkdir(p(".hidden"), 0755), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_EXTRA);
    /* Another bundle's (validly signed) manifest with this bundle's signature. */
    char other[512];
    snprintf(other, sizeof(other), "%s/b2", W);
    sh("rm -rf %s", other);
    make_bundle("b2", "rpi4", 8, "other/rootfs.img", "dev");
    assert_int_equal(setup(NULL), 0);
    assert_int_equal(sh("cp %s/manifest.json %s", other, p("manifest.json")), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_SIGNATURE);
    /* That manifest and its signature, with this bundle's images. */
    assert_int_equal(sh("cp %s/manifest.sig %s", other, p("manifest.sig")), 0);
    assert_int_equal(verify_dev(), BUNDLE_E_IMAGE);
}

/* Truncate f to every length below its size: verification must fail. */
static void truncate_all(const char *name)
{
    size_t len = 0;
    uint8_t *orig = (uint8_t *)test_slurp(p(name), &len);
    assert_non_null(orig);
    assert_true(len > 0);
    for (size_t n = 0; n < len; n++) {
        spit(p(name), orig, n);
        assert_int_not_equal(verify_dev(), BUNDLE_OK);
    }
    spit(p(name), orig, len);
    assert_int_equal(verify_dev(), BUNDLE_OK);
    free(orig);
}

static void test_truncation_everywhere(void **state)
{
    (void)state;
    truncate_all("manifest.json");
    truncate_all("manifest.sig");
    truncate_all("signer.pem");
}

static void flip_all(const char *name, size_t step, bundle_err expect)
{
    size_t len = 0;
    uint8_t *buf = (uint8_t *)test_slurp(p(name), &len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i += step) {
        buf[i] ^= 0x01;
        spit(p(name), buf, len);
        bundle_err e = verify_dev();
        if (expect != BUNDLE_OK)
            assert_int_equal(e, expect);
        else
            assert_int_not_equal(e, BUNDLE_OK);
        buf[i] ^= 0x01;
    }
    spit(p(name), buf, len);
    free(buf);
}

static void test_bit_flips(void **state)
{
    (void)state;
    flip_all("manifest.json", 1, BUNDLE_E_SIGNATURE);
    flip_all("manifest.sig", 1, BUNDLE_E_SIGNATURE);
    flip_all("rootfs.img", 997, BUNDLE_E_IMAGE);
    flip_all("boot.img", 101, BUNDLE_E_IMAGE);
    assert_int_equal(verify_dev(), BUNDLE_OK);
}

/* A manifest signed by a genuine key that names an unsafe path must still be
 * refused: the parser, not only the signature, guards the file system. */
static void sign_raw(const char *json)
{
    uint8_t sig[FWSIG_MAX_SIG];
    size_t sig_len;
    char key[512], cert[512], err[256];
    snprintf(key, sizeof(key), "%s/dev.key", W);
    snprintf(cert, sizeof(cert), "%s/dev.pem", W);
    spit(p("manifest.json"), json, strlen(json));
    assert_int_equal(fwsig_sign(key, cert, json, strlen(json), sig, &sig_len, err, sizeof(err)), 0);
    spit(p("manifest.sig"), sig, sig_len);
}

static void test_path_traversal(void **state)
{
    (void)state;
    static const char *names[] = {"../x", "/etc/x", "a/b",          ".x",
                                  "..",   "",       "manifest.sig", "x\\\\y"};
    char json[1024];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(json, sizeof(json),
                 "{\"format\":1,\"compatible\":\"rpi4\",\"version\":9,\"expires\":\"%s\","
                 "\"images\":[{\"name\":\"%s\",\"role\":\"rootfs\",\"size\":1,\"sha256\":"
                 "\"%064d\"}]}",
                 EXPIRES, names[i], 0);
        sign_raw(json);
        assert_int_equal(verify_dev(), BUNDLE_E_MANIFEST);
    }
    /* create refuses a name it could not verify later. */
    assert_int_equal(sh("cd %s && cp rootfs.img .dot && " FITFW_BIN " bundle create --compatible "
                        "rpi4 --version 1 --expires %s --image rootfs=.dot t1 2>/dev/null",
                        W, EXPIRES),
                     FW_EXIT_USAGE);
}

static void test_manifest_strict(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"format\":1}",
        /* duplicate key */
        "{\"format\":1,\"format\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1,"
        "\"sha256\":\"%s\"}]}",
        /* unknown key, float size, negative version, upper-case hex, 31 Feb, format 2,
         * trailing data, two rootfs, bad role */
        "{\"format\":1,\"x\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1,"
        "\"sha256\":\"%s\"}]}",
        "{\"format\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1.5,"
        "\"sha256\":\"%s\"}]}",
        "{\"format\":1,\"compatible\":\"a\",\"version\":-1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1,"
        "\"sha256\":\"%s\"}]}",
        "{\"format\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1,"
        "\"sha256\":\"%sA\"}]}",
        "{\"format\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-02-31T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1,"
        "\"sha256\":\"%s\"}]}",
        "{\"format\":2,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1,"
        "\"sha256\":\"%s\"}]}",
        "{\"format\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1,"
        "\"sha256\":\"%s\"}]}{}",
        "{\"format\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"rootfs\",\"size\":1,"
        "\"sha256\":\"%s\"},{\"name\":\"s\",\"role\":\"rootfs\",\"size\":1,\"sha256\":\"%s\"}]}",
        "{\"format\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
        "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":\"kernel\",\"size\":1,"
        "\"sha256\":\"%s\"}]}",
    };
    static const char *good = "{\"format\":1,\"compatible\":\"a\",\"version\":1,\"expires\":"
                              "\"2030-01-01T00:00:00Z\",\"images\":[{\"name\":\"r\",\"role\":"
                              "\"rootfs\",\"size\":1,\"sha256\":\"%s\"}]}  \n";
    char hex[65], json[2048], err[256];
    bundle_manifest m;
    memset(hex, 'a', 64);
    hex[64] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(json, sizeof(json), bad[i], hex, hex);
#pragma GCC diagnostic pop
        assert_int_equal(bundle_manifest_parse(json, strlen(json), &m, err, sizeof(err)),
                         BUNDLE_E_MANIFEST);
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(json, sizeof(json), good, hex);
#pragma GCC diagnostic pop
    assert_int_equal(bundle_manifest_parse(json, strlen(json), &m, err, sizeof(err)), BUNDLE_OK);
    assert_int_equal(m.version, 1);
    assert_int_equal(m.images[0].size, 1);
    /* A NUL inside the bytes is refused, as is anything over the size limit. */
    assert_int_equal(bundle_manifest_parse(json, strlen(json) + 1, &m, err, sizeof(err)),
                     BUNDLE_E_MANIFEST);
    char *big = calloc(1, BUNDLE_MANIFEST_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', BUNDLE_MANIFEST_MAX + 1);
    memcpy(big, json, strlen(json));
    assert_int_equal(bundle_manifest_parse(big, BUNDLE_MANIFEST_MAX + 1, &m, err, sizeof(err)),
                     BUNDLE_E_MANIFEST);
    free(big);
}

static void test_openssl_interop(void **state)
{
    (void)state;
    /* fitgate-fw's signature verifies with openssl. */
    assert_int_equal(sh("cd %s && openssl x509 -in dev.pem -pubkey -noout > dev.pub && "
                        "openssl dgst -sha256 -verify dev.pub -signature %s %s >/dev/null",
                        W, p("manifest.sig"), p("manifest.json")),
                     0);
    /* openssl's signature verifies with fitgate-fw. */
    assert_int_equal(sh("openssl dgst -sha256 -sign %s/dev.key -out %s %s", W, p("manifest.sig"),
                        p("manifest.json")),
                     0);
    assert_int_equal(verify_dev(), BUNDLE_OK);
    assert_int_equal(sh(FITFW_BIN " bundle verify --keyring %s/dev-ca.pem %s >/dev/null", W, B),
                     FW_EXIT_OK);
    /* ... and an openssl signature over other bytes does not. */
    assert_int_equal(
        sh("openssl dgst -sha256 -sign %s/dev.key -out %s %s", W, p("manifest.sig"), p("boot.img")),
        0);
    assert_int_equal(verify_dev(), BUNDLE_E_SIGNATURE);
}

/* create on a full disk: exit 4 and no half bundle left behind. A 128 KiB
 * tmpfs when we may mount one (root), and always RLIMIT_FSIZE (EFBIG on the
 * same write path). */
static void test_disk_full(void **state)
{
    (void)state;
    char mnt[512];
    snprintf(mnt, sizeof(mnt), "%s/full", W);
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=128k") == 0) {
        int rc = sh("cd %s && " FITFW_BIN " bundle create --compatible rpi4 --version 1 --expires "
                    "%s --image rootfs=rootfs.img full/out 2>/dev/null",
                    W, EXPIRES);
        struct stat st;
        int left = stat(mnt, &st) == 0 && sh("test -e %s/out", mnt) == 0;
        umount(mnt);
        assert_int_equal(rc, FW_EXIT_IO);
        assert_false(left);
    } else {
        print_message("tmpfs not mountable here (not root); RLIMIT_FSIZE case only\n");
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {65536, 65536};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        if (chdir(W))
            _exit(99);
        freopen("/dev/null", "w", stderr);
        execl(FITFW_BIN, FITFW_BIN, "bundle", "create", "--compatible", "rpi4", "--version", "1",
              "--expires", EXPIRES, "--image", "rootfs=rootfs.img", "rl", (char *)NULL);
        _exit(98);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), FW_EXIT_IO);
    assert_int_not_equal(sh("test -e %s/rl", W), 0);
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(sh(FITFW_BIN " bundle 2>/dev/null"), FW_EXIT_USAGE);
    assert_int_equal(sh(FITFW_BIN " bundle frob 2>/dev/null"), FW_EXIT_USAGE);
    assert_int_equal(sh(FITFW_BIN " bundle verify %s 2>/dev/null", B), FW_EXIT_USAGE);
    assert_int_equal(sh(FITFW_BIN " bundle verify --keyring x --now 2030 %s 2>/dev/null", B),
                     FW_EXIT_USAGE);
    assert_int_equal(sh("cd %s && " FITFW_BIN " bundle create --compatible rpi4 --version 1 "
                        "--expires 2030-13-01T00:00:00Z --image rootfs=rootfs.img t2 2>/dev/null",
                        W),
                     FW_EXIT_USAGE);
    /* Refuses to overwrite an existing directory. */
    assert_int_equal(sh("cd %s && " FITFW_BIN " bundle create --compatible rpi4 --version 1 "
                        "--expires %s --image rootfs=rootfs.img b 2>/dev/null",
                        W, EXPIRES),
                     FW_EXIT_IO);
    assert_int_equal(verify_dev(), BUNDLE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_good_bundle_verifies, setup),
        cmocka_unit_test_setup(test_endless_data, setup),
        cmocka_unit_test_setup(test_truncated_image, setup),
        cmocka_unit_test_setup(test_rollback, setup),
        cmocka_unit_test_setup(test_freeze, setup),
        cmocka_unit_test_setup(test_wrong_hardware, setup),
        cmocka_unit_test_setup(test_signature_stripping, setup),
        cmocka_unit_test_setup(test_arbitrary_install, setup),
        cmocka_unit_test_setup(test_dev_and_release_keyrings, setup),
        cmocka_unit_test_setup(test_mix_and_match, setup),
        cmocka_unit_test_setup(test_truncation_everywhere, setup),
        cmocka_unit_test_setup(test_bit_flips, setup),
        cmocka_unit_test_setup(test_path_traversal, setup),
        cmocka_unit_test(test_manifest_strict),
        cmocka_unit_test_setup(test_openssl_interop, setup),
        cmocka_unit_test_setup(test_disk_full, setup),
        cmocka_unit_test_setup(test_usage_errors, setup),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
