/*
 * memory.c - the in-memory engine plugin ("memory"): the reference engine
 * for tests and caches, and the model of what dk_engine_ops asks for.
 *
 * NOT DURABLE: everything lives in process memory and is gone at close()
 * or a crash; conf->path is accepted and ignored, caps has no
 * DK_ENGINE_CAP_DURABLE, and write(sync=1) means nothing more than sync=0.
 *
 * Structure: a skip list (max 16 levels, p = 1/4) ordered bytewise (memcmp,
 * shorter first on a tie) under one pthread rwlock: get, iter_open and stats
 * take it shared, write takes it exclusive, so a batch is atomic to every
 * reader. A batch first allocates everything it may need (records and
 * nodes), so it either applies whole or fails with -ENOMEM having changed
 * nothing.
 *
 * Keys and values live together in immutable, reference-counted records; a
 * node points at its current record and an overwrite swaps the pointer.
 * Snapshot iterators: iter_open copies the POINTERS of the records in its
 * range (taking a reference on each) under the shared lock, so later writes
 * are invisible to it and its slices stay valid until iter_close. That costs
 * O(range) pointer copies at open instead of O(range bytes); the alternative
 * of versioned nodes with a sequence number per write (what an LSM memtable
 * does) was not taken because it needs garbage collection of old versions
 * against the oldest live snapshot, which buys nothing for an engine with no
 * disk behind it. Seek is a binary search in the copied array.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dynkv/engine.h"
#include "dynkv/plugin.h"

#define MEM_MAX_HEIGHT 16

typedef struct mem_rec {
    atomic_uint ref;
    size_t klen, vlen;
    uint8_t data[]; /* key bytes, then value bytes */
} mem_rec;

typedef struct mem_node {
    mem_rec *rec;
    int height;
    struct mem_node *next[];
} mem_node;

typedef struct mem_engine {
    dk_engine base; /* first: the host sees a dk_engine */
    pthread_rwlock_t lock;
    mem_node *head;       /* sentinel with MEM_MAX_HEIGHT links */
    uint64_t rng;         /* xorshift state, written under the write lock */
    uint64_t keys, bytes; /* live keys, sum of key + value lengths */
} mem_engine;

typedef struct mem_iter {
    dk_engine_iter base; /* first */
    mem_rec **v;         /* the snapshot, in key order, one ref each */
    size_t n, pos;
} mem_iter;

static int mem_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int mem_rec_cmp(const mem_rec *r, dk_slice k)
{
    /* memcmp must not see a NULL pointer even for a zero length. */
    static const uint8_t none;
    return mem_cmp(r->data, r->klen, k.ptr ? k.ptr : &none, k.len);
}

static mem_rec *mem_rec_new(dk_slice key, dk_slice value)
{
    if (key.len > SIZE_MAX / 2 || value.len > SIZE_MAX / 2 - key.len - sizeof(mem_rec))
        return NULL;
    mem_rec *r = malloc(sizeof(*r) + key.len + value.len);
    if (!r)
        return NULL;
    atomic_init(&r->ref, 1);
    r->klen = key.len;
    r->vlen = value.len;
    if (key.len)
        memcpy(r->data, key.ptr, key.len);
    if (value.len)
        memcpy(r->data + key.len, value.ptr, value.len);
    return r;
}

static void mem_rec_unref(mem_rec *r)
{
    if (r && atomic_fetch_sub_explicit(&r->ref, 1, memory_order_acq_rel) == 1)
        free(r);
}

static mem_node *mem_node_new(int height)
{
    mem_node *n = calloc(1, sizeof(*n) + (size_t)height * sizeof(mem_node *));
    if (n)
        n->height = height;
    return n;
}

static int mem_random_height(mem_engine *m)
{
    int h = 1;
    for (;;) {
        m->rng ^= m->rng << 13;
        m->rng ^= m->rng >> 7;
        m->rng ^= m->rng << 17;
        if (h >= MEM_MAX_HEIGHT || (m->rng & 3) != 0)
            return h;
        h++;
    }
}

/* First node with key >= k; fills prev[] with the last node before it on
 * every level when prev is not NULL. Caller holds the lock. */
static mem_node *mem_find_ge(mem_engine *m, dk_slice k, mem_node **prev)
{
    mem_node *x = m->head;
    for (int lv = MEM_MAX_HEIGHT - 1; lv >= 0; lv--) {
        while (x->next[lv] && mem_rec_cmp(x->next[lv]->rec, k) < 0)
            x = x->next[lv];
        if (prev)
            prev[lv] = x;
    }
    return x->next[0];
}

