/* idn_keys.c - signing keys (rotation, JWKS), the AEAD keys that seal TOTP
 * secrets, the pepper for stored code hashes, random tokens. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fitcommon/log.h"
#include "idn_int.h"
#include "jwt.h"

/* Read exactly len bytes written as hex (one line) from path. 0, 1 absent, -1. */
static int read_hex(const char *path, uint8_t *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 1 : -1;
    char line[160] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    int rc = ok && crypto_hex_decode(line, strlen(line), out, len) == 0 ? 0 : -1;
    crypto_wipe(line, sizeof line);
    return rc;
}

static int write_hex(const char *path, const uint8_t *in, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char hex[160];
    crypto_hex_encode(in, len, hex);
    size_t n = strlen(hex);
    hex[n++] = '\n';
    int rc = write(fd, hex, n) == (ssize_t)n && fsync(fd) == 0 ? 0 : -1;
    crypto_wipe(hex, sizeof hex);
    close(fd);
    return rc;
}

/* kid "k<unix seconds>-<8 hex>": sortable by age, no path characters.
 * *created_s is at least after_s + 1 so a new key is always the newest. */
static void new_kid(char kid[48], int64_t after_s, int64_t *created_s)
{
    uint8_t r[4];
    char hex[9];
    crypto_random(r, sizeof r);
    crypto_hex_encode(r, sizeof r, hex);
    *created_s = (int64_t)time(NULL);
    if (*created_s <= after_s)
        *created_s = after_s + 1;
    snprintf(kid, 48, "k%lld-%s", (long long)*created_s, hex);
}

static int kid_created(const char *kid, int64_t *created_s)
{
    long long s = 0;
    char tail[16];
    if (sscanf(kid, "k%lld-%8[0-9a-f]", &s, tail) != 2 || strlen(tail) != 8 || !jwt_kid_ok(kid))
        return -1;
    *created_s = s;
    return 0;
}

/* Keep the IDN_KEYS_MAX newest keys, newest first. */
static void insert_sign(idn *d, const idn_sign_key *k)
{
    for (size_t i = 0; i < d->n_keys; i++)
        if (!strcmp(d->keys[i].kid, k->kid))
            return; /* already loaded (a rescan) */
    size_t pos = 0;
    while (pos < d->n_keys && d->keys[pos].created_s >= k->created_s)
        pos++;
    if (pos >= IDN_KEYS_MAX)
        return;
    size_t last = d->n_keys < IDN_KEYS_MAX ? d->n_keys : IDN_KEYS_MAX - 1;
    memmove(&d->keys[pos + 1], &d->keys[pos], (last - pos) * sizeof d->keys[0]);
    d->keys[pos] = *k;
    if (d->n_keys < IDN_KEYS_MAX)
        d->n_keys++;
}

static void insert_aead(idn *d, const idn_aead_key *k)
{
    for (size_t i = 0; i < d->n_aead; i++)
        if (!strcmp(d->aead[i].kid, k->kid))
            return;
    size_t pos = 0;
    while (pos < d->n_aead && d->aead[pos].created_s >= k->created_s)
        pos++;
    if (pos >= IDN_KEYS_MAX)
        return;
    size_t last = d->n_aead < IDN_KEYS_MAX ? d->n_aead : IDN_KEYS_MAX - 1;
    memmove(&d->aead[pos + 1], &d->aead[pos], (last - pos) * sizeof d->aead[0]);
    d->aead[pos] = *k;
    if (d->n_aead < IDN_KEYS_MAX)
        d->n_aead++;
}

static int load_dir(idn *d, const char *sub, int signing)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", d->dir, sub);
    mkdir(path, 0700);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || n >= 48 + 4 || strcmp(e->d_name + n - 4, ".key"))
            continue;
        char kid[48];
        snprintf(kid, sizeof kid, "%.*s", (int)(n - 4), e->d_name);
        int64_t created = 0;
        if (kid_created(kid, &created) < 0)
            continue;
        char file[1300];
        snprintf(file, sizeof file, "%s/%s.key", path, kid);
        if (signing) {
            idn_sign_key k = {.created_s = created};
            snprintf(k.kid, sizeof k.kid, "%s", kid);
            if (read_hex(file, k.priv, sizeof k.priv) != 0 ||
                crypto_es256_public(k.priv, k.pub) < 0) {
                log_warn("identity_key_bad", "skipping an unreadable signing key", "kid", kid);
                continue;
            }
            insert_sign(d, &k);
            crypto_wipe(&k, sizeof k);
        } else {
            idn_aead_key k = {.created_s = created};
            snprintf(k.kid, sizeof k.kid, "%s", kid);
            if (read_hex(file, k.key, sizeof k.key) != 0)
                continue;
            insert_aead(d, &k);
            crypto_wipe(&k, sizeof k);
        }
    }
    closedir(dir);
    return 0;
}

