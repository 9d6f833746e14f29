/* test_mrx.c - mrx against hand-built bytes (mrx_parse), a scripted fake
 * broker (protocol errors, keep-alive), and a real mosquitto 2.0 broker that
 * the test starts itself (ack-after-commit semantics, redelivery, sessions).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "mrx.h"

/* ============================================================ mrx_parse */

static mrx_status parse(const uint8_t *b, size_t n, uint32_t maxp, mrx_packet *p, size_t *used)
{
    return mrx_parse(b, n, maxp, p, used);
}

/* A complete packet parses with used == n; every strict prefix needs more. */
static void expect_packet(const uint8_t *b, size_t n, mrx_packet *p)
{
    size_t used = 99;
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(parse(b, k, 0, p, &used), MRX_OK);
        assert_int_equal(used, 0);
    }
    assert_int_equal(parse(b, n, 0, p, &used), MRX_OK);
    assert_int_equal(used, n);
}

static void expect_malformed(const uint8_t *b, size_t n)
{
    mrx_packet p;
    size_t used = 99;
    assert_int_equal(parse(b, n, 0, &p, &used), MRX_ERR_PROTOCOL);
    assert_int_equal(used, 0);
}

static void test_parse_connack(void **state)
{
    (void)state;
    mrx_packet p;
    const uint8_t plain[] = {0x20, 0x03, 0x01, 0x00, 0x00};
    expect_packet(plain, sizeof plain, &p);
    assert_int_equal(p.type, 2);
    assert_true(p.session_present);
    assert_int_equal(p.reason, 0);
    assert_false(p.has_server_keepalive);

    /* Assigned Client Identifier "ab", Server Keep Alive 7, User Property. */
    const uint8_t props[] = {0x20, 0x13, 0x00, 0x00, 0x10, 0x12, 0x00, 0x02, 'a', 'b', 0x13,
                             0x00, 0x07, 0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v', 0x24};
    /* last byte 0x24 (Maximum QoS) needs a value: malformed as is */
    expect_malformed(props, sizeof props);
    const uint8_t props_ok[] = {0x20, 0x14, 0x00, 0x00, 0x11, 0x12, 0x00, 0x02, 'a', 'b',  0x13,
                                0x00, 0x07, 0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v', 0x24, 0x01};
    expect_packet(props_ok, sizeof props_ok, &p);
    assert_false(p.session_present);
    assert_true(p.has_server_keepalive);
    assert_int_equal(p.server_keepalive, 7);

    const uint8_t refused[] = {0x20, 0x03, 0x00, 0x87, 0x00};
    expect_packet(refused, sizeof refused, &p);
    assert_int_equal(p.reason, 0x87);

    const uint8_t bad_flags[] = {0x20, 0x03, 0x02, 0x00, 0x00}; /* reserved ack flag */
    expect_malformed(bad_flags, sizeof bad_flags);
    const uint8_t hdr_flags[] = {0x21, 0x03, 0x00, 0x00, 0x00};
    expect_malformed(hdr_flags, sizeof hdr_flags);
    const uint8_t no_props[] = {0x20, 0x02, 0x00, 0x00};
    expect_malformed(no_props, sizeof no_props);
}

static void test_parse_publish(void **state)
{
    (void)state;
    mrx_packet p;
    const uint8_t q0[] = {0x30, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 'h', 'i'};
    expect_packet(q0, sizeof q0, &p);
    assert_int_equal(p.type, 3);
    assert_int_equal(p.topic_len, 3);
    assert_memory_equal(p.topic, "a/b", 3);
    assert_int_equal(p.payload_len, 2);
    assert_memory_equal(p.payload, "hi", 2);
    assert_int_equal(p.packet_id, 0);

    /* QoS 1, DUP, empty payload */
    const uint8_t q1[] = {0x3a, 0x06, 0x00, 0x01, 'x', 0x12, 0x34, 0x00};
    expect_packet(q1, sizeof q1, &p);
    assert_int_equal(p.flags, 0x0a);
    assert_int_equal(p.packet_id, 0x1234);
    assert_int_equal(p.payload_len, 0);

    /* QoS 2, RETAIN, properties: Payload Format 1, Content Type "j",
     * Subscription Identifier 200 (2-byte varint), then payload "P". */
    const uint8_t q2[] = {0x35, 0x10, 0x00, 0x01, 'x', 0x00, 0x09, 0x09, 0x01,
                          0x01, 0x03, 0x00, 0x01, 'j', 0x0b, 0xc8, 0x01, 'P'};
    expect_packet(q2, sizeof q2, &p);
    assert_int_equal(p.packet_id, 9);
    assert_int_equal(p.payload_len, 1);
    assert_int_equal(p.payload[0], 'P');

    /* Topic Alias is reported (the client rejects it); alias 0 is malformed. */
    const uint8_t alias[] = {0x30, 0x07, 0x00, 0x01, 'x', 0x03, 0x23, 0x00, 0x05};
    expect_packet(alias, sizeof alias, &p);
    assert_int_equal(p.topic_alias, 5);
    const uint8_t alias0[] = {0x30, 0x07, 0x00, 0x01, 'x', 0x03, 0x23, 0x00, 0x00};
    expect_malformed(alias0, sizeof alias0);

    const uint8_t qos3[] = {0x36, 0x06, 0x00, 0x01, 'x', 0x00, 0x01, 0x00};
    expect_malformed(qos3, sizeof qos3);
    const uint8_t dup_q0[] = {0x38, 0x04, 0x00, 0x01, 'x', 0x00};
    expect_malformed(dup_q0, sizeof dup_q0);
    const uint8_t id0[] = {0x32, 0x06, 0x00, 0x01, 'x', 0x00, 0x00, 0x00};
    expect_malformed(id0, sizeof id0);
    const uint8_t wild[] = {0x30, 0x04, 0x00, 0x01, '#', 0x00};
    expect_malformed(wild, sizeof wild);
    const uint8_t nul[] = {0x30, 0x05, 0x00, 0x02, 'a', 0x00, 0x00};
    expect_malformed(nul, sizeof nul);
    const uint8_t bad_utf8[] = {0x30, 0x05, 0x00, 0x02, 0xc0, 0x80, 0x00}; /* overlong NUL */
    expect_malformed(bad_utf8, sizeof bad_utf8);
    const uint8_t empty_topic[] = {0x30, 0x03, 0x00, 0x00, 0x00};
    expect_malformed(empty_topic, sizeof empty_topic);
    const uint8_t topic_past_end[] = {0x30, 0x04, 0x00, 0x09, 'x', 0x00};
    expect_malformed(topic_past_end, sizeof topic_past_end);
}

static void test_parse_acks(void **state)
{
    (void)state;
    mrx_packet p;
    const uint8_t puback[] = {0x40, 0x02, 0x00, 0x07};
    expect_packet(puback, sizeof puback, &p);
    assert_int_equal(p.type, 4);
    assert_int_equal(p.packet_id, 7);
    assert_int_equal(p.reason, 0);
    const uint8_t pubrec[] = {0x50, 0x03, 0x00, 0x07, 0x10};
    expect_packet(pubrec, sizeof pubrec, &p);
    assert_int_equal(p.reason, 0x10);
    const uint8_t pubcomp[] = {0x70, 0x04, 0x00, 0x07, 0x00, 0x00};
    expect_packet(pubcomp, sizeof pubcomp, &p);
    assert_int_equal(p.type, 7);
    const uint8_t pubrel[] = {0x62, 0x02, 0x12, 0x34};
    expect_packet(pubrel, sizeof pubrel, &p);
    assert_int_equal(p.type, 6);
    assert_int_equal(p.packet_id, 0x1234);

    const uint8_t pubrel_flags[] = {0x60, 0x02, 0x12, 0x34}; /* must be 0010 */
    expect_malformed(pubrel_flags, sizeof pubrel_flags);
    const uint8_t puback_flags[] = {0x41, 0x02, 0x00, 0x07};
    expect_malformed(puback_flags, sizeof puback_flags);
    const uint8_t short_ack[] = {0x40, 0x01, 0x00};
    expect_malformed(short_ack, sizeof short_ack);
    const uint8_t id_zero[] = {0x40, 0x02, 0x00, 0x00};
    expect_malformed(id_zero, sizeof id_zero);

    const uint8_t suback[] = {0x90, 0x04, 0x00, 0x01, 0x00, 0x02};
    expect_packet(suback, sizeof suback, &p);
    assert_int_equal(p.type, 9);
    assert_int_equal(p.packet_id, 1);
    assert_int_equal(p.reason, 2);
    const uint8_t suback_fail[] = {0x90, 0x05, 0x00, 0x01, 0x00, 0x80, 0x00};
    expect_packet(suback_fail, sizeof suback_fail, &p);
    assert_int_equal(p.reason, 0x80);
    const uint8_t suback_empty[] = {0x90, 0x03, 0x00, 0x01, 0x00};
    expect_malformed(suback_empty, sizeof suback_empty);
    const uint8_t unsuback[] = {0xb0, 0x04, 0x00, 0x02, 0x00, 0x00};
    expect_packet(unsuback, sizeof unsuback, &p);
    assert_int_equal(p.type, 11);

    const uint8_t pingresp[] = {0xd0, 0x00};
    expect_packet(pingresp, sizeof pingresp, &p);
    assert_int_equal(p.type, 13);
    const uint8_t pingresp_body[] = {0xd0, 0x01, 0x00};
    expect_malformed(pingresp_body, sizeof pingresp_body);
    const uint8_t pingresp_flags[] = {0xd1, 0x00};
    expect_malformed(pingresp_flags, sizeof pingresp_flags);
}

static void test_parse_disconnect_and_client_types(void **state)
{
    (void)state;
    mrx_packet p;
    const uint8_t d0[] = {0xe0, 0x00};
    expect_packet(d0, sizeof d0, &p);
    assert_int_equal(p.type, 14);
    assert_int_equal(p.reason, 0);
    const uint8_t d1[] = {0xe0, 0x01, 0x8e};
    expect_packet(d1, sizeof d1, &p);
    assert_int_equal(p.reason, 0x8e);
    const uint8_t d2[] = {0xe0, 0x05, 0x8b, 0x03, 0x1f, 0x00, 0x00}; /* Reason String "" */
    expect_packet(d2, sizeof d2, &p);
    assert_int_equal(p.reason, 0x8b);
    const uint8_t auth[] = {0xf0, 0x00};
    expect_packet(auth, sizeof auth, &p);
    assert_int_equal(p.type, 15);

    /* Packets only a client sends, and reserved type 0. */
    const uint8_t connect[] = {0x10, 0x00};
    expect_malformed(connect, sizeof connect);
    const uint8_t subscribe[] = {0x82, 0x02, 0x00, 0x01};
    expect_malformed(subscribe, sizeof subscribe);
    const uint8_t pingreq[] = {0xc0, 0x00};
    expect_malformed(pingreq, sizeof pingreq);
    const uint8_t reserved[] = {0x00, 0x00};
    expect_malformed(reserved, sizeof reserved);
}

static void test_parse_lengths(void **state)
{
    (void)state;
    mrx_packet p;
    size_t used = 99;

    /* Five length bytes (four with the continuation bit) is malformed... */
    const uint8_t five[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_malformed(five, sizeof five);
    /* ...but three continuation bytes so far only need more input. */
    assert_int_equal(parse(five, 4, 0, &p, &used), MRX_OK);
    assert_int_equal(used, 0);
    const uint8_t not_minimal[] = {0xd0, 0x80, 0x00};
    expect_malformed(not_minimal, sizeof not_minimal);

    /* Too large is refused as soon as the length is known. */
    const uint8_t big[] = {0x30, 0xff, 0x7f}; /* 16383 bytes follow */
    assert_int_equal(parse(big, sizeof big, 1024, &p, &used), MRX_ERR_PROTOCOL);
    assert_int_equal(parse(big, sizeof big, 0, &p, &used), MRX_OK);
    assert_int_equal(used, 0);
    const uint8_t q0[] = {0x30, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 'h', 'i'};
    assert_int_equal(parse(q0, sizeof q0, sizeof q0, &p, &used), MRX_OK);
    assert_int_equal(used, sizeof q0);
    assert_int_equal(parse(q0, sizeof q0, sizeof q0 - 1, &p, &used), MRX_ERR_PROTOCOL);

    /* Property length past the packet, inside a property, or short of it. */
    const uint8_t plen_past[] = {0x40, 0x05, 0x00, 0x01, 0x00, 0x05, 0x1f};
    expect_malformed(plen_past, sizeof plen_past);
    const uint8_t plen_cut[] = {0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x1f, 0x00};
    expect_malformed(plen_cut, sizeof plen_cut);
    const uint8_t trailing[] = {0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00};
    expect_malformed(trailing, sizeof trailing);
    const uint8_t unknown_prop[] = {0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x7f, 0x00};
    expect_malformed(unknown_prop, sizeof unknown_prop);
    const uint8_t bad_plen_varint[] = {0x30, 0x08, 0x00, 0x01, 'x', 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_malformed(bad_plen_varint, sizeof bad_plen_varint);

    /* Two packets back to back: the first is consumed alone. */
    const uint8_t two[] = {0xd0, 0x00, 0x40, 0x02, 0x00, 0x07};
    assert_int_equal(parse(two, sizeof two, 0, &p, &used), MRX_OK);
    assert_int_equal(used, 2);
    assert_int_equal(parse(two + 2, sizeof two - 2, 0, &p, &used), MRX_OK);
    assert_int_equal(used, 4);
    assert_int_equal(p.packet_id, 7);

    assert_int_equal(mrx_parse(two, sizeof two, 0, NULL, &used), MRX_ERR_ARG);
    assert_int_equal(mrx_parse(NULL, 3, 0, &p, &used), MRX_ERR_ARG);
}

/* ====================================================== test harness */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum ack_mode { ACK_NONE, ACK_AUTO };

typedef struct got_msg {
    char topic[96];
    char payload[48];
    uint16_t id;
    uint8_t qos;
    bool dup;
} got_msg;

typedef struct sub {
    mrx *m;
    enum ack_mode mode;
    bool fake_clock; /* tests that drive mrx_tick() themselves */
    got_msg *msgs;
    size_t n, cap;
    uint16_t pubrels[32];
    size_t npubrel;
    int connects, disconnects;
    bool session_present;
    mrx_status why;
} sub;

static void cb_connect(void *ctx, bool session_present)
{
    sub *s = ctx;
    s->connects++;
    s->session_present = session_present;
}

static void cb_disconnect(void *ctx, mrx_status why)
{
    sub *s = ctx;
    s->disconnects++;
    s->why = why;
}

static void cb_publish(void *ctx, const mrx_msg *m)
{
    sub *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->msgs = realloc(s->msgs, s->cap * sizeof *s->msgs);
        assert_non_null(s->msgs);
    }
    got_msg *g = &s->msgs[s->n++];
    snprintf(g->topic, sizeof g->topic, "%s", m->topic);
    size_t n = m->len < sizeof g->payload - 1 ? m->len : sizeof g->payload - 1;
    memcpy(g->payload, m->payload, n);
    g->payload[n] = '\0';
    g->id = m->packet_id;
    g->qos = m->qos;
    g->dup = m->dup;
    /* The "commit" is the append above; ack re-entrantly, as the edge will. */
    if (s->mode == ACK_AUTO && m->qos == 1)
        assert_int_equal(mrx_puback(s->m, m->packet_id), MRX_OK);
    if (s->mode == ACK_AUTO && m->qos == 2)
        assert_int_equal(mrx_pubrec(s->m, m->packet_id), MRX_OK);
}

static void cb_pubrel(void *ctx, uint16_t id)
{
    sub *s = ctx;
    if (s->npubrel < sizeof s->pubrels / sizeof s->pubrels[0])
        s->pubrels[s->npubrel] = id;
    s->npubrel++;
    if (s->mode == ACK_AUTO)
        assert_int_equal(mrx_pubcomp(s->m, id), MRX_OK);
}

static const mrx_callbacks g_cbs = {cb_connect, cb_disconnect, cb_publish, cb_pubrel};

typedef bool (*done_fn)(const sub *s, size_t arg);

static bool until_connected(const sub *s, size_t arg)
{
    (void)arg;
    return mrx_connected(s->m);
}
static bool until_msgs(const sub *s, size_t n)
{
    return s->n >= n;
}
static bool until_pubrels(const sub *s, size_t n)
{
    return s->npubrel >= n;
}
static bool until_closed(const sub *s, size_t arg)
{
    (void)arg;
    return mrx_fd(s->m) < 0;
}

/* Run a poll() loop for up to ms milliseconds or until done(s, arg). */
static bool pump(sub *s, int ms, done_fn done, size_t arg)
{
    int64_t end = mono_ms() + ms;
    for (;;) {
        if (done && done(s, arg))
            return true;
        if (mono_ms() >= end)
            return false;
        struct pollfd pfd = {.fd = mrx_fd(s->m), .events = mrx_poll_events(s->m)};
        if (pfd.fd < 0) {
            usleep(5000);
            continue;
        }
        int rc = poll(&pfd, 1, 20);
        if (rc > 0)
            mrx_handle_io(s->m, pfd.revents);
        if (!s->fake_clock)
            mrx_tick(s->m, mono_ms());
    }
}

static mrx_config base_cfg(uint16_t port, const char *cid, const char *filter)
{
    mrx_config c = {
        .host = "127.0.0.1",
        .port = port,
        .client_id = cid,
        .topic_filter = filter,
        .session_expiry_s = 600,
        .receive_max = 100,
        .keepalive_s = 30,
        .max_packet = 65536,
    };
    return c;
}

static void sub_new(sub *s, const mrx_config *c, enum ack_mode mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    assert_int_equal(mrx_new(&s->m, c, &g_cbs, s), MRX_OK);
}

static void sub_free(sub *s)
{
    mrx_free(s->m);
    free(s->msgs);
    memset(s, 0, sizeof *s);
}

/* ================================================ real mosquitto broker */

static pid_t g_broker = -1;
static uint16_t g_port;
static char g_dir[64];
static struct mosquitto *g_pub;
static atomic_int g_pub_done;

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return 0;
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void on_pub_done(struct mosquitto *mosq, void *obj, int mid)
{
    (void)mosq, (void)obj, (void)mid;
    atomic_fetch_add(&g_pub_done, 1);
}

static int broker_start(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/mrx-test-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    g_port = free_port();
    char conf[128], logf[128];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", g_dir);
    snprintf(logf, sizeof logf, "%s/mosquitto.log", g_dir);
    FILE *f = fopen(conf, "w");
    if (!f || g_port == 0)
        return -1;
    fprintf(f,
            "listener %u 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\n",
            g_port);
    fclose(f);

    g_broker = fork();
    if (g_broker < 0)
        return -1;
    if (g_broker == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* no orphan broker if the test dies */
        int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !port_open(g_port); i++) {
        if (waitpid(g_broker, NULL, WNOHANG) == g_broker) {
            g_broker = -1;
            return -1;
        }
        usleep(25000);
    }
    if (!port_open(g_port))
        return -1;

    mosquitto_lib_init();
    g_pub = mosquitto_new("mrx-test-publisher", true, NULL);
    if (!g_pub)
        return -1;
    mosquitto_int_option(g_pub, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_publish_callback_set(g_pub, on_pub_done);
    if (mosquitto_connect(g_pub, "127.0.0.1", g_port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(g_pub) != MOSQ_ERR_SUCCESS)
        return -1;
    return 0;
}

static int broker_stop(void **state)
{
    (void)state;
    if (g_pub) {
        mosquitto_disconnect(g_pub);
        mosquitto_loop_stop(g_pub, false);
        mosquitto_destroy(g_pub);
        g_pub = NULL;
    }
    mosquitto_lib_cleanup();
    if (g_broker > 0) {
        kill(g_broker, SIGTERM);
        waitpid(g_broker, NULL, 0);
        g_broker = -1;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/mosquitto.conf", g_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/mosquitto.log", g_dir);
    unlink(path);
    rmdir(g_dir);
    return 0;
}

/* Publish and wait until the broker has it (PUBACK/PUBCOMP, or sent for QoS 0). */
static void publish(const char *topic, const char *payload, int qos)
{
    int before = atomic_load(&g_pub_done);
    assert_int_equal(
        mosquitto_publish_v5(g_pub, NULL, topic, (int)strlen(payload), payload, qos, false, NULL),
        MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 500 && atomic_load(&g_pub_done) == before; i++)
        usleep(10000);
    assert_true(atomic_load(&g_pub_done) > before);
}

static void sub_open(sub *s, const char *cid, const char *filter, enum ack_mode mode)
{
    mrx_config c = base_cfg(g_port, cid, filter);
    sub_new(s, &c, mode);
    assert_int_equal(mrx_connect(s->m), MRX_OK);
    assert_true(mrx_fd(s->m) >= 0);
    assert_true(pump(s, 5000, until_connected, 0));
    assert_int_equal(s->connects, 1);
}

static const got_msg *find(const sub *s, const char *payload)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->msgs[i].payload, payload) == 0)
            return &s->msgs[i];
    return NULL;
}

/* (1) QoS 0, 1 and 2 arrive with the right topic, payload and QoS. */
static void test_broker_qos012(void **state)
{
    (void)state;
    sub s;
    sub_open(&s, "mrx-t-basic", "mrx/basic/+", ACK_AUTO);
    assert_false(s.session_present);
    publish("mrx/basic/a", "zero", 0);
    publish("mrx/basic/b", "one", 1);
    publish("mrx/basic/c", "two", 2);
    publish("mrx/other/c", "not-ours", 1);
    assert_true(pump(&s, 5000, until_pubrels, 1));
    assert_true(pump(&s, 5000, until_msgs, 3));

    const got_msg *g = find(&s, "zero");
    assert_non_null(g);
    assert_string_equal(g->topic, "mrx/basic/a");
    assert_int_equal(g->qos, 0);
    assert_int_equal(g->id, 0);
    g = find(&s, "one");
    assert_non_null(g);
    assert_string_equal(g->topic, "mrx/basic/b");
    assert_int_equal(g->qos, 1);
    assert_true(g->id != 0);
    assert_false(g->dup);
    g = find(&s, "two");
    assert_non_null(g);
    assert_string_equal(g->topic, "mrx/basic/c");
    assert_int_equal(g->qos, 2);
    assert_int_equal(s.pubrels[0], g->id);
    pump(&s, 300, NULL, 0);
    assert_int_equal(s.n, 3);
    assert_null(find(&s, "not-ours"));

    mrx_stats st;
    mrx_get_stats(s.m, &st);
    assert_int_equal(st.publishes, 3);
    assert_int_equal(st.dups, 0);
    assert_int_equal(st.malformed, 0);
    assert_int_equal(st.connects, 1);
    assert_int_equal(s.disconnects, 0);
    sub_free(&s);
}

/* (2) An unacked QoS 1 message comes back with DUP=1; an acked one does not. */
static void test_broker_qos1_redelivery(void **state)
{
    (void)state;
    const char *cid = "mrx-t-q1";
    sub s;
    sub_open(&s, cid, "mrx/q1/+", ACK_NONE);
    publish("mrx/q1/x", "r1", 1);
    assert_true(pump(&s, 5000, until_msgs, 1));
    assert_false(s.msgs[0].dup);
    sub_free(&s); /* "crash" before the commit: no PUBACK */

    sub_open(&s, cid, "mrx/q1/+", ACK_NONE);
    assert_true(s.session_present);
    assert_true(pump(&s, 5000, until_msgs, 1));
    assert_string_equal(s.msgs[0].payload, "r1");
    assert_string_equal(s.msgs[0].topic, "mrx/q1/x");
    assert_true(s.msgs[0].dup);
    assert_int_equal(s.msgs[0].qos, 1);
    mrx_stats st;
    mrx_get_stats(s.m, &st);
    assert_int_equal(st.dups, 1);
    assert_int_equal(mrx_puback(s.m, s.msgs[0].id), MRX_OK);
    pump(&s, 300, NULL, 0);
    sub_free(&s);

    sub_open(&s, cid, "mrx/q1/+", ACK_NONE);
    pump(&s, 800, NULL, 0);
    assert_int_equal(s.n, 0);
    sub_free(&s);
}

/* (3a) QoS 2 full flow: PUBREC -> PUBREL -> PUBCOMP; nothing comes back. */
static void test_broker_qos2_complete(void **state)
{
    (void)state;
    const char *cid = "mrx-t-q2a";
    sub s;
    sub_open(&s, cid, "mrx/q2a/+", ACK_NONE);
    publish("mrx/q2a/x", "e1", 2);
    assert_true(pump(&s, 5000, until_msgs, 1));
    assert_int_equal(s.msgs[0].qos, 2);
    pump(&s, 200, NULL, 0);
    assert_int_equal(s.npubrel, 0); /* no PUBREL before our PUBREC */
    assert_int_equal(mrx_pubrec(s.m, s.msgs[0].id), MRX_OK);
    assert_true(pump(&s, 5000, until_pubrels, 1));
    assert_int_equal(s.pubrels[0], s.msgs[0].id);
    assert_int_equal(mrx_pubcomp(s.m, s.pubrels[0]), MRX_OK);
    pump(&s, 300, NULL, 0);
    sub_free(&s);

    sub_open(&s, cid, "mrx/q2a/+", ACK_NONE);
    pump(&s, 800, NULL, 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.npubrel, 0);
    sub_free(&s);
}

/* (3b) QoS 2 received but no PUBREC: the PUBLISH comes back with DUP=1. */
static void test_broker_qos2_no_pubrec(void **state)
{
    (void)state;
    const char *cid = "mrx-t-q2b";
    sub s;
    sub_open(&s, cid, "mrx/q2b/+", ACK_NONE);
    publish("mrx/q2b/x", "e2", 2);
    assert_true(pump(&s, 5000, until_msgs, 1));
    assert_false(s.msgs[0].dup);
    sub_free(&s);

    sub_open(&s, cid, "mrx/q2b/+", ACK_AUTO);
    assert_true(pump(&s, 5000, until_pubrels, 1));
    assert_int_equal(s.n, 1);
    assert_string_equal(s.msgs[0].payload, "e2");
    assert_true(s.msgs[0].dup);
    assert_int_equal(s.msgs[0].qos, 2);
    pump(&s, 300, NULL, 0);
    sub_free(&s);

    sub_open(&s, cid, "mrx/q2b/+", ACK_NONE);
    pump(&s, 800, NULL, 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.npubrel, 0);
    sub_free(&s);
}

/* (3c) PUBREC sent but no PUBCOMP: after reconnect only the PUBREL returns. */
static void test_broker_qos2_no_pubcomp(void **state)
{
    (void)state;
    const char *cid = "mrx-t-q2c";
    sub s;
    sub_open(&s, cid, "mrx/q2c/+", ACK_NONE);
    publish("mrx/q2c/x", "e3", 2);
    assert_true(pump(&s, 5000, until_msgs, 1));
    uint16_t id = s.msgs[0].id;
    assert_int_equal(mrx_pubrec(s.m, id), MRX_OK);
    assert_true(pump(&s, 5000, until_pubrels, 1));
    assert_int_equal(s.pubrels[0], id);
    sub_free(&s); /* "crash" before forgetting the id: no PUBCOMP */

    sub_open(&s, cid, "mrx/q2c/+", ACK_NONE);
    assert_true(pump(&s, 5000, until_pubrels, 1));
    assert_int_equal(s.pubrels[0], id);
    pump(&s, 300, NULL, 0);
    assert_int_equal(s.n, 0); /* the PUBLISH is not resent */
    assert_int_equal(mrx_pubcomp(s.m, id), MRX_OK);
    pump(&s, 300, NULL, 0);
    sub_free(&s);

    sub_open(&s, cid, "mrx/q2c/+", ACK_NONE);
    pump(&s, 800, NULL, 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.npubrel, 0);
    sub_free(&s);
}

/* (4) Messages published while we are away are queued by the session. */
static void test_broker_offline_queue(void **state)
{
    (void)state;
    const char *cid = "mrx-t-offline";
    sub s;
    sub_open(&s, cid, "mrx/off/#", ACK_AUTO);
    sub_free(&s);

    char buf[16];
    for (int i = 0; i < 5; i++) {
        snprintf(buf, sizeof buf, "off-%d", i);
        publish("mrx/off/a/b", buf, 1);
    }
    publish("mrx/off/z", "off-q2", 2);

    sub_open(&s, cid, "mrx/off/#", ACK_AUTO);
    assert_true(s.session_present);
    assert_true(pump(&s, 5000, until_msgs, 6));
    for (int i = 0; i < 5; i++) {
        snprintf(buf, sizeof buf, "off-%d", i);
        assert_string_equal(s.msgs[i].payload, buf);
        assert_string_equal(s.msgs[i].topic, "mrx/off/a/b");
        assert_false(s.msgs[i].dup);
    }
    assert_string_equal(s.msgs[5].payload, "off-q2");
    assert_true(pump(&s, 5000, until_pubrels, 1));
    pump(&s, 300, NULL, 0);
    assert_int_equal(s.n, 6);
    sub_free(&s);
}

/* (5) 10,000 QoS 1 messages, acked as they come: all, once, in order. */
static void test_broker_10k_in_order(void **state)
{
    (void)state;
    enum { N = 10000 };
    sub s;
    sub_open(&s, "mrx-t-10k", "mrx/bulk/+", ACK_AUTO);
    int before = atomic_load(&g_pub_done);
    char buf[16];
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "%05d", i);
        assert_int_equal(mosquitto_publish_v5(g_pub, NULL, "mrx/bulk/x", 5, buf, 1, false, NULL),
                         MOSQ_ERR_SUCCESS);
    }
    assert_true(pump(&s, 120000, until_msgs, N));
    for (int i = 0; i < 600 && atomic_load(&g_pub_done) - before < N; i++)
        usleep(100000);
    assert_int_equal(atomic_load(&g_pub_done) - before, N);
    pump(&s, 500, NULL, 0);
    assert_int_equal(s.n, N);
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "%05d", i);
        assert_string_equal(s.msgs[i].payload, buf);
        assert_false(s.msgs[i].dup);
    }
    sub_free(&s);
}

