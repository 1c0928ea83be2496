/*
 * skiplist.c - lock-free-read skip list over an arena (skiplist.h).
 *
 * Height is drawn with p = 1/4 up to 12 levels (Pugh's parameters, as in
 * LevelDB), enough for 16M entries per memtable. A B-tree or hash-indexed
 * memtable would read faster but needs locks or copy-on-write for
 * concurrent readers; a skip list gets those with two memory orders.
 *
 * Two arenas: one for the nodes (links and key, and a value up to
 * SL_INLINE_VALUE bytes), one for longer values, which a node points to.
 * A search reads only nodes, so with large values they stay dense: with
 * 10 KiB values every node used to sit on its own pages, and a point
 * read's ~20 node visits were ~20 cache and TLB misses (sl_find_ge was
 * the largest engine item of a GET's profile); now the nodes of a 64 MiB
 * memtable of such values fit in ~400 KiB.
 *
 * A long value's room starts with 8 bytes (the value stays 8-aligned)
 * whose first 4 hold the value's crc32c, as the WAL encoder computed it
 * from the writer's bytes (or computed here from them when the caller
 * has none): the flush derives the blob record's CRC from it
 * (dk__lsm_sl_value_crc, blob_file.c) instead of reading 10 KiB again.
 */
#include "skiplist.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/crc32c.h"

#define SL_MAX_HEIGHT 12
/* A chunk is a quarter of the memtable, between these bounds: a small
 * memtable (tests use 8 KiB) then takes small chunks from the heap
 * instead of two 256 KiB mappings that are faulted in whole and unmapped
 * at every switch (under AddressSanitizer each unmap also drops shadow
 * pages: a TLB shootdown on every core). Entries over a quarter of a
 * chunk get a block of their own. */
#define SL_CHUNK (256u * 1024u)
#define SL_CHUNK_MIN (16u * 1024u)
#define SL_INLINE_VALUE 256 /* longer values go to the value arena */
#define SL_VALUE_PREFIX 8   /* before a value in the value arena: its crc32c, 4 bytes of padding */

typedef struct sl_node {
    uint32_t klen, vlen;
    uint8_t height;
    const uint8_t *val; /* behind the key (inline) or in the value arena */
    _Atomic(struct sl_node *) next[];
} sl_node;

typedef struct sl_block {
    struct sl_block *prev;
    size_t used, cap;
    max_align_t data[];
} sl_block;

/* An arena: its chunks, the newest first (the one being filled). */
typedef struct sl_arena {
    sl_block *blocks;
} sl_arena;

struct lsm_skiplist {
    sl_node *head;
    _Atomic int height;
    _Atomic size_t memory, used, count;
    sl_arena nodes, values;
    uint64_t rng;
    lsm_sl_pool *pool; /* NULL: chunks come from and go to malloc */
    size_t chunk;      /* the pool's chunk size, or SL_CHUNK */
};

/* Chunks of freed lists kept for the next list: their pages stay mapped,
 * so filling a new memtable does not fault in and zero fresh pages (a
 * 10 KiB value cost ~3 page faults on the write leader's thread, as the
 * allocator returned a freed memtable's chunks to the kernel). */
struct lsm_sl_pool {
    pthread_mutex_t mu;
    _Atomic int refs; /* the owner's and one per list */
    sl_block *free;   /* chunks of `chunk` bytes, linked by prev */
    size_t chunk;     /* a quarter of cap_bytes, within SL_CHUNK_MIN..SL_CHUNK */
    size_t n, cap;    /* chunks kept, at most cap */
    size_t cap_bytes; /* as given: the memtable size (memtable.c sizes its filter by it) */
};

lsm_sl_pool *dk__lsm_sl_pool_new(size_t cap_bytes)
{
    lsm_sl_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->refs, 1);
    p->chunk = cap_bytes / 4 > SL_CHUNK       ? SL_CHUNK
               : cap_bytes / 4 < SL_CHUNK_MIN ? SL_CHUNK_MIN
                                              : cap_bytes / 4;
    p->cap = cap_bytes / (sizeof(sl_block) + p->chunk);
    p->cap_bytes = cap_bytes;
    return p;
}

size_t dk__lsm_sl_pool_bytes(const lsm_sl_pool *p)
{
    return p ? p->cap_bytes : 0;
}

