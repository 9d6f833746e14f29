/* update_agent.c - fetch, install, mark-good through fitgate-fw (update_agent.h). */
#include "update_agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "fitproto/reading.h"

#define LINE_MAX_BYTES 4096
#define ARGV_MAX       24

typedef enum job { JOB_NONE, JOB_FETCH, JOB_INSTALL, JOB_REBOOT, JOB_STATUS, JOB_MARK } job;

static const char *const job_names[] = {"", "fetch", "install", "reboot", "status", "mark_good"};

struct upd_agent {
    sd_event *ev;
    mqloop *mq;
    char t_event[128];
    char slots[1024], dir[1024], fw[1024], cafile[1024], bundle[1100];
    uint64_t max_bytes;
    char reboot_buf[1024];
    char *reboot_argv[ARGV_MAX];
    int reboot_argc;
    /* The running child. */
    job job;
    pid_t pid;
    int out_fd;
    sd_event_source *io, *child;
    char line[LINE_MAX_BYTES + 1];
    size_t line_len;
    bool line_overflow;
    /* The update in progress. */
    char id[65], url[1025], sha256[65];
    uint64_t size;
    char error[64], slot[2];
    /* Mark-good. */
    bool cloud_seen, check_pending;
    bool need_mark, rolled_back;
    char booted[2];
    uint64_t booted_version;
};

static metric m_started, m_failed, m_installed, m_marked;
static int metrics_done;

static void upd_metrics_init(void)
{
    if (metrics_done++)
        return;
    metric_register(&m_started, "fitgate_edge_updates_started_total", "counter",
                    "Update commands accepted", NULL);
    metric_register(&m_failed, "fitgate_edge_updates_failed_total", "counter",
                    "Updates that failed to download or install", NULL);
    metric_register(&m_installed, "fitgate_edge_updates_installed_total", "counter",
                    "Updates installed into the inactive slot", NULL);
    metric_register(&m_marked, "fitgate_edge_updates_marked_good_total", "counter",
                    "Booted slots marked good after the cloud acknowledged readings", NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int upd_split_argv(const char *s, char *buf, size_t cap, char **argv, size_t max)
{
    if (!s || max == 0 || (size_t)snprintf(buf, cap, "%s", s) >= cap)
        return -1;
    size_t n = 0;
    for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (n + 1 >= max)
            return -1;
        argv[n++] = w;
    }
    argv[n] = NULL;
    return (int)n;
}

/* ---- events ---- */

static cJSON *event_new(const upd_agent *a, const char *step, bool with_id)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "type", "update");
    if (with_id)
        cJSON_AddStringToObject(o, "id", a->id);
    cJSON_AddStringToObject(o, "step", step);
    return o;
}

/* Events are QoS 1 on the live connection; while offline they are lost
 * (the cloud keeps the last state it saw, and `update status` is the truth). */
static void event_send(upd_agent *a, cJSON *o)
{
    if (!o)
        return;
    cJSON_AddNumberToObject(o, "ts", (double)now_ms());
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return;
    if (mqloop_connected(a->mq)) {
        mosquitto_publish_v5(mqloop_mosq(a->mq), NULL, a->t_event, (int)strlen(s), s, 1, false,
                             NULL);
        mqloop_kick(a->mq);
    }
    free(s);
}

/* ---- children ---- */

/* Remove the downloaded bundle: a flat directory of the few plain files
 * fitgate-fw wrote (unlinks only: quick, so done on the loop). */
static void rm_bundle(upd_agent *a)
{
    int dfd = open(a->bundle, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dfd, e->d_name, 0);
    closedir(d);
    rmdir(a->bundle);
}

static void run_next(upd_agent *a);
static void job_done(upd_agent *a, int status);

static void stop_watch(upd_agent *a)
{
    a->io = sd_event_source_disable_unref(a->io);
    if (a->out_fd >= 0)
        close(a->out_fd);
    a->out_fd = -1;
}

