/* shop.c - the shop's life cycle, settings, hooks, sweeper, order actions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "fitcommon/cfg.h"
#include "fitcommon/log.h"
#include "outbox.h"
#include "shop_int.h"

shop_metrics shop_m;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_register(void)
{
    static const struct {
        metric *m;
        const char *name, *help;
    } all[] = {
        {&shop_m.checkouts, "fitgate_shop_checkouts_total", "Orders placed"},
        {&shop_m.replays, "fitgate_shop_idempotent_replays_total", "Checkout replies replayed"},
        {&shop_m.conflicts, "fitgate_shop_idempotency_conflicts_total",
         "Checkouts refused: same key still running (409)"},
        {&shop_m.mismatches, "fitgate_shop_idempotency_mismatches_total",
         "Checkouts refused: same key, other body (422)"},
        {&shop_m.out_of_stock, "fitgate_shop_out_of_stock_total", "Checkouts refused: stock"},
        {&shop_m.paid, "fitgate_shop_orders_paid_total", "Orders paid"},
        {&shop_m.cancelled, "fitgate_shop_orders_cancelled_total", "Orders cancelled"},
        {&shop_m.notes_refused, "fitgate_shop_notifications_refused_total",
         "Provider notifications refused (address, secret)"},
        {&shop_m.notes_bad, "fitgate_shop_notifications_bad_total",
         "Provider notifications or payments that could not be used"},
        {&shop_m.provider_errors, "fitgate_shop_provider_errors_total",
         "Payment provider calls that failed or timed out"},
        {&shop_m.bad_input, "fitgate_shop_bad_input_total", "Malformed shop requests"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        metric_register(all[i].m, all[i].name, "counter", all[i].help, NULL);
}

void shop_metrics_init(void)
{
    pthread_once(&metrics_once, metrics_register);
}

/* ---- settings ---- */

static int read_secret(const char *path, char *dst, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(dst, (int)cap, f)) {
        if (f)
            fclose(f);
        log_error("config_invalid", "cannot read a shop secret file", "path", path);
        return -1;
    }
    fclose(f);
    dst[strcspn(dst, "\r\n")] = '\0';
    return 0;
}

static int setting(void *ctx, const char *k, const char *v)
{
    shop_settings *s = ctx;
    struct {
        const char *key;
        char *dst;
        size_t cap;
    } strs[] = {
        {"legacy_db", s->legacy_db, sizeof s->legacy_db},
        {"catalogue_file", s->catalogue_file, sizeof s->catalogue_file},
        {"yookassa_url", s->yk_base_url, sizeof s->yk_base_url},
        {"yookassa_shop_id", s->yk_shop_id, sizeof s->yk_shop_id},
        {"yookassa_return_url", s->yk_return_url, sizeof s->yk_return_url},
        {"yookassa_notify_ips", s->yk_notify_ips, sizeof s->yk_notify_ips},
        {"telegram_api_url", s->tg_base_url, sizeof s->tg_base_url},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!strcmp(k, strs[i].key))
            return (size_t)snprintf(strs[i].dst, strs[i].cap, "%s", v) < strs[i].cap ? 0 : -1;
    if (!strcmp(k, "yookassa_secret_file"))
        return read_secret(v, s->yk_secret, sizeof s->yk_secret);
    if (!strcmp(k, "telegram_provider_token_file"))
        return read_secret(v, s->tg_provider_token, sizeof s->tg_provider_token);
    if (!strcmp(k, "telegram_webhook_secret_file"))
        return read_secret(v, s->tg_webhook_secret, sizeof s->tg_webhook_secret);
    struct {
        const char *key;
        int64_t *dst, min, max;
    } ints[] = {
        {"payment_timeout_s", &s->payment_timeout_s, 1, 7 * 86400},
        {"idempotency_ttl_s", &s->idempotency_ttl_s, 86400, 30 * 86400},
        {"stepup_amount_minor", &s->stepup_amount_minor, 0, INT64_MAX / 2},
        {"stepup_max_age_s", &s->stepup_max_age_s, 1, 86400},
        {"provider_timeout_ms", &s->provider_timeout_ms, 100, 60000},
        {"sweep_interval_ms", &s->sweep_interval_ms, 50, 60000},
        {"dev_legacy_link", &s->dev_legacy_link, 0, 1},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(k, ints[i].key))
            return cfg_parse_int(v, ints[i].min, ints[i].max, ints[i].dst);
    return -1;
}

