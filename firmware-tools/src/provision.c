/* provision.c - `fitgate-fw provision`: first-boot configuration of a gateway.
 *
 * Renders a small set of files (see docs/firmware-tools.md "Provisioning")
 * into the directory fitgate/ of TARGET, which is either a directory (a
 * mounted boot partition, or a staging tree) or an image / block device whose
 * FAT boot partition we find in its MBR or GPT (parttable.c) and write with
 * mtools (`mcopy -i IMAGE@@OFFSET`), so no loop device or mount is needed.
 *
 * Every input is validated before anything is written; a rejected input is
 * exit 2 with the reason. No private key is ever written: the gateway makes
 * its own at first boot (edge/src/enrol.c), and an input file that holds one
 * is refused (exit 3).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "fw.h"
#include "fitcommon/fileio.h"
#include "fwfile.h"
#include "fwsig.h"
#include "parttable.h"

#define PROV_MAX_INPUT (256 * 1024)
#define N_FILES        6

typedef struct prov_opts {
    const char *target, *gateway_id, *broker, *ca, *enrol_url, *token_file;
    const char *ssid, *passphrase_file, *country, *ssh_key, *ntp, *mount_point;
    int partition, force, json;
} prov_opts;

typedef struct prov_file {
    const char *name;
    char *data;
    size_t len;
    mode_t mode; /* in a directory target; FAT has no modes */
} prov_file;

typedef struct prov {
    prov_opts o;
    char broker_host[256];
    int broker_port;
    prov_file files[N_FILES];
    int n_files;
    fwpart part; /* image targets */
    char err[512];
} prov;

__attribute__((format(printf, 3, 4))) static int fail(prov *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return code;
}

/* Read a whole small text file; refuses NUL bytes and anything holding a
 * private key (exit 3: the tool never copies one onto a gateway). */
