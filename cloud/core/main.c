/* fitgate-core - the cloud core: one binary, several roles.
 *
 *   --role ingest   cloud broker -> validate/dedupe -> bus -> ack gateways
 *   --role worker   bus -> readings per user (store)
 *   --role api      HTTP API + mini app + live stream (bus tail)
 *   --role all      all three in one process (the embedded default)
 *
 * The bus is embedded (SQLite log in data_dir/bus.db) unless bus=kafka.
 * Everything runs on one sd-event loop, except libmicrohttpd's own threads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "api.h"
#include "bus.h"
#include "enrol.h"
#include "events.h"
#include "fitdevices.h"
#include "identity.h"
#include "legacy.h"
#include "fitcommon/cfg.h"
#include "fitcommon/log.h"
#include "fitcommon/mqloop.h"
#include "ingest.h"
#include "notify.h"
#include "outbox.h"
#include "progress.h"
#include "progress_api.h"
#include "shop.h"
#include "worker.h"

enum { ROLE_INGEST = 1, ROLE_WORKER = 2, ROLE_API = 4, ROLE_ALL = 7 };

typedef struct core_config {
    int roles;
    char data_dir[1024];
    char mqtt_host[256], mqtt_client_id[128];
    char mqtt_cafile[1024], mqtt_certfile[1024], mqtt_keyfile[1024];
    int64_t mqtt_port;
    char bus[16], kafka_brokers[1024], kafka_extra[1024];
    char http_bind[64], trusted_proxies[256];
    int64_t http_port;
    char miniapp_dir[1024];
    char bot_token_file[1024];
    int64_t initdata_max_age_s;
    int64_t dev;
    char dev_demo_devices[8192];
    char ready_file[1024];
    char enrol_ca_cert[1024], enrol_ca_key[1024]; /* gateway CA: enables enrolment */
    int64_t enrol_cert_days;
    int64_t workout_idle_s, workout_max_skew_s; /* progress: sessions */
    int64_t workout_keep_samples_days;          /* 0: keep every sample */
    char rebuild[32];                           /* "progress": replay, then exit */
    /* Outside messaging APIs (notify/channels.h); secrets come from files. */
    char telegram_api_base[256], whatsapp_api_base[256], whatsapp_phone_number_id[64];
    char whatsapp_token_file[1024], whatsapp_auth_template[64];
    char sms_api_base[256], sms_token_file[1024], sms_sender[32];
    char smtp_url[256], smtp_from[256];
    int64_t gym_idle_timeout_s, devices_cmd_timeout_ms;
    char devices_mqtt_certfile[1024], devices_mqtt_keyfile[1024];
    char shop_config[1024], legacy_db[1024]; /* shop settings file; legacy shop store */
    /* identity: WhatsApp webhook + sign-in, WeChat code2session */
    char wa_app_secret_file[1024], wa_verify_token[128], web_base_url[256];
    char wechat_api_base[256], wechat_appid[64], wechat_secret_file[1024];
    int64_t access_ttl_s;
    log_level level;
} core_config;

typedef struct core {
    core_config cfg;
    sd_event *ev;
    bus *b;
    ingest *in;
    worker *wk;
    progress_worker *pw;
    progress_api *pa;
    api *ap;
    outbox_relay *outbox;
    enrol *enrol;
    fitdevices *devices;
    shop *shop;
    bus_consumer *live;
    sd_event_source *bus_timer, *live_timer;
    char bot_token[256];
    char whatsapp_token[512], sms_token[512];
    notify_channels *channels; /* shared by identity (codes) and the notifier */
    notifier *notifier;
    /* Set by the identity module's wiring: how to reach a user. The
     * notifier starts only when it is set (else nobody could be reached). */
    notify_contact_fn contact_fn;
    void *contact_ctx;
    idn *idn;
    legacy *legacy; /* identity's handle: checks logins when linking */
    char wa_app_secret[256], wechat_secret[256];
} core;

