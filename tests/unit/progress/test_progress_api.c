/* test_progress_api.c - the progress endpoints through the real router over
 * a socket: paging, other users' workouts, percentiles among six users,
 * opt-out, leaderboard, settings validation, stop, analytics scopes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "api.h"
#include "events.h"
#include "progress.h"
#include "progress_api.h"
#include "store.h"

#define USERS 6

static char dir[64], db[128];
static api *srv;
static progress_api *papi;
static uint16_t port;
static int64_t now, base;
static int64_t wid_of_user2;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Tokens for the test: "u<id>" is that user, "admin" an operator. */
static int test_auth(void *ctx, const char *token, api_principal *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    if (!strcmp(token, "admin")) {
        out->scope = API_SCOPE_ADMIN;
        return 0;
    }
    if (token[0] == 'u' && atoi(token + 1) > 0) {
        out->scope = API_SCOPE_USER;
        out->user_id = atoi(token + 1);
        return 0;
    }
    return -1;
}

static uint64_t seq = 1;

static void workout(progress *p, const char *dev, int64_t start, int n)
{
    fp_reading r[64];
    for (int i = 0; i < n; i++) {
        fp_reading_init(&r[i], dev, FP_KIND_HEART_RATE, start + i * 1000);
        fp_reading_add(&r[i], FP_Q_HEART_RATE, 110 + i);
        r[i].seq = seq++;
    }
    char *out;
    size_t len;
    assert_int_equal(evt_readings_encode("gym-a", 1, r, (size_t)n, &out, &len), FP_OK);
    bus_record br = {.topic = EVT_TOPIC_READINGS, .value = out, .len = len};
    assert_int_equal(progress_apply(p, &br, now), 0);
    free(out);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/fitprogress-api-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/core.db", dir);
    store *st;
    assert_int_equal(store_open(&st, db), STORE_OK);
    for (int u = 1; u <= USERS; u++) {
        char dev[16];
        snprintf(dev, sizeof dev, "hr-%d", u);
        assert_int_equal(store_bind_device(st, dev, u), STORE_OK);
    }
    store_close(st);
    now = wall_ms();
    base = now - 1800000;
    progress_cfg cfg = {.idle_ms = 300000, .max_skew_ms = 300000};
    progress *p;
    assert_int_equal(progress_open(&p, db, &cfg), 0);
    /* user k trains 10k readings (10k - 1 s); user 1 twice more */
    for (int u = 1; u <= USERS; u++) {
        char dev[16];
        snprintf(dev, sizeof dev, "hr-%d", u);
        workout(p, dev, base, 10 * u);
    }
    workout(p, "hr-1", base + 400000, 5);
    workout(p, "hr-1", base + 800000, 5);
    /* u1's first two closed already: a newer reading came more than idle later */
    assert_int_equal(progress_tick(p, now + 3600000), USERS);
    progress_close(p);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(h, "SELECT id FROM progress_workout WHERE user_id=2", -1, &q, NULL);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    wid_of_user2 = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(h);

    api_config ac = {.bind_addr = "127.0.0.1",
                     .port = 0,
                     .miniapp_dir = dir,
                     .db_path = db,
                     .bot_token = "123:test"};
    assert_int_equal(api_new(&srv, &ac), 0);
    api_set_authenticator(srv, test_auth, NULL);
    assert_int_equal(progress_api_new(&papi, db), 0);
    assert_int_equal(api_add_routes(srv, progress_routes, progress_nroutes, papi), 0);
    assert_int_equal(api_serve(srv), 0);
    port = api_port(srv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    api_stop(srv);
    progress_api_free(papi);
    curl_global_cleanup();
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

typedef struct body {
    char *p;
    size_t n;
} body;

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
    body *b = ctx;
    char *p = realloc(b->p, b->n + sz * nm + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, d, sz * nm);
    b->p = p;
    b->n += sz * nm;
    b->p[b->n] = 0;
    return sz * nm;
}

/* status; *out is the body (caller frees); ctype when not NULL. */
static long call(const char *method, const char *path, const char *token, const char *json,
                 char **out, char *ctype, size_t ctype_cap)
{
    CURL *c = curl_easy_init();
    char url[512], auth[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    body b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (json)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (ctype) {
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(ctype, ctype_cap, "%s", ct ? ct : "");
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    *out = b.p ? b.p : strdup("");
    return status;
}

static cJSON *get_json(const char *path, const char *token, long want)
{
    char *out;
    long st = call("GET", path, token, NULL, &out, NULL, 0);
    if (st != want)
        fail_msg("%s as %s: %ld, want %ld: %s", path, token ? token : "-", st, want, out);
    cJSON *j = cJSON_Parse(out);
    free(out);
    assert_non_null(j);
    return j;
}

static double num(const cJSON *o, const char *path)
{
    /* "a.b" one level deep at most */
    const char *dot = strchr(path, '.');
    if (dot) {
        char head[64];
        snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
        return num(cJSON_GetObjectItem(o, head), dot + 1);
    }
    const cJSON *v = cJSON_GetObjectItem(o, path);
    if (!cJSON_IsNumber(v))
        fail_msg("no number at %s", path);
    return v->valuedouble;
}

static void test_paging_and_ownership(void **state)
{
    (void)state;
    cJSON *j = get_json("/api/v1/workouts?limit=2", "u1", 200);
    cJSON *items = cJSON_GetObjectItem(j, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    double s0 = num(cJSON_GetArrayItem(items, 0), "start_ms");
    double s1 = num(cJSON_GetArrayItem(items, 1), "start_ms");
    assert_true(s0 > s1); /* newest first */
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItem(j, "next_cursor"));
    assert_non_null(cur);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/workouts?limit=2&cursor=%s", cur);
    cJSON *k = get_json(path, "u1", 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(k, "items")), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(k, "next_cursor")));
    assert_true(num(cJSON_GetArrayItem(cJSON_GetObjectItem(k, "items"), 0), "start_ms") < s1);
    cJSON_Delete(j);
    cJSON_Delete(k);
    cJSON_Delete(get_json("/api/v1/workouts?cursor=junk", "u1", 400));
    cJSON_Delete(get_json("/api/v1/workouts?limit=101", "u1", 400));
    cJSON_Delete(get_json("/api/v1/workouts", NULL, 401));

    snprintf(path, sizeof path, "/api/v1/workouts/%lld?points=5", (long long)wid_of_user2);
    cJSON_Delete(get_json(path, "u1", 404)); /* another user's: as if none */
    j = get_json(path, "u2", 200);
    cJSON *series = cJSON_GetObjectItem(j, "series");
    assert_true(cJSON_GetArraySize(series) >= 4 && cJSON_GetArraySize(series) <= 5);
    /* 20 readings 110..129 in 5 buckets of 4: the first bucket's mean is 111.5 */
    assert_true(num(cJSON_GetArrayItem(series, 0), "hr") > 111.49 &&
                num(cJSON_GetArrayItem(series, 0), "hr") < 111.51);
    assert_true(num(j, "metrics.duration_s") == 19);
    cJSON_Delete(j);

    /* once sealed (samples dropped), the stored series answers */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE progress_workout SET sealed=1, series='[{\"t_s\":0,\"hr\":99}]' WHERE id=%lld;"
             "DELETE FROM progress_sample WHERE workout_id=%lld",
             (long long)wid_of_user2, (long long)wid_of_user2);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    j = get_json(path, "u2", 200);
    series = cJSON_GetObjectItem(j, "series");
    assert_int_equal(cJSON_GetArraySize(series), 1);
    assert_true(num(cJSON_GetArrayItem(series, 0), "hr") == 99);
    assert_true(num(j, "metrics.duration_s") == 19);
    cJSON_Delete(j);
}

