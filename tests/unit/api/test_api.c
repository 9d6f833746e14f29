/* test_api.c - the HTTP API over a real TCP socket, with a temp SQLite file.
 *
 * A tiny HTTP/1.1 client (Connection: close, read to EOF) keeps the test free
 * of client-library behaviour: what we assert is what went over the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "api.h"
#include "api_route.h"
#include "crypto.h"
#include "fitcommon/log.h"
#include "live.h"
#include "store.h"
#include "tg_initdata.h"

#define TOKEN   "1234567:test-bot-token-for-unit-tests"
#define DEMO_TG 777000

static char tmpdir[64], dbpath[128];
static api *srv;
static uint16_t port;

/* ---- a tiny HTTP client ---- */

typedef struct resp {
    int status;
    char *raw; /* whole response; headers end at body - 4 */
    char *body;
} resp;

static int connect_srv(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the server may close early (413): read what it said */
        buf += n;
        len -= (size_t)n;
    }
}

/* Send a raw request, read the response to EOF. */
static resp raw_request(const char *req, size_t len)
{
    int fd = connect_srv();
    send_all(fd, req, len);
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    resp out = {.raw = buf};
    sscanf(buf, "HTTP/1.%*d %d", &out.status);
    char *sep = strstr(buf, "\r\n\r\n");
    out.body = sep ? sep + 4 : buf + n;
    return out;
}

static resp request(const char *method, const char *path, const char *headers, const char *body)
{
    char *req;
    size_t blen = body ? strlen(body) : 0;
    int n = asprintf(&req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, headers ? headers : "", blen, body ? body : "");
    assert_true(n > 0);
    resp r = raw_request(req, (size_t)n);
    free(req);
    return r;
}

/* Value of header name (case-insensitive) copied into out; 0 if present. */
static int header(const resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->raw, "\r\n"); p && p + 2 < r->body; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r");
            snprintf(out, cap, "%.*s", (int)len, v);
            return 0;
        }
    }
    return -1;
}

static void resp_free(resp *r)
{
    free(r->raw);
}

static void assert_error_code(const resp *r, int status, const char *code)
{
    if (r->status != status)
        fail_msg("want %d, got %d: %s", status, r->status, r->raw);
    cJSON *j = cJSON_Parse(r->body);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring, code);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "message")));
    cJSON_Delete(j);
}

/* ---- helpers ---- */

/* The identity module is not part of these tests: a stand-in authenticator
 * accepts "user-<id>" as the token of user <id>, and makes Telegram user T
 * our user T + 1000 (for the dev launch page). */
static int test_auth(void *ctx, const char *token, api_principal *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    if (strncmp(token, "user-", 5) != 0 || atoll(token + 5) <= 0)
        return -1;
    out->scope = API_SCOPE_USER;
    out->user_id = atoll(token + 5);
    return 0;
}

static int test_tg_user(void *ctx, int64_t tg_id, const char *first_name, const char *username,
                        int64_t *user_id)
{
    (void)ctx, (void)first_name, (void)username;
    *user_id = tg_id + 1000;
    return 0;
}

static int echo_len(void *ctx, api_req *rq)
{
    (void)ctx;
    size_t len;
    api_body(rq, &len);
    char out[64];
    snprintf(out, sizeof out, "{\"len\":%zu}", len);
    return api_reply_json_str(rq, 200, out);
}

static const api_route test_base_routes[] = {
    {"POST", "/api/v1/echo", API_PUBLIC, "echo", echo_len},
};

/* api_new + the stand-ins + serve. */
static api *start_api(const api_config *cfg)
{
    api *a;
    if (api_new(&a, cfg) != 0)
        return NULL;
    api_set_authenticator(a, test_auth, NULL);
    api_set_tg_user_fn(a, test_tg_user, NULL);
    if (api_add_routes(a, test_base_routes, 1, NULL) != 0 || api_serve(a) != 0) {
        api_stop(a);
        return NULL;
    }
    return a;
}

static resp get_with_token(const char *path, const char *token, int use_cookie)
{
    char hdr[128];
    if (use_cookie)
        snprintf(hdr, sizeof hdr, "Cookie: fg_session=%s\r\n", token);
    else
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    return request("GET", path, hdr, NULL);
}

