/*
 * cache.c - sharded CLOCK block cache (cache.h).
 *
 * Blocks are spread over up to 16 shards by the hash of (file, offset),
 * each with its own reader-writer lock, chained hash table, CLOCK ring and
 * capacity (the cache's divided evenly; a small cache gets fewer shards so
 * that each still holds at least 4 MiB, and one shard below that: exact
 * CLOCK over the whole capacity).
 *
 * A hit takes its shard's lock shared, walks the chain, counts a reference
 * (atomic) and sets the entry's reference bit (a plain atomic store, only
 * when clear, so a hot block's line is not written on every hit): readers
 * never exclude one another and never write the ring. Release is lock-free:
 * the last reference frees the block. The cache holds one reference on each
 * entry it indexes and drops it under the shard's exclusive lock when it
 * unlinks the entry, so a count never rises from zero and a reader still
 * holding an evicted block keeps it alive.
 *
 * Eviction is CLOCK (second chance): new entries go just behind the hand,
 * and the hand clears set reference bits and evicts the first entry whose
 * bit is clear. A recently hit block survives one sweep; with no hits the
 * order is insertion order, as an LRU's would be.
 *
 * The LRU this replaces moved the entry in a list under one mutex on every
 * hit (touching two neighbours' lines) and took the mutex again to
 * release: two lock round trips and three cold lines per block read, all
 * threads on one lock. A lock-free hash (RCU or hazard pointers) would save
 * the shared lock too, at the price of deferred reclamation; the shared
 * lock costs two atomic operations on a line that is only contended when
 * two readers hit the same shard at once.
 *
 * Pinned bytes (cache.h) only count against the capacity: each shard's
 * limit is its capacity less its share of them.
 *
 * Each entry is also on its file's list (a small table of files per
 * shard), so erasing a deleted table's blocks touches only those. Walking
 * the whole cache for it held the lock about 0.5 ms per deleted table with
 * a 128 MiB cache of 10 KiB blocks, while every point read waited. Not
 * erasing at all (RocksDB lets such blocks age out) would keep dead blocks
 * charged to the capacity until the hand reaches them.
 */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct cf;
/* Aligned to a cache line, so that what a hit reads and writes (pub, key,
 * refs, used, hnext: the first 56 bytes) is one line: malloc's 16-byte
 * alignment split three entries in four over two lines, and a lookup's
 * lines are cold (one lookup per block read, two per GET of a value held
 * in a blob file). Entries come from their shard's chunks (below). */
typedef struct ce {
    lsm_cblock pub;
    uint64_t file, off, hash;
    atomic_int refs;
    atomic_uchar used;      /* the CLOCK reference bit */
    struct ce *hnext;       /* hash chain */
    struct ce *prev, *next; /* the shard's CLOCK ring */
    struct cf *fh;          /* its file's list (NULL: on none) */
    struct ce *fnext, **fpprev;
} __attribute__((aligned(64))) ce;
_Static_assert(offsetof(ce, hnext) + sizeof(ce *) <= 64, "a hit's fields in one line");

/* A file with entries in the shard: the head of their list. */
typedef struct cf {
    uint64_t file;
    ce *first;
    struct cf *hnext;
} cf;

#define CF_BUCKETS 64
/* Entries are carved from chunks of this many bytes per shard and reused
 * through a free list, not malloc'd one by one: malloc put each next to its
 * block, one entry per page spread over the whole cache, so a lookup's
 * entry cost a TLB miss as well as a cache miss. In chunks, a shard's
 * entries sit in a few pages. Chunks are freed with the cache. */
#define C_CHUNK ((size_t)64 << 10)
#define C_MAX_SHARDS 16
#define C_SHARD_MIN ((size_t)4 << 20)

typedef struct cshard {
    pthread_rwlock_t lock;
    /* In the lock's cache line (56 + 8 bytes): a hit writes one line of
     * the shard, not two. */
    atomic_uint_fast64_t hits;
    atomic_uint_fast64_t misses;
    /* Under the exclusive lock (usage read under the shared one). */
    size_t capacity, usage, count;
    ce **buckets;
    size_t nbuckets;
    ce *hand; /* the next entry the clock looks at; NULL when empty */
    cf *files[CF_BUCKETS];
    ce *spare;    /* unused entries (under the exclusive lock) */
    void *chunks; /* every chunk, linked through its first pointer */
    /* Entries whose last reference went, pushed without the lock (a
     * release takes none); insert takes them all at once under the
     * exclusive lock, so there is one consumer and no ABA. */
    _Atomic(ce *) freed;
} __attribute__((aligned(64))) cshard;

