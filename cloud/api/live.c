/* live.c - the live hub (see live.h). */
#include "live.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fitcommon/metrics.h"
#include "fitproto/msg.h"

#define OWNER_SLOTS 1024 /* owner cache: direct-mapped by device hash */
#define PEND_MAX    (64 * 1024)

/* Event ids are "<ring epoch>.<seq>". The epoch changes whenever a user's
 * ring is created anew, so an id from an older ring is never mistaken for a
 * position in this one; within a ring, seq counts 1, 2, ... A client that
 * reconnects with Last-Event-ID resumes after that event while the ring still
 * holds it (the ring outlives its last stream by LIVE_LINGER_MS so that a
 * dropped connection can come back); otherwise it gets a "reset" event and
 * fills the gap from /api/v1/readings. */
typedef struct live_ring {
    int64_t user;
    uint32_t epoch;
    int64_t idle_since_ms; /* when nclients dropped to 0 (lingering) */
    uint64_t next_seq;     /* seq the next event gets; events are 1, 2, ... */
    char *ev[LIVE_RING];
    size_t ev_len[LIVE_RING];
    int nclients;
    pthread_cond_t cv;
    struct live_ring *next;
} live_ring;

struct live_client {
    live_hub *hub;
    live_ring *ring;
    uint64_t next_seq; /* next event to send */
    int hello_sent;
    int reset_due; /* Last-Event-ID could not be honoured: say so first */
    char *pend;    /* formatted, not yet handed to the reader */
    size_t pend_len, pend_off;
};

typedef struct owner_slot {
    char device[FP_DEVICE_MAX + 1];
    int64_t user; /* 0: unbound */
    int64_t expires_ms;
} owner_slot;

struct live_hub {
    pthread_mutex_t mu; /* rings, clients, stopping */
    live_ring *rings;
    int nclients, max_clients, stopping;
    int nrings; /* read without the lock by live_push */
    uint32_t next_epoch;

    pthread_mutex_t owner_mu; /* store handle and owner cache */
    store *s;
    owner_slot owners[OWNER_SLOTS];
};

static metric m_pushed, m_delivered, m_dropped, m_streams, m_owner_lookups;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void live_metrics_register(void)
{
    metric_register(&m_pushed, "fitgate_api_live_events_total", "counter",
                    "Readings queued for live streams", NULL);
    metric_register(&m_delivered, "fitgate_api_live_delivered_total", "counter",
                    "Live events written to streams", NULL);
    metric_register(&m_dropped, "fitgate_api_live_dropped_total", "counter",
                    "Live events a slow stream lost (oldest first)", NULL);
    metric_register(&m_streams, "fitgate_api_live_streams", "gauge", "Open live streams", NULL);
    metric_register(&m_owner_lookups, "fitgate_api_live_owner_lookups_total", "counter",
                    "Device owner lookups in the store (cache misses)", NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

live_hub *live_hub_new(store *s, int max_clients)
{
    pthread_once(&metrics_once, live_metrics_register);
    live_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->owner_mu, NULL);
    h->s = s;
    h->max_clients = max_clients;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->next_epoch = (uint32_t)(ts.tv_sec ^ ts.tv_nsec); /* differs across restarts */
    return h;
}

void live_hub_shutdown(live_hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    for (live_ring *r = h->rings; r; r = r->next)
        pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&h->mu);
}

static void ring_free(live_ring *r)
{
    for (int i = 0; i < LIVE_RING; i++)
        free(r->ev[i]);
    pthread_cond_destroy(&r->cv);
    free(r);
}

void live_hub_free(live_hub *h)
{
    if (!h)
        return;
    /* Streams normally unsubscribed already (the HTTP server is stopped). */
    while (h->rings) {
        live_ring *r = h->rings;
        h->rings = r->next;
        ring_free(r);
    }
    store_close(h->s);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->owner_mu);
    free(h);
}

