/* fitcommon/log.h - one JSON object per log line, ECS field names.
 *
 *   {"@timestamp":"2026-11-25T09:40:46.123Z","log.level":"info",
 *    "service.name":"fitgate-edge","message":"spool opened","event.action":"spool_open",
 *    "labels":{"path":"/var/lib/fitgate/spool.db"}}
 *
 * Lines go to stderr (journald / the container runtime ship them). Never pass
 * secrets (tokens, init data, keys, passwords) to these functions.
 */
#ifndef FITCOMMON_LOG_H
#define FITCOMMON_LOG_H

#include <stddef.h>

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Set once at start-up. `service` must outlive all logging (a literal). */
void log_init(const char *service, log_level min_level);
/* Parse "debug"/"info"/"warn"/"error"; returns -1 on anything else. */
int log_level_parse(const char *s, log_level *out);

/* action: short snake_case event name (event.action). labels: NULL or
 * alternating key, value strings ending with NULL; values are JSON-escaped. */
void log_event(log_level lvl, const char *action, const char *message, ...)
    __attribute__((sentinel));

#define log_info(action, msg, ...)  log_event(LOG_INFO, action, msg, ##__VA_ARGS__, (char *)0)
#define log_warn(action, msg, ...)  log_event(LOG_WARN, action, msg, ##__VA_ARGS__, (char *)0)
#define log_error(action, msg, ...) log_event(LOG_ERROR, action, msg, ##__VA_ARGS__, (char *)0)
#define log_debug(action, msg, ...) log_event(LOG_DEBUG, action, msg, ##__VA_ARGS__, (char *)0)

/* Append s to buf as a JSON string body (no quotes); returns bytes written, or
 * the bytes needed if cap is too small (like snprintf). */
size_t log_json_escape(char *buf, size_t cap, const char *s);

#endif
