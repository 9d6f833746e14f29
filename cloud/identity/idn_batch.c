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
#include "fitcommon/metrics.h"
#include "idn_int.h"

/* Largest batch: keeps one transaction (and the wait of its first job)
 * short whatever the number of connections. */
#define IDN_BATCH_MAX 64

typedef struct idn_job {
    idn_job_fn run;
    void *arg;
    int rc;
    int done;          /* batch_mu */
    pthread_cond_t cv; /* its owner waits here: done, or its turn to combine */
    struct idn_job *next;
} idn_job;

static metric m_batches, m_jobs;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;

static void batch_metrics(void)
{
    metric_register(&m_batches, "fitgate_identity_commit_batches_total", "counter",
                    "Transactions that wrote sign-ins (group commit)", NULL);
    metric_register(&m_jobs, "fitgate_identity_commit_batch_jobs_total", "counter",
                    "Sign-ins written by those transactions", NULL);
}

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

/* Runs the jobs of list; how many there were. */
static int64_t run_batch(idn *d, idn_job *list)
{
    int64_t n = 0;
    pthread_mutex_lock(&d->mu);
    int ok = idn_begin(d) == 0;
    int begun = ok;
    for (idn_job *j = list; j; j = j->next, n++)
        if (ok)
            ok = (j->rc = j->run(d, j->arg)) >= 0;
    if (ok)
        ok = idn_commit(d) == 0; /* rolls back itself when it fails */
    else if (begun)
        idn_rollback(d);
    if (!ok)
        for (idn_job *j = list; j; j = j->next)
            run_alone(d, j);
    pthread_mutex_unlock(&d->mu);
    return n;
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
    pthread_once(&batch_once, batch_metrics);
    idn_job job = {.run = run, .arg = arg};
    pthread_cond_init(&job.cv, NULL);
    pthread_mutex_lock(&d->batch_mu);
    /* The queue holds our stack frame's job: it leaves the queue (take_batch)
     * before it is done, and we return only once it is done. */
    *d->batch_tail = &job;
    // cppcheck-suppress autoVariables
    d->batch_tail = &job.next;
    while (!job.done) {
        /* Our turn to combine when nobody is and we head the queue. */
        if (d->batch_busy || d->batch_head != &job) {
            pthread_cond_wait(&job.cv, &d->batch_mu);
            continue;
        }
        d->batch_busy = 1;
        idn_job *list = take_batch(d);
        pthread_mutex_unlock(&d->batch_mu);
        int64_t n = run_batch(d, list);
        metric_add(&m_batches, 1);
        metric_add(&m_jobs, n);
        pthread_mutex_lock(&d->batch_mu);
        while (list) {
            idn_job *next = list->next; /* the owner may return once done */
            list->done = 1;
            if (list != &job)
                pthread_cond_signal(&list->cv);
            list = next;
        }
        d->batch_busy = 0;
        if (d->batch_head) /* the next batch's combiner */
            pthread_cond_signal(&d->batch_head->cv);
    }
    pthread_mutex_unlock(&d->batch_mu);
    pthread_cond_destroy(&job.cv);
    return job.rc;
}
