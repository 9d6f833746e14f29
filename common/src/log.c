/* log.c - JSON log lines (see fitcommon/log.h). */
#include "fitcommon/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_service = "fitgate";
static log_level log_min = LOG_INFO;

void log_init(const char *service, log_level min_level)
{
    log_service = service;
    log_min = min_level;
}

int log_level_parse(const char *s, log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

size_t log_json_escape(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        size_t k;
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            k = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            k = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", *p);
        } else {
            tmp[0] = (char)*p;
            k = 1;
        }
        if (n + k < cap)
            memcpy(buf + n, tmp, k);
        n += k;
    }
    if (cap > 0)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

/* Append the escaped string to line at *len, never past cap. */
static void append_escaped(char *line, size_t cap, size_t *len, const char *s)
{
    if (*len >= cap)
        return;
    size_t n = log_json_escape(line + *len, cap - *len, s);
    *len += n < cap - *len ? n : cap - *len - 1;
}

static void append_raw(char *line, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= cap)
        n = cap - *len - 1;
    memcpy(line + *len, s, n);
    *len += n;
    line[*len] = '\0';
}

void log_event(log_level lvl, const char *action, const char *message, ...)
{
    static const char *lvl_names[] = {"debug", "info", "warn", "error"};
    if (lvl < log_min)
        return;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    char line[2048];
    size_t len = (size_t)snprintf(line, sizeof line,
                                  "{\"@timestamp\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\","
                                  "\"log.level\":\"%s\",\"service.name\":\"",
                                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                  tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, lvl_names[lvl]);
    append_escaped(line, sizeof line - 8, &len, log_service);
    append_raw(line, sizeof line - 8, &len, "\",\"event.action\":\"");
    append_escaped(line, sizeof line - 8, &len, action);
    append_raw(line, sizeof line - 8, &len, "\",\"message\":\"");
    append_escaped(line, sizeof line - 8, &len, message);
    append_raw(line, sizeof line - 8, &len, "\"");

    va_list ap;
    va_start(ap, message);
    const char *key = va_arg(ap, const char *);
    if (key) {
        append_raw(line, sizeof line - 8, &len, ",\"labels\":{");
        int first = 1;
        while (key) {
            const char *val = va_arg(ap, const char *);
            if (!first)
                append_raw(line, sizeof line - 8, &len, ",");
            first = 0;
            append_raw(line, sizeof line - 8, &len, "\"");
            append_escaped(line, sizeof line - 8, &len, key);
            append_raw(line, sizeof line - 8, &len, "\":\"");
            append_escaped(line, sizeof line - 8, &len, val ? val : "");
            append_raw(line, sizeof line - 8, &len, "\"");
            key = va_arg(ap, const char *);
        }
        append_raw(line, sizeof line - 8, &len, "}");
    }
    va_end(ap);
    append_raw(line, sizeof line, &len, "}\n");
    fputs(line, stderr);
}
