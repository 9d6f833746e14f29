/* test_progress.c - the progress projection on the embedded bus:
 * sessions from real readings events, redelivery of every event type,
 * replay from zero (byte-for-byte export), achievements once under
 * redelivery and two concurrent consumers. */
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
#include <pthread.h>
#include <sqlite3.h>

#include "bus.h"
#include "events.h"
#include "progress.h"
#include "progress_api.h"
#include "store.h"

#define DAY_MS  86400000LL
#define IDLE_MS 300000

typedef struct rec {
    char topic[64];
    char *value;
    size_t len;
} rec;

typedef struct fixture {
    char dir[64], db[128], busdb[128];
    bus *b;
    rec r[256];
    size_t n;
    int64_t now, base, stop_at;
} fixture;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void published(void *ctx, bus_status st)
{
    *(bus_status *)ctx = st;
}

static void keep(fixture *f, const char *topic, char *value, size_t len)
{
    assert_true(f->n < 256);
    snprintf(f->r[f->n].topic, sizeof f->r[f->n].topic, "%s", topic);
    f->r[f->n].value = value;
    f->r[f->n].len = len;
    f->n++;
    bus_msg m = {topic, "k", value, len};
    bus_status done = BUS_ERR_IO;
    assert_int_equal(bus_publish(f->b, &m, 1, published, &done), BUS_OK);
    assert_int_equal(done, BUS_OK); /* embedded: durable before publish returns */
}

static uint64_t seq_gym = 1;

/* One readings event of n readings built by fn(i, &reading). */
static void readings(fixture *f, size_t n, void (*fn)(fixture *, size_t, fp_reading *), int twice)
{
    fp_reading *r = calloc(n, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        fn(f, i, &r[i]);
        r[i].seq = seq_gym + i;
    }
    char *out;
    size_t len;
    assert_int_equal(evt_readings_encode("gym-1", 1, r, n, &out, &len), FP_OK);
    seq_gym += n;
    free(r);
    keep(f, EVT_TOPIC_READINGS, out, len);
    if (twice) /* the same event id again: ingest resent it */
        keep(f, EVT_TOPIC_READINGS, strdup(out), len);
}

static void business(fixture *f, const char *topic, const char *type, const char *id, int64_t user,
                     const char *k1, const char *v1)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "user_id", (double)user);
    if (k1)
        cJSON_AddStringToObject(d, k1, v1);
    if (!strcmp(type, PROGRESS_TYPE_STOP))
        cJSON_AddNumberToObject(d, "at_ms", (double)f->stop_at);
    char *out;
    size_t len;
    assert_int_equal(evt_encode(id, type, "test", NULL, d, &out, &len), 0);
    cJSON_Delete(d);
    keep(f, topic, out, len);
}

/* User 7, day 0: strap every 1 s and treadmill every 2 s for 60 s. */
static void day0(fixture *f, size_t i, fp_reading *r)
{
    int64_t t = f->base + (int64_t)(i / 3) * 2000 + (i % 3 == 2 ? 1000 : 0);
    if (i % 3 == 1) {
        fp_reading_init(r, "tm-7", FP_KIND_TREADMILL, t);
        fp_reading_add(r, FP_Q_SPEED, 2.5);
        fp_reading_add(r, FP_Q_DISTANCE, 5.0 * (double)(i / 3));
    } else {
        fp_reading_init(r, "hr-7", FP_KIND_HEART_RATE, t);
        fp_reading_add(r, FP_Q_HEART_RATE, 120 + (double)(i % 20));
        fp_reading_add(r, FP_Q_RR_INTERVAL, 0.5 + 0.01 * (double)(i % 2));
    }
}

static void day1(fixture *f, size_t i, fp_reading *r)
{
    fp_reading_init(r, "hr-7", FP_KIND_HEART_RATE, f->base + DAY_MS + (int64_t)i * 1000);
    fp_reading_add(r, FP_Q_HEART_RATE, 130);
}