int shop_settings_load(shop_settings *s, const char *file)
{
    memset(s, 0, sizeof *s);
    s->payment_timeout_s = 900;
    s->idempotency_ttl_s = 86400;
    s->stepup_max_age_s = 600;
    s->provider_timeout_ms = 10000;
    s->sweep_interval_ms = 1000;
    snprintf(s->yk_base_url, sizeof s->yk_base_url, "https://api.yookassa.ru");
    snprintf(s->yk_notify_ips, sizeof s->yk_notify_ips, "%s", PAY_YK_NOTIFY_IPS);
    snprintf(s->tg_base_url, sizeof s->tg_base_url, "https://api.telegram.org");
    if (file && file[0] && cfg_load_file(file, setting, s) < 0)
        return -1;
    struct {
        const char *env;
        char *dst;
        size_t cap;
    } envs[] = {
        {"FITGATE_YOOKASSA_SECRET", s->yk_secret, sizeof s->yk_secret},
        {"FITGATE_TG_PROVIDER_TOKEN", s->tg_provider_token, sizeof s->tg_provider_token},
        {"FITGATE_TG_WEBHOOK_SECRET", s->tg_webhook_secret, sizeof s->tg_webhook_secret},
    };
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i].env);
        if (!envs[i].dst[0] && v)
            snprintf(envs[i].dst, envs[i].cap, "%s", v);
    }
    return 0;
}

/* ---- statements ---- */

int shop_prep(shop *sh, const char *sql, int n, sqlite3_stmt **st, const char **tail)
{
    (void)n, (void)tail;
    for (size_t i = 0; i < sh->nstmts; i++)
        if (sh->stmts[i].sql == sql) {
            *st = sh->stmts[i].st;
            sqlite3_reset(*st);
            sqlite3_clear_bindings(*st);
            return SQLITE_OK;
        }
    int rc = sqlite3_prepare_v3(sh->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK) {
        log_error("shop_db", "cannot prepare a statement", "error", sqlite3_errmsg(sh->db));
        return rc;
    }
    if (sh->nstmts < SHOP_STMTS_MAX) {
        sh->stmts[sh->nstmts].sql = sql;
        sh->stmts[sh->nstmts++].st = *st;
    } else {
        log_error("shop_db", "statement cache full (raise SHOP_STMTS_MAX)");
        sqlite3_finalize(*st);
        *st = NULL;
        return SQLITE_NOMEM;
    }
    return SQLITE_OK;
}

void shop_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* ---- hooks ---- */

/* Default step-up: a second factor proven in this sign-in recently enough. */
static int default_stepup(void *ctx, const api_principal *who, int64_t amount)
{
    shop *sh = ctx;
    if (!sh->cfg.stepup_amount_minor || amount <= sh->cfg.stepup_amount_minor)
        return 1;
    return who->mfa_ms > 0 && shop_now_ms() - who->mfa_ms <= sh->cfg.stepup_max_age_s * 1000;
}

void shop_set_legacy_link(shop *sh, shop_legacy_link_fn fn, void *ctx)
{
    sh->legacy_link = fn;
    sh->legacy_link_ctx = ctx;
}

void shop_set_stepup(shop *sh, shop_stepup_fn fn, void *ctx)
{
    sh->stepup = fn ? fn : default_stepup;
    sh->stepup_ctx = fn ? ctx : sh;
}

int shop_set_provider(shop *sh, const pay_provider *p)
{
    for (size_t i = 0; i < sh->nproviders; i++)
        if (!strcmp(sh->providers[i].name, p->name)) {
            if (sh->providers[i].free)
                sh->providers[i].free(sh->providers[i].impl);
            sh->providers[i] = *p;
            return 0;
        }
    if (sh->nproviders == SHOP_PROVIDERS_MAX)
        return -1;
    sh->providers[sh->nproviders++] = *p;
    return 0;
}

/* ---- sweeper ---- */

