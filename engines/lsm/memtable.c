/*
 * memtable.c - memtable over the skip list (memtable.h).
 *
 * Lookups seek to (ukey, snap) in internal-key order; the first entry at
 * or after it is the newest visible version when its user key matches.
 */
#include "memtable.h"

#include <errno.h>
#include <stdlib.h>

lsm_memtable *dk__lsm_mem_new(uint64_t wal_number, lsm_sl_pool *pool)
{
    lsm_memtable *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (!(m->sl = dk__lsm_sl_new(wal_number * 0x9e3779b97f4a7c15ull + 1, pool))) {
        free(m);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->wal_number = wal_number;
    return m;
}

void dk__lsm_mem_ref(lsm_memtable *m)
{
    atomic_fetch_add(&m->refs, 1);
}

void dk__lsm_mem_unref(lsm_memtable *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) {
        dk__lsm_sl_free(m->sl);
        free(m);
    }
}

int dk__lsm_mem_add(lsm_memtable *m, uint64_t seq, int type, dk_slice ukey, dk_slice value)
{
    uint8_t small[DK_KEY_MAX + LSM_TRAILER];
    uint8_t *buf = ukey.len <= DK_KEY_MAX ? small : malloc(ukey.len + LSM_TRAILER);
    if (!buf)
        return -ENOMEM;
    dk_slice ik = lsm_ikey_make(buf, ukey, seq, type);
    if (type == LSM_TYPE_DELETE)
        value.len = 0;
    int rc = dk__lsm_sl_insert(m->sl, ik, value);
    if (buf != small)
        free(buf);
    return rc;
}

int dk__lsm_mem_find(lsm_memtable *m, dk_slice ukey, uint64_t snap, dk_slice *value, int *type,
                     uint64_t *seq_out)
{
    uint8_t small[DK_KEY_MAX + LSM_TRAILER];
    uint8_t *buf = ukey.len <= DK_KEY_MAX ? small : malloc(ukey.len + LSM_TRAILER);
    if (!buf)
        return -ENOMEM;
    dk_slice k, v;
    int rc = DK_ENOTFOUND;
    if (dk__lsm_sl_seek(m->sl, lsm_ikey_lookup(buf, ukey, snap), &k, &v) &&
        lsm_ucmp(lsm_ikey_user(k), ukey) == 0) {
        *type = lsm_ikey_type(k);
        *seq_out = lsm_ikey_seq(k);
        *value = *type == LSM_TYPE_VALUE ? v : (dk_slice){NULL, 0};
        rc = 0;
    }
    if (buf != small)
        free(buf);
    return rc;
}

size_t dk__lsm_mem_usage(lsm_memtable *m)
{
    return dk__lsm_sl_memory(m->sl);
}

typedef struct mem_iter {
    lsm_iter base;
    lsm_iter *in;
    lsm_memtable *m;
} mem_iter;

static void mi_seek(lsm_iter *it, dk_slice k)
{
    ((mem_iter *)it)->in->ops->seek(((mem_iter *)it)->in, k);
}
static void mi_first(lsm_iter *it)
{
    ((mem_iter *)it)->in->ops->first(((mem_iter *)it)->in);
}
static void mi_next(lsm_iter *it)
{
    ((mem_iter *)it)->in->ops->next(((mem_iter *)it)->in);
}
static int mi_valid(lsm_iter *it)
{
    return ((mem_iter *)it)->in->ops->valid(((mem_iter *)it)->in);
}
static dk_slice mi_key(lsm_iter *it)
{
    return ((mem_iter *)it)->in->ops->key(((mem_iter *)it)->in);
}
static dk_slice mi_value(lsm_iter *it)
{
    return ((mem_iter *)it)->in->ops->value(((mem_iter *)it)->in);
}
static int mi_status(lsm_iter *it)
{
    (void)it;
    return 0;
}
static void mi_destroy(lsm_iter *it)
{
    mem_iter *mi = (mem_iter *)it;
    mi->in->ops->destroy(mi->in);
    dk__lsm_mem_unref(mi->m);
    free(mi);
}

static const lsm_iter_ops mi_ops = {
    .seek = mi_seek,
    .first = mi_first,
    .next = mi_next,
    .valid = mi_valid,
    .key = mi_key,
    .value = mi_value,
    .status = mi_status,
    .destroy = mi_destroy,
};

lsm_iter *dk__lsm_mem_iter(lsm_memtable *m)
{
    mem_iter *mi = calloc(1, sizeof(*mi));
    if (!mi)
        return NULL;
    if (!(mi->in = dk__lsm_sl_iter(m->sl))) {
        free(mi);
        return NULL;
    }
    mi->base.ops = &mi_ops;
    mi->m = m;
    dk__lsm_mem_ref(m);
    return &mi->base;
}
