/*
 * dynkv/engine.h - the storage engine vtable.
 *
 * An engine is an ordered, persistent map of byte keys to byte values, in
 * the style of LevelDB, RocksDB and LMDB so that adapters to those are thin.
 * It is synchronous and thread-safe: the host calls it from worker threads,
 * several at once. It never parses values; when it needs a record's time or
 * liveness (compaction) it asks the host through dk_host.record_time and
 * dk_host.record_filter.
 *
 * Ordering is bytewise (memcmp, shorter first on a tie).
 *
 * Error returns: 0, DK_ENOTFOUND (an outcome, not a failure), DK_EOF at the
 * end of an iterator, or another negative code; on any failure the engine
 * also logs a message through the host naming file and offset where there
 * is one.
 */
#ifndef DK_ENGINE_H
#define DK_ENGINE_H

#include "dynkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dk_compaction_ops;

/* The base of every engine object: a plugin's struct embeds it first and
 * casts back in its own methods. */
typedef struct dk_engine {
    const dk_host *host;
} dk_engine;

/* The base of every iterator object. */
typedef struct dk_engine_iter {
    dk_engine *engine;
} dk_engine_iter;

/* Options for open(): what every engine is told by the node ([storage]
 * sync, memtable_size, block_cache_size). An engine's own options (codec,
 * bloom filter, rate limits, ...) come from its INI section ([engine.lsm])
 * through dk_host.options. The host owns every pointer; they stay valid
 * until close() returns. Fields are appended only; check them with
 * DK_HAS(). */
typedef struct dk_engine_conf {
    uint32_t struct_size;
    const char *path;          /* directory the engine owns; created by the host */
    int sync;                  /* default durability of write() when asked */
    uint64_t memtable_size;    /* bytes; 0 = engine default */
    uint64_t block_cache_size; /* bytes; 0 = engine default */
    /* ABI 1.0 passed bloom_bits_per_key, codec and compaction_rate_limit
     * here; they moved to the engine's own section. This host sets the
     * slots to 0 / NULL, which 1.0 defined as "engine default". */
    uint32_t reserved0;
    const char *reserved1;
    uint64_t reserved2;
    /* The compaction policy chosen in the config, already loaded and opened
     * by the host; NULL when the engine uses its own (adapters). */
    const struct dk_compaction_ops *compaction;
    void *compaction_policy; /* the policy object for compaction's ops */
} dk_engine_conf;

enum { DK_BATCH_PUT = 1, DK_BATCH_DELETE = 2 };

typedef struct dk_batch_op {
    uint32_t type; /* DK_BATCH_PUT or DK_BATCH_DELETE */
    dk_slice key;
    dk_slice value; /* ignored for DK_BATCH_DELETE */
} dk_batch_op;

/* A batch applies atomically: after a crash either all of it or none. */
typedef struct dk_batch {
    const dk_batch_op *ops;
    size_t count;
} dk_batch;

/* Called by get() with the value; the slice is valid only during the call. */
typedef void (*dk_value_sink)(void *arg, dk_slice value);

/* Called by write_async() exactly once with the batch's outcome (0, or
 * what write() would have returned), on an engine thread: never inside
 * write_async() itself. It must be quick and must not call the engine. */
typedef void (*dk_write_cb)(void *arg, int status);

/* Called by stats() once per counter or gauge. name matches [a-z0-9_]+. */
typedef void (*dk_stat_sink)(void *arg, const char *name, uint64_t value);

/* Iterator bounds: keys in [start, end); an empty slice means unbounded. */
typedef struct dk_iter_opts {
    dk_slice start;
    dk_slice end;
} dk_iter_opts;

#define DK_ENGINE_CAP_ORDERED 0x1u    /* iterators return keys in order */
#define DK_ENGINE_CAP_SNAPSHOT 0x2u   /* iterators do not see later writes */
#define DK_ENGINE_CAP_THREADSAFE 0x4u /* all methods callable concurrently */
#define DK_ENGINE_CAP_DURABLE 0x8u    /* write(sync=1) survives a crash */
/* (ABI 1.4) get(), try_get() and get_lent() return a value read from a
 * file only after checking it against a checksum stored with it (a value
 * still in memory since this process wrote it needs none), and fail with
 * DK_ECORRUPT otherwise; the host then skips its own check of the same
 * bytes. */
#define DK_ENGINE_CAP_VERIFIED 0x10u

/* get_lent() flags (ABI 1.4). */
#define DK_GET_NOWAIT 0x1u /* answer as try_get() does: from memory, or -EAGAIN */
/* (ABI 1.5) A prefix of the value is enough: the engine may lend only the
 * value's first bytes (as many as it keeps at hand) instead of the whole
 * value, e.g. a replica that needs only the version header at the start
 * of the stored object. An engine that ignores the flag lends the whole
 * value, which is a valid answer too, so the caller tells from its own
 * encoding whether it got all of it. Combines with DK_GET_NOWAIT. */
#define DK_GET_HEAD 0x2u