static void handle_line(upd_agent *a, const char *line)
{
    cJSON *j = cJSON_Parse(line);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return;
    }
    const cJSON *prog = cJSON_GetObjectItemCaseSensitive(j, "progress");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsString(prog) && (a->job == JOB_FETCH || a->job == JOB_INSTALL)) {
        cJSON *o = event_new(a, prog->valuestring, true);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "bytes");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "total");
        if (o && cJSON_IsNumber(b) && cJSON_IsNumber(t)) {
            cJSON_AddNumberToObject(o, "bytes", b->valuedouble);
            cJSON_AddNumberToObject(o, "total", t->valuedouble);
        }
        event_send(a, o);
    } else if (cJSON_IsString(err) || cJSON_IsNull(err)) {
        /* fitgate-fw's --json result line: the error name, the slot written. */
        const cJSON *slot = cJSON_GetObjectItemCaseSensitive(j, "slot");
        if (cJSON_IsString(err))
            snprintf(a->error, sizeof a->error, "%s", err->valuestring);
        if (cJSON_IsString(slot))
            snprintf(a->slot, sizeof a->slot, "%s", slot->valuestring);
    } else if (a->job == JOB_STATUS) {
        /* {"booted":"B","rolled_back":false,"slots":{"B":{"status":"installed",...}}} */
        const cJSON *bt = cJSON_GetObjectItemCaseSensitive(j, "booted");
        const cJSON *rb = cJSON_GetObjectItemCaseSensitive(j, "rolled_back");
        const cJSON *sl = cJSON_GetObjectItemCaseSensitive(j, "slots");
        const cJSON *me =
            cJSON_IsString(bt) ? cJSON_GetObjectItemCaseSensitive(sl, bt->valuestring) : NULL;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(me, "status");
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(me, "version");
        if (cJSON_IsString(st)) {
            snprintf(a->booted, sizeof a->booted, "%s", bt->valuestring);
            a->rolled_back = cJSON_IsTrue(rb);
            a->need_mark = strcmp(st->valuestring, "good") != 0 || a->rolled_back;
            a->booted_version = cJSON_IsNumber(ver) ? (uint64_t)ver->valuedouble : 0;
        }
    }
    cJSON_Delete(j);
}

/* Read what the child wrote; whole lines go to handle_line. */
static void drain(upd_agent *a)
{
    char buf[4096];
    while (a->out_fd >= 0) {
        ssize_t n = read(a->out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            stop_watch(a);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                a->line[a->line_len] = 0;
                if (!a->line_overflow)
                    handle_line(a, a->line);
                a->line_len = 0;
                a->line_overflow = false;
            } else if (a->line_len < LINE_MAX_BYTES) {
                a->line[a->line_len++] = buf[i];
            } else {
                a->line_overflow = true; /* not one of fitgate-fw's lines: skip it */
            }
        }
    }
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    (void)s;
    (void)fd;
    (void)revents;
    drain(userdata);
    return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
    (void)s;
    upd_agent *a = userdata;
    int status = si->si_code == CLD_EXITED ? si->si_status : -1;
    drain(a); /* the last lines may still be in the pipe */
    stop_watch(a);
    a->child = sd_event_source_disable_unref(a->child);
    a->pid = 0;
    job_done(a, status);
    return 0;
}

/* fork + exec argv (argv[0] is a path; no shell), stdout to a pipe the loop reads. */
static int spawn(upd_agent *a, job j, char *const argv[])
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0)
            _exit(127);
        close_range(3, ~0U, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    a->out_fd = p[0];
    a->pid = pid;
    a->job = j;
    a->line_len = 0;
    a->line_overflow = false;
    a->error[0] = 0;
    if (sd_event_add_io(a->ev, &a->io, p[0], EPOLLIN, on_output, a) < 0 ||
        sd_event_add_child(a->ev, &a->child, pid, WEXITED, on_child, a) < 0) {
        /* Cannot watch it: stop it rather than leave it unobserved. */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        stop_watch(a);
        a->child = sd_event_source_disable_unref(a->child);
        a->pid = 0;
        a->job = JOB_NONE;
        return -EIO;
    }
    log_info("update_step", "running fitgate-fw", "job", job_names[j], "id", a->id);
    return 0;
}