static const char *usage =
    "usage: fitgate-core [--config FILE] [--key=value ...]\n"
    "  role=ingest|worker|api|all     (all)\n"
    "  data_dir=DIR                   SQLite files (./data)\n"
    "  mqtt_host, mqtt_port           the cloud broker (127.0.0.1:8883)\n"
    "  mqtt_client_id=ID              ingest's persistent session (fitgate-core-ingest)\n"
    "  mqtt_cafile, mqtt_certfile, mqtt_keyfile   TLS with a client certificate\n"
    "  bus=embedded|kafka             (embedded)\n"
    "  kafka_brokers=HOST:PORT,...    kafka_extra=k=v;k=v (librdkafka properties)\n"
    "  http_bind, http_port           API and mini app (127.0.0.1:8080)\n"
    "  trusted_proxies=IP,...         proxies whose X-Forwarded-For names the client (nginx)\n"
    "  miniapp_dir=DIR                mini app files (cloud/miniapp/dist)\n"
    "  bot_token_file=FILE            Telegram bot token (or env FITGATE_BOT_TOKEN)\n"
    "  initdata_max_age_s=N           init data freshness (86400)\n"
    "  dev=0|1                        dev mode: /dev/launch signs init data for a demo user\n"
    "  dev_demo_devices=a,b,...       devices bound to the demo user in dev mode\n"
    "  ready_file=PATH                written with the API port once serving\n"
    "  enrol_ca_cert, enrol_ca_key    gateway CA (PEM): enables POST /api/v1/enrol\n"
    "  enrol_cert_days=N              gateway certificate lifetime (365)\n"
    "  workout_idle_s=N               a workout ends after N s without readings (300)\n"
    "  workout_max_skew_s=N           readings stamped further ahead are clamped (300)\n"
    "  workout_keep_samples_days=N    drop samples of older workouts, keep charts (0: never)\n"
    "  rebuild=progress               replay the bus into empty progress tables, exit\n"
    "  telegram_api_base=URL          Bot API (https://api.telegram.org)\n"
    "  whatsapp_api_base=URL, whatsapp_phone_number_id, whatsapp_token_file=FILE,\n"
    "  whatsapp_auth_template=NAME    WhatsApp Cloud API (https://graph.facebook.com)\n"
    "  sms_api_base=URL, sms_token_file=FILE, sms_sender   SMS gateway\n"
    "  smtp_url=smtp://HOST:PORT, smtp_from=ADDR            e-mail\n"
    "  log_level=debug|info|warn|error\n"
    "  gym_idle_timeout_s=N           gym machine session idle timeout (300)\n"
    "  devices_cmd_timeout_ms=N       wait for a gateway command result (5000)\n"
    "  devices_mqtt_certfile, devices_mqtt_keyfile   the devices module's client\n"
    "                                 certificate (CN fitgate-core-devices)\n"
    "  shop_config=FILE               shop settings (docs/shop.md): catalogue, payment providers\n"
    "  legacy_db=PATH                 legacy shop store, opened read-only\n"
    "  wa_app_secret_file=FILE, wa_verify_token=T   WhatsApp webhook (signature, handshake)\n"
    "  web_base_url=URL               web app base for signed sign-in links\n"
    "  wechat_api_base=URL, wechat_appid, wechat_secret_file=FILE   WeChat code2session\n"
    "  access_ttl_s=N                 access token lifetime (300)\n"
    "support: fitgate-core initdata verify --bot-token T [--max-age S] [--now UNIX] INITDATA\n"
    "operators: fitgate-core identity rotate-keys | token SERVICE [--ttl=S] --data_dir=DIR\n"
    "operators: fitgate-core shop ACTION ORDER_ID --data_dir=DIR (docs/shop.md)\n";

static int copy(char *dst, size_t cap, const char *v)
{
    return (size_t)snprintf(dst, cap, "%s", v) < cap ? 0 : -1;
}

