/*
 * table_reader.c - opens, checks and reads SSTables (table.h).
 *
 * The footer, index, filter and properties are read and verified once at
 * open. The properties stay in the table; the index and filter stay
 * pinned while the cache's pinning budget (half its capacity, charged to
 * it) has room, otherwise they are put in the block cache and read back
 * through it when evicted, so memory stays under the cache's capacity
 * however many tables are open. Data blocks always go through the cache.
 * A point read (dk__lsm_table_find) checks the filter, seeks the index
 * with a stack iterator and reads one data block: no allocation when the
 * blocks are cached. Every block's CRC is checked when it is read from the file; a
 * mismatch or a malformed block fails that read with DK_ECORRUPT, a log
 * line naming the file and offset, and one count of
 * lsm_corrupt_blocks_total. Nothing is retried or repaired here: the
 * engine reports the error to the caller and keeps serving other keys.
 * An iterator in skip mode (dk__lsm_table_iter_skip) steps over a damaged
 * data block instead, noting its key range so that the engine's iterator
 * hides the versions the lost ones may have shadowed (lsm.c).
 *
 * A compressed block names its codec by id in its trailer; the table's
 * properties name the codecs of its blocks, which the open registers in
 * the engine's codec registry (codecs.h), so a block read only looks its
 * codec up. The codec's compressed form records the original length,
 * which is checked against LSM_BLOCK_MAX before anything is allocated.
 */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "util/crc32c.h"

static int tr_corrupt(lsm_table *t, uint64_t off, const char *what)
{
    const dk_host *h = t->host;
    if (h && h->log)
        h->log(h, DK_LOG_ERROR, "lsm: corrupt %s in %s at offset %llu", what, t->path,
               (unsigned long long)off);
    if (h && h->metric_add)
        h->metric_add(h, "lsm_corrupt_blocks_total", 1);
    return DK_ECORRUPT;
}

/* Per-thread count of block reads from files (table.h). */
static _Thread_local uint64_t tl_blocks_read, tl_bytes_read;

void dk__lsm_table_thread_reads(uint64_t *blocks, uint64_t *bytes)
{
    *blocks = tl_blocks_read;
    *bytes = tl_bytes_read;
}

/* Read the stored block at (off, size), check its CRC and decompress it
 * into a malloc'd buffer. With nowait only from the page cache: -EAGAIN
 * when the kernel would have to wait for the device. */
static int tr_read_block(lsm_table *t, uint64_t off, uint64_t size, const char *what, int nowait,
                         uint8_t **out, size_t *out_len)
{
    if (nowait && !t->env->ops->pread_nowait)
        return -EAGAIN;
    if (size > LSM_BLOCK_MAX || off > t->size || size + LSM_BLOCK_TRAILER > t->size - off)
        return tr_corrupt(t, off, what);
    size_t n = (size_t)size + LSM_BLOCK_TRAILER;
    uint8_t *raw = malloc(n);
    if (!raw)
        return -ENOMEM;
    size_t got;
    int rc = nowait ? t->env->ops->pread_nowait(t->f, raw, n, off, &got)
                    : t->env->ops->pread(t->f, raw, n, off, &got);
    if (rc == -EAGAIN && nowait) {
        free(raw);
        return rc;
    }
    if (rc == 0) {
        tl_blocks_read++;
        tl_bytes_read += got;
    }
    if (rc) {
        free(raw);
        if (t->host && t->host->log)
            t->host->log(t->host, DK_LOG_ERROR, "lsm: read of %s at offset %llu failed: %s", t->path,
                         (unsigned long long)off, strerror(-rc));
        return rc;
    }
    uint8_t type = raw[size];
    uint32_t crc = dk_crc32c_extend(dk_crc32c(raw, size), &type, 1);
    const dk_codec_ref *codec = type == LSM_BLOCK_RAW ? NULL : dk__lsm_codecs_get(t->codecs, type);
    if (got != n || dk_crc32c_unmask(dk_get_u32(raw + size + 1)) != crc ||
        (type != LSM_BLOCK_RAW && !codec)) {
        free(raw);
        return tr_corrupt(t, off, what);
    }
    if (type == LSM_BLOCK_RAW) {
        *out = raw;
        *out_len = (size_t)size;
        return 0;
    }
    size_t dlen = 0;
    if (dk_codec_decompress(codec, raw, size, NULL, 0, &dlen) != 0 || dlen > LSM_BLOCK_MAX) {
        free(raw);
        return tr_corrupt(t, off, what);
    }
    uint8_t *d = malloc(dlen ? dlen : 1);
    if (!d) {
        free(raw);
        return -ENOMEM;
    }
    size_t got_len = 0;
    rc = dk_codec_decompress(codec, raw, size, d, dlen, &got_len);
    free(raw);
    if (rc || got_len != dlen) {
        free(d);
        return rc == -ENOMEM ? rc : tr_corrupt(t, off, what);
    }
    *out = d;
    *out_len = dlen;
    return 0;
}

