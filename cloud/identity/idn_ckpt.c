/* idn_ckpt.c - WAL checkpoints off the sign-in path.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL
 * past 1000 pages: that request copies every page back into the database
 * and waits for two fdatasync calls, several milliseconds, while it holds
 * the identity lock and everyone else signing in waits behind it. It was
 * the whole p99 of sign-in. Here the identity connection's commits only
 * note the WAL size (a WAL hook replaces the automatic checkpoint), and a
 * thread with its own connection runs PASSIVE checkpoints, which never take
 * the write lock: sign-ins keep committing while pages are copied.
 *
 * A passive checkpoint never quite catches up while sign-ins keep writing,
 * and SQLite restarts the WAL from its start only after one has. So past
 * IDN_CKPT_HARD pages a commit catches up inline (the thread has copied
 * nearly everything already, so that is short) and the WAL restarts: it
 * stays near 40 MB instead of growing without bound. */
#include <stdlib.h>
#include <time.h>

#include "fitcommon/log.h"
#include "fitcommon/metrics.h"
#include "idn_int.h"

#define IDN_CKPT_PAGES    1000  /* wake the checkpointer (SQLite's own default) */
#define IDN_CKPT_HARD     10000 /* ~40 MB of WAL: catch up inline, restart it */
#define IDN_CKPT_IDLE_MS  1000  /* and look at least this often */
#define IDN_CKPT_PAUSE_MS 20    /* between two rounds */

static metric m_ckpt, m_ckpt_inline;
static pthread_once_t ckpt_once = PTHREAD_ONCE_INIT;

static void ckpt_metrics(void)
{
    metric_register(&m_ckpt, "fitgate_identity_wal_checkpoints_total", "counter",
                    "WAL checkpoints of the identity tables run in the background", NULL);
    metric_register(&m_ckpt_inline, "fitgate_identity_wal_checkpoints_inline_total", "counter",
                    "WAL checkpoints run inside a commit because the WAL grew past its bound",
                    NULL);
}

/* After every commit of d->db (with d->mu held): pages is the WAL's size. */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int pages)
{
    idn *d = ctx;
    if (pages >= IDN_CKPT_HARD) {
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) == SQLITE_OK)
            metric_add(&m_ckpt_inline, 1);
    } else if (pages >= IDN_CKPT_PAGES &&
               !__atomic_exchange_n(&d->ckpt_asked, 1, __ATOMIC_ACQ_REL)) {
        /* Once per round: waking the thread costs the committer a futex
         * call and often its CPU, and the WAL stays long until the round
         * ends. */
        pthread_mutex_lock(&d->ckpt_mu); /* the thread tests ckpt_asked under it */
        pthread_cond_signal(&d->ckpt_cv);
        pthread_mutex_unlock(&d->ckpt_mu);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    idn *d = arg;
    pthread_mutex_lock(&d->ckpt_mu);
    while (!d->ckpt_stop) {
        if (!__atomic_load_n(&d->ckpt_asked, __ATOMIC_ACQUIRE)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += IDN_CKPT_IDLE_MS / 1000;
            pthread_cond_timedwait(&d->ckpt_cv, &d->ckpt_mu, &until);
            if (d->ckpt_stop)
                break;
        }
        pthread_mutex_unlock(&d->ckpt_mu);
        int log_pages = 0, done_pages = 0;
        int rc = sqlite3_wal_checkpoint_v2(d->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages,
                                           &done_pages);
        /* Under steady writes the WAL never drops below the mark (it
         * restarts only when a checkpoint caught up between two commits), so
         * a round is asked for right after each one: a pause between rounds
         * lets each copy more pages at once and spares the committers the
         * wake-ups. */
        struct timespec pause = {0, IDN_CKPT_PAUSE_MS * 1000000L};
        nanosleep(&pause, NULL);
        __atomic_store_n(&d->ckpt_asked, 0, __ATOMIC_RELEASE);
        if (rc == SQLITE_OK && log_pages > 0)
            metric_add(&m_ckpt, 1);
        else if ((rc != SQLITE_OK && rc != SQLITE_BUSY) || log_pages < 0)
            log_warn("identity_checkpoint", "WAL checkpoint failed", "error",
                     sqlite3_errmsg(d->ckpt_db));
        pthread_mutex_lock(&d->ckpt_mu);
    }
    pthread_mutex_unlock(&d->ckpt_mu);
    return NULL;
}

int idn_ckpt_start(idn *d)
{
    pthread_once(&ckpt_once, ckpt_metrics);
    if (sqlite3_open_v2(d->cfg.db_path, &d->ckpt_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        log_error("identity_checkpoint", "cannot open the database", "path", d->cfg.db_path);
        return -1;
    }
    sqlite3_busy_timeout(d->ckpt_db, 1000);
    /* A connection learns that the file is in WAL mode when it first reads
     * it; until then a checkpoint on it does nothing (log and done = -1). */
    if (sqlite3_exec(d->ckpt_db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
        log_error("identity_checkpoint", "cannot open the WAL", "error",
                  sqlite3_errmsg(d->ckpt_db));
        return -1;
    }
    if (pthread_create(&d->ckpt_thread, NULL, ckpt_main, d) != 0) {
        log_error("identity_checkpoint", "cannot start the checkpoint thread", "error",
                  "pthread_create");
        return -1;
    }
    d->ckpt_running = 1;
    sqlite3_wal_hook(d->db, on_wal_commit, d);
    return 0;
}

void idn_ckpt_stop(idn *d)
{
    if (d->db)
        sqlite3_wal_hook(d->db, NULL, NULL);
    if (d->ckpt_running) {
        pthread_mutex_lock(&d->ckpt_mu);
        d->ckpt_stop = 1;
        pthread_cond_signal(&d->ckpt_cv);
        pthread_mutex_unlock(&d->ckpt_mu);
        pthread_join(d->ckpt_thread, NULL);
        d->ckpt_running = 0;
    }
    if (d->ckpt_db)
        sqlite3_close(d->ckpt_db);
    d->ckpt_db = NULL;
}
