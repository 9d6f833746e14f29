/* identity.c - the module's life cycle and what other modules ask of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fitcommon/log.h"
#include "idn_int.h"
#include "jwt.h"
#include "notify.h"
#include "tg_initdata.h"

static char *dup_or(const char *s, const char *def)
{
    s = s && *s ? s : def;
    return s ? strdup(s) : NULL;
}

void idn_free(idn *d)
{
    if (!d)
        return;
    idn_ckpt_stop(d);
    idn_stmts_free(d);
    if (d->db)
        sqlite3_close(d->db);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->ip_mu);
    pthread_mutex_destroy(&d->auth_mu);
    pthread_mutex_destroy(&d->ckpt_mu);
    pthread_cond_destroy(&d->ckpt_cv);
    pthread_mutex_destroy(&d->batch_mu);
    pthread_cond_destroy(&d->batch_cv);
    pthread_rwlock_destroy(&d->keys_mu);
    char *strs[] = {d->s_db,        d->s_dir, d->s_iss,     d->s_bot,      d->s_wa_secret,
                    d->s_wa_verify, d->s_web, d->s_wx_base, d->s_wx_appid, d->s_wx_secret};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strs[i]) {
            crypto_wipe(strs[i], strlen(strs[i]));
            free(strs[i]);
        }
    crypto_wipe(d, sizeof *d);
    free(d);
}

int idn_new(idn **out, const idn_config *cfg)
{
    *out = NULL;
    if (crypto_init() < 0 || !cfg || !cfg->db_path || !cfg->data_dir)
        return -1;
    idn *d = calloc(1, sizeof *d);
    if (!d)
        return -1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->ip_mu, NULL);
    pthread_mutex_init(&d->auth_mu, NULL);
    pthread_mutex_init(&d->ckpt_mu, NULL);
    pthread_cond_init(&d->ckpt_cv, NULL);
    pthread_mutex_init(&d->batch_mu, NULL);
    pthread_cond_init(&d->batch_cv, NULL);
    d->batch_tail = &d->batch_head;
    pthread_rwlock_init(&d->keys_mu, NULL);
    d->cfg = *cfg;
    d->cfg.db_path = d->s_db = dup_or(cfg->db_path, NULL);
    d->cfg.data_dir = d->s_dir = dup_or(cfg->data_dir, NULL);
    d->cfg.issuer = d->s_iss = dup_or(cfg->issuer, "fitgate");
    d->cfg.bot_token = d->s_bot = dup_or(cfg->bot_token, "");
    d->cfg.wa_app_secret = d->s_wa_secret = dup_or(cfg->wa_app_secret, "");
    d->cfg.wa_verify_token = d->s_wa_verify = dup_or(cfg->wa_verify_token, "");
    d->cfg.web_base_url = d->s_web = dup_or(cfg->web_base_url, "http://127.0.0.1:8080");
    d->cfg.wechat_base = d->s_wx_base = dup_or(cfg->wechat_base, "https://api.weixin.qq.com");
    d->cfg.wechat_appid = d->s_wx_appid = dup_or(cfg->wechat_appid, "");
    d->cfg.wechat_secret = d->s_wx_secret = dup_or(cfg->wechat_secret, "");
    if (!d->cfg.initdata_max_age_s)
        d->cfg.initdata_max_age_s = 86400;
    if (d->cfg.access_ttl_s <= 0)
        d->cfg.access_ttl_s = 300;
    if (d->cfg.refresh_ttl_s <= 0)
        d->cfg.refresh_ttl_s = 30LL * 86400;
    if (d->cfg.key_rotate_s <= 0)
        d->cfg.key_rotate_s = 30LL * 86400;
    if (!d->s_db || !d->s_dir || !d->s_iss || !d->s_bot || !d->s_wa_secret || !d->s_wa_verify ||
        !d->s_web || !d->s_wx_base || !d->s_wx_appid || !d->s_wx_secret || idn_keys_load(d) < 0 ||
        idn_db_open(d) < 0 || idn_ckpt_start(d) < 0) {
        idn_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

/* api_tg_user_fn: the dev launch page's demo user is one of ours. */
static int on_tg_user(void *ctx, int64_t tg_id, const char *first_name, const char *username,
                      int64_t *user_id)
{
    (void)username;
    idn *d = ctx;
    char sub[24];
    snprintf(sub, sizeof sub, "%lld", (long long)tg_id);
    int created = 0;
    pthread_mutex_lock(&d->mu);
    int rc = idn_begin(d);
    if (rc == 0)
        rc = idn_register(d, "telegram", sub, first_name, "", idn_now_ms(), user_id, &created);
    if (rc == 0)
        rc = idn_commit(d);
    else
        idn_rollback(d);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int idn_attach(idn *d, api *a)
{
    if (api_add_routes(a, idn_routes_session, idn_routes_session_n, d) < 0 ||
        api_add_routes(a, idn_routes_mfa, idn_routes_mfa_n, d) < 0 ||
        api_add_routes(a, idn_routes_msg, idn_routes_msg_n, d) < 0 ||
        api_add_routes(a, idn_routes_recovery, idn_routes_recovery_n, d) < 0)
        return -1;
    api_set_authenticator(a, idn_authenticate, d);
    api_set_tg_user_fn(a, on_tg_user, d);
    return 0;
}

int idn_user_contact(idn *d, int64_t user_id, idn_contact *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&d->mu);
    idn_user u;
    int rc = idn_user_get(d, user_id, &u);
    if (rc == 0) {
        snprintf(out->lang, sizeof out->lang, "%s", u.lang);
        snprintf(out->name, sizeof out->name, "%s", u.name);
        snprintf(out->email, sizeof out->email, "%s", u.email);
        snprintf(out->phone, sizeof out->phone, "%s", u.phone);
        /* WhatsApp: the phone when known (templates need it), else the
         * business-scoped user id - users with a username may have no phone. */
        sqlite3_stmt *st = idn_prep(d, "SELECT provider, subject FROM identity_links WHERE "
                                       "user_id = ? ORDER BY subject LIKE 'u:%', created_ms");
        if (st) {
            sqlite3_bind_int64(st, 1, user_id);
            while (sqlite3_step(st) == SQLITE_ROW) {
                const char *p = (const char *)sqlite3_column_text(st, 0);
                const char *s = (const char *)sqlite3_column_text(st, 1);
                if (!strcmp(p, "telegram") && !out->telegram_chat_id)
                    out->telegram_chat_id = strtoll(s, NULL, 10);
                else if (!strcmp(p, "whatsapp") && !out->whatsapp_id[0] &&
                         (!strncmp(s, "p:", 2) || !strncmp(s, "u:", 2)))
                    snprintf(out->whatsapp_id, sizeof out->whatsapp_id, "%s", s + 2);
                else if (!strcmp(p, "wechat") && !out->wechat_openid[0])
                    snprintf(out->wechat_openid, sizeof out->wechat_openid, "%s", s);
            }
            idn_done(d, st);
        }
    }
    pthread_mutex_unlock(&d->mu);
    return rc == 0 ? 0 : -1;
}

