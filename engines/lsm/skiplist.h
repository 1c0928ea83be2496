/*
 * skiplist.h - the memtable's ordered index (skiplist.c): a skip list of
 * (internal key, value) entries allocated from an arena.
 *
 * One writer at a time (the write path's leader, under its lock) and any
 * number of concurrent readers without locks: a node is fully built before
 * a release store links it in, and readers follow links with acquire
 * loads. Entries are never removed; the arena is freed with the list.
 */
#ifndef DK_LSM_SKIPLIST_H
#define DK_LSM_SKIPLIST_H
#include "ikey.h"

typedef struct lsm_skiplist lsm_skiplist;

/* Arena chunks of freed lists, kept (up to cap_bytes) for new lists so
 * that their pages stay mapped; reference-counted: every list holds a
 * reference, so a list may outlive the pool's owner. Thread-safe. */
typedef struct lsm_sl_pool lsm_sl_pool;
lsm_sl_pool *dk__lsm_sl_pool_new(size_t cap_bytes);
void dk__lsm_sl_pool_unref(lsm_sl_pool *p);
/* The cap_bytes the pool was made with (0 for NULL). */
size_t dk__lsm_sl_pool_bytes(const lsm_sl_pool *p);
/* Chunks the pool keeps now (for tests and stats). */
size_t dk__lsm_sl_pool_kept(lsm_sl_pool *p);

/* A new empty list drawing chunks from pool (NULL: from malloc only), or
 * NULL when out of memory. */
lsm_skiplist *dk__lsm_sl_new(uint64_t seed, lsm_sl_pool *pool);
/* Free the list; its chunks go back to its pool while it has room. */
void dk__lsm_sl_free(lsm_skiplist *sl);
/* Copy ikey and value in. Single writer. 0 or -ENOMEM. */
int dk__lsm_sl_insert(lsm_skiplist *sl, dk_slice ikey, dk_slice value);
/* The same; *vcrc (when not NULL) is dk_crc32c of value, kept with a long
 * value instead of being computed here from value's bytes. */
int dk__lsm_sl_insert_crc(lsm_skiplist *sl, dk_slice ikey, dk_slice value, const uint32_t *vcrc);
/* For a value slice of an entry of a list (its value() or seek's): 1 and
 * *crc its crc32c as kept at insert when the value is long, else 0. */
int dk__lsm_sl_value_crc(dk_slice value, uint32_t *crc);
/* Bytes allocated (arena plus large entries); any thread. */
size_t dk__lsm_sl_memory(lsm_skiplist *sl);
/* Bytes handed out for entries (what the memtable limit is checked
 * against: memory() also counts the unused end of the current chunk). */
size_t dk__lsm_sl_used(lsm_skiplist *sl);
/* Entries inserted; any thread. */
size_t dk__lsm_sl_count(lsm_skiplist *sl);
/* The first entry >= ikey without an iterator (no allocation): 1 with
 * *key and *value pointing into the list (valid while it lives), or 0
 * when every entry is smaller. Any thread. */
int dk__lsm_sl_seek(lsm_skiplist *sl, dk_slice ikey, dk_slice *key, dk_slice *value);
/* An iterator over the list; the list must outlive it. NULL on ENOMEM. */
lsm_iter *dk__lsm_sl_iter(lsm_skiplist *sl);
#endif