int live_clients(live_hub *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->nclients;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ---- owners ---- */

static uint32_t fnv1a(const char *s)
{
    uint32_t x = 2166136261u;
    for (; *s; s++)
        x = (x ^ (uint8_t)*s) * 16777619u;
    return x;
}

static int64_t owner_of(live_hub *h, const char *device)
{
    int64_t now = mono_ms(), user = 0;
    pthread_mutex_lock(&h->owner_mu);
    owner_slot *slot = &h->owners[fnv1a(device) % OWNER_SLOTS];
    if (slot->expires_ms > now && strcmp(slot->device, device) == 0) {
        user = slot->user;
    } else {
        metric_add(&m_owner_lookups, 1);
        if (store_device_owner(h->s, device, &user) != STORE_OK)
            user = 0; /* unbound, or an I/O error (logged by the store) */
        snprintf(slot->device, sizeof slot->device, "%s", device);
        slot->user = user;
        slot->expires_ms = now + LIVE_OWNER_TTL_MS;
    }
    pthread_mutex_unlock(&h->owner_mu);
    return user;
}

void live_forget_owners(live_hub *h)
{
    pthread_mutex_lock(&h->owner_mu);
    for (int i = 0; i < OWNER_SLOTS; i++)
        h->owners[i].expires_ms = 0;
    pthread_mutex_unlock(&h->owner_mu);
}

/* ---- push ---- */

static live_ring *ring_find(live_hub *h, int64_t user)
{
    for (live_ring *r = h->rings; r; r = r->next)
        if (r->user == user)
            return r;
    return NULL;
}

/* Free rings whose last stream left more than LIVE_LINGER_MS ago, and the
 * oldest idle ones beyond max_clients (memory stays bounded). h->mu held. */
static void sweep_locked(live_hub *h, int64_t now)
{
    int idle = 0;
    for (live_ring *r = h->rings; r; r = r->next)
        idle += r->nclients == 0;
    for (live_ring **pp = &h->rings; *pp;) {
        live_ring *r = *pp;
        if (r->nclients == 0 &&
            (now - r->idle_since_ms > LIVE_LINGER_MS || idle > h->max_clients)) {
            *pp = r->next;
            ring_free(r);
            idle--;
            __atomic_store_n(&h->nrings, h->nrings - 1, __ATOMIC_RELAXED);
        } else {
            pp = &r->next;
        }
    }
}

void live_push(live_hub *h, const fp_reading *r)
{
    /* Nobody watching (not even a ring waiting for a reconnect): skip the
     * owner lookup entirely (the common case). */
    if (__atomic_load_n(&h->nrings, __ATOMIC_RELAXED) == 0)
        return;
    int64_t user = owner_of(h, r->device);
    if (user <= 0)
        return;
    char json[2048];
    size_t len;
    if (fp_reading_encode(r, json, sizeof json, &len) != FP_OK)
        return;
    pthread_mutex_lock(&h->mu);
    live_ring *ring = ring_find(h, user);
    if (ring) {
        uint64_t seq = ring->next_seq++;
        char *ev = NULL;
        int n = asprintf(&ev, "id: %u.%llu\nevent: reading\ndata: %s\n\n", ring->epoch,
                         (unsigned long long)seq, json);
        size_t slot = seq % LIVE_RING;
        free(ring->ev[slot]);
        ring->ev[slot] = n < 0 ? NULL : ev;
        ring->ev_len[slot] = n < 0 ? 0 : (size_t)n;
        metric_add(&m_pushed, 1);
        pthread_cond_broadcast(&ring->cv);
    }
    sweep_locked(h, mono_ms());
    pthread_mutex_unlock(&h->mu);
}

/* ---- streams ---- */

/* Parse "<epoch>.<seq>"; 0 when it is not one. */
static int parse_event_id(const char *s, uint32_t *epoch, uint64_t *seq)
{
    unsigned long e;
    unsigned long long q;
    char tail;
    if (!s || sscanf(s, "%lu.%llu%c", &e, &q, &tail) != 2 || e > UINT32_MAX)
        return 0;
    *epoch = (uint32_t)e;
    *seq = q;
    return 1;
}

live_client *live_subscribe(live_hub *h, int64_t user_id, const char *last_event_id)
{
    live_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_lock(&h->mu);
    live_ring *ring = NULL;
    if (h->nclients >= h->max_clients || h->stopping)
        goto full;
    ring = ring_find(h, user_id);
    if (!ring) {
        ring = calloc(1, sizeof *ring);
        if (!ring)
            goto full;
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&ring->cv, &attr);
        pthread_condattr_destroy(&attr);
        ring->user = user_id;
        ring->epoch = h->next_epoch++;
        ring->next_seq = 1;
        ring->next = h->rings;
        h->rings = ring;
        __atomic_store_n(&h->nrings, h->nrings + 1, __ATOMIC_RELAXED);
    }
    ring->nclients++;
    __atomic_store_n(&h->nclients, h->nclients + 1, __ATOMIC_RELAXED);
    metric_set(&m_streams, h->nclients);
    c->hub = h;
    c->ring = ring;
    c->next_seq = ring->next_seq; /* from now on; history comes from /readings */
    uint32_t epoch;
    uint64_t seq;
    if (last_event_id && last_event_id[0]) {
        uint64_t oldest = ring->next_seq > LIVE_RING ? ring->next_seq - LIVE_RING : 1;
        if (parse_event_id(last_event_id, &epoch, &seq) && epoch == ring->epoch &&
            seq + 1 >= oldest && seq < ring->next_seq)
            c->next_seq = seq + 1; /* resume right after what the client has */
        else
            c->reset_due = 1;
    }
    pthread_mutex_unlock(&h->mu);
    return c;
full:
    pthread_mutex_unlock(&h->mu);
    free(c);
    return NULL;
}