int idn_notify_contact(void *ctx, int64_t user_id, struct notify_contact *out)
{
    idn_contact c;
    memset(out, 0, sizeof *out);
    if (idn_user_contact(ctx, user_id, &c) < 0)
        return -1;
    out->telegram_chat_id = c.telegram_chat_id;
    snprintf(out->whatsapp_id, sizeof out->whatsapp_id, "%s", c.whatsapp_id);
    snprintf(out->email, sizeof out->email, "%s", c.email);
    snprintf(out->lang, sizeof out->lang, "%s", c.lang);
    snprintf(out->first_name, sizeof out->first_name, "%.63s", c.name);
    return 0;
}

int idn_legacy_account(idn *d, int64_t user_id, int64_t *legacy_id)
{
    pthread_mutex_lock(&d->mu);
    sqlite3_stmt *st = idn_prep(d, "SELECT legacy_id FROM identity_legacy WHERE user_id = ?");
    int rc = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, user_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *legacy_id = sqlite3_column_int64(st, 0);
            rc = 0;
        }
        idn_done(d, st);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* ---- support tool: fitgate-core initdata verify ---- */

static int cli_usage(void)
{
    fputs("usage: fitgate-core initdata verify --bot-token TOKEN [--max-age S] [--now UNIX] "
          "INITDATA\n"
          "       fitgate-core initdata verify --bot-id ID --public-key HEX|production|test "
          "[--max-age S] [--now UNIX] INITDATA\n"
          "Prints {\"valid\":..,\"reason\":..,\"user_id\":..}; exit 0 valid, 1 not, 2 usage.\n"
          "The bot token may also come from the FITGATE_BOT_TOKEN environment variable.\n",
          stderr);
    return 2;
}