struct lsm_cache {
    size_t capacity;
    unsigned nshards, shift;
    pthread_mutex_t pin_mu; /* serialises the pinning budget's check */
    atomic_size_t pinned;   /* charged by dk__lsm_cache_pin */
    cshard *shards;
};

#define CE_OVERHEAD (sizeof(ce) + 16)

static uint64_t c_hash(uint64_t file, uint64_t off)
{
    uint64_t h = (file * 0x9e3779b97f4a7c15ull) ^ (off * 0xc2b2ae3d27d4eb4full);
    return h ^ (h >> 29);
}

static cshard *c_shard(lsm_cache *c, uint64_t h)
{
    return &c->shards[c->shift < 64 ? h >> c->shift : 0];
}

static int c_shard_init(cshard *s, size_t capacity, size_t nbuckets)
{
    if (!(s->buckets = calloc(nbuckets, sizeof(*s->buckets))))
        return -1;
    s->nbuckets = nbuckets;
    s->capacity = capacity;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
#ifdef __GLIBC__
    /* Readers come continuously from every loop; an insert must not wait
     * for a gap between them. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&s->lock, &a);
    pthread_rwlockattr_destroy(&a);
    atomic_init(&s->hits, 0);
    atomic_init(&s->misses, 0);
    atomic_init(&s->freed, NULL);
    return 0;
}

lsm_cache *dk__lsm_cache_new(size_t capacity)
{
    lsm_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    unsigned n = 1, bits = 0;
    while (n < C_MAX_SHARDS && capacity / (n * 2) >= C_SHARD_MIN) {
        n *= 2;
        bits++;
    }
    c->capacity = capacity;
    c->nshards = n;
    c->shift = bits ? 64 - bits : 64;
    if (!(c->shards = aligned_alloc(64, n * sizeof(cshard)))) {
        free(c);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        memset(&c->shards[i], 0, sizeof(cshard));
        size_t cap = capacity / n + (i == 0 ? capacity % n : 0);
        if (c_shard_init(&c->shards[i], cap, n == 1 ? 1024 : 256) != 0) {
            while (i--) {
                free(c->shards[i].buckets);
                pthread_rwlock_destroy(&c->shards[i].lock);
            }
            free(c->shards);
            free(c);
            return NULL;
        }
    }
    pthread_mutex_init(&c->pin_mu, NULL);
    atomic_init(&c->pinned, 0);
    return c;
}

static void c_unref(cshard *s, ce *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        free((void *)e->pub.data);
        ce *head = atomic_load_explicit(&s->freed, memory_order_relaxed);
        do
            e->hnext = head;
        while (!atomic_compare_exchange_weak_explicit(&s->freed, &head, e, memory_order_release,
                                                      memory_order_relaxed));
    }
}

/* An unused entry of s, or NULL on ENOMEM. Exclusive lock held. */
static ce *c_entry(cshard *s)
{
    if (!s->spare)
        s->spare = atomic_exchange_explicit(&s->freed, NULL, memory_order_acquire);
    if (!s->spare) {
        /* The chunk's first entry-sized slot holds the chunk list's link. */
        ce *k = aligned_alloc(_Alignof(ce), C_CHUNK);
        if (!k)
            return NULL;
        *(void **)k = s->chunks;
        s->chunks = k;
        for (size_t i = C_CHUNK / sizeof(ce) - 1; i >= 1; i--) {
            k[i].hnext = s->spare;
            s->spare = &k[i];
        }
    }
    ce *e = s->spare;
    s->spare = e->hnext;
    memset(e, 0, sizeof(*e));
    return e;
}

static cf **c_file_slot(cshard *s, uint64_t file)
{
    cf **pp = &s->files[(file * 0x9e3779b97f4a7c15ull) >> 58];
    while (*pp && (*pp)->file != file)
        pp = &(*pp)->hnext;
    return pp;
}

/* Put e on its file's list (a new list when it is the file's first
 * entry; without memory for one, e stays on none and erase misses it). */
static void c_file_add(cshard *s, ce *e)
{
    cf **pp = c_file_slot(s, e->file);
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
static void c_file_del(cshard *s, ce *e)
{
    if (!e->fh)
        return;
    *e->fpprev = e->fnext;
    if (e->fnext)
        e->fnext->fpprev = e->fpprev;
    if (!e->fh->first) {
        cf **pp = c_file_slot(s, e->file);
        *pp = e->fh->hnext;
        free(e->fh);
    }
    e->fh = NULL;
}

/* Unlink e from the table, ring and file list and drop the cache's
 * reference. Exclusive lock held. */
static void c_remove(cshard *s, ce *e)
{
    ce **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->next == e) {
        s->hand = NULL;
    } else {
        if (s->hand == e)
            s->hand = e->next;
        e->prev->next = e->next;
        e->next->prev = e->prev;
    }
    c_file_del(s, e);
    s->usage -= e->pub.size + CE_OVERHEAD;
    s->count--;
    c_unref(s, e);
}

void dk__lsm_cache_free(lsm_cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nshards; i++) {
        cshard *s = &c->shards[i];
        while (s->hand)
            c_remove(s, s->hand);
        free(s->buckets);
        pthread_rwlock_destroy(&s->lock);
        while (s->chunks) {
            void *k = s->chunks;
            s->chunks = *(void **)k;
            free(k);
        }
    }
    pthread_mutex_destroy(&c->pin_mu);
    free(c->shards);
    free(c);
}

