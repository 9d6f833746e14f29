/* test_enrol.c - token lifecycle, CSR checks and the issued certificate.
 *
 * A throwaway gateway CA is made with the openssl command line (as the
 * operator would); CSRs are made with mbedTLS here, the way fitgate-edge
 * makes them, plus deliberately broken ones.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <sqlite3.h>

#include "enrol.h"
#include "enrol_x509.h"

static char dir[64], ca_crt[128], ca_key[128], db[128];
static int64_t fake_now = 1767225600000; /* 2026-01-01 */
static int64_t clock_ms(void)
{
    return fake_now;
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/fitgate-enrol-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(ca_crt, sizeof ca_crt, "%s/ca.crt", dir);
    snprintf(ca_key, sizeof ca_key, "%s/ca.key", dir);
    snprintf(db, sizeof db, "%s/core.db", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout %s -out %s -subj /CN=fitgate-gateway-ca -days 3650 "
             "-addext basicConstraints=critical,CA:TRUE "
             "-addext keyUsage=critical,keyCertSign >/dev/null 2>&1",
             ca_key, ca_crt);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static enrol *open_enrol(void)
{
    unlink(db);
    enrol_config cfg = {.db_path = db, .ca_cert = ca_crt, .ca_key = ca_key, .now_ms = clock_ms};
    enrol *e = NULL;
    assert_int_equal(enrol_new(&e, &cfg), 0);
    return e;
}

/* A CSR as the edge makes it: fresh key on curve, subject CN=cn. */
static char *make_csr(mbedtls_ecp_group_id curve, const char *subject)
{
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context key;
    mbedtls_x509write_csr w;
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&key);
    mbedtls_x509write_csr_init(&w);
    assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    assert_int_equal(mbedtls_ecp_gen_key(curve, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &drbg),
                     0);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&w, &key);
    assert_int_equal(mbedtls_x509write_csr_set_subject_name(&w, subject), 0);
    char *pem = calloc(1, 4096);
    assert_int_equal(
        mbedtls_x509write_csr_pem(&w, (unsigned char *)pem, 4096, mbedtls_ctr_drbg_random, &drbg),
        0);
    mbedtls_x509write_csr_free(&w);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
    return pem;
}

/* Flip a bit in the last byte of the DER (inside the signature) and re-PEM. */
static char *corrupt_signature(const char *pem)
{
    mbedtls_pem_context p;
    mbedtls_pem_init(&p);
    size_t used = 0;
    assert_int_equal(mbedtls_pem_read_buffer(&p, "-----BEGIN CERTIFICATE REQUEST-----",
                                             "-----END CERTIFICATE REQUEST-----",
                                             (const unsigned char *)pem, NULL, 0, &used),
                     0);
    unsigned char der[2048];
    size_t n = p.buflen; /* mbedTLS 2.28: the context's fields are public */
    assert_true(n <= sizeof der);
    memcpy(der, p.buf, n);
    der[n - 1] ^= 0x01;
    mbedtls_pem_free(&p);
    char *out = calloc(1, 4096);
    size_t olen = 0;
    assert_int_equal(mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE REQUEST-----\n",
                                              "-----END CERTIFICATE REQUEST-----\n", der, n,
                                              (unsigned char *)out, 4096, &olen),
                     0);
    return out;
}

static enrol_status submit(enrol *e, const char *token, const char *csr, enrol_result *res)
{
    return enrol_submit(e, token, csr, strlen(csr), "127.0.0.1", res);
}

