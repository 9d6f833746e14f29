/* enrol.h - first-boot enrolment of the gateway (client side).
 *
 * When the gateway has no client certificate yet, fitgate-edge:
 *   1. makes an EC P-256 key pair on the gateway (mbedTLS) and stores it as
 *      identity_dir/key.pem: mode 0600 in a 0700 directory, written to a
 *      temporary name with O_EXCL, fsync'd, renamed, directory fsync'd. A key
 *      left by an earlier, interrupted attempt is reused (it never leaves);
 *   2. builds a PKCS#10 CSR with CN = gateway id;
 *   3. POSTs {"token", "csr"} to enrol_url over HTTPS (libcurl, verifying the
 *      server against the provisioned CA bundle only);
 *   4. checks the returned certificate (CN, our public key, chains to the CA
 *      in the reply, validity - see the clock policy) and stores it as
 *      identity_dir/cert.pem the same careful way; the used token file is
 *      then removed (it is burnt on the server anyway).
 * The uplink then connects with cert.pem/key.pem (mTLS).
 *
 * Clock policy (gateways without an RTC): a wall clock before the build time
 * of this binary is known wrong. Enrolment then waits up to clock_wait_s for
 * time sync (the provisioned NTP server), and proceeds anyway after that; the
 * one time check we relax is our own check of the new certificate's
 * notBefore (never its notAfter, and never the TLS checks of the server).
 *
 * Everything here is blocking and runs before the event loop starts; waits
 * between attempts return early on SIGINT/SIGTERM (blocked by the daemon
 * set-up, so taken with sigtimedwait).
 */
#ifndef FITGATE_EDGE_ENROL_H
#define FITGATE_EDGE_ENROL_H

#include <stddef.h>
#include <stdint.h>

typedef struct enrol_edge_config {
    const char *gateway_id;
    const char *url;        /* https://.../api/v1/enrol */
    const char *token_file; /* the one-time token (provisioned) */
    const char *cafile;     /* CA bundle for the HTTPS server */
    const char *dir;        /* identity directory (0700) */
    int64_t clock_wait_s;   /* how long to wait for time sync (60) */
    int64_t retry_max_s;    /* back-off cap between attempts (60) */
    int64_t attempts;       /* 0 = until done or a permanent refusal */
} enrol_edge_config;

typedef enum enrol_edge_status {
    ENROL_EDGE_OK = 0,      /* cert.pem and key.pem are there */
    ENROL_EDGE_REFUSED,     /* the core refused for good (token used/expired/...) */
    ENROL_EDGE_FAILED,      /* local error, or attempts exhausted */
    ENROL_EDGE_INTERRUPTED, /* SIGINT/SIGTERM while waiting */
} enrol_edge_status;

/* Paths of the identity files inside dir (cap >= strlen(dir) + 10). */
void enrol_edge_paths(const char *dir, char *cert, char *key, size_t cap);

/* Enrol unless identity_dir/cert.pem exists already. */
enrol_edge_status enrol_edge_run(const enrol_edge_config *cfg);

/* The clock policy's test: 1 when now (Unix seconds) is known to be wrong. */
int enrol_edge_clock_unset(int64_t now);

#endif
