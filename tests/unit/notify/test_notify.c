/* test_notify.c - the message channels against local endpoints that check
 * each request as the providers document it, e-mail through a real SMTP
 * server, and the notifier end to end over the embedded bus: once per event,
 * provider back-off honoured, refused recipients not retried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "channels.h"
#include "events.h"
#include "notify.h"

#define BOT_TOKEN "123456:TEST-token"
#define WA_TOKEN  "wa-secret"
#define SMS_TOKEN "sms-secret"

/* ---- the fake providers ---- */

typedef struct sent {
    char path[128];
    char body[8192];
} sent;

static struct {
    pthread_mutex_t mu;
    sent log[64];
    int n;
    int fail_429_once; /* next Telegram call: 429 retry_after 1 */
    int64_t blocked_chat;
    char problem[256]; /* first request that broke the documented contract */
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct body {
    char buf[8192];
    size_t len;
} body;

static void problem(const char *what)
{
    if (!fake.problem[0])
        snprintf(fake.problem, sizeof fake.problem, "%s", what);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *json)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result check_telegram(struct MHD_Connection *c, cJSON *j)
{
    const cJSON *chat = cJSON_GetObjectItem(j, "chat_id"), *text = cJSON_GetObjectItem(j, "text");
    if (!cJSON_IsNumber(chat) || !cJSON_IsString(text) || !text->valuestring[0])
        problem("telegram: chat_id (number) and text (string) are required");
    if (fake.fail_429_once) {
        fake.fail_429_once = 0;
        return reply(c, 429,
                     "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: "
                     "retry after 1\",\"parameters\":{\"retry_after\":1}}");
    }
    if (cJSON_IsNumber(chat) && (int64_t)chat->valuedouble == fake.blocked_chat)
        return reply(c, 403,
                     "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was "
                     "blocked by the user\"}");
    return reply(c, 200, "{\"ok\":true,\"result\":{\"message_id\":1}}");
}

static enum MHD_Result check_whatsapp(struct MHD_Connection *c, cJSON *j)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strcmp(auth, "Bearer " WA_TOKEN) != 0)
        return reply(c, 401, "{\"error\":{\"code\":190,\"message\":\"Invalid OAuth token\"}}");
    /* A phone in "to" or a business-scoped user id in "recipient": one. */
    if (!cJSON_IsString(cJSON_GetObjectItem(j, "messaging_product")) ||
        strcmp(cJSON_GetObjectItem(j, "messaging_product")->valuestring, "whatsapp") != 0 ||
        cJSON_IsString(cJSON_GetObjectItem(j, "to")) ==
            cJSON_IsString(cJSON_GetObjectItem(j, "recipient")))
        problem("whatsapp: messaging_product=whatsapp and one of to / recipient are required");
    const cJSON *type = cJSON_GetObjectItem(j, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "template") == 0) {
        const cJSON *t = cJSON_GetObjectItem(j, "template");
        const cJSON *comps = cJSON_GetObjectItem(t, "components");
        if (!cJSON_IsString(cJSON_GetObjectItem(t, "name")) ||
            !cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "language"), "code")) ||
            cJSON_GetArraySize(comps) != 2)
            problem("whatsapp: template needs name, language.code, body + button components");
        const cJSON *btn = cJSON_GetArrayItem(comps, 1);
        if (!btn || strcmp(cJSON_GetObjectItem(btn, "sub_type")->valuestring, "url") != 0 ||
            !cJSON_IsString(cJSON_GetObjectItem(btn, "index")))
            problem("whatsapp: copy-code button must be sub_type url with a string index");
    } else if (!cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "text"), "body"))) {
        problem("whatsapp: text.body required");
    }
    return reply(c, 200,
                 "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"wa_id\":\"1\"}],"
                 "\"messages\":[{\"id\":\"wamid.X\"}]}");
}