static int core_setting(void *ctx, const char *k, const char *v)
{
    core_config *c = ctx;
    if (!strcmp(k, "config"))
        return 0;
    if (!strcmp(k, "role")) {
        c->roles = !strcmp(v, "ingest")   ? ROLE_INGEST
                   : !strcmp(v, "worker") ? ROLE_WORKER
                   : !strcmp(v, "api")    ? ROLE_API
                   : !strcmp(v, "all")    ? ROLE_ALL
                                          : 0;
        return c->roles ? 0 : -1;
    }
    struct {
        const char *key;
        char *dst;
        size_t cap;
    } strs[] = {
        {"data_dir", c->data_dir, sizeof c->data_dir},
        {"mqtt_host", c->mqtt_host, sizeof c->mqtt_host},
        {"mqtt_client_id", c->mqtt_client_id, sizeof c->mqtt_client_id},
        {"mqtt_cafile", c->mqtt_cafile, sizeof c->mqtt_cafile},
        {"mqtt_certfile", c->mqtt_certfile, sizeof c->mqtt_certfile},
        {"mqtt_keyfile", c->mqtt_keyfile, sizeof c->mqtt_keyfile},
        {"bus", c->bus, sizeof c->bus},
        {"kafka_brokers", c->kafka_brokers, sizeof c->kafka_brokers},
        {"kafka_extra", c->kafka_extra, sizeof c->kafka_extra},
        {"http_bind", c->http_bind, sizeof c->http_bind},
        {"trusted_proxies", c->trusted_proxies, sizeof c->trusted_proxies},
        {"miniapp_dir", c->miniapp_dir, sizeof c->miniapp_dir},
        {"bot_token_file", c->bot_token_file, sizeof c->bot_token_file},
        {"dev_demo_devices", c->dev_demo_devices, sizeof c->dev_demo_devices},
        {"ready_file", c->ready_file, sizeof c->ready_file},
        {"enrol_ca_cert", c->enrol_ca_cert, sizeof c->enrol_ca_cert},
        {"enrol_ca_key", c->enrol_ca_key, sizeof c->enrol_ca_key},
        {"telegram_api_base", c->telegram_api_base, sizeof c->telegram_api_base},
        {"whatsapp_api_base", c->whatsapp_api_base, sizeof c->whatsapp_api_base},
        {"whatsapp_phone_number_id", c->whatsapp_phone_number_id,
         sizeof c->whatsapp_phone_number_id},
        {"whatsapp_token_file", c->whatsapp_token_file, sizeof c->whatsapp_token_file},
        {"whatsapp_auth_template", c->whatsapp_auth_template, sizeof c->whatsapp_auth_template},
        {"sms_api_base", c->sms_api_base, sizeof c->sms_api_base},
        {"sms_token_file", c->sms_token_file, sizeof c->sms_token_file},
        {"sms_sender", c->sms_sender, sizeof c->sms_sender},
        {"smtp_url", c->smtp_url, sizeof c->smtp_url},
        {"smtp_from", c->smtp_from, sizeof c->smtp_from},
        {"rebuild", c->rebuild, sizeof c->rebuild},
        {"shop_config", c->shop_config, sizeof c->shop_config},
        {"legacy_db", c->legacy_db, sizeof c->legacy_db},
        {"wa_app_secret_file", c->wa_app_secret_file, sizeof c->wa_app_secret_file},
        {"wa_verify_token", c->wa_verify_token, sizeof c->wa_verify_token},
        {"web_base_url", c->web_base_url, sizeof c->web_base_url},
        {"wechat_api_base", c->wechat_api_base, sizeof c->wechat_api_base},
        {"wechat_appid", c->wechat_appid, sizeof c->wechat_appid},
        {"wechat_secret_file", c->wechat_secret_file, sizeof c->wechat_secret_file},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!strcmp(k, strs[i].key))
            return copy(strs[i].dst, strs[i].cap, v);
    if (!strcmp(k, "access_ttl_s"))
        return cfg_parse_int(v, 30, 3600, &c->access_ttl_s);
    if (!strcmp(k, "mqtt_port"))
        return cfg_parse_int(v, 1, 65535, &c->mqtt_port);
    if (!strcmp(k, "http_port"))
        return cfg_parse_int(v, 0, 65535, &c->http_port);
    if (!strcmp(k, "initdata_max_age_s"))
        return cfg_parse_int(v, 0, 30 * 86400, &c->initdata_max_age_s);
    if (!strcmp(k, "dev"))
        return cfg_parse_int(v, 0, 1, &c->dev);
    if (!strcmp(k, "enrol_cert_days"))
        return cfg_parse_int(v, 1, 3650, &c->enrol_cert_days);
    if (!strcmp(k, "workout_idle_s"))
        return cfg_parse_int(v, 1, 86400, &c->workout_idle_s);
    if (!strcmp(k, "workout_max_skew_s"))
        return cfg_parse_int(v, 1, 86400, &c->workout_max_skew_s);
    if (!strcmp(k, "workout_keep_samples_days"))
        return cfg_parse_int(v, 0, 36500, &c->workout_keep_samples_days);
    if (!strcmp(k, "log_level"))
        return log_level_parse(v, &c->level);
    if (!strcmp(k, "devices_mqtt_certfile"))
        return copy(c->devices_mqtt_certfile, sizeof c->devices_mqtt_certfile, v);
    if (!strcmp(k, "devices_mqtt_keyfile"))
        return copy(c->devices_mqtt_keyfile, sizeof c->devices_mqtt_keyfile, v);
    if (!strcmp(k, "gym_idle_timeout_s"))
        return cfg_parse_int(v, 5, 7200, &c->gym_idle_timeout_s);
    if (!strcmp(k, "devices_cmd_timeout_ms"))
        return cfg_parse_int(v, 100, 60000, &c->devices_cmd_timeout_ms);
    return -1;
}

