/*
 * coord_repair.c - read repair: one reconciled object pushed to one
 * replica that a quorum read found stale, missing or damaged.
 *
 * coord_read.c decides who is stale (its reconciliation against each
 * replica's answer); this file only delivers. This node's own copy is
 * merged on a worker (dk_store_merge may read and write the engine); a
 * peer's goes as a PUT_REPLICA, the same frame a quorum write sends, so
 * the replica's store merges it with whatever it holds by then. Neither
 * is waited for: the client was answered before repair starts, and a
 * repair lost to a failure is made good by the next read, a hint or
 * anti-entropy.
 */
#include <errno.h>
#include <stdlib.h>

#include "coord/coord_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/host.h"
#include "node/store.h"

typedef struct repair_job {
    dk__job job;
    dk_buf key, obj;
} repair_job;

static void repair_run(dk__job *j)
{
    repair_job *r = (repair_job *)j;
    int changed = 0;
    int rc = dk_store_merge(j->c->node->store, dk_buf_slice(&r->key), dk_buf_slice(&r->obj), &changed);
    if (rc)
        dk_log(DK_LOG_WARN, "coordinator: read repair of the local replica failed: %s", dk_strerror(rc));
}

static void repair_job_free(repair_job *r)
{
    dk_buf_free(&r->key);
    dk_buf_free(&r->obj);
    free(r);
}

static void repair_job_done(dk__job *j, int status)
{
    (void)status;
    repair_job_free((repair_job *)j);
}

static void repair_sent(void *arg, int status)
{
    (void)arg;
    if (status)
        dk_log(DK_LOG_DEBUG, "coordinator: a read repair was not taken: %s", dk_strerror(status));
}

static int repair_local(dk_coord *c, dk_slice key, dk_slice obj)
{
    repair_job *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    int rc = dk_buf_append(&j->key, key.ptr, key.len);
    if (rc == 0)
        rc = dk_buf_append(&j->obj, obj.ptr, obj.len);
    if (rc == 0) {
        j->job.run = repair_run;
        j->job.done = repair_job_done;
        rc = dk__coord_job(c, &j->job);
    }
    if (rc)
        repair_job_free(j);
    return rc;
}

int dk__repair_replica(dk_coord *c, const dk__replica *rep, dk_slice key, dk_slice obj)
{
    int rc = rep->self ? repair_local(c, key, obj)
                       : dk__send_replica(c, rep, key, obj, "", (uint64_t)c->cfg->cluster.request_timeout,
                                          repair_sent, NULL);
    if (rc == 0)
        DK_METRICS_ADD("read_repairs_total", 1);
    return rc;
}
