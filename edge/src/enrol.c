/* enrol.c - first-boot enrolment: key, CSR, token, certificate (enrol.h). */
#include "enrol.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "fitcommon/fileio.h"
#include "fitcommon/log.h"
#include "fitcommon/membuf.h"
#include "fitcommon/metrics.h"

#ifndef FITGATE_BUILD_EPOCH
#define FITGATE_BUILD_EPOCH 1735689600 /* 2025-01-01, if the build did not say */
#endif

#define RESP_MAX (64 * 1024)

typedef enum { TRY_OK, TRY_AGAIN, TRY_REFUSED, TRY_LOCAL, TRY_N } try_status;

/* fitgate_edge_enrol_attempts_total{outcome=...}: what each attempt ended in. */
static metric m_attempts[TRY_N];

static void register_metrics(void)
{
    static const char *labels[TRY_N] = {"outcome=\"enrolled\"", "outcome=\"retry\"",
                                        "outcome=\"refused\"", "outcome=\"local_error\""};
    static int done;
    for (int i = 0; !done && i < TRY_N; i++)
        metric_register(&m_attempts[i], "fitgate_edge_enrol_attempts_total", "counter",
                        "First-boot enrolment attempts by outcome", labels[i]);
    done = 1;
}

int enrol_edge_clock_unset(int64_t now)
{
    return now < (int64_t)FITGATE_BUILD_EPOCH;
}

void enrol_edge_paths(const char *dir, char *cert, char *key, size_t cap)
{
    snprintf(cert, cap, "%s/cert.pem", dir);
    snprintf(key, cap, "%s/key.pem", dir);
}

/* The identity directory: ours, a real directory, 0700. */
static int ensure_dir(const char *dir)
{
    struct stat st;
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", dir);
    /* Parents (e.g. /var/lib/fitgate) as the package would make them. */
    for (char *p = parent + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(parent, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(dir, 0700) && errno != EEXIST)
        return -1;
    if (lstat(dir, &st) || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        return -1;
    return (st.st_mode & 0777) == 0700 ? 0 : chmod(dir, 0700);
}

/* Whole or absent after a power cut (fitcommon/fileio.h). */
static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
                        mode_t mode)
{
    char path[1200];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return -1;
    return file_write_atomic(path, data, len, mode);
}

static int is_p256(const mbedtls_pk_context *pk)
{
    return mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
           mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

static int load_or_make_key(const char *dir, const char *path, mbedtls_pk_context *pk,
                            mbedtls_ctr_drbg_context *drbg)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            mbedtls_pk_parse_keyfile(pk, path, NULL) || !is_p256(pk)) {
            log_error("enrol_key", "identity key unusable", "path", path);
            return -1;
        }
        if ((st.st_mode & 0777) != 0600 && chmod(path, 0600))
            return -1;
        log_info("enrol_key", "reusing the key of an earlier attempt", "path", path);
        return 0;
    }
    unsigned char pem[1024];
    if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random,
                            drbg) ||
        mbedtls_pk_write_key_pem(pk, pem, sizeof pem))
        return -1;
    int rc = write_atomic(dir, "key.pem", pem, strlen((char *)pem), 0600);
    mbedtls_platform_zeroize(pem, sizeof pem);
    if (rc == 0)
        log_info("enrol_key", "generated the gateway key (EC P-256)", "path", path);
    return rc;
}

static int make_csr(mbedtls_pk_context *pk, const char *gw, mbedtls_ctr_drbg_context *drbg,
                    char *out, size_t cap)
{
    mbedtls_x509write_csr w;
    mbedtls_x509write_csr_init(&w);
    char subject[96];
    snprintf(subject, sizeof subject, "CN=%s", gw);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&w, pk);
    int rc = mbedtls_x509write_csr_set_subject_name(&w, subject) ||
                     mbedtls_x509write_csr_pem(&w, (unsigned char *)out, cap,
                                               mbedtls_ctr_drbg_random, drbg)
                 ? -1
                 : 0;
    mbedtls_x509write_csr_free(&w);
    return rc;
}

static int read_token(const char *path, char *tok, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(tok, (int)cap, f) != NULL;
    fclose(f);
    tok[strcspn(tok, "\r\n")] = '\0';
    return ok && tok[0] ? 0 : -1;
}

/* POST body to url; verifies the server against cafile only. */
static try_status post(const enrol_edge_config *c, const char *body, membuf *r, long *status)
{
    CURL *h = curl_easy_init();
    if (!h)
        return TRY_LOCAL;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* not the system store: our CA only */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_curl_write); /* capped: no endless replies */
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        log_warn("enrol_http", "enrolment request failed", "error",
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return TRY_AGAIN;
    }
    return TRY_OK;
}

/* The reply's certificate must be for us: our CN, our key, chaining to the
 * CA the core names. The clock policy relaxes only notBefore. */
static int check_cert(const char *cert, const char *ca, mbedtls_pk_context *pk, const char *gw)
{
    mbedtls_x509_crt crt, chain;
    mbedtls_x509_crt_init(&crt);
    mbedtls_x509_crt_init(&chain);
    int rc = -1;
    uint32_t flags = 0;
    unsigned char a[200], b[200];
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert, strlen(cert) + 1) ||
        mbedtls_x509_crt_parse(&chain, (const unsigned char *)ca, strlen(ca) + 1))
        goto out;
    mbedtls_x509_crt_verify(&crt, &chain, NULL, gw, &flags, NULL, NULL);
    if (enrol_edge_clock_unset((int64_t)time(NULL)))
        flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_FUTURE;
    int la = mbedtls_pk_write_pubkey_der(&crt.pk, a, sizeof a);
    int lb = mbedtls_pk_write_pubkey_der(pk, b, sizeof b);
    if (flags || la <= 0 || la != lb || memcmp(a + sizeof a - la, b + sizeof b - lb, (size_t)la))
        goto out;
    rc = 0;
