/*
 * cache.h - the block cache (cache.c): decoded (checked, decompressed)
 * data, index and filter blocks keyed by (file number, offset), evicted
 * by CLOCK (second chance: a block hit since the hand last passed is
 * spared once, otherwise oldest first) once their bytes plus the pinned
 * bytes exceed the capacity. Large caches are split into up to 16 shards
 * by key, each holding an equal part of the capacity.
 *
 * Pinned bytes are index and filter blocks a table keeps outside the cache's
 * entries (table_reader.c); they are charged to the same capacity, so the
 * cache's memory stays under one number whatever the mix. At most half the
 * capacity can be pinned; beyond that tables read their index and filter
 * through the cache like data blocks.
 *
 * A handle returned by lookup/insert holds a reference: its bytes stay
 * valid until dk__lsm_cache_release, even if the block is evicted
 * meanwhile. All functions are thread-safe; lookups on different threads
 * do not exclude one another, and release takes no lock.
 */
#ifndef DK_LSM_CACHE_H
#define DK_LSM_CACHE_H
#include <stddef.h>
#include <stdint.h>

typedef struct lsm_cache lsm_cache;
typedef struct lsm_cblock {
    const uint8_t *data;
    size_t size;
} lsm_cblock;

/* A cache holding up to capacity bytes; NULL on ENOMEM. */
lsm_cache *dk__lsm_cache_new(size_t capacity);
/* Frees the cache; every handle must have been released. */
void dk__lsm_cache_free(lsm_cache *c);
/* A referenced handle, or NULL on a miss. */
lsm_cblock *dk__lsm_cache_lookup(lsm_cache *c, uint64_t file, uint64_t off);
/* The same, left out of the hit and miss counts: for entries that are not
 * blocks (memo.h counts its own), so the block cache's hit ratio stays
 * the blocks'. */
lsm_cblock *dk__lsm_cache_probe(lsm_cache *c, uint64_t file, uint64_t off);
/* Insert data (malloc'd; the cache takes ownership, also on failure) and
 * return a referenced handle, or NULL on ENOMEM. An existing entry for the
 * same key is replaced. */
lsm_cblock *dk__lsm_cache_insert(lsm_cache *c, uint64_t file, uint64_t off, uint8_t *data, size_t size);
void dk__lsm_cache_release(lsm_cache *c, lsm_cblock *h);
/* Drop every unreferenced entry of file (when the file is deleted). */
void dk__lsm_cache_erase_file(lsm_cache *c, uint64_t file);
/* Charge n pinned bytes: 1 when they fit in the pinning budget (half the
 * capacity; blocks are evicted to make room), 0 when refused (nothing
 * charged: the caller keeps those blocks in the cache instead). */
int dk__lsm_cache_pin(lsm_cache *c, size_t n);
/* Give back n bytes charged by a successful dk__lsm_cache_pin. */
void dk__lsm_cache_unpin(lsm_cache *c, size_t n);
/* Bytes currently charged (cached entries plus pinned); counts of hits and
 * misses. */
void dk__lsm_cache_stats(lsm_cache *c, uint64_t *usage, uint64_t *hits, uint64_t *misses);
/* Pinned bytes currently charged (included in stats' usage). */
uint64_t dk__lsm_cache_pinned(lsm_cache *c);
#endif