/*
 * Checklist for whoever extends this table: append only, never reorder or
 * reuse a slot; bump DK_ABI_MINOR; teach the host's ops check which methods
 * are required (framework/plugin/plugin_host.c); add its wrapper to
 * framework/plugin/plugin_call.h, which is the only caller and checks an
 * optional method with DK_HAS().
 */
typedef struct dk_engine_ops {
    uint32_t struct_size; /* sizeof(dk_engine_ops) at the plugin's build */
    uint32_t caps;        /* DK_ENGINE_CAP_* */

    /* Required. Open or create the engine under conf->path, reading the
     * engine's own options through host->options. On failure returns a
     * negative code, logs why (or, for an option, reports it through
     * host->options / host->conf_error and returns DK_ECONFIG), and sets
     * *out to NULL. */
    int (*open)(const dk_host *host, const dk_engine_conf *conf, dk_engine **out);
    /* Required. Flush what must be flushed, free everything. */
    int (*close)(dk_engine *e);

    /* Required. Look key up; on success call sink once and return 0, or
     * return DK_ENOTFOUND. */
    int (*get)(dk_engine *e, dk_slice key, dk_value_sink sink, void *arg);
    /* Required. Apply the batch atomically. With sync != 0 return only
     * after the batch is durable (caps has DK_ENGINE_CAP_DURABLE) . */
    int (*write)(dk_engine *e, const dk_batch *batch, int sync);

    /* Required. A snapshot iterator over [opts->start, opts->end). */
    int (*iter_open)(dk_engine *e, const dk_iter_opts *opts, dk_engine_iter **out);
    /* Required. Position at the first key >= target (within bounds). */
    int (*iter_seek)(dk_engine_iter *it, dk_slice target);
    /* Required. Return the next pair, or DK_EOF. key and value stay valid
     * until the next call on this iterator. */
    int (*iter_next)(dk_engine_iter *it, dk_slice *key, dk_slice *value);
    /* Required. */
    void (*iter_close)(dk_engine_iter *it);

    /* Optional. Make everything written so far durable and, for an LSM,
     * flush memtables to tables. */
    int (*flush)(dk_engine *e);
    /* Optional. Compact the key range [start, end) (empty = unbounded)
     * and return when done. */
    int (*compact_range)(dk_engine *e, dk_slice start, dk_slice end);
    /* Optional. Report counters and gauges (bytes written, files, ...). */
    int (*stats)(dk_engine *e, dk_stat_sink sink, void *arg);

    /* ---- ABI 1.2 ---- */

    /* Optional. get() that never blocks: it answers only from memory (a
     * memtable, a cached block, a bloom filter that rules the key out) and
     * takes no lock that is held across I/O. Same outcomes as get(), plus
     * -EAGAIN when the answer needs I/O (the caller then calls get() where
     * blocking is allowed). The host calls it on its event-loop threads. */
    int (*try_get)(dk_engine *e, dk_slice key, dk_value_sink sink, void *arg);
    /* Optional. Queue the batch and return without waiting for I/O: 0, and
     * cb(arg, status) runs once the batch is applied (and durable with
     * sync != 0, exactly as write() would return), on an engine thread; or
     * an error, and cb never runs. The batch and all it points to belong
     * to the caller and stay valid until cb. Batches queued by one thread
     * apply in the order queued, and a get() issued after cb sees the
     * batch. An engine without it is written through write() from worker
     * threads. */
    int (*write_async)(dk_engine *e, const dk_batch *batch, int sync, dk_write_cb cb, void *arg);

    /* ---- ABI 1.3 ---- */

    /* Optional. Write a copy of the engine's data into dir (which does
     * not exist yet; the engine creates it) that open() with path = dir
     * opens, while the engine keeps serving: at least every write that
     * returned before the call, as a crash at some moment during the call
     * would leave it (hard links where the files allow). Durable (files
     * and directory synced) when it returns 0. For node snapshots; an
     * engine without it makes the node refuse snapshots with a message. */
    int (*checkpoint)(dk_engine *e, const char *dir);

    /* ---- ABI 1.4 ---- */

    /* Optional, with release(). get() (or try_get() with DK_GET_NOWAIT)
     * that lends the value instead of copying it through a sink: on 0,
     * *value points into the engine's own memory (a memtable, a cached
     * block) and stays valid and unchanged, whatever the engine does
     * meanwhile (writes, flushes, compactions that drop the file it came
     * from), until release(e, *pin); the host releases every pin before
     * close(). On any other outcome (the same as get()'s or try_get()'s)
     * there is nothing to release. An engine without it is read through
     * get() / try_get() with a copying sink. */
    int (*get_lent)(dk_engine *e, dk_slice key, uint32_t flags, dk_slice *value, void **pin);
    /* Optional, with get_lent(). Give back what get_lent() lent. Any
     * thread; never blocks. */
    void (*release)(dk_engine *e, void *pin);
} dk_engine_ops;

#ifdef __cplusplus
}
#endif
#endif /* DK_ENGINE_H */