static int load_config(core_config *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->roles = ROLE_ALL;
    copy(c->data_dir, sizeof c->data_dir, "data");
    copy(c->mqtt_host, sizeof c->mqtt_host, "127.0.0.1");
    c->mqtt_port = 8883;
    copy(c->mqtt_client_id, sizeof c->mqtt_client_id, "fitgate-core-ingest");
    copy(c->bus, sizeof c->bus, "embedded");
    copy(c->http_bind, sizeof c->http_bind, "127.0.0.1");
    c->http_port = 8080;
    copy(c->miniapp_dir, sizeof c->miniapp_dir, "cloud/miniapp/dist");
    c->initdata_max_age_s = 86400;
    c->workout_idle_s = 300;
    c->workout_max_skew_s = 300;
    c->level = LOG_INFO;
    int rc = cfg_load(argc, argv, core_setting, c);
    if (rc)
        return rc;
    if (strcmp(c->bus, "embedded") && strcmp(c->bus, "kafka")) {
        log_error("config_invalid", "bus must be embedded or kafka");
        return -1;
    }
    if (!strcmp(c->bus, "kafka") && !c->kafka_brokers[0]) {
        log_error("config_invalid", "bus=kafka needs kafka_brokers");
        return -1;
    }
    return 0;
}

/* The bot token is a secret: from a file (0600) or the environment, never a flag. */
static int load_bot_token(core *k)
{
    const char *env = getenv("FITGATE_BOT_TOKEN");
    if (k->cfg.bot_token_file[0]) {
        FILE *f = fopen(k->cfg.bot_token_file, "r");
        if (!f || !fgets(k->bot_token, sizeof k->bot_token, f)) {
            if (f)
                fclose(f);
            log_error("config_invalid", "cannot read bot_token_file");
            return -1;
        }
        fclose(f);
        k->bot_token[strcspn(k->bot_token, "\r\n")] = '\0';
    } else if (env) {
        copy(k->bot_token, sizeof k->bot_token, env);
    } else if (k->cfg.dev) {
        /* Dev mode without a token: a local one; init data signed with it is
         * valid only for this process. */
        copy(k->bot_token, sizeof k->bot_token,
             "1000000001:DEV-local-bot-token-not-for-production");
        log_warn("dev_token", "dev mode: using a local bot token");
    } else if (k->cfg.roles & ROLE_API) {
        log_error("config_invalid", "the api role needs a bot token (bot_token_file)");
        return -1;
    }
    return 0;
}