static int mem_open(const dk_host *host, const dk_engine_conf *conf, dk_engine **out)
{
    *out = NULL;
    mem_engine *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    if (!(m->head = mem_node_new(MEM_MAX_HEIGHT))) {
        free(m);
        return -ENOMEM;
    }
    if (pthread_rwlock_init(&m->lock, NULL) != 0) {
        free(m->head);
        free(m);
        return -ENOMEM;
    }
    m->base.host = host;
    m->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)m;
    if (host && host->log)
        host->log(host, DK_LOG_DEBUG, "memory engine opened (not durable; path %s ignored)",
                  conf && conf->path ? conf->path : "(none)");
    *out = &m->base;
    return 0;
}

static int mem_close(dk_engine *e)
{
    mem_engine *m = (mem_engine *)e;
    if (!m)
        return 0;
    mem_node *x = m->head;
    while (x) {
        mem_node *next = x->next[0];
        mem_rec_unref(x->rec); /* open iterators keep their own refs */
        free(x);
        x = next;
    }
    pthread_rwlock_destroy(&m->lock);
    free(m);
    return 0;
}

static int mem_get(dk_engine *e, dk_slice key, dk_value_sink sink, void *arg)
{
    mem_engine *m = (mem_engine *)e;
    int rc = DK_ENOTFOUND;
    pthread_rwlock_rdlock(&m->lock);
    mem_node *x = mem_find_ge(m, key, NULL);
    if (x && mem_rec_cmp(x->rec, key) == 0) {
        dk_slice v = {x->rec->data + x->rec->klen, x->rec->vlen};
        sink(arg, v);
        rc = 0;
    }
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

/* Apply one operation whose allocations were made in advance. *node is
 * consumed (set to NULL) when linked in; rec's reference moves in for a
 * put. Caller holds the write lock. Cannot fail. */
static void mem_apply(mem_engine *m, const dk_batch_op *op, mem_rec *rec, mem_node **node)
{
    mem_node *prev[MEM_MAX_HEIGHT];
    mem_node *x = mem_find_ge(m, op->key, prev);
    int found = x && mem_rec_cmp(x->rec, op->key) == 0;
    if (op->type == DK_BATCH_PUT) {
        if (found) {
            m->bytes -= x->rec->klen + x->rec->vlen;
            mem_rec_unref(x->rec);
            x->rec = rec;
        } else {
            mem_node *n = *node;
            *node = NULL;
            n->rec = rec;
            for (int lv = 0; lv < n->height; lv++) {
                n->next[lv] = prev[lv]->next[lv];
                prev[lv]->next[lv] = n;
            }
            m->keys++;
        }
        m->bytes += rec->klen + rec->vlen;
    } else if (found) {
        for (int lv = 0; lv < x->height; lv++)
            if (prev[lv]->next[lv] == x)
                prev[lv]->next[lv] = x->next[lv];
        m->keys--;
        m->bytes -= x->rec->klen + x->rec->vlen;
        mem_rec_unref(x->rec);
        free(x);
    }
}

static int mem_write(dk_engine *e, const dk_batch *batch, int sync)
{
    mem_engine *m = (mem_engine *)e;
    int rc = 0;
    size_t n = batch ? batch->count : 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const dk_batch_op *op = &batch->ops[i];
        if (op->type != DK_BATCH_PUT && op->type != DK_BATCH_DELETE)
            return -EINVAL;
        if ((op->key.len && !op->key.ptr) || (op->type == DK_BATCH_PUT && op->value.len && !op->value.ptr))
            return -EINVAL;
    }
    mem_rec **recs = calloc(n, sizeof(*recs));
    mem_node **nodes = calloc(n, sizeof(*nodes));
    if (!recs || !nodes) {
        rc = -ENOMEM;
        goto out;
    }
    /* Copy the bytes outside the lock; nodes need the rng, so inside. */
    for (size_t i = 0; i < n; i++) {
        if (batch->ops[i].type != DK_BATCH_PUT)
            continue;
        if (!(recs[i] = mem_rec_new(batch->ops[i].key, batch->ops[i].value))) {
            rc = -ENOMEM;
            goto out;
        }
    }
    pthread_rwlock_wrlock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        if (recs[i] && !(nodes[i] = mem_node_new(mem_random_height(m)))) {
            pthread_rwlock_unlock(&m->lock);
            rc = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        mem_apply(m, &batch->ops[i], recs[i], &nodes[i]);
        recs[i] = NULL; /* owned by the list now */
    }
    pthread_rwlock_unlock(&m->lock);
out:
    for (size_t i = 0; recs && nodes && i < n; i++) {
        mem_rec_unref(recs[i]);
        free(nodes[i]);
    }
    free(recs);
    free(nodes);
    return rc;
}

