/* live.h - the live hub: fans readings out to the users' SSE streams.
 *
 * live_push() (any thread, typically the core's event loop) resolves the
 * device's owner through a short-lived cache backed by the store, and appends
 * the encoded event to that user's ring of the last LIVE_RING events. Each
 * stream keeps its own position in the ring: a slow stream loses its oldest
 * events (counted), it never slows the pusher down. A ring exists while the
 * user has a stream open and LIVE_LINGER_MS after the last one closed, so a
 * client that reconnects with Last-Event-ID resumes without a gap; when that
 * is not possible the stream starts with an "event: reset" (refill from
 * /api/v1/readings).
 */
#ifndef FITGATE_API_LIVE_H
#define FITGATE_API_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fitproto/reading.h"
#include "store.h"

#define LIVE_RING         256
#define LIVE_KEEPALIVE_MS 15000
#define LIVE_OWNER_TTL_MS 5000
#define LIVE_LINGER_MS    60000

typedef struct live_hub live_hub;
typedef struct live_client live_client;

/* s: a store handle the hub owns from now on (closed by live_hub_free). */
live_hub *live_hub_new(store *s, int max_clients);
/* Wake every stream and make it end; call before stopping the HTTP server. */
void live_hub_shutdown(live_hub *h);
void live_hub_free(live_hub *h);

void live_push(live_hub *h, const fp_reading *r);
/* Forget cached device owners (after a binding changed). */
void live_forget_owners(live_hub *h);

/* Open a stream for user_id; NULL when max_clients streams are open.
 * last_event_id (may be NULL): the Last-Event-ID header of a reconnect. */
live_client *live_subscribe(live_hub *h, int64_t user_id, const char *last_event_id);
/* Close a stream (any thread). */
void live_unsubscribe(live_client *c);
/* Fill buf with up to max bytes of the stream: waits up to keepalive_ms for
 * events, then writes a keep-alive comment. Returns bytes written (> 0), or
 * -1 once the hub is shut down. Only one thread reads a given client. */
ssize_t live_read(live_client *c, char *buf, size_t max, int keepalive_ms);

/* Streams open now. */
int live_clients(live_hub *h);

#endif