static void day2(fixture *f, size_t i, fp_reading *r)
{
    fp_reading_init(r, "hr-7", FP_KIND_HEART_RATE, f->base + 2 * DAY_MS + (int64_t)i * 1000);
    fp_reading_add(r, FP_Q_HEART_RATE, 140);
}

/* A reading already sent (same device and time) in another batch. */
static void resent(fixture *f, size_t i, fp_reading *r)
{
    (void)i;
    day2(f, 5, r);
}

/* User 8 near now: 30 s of heart rate; a stop at the 10th second; one
 * reading stamped an hour ahead (gateway clock wrong). */
static void user8(fixture *f, size_t i, fp_reading *r)
{
    int64_t t = i < 30 ? f->now - 200000 + (int64_t)i * 1000 : f->now + 3600000;
    fp_reading_init(r, "hr-8", FP_KIND_HEART_RATE, t);
    fp_reading_add(r, FP_Q_HEART_RATE, 100);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/fitprogress-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/core.db", f->dir);
    snprintf(f->busdb, sizeof f->busdb, "%s/bus.db", f->dir);
    assert_int_equal(bus_open_embedded(&f->b, f->busdb), BUS_OK);
    store *st;
    assert_int_equal(store_open(&st, f->db), STORE_OK);
    assert_int_equal(store_bind_device(st, "hr-7", 7), STORE_OK);
    assert_int_equal(store_bind_device(st, "tm-7", 7), STORE_OK);
    assert_int_equal(store_bind_device(st, "hr-8", 8), STORE_OK);
    store_close(st);
    f->now = wall_ms();
    f->base = (f->now / DAY_MS - 5) * DAY_MS + 10 * 3600000LL;
    f->stop_at = f->now - 200000 + 9500;
    readings(f, 90, day0, 1);
    readings(f, 30, day2, 0); /* day 2 before day 1: out of order */
    readings(f, 30, day1, 0);
    readings(f, 1, resent, 0);
    readings(f, 31, user8, 0);
    business(f, EVT_TOPIC_IDENTITY, EVT_TYPE_USER_REGISTERED, "user/7/registered", 7, "messenger",
             "telegram");
    /* identity's own field name is "provider"; "messenger" is read too */
    business(f, EVT_TOPIC_IDENTITY, EVT_TYPE_USER_REGISTERED, "user/8/registered", 8, "provider",
             "whatsapp");
    business(f, EVT_TOPIC_IDENTITY, EVT_TYPE_2FA_ENABLED, "user/7/2fa/1", 7, NULL, NULL);
    business(f, EVT_TOPIC_IDENTITY, EVT_TYPE_DEVICE_PAIRED, "user/7/paired/hr-7", 7, "device",
             "hr-7");
    business(f, EVT_TOPIC_ORDERS, EVT_TYPE_ORDER_PAID, "order/o-1/paid", 7, "order_id", "o-1");
    business(f, EVT_TOPIC_WORKOUTS, PROGRESS_TYPE_STOP, "user/8/stop/1", 8, NULL, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < f->n; i++)
        free(f->r[i].value);
    bus_close(f->b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const progress_cfg cfg = {.idle_ms = IDLE_MS, .max_skew_ms = 300000};

static void apply_one(progress *p, const rec *r, int64_t now)
{
    bus_record br = {.topic = r->topic, .value = r->value, .len = r->len};
    assert_int_equal(progress_apply(p, &br, now), 0);
}

/* Business topics first when business_first, else in publish order. */
static void apply_all(fixture *f, progress *p, int business_first)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < f->n; i++) {
            int is_r = !strcmp(f->r[i].topic, EVT_TOPIC_READINGS);
            if (business_first ? (pass == 0) == !is_r : pass == 0)
                apply_one(p, &f->r[i], f->now);
        }
}

