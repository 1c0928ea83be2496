/*
 * rocksdb.c - engine adapter to RocksDB ("rocksdb") through its C API
 * (rocksdb/c.h, Debian's librocksdb-dev): a comparison point for the
 * benchmark and an example of a vendor engine plugin.
 *
 * The mapping is one to one, because dk_engine_ops was shaped after
 * LevelDB/RocksDB: get -> rocksdb_get_pinned (no copy before the sink),
 * write -> one WriteBatch (atomic), iterators -> a snapshot in their read
 * options plus RocksDB's iterate_upper_bound for the end bound, flush ->
 * a waited memtable flush, compact_range -> CompactRange, stats -> integer
 * properties. RocksDB is thread-safe; an iterator is used by one thread at
 * a time, as engine.h requires of the host.
 *
 * Configuration: memtable_size -> write_buffer_size (default 64 MiB, the
 * LSM engine's), block_cache_size -> an LRU block cache (default 32 MiB);
 * from [engine.rocksdb]: bloom_bits_per_key -> a full bloom filter
 * (default 10), codec = zstd (default), lz4, snappy or none
 * (RocksDB compresses itself; dynkv's codec plugins are for engines
 * that do not). Durability is write()'s sync
 * argument (WriteOptions.sync), which the host sets from the node's `sync`
 * on every call; conf->sync is not consulted. RocksDB keeps its own
 * compaction (conf->compaction is ignored).
 *
 * Read amplification: get() reads RocksDB's per-thread perf context
 * (count level, set once per thread; no timers) around each lookup and
 * adds its block reads, their bytes and the SSTables whose bloom filter
 * it consulted to the counters stats exports (rocksdb_gets_total,
 * rocksdb_get_blocks_read_total, rocksdb_get_bytes_read_total,
 * rocksdb_get_tables_total: RocksDB counts the tables a lookup
 * consulted as its bloom filter checks, and a filter is always
 * configured), the names bench/engine/report.c reads for every engine.
 *
 * Errors: RocksDB reports a Status string ("IO error: ...", "Corruption:
 * ..."); it is logged through the host and mapped to a code by its prefix.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "dynkv/engine.h"
#include "dynkv/plugin.h"
#include "../common/adapter.h"

#define RDB_DEFAULT_MEMTABLE (64ull << 20)
#define RDB_DEFAULT_CACHE (32ull << 20)

typedef struct rdb_engine {
    dk_engine base; /* first: the host sees a dk_engine */
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wo_sync, *wo_async;
    rocksdb_readoptions_t *ro; /* for get(): no snapshot, shared */
    rocksdb_flushoptions_t *fo;
    char *path; /* for messages */
    _Atomic uint64_t st_gets, st_get_tables, st_get_blocks, st_get_bytes;
} rdb_engine;

typedef struct rdb_iter {
    dk_engine_iter base; /* first */
    rocksdb_readoptions_t *ro;
    const rocksdb_snapshot_t *snap;
    rocksdb_iterator_t *it;
    dk__adapter_bounds b; /* copies of the bounds; end is also RocksDB's upper bound */
    int advance;          /* next() must step before reading */
    int eof;              /* sticky until the next seek */
} rdb_iter;

/* Log err (a RocksDB Status string, freed here) and return its code. */
static int rdb_fail(const dk_host *h, const char *what, const char *path, char *err)
{
    int rc = dk__adapter_status_code(err);
    h->log(h, DK_LOG_ERROR, "rocksdb: %s %s: %s", what, path, err);
    rocksdb_free(err);
    return rc;
}

static void rdb_free(rdb_engine *e)
{
    if (e->db)
        rocksdb_close(e->db);
    if (e->opts)
        rocksdb_options_destroy(e->opts);
    if (e->cache)
        rocksdb_cache_destroy(e->cache);
    if (e->wo_sync)
        rocksdb_writeoptions_destroy(e->wo_sync);
    if (e->wo_async)
        rocksdb_writeoptions_destroy(e->wo_async);
    if (e->ro)
        rocksdb_readoptions_destroy(e->ro);
    if (e->fo)
        rocksdb_flushoptions_destroy(e->fo);
    free(e->path);
    free(e);
}

