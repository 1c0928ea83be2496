/*
 * leveldb.c - engine adapter to LevelDB ("leveldb") through its C API
 * (leveldb/c.h, Debian's libleveldb-dev): a comparison point for the
 * benchmark and an example of a vendor engine plugin.
 *
 * The mapping is one to one: get -> leveldb_get, write -> one WriteBatch
 * (atomic), iterators -> a snapshot in their read options (LevelDB has no
 * upper-bound option, so next() stops at the end bound itself),
 * compact_range -> CompactRange, stats -> its properties. LevelDB has no
 * memtable flush in its API: flush() writes an empty synced batch, which
 * makes everything written so far durable in the log, the part of the
 * contract that matters to the host. LevelDB is thread-safe; an iterator is
 * used by one thread at a time, as engine.h requires of the host.
 *
 * Configuration: memtable_size -> write_buffer_size (default 64 MiB, the
 * LSM engine's), block_cache_size -> an LRU cache (default 32 MiB); from
 * [engine.leveldb]: bloom_bits_per_key -> its bloom filter policy
 * (default 10), codec = snappy (default) or none (this LevelDB has
 * no other). Durability is
 * write()'s sync argument (WriteOptions.sync), which the host sets from
 * the node's `sync` on every call; conf->sync is not consulted. LevelDB
 * keeps its own compaction; conf->compaction is ignored.
 *
 * Unlike RocksDB's, LevelDB's filter policy and cache are not owned by the
 * options: they are destroyed here after the database is closed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "dynkv/engine.h"
#include "dynkv/plugin.h"
#include "../common/adapter.h"

#define LDB_DEFAULT_MEMTABLE (64ull << 20)
#define LDB_DEFAULT_CACHE (32ull << 20)

typedef struct ldb_engine {
    dk_engine base; /* first: the host sees a dk_engine */
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *bloom;
    leveldb_writeoptions_t *wo_sync, *wo_async;
    leveldb_readoptions_t *ro; /* for get(): no snapshot, shared */
    char *path;                /* for messages */
} ldb_engine;

typedef struct ldb_iter {
    dk_engine_iter base; /* first */
    leveldb_readoptions_t *ro;
    const leveldb_snapshot_t *snap;
    leveldb_iterator_t *it;
    dk__adapter_bounds b; /* copies of the bounds */
    int advance;          /* next() must step before reading */
    int eof;              /* sticky until the next seek */
} ldb_iter;

/* Log err (a LevelDB Status string, freed here) and return its code. */
static int ldb_fail(const dk_host *h, const char *what, const char *path, char *err)
{
    int rc = dk__adapter_status_code(err);
    h->log(h, DK_LOG_ERROR, "leveldb: %s %s: %s", what, path, err);
    leveldb_free(err);
    return rc;
}

static void ldb_free(ldb_engine *e)
{
    if (e->db)
        leveldb_close(e->db);
    if (e->opts)
        leveldb_options_destroy(e->opts);
    if (e->cache)
        leveldb_cache_destroy(e->cache);
    if (e->bloom)
        leveldb_filterpolicy_destroy(e->bloom);
    if (e->wo_sync)
        leveldb_writeoptions_destroy(e->wo_sync);
    if (e->wo_async)
        leveldb_writeoptions_destroy(e->wo_async);
    if (e->ro)
        leveldb_readoptions_destroy(e->ro);
    free(e->path);
    free(e);
}

/* [engine.leveldb]: the keys this adapter takes (dk_option). */
typedef struct ldb_opts {
    int compression; /* 0 snappy, 1 none */
    int64_t bloom_bits_per_key;
} ldb_opts;

static const char *const ldb_compressions[] = {"snappy", "none", NULL};

static const dk_option ldb_options[] = {
    {.key = "codec",
     .type = DK_OPT_WORD,
     .offset = offsetof(ldb_opts, compression),
     .words = ldb_compressions,
     .dflt = "snappy"},
    {.key = "bloom_bits_per_key",
     .type = DK_OPT_INT,
     .offset = offsetof(ldb_opts, bloom_bits_per_key),
     .min = 1,
     .max = 32,
     .dflt = "10"},
};

