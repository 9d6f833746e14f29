/* test_cmd.c - gateway commands (cmd_parse), bindings file, gym idle rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_bind.h"
#include "cmd_parse.h"
#include "session.h"

static cmd_err parse(const char *s, cmd *c)
{
    const char *why = NULL;
    cmd_err e = cmd_parse(s, strlen(s), c, &why);
    assert_non_null(why);
    if (e != CMD_OK)
        assert_true(strlen(why) > 0); /* every refusal says why */
    return e;
}

static void test_good_commands(void **state)
{
    (void)state;
    cmd c;
    assert_int_equal(parse("{\"v\":1,\"id\":\"c-1\",\"op\":\"bind\","
                           "\"args\":{\"device\":\"AA:BB:CC:DD:EE:FF\"}}",
                           &c),
                     CMD_OK);
    assert_int_equal(c.op, CMD_BIND);
    assert_string_equal(c.id, "c-1");
    assert_string_equal(c.device, "AA:BB:CC:DD:EE:FF");

    assert_int_equal(parse("{\"v\":1,\"id\":\"s\",\"op\":\"scan\"}", &c), CMD_OK);
    assert_int_equal(c.seconds, 10); /* default */
    assert_int_equal(parse("{\"v\":1,\"id\":\"s\",\"op\":\"scan\",\"args\":{\"seconds\":120}}", &c),
                     CMD_OK);
    assert_int_equal(c.seconds, 120);

    assert_int_equal(parse("{\"v\":1,\"id\":\"w\",\"op\":\"set_wheel\",\"args\":{\"device\":"
                           "\"d1\",\"circumference_m\":2.096}}",
                           &c),
                     CMD_OK);
    assert_float_equal(c.wheel_m, 2.096, 1e-12);

    assert_int_equal(parse("{\"args\":{\"session\":\"s9\",\"device\":\"tm-1\"},\"op\":"
                           "\"session_start\",\"id\":\"x\",\"v\":1}",
                           &c),
                     CMD_OK);
    assert_int_equal(c.op, CMD_SESSION_START);
    assert_string_equal(c.session, "s9");
    assert_int_equal(c.idle_timeout_s, 300);
    assert_int_equal(parse("{\"v\":1,\"id\":\"x\",\"op\":\"session_stop\",\"args\":{\"session\":"
                           "\"s9\"}}",
                           &c),
                     CMD_OK);
    assert_int_equal(parse("{\"v\":1,\"id\":\"x\",\"op\":\"snapshot\",\"args\":{}}", &c), CMD_OK);
    assert_string_equal(cmd_op_str(c.op), "snapshot");
}

static void test_bad_commands(void **state)
{
    (void)state;
    cmd c;
    static const struct {
        const char *json;
        cmd_err want;
    } cases[] = {
        {"", CMD_E_MALFORMED},
        {"[]", CMD_E_MALFORMED},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"bind\"", CMD_E_MALFORMED},
        {"{\"v\":1,\"op\":\"snapshot\"}", CMD_E_MALFORMED},
        {"{\"v\":1,\"id\":\"\",\"op\":\"snapshot\"}", CMD_E_MALFORMED},
        {"{\"v\":1,\"id\":\"-a\",\"op\":\"snapshot\"}", CMD_E_MALFORMED},
        {"{\"v\":1,\"id\":\"a\",\"id\":\"b\",\"op\":\"snapshot\"}", CMD_E_MALFORMED},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"snapshot\",\"extra\":1}", CMD_E_MALFORMED},
        {"{\"v\":2,\"id\":\"a\",\"op\":\"snapshot\"}", CMD_E_VERSION},
        {"{\"id\":\"a\",\"op\":\"snapshot\"}", CMD_E_VERSION},
        {"{\"v\":\"1\",\"id\":\"a\",\"op\":\"snapshot\"}", CMD_E_VERSION},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"reboot\"}", CMD_E_UNKNOWN_OP},
        {"{\"v\":1,\"id\":\"a\",\"op\":7}", CMD_E_UNKNOWN_OP},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"bind\"}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"bind\",\"args\":[]}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"bind\",\"args\":{\"device\":\"a/b\"}}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"bind\",\"args\":{\"device\":\"+\"}}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"bind\",\"args\":{\"device\":1}}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"bind\",\"args\":{\"device\":\"d\",\"device\":\"e\"}}",
         CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"bind\",\"args\":{\"device\":\"d\",\"user\":\"e\"}}",
         CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"scan\",\"args\":{\"seconds\":0}}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"scan\",\"args\":{\"seconds\":1.5}}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"set_wheel\",\"args\":{\"device\":\"d\"}}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"set_wheel\",\"args\":{\"device\":\"d\","
         "\"circumference_m\":0.1}}",
         CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"session_start\",\"args\":{\"device\":\"d\"}}",
         CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"session_start\",\"args\":{\"device\":\"d\","
         "\"session\":\"s\",\"idle_timeout_s\":99999}}",
         CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"session_stop\",\"args\":{}}", CMD_E_BAD_ARGS},
        {"{\"v\":1,\"id\":\"a\",\"op\":\"snapshot\",\"args\":{\"x\":1}}", CMD_E_BAD_ARGS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cmd_err e = parse(cases[i].json, &c);
        if (e != cases[i].want)
            fail_msg("case %zu (%s): got %s, want %s", i, cases[i].json, cmd_err_str(e),
                     cmd_err_str(cases[i].want));
    }
    /* The id survives a refusal so the result can be matched. */
    assert_int_equal(parse("{\"v\":1,\"id\":\"keep-me\",\"op\":\"bind\"}", &c), CMD_E_BAD_ARGS);
    assert_string_equal(c.id, "keep-me");
    assert_int_equal(c.op, CMD_BIND);
    /* Oversized input is refused before parsing. */
    char *big = malloc(CMD_BYTES_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', CMD_BYTES_MAX + 1);
    big[CMD_BYTES_MAX + 1] = '\0';
    assert_int_equal(parse(big, &c), CMD_E_MALFORMED);
    free(big);
}

