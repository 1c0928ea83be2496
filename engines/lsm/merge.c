/*
 * merge.c - the merging iterator (ikey.h): the union of several sorted
 * child iterators in internal-key order.
 *
 * The current child is found by a linear scan over the children. With the
 * handful of sources a read sees (two memtables plus the tables whose
 * ranges overlap) that beats a heap's bookkeeping; a heap is the upgrade
 * when a level holds hundreds of files. Equal internal keys cannot occur
 * (sequence numbers are unique), so ties need no rule.
 *
 * The scan also keeps the runner-up: the smallest child other than the
 * current one. Only the current child moves on next(), so while its new
 * key stays below the runner-up's it is still the smallest, and one
 * comparison replaces the scan. A compaction merging a few level-0 tables
 * into a large level-1 one takes long runs from the same child (25 keys
 * of level 1 between two new ones at 600k keys): the scans were 14 % of
 * its CPU (bench/results/compact-2026-12-06-s14.md).
 */
#include <stdlib.h>

#include "ikey.h"

typedef struct merge_iter {
    lsm_iter base;
    lsm_iter **kids;
    size_t n;
    lsm_iter *cur;
    lsm_iter *next; /* the smallest valid child but cur, or NULL */
} merge_iter;

static void mg_pick(merge_iter *m)
{
    m->cur = m->next = NULL;
    dk_slice ck = {NULL, 0}, nk = {NULL, 0};
    for (size_t i = 0; i < m->n; i++) {
        lsm_iter *k = m->kids[i];
        if (!k->ops->valid(k))
            continue;
        dk_slice kk = k->ops->key(k);
        if (!m->cur || lsm_icmp(kk, ck) < 0) {
            m->next = m->cur;
            nk = ck;
            m->cur = k;
            ck = kk;
        } else if (!m->next || lsm_icmp(kk, nk) < 0) {
            m->next = k;
            nk = kk;
        }
    }
}

static void mg_seek(lsm_iter *it, dk_slice target)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->n; i++)
        m->kids[i]->ops->seek(m->kids[i], target);
    mg_pick(m);
}

static void mg_first(lsm_iter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->n; i++)
        m->kids[i]->ops->first(m->kids[i]);
    mg_pick(m);
}

static void mg_next(lsm_iter *it)
{
    merge_iter *m = (merge_iter *)it;
    lsm_iter *c = m->cur;
    c->ops->next(c);
    /* Still below the runner-up: still the smallest (file comment). */
    if (c->ops->valid(c) && (!m->next || lsm_icmp(c->ops->key(c), m->next->ops->key(m->next)) < 0))
        return;
    mg_pick(m);
}

static int mg_valid(lsm_iter *it)
{
    return ((merge_iter *)it)->cur != NULL;
}
static dk_slice mg_key(lsm_iter *it)
{
    lsm_iter *c = ((merge_iter *)it)->cur;
    return c->ops->key(c);
}
static dk_slice mg_value(lsm_iter *it)
{
    lsm_iter *c = ((merge_iter *)it)->cur;
    return c->ops->value(c);
}

static int mg_status(lsm_iter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        int rc = m->kids[i]->ops->status(m->kids[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static void mg_destroy(lsm_iter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->n; i++)
        m->kids[i]->ops->destroy(m->kids[i]);
    free(m->kids);
    free(m);
}

static const lsm_iter_ops mg_ops = {
    .seek = mg_seek,
    .first = mg_first,
    .next = mg_next,
    .valid = mg_valid,
    .key = mg_key,
    .value = mg_value,
    .status = mg_status,
    .destroy = mg_destroy,
};

lsm_iter *dk__lsm_merge_iter(lsm_iter **kids, size_t n)
{
    merge_iter *m = calloc(1, sizeof(*m));
    if (!m) {
        for (size_t i = 0; i < n; i++)
            kids[i]->ops->destroy(kids[i]);
        free(kids);
        return NULL;
    }
    m->base.ops = &mg_ops;
    m->kids = kids;
    m->n = n;
    return &m->base;
}
