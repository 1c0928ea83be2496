/*
 * lmdb.c - engine adapter to LMDB ("lmdb") through lmdb.h (Debian's
 * liblmdb-dev): a copy-on-write B+tree in one memory-mapped file, the
 * read-optimised comparison point for the benchmark.
 *
 * Mapping: one environment in conf->path with its unnamed main database;
 * get -> a read-only transaction around mdb_get (the sink sees the value in
 * the map, no copy); write -> one write transaction holding the whole batch
 * (atomic; LMDB serialises writers with its own mutex, so concurrent
 * write() calls queue there); iterators -> a read-only transaction and a
 * cursor kept until iter_close (the transaction is the snapshot: LMDB's
 * MVCC keeps the pages it sees alive, so a long-lived iterator makes the
 * file grow while it is open); flush -> mdb_env_sync. LMDB's key order is
 * memcmp then length, the order engine.h asks for. There is no compaction
 * (pages are reused in place), so compact_range is not offered.
 *
 * Threads: the environment is opened with MDB_NOTLS, so a read transaction
 * belongs to its object rather than to a thread: an iterator may be
 * stepped on any worker thread, and a thread may hold an iterator and call
 * get() or write() at the same time (without MDB_NOTLS LMDB allows one
 * read transaction per thread).
 *
 * Durability: the environment is opened with MDB_NOMETASYNC, so each
 * commit fdatasyncs its data pages but writes the meta page without a
 * sync: the file stays consistent across any crash, and a machine crash
 * may undo the last commits, which is what write(sync=0) allows.
 * write(sync=1) then calls mdb_env_sync, which makes the meta page, and so
 * the batch, durable. MDB_NOSYNC was not taken for sync=0: with it a
 * machine crash can corrupt the file, a risk RocksDB and LevelDB do not
 * run; the price is one fdatasync per commit even for sync=0. conf->sync
 * is not consulted: the host passes the durability it wants to each write.
 *
 * Configuration: the map is 64 GiB (sparse; the file grows with the data);
 * block cache and memtable size have no LMDB equivalent (the OS page
 * cache is the cache) and are ignored; values are stored uncompressed. It
 * takes no options of its own: a key in [engine.lmdb] stops the node.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "dynkv/engine.h"
#include "dynkv/plugin.h"
#include "../common/adapter.h"

#define LM_MAP_SIZE (64ull << 30)
#define LM_MAX_READERS 1024

typedef struct lm_engine {
    dk_engine base; /* first: the host sees a dk_engine */
    MDB_env *env;
    MDB_dbi dbi;
    char *path; /* for messages */
} lm_engine;

typedef struct lm_iter {
    dk_engine_iter base; /* first */
    MDB_txn *txn;        /* read-only: the snapshot */
    MDB_cursor *cur;
    dk__adapter_bounds b; /* copies of the bounds */
    int seek_rc;          /* result of the last positioning */
    MDB_val k, v;         /* the entry it found */
    int advance;          /* next() must step before reading */
    int eof;              /* sticky until the next seek */
} lm_iter;

static int lm_code(int rc)
{
    switch (rc) {
    case MDB_NOTFOUND: return DK_ENOTFOUND;
    case MDB_MAP_FULL: return -ENOSPC;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return DK_ECORRUPT;
    case MDB_BAD_VALSIZE: return -EINVAL;
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL: return -EAGAIN;
    default: return rc > 0 ? -rc : -EIO;
    }
}

/* Log LMDB's message for rc and return its code. */
static int lm_fail(const dk_host *h, const char *what, const char *path, int rc)
{
    h->log(h, DK_LOG_ERROR, "lmdb: %s %s: %s", what, path, mdb_strerror(rc));
    return lm_code(rc);
}

static int lm_open(const dk_host *host, const dk_engine_conf *conf, dk_engine **out)
{
    *out = NULL;
    if (!conf || !conf->path) {
        host->log(host, DK_LOG_ERROR, "lmdb: open: no path");
        return -EINVAL;
    }
    lm_engine *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(conf->path))) {
        free(e);
        return -ENOMEM;
    }
    e->base.host = host;
    const char *step = "create";
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&e->env);
    if (rc)
        goto err;
    step = "set map size of";
    if ((rc = mdb_env_set_mapsize(e->env, LM_MAP_SIZE)))
        goto err;
    step = "set readers of";
    if ((rc = mdb_env_set_maxreaders(e->env, LM_MAX_READERS)))
        goto err;
    step = "open";
    if ((rc = mdb_env_open(e->env, conf->path, MDB_NOTLS | MDB_NOMETASYNC, 0600)))
        goto err;
    /* Free reader slots left by processes that died holding them. */
    int dead = 0;
    mdb_reader_check(e->env, &dead);
    step = "open the database of";
    if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)))
        goto err;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &e->dbi))) {
        mdb_txn_abort(txn);
        goto err;
    }
    if ((rc = mdb_txn_commit(txn)))
        goto err;
    *out = &e->base;
    return 0;