/* A secret from a file: first line, without the newline. "" when no file. */
static int read_secret(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    if (!path[0])
        return 0;
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)cap, f)) {
        if (f)
            fclose(f);
        log_error("config_invalid", "cannot read a secret file", "path", path);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int open_channels(core *k)
{
    core_config *c = &k->cfg;
    if (read_secret(c->whatsapp_token_file, k->whatsapp_token, sizeof k->whatsapp_token) < 0 ||
        read_secret(c->sms_token_file, k->sms_token, sizeof k->sms_token) < 0)
        return -1;
    notify_config nc = {
        .telegram_base = c->telegram_api_base,
        .telegram_bot_token = k->bot_token,
        .whatsapp_base = c->whatsapp_api_base,
        .whatsapp_phone_number_id = c->whatsapp_phone_number_id,
        .whatsapp_token = k->whatsapp_token,
        .whatsapp_auth_template = c->whatsapp_auth_template,
        .sms_base = c->sms_api_base,
        .sms_token = k->sms_token,
        .sms_sender = c->sms_sender,
        .smtp_url = c->smtp_url,
        .smtp_from = c->smtp_from,
    };
    return notify_channels_new(&k->channels, &nc);
}

/* Identity: accounts, sign-in, tokens, 2FA (also the notifier's contacts). */
static int open_identity(core *k, const char *db)
{
    core_config *c = &k->cfg;
    if (read_secret(c->wa_app_secret_file, k->wa_app_secret, sizeof k->wa_app_secret) < 0 ||
        read_secret(c->wechat_secret_file, k->wechat_secret, sizeof k->wechat_secret) < 0)
        return -1;
    if (c->legacy_db[0] && legacy_open(&k->legacy, c->legacy_db) != LEGACY_OK)
        return -1;
    idn_config ic = {
        .db_path = db,
        .data_dir = c->data_dir,
        .bot_token = k->bot_token,
        .initdata_max_age_s = c->initdata_max_age_s,
        .access_ttl_s = c->access_ttl_s,
        .wa_app_secret = k->wa_app_secret,
        .wa_verify_token = c->wa_verify_token,
        .web_base_url = c->web_base_url,
        .wechat_base = c->wechat_api_base,
        .wechat_appid = c->wechat_appid,
        .wechat_secret = k->wechat_secret,
        .channels = k->channels,
        .legacy = k->legacy,
        .dev_mode = (int)c->dev,
    };
    if (idn_new(&k->idn, &ic) < 0)
        return -1;
    k->contact_fn = idn_notify_contact;
    k->contact_ctx = k->idn;
    return 0;
}

/* The shop asks identity which legacy shop account a user linked. */
static int core_legacy_link(void *ctx, int64_t user_id, int64_t *legacy_id)
{
    return idn_legacy_account(ctx, user_id, legacy_id) == 0 ? 0 : 1;
}

static int on_bus_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    core *k = userdata;
    bus_poll(k->b, 0);
    sd_event_source_set_time_relative(s, bus_pending(k->b) ? 1000 : 10000);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

/* The api role's live tail of the bus: durable readings -> SSE clients. */
static int on_live_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)usec;
    core *k = userdata;
    for (int i = 0; i < 256; i++) {
        bus_record rec;
        if (bus_consume(k->live, &rec, 0) != BUS_OK)
            break;
        fp_batch b;
        if (evt_readings_decode(rec.value, rec.len, &b) != FP_OK)
            continue;
        for (size_t j = 0; j < b.count; j++)
            api_live_push(k->ap, &b.readings[j]);
        fp_batch_free(&b);
    }
    sd_event_source_set_time_relative(s, 20000);
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    return 0;
}

static int open_bus(core *k)
{
    if (!strcmp(k->cfg.bus, "kafka"))
        return bus_open_kafka(&k->b, k->cfg.kafka_brokers,
                              k->cfg.kafka_extra[0] ? k->cfg.kafka_extra : NULL) == BUS_OK
                   ? 0
                   : -1;
    char path[1100];
    snprintf(path, sizeof path, "%s/bus.db", k->cfg.data_dir);
    return bus_open_embedded(&k->b, path) == BUS_OK ? 0 : -1;
}

static void write_ready_file(core *k)
{
    if (!k->cfg.ready_file[0])
        return;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", k->cfg.ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%u\n", k->ap ? (unsigned)api_port(k->ap) : 0u);
    fclose(f);
    rename(tmp, k->cfg.ready_file);
}

