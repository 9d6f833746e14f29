/* enrol.c - the token store and the enrolment transaction (see enrol.h). */
#include "enrol.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "crypto.h"
#include "enrol_x509.h"
#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitproto/reading.h"

struct enrol {
    sqlite3 *db;
    pthread_mutex_t mu;
    enrol_ca *ca;
    int64_t cert_days;
    int64_t (*now_ms)(void);
};

static const char *schema =
    "CREATE TABLE IF NOT EXISTS enrol_tokens("
    "  token_hash BLOB PRIMARY KEY, gateway_id TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL, created_by TEXT NOT NULL, used_ms INTEGER, serial TEXT)"
    "  WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS enrol_audit("
    "  id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, gateway_id TEXT, outcome TEXT NOT NULL,"
    "  peer TEXT, serial TEXT);";

static const char *codes[ENROL_N_STATUS] = {
    [ENROL_OK] = "enrolled",
    [ENROL_E_MALFORMED] = "malformed",
    [ENROL_E_TOKEN_UNKNOWN] = "token_unknown",
    [ENROL_E_TOKEN_USED] = "token_used",
    [ENROL_E_TOKEN_EXPIRED] = "token_expired",
    [ENROL_E_CSR_MALFORMED] = "csr_malformed",
    [ENROL_E_CSR_SIGNATURE] = "csr_signature",
    [ENROL_E_CSR_KEY_TYPE] = "csr_key_type",
    [ENROL_E_CSR_CN] = "csr_cn_mismatch",
    [ENROL_E_INTERNAL] = "internal",
};

/* fitgate_enrol_requests_total{outcome="..."}: one counter per outcome. */
static metric m_outcome[ENROL_N_STATUS];
static char m_labels[ENROL_N_STATUS][48];
static pthread_once_t m_once = PTHREAD_ONCE_INIT;

static void register_metrics(void)
{
    for (int i = 0; i < ENROL_N_STATUS; i++) {
        snprintf(m_labels[i], sizeof m_labels[i], "outcome=\"%s\"", codes[i]);
        metric_register(&m_outcome[i], "fitgate_enrol_requests_total", "counter",
                        "Gateway enrolment requests by outcome", m_labels[i]);
    }
}

