/*
 * blob_set.c - the open blob files of an engine and the reads of blob
 * values (blob.h).
 *
 * One object per blob file, found by number in a small chained hash under
 * one mutex, reference-counted by the table file objects naming it
 * (version.c) and by reads in progress. The mutex is taken only on a
 * block-cache miss and when tables open or close: a hot GET finds its
 * value in the block cache, keyed by (blob file number, record offset)
 * like a table block (the file-number space is shared, so keys never
 * collide), and costs no system call.
 *
 * A cached value is the whole record as read (header, key, value), so the
 * value is its last `len` bytes and nothing is copied to cut it out.
 *
 * Admission (TinyLFU's doorkeeper, door.h): a value read from its file
 * enters the block cache only when it was read once before, recently.
 * Values read once (a uniform read of more data than the
 * cache holds) then do not evict the tables' index and reference blocks,
 * which every read needs: measured with every value cached, readrandom of
 * 10 KiB values over 1 GB read a table block for half its gets (0.49 per
 * get, against none) and cost 18 % more CPU than with the values in the
 * tables. A hot key is cached from its second read on and then costs no
 * system call; a value not admitted is returned in its own buffer.
 */
#include "blob.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "door.h"
#include "util/crc32c.h"

#define BS_BUCKETS 64

struct lsm_blobs {
    lsm_env *env;
    char *dir;
    lsm_cache *cache;
    const dk_host *host;
    pthread_mutex_t mu;
    lsm_blob *buckets[BS_BUCKETS];
    lsm_blob_stats st;
    lsm_door door; /* admission of values read from files */
};

/* Enter nb (its number set) into the set with one reference, or, when a
 * racing opener entered the same file first, drop nb (closing its file)
 * and take a reference on that one. Returns the object to use. */
static lsm_blob *bs_publish(lsm_blobs *s, lsm_blob *nb)
{
    size_t h = (size_t)(nb->number % BS_BUCKETS);
    nb->refs = 1;
    nb->set = s;
    atomic_init(&nb->obsolete, 0);
    pthread_mutex_lock(&s->mu);
    for (lsm_blob *b = s->buckets[h]; b; b = b->next)
        if (b->number == nb->number) {
            b->refs++;
            pthread_mutex_unlock(&s->mu);
            if (nb->f)
                s->env->ops->close_r(nb->f);
            free(nb);
            return b;
        }
    nb->next = s->buckets[h];
    s->buckets[h] = nb;
    pthread_mutex_unlock(&s->mu);
    return nb;
}

/* 1 when (file, off) was asked about since the doorkeeper's last clearing
 * (admit it to the cache), else 0 and noted. */
static int bs_door_admit(lsm_blobs *s, uint64_t file, uint64_t off)
{
    uint64_t h = (file * 0x9e3779b97f4a7c15ull) ^ (off * 0xc2b2ae3d27d4eb4full);
    return dk__lsm_door_admit(&s->door, h ^ (h >> 31));
}

int dk__lsm_blobs_new(lsm_env *env, const char *dir, lsm_cache *cache, const dk_host *host, lsm_blobs **out)
{
    lsm_blobs *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return -ENOMEM;
    }
    s->env = env;
    s->cache = cache;
    s->host = host;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return 0;
}

void dk__lsm_blobs_free(lsm_blobs *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->dir);
    free(s);
}

lsm_blob_stats *dk__lsm_blobs_stats(lsm_blobs *s)
{
    return &s->st;
}

static void bs_path(const lsm_blobs *s, char *buf, size_t len, uint64_t number)
{
    snprintf(buf, len, "%s/%06llu.blob", s->dir, (unsigned long long)number);
}

static int bs_corrupt(lsm_blobs *s, uint64_t number, uint64_t off, const char *what)
{
    char path[4096];
    bs_path(s, path, sizeof(path), number);
    if (s->host && s->host->log)
        s->host->log(s->host, DK_LOG_ERROR, "lsm: corrupt %s in %s at offset %llu", what, path,
                     (unsigned long long)off);
    if (s->host && s->host->metric_add)
        s->host->metric_add(s->host, "lsm_corrupt_blocks_total", 1);
    atomic_fetch_add(&s->st.corrupt, 1);
    return DK_ECORRUPT;
}