static int new_sign_key(idn *d)
{
    idn_sign_key k;
    new_kid(k.kid, d->n_keys ? d->keys[0].created_s : 0, &k.created_s);
    if (crypto_es256_keygen(k.priv, k.pub) < 0)
        return -1;
    char file[1300];
    snprintf(file, sizeof file, "%s/keys/%s.key", d->dir, k.kid);
    if (write_hex(file, k.priv, sizeof k.priv) < 0) {
        log_error("identity_key_write", "cannot write a signing key", "path", file);
        return -1;
    }
    insert_sign(d, &k);
    log_info("identity_key_new", "new token signing key", "kid", k.kid);
    crypto_wipe(&k, sizeof k);
    return 0;
}

int idn_rotate_keys(idn *d)
{
    pthread_rwlock_wrlock(&d->keys_mu);
    int rc = new_sign_key(d);
    pthread_rwlock_unlock(&d->keys_mu);
    return rc;
}

int idn_keys_load(idn *d)
{
    snprintf(d->dir, sizeof d->dir, "%s/identity", d->cfg.data_dir);
    mkdir(d->cfg.data_dir, 0700);
    mkdir(d->dir, 0700);
    if (load_dir(d, "keys", 1) < 0 || load_dir(d, "aead", 0) < 0) {
        log_error("identity_keys", "cannot read the key folders", "dir", d->dir);
        return -1;
    }
    if (d->n_keys == 0 || d->keys[0].created_s + d->cfg.key_rotate_s <= (int64_t)time(NULL))
        if (new_sign_key(d) < 0)
            return -1;
    if (d->n_aead == 0) {
        idn_aead_key k;
        new_kid(k.kid, 0, &k.created_s);
        crypto_random(k.key, sizeof k.key);
        char file[1300];
        snprintf(file, sizeof file, "%s/aead/%s.key", d->dir, k.kid);
        if (write_hex(file, k.key, sizeof k.key) < 0)
            return -1;
        d->aead[0] = k;
        d->n_aead = 1;
        crypto_wipe(&k, sizeof k);
    }
    char pepper[1200];
    snprintf(pepper, sizeof pepper, "%s/pepper.key", d->dir);
    int rc = read_hex(pepper, d->pepper, sizeof d->pepper);
    if (rc == 1) {
        crypto_random(d->pepper, sizeof d->pepper);
        rc = write_hex(pepper, d->pepper, sizeof d->pepper);
    }
    if (rc != 0)
        log_error("identity_keys", "cannot read or create pepper.key", "dir", d->dir);
    d->keys_scanned_s = (int64_t)time(NULL);
    return rc == 0 ? 0 : -1;
}

/* Pick up keys other processes wrote (`fitgate-core identity rotate-keys`)
 * and rotate when the newest key is too old. At most every min_gap_s. */