static void put_reading(const char *device, int64_t ts_ms, double hr, uint64_t seq)
{
    store *s;
    assert_int_equal(store_open(&s, dbpath), STORE_OK);
    fp_reading r;
    assert_int_equal(fp_reading_init(&r, device, FP_KIND_HEART_RATE, ts_ms), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_HEART_RATE, hr), FP_OK);
    r.seq = seq;
    size_t inserted = 0;
    assert_int_equal(store_put_readings(s, "gw-test", 42, &r, 1, &inserted), STORE_OK);
    assert_int_equal(inserted, 1);
    store_close(s);
}

static void bind_dev(const char *device, int64_t user_id)
{
    store *s;
    assert_int_equal(store_open(&s, dbpath), STORE_OK);
    assert_int_equal(store_bind_device(s, device, user_id), STORE_OK);
    store_close(s);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- fixture ---- */

static int setup(void **state)
{
    (void)state;
    log_init("test_api", LOG_WARN);
    if (crypto_init() != 0)
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fitgate-api-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(dbpath, sizeof dbpath, "%s/core.db", tmpdir);
    char p[256], q[256];
    snprintf(p, sizeof p, "%s/www", tmpdir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/www/index.html", tmpdir);
    write_file(p, "<!doctype html><title>t</title>");
    snprintf(p, sizeof p, "%s/www/app.js", tmpdir);
    write_file(p, "console.log(1);");
    snprintf(p, sizeof p, "%s/secret.txt", tmpdir);
    write_file(p, "TOP-SECRET");
    snprintf(q, sizeof q, "%s/www/leak.txt", tmpdir);
    if (symlink(p, q) != 0)
        return -1;
    snprintf(p, sizeof p, "%s/www", tmpdir);
    api_config cfg = {
        .bind_addr = "127.0.0.1",
        .port = 0,
        .miniapp_dir = p,
        .db_path = dbpath,
        .bot_token = TOKEN,
        .dev_mode = 1,
        .dev_demo_tg_id = DEMO_TG,
        .dev_demo_devices = "demo-strap-1, demo-strap-2,sim-*",
    };
    if (!(srv = start_api(&cfg)))
        return -1;
    port = api_port(srv);
    return port ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    api_stop(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

/* ---- tests ---- */

static void test_health_and_headers(void **state)
{
    (void)state;
    resp r = request("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    char v[256];
    assert_int_equal(header(&r, "X-Content-Type-Options", v, sizeof v), 0);
    assert_string_equal(v, "nosniff");
    assert_int_equal(header(&r, "Referrer-Policy", v, sizeof v), 0);
    assert_string_equal(v, "no-referrer");
    assert_int_equal(header(&r, "Content-Security-Policy", v, sizeof v), 0);
    assert_non_null(strstr(v, "default-src 'self'"));
    resp_free(&r);

    r = request("GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    api_set_ready(srv, 1);
    r = request("GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_readings(void **state)
{
    (void)state;
    resp r = request("GET", "/api/v1/readings?since=0", NULL, NULL);
    assert_error_code(&r, 401, "no_session");
    resp_free(&r);

    const char *token = "user-3003";
    int64_t uid = 3003;
    r = get_with_token("/api/v1/readings", "user-0", 0);
    assert_error_code(&r, 401, "invalid_token");
    resp_free(&r);

    int64_t t0 = now_s() * 1000;
    bind_dev("carol-strap", uid);
    bind_dev("dave-strap", uid + 1000);
    put_reading("carol-strap", t0 - 3000, 61, 1);
    put_reading("dave-strap", t0 - 2500, 99, 2);
    put_reading("carol-strap", t0 - 2000, 62, 3);
    put_reading("carol-strap", t0 - 1000, 63, 4);

    char path[128];
    snprintf(path, sizeof path, "/api/v1/readings?since=%lld&limit=2", (long long)(t0 - 2500));
    r = get_with_token(path, token, 1);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_true(cJSON_IsArray(j));
    assert_int_equal(cJSON_GetArraySize(j), 2);
    const cJSON *first = cJSON_GetArrayItem(j, 0);
    assert_string_equal(cJSON_GetObjectItem(first, "dev")->valuestring, "carol-strap");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(first, "v"), "hr")->valuedouble, 62);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "v")->child->valuedouble, 63);
    cJSON_Delete(j);
    resp_free(&r);

    r = get_with_token("/api/v1/readings", token, 1);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "dave-strap"));
    assert_non_null(strstr(r.body, "carol-strap"));
    resp_free(&r);

    const char *bad[] = {"/api/v1/readings?limit=1001", "/api/v1/readings?since=abc",
                         "/api/v1/readings?since=-1", "/api/v1/readings?limit=5x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = get_with_token(bad[i], token, 1);
        assert_error_code(&r, 400, "malformed");
        resp_free(&r);
    }
}

/* Open an SSE stream; returns the socket once the server said "connected". */
static int sse_open_from(const char *token, const char *last_id, char *buf, size_t cap,
                         int small_rcvbuf);

static int sse_open(const char *token, char *buf, size_t cap, int small_rcvbuf)
{
    return sse_open_from(token, NULL, buf, cap, small_rcvbuf);
}

/* Open /api/v1/live (with Last-Event-ID when last_id is given) and read up
 * to the server's hello. */
static int sse_open_from(const char *token, const char *last_id, char *buf, size_t cap,
                         int small_rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (small_rcvbuf) { /* so that an idle reader makes the server's writes block */
        int sz = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[384], lid[96] = "";
    if (last_id)
        snprintf(lid, sizeof lid, "Last-Event-ID: %s\r\n", last_id);
    int n = snprintf(req, sizeof req,
                     "GET /api/v1/live HTTP/1.1\r\nHost: x\r\nCookie: fg_session=%s\r\n"
                     "Accept: text/event-stream\r\n%s\r\n",
                     token, lid);
    send_all(fd, req, (size_t)n);
    size_t len = 0;
    buf[0] = '\0';
    while (!strstr(buf, ": connected")) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 5000), 1);
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        assert_true(r > 0);
        len += (size_t)r;
        buf[len] = '\0';
    }
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strcasestr(buf, "Content-Type: text/event-stream"));
    return fd;
}

