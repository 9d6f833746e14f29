/* enrol_http.c - the enrolment endpoints and the enrol-token subcommand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "enrol.h"
#include "fitcommon/log.h"

static const struct {
    unsigned status;
    const char *message;
} refusals[ENROL_N_STATUS] = {
    [ENROL_E_MALFORMED] = {400, "send {\"token\": \"...\", \"csr\": \"<PEM CSR>\"}"},
    [ENROL_E_TOKEN_UNKNOWN] = {403, "unknown enrolment token: ask the operator for a new one"},
    [ENROL_E_TOKEN_USED] = {409, "this enrolment token was used already: ask for a new one"},
    [ENROL_E_TOKEN_EXPIRED] = {403, "this enrolment token has expired: ask for a new one"},
    [ENROL_E_CSR_MALFORMED] = {422, "csr is not a PEM PKCS#10 certificate request"},
    [ENROL_E_CSR_SIGNATURE] = {422, "csr signature does not verify with its key"},
    [ENROL_E_CSR_KEY_TYPE] = {422, "csr key must be ECDSA P-256"},
    [ENROL_E_CSR_CN] = {422, "csr subject CN must be exactly the token's gateway id"},
    [ENROL_E_INTERNAL] = {500, "enrolment failed on the server; try again later"},
};

static int h_enrol(void *ctx, api_req *rq)
{
    enrol *e = ctx;
    const cJSON *body = api_body_json(rq);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(body, "token");
    const cJSON *csr = cJSON_GetObjectItemCaseSensitive(body, "csr");
    if (!cJSON_IsString(tok) || !cJSON_IsString(csr))
        return api_reply_error(rq, 400, "malformed", refusals[ENROL_E_MALFORMED].message);
    enrol_result *res = malloc(sizeof *res);
    if (!res)
        return api_reply_error(rq, 500, "internal", "out of memory");
    enrol_status s = enrol_submit(e, tok->valuestring, csr->valuestring, strlen(csr->valuestring),
                                  api_peer_ip(rq), res);
    int rc;
    if (s != ENROL_OK) {
        rc = api_reply_error(rq, refusals[s].status, enrol_status_code(s), refusals[s].message);
    } else {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "gateway_id", res->gateway_id);
        cJSON_AddStringToObject(j, "certificate", res->cert_pem);
        cJSON_AddStringToObject(j, "ca", enrol_ca_cert_pem(e));
        cJSON_AddStringToObject(j, "serial", res->serial);
        cJSON_AddNumberToObject(j, "not_before", (double)res->not_before);
        cJSON_AddNumberToObject(j, "not_after", (double)res->not_after);
        rc = api_reply_json(rq, 200, j);
    }
    free(res);
    return rc;
}

static int h_mint(void *ctx, api_req *rq)
{
    enrol *e = ctx;
    const cJSON *body = api_body_json(rq);
    const cJSON *gw = cJSON_GetObjectItemCaseSensitive(body, "gateway_id");
    const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(body, "ttl_s");
    double t = ttl ? (cJSON_IsNumber(ttl) ? ttl->valuedouble : -1) : ENROL_TTL_DEFAULT;
    if (!cJSON_IsString(gw) || t < 1 || t > ENROL_TTL_MAX || t != (double)(int64_t)t)
        return api_reply_error(rq, 400, "malformed",
                               "send {\"gateway_id\": \"gw-1\", \"ttl_s\": 1..2592000}");
    char token[ENROL_TOKEN_LEN + 1];
    int64_t expires_ms = 0;
    if (enrol_token_create(e, gw->valuestring, (int64_t)t, api_who(rq)->subject, token,
                           &expires_ms))
        return api_reply_error(rq, 400, "bad_gateway_id",
                               "gateway_id must be 1-64 of [A-Za-z0-9._-]");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "gateway_id", gw->valuestring);
    cJSON_AddStringToObject(j, "token", token);
    cJSON_AddNumberToObject(j, "expires_ms", (double)expires_ms);
    return api_reply_json(rq, 201, j);
}

const api_route enrol_routes[] = {
    {"POST", "/api/v1/enrol", API_PUBLIC, "enrol", h_enrol},
    {"POST", "/api/v1/admin/enrol-tokens", API_ADMIN, "enrol_token_create", h_mint},
};
const size_t enrol_nroutes = sizeof enrol_routes / sizeof enrol_routes[0];

int enrol_cli(int argc, char **argv)
{
    static const struct option opts[] = {
        {"gateway", 1, 0, 'g'}, {"ttl-s", 1, 0, 't'}, {"data-dir", 1, 0, 'd'},
        {"json", 0, 0, 'j'},    {"help", 0, 0, 'h'},  {0, 0, 0, 0},
    };
    const char *gw = NULL, *dir = "data";
    long long ttl = ENROL_TTL_DEFAULT;
    int json = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        char *end = NULL;
        switch (c) {
        case 'g':
            gw = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 't':
            ttl = strtoll(optarg, &end, 10);
            if (*end || end == optarg)
                ttl = -1;
            break;
        default:
            fputs("usage: fitgate-core enrol-token --gateway ID [--ttl-s N (86400)] "
                  "[--data-dir DIR (data)] [--json]\n",
                  c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (!gw || optind != argc || ttl < 1 || ttl > ENROL_TTL_MAX) {
        fprintf(stderr, "fitgate-core enrol-token: --gateway ID needed, --ttl-s 1..%d\n",
                ENROL_TTL_MAX);
        return 2;
    }
    char db[4200];
    snprintf(db, sizeof db, "%s/core.db", dir);
    enrol_config cfg = {.db_path = db};
    enrol *e = NULL;
    char token[ENROL_TOKEN_LEN + 1];
    int64_t expires_ms = 0;
    const char *user = getenv("USER");
    char by[80];
    snprintf(by, sizeof by, "cli:%s", user ? user : "?");
    if (enrol_new(&e, &cfg)) {
        fprintf(stderr, "fitgate-core enrol-token: cannot open %s\n", db);
        return 1;
    }
    int rc = enrol_token_create(e, gw, ttl, by, token, &expires_ms);
    enrol_free(e);
    if (rc) {
        fprintf(stderr, "fitgate-core enrol-token: gateway id must be 1-64 of [A-Za-z0-9._-]\n");
        return 2;
    }
    if (json)
        printf("{\"gateway_id\":\"%s\",\"token\":\"%s\",\"expires_ms\":%lld}\n", gw, token,
               (long long)expires_ms);
    else
        printf("%s\n", token);
    return 0;
}