static char *export_of(progress *p)
{
    char *out;
    size_t len;
    assert_int_equal(progress_export(p, &out, &len), 0);
    assert_int_equal(strlen(out), len);
    return out;
}

static int64_t q(const char *db, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Events in the outbox of a type; *distinct counts distinct ids. */
static int outbox_count(const char *db, const char *type, int *distinct)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT value FROM outbox ORDER BY seq", -1, &st, NULL),
                     SQLITE_OK);
    char ids[64][160];
    int n = 0, d = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        evt e;
        assert_int_equal(
            evt_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &e), 0);
        if (!strcmp(e.type, type)) {
            n++;
            int seen = 0;
            for (int i = 0; i < d; i++)
                seen |= !strcmp(ids[i], e.id);
            if (!seen && d < 64)
                snprintf(ids[d++], sizeof ids[0], "%s", e.id);
        }
        evt_free(&e);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    *distinct = d;
    return n;
}

static void check_state(fixture *f)
{
    /* user 7: three days, three workouts; user 8: split by the stop */
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_workout WHERE user_id=7 AND done=1"),
                     3);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_workout WHERE user_id=8 AND done=1"),
                     2);
    /* day 0: strap and treadmill merged, 90 samples, 0..145 m */
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_sample s JOIN progress_workout w"
                              " ON w.id=s.workout_id WHERE w.user_id=7 ORDER BY 1"),
                     150);
    assert_int_equal(q(f->db, "SELECT CAST(distance_m AS INTEGER) FROM progress_workout"
                              " WHERE user_id=7 ORDER BY start_ms LIMIT 1"),
                     145);
    assert_int_equal(q(f->db, "SELECT CAST(duration_s AS INTEGER) FROM progress_workout"
                              " WHERE user_id=7 ORDER BY start_ms LIMIT 1"),
                     59);
    /* day 1 arrived after day 2 and still is its own workout of 30 s */
    assert_int_equal(q(f->db, "SELECT CAST(duration_s AS INTEGER) FROM progress_workout"
                              " WHERE user_id=7 ORDER BY start_ms LIMIT 1 OFFSET 1"),
                     29);
    /* the stop at 9.5 s: 10 samples before it, 20 + the clamped one after */
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_sample WHERE user_id=8 AND"
                              " workout_id=(SELECT id FROM progress_workout WHERE user_id=8"
                              " ORDER BY start_ms LIMIT 1)"),
                     10);
    assert_int_equal(q(f->db, "SELECT json_extract(metrics, '$.skewed_samples') FROM"
                              " progress_workout WHERE user_id=8 ORDER BY start_ms DESC LIMIT 1"),
                     1);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_achievement WHERE user_id=7"), 5);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_achievement WHERE user_id=7 AND"
                              " code IN ('first_workout','streak_3','device_paired',"
                              "'two_factor','first_purchase')"),
                     5);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_achievement WHERE user_id=8"), 1);
    int d;
    assert_int_equal(outbox_count(f->db, EVT_TYPE_WORKOUT_COMPLETED, &d), 5);
    assert_int_equal(d, 5);
    assert_int_equal(outbox_count(f->db, EVT_TYPE_ACHIEVEMENT_UNLOCKED, &d), 6);
    assert_int_equal(d, 6);
}

static void test_sessions_and_redelivery(void **state)
{
    fixture *f = *state;
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    apply_all(f, p, 0);
    assert_true(progress_tick(p, f->now + 3600000) >= 1);
    check_state(f);
    char *a = export_of(p);
    /* every record of every type again, twice, in another order */
    apply_all(f, p, 1);
    for (size_t i = f->n; i-- > 0;)
        apply_one(p, &f->r[i], f->now + 7200000);
    assert_int_equal(progress_tick(p, f->now + 7200000), 0);
    char *b = export_of(p);
    assert_string_equal(a, b);
    check_state(f); /* outbox counts unchanged: no second WorkoutCompleted */
    free(a);
    free(b);
    progress_close(p);
}

