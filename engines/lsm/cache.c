/*
 * cache.c - LRU block cache (cache.h).
 *
 * One mutex, a chained hash table and an intrusive LRU list. The cache
 * holds one reference on each entry it indexes; eviction unlinks the entry
 * and drops that reference, so a reader still holding the block keeps it
 * alive (LevelDB keeps in-use entries on a separate list instead; dropping
 * the cache's reference is simpler and charges the same bytes). A single
 * lock is enough at 2-8 cores since the critical sections are a few
 * pointer moves; CLOCK or sharding would be the next step under contention.
 * Pinned bytes (cache.h) only count against the capacity.
 *
 * Each entry is also on its file's list (a small table of files), so
 * erasing a deleted table's blocks touches only those. Walking the whole
 * LRU for it held the lock about 0.5 ms per deleted table with a 128 MiB
 * cache of 10 KiB blocks (several per compaction), and much longer when
 * the walker was preempted meanwhile, while every point read on the
 * node's loops waited for the lock. Not erasing at all (RocksDB lets such
 * blocks age out) would keep dead blocks charged to the capacity until
 * they reach the tail.
 */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>

struct cf;
typedef struct ce {
    lsm_cblock pub;
    uint64_t file, off;
    int refs; /* under mu */
    int in_cache;
    struct ce *hnext, *prev, *next;
    struct cf *fh;              /* its file's list (NULL: on none) */
    struct ce *fnext, **fpprev; /* links in that list */
} ce;

/* A file with entries in the cache: the head of their list. */
typedef struct cf {
    uint64_t file;
    ce *first;
    struct cf *hnext;
} cf;

#define CF_BUCKETS 256

struct lsm_cache {
    pthread_mutex_t mu;
    size_t capacity, usage, count;
    size_t pinned; /* charged by dk__lsm_cache_pin, not in the LRU */
    ce **buckets;
    size_t nbuckets;
    ce lru; /* list head: lru.next is the most recent */
    uint64_t hits, misses;
    cf *files[CF_BUCKETS]; /* files with entries, chained by file number */
};

#define CE_OVERHEAD (sizeof(ce) + 16)

static size_t c_hash(uint64_t file, uint64_t off, size_t nb)
{
    uint64_t h = (file * 0x9e3779b97f4a7c15ull) ^ (off * 0xc2b2ae3d27d4eb4full);
    return (size_t)(h ^ (h >> 29)) & (nb - 1);
}

lsm_cache *dk__lsm_cache_new(size_t capacity)
{
    lsm_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->nbuckets = 1024;
    if (!(c->buckets = calloc(c->nbuckets, sizeof(*c->buckets)))) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->capacity = capacity;
    c->lru.next = c->lru.prev = &c->lru;
    return c;
}

static void c_unref(ce *e)
{
    if (--e->refs == 0) {
        free((void *)e->pub.data);
        free(e);
    }
}

static cf **c_file_slot(lsm_cache *c, uint64_t file)
{
    cf **pp = &c->files[(file * 0x9e3779b97f4a7c15ull) >> 56];
    while (*pp && (*pp)->file != file)
        pp = &(*pp)->hnext;
    return pp;
}

/* Put e on its file's list (a new list when it is the file's first
 * entry; without memory for one, e stays on none and erase misses it). */
static void c_file_add(lsm_cache *c, ce *e)
{
    cf **pp = c_file_slot(c, e->file);
    if (!*pp) {
        if (!(*pp = calloc(1, sizeof(**pp))))
            return;
        (*pp)->file = e->file;
    }
    e->fh = *pp;
    e->fnext = e->fh->first;
    if (e->fnext)
        e->fnext->fpprev = &e->fnext;
    e->fpprev = &e->fh->first;
    e->fh->first = e;
}

/* Take e off its file's list; free the list's head once empty. */
static void c_file_del(lsm_cache *c, ce *e)
{
    if (!e->fh)
        return;
    *e->fpprev = e->fnext;
    if (e->fnext)
        e->fnext->fpprev = e->fpprev;
    if (!e->fh->first) {
        cf **pp = c_file_slot(c, e->file);
        *pp = e->fh->hnext;
        free(e->fh);
    }
    e->fh = NULL;
}

