/* fitcommon/membuf.h - a growing byte buffer with a size cap, always
 * NUL-terminated, and libcurl's write callback over it.
 *
 * Replies from outside APIs are read into one of these: the cap keeps an
 * endless or oversized reply from growing the process (libcurl aborts the
 * transfer when the callback takes less than it was given).
 *
 *   membuf b = {.max = 64 * 1024};
 *   curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, membuf_curl_write);
 *   curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
 *   ... b.p (NULL when nothing came), b.len ...
 *   membuf_free(&b);
 *
 * Ownership: b.p is malloc'd by the buffer; membuf_free() releases it.
 */
#ifndef FITCOMMON_MEMBUF_H
#define FITCOMMON_MEMBUF_H

#include <stddef.h>

typedef struct membuf {
    char *p;    /* NUL-terminated contents, or NULL while empty */
    size_t len; /* bytes in p, without the NUL */
    size_t max; /* most bytes it takes; 0 = 64 KiB */
} membuf;

/* Append n bytes. 0, or -1 when that would pass max or memory ran out (the
 * buffer is unchanged then). */
int membuf_append(membuf *b, const void *data, size_t n);

/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA = a membuf *. */
size_t membuf_curl_write(char *data, size_t size, size_t nmemb, void *b);

/* Free the contents (zeroed first when wipe: replies may hold secrets). */
void membuf_free(membuf *b, int wipe);

#endif
