/* bundle.h - signed update bundles (issue 5). Format: docs/firmware-tools.md "## Bundles".
 *
 * A bundle is a directory holding exactly:
 *   manifest.json  the manifest (strict JSON, at most BUNDLE_MANIFEST_MAX bytes)
 *   manifest.sig   DER ECDSA P-256 signature over SHA-256 of manifest.json's exact bytes
 *   signer.pem     the signer's certificate (PEM; intermediates may follow)
 *   <image>...     one regular file per manifest image, named as in the manifest
 * Any other entry (file, directory, symlink) makes verification fail.
 *
 * Verification order: signature and signer chain first, then the manifest is
 * parsed, then policy (expiry, hardware, version floor), then every image is
 * streamed and hashed, reading at most its declared size plus one byte.
 */
#ifndef FITGATE_BUNDLE_H
#define FITGATE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BUNDLE_FORMAT       1
#define BUNDLE_MANIFEST_MAX 65536
#define BUNDLE_MAX_IMAGES   8
#define BUNDLE_NAME_MAX     64
#define BUNDLE_COMPAT_MAX   64
#define BUNDLE_SIGNER_MAX   16384

/* Why a bundle was refused; bundle_err_str() gives the stable name used in
 * messages and --json output. */
typedef enum bundle_err {
    BUNDLE_OK = 0,
    BUNDLE_E_IO,        /* a bundle file missing or unreadable (includes a stripped signature) */
    BUNDLE_E_SIGNATURE, /* bad signature, unknown CA, signer without codeSigning */
    BUNDLE_E_MANIFEST,  /* manifest malformed or not within the rules */
    BUNDLE_E_EXPIRED,   /* freeze attack: manifest past its expiry */
    BUNDLE_E_HARDWARE,  /* compatible string differs from this hardware */
    BUNDLE_E_ROLLBACK,  /* version below the floor */
    BUNDLE_E_IMAGE,     /* image size or sha256 differs, or image too long/short */
    BUNDLE_E_EXTRA,     /* the directory holds a file the manifest does not name */
} bundle_err;

const char *bundle_err_str(bundle_err e);

typedef enum bundle_role { BUNDLE_ROLE_ROOTFS, BUNDLE_ROLE_BOOT } bundle_role;
const char *bundle_role_str(bundle_role r);

typedef struct bundle_image {
    char name[BUNDLE_NAME_MAX + 1];
    bundle_role role;
    uint64_t size;
    uint8_t sha256[32];
} bundle_image;

typedef struct bundle_manifest {
    int format;
    char compatible[BUNDLE_COMPAT_MAX + 1];
    uint64_t version; /* monotonically increasing; the anti-rollback number */
    time_t expires;   /* UTC seconds */
    size_t n_images;
    bundle_image images[BUNDLE_MAX_IMAGES];
} bundle_manifest;

/* Parse and validate manifest bytes (no NUL needed). Unknown or duplicate
 * keys, wrong types, unsafe image names, duplicate names or roles are
 * refused. Returns BUNDLE_OK or BUNDLE_E_MANIFEST with a reason in err. */
bundle_err bundle_manifest_parse(const void *buf, size_t len, bundle_manifest *out, char *err,
                                 size_t errlen);
/* Serialise m as canonical manifest JSON; returns a malloc'd NUL-terminated
 * string the caller frees, or NULL. */
char *bundle_manifest_json(const bundle_manifest *m);

/* A plain file name: [A-Za-z0-9._+-], 1..BUNDLE_NAME_MAX, no leading '.',
 * not one of the bundle's own file names. 1 if acceptable. */
int bundle_name_ok(const char *name);
/* "YYYY-MM-DDTHH:MM:SSZ" -> UTC seconds; -1 on anything else. */
int bundle_parse_time(const char *s, time_t *out);

typedef struct bundle_policy {
    const char *keyring;  /* PEM file of trusted CAs (required) */
    const char *hardware; /* NULL: not checked */
    uint64_t min_version; /* version floor (0: none) */
    time_t now;           /* expiry reference */
} bundle_policy;

/* Called with each chunk of an image as it streams (the updater writes it
 * to the inactive slot). The chunk is NOT yet verified: the caller must
 * treat what it wrote as untrusted until bundle_verify returns BUNDLE_OK.
 * Non-zero return aborts (BUNDLE_E_IO). sink may be NULL. */
typedef int (*bundle_sink)(void *ctx, const bundle_image *img, const void *data, size_t len);

/* Verify the bundle directory against the policy. On BUNDLE_OK, *out (if
 * not NULL) holds the verified manifest. */
bundle_err bundle_verify(const char *dir, const bundle_policy *p, bundle_sink sink, void *ctx,
                         bundle_manifest *out, char *err, size_t errlen);

#endif