static enum MHD_Result check_sms(struct MHD_Connection *c, cJSON *j)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strcmp(auth, "Bearer " SMS_TOKEN) != 0)
        return reply(c, 401, "{\"error\":\"unauthorized\"}");
    const cJSON *to = cJSON_GetObjectItem(j, "to");
    if (!cJSON_IsString(to) || to->valuestring[0] != '+')
        return reply(c, 400, "{\"error\":\"to must be E.164\"}");
    return reply(c, 202, "{\"id\":\"sms-1\",\"status\":\"queued\"}");
}

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    (void)cls, (void)version;
    body *b = *con_cls;
    if (!b) {
        *con_cls = calloc(1, sizeof(body));
        return MHD_YES;
    }
    if (*size) {
        size_t n = *size < sizeof b->buf - 1 - b->len ? *size : sizeof b->buf - 1 - b->len;
        memcpy(b->buf + b->len, data, n);
        b->len += n;
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&fake.mu);
    if (fake.n < 64) {
        snprintf(fake.log[fake.n].path, sizeof fake.log[fake.n].path, "%s", url);
        snprintf(fake.log[fake.n].body, sizeof fake.log[fake.n].body, "%s", b->buf);
        fake.n++;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    cJSON *j = cJSON_Parse(b->buf);
    enum MHD_Result rc;
    if (strcmp(method, "POST") != 0 || !ct || strcmp(ct, "application/json") != 0 || !j)
        rc = reply(c, 400, "{\"ok\":false,\"error_code\":400,\"description\":\"bad request\"}");
    else if (strcmp(url, "/bot" BOT_TOKEN "/sendMessage") == 0)
        rc = check_telegram(c, j);
    else if (strcmp(url, "/v21.0/PHONEID/messages") == 0)
        rc = check_whatsapp(c, j);
    else if (strcmp(url, "/v1/messages") == 0)
        rc = check_sms(c, j);
    else
        rc = reply(c, 404, "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}");
    cJSON_Delete(j);
    pthread_mutex_unlock(&fake.mu);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    free(*con_cls);
    *con_cls = NULL;
}

