/* fitcommon/metrics.h - counters and gauges in Prometheus text format.
 *
 * A process registers its metrics once at start-up (static storage, no free)
 * and bumps them from anywhere. Values are 64-bit atomics, so the HTTP thread
 * of the core can render them while the event loop counts.
 *
 *   static metric m_rejected;
 *   metric_register(&m_rejected, "fitgate_edge_rejected_total", "counter",
 *                   "Device payloads rejected", "reason=\"length\"");
 *   metric_add(&m_rejected, 1);
 */
#ifndef FITCOMMON_METRICS_H
#define FITCOMMON_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct metric {
    const char *name; /* e.g. "fitgate_edge_readings_total" */
    const char *type; /* "counter" or "gauge" */
    const char *help;
    const char *labels; /* NULL or 'key="value",key2="v"' */
    _Atomic int64_t value;
    struct metric *next;
} metric;

/* Register m (caller-owned storage that lives until exit). */
void metric_register(metric *m, const char *name, const char *type, const char *help,
                     const char *labels);
static inline void metric_add(metric *m, int64_t n)
{
    atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}
static inline void metric_set(metric *m, int64_t v)
{
    atomic_store_explicit(&m->value, v, memory_order_relaxed);
}
static inline int64_t metric_get(const metric *m)
{
    return atomic_load_explicit((_Atomic int64_t *)&m->value, memory_order_relaxed);
}

/* Render all registered metrics. Returns a malloc'd NUL-terminated string the
 * caller frees, or NULL on allocation failure. */
char *metrics_render(void);

/* Write the rendered metrics to path atomically (tmp + rename); 0 or -errno.
 * fitgate-edge uses this for node_exporter's textfile collector. */
int metrics_write_file(const char *path);

#endif