static int64_t count(const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void test_enrol_once_then_replay_refused(void **state)
{
    (void)state;
    enrol *e = open_enrol();
    char tok[ENROL_TOKEN_LEN + 1];
    int64_t exp = 0;
    assert_int_equal(enrol_token_create(e, "gw-7", 3600, "test", tok, &exp), 0);
    assert_int_equal(strlen(tok), ENROL_TOKEN_LEN);
    assert_int_equal(exp, fake_now + 3600 * 1000);
    /* Only the hash is stored. */
    assert_int_equal(count("SELECT count(*) FROM enrol_tokens WHERE length(token_hash) = 32"), 1);
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM enrol_tokens WHERE instr(token_hash, '%s')", tok);
    assert_int_equal(count(q), 0);

    char *csr = make_csr(MBEDTLS_ECP_DP_SECP256R1, "CN=gw-7");
    enrol_result *res = calloc(1, sizeof *res);
    assert_int_equal(submit(e, tok, csr, res), ENROL_OK);
    assert_string_equal(res->gateway_id, "gw-7");
    assert_int_equal(strlen(res->serial), 32);

    /* The certificate: chains to the CA, CN, key of the CSR, clientAuth, not a CA. */
    mbedtls_x509_crt ca, crt;
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse_file(&ca, ca_crt), 0);
    assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *)res->cert_pem,
                                            strlen(res->cert_pem) + 1),
                     0);
    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&crt, &ca, NULL, "gw-7", &flags, NULL, NULL), 0);
    assert_int_equal(crt.ca_istrue, 0);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
                     MBEDTLS_ERR_X509_BAD_INPUT_DATA);
    mbedtls_x509_csr parsed;
    mbedtls_x509_csr_init(&parsed);
    assert_int_equal(mbedtls_x509_csr_parse(&parsed, (const unsigned char *)csr, strlen(csr) + 1),
                     0);
    unsigned char k1[200], k2[200];
    int l1 = mbedtls_pk_write_pubkey_der(&parsed.pk, k1, sizeof k1);
    int l2 = mbedtls_pk_write_pubkey_der(&crt.pk, k2, sizeof k2);
    assert_true(l1 > 0 && l1 == l2);
    assert_memory_equal(k1 + sizeof k1 - l1, k2 + sizeof k2 - l2, (size_t)l1);
    assert_int_equal(crt.valid_from.year, 2025); /* back-dated an hour from 2026-01-01 00:00 */
    assert_int_equal(crt.valid_to.year, 2027);
    mbedtls_x509_csr_free(&parsed);
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&ca);

    /* Replay: the same token again, even with a new key. */
    char *csr2 = make_csr(MBEDTLS_ECP_DP_SECP256R1, "CN=gw-7");
    assert_int_equal(submit(e, tok, csr2, res), ENROL_E_TOKEN_USED);
    assert_string_equal(res->cert_pem, "");
    assert_int_equal(count("SELECT count(*) FROM enrol_audit WHERE outcome = 'enrolled'"), 1);
    assert_int_equal(count("SELECT count(*) FROM enrol_audit WHERE outcome = 'token_used'"), 1);
    assert_int_equal(count("SELECT count(*) FROM enrol_tokens WHERE used_ms IS NOT NULL"), 1);
    free(csr);
    free(csr2);
    free(res);
    enrol_free(e);
}

