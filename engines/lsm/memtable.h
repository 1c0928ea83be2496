/*
 * memtable.h - the in-memory write buffer (memtable.c): a reference-counted
 * skip list of internal keys, a bloom filter of its user keys (so that a
 * point read of a key the memtable lacks is answered from one cache line
 * instead of a walk down the list), plus the number of the WAL file that
 * covers it. The engine holds one mutable and at most one immutable
 * memtable; readers and iterators take references so a flushed memtable
 * lives until the last of them is done.
 */
#ifndef DK_LSM_MEMTABLE_H
#define DK_LSM_MEMTABLE_H
#include <stdatomic.h>

#include "skiplist.h"
#include "util/buf.h"

typedef struct lsm_memtable {
    _Atomic int refs;
    lsm_skiplist *sl;
    uint64_t wal_number; /* the WAL whose records are in this memtable */
    /* Blocked bloom filter of the user keys added (memtable.c): mask + 1
     * blocks of 8 words (one cache line each). NULL: none (out of memory
     * when made; every find then searches the list). */
    _Atomic uint64_t *filter;
    uint32_t filter_mask;
    void *filter_mem; /* what filter is aligned in */
} lsm_memtable;

/* A memtable with one reference, its arena drawn from pool (may be
 * NULL), or NULL on ENOMEM. Its filter is sized by the pool's cap_bytes
 * (the memtable size: one bit per 8 bytes, a power of two from 4 KiB
 * to 8 MiB; 64 KiB without a pool). */
lsm_memtable *dk__lsm_mem_new(uint64_t wal_number, lsm_sl_pool *pool);
void dk__lsm_mem_ref(lsm_memtable *m);
/* Drop a reference; frees on the last. Any thread. */
void dk__lsm_mem_unref(lsm_memtable *m);
/* Insert one record. Single writer (the write leader). The key is in the
 * filter before the record is in the list, so a reader that can see the
 * record (its sequence at or below a snapshot published after this call)
 * sees the filter's bits too. */
int dk__lsm_mem_add(lsm_memtable *m, uint64_t seq, int type, dk_slice ukey, dk_slice value);
/* The same with the value's dk_crc32c when the caller has it (the WAL
 * encoder's, lsm_write.c), kept for the flush (skiplist.h); NULL: it is
 * computed from value's bytes where it is kept. */
int dk__lsm_mem_add_crc(lsm_memtable *m, uint64_t seq, int type, dk_slice ukey, dk_slice value,
                        const uint32_t *vcrc);
/* Newest version of ukey with seq <= snap (snap as published by the write
 * path under the engine's mutex: see mem_add): returns 0 and sets *type and
 * *seq_out (for LSM_TYPE_VALUE *value points into m, valid while the
 * caller holds a reference to m), or DK_ENOTFOUND. Allocates nothing for keys up
 * to DK_KEY_MAX. 0, DK_ENOTFOUND or -ENOMEM. */
int dk__lsm_mem_find(lsm_memtable *m, dk_slice ukey, uint64_t snap, dk_slice *value, int *type,
                     uint64_t *seq_out);
/* As find, with hash = dk__lsm_hash64(ukey) (bloom.h) already computed
 * (a point read hashes its key once for the memtables and tables). */
int dk__lsm_mem_find_h(lsm_memtable *m, dk_slice ukey, uint64_t hash, uint64_t snap, dk_slice *value,
                       int *type, uint64_t *seq_out);
size_t dk__lsm_mem_usage(lsm_memtable *m);
/* 0 when the filter says ukey was never added (then find answers
 * DK_ENOTFOUND without searching); 1 when it may have been. */
int dk__lsm_mem_may_hold(lsm_memtable *m, dk_slice ukey);
int dk__lsm_mem_may_hold_h(lsm_memtable *m, uint64_t hash);
/* The filter's size in bytes (0: none); for tests. */
size_t dk__lsm_mem_filter_bytes(const lsm_memtable *m);
/* An iterator that holds a reference to m until destroyed. NULL on ENOMEM. */
lsm_iter *dk__lsm_mem_iter(lsm_memtable *m);
#endif