/* Read from fd until needle appears in buf (appending), or timeout. */
static int sse_wait(int fd, char *buf, size_t cap, const char *needle, int timeout_ms)
{
    size_t len = strlen(buf);
    while (!strstr(buf, needle)) {
        if (len > cap / 2) { /* keep a tail: the needle may straddle reads */
            memmove(buf, buf + len - 256, 257);
            len = 256;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) != 1)
            return -1;
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
    }
    return 0;
}

static void push(const char *device, double hr)
{
    fp_reading r;
    assert_int_equal(fp_reading_init(&r, device, FP_KIND_HEART_RATE, now_s() * 1000), FP_OK);
    assert_int_equal(fp_reading_add(&r, FP_Q_HEART_RATE, hr), FP_OK);
    api_live_push(srv, &r);
}

static void test_live(void **state)
{
    (void)state;
    resp r = request("GET", "/api/v1/live", NULL, NULL);
    assert_error_code(&r, 401, "no_session");
    resp_free(&r);

    const char *tok1 = "user-4004", *tok2 = "user-4005";
    int64_t u1 = 4004, u2 = 4005;
    bind_dev("frank-strap", u1);
    bind_dev("grace-strap", u2);

    static char b1[16384], b2[16384];
    int fd1 = sse_open(tok1, b1, sizeof b1, 1);
    int fd2 = sse_open(tok2, b2, sizeof b2, 0);
    push("grace-strap", 150);
    push("frank-strap", 101);
    push("unbound-strap", 55);
    push("frank-strap", 102);
    assert_int_equal(sse_wait(fd1, b1, sizeof b1, "\"hr\":102", 5000), 0);
    assert_int_equal(sse_wait(fd2, b2, sizeof b2, "\"hr\":150", 5000), 0);
    /* Event framing, in order, ids "<ring epoch>.<seq>" counting up; nobody
     * else's readings. */
    unsigned epoch = 0;
    const char *first = strstr(b1, "id: ");
    assert_non_null(first);
    assert_int_equal(sscanf(first, "id: %u.", &epoch), 1);
    char want1[64], want2[64];
    snprintf(want1, sizeof want1, "id: %u.1\nevent: reading\ndata: {", epoch);
    snprintf(want2, sizeof want2, "id: %u.2\nevent: reading\ndata: {", epoch);
    const char *e1 = strstr(b1, want1);
    const char *e2 = strstr(b1, want2);
    assert_non_null(e1);
    assert_non_null(e2);
    assert_true(e1 < e2);
    assert_non_null(strstr(e1, "\"dev\":\"frank-strap\""));
    assert_non_null(strstr(e1, "\"hr\":101"));
    assert_null(strstr(b1, "grace-strap"));
    assert_null(strstr(b1, "unbound-strap"));
    assert_null(strstr(b2, "frank-strap"));

    /* A stream that does not read loses its oldest events, the pusher never
     * waits: push far more than the ring holds, then the stream resumes with
     * the newest. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 20000; i++)
        push("frank-strap", 40 + (i % 200));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* 20k pushes against a stalled reader: well under a second, not blocked. */
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    char last[64];
    snprintf(last, sizeof last, "id: %u.20002\n", epoch);
    assert_int_equal(sse_wait(fd1, b1, sizeof b1, last, 5000), 0);
    close(fd1);
    close(fd2);

    /* The connection drops; readings keep coming; the client comes back with
     * Last-Event-ID and gets exactly what it missed, no reset. */
    push("frank-strap", 111);
    push("frank-strap", 112);
    snprintf(last, sizeof last, "%u.20002", epoch);
    fd1 = sse_open_from(tok1, last, b1, sizeof b1, 0);
    char want[64];
    snprintf(want, sizeof want, "id: %u.20004\n", epoch);
    assert_int_equal(sse_wait(fd1, b1, sizeof b1, want, 5000), 0);
    snprintf(want, sizeof want, "id: %u.20003\nevent: reading\ndata: {", epoch);
    const char *m1 = strstr(b1, want);
    assert_non_null(m1);
    assert_non_null(strstr(m1, "\"hr\":111"));
    assert_null(strstr(b1, "event: reset"));
    close(fd1);
    /* An id from another ring (or garbage) cannot be honoured: the stream
     * says "reset" first, so the client refills from /readings. */
    const char *stale[] = {"1.5", "junk", "4294967295.1"};
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
        fd1 = sse_open_from(tok1, stale[i], b1, sizeof b1, 0);
        assert_int_equal(sse_wait(fd1, b1, sizeof b1, "event: reset\ndata: {}\n\n", 5000), 0);
        close(fd1);
    }

    /* Closed streams are released (the next push finds them gone). */
    for (int i = 0; i < 50; i++) {
        r = request("GET", "/metrics", NULL, NULL);
        int gone = strstr(r.body, "fitgate_api_live_streams 0\n") != NULL;
        resp_free(&r);
        if (gone)
            break;
        push("frank-strap", 60); /* a write makes the server notice the close */
        push("grace-strap", 60);
        usleep(100 * 1000);
    }
    r = request("GET", "/metrics", NULL, NULL);
    assert_non_null(strstr(r.body, "fitgate_api_live_streams 0\n"));
    assert_null(strstr(r.body, "fitgate_api_live_dropped_total 0\n"));
    resp_free(&r);
}