/* Replay the bus from zero into emptied tables: the export must be want. */
static void assert_rebuild_gives(fixture *f, const char *want)
{
    assert_int_equal(progress_rebuild(f->b, f->db, &cfg, 200), 0);
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    progress_tick(p, f->now + 3600000);
    char *b = export_of(p);
    assert_string_equal(want, b);
    free(b);
    progress_close(p);
}

static void test_replay_from_zero(void **state)
{
    fixture *f = *state;
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    apply_all(f, p, 1); /* live: business events happened to come first */
    progress_tick(p, f->now + 3600000);
    char *a = export_of(p);
    progress_close(p);
    assert_true(strlen(a) > 1000);
    assert_rebuild_gives(f, a);
    free(a);
}

typedef struct worker_arg {
    fixture *f;
    int reverse;
} worker_arg;

static void *consume_all(void *arg)
{
    worker_arg *w = arg;
    progress *p;
    if (progress_open(&p, w->f->db, &cfg) < 0)
        return (void *)1;
    uintptr_t bad = 0;
    for (size_t k = 0; k < w->f->n; k++) {
        size_t i = w->reverse ? w->f->n - 1 - k : k;
        bus_record br = {
            .topic = w->f->r[i].topic, .value = w->f->r[i].value, .len = w->f->r[i].len};
        bad += progress_apply(p, &br, w->f->now) != 0;
    }
    progress_close(p);
    return (void *)bad;
}

static void test_two_consumers(void **state)
{
    fixture *f = *state;
    pthread_t t[2];
    worker_arg args[2] = {{f, 0}, {f, 0}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, consume_all, &args[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        assert_null(bad);
    }
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    progress_tick(p, f->now + 3600000);
    check_state(f); /* one row and one event per achievement */
    char *a = export_of(p);
    progress_close(p);
    assert_rebuild_gives(f, a); /* the same as one consumer replaying alone */
    free(a);
}

static void test_bad_records(void **state)
{
    fixture *f = *state;
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    const char *junk[] = {"", "{", "{\"specversion\":\"1.0\"}", "[1,2]"};
    for (size_t i = 0; i < 4; i++) {
        bus_record r = {.topic = i % 2 ? EVT_TOPIC_READINGS : EVT_TOPIC_IDENTITY,
                        .value = junk[i],
                        .len = strlen(junk[i])};
        assert_int_equal(progress_apply(p, &r, f->now), 0); /* skipped, not retried */
    }
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_inbox"), 0);
    progress_close(p);
}

static void test_analytics(void **state)
{
    fixture *f = *state;
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    apply_all(f, p, 0);
    progress_tick(p, f->now + 3600000);
    progress_close(p);
    progress_api *a;
    assert_int_equal(progress_api_new(&a, f->db), 0);
    char *csv;
    size_t len;
    assert_int_equal(progress_analytics(a, f->now, 1, &csv, &len), 0);
    assert_int_equal(strlen(csv), len);
    char day[16], want[96];
    time_t t = (time_t)(f->now / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    assert_true(strncmp(csv, "section,key,day,value\n", 22) == 0);
    snprintf(want, sizeof want, "\nregistrations,telegram,%s,1\n", day);
    assert_non_null(strstr(csv, want));
    snprintf(want, sizeof want, "\nregistrations,whatsapp,%s,1\n", day);
    assert_non_null(strstr(csv, want));
    static const char *const lines[] = {
        "\ntwo_factor,registered_users,,2\n", "\ntwo_factor,enabled_users,,1\n",
        "\ntwo_factor,adoption_pct,,50\n",
        /* user 8 trained in the last day; user 7 three to five days ago */
        "\nactive_users,day,,1\n", "\nactive_users,week,,2\n", "\nactive_users,month,,2\n",
        "\nworkouts_per_gym,gym-1.workouts,,5\n", "\nworkouts_per_gym,gym-1.users,,2\n",
        "\nfunnel,registered,,2\n", "\nfunnel,paired_device,,1\n", "\nfunnel,first_workout,,2\n",
        "\nfunnel,registered_to_first_workout_pct,,100\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(csv, lines[i]))
            fail_msg("missing %s in:\n%s", lines[i], csv);
    free(csv);
    char *js;
    assert_int_equal(progress_analytics(a, f->now, 0, &js, &len), 0);
    cJSON *j = cJSON_Parse(js);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "registrations")), 2);
    cJSON_Delete(j);
    free(js);
    progress_api_free(a);
}

