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

#include "core.h"
#include "events.h"
#include "fitcommon/cfg.h"
#include "fitcommon/mqloop.h"

static int open_channels(core *k)
{
    core_config *c = &k->cfg;
    if (core_read_secret(c->whatsapp_token_file, k->whatsapp_token, sizeof k->whatsapp_token) < 0 ||
        core_read_secret(c->sms_token_file, k->sms_token, sizeof k->sms_token) < 0)
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
    if (core_read_secret(c->wa_app_secret_file, k->wa_app_secret, sizeof k->wa_app_secret) < 0 ||
        core_read_secret(c->wechat_secret_file, k->wechat_secret, sizeof k->wechat_secret) < 0)
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
    if (core_load_bot_token(k) < 0 || open_bus(k) < 0)
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
        /* Dev mode only: the demo user may pair at the simulated gateway
         * without a claim code (api_demo_user refuses outside dev mode). */
        if (c->dev && c->dev_demo_gateways[0] && api_demo_user(k->ap, &dc.demo_user_id) == 0)
            dc.demo_gateways = c->dev_demo_gateways;
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
            core_copy(ss.legacy_db, sizeof ss.legacy_db, c->legacy_db);
        core_copy(ss.tg_bot_token, sizeof ss.tg_bot_token, k->bot_token);
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
    if (argc > 1 && !strcmp(argv[1], "gateway")) /* operator: a gateway's claim code */
        return fitdevices_gateway_cli(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "initdata")) /* support: why can't this user sign in */
        return idn_cli_initdata(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "identity")) /* operator: rotate keys, service tokens */
        return idn_cli(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "shop")) /* operator: ship, deliver, refund an order */
        return shop_cli_main(argc - 1, argv + 1);
    int rc = core_load_config(&k.cfg, argc, argv);
    if (rc == 1) {
        fputs(core_usage, stdout);
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