static void test_dev_launch(void **state)
{
    (void)state;
    resp r = request("GET", "/dev/launch", NULL, NULL);
    assert_int_equal(r.status, 302);
    char loc[4096];
    assert_int_equal(header(&r, "Location", loc, sizeof loc), 0);
    resp_free(&r);
    const char *prefix = "/#tgWebAppData=";
    assert_int_equal(strncmp(loc, prefix, strlen(prefix)), 0);
    assert_non_null(strstr(loc, "&tgWebAppVersion=8.0&tgWebAppPlatform=web"));
    /* Percent-decode the launch parameter, as the mini app does. */
    const char *enc = loc + strlen(prefix);
    size_t enc_len = strcspn(enc, "&");
    char init[4096];
    size_t o = 0;
    for (size_t i = 0; i < enc_len; i++) {
        if (enc[i] == '%') {
            unsigned v;
            assert_int_equal(sscanf(enc + i + 1, "%2x", &v), 1);
            init[o++] = (char)v;
            i += 2;
        } else {
            init[o++] = enc[i];
        }
    }
    init[o] = '\0';
    tg_auth a;
    assert_int_equal(tg_validate(init, o, TOKEN, now_s(), 60, &a), TG_OK);
    assert_int_equal(a.user.id, DEMO_TG);
    assert_string_equal(a.user.first_name, "Demo");

    /* The demo devices belong to the demo user (as the identity module's
     * stand-in named it) now; the '*' entry is ignored. */
    int64_t uid = DEMO_TG + 1000;
    store *s;
    assert_int_equal(store_open(&s, dbpath), STORE_OK);
    int64_t owner = 0;
    assert_int_equal(store_device_owner(s, "demo-strap-1", &owner), STORE_OK);
    assert_int_equal(owner, uid);
    assert_int_equal(store_device_owner(s, "demo-strap-2", &owner), STORE_OK);
    assert_int_equal(owner, uid);
    assert_int_equal(store_device_owner(s, "sim-*", &owner), STORE_ERR_NOTFOUND);
    store_close(s);
}