static int tr_parse_props(lsm_table *t, const uint8_t *p, size_t n, uint64_t off)
{
    if (n < 64)
        return tr_corrupt(t, off, "properties block");
    lsm_props *pr = &t->props;
    pr->entries = dk_get_u64(p);
    pr->tombstones = dk_get_u64(p + 8);
    pr->min_seq = dk_get_u64(p + 16);
    pr->max_seq = dk_get_u64(p + 24);
    pr->min_write_ms = (int64_t)dk_get_u64(p + 32);
    pr->max_write_ms = (int64_t)dk_get_u64(p + 40);
    pr->max_expiry_ms = (int64_t)dk_get_u64(p + 48);
    pr->data_size = dk_get_u64(p + 56);
    const uint8_t *q = p + 64, *end = p + n;
    dk_buf *keys[2] = {&pr->smallest, &pr->largest};
    for (int i = 0; i < 2; i++) {
        uint64_t len;
        size_t k = dk_get_varint(q, end, &len);
        if (!k || len > (uint64_t)(end - q - k) || (pr->entries && len < LSM_TRAILER))
            return tr_corrupt(t, off, "properties block");
        q += k;
        if (dk_buf_append(keys[i], q, len))
            return -ENOMEM;
        q += len;
    }
    if (q == end)
        return t->codecs ? dk__lsm_codecs_need(t->codecs, LSM_LEGACY_CODEC_ID, LSM_LEGACY_CODEC, t->path) : 0;
    uint64_t count;
    size_t k = dk_get_varint(q, end, &count);
    if (!k || count > 255)
        return tr_corrupt(t, off, "properties block (codec list)");
    q += k;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t len;
        char name[65];
        if (q == end || !(k = dk_get_varint(q + 1, end, &len)) || len == 0 || len > 64 ||
            len > (uint64_t)(end - q - 1 - k))
            return tr_corrupt(t, off, "properties block (codec list)");
        uint8_t id = q[0];
        memcpy(name, q + 1 + k, len);
        name[len] = '\0';
        q += 1 + k + len;
        if (strlen(name) != len)
            return tr_corrupt(t, off, "properties block (codec name)");
        int rc = t->codecs ? dk__lsm_codecs_need(t->codecs, id, name, t->path) : 0;
        if (rc)
            return rc;
    }
    if (q == end)
        return 0;
    /* The blob files the table references (table.h). */
    if (!(k = dk_get_varint(q, end, &count)) || count > (uint64_t)(end - q))
        return tr_corrupt(t, off, "properties block (blob files)");
    q += k;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t pair[2];
        for (int j = 0; j < 2; j++) {
            if (!(k = dk_get_varint(q, end, &pair[j])))
                return tr_corrupt(t, off, "properties block (blob files)");
            q += k;
        }
        if (dk_buf_append(&pr->blobs, pair, sizeof(pair)))
            return -ENOMEM;
    }
    return 0;
}