out:
    if (rc)
        log_error("enrol_cert", "the returned certificate is not ours or does not verify", "flags",
                  flags ? "set" : "none");
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&chain);
    return rc;
}

/* One enrolment attempt with the key in pk. */
static try_status attempt(const enrol_edge_config *c, mbedtls_pk_context *pk,
                          mbedtls_ctr_drbg_context *drbg)
{
    char tok[256], csr[2048];
    if (read_token(c->token_file, tok, sizeof tok)) {
        log_error("enrol_token", "cannot read the enrolment token", "path", c->token_file);
        return TRY_LOCAL;
    }
    if (make_csr(pk, c->gateway_id, drbg, csr, sizeof csr))
        return TRY_LOCAL;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "token", tok);
    cJSON_AddStringToObject(req, "csr", csr);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    mbedtls_platform_zeroize(tok, sizeof tok);
    if (!body)
        return TRY_LOCAL;
    membuf r = {.max = RESP_MAX};
    long status = 0;
    try_status t = post(c, body, &r, &status);
    mbedtls_platform_zeroize(body, strlen(body));
    free(body);
    cJSON *j = t == TRY_OK && r.p ? cJSON_Parse(r.p) : NULL;
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(j, "certificate");
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(j, "ca");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (t != TRY_OK) {
        /* network or TLS: try again */
    } else if (status == 200 && cJSON_IsString(cert) && cJSON_IsString(ca)) {
        char cp[1200], kp[1200];
        enrol_edge_paths(c->dir, cp, kp, sizeof cp);
        t = check_cert(cert->valuestring, ca->valuestring, pk, c->gateway_id) ? TRY_LOCAL
            : write_atomic(c->dir, "cert.pem", cert->valuestring, strlen(cert->valuestring), 0644)
                ? TRY_LOCAL
                : TRY_OK;
    } else {
        /* 4xx: the core's answer will not change by asking again (the token
         * is used, expired, unknown, or our CSR is refused). 5xx or a reply
         * we cannot read: maybe a proxy hiccup, ask again. */
        t = status >= 400 && status < 500 ? TRY_REFUSED : TRY_AGAIN;
        char st[16];
        snprintf(st, sizeof st, "%ld", status);
        log_error("enrol_refused", "the core refused the enrolment", "status", st, "error",
                  cJSON_IsString(err) ? err->valuestring : "?");
    }
    cJSON_Delete(j);
    membuf_free(&r, 0);
    return t;
}

/* Sleep s seconds unless SIGINT/SIGTERM arrives (they are blocked): 1 then. */
static int wait_or_signal(int64_t s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec ts = {(time_t)s, 0};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0) {
            raise(sig); /* still pending for the event loop's handler */
            return 1;
        }
        if (errno != EINTR)
            return 0;
    }
}

static int wait_for_clock(const enrol_edge_config *c)
{
    for (int64_t waited = 0; enrol_edge_clock_unset((int64_t)time(NULL)); waited++) {
        if (waited == 0)
            log_warn("clock_unset", "clock is before the build date: waiting for time sync");
        if (waited >= c->clock_wait_s) {
            log_warn("clock_unset", "no time sync yet: enrolling anyway (notBefore relaxed)");
            return 0;
        }
        if (wait_or_signal(1))
            return 1;
    }
    return 0;
}

enrol_edge_status enrol_edge_run(const enrol_edge_config *c)
{
    char cp[1200], kp[1200];
    enrol_edge_paths(c->dir, cp, kp, sizeof cp);
    if (access(cp, F_OK) == 0)
        return ENROL_EDGE_OK; /* enrolled at an earlier boot */
    register_metrics();
    if (ensure_dir(c->dir)) {
        log_error("enrol_dir", "identity directory unusable (must be ours, 0700)", "path", c->dir);
        return ENROL_EDGE_FAILED;
    }
    if (wait_for_clock(c)) {
        log_info("enrol_interrupted", "stopped while waiting for time sync");
        return ENROL_EDGE_INTERRUPTED;
    }
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context pk;
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&pk);
    enrol_edge_status s = ENROL_EDGE_FAILED;
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
                              (const unsigned char *)c->gateway_id, strlen(c->gateway_id)) ||
        load_or_make_key(c->dir, kp, &pk, &drbg))
        goto out;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int64_t delay = 1, max = c->retry_max_s > 0 ? c->retry_max_s : 60;
    for (int64_t n = 1;; n++) {
        try_status t = attempt(c, &pk, &drbg);
        metric_add(&m_attempts[t], 1);
        if (t == TRY_OK) {
            s = ENROL_EDGE_OK;
            log_info("enrolled", "gateway certificate stored", "path", cp);
            /* Burnt on the server; no reason to keep it readable on the card. */
            unlink(c->token_file);
            break;
        }
        if (t == TRY_REFUSED || t == TRY_LOCAL) {
            s = t == TRY_REFUSED ? ENROL_EDGE_REFUSED : ENROL_EDGE_FAILED;
            break;
        }
        if (c->attempts && n >= c->attempts)
            break;
        if (wait_or_signal(delay)) {
            s = ENROL_EDGE_INTERRUPTED;
            break;
        }
        delay = delay * 2 > max ? max : delay * 2;
    }
    curl_global_cleanup();
out:
    if (s == ENROL_EDGE_INTERRUPTED)
        log_info("enrol_interrupted", "stopped while waiting to enrol");
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
    return s;
}