/* [engine.rocksdb]: the keys this adapter takes (dk_option). */
typedef struct rdb_opts {
    int compression; /* index in rdb_compressions */
    int64_t bloom_bits_per_key;
} rdb_opts;

static const char *const rdb_compressions[] = {"zstd", "lz4", "snappy", "none", NULL};

static const dk_option rdb_options[] = {
    {.key = "codec",
     .type = DK_OPT_WORD,
     .offset = offsetof(rdb_opts, compression),
     .words = rdb_compressions,
     .dflt = "zstd"},
    {.key = "bloom_bits_per_key",
     .type = DK_OPT_INT,
     .offset = offsetof(rdb_opts, bloom_bits_per_key),
     .min = 1,
     .max = 32,
     .dflt = "10"},
};

static int rdb_open(const dk_host *host, const dk_engine_conf *conf, dk_engine **out)
{
    *out = NULL;
    if (!conf || !conf->path) {
        host->log(host, DK_LOG_ERROR, "rocksdb: open: no path");
        return -EINVAL;
    }
    rdb_opts o;
    int rc = host->options(host, rdb_options, sizeof rdb_options / sizeof rdb_options[0], &o);
    if (rc)
        return rc;
    static const int compression[] = {rocksdb_zstd_compression, rocksdb_lz4_compression,
                                      rocksdb_snappy_compression, rocksdb_no_compression};
    rdb_engine *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(conf->path))) {
        free(e);
        return -ENOMEM;
    }
    e->base.host = host;
    e->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(e->opts, 1);
    rocksdb_options_set_write_buffer_size(e->opts,
                                          conf->memtable_size ? conf->memtable_size : RDB_DEFAULT_MEMTABLE);
    rocksdb_options_set_compression(e->opts, compression[o.compression]);
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    e->cache = rocksdb_cache_create_lru(conf->block_cache_size ? conf->block_cache_size : RDB_DEFAULT_CACHE);
    rocksdb_block_based_options_set_block_cache(t, e->cache);
    /* The table options take ownership of the filter policy. */
    rocksdb_block_based_options_set_filter_policy(
        t, rocksdb_filterpolicy_create_bloom_full((double)o.bloom_bits_per_key));
    rocksdb_options_set_block_based_table_factory(e->opts, t);
    rocksdb_block_based_options_destroy(t);

    e->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(e->wo_sync, 1);
    e->wo_async = rocksdb_writeoptions_create();
    e->ro = rocksdb_readoptions_create();
    e->fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(e->fo, 1);

    char *err = NULL;
    e->db = rocksdb_open(e->opts, conf->path, &err);
    if (err) {
        rc = rdb_fail(host, "open", conf->path, err);
        e->db = NULL;
        rdb_free(e);
        return rc;
    }
    *out = &e->base;
    return 0;
}

static int rdb_close(dk_engine *base)
{
    rdb_free((rdb_engine *)base);
    return 0;
}

/* The perf context counters of one lookup, added to e's totals. */
static void rdb_count_get(rdb_engine *e, rocksdb_perfcontext_t *pc)
{
    if (!pc)
        return;
    atomic_fetch_add_explicit(&e->st_gets, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->st_get_blocks, rocksdb_perfcontext_metric(pc, rocksdb_block_read_count),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&e->st_get_bytes, rocksdb_perfcontext_metric(pc, rocksdb_block_read_byte),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&e->st_get_tables,
                              rocksdb_perfcontext_metric(pc, rocksdb_bloom_sst_hit_count) +
                                  rocksdb_perfcontext_metric(pc, rocksdb_bloom_sst_miss_count),
                              memory_order_relaxed);
    rocksdb_perfcontext_destroy(pc);
}

/* A handle on this thread's perf context, reset, or NULL when out of
 * memory (the lookup is then not counted). */
static rocksdb_perfcontext_t *rdb_perf_begin(void)
{
    static _Thread_local int level_set;
    if (!level_set) {
        rocksdb_set_perf_level(rocksdb_enable_count);
        level_set = 1;
    }
    rocksdb_perfcontext_t *pc = rocksdb_perfcontext_create();
    if (pc)
        rocksdb_perfcontext_reset(pc);
    return pc;
}