static int start_fetch(upd_agent *a)
{
    char size[24], maxb[24];
    snprintf(size, sizeof size, "%llu", (unsigned long long)a->size);
    snprintf(maxb, sizeof maxb, "%llu", (unsigned long long)a->max_bytes);
    char *argv[ARGV_MAX] = {a->fw,   "update",     "fetch",    a->url,    "--bundle",
                            "--out", a->bundle,    "--sha256", a->sha256, "--size",
                            size,    "--progress", "--json"};
    int n = 13;
    if (a->cafile[0]) {
        argv[n++] = "--cafile";
        argv[n++] = a->cafile;
    }
    if (a->max_bytes) {
        argv[n++] = "--max-bytes";
        argv[n++] = maxb;
    }
    argv[n] = NULL;
    return spawn(a, JOB_FETCH, argv);
}

static int start_install(upd_agent *a)
{
    char *argv[] = {a->fw,    "update", "install",    a->bundle, "--slots",
                    a->slots, "--json", "--progress", NULL};
    return spawn(a, JOB_INSTALL, argv);
}

static void fail_update(upd_agent *a, const char *stage, int status)
{
    if (!a->error[0])
        snprintf(a->error, sizeof a->error, "exit_%d", status);
    metric_add(&m_failed, 1);
    log_warn("update_failed", "update failed", "id", a->id, "stage", stage, "error", a->error);
    cJSON *o = event_new(a, "failed", true);
    if (o) {
        cJSON_AddStringToObject(o, "stage", stage);
        cJSON_AddStringToObject(o, "error", a->error);
        cJSON_AddNumberToObject(o, "exit", status);
    }
    event_send(a, o);
    rm_bundle(a);
}

static void job_done(upd_agent *a, int status)
{
    job j = a->job;
    a->job = JOB_NONE;
    switch (j) {
    case JOB_FETCH:
        if (status != 0 || start_install(a) < 0)
            fail_update(a, "fetch", status);
        break;
    case JOB_INSTALL: {
        if (status != 0) {
            fail_update(a, "install", status);
            break;
        }
        metric_add(&m_installed, 1);
        log_info("update_installed", "update installed", "id", a->id, "slot", a->slot);
        cJSON *o = event_new(a, "installed", true);
        if (o)
            cJSON_AddStringToObject(o, "slot", a->slot);
        event_send(a, o);
        rm_bundle(a);
        if (a->reboot_argc > 0 && spawn(a, JOB_REBOOT, a->reboot_argv) < 0)
            log_error("update_reboot_failed", "cannot run update_reboot_cmd");
        break;
    }
    case JOB_STATUS: {
        if (status != 0 || !a->need_mark)
            break;
        char *argv[] = {a->fw, "update", "mark-good", "--slots", a->slots, "--json", NULL};
        if (spawn(a, JOB_MARK, argv) < 0)
            log_error("update_mark_good_failed", "cannot run fitgate-fw update mark-good");
        break;
    }
    case JOB_MARK: {
        if (status != 0) {
            log_error("update_mark_good_failed", "mark-good failed", "error", a->error);
            cJSON *o = event_new(a, "mark_good_failed", false);
            if (o)
                cJSON_AddStringToObject(o, "error", a->error[0] ? a->error : "exit");
            event_send(a, o);
            break;
        }
        metric_add(&m_marked, 1);
        log_info("update_marked_good", "booted slot marked good", "slot", a->booted);
        cJSON *o = event_new(a, "marked_good", false);
        if (o) {
            cJSON_AddStringToObject(o, "slot", a->booted);
            cJSON_AddNumberToObject(o, "version", (double)a->booted_version);
            cJSON_AddBoolToObject(o, "rolled_back", a->rolled_back);
        }
        event_send(a, o);
        break;
    }
    case JOB_REBOOT:
        log_info("update_reboot", "update_reboot_cmd finished", "status", status ? "failed" : "0");
        break;
    case JOB_NONE:
        break;
    }
    if (a->job == JOB_NONE)
        run_next(a);
}

