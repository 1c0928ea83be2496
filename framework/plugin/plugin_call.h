/*
 * plugin_call.h - the framework's calls into plugins, one small inline
 * wrapper per method (in the style of PostgreSQL's table_* functions), so
 * that an optional method is checked in one place and framework code reads
 * "dk_engine_get(&ref, key, ...)" instead of reaching into ops tables.
 *
 * A ref pairs a plugin's ops table (the plugin host's copy, zero-filled
 * past the plugin's struct_size, so DK_HAS() on it answers for the plugin)
 * with one object the plugin opened. Refs are plain values: copy them
 * freely; the object's lifetime is the caller's business. Each wrapper
 * has the thread rules of the method it calls (engine.h, compaction.h,
 * conflict.h).
 *
 * Extending an ops table: add its wrapper here, with the DK_HAS() check
 * and DK_EUNSUPPORTED when the method is optional.
 */
#ifndef DK_PLUGIN_CALL_H
#define DK_PLUGIN_CALL_H

#include <errno.h>
#include "dynkv/compaction.h"
#include "dynkv/conflict.h"
#include "dynkv/engine.h"

typedef struct dk_engine_ref {
    const dk_engine_ops *ops;
    dk_engine *obj;
} dk_engine_ref;

typedef struct dk_policy_ref {
    const dk_compaction_ops *ops;
    dk_compaction_policy *obj;
} dk_policy_ref;

typedef struct dk_resolver_ref {
    const dk_conflict_ops *ops;
    dk_resolver *obj;
} dk_resolver_ref;

/* ---- engines ------------------------------------------------------------ */

/* Open an engine with ops into r (r->obj NULL on failure). */
static inline int dk_engine_open(const dk_engine_ops *ops, const dk_host *h, const dk_engine_conf *conf,
                                 dk_engine_ref *r)
{
    r->ops = ops;
    r->obj = NULL;
    int rc = ops->open(h, conf, &r->obj);
    if (rc)
        r->obj = NULL;
    return rc;
}

/* Close r's engine (a no-op when none is open); r->obj becomes NULL. */
static inline int dk_engine_close(dk_engine_ref *r)
{
    if (!r->obj)
        return 0;
    int rc = r->ops->close(r->obj);
    r->obj = NULL;
    return rc;
}

static inline uint32_t dk_engine_caps(const dk_engine_ref *r)
{
    return r->ops->caps;
}

static inline int dk_engine_get(const dk_engine_ref *r, dk_slice key, dk_value_sink sink, void *arg)
{
    return r->ops->get(r->obj, key, sink, arg);
}

static inline int dk_engine_write(const dk_engine_ref *r, const dk_batch *batch, int sync)
{
    return r->ops->write(r->obj, batch, sync);
}

static inline int dk_engine_iter_open(const dk_engine_ref *r, const dk_iter_opts *opts, dk_engine_iter **out)
{
    return r->ops->iter_open(r->obj, opts, out);
}

static inline int dk_engine_iter_seek(const dk_engine_ref *r, dk_engine_iter *it, dk_slice target)
{
    return r->ops->iter_seek(it, target);
}

static inline int dk_engine_iter_next(const dk_engine_ref *r, dk_engine_iter *it, dk_slice *key,
                                      dk_slice *value)
{
    return r->ops->iter_next(it, key, value);
}

static inline void dk_engine_iter_close(const dk_engine_ref *r, dk_engine_iter *it)
{
    r->ops->iter_close(it);
}

/* The optional methods: DK_EUNSUPPORTED when the engine has none. */
static inline int dk_engine_flush(const dk_engine_ref *r)
{
    return DK_HAS(r->ops, flush) ? r->ops->flush(r->obj) : DK_EUNSUPPORTED;
}

static inline int dk_engine_compact_range(const dk_engine_ref *r, dk_slice start, dk_slice end)
{
    return DK_HAS(r->ops, compact_range) ? r->ops->compact_range(r->obj, start, end) : DK_EUNSUPPORTED;
}

static inline int dk_engine_stats(const dk_engine_ref *r, dk_stat_sink sink, void *arg)
{
    return DK_HAS(r->ops, stats) ? r->ops->stats(r->obj, sink, arg) : DK_EUNSUPPORTED;
}

/* The non-blocking read (ABI 1.2): -EAGAIN when the engine has none or the
 * answer needs I/O; the caller then reads with dk_engine_get on a worker.
 * Loop thread allowed. */
static inline int dk_engine_try_get(const dk_engine_ref *r, dk_slice key, dk_value_sink sink, void *arg)
{
    return DK_HAS(r->ops, try_get) ? r->ops->try_get(r->obj, key, sink, arg) : -EAGAIN;
}

/* Whether the engine lends values (ABI 1.4: get_lent and release, both). */
static inline int dk_engine_can_lend(const dk_engine_ref *r)
{
    return DK_HAS(r->ops, get_lent) && DK_HAS(r->ops, release);
}

