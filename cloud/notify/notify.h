/* notify.h - the notifier: business events -> messages to the people they
 * are about, in their messenger and language.
 *
 * The notifier consumes fit.identity.v1, fit.workouts.v1,
 * fit.gamification.v1 and fit.orders.v1 (consumer group "notifier") on the
 * core's event loop. Each event that deserves a message becomes one row in
 * its queue table (keyed by the event id, so a redelivered event is queued
 * once) in the same step that marks the record processed. A sender thread
 * delivers queued rows through notify_channels: per-chat pacing (Telegram
 * allows about one message per second per chat), the provider's retry_after
 * on 429, back-off on temporary errors, and no retry for a refused recipient
 * (a user who blocked the bot). Messages are never logged (they may carry
 * personal data); their event ids are.
 *
 * Which event data fields it reads is listed in docs/events.md.
 */
#ifndef FITGATE_NOTIFY_H
#define FITGATE_NOTIFY_H

#include <stdint.h>
#include <systemd/sd-event.h>

#include <cjson/cJSON.h>

#include "bus.h"
#include "channels.h"

/* Where a user can be reached. Empty fields are unknown. */
typedef struct notify_contact {
    int64_t telegram_chat_id;
    char whatsapp_id[72]; /* phone digits, or a business-scoped user id */
    char email[256];
    char lang[8]; /* "en", "ru", "zh" */
    char first_name[64];
    int opted_out; /* the user turned notifications off */
} notify_contact;

/* Look a user up (called from the sender thread: must be thread-safe).
 * 0 when found, -1 otherwise. */
typedef int (*notify_contact_fn)(void *ctx, int64_t user_id, notify_contact *out);

typedef struct notify_options {
    const char *db_path; /* core.db: the queue table lives there */
    notify_channels *ch; /* not owned; outlives the notifier */
    notify_contact_fn contact;
    void *contact_ctx;
    int per_chat_interval_ms; /* default 1100 */
    int max_attempts;         /* temporary failures before giving up, default 8 */
} notify_options;

typedef struct notifier notifier;

int notifier_new(notifier **out, sd_event *ev, bus *b, const notify_options *opt);
/* Stops the sender thread (a send in progress finishes first). */
void notifier_free(notifier *n);

/* Counts for tests: rows queued, sent, refused, failed for good. */
typedef struct notify_counts {
    uint64_t queued, sent, refused, failed;
} notify_counts;
void notifier_counts(notifier *n, notify_counts *out);

/* The message text for an event, in lang (pure; for tests and previews).
 * Returns 0 and a malloc'd text, or -1 when the event type sends nothing. */
int notify_compose(const char *type, const cJSON *data, const char *lang, const char *first_name,
                   char **text);
/* 1 when the event is a security notice that goes to every channel the
 * user has (Telegram, WhatsApp and e-mail), not only the first (pure). */
int notify_every_channel(const char *type, const cJSON *data);

#endif