static void test_static_files(void **state)
{
    (void)state;
    resp r = request("GET", "/", NULL, NULL);
    assert_int_equal(r.status, 200);
    char v[128];
    assert_int_equal(header(&r, "Content-Type", v, sizeof v), 0);
    assert_string_equal(v, "text/html; charset=utf-8");
    assert_string_equal(r.body, "<!doctype html><title>t</title>");
    resp_free(&r);
    r = request("GET", "/app.js", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(header(&r, "Content-Type", v, sizeof v), 0);
    assert_string_equal(v, "text/javascript; charset=utf-8");
    resp_free(&r);

    const char *bad[] = {"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                         "/leak.txt",      "/./index.html",      "//etc/passwd",
                         "/nope.html",     "/index.html/",       "/.hidden.txt"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = request("GET", bad[i], NULL, NULL);
        if (r.status != 404 && r.status != 400)
            fail_msg("%s: %d", bad[i], r.status);
        assert_null(strstr(r.body, "TOP-SECRET"));
        resp_free(&r);
    }
}

static void test_oversize_body(void **state)
{
    (void)state;
    size_t n = 70000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    resp r = request("POST", "/api/v1/echo", NULL, big);
    assert_error_code(&r, 413, "too_large");
    resp_free(&r);

    /* Chunked: no Content-Length to refuse early. */
    char *req;
    int len = asprintf(&req,
                       "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                       n, big);
    r = raw_request(req, (size_t)len);
    assert_error_code(&r, 413, "too_large");
    resp_free(&r);
    free(req);
    free(big);
}

static void test_metrics(void **state)
{
    (void)state;
    resp r = request("GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    const char *want[] = {
        "# TYPE fitgate_api_requests_total counter",
        "fitgate_api_requests_total{endpoint=\"readings\"} ",
        "fitgate_api_requests_total{endpoint=\"echo\"} 2\n",
        "fitgate_api_rejected_total{reason=\"no_session\"} ",
        "fitgate_api_rejected_total{reason=\"invalid_token\"} ",
        "fitgate_api_rejected_total{reason=\"too_large\"} 2\n",
        "fitgate_api_live_streams ",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(r.body, want[i]))
            fail_msg("metrics lack '%s':\n%s", want[i], r.body);
    assert_null(strstr(r.body, "fitgate_api_requests_total{endpoint=\"readings\"} 0\n"));
    resp_free(&r);
}

/* The real mini app is served with the element ids the e2e tests use. */
static void test_real_miniapp(void **state)
{
    (void)state;
    char db[160];
    snprintf(db, sizeof db, "%s/other.db", tmpdir);
    /* The built mini app (scripts/build.sh builds dist/ before the tests). */
    api_config cfg = {
        .miniapp_dir = FITGATE_SOURCE_DIR "/cloud/miniapp/dist", .db_path = db, .bot_token = TOKEN};
    api *a = start_api(&cfg);
    assert_non_null(a);
    uint16_t saved = port;
    port = api_port(a);
    resp r = request("GET", "/", NULL, NULL);
    assert_int_equal(r.status, 200);
    const char *refs[] = {"app.js", "app.css", "viewport"};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
        assert_non_null(strstr(r.body, refs[i]));
    resp_free(&r);
    const char *files[] = {"/app.js", "/app.css"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        r = request("GET", files[i], NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_true(strlen(r.body) > 100);
        resp_free(&r);
    }
    /* Not in dev mode: no launch page. */
    r = request("GET", "/dev/launch", NULL, NULL);
    assert_error_code(&r, 404, "not_found");
    resp_free(&r);

    /* Stopping with a live stream open ends the stream promptly. */
    const char *token = "user-5005";
    static char buf[4096];
    int fd = sse_open(token, buf, sizeof buf, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    api_stop(a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3);
    char tail[256];
    ssize_t n;
    while ((n = recv(fd, tail, sizeof tail, 0)) > 0)
        ;
    assert_int_equal(n, 0); /* the server closed the stream */
    close(fd);
    port = saved;
}

/* ---- the router, as modules use it ---- */

static int r_echo(void *ctx, api_req *rq)
{
    int64_t n;
    if (api_query_i64(rq, "n", 7, 0, 100, &n) != 0)
        return api_reply_error(rq, 400, "malformed", "n must be 0..100");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ctx", (const char *)ctx);
    cJSON_AddStringToObject(o, "a0", api_path_arg(rq, 0) ? api_path_arg(rq, 0) : "");
    cJSON_AddStringToObject(o, "a1", api_path_arg(rq, 1) ? api_path_arg(rq, 1) : "");
    cJSON_AddStringToObject(o, "peer", api_peer_ip(rq));
    cJSON_AddNumberToObject(o, "user", (double)api_who(rq)->user_id);
    cJSON_AddNumberToObject(o, "scope", api_who(rq)->scope);
    const cJSON *b = api_body_json(rq);
    if (b)
        cJSON_AddItemToObject(o, "body", cJSON_Duplicate(b, 1));
    cJSON_AddNumberToObject(o, "n", (double)n);
    api_reply_header(rq, "X-Test", "yes");
    return api_reply_json(rq, 201, o);
}

static int r_module_override(void *ctx, api_req *rq)
{
    (void)ctx;
    return api_reply_json_str(rq, 200, "{\"module\":true}");
}

/* Tokens "user-<id>", "svc" and "admin"; anything else is invalid. */
static int fake_auth(void *ctx, const char *token, api_principal *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    if (strncmp(token, "user-", 5) == 0) {
        out->scope = API_SCOPE_USER;
        out->user_id = atoll(token + 5);
        return 0;
    }
    if (strcmp(token, "svc") == 0 || strcmp(token, "admin") == 0) {
        out->scope = token[0] == 's' ? API_SCOPE_INTERNAL : API_SCOPE_ADMIN;
        return 0;
    }
    return -1;
}

static const api_route test_routes[] = {
    {"GET", "/api/v1/things/*/parts/*", API_PUBLIC, "things", r_echo},
    {"POST", "/api/v1/things/*", API_USER, "things_post", r_echo},
    {"GET", "/api/v1/internal/ping", API_INTERNAL, "internal_ping", r_echo},
    {"GET", "/api/v1/admin/ping", API_ADMIN, "admin_ping", r_echo},
    {"GET", "/readyz", API_PUBLIC, "readyz_module", r_module_override},
};

static void test_router(void **state)
{
    (void)state;
    char db[160];
    snprintf(db, sizeof db, "%s/router.db", tmpdir);
    api_config cfg = {.db_path = db, .bot_token = TOKEN, .trusted_proxies = "127.0.0.1"};
    api *a;
    assert_int_equal(api_new(&a, &cfg), 0);
    assert_int_equal(
        api_add_routes(a, test_routes, sizeof test_routes / sizeof test_routes[0], "mod"), 0);
    api_set_authenticator(a, fake_auth, NULL);
    assert_int_equal(api_serve(a), 0);
    /* No routes once serving. */
    assert_int_equal(api_add_routes(a, test_routes, 1, NULL), -1);
    uint16_t saved = port;
    port = api_port(a);

    /* Path arguments, query parsing, extra headers, anonymous caller. */
    resp r = request("GET", "/api/v1/things/t1/parts/p9?n=5", NULL, NULL);
    assert_int_equal(r.status, 201);
    cJSON *j = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItem(j, "ctx")->valuestring, "mod");
    assert_string_equal(cJSON_GetObjectItem(j, "a0")->valuestring, "t1");
    assert_string_equal(cJSON_GetObjectItem(j, "a1")->valuestring, "p9");
    assert_int_equal(cJSON_GetObjectItem(j, "n")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(j, "scope")->valueint, API_SCOPE_NONE);
    cJSON_Delete(j);
    char v[64];
    assert_int_equal(header(&r, "X-Test", v, sizeof v), 0);
    resp_free(&r);
    r = request("GET", "/api/v1/things/t1/parts/p9?n=500", NULL, NULL);
    assert_error_code(&r, 400, "malformed");
    resp_free(&r);
    /* Segments must match exactly: no empty "*", no extra segments. */
    const char *miss[] = {"/api/v1/things//parts/p", "/api/v1/things/t/parts/p/x",
                          "/api/v1/things/t/parts"};
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++) {
        r = request("GET", miss[i], NULL, NULL);
        assert_int_equal(r.status, 404);
        resp_free(&r);
    }
    /* Known path, other method. */
    r = request("DELETE", "/api/v1/things/t1", NULL, NULL);
    assert_error_code(&r, 405, "method_not_allowed");
    resp_free(&r);

    /* Authentication by flags. */
    r = request("POST", "/api/v1/things/t1", NULL, "{\"x\":1}");
    assert_error_code(&r, 401, "no_session");
    resp_free(&r);
    r = request("POST", "/api/v1/things/t1", "Authorization: Bearer nope\r\n", "{}");
    assert_error_code(&r, 401, "invalid_token");
    resp_free(&r);
    r = request("POST", "/api/v1/things/t1", "Authorization: Bearer user-42\r\n", "{\"x\":1}");
    assert_int_equal(r.status, 201);
    j = cJSON_Parse(r.body);
    assert_int_equal(cJSON_GetObjectItem(j, "user")->valueint, 42);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "body"), "x")->valueint, 1);
    cJSON_Delete(j);
    resp_free(&r);
    /* A user token is refused at internal and admin endpoints, and the
     * other way round. */
    r = request("GET", "/api/v1/internal/ping", "Authorization: Bearer user-42\r\n", NULL);
    assert_error_code(&r, 403, "wrong_token_type");
    resp_free(&r);
    r = request("GET", "/api/v1/internal/ping", "Authorization: Bearer svc\r\n", NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    r = request("GET", "/api/v1/admin/ping", "Authorization: Bearer svc\r\n", NULL);
    assert_error_code(&r, 403, "wrong_token_type");
    resp_free(&r);
    r = request("GET", "/api/v1/admin/ping", "Authorization: Bearer admin\r\n", NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    r = request("POST", "/api/v1/things/t1", "Authorization: Bearer admin\r\n", "{}");
    assert_error_code(&r, 403, "wrong_token_type");
    resp_free(&r);

    /* A module route wins over the built-in one. */
    r = request("GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"module\":true"));
    resp_free(&r);

    /* Behind a trusted proxy the last X-Forwarded-For hop is the client;
     * junk there is ignored. */
    r = request("GET", "/api/v1/things/a/parts/b", "X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\n",
                NULL);
    assert_non_null(strstr(r.body, "\"peer\":\"203.0.113.9\""));
    resp_free(&r);
    r = request("GET", "/api/v1/things/a/parts/b", "X-Forwarded-For: not-an-ip\r\n", NULL);
    assert_non_null(strstr(r.body, "\"peer\":\"127.0.0.1\""));
    resp_free(&r);
    /* Per-route counters. */
    r = request("GET", "/metrics", NULL, NULL);
    assert_non_null(strstr(r.body, "fitgate_api_requests_total{endpoint=\"things_post\"} 4"));
    assert_non_null(strstr(r.body, "fitgate_api_rejected_total{reason=\"wrong_token_type\"} 3"));
    resp_free(&r);
    api_stop(a);
    port = saved;
}