static int rdb_get(dk_engine *base, dk_slice key, dk_value_sink sink, void *arg)
{
    rdb_engine *e = (rdb_engine *)base;
    char *err = NULL;
    rocksdb_perfcontext_t *pc = rdb_perf_begin();
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(e->db, e->ro, (const char *)key.ptr, key.len, &err);
    rdb_count_get(e, pc);
    if (err)
        return rdb_fail(base->host, "get in", e->path, err);
    if (!v)
        return DK_ENOTFOUND;
    size_t len;
    const char *p = rocksdb_pinnableslice_value(v, &len);
    sink(arg, (dk_slice){(const uint8_t *)p, len});
    rocksdb_pinnableslice_destroy(v);
    return 0;
}

static int rdb_write(dk_engine *base, const dk_batch *batch, int sync)
{
    rdb_engine *e = (rdb_engine *)base;
    int rc = dk__adapter_batch_check(base->host, "rocksdb", batch);
    if (rc || !batch->count)
        return rc;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < batch->count; i++) {
        const dk_batch_op *op = &batch->ops[i];
        if (op->type == DK_BATCH_PUT)
            rocksdb_writebatch_put(wb, (const char *)op->key.ptr, op->key.len, (const char *)op->value.ptr,
                                   op->value.len);
        else
            rocksdb_writebatch_delete(wb, (const char *)op->key.ptr, op->key.len);
    }
    char *err = NULL;
    rocksdb_write(e->db, sync ? e->wo_sync : e->wo_async, wb, &err);
    rocksdb_writebatch_destroy(wb);
    return err ? rdb_fail(base->host, "write in", e->path, err) : 0;
}

static void rdb_iter_close(dk_engine_iter *base)
{
    rdb_iter *it = (rdb_iter *)base;
    rdb_engine *e = (rdb_engine *)base->engine;
    if (it->it)
        rocksdb_iter_destroy(it->it);
    if (it->snap)
        rocksdb_release_snapshot(e->db, it->snap);
    if (it->ro)
        rocksdb_readoptions_destroy(it->ro);
    dk__adapter_bounds_free(&it->b);
    free(it);
}

static int rdb_iter_seek(dk_engine_iter *base, dk_slice target)
{
    rdb_iter *it = (rdb_iter *)base;
    dk_slice t = dk__adapter_bounds_seek(&it->b, target);
    const char *k = (const char *)t.ptr;
    size_t len = t.len;
    if (len)
        rocksdb_iter_seek(it->it, k, len);
    else
        rocksdb_iter_seek_to_first(it->it);
    it->advance = 0;
    it->eof = 0;
    return 0;
}

static int rdb_iter_open(dk_engine *base, const dk_iter_opts *opts, dk_engine_iter **out)
{
    rdb_engine *e = (rdb_engine *)base;
    *out = NULL;
    rdb_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->base.engine = base;
    if (dk__adapter_bounds_copy(&it->b, opts))
        goto nomem;
    it->ro = rocksdb_readoptions_create();
    it->snap = rocksdb_create_snapshot(e->db);
    rocksdb_readoptions_set_snapshot(it->ro, it->snap);
    if (it->b.end_len)
        rocksdb_readoptions_set_iterate_upper_bound(it->ro, it->b.end, it->b.end_len);
    it->it = rocksdb_create_iterator(e->db, it->ro);
    rdb_iter_seek(&it->base, (dk_slice){NULL, 0});
    *out = &it->base;
    return 0;
nomem:
    rdb_iter_close(&it->base);
    return -ENOMEM;
}