static int core_start(core *k)
{
    core_config *c = &k->cfg;
    mkdir(c->data_dir, 0700);
    char db[1100];
    snprintf(db, sizeof db, "%s/core.db", c->data_dir);
    if (load_bot_token(k) < 0 || open_bus(k) < 0)
        return -1;
    if (sd_event_add_time_relative(k->ev, &k->bus_timer, CLOCK_MONOTONIC, 10000, 1000, on_bus_timer,
                                   k) < 0)
        return -1;
    if (open_channels(k) < 0)
        return -1;
    if (c->roles & (ROLE_API | ROLE_WORKER) && open_identity(k, db) < 0)
        return -1;
    /* Business events written by any role leave through the outbox. */
    if (outbox_relay_new(&k->outbox, k->ev, k->b, db) < 0)
        return -1;
    if (c->roles & ROLE_WORKER && worker_new(&k->wk, k->ev, k->b, db) < 0)
        return -1;
    progress_cfg pc = {c->workout_idle_s * 1000, c->workout_max_skew_s * 1000,
                       c->workout_keep_samples_days * 86400000};
    if (c->roles & ROLE_WORKER && progress_worker_new(&k->pw, k->ev, k->b, db, &pc) < 0)
        return -1;
    if (c->roles & ROLE_API) {
        api_config ac = {
            .bind_addr = c->http_bind,
            .port = (uint16_t)c->http_port,
            .miniapp_dir = c->miniapp_dir,
            .db_path = db,
            .bot_token = k->bot_token,
            .dev_mode = (int)c->dev,
            .dev_demo_tg_id = 100000001,
            .dev_demo_devices = c->dev_demo_devices,
            .trusted_proxies = c->trusted_proxies,
        };
        if (api_new(&k->ap, &ac) < 0 || idn_attach(k->idn, k->ap) < 0)
            return -1;
        /* Modules add their routes here, before the api starts serving. */
        if (c->enrol_ca_cert[0]) {
            enrol_config ec = {.db_path = db,
                               .ca_cert = c->enrol_ca_cert,
                               .ca_key = c->enrol_ca_key,
                               .cert_days = c->enrol_cert_days};
            if (enrol_new(&k->enrol, &ec) < 0 ||
                api_add_routes(k->ap, enrol_routes, enrol_nroutes, k->enrol) < 0)
                return -1;
        }
        /* The devices module needs its own broker identity (CN
         * fitgate-core-devices): with use_username_as_clientid a second
         * connection on the ingest's certificate would take over its session. */
        bool devices_on = !c->mqtt_cafile[0] || c->devices_mqtt_certfile[0];
        fitdevices_config dc = {
            .db_path = db,
            .mqtt = {.host = c->mqtt_host,
                     .port = (int)c->mqtt_port,
                     .client_id = "fitgate-core-devices",
                     .clean_start = true,
                     .keepalive_s = 30,
                     .cafile = c->mqtt_cafile[0] ? c->mqtt_cafile : NULL,
                     .certfile = c->devices_mqtt_certfile[0] ? c->devices_mqtt_certfile : NULL,
                     .keyfile = c->devices_mqtt_keyfile[0] ? c->devices_mqtt_keyfile : NULL},
            .cmd_timeout_ms = (uint32_t)c->devices_cmd_timeout_ms,
            .gym_idle_timeout_s = (uint32_t)c->gym_idle_timeout_s,
        };
        if (!devices_on)
            log_warn("devices_off", "device pairing is off: set devices_mqtt_certfile");
        else if (fitdevices_new(&k->devices, k->ev, k->ap, &dc) < 0 ||
                 api_add_routes(k->ap, fitdevices_routes, fitdevices_nroutes, k->devices) < 0)
            return -1;
        if (progress_api_new(&k->pa, db) < 0 ||
            api_add_routes(k->ap, progress_routes, progress_nroutes, k->pa) < 0)
            return -1;
        shop_settings ss; /* secrets: files named in shop_config, or the environment */
        if (shop_settings_load(&ss, c->shop_config) < 0)
            return -1;
        if (!ss.legacy_db[0])
            copy(ss.legacy_db, sizeof ss.legacy_db, c->legacy_db);
        copy(ss.tg_bot_token, sizeof ss.tg_bot_token, k->bot_token);
        int shop_rc = shop_new(&k->shop, &ss, db, 1);
        explicit_bzero(&ss, sizeof ss);
        if (shop_rc < 0 || api_add_routes(k->ap, shop_routes, shop_nroutes, k->shop) < 0)
            return -1;
        if (k->idn) /* legacy orders of the account the user linked (identity owns it) */
            shop_set_legacy_link(k->shop, core_legacy_link, k->idn);
        if (api_serve(k->ap) < 0 ||
            bus_consumer_open(k->b, "api-live", EVT_TOPIC_READINGS, 1, &k->live) != BUS_OK ||
            sd_event_add_time_relative(k->ev, &k->live_timer, CLOCK_MONOTONIC, 20000, 1000,
                                       on_live_timer, k) < 0)
            return -1;
    }
    if (c->roles & ROLE_INGEST) {
        ingest_config ic = {
            .mqtt =
                {
                    .host = c->mqtt_host,
                    .port = (int)c->mqtt_port,
                    .client_id = c->mqtt_client_id,
                    .clean_start = false,
                    .session_expiry_s = 86400,
                    .keepalive_s = 30,
                    .max_inflight = 1000,
                    .cafile = c->mqtt_cafile[0] ? c->mqtt_cafile : NULL,
                    .certfile = c->mqtt_certfile[0] ? c->mqtt_certfile : NULL,
                    .keyfile = c->mqtt_keyfile[0] ? c->mqtt_keyfile : NULL,
                },
            .db_path = db,
            .bus = k->b,
        };
        if (ingest_new(&k->in, k->ev, &ic) < 0)
            return -1;
    }
    if (c->roles & ROLE_WORKER && k->contact_fn) {
        notify_options no = {.db_path = db,
                             .ch = k->channels,
                             .contact = k->contact_fn,
                             .contact_ctx = k->contact_ctx};
        if (notifier_new(&k->notifier, k->ev, k->b, &no) < 0)
            return -1;
    }
    if (k->ap)
        api_set_ready(k->ap, 1);
    write_ready_file(k);
    return 0;
}