int dk__lsm_blob_get(lsm_blobs *s, uint64_t number, lsm_blob **out)
{
    size_t h = (size_t)(number % BS_BUCKETS);
    pthread_mutex_lock(&s->mu);
    for (lsm_blob *b = s->buckets[h]; b; b = b->next)
        if (b->number == number) {
            b->refs++;
            pthread_mutex_unlock(&s->mu);
            *out = b;
            return 0;
        }
    pthread_mutex_unlock(&s->mu);
    /* Open outside the lock; a racing opener of the same file loses. */
    char path[4096];
    bs_path(s, path, sizeof(path), number);
    lsm_blob *nb = calloc(1, sizeof(*nb));
    if (!nb)
        return -ENOMEM;
    int rc = s->env->ops->open_r(s->env, path, &nb->f);
    uint8_t magic[LSM_BLOB_HEADER];
    size_t got = 0;
    uint64_t size = 0;
    if (!rc && !(rc = s->env->ops->size(nb->f, &size)))
        rc = s->env->ops->pread(nb->f, magic, sizeof(magic), 0, &got);
    atomic_init(&nb->size, size);
    if (!rc && (got != sizeof(magic) || memcmp(magic, LSM_BLOB_MAGIC, sizeof(magic)) != 0))
        rc = bs_corrupt(s, number, 0, "blob file header");
    if (rc) {
        if (rc != DK_ECORRUPT && s->host && s->host->log)
            s->host->log(s->host, DK_LOG_ERROR, "lsm: cannot open blob file %s: %s", path, strerror(-rc));
        if (nb->f)
            s->env->ops->close_r(nb->f);
        free(nb);
        return rc;
    }
    nb->number = number;
    *out = bs_publish(s, nb);
    return 0;
}

int dk__lsm_blob_get_lost(lsm_blobs *s, uint64_t number, lsm_blob **out)
{
    lsm_blob *nb = calloc(1, sizeof(*nb));
    if (!nb)
        return -ENOMEM;
    nb->number = number;
    nb->lost = 1;
    atomic_init(&nb->size, 0);
    *out = bs_publish(s, nb);
    return 0;
}

void dk__lsm_blob_ref(lsm_blob *b)
{
    pthread_mutex_lock(&b->set->mu);
    b->refs++;
    pthread_mutex_unlock(&b->set->mu);
}

void dk__lsm_blob_unref(lsm_blob *b)
{
    if (!b)
        return;
    lsm_blobs *s = b->set;
    pthread_mutex_lock(&s->mu);
    if (--b->refs > 0) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    for (lsm_blob **pp = &s->buckets[b->number % BS_BUCKETS]; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    if (b->f)
        s->env->ops->close_r(b->f);
    if (atomic_load(&b->obsolete)) {
        char path[4096];
        bs_path(s, path, sizeof(path), b->number);
        int rc = s->env->ops->unlink(s->env, path);
        if (rc && rc != -ENOENT && s->host && s->host->log)
            s->host->log(s->host, DK_LOG_WARN, "lsm: cannot delete %s: %s", path, strerror(-rc));
        dk__lsm_cache_erase_file(s->cache, b->number);
    }
    free(b);
}

void dk__lsm_blobs_note_size(lsm_blobs *s, uint64_t number, uint64_t size)
{
    pthread_mutex_lock(&s->mu);
    for (lsm_blob *b = s->buckets[number % BS_BUCKETS]; b; b = b->next)
        if (b->number == number)
            atomic_store(&b->size, size);
    pthread_mutex_unlock(&s->mu);
}

void dk__lsm_blobs_usage(lsm_blobs *s, uint64_t *files, uint64_t *bytes)
{
    *files = *bytes = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < BS_BUCKETS; i++)
        for (lsm_blob *b = s->buckets[i]; b; b = b->next)
            if (!atomic_load(&b->obsolete)) {
                (*files)++;
                *bytes += atomic_load(&b->size);
            }
    pthread_mutex_unlock(&s->mu);
}