/* ---- hand-made records (not on the bus) ---- */

static uint64_t seq_gym2 = 1;

static void apply_hr(progress *p, const char *dev, const int64_t *ts, size_t n, int64_t now)
{
    fp_reading r[64];
    for (size_t i = 0; i < n; i++) {
        fp_reading_init(&r[i], dev, FP_KIND_HEART_RATE, ts[i]);
        fp_reading_add(&r[i], FP_Q_HEART_RATE, 120);
        r[i].seq = seq_gym2 + i;
    }
    char *out;
    size_t len;
    assert_int_equal(evt_readings_encode("gym-2", 1, r, n, &out, &len), FP_OK);
    seq_gym2 += n;
    bus_record br = {.topic = EVT_TOPIC_READINGS, .value = out, .len = len};
    assert_int_equal(progress_apply(p, &br, now), 0);
    free(out);
}

static void test_late_reading_and_bridge(void **state)
{
    fixture *f = *state;
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    int64_t t = f->now - DAY_MS, ts[16];
    for (int i = 0; i < 10; i++)
        ts[i] = t + i * 1000;
    apply_hr(p, "hr-7", ts, 10, f->now);
    assert_int_equal(progress_tick(p, f->now + 3600000), 1);
    int d;
    assert_int_equal(outbox_count(f->db, EVT_TYPE_WORKOUT_COMPLETED, &d), 1);
    /* a late reading inside the completed workout: metrics again, no event */
    ts[0] = t + 5500;
    apply_hr(p, "hr-7", ts, 1, f->now);
    assert_int_equal(q(f->db, "SELECT json_extract(metrics, '$.samples') FROM progress_workout"),
                     11);
    assert_int_equal(outbox_count(f->db, EVT_TYPE_WORKOUT_COMPLETED, &d), 1);
    /* a second workout idle + 100 s after the first one's end */
    int64_t t2 = t + 9000 + IDLE_MS + 100000;
    for (int i = 0; i < 5; i++)
        ts[i] = t2 + i * 1000;
    apply_hr(p, "hr-7", ts, 5, f->now);
    assert_int_equal(progress_tick(p, f->now + 3600000), 1);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_workout WHERE done=1"), 2);
    assert_int_equal(outbox_count(f->db, EVT_TYPE_WORKOUT_COMPLETED, &d), 2);
    /* a late reading in the gap, within idle of both: one workout */
    ts[0] = t + 9000 + (IDLE_MS + 100000) / 2;
    apply_hr(p, "hr-7", ts, 1, f->now);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_workout"), 1);
    assert_int_equal(q(f->db, "SELECT json_extract(metrics, '$.samples') FROM progress_workout"),
                     17);
    assert_int_equal(q(f->db, "SELECT count(DISTINCT workout_id) FROM progress_sample"), 1);
    assert_int_equal(q(f->db, "SELECT CAST(duration_s AS INTEGER) FROM progress_workout"),
                     (t2 + 4000 - t) / 1000);
    assert_int_equal(outbox_count(f->db, EVT_TYPE_WORKOUT_COMPLETED, &d), 2);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_achievement WHERE user_id=7"), 1);
    progress_close(p);
}

