/* bench_shop - checkouts per second with contention on a few products.
 *
 *   bench_shop DIR THREADS CHECKOUTS
 *
 * THREADS buyers, each with its own shop handle (own SQLite connection, as
 * separate API threads or processes would be), place CHECKOUTS orders in
 * total for 3 products whose stock covers 80 % of them, through the real
 * checkout (idempotency key, stock reservation, order + lines + history +
 * OrderPlaced outbox event, payment step with an instant in-process provider,
 * stored reply). The floor: the same threads run the same number of bare
 * SQLite write transactions (BEGIN IMMEDIATE; one UPDATE; COMMIT) as the
 * checkouts committed (3 per checkout), on a file with the same settings.
 * Checks zero oversell: sold + stock left == initial stock, stock >= 0, and
 * every 201 has its order lines. Prints one JSON line.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "shop_int.h"

#define PRODUCTS 3

static char db_path[1100], floor_path[1100];
static int per_thread;

static pay_status instant_create(void *impl, const pay_request *rq, const char *key,
                                 pay_payment *out)
{
    (void)impl, (void)key;
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "bench-%lld", (long long)rq->order_id);
    snprintf(out->url, sizeof out->url, "https://pay.example/%lld", (long long)rq->order_id);
    out->state = PAY_STATE_PENDING;
    return PAY_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct worker {
    int id, ok, sold_out, other;
} worker;

static void *buyer(void *arg)
{
    worker *w = arg;
    shop_settings s;
    shop_settings_load(&s, NULL);
    shop *sh;
    if (shop_new(&sh, &s, db_path, 0) < 0)
        exit(3);
    pay_provider p = {.name = "bench", .create = instant_create};
    shop_set_provider(sh, &p);
    api_principal who = {.scope = API_SCOPE_USER, .user_id = 1000 + w->id};
    for (int i = 0; i < per_thread; i++) {
        char key[48], body[128];
        snprintf(key, sizeof key, "bench-%d-%d", w->id, i);
        snprintf(body, sizeof body,
                 "{\"provider\":\"bench\",\"items\":[{\"sku\":\"HOT-%d\",\"qty\":1}]}",
                 (w->id + i) % PRODUCTS);
        unsigned status = 0;
        char *resp = NULL;
        int rep;
        shop_checkout(sh, &who, key, body, strlen(body), &status, &resp, &rep);
        free(resp);
        if (status == 201)
            w->ok++;
        else if (status == 409)
            w->sold_out++;
        else
            w->other++;
    }
    shop_free(sh);
    return NULL;
}

static int floor_tx;

static void *bare(void *arg)
{
    worker *w = arg;
    sqlite3 *db;
    if (sqlite3_open(floor_path, &db) != SQLITE_OK)
        exit(3);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "UPDATE t SET n = n + 1 WHERE id = ?", -1, &st, NULL);
    for (int i = 0; i < floor_tx; i++) {
        if (shop_begin(db) < 0)
            exit(3);
        sqlite3_bind_int(st, 1, (w->id + i) % PRODUCTS);
        sqlite3_step(st);
        sqlite3_reset(st);
        if (shop_commit(db) < 0)
            exit(3);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fputs("usage: bench_shop DIR THREADS CHECKOUTS\n", stderr);
        return 2;
    }
    int threads = atoi(argv[2]), total = atoi(argv[3]);
    if (threads < 1 || threads > 64 || total < threads)
        return 2;
    per_thread = total / threads;
    total = per_thread * threads;
    snprintf(db_path, sizeof db_path, "%s/core.db", argv[1]);
    snprintf(floor_path, sizeof floor_path, "%s/floor.db", argv[1]);
    unlink(db_path);
    unlink(floor_path);
    int64_t stock_each = (int64_t)total * 8 / 10 / PRODUCTS;
    /* Catalogue: 3 hot products. */
    char cat[900];
    snprintf(cat, sizeof cat, "%s/catalogue.json", argv[1]);
    FILE *f = fopen(cat, "w");
    if (!f)
        return 3;
    fputs("{\"products\":[", f);
    for (int i = 0; i < PRODUCTS; i++)
        fprintf(f,
                "%s{\"slug\":\"hot-%d\",\"title\":\"Hot %d\",\"variants\":[{\"sku\":\"HOT-%d\","
                "\"title\":\"Hot %d\",\"price_minor\":100,\"currency\":\"RUB\",\"stock\":%lld}]}",
                i ? "," : "", i, i, i, i, (long long)stock_each);
    fputs("]}", f);
    fclose(f);
    shop_settings s;
    shop_settings_load(&s, NULL);
    snprintf(s.catalogue_file, sizeof s.catalogue_file, "%s", cat);
    shop *setup;
    if (shop_new(&setup, &s, db_path, 0) < 0)
        return 3;
    shop_free(setup);

    worker w[64] = {0};
    pthread_t t[64];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i].id = i;
        pthread_create(&t[i], NULL, buyer, &w[i]);
    }
    int ok = 0, sold_out = 0, other = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
        sold_out += w[i].sold_out;
        other += w[i].other;
    }
    double shop_s = now_s() - t0;

    sqlite3 *db;
    sqlite3_open(db_path, &db);
    int64_t left = scalar(db, "SELECT sum(stock) FROM shop_variants");
    int64_t min_left = scalar(db, "SELECT min(stock) FROM shop_variants");
    int64_t sold = scalar(db, "SELECT sum(qty) FROM shop_order_lines");
    int64_t orders = scalar(db, "SELECT count(*) FROM shop_orders");
    sqlite3_close(db);
    int oversold = sold + left != stock_each * PRODUCTS || min_left < 0 || sold != ok ||
                   orders != ok || other != 0;

    sqlite3_open(floor_path, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);"
                 "INSERT INTO t VALUES (0, 0), (1, 0), (2, 0)",
                 NULL, NULL, NULL);
    sqlite3_close(db);
    /* 3 write transactions per committed checkout, 1 per refused one. */
    floor_tx = (3 * ok + sold_out) / threads;
    t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, bare, &w[i]);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double floor_s = now_s() - t0;

    printf("{\"threads\":%d,\"attempts\":%d,\"ok\":%d,\"sold_out\":%d,\"other\":%d,"
           "\"stock\":%lld,\"sold\":%lld,\"left\":%lld,\"oversold\":%s,"
           "\"checkouts_per_s\":%.0f,\"attempts_per_s\":%.0f,\"floor_tx\":%d,"
           "\"floor_per_s\":%.0f,\"floor_checkout_equiv_per_s\":%.0f,\"ratio\":%.3f}\n",
           threads, total, ok, sold_out, other, (long long)(stock_each * PRODUCTS), (long long)sold,
           (long long)left, oversold ? "true" : "false", ok / shop_s, total / shop_s,
           floor_tx * threads, floor_tx * threads / floor_s, total / floor_s,
           (total / shop_s) / (total / floor_s));
    return oversold ? 1 : 0;
}