void live_unsubscribe(live_client *c)
{
    if (!c)
        return;
    live_hub *h = c->hub;
    pthread_mutex_lock(&h->mu);
    if (--c->ring->nclients == 0)
        c->ring->idle_since_ms = mono_ms(); /* lingers for a reconnect */
    sweep_locked(h, mono_ms());
    __atomic_store_n(&h->nclients, h->nclients - 1, __ATOMIC_RELAXED);
    metric_set(&m_streams, h->nclients);
    pthread_mutex_unlock(&h->mu);
    free(c->pend);
    free(c);
}

/* Move available events into c->pend. Runs with h->mu held. */
static void collect_locked(live_client *c)
{
    live_ring *ring = c->ring;
    if (ring->next_seq > LIVE_RING && c->next_seq < ring->next_seq - LIVE_RING) {
        uint64_t oldest = ring->next_seq - LIVE_RING;
        metric_add(&m_dropped, (int64_t)(oldest - c->next_seq));
        c->next_seq = oldest;
    }
    size_t need = 0;
    for (uint64_t s = c->next_seq; s < ring->next_seq; s++)
        need += ring->ev_len[s % LIVE_RING];
    if (need == 0)
        return;
    if (need > PEND_MAX)
        need = PEND_MAX;
    char *buf = malloc(need > 4096 ? need : 4096);
    if (!buf)
        return;
    size_t len = 0;
    int n = 0;
    while (c->next_seq < ring->next_seq) {
        size_t slot = c->next_seq % LIVE_RING;
        if (len > 0 && len + ring->ev_len[slot] > need)
            break;
        if (ring->ev[slot] && len + ring->ev_len[slot] <= need) {
            memcpy(buf + len, ring->ev[slot], ring->ev_len[slot]);
            len += ring->ev_len[slot];
            n++;
        }
        c->next_seq++;
    }
    free(c->pend);
    c->pend = buf;
    c->pend_len = len;
    c->pend_off = 0;
    metric_add(&m_delivered, n);
}

static ssize_t take_pend(live_client *c, char *buf, size_t max)
{
    size_t n = c->pend_len - c->pend_off;
    if (n > max)
        n = max;
    memcpy(buf, c->pend + c->pend_off, n);
    c->pend_off += n;
    return (ssize_t)n;
}

static int set_pend(live_client *c, const char *text)
{
    free(c->pend);
    c->pend = strdup(text);
    c->pend_len = c->pend ? strlen(text) : 0;
    c->pend_off = 0;
    return c->pend != NULL;
}

ssize_t live_read(live_client *c, char *buf, size_t max, int keepalive_ms)
{
    if (max == 0)
        return 0;
    if (c->pend_off < c->pend_len)
        return take_pend(c, buf, max);
    /* The first bytes tell EventSource how soon to reconnect, and the client
     * that the stream is subscribed (tests wait for them before pushing). */
    if (!c->hello_sent) {
        c->hello_sent = 1;
        return set_pend(c, "retry: 2000\n: connected\n\n") ? take_pend(c, buf, max) : -1;
    }
    if (c->reset_due) {
        c->reset_due = 0;
        return set_pend(c, "event: reset\ndata: {}\n\n") ? take_pend(c, buf, max) : -1;
    }
    live_hub *h = c->hub;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += keepalive_ms / 1000;
    deadline.tv_nsec += (long)(keepalive_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    int timed_out = 0;
    while (!h->stopping && c->next_seq >= c->ring->next_seq && !timed_out)
        timed_out = pthread_cond_timedwait(&c->ring->cv, &h->mu, &deadline) != 0;
    int stopping = h->stopping;
    if (!stopping)
        collect_locked(c);
    pthread_mutex_unlock(&h->mu);
    if (stopping)
        return -1;
    if (c->pend_off < c->pend_len)
        return take_pend(c, buf, max);
    return set_pend(c, ": keep-alive\n\n") ? take_pend(c, buf, max) : -1;
}