static void test_streak_in_user_time_zone(void **state)
{
    fixture *f = *state;
    /* user 8 lives at UTC+3; user 7 at UTC */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    assert_int_equal(sqlite3_exec(h,
                                  "INSERT INTO progress_settings(user_id, tz_offset_min)"
                                  " VALUES(8, 180)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    /* UTC 20:00 day 0, 22:00 day 1, 20:30 day 2: three UTC days in a row;
     * at UTC+3 they fall on local days 0, 2 and 2. */
    int64_t d0 = (f->now / DAY_MS - 10) * DAY_MS;
    int64_t at[3] = {d0 + 20 * 3600000LL, d0 + DAY_MS + 22 * 3600000LL,
                     d0 + 2 * DAY_MS + 20 * 3600000LL + 1800000};
    for (int i = 0; i < 3; i++) {
        int64_t ts[2] = {at[i], at[i] + 1000};
        apply_hr(p, "hr-7", ts, 2, f->now);
        apply_hr(p, "hr-8", ts, 2, f->now);
    }
    progress_tick(p, f->now + 3600000);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_workout WHERE done=1"), 6);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_achievement WHERE user_id=7"
                              " AND code='streak_3'"),
                     1);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_achievement WHERE user_id=8"
                              " AND code='streak_3'"),
                     0);
    progress_close(p);
}

static void test_old_samples_dropped_series_kept(void **state)
{
    fixture *f = *state;
    const progress_cfg keep = {
        .idle_ms = IDLE_MS, .max_skew_ms = 300000, .keep_samples_ms = 2 * DAY_MS};
    progress *p;
    assert_int_equal(progress_open(&p, f->db, &keep), 0);
    apply_all(f, p, 0);
    progress_tick(p, f->now + 3600000);
    /* user 7's three workouts are 3-5 days old: sealed; user 8's are not */
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_workout WHERE sealed=1"), 3);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_workout WHERE sealed=1 AND"
                              " user_id=7 AND json_array_length(series) >= 10"),
                     3);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_sample WHERE user_id=7"), 0);
    assert_true(q(f->db, "SELECT count(*) FROM progress_sample WHERE user_id=8") > 0);
    /* the metrics stay */
    assert_int_equal(q(f->db, "SELECT CAST(distance_m AS INTEGER) FROM progress_workout"
                              " WHERE user_id=7 ORDER BY start_ms LIMIT 1"),
                     145);
    char *a = export_of(p);
    /* a late reading for a sealed workout is counted, not kept, and makes
     * no workout of its own */
    int64_t ts[1] = {f->base + 30500};
    apply_hr(p, "hr-7", ts, 1, f->now);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_workout WHERE user_id=7"), 3);
    assert_int_equal(q(f->db, "SELECT count(*) FROM progress_sample WHERE user_id=7"), 0);
    progress_tick(p, f->now + 3600000);
    progress_close(p);
    /* a replay seals the same workouts */
    assert_int_equal(progress_rebuild(f->b, f->db, &keep, 200), 0);
    assert_int_equal(progress_open(&p, f->db, &keep), 0);
    progress_tick(p, f->now + 3600000);
    char *b = export_of(p);
    assert_string_equal(a, b);
    free(a);
    free(b);
    progress_close(p);
}

/* ---- the same on a real Kafka broker (FITGATE_KAFKA_BROKERS) ---- */

static const char *const kafka_topics[] = {EVT_TOPIC_READINGS, EVT_TOPIC_IDENTITY, EVT_TOPIC_ORDERS,
                                           EVT_TOPIC_WORKOUTS};

static void kafka_name(char *buf, size_t cap, const char *run, const char *topic)
{
    snprintf(buf, cap, "fit.progresstest.%s.%s", run, topic);
}

/* Consume `want` records of topic in group; apply each (as its original
 * topic); commit only the first `commit` of them. Returns the count. */