const char *enrol_status_code(enrol_status s)
{
    return (unsigned)s < ENROL_N_STATUS ? codes[s] : "internal";
}

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int enrol_new(enrol **out, const enrol_config *cfg)
{
    *out = NULL;
    pthread_once(&m_once, register_metrics);
    enrol *e = calloc(1, sizeof *e);
    if (!e || crypto_init()) {
        free(e);
        return -1;
    }
    e->cert_days = cfg->cert_days > 0 ? cfg->cert_days : 365;
    e->now_ms = cfg->now_ms ? cfg->now_ms : real_now_ms;
    char err[512];
    if (cfg->ca_cert &&
        enrol_ca_load(&e->ca, cfg->ca_cert, cfg->ca_key ? cfg->ca_key : "", err, sizeof err)) {
        log_error("enrol_ca", err);
        free(e);
        return -1;
    }
    if (sqlite3_open_v2(cfg->db_path, &e->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(e->db, 5000) != SQLITE_OK ||
        sqlite3_exec(e->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(e->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        log_error("enrol_open", "cannot open the enrolment tables", "path", cfg->db_path, "sqlite",
                  e->db ? sqlite3_errmsg(e->db) : "out of memory");
        sqlite3_close(e->db);
        enrol_ca_free(e->ca);
        free(e);
        return -1;
    }
    pthread_mutex_init(&e->mu, NULL);
    *out = e;
    return 0;
}

void enrol_free(enrol *e)
{
    if (!e)
        return;
    sqlite3_close(e->db);
    enrol_ca_free(e->ca);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

const char *enrol_ca_cert_pem(const enrol *e)
{
    return e->ca ? enrol_ca_pem(e->ca) : NULL;
}

static int token_hash(const char *token, uint8_t out[CRYPTO_SHA256_LEN])
{
    return crypto_sha256(token, strlen(token), out);
}

int enrol_token_create(enrol *e, const char *gateway_id, int64_t ttl_s, const char *created_by,
                       char token[ENROL_TOKEN_LEN + 1], int64_t *expires_ms)
{
    if (!gateway_id || !fp_gateway_id_valid(gateway_id, strlen(gateway_id)) || ttl_s < 1 ||
        ttl_s > ENROL_TTL_MAX)
        return -1;
    uint8_t raw[32], h[CRYPTO_SHA256_LEN];
    crypto_random(raw, sizeof raw);
    crypto_b64url_encode(raw, sizeof raw, token, ENROL_TOKEN_LEN + 1);
    if (token_hash(token, h))
        return -1;
    int64_t now = e->now_ms();
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&e->mu);
    int rc = sqlite3_prepare_v2(e->db,
                                "INSERT INTO enrol_tokens(token_hash, gateway_id, created_ms, "
                                "expires_ms, created_by) VALUES(?,?,?,?,?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, gateway_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, now + ttl_s * 1000);
        sqlite3_bind_text(st, 5, created_by ? created_by : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&e->mu);
    if (rc != SQLITE_DONE) {
        log_error("enrol_token", "cannot store the token", "sqlite", sqlite3_errmsg(e->db));
        return -1;
    }
    *expires_ms = now + ttl_s * 1000;
    log_info("enrol_token_created", "enrolment token minted", "gateway_id", gateway_id, "by",
             created_by ? created_by : "");
    return 0;
}

static int audit(enrol *e, int64_t now, const char *gw, enrol_status s, const char *peer,
                 const char *serial)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(e->db,
                                "INSERT INTO enrol_audit(at_ms, gateway_id, outcome, peer, serial) "
                                "VALUES(?,?,?,?,?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, gw, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, enrol_status_code(s), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, peer ? peer : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, serial, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int token_format_ok(const char *t)
{
    if (!t || strlen(t) != ENROL_TOKEN_LEN)
        return 0;
    uint8_t raw[32];
    size_t n = 0;
    return crypto_b64url_decode(t, ENROL_TOKEN_LEN, raw, sizeof raw, &n) == 0 && n == 32;
}

static enrol_status csr_status(enrol_csr_err c)
{
    switch (c) {
    case ENROL_CSR_OK:
        return ENROL_OK;
    case ENROL_CSR_SIGNATURE:
        return ENROL_E_CSR_SIGNATURE;
    case ENROL_CSR_KEY_TYPE:
        return ENROL_E_CSR_KEY_TYPE;
    case ENROL_CSR_CN:
        return ENROL_E_CSR_CN;
    default:
        return ENROL_E_CSR_MALFORMED;
    }
}

/* Inside the open transaction: look the token up, check the CSR, issue,
 * burn. Returns the outcome; the caller audits and commits. */
static enrol_status enrol_locked(enrol *e, const uint8_t *h, const char *csr, size_t csr_len,
                                 int64_t now, enrol_result *res)
{
    sqlite3_stmt *st = NULL;
    enrol_status s = ENROL_E_INTERNAL;
    if (sqlite3_prepare_v2(e->db,
                           "SELECT gateway_id, expires_ms, used_ms FROM enrol_tokens "
                           "WHERE token_hash = ?",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_blob(st, 1, h, CRYPTO_SHA256_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        s = ENROL_E_TOKEN_UNKNOWN;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto out;
    snprintf(res->gateway_id, sizeof res->gateway_id, "%s",
             (const char *)sqlite3_column_text(st, 0));
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        s = ENROL_E_TOKEN_USED;
        goto out;
    }
    if (now >= sqlite3_column_int64(st, 1)) {
        s = ENROL_E_TOKEN_EXPIRED;
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    s = csr_status(enrol_csr_check(csr, csr_len, res->gateway_id));
    if (s != ENROL_OK)
        goto out;
    /* Back-dated an hour: the broker's clock and ours may disagree a little. */
    res->not_before = now / 1000 - 3600;
    res->not_after = now / 1000 + e->cert_days * 86400;
    s = ENROL_E_INTERNAL;
    if (enrol_ca_issue(e->ca, csr, csr_len, res->gateway_id, res->not_before, res->not_after,
                       res->cert_pem, sizeof res->cert_pem, res->serial))
        goto out;
    if (sqlite3_prepare_v2(e->db,
                           "UPDATE enrol_tokens SET used_ms = ?, serial = ? "
                           "WHERE token_hash = ? AND used_ms IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_text(st, 2, res->serial, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, h, CRYPTO_SHA256_LEN, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(e->db) == 1)
        s = ENROL_OK;
out:
    sqlite3_finalize(st);
    return s;
}

enrol_status enrol_submit(enrol *e, const char *token, const char *csr_pem, size_t csr_len,
                          const char *peer, enrol_result *res)
{
    memset(res, 0, sizeof *res);
    uint8_t h[CRYPTO_SHA256_LEN];
    enrol_status s = ENROL_E_INTERNAL;
    if (!token_format_ok(token))
        s = ENROL_E_TOKEN_UNKNOWN; /* never stored: no need to ask the database */
    else if (!csr_pem || !csr_len)
        s = ENROL_E_MALFORMED;
    else if (!e->ca || token_hash(token, h))
        s = ENROL_E_INTERNAL;
    else {
        int64_t now = e->now_ms();
        pthread_mutex_lock(&e->mu);
        /* IMMEDIATE: the write lock is ours from the start, so two requests
         * with one token (in this or another process) cannot both pass the
         * used_ms check. */
        if (sqlite3_exec(e->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
            s = enrol_locked(e, h, csr_pem, csr_len, now, res);
            if (audit(e, now, res->gateway_id[0] ? res->gateway_id : NULL, s, peer,
                      s == ENROL_OK ? res->serial : NULL) ||
                sqlite3_exec(e->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
                sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
                s = ENROL_E_INTERNAL; /* not burnt on disk: no certificate leaves */
            }
        }
        pthread_mutex_unlock(&e->mu);
        if (s == ENROL_E_INTERNAL)
            log_error("enrol_failed", "enrolment transaction failed", "sqlite",
                      sqlite3_errmsg(e->db));
    }
    metric_add(&m_outcome[s], 1);
    if (s == ENROL_OK) {
        log_info("gateway_enrolled", "gateway certificate issued", "gateway_id", res->gateway_id,
                 "serial", res->serial, "peer", peer ? peer : "");
    } else {
        log_warn("enrol_refused", "enrolment refused", "reason", enrol_status_code(s), "gateway_id",
                 res->gateway_id, "peer", peer ? peer : "");
        memset(res->cert_pem, 0, sizeof res->cert_pem);
    }
    return s;
}
