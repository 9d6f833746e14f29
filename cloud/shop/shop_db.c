/* shop_db.c - the shop's tables, the catalogue and carts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fitcommon/log.h"
#include "shop_int.h"

#define CART_ITEMS_MAX 50
#define QTY_MAX        99

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS shop_products ("
    " id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, title TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE IF NOT EXISTS shop_variants ("
    " sku TEXT PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES shop_products(id),"
    " title TEXT NOT NULL, price_minor INTEGER NOT NULL CHECK (price_minor > 0),"
    " currency TEXT NOT NULL, stock INTEGER NOT NULL CHECK (stock >= 0));"
    "CREATE TABLE IF NOT EXISTS shop_cart ("
    " user_id INTEGER NOT NULL, sku TEXT NOT NULL, qty INTEGER NOT NULL CHECK (qty > 0),"
    " PRIMARY KEY (user_id, sku));"
    "CREATE TABLE IF NOT EXISTS shop_orders ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, state TEXT NOT NULL,"
    " total_minor INTEGER NOT NULL, currency TEXT NOT NULL, provider TEXT NOT NULL,"
    " payment_id TEXT, payment_url TEXT, payment_state TEXT NOT NULL DEFAULT 'none',"
    " refund_id TEXT, stock_released INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS shop_orders_user ON shop_orders (user_id, id);"
    "CREATE INDEX IF NOT EXISTS shop_orders_state ON shop_orders (state, expires_ms);"
    "CREATE UNIQUE INDEX IF NOT EXISTS shop_orders_payment ON shop_orders (provider, payment_id);"
    "CREATE TABLE IF NOT EXISTS shop_order_lines ("
    " order_id INTEGER NOT NULL REFERENCES shop_orders(id), sku TEXT NOT NULL,"
    " title TEXT NOT NULL, qty INTEGER NOT NULL, price_minor INTEGER NOT NULL,"
    " PRIMARY KEY (order_id, sku));"
    "CREATE TABLE IF NOT EXISTS shop_order_history ("
    " id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, from_state TEXT,"
    " to_state TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL, at_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS shop_order_history_order ON shop_order_history (order_id, id);"
    "CREATE TABLE IF NOT EXISTS shop_idempotency ("
    " user_id INTEGER NOT NULL, key TEXT NOT NULL, body_hash BLOB NOT NULL,"
    " state TEXT NOT NULL, owner INTEGER NOT NULL, lease_ms INTEGER NOT NULL,"
    " order_id INTEGER, status INTEGER, response TEXT, created_ms INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, key));"
    "CREATE TABLE IF NOT EXISTS shop_tg_updates (update_id INTEGER PRIMARY KEY,"
    " at_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS shop_dev_legacy_links (user_id INTEGER PRIMARY KEY,"
    " legacy_id INTEGER NOT NULL);";

int shop_db_schema(sqlite3 *db)
{
    char *err = NULL;
    if (sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK) {
        log_error("shop_schema", "cannot create the shop tables", "error", err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int shop_begin(sqlite3 *db)
{
    /* busy_timeout covers most waits; BEGIN IMMEDIATE itself can still
     * return BUSY under contention from other connections. */
    for (int i = 0; i < 200; i++) {
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            break;
        usleep(5000);
    }
    log_error("shop_db", "cannot begin a transaction", "error", sqlite3_errmsg(db));
    return -1;
}

int shop_commit(sqlite3 *db)
{
    for (int i = 0; i < 200; i++) {
        int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        if (rc != SQLITE_BUSY)
            break;
        usleep(5000);
    }
    log_error("shop_db", "commit failed", "error", sqlite3_errmsg(db));
    shop_rollback(db);
    return -1;
}

void shop_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int str_ok(const cJSON *v, size_t max)
{
    return cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) <= max;
}

/* One variant of a product: upsert, keeping stock when the SKU exists (the
 * file seeds stock; sales change it). */
