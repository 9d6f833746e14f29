/* update.c - `fitgate-fw update install|mark-good|status|boot`: A/B updates.
 *
 * install BUNDLE, in this order (each step leaves a bootable gateway; a
 * power cut anywhere boots the running slot, or the new one only once it is
 * completely written, read back and switched to):
 *   1. verify the bundle whole (signature, hardware, expiry, version above
 *      both the running slot's and the anti-rollback floor, image hashes);
 *   2. mark the target (inactive) slot bad: out of BOOT_ORDER, 0 attempts,
 *      state "installing";
 *   3. stream the images into the target while verifying the bundle again
 *      (the files could change between the passes: only a second full
 *      verification makes what was written trusted);
 *   4. fsync, drop the written pages from the cache, read them back and
 *      compare with the manifest's sha256;
 *   5. state "installed" with the new version;
 *   6. BOOT_ORDER = target first, BOOT_<target>_LEFT = attempts.
 * mark-good (after the health check: fitgate-edge reconnected) makes the
 * booted slot "good", resets its attempts, and only then raises the floor.
 * If the new slot never reaches mark-good, the bootloader runs out of its
 * attempts and boots the old slot: mark-good/status there record "bad".
 *
 * FITGATE_UPDATE_KILL_AT=<step> (tests only) SIGKILLs the updater right after
 * that step: verified, marked-bad, writing, written, read-back, state,
 * switched - the power-loss tests walk all of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bundle.h"
#include "fw.h"
#include "fitcommon/fileio.h"
#include "fwfile.h"
#include "fwsig.h"
#include "update.h"

#define CHUNK (1 << 20)

typedef struct inst {
    upd_config c;
    int json, progress, target, booted;
    uint64_t total, written, reported; /* image bytes, for --progress */
    int fd[BUNDLE_MAX_IMAGES];
    uint64_t off[BUNDLE_MAX_IMAGES];
    const bundle_manifest *m;
    bundle_manifest man; /* the verified manifest (first pass) */
    int chunks;
    char err[2560];
    const char *err_name;
} inst;

/* A step is done: tell a --progress reader (one JSON line each, flushed, so
 * fitgate-edge can forward it as it happens), and the power-loss tests. */
static void step(const inst *in, const char *name)
{
    if (in->progress) {
        printf("{\"progress\":\"%s\",\"bytes\":%llu,\"total\":%llu}\n", name,
               (unsigned long long)in->written, (unsigned long long)in->total);
        fflush(stdout);
    }
    const char *k = getenv("FITGATE_UPDATE_KILL_AT");
    if (k && !strcmp(k, name))
        kill(getpid(), SIGKILL);
}

static int img_index(const inst *in, const bundle_image *img)
{
    for (size_t i = 0; i < in->m->n_images; i++)
        if (&in->m->images[i] == img || !strcmp(in->m->images[i].name, img->name))
            return (int)i;
    return -1;
}

