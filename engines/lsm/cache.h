/*
 * cache.h - the block cache (cache.c): decoded (checked, decompressed)
 * data blocks keyed by (file number, offset), evicted least recently used
 * first once their bytes exceed the capacity.
 *
 * A handle returned by lookup/insert holds a reference: its bytes stay
 * valid until dk__lsm_cache_release, even if the block is evicted
 * meanwhile. All functions are thread-safe.
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
/* Insert data (malloc'd; the cache takes ownership, also on failure) and
 * return a referenced handle, or NULL on ENOMEM. An existing entry for the
 * same key is replaced. */
lsm_cblock *dk__lsm_cache_insert(lsm_cache *c, uint64_t file, uint64_t off, uint8_t *data, size_t size);
void dk__lsm_cache_release(lsm_cache *c, lsm_cblock *h);
/* Drop every unreferenced entry of file (when the file is deleted). */
void dk__lsm_cache_erase_file(lsm_cache *c, uint64_t file);
/* Bytes currently charged; counts of hits and misses. */
void dk__lsm_cache_stats(lsm_cache *c, uint64_t *usage, uint64_t *hits, uint64_t *misses);
#endif