static void *sweeper_main(void *arg)
{
    shop *sh = arg;
    pthread_mutex_lock(&sh->stop_mu);
    while (!sh->stopping) {
        pthread_mutex_unlock(&sh->stop_mu);
        shop_sweep(sh, shop_now_ms());
        pthread_mutex_lock(&sh->stop_mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (sh->cfg.sweep_interval_ms % 1000) * 1000000;
        ts.tv_sec += sh->cfg.sweep_interval_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        if (!sh->stopping)
            pthread_cond_timedwait(&sh->stop_cv, &sh->stop_mu, &ts);
    }
    pthread_mutex_unlock(&sh->stop_mu);
    return NULL;
}

/* ---- life cycle ---- */

static int setup_providers(shop *sh)
{
    const shop_settings *c = &sh->cfg;
    pay_provider p;
    if (c->yk_shop_id[0] && c->yk_secret[0]) {
        pay_yookassa_config yc = {.base_url = c->yk_base_url,
                                  .shop_id = c->yk_shop_id,
                                  .secret = c->yk_secret,
                                  .return_url = c->yk_return_url,
                                  .timeout_ms = (long)c->provider_timeout_ms};
        if (pay_yookassa_new(&p, &yc) < 0 || shop_set_provider(sh, &p) < 0)
            return -1;
    }
    if (c->tg_bot_token[0] && c->tg_provider_token[0]) {
        pay_telegram_config tc = {.base_url = c->tg_base_url,
                                  .bot_token = c->tg_bot_token,
                                  .provider_token = c->tg_provider_token,
                                  .timeout_ms = (long)c->provider_timeout_ms};
        if (pay_telegram_new(&p, &tc) < 0 || shop_set_provider(sh, &p) < 0)
            return -1;
    }
    return 0;
}

int shop_new(shop **out, const shop_settings *s, const char *db_path, int sweeper)
{
    shop_metrics_init();
    *out = NULL;
    if (crypto_init() < 0)
        return -1;
    shop *sh = calloc(1, sizeof *sh);
    if (!sh)
        return -1;
    sh->cfg = *s;
    pthread_mutex_init(&sh->mu, NULL);
    pthread_mutex_init(&sh->stop_mu, NULL);
    pthread_cond_init(&sh->stop_cv, NULL);
    crypto_random(&sh->boot_id, sizeof sh->boot_id);
    sh->boot_id &= INT64_MAX;
    shop_set_stepup(sh, NULL, NULL);
    if (sqlite3_open_v2(db_path, &sh->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        log_error("shop_open_failed", "cannot open the core database", "path", db_path);
        goto fail;
    }
    sqlite3_busy_timeout(sh->db, 5000);
    sqlite3_exec(sh->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL,
                 NULL);
    if (shop_db_schema(sh->db) < 0 || outbox_init(sh->db) < 0)
        goto fail;
    if (s->catalogue_file[0] && shop_catalogue_import(sh, s->catalogue_file) < 0)
        goto fail;
    if (s->legacy_db[0] && legacy_open(&sh->legacy, s->legacy_db) != LEGACY_OK)
        goto fail;
    if (setup_providers(sh) < 0)
        goto fail;
    if (sweeper) {
        if (pthread_create(&sh->sweeper, NULL, sweeper_main, sh) != 0)
            goto fail;
        sh->sweeper_on = 1;
    }
    *out = sh;
    return 0;
fail:
    shop_free(sh);
    return -1;
}

void shop_free(shop *sh)
{
    if (!sh)
        return;
    if (sh->sweeper_on) {
        pthread_mutex_lock(&sh->stop_mu);
        sh->stopping = 1;
        pthread_cond_signal(&sh->stop_cv);
        pthread_mutex_unlock(&sh->stop_mu);
        pthread_join(sh->sweeper, NULL);
    }
    for (size_t i = 0; i < sh->nproviders; i++)
        if (sh->providers[i].free)
            sh->providers[i].free(sh->providers[i].impl);
    legacy_close(sh->legacy);
    for (size_t i = 0; i < sh->nstmts; i++)
        sqlite3_finalize(sh->stmts[i].st);
    sqlite3_close(sh->db);
    pthread_mutex_destroy(&sh->mu);
    pthread_mutex_destroy(&sh->stop_mu);
    pthread_cond_destroy(&sh->stop_cv);
    explicit_bzero(&sh->cfg, sizeof sh->cfg);
    free(sh);
}

/* ---- order actions ---- */

char *shop_order_json(shop *sh, int64_t order_id, int64_t user_id)
{
    pthread_mutex_lock(&sh->mu);
    cJSON *o = shop_order_build(sh, order_id, user_id);
    pthread_mutex_unlock(&sh->mu);
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

int shop_order_action(shop *sh, int64_t order_id, int64_t user_id, const char *action,
                      const char *actor)
{
    if (user_id > 0) {
        char *j = shop_order_json(sh, order_id, user_id);
        if (!j)
            return 2;
        free(j);
        if (strcmp(action, "cancel"))
            return 1;
    }
    if (!strcmp(action, "refund"))
        return shop_refund(sh, order_id, actor);
    static const struct {
        const char *action, *to;
    } map[] = {{"cancel", ST_CANCELLED},
               {"process", ST_PROCESSING},
               {"ship", ST_SHIPPED},
               {"deliver", ST_DELIVERED},
               {"complete", ST_COMPLETED}};
    const char *to = NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(action, map[i].action))
            to = map[i].to;
    if (!to)
        return 1;
    pthread_mutex_lock(&sh->mu);
    int rc = shop_begin(sh->db);
    if (rc == 0) {
        char cur[32];
        rc = shop_order_state(sh, order_id, cur, sizeof cur);
        /* Shipping a paid order passes through processing (two history rows). */
        if (rc == 0 && !strcmp(to, ST_SHIPPED) && !strcmp(cur, ST_PAID))
            rc = shop_transition(sh, order_id, ST_PROCESSING, "ship", actor);
        if (rc == 0)
            rc = shop_transition(sh, order_id, to, !strcmp(action, "cancel") ? "user" : action,
                                 actor);
    }
    if (rc == 0)
        rc = shop_commit(sh->db);
    else
        shop_rollback(sh->db);
    pthread_mutex_unlock(&sh->mu);
    return rc;
}