/* Check the record rec[0..n) read for (ukey, r): 0 or DK_ECORRUPT. */
static int bs_check(lsm_blobs *s, const uint8_t *rec, size_t n, dk_slice ukey, const lsm_blob_ref *r)
{
    if (n < LSM_BLOB_REC_HDR || n != LSM_BLOB_REC_HDR + ukey.len + r->len)
        return bs_corrupt(s, r->file, r->off, "blob record (short read)");
    if (dk_get_u32(rec + 4) != ukey.len || dk_get_u32(rec + 8) != r->len)
        return bs_corrupt(s, r->file, r->off, "blob record (lengths)");
    if (dk_crc32c_unmask(dk_get_u32(rec)) != dk_crc32c(rec + 4, n - 4))
        return bs_corrupt(s, r->file, r->off, "blob record (checksum mismatch)");
    if (ukey.len && memcmp(rec + LSM_BLOB_REC_HDR, ukey.ptr, ukey.len) != 0)
        return bs_corrupt(s, r->file, r->off, "blob record (another key)");
    return 0;
}

int dk__lsm_blob_fetch(lsm_blobs *s, dk_slice ukey, dk_slice ref, unsigned flags, lsm_blob_val *out)
{
    memset(out, 0, sizeof(*out));
    lsm_blob_ref r;
    if (dk__lsm_blob_ref_decode(ref, &r)) {
        if (s->host && s->host->log)
            s->host->log(s->host, DK_LOG_ERROR, "lsm %s: malformed blob reference (%zu bytes)", s->dir,
                         ref.len);
        if (s->host && s->host->metric_add)
            s->host->metric_add(s->host, "lsm_corrupt_blocks_total", 1);
        return DK_ECORRUPT;
    }
    size_t n = LSM_BLOB_REC_HDR + ukey.len + (size_t)r.len;
    lsm_cblock *h = dk__lsm_cache_lookup(s->cache, r.file, r.off);
    if (h) {
        if (h->size == n) {
            atomic_fetch_add_explicit(&s->st.cache_hits, 1, memory_order_relaxed);
            out->h = h;
            out->value = (dk_slice){h->data + n - r.len, (size_t)r.len};
            return 0;
        }
        dk__lsm_cache_release(s->cache, h); /* not this key's record: read it */
    }
    lsm_blob *b;
    int rc = dk__lsm_blob_get(s, r.file, &b);
    if (rc)
        return rc;
    if (b->lost) {
        dk__lsm_blob_unref(b);
        return bs_corrupt(s, r.file, r.off, "blob file (it could not be opened: missing or damaged)");
    }
    uint64_t size = atomic_load(&b->size);
    if (r.off > size || n > size - r.off) {
        /* Opened while a compaction still wrote it: ask again. */
        if (s->env->ops->size(b->f, &size))
            size = atomic_load(&b->size);
    }
    if (r.off > size || n > size - r.off) {
        dk__lsm_blob_unref(b);
        return bs_corrupt(s, r.file, r.off, "blob reference (past the end of the file)");
    }
    uint8_t *buf = malloc(n);
    if (!buf) {
        dk__lsm_blob_unref(b);
        return -ENOMEM;
    }
    size_t got = 0;
    if (flags & LSM_BLOB_NOWAIT)
        rc = s->env->ops->pread_nowait ? s->env->ops->pread_nowait(b->f, buf, n, r.off, &got) : -EAGAIN;
    else
        rc = s->env->ops->pread(b->f, buf, n, r.off, &got);
    dk__lsm_blob_unref(b);
    if (rc) {
        free(buf);
        if (rc != -EAGAIN && s->host && s->host->log) {
            char path[4096];
            bs_path(s, path, sizeof(path), r.file);
            s->host->log(s->host, DK_LOG_ERROR, "lsm: read of %s at offset %llu failed: %s", path,
                         (unsigned long long)r.off, strerror(-rc));
        }
        return rc;
    }
    atomic_fetch_add_explicit(&s->st.reads, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->st.read_bytes, got, memory_order_relaxed);
    if ((rc = bs_check(s, buf, got, ukey, &r))) {
        free(buf);
        return rc;
    }
    if ((flags & LSM_BLOB_NOCACHE) || !bs_door_admit(s, r.file, r.off)) {
        out->own = buf;
        out->value = (dk_slice){buf + n - r.len, (size_t)r.len};
        return 0;
    }
    if (!(h = dk__lsm_cache_insert(s->cache, r.file, r.off, buf, n)))
        return -ENOMEM;
    out->h = h;
    out->value = (dk_slice){h->data + n - r.len, (size_t)r.len};
    return 0;
}

void dk__lsm_blob_val_free(lsm_blobs *s, lsm_blob_val *v)
{
    if (v->h)
        dk__lsm_cache_release(s->cache, v->h);
    free(v->own);
    v->h = NULL;
    v->own = NULL;
}