static fp_reading reading(fp_quantity q, double v)
{
    fp_reading r;
    assert_int_equal(fp_reading_init(&r, "tm-1", FP_KIND_TREADMILL, 1764000000000LL), FP_OK);
    assert_int_equal(fp_reading_add(&r, q, v), FP_OK);
    return r;
}

static void test_session_idle_rule(void **state)
{
    (void)state;
    gym_session s = {.idle_ms = 5000, .last_active_ms = 1000};
    snprintf(s.session, sizeof s.session, "s1");
    fp_reading moving = reading(FP_Q_SPEED, 2.5), stopped = reading(FP_Q_SPEED, 0);
    fp_reading hr_only = reading(FP_Q_HEART_RATE, 120);
    assert_true(sess_reading_active(&moving));
    assert_false(sess_reading_active(&stopped));
    assert_false(sess_reading_active(&hr_only));
    assert_false(sess_expired(&s, 5999));
    assert_int_equal(sess_remaining_ms(&s, 3000), 3000);
    sess_touch(&s, &stopped, 4000); /* a belt at 0 km/h is not someone walking */
    assert_true(sess_expired(&s, 6000));
    sess_touch(&s, &moving, 5500);
    assert_false(sess_expired(&s, 10499));
    assert_true(sess_expired(&s, 10500));
    sess_touch(&s, &moving, 100); /* an older clock never moves it back */
    assert_int_equal(s.last_active_ms, 5500);
    gym_session none = {.idle_ms = 1};
    assert_false(sess_expired(&none, 1000000));
    assert_int_equal(sess_remaining_ms(&none, 0), 0);
}

static void test_bindings_persist(void **state)
{
    (void)state;
    char path[] = "/tmp/fitgate-bind-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    cmd_bindings *b = NULL;
    assert_int_equal(cmdb_open(&b, path, 100), 0);
    cmd_binding x = {.wheel_m = 2.1};
    snprintf(x.device, sizeof x.device, "AA:BB:CC:DD:EE:01");
    assert_int_equal(cmdb_put(b, &x), 0);
    cmd_binding y = {.sess = {.idle_ms = 300000}};
    snprintf(y.device, sizeof y.device, "tm-7");
    snprintf(y.sess.session, sizeof y.sess.session, "s42");
    assert_int_equal(cmdb_put(b, &y), 0);
    x.wheel_m = 2.2;
    assert_int_equal(cmdb_put(b, &x), 0); /* replace, not add */
    assert_int_equal(cmdb_count(b), 2);
    assert_int_equal(cmdb_del(b, "nope"), 0);
    cmdb_close(b);

    assert_int_equal(cmdb_open(&b, path, 777), 0);
    assert_int_equal(cmdb_count(b), 2);
    cmd_binding *g = cmdb_get(b, "AA:BB:CC:DD:EE:01");
    assert_non_null(g);
    assert_float_equal(g->wheel_m, 2.2, 1e-12);
    g = cmdb_get(b, "tm-7");
    assert_non_null(g);
    assert_string_equal(g->sess.session, "s42");
    assert_int_equal(g->sess.idle_ms, 300000);
    assert_int_equal(g->sess.last_active_ms, 777); /* the idle clock restarts */
    assert_int_equal(cmdb_del(b, "tm-7"), 0);
    assert_null(cmdb_get(b, "tm-7"));
    cmdb_close(b);
    assert_int_equal(cmdb_open(&b, path, 0), 0);
    assert_int_equal(cmdb_count(b), 1);
    cmdb_close(b);
    unlink(path);
    char side[64];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_commands),
        cmocka_unit_test(test_bad_commands),
        cmocka_unit_test(test_session_idle_rule),
        cmocka_unit_test(test_bindings_persist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