static int mem_iter_open(dk_engine *e, const dk_iter_opts *opts, dk_engine_iter **out)
{
    mem_engine *m = (mem_engine *)e;
    dk_slice start = {NULL, 0}, end = {NULL, 0};
    *out = NULL;
    if (opts) {
        start = opts->start;
        end = opts->end;
    }
    mem_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->base.engine = e;
    size_t cap = 0;
    int rc = 0;
    pthread_rwlock_rdlock(&m->lock);
    for (mem_node *x = mem_find_ge(m, start, NULL); x; x = x->next[0]) {
        if (end.len && mem_rec_cmp(x->rec, end) >= 0)
            break;
        if (it->n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            mem_rec **v = realloc(it->v, ncap * sizeof(*v));
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            it->v = v;
            cap = ncap;
        }
        atomic_fetch_add_explicit(&x->rec->ref, 1, memory_order_relaxed);
        it->v[it->n++] = x->rec;
    }
    pthread_rwlock_unlock(&m->lock);
    if (rc) {
        for (size_t i = 0; i < it->n; i++)
            mem_rec_unref(it->v[i]);
        free(it->v);
        free(it);
        return rc;
    }
    *out = &it->base;
    return 0;
}

static int mem_iter_seek(dk_engine_iter *base, dk_slice target)
{
    mem_iter *it = (mem_iter *)base;
    size_t lo = 0, hi = it->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mem_rec_cmp(it->v[mid], target) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    it->pos = lo;
    return 0;
}

static int mem_iter_next(dk_engine_iter *base, dk_slice *key, dk_slice *value)
{
    mem_iter *it = (mem_iter *)base;
    if (it->pos >= it->n)
        return DK_EEOF;
    const mem_rec *r = it->v[it->pos++];
    key->ptr = r->data;
    key->len = r->klen;
    value->ptr = r->data + r->klen;
    value->len = r->vlen;
    return 0;
}

static void mem_iter_close(dk_engine_iter *base)
{
    mem_iter *it = (mem_iter *)base;
    if (!it)
        return;
    for (size_t i = 0; i < it->n; i++)
        mem_rec_unref(it->v[i]);
    free(it->v);
    free(it);
}

/* Nothing to make durable: the engine is memory only. */
static int mem_flush(dk_engine *e)
{
    return 0;
}

/* A skip list has no garbage to compact: deletes free their node at once. */
static int mem_compact_range(dk_engine *e, dk_slice start, dk_slice end)
{
    return 0;
}

static int mem_stats(dk_engine *e, dk_stat_sink sink, void *arg)
{
    mem_engine *m = (mem_engine *)e;
    pthread_rwlock_rdlock(&m->lock);
    uint64_t keys = m->keys, bytes = m->bytes;
    pthread_rwlock_unlock(&m->lock);
    sink(arg, "keys", keys);
    sink(arg, "bytes", bytes);
    return 0;
}

static const dk_engine_ops mem_ops = {
    .struct_size = sizeof(dk_engine_ops),
    .caps = DK_ENGINE_CAP_ORDERED | DK_ENGINE_CAP_SNAPSHOT | DK_ENGINE_CAP_THREADSAFE,
    .open = mem_open,
    .close = mem_close,
    .get = mem_get,
    .write = mem_write,
    .iter_open = mem_iter_open,
    .iter_seek = mem_iter_seek,
    .iter_next = mem_iter_next,
    .iter_close = mem_iter_close,
    .flush = mem_flush,
    .compact_range = mem_compact_range,
    .stats = mem_stats,
    /* Everything is in memory and the lock is never held across I/O. */
    .try_get = mem_get,
};

static const dk_plugin mem_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_ENGINE,
    .name = "memory",
    .version = "1.0.0",
    .ops = &mem_ops,
};

DK_PLUGIN_EXPORT(&mem_plugin)