static ce *c_find(cshard *s, uint64_t h, uint64_t file, uint64_t off)
{
    for (ce *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->hnext)
        if (e->file == file && e->off == off)
            return e;
    return NULL;
}

/* A referenced handle or NULL; count: into the hit and miss counters. */
static lsm_cblock *c_lookup(lsm_cache *c, uint64_t file, uint64_t off, int count)
{
    uint64_t h = c_hash(file, off);
    cshard *s = c_shard(c, h);
    pthread_rwlock_rdlock(&s->lock);
    ce *e = c_find(s, h, file, off);
    if (e) {
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        if (!atomic_load_explicit(&e->used, memory_order_relaxed))
            atomic_store_explicit(&e->used, 1, memory_order_relaxed);
    }
    pthread_rwlock_unlock(&s->lock);
    if (count)
        atomic_fetch_add_explicit(e ? &s->hits : &s->misses, 1, memory_order_relaxed);
    return e ? &e->pub : NULL;
}

lsm_cblock *dk__lsm_cache_lookup(lsm_cache *c, uint64_t file, uint64_t off)
{
    return c_lookup(c, file, off, 1);
}

lsm_cblock *dk__lsm_cache_probe(lsm_cache *c, uint64_t file, uint64_t off)
{
    return c_lookup(c, file, off, 0);
}

/* The shard's limit: its capacity less its share of the pinned bytes. */
static size_t c_limit(lsm_cache *c, cshard *s)
{
    size_t share = (atomic_load_explicit(&c->pinned, memory_order_relaxed) + c->nshards - 1) / c->nshards;
    return share < s->capacity ? s->capacity - share : 0;
}

/* Evict with the clock until the shard's charge fits. Each turn of the
 * hand either clears a bit or evicts, and a cleared bit is only set again
 * by a hit, so this ends within two turns of the ring per eviction even
 * under concurrent hits (the lock is exclusive: no hits meanwhile).
 * Exclusive lock held. */
static void c_evict(lsm_cache *c, cshard *s)
{
    size_t limit = c_limit(c, s);
    while (s->usage > limit && s->hand) {
        ce *e = s->hand;
        if (atomic_load_explicit(&e->used, memory_order_relaxed)) {
            atomic_store_explicit(&e->used, 0, memory_order_relaxed);
            s->hand = e->next;
        } else {
            c_remove(s, e);
        }
    }
}