static int sink(void *ctx, const bundle_image *img, const void *data, size_t len)
{
    inst *in = ctx;
    int i = img_index(in, img);
    if (i < 0 || in->fd[i] < 0)
        return -1;
    for (size_t done = 0; done < len;) {
        ssize_t w =
            pwrite(in->fd[i], (const char *)data + done, len - done, (off_t)(in->off[i] + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(in->err, sizeof in->err, "writing %s: %s", img->name,
                     w < 0 ? strerror(errno) : "short write");
            return -1;
        }
        done += (size_t)w;
    }
    in->off[i] += len;
    in->written += len;
    if (++in->chunks == 1 || in->written - in->reported >= 8u << 20 || in->written == in->total) {
        in->reported = in->written;
        step(in, "writing");
    }
    return 0;
}

static const char *target_path(const inst *in, const bundle_image *img)
{
    const upd_slot *s = &in->c.slot[in->target];
    return img->role == BUNDLE_ROLE_ROOTFS ? s->rootfs : s->boot;
}

/* Open every image's target before anything is marked: a missing target or
 * one too small refuses the install while the gateway is untouched. */
static int open_targets(inst *in)
{
    for (size_t i = 0; i < in->m->n_images; i++) {
        const bundle_image *img = &in->m->images[i];
        const char *p = target_path(in, img);
        if (!p[0]) {
            snprintf(in->err, sizeof in->err, "no %s target configured for slot %c",
                     bundle_role_str(img->role), 'A' + in->target);
            return FW_EXIT_REFUSED;
        }
        struct stat st;
        int blk = !stat(p, &st) && S_ISBLK(st.st_mode);
        in->fd[i] = open(p, O_RDWR | O_CLOEXEC | (blk ? O_EXCL : 0));
        off_t cap = in->fd[i] >= 0 ? lseek(in->fd[i], 0, SEEK_END) : -1;
        if (in->fd[i] < 0 || cap < 0) {
            snprintf(in->err, sizeof in->err, "slot %c target %s: %s", 'A' + in->target, p,
                     strerror(errno));
            return errno == EBUSY ? FW_EXIT_REFUSED : FW_EXIT_IO;
        }
        if ((uint64_t)cap < img->size) {
            snprintf(in->err, sizeof in->err, "%s (%llu bytes) does not fit %s (%lld bytes)",
                     img->name, (unsigned long long)img->size, p, (long long)cap);
            return FW_EXIT_REFUSED;
        }
    }
    return 0;
}

/* Read back what was written, from the device, not the page cache. */
static int read_back(inst *in)
{
    uint8_t *buf = malloc(CHUNK), digest[FWSIG_SHA256_LEN];
    int rc = buf ? 0 : FW_EXIT_IO;
    for (size_t i = 0; !rc && i < in->m->n_images; i++) {
        const bundle_image *img = &in->m->images[i];
        if (fdatasync(in->fd[i])) {
            snprintf(in->err, sizeof in->err, "sync %s: %s", img->name, strerror(errno));
            rc = FW_EXIT_IO;
            break;
        }
        posix_fadvise(in->fd[i], 0, (off_t)img->size, POSIX_FADV_DONTNEED);
        fwsig_sha256 *h = fwsig_sha256_new();
        uint64_t off = 0;
        while (h && off < img->size) {
            size_t want = img->size - off < CHUNK ? (size_t)(img->size - off) : CHUNK;
            ssize_t r = pread(in->fd[i], buf, want, (off_t)off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0 || fwsig_sha256_update(h, buf, (size_t)r))
                break;
            off += (uint64_t)r;
        }
        if (!h || off != img->size || fwsig_sha256_final(h, digest) ||
            fwsig_memeq(digest, img->sha256, sizeof digest)) {
            snprintf(in->err, sizeof in->err, "read-back of %s from slot %c differs", img->name,
                     'A' + in->target);
            in->err_name = "read-back";
            rc = FW_EXIT_FAILED;
        }
        fwsig_sha256_free(h);
    }
    free(buf);
    return rc;
}

static int same_manifest(const bundle_manifest *a, const bundle_manifest *b)
{
    if (a->version != b->version || strcmp(a->compatible, b->compatible) ||
        a->n_images != b->n_images)
        return 0;
    for (size_t i = 0; i < a->n_images; i++)
        if (strcmp(a->images[i].name, b->images[i].name) ||
            a->images[i].size != b->images[i].size || a->images[i].role != b->images[i].role ||
            memcmp(a->images[i].sha256, b->images[i].sha256, sizeof a->images[i].sha256))
            return 0;
    return 1;
}

static void drop_slot(upd_env *e, int slot)
{
    char o[UPD_SLOTS + 1] = "";
    size_t n = 0;
    for (size_t i = 0; e->order[i]; i++)
        if (e->order[i] != 'A' + slot)
            o[n++] = e->order[i];
    o[n] = '\0';
    memcpy(e->order, o, sizeof o);
    e->left[slot] = 0;
}

static int do_install(inst *in, const char *bundle)
{
    upd_env env;
    upd_state st;
    char e2[256];
    in->m = &in->man;
    if (upd_env_read(&in->c, &env, in->err, sizeof in->err) ||
        upd_state_read(&in->c, &st, in->err, sizeof in->err))
        return FW_EXIT_IO;
    in->booted = upd_booted_slot(&in->c);
    if (in->booted < 0) {
        snprintf(in->err, sizeof in->err, "cannot tell the booted slot (no fitgate.slot= in %s)",
                 in->c.booted_from);
        return FW_EXIT_REFUSED;
    }
    in->target = 1 - in->booted;
    if (st.status[in->booted] != UPD_GOOD && st.status[in->booted] != UPD_EMPTY) {
        /* Overwriting the other slot now would destroy the only proven one. */
        snprintf(in->err, sizeof in->err, "booted slot %c is %s, not good: mark-good first",
                 'A' + in->booted, upd_status_str(st.status[in->booted]));
        return FW_EXIT_REFUSED;
    }
    uint64_t cur = st.version[in->booted];
    bundle_policy p = {.keyring = in->c.keyring,
                       .hardware = in->c.compatible,
                       .min_version = (cur + 1 > st.floor ? cur + 1 : st.floor),
                       .now = time(NULL)};
    bundle_err be = bundle_verify(bundle, &p, NULL, NULL, &in->man, in->err, sizeof in->err);
    if (be != BUNDLE_OK) {
        in->err_name = bundle_err_str(be);
        return be == BUNDLE_E_IO ? FW_EXIT_IO : FW_EXIT_FAILED;
    }
    int rc = open_targets(in);
    if (rc)
        return rc;
    for (size_t i = 0; i < in->man.n_images; i++)
        in->total += in->man.images[i].size;
    step(in, "verified");
    st.status[in->target] = UPD_INSTALLING;
    st.version[in->target] = 0;
    drop_slot(&env, in->target);
    if (upd_state_write(&in->c, &st, in->err, sizeof in->err) ||
        upd_env_write(&in->c, &env, in->err, sizeof in->err))
        return FW_EXIT_IO;
    step(in, "marked-bad");
    bundle_manifest m2;
    be = bundle_verify(bundle, &p, sink, in, &m2, e2, sizeof e2);
    if (be != BUNDLE_OK || !same_manifest(&in->man, &m2)) {
        if (!in->err[0])
            snprintf(in->err, sizeof in->err, "bundle changed while installing: %s",
                     be != BUNDLE_OK ? e2 : "different manifest");
        in->err_name = be != BUNDLE_OK ? bundle_err_str(be) : "manifest";
        return be == BUNDLE_E_IO ? FW_EXIT_IO : FW_EXIT_FAILED;
    }
    step(in, "written");
    if ((rc = read_back(in)))
        return rc;
    step(in, "read-back");
    st.status[in->target] = UPD_INSTALLED;
    st.version[in->target] = in->man.version;
    if (upd_state_write(&in->c, &st, in->err, sizeof in->err))
        return FW_EXIT_IO;
    step(in, "state");
    env.order[0] = (char)('A' + in->target);
    env.order[1] = (char)('A' + in->booted);
    env.order[2] = '\0';
    env.left[in->target] = in->c.attempts;
    if (upd_env_write(&in->c, &env, in->err, sizeof in->err))
        return FW_EXIT_IO;
    step(in, "switched");
    return 0;
}

/* The slot that was installed but not proven, and that the bootloader
 * gave up on (out of BOOT_ORDER or no attempts left), is bad. */
static int note_rollback(int booted, const upd_env *e, upd_state *st)
{
    int other = 1 - booted;
    if (st->status[other] != UPD_INSTALLED || (strchr(e->order, 'A' + other) && e->left[other] > 0))
        return 0;
    st->status[other] = UPD_BAD;
    return 1;
}

static int do_mark_good(upd_config *c, char *err, size_t errlen, int *booted_out)
{
    upd_env e;
    upd_state st;
    if (upd_env_read(c, &e, err, errlen) || upd_state_read(c, &st, err, errlen))
        return FW_EXIT_IO;
    int b = upd_booted_slot(c);
    *booted_out = b;
    if (b < 0) {
        snprintf(err, errlen, "cannot tell the booted slot (no fitgate.slot= in %s)",
                 c->booted_from);
        return FW_EXIT_REFUSED;
    }
    note_rollback(b, &e, &st);
    /* Booted slot first; the other stays as fallback only if it is proven. */
    int other = 1 - b;
    int keep = st.status[other] == UPD_GOOD || st.status[other] == UPD_EMPTY;
    e.order[0] = (char)('A' + b);
    e.order[1] = keep ? (char)('A' + other) : '\0';
    e.order[2] = '\0';
    e.left[b] = c->attempts;
    if (!keep)
        e.left[other] = 0;
    /* The environment first: a cut before the state write leaves a slot that
     * boots, and running mark-good again finishes the job. */
    if (upd_env_write(c, &e, err, errlen))
        return FW_EXIT_IO;
    st.status[b] = UPD_GOOD;
    if (st.version[b] > st.floor)
        st.floor = st.version[b]; /* anti-rollback: only now, after proof */
    return upd_state_write(c, &st, err, errlen) ? FW_EXIT_IO : 0;
}

/* What U-Boot's boot script does (file backend only): the first slot in
 * BOOT_ORDER with attempts left, minus one attempt; with none left anywhere,
 * reset all attempts (as RAUC's script does) and take the first. */
static int do_boot(upd_config *c, char *err, size_t errlen, int *slot)
{
    upd_env e;
    if (strcmp(c->bootloader, "file")) {
        snprintf(err, errlen, "boot emulation needs bootloader = file");
        return FW_EXIT_USAGE;
    }
    if (upd_env_read(c, &e, err, errlen))
        return FW_EXIT_IO;
    *slot = -1;
    for (size_t i = 0; e.order[i] && *slot < 0; i++)
        if (e.left[e.order[i] - 'A'] > 0)
            *slot = e.order[i] - 'A';
    if (*slot < 0) {
        if (!e.order[0]) {
            snprintf(err, errlen, "BOOT_ORDER is empty: nothing to boot");
            return FW_EXIT_FAILED;
        }
        for (int i = 0; i < UPD_SLOTS; i++)
            e.left[i] = c->attempts;
        *slot = e.order[0] - 'A';
    }
    e.left[*slot]--;
    if (upd_env_write(c, &e, err, errlen))
        return FW_EXIT_IO;
    char line[32];
    int n = snprintf(line, sizeof line, "fitgate.slot=%c\n", 'A' + *slot);
    return file_write_atomic(c->booted_from, line, (size_t)n, 0644) ? FW_EXIT_IO : 0;
}

static cJSON *status_json(upd_config *c)
{
    upd_env e;
    upd_state st;
    char err[256];
    cJSON *j = cJSON_CreateObject();
    if (upd_env_read(c, &e, err, sizeof err) || upd_state_read(c, &st, err, sizeof err)) {
        cJSON_AddStringToObject(j, "error", err);
        return j;
    }
    int b = upd_booted_slot(c);
    char booted[2] = {b >= 0 ? (char)('A' + b) : '?', 0};
    cJSON_AddStringToObject(j, "booted", booted);
    cJSON_AddStringToObject(j, "boot_order", e.order);
    cJSON_AddNumberToObject(j, "floor", (double)st.floor);
    cJSON_AddBoolToObject(j, "rolled_back", b >= 0 && note_rollback(b, &e, &st));
    cJSON *slots = cJSON_AddObjectToObject(j, "slots");
    for (int i = 0; i < UPD_SLOTS; i++) {
        char name[2] = {(char)('A' + i), 0};
        cJSON *s = cJSON_AddObjectToObject(slots, name);
        cJSON_AddNumberToObject(s, "version", (double)st.version[i]);
        cJSON_AddStringToObject(s, "status", upd_status_str(st.status[i]));
        cJSON_AddNumberToObject(s, "attempts_left", (double)e.left[i]);
    }
    return j;
}

static void print_json(cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s)
        puts(s);
    cJSON_free(s);
    cJSON_Delete(j);
}

