/* test_cfg.c - config files and flags: comments, errors, flags over the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fitcommon/cfg.h"

typedef struct seen {
    char name[64], port[16], mode[16];
    int calls;
} seen;

static int setting(void *ctx, const char *k, const char *v)
{
    seen *s = ctx;
    s->calls++;
    if (!strcmp(k, "config"))
        return 0;
    if (!strcmp(k, "gateway_id"))
        return snprintf(s->name, sizeof s->name, "%s", v) < (int)sizeof s->name ? 0 : -1;
    if (!strcmp(k, "local_port")) {
        int64_t n;
        if (cfg_parse_int(v, 1, 65535, &n))
            return -1;
        snprintf(s->port, sizeof s->port, "%lld", (long long)n);
        return 0;
    }
    if (!strcmp(k, "mode"))
        return snprintf(s->mode, sizeof s->mode, "%s", v) < (int)sizeof s->mode ? 0 : -1;
    return -1;
}

static const char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/fitgate-test-cfg-%d.conf", getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_file_comments_and_blanks(void **state)
{
    (void)state;
    seen s = {0};
    const char *p =
        write_file("# a comment\n\n  gateway_id =  gw-1  # trailing\nlocal_port=1883\n");
    assert_int_equal(cfg_load_file(p, setting, &s), 0);
    assert_string_equal(s.name, "gw-1");
    assert_string_equal(s.port, "1883");
    unlink(p);
}

static void test_file_errors(void **state)
{
    (void)state;
    seen s = {0};
    const char *p = write_file("gateway_id gw-1\n");
    assert_int_equal(cfg_load_file(p, setting, &s), -1); /* no '=' */
    p = write_file("unknown_key = 1\n");
    assert_int_equal(cfg_load_file(p, setting, &s), -1);
    p = write_file("Bad-Key = 1\n");
    assert_int_equal(cfg_load_file(p, setting, &s), -1);
    p = write_file("local_port = 70000\n");
    assert_int_equal(cfg_load_file(p, setting, &s), -1);
    p = write_file("local_port = 12x\n");
    assert_int_equal(cfg_load_file(p, setting, &s), -1);
    unlink(p);
    assert_int_equal(cfg_load_file("/nonexistent/fitgate.conf", setting, &s), -1);
}

static void test_flags_override_file(void **state)
{
    (void)state;
    seen s = {0};
    const char *p = write_file("gateway_id = from-file\nlocal_port = 1\n");
    char cfg[96];
    snprintf(cfg, sizeof cfg, "--config=%s", p);
    char *argv[] = {"prog", "--local-port", "2", cfg, "--gateway_id=from-flag", NULL};
    assert_int_equal(cfg_load(5, argv, setting, &s), 0);
    assert_string_equal(s.name, "from-flag");
    assert_string_equal(s.port, "2");
    unlink(p);
}

static void test_flag_errors_and_help(void **state)
{
    (void)state;
    seen s = {0};
    char *help[] = {"prog", "--help", NULL};
    assert_int_equal(cfg_load_args(2, help, setting, &s), 1);
    char *positional[] = {"prog", "oops", NULL};
    assert_int_equal(cfg_load_args(2, positional, setting, &s), -1);
    char *dangling[] = {"prog", "--mode", NULL};
    assert_int_equal(cfg_load_args(2, dangling, setting, &s), -1);
    char *unknown[] = {"prog", "--nope=1", NULL};
    assert_int_equal(cfg_load_args(2, unknown, setting, &s), -1);
    char *empty_value[] = {"prog", "--mode=", NULL};
    assert_int_equal(cfg_load_args(2, empty_value, setting, &s), 0);
    assert_string_equal(s.mode, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_comments_and_blanks),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_flag_errors_and_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