static void test_progress_percentiles_and_opt_out(void **state)
{
    (void)state;
    cJSON *j = get_json("/api/v1/progress", "u6", 200);
    cJSON *o = cJSON_GetObjectItem(j, "compared_with_others");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "ok");
    assert_int_equal((int)num(o, "cohort_users"), USERS);
    /* u6 trained longest: 5 below, itself half a tie: (5 + 0.5) / 6 */
    assert_true(num(o, "duration_percentile") > 91.66 && num(o, "duration_percentile") < 91.67);
    assert_int_equal((int)num(j, "records.longest_duration_s.value"), 59);
    cJSON_Delete(j);

    char *out;
    assert_int_equal(
        call("PUT", "/api/v1/progress/settings", "u6", "{\"max_hr\":999}", &out, NULL, 0), 400);
    free(out);
    assert_int_equal(
        call("PUT", "/api/v1/progress/settings", "u6", "{\"opt_out\":\"yes\"}", &out, NULL, 0),
        400);
    free(out);
    assert_int_equal(call("PUT", "/api/v1/progress/settings", "u6",
                          "{\"opt_out\":true,\"tz_offset_min\":180}", &out, NULL, 0),
                     200);
    free(out);
    j = get_json("/api/v1/progress", "u6", 200);
    o = cJSON_GetObjectItem(j, "compared_with_others");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "opted_out");
    cJSON_Delete(j);
    j = get_json("/api/v1/progress", "u1", 200);
    o = cJSON_GetObjectItem(j, "compared_with_others");
    assert_int_equal((int)num(o, "cohort_users"), USERS - 1); /* u6 is out */
    cJSON_Delete(j);

    j = get_json("/api/v1/leaderboard?gym=gym-a", "u1", 200);
    cJSON *rows = cJSON_GetObjectItem(j, "rows");
    int this_week = base >= (now / 86400000 - (now / 86400000 + 3) % 7) * 86400000;
    assert_int_equal(cJSON_GetArraySize(rows), this_week ? USERS - 1 : 0);
    int you = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        you += cJSON_IsTrue(cJSON_GetObjectItem(r, "you"));
        assert_null(cJSON_GetObjectItem(r, "user_id")); /* others by rank only */
    }
    assert_int_equal(you, this_week ? 1 : 0);
    cJSON_Delete(j);
    cJSON_Delete(get_json("/api/v1/leaderboard?gym=../x", "u1", 400));
}