static const char *usage =
    "usage: fitgate-fw update fetch URL --out PATH --sha256 HEX --size N [--bundle] ...\n"
    "       fitgate-fw update install BUNDLE --slots CONFIG [--json] [--progress]\n"
    "       fitgate-fw update mark-good --slots CONFIG [--json]\n"
    "       fitgate-fw update status --slots CONFIG\n"
    "       fitgate-fw update boot --slots CONFIG   (file backend: what the boot script does)\n";

int fw_cmd_update(int argc, char **argv)
{
    static const struct option opts[] = {{"slots", 1, 0, 's'},
                                         {"json", 0, 0, 'j'},
                                         {"progress", 0, 0, 'p'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    if (argc < 2) {
        fputs(usage, stderr);
        return FW_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "fetch"))
        return fw_cmd_update_fetch(argc - 1, argv + 1);
    const char *sub = argv[1], *slots = NULL;
    int json = 0, progress = 0;
    optind = 1;
    for (int ch; (ch = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1;) {
        if (ch == 's')
            slots = optarg;
        else if (ch == 'j')
            json = 1;
        else if (ch == 'p')
            progress = 1;
        else {
            fputs(usage, ch == 'h' ? stdout : stderr);
            return ch == 'h' ? FW_EXIT_OK : FW_EXIT_USAGE;
        }
    }
    int need = !strcmp(sub, "install") ? 1 : 0;
    if (!slots || argc - 1 - optind != need) {
        fputs(usage, stderr);
        return FW_EXIT_USAGE;
    }
    inst *in = calloc(1, sizeof *in);
    if (!in)
        return FW_EXIT_IO;
    for (int i = 0; i < BUNDLE_MAX_IMAGES; i++)
        in->fd[i] = -1;
    in->progress = progress;
    int rc, slot = -1;
    if (upd_config_load(&in->c, slots, in->err, sizeof in->err))
        rc = FW_EXIT_USAGE;
    else if (!strcmp(sub, "install"))
        rc = do_install(in, argv[1 + optind]);
    else if (!strcmp(sub, "mark-good"))
        rc = do_mark_good(&in->c, in->err, sizeof in->err, &slot);
    else if (!strcmp(sub, "boot"))
        rc = do_boot(&in->c, in->err, sizeof in->err, &slot);
    else if (!strcmp(sub, "status")) {
        print_json(status_json(&in->c));
        rc = FW_EXIT_OK;
        json = 0;
    } else {
        fputs(usage, stderr);
        rc = FW_EXIT_USAGE;
    }
    for (int i = 0; i < BUNDLE_MAX_IMAGES; i++)
        if (in->fd[i] >= 0)
            close(in->fd[i]);
    if (!strcmp(sub, "boot") && !rc)
        printf("%c\n", 'A' + slot);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "command", sub);
        if (!strcmp(sub, "install") && in->booted >= 0 && !rc) {
            char t[2] = {(char)('A' + in->target), 0};
            cJSON_AddStringToObject(j, "slot", t);
        }
        cJSON_AddNumberToObject(j, "exit", rc);
        if (rc) {
            cJSON_AddStringToObject(j, "error", in->err_name ? in->err_name : "update");
            cJSON_AddStringToObject(j, "detail", in->err);
        } else {
            cJSON_AddNullToObject(j, "error");
        }
        print_json(j);
    } else if (rc && rc != FW_EXIT_USAGE) {
        fprintf(stderr, "fitgate-fw update %s: %s\n", sub, in->err);
    } else if (rc == FW_EXIT_USAGE && in->err[0]) {
        fprintf(stderr, "fitgate-fw update %s: %s\n", sub, in->err);
    }
    free(in);
    return rc;
}