static int rdb_iter_next(dk_engine_iter *base, dk_slice *key, dk_slice *value)
{
    rdb_iter *it = (rdb_iter *)base;
    if (it->eof)
        return DK_EEOF;
    if (it->advance)
        rocksdb_iter_next(it->it);
    it->advance = 1;
    if (!rocksdb_iter_valid(it->it)) {
        char *err = NULL;
        rocksdb_iter_get_error(it->it, &err);
        if (err)
            return rdb_fail(base->engine->host, "iterate in", ((rdb_engine *)base->engine)->path, err);
        it->eof = 1;
        return DK_EEOF;
    }
    size_t klen, vlen;
    const char *k = rocksdb_iter_key(it->it, &klen);
    if (dk__adapter_bounds_past_end(&it->b, k, klen)) {
        it->eof = 1;
        return DK_EEOF;
    }
    const char *v = rocksdb_iter_value(it->it, &vlen);
    *key = (dk_slice){(const uint8_t *)k, klen};
    *value = (dk_slice){(const uint8_t *)v, vlen};
    return 0;
}

static int rdb_flush(dk_engine *base)
{
    rdb_engine *e = (rdb_engine *)base;
    char *err = NULL;
    rocksdb_flush(e->db, e->fo, &err);
    return err ? rdb_fail(base->host, "flush", e->path, err) : 0;
}

static int rdb_compact_range(dk_engine *base, dk_slice start, dk_slice end)
{
    rdb_engine *e = (rdb_engine *)base;
    /* RocksDB's range is inclusive of its end: compacting one more key
     * than asked is harmless. NULL means unbounded. */
    rocksdb_compact_range(e->db, start.len ? (const char *)start.ptr : NULL, start.len,
                          end.len ? (const char *)end.ptr : NULL, end.len);
    return 0;
}

static int rdb_stats(dk_engine *base, dk_stat_sink sink, void *arg)
{
    static const struct {
        const char *prop, *name;
    } props[] = {
        {"rocksdb.estimate-num-keys", "rocksdb_keys_estimate"},
        {"rocksdb.total-sst-files-size", "rocksdb_sst_bytes"},
        {"rocksdb.estimate-live-data-size", "rocksdb_live_data_bytes"},
        {"rocksdb.cur-size-all-mem-tables", "rocksdb_memtable_bytes"},
        {"rocksdb.block-cache-usage", "rocksdb_block_cache_bytes"},
        {"rocksdb.num-running-compactions", "rocksdb_running_compactions"},
    };
    rdb_engine *e = (rdb_engine *)base;
    sink(arg, "rocksdb_gets_total", atomic_load(&e->st_gets));
    sink(arg, "rocksdb_get_blocks_read_total", atomic_load(&e->st_get_blocks));
    sink(arg, "rocksdb_get_bytes_read_total", atomic_load(&e->st_get_bytes));
    sink(arg, "rocksdb_get_tables_total", atomic_load(&e->st_get_tables));
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        uint64_t v;
        if (rocksdb_property_int(e->db, props[i].prop, &v) == 0)
            sink(arg, props[i].name, v);
    }
    return 0;
}

/* RocksDB's own checkpoint: hard links to the SST files, a copy of the
 * manifest and live WALs (log_size_for_flush 0: never flush first). */
static int rdb_checkpoint(dk_engine *base, const char *dir)
{
    rdb_engine *e = (rdb_engine *)base;
    char *err = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(e->db, &err);
    if (!err)
        rocksdb_checkpoint_create(cp, dir, 0, &err);
    if (cp)
        rocksdb_checkpoint_object_destroy(cp);
    return err ? rdb_fail(base->host, "checkpoint into", dir, err) : 0;
}

static const dk_engine_ops rdb_ops = {
    .struct_size = sizeof(dk_engine_ops),
    .caps = DK_ENGINE_CAP_ORDERED | DK_ENGINE_CAP_SNAPSHOT | DK_ENGINE_CAP_THREADSAFE | DK_ENGINE_CAP_DURABLE,
    .open = rdb_open,
    .close = rdb_close,
    .get = rdb_get,
    .write = rdb_write,
    .iter_open = rdb_iter_open,
    .iter_seek = rdb_iter_seek,
    .iter_next = rdb_iter_next,
    .iter_close = rdb_iter_close,
    .flush = rdb_flush,
    .compact_range = rdb_compact_range,
    .stats = rdb_stats,
    .checkpoint = rdb_checkpoint,
};

static const dk_plugin rdb_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_ENGINE,
    .name = "rocksdb",
    .version = "1.0.0",
    .ops = &rdb_ops,
};

DK_PLUGIN_EXPORT(&rdb_plugin)