static void keys_maintain(idn *d, int64_t min_gap_s)
{
    int64_t now = (int64_t)time(NULL);
    int64_t last = __atomic_load_n(&d->keys_scanned_s, __ATOMIC_RELAXED);
    if (now - last < min_gap_s || !__atomic_compare_exchange_n(&d->keys_scanned_s, &last, now, 0,
                                                               __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    pthread_rwlock_wrlock(&d->keys_mu);
    load_dir(d, "keys", 1);
    load_dir(d, "aead", 0);
    if (d->n_keys == 0 || d->keys[0].created_s + d->cfg.key_rotate_s <= now)
        new_sign_key(d);
    pthread_rwlock_unlock(&d->keys_mu);
}

int idn_sign(idn *d, const char *typ, cJSON *claims, char **out)
{
    keys_maintain(d, 60);
    pthread_rwlock_rdlock(&d->keys_mu);
    jwt_status st =
        d->n_keys ? jwt_sign(d->keys[0].kid, typ, d->keys[0].priv, claims, out) : JWT_ERR_ARG;
    pthread_rwlock_unlock(&d->keys_mu);
    return st == JWT_OK ? 0 : -1;
}

static int lookup(idn *d, const char *kid, uint8_t pub[CRYPTO_ES256_PUB])
{
    int rc = -1;
    pthread_rwlock_rdlock(&d->keys_mu);
    for (size_t i = 0; i < d->n_keys; i++)
        if (!strcmp(d->keys[i].kid, kid)) {
            memcpy(pub, d->keys[i].pub, CRYPTO_ES256_PUB);
            rc = 0;
            break;
        }
    pthread_rwlock_unlock(&d->keys_mu);
    return rc;
}

int idn_key_lookup(void *ctx, const char *kid, uint8_t pub[CRYPTO_ES256_PUB])
{
    idn *d = ctx;
    if (lookup(d, kid, pub) == 0)
        return 0;
    /* An unknown kid may be a key made since we last looked (rotation by
     * the operator); look again, at most once a second. */
    keys_maintain(d, 1);
    return lookup(d, kid, pub);
}

cJSON *idn_jwks(idn *d)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *keys = cJSON_AddArrayToObject(j, "keys");
    pthread_rwlock_rdlock(&d->keys_mu);
    for (size_t i = 0; i < d->n_keys; i++)
        cJSON_AddItemToArray(keys, jwt_jwk(d->keys[i].kid, d->keys[i].pub));
    pthread_rwlock_unlock(&d->keys_mu);
    return j;
}

static void seal_ad(int64_t user_id, const char *kid, char ad[96])
{
    snprintf(ad, 96, "totp|%lld|%s", (long long)user_id, kid);
}

int idn_seal(idn *d, int64_t user_id, const uint8_t *pt, size_t len, uint8_t *sealed,
             char kid_out[48])
{
    pthread_rwlock_rdlock(&d->keys_mu);
    int rc = -1;
    if (d->n_aead) {
        char ad[96];
        snprintf(kid_out, 48, "%s", d->aead[0].kid);
        seal_ad(user_id, kid_out, ad);
        crypto_aead_seal(d->aead[0].key, ad, strlen(ad), pt, len, sealed);
        rc = 0;
    }
    pthread_rwlock_unlock(&d->keys_mu);
    return rc;
}

int idn_open_sealed(idn *d, int64_t user_id, const char *kid, const uint8_t *sealed,
                    size_t sealed_len, uint8_t *pt)
{
    char ad[96];
    seal_ad(user_id, kid, ad);
    int rc = -2;
    pthread_rwlock_rdlock(&d->keys_mu);
    for (size_t i = 0; i < d->n_aead && rc == -2; i++)
        if (!strcmp(d->aead[i].kid, kid))
            rc = crypto_aead_open(d->aead[i].key, ad, strlen(ad), sealed, sealed_len, pt);
    pthread_rwlock_unlock(&d->keys_mu);
    if (rc == -2)
        log_error("identity_aead_key", "a sealed secret names a key we do not have", "kid", kid);
    return rc < 0 ? -1 : 0;
}

void idn_code_hash(idn *d, const char *label, const char *s, uint8_t out[32])
{
    size_t ll = strlen(label), sl = strlen(s);
    char buf[512];
    if (ll + sl + 2 > sizeof buf) {
        memset(out, 0, 32);
        return;
    }
    memcpy(buf, label, ll);
    buf[ll] = ':';
    memcpy(buf + ll + 1, s, sl);
    crypto_hmac_sha256(d->pepper, sizeof d->pepper, buf, ll + 1 + sl, out);
    crypto_wipe(buf, sizeof buf);
}

void idn_new_token(char out[IDN_TOKEN_LEN + 1])
{
    uint8_t r[IDN_TOKEN_BYTES];
    crypto_random(r, sizeof r);
    crypto_b64url_encode(r, sizeof r, out, IDN_TOKEN_LEN + 1);
    crypto_wipe(r, sizeof r);
}