/* The lending read (ABI 1.4); only when dk_engine_can_lend. flags
 * DK_GET_NOWAIT: loop thread allowed, -EAGAIN when the answer needs I/O. */
static inline int dk_engine_get_lent(const dk_engine_ref *r, dk_slice key, uint32_t flags, dk_slice *value,
                                     void **pin)
{
    return r->ops->get_lent(r->obj, key, flags, value, pin);
}

static inline void dk_engine_release(const dk_engine_ref *r, void *pin)
{
    r->ops->release(r->obj, pin);
}

/* Whether the engine checks what it reads against its own checksums
 * (DK_ENGINE_CAP_VERIFIED, ABI 1.4). */
static inline int dk_engine_verifies(const dk_engine_ref *r)
{
    return (r->ops->caps & DK_ENGINE_CAP_VERIFIED) != 0;
}

/* A copy of the engine's data in dir, which must not exist (ABI 1.3);
 * DK_EUNSUPPORTED when the engine cannot. Blocking: a worker thread. */
static inline int dk_engine_checkpoint(const dk_engine_ref *r, const char *dir)
{
    return DK_HAS(r->ops, checkpoint) ? r->ops->checkpoint(r->obj, dir) : DK_EUNSUPPORTED;
}

/* Whether the engine queues writes without a waiting thread (ABI 1.2). */
static inline int dk_engine_can_write_async(const dk_engine_ref *r)
{
    return DK_HAS(r->ops, write_async);
}

/* The asynchronous write (ABI 1.2): 0 and cb later on an engine thread,
 * or an error and no cb; DK_EUNSUPPORTED when the engine has none. */
static inline int dk_engine_write_async(const dk_engine_ref *r, const dk_batch *batch, int sync,
                                        dk_write_cb cb, void *arg)
{
    return DK_HAS(r->ops, write_async) ? r->ops->write_async(r->obj, batch, sync, cb, arg) : DK_EUNSUPPORTED;
}

/* ---- compaction policies ------------------------------------------------ */

static inline int dk_policy_open(const dk_compaction_ops *ops, const dk_host *h,
                                 const dk_compaction_conf *conf, dk_policy_ref *r)
{
    r->ops = ops;
    r->obj = NULL;
    int rc = ops->open(h, conf, &r->obj);
    if (rc)
        r->obj = NULL;
    return rc;
}

static inline void dk_policy_close(dk_policy_ref *r)
{
    if (r->obj)
        r->ops->close(r->obj);
    r->obj = NULL;
}

static inline int dk_policy_pick(const dk_policy_ref *r, const dk_run_view *view, dk_compaction_job *job)
{
    return r->ops->pick(r->obj, view, job);
}

/* ---- conflict resolvers ------------------------------------------------- */

static inline int dk_resolver_open(const dk_conflict_ops *ops, const dk_host *h, const dk_conflict_conf *conf,
                                   dk_resolver_ref *r)
{
    r->ops = ops;
    r->obj = NULL;
    int rc = ops->open(h, conf, &r->obj);
    if (rc)
        r->obj = NULL;
    return rc;
}

static inline void dk_resolver_close(dk_resolver_ref *r)
{
    if (r->obj)
        r->ops->close(r->obj);
    r->obj = NULL;
}

/* out: initialised by the caller with dk_object_init, freed by the caller
 * with dk_object_free (the host's allocator, which the resolver used
 * through dk_host.object). */
static inline int dk_resolver_update(const dk_resolver_ref *r, const dk_object *stored, const dk_write *w,
                                     dk_object *out)
{
    return r->ops->update(r->obj, stored, w, out);
}

/* Whether update() reads no stored value (DK_CONFLICT_CAP_VERSIONS_ONLY,
 * ABI 1.5), so that it may be given siblings whose values were not read. */
static inline int dk_resolver_versions_only(const dk_resolver_ref *r)
{
    return DK_HAS(r->ops, caps) && (r->ops->caps & DK_CONFLICT_CAP_VERSIONS_ONLY);
}

static inline int dk_resolver_merge(const dk_resolver_ref *r, const dk_object *a, const dk_object *b,
                                    dk_object *out)
{
    return r->ops->merge(r->obj, a, b, out);
}

/* Optional (typed resolvers, ABI 1.2): the value a client reads from obj,
 * passed to sink; DK_EUNSUPPORTED without the method. */
static inline int dk_resolver_value(const dk_resolver_ref *r, const dk_object *obj,
                                    void (*sink)(void *arg, dk_slice value), void *arg)
{
    if (!DK_HAS(r->ops, value))
        return DK_EUNSUPPORTED;
    return r->ops->value(r->obj, obj, sink, arg);
}

/* Optional (ABI 1.2): after a successful update or merge, once out is
 * encoded and before it is freed; a no-op for a resolver that only
 * borrows values. */
static inline void dk_resolver_release(const dk_resolver_ref *r, dk_object *out)
{
    if (DK_HAS(r->ops, release))
        r->ops->release(r->obj, out);
}

#endif /* DK_PLUGIN_CALL_H */