static void core_stop(core *k)
{
    /* Stop taking batches first, then let the bus finish what it accepted. */
    ingest_free(k->in);
    if (k->live)
        bus_consumer_close(k->live);
    notifier_free(k->notifier);
    worker_free(k->wk);
    progress_worker_free(k->pw);
    if (k->ap)
        api_stop(k->ap);
    progress_api_free(k->pa);
    fitdevices_free(k->devices); /* after the api: its handlers use it */
    shop_free(k->shop);
    enrol_free(k->enrol);
    idn_free(k->idn); /* after the api and the notifier: both call it */
    if (k->legacy)
        legacy_close(k->legacy);
    outbox_relay_free(k->outbox);
    k->bus_timer = sd_event_source_disable_unref(k->bus_timer);
    k->live_timer = sd_event_source_disable_unref(k->live_timer);
    bus_close(k->b);
    notify_channels_free(k->channels);
    sd_event_unref(k->ev);
}

static int rebuild(core *k)
{
    if (strcmp(k->cfg.rebuild, "progress")) {
        log_error("config_invalid", "rebuild knows: progress");
        return 2;
    }
    char db[1100];
    snprintf(db, sizeof db, "%s/core.db", k->cfg.data_dir);
    progress_cfg pc = {k->cfg.workout_idle_s * 1000, k->cfg.workout_max_skew_s * 1000,
                       k->cfg.workout_keep_samples_days * 86400000};
    int rc = open_bus(k) < 0 || progress_rebuild(k->b, db, &pc, 2000) < 0;
    bus_close(k->b);
    return rc;
}

int main(int argc, char **argv)
{
    core k = {0};
    log_init("fitgate-core", LOG_INFO);
    if (argc > 1 && !strcmp(argv[1], "enrol-token")) /* operator: mint a token */
        return enrol_cli(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "initdata")) /* support: why can't this user sign in */
        return idn_cli_initdata(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "identity")) /* operator: rotate keys, service tokens */
        return idn_cli(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "shop")) /* operator: ship, deliver, refund an order */
        return shop_cli_main(argc - 1, argv + 1);
    int rc = load_config(&k.cfg, argc, argv);
    if (rc == 1) {
        fputs(usage, stdout);
        return 0;
    }
    if (rc)
        return 2;
    log_init("fitgate-core", k.cfg.level);
    if (k.cfg.rebuild[0]) /* operator: fitgate-core --rebuild=progress [--data_dir=..] */
        return rebuild(&k);
    if (mqloop_daemon_event(&k.ev) < 0)
        return 1;
    if (core_start(&k) < 0) {
        log_error("start_failed", "fitgate-core could not start");
        core_stop(&k);
        return 1;
    }
    log_info("started", "fitgate-core running", "bus", k.cfg.bus);
    rc = sd_event_loop(k.ev);
    log_info("stopping", "fitgate-core stopping");
    core_stop(&k);
    return rc < 0 ? 1 : 0;
}