/* An untrusted peer cannot claim another address. */
/* The hub caps open streams, and ends them on shutdown. */
static void test_live_hub_cap(void **state)
{
    (void)state;
    store *s;
    assert_int_equal(store_open(&s, dbpath), STORE_OK);
    live_hub *h = live_hub_new(s, 2);
    assert_non_null(h);
    live_client *a = live_subscribe(h, 1, NULL), *b = live_subscribe(h, 2, NULL),
                *c = live_subscribe(h, 1, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_int_equal(live_clients(h), 2);
    live_unsubscribe(b);
    c = live_subscribe(h, 1, NULL);
    assert_non_null(c);
    char buf[64];
    assert_true(live_read(a, buf, sizeof buf, 10) > 0); /* hello */
    ssize_t n = live_read(a, buf, sizeof buf, 10);      /* nothing: keep-alive */
    assert_true(n > 0);
    assert_memory_equal(buf, ": keep-alive\n\n", (size_t)n);
    live_hub_shutdown(h);
    assert_int_equal(live_read(a, buf, sizeof buf, 10000), -1);
    assert_null(live_subscribe(h, 3, NULL));
    live_unsubscribe(a);
    live_unsubscribe(c);
    live_hub_free(h); /* closes s */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_headers),
        cmocka_unit_test(test_readings),
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_router),
        cmocka_unit_test(test_dev_launch),
        cmocka_unit_test(test_static_files),
        cmocka_unit_test(test_oversize_body),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_real_miniapp),
        cmocka_unit_test(test_live_hub_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