static int read_input(prov *p, const char *what, const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(p, FW_EXIT_USAGE, "%s %s: %s", what, path, strerror(errno));
    char *b = malloc(PROV_MAX_INPUT + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (b && n <= PROV_MAX_INPUT && (r = read(fd, b + n, PROV_MAX_INPUT + 1 - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!b || r < 0) {
        free(b);
        return fail(p, FW_EXIT_IO, "%s %s: read failed", what, path);
    }
    if (n > PROV_MAX_INPUT || memchr(b, '\0', n)) {
        free(b);
        return fail(p, FW_EXIT_USAGE, "%s %s: not a small text file", what, path);
    }
    b[n] = '\0';
    if (strstr(b, "PRIVATE KEY")) {
        free(b);
        return fail(p, FW_EXIT_REFUSED, "%s %s holds a private key: refused", what, path);
    }
    *out = b;
    *len = n;
    return 0;
}

static int id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Host names and IP literals we write into configuration files: letters,
 * digits, '.', '-', ':' (IPv6), no spaces or quotes that could break a line. */
static int host_valid(const char *s, size_t n)
{
    if (n < 1 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == ':'))
            return 0;
    return s[0] != '-' && s[0] != '.';
}

/* mqtts://host[:port] - plain mqtt:// is refused: the gateway's traffic and
 * identity go over TLS only. */
static int parse_broker(prov *p)
{
    const char *u = p->o.broker, *pre = "mqtts://";
    if (strncmp(u, pre, strlen(pre)))
        return fail(p, FW_EXIT_USAGE, "--broker must be mqtts://HOST[:PORT] (TLS only): %s", u);
    u += strlen(pre);
    const char *colon = strrchr(u, ':'), *end = u + strlen(u);
    if (u[0] == '[') /* [IPv6]:port */
        colon = strstr(u, "]:") ? strstr(u, "]:") + 1 : NULL;
    long port = 8883;
    if (colon) {
        char *e = NULL;
        errno = 0;
        port = strtol(colon + 1, &e, 10);
        if (errno || *e || e == colon + 1 || port < 1 || port > 65535)
            return fail(p, FW_EXIT_USAGE, "--broker: bad port in %s", p->o.broker);
        end = colon;
    }
    if (u[0] == '[' && end > u + 1 && end[-1] == ']') {
        u++;
        end--;
    }
    if (!host_valid(u, (size_t)(end - u)) || (size_t)(end - u) >= sizeof p->broker_host)
        return fail(p, FW_EXIT_USAGE, "--broker: bad host in %s", p->o.broker);
    memcpy(p->broker_host, u, (size_t)(end - u));
    p->broker_host[end - u] = '\0';
    p->broker_port = (int)port;
    return 0;
}

static int url_valid(const char *u)
{
    if (strncmp(u, "https://", 8) || strlen(u) > 1024 || !u[8] || u[8] == '/')
        return 0;
    for (const char *s = u; *s; s++)
        if (*s <= ' ' || *s == 0x7f || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

/* Enrolment tokens are what fitgate-core mints: base64url, 20-128 chars. */
static int token_valid(const char *t, size_t n)
{
    if (n < 20 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
            return 0;
    return 1;
}

/* One OpenSSH public key per line: TYPE BASE64 [comment], where the base64
 * blob decodes and starts with the same TYPE (RFC 4253 section 6.6). */
static int ssh_keys_valid(char *text, char *why, size_t whylen)
{
    static const char *types[] = {"ssh-ed25519",
                                  "ssh-rsa",
                                  "ecdsa-sha2-nistp256",
                                  "ecdsa-sha2-nistp384",
                                  "ecdsa-sha2-nistp521",
                                  "sk-ssh-ed25519@openssh.com",
                                  "sk-ecdsa-sha2-nistp256@openssh.com"};
    int keys = 0, lineno = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        size_t len = next ? (size_t)(next - line) : strlen(line);
        next = next ? next + 1 : NULL;
        lineno++;
        if (len == 0 || line[0] == '#')
            continue;
        char type[64], b64[16384];
        if (len >= sizeof b64 || sscanf(line, "%63s %16383s", type, b64) != 2) {
            snprintf(why, whylen, "line %d is not TYPE BASE64 [comment]", lineno);
            return -1;
        }
        int known = 0;
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            known |= !strcmp(type, types[i]);
        uint8_t blob[12288];
        size_t blen = 0;
        size_t tl = strlen(type);
        if (!known ||
            sodium_base642bin(blob, sizeof blob, b64, strlen(b64), NULL, &blen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) ||
            blen < 4 + tl ||
            (((uint32_t)blob[0] << 24) | ((uint32_t)blob[1] << 16) | ((uint32_t)blob[2] << 8) |
             blob[3]) != tl ||
            memcmp(blob + 4, type, tl)) {
            snprintf(why, whylen, "line %d is not an OpenSSH public key", lineno);
            return -1;
        }
        keys++;
    }
    if (!keys)
        snprintf(why, whylen, "no public key in the file");
    return keys ? 0 : -1;
}

static int add_file(prov *p, const char *name, mode_t mode, char *data, size_t len)
{
    if (!data)
        return fail(p, FW_EXIT_IO, "out of memory");
    p->files[p->n_files++] = (prov_file){name, data, len, mode};
    return 0;
}

__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    int r = vasprintf(&s, f, ap);
    va_end(ap);
    return r < 0 ? NULL : s;
}

static int render_wifi(prov *p)
{
    if (!p->o.ssid && !p->o.passphrase_file)
        return 0;
    if (!p->o.ssid || !p->o.passphrase_file)
        return fail(p, FW_EXIT_USAGE, "Wi-Fi needs both --wifi-ssid and --wifi-passphrase-file");
    size_t sl = strlen(p->o.ssid);
    if (sl < 1 || sl > 32)
        return fail(p, FW_EXIT_USAGE, "--wifi-ssid must be 1-32 bytes");
    if (p->o.country &&
        !(strlen(p->o.country) == 2 && p->o.country[0] >= 'A' && p->o.country[0] <= 'Z' &&
          p->o.country[1] >= 'A' && p->o.country[1] <= 'Z'))
        return fail(p, FW_EXIT_USAGE, "--wifi-country must be two upper-case letters (ISO 3166)");
    char *pass = NULL;
    size_t pl = 0;
    int rc = read_input(p, "Wi-Fi passphrase", p->o.passphrase_file, &pass, &pl);
    if (rc)
        return rc;
    if (pl && pass[pl - 1] == '\n')
        pass[--pl] = '\0';
    int printable = 1;
    for (size_t i = 0; i < pl; i++)
        printable &= pass[i] >= 0x20 && pass[i] <= 0x7e;
    if (pl < 8 || pl > 63 || !printable) {
        sodium_memzero(pass, pl);
        free(pass);
        return fail(p, FW_EXIT_USAGE, "Wi-Fi passphrase must be 8-63 printable ASCII characters");
    }
    uint8_t psk[32];
    rc = fwsig_wpa_psk(pass, (const uint8_t *)p->o.ssid, sl, psk);
    sodium_memzero(pass, pl);
    free(pass);
    if (rc)
        return fail(p, FW_EXIT_FAILED, "PSK derivation failed");
    char psk_hex[65], ssid_hex[65];
    sodium_bin2hex(psk_hex, sizeof psk_hex, psk, sizeof psk);
    sodium_bin2hex(ssid_hex, sizeof ssid_hex, (const uint8_t *)p->o.ssid, sl);
    sodium_memzero(psk, sizeof psk);
    /* ssid as hex: no quoting rules to get wrong for any byte of an SSID. */
    char *conf = fmt("# written by fitgate-fw provision; the passphrase is not stored\n"
                     "ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev\n"
                     "update_config=0\n%s%s%s"
                     "network={\n\tssid=%s\n\tkey_mgmt=WPA-PSK\n\tpsk=%s\n}\n",
                     p->o.country ? "country=" : "", p->o.country ? p->o.country : "",
                     p->o.country ? "\n" : "", ssid_hex, psk_hex);
    sodium_memzero(psk_hex, sizeof psk_hex);
    return add_file(p, "wpa_supplicant.conf", 0600, conf, conf ? strlen(conf) : 0);
}

/* Validate everything and render the files; nothing is written yet. */
static int render(prov *p)
{
    prov_opts *o = &p->o;
    char why[256] = "";
    if (!o->gateway_id || !o->broker || !o->ca || !o->enrol_url || !o->token_file)
        return fail(p, FW_EXIT_USAGE,
                    "missing --gateway-id, --broker, --ca, --enrol-url or "
                    "--token-file");
    if (!id_valid(o->gateway_id))
        return fail(p, FW_EXIT_USAGE, "--gateway-id must be 1-64 of [A-Za-z0-9._-]");
    int rc = parse_broker(p);
    if (rc)
        return rc;
    if (!url_valid(o->enrol_url))
        return fail(p, FW_EXIT_USAGE, "--enrol-url must be an https:// URL without spaces");
    if (o->mount_point[0] != '/' || strpbrk(o->mount_point, " \t\n\"'\\"))
        return fail(p, FW_EXIT_USAGE, "--mount-point must be an absolute path without blanks");
    if (o->ntp) {
        for (const char *s = o->ntp; *s;) {
            size_t n = strcspn(s, ",");
            if (!host_valid(s, n))
                return fail(p, FW_EXIT_USAGE, "--ntp must be host names separated by commas");
            s += n + (s[n] == ',');
        }
    }
    char *ca = NULL, *tok = NULL, *ssh = NULL;
    size_t ca_len = 0, tok_len = 0, ssh_len = 0;
    if ((rc = read_input(p, "CA bundle", o->ca, &ca, &ca_len)))
        return rc;
    if (add_file(p, "ca.pem", 0644, ca, ca_len))
        return FW_EXIT_IO;
    if (fwsig_ca_bundle_check(o->ca, why, sizeof why) < 0)
        return fail(p, FW_EXIT_USAGE, "%s", why);
    if ((rc = read_input(p, "enrolment token", o->token_file, &tok, &tok_len)))
        return rc;
    if (add_file(p, "enrol-token", 0600, tok, tok_len))
        return FW_EXIT_IO;
    while (tok_len && (tok[tok_len - 1] == '\n' || tok[tok_len - 1] == '\r'))
        tok[--tok_len] = '\0';
    p->files[p->n_files - 1].len = tok_len;
    if (!token_valid(tok, tok_len))
        return fail(p, FW_EXIT_USAGE, "enrolment token must be 20-128 base64url characters");
    if (o->ssh_key) {
        if ((rc = read_input(p, "SSH key", o->ssh_key, &ssh, &ssh_len)))
            return rc;
        if (add_file(p, "authorized_keys", 0644, ssh, ssh_len))
            return FW_EXIT_IO;
        if (ssh_keys_valid(ssh, why, sizeof why))
            return fail(p, FW_EXIT_USAGE, "--ssh-key %s: %s", o->ssh_key, why);
    }
    if ((rc = render_wifi(p)))
        return rc;
    if (o->ntp) {
        char *t =
            fmt("# written by fitgate-fw provision (systemd-timesyncd)\n[Time]\nNTP=%s\n", o->ntp);
        for (char *c = t ? strstr(t, "NTP=") : NULL; c && *c; c++)
            if (*c == ',')
                *c = ' ';
        if (add_file(p, "timesyncd.conf", 0644, t, t ? strlen(t) : 0))
            return FW_EXIT_IO;
    }
    const char *mp = o->mount_point;
    char *conf = fmt("# fitgate-edge first-boot configuration, written by fitgate-fw provision.\n"
                     "# The gateway makes its own key at first boot and enrols with the token.\n"
                     "gateway_id = %s\ncloud_host = %s\ncloud_port = %d\n"
                     "cloud_cafile = %s/fitgate/ca.pem\nenrol_url = %s\n"
                     "enrol_token_file = %s/fitgate/enrol-token\n",
                     o->gateway_id, p->broker_host, p->broker_port, mp, o->enrol_url, mp);
    return add_file(p, "edge.conf", 0644, conf, conf ? strlen(conf) : 0) ? FW_EXIT_IO : 0;
}

/* Every file provision may write (render() decides which ones it does). */
static const char *const all_files[] = {"edge.conf",           "ca.pem",         "enrol-token",
                                        "wpa_supplicant.conf", "timesyncd.conf", "authorized_keys"};

static int ours(const prov *p, const char *name)
{
    for (int i = 0; i < p->n_files; i++)
        if (!strcmp(name, p->files[i].name))
            return 1;
    return 0;
}

static int write_dir(prov *p)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/fitgate", p->o.target);
    struct stat st;
    if (!lstat(path, &st) && !p->o.force)
        return fail(p, FW_EXIT_REFUSED, "%s exists: already provisioned (use --force)", path);
    if (mkdir(path, 0700) && errno != EEXIST)
        return fail(p, FW_EXIT_IO, "mkdir %s: %s", path, strerror(errno));
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return fail(p, FW_EXIT_IO, "%s: %s", path, strerror(errno));
    for (int i = 0; i < p->n_files; i++)
        if (file_write_atomic_at(dfd, p->files[i].name, p->files[i].data, p->files[i].len,
                                 p->files[i].mode)) {
            close(dfd);
            return fail(p, FW_EXIT_IO, "writing %s/%s failed: %s", path, p->files[i].name,
                        strerror(errno));
        }
    /* Files from an earlier provisioning that this one does not write (Wi-Fi
     * dropped, say) must not linger: they would be used at first boot. */
    for (size_t k = 0; k < sizeof all_files / sizeof all_files[0]; k++)
        if (!ours(p, all_files[k]))
            unlinkat(dfd, all_files[k], 0);
    int rc = fsync(dfd);
    close(dfd);
    return rc ? fail(p, FW_EXIT_IO, "fsync %s failed", path) : 0;
}

static int find_partition(prov *p, const char *dev)
{
    int fd = open(dev, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        if (fd >= 0)
            close(fd);
        return fail(p, FW_EXIT_IO, "%s: %s", dev, strerror(errno));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(fd, 0, SEEK_END);
        size = end > 0 ? (uint64_t)end : 0;
        /* A mounted card is refused: mtools would write under the kernel's
         * FAT driver. O_EXCL on a block device fails with EBUSY then. */
        int x = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
        if (x < 0) {
            close(fd);
            return fail(p, FW_EXIT_REFUSED, "%s is in use (mounted?): %s", dev, strerror(errno));
        }
        close(x);
    }
    uint8_t head[FWPART_HEAD_LEN] = {0}, boot[512];
    ssize_t n = pread(fd, head, sizeof head, 0);
    fwpart parts[FWPART_MAX];
    int np =
        n > 0 ? fwpart_list(head, (size_t)n, size, parts, FWPART_MAX, p->err, sizeof p->err) : -1;
    if (np < 0) {
        close(fd);
        return n > 0 ? FW_EXIT_REFUSED : fail(p, FW_EXIT_IO, "%s: cannot read", dev);
    }
    int found = -1;
    for (int i = 0; i < np && found < 0; i++)
        if (p->o.partition ? parts[i].index == p->o.partition : parts[i].fat)
            found = i;
    if (found < 0) {
        close(fd);
        return p->o.partition
                   ? fail(p, FW_EXIT_REFUSED, "%s has no partition %d", dev, p->o.partition)
                   : fail(p, FW_EXIT_REFUSED, "%s has no FAT partition", dev);
    }
    p->part = parts[found];
    /* The type byte can lie: check the FAT boot sector itself. */
    n = pread(fd, boot, sizeof boot, (off_t)p->part.offset);
    close(fd);
    if (n != (ssize_t)sizeof boot || boot[510] != 0x55 || boot[511] != 0xaa ||
        (memcmp(boot + 54, "FAT", 3) && memcmp(boot + 82, "FAT32", 5)))
        return fail(p, FW_EXIT_REFUSED, "partition %d of %s holds no FAT file system",
                    p->part.index, dev);
    return 0;
}

static int write_image(prov *p)
{
    int rc = find_partition(p, p->o.target);
    if (rc)
        return rc;
    char img[4200], stage[] = "/tmp/fitgate-provision-XXXXXX";
    snprintf(img, sizeof img, "%s@@%llu", p->o.target, (unsigned long long)p->part.offset);
    char *mdir[] = {"mdir", "-b", "-i", img, "::/fitgate", NULL};
    if (fw_spawn(mdir, NULL, 0, 1) == 0 && !p->o.force)
        return fail(p, FW_EXIT_REFUSED,
                    "partition %d already has /fitgate: already provisioned (use --force)",
                    p->part.index);
    char *mmd[] = {"mmd", "-D", "s", "-i", img, "::/fitgate", NULL};
    fw_spawn(mmd, NULL, 0, 1); /* exists already with --force: fine, mcopy below says if not */
    if (!mkdtemp(stage))
        return fail(p, FW_EXIT_IO, "mkdtemp: %s", strerror(errno));
    int dfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = dfd < 0 ? fail(p, FW_EXIT_IO, "%s: %s", stage, strerror(errno)) : 0;
    char *argv[8 + N_FILES] = {"mcopy", "-o", "-Q", "-i", img};
    char paths[N_FILES][sizeof stage + 32];
    int argc = 5;
    for (int i = 0; !rc && i < p->n_files; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", stage, p->files[i].name);
        if (file_write_atomic_at(dfd, p->files[i].name, p->files[i].data, p->files[i].len,
                                 p->files[i].mode))
            rc = fail(p, FW_EXIT_IO, "staging %s failed", p->files[i].name);
        argv[argc++] = paths[i];
    }
    argv[argc++] = "::/fitgate/";
    argv[argc] = NULL;
    if (!rc) {
        int st = fw_spawn(argv, NULL, 0, 0);
        if (st)
            rc = fail(p, st < 0 ? FW_EXIT_IO : FW_EXIT_FAILED,
                      "mcopy into partition %d failed (exit %d; is mtools installed?)",
                      p->part.index, st);
    }
    /* As in write_dir: files of an earlier provisioning not written now go. */
    for (size_t k = 0; !rc && k < sizeof all_files / sizeof all_files[0]; k++)
        if (!ours(p, all_files[k])) {
            char name[64];
            snprintf(name, sizeof name, "::/fitgate/%s", all_files[k]);
            char *mdel[] = {"mdel", "-i", img, name, NULL};
            fw_spawn(mdel, NULL, 0, 1);
        }
    /* The staging copy holds the token and the PSK: remove it in any case. */
    for (int i = 0; i < p->n_files; i++)
        if (dfd >= 0)
            unlinkat(dfd, p->files[i].name, 0);
    if (dfd >= 0)
        close(dfd);
    rmdir(stage);
    return rc;
}

static const char *usage =
    "usage: fitgate-fw provision TARGET --gateway-id ID --broker mqtts://HOST[:PORT]\n"
    "         --ca CA.pem --enrol-url https://... --token-file FILE\n"
    "         [--wifi-ssid SSID --wifi-passphrase-file FILE [--wifi-country CC]]\n"
    "         [--ssh-key KEY.pub] [--ntp HOST[,HOST]] [--partition N]\n"
    "         [--mount-point /boot/firmware] [--force] [--json]\n"
    "TARGET is an image file, a block device (its FAT boot partition is used)\n"
    "or a directory (the files go to TARGET/fitgate/).\n";

static int parse_args(prov_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"gateway-id", 1, 0, 'g'},
        {"broker", 1, 0, 'b'},
        {"ca", 1, 0, 'c'},
        {"enrol-url", 1, 0, 'e'},
        {"token-file", 1, 0, 't'},
        {"wifi-ssid", 1, 0, 's'},
        {"wifi-passphrase-file", 1, 0, 'w'},
        {"wifi-country", 1, 0, 'C'},
        {"ssh-key", 1, 0, 'k'},
        {"ntp", 1, 0, 'n'},
        {"partition", 1, 0, 'p'},
        {"mount-point", 1, 0, 'm'},
        {"force", 0, 0, 'f'},
        {"json", 0, 0, 'j'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0},
    };
    o->mount_point = "/boot/firmware";
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (c) {
        case 'g':
            o->gateway_id = optarg;
            break;
        case 'b':
            o->broker = optarg;
            break;
        case 'c':
            o->ca = optarg;
            break;
        case 'e':
            o->enrol_url = optarg;
            break;
        case 't':
            o->token_file = optarg;
            break;
        case 's':
            o->ssid = optarg;
            break;
        case 'w':
            o->passphrase_file = optarg;
            break;
        case 'C':
            o->country = optarg;
            break;
        case 'k':
            o->ssh_key = optarg;
            break;
        case 'n':
            o->ntp = optarg;
            break;
        case 'm':
            o->mount_point = optarg;
            break;
        case 'f':
            o->force = 1;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'p': {
            char *e = NULL;
            long v = strtol(optarg, &e, 10);
            if (*e || v < 1 || v > FWPART_MAX)
                return -1;
            o->partition = (int)v;
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            return -1;
        }
    }
    if (optind != argc - 1)
        return -1;
    o->target = argv[optind];
    return 0;
}

