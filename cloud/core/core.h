/* core.h - fitgate-core's own state and configuration (cloud/core only).
 *
 * main.c   starts and stops the modules of the configured roles
 * config.c the settings (--config FILE and --key=value flags), secrets from
 *          files, the usage text
 */
#ifndef FITGATE_CORE_H
#define FITGATE_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "api.h"
#include "bus.h"
#include "enrol.h"
#include "fitcommon/log.h"
#include "fitdevices.h"
#include "identity.h"
#include "ingest.h"
#include "legacy.h"
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
    char dev_demo_gateways[1024]; /* dev mode: the demo user owns these gateways */
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

extern const char *core_usage;

/* Defaults, then the config file and flags. 0, 1 (--help) or -1 (logged). */
int core_load_config(core_config *c, int argc, char **argv);
/* The Telegram bot token: bot_token_file, else FITGATE_BOT_TOKEN, else (dev
 * mode) a local one. 0 or -1 (logged). */
int core_load_bot_token(core *k);
/* A secret from a file: its first line. "" when path is "". 0 or -1. */
int core_read_secret(const char *path, char *out, size_t cap);
/* snprintf into dst; -1 when it does not fit. */
int core_copy(char *dst, size_t cap, const char *v);

#endif
