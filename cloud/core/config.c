/* config.c - fitgate-core's settings (see core.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "fitcommon/cfg.h"

const char *core_usage =
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
    "  dev_demo_gateways=a,b,...      gateways the demo user owns in dev mode\n"
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

int core_copy(char *dst, size_t cap, const char *v)
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
        {"dev_demo_gateways", c->dev_demo_gateways, sizeof c->dev_demo_gateways},
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
            return core_copy(strs[i].dst, strs[i].cap, v);
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
        return core_copy(c->devices_mqtt_certfile, sizeof c->devices_mqtt_certfile, v);
    if (!strcmp(k, "devices_mqtt_keyfile"))
        return core_copy(c->devices_mqtt_keyfile, sizeof c->devices_mqtt_keyfile, v);
    if (!strcmp(k, "gym_idle_timeout_s"))
        return cfg_parse_int(v, 5, 7200, &c->gym_idle_timeout_s);
    if (!strcmp(k, "devices_cmd_timeout_ms"))
        return cfg_parse_int(v, 100, 60000, &c->devices_cmd_timeout_ms);
    return -1;
}

int core_load_config(core_config *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->roles = ROLE_ALL;
    core_copy(c->data_dir, sizeof c->data_dir, "data");
    core_copy(c->mqtt_host, sizeof c->mqtt_host, "127.0.0.1");
    c->mqtt_port = 8883;
    core_copy(c->mqtt_client_id, sizeof c->mqtt_client_id, "fitgate-core-ingest");
    core_copy(c->bus, sizeof c->bus, "embedded");
    core_copy(c->http_bind, sizeof c->http_bind, "127.0.0.1");
    c->http_port = 8080;
    core_copy(c->miniapp_dir, sizeof c->miniapp_dir, "cloud/miniapp/dist");
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
int core_load_bot_token(core *k)
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
        core_copy(k->bot_token, sizeof k->bot_token, env);
    } else if (k->cfg.dev) {
        /* Dev mode without a token: a local one; init data signed with it is
         * valid only for this process. */
        core_copy(k->bot_token, sizeof k->bot_token,
                  "1000000001:DEV-local-bot-token-not-for-production");
        log_warn("dev_token", "dev mode: using a local bot token");
    } else if (k->cfg.roles & ROLE_API) {
        log_error("config_invalid", "the api role needs a bot token (bot_token_file)");
        return -1;
    }
    return 0;
}

/* A secret from a file: first line, without the newline. "" when no file. */
int core_read_secret(const char *path, char *out, size_t cap)
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
