/* membuf.c - see fitcommon/membuf.h. */
#include "fitcommon/membuf.h"

#include <stdlib.h>
#include <string.h>

int membuf_append(membuf *b, const void *data, size_t n)
{
    size_t max = b->max ? b->max : 64 * 1024;
    if (n > max || b->len > max - n)
        return -1;
    char *p = realloc(b->p, b->len + n + 1);
    if (!p)
        return -1;
    memcpy(p + b->len, data, n);
    b->p = p;
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

size_t membuf_curl_write(char *data, size_t size, size_t nmemb, void *b)
{
    size_t n = size * nmemb;
    return membuf_append(b, data, n) == 0 ? n : 0;
}

void membuf_free(membuf *b, int wipe)
{
    if (b->p && wipe) {
        volatile char *v = b->p;
        for (size_t i = 0; i < b->len; i++)
            v[i] = 0;
    }
    free(b->p);
    b->p = NULL;
    b->len = 0;
}