/* Unlink e from the table and lists and drop the cache's reference. */
static void c_remove(lsm_cache *c, ce *e)
{
    ce **pp = &c->buckets[c_hash(e->file, e->off, c->nbuckets)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    c_file_del(c, e);
    e->in_cache = 0;
    c->usage -= e->pub.size + CE_OVERHEAD;
    c->count--;
    c_unref(e);
}

void dk__lsm_cache_free(lsm_cache *c)
{
    if (!c)
        return;
    while (c->lru.next != &c->lru)
        c_remove(c, c->lru.next);
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static ce *c_find(lsm_cache *c, uint64_t file, uint64_t off)
{
    for (ce *e = c->buckets[c_hash(file, off, c->nbuckets)]; e; e = e->hnext)
        if (e->file == file && e->off == off)
            return e;
    return NULL;
}

static void c_touch(lsm_cache *c, ce *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = c->lru.next;
    e->prev = &c->lru;
    c->lru.next->prev = e;
    c->lru.next = e;
}

lsm_cblock *dk__lsm_cache_lookup(lsm_cache *c, uint64_t file, uint64_t off)
{
    pthread_mutex_lock(&c->mu);
    ce *e = c_find(c, file, off);
    if (e) {
        e->refs++;
        c_touch(c, e);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return e ? &e->pub : NULL;
}

/* Evict the least recently used entries until the charge fits. */
static void c_evict(lsm_cache *c)
{
    while (c->usage + c->pinned > c->capacity && c->lru.prev != &c->lru)
        c_remove(c, c->lru.prev);
}

static void c_grow(lsm_cache *c)
{
    size_t nb = c->nbuckets * 2;
    ce **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < c->nbuckets; i++) {
        ce *e = c->buckets[i];
        while (e) {
            ce *n = e->hnext;
            size_t h = c_hash(e->file, e->off, nb);
            e->hnext = b[h];
            b[h] = e;
            e = n;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

lsm_cblock *dk__lsm_cache_insert(lsm_cache *c, uint64_t file, uint64_t off, uint8_t *data, size_t size)
{
    ce *e = calloc(1, sizeof(*e));
    if (!e) {
        free(data);
        return NULL;
    }
    e->pub.data = data;
    e->pub.size = size;
    e->file = file;
    e->off = off;
    e->refs = 2; /* the cache's and the caller's */
    e->in_cache = 1;
    pthread_mutex_lock(&c->mu);
    ce *old = c_find(c, file, off);
    if (old)
        c_remove(c, old);
    if (c->count >= c->nbuckets)
        c_grow(c);
    size_t h = c_hash(file, off, c->nbuckets);
    e->hnext = c->buckets[h];
    c->buckets[h] = e;
    e->next = c->lru.next;
    e->prev = &c->lru;
    c->lru.next->prev = e;
    c->lru.next = e;
    c_file_add(c, e);
    c->usage += size + CE_OVERHEAD;
    c->count++;
    c_evict(c);
    pthread_mutex_unlock(&c->mu);
    return &e->pub;
}

void dk__lsm_cache_release(lsm_cache *c, lsm_cblock *h)
{
    pthread_mutex_lock(&c->mu);
    c_unref((ce *)h);
    pthread_mutex_unlock(&c->mu);
}

void dk__lsm_cache_erase_file(lsm_cache *c, uint64_t file)
{
    pthread_mutex_lock(&c->mu);
    cf *f;
    while ((f = *c_file_slot(c, file)) != NULL)
        c_remove(c, f->first); /* frees f with the last entry */
    pthread_mutex_unlock(&c->mu);
}

int dk__lsm_cache_pin(lsm_cache *c, size_t n)
{
    pthread_mutex_lock(&c->mu);
    int ok = n <= c->capacity / 2 && c->pinned <= c->capacity / 2 - n;
    if (ok) {
        c->pinned += n;
        c_evict(c);
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void dk__lsm_cache_unpin(lsm_cache *c, size_t n)
{
    pthread_mutex_lock(&c->mu);
    c->pinned -= n < c->pinned ? n : c->pinned;
    pthread_mutex_unlock(&c->mu);
}

uint64_t dk__lsm_cache_pinned(lsm_cache *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->pinned;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void dk__lsm_cache_stats(lsm_cache *c, uint64_t *usage, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->mu);
    *usage = c->usage + c->pinned;
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->mu);
}