static size_t kafka_drain(bus *b, progress *p, const char *group, const char *ktopic,
                          const char *topic, size_t want, size_t commit, int64_t now)
{
    bus_consumer *c;
    assert_int_equal(bus_consumer_open(b, group, ktopic, 0, &c), BUS_OK);
    size_t got = 0;
    int64_t until = wall_ms() + 60000;
    while (got < want && wall_ms() < until) {
        bus_record in;
        if (bus_consume(c, &in, 500) != BUS_OK)
            continue;
        bus_record r = in;
        r.topic = topic;
        assert_int_equal(progress_apply(p, &r, now), 0);
        if (got < commit)
            assert_int_equal(bus_consumer_commit(c, &in), BUS_OK);
        got++;
    }
    bus_consumer_close(c);
    return got;
}

static void test_kafka_redelivery_and_replay(void **state)
{
    fixture *f = *state;
    const char *brokers = getenv("FITGATE_KAFKA_BROKERS");
    if (!brokers || !brokers[0]) {
        const char *req = getenv("FITGATE_REQUIRE_KAFKA");
        if (req && !strcmp(req, "1"))
            fail_msg("FITGATE_REQUIRE_KAFKA=1 but FITGATE_KAFKA_BROKERS is not set");
        printf("test_kafka_redelivery_and_replay: no broker (set FITGATE_KAFKA_BROKERS)\n");
        return;
    }
    bus *kb;
    assert_int_equal(bus_open_kafka(&kb, brokers, NULL), BUS_OK);
    char run[48], kt[160], group[200];
    snprintf(run, sizeof run, "%ld.%lld", (long)getpid(), (long long)wall_ms());
    size_t want[4] = {0};
    int sent = 0;
    bus_status done[256];
    for (size_t i = 0; i < f->n; i++)
        for (size_t t = 0; t < 4; t++)
            if (!strcmp(f->r[i].topic, kafka_topics[t])) {
                kafka_name(kt, sizeof kt, run, kafka_topics[t]);
                bus_msg m = {kt, "k", f->r[i].value, f->r[i].len};
                done[sent] = BUS_ERR_IO;
                assert_int_equal(bus_publish(kb, &m, 1, published, &done[sent]), BUS_OK);
                sent++;
                want[t]++;
            }
    int64_t until = wall_ms() + 30000;
    while (bus_pending(kb) && wall_ms() < until)
        bus_poll(kb, 50);
    for (int i = 0; i < sent; i++)
        assert_int_equal(done[i], BUS_OK);

    progress *p;
    assert_int_equal(progress_open(&p, f->db, &cfg), 0);
    /* live: half committed, then the group resumes and Kafka redelivers the rest */
    for (size_t t = 0; t < 4; t++) {
        kafka_name(kt, sizeof kt, run, kafka_topics[t]);
        snprintf(group, sizeof group, "%s.live", kt);
        assert_int_equal(
            kafka_drain(kb, p, group, kt, kafka_topics[t], want[t], want[t] / 2, f->now), want[t]);
        size_t again = want[t] - want[t] / 2;
        assert_int_equal(kafka_drain(kb, p, group, kt, kafka_topics[t], again, again, f->now),
                         again);
    }
    progress_tick(p, f->now + 3600000);
    check_state(f);
    char *a = export_of(p);
    /* replay from zero into empty tables, readings last this time */
    assert_int_equal(progress_reset(p), 0);
    for (size_t k = 0; k < 4; k++) {
        size_t t = 3 - k;
        kafka_name(kt, sizeof kt, run, kafka_topics[t]);
        snprintf(group, sizeof group, "%s.replay", kt);
        assert_int_equal(kafka_drain(kb, p, group, kt, kafka_topics[t], want[t], want[t], f->now),
                         want[t]);
    }
    progress_tick(p, f->now + 3600000);
    char *b = export_of(p);
    assert_string_equal(a, b);
    free(a);
    free(b);
    progress_close(p);
    bus_close(kb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sessions_and_redelivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_from_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_consumers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_analytics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_reading_and_bridge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streak_in_user_time_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_samples_dropped_series_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_redelivery_and_replay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
