/* test_update.c - the `update` command's arguments and the reboot argv split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cmd_parse.h"
#include "update_agent.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static cmd_err parse(const char *args, cmd *c)
{
    char buf[CMD_BYTES_MAX + 64];
    snprintf(buf, sizeof buf, "{\"v\":1,\"id\":\"u-1\",\"op\":\"update\",\"args\":%s}", args);
    const char *why = NULL;
    cmd_err e = cmd_parse(buf, strlen(buf), c, &why);
    if (e != CMD_OK)
        assert_true(strlen(why) > 0);
    return e;
}

static void test_good(void **state)
{
    (void)state;
    cmd c;
    assert_int_equal(parse("{\"url\":\"https://updates.example/b/42/\",\"sha256\":\"" SHA
                           "\",\"size\":1234}",
                           &c),
                     CMD_OK);
    assert_int_equal(c.op, CMD_UPDATE);
    assert_string_equal(cmd_op_str(c.op), "update");
    assert_string_equal(c.url, "https://updates.example/b/42/");
    assert_string_equal(c.sha256, SHA);
    assert_true(c.size == 1234);
    assert_int_equal(parse("{\"size\":9007199254740991,\"sha256\":\"" SHA
                           "\",\"url\":\"http://127.0.0.1:8080/b\"}",
                           &c),
                     CMD_OK);
    assert_true(c.size == 9007199254740991ULL);
    /* 1024 chars exactly is the longest URL */
    char args[1400], url[1025];
    memset(url, 'a', sizeof url);
    memcpy(url, "https://x/", 10);
    url[1024] = 0;
    snprintf(args, sizeof args, "{\"url\":\"%s\",\"sha256\":\"" SHA "\",\"size\":1}", url);
    assert_int_equal(parse(args, &c), CMD_OK);
    assert_int_equal(strlen(c.url), 1024);
}

static void test_bad(void **state)
{
    (void)state;
    cmd c;
    static const char *const cases[] = {
        "{}",
        "{\"url\":\"https://x/\",\"sha256\":\"" SHA "\"}", /* no size */
        "{\"url\":\"https://x/\",\"size\":1}",             /* no sha256 */
        "{\"sha256\":\"" SHA "\",\"size\":1}",             /* no url */
        "{\"url\":\"ftp://x/\",\"sha256\":\"" SHA "\",\"size\":1}",
        "{\"url\":\"file:///etc/passwd\",\"sha256\":\"" SHA "\",\"size\":1}",
        "{\"url\":\"https://x/ --slots /tmp/evil\",\"sha256\":\"" SHA "\",\"size\":1}",
        "{\"url\":\"https://x/\\n\",\"sha256\":\"" SHA "\",\"size\":1}",
        "{\"url\":\"https://x/\\u00e9\",\"sha256\":\"" SHA "\",\"size\":1}",
        "{\"url\":\"\",\"sha256\":\"" SHA "\",\"size\":1}",
        "{\"url\":7,\"sha256\":\"" SHA "\",\"size\":1}",
        "{\"url\":\"https://x/\",\"sha256\":\"" SHA "0\",\"size\":1}",
        "{\"url\":\"https://x/\",\"sha256\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef"
        "0123456789abcdef\",\"size\":1}",
        "{\"url\":\"https://x/\",\"sha256\":\"g123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789abcdef\",\"size\":1}",
        "{\"url\":\"https://x/\",\"sha256\":\"" SHA "\",\"size\":0}",
        "{\"url\":\"https://x/\",\"sha256\":\"" SHA "\",\"size\":-1}",
        "{\"url\":\"https://x/\",\"sha256\":\"" SHA "\",\"size\":1.5}",
        "{\"url\":\"https://x/\",\"sha256\":\"" SHA "\",\"size\":\"1\"}",
        "{\"url\":\"https://x/\",\"sha256\":\"" SHA "\",\"size\":9007199254740992}",
        "{\"url\":\"https://x/\",\"sha256\":\"" SHA "\",\"size\":1,\"slots\":\"/x\"}",
        "{\"url\":\"https://x/\",\"url\":\"https://y/\",\"sha256\":\"" SHA "\",\"size\":1}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.op = CMD_NONE;
        cmd_err e = parse(cases[i], &c);
        if (e != CMD_E_BAD_ARGS)
            fail_msg("case %zu accepted or wrong error: %s", i, cases[i]);
        assert_int_equal(c.op, CMD_UPDATE); /* the result still names the op */
    }
    /* 1025 chars: one too many */
    char args[1400], url[1026];
    memset(url, 'a', sizeof url);
    memcpy(url, "https://x/", 10);
    url[1025] = 0;
    snprintf(args, sizeof args, "{\"url\":\"%s\",\"sha256\":\"" SHA "\",\"size\":1}", url);
    assert_int_equal(parse(args, &c), CMD_E_BAD_ARGS);
}

static void test_split_argv(void **state)
{
    (void)state;
    char buf[64], *argv[4];
    assert_int_equal(upd_split_argv("/usr/bin/systemctl  reboot\t", buf, sizeof buf, argv, 4), 2);
    assert_string_equal(argv[0], "/usr/bin/systemctl");
    assert_string_equal(argv[1], "reboot");
    assert_null(argv[2]);
    assert_int_equal(upd_split_argv("a b c", buf, sizeof buf, argv, 4), 3);
    assert_int_equal(upd_split_argv("a b c d", buf, sizeof buf, argv, 4),
                     -1); /* no room for NULL */
    assert_int_equal(upd_split_argv("", buf, sizeof buf, argv, 4), 0);
    assert_null(argv[0]);
    char longs[100];
    memset(longs, 'x', sizeof longs - 1);
    longs[99] = 0;
    assert_int_equal(upd_split_argv(longs, buf, sizeof buf, argv, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_split_argv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
