/* fuzz_mrx.c - libFuzzer target for edge/src/mrx.c.
 *
 * The first input byte picks the mode:
 *   bit 7 clear: the pure parser. mrx_parse() walks the rest of the input
 *     packet by packet, with a max_packet chosen from the low bits; every
 *     packet it accepts must lie inside the buffer.
 *   bit 7 set: the client. A loopback "broker" accepts mrx's connection,
 *     sends CONNACK and then the rest of the input, and closes; mrx must
 *     end with its socket closed and never crash, whatever it was fed.
 */
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fitcommon/log.h"
#include "mrx.h"

static void check_packet(const uint8_t *buf, size_t len, const mrx_packet *p, size_t used)
{
    if (used > len || used < 2)
        abort();
    if (p->topic &&
        ((const uint8_t *)p->topic < buf || (const uint8_t *)p->topic + p->topic_len > buf + used))
        abort();
    if (p->payload && (p->payload < buf || p->payload + p->payload_len > buf + used))
        abort();
    if (p->type == 0 || p->type > 15)
        abort();
}

static void fuzz_parse(const uint8_t *data, size_t size, uint8_t mode)
{
    static const uint32_t limits[4] = {0, 64, 1024, 65536};
    uint32_t max_packet = limits[mode & 3];
    while (size > 0) {
        mrx_packet p;
        size_t used;
        if (mrx_parse(data, size, max_packet, &p, &used) != MRX_OK || used == 0)
            return;
        check_packet(data, size, &p, used);
        data += used;
        size -= used;
    }
}

/* ------------------------------------------------------------ client */

static int g_listen = -1;
static uint16_t g_port;
static mrx *g_m;

static void on_publish(void *ctx, const mrx_msg *m)
{
    (void)ctx;
    if (strlen(m->topic) > UINT16_MAX)
        abort();
    if (m->qos == 1)
        mrx_puback(g_m, m->packet_id);
    else if (m->qos == 2)
        mrx_pubrec(g_m, m->packet_id);
}

static void on_pubrel(void *ctx, uint16_t id)
{
    (void)ctx;
    mrx_pubcomp(g_m, id);
}

static int listener(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        abort();
    g_port = ntohs(a.sin_port);
    return fd;
}

static void drive(int rounds, int timeout_ms)
{
    for (int i = 0; i < rounds && mrx_fd(g_m) >= 0; i++) {
        struct pollfd pfd = {.fd = mrx_fd(g_m), .events = mrx_poll_events(g_m)};
        if (poll(&pfd, 1, timeout_ms) > 0)
            mrx_handle_io(g_m, pfd.revents);
        mrx_tick(g_m, 1000); /* a frozen clock: no keep-alive timeouts */
    }
}

static void fuzz_client(const uint8_t *data, size_t size)
{
    if (g_listen < 0)
        g_listen = listener();
    mrx_config cfg = {.host = "127.0.0.1",
                      .port = g_port,
                      .client_id = "fuzz",
                      .topic_filter = "fit/#",
                      .session_expiry_s = 60,
                      .receive_max = 16,
                      .keepalive_s = 30,
                      .max_packet = 4096};
    mrx_callbacks cb = {.on_publish = on_publish, .on_pubrel = on_pubrel};
    if (mrx_new(&g_m, &cfg, &cb, NULL) != MRX_OK)
        abort();
    mrx_tick(g_m, 1000);
    if (mrx_connect(g_m) != MRX_OK)
        abort();
    int c = accept(g_listen, NULL, NULL);
    if (c < 0)
        abort();
    /* No TIME_WAIT pile-up over millions of runs: the fake resets on close. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    /* The connect completes and CONNECT goes out. */
    for (int i = 0; i < 100 && (mrx_poll_events(g_m) & POLLOUT); i++)
        drive(1, 100);
    static const uint8_t connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    send(c, connack, sizeof connack, MSG_NOSIGNAL);
    send(c, data, size, MSG_NOSIGNAL);
    shutdown(c, SHUT_WR); /* EOF after the input, so mrx must close */
    drive(1000, 100);
    if (mrx_fd(g_m) >= 0)
        abort(); /* it should have seen EOF or an error by now */
    mrx_free(g_m);
    g_m = NULL;
    close(c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_init("fuzz_mrx", LOG_ERROR); /* the client logs every connect */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 0x80)
        fuzz_client(data + 1, size - 1);
    else
        fuzz_parse(data + 1, size - 1, data[0]);
    return 0;
}
