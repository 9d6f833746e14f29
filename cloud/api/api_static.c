/* api_static.c - the mini app's files, from one directory, safely. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_int.h"

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
        {".map", "application/json"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* A URL path we are willing to map to a file: "/" + segments of
 * [A-Za-z0-9._-], none empty, none starting with '.' (no "..", no dotfiles). */
static int static_path_ok(const char *url)
{
    if (url[0] != '/')
        return 0;
    const char *seg = url + 1;
    for (const char *p = url + 1;; p++) {
        char ch = *p;
        if (ch == '/' || ch == '\0') {
            if (p == seg || seg[0] == '.')
                return 0;
            if (ch == '\0')
                return 1;
            seg = p + 1;
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')) {
            return 0;
        }
    }
}

int api_static_serve(api_req *rq)
{
    const char *url = rq->url;
    int api_path = strncmp(url, "/api/", 5) == 0 || strncmp(url, "/dev/", 5) == 0;
    metric_add(api_counter("fitgate_api_requests_total", "HTTP requests by endpoint", "endpoint",
                           api_path ? "other" : "static"),
               1);
    if (api_path)
        return api_reply_error(rq, 404, "not_found", "no such endpoint");
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
        return api_reply_error(rq, 405, "method_not_allowed", "method not allowed");
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    api *a = rq->a;
    const char *type = content_type(url);
    char path[PATH_MAX], real[PATH_MAX];
    if (!a->miniapp_root || !static_path_ok(url) || !type ||
        snprintf(path, sizeof path, "%s%s", a->miniapp_root, url) >= (int)sizeof path ||
        !realpath(path, real))
        return api_reply_error(rq, 404, "not_found", "no such page");
    /* Symlinks may not lead outside the mini app directory. */
    size_t root_len = strlen(a->miniapp_root);
    if (strncmp(real, a->miniapp_root, root_len) != 0 || real[root_len] != '/')
        return api_reply_error(rq, 404, "not_found", "no such page");
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        return api_reply_error(rq, 404, "not_found", "no such page");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!r) {
        close(fd);
        return -1;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    return api_req_queue(rq, 200, r);
}
