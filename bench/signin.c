/* signin.c - HTTP load generator for sign-ins: POST /api/v1/session with
 * fresh, correctly signed Telegram init data (each is exchanged once, so
 * every request is a real sign-in: HMAC check, one-time record, user
 * registration or lookup, session + refresh token, ES256 access token), or
 * GET <path> of a static endpoint as the ceiling of the same server.
 *
 *   bench_signin PORT CONNECTIONS REQUESTS signin|static [PATH] [USERS]
 *
 * Closed loop: each connection is a thread with one keep-alive socket and one
 * request in flight. Prints one JSON line: requests/s, latency percentiles,
 * errors. Init data are signed before the clock starts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "tg_initdata.h"

#define DEV_TOKEN "1000000001:DEV-local-bot-token-not-for-production"

typedef struct job {
    int port, signin;
    const char *path;
    char **bodies; /* signin: one JSON body per request */
    size_t from, to;
    double *lat_ms;
    size_t errors;
} job;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read one HTTP/1.1 response (Content-Length framed); its status or -1.
 * *close_after: the server said "Connection: close". */
static int read_response(int fd, char *buf, size_t cap, int *close_after)
{
    size_t n = 0;
    char *hend = NULL;
    while (!hend) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        buf[n] = '\0';
        hend = strstr(buf, "\r\n\r\n");
        if (!hend && n >= cap - 1)
            return -1;
    }
    int status = atoi(buf + 9);
    const char *conn = strcasestr(buf, "Connection: close");
    *close_after = conn && conn < hend;
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t want = (size_t)(hend + 4 - buf) + (cl && cl < hend ? strtoul(cl + 15, NULL, 10) : 0);
    while (n < want) {
        ssize_t r = read(fd, buf, cap - 1 < want - n ? cap - 1 : want - n);
        if (r <= 0)
            return -1;
        n += (size_t)r;
    }
    return status;
}

static void *run(void *arg)
{
    job *j = arg;
    int fd = -1;
    char req[8192], resp[16384];
    for (size_t i = j->from; i < j->to; i++) {
        int len;
        if (j->signin)
            len = snprintf(req, sizeof req,
                           "POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                           strlen(j->bodies[i]), j->bodies[i]);
        else
            len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", j->path);
        /* The latency includes connecting when the server closed the
         * previous connection (the api answers "Connection: close"). */
        double t0 = now_ms();
        int st = -1, close_after = 1;
        if (fd < 0)
            fd = dial(j->port);
        if (fd >= 0 && write(fd, req, (size_t)len) == len)
            st = read_response(fd, resp, sizeof resp, &close_after);
        j->lat_ms[i] = now_ms() - t0;
        if (st != 200) {
            /* Say why (once per connection): a benchmark with errors is no
             * figure, and the status tells which kind of failure. */
            if (!j->errors)
                fprintf(stderr, "bench_signin: request %zu answered %d\n", i, st);
            j->errors++;
        }
        if ((st != 200 || close_after) && fd >= 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS REQUESTS signin|static [PATH] [USERS]\n",
                argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), conns = atoi(argv[2]);
    size_t n = strtoul(argv[3], NULL, 10);
    int signin = !strcmp(argv[4], "signin");
    const char *path = argc > 5 ? argv[5] : "/healthz";
    size_t users = argc > 6 ? strtoul(argv[6], NULL, 10) : n; /* distinct Telegram users */
    if (conns < 1 || n < (size_t)conns || crypto_init() < 0 || users < 1)
        return 2;
    char **bodies = calloc(n, sizeof *bodies);
    double *lat = calloc(n, sizeof *lat);
    if (!bodies || !lat)
        return 1;
    const char *token = getenv("FITGATE_BOT_TOKEN") ? getenv("FITGATE_BOT_TOKEN") : DEV_TOKEN;
    uint32_t salt;
    crypto_random(&salt, sizeof salt);
    for (size_t i = 0; signin && i < n; i++) {
        char user[160], *data = NULL;
        /* The same user signs in again after `users` requests: both new
         * registrations and returning users are measured. Each run has its
         * own 2^20 ids (a random 32-bit salt, below 2^53 so JSON keeps it
         * exact): with runs sharing ids, a run could send init data an
         * earlier one had sent (same user, same second), a replay (409). */
        snprintf(user, sizeof user,
                 "{\"id\":%llu,\"first_name\":\"Bench\",\"language_code\":\"en\"}",
                 (unsigned long long)(1000000000ULL + ((uint64_t)salt << 20) + i % users));
        /* A distinct auth_date second keeps every init data unique. */
        if (tg_initdata_sign(user, (int64_t)time(NULL) - (int64_t)(i / users), token, &data) !=
            TG_OK)
            return 1;
        size_t cap = strlen(data) + 32;
        bodies[i] = malloc(cap);
        snprintf(bodies[i], cap, "{\"init_data\":\"%s\"}", data);
        free(data);
    }
    job *jobs = calloc((size_t)conns, sizeof *jobs);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = now_ms();
    for (int c = 0; c < conns; c++) {
        jobs[c] = (job){.port = port,
                        .signin = signin,
                        .path = path,
                        .bodies = bodies,
                        .from = n * (size_t)c / (size_t)conns,
                        .to = n * (size_t)(c + 1) / (size_t)conns,
                        .lat_ms = lat};
        pthread_create(&th[c], NULL, run, &jobs[c]);
    }
    size_t errors = 0;
    for (int c = 0; c < conns; c++) {
        pthread_join(th[c], NULL);
        errors += jobs[c].errors;
    }
    double secs = (now_ms() - t0) / 1e3;
    qsort(lat, n, sizeof *lat, cmp);
    printf("{\"mode\":\"%s\",\"connections\":%d,\"requests\":%zu,\"errors\":%zu,"
           "\"rps\":%.0f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           signin ? "signin" : "static", conns, n, errors, n / secs, lat[n / 2], lat[n * 9 / 10],
           lat[n * 99 / 100], lat[n - 1]);
    for (size_t i = 0; signin && i < n; i++)
        free(bodies[i]);
    free(bodies);
    free(lat);
    free(jobs);
    free(th);
    return errors ? 1 : 0;
}
