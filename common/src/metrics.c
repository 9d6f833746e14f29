/* metrics.c - Prometheus text rendering (see fitcommon/metrics.h). */
#include "fitcommon/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static metric *metrics_head;
static metric *metrics_tail;

void metric_register(metric *m, const char *name, const char *type, const char *help,
                     const char *labels)
{
    m->name = name;
    m->type = type;
    m->help = help;
    m->labels = labels;
    m->next = NULL;
    /* Keep registration order so metrics of one family stay together. */
    if (metrics_tail)
        metrics_tail->next = m;
    else
        metrics_head = m;
    metrics_tail = m;
}

char *metrics_render(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    const char *last_name = "";
    for (const metric *m = metrics_head; m; m = m->next) {
        /* HELP/TYPE once per family (labelled series share a name). */
        if (strcmp(m->name, last_name) != 0) {
            fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
            last_name = m->name;
        }
        if (m->labels && m->labels[0])
            fprintf(f, "%s{%s} %lld\n", m->name, m->labels, (long long)metric_get(m));
        else
            fprintf(f, "%s %lld\n", m->name, (long long)metric_get(m));
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int metrics_write_file(const char *path)
{
    char *text = metrics_render();
    if (!text)
        return -ENOMEM;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        free(text);
        return -ENAMETOOLONG;
    }
    int rc = 0;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        rc = -errno;
    } else {
        if (fputs(text, f) < 0)
            rc = -EIO;
        if (fclose(f) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
        if (rc != 0)
            unlink(tmp);
    }
    free(text);
    return rc;
}
