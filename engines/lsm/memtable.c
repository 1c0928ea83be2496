/*
 * memtable.c - memtable over the skip list (memtable.h).
 *
 * Lookups seek to (ukey, snap) in internal-key order; the first entry at
 * or after it is the newest visible version when its user key matches.
 *
 * Most point reads of a loaded store look for keys that live in tables:
 * the seek then walks ~log4(n) levels of list nodes, each a cache miss in
 * a different (large) entry, only to find another key. A blocked bloom
 * filter of the user keys answers "absent" first: a key's hash picks one
 * 64-byte block and FILTER_PROBES bits in it, so a query reads one cache
 * line. One bit per 8 bytes of memtable leaves >= 6 bits per key even for
 * entries of ~50 bytes (a few % false positives, which only cost the walk
 * the read did before); for 10 KiB values it is nearly empty. The bits
 * are atomic words: the writer ORs them in (relaxed) before it inserts
 * the record; a reader's snapshot sequence was read under the engine's
 * mutex after the writer published the record's sequence under it, which
 * orders the bits before the reader's loads. Deletes are keys too: a
 * tombstone is found like a value.
 */
#include "memtable.h"

#include <errno.h>
#include <stdlib.h>

#include "bloom.h"

#define FILTER_PROBES 6
#define FILTER_MIN (4u * 1024u)
#define FILTER_MAX (8u * 1024u * 1024u)
#define FILTER_NOPOOL (64u * 1024u)

/* Bytes of filter for a memtable of mem_bytes: a power of two (blocks
 * are picked by mask). */
static size_t mem_filter_size(size_t mem_bytes)
{
    size_t want = mem_bytes ? mem_bytes / 64 : FILTER_NOPOOL, b = FILTER_MIN; /* a bit per 8 bytes */
    while (b < want && b < FILTER_MAX)
        b *= 2;
    return b;
}

/* Probe i's bit (0..511) in the block of key hash h: 9 bits each from
 * a second mix of h, the top ones first. */
static unsigned mem_filter_probe(uint64_t g, int i)
{
    return (unsigned)(g >> (64 - 9 * (i + 1))) & 511u;
}

/* The index of the first word of key hash h's block, and the second mix. */
static size_t mem_filter_block(const lsm_memtable *m, uint64_t h, uint64_t *g)
{
    *g = h * 0x9e3779b97f4a7c15ull;
    return (size_t)((h >> 32) & m->filter_mask) * 8;
}

lsm_memtable *dk__lsm_mem_new(uint64_t wal_number, lsm_sl_pool *pool)
{
    lsm_memtable *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (!(m->sl = dk__lsm_sl_new(wal_number * 0x9e3779b97f4a7c15ull + 1, pool))) {
        free(m);
        return NULL;
    }
    size_t fb = mem_filter_size(pool ? dk__lsm_sl_pool_bytes(pool) : 0);
    /* calloc (fresh mapped pages are not written), aligned by hand to 64
     * bytes so that a block is one cache line */
    if ((m->filter_mem = calloc(1, fb + 64))) {
        uintptr_t a = ((uintptr_t)m->filter_mem + 63) & ~(uintptr_t)63;
        m->filter = (_Atomic uint64_t *)a;
        m->filter_mask = (uint32_t)(fb / 64 - 1);
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
        free(m->filter_mem);
        free(m);
    }
}

static void mem_filter_add(lsm_memtable *m, uint64_t h)
{
    if (!m->filter)
        return;
    uint64_t g;
    _Atomic uint64_t *b = m->filter + mem_filter_block(m, h, &g);
    for (int i = 0; i < FILTER_PROBES; i++) {
        unsigned bit = mem_filter_probe(g, i);
        uint64_t mask = 1ull << (bit & 63);
        if (!(atomic_load_explicit(&b[bit >> 6], memory_order_relaxed) & mask))
            atomic_fetch_or_explicit(&b[bit >> 6], mask, memory_order_relaxed);
    }
}

int dk__lsm_mem_may_hold_h(lsm_memtable *m, uint64_t h)
{
    if (!m->filter)
        return 1;
    uint64_t g;
    const _Atomic uint64_t *b = m->filter + mem_filter_block(m, h, &g);
    for (int i = 0; i < FILTER_PROBES; i++) {
        unsigned bit = mem_filter_probe(g, i);
        if (!(atomic_load_explicit(&b[bit >> 6], memory_order_relaxed) & (1ull << (bit & 63))))
            return 0;
    }
    return 1;
}

int dk__lsm_mem_may_hold(lsm_memtable *m, dk_slice ukey)
{
    return dk__lsm_mem_may_hold_h(m, dk__lsm_hash64(ukey.ptr, ukey.len));
}

size_t dk__lsm_mem_filter_bytes(const lsm_memtable *m)
{
    return m->filter ? ((size_t)m->filter_mask + 1) * 64 : 0;
}

int dk__lsm_mem_add(lsm_memtable *m, uint64_t seq, int type, dk_slice ukey, dk_slice value)
{
    return dk__lsm_mem_add_crc(m, seq, type, ukey, value, NULL);
}

int dk__lsm_mem_add_crc(lsm_memtable *m, uint64_t seq, int type, dk_slice ukey, dk_slice value,
                        const uint32_t *vcrc)
{
    uint8_t small[DK_KEY_MAX + LSM_TRAILER];
    uint8_t *buf = ukey.len <= DK_KEY_MAX ? small : malloc(ukey.len + LSM_TRAILER);
    if (!buf)
        return -ENOMEM;
    dk_slice ik = lsm_ikey_make(buf, ukey, seq, type);
    if (type == LSM_TYPE_DELETE)
        value.len = 0;
    mem_filter_add(m, dk__lsm_hash64(ukey.ptr, ukey.len));
    int rc = dk__lsm_sl_insert_crc(m->sl, ik, value, vcrc);
    if (buf != small)
        free(buf);
    return rc;
}

int dk__lsm_mem_find(lsm_memtable *m, dk_slice ukey, uint64_t snap, dk_slice *value, int *type,
                     uint64_t *seq_out)
{
    return dk__lsm_mem_find_h(m, ukey, dk__lsm_hash64(ukey.ptr, ukey.len), snap, value, type, seq_out);
}

int dk__lsm_mem_find_h(lsm_memtable *m, dk_slice ukey, uint64_t hash, uint64_t snap, dk_slice *value,
                       int *type, uint64_t *seq_out)
{
    if (!dk__lsm_mem_may_hold_h(m, hash))
        return DK_ENOTFOUND;
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