static void test_achievements_stop_and_analytics(void **state)
{
    (void)state;
    cJSON *j = get_json("/api/v1/achievements", "u1", 200);
    int first = 0, next10 = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(j, "earned"))
    {
        first |= !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "code")), "first_workout");
    }
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(j, "next"))
    {
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "code")), "workouts_10")) {
            next10 = 1;
            assert_int_equal((int)num(a, "have"), 3);
        }
    }
    assert_true(first && next10);
    assert_int_equal((int)num(j, "points"), 10);
    assert_int_equal((int)num(j, "level"), 1);
    assert_int_equal((int)num(j, "next_level_points"), 50);
    cJSON_Delete(j);

    char *out, ct[128];
    assert_int_equal(call("POST", "/api/v1/workouts/stop", "u3", "{}", &out, NULL, 0), 202);
    free(out);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(
        h, "SELECT count(*) FROM outbox WHERE CAST(value AS TEXT) LIKE '%stop_requested%'", -1, &q,
        NULL);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    sqlite3_close(h);

    assert_int_equal(call("GET", "/api/v1/admin/analytics", "u1", NULL, &out, NULL, 0), 403);
    free(out);
    assert_int_equal(
        call("GET", "/api/v1/admin/analytics?format=xml", "admin", NULL, &out, NULL, 0), 400);
    free(out);
    assert_int_equal(
        call("GET", "/api/v1/admin/analytics?format=csv", "admin", NULL, &out, ct, sizeof ct), 200);
    assert_non_null(strstr(ct, "text/csv"));
    assert_true(strncmp(out, "section,key,day,value\n", 22) == 0);
    assert_non_null(strstr(out, "\nworkouts_per_gym,gym-a.workouts,,8\n"));
    assert_non_null(strstr(out, "\nactive_users,day,,6\n"));
    free(out);
    j = get_json("/api/v1/admin/analytics", "admin", 200);
    assert_int_equal((int)num(j, "funnel.registered"), 0); /* no UserRegistered here */
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paging_and_ownership),
        cmocka_unit_test(test_progress_percentiles_and_opt_out),
        cmocka_unit_test(test_achievements_stop_and_analytics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
