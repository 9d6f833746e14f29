/* legacy.h - the legacy shop's accounts and orders, read-only.
 *
 * The old shopping app keeps its customers (login + crypt(3) password hash:
 * "$2b$" bcrypt or "$6$" sha512-crypt) and its orders in its own database.
 * fitgate only reads it: to check a login + password when a user links the
 * old account (identity owns that link) and to list that account's orders
 * next to the new ones, mapped to the same display states as the shop's.
 *
 * The store is an SQLite file (the dev/test one is built by
 * cloud/legacy/devdb/make-devdb.sh). It is opened read-only (SQLITE_OPEN_READONLY,
 * "mode=ro" URI, PRAGMA query_only): no code path here can write to it.
 *
 * Thread-safe: one handle may be shared by the API's threads (calls are
 * serialised by an internal mutex; password hashing runs outside it).
 * Errors are values: LEGACY_OK, LEGACY_NOT_FOUND (also: wrong password),
 * LEGACY_ERR (store unavailable or corrupt; logged).
 */
#ifndef FITGATE_LEGACY_H
#define FITGATE_LEGACY_H

#include <stddef.h>
#include <stdint.h>

typedef struct legacy legacy;

typedef enum legacy_status {
    LEGACY_OK = 0,
    LEGACY_NOT_FOUND = 1, /* unknown login, wrong password, no such order */
    LEGACY_ERR = -1,
} legacy_status;

/* Open the legacy store: a file path, or an SQLite "file:" URI. The schema is
 * checked (customers, orders, order_lines). *out is freed with legacy_close. */
legacy_status legacy_open(legacy **out, const char *db_path_or_url);
void legacy_close(legacy *l);

/* Check login (e-mail, case-insensitive, or phone as stored) + password.
 * LEGACY_OK and *legacy_user_id set when they match; LEGACY_NOT_FOUND for an
 * unknown login or a wrong password alike: an unknown login still costs one
 * hash of the same kind (no user enumeration by timing). A stored hash of an
 * unsupported kind never matches. */
legacy_status legacy_verify_login(legacy *l, const char *login, const char *password,
                                  int64_t *legacy_user_id);

/* The account's display name (full name, else the login) into buf. */
legacy_status legacy_account_name(legacy *l, int64_t legacy_user_id, char *buf, size_t cap);

/* One line of a legacy order. */
typedef struct legacy_order_line {
    const char *sku;
    const char *title;
    int64_t qty;
    int64_t price_minor; /* unit price in minor units (kopecks) */
} legacy_order_line;

/* A legacy order, as the callback sees it. Everything points into the
 * adapter's buffers and is valid only during the callback. */
typedef struct legacy_order {
    int64_t id;                /* the legacy order id */
    const char *number;        /* the order number printed for the customer */
    const char *legacy_status; /* the legacy system's own status name */
    const char *state;         /* display state: see legacy_map_status */
    int64_t total_minor;
    const char *currency; /* ISO 4217, "RUB" */
    int64_t created_ms;   /* Unix ms */
    int64_t updated_ms;
    size_t n_lines;
    const legacy_order_line *lines;
} legacy_order;

/* Return 0 to go on, non-zero to stop the listing (then returned as is). */
typedef int (*legacy_order_fn)(void *ctx, const legacy_order *o);

/* Call fn for each order of the account, newest first (at most limit; 0 = no
 * limit). LEGACY_OK (also for none), LEGACY_ERR; a non-zero callback result
 * stops the walk and is returned. */
int legacy_list_orders(legacy *l, int64_t legacy_user_id, size_t limit, legacy_order_fn fn,
                       void *ctx);

/* One order of the account (LEGACY_NOT_FOUND when it is not theirs). */
int legacy_get_order(legacy *l, int64_t legacy_user_id, int64_t order_id, legacy_order_fn fn,
                     void *ctx);

/* Map a legacy status name to our display state: pending_payment, paid,
 * processing, shipped, delivered, completed, cancelled, refunded; "unknown"
 * for a name the mapping does not know (counted). Never NULL. */
const char *legacy_map_status(const char *legacy_status);

#endif
