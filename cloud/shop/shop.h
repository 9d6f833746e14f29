/* shop.h - catalogue, carts, orders and payments (libfitshop).
 *
 * Tables (prefix shop_) live in the core's SQLite file; every state change of
 * an order writes a history row and, for user-visible changes, an event on
 * EVT_TOPIC_ORDERS through the outbox in the same transaction. docs/shop.md
 * describes the states, the idempotency rules, the providers and the HTTP API.
 *
 * Threads: the HTTP handlers run on the api's threads, the sweeper (payment
 * timeouts, recovery after a crash) on a thread of its own; one handle
 * serialises its SQLite use with a mutex and never holds it across a call to
 * a payment provider. Several handles (processes) on one file are safe:
 * stock is reserved with a conditional UPDATE inside BEGIN IMMEDIATE.
 */
#ifndef FITGATE_SHOP_H
#define FITGATE_SHOP_H

#include <stddef.h>
#include <stdint.h>

#include "api_route.h"
#include "legacy.h"
#include "pay.h"

typedef struct shop shop;

/* Settings, as read from the shop's config file (key=value, see
 * docs/shop.md). Secrets come from *_file keys or the environment. */
typedef struct shop_settings {
    char legacy_db[1024];        /* legacy shop store (read-only); empty = none */
    char catalogue_file[1024];   /* JSON catalogue imported at start; empty = none */
    int64_t payment_timeout_s;   /* pending_payment -> cancelled after (900) */
    int64_t idempotency_ttl_s;   /* kept at least (86400) */
    int64_t stepup_amount_minor; /* above: second factor required (0 = never) */
    int64_t stepup_max_age_s;    /* how recent the second factor must be (600) */
    int64_t provider_timeout_ms; /* per provider call (10000) */
    int64_t sweep_interval_ms;   /* sweeper period (1000) */
    int64_t dev_legacy_link;     /* dev/test only: POST /api/v1/shop/dev/legacy-link */
    char yk_base_url[512], yk_shop_id[64], yk_return_url[512];
    char yk_notify_ips[1024]; /* CIDR list; default PAY_YK_NOTIFY_IPS */
    char yk_secret[256];      /* from yookassa_secret_file / FITGATE_YOOKASSA_SECRET */
    char tg_base_url[512];
    char tg_bot_token[256];      /* from the core (bot token) */
    char tg_provider_token[256]; /* telegram_provider_token_file / env */
    char tg_webhook_secret[256]; /* telegram_webhook_secret_file / env */
} shop_settings;

/* Defaults, then the file (may be NULL), then secrets from the environment
 * (FITGATE_YOOKASSA_SECRET, FITGATE_TG_PROVIDER_TOKEN,
 * FITGATE_TG_WEBHOOK_SECRET) where the file named none. 0 or -1 (logged). */
int shop_settings_load(shop_settings *s, const char *file);

/* Open the shop on the core's SQLite file (creates its tables, imports the
 * catalogue, sets up the configured providers). The sweeper thread starts
 * only with sweeper != 0. *out freed with shop_free. 0 or -1 (logged). */
int shop_new(shop **out, const shop_settings *s, const char *db_path, int sweeper);
void shop_free(shop *sh);

/* The HTTP routes (api_route.h), ctx = the shop. */
extern const api_route shop_routes[];
extern const size_t shop_nroutes;

/* ---- hooks other modules provide (core main wires them) ---- */

/* The legacy account linked to our user (identity owns the link): 0 and
 * *legacy_id when linked, 1 when not, -1 on error. */
typedef int (*shop_legacy_link_fn)(void *ctx, int64_t user_id, int64_t *legacy_id);
void shop_set_legacy_link(shop *sh, shop_legacy_link_fn fn, void *ctx);

/* Step-up: may this caller pay amount_minor now? 1 yes, 0 second factor
 * needed. Default: the principal proved a second factor within
 * stepup_max_age_s (api_principal.mfa_ms). */
typedef int (*shop_stepup_fn)(void *ctx, const api_principal *who, int64_t amount_minor);
void shop_set_stepup(shop *sh, shop_stepup_fn fn, void *ctx);

/* Replace or add a provider (tests use a fake). The shop owns p's impl from
 * here on. 0 or -1. */
int shop_set_provider(shop *sh, const pay_provider *p);

/* ---- the operations behind the routes (also for the CLI and tests) ---- */

/* Checkout with an idempotency key: *status and *response (malloc'd JSON)
 * as the HTTP reply, *replayed = 1 when it is a stored reply; see
 * docs/shop.md for the codes. 0, or -1 when nothing could be answered. */
int shop_checkout(shop *sh, const api_principal *who, const char *idem_key, const char *body,
                  size_t len, unsigned *status, char **response, int *replayed);

/* An operator or the user moves an order: action is one of "cancel",
 * "process", "ship", "deliver", "complete", "refund". user_id > 0 limits it
 * to that user's order (and to "cancel"). 0 done; 1 not allowed in the
 * current state; 2 no such order; -1 error. */
int shop_order_action(shop *sh, int64_t order_id, int64_t user_id, const char *action,
                      const char *actor);

/* The order as JSON (malloc'd) or NULL. user_id > 0 limits to that user. */
char *shop_order_json(shop *sh, int64_t order_id, int64_t user_id);

/* One sweep: cancel timed-out orders (after re-fetching their payment),
 * finish checkouts a crash interrupted, drop expired idempotency keys.
 * Returns the number of orders changed. */
int shop_sweep(shop *sh, int64_t now_ms);

/* Operator CLI: fitgate-core shop --config FILE ACTION ORDER_ID (see docs). */
int shop_cli_main(int argc, char **argv);

#endif