static void c_grow(cshard *s)
{
    size_t nb = s->nbuckets * 2;
    ce **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < s->nbuckets; i++) {
        ce *e = s->buckets[i];
        while (e) {
            ce *n = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = n;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

lsm_cblock *dk__lsm_cache_insert(lsm_cache *c, uint64_t file, uint64_t off, uint8_t *data, size_t size)
{
    uint64_t h = c_hash(file, off);
    cshard *s = c_shard(c, h);
    pthread_rwlock_wrlock(&s->lock);
    ce *e = c_entry(s);
    if (!e) {
        pthread_rwlock_unlock(&s->lock);
        free(data);
        return NULL;
    }
    e->pub.data = data;
    e->pub.size = size;
    e->file = file;
    e->off = off;
    e->hash = h;
    atomic_init(&e->refs, 2); /* the cache's and the caller's */
    atomic_init(&e->used, 0);
    ce *old = c_find(s, e->hash, file, off);
    if (old)
        c_remove(s, old);
    /* At most one entry per two buckets: a hit then walks ~1.2 entries
     * on average instead of ~1.4 at one per bucket, and each entry walked
     * is a cold line (a lookup's misses were most of its cost in a
     * profile: the bucket, then the entries of its chain). */
    if (s->count >= s->nbuckets / 2)
        c_grow(s);
    ce **b = &s->buckets[e->hash & (s->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    /* Just behind the hand: the last entry it reaches. */
    if (!s->hand) {
        e->next = e->prev = e;
        s->hand = e;
    } else {
        e->next = s->hand;
        e->prev = s->hand->prev;
        e->prev->next = e;
        s->hand->prev = e;
    }
    c_file_add(s, e);
    s->usage += size + CE_OVERHEAD;
    s->count++;
    c_evict(c, s);
    pthread_rwlock_unlock(&s->lock);
    return &e->pub;
}

void dk__lsm_cache_release(lsm_cache *c, lsm_cblock *h)
{
    ce *e = (ce *)h;
    c_unref(c_shard(c, e->hash), e);
}

void dk__lsm_cache_erase_file(lsm_cache *c, uint64_t file)
{
    for (unsigned i = 0; i < c->nshards; i++) {
        cshard *s = &c->shards[i];
        pthread_rwlock_wrlock(&s->lock);
        cf *f;
        while ((f = *c_file_slot(s, file)) != NULL)
            c_remove(s, f->first); /* frees f with the last entry */
        pthread_rwlock_unlock(&s->lock);
    }
}

int dk__lsm_cache_pin(lsm_cache *c, size_t n)
{
    pthread_mutex_lock(&c->pin_mu);
    size_t p = atomic_load(&c->pinned);
    int ok = n <= c->capacity / 2 && p <= c->capacity / 2 - n;
    if (ok)
        atomic_store(&c->pinned, p + n);
    pthread_mutex_unlock(&c->pin_mu);
    for (unsigned i = 0; ok && i < c->nshards; i++) {
        cshard *s = &c->shards[i];
        pthread_rwlock_wrlock(&s->lock);
        c_evict(c, s);
        pthread_rwlock_unlock(&s->lock);
    }
    return ok;
}

void dk__lsm_cache_unpin(lsm_cache *c, size_t n)
{
    pthread_mutex_lock(&c->pin_mu);
    size_t p = atomic_load(&c->pinned);
    atomic_store(&c->pinned, p - (n < p ? n : p));
    pthread_mutex_unlock(&c->pin_mu);
}

uint64_t dk__lsm_cache_pinned(lsm_cache *c)
{
    return atomic_load(&c->pinned);
}

void dk__lsm_cache_stats(lsm_cache *c, uint64_t *usage, uint64_t *hits, uint64_t *misses)
{
    uint64_t u = 0, hi = 0, mi = 0;
    for (unsigned i = 0; i < c->nshards; i++) {
        cshard *s = &c->shards[i];
        pthread_rwlock_rdlock(&s->lock);
        u += s->usage;
        pthread_rwlock_unlock(&s->lock);
        hi += atomic_load_explicit(&s->hits, memory_order_relaxed);
        mi += atomic_load_explicit(&s->misses, memory_order_relaxed);
    }
    *usage = u + atomic_load(&c->pinned);
    *hits = hi;
    *misses = mi;
}