int dk__lsm_table_open(lsm_env *env, const char *path, uint64_t number, lsm_cache *cache, lsm_codecs *codecs,
                       const dk_host *host, lsm_table **out)
{
    *out = NULL;
    lsm_table *t = calloc(1, sizeof(*t));
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return -ENOMEM;
    }
    t->env = env;
    t->number = number;
    t->host = host;
    t->cache = cache;
    t->codecs = codecs;
    dk__lsm_props_init(&t->props);
    int rc = env->ops->open_r(env, path, &t->f);
    if (rc) {
        t->f = NULL;
        if (host && host->log)
            host->log(host, DK_LOG_ERROR, "lsm: cannot open table %s: %s", path, strerror(-rc));
        goto err;
    }
    if ((rc = env->ops->size(t->f, &t->size)))
        goto err;
    uint8_t ft[LSM_FOOTER_SIZE];
    size_t got;
    if (t->size < LSM_FOOTER_SIZE) {
        rc = tr_corrupt(t, 0, "table (shorter than its footer)");
        goto err;
    }
    uint64_t foot = t->size - LSM_FOOTER_SIZE;
    if ((rc = env->ops->pread(t->f, ft, sizeof(ft), foot, &got)))
        goto err;
    if (got != sizeof(ft) || dk_get_u64(ft + 56) != LSM_TABLE_MAGIC ||
        dk_crc32c_unmask(dk_get_u32(ft + 52)) != dk_crc32c(ft, 52)) {
        rc = tr_corrupt(t, foot, "footer");
        goto err;
    }
    if (dk_get_u32(ft + 48) != LSM_TABLE_VERSION && dk_get_u32(ft + 48) != LSM_TABLE_VERSION_BLOB) {
        rc = tr_corrupt(t, foot, "footer (unknown format version)");
        goto err;
    }
    uint8_t *props;
    size_t plen;
    t->filter_off = dk_get_u64(ft);
    t->filter_len = dk_get_u64(ft + 8);
    t->index_off = dk_get_u64(ft + 32);
    t->index_len = dk_get_u64(ft + 40);
    if ((rc = tr_read_block(t, t->filter_off, t->filter_len, "filter block", 0, &t->filter,
                            &t->filter_size)) ||
        (rc = tr_read_block(t, t->index_off, t->index_len, "index block", 0, &t->index, &t->index_size)))
        goto err;
    if (dk__lsm_block_check(t->index, t->index_size)) {
        rc = tr_corrupt(t, t->index_off, "index block");
        goto err;
    }
    if ((rc = tr_read_block(t, dk_get_u64(ft + 16), dk_get_u64(ft + 24), "properties block", 0, &props,
                            &plen)))
        goto err;
    rc = tr_parse_props(t, props, plen, dk_get_u64(ft + 16));
    free(props);
    if (rc)
        goto err;
    if (!dk__lsm_cache_pin(cache, t->index_size + t->filter_size)) {
        /* No pinning budget left: hand both blocks to the LRU (already
         * checked, so the first reads hit). */
        lsm_cblock *h = dk__lsm_cache_insert(cache, number, t->filter_off, t->filter, t->filter_size);
        t->filter = NULL;
        if (h)
            dk__lsm_cache_release(cache, h);
        if ((h = dk__lsm_cache_insert(cache, number, t->index_off, t->index, t->index_size)))
            dk__lsm_cache_release(cache, h);
        t->index = NULL;
    } else {
        t->pinned = t->index_size + t->filter_size;
    }
    *out = t;
    return 0;
err:
    dk__lsm_table_close(t);
    return rc;
}

void dk__lsm_table_close(lsm_table *t)
{
    if (!t)
        return;
    if (t->f)
        t->env->ops->close_r(t->f);
    if (t->pinned)
        dk__lsm_cache_unpin(t->cache, t->pinned);
    free(t->index);
    free(t->filter);
    free(t->path);
    dk__lsm_props_free(&t->props);
    free(t);
}

/* The block at (off, size) through the cache; is_block says it is an
 * index or data block (restart array checked) rather than a filter. */
static int tr_cached(lsm_table *t, uint64_t off, uint64_t size, const char *what, int is_block, int nowait,
                     lsm_cblock **out)
{
    lsm_cblock *h = dk__lsm_cache_lookup(t->cache, t->number, off);
    if (h) {
        *out = h;
        return 0;
    }
    uint8_t *d;
    size_t n;
    /* nowait: from the page cache or not at all (-EAGAIN: the caller
     * retries where it may block). */
    int rc = tr_read_block(t, off, size, what, nowait, &d, &n);
    if (rc)
        return rc;
    if (is_block && dk__lsm_block_check(d, n)) {
        free(d);
        return tr_corrupt(t, off, what);
    }
    if (!(h = dk__lsm_cache_insert(t->cache, t->number, off, d, n)))
        return -ENOMEM;
    *out = h;
    return 0;
}

int dk__lsm_table_block(lsm_table *t, uint64_t off, uint64_t size, lsm_cblock **out)
{
    return tr_cached(t, off, size, "data block", 1, 0, out);
}

/* The index (which = 0) or filter (1) block: pinned bytes with *h NULL,
 * or a cache handle in *h that the caller releases. */