static int import_variant(sqlite3 *db, int64_t pid, const cJSON *v)
{
    const cJSON *sku = cJSON_GetObjectItemCaseSensitive(v, "sku");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(v, "title");
    const cJSON *price = cJSON_GetObjectItemCaseSensitive(v, "price_minor");
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(v, "currency");
    const cJSON *stock = cJSON_GetObjectItemCaseSensitive(v, "stock");
    if (!str_ok(sku, 64) || !str_ok(title, 200) || !cJSON_IsNumber(price) ||
        price->valuedouble < 1 || !str_ok(cur, 3) || strlen(cur->valuestring) != 3 ||
        !cJSON_IsNumber(stock) || stock->valuedouble < 0)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO shop_variants (sku, product_id, title, price_minor, "
                           "currency, stock) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sku) DO "
                           "UPDATE SET product_id = excluded.product_id, title = excluded.title, "
                           "price_minor = excluded.price_minor, currency = excluded.currency",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, sku->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, pid);
    sqlite3_bind_text(st, 3, title->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)price->valuedouble);
    sqlite3_bind_text(st, 5, cur->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)stock->valuedouble);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static int import_product(sqlite3 *db, const cJSON *p)
{
    const cJSON *slug = cJSON_GetObjectItemCaseSensitive(p, "slug");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(p, "title");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(p, "description");
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(p, "variants");
    if (!str_ok(slug, 64) || !str_ok(title, 200) || !cJSON_IsArray(vars))
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO shop_products (slug, title, description) VALUES (?, ?, ?) "
                           "ON CONFLICT (slug) DO UPDATE SET title = excluded.title, "
                           "description = excluded.description RETURNING id",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, slug->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, title->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, cJSON_IsString(desc) ? desc->valuestring : "", -1, SQLITE_STATIC);
    int64_t pid = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (!pid)
        return -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, vars) if (import_variant(db, pid, v) < 0) return -1;
    return 0;
}

int shop_catalogue_import(shop *sh, const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        log_error("shop_catalogue", "cannot open the catalogue file", "path", file);
        return -1;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf)
        return -1;
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    const cJSON *products = cJSON_GetObjectItemCaseSensitive(j, "products");
    int rc = -1;
    if (!cJSON_IsArray(products)) {
        log_error("shop_catalogue", "catalogue file: no products array", "path", file);
        goto done;
    }
    pthread_mutex_lock(&sh->mu);
    if (shop_begin(sh->db) == 0) {
        rc = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, products) if (import_product(sh->db, p) < 0) rc = -1;
        if (rc == 0)
            rc = shop_commit(sh->db);
        else
            shop_rollback(sh->db);
    }
    pthread_mutex_unlock(&sh->mu);
    if (rc < 0)
        log_error("shop_catalogue", "catalogue import failed (bad product or variant)", "path",
                  file);
done:
    cJSON_Delete(j);
    return rc;
}

static void add_price(cJSON *o, const char *key, int64_t minor)
{
    char buf[32];
    pay_amount_format(minor, buf, sizeof buf);
    cJSON_AddStringToObject(o, key, buf);
}

char *shop_products_json(shop *sh)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "products");
    sqlite3_stmt *st;
    pthread_mutex_lock(&sh->mu);
    int ok = shop_prep(sh,
                       "SELECT p.id, p.slug, p.title, p.description, v.sku, v.title, "
                       "v.price_minor, v.currency, v.stock FROM shop_products p "
                       "JOIN shop_variants v ON v.product_id = p.id WHERE p.active "
                       "ORDER BY p.id, v.sku",
                       -1, &st, NULL) == SQLITE_OK;
    cJSON *prod = NULL, *vars = NULL;
    int64_t last = 0;
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        int64_t pid = sqlite3_column_int64(st, 0);
        if (pid != last) {
            prod = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, prod);
            cJSON_AddNumberToObject(prod, "id", (double)pid);
            cJSON_AddStringToObject(prod, "slug", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddStringToObject(prod, "title", (const char *)sqlite3_column_text(st, 2));
            cJSON_AddStringToObject(prod, "description", (const char *)sqlite3_column_text(st, 3));
            vars = cJSON_AddArrayToObject(prod, "variants");
            last = pid;
        }
        cJSON *v = cJSON_CreateObject();
        cJSON_AddItemToArray(vars, v);
        cJSON_AddStringToObject(v, "sku", (const char *)sqlite3_column_text(st, 4));
        cJSON_AddStringToObject(v, "title", (const char *)sqlite3_column_text(st, 5));
        cJSON_AddNumberToObject(v, "price_minor", (double)sqlite3_column_int64(st, 6));
        add_price(v, "price", sqlite3_column_int64(st, 6));
        cJSON_AddStringToObject(v, "currency", (const char *)sqlite3_column_text(st, 7));
        cJSON_AddNumberToObject(v, "stock", (double)sqlite3_column_int64(st, 8));
    }
    if (ok)
        shop_done(st);
    pthread_mutex_unlock(&sh->mu);
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