err:
    rc = lm_fail(host, step, conf->path, rc);
    if (e->env)
        mdb_env_close(e->env);
    free(e->path);
    free(e);
    return rc;
}

static int lm_close(dk_engine *base)
{
    lm_engine *e = (lm_engine *)base;
    /* Make the last meta page durable (MDB_NOMETASYNC). */
    int rc = mdb_env_sync(e->env, 1);
    if (rc)
        rc = lm_fail(base->host, "sync", e->path, rc);
    mdb_env_close(e->env);
    free(e->path);
    free(e);
    return rc;
}

static MDB_val lm_val(dk_slice s)
{
    MDB_val v = {s.len, (void *)s.ptr};
    return v;
}

static int lm_get(dk_engine *base, dk_slice key, dk_value_sink sink, void *arg)
{
    lm_engine *e = (lm_engine *)base;
    if (key.len == 0) /* LMDB cannot hold an empty key, so it is absent */
        return DK_ENOTFOUND;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_fail(base->host, "begin a read in", e->path, rc);
    MDB_val k = lm_val(key), v;
    rc = mdb_get(txn, e->dbi, &k, &v);
    if (rc == 0)
        sink(arg, (dk_slice){v.mv_data, v.mv_size});
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return DK_ENOTFOUND;
    return rc ? lm_fail(base->host, "get in", e->path, rc) : 0;
}

static int lm_write(dk_engine *base, const dk_batch *batch, int sync)
{
    lm_engine *e = (lm_engine *)base;
    const dk_host *h = base->host;
    for (size_t i = 0; i < batch->count; i++) {
        const dk_batch_op *op = &batch->ops[i];
        if ((op->type != DK_BATCH_PUT && op->type != DK_BATCH_DELETE) || op->key.len == 0) {
            h->log(h, DK_LOG_ERROR, "lmdb: batch op %zu: type %u, key of %zu bytes", i, op->type,
                   op->key.len);
            return -EINVAL;
        }
    }
    if (!batch->count)
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc)
        return lm_fail(h, "begin a write in", e->path, rc);
    for (size_t i = 0; i < batch->count && !rc; i++) {
        const dk_batch_op *op = &batch->ops[i];
        MDB_val k = lm_val(op->key), v = lm_val(op->value);
        if (op->type == DK_BATCH_PUT)
            rc = mdb_put(txn, e->dbi, &k, &v, 0);
        else if ((rc = mdb_del(txn, e->dbi, &k, NULL)) == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return lm_fail(h, "write in", e->path, rc);
    }
    if ((rc = mdb_txn_commit(txn)))
        return lm_fail(h, "commit in", e->path, rc);
    if (sync && (rc = mdb_env_sync(e->env, 1)))
        return lm_fail(h, "sync", e->path, rc);
    return 0;
}

static void lm_iter_close(dk_engine_iter *base)
{
    lm_iter *it = (lm_iter *)base;
    if (it->cur)
        mdb_cursor_close(it->cur);
    if (it->txn)
        mdb_txn_abort(it->txn);
    dk__adapter_bounds_free(&it->b);
    free(it);
}

static int lm_iter_seek(dk_engine_iter *base, dk_slice target)
{
    lm_iter *it = (lm_iter *)base;
    dk_slice t = dk__adapter_bounds_seek(&it->b, target);
    const char *k = (const char *)t.ptr;
    size_t len = t.len;
    it->k = (MDB_val){len, (void *)k};
    it->seek_rc = mdb_cursor_get(it->cur, &it->k, &it->v, len ? MDB_SET_RANGE : MDB_FIRST);
    it->advance = 0;
    it->eof = 0;
    return 0;
}

static int lm_iter_open(dk_engine *base, const dk_iter_opts *opts, dk_engine_iter **out)
{
    lm_engine *e = (lm_engine *)base;
    *out = NULL;
    lm_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->base.engine = base;
    int rc = -ENOMEM;
    if (dk__adapter_bounds_copy(&it->b, opts))
        goto err;
    if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &it->txn))) {
        it->txn = NULL;
        rc = lm_fail(base->host, "begin a read in", e->path, rc);
        goto err;
    }
    if ((rc = mdb_cursor_open(it->txn, e->dbi, &it->cur))) {
        it->cur = NULL;
        rc = lm_fail(base->host, "open a cursor in", e->path, rc);
        goto err;
    }
    lm_iter_seek(&it->base, (dk_slice){NULL, 0});
    *out = &it->base;
    return 0;