static void test_connect_refused(void **state)
{
    (void)state;
    uint16_t port = free_port(); /* nothing listens there */
    mrx_config c = base_cfg(port, "mrx-t-refused", "x/#");
    sub s;
    sub_new(&s, &c, ACK_NONE);
    assert_int_equal(mrx_fd(s.m), -1);
    assert_int_equal(mrx_puback(s.m, 1), MRX_ERR_STATE);
    mrx_status st = mrx_connect(s.m);
    if (st == MRX_OK) {
        assert_true(pump(&s, 5000, until_closed, 0));
        assert_int_equal(s.disconnects, 1);
        assert_int_equal(s.why, MRX_ERR_IO);
    } else {
        assert_int_equal(st, MRX_ERR_IO); /* refused synchronously */
    }
    assert_int_equal(mrx_fd(s.m), -1);
    assert_false(mrx_connected(s.m));
    sub_free(&s);
}

static void test_new_rejects_bad_config(void **state)
{
    (void)state;
    mrx *m = NULL;
    mrx_config c = base_cfg(1883, "cid", "x/#");
    c.client_id = "";
    assert_int_equal(mrx_new(&m, &c, &g_cbs, NULL), MRX_ERR_ARG);
    c = base_cfg(1883, "cid", "");
    assert_int_equal(mrx_new(&m, &c, &g_cbs, NULL), MRX_ERR_ARG);
    c = base_cfg(0, "cid", "x/#");
    assert_int_equal(mrx_new(&m, &c, &g_cbs, NULL), MRX_ERR_ARG);
    c = base_cfg(1883, "cid", "x/#");
    c.host = NULL;
    assert_int_equal(mrx_new(&m, &c, &g_cbs, NULL), MRX_ERR_ARG);
    assert_null(m);
    assert_string_equal(mrx_status_str(MRX_ERR_PROTOCOL), "protocol error");
}

