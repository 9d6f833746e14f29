/* idn_batch.c - group commit for the sign-in path.
 *
 * A sign-in writes a handful of rows (the one-time init data record, the
 * session, its refresh token, the audit row; a new user also its account,
 * identity and UserRegistered). On its own transaction each sign-in pays a
 * whole commit: every page it touched goes to the WAL, and the identity lock
 * is held meanwhile, so sign-ins queue behind each other's commits.
 *
 * Here the thread that finds no batch running becomes the combiner: it takes
 * every job queued so far, runs them one after the other inside a single
 * transaction under d->mu, commits once, and wakes their owners. Jobs that
 * arrive meanwhile form the next batch. Under load a commit serves several
 * sign-ins (shared pages are written once); an idle server sees batches of
 * one and the same latency as before.
 *
 * A job that fails (-1) must not take the others with it: the batch is then
 * rolled back and every job runs again in its own transaction. Jobs must
 * therefore be repeatable: they reset their outputs when they start. */
#include "idn_int.h"

/* Largest batch: keeps one transaction (and the wait of its first job)
 * short whatever the number of connections. */
#define IDN_BATCH_MAX 64

typedef struct idn_job {
    idn_job_fn run;
    void *arg;
    int rc;
    int done; /* batch_mu */
    struct idn_job *next;
} idn_job;

/* One transaction per job: the fallback when a batch failed. */
static void run_alone(idn *d, idn_job *j)
{
    if (idn_begin(d) < 0) {
        j->rc = -1;
        return;
    }
    j->rc = j->run(d, j->arg);
    if (j->rc < 0)
        idn_rollback(d);
    else if (idn_commit(d) < 0)
        j->rc = -1;
}

static void run_batch(idn *d, idn_job *list)
{
    pthread_mutex_lock(&d->mu);
    int ok = idn_begin(d) == 0;
    int begun = ok;
    for (idn_job *j = list; ok && j; j = j->next)
        ok = (j->rc = j->run(d, j->arg)) >= 0;
    if (ok)
        ok = idn_commit(d) == 0; /* rolls back itself when it fails */
    else if (begun)
        idn_rollback(d);
    if (!ok)
        for (idn_job *j = list; j; j = j->next)
            run_alone(d, j);
    pthread_mutex_unlock(&d->mu);
}

/* Take up to IDN_BATCH_MAX queued jobs (batch_mu held). */
static idn_job *take_batch(idn *d)
{
    idn_job *list = d->batch_head, **tail = &list;
    for (int n = 0; *tail && n < IDN_BATCH_MAX; n++)
        tail = &(*tail)->next;
    d->batch_head = *tail;
    if (!d->batch_head)
        d->batch_tail = &d->batch_head;
    *tail = NULL;
    return list;
}

int idn_batch_run(idn *d, idn_job_fn run, void *arg)
{
    idn_job job = {.run = run, .arg = arg};
    pthread_mutex_lock(&d->batch_mu);
    *d->batch_tail = &job;
    d->batch_tail = &job.next;
    while (!job.done) {
        if (d->batch_busy) {
            pthread_cond_wait(&d->batch_cv, &d->batch_mu);
            continue;
        }
        /* Nobody is writing: run what is queued (ours, unless more than a
         * batch queued before it; then we go round again). */
        d->batch_busy = 1;
        idn_job *list = take_batch(d);
        pthread_mutex_unlock(&d->batch_mu);
        run_batch(d, list);
        pthread_mutex_lock(&d->batch_mu);
        while (list) {
            idn_job *next = list->next; /* the owner may return once done */
            list->done = 1;
            list = next;
        }
        d->batch_busy = 0;
        /* Wakes the owners, and one of the queued becomes the next combiner. */
        pthread_cond_broadcast(&d->batch_cv);
    }
    pthread_mutex_unlock(&d->batch_mu);
    return job.rc;
}