/* A mark-good check that had to wait for a job. */
static void run_next(upd_agent *a)
{
    if (!a->check_pending)
        return;
    a->check_pending = false;
    a->need_mark = false;
    char *argv[] = {a->fw, "update", "status", "--slots", a->slots, NULL};
    if (spawn(a, JOB_STATUS, argv) < 0)
        log_error("update_status_failed", "cannot run fitgate-fw update status");
}

void upd_cloud_ok(void *agent)
{
    upd_agent *a = agent;
    if (!a || a->cloud_seen)
        return;
    a->cloud_seen = true;
    a->check_pending = true;
    log_info("update_health_ok", "the cloud acknowledged readings: checking the booted slot");
    if (a->job == JOB_NONE)
        run_next(a);
}

int upd_start(upd_agent *a, const char *id, const char *url, const char *sha256, uint64_t size)
{
    /* A QoS 1 redelivery of the running or last update changes nothing. */
    if (a->id[0] && strcmp(a->id, id) == 0)
        return 1;
    if (a->job != JOB_NONE)
        return -EBUSY;
    snprintf(a->id, sizeof a->id, "%s", id);
    snprintf(a->url, sizeof a->url, "%s", url);
    snprintf(a->sha256, sizeof a->sha256, "%s", sha256);
    a->size = size;
    a->slot[0] = 0;
    int r = start_fetch(a);
    if (r < 0) {
        a->id[0] = 0;
        return r;
    }
    metric_add(&m_started, 1);
    log_info("update_started", "update accepted", "id", id, "url", url);
    return 0;
}

static int copy(char *dst, size_t cap, const char *v)
{
    return (size_t)snprintf(dst, cap, "%s", v ? v : "") < cap ? 0 : -1;
}

int upd_new(upd_agent **out, sd_event *ev, const upd_agent_config *cfg)
{
    *out = NULL;
    upd_metrics_init();
    upd_agent *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->out_fd = -1;
    a->mq = cfg->mq;
    a->max_bytes = cfg->max_bytes;
    if (!cfg->slots || !cfg->slots[0] || !cfg->dir || !cfg->dir[0] || !cfg->fw ||
        !fp_gateway_id_valid(cfg->gateway_id, strlen(cfg->gateway_id)) ||
        copy(a->slots, sizeof a->slots, cfg->slots) || copy(a->dir, sizeof a->dir, cfg->dir) ||
        copy(a->fw, sizeof a->fw, cfg->fw) || copy(a->cafile, sizeof a->cafile, cfg->cafile) ||
        (a->reboot_argc = cfg->reboot_cmd && cfg->reboot_cmd[0]
                              ? upd_split_argv(cfg->reboot_cmd, a->reboot_buf, sizeof a->reboot_buf,
                                               a->reboot_argv, ARGV_MAX)
                              : 0) < 0) {
        free(a);
        return -EINVAL;
    }
    snprintf(a->bundle, sizeof a->bundle, "%s/bundle", a->dir);
    snprintf(a->t_event, sizeof a->t_event, "fit/v1/gw/%s/event", cfg->gateway_id);
    if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
        log_error("update_dir_failed", "cannot create update_dir", "path", a->dir);
        free(a);
        return -errno;
    }
    /* sd_event_add_child needs SIGCHLD blocked; the edge has one thread. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    a->ev = sd_event_ref(ev);
    *out = a;
    return 0;
}

void upd_free(upd_agent *a)
{
    if (!a)
        return;
    if (a->pid > 0) {
        /* fitgate-fw survives being killed at any step (power-loss tests). */
        kill(a->pid, SIGTERM);
        waitpid(a->pid, NULL, 0);
    }
    stop_watch(a);
    a->child = sd_event_source_disable_unref(a->child);
    sd_event_unref(a->ev);
    free(a);
}