static int ldb_open(const dk_host *host, const dk_engine_conf *conf, dk_engine **out)
{
    *out = NULL;
    if (!conf || !conf->path) {
        host->log(host, DK_LOG_ERROR, "leveldb: open: no path");
        return -EINVAL;
    }
    ldb_opts o;
    int rc = host->options(host, ldb_options, sizeof ldb_options / sizeof ldb_options[0], &o);
    if (rc)
        return rc;
    int compression = o.compression == 0 ? leveldb_snappy_compression : leveldb_no_compression;
    ldb_engine *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(conf->path))) {
        free(e);
        return -ENOMEM;
    }
    e->base.host = host;
    e->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(e->opts, 1);
    leveldb_options_set_write_buffer_size(e->opts,
                                          conf->memtable_size ? conf->memtable_size : LDB_DEFAULT_MEMTABLE);
    leveldb_options_set_compression(e->opts, compression);
    e->cache = leveldb_cache_create_lru(conf->block_cache_size ? conf->block_cache_size : LDB_DEFAULT_CACHE);
    leveldb_options_set_cache(e->opts, e->cache);
    e->bloom = leveldb_filterpolicy_create_bloom((int)o.bloom_bits_per_key);
    leveldb_options_set_filter_policy(e->opts, e->bloom);

    e->wo_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(e->wo_sync, 1);
    e->wo_async = leveldb_writeoptions_create();
    e->ro = leveldb_readoptions_create();

    char *err = NULL;
    e->db = leveldb_open(e->opts, conf->path, &err);
    if (err) {
        rc = ldb_fail(host, "open", conf->path, err);
        e->db = NULL;
        ldb_free(e);
        return rc;
    }
    *out = &e->base;
    return 0;
}

static int ldb_close(dk_engine *base)
{
    ldb_free((ldb_engine *)base);
    return 0;
}

static int ldb_get(dk_engine *base, dk_slice key, dk_value_sink sink, void *arg)
{
    ldb_engine *e = (ldb_engine *)base;
    char *err = NULL;
    size_t len = 0;
    char *v = leveldb_get(e->db, e->ro, (const char *)key.ptr, key.len, &len, &err);
    if (err)
        return ldb_fail(base->host, "get in", e->path, err);
    if (!v)
        return DK_ENOTFOUND;
    sink(arg, (dk_slice){(const uint8_t *)v, len});
    leveldb_free(v);
    return 0;
}

static int ldb_write_batch(ldb_engine *e, const dk_batch *batch, int sync)
{
    leveldb_writebatch_t *wb = leveldb_writebatch_create();
    for (size_t i = 0; i < batch->count; i++) {
        const dk_batch_op *op = &batch->ops[i];
        if (op->type == DK_BATCH_PUT)
            leveldb_writebatch_put(wb, (const char *)op->key.ptr, op->key.len, (const char *)op->value.ptr,
                                   op->value.len);
        else
            leveldb_writebatch_delete(wb, (const char *)op->key.ptr, op->key.len);
    }
    char *err = NULL;
    leveldb_write(e->db, sync ? e->wo_sync : e->wo_async, wb, &err);
    leveldb_writebatch_destroy(wb);
    return err ? ldb_fail(e->base.host, "write in", e->path, err) : 0;
}

static int ldb_write(dk_engine *base, const dk_batch *batch, int sync)
{
    int rc = dk__adapter_batch_check(base->host, "leveldb", batch);
    if (rc || !batch->count)
        return rc;
    return ldb_write_batch((ldb_engine *)base, batch, sync);
}

static void ldb_iter_close(dk_engine_iter *base)
{
    ldb_iter *it = (ldb_iter *)base;
    ldb_engine *e = (ldb_engine *)base->engine;
    if (it->it)
        leveldb_iter_destroy(it->it);
    if (it->snap)
        leveldb_release_snapshot(e->db, it->snap);
    if (it->ro)
        leveldb_readoptions_destroy(it->ro);
    dk__adapter_bounds_free(&it->b);
    free(it);
}

static int ldb_iter_seek(dk_engine_iter *base, dk_slice target)
{
    ldb_iter *it = (ldb_iter *)base;
    dk_slice t = dk__adapter_bounds_seek(&it->b, target);
    const char *k = (const char *)t.ptr;
    size_t len = t.len;
    if (len)
        leveldb_iter_seek(it->it, k, len);
    else
        leveldb_iter_seek_to_first(it->it);
    it->advance = 0;
    it->eof = 0;
    return 0;
}

static int ldb_iter_open(dk_engine *base, const dk_iter_opts *opts, dk_engine_iter **out)
{
    ldb_engine *e = (ldb_engine *)base;
    *out = NULL;
    ldb_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->base.engine = base;
    if (dk__adapter_bounds_copy(&it->b, opts))
        goto nomem;
    it->ro = leveldb_readoptions_create();
    it->snap = leveldb_create_snapshot(e->db);
    leveldb_readoptions_set_snapshot(it->ro, it->snap);
    it->it = leveldb_create_iterator(e->db, it->ro);
    ldb_iter_seek(&it->base, (dk_slice){NULL, 0});
    *out = &it->base;
    return 0;
nomem:
    ldb_iter_close(&it->base);
    return -ENOMEM;
}