/* ============================================= scripted fake broker */

typedef struct fake {
    int lfd, cfd;
    uint16_t port;
} fake;

static void fake_listen(fake *f)
{
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    f->cfd = -1;
}

/* Read whatever arrives within ms milliseconds (at least one byte). */
static size_t fake_read(fake *f, sub *s, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < 100 && n == 0; i++) {
        pump(s, 10, NULL, 0); /* let mrx write */
        ssize_t r = recv(f->cfd, buf, cap, MSG_DONTWAIT);
        if (r > 0)
            n = (size_t)r;
    }
    return n;
}

static void fake_send(fake *f, const uint8_t *b, size_t n)
{
    assert_int_equal(send(f->cfd, b, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Connect s to the fake and bring it to "connected" with the given CONNACK. */
static void fake_handshake(fake *f, sub *s, const uint8_t *connack, size_t connack_len)
{
    assert_int_equal(mrx_connect(s->m), MRX_OK);
    f->cfd = accept(f->lfd, NULL, NULL);
    assert_true(f->cfd >= 0);
    uint8_t buf[512];
    size_t n = fake_read(f, s, buf, sizeof buf);
    /* CONNECT: type 1, "MQTT" v5, clean_start=0, keepalive 30, then
     * properties holding Session Expiry 600. */
    assert_true(n > 12);
    assert_int_equal(buf[0], 0x10);
    assert_memory_equal(buf + 2, "\x00\x04MQTT\x05\x00\x00\x1e", 10);
    assert_int_equal(buf[13], 0x11);
    assert_memory_equal(buf + 14, "\x00\x00\x02\x58", 4);

    fake_send(f, connack, connack_len);
    n = fake_read(f, s, buf, sizeof buf);
    /* SUBSCRIBE: 0x82, id 1, no properties, the filter, options QoS 2. */
    assert_true(n >= 8);
    assert_int_equal(buf[0], 0x82);
    assert_int_equal(buf[2], 0x00);
    assert_int_equal(buf[3], 0x01);
    assert_int_equal(buf[n - 1] & 0x03, 2);
    assert_int_equal(buf[n - 1] & 0x04, 0); /* no-local 0 */
    assert_false(mrx_connected(s->m));
    const uint8_t suback[] = {0x90, 0x04, 0x00, 0x01, 0x00, 0x02};
    fake_send(f, suback, sizeof suback);
    assert_true(pump(s, 2000, until_connected, 0));
}

static void fake_close(fake *f)
{
    if (f->cfd >= 0)
        close(f->cfd);
    close(f->lfd);
}

static void expect_closed_with(sub *s, mrx_status why)
{
    assert_true(pump(s, 2000, until_closed, 0));
    assert_int_equal(s->disconnects, 1);
    assert_int_equal(s->why, why);
    assert_int_equal(mrx_fd(s->m), -1);
    assert_false(mrx_connected(s->m));
}

static const uint8_t connack_ok[] = {0x20, 0x03, 0x00, 0x00, 0x00};

/* Malformed input from the broker: closed, counted, reported; and an
 * unexpected packet type, a topic alias, a broker DISCONNECT. */
static void test_fake_protocol_errors(void **state)
{
    (void)state;
    static const struct {
        uint8_t bytes[16];
        size_t len;
        mrx_status why;
        uint64_t malformed;
    } cases[] = {
        {{0x36, 0x06, 0x00, 0x01, 'x', 0x00, 0x01, 0x00}, 8, MRX_ERR_PROTOCOL, 1}, /* QoS 3 */
        {{0x30, 0x07, 0x00, 0x01, 'x', 0x03, 0x23, 0x00, 0x05}, 9, MRX_ERR_PROTOCOL, 1},
        {{0x40, 0x02, 0x00, 0x07}, 4, MRX_ERR_PROTOCOL, 1},       /* PUBACK: we never publish */
        {{0x30, 0xff, 0xff, 0x7f}, 4, MRX_ERR_PROTOCOL, 1},       /* > max_packet */
        {{0x20, 0x03, 0x00, 0x00, 0x00}, 5, MRX_ERR_PROTOCOL, 1}, /* second CONNACK */
        {{0xe0, 0x01, 0x8b}, 3, MRX_ERR_IO, 0},                   /* server shutting down */
        {{0xe0, 0x01, 0x87}, 3, MRX_ERR_REFUSED, 0},              /* not authorized */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake f;
        fake_listen(&f);
        mrx_config c = base_cfg(f.port, "mrx-fake", "fit/#");
        sub s;
        sub_new(&s, &c, ACK_AUTO);
        fake_handshake(&f, &s, connack_ok, sizeof connack_ok);
        fake_send(&f, cases[i].bytes, cases[i].len);
        expect_closed_with(&s, cases[i].why);
        mrx_stats st;
        mrx_get_stats(s.m, &st);
        assert_int_equal(st.malformed, cases[i].malformed);
        assert_int_equal(st.disconnects, 1);
        assert_int_equal(mrx_puback(s.m, 1), MRX_ERR_STATE);
        sub_free(&s);
        fake_close(&f);
    }
}

/* A PUBLISH split byte by byte still arrives once, whole. */
static void test_fake_partial_reads(void **state)
{
    (void)state;
    fake f;
    fake_listen(&f);
    mrx_config c = base_cfg(f.port, "mrx-fake", "fit/#");
    sub s;
    sub_new(&s, &c, ACK_AUTO);
    fake_handshake(&f, &s, connack_ok, sizeof connack_ok);
    const uint8_t pub[] = {0x32, 0x0c, 0x00, 0x05, 'f',  'i', 't',
                           '/',  'a',  0x00, 0x2a, 0x00, 'h', 'r'};
    for (size_t i = 0; i < sizeof pub; i++) {
        fake_send(&f, pub + i, 1);
        pump(&s, 5, NULL, 0);
    }
    assert_true(pump(&s, 2000, until_msgs, 1));
    assert_string_equal(s.msgs[0].topic, "fit/a");
    assert_string_equal(s.msgs[0].payload, "hr");
    assert_int_equal(s.msgs[0].id, 42);
    uint8_t buf[16];
    size_t n = fake_read(&f, &s, buf, sizeof buf);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "\x40\x02\x00\x2a", 4); /* PUBACK 42 */
    sub_free(&s);
    fake_close(&f);
}

/* Server Keep Alive (2 s) replaces ours: PINGREQ after 2 s of silence, and
 * no PINGRESP within 1.5 x keep-alive closes the link with MRX_ERR_IO. */
static void test_fake_keepalive(void **state)
{
    (void)state;
    fake f;
    fake_listen(&f);
    mrx_config c = base_cfg(f.port, "mrx-fake", "fit/#");
    sub s;
    sub_new(&s, &c, ACK_NONE);
    s.fake_clock = true;
    int64_t t = 1000000;
    mrx_tick(s.m, t);
    const uint8_t connack_ka[] = {0x20, 0x06, 0x00, 0x00, 0x03, 0x13, 0x00, 0x02};
    fake_handshake(&f, &s, connack_ka, sizeof connack_ka);
    assert_int_equal(mrx_tick(s.m, t), MRX_OK); /* first tick after connect stamps it */

    uint8_t buf[16];
    assert_int_equal(mrx_tick(s.m, t + 1500), MRX_OK);
    assert_int_equal(recv(f.cfd, buf, sizeof buf, MSG_DONTWAIT), -1); /* not yet */
    assert_int_equal(mrx_tick(s.m, t + 2000), MRX_OK);
    assert_int_equal(fake_read(&f, &s, buf, sizeof buf), 2);
    assert_memory_equal(buf, "\xc0\x00", 2);
    const uint8_t pingresp[] = {0xd0, 0x00};
    fake_send(&f, pingresp, sizeof pingresp);
    pump(&s, 50, NULL, 0);
    assert_int_equal(mrx_tick(s.m, t + 3999), MRX_OK);
    assert_true(mrx_connected(s.m));

    assert_int_equal(mrx_tick(s.m, t + 4000), MRX_OK); /* second ping, unanswered */
    assert_int_equal(fake_read(&f, &s, buf, sizeof buf), 2);
    assert_int_equal(mrx_tick(s.m, t + 6999), MRX_OK);
    assert_true(mrx_connected(s.m));
    assert_int_equal(mrx_tick(s.m, t + 7000), MRX_ERR_IO);
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(s.why, MRX_ERR_IO);
    assert_int_equal(mrx_fd(s.m), -1);
    sub_free(&s);
    fake_close(&f);
}

/* A refused SUBACK and a refused CONNACK end in MRX_ERR_REFUSED. */
static void test_fake_refused(void **state)
{
    (void)state;
    fake f;
    fake_listen(&f);
    mrx_config c = base_cfg(f.port, "mrx-fake", "fit/#");
    sub s;
    sub_new(&s, &c, ACK_NONE);
    assert_int_equal(mrx_connect(s.m), MRX_OK);
    f.cfd = accept(f.lfd, NULL, NULL);
    uint8_t buf[256];
    assert_true(fake_read(&f, &s, buf, sizeof buf) > 0);
    const uint8_t connack_bad[] = {0x20, 0x03, 0x00, 0x86, 0x00}; /* bad user/password */
    fake_send(&f, connack_bad, sizeof connack_bad);
    expect_closed_with(&s, MRX_ERR_REFUSED);
    close(f.cfd);

    s.disconnects = 0;
    assert_int_equal(mrx_connect(s.m), MRX_OK);
    f.cfd = accept(f.lfd, NULL, NULL);
    assert_true(fake_read(&f, &s, buf, sizeof buf) > 0);
    fake_send(&f, connack_ok, sizeof connack_ok);
    assert_true(fake_read(&f, &s, buf, sizeof buf) >= 4);
    assert_int_equal(buf[0], 0x82);
    /* SUBACK for the SUBSCRIBE's packet id, reason 0x87 Not authorized. */
    const uint8_t suback_bad[] = {0x90, 0x04, buf[2], buf[3], 0x00, 0x87};
    fake_send(&f, suback_bad, sizeof suback_bad);
    expect_closed_with(&s, MRX_ERR_REFUSED);
    assert_int_equal(s.connects, 1);
    sub_free(&s);
    fake_close(&f);
}

/* Username and password set their CONNECT flags and follow the client id. */
static void test_fake_credentials(void **state)
{
    (void)state;
    fake f;
    fake_listen(&f);
    mrx_config c = base_cfg(f.port, "cid", "fit/#");
    c.username = "user";
    c.password = "pw";
    sub s;
    sub_new(&s, &c, ACK_NONE);
    assert_int_equal(mrx_connect(s.m), MRX_OK);
    f.cfd = accept(f.lfd, NULL, NULL);
    assert_true(f.cfd >= 0);
    uint8_t buf[256];
    size_t n = fake_read(&f, &s, buf, sizeof buf);
    assert_int_equal(n, (size_t)buf[1] + 2);
    assert_int_equal(buf[9], 0xc0); /* username + password, clean_start 0 */
    const char tail[] = "\x00\x03"
                        "cid\x00\x04"
                        "user\x00\x02"
                        "pw";
    assert_true(n > sizeof tail);
    assert_memory_equal(buf + n - (sizeof tail - 1), tail, sizeof tail - 1);
    sub_free(&s);
    fake_close(&f);
}

/* on_disconnect may reconnect at once; mrx must not touch the old link. */
static void reconnect_on_disconnect(void *ctx, mrx_status why)
{
    sub *s = ctx;
    s->disconnects++;
    s->why = why;
    if (s->disconnects == 1)
        assert_int_equal(mrx_connect(s->m), MRX_OK);
}

static void test_fake_reconnect_from_callback(void **state)
{
    (void)state;
    fake f;
    fake_listen(&f);
    mrx_config c = base_cfg(f.port, "mrx-fake", "fit/#");
    sub s;
    sub_new(&s, &c, ACK_AUTO);
    mrx_callbacks cbs = g_cbs;
    cbs.on_disconnect = reconnect_on_disconnect;
    mrx_free(s.m);
    assert_int_equal(mrx_new(&s.m, &c, &cbs, &s), MRX_OK);
    fake_handshake(&f, &s, connack_ok, sizeof connack_ok);
    /* A good PUBLISH, then garbage in the same segment. */
    const uint8_t bytes[] = {0x30, 0x06, 0x00, 0x01, 'x', 0x00, 'o', 'k', 0x00, 0x00};
    fake_send(&f, bytes, sizeof bytes);
    assert_true(pump(&s, 2000, until_msgs, 1));
    for (int i = 0; i < 100 && s.disconnects == 0; i++)
        pump(&s, 10, NULL, 0);
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(s.why, MRX_ERR_PROTOCOL);
    assert_int_equal(s.n, 1);
    /* The callback's new connection is live and reaches the fake again. */
    assert_true(mrx_fd(s.m) >= 0);
    close(f.cfd);
    f.cfd = accept(f.lfd, NULL, NULL);
    assert_true(f.cfd >= 0);
    uint8_t buf[256];
    assert_true(fake_read(&f, &s, buf, sizeof buf) > 0);
    assert_int_equal(buf[0], 0x10);
    sub_free(&s);
    fake_close(&f);
}

/* IPv6: a numeric "::1" host reaches a listener on the IPv6 loopback. */
static void test_fake_ipv6(void **state)
{
    (void)state;
    fake f = {.cfd = -1};
    f.lfd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(f.lfd >= 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof a;
    assert_int_equal(bind(f.lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f.lfd, 4), 0);
    assert_int_equal(getsockname(f.lfd, (struct sockaddr *)&a, &len), 0);
    mrx_config c = base_cfg(ntohs(a.sin6_port), "mrx-fake6", "fit/#");
    c.host = "::1";
    sub s;
    sub_new(&s, &c, ACK_NONE);
    fake_handshake(&f, &s, connack_ok, sizeof connack_ok);
    assert_true(mrx_connected(s.m));
    sub_free(&s);
    fake_close(&f);
}

/* A broker that stops reading: acks pile up to the 1 MiB cap, the ack call
 * fails with MRX_ERR_IO and the next mrx_handle_io() closes the link. */
static void test_fake_output_cap(void **state)
{
    (void)state;
    fake f;
    fake_listen(&f);
    mrx_config c = base_cfg(f.port, "mrx-fake", "fit/#");
    sub s;
    sub_new(&s, &c, ACK_NONE);
    fake_handshake(&f, &s, connack_ok, sizeof connack_ok);
    /* Acks only queue; without mrx_handle_io() nothing is written. */
    int ok = 0;
    mrx_status st = MRX_OK;
    for (int i = 0; i < 300000 && st == MRX_OK; i++) {
        st = mrx_puback(s.m, (uint16_t)(i % 65535 + 1));
        ok += st == MRX_OK;
    }
    assert_int_equal(st, MRX_ERR_IO);
    assert_int_equal(ok, (1 << 20) / 4); /* 4-byte PUBACKs fill 1 MiB exactly */
    assert_int_equal(mrx_puback(s.m, 1), MRX_ERR_IO);
    assert_int_equal(s.disconnects, 0);
    short ev = mrx_poll_events(s.m);
    assert_true(ev & POLLOUT);
    assert_int_equal(mrx_handle_io(s.m, POLLOUT), MRX_ERR_IO);
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(s.why, MRX_ERR_IO);
    assert_int_equal(mrx_fd(s.m), -1);
    sub_free(&s);
    fake_close(&f);
}

/* No CONNACK within 1.5 x keep-alive of the connect: MRX_ERR_IO. The clock
 * is taken at the first tick after mrx_connect(), however old the last one. */
static void test_fake_connect_timeout(void **state)
{
    (void)state;
    fake f;
    fake_listen(&f);
    mrx_config c = base_cfg(f.port, "mrx-fake", "fit/#"); /* keep-alive 30 s */
    sub s;
    sub_new(&s, &c, ACK_NONE);
    s.fake_clock = true;
    assert_int_equal(mrx_tick(s.m, 5), MRX_OK); /* long before the connect */
    assert_int_equal(mrx_connect(s.m), MRX_OK);
    f.cfd = accept(f.lfd, NULL, NULL);
    uint8_t buf[256];
    assert_true(fake_read(&f, &s, buf, sizeof buf) > 0); /* CONNECT, never answered */
    int64_t t = 10000000;
    assert_int_equal(mrx_tick(s.m, t), MRX_OK);
    assert_int_equal(mrx_tick(s.m, t + 44999), MRX_OK);
    assert_true(mrx_fd(s.m) >= 0);
    assert_int_equal(mrx_tick(s.m, t + 45000), MRX_ERR_IO);
    assert_int_equal(s.why, MRX_ERR_IO);
    assert_int_equal(mrx_fd(s.m), -1);
    assert_int_equal(s.connects, 0);
    sub_free(&s);
    fake_close(&f);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_parse_connack),
        cmocka_unit_test(test_parse_publish),
        cmocka_unit_test(test_parse_acks),
        cmocka_unit_test(test_parse_disconnect_and_client_types),
        cmocka_unit_test(test_parse_lengths),
        cmocka_unit_test(test_new_rejects_bad_config),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_fake_protocol_errors),
        cmocka_unit_test(test_fake_partial_reads),
        cmocka_unit_test(test_fake_keepalive),
        cmocka_unit_test(test_fake_connect_timeout),
        cmocka_unit_test(test_fake_refused),
        cmocka_unit_test(test_fake_credentials),
        cmocka_unit_test(test_fake_ipv6),
        cmocka_unit_test(test_fake_output_cap),
        cmocka_unit_test(test_fake_reconnect_from_callback),
    };
    const struct CMUnitTest broker[] = {
        cmocka_unit_test(test_broker_qos012),
        cmocka_unit_test(test_broker_qos1_redelivery),
        cmocka_unit_test(test_broker_qos2_complete),
        cmocka_unit_test(test_broker_qos2_no_pubrec),
        cmocka_unit_test(test_broker_qos2_no_pubcomp),
        cmocka_unit_test(test_broker_offline_queue),
        cmocka_unit_test(test_broker_10k_in_order),
    };
    int fails = cmocka_run_group_tests_name("mrx_offline", pure, NULL, NULL);
    fails += cmocka_run_group_tests_name("mrx_mosquitto", broker, broker_start, broker_stop);
    return fails;
}