static struct MHD_Daemon *httpd;
static char base[64];
static pid_t smtp_pid;
static int smtp_port;
static char smtp_out[96], tmpdir[64];

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/test_notify.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                             NULL, NULL, on_req, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                             MHD_OPTION_END);
    if (!httpd)
        return -1;
    snprintf(base, sizeof base, "http://127.0.0.1:%u",
             MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT)->port);
    /* A real SMTP server. */
    smtp_port = free_port();
    snprintf(smtp_out, sizeof smtp_out, "%s/mail.jsonl", tmpdir);
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    smtp_pid = fork();
    if (smtp_pid == 0) {
        dup2(pipefd[1], 1);
        char port[16];
        snprintf(port, sizeof port, "%d", smtp_port);
        execl("/usr/bin/python3", "python3", FITGATE_SOURCE_DIR "/tests/unit/notify/smtp_sink.py",
              port, smtp_out, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    char line[32] = "";
    ssize_t n = read(pipefd[0], line, sizeof line - 1); /* "ready" */
    close(pipefd[0]);
    return n > 0 && strncmp(line, "ready", 5) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(httpd);
    kill(smtp_pid, SIGINT);
    waitpid(smtp_pid, NULL, 0);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static notify_channels *channels(void)
{
    char smtp[64];
    snprintf(smtp, sizeof smtp, "smtp://127.0.0.1:%d", smtp_port);
    notify_config cfg = {
        .telegram_base = base,
        .telegram_bot_token = BOT_TOKEN,
        .whatsapp_base = base,
        .whatsapp_phone_number_id = "PHONEID",
        .whatsapp_token = WA_TOKEN,
        .whatsapp_auth_template = "fitgate_code",
        .sms_base = base,
        .sms_token = SMS_TOKEN,
        .smtp_url = smtp,
        .smtp_from = "noreply@fitgate.test",
        .timeout_ms = 3000,
    };
    notify_channels *n;
    assert_int_equal(notify_channels_new(&n, &cfg), 0);
    return n;
}

static int log_count(const char *path_prefix)
{
    pthread_mutex_lock(&fake.mu);
    int k = 0;
    for (int i = 0; i < fake.n; i++)
        k += strncmp(fake.log[i].path, path_prefix, strlen(path_prefix)) == 0;
    pthread_mutex_unlock(&fake.mu);
    return k;
}

static void test_channels(void **state)
{
    (void)state;
    notify_channels *n = channels();
    int ra = 0;
    assert_int_equal(notify_telegram(n, 42, "hello", &ra), NOTIFY_OK);
    fake.fail_429_once = 1;
    assert_int_equal(notify_telegram(n, 42, "hello", &ra), NOTIFY_ERR_RATE);
    assert_int_equal(ra, 1);
    fake.blocked_chat = 666;
    assert_int_equal(notify_telegram(n, 666, "hello", &ra), NOTIFY_ERR_REFUSED);
    assert_int_equal(notify_telegram(n, 42, "", &ra), NOTIFY_ERR_ARG);
    assert_int_equal(notify_whatsapp_code(n, "4915112345678", "123456", "ru", &ra), NOTIFY_OK);
    assert_int_equal(notify_whatsapp_text(n, "4915112345678", "hi", &ra), NOTIFY_OK);
    assert_int_equal(notify_sms(n, "+4915112345678", "code 123456", &ra), NOTIFY_OK);
    assert_int_equal(notify_sms(n, "015112345678", "code", &ra), NOTIFY_ERR_ARG);
    assert_string_equal(fake.problem, "");
    /* The token is in the path, exactly as the Bot API wants it. */
    assert_int_equal(log_count("/bot" BOT_TOKEN "/sendMessage"), 3);
    assert_true(strstr(fake.log[3].body, "\"code\":\"ru\"") != NULL);

    /* E-mail through the real SMTP server; header injection refused. */
    assert_int_equal(notify_email(n, "anna@example.org", "Ваш код", "Код: 123456"), NOTIFY_OK);
    assert_int_equal(notify_email(n, "x@y.z>\r\nBcc: evil@x", "s", "t"), NOTIFY_ERR_ARG);
    FILE *f = fopen(smtp_out, "r");
    assert_non_null(f);
    char buf[8192];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    buf[len] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "\"rcpt\": [\"anna@example.org\"]"));
    assert_non_null(strstr(buf, "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(buf, "Код: 123456"));
    assert_null(strstr(buf, "evil"));

    /* Unconfigured channel. */
    notify_config empty = {0};
    notify_channels *none;
    assert_int_equal(notify_channels_new(&none, &empty), 0);
    assert_int_equal(notify_telegram(none, 1, "x", &ra), NOTIFY_ERR_CONFIG);
    assert_int_equal(notify_email(none, "a@b.c", "s", "t"), NOTIFY_ERR_CONFIG);
    notify_channels_free(none);
    notify_channels_free(n);
}

static void test_whatsapp_bsuid(void **state)
{
    (void)state;
    assert_true(notify_whatsapp_is_bsuid("US.13491208655302741918"));
    assert_true(notify_whatsapp_is_bsuid("HK.ENT.abc123")); /* a parent BSUID */
    const char *bad[] = {"4915112345678", "us.1349", "US1349",  "US.", "US.12..3", "US.12.",
                         "US.12 3",       "U.123",   "US.12-3", "",    NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(notify_whatsapp_is_bsuid(bad[i]));
    char longest[NOTIFY_WA_BSUID_MAX + 2];
    memset(longest, '7', sizeof longest - 1);
    memcpy(longest, "DE.", 3);
    longest[NOTIFY_WA_BSUID_MAX] = '\0';
    assert_true(notify_whatsapp_is_bsuid(longest));
    longest[NOTIFY_WA_BSUID_MAX] = '7';
    longest[NOTIFY_WA_BSUID_MAX + 1] = '\0';
    assert_false(notify_whatsapp_is_bsuid(longest));

    notify_channels *n = channels();
    pthread_mutex_lock(&fake.mu);
    fake.n = 0;
    pthread_mutex_unlock(&fake.mu);
    int ra = 0;
    assert_int_equal(notify_whatsapp_text(n, "US.13491208655302741918", "hi", &ra), NOTIFY_OK);
    /* Copy-code templates need a phone: refused without a request. */
    assert_int_equal(notify_whatsapp_code(n, "US.13491208655302741918", "123456", "en", &ra),
                     NOTIFY_ERR_REFUSED);
    assert_int_equal(notify_whatsapp_text(n, "not a recipient", "hi", &ra), NOTIFY_ERR_ARG);
    assert_int_equal(notify_whatsapp_text(n, "+4915112345678", "hi", &ra), NOTIFY_OK);
    pthread_mutex_lock(&fake.mu);
    assert_int_equal(fake.n, 2);
    assert_non_null(strstr(fake.log[0].body, "\"recipient\":\"US.13491208655302741918\""));
    assert_null(strstr(fake.log[0].body, "\"to\""));
    assert_non_null(strstr(fake.log[1].body, "\"to\":\"+4915112345678\""));
    pthread_mutex_unlock(&fake.mu);
    assert_string_equal(fake.problem, "");
    notify_channels_free(n);
}

static void test_compose(void **state)
{
    (void)state;
    cJSON *d = cJSON_Parse("{\"user_id\":1,\"duration_s\":1800,\"avg_hr\":141.4,"
                           "\"distance_m\":5230}");
    char *t;
    assert_int_equal(notify_compose(EVT_TYPE_WORKOUT_COMPLETED, d, "en", NULL, &t), 0);
    assert_string_equal(t, "Workout done: 30 min, avg HR 141, 5.23 km.");
    free(t);
    assert_int_equal(notify_compose(EVT_TYPE_WORKOUT_COMPLETED, d, "ru", NULL, &t), 0);
    assert_string_equal(t, "Тренировка завершена: 30 мин, средний пульс 141, 5.23 км.");
    free(t);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"user_id\":1}");
    assert_int_equal(notify_compose(EVT_TYPE_USER_REGISTERED, d, "en", "Anna", &t), 0);
    assert_non_null(strstr(t, "Welcome to fitgate, Anna!"));
    free(t);
    assert_int_equal(notify_compose(EVT_TYPE_ORDER_SHIPPED, d, "en", NULL, &t), 0);
    assert_string_equal(t, "Order is on its way.");
    free(t);
    /* 2FA switched off: a notice only for the e-mail recovery, on every channel. */
    assert_int_equal(notify_compose(EVT_TYPE_2FA_DISABLED, d, "en", NULL, &t), -1);
    assert_false(notify_every_channel(EVT_TYPE_2FA_DISABLED, d));
    cJSON_AddStringToObject(d, "reason", "email_recovery");
    assert_true(notify_every_channel(EVT_TYPE_2FA_DISABLED, d));
    assert_false(notify_every_channel(EVT_TYPE_2FA_ENABLED, d));
    assert_int_equal(notify_compose(EVT_TYPE_2FA_DISABLED, d, "en", NULL, &t), 0);
    assert_non_null(strstr(t, "reset by e-mail recovery"));
    assert_non_null(strstr(t, "If this was not you"));
    free(t);
    assert_int_equal(notify_compose(EVT_TYPE_2FA_DISABLED, d, "zh", NULL, &t), 0);
    assert_non_null(strstr(t, "如非本人操作"));
    free(t);
    assert_int_equal(notify_compose(EVT_TYPE_ORDER_COMPLETED, d, "en", NULL, &t), -1);
    assert_int_equal(notify_compose(EVT_TYPE_READINGS, d, "en", NULL, &t), -1);
    assert_null(t);
    cJSON_Delete(d);
}

/* ---- the notifier ---- */

static int contact(void *ctx, int64_t user_id, notify_contact *out)
{
    (void)ctx;
    if (user_id == 3)
        return -1; /* unknown user */
    out->telegram_chat_id = user_id == 2 ? 666 : 1000 + user_id;
    snprintf(out->lang, sizeof out->lang, "%s", user_id == 1 ? "ru" : "en");
    snprintf(out->first_name, sizeof out->first_name, "U%lld", (long long)user_id);
    return 0;
}

static void published(void *ctx, bus_status st)
{
    (void)ctx;
    assert_int_equal(st, BUS_OK);
}

static void publish(bus *b, const char *topic, const char *id, const char *type, int64_t user)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "user_id", (double)user);
    cJSON_AddStringToObject(d, "title", "First workout");
    char *s;
    size_t len;
    assert_int_equal(evt_encode(id, type, "test", NULL, d, &s, &len), 0);
    cJSON_Delete(d);
    bus_msg m = {topic, "k", s, len};
    assert_int_equal(bus_publish(b, &m, 1, published, NULL), BUS_OK);
    free(s);
}