static int tr_meta(lsm_table *t, int which, int nowait, const uint8_t **data, size_t *size, lsm_cblock **h)
{
    *h = NULL;
    const uint8_t *pin = which ? t->filter : t->index;
    if (pin) {
        *data = pin;
        *size = which ? t->filter_size : t->index_size;
        return 0;
    }
    int rc = which ? tr_cached(t, t->filter_off, t->filter_len, "filter block", 0, nowait, h)
                   : tr_cached(t, t->index_off, t->index_len, "index block", 1, nowait, h);
    if (rc)
        return rc;
    *data = (*h)->data;
    *size = (*h)->size;
    return 0;
}

/* Bloom check of a key by its hash: 1 maybe, 0 surely absent, or a read error
 * (-EAGAIN with nowait when the filter is not in memory). */
static int tr_bloom(lsm_table *t, uint64_t hash, int nowait)
{
    const uint8_t *f;
    size_t n;
    lsm_cblock *h;
    int rc = tr_meta(t, 1, nowait, &f, &n, &h);
    if (rc)
        return rc;
    int may = dk__lsm_bloom_may_match(f, n, hash);
    if (h)
        dk__lsm_cache_release(t->cache, h);
    return may;
}

int dk__lsm_table_may_contain(lsm_table *t, dk_slice ukey)
{
    return tr_bloom(t, dk__lsm_hash64(ukey.ptr, ukey.len), 0) != 0;
}

/* ---- two-level iterator: index block -> data blocks ------------------- */

typedef struct tbl_iter {
    lsm_iter base;
    lsm_table *t;
    lsm_iter *index, *data; /* index is NULL when it could not be read */
    int status;
    lsm_damage_set *dmg;  /* skip mode: damaged blocks are noted here */
    dk_buf lo, hi;        /* the loaded block holds user keys in (lo, hi] */
    int has_lo, has_hi;   /* has_hi: hi names the block before (reset by seeks) */
    int lo_incl, hi_incl; /* lo (hi, for the next block) is the bound of a seek:
                               * inclusive, not a previous block's last key */
    uint64_t block_off;   /* the loaded block's offset */
    int no_cache;         /* data blocks bypass the block cache */
} tbl_iter;

typedef struct tbl_rel {
    lsm_cache *cache;
    lsm_cblock *h;
    uint8_t *own; /* an uncached block (no_cache): freed here */
} tbl_rel;

static void ti_release(void *arg)
{
    tbl_rel *r = arg;
    if (r->h)
        dk__lsm_cache_release(r->cache, r->h);
    free(r->own);
    free(r);
}

/* The data block at (off, size) read straight from the file into r->own
 * (checked and decoded as through the cache, but neither looked up nor
 * inserted): compaction reads every input block once, and sending them
 * through the cache would evict the blocks readers use and make readers
 * wait on its mutex. */
static int ti_load_uncached(tbl_iter *ti, uint64_t off, uint64_t size, tbl_rel *r, const uint8_t **d,
                            size_t *n)
{
    uint8_t *buf;
    int rc = tr_read_block(ti->t, off, size, "data block", 0, &buf, n);
    if (rc)
        return rc;
    if (dk__lsm_block_check(buf, *n)) {
        free(buf);
        return tr_corrupt(ti->t, off, "data block");
    }
    r->own = buf;
    *d = buf;
    return 0;
}

/* Open the data block the index points at; 0 or an error (the caller
 * decides whether it stops the iterator, ti_damaged). */
