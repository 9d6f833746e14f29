/* test_io.c - the capped reply buffer and power-safe file replacement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fitcommon/fileio.h"
#include "fitcommon/membuf.h"

static void test_membuf(void **state)
{
    (void)state;
    membuf b = {.max = 10};
    char chunk[] = "hello";
    assert_int_equal(membuf_curl_write(chunk, 1, 5, &b), 5);
    assert_string_equal(b.p, "hello");
    assert_int_equal(membuf_curl_write(chunk, 5, 1, &b), 5);
    assert_int_equal(b.len, 10);
    /* One byte over the cap: refused whole (libcurl then aborts), unchanged. */
    assert_int_equal(membuf_curl_write(chunk, 1, 1, &b), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.p, "hellohello");
    assert_int_equal(membuf_append(&b, "", 0), 0);
    membuf_free(&b, 1);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    /* Default cap 64 KiB; sizes that would overflow are refused. */
    membuf d = {0};
    assert_int_equal(membuf_append(&d, "x", (size_t)-1), -1);
    char *big = calloc(1, 64 * 1024 + 1);
    assert_int_equal(membuf_append(&d, big, 64 * 1024), 0);
    assert_int_equal(membuf_append(&d, big, 1), -1);
    free(big);
    membuf_free(&d, 0);
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void test_file_write_atomic(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_io.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tmp[128], other[128], buf[64];
    snprintf(path, sizeof path, "%s/key.pem", dir);
    snprintf(tmp, sizeof tmp, "%s/.key.pem.tmp", dir);
    snprintf(other, sizeof other, "%s/victim", dir);
    assert_int_equal(file_write_atomic(path, "one", 3, 0600), 0);
    read_file(path, buf, sizeof buf);
    assert_string_equal(buf, "one");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A stale tmp left by a power cut, even a symlink planted there, is
     * never written through: it is removed and made anew. */
    FILE *v = fopen(other, "w");
    fputs("untouched", v);
    fclose(v);
    assert_int_equal(symlink(other, tmp), 0);
    assert_int_equal(file_write_atomic(path, "two", 3, 0644), 0);
    read_file(path, buf, sizeof buf);
    assert_string_equal(buf, "two");
    read_file(other, buf, sizeof buf);
    assert_string_equal(buf, "untouched");
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* No such directory: an error, errno set. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope/file", dir);
    errno = 0;
    assert_int_equal(file_write_atomic(missing, "x", 1, 0600), -1);
    assert_int_equal(errno, ENOENT);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_membuf),
        cmocka_unit_test(test_file_write_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