static void report(const prov *p, int rc)
{
    if (!p->o.json) {
        if (rc)
            fprintf(stderr, "fitgate-fw provision: %s\n", p->err);
        else if (p->part.index)
            printf("provisioned %s partition %d: %d files in /fitgate\n", p->o.target,
                   p->part.index, p->n_files);
        else
            printf("provisioned %s/fitgate: %d files\n", p->o.target, p->n_files);
        return;
    }
    cJSON *j = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(j, "files");
    cJSON_AddStringToObject(j, "command", "provision");
    cJSON_AddStringToObject(j, "target", p->o.target ? p->o.target : "");
    if (p->part.index) {
        cJSON_AddNumberToObject(j, "partition", p->part.index);
        cJSON_AddNumberToObject(j, "offset", (double)p->part.offset);
    } else {
        cJSON_AddNullToObject(j, "partition");
    }
    for (int i = 0; !rc && i < p->n_files; i++)
        cJSON_AddItemToArray(files, cJSON_CreateString(p->files[i].name));
    cJSON_AddNumberToObject(j, "exit", rc);
    if (rc)
        cJSON_AddStringToObject(j, "error", p->err);
    else
        cJSON_AddNullToObject(j, "error");
    char *s = cJSON_PrintUnformatted(j);
    if (s)
        puts(s);
    cJSON_free(s);
    cJSON_Delete(j);
}

int fw_cmd_provision(int argc, char **argv)
{
    prov *p = calloc(1, sizeof *p);
    if (!p)
        return FW_EXIT_IO;
    int rc = parse_args(&p->o, argc, argv);
    if (rc) {
        if (rc < 0)
            fputs(usage, stderr);
        free(p);
        return rc > 0 ? FW_EXIT_OK : FW_EXIT_USAGE;
    }
    if (sodium_init() < 0) {
        free(p);
        return FW_EXIT_FAILED;
    }
    struct stat st;
    rc = render(p);
    if (!rc && stat(p->o.target, &st))
        rc = fail(p, FW_EXIT_IO, "%s: %s", p->o.target, strerror(errno));
    else if (!rc)
        rc = S_ISDIR(st.st_mode)                          ? write_dir(p)
             : S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ? write_image(p)
                                                          : fail(p, FW_EXIT_USAGE,
                                                                 "%s is not an image, block "
                                                                 "device or directory",
                                                                 p->o.target);
    report(p, rc);
    for (int i = 0; i < p->n_files; i++) {
        sodium_memzero(p->files[i].data, p->files[i].len);
        free(p->files[i].data);
    }
    free(p);
    return rc;
}
