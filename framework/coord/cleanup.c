/*
 * cleanup.c - see cleanup.h. The store is scanned in key order in slices
 * of CLEANUP_SLICE keys: a slice's foreign keys are collected, the scan
 * stops, they are deleted with one engine write, and the scan resumes after
 * the last key seen, so no iterator is open while its engine is written
 * (the memory engine's iterators do not survive that).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/cleanup.h"
#include "coord/coord_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/store.h"

#define CLEANUP_SLICE 1000u

typedef struct cleanup_job {
    dk__job job;
    dk_ring *ring;
    uint32_t n, self;
    dk_cleanup_cb cb;
    void *arg;
    dk_cleanup_result res;
    /* one slice */
    dk_buf last, keys; /* keys: the slice's foreign keys, each u16 length + bytes */
    size_t n_keys, seen;
} cleanup_job;

static int cleanup_running; /* one at a time per process: the loop's own */

/* Worker: one stored key of the scan. */
static int cleanup_visit(void *arg, dk_slice key, dk_slice raw, const dk_object *obj)
{
    cleanup_job *cj = arg;
    (void)raw;
    (void)obj;
    if (cj->last.len && key.len == cj->last.len && memcmp(key.ptr, cj->last.data, key.len) == 0)
        return 0;
    cj->seen++;
    cj->res.scanned++;
    uint32_t idx[COORD_N_MAX];
    size_t k = dk_ring_preference(cj->ring, key.ptr, key.len, cj->n, idx), mine = 0;
    for (size_t i = 0; i < k; i++)
        mine |= idx[i] == cj->self;
    if (mine) {
        cj->res.kept++;
    } else {
        uint8_t len[2] = {(uint8_t)key.len, (uint8_t)(key.len >> 8)};
        if (dk_buf_append(&cj->keys, len, 2) || dk_buf_append(&cj->keys, key.ptr, key.len)) {
            cj->res.status = -ENOMEM;
            return 1;
        }
        cj->n_keys++;
    }
    dk_buf_reset(&cj->last);
    if (dk_buf_append(&cj->last, key.ptr, key.len)) {
        cj->res.status = -ENOMEM;
        return 1;
    }
    return cj->seen >= CLEANUP_SLICE;
}

/* Worker: scan and drop, slice by slice. */
static void cleanup_run(dk__job *j)
{
    cleanup_job *cj = (cleanup_job *)j;
    dk_store *st = j->c->node->store;
    for (;;) {
        cj->seen = cj->n_keys = 0;
        dk_buf_reset(&cj->keys);
        dk_buf start = DK_BUF_INIT;
        if (dk_buf_append(&start, cj->last.data, cj->last.len)) {
            cj->res.status = -ENOMEM;
            return;
        }
        int rc = dk_store_scan(st, dk_buf_slice(&start), (dk_slice){NULL, 0}, cleanup_visit, cj);
        dk_buf_free(&start);
        if (rc && !cj->res.status)
            cj->res.status = rc;
        if (cj->n_keys && !cj->res.status) {
            dk_slice *keys = calloc(cj->n_keys, sizeof(*keys));
            if (!keys) {
                cj->res.status = -ENOMEM;
                return;
            }
            const uint8_t *p = cj->keys.data;
            for (size_t i = 0; i < cj->n_keys; i++) {
                size_t len = (size_t)p[0] | (size_t)p[1] << 8;
                keys[i] = (dk_slice){p + 2, len};
                p += 2 + len;
            }
            cj->res.status = dk_store_drop_batch(st, keys, cj->n_keys);
            if (!cj->res.status)
                cj->res.dropped += cj->n_keys;
            free(keys);
        }
        if (cj->res.status || cj->seen < CLEANUP_SLICE)
            return;
    }
}

/* Loop thread. */
static void cleanup_done(dk__job *j, int status)
{
    cleanup_job *cj = (cleanup_job *)j;
    if (status)
        cj->res.status = status;
    cleanup_running = 0;
    dk_metrics_add("cleanup_keys_dropped_total", cj->res.dropped);
    dk_log(cj->res.status ? DK_LOG_ERROR : DK_LOG_INFO,
           "cleanup: %llu keys scanned, %llu dropped, %llu kept%s%s", (unsigned long long)cj->res.scanned,
           (unsigned long long)cj->res.dropped, (unsigned long long)cj->res.kept, cj->res.status ? ": " : "",
           cj->res.status ? dk_strerror(cj->res.status) : "");
    cj->cb(cj->arg, &cj->res);
    dk_ring_unref(cj->ring);
    dk_buf_free(&cj->last);
    dk_buf_free(&cj->keys);
    free(cj);
}

int dk_coord_cleanup(dk_coord *c, dk_cleanup_cb cb, void *arg)
{
    if (c->stopping)
        return DK_ECLOSED;
    const char *move = c->view.transition ? c->view.transition(c->view.arg) : NULL;
    if ((move && move[0]) || (c->view.readable && !c->view.readable(c->view.arg)))
        return -EBUSY;
    if (cleanup_running)
        return -EALREADY;
    dk_ring *r = c->view.ring(c->view.arg);
    int self = r ? dk_ring_find(r, c->self) : DK_ENOTFOUND;
    if (!r || self < 0) {
        dk_ring_unref(r);
        return r ? -EBUSY : DK_EUNAVAILABLE;
    }
    cleanup_job *cj = calloc(1, sizeof(*cj));
    if (!cj) {
        dk_ring_unref(r);
        return -ENOMEM;
    }
    uint32_t n = (uint32_t)c->cfg->cluster.n_replicas;
    cj->ring = r;
    cj->n = n > COORD_N_MAX ? COORD_N_MAX : n;
    cj->self = (uint32_t)self;
    cj->cb = cb;
    cj->arg = arg;
    cj->job.run = cleanup_run;
    cj->job.done = cleanup_done;
    int rc = dk__coord_job(c, &cj->job);
    if (rc) {
        dk_ring_unref(r);
        free(cj);
        return rc;
    }
    cleanup_running = 1;
    return 0;
}