err:
    lm_iter_close(&it->base);
    return rc;
}

static int lm_iter_next(dk_engine_iter *base, dk_slice *key, dk_slice *value)
{
    lm_iter *it = (lm_iter *)base;
    if (it->eof)
        return DK_EEOF;
    int rc = it->seek_rc;
    if (it->advance)
        rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_NEXT);
    it->advance = 1;
    if (rc == MDB_NOTFOUND) {
        it->eof = 1;
        return DK_EEOF;
    }
    if (rc) {
        lm_engine *e = (lm_engine *)base->engine;
        return lm_fail(base->engine->host, "iterate in", e->path, rc);
    }
    if (dk__adapter_bounds_past_end(&it->b, it->k.mv_data, it->k.mv_size)) {
        it->eof = 1;
        return DK_EEOF;
    }
    *key = (dk_slice){it->k.mv_data, it->k.mv_size};
    *value = (dk_slice){it->v.mv_data, it->v.mv_size};
    return 0;
}

static int lm_flush(dk_engine *base)
{
    lm_engine *e = (lm_engine *)base;
    int rc = mdb_env_sync(e->env, 1);
    return rc ? lm_fail(base->host, "sync", e->path, rc) : 0;
}

static int lm_stats(dk_engine *base, dk_stat_sink sink, void *arg)
{
    lm_engine *e = (lm_engine *)base;
    MDB_stat st;
    MDB_envinfo info;
    int rc = mdb_env_stat(e->env, &st);
    if (rc == 0)
        rc = mdb_env_info(e->env, &info);
    if (rc)
        return lm_fail(base->host, "stat", e->path, rc);
    sink(arg, "lmdb_keys", st.ms_entries);
    sink(arg, "lmdb_tree_depth", st.ms_depth);
    sink(arg, "lmdb_tree_bytes",
         (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize);
    sink(arg, "lmdb_file_bytes", (uint64_t)(info.me_last_pgno + 1) * st.ms_psize);
    sink(arg, "lmdb_map_bytes", info.me_mapsize);
    sink(arg, "lmdb_readers", info.me_numreaders);
    return 0;
}

/* LMDB copies a consistent read transaction of the map (compacting as it
 * goes); the target folder must exist. */
static int lm_checkpoint(dk_engine *base, const char *dir)
{
    lm_engine *e = (lm_engine *)base;
    if (mkdir(dir, 0755) != 0) {
        int rc = -errno;
        base->host->log(base->host, DK_LOG_ERROR, "lmdb: checkpoint into %s: %s", dir, strerror(errno));
        return rc;
    }
    int rc = mdb_env_copy2(e->env, dir, MDB_CP_COMPACT);
    if (rc)
        return lm_fail(base->host, "checkpoint into", dir, rc);
    /* mdb_env_copy2 does not promise durability: sync the file and folder. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    const char *paths[] = {path, dir};
    for (int i = 0; i < 2; i++) {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0) {
            rc = -errno;
            base->host->log(base->host, DK_LOG_ERROR, "lmdb: checkpoint: sync %s: %s", paths[i],
                            strerror(errno));
        }
        if (fd >= 0)
            close(fd);
        if (rc)
            return rc;
    }
    return 0;
}

static const dk_engine_ops lm_ops = {
    .struct_size = sizeof(dk_engine_ops),
    .caps = DK_ENGINE_CAP_ORDERED | DK_ENGINE_CAP_SNAPSHOT | DK_ENGINE_CAP_THREADSAFE | DK_ENGINE_CAP_DURABLE,
    .open = lm_open,
    .close = lm_close,
    .get = lm_get,
    .write = lm_write,
    .iter_open = lm_iter_open,
    .iter_seek = lm_iter_seek,
    .iter_next = lm_iter_next,
    .iter_close = lm_iter_close,
    .flush = lm_flush,
    .stats = lm_stats,
    .checkpoint = lm_checkpoint,
};

static const dk_plugin lm_plugin = {
    .magic = DK_PLUGIN_MAGIC,
    .abi_major = DK_ABI_MAJOR,
    .abi_minor = DK_ABI_MINOR,
    .kind = DK_PLUGIN_ENGINE,
    .name = "lmdb",
    .version = "1.0.0",
    .ops = &lm_ops,
};

DK_PLUGIN_EXPORT(&lm_plugin)