static int ti_load(tbl_iter *ti)
{
    if (ti->data) {
        ti->data->ops->destroy(ti->data);
        ti->data = NULL;
    }
    /* The block's range starts after the previous block's last key. */
    dk_buf tmp = ti->lo;
    ti->lo = ti->hi;
    ti->hi = tmp;
    ti->has_lo = ti->has_hi;
    ti->lo_incl = ti->hi_incl;
    ti->hi_incl = 0;
    dk_buf_reset(&ti->hi);
    dk_slice ik = lsm_ikey_user(ti->index->ops->key(ti->index));
    if (dk_buf_append(&ti->hi, ik.ptr, ik.len))
        return -ENOMEM;
    ti->has_hi = 1;
    dk_slice v = ti->index->ops->value(ti->index);
    uint64_t off = 0, size;
    size_t k1 = dk_get_varint(v.ptr, v.ptr + v.len, &off), k2 = 0;
    if (k1)
        k2 = dk_get_varint(v.ptr + k1, v.ptr + v.len, &size);
    ti->block_off = off;
    if (!k1 || !k2)
        return tr_corrupt(ti->t, ti->t->index_off, "index entry");
    tbl_rel *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    const uint8_t *d = NULL;
    size_t n = 0;
    int rc;
    if (ti->no_cache) {
        rc = ti_load_uncached(ti, off, size, r, &d, &n);
    } else if (!(rc = dk__lsm_table_block(ti->t, off, size, &r->h))) {
        r->cache = ti->t->cache;
        d = r->h->data;
        n = r->h->size;
    }
    if (rc) {
        free(r);
        return rc;
    }
    if (!(ti->data = dk__lsm_block_iter(d, n, ti_release, r)))
        return -ENOMEM;
    return 0;
}

/* The loaded (or failed) block is damaged with rc: in skip mode note its
 * range, log it and return 0 (go on with the next block); otherwise, or
 * for an error that is no damage (ENOMEM), stop with rc. */
static int ti_damaged(tbl_iter *ti, int rc)
{
    if (ti->data) {
        ti->data->ops->destroy(ti->data);
        ti->data = NULL;
    }
    if (!ti->dmg || (rc != DK_ECORRUPT && rc != -EIO)) {
        ti->status = rc;
        return rc;
    }
    lsm_damage_set *s = ti->dmg;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        lsm_damage *d = realloc(s->d, cap * sizeof(*d));
        if (!d) {
            ti->status = -ENOMEM;
            return ti->status;
        }
        s->d = d;
        s->cap = cap;
    }
    lsm_damage *d = &s->d[s->n];
    memset(d, 0, sizeof(*d));
    d->t = ti->t;
    d->has_lo = ti->has_lo;
    d->lo_incl = ti->lo_incl;
    if ((ti->has_lo && dk_buf_append(&d->lo, ti->lo.data, ti->lo.len)) ||
        dk_buf_append(&d->hi, ti->hi.data, ti->hi.len)) {
        dk_buf_free(&d->lo);
        dk_buf_free(&d->hi);
        ti->status = -ENOMEM;
        return ti->status;
    }
    s->n++;
    const dk_host *h = ti->t->host;
    if (h && h->log)
        h->log(h, DK_LOG_WARN,
               "lsm: skipping the damaged data block of %s at offset %llu; its keys read as absent "
               "until they are written again (anti-entropy or read repair)",
               ti->t->path, (unsigned long long)ti->block_off);
    if (h && h->metric_add)
        h->metric_add(h, "lsm_corrupt_blocks_skipped_total", 1);
    return 0;
}

/* Move forward over exhausted (and, in skip mode, damaged) data blocks. */
static void ti_skip_empty(tbl_iter *ti)
{
    while (!ti->status && (!ti->data || !ti->data->ops->valid(ti->data))) {
        if (ti->data && ti->data->ops->status(ti->data)) {
            if (ti_damaged(ti, tr_corrupt(ti->t, ti->block_off, "data block entry")))
                return;
            continue;
        }
        if (!ti->index->ops->valid(ti->index)) {
            if (ti->index->ops->status(ti->index))
                ti->status = tr_corrupt(ti->t, ti->t->index_off, "index block entry");
            return;
        }
        int rc = ti_load(ti);
        if (rc) {
            if (ti_damaged(ti, rc))
                return;
        } else {
            ti->data->ops->first(ti->data);
        }
        ti->index->ops->next(ti->index);
    }
}

static void ti_first(lsm_iter *it)
{
    tbl_iter *ti = (tbl_iter *)it;
    if (ti->status)
        return;
    ti->index->ops->first(ti->index);
    if (ti->data) {
        ti->data->ops->destroy(ti->data);
        ti->data = NULL;
    }
    ti->has_hi = 0;
    ti->hi_incl = 0;
    ti_skip_empty(ti);
}