static void test_expired_unknown_and_bad_csrs(void **state)
{
    (void)state;
    enrol *e = open_enrol();
    char tok[ENROL_TOKEN_LEN + 1];
    int64_t exp = 0;
    enrol_result *res = calloc(1, sizeof *res);
    char *good = make_csr(MBEDTLS_ECP_DP_SECP256R1, "CN=gw-8");
    assert_int_equal(enrol_token_create(e, "gw-8", 60, "test", tok, &exp), 0);

    /* Unknown tokens: well-formed but never minted, malformed, empty. */
    char other[ENROL_TOKEN_LEN + 1];
    memcpy(other, tok, sizeof other);
    other[0] = other[0] == 'A' ? 'B' : 'A';
    assert_int_equal(submit(e, other, good, res), ENROL_E_TOKEN_UNKNOWN);
    assert_int_equal(submit(e, "short", good, res), ENROL_E_TOKEN_UNKNOWN);
    assert_int_equal(submit(e, "", good, res), ENROL_E_TOKEN_UNKNOWN);

    /* CSR problems, each leaving the token usable. */
    char *cn = make_csr(MBEDTLS_ECP_DP_SECP256R1, "CN=gw-9");
    char *two = make_csr(MBEDTLS_ECP_DP_SECP256R1, "CN=gw-8,CN=gw-9");
    char *nocn = make_csr(MBEDTLS_ECP_DP_SECP256R1, "O=fitgate");
    char *p384 = make_csr(MBEDTLS_ECP_DP_SECP384R1, "CN=gw-8");
    char *badsig = corrupt_signature(good);
    assert_int_equal(submit(e, tok, cn, res), ENROL_E_CSR_CN);
    assert_int_equal(submit(e, tok, two, res), ENROL_E_CSR_CN);
    assert_int_equal(submit(e, tok, nocn, res), ENROL_E_CSR_CN);
    assert_int_equal(submit(e, tok, p384, res), ENROL_E_CSR_KEY_TYPE);
    assert_int_equal(submit(e, tok, badsig, res), ENROL_E_CSR_SIGNATURE);
    assert_int_equal(submit(e, tok, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", res),
                     ENROL_E_CSR_MALFORMED);
    assert_int_equal(submit(e, tok, "hello", res), ENROL_E_CSR_MALFORMED);
    assert_int_equal(count("SELECT count(*) FROM enrol_tokens WHERE used_ms IS NULL"), 1);

    /* Expiry: one millisecond before is fine for the check; at expiry refused. */
    int64_t saved = fake_now;
    fake_now = exp;
    assert_int_equal(submit(e, tok, good, res), ENROL_E_TOKEN_EXPIRED);
    fake_now = exp - 1;
    assert_int_equal(submit(e, tok, good, res), ENROL_OK);
    fake_now = saved;
    assert_int_equal(count("SELECT count(*) FROM enrol_audit WHERE outcome = 'token_expired'"), 1);
    assert_int_equal(count("SELECT count(*) FROM enrol_audit WHERE outcome = 'csr_cn_mismatch' "
                           "AND gateway_id = 'gw-8'"),
                     3);

    /* Minting refuses bad ids and lifetimes. */
    assert_int_equal(enrol_token_create(e, "gw 1", 60, "t", tok, &exp), -1);
    assert_int_equal(enrol_token_create(e, "gw-1", 0, "t", tok, &exp), -1);
    assert_int_equal(enrol_token_create(e, "gw-1", ENROL_TTL_MAX + 1, "t", tok, &exp), -1);
    free(good);
    free(cn);
    free(two);
    free(nocn);
    free(p384);
    free(badsig);
    free(res);
    enrol_free(e);
}

typedef struct race {
    enrol *e;
    const char *tok;
    char *csr;
    enrol_status s;
} race;

static void *race_one(void *arg)
{
    race *r = arg;
    enrol_result *res = malloc(sizeof *res);
    r->s = submit(r->e, r->tok, r->csr, res);
    free(res);
    return NULL;
}

/* Two processes' worth of handles, eight threads, one token: one certificate. */
static void test_concurrent_use_of_one_token(void **state)
{
    (void)state;
    enrol *e = open_enrol(), *e2 = NULL;
    enrol_config cfg = {.db_path = db, .ca_cert = ca_crt, .ca_key = ca_key, .now_ms = clock_ms};
    assert_int_equal(enrol_new(&e2, &cfg), 0);
    char tok[ENROL_TOKEN_LEN + 1];
    int64_t exp = 0;
    assert_int_equal(enrol_token_create(e, "gw-r", 60, "test", tok, &exp), 0);
    race r[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (race){i % 2 ? e2 : e, tok, make_csr(MBEDTLS_ECP_DP_SECP256R1, "CN=gw-r"), 0};
        assert_int_equal(pthread_create(&t[i], NULL, race_one, &r[i]), 0);
    }
    int ok = 0, used = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += r[i].s == ENROL_OK;
        used += r[i].s == ENROL_E_TOKEN_USED;
        free(r[i].csr);
    }
    assert_int_equal(ok, 1);
    assert_int_equal(used, 7);
    enrol_free(e2);
    enrol_free(e);
}

static void test_ca_load_refusals(void **state)
{
    (void)state;
    enrol_ca *ca = NULL;
    char err[256];
    /* The key of another CA does not match the certificate. */
    char other[160], cmd[512];
    snprintf(other, sizeof other, "%s/other.key", dir);
    snprintf(cmd, sizeof cmd,
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s 2>/dev/null",
             other);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(enrol_ca_load(&ca, ca_crt, other, err, sizeof err), -1);
    assert_non_null(strstr(err, "not the EC P-256 key"));
    assert_int_equal(enrol_ca_load(&ca, "/nonexistent", ca_key, err, sizeof err), -1);
    assert_int_equal(enrol_ca_load(&ca, ca_crt, ca_key, err, sizeof err), 0);
    enrol_ca_free(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enrol_once_then_replay_refused),
        cmocka_unit_test(test_expired_unknown_and_bad_csrs),
        cmocka_unit_test(test_concurrent_use_of_one_token),
        cmocka_unit_test(test_ca_load_refusals),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