char *shop_cart_json(shop *sh, int64_t user_id)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "items");
    sqlite3_stmt *st;
    int64_t total = 0;
    char currency[8] = "";
    pthread_mutex_lock(&sh->mu);
    int ok = shop_prep(sh,
                       "SELECT c.sku, v.title, c.qty, v.price_minor, v.currency, v.stock "
                       "FROM shop_cart c JOIN shop_variants v ON v.sku = c.sku "
                       "WHERE c.user_id = ? ORDER BY c.sku",
                       -1, &st, NULL) == SQLITE_OK;
    if (ok)
        sqlite3_bind_int64(st, 1, user_id);
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, it);
        int64_t qty = sqlite3_column_int64(st, 2), price = sqlite3_column_int64(st, 3);
        cJSON_AddStringToObject(it, "sku", (const char *)sqlite3_column_text(st, 0));
        cJSON_AddStringToObject(it, "title", (const char *)sqlite3_column_text(st, 1));
        cJSON_AddNumberToObject(it, "qty", (double)qty);
        cJSON_AddNumberToObject(it, "price_minor", (double)price);
        cJSON_AddNumberToObject(it, "line_total_minor", (double)(qty * price));
        cJSON_AddStringToObject(it, "currency", (const char *)sqlite3_column_text(st, 4));
        cJSON_AddBoolToObject(it, "in_stock", sqlite3_column_int64(st, 5) >= qty);
        snprintf(currency, sizeof currency, "%s", (const char *)sqlite3_column_text(st, 4));
        total += qty * price;
    }
    if (ok)
        shop_done(st);
    pthread_mutex_unlock(&sh->mu);
    cJSON_AddNumberToObject(root, "total_minor", (double)total);
    add_price(root, "total", total);
    cJSON_AddStringToObject(root, "currency", currency);
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

int shop_cart_put(shop *sh, int64_t user_id, const cJSON *items, char *msg, size_t cap)
{
    if (!cJSON_IsArray(items) || cJSON_GetArraySize(items) > CART_ITEMS_MAX) {
        snprintf(msg, cap, "items must be an array of at most %d {sku, qty}", CART_ITEMS_MAX);
        return 1;
    }
    pthread_mutex_lock(&sh->mu);
    int rc = -1;
    sqlite3_stmt *del = NULL, *ins = NULL;
    if (shop_begin(sh->db) < 0)
        goto out;
    if (shop_prep(sh, "DELETE FROM shop_cart WHERE user_id = ?", -1, &del, NULL) ||
        shop_prep(sh,
                  "INSERT INTO shop_cart (user_id, sku, qty) SELECT ?, sku, ? FROM "
                  "shop_variants WHERE sku = ? ON CONFLICT DO UPDATE SET qty = "
                  "excluded.qty",
                  -1, &ins, NULL))
        goto fail;
    sqlite3_bind_int64(del, 1, user_id);
    if (sqlite3_step(del) != SQLITE_DONE)
        goto fail;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const cJSON *sku = cJSON_GetObjectItemCaseSensitive(it, "sku");
        const cJSON *qty = cJSON_GetObjectItemCaseSensitive(it, "qty");
        if (!str_ok(sku, 64) || !cJSON_IsNumber(qty) || qty->valuedouble < 1 ||
            qty->valuedouble > QTY_MAX || qty->valuedouble != (double)(int)qty->valuedouble) {
            snprintf(msg, cap, "each item needs a sku and a whole qty from 1 to %d", QTY_MAX);
            rc = 1;
            goto fail;
        }
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, user_id);
        sqlite3_bind_int(ins, 2, (int)qty->valuedouble);
        sqlite3_bind_text(ins, 3, sku->valuestring, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto fail;
        if (sqlite3_changes(sh->db) != 1) {
            snprintf(msg, cap, "unknown sku: %.64s", sku->valuestring);
            rc = 1;
            goto fail;
        }
    }
    shop_done(del);
    shop_done(ins);
    rc = shop_commit(sh->db);
    goto out;
fail:
    shop_done(del);
    shop_done(ins);
    shop_rollback(sh->db);
out:
    pthread_mutex_unlock(&sh->mu);
    return rc;
}