static void ti_seek(lsm_iter *it, dk_slice target)
{
    tbl_iter *ti = (tbl_iter *)it;
    if (ti->status)
        return;
    ti->index->ops->seek(ti->index, target);
    if (ti->data) {
        ti->data->ops->destroy(ti->data);
        ti->data = NULL;
    }
    /* The block before is unknown: a damaged range found here starts at
     * the target (nothing before it is read from this position). */
    dk_slice tu = lsm_ikey_user(target);
    dk_buf_reset(&ti->hi);
    if (dk_buf_append(&ti->hi, tu.ptr, tu.len)) {
        ti->status = -ENOMEM;
        return;
    }
    ti->has_hi = 1;
    ti->hi_incl = 1;
    if (ti->index->ops->valid(ti->index)) {
        int rc = ti_load(ti);
        if (rc) {
            if (ti_damaged(ti, rc))
                return;
        } else {
            ti->data->ops->seek(ti->data, target);
        }
        ti->index->ops->next(ti->index);
    }
    ti_skip_empty(ti);
}

static void ti_next(lsm_iter *it)
{
    tbl_iter *ti = (tbl_iter *)it;
    ti->data->ops->next(ti->data);
    ti_skip_empty(ti);
}

static int ti_valid(lsm_iter *it)
{
    tbl_iter *ti = (tbl_iter *)it;
    return !ti->status && ti->data && ti->data->ops->valid(ti->data);
}
static dk_slice ti_key(lsm_iter *it)
{
    return ((tbl_iter *)it)->data->ops->key(((tbl_iter *)it)->data);
}
static dk_slice ti_value(lsm_iter *it)
{
    return ((tbl_iter *)it)->data->ops->value(((tbl_iter *)it)->data);
}
static int ti_status(lsm_iter *it)
{
    return ((tbl_iter *)it)->status;
}
static void ti_destroy(lsm_iter *it)
{
    tbl_iter *ti = (tbl_iter *)it;
    if (ti->data)
        ti->data->ops->destroy(ti->data);
    if (ti->index)
        ti->index->ops->destroy(ti->index);
    dk_buf_free(&ti->lo);
    dk_buf_free(&ti->hi);
    free(ti);
}

static const lsm_iter_ops ti_ops = {
    .seek = ti_seek,
    .first = ti_first,
    .next = ti_next,
    .valid = ti_valid,
    .key = ti_key,
    .value = ti_value,
    .status = ti_status,
    .destroy = ti_destroy,
};

static lsm_iter *tr_iter_new(lsm_table *t, lsm_damage_set *dmg)
{
    tbl_iter *ti = calloc(1, sizeof(*ti));
    if (!ti)
        return NULL;
    ti->base.ops = &ti_ops;
    ti->t = t;
    ti->dmg = dmg;
    const uint8_t *d;
    size_t n;
    lsm_cblock *h;
    int rc = tr_meta(t, 0, 0, &d, &n, &h);
    if (rc) {
        /* An iterator that reports the read error from status(). */
        ti->status = rc;
        return &ti->base;
    }
    tbl_rel *r = NULL;
    if (h && !(r = malloc(sizeof(*r)))) {
        dk__lsm_cache_release(t->cache, h);
        free(ti);
        return NULL;
    }
    if (r) {
        r->cache = t->cache;
        r->h = h;
        r->own = NULL;
    }
    if (!(ti->index = dk__lsm_block_iter(d, n, r ? ti_release : NULL, r))) {
        free(ti);
        return NULL;
    }
    return &ti->base;
}

lsm_iter *dk__lsm_table_iter(lsm_table *t)
{
    return tr_iter_new(t, NULL);
}

lsm_iter *dk__lsm_table_iter_skip(lsm_table *t, lsm_damage_set *dmg)
{
    return tr_iter_new(t, dmg);
}

lsm_iter *dk__lsm_table_iter_compact(lsm_table *t)
{
    lsm_iter *it = tr_iter_new(t, NULL);
    if (it)
        ((tbl_iter *)it)->no_cache = 1;
    return it;
}

void dk__lsm_damage_free(lsm_damage_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        dk_buf_free(&s->d[i].lo);
        dk_buf_free(&s->d[i].hi);
    }
    free(s->d);
    memset(s, 0, sizeof(*s));
}

int dk__lsm_damage_hides(const lsm_damage_set *s, dk_slice ukey, uint64_t seq)
{
    for (size_t i = 0; i < s->n; i++) {
        const lsm_damage *d = &s->d[i];
        if (seq > d->t->props.max_seq || lsm_ucmp(ukey, dk_buf_slice(&d->hi)) > 0)
            continue;
        int c = d->has_lo ? lsm_ucmp(ukey, dk_buf_slice(&d->lo)) : 1;
        /* the bloom filter last: only for keys inside the range */
        if ((c > 0 || (c == 0 && d->lo_incl)) && dk__lsm_table_may_contain(d->t, ukey))
            return 1;
    }
    return 0;
}