int idn_cli_initdata(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify"))
        return cli_usage();
    const char *token = getenv("FITGATE_BOT_TOKEN"), *pk_text = NULL, *data = NULL;
    long long bot_id = 0, max_age = 86400, now = (long long)(idn_now_ms() / 1000);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bot-token") && v)
            token = argv[++i];
        else if (!strcmp(a, "--bot-id") && v)
            bot_id = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(a, "--public-key") && v)
            pk_text = argv[++i];
        else if (!strcmp(a, "--max-age") && v)
            max_age = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(a, "--now") && v)
            now = strtoll(argv[++i], NULL, 10);
        else if (a[0] != '-' && !data)
            data = a;
        else
            return cli_usage();
    }
    if (!data || (!pk_text && (!token || !*token)) || crypto_init() < 0)
        return cli_usage();
    tg_status st;
    tg_user user = {0};
    if (pk_text) {
        uint8_t pk[32];
        if (!strcmp(pk_text, "production"))
            memcpy(pk, tg_pubkey_production, 32);
        else if (!strcmp(pk_text, "test"))
            memcpy(pk, tg_pubkey_test, 32);
        else if (crypto_hex_decode(pk_text, strlen(pk_text), pk, 32) < 0)
            return cli_usage();
        if (bot_id <= 0)
            return cli_usage();
        tg_initdata d;
        st = tg_parse(data, strlen(data), &d);
        if (st == TG_OK)
            st = tg_verify_signature(&d, bot_id, pk);
        if (st == TG_OK)
            st = tg_check_auth_date(&d, now, max_age, NULL);
        if (st == TG_OK)
            st = tg_user_parse(&d, &user);
        tg_initdata_free(&d);
    } else {
        tg_auth auth;
        st = tg_validate(data, strlen(data), token, now, max_age, &auth);
        if (st == TG_OK)
            user = auth.user;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "valid", st == TG_OK);
    cJSON_AddStringToObject(o, "reason", tg_status_str(st));
    if (st == TG_OK)
        cJSON_AddNumberToObject(o, "user_id", (double)user.id);
    cJSON_AddStringToObject(o, "check", pk_text ? "ed25519" : "hmac");
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        puts(s);
    free(s);
    cJSON_Delete(o);
    return st == TG_OK ? 0 : 1;
}

/* ---- operator tool: fitgate-core identity rotate-keys | token ---- */

int idn_cli(int argc, char **argv)
{
    const char *data_dir = "data", *sub = NULL, *cmd = argc > 1 ? argv[1] : "";
    long long ttl = 3600;
    int admin = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--data_dir=", 11) || !strncmp(a, "--data-dir=", 11))
            data_dir = a + 11;
        else if (!strncmp(a, "--ttl=", 6))
            ttl = strtoll(a + 6, NULL, 10);
        else if (!strcmp(a, "--admin"))
            admin = 1;
        else if (a[0] != '-' && !sub)
            sub = a;
        else
            cmd = "";
    }
    if (strcmp(cmd, "rotate-keys") && (strcmp(cmd, "token") || !sub || !jwt_kid_ok(sub))) {
        fputs("usage: fitgate-core identity rotate-keys [--data_dir=DIR]\n"
              "       fitgate-core identity token SERVICE [--ttl=S] [--admin] [--data_dir=DIR]\n"
              "rotate-keys: a new token signing key (the running core picks it up; old keys\n"
              "keep verifying). token: an internal (or --admin operator) access token.\n",
              stderr);
        return 2;
    }
    char db[1100];
    snprintf(db, sizeof db, "%s/core.db", data_dir);
    idn_config c = {.db_path = db, .data_dir = data_dir};
    idn *d = NULL;
    if (idn_new(&d, &c) < 0)
        return 1;
    int rc;
    if (!strcmp(cmd, "rotate-keys")) {
        rc = idn_rotate_keys(d);
        if (rc == 0)
            printf("{\"kid\":\"%s\"}\n", d->keys[0].kid);
    } else {
        char *tok = NULL;
        rc = admin ? idn_issue_admin(d, sub, ttl, &tok) : idn_issue_internal(d, sub, ttl, &tok);
        if (rc == 0)
            puts(tok);
        free(tok);
    }
    idn_free(d);
    return rc == 0 ? 0 : 1;
}