static int ldb_iter_next(dk_engine_iter *base, dk_slice *key, dk_slice *value)
{
    ldb_iter *it = (ldb_iter *)base;
    if (it->eof)
        return DK_EEOF;
    if (it->advance)
        leveldb_iter_next(it->it);
    it->advance = 1;
    if (!leveldb_iter_valid(it->it)) {
        char *err = NULL;
        leveldb_iter_get_error(it->it, &err);
        if (err)
            return ldb_fail(base->engine->host, "iterate in", ((ldb_engine *)base->engine)->path, err);
        it->eof = 1;
        return DK_EEOF;
    }
    size_t klen, vlen;
    const char *k = leveldb_iter_key(it->it, &klen);
    if (dk__adapter_bounds_past_end(&it->b, k, klen)) {
        it->eof = 1;
        return DK_EEOF;
    }
    const char *v = leveldb_iter_value(it->it, &vlen);
    *key = (dk_slice){(const uint8_t *)k, klen};
    *value = (dk_slice){(const uint8_t *)v, vlen};
    return 0;
}

static int ldb_flush(dk_engine *base)
{
    /* An empty batch still appends a log record and, synced, fsyncs it. */
    ldb_engine *e = (ldb_engine *)base;
    dk_batch none = {NULL, 0};
    return ldb_write_batch(e, &none, 1);
}

static int ldb_compact_range(dk_engine *base, dk_slice start, dk_slice end)
{
    ldb_engine *e = (ldb_engine *)base;
    /* LevelDB's range is inclusive of its end: compacting one more key
     * than asked is harmless. NULL means unbounded. */
    leveldb_compact_range(e->db, start.len ? (const char *)start.ptr : NULL, start.len,
                          end.len ? (const char *)end.ptr : NULL, end.len);
    return 0;
}

static int ldb_stats(dk_engine *base, dk_stat_sink sink, void *arg)
{
    ldb_engine *e = (ldb_engine *)base;
    char prop[64], name[64];
    for (int l = 0; l < 7; l++) {
        snprintf(prop, sizeof(prop), "leveldb.num-files-at-level%d", l);
        char *v = leveldb_property_value(e->db, prop);
        if (v) {
            snprintf(name, sizeof(name), "leveldb_files_l%d", l);
            sink(arg, name, strtoull(v, NULL, 10));
            leveldb_free(v);
        }
    }
    char *v = leveldb_property_value(e->db, "leveldb.approximate-memory-usage");
    if (v) {
        sink(arg, "leveldb_memory_bytes", strtoull(v, NULL, 10));
        leveldb_free(v);
    }
    /* Bytes on disk for every key: [empty, 0xff x 257) covers keys up to
     * DK_KEY_MAX bytes. */
    char hi[DK_KEY_MAX + 1];
    memset(hi, 0xff, sizeof(hi));
    const char *starts[1] = {""}, *limits[1] = {hi};
    size_t start_lens[1] = {0}, limit_lens[1] = {sizeof(hi)};
    uint64_t size = 0;
    leveldb_approximate_sizes(e->db, 1, starts, start_lens, limits, limit_lens, &size);
    sink(arg, "leveldb_disk_bytes", size);
    return 0;
}

static const dk_engine_ops ldb_ops = {
    .struct_size = sizeof(dk_engine_ops),
    .caps = DK_ENGINE_CAP_ORDERED | DK_ENGINE_CAP_SNAPSHOT | DK_ENGINE_CAP_THREADSAFE | DK_ENGINE_CAP_DURABLE,
    .open = ldb_open,
    .close = ldb_close,
    .get = ldb_get,
    .write = ldb_write,
    .iter_open = ldb_iter_open,
    .iter_seek = ldb_iter_seek,
    .iter_next = ldb_iter_next,
    .iter_close = ldb_iter_close,
    .flush = ldb_flush,
    .compact_range = ldb_compact_range,
    .stats = ldb_stats,
};

static const dk_plugin ldb_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_ENGINE,
    .name = "leveldb",
    .version = "1.0.0",
    .ops = &ldb_ops,
};

DK_PLUGIN_EXPORT(&ldb_plugin)