/* Decode an index entry's block handle; 0 or DK_ECORRUPT (logged). */
static int tr_handle(lsm_table *t, dk_slice v, uint64_t *off, uint64_t *size)
{
    size_t k1 = dk_get_varint(v.ptr, v.ptr + v.len, off), k2 = 0;
    if (k1)
        k2 = dk_get_varint(v.ptr + k1, v.ptr + v.len, size);
    return k1 && k2 ? 0 : tr_corrupt(t, t->index_off, "index entry");
}

int dk__lsm_table_find(lsm_table *t, dk_slice ukey, uint64_t snap, int nowait, lsm_found *out)
{
    return dk__lsm_table_find_h(t, ukey, dk__lsm_hash64(ukey.ptr, ukey.len), snap, nowait, out);
}

int dk__lsm_table_find_h(lsm_table *t, dk_slice ukey, uint64_t hash, uint64_t snap, int nowait,
                         lsm_found *out)
{
    out->h = NULL;
    out->value = (dk_slice){NULL, 0};
    int rc = tr_bloom(t, hash, nowait);
    if (rc <= 0)
        return rc ? rc : DK_ENOTFOUND;
    uint8_t small[DK_KEY_MAX + LSM_TRAILER];
    uint8_t *buf = ukey.len <= DK_KEY_MAX ? small : malloc(ukey.len + LSM_TRAILER);
    if (!buf)
        return -ENOMEM;
    dk_slice target = lsm_ikey_lookup(buf, ukey, snap);
    const uint8_t *d;
    size_t n;
    lsm_cblock *ih, *dh = NULL;
    lsm_block_iter bi;
    uint64_t off = 0, size = 0;
    if ((rc = tr_meta(t, 0, nowait, &d, &n, &ih)))
        goto out;
    /* The first index entry >= target names the only block that can
     * hold the newest visible version of ukey. */
    dk__lsm_block_iter_init(&bi, d, n);
    bi.base.ops->seek(&bi.base, target);
    if (bi.base.ops->valid(&bi.base))
        rc = tr_handle(t, bi.base.ops->value(&bi.base), &off, &size);
    else
        rc = bi.base.ops->status(&bi.base) ? tr_corrupt(t, t->index_off, "index block entry") : DK_ENOTFOUND;
    dk__lsm_block_iter_done(&bi);
    if (ih)
        dk__lsm_cache_release(t->cache, ih);
    if (rc || (rc = tr_cached(t, off, size, "data block", 1, nowait, &dh)))
        goto out;
    dk__lsm_block_iter_init(&bi, dh->data, dh->size);
    bi.base.ops->seek(&bi.base, target);
    rc = DK_ENOTFOUND;
    if (bi.base.ops->valid(&bi.base)) {
        dk_slice k = bi.base.ops->key(&bi.base);
        if (lsm_ucmp(lsm_ikey_user(k), ukey) == 0) {
            out->type = lsm_ikey_type(k);
            out->seq = lsm_ikey_seq(k);
            rc = 0;
            if (out->type != LSM_TYPE_DELETE) {
                out->value = bi.base.ops->value(&bi.base);
                out->h = dh;
                dh = NULL;
            }
        }
    } else if (bi.base.ops->status(&bi.base)) {
        rc = tr_corrupt(t, off, "data block entry");
    }
    dk__lsm_block_iter_done(&bi);
    if (dh)
        dk__lsm_cache_release(t->cache, dh);
out:
    if (buf != small)
        free(buf);
    return rc;
}

int dk__lsm_table_get(lsm_table *t, dk_slice ukey, uint64_t snap, dk_buf *out, int *type, uint64_t *seq)
{
    lsm_found f;
    int rc = dk__lsm_table_find(t, ukey, snap, 0, &f);
    if (rc)
        return rc;
    *type = f.type;
    *seq = f.seq;
    if (f.type != LSM_TYPE_DELETE) {
        dk_buf_reset(out);
        rc = dk_buf_append(out, f.value.ptr, f.value.len);
        dk__lsm_cache_release(t->cache, f.h);
    }
    return rc;
}