static void test_notifier(void **state)
{
    (void)state;
    pthread_mutex_lock(&fake.mu);
    fake.n = 0;
    fake.fail_429_once = 1; /* the first message meets a 429 */
    fake.blocked_chat = 666;
    pthread_mutex_unlock(&fake.mu);
    char busdb[128], core[128];
    snprintf(busdb, sizeof busdb, "%s/bus.db", tmpdir);
    snprintf(core, sizeof core, "%s/core.db", tmpdir);
    bus *b;
    assert_int_equal(bus_open_embedded(&b, busdb), BUS_OK);
    sd_event *ev;
    assert_int_equal(sd_event_new(&ev), 0);
    notify_channels *ch = channels();
    notify_options opt = {
        .db_path = core, .ch = ch, .contact = contact, .per_chat_interval_ms = 200};
    notifier *n;
    assert_int_equal(notifier_new(&n, ev, b, &opt), 0);

    publish(b, EVT_TOPIC_IDENTITY, "user/1/registered", EVT_TYPE_USER_REGISTERED, 1);
    publish(b, EVT_TOPIC_IDENTITY, "user/1/registered", EVT_TYPE_USER_REGISTERED, 1); /* again */
    publish(b, EVT_TOPIC_GAMIFICATION, "ach/1/first", EVT_TYPE_ACHIEVEMENT_UNLOCKED, 1);
    publish(b, EVT_TOPIC_IDENTITY, "user/2/registered", EVT_TYPE_USER_REGISTERED, 2); /* blocked */
    publish(b, EVT_TOPIC_IDENTITY, "user/3/registered", EVT_TYPE_USER_REGISTERED, 3); /* unknown */
    publish(b, EVT_TOPIC_IDENTITY, "dev/1/paired", EVT_TYPE_DEVICE_PAIRED, 1); /* no message */

    notify_counts c = {0};
    for (int i = 0; i < 1000 && (c.sent < 2 || c.refused < 1); i++) {
        sd_event_run(ev, 10000);
        notifier_counts(n, &c);
    }
    assert_int_equal(c.queued, 4);
    assert_int_equal(c.sent, 2);
    assert_int_equal(c.refused, 1);
    /* Redelivery after a restart queues nothing new. */
    notifier_free(n);
    assert_int_equal(notifier_new(&n, ev, b, &opt), 0);
    publish(b, EVT_TOPIC_GAMIFICATION, "ach/1/first", EVT_TYPE_ACHIEVEMENT_UNLOCKED, 1);
    for (int i = 0; i < 50; i++)
        sd_event_run(ev, 10000);
    notifier_counts(n, &c);
    assert_int_equal(c.queued, 0);
    notifier_free(n);

    /* Telegram saw: 429, welcome (ru) again, the achievement, the blocked one. */
    pthread_mutex_lock(&fake.mu);
    int to_1001 = 0, welcome_ru = 0;
    for (int i = 0; i < fake.n; i++) {
        to_1001 += strstr(fake.log[i].body, "\"chat_id\":1001") != NULL;
        welcome_ru += strstr(fake.log[i].body, "Добро пожаловать в fitgate, U1") != NULL;
    }
    int total = fake.n;
    pthread_mutex_unlock(&fake.mu);
    assert_int_equal(to_1001, 3); /* 429 + retry + achievement */
    assert_int_equal(welcome_ru, 2);
    assert_int_equal(total, 4);
    notify_channels_free(ch);
    bus_close(b);
    sd_event_unref(ev);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_whatsapp_bsuid),
        cmocka_unit_test(test_compose),
        cmocka_unit_test(test_notifier),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