void dk__lsm_sl_pool_unref(lsm_sl_pool *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    while (p->free) {
        sl_block *b = p->free;
        p->free = b->prev;
        free(b);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

size_t dk__lsm_sl_pool_kept(lsm_sl_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static sl_block *sl_pool_get(lsm_sl_pool *p)
{
    if (!p)
        return NULL;
    pthread_mutex_lock(&p->mu);
    sl_block *b = p->free;
    if (b) {
        p->free = b->prev;
        p->n--;
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

/* Keep b for a later list when it is a chunk and the pool has room. */
static void sl_pool_put(lsm_sl_pool *p, sl_block *b)
{
    if (p && b->cap == p->chunk) {
        pthread_mutex_lock(&p->mu);
        int keep = p->n < p->cap;
        if (keep) {
            b->prev = p->free;
            p->free = b;
            p->n++;
        }
        pthread_mutex_unlock(&p->mu);
        if (keep)
            return;
    }
    free(b);
}

/* Fault in a fresh chunk's pages with one call (MADV_POPULATE_WRITE,
 * Linux 5.14) instead of one page fault per 4 KiB as the writes reach
 * them: on this paravirtualised machine each fault is a trip through the
 * hypervisor, and the leader filling a new memtable took ~3 per 10 KiB
 * value on the write path. Best effort: without the call the pages fault
 * in as before. */
static void sl_populate(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t pg = 4096, a = ((uintptr_t)p + pg - 1) & ~(pg - 1), z = ((uintptr_t)p + n) & ~(pg - 1);
    if (z > a)
        (void)madvise((void *)a, z - a, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

static void *sl_alloc(lsm_skiplist *sl, sl_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    sl_block *b = a->blocks;
    int big = n > sl->chunk / 4;
    if (big || !b || b->cap - b->used < n) {
        size_t cap = big ? n : sl->chunk;
        sl_block *nb = big ? NULL : sl_pool_get(sl->pool);
        if (!nb && (nb = malloc(sizeof(*nb) + cap)) && !big)
            sl_populate(nb, sizeof(*nb) + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        atomic_fetch_add(&sl->memory, sizeof(*nb) + cap);
        /* A big entry gets its own block behind the current one, so the
         * current block keeps filling. */
        if (big && b) {
            nb->prev = b->prev;
            b->prev = nb;
        } else {
            nb->prev = b;
            a->blocks = nb;
        }
        b = nb;
    }
    void *p = (uint8_t *)b->data + b->used;
    b->used += n;
    atomic_fetch_add(&sl->used, n);
    return p;
}

static uint8_t *sl_data_at(sl_node *n, int height)
{
    return (uint8_t *)&n->next[height];
}
static uint8_t *sl_data(sl_node *n)
{
    return sl_data_at(n, n->height);
}
static dk_slice sl_key(sl_node *n)
{
    dk_slice s = {sl_data(n), n->klen};
    return s;
}
static dk_slice sl_val(sl_node *n)
{
    dk_slice s = {n->val, n->vlen};
    return s;
}

/* A node with room for the key (and the value when it is short); a long
 * value's room in the value arena. The value is not copied here. */
static sl_node *sl_node_new(lsm_skiplist *sl, int height, size_t klen, size_t vlen)
{
    size_t in = vlen <= SL_INLINE_VALUE ? vlen : 0;
    sl_node *n = sl_alloc(sl, &sl->nodes, sizeof(*n) + height * sizeof(n->next[0]) + klen + in);
    if (!n)
        return NULL;
    if (vlen == in) {
        n->val = sl_data_at(n, height) + klen;
    } else {
        uint8_t *room = sl_alloc(sl, &sl->values, SL_VALUE_PREFIX + vlen);
        if (!room)
            return NULL; /* the node's bytes stay unused in the arena */
        n->val = room + SL_VALUE_PREFIX;
    }
    n->klen = (uint32_t)klen;
    n->vlen = (uint32_t)vlen;
    n->height = (uint8_t)height;
    for (int i = 0; i < height; i++)
        atomic_init(&n->next[i], NULL);
    return n;
}

lsm_skiplist *dk__lsm_sl_new(uint64_t seed, lsm_sl_pool *pool)
{
    lsm_skiplist *sl = calloc(1, sizeof(*sl));
    if (!sl)
        return NULL;
    sl->rng = seed | 1;
    atomic_init(&sl->height, 1);
    sl->pool = pool;
    sl->chunk = pool ? pool->chunk : SL_CHUNK;
    if (pool)
        atomic_fetch_add(&pool->refs, 1);
    if (!(sl->head = sl_node_new(sl, SL_MAX_HEIGHT, 0, 0))) {
        dk__lsm_sl_pool_unref(pool);
        free(sl);
        return NULL;
    }
    return sl;
}

static void sl_arena_free(lsm_skiplist *sl, sl_arena *a)
{
    while (a->blocks) {
        sl_block *b = a->blocks;
        a->blocks = b->prev;
        sl_pool_put(sl->pool, b);
    }
}

void dk__lsm_sl_free(lsm_skiplist *sl)
{
    if (!sl)
        return;
    sl_arena_free(sl, &sl->nodes);
    sl_arena_free(sl, &sl->values);
    dk__lsm_sl_pool_unref(sl->pool);
    free(sl);
}

static int sl_random_height(lsm_skiplist *sl)
{
    int h = 1;
    for (;;) {
        sl->rng ^= sl->rng << 13;
        sl->rng ^= sl->rng >> 7;
        sl->rng ^= sl->rng << 17;
        if (h >= SL_MAX_HEIGHT || (sl->rng & 3))
            return h;
        h++;
    }
}

/* First node >= key; fills prev[] when given. */
static sl_node *sl_find_ge(lsm_skiplist *sl, dk_slice key, sl_node **prev)
{
    sl_node *x = sl->head;
    int level = atomic_load_explicit(&sl->height, memory_order_relaxed) - 1;
    for (;;) {
        sl_node *nx = atomic_load_explicit(&x->next[level], memory_order_acquire);
        if (nx && lsm_icmp(sl_key(nx), key) < 0) {
            x = nx;
            continue;
        }
        if (prev)
            prev[level] = x;
        if (level == 0)
            return nx;
        level--;
    }
}

int dk__lsm_sl_insert(lsm_skiplist *sl, dk_slice ikey, dk_slice value)
{
    return dk__lsm_sl_insert_crc(sl, ikey, value, NULL);
}

int dk__lsm_sl_insert_crc(lsm_skiplist *sl, dk_slice ikey, dk_slice value, const uint32_t *vcrc)
{
    sl_node *prev[SL_MAX_HEIGHT];
    sl_find_ge(sl, ikey, prev);
    int h = sl_random_height(sl);
    int cur = atomic_load_explicit(&sl->height, memory_order_relaxed);
    for (int i = cur; i < h; i++)
        prev[i] = sl->head;
    sl_node *n = sl_node_new(sl, h, ikey.len, value.len);
    if (!n)
        return -ENOMEM;
    memcpy(sl_data(n), ikey.ptr, ikey.len);
    if (value.len > SL_INLINE_VALUE) {
        uint32_t c = vcrc ? *vcrc : dk_crc32c(value.ptr, value.len);
        memcpy((uint8_t *)n->val - SL_VALUE_PREFIX, &c, sizeof(c));
    }
    if (value.len)
        memcpy((uint8_t *)n->val, value.ptr, value.len);
    if (h > cur)
        atomic_store_explicit(&sl->height, h, memory_order_relaxed);
    for (int i = 0; i < h; i++) {
        atomic_store_explicit(&n->next[i], atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
    }
    atomic_fetch_add(&sl->count, 1);
    return 0;
}

int dk__lsm_sl_seek(lsm_skiplist *sl, dk_slice ikey, dk_slice *key, dk_slice *value)
{
    sl_node *n = sl_find_ge(sl, ikey, NULL);
    if (!n)
        return 0;
    *key = sl_key(n);
    *value = sl_val(n);
    return 1;
}

int dk__lsm_sl_value_crc(dk_slice value, uint32_t *crc)
{
    if (value.len <= SL_INLINE_VALUE)
        return 0;
    memcpy(crc, value.ptr - SL_VALUE_PREFIX, sizeof(*crc));
    return 1;
}

size_t dk__lsm_sl_memory(lsm_skiplist *sl)
{
    return atomic_load(&sl->memory);
}
size_t dk__lsm_sl_used(lsm_skiplist *sl)
{
    return atomic_load(&sl->used);
}
size_t dk__lsm_sl_count(lsm_skiplist *sl)
{
    return atomic_load(&sl->count);
}

typedef struct sl_iter {
    lsm_iter base;
    lsm_skiplist *sl;
    sl_node *cur;
} sl_iter;

static void sli_seek(lsm_iter *it, dk_slice k)
{
    sl_iter *s = (sl_iter *)it;
    s->cur = sl_find_ge(s->sl, k, NULL);
}
static void sli_first(lsm_iter *it)
{
    sl_iter *s = (sl_iter *)it;
    s->cur = atomic_load_explicit(&s->sl->head->next[0], memory_order_acquire);
}
static void sli_next(lsm_iter *it)
{
    sl_iter *s = (sl_iter *)it;
    s->cur = atomic_load_explicit(&s->cur->next[0], memory_order_acquire);
}
static int sli_valid(lsm_iter *it)
{
    return ((sl_iter *)it)->cur != NULL;
}
static dk_slice sli_key(lsm_iter *it)
{
    return sl_key(((sl_iter *)it)->cur);
}
static dk_slice sli_value(lsm_iter *it)
{
    return sl_val(((sl_iter *)it)->cur);
}
static int sli_status(lsm_iter *it)
{
    (void)it;
    return 0;
}
static void sli_destroy(lsm_iter *it)
{
    free(it);
}

static const lsm_iter_ops sli_ops = {
    .seek = sli_seek,
    .first = sli_first,
    .next = sli_next,
    .valid = sli_valid,
    .key = sli_key,
    .value = sli_value,
    .status = sli_status,
    .destroy = sli_destroy,
};

lsm_iter *dk__lsm_sl_iter(lsm_skiplist *sl)
{
    sl_iter *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base.ops = &sli_ops;
    s->sl = sl;
    return &s->base;
}
