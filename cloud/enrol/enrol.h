/* enrol.h - fitenrol: gateways get their client certificate at first boot.
 *
 * An operator mints a one-time enrolment token bound to a gateway id
 * (`fitgate-core enrol-token --gateway ID`, or POST /api/v1/admin/enrol-tokens);
 * `fitgate-fw provision` writes it into the gateway's boot partition. At
 * first boot the gateway makes its own EC P-256 key and sends a CSR with the
 * token to POST /api/v1/enrol. The core checks the token (known, unused, not
 * expired), the CSR (self-signature, P-256 key, CN == the token's gateway
 * id), signs a client certificate with the gateway CA, and burns the token in
 * the same SQLite transaction that writes the audit row: a token gives at
 * most one certificate, and a certificate is only handed out once its token
 * is burnt on disk.
 *
 * Tokens are 32 random bytes (base64url, 43 characters); only their SHA-256
 * is stored. Tables: enrol_tokens, enrol_audit (data_dir/core.db).
 *
 * Ownership: enrol_new() returns an object freed with enrol_free(); the
 * route table is static. All functions are thread-safe (one SQLite handle
 * behind a mutex).
 */
#ifndef FITGATE_ENROL_H
#define FITGATE_ENROL_H

#include <stddef.h>
#include <stdint.h>

#include "api_route.h"

#define ENROL_TOKEN_LEN    43 /* base64url of 32 bytes, no padding */
#define ENROL_TTL_DEFAULT  (24 * 3600)
#define ENROL_TTL_MAX      (30 * 24 * 3600)
#define ENROL_CERT_PEM_MAX 4096

typedef struct enrol enrol;

typedef struct enrol_config {
    const char *db_path;
    const char *ca_cert;     /* gateway CA certificate (PEM); NULL = tokens only (CLI) */
    const char *ca_key;      /* its EC P-256 private key (PEM, 0600) */
    int64_t cert_days;       /* client certificate lifetime; 0 = 365 */
    int64_t (*now_ms)(void); /* clock; NULL = CLOCK_REALTIME (tests inject one) */
} enrol_config;

typedef enum enrol_status {
    ENROL_OK = 0,
    ENROL_E_MALFORMED,     /* request not {"token": "...", "csr": "..."} */
    ENROL_E_TOKEN_UNKNOWN, /* no such token */
    ENROL_E_TOKEN_USED,    /* burnt already: a replay */
    ENROL_E_TOKEN_EXPIRED,
    ENROL_E_CSR_MALFORMED,
    ENROL_E_CSR_SIGNATURE,
    ENROL_E_CSR_KEY_TYPE,
    ENROL_E_CSR_CN, /* CN is not the token's gateway id */
    ENROL_E_INTERNAL,
    ENROL_N_STATUS
} enrol_status;

/* Stable machine-readable word for s ("token_used", ...), as the API returns. */
const char *enrol_status_code(enrol_status s);

int enrol_new(enrol **out, const enrol_config *cfg);
void enrol_free(enrol *e);

/* Mint a token for gateway_id valid ttl_s seconds (1..ENROL_TTL_MAX).
 * token gets ENROL_TOKEN_LEN + 1 bytes. 0, or -1 (bad id or ttl, I/O). */
int enrol_token_create(enrol *e, const char *gateway_id, int64_t ttl_s, const char *created_by,
                       char token[ENROL_TOKEN_LEN + 1], int64_t *expires_ms);

typedef struct enrol_result {
    char gateway_id[65];
    char serial[33];
    int64_t not_before, not_after; /* Unix seconds */
    char cert_pem[ENROL_CERT_PEM_MAX];
} enrol_result;

/* The enrolment itself (what POST /api/v1/enrol does). peer is for the audit
 * row. On ENROL_OK, res holds the certificate and the token is burnt. */
enrol_status enrol_submit(enrol *e, const char *token, const char *csr_pem, size_t csr_len,
                          const char *peer, enrol_result *res);

/* The CA certificate the gateway certificates chain to (PEM), or NULL. */
const char *enrol_ca_cert_pem(const enrol *e);

/* POST /api/v1/enrol (public) and POST /api/v1/admin/enrol-tokens (admin);
 * ctx is the enrol object. */
extern const api_route enrol_routes[];
extern const size_t enrol_nroutes;

/* `fitgate-core enrol-token --gateway ID [--ttl-s N] [--data-dir DIR] [--json]`:
 * mints a token in DIR/core.db and prints it. Returns the exit status. */
int enrol_cli(int argc, char **argv);

#endif
